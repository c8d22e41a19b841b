"""Circles: the node, its members and join requests, search and suggestions, and mutations."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

import strawberry
from strawberry import relay

from api.context import Info
from api.errors import UserError
from api.graphql.circle_loaders import circle_loaders
from api.graphql.commands import mutate
from api.graphql.ids import database_ids, input_id
from api.graphql.members import Member, Tag
from api.graphql.pagination import Connection, offset_connection, page_size, window
from domain.network import circle_read, circles
from domain.network.circle_read import CircleSuggestion as Suggestion
from domain.network.circle_read import MemberPage
from domain.network.models import Circle as CircleRow
from domain.network.models import CircleRole, CircleVisibility, MembershipStatus
from domain.store import Transaction

strawberry.enum(
    CircleVisibility,
    description="Who finds a circle and how they get in: `OPEN` (anyone joins), `ON_REQUEST` "
    "(anyone asks, a moderator approves), `PRIVATE` (members and invitees alone see it).",
)
strawberry.enum(CircleRole, description="What a member may do in a circle.")
strawberry.enum(
    MembershipStatus,
    name="CircleMembershipStatus",
    description="Where a member stands with a circle: in it, asking to join, or invited.",
)


@strawberry.type(description="A member of a circle, with their role in it.")
class CircleMember:
    member: Member
    role: CircleRole
    joined_at: dt.datetime


@strawberry.type(description="A member asking to join a circle; its owner and moderators see it.")
class CircleJoinRequest:
    member: Member
    requested_at: dt.datetime


@strawberry.type(description="A micro-network around an interest or a context.")
class Circle(relay.Node):
    id: relay.NodeID[int]
    row: strawberry.Private[CircleRow]

    @classmethod
    def of(cls, row: CircleRow) -> Circle:
        return cls(id=row.id, row=row)

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Circle | None]:
        ids = database_ids(node_ids)
        rows = await circle_loaders(info.context).circles.load_many(ids)
        return [Circle.of(row) if row else None for row in rows]

    @strawberry.field(description="Unique, readable, made from the name, e.g. `saas-founders`.")
    def slug(self) -> str:
        return self.row.slug

    @strawberry.field
    def name(self) -> str:
        return self.row.name

    @strawberry.field
    def description(self) -> str | None:
        return self.row.description

    @strawberry.field
    def visibility(self) -> CircleVisibility:
        return self.row.visibility

    @strawberry.field(description="How many members are in it.")
    def member_count(self) -> int:
        return self.row.member_count

    @strawberry.field
    def created_at(self) -> dt.datetime:
        return self.row.created_at

    @strawberry.field
    async def tags(self, info: Info) -> list[Tag]:
        return [Tag.of(tag) for tag in await circle_loaders(info.context).tags.load(self.id)]

    @strawberry.field(description="The viewer's role; null unless the viewer is a member.")
    async def viewer_role(self, info: Info) -> CircleRole | None:
        membership = await circle_loaders(info.context).viewer_memberships.load(self.id)
        if membership is None or membership.status is not MembershipStatus.ACTIVE:
            return None
        return membership.role

    @strawberry.field(
        description="Whether the viewer is in it, asked to join, or is invited; null if none."
    )
    async def viewer_status(self, info: Info) -> MembershipStatus | None:
        membership = await circle_loaders(info.context).viewer_memberships.load(self.id)
        return membership.status if membership else None

    @strawberry.field(
        description="Members whose profile the viewer may see: owner, then moderators, first."
    )
    async def members(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[CircleMember]:
        wanted = window(first, after, last, before)
        limit, offset = wanted.limit, wanted.offset
        page = await circle_loaders(info.context).members.load((self.id, limit, offset))
        found = await _members_of(info, page)
        return offset_connection(
            [
                CircleMember(member=member, role=entry.role, joined_at=entry.since)
                for entry, member in found
            ],
            offset=offset,
            has_next=page.has_next,
            backward=wanted.backward,
            total=page.total,
        )

    @strawberry.field(
        description="Members asking to join, oldest first; null unless the viewer runs the "
        "circle (owner or moderator)."
    )
    async def join_requests(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[CircleJoinRequest] | None:
        wanted = window(first, after, last, before)
        limit, offset = wanted.limit, wanted.offset
        loaders = circle_loaders(info.context)
        membership = await loaders.viewer_memberships.load(self.id)
        if (
            membership is None
            or membership.status is not MembershipStatus.ACTIVE
            or membership.role is CircleRole.MEMBER
        ):
            return None
        page = await loaders.join_requests.load((self.id, limit, offset))
        found = await _members_of(info, page)
        return offset_connection(
            [CircleJoinRequest(member=member, requested_at=entry.since) for entry, member in found],
            offset=offset,
            has_next=page.has_next,
            backward=wanted.backward,
            total=page.total,
        )


async def _members_of(
    info: Info, page: MemberPage
) -> list[tuple[circle_read.CircleMemberView, Member]]:
    profiles = await info.context.loaders.profiles.load_many(
        [entry.member_id for entry in page.entries]
    )
    return [
        (entry, Member.of(profile))
        for entry, profile in zip(page.entries, profiles, strict=True)
        if profile is not None
    ]


@strawberry.enum(description="Why a circle is suggested.")
class CircleSuggestionReasonCode(enum.Enum):
    CONNECTIONS_IN_CIRCLE = "CONNECTIONS_IN_CIRCLE"
    SHARED_TAG = "SHARED_TAG"


@strawberry.type
class CircleSuggestionReason:
    code: CircleSuggestionReasonCode
    label: str = strawberry.field(description="The reason in words, e.g. `SEO, Python`.")
    count: int = strawberry.field(description="How many connections, or tags, it stands for.")


@strawberry.type(description="A circle the viewer is not in but may like, and why.")
class CircleSuggestion:
    circle: Circle
    score: float = strawberry.field(description="Higher is a better match.")
    reasons: list[CircleSuggestionReason]

    @classmethod
    def of(cls, suggestion: Suggestion) -> CircleSuggestion:
        reasons = []
        if count := suggestion.connections:
            are = "is a member" if count == 1 else "are members"
            reasons.append(
                CircleSuggestionReason(
                    code=CircleSuggestionReasonCode.CONNECTIONS_IN_CIRCLE,
                    label=f"{count} of your connections {are}",
                    count=count,
                )
            )
        if suggestion.shared_tags:
            reasons.append(
                CircleSuggestionReason(
                    code=CircleSuggestionReasonCode.SHARED_TAG,
                    label=", ".join(tag.label for tag in suggestion.shared_tags),
                    count=len(suggestion.shared_tags),
                )
            )
        return cls(circle=Circle.of(suggestion.circle), score=suggestion.score, reasons=reasons)


async def circles_query(
    info: Info,
    query: str | None = None,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> Connection[Circle]:
    wanted = window(first, after, last, before)
    limit, offset = wanted.limit, wanted.offset
    async with info.context.store.reader() as session:
        page = await circle_read.search_circles(
            session,
            viewer_id=await info.context.viewer_id(),
            query=query,
            limit=limit,
            offset=offset,
        )
    circle_loaders(info.context).prime(page.circles)
    return offset_connection(
        [Circle.of(row) for row in page.circles],
        offset=offset,
        has_next=page.has_next,
        backward=wanted.backward,
        total=page.total,
    )


async def suggested_circles(info: Info, first: int | None = 10) -> list[CircleSuggestion]:
    viewer_id = await info.context.require_viewer()
    limit = page_size(10 if first is None else first)
    async with info.context.store.reader() as session:
        found = await circle_read.suggested_circles(session, viewer_id=viewer_id, limit=limit)
    circle_loaders(info.context).prime([suggestion.circle for suggestion in found])
    return [CircleSuggestion.of(suggestion) for suggestion in found]


NODES = (Circle,)


@strawberry.type
class Query:
    circles: Connection[Circle] = strawberry.field(
        resolver=circles_query,
        description="Circles the viewer may see matching the words, best first; without "
        "words, the largest first.",
    )
    suggested_circles: list[CircleSuggestion] = strawberry.field(
        resolver=suggested_circles,
        description="Circles the viewer is not in, ranked by the connections in them and the "
        "tags they share with the viewer.",
    )


@strawberry.input
class CreateCircleInput:
    name: str = strawberry.field(description="2 to 80 characters; the slug is made from it.")
    description: str | None = None
    visibility: CircleVisibility = CircleVisibility.OPEN
    tags: list[str] = strawberry.field(
        default_factory=list, description="Free text, normalised; at most 10."
    )


@strawberry.input
class JoinCircleInput:
    circle_id: strawberry.ID


@strawberry.input
class LeaveCircleInput:
    circle_id: strawberry.ID


@strawberry.input
class InviteToCircleInput:
    circle_id: strawberry.ID
    member_id: strawberry.ID


@strawberry.input
class ApproveCircleRequestInput:
    circle_id: strawberry.ID
    member_id: strawberry.ID


@strawberry.input
class DeclineCircleRequestInput:
    circle_id: strawberry.ID
    member_id: strawberry.ID


@strawberry.input
class SetCircleRoleInput:
    circle_id: strawberry.ID
    member_id: strawberry.ID
    role: CircleRole = strawberry.field(description="`OWNER` hands the circle over.")


@strawberry.input
class RemoveFromCircleInput:
    circle_id: strawberry.ID
    member_id: strawberry.ID


@strawberry.type
class CirclePayload:
    circle: Circle | None = strawberry.field(
        default=None, description="The circle as the viewer now sees it."
    )
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class CreateCirclePayload(CirclePayload):
    pass


@strawberry.type
class JoinCirclePayload(CirclePayload):
    pass


@strawberry.type
class LeaveCirclePayload(CirclePayload):
    pass


@strawberry.type
class InviteToCirclePayload(CirclePayload):
    pass


@strawberry.type
class ApproveCircleRequestPayload(CirclePayload):
    pass


@strawberry.type
class DeclineCircleRequestPayload(CirclePayload):
    pass


@strawberry.type
class SetCircleRolePayload(CirclePayload):
    pass


@strawberry.type
class RemoveFromCirclePayload(CirclePayload):
    pass


P = TypeVar("P", bound=CirclePayload)


@dataclasses.dataclass(frozen=True)
class _Target:
    circle_id: int
    member_id: int = 0


def _target(circle_id: str, member_id: str | None = None) -> _Target | list[UserError]:
    """Decode the global ids of an input: a circle's, and a member's when there is one."""
    circle = input_id(circle_id, "Circle", field="circleId")
    member = 0 if member_id is None else input_id(member_id, "Member", field="memberId")
    if isinstance(circle, list) or isinstance(member, list):
        return [
            *(circle if isinstance(circle, list) else []),
            *(member if isinstance(member, list) else []),
        ]
    return _Target(circle, member)


async def _circle_command(
    info: Info,
    payload: type[P],
    target: _Target | list[UserError],
    command: Callable[[Transaction, int, _Target], Awaitable[CircleRow]],
) -> P:
    actor_id = await info.context.require_viewer()
    if isinstance(target, list):
        return payload(user_errors=target)
    result = await mutate(info, lambda tx: command(tx, actor_id, target))
    if isinstance(result, list):
        return payload(user_errors=result)
    return payload(circle=await _seen_now(info, result.id))


async def _seen_now(info: Info, circle_id: int) -> Circle | None:
    loaders = circle_loaders(info.context)
    loaders.clear()
    row = await loaders.circles.load(circle_id)
    return Circle.of(row) if row else None


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Create a circle; the viewer owns it and is its first member.")
    async def create_circle(self, info: Info, input: CreateCircleInput) -> CreateCirclePayload:
        actor_id = await info.context.require_viewer()
        result = await mutate(
            info,
            lambda tx: circles.create_circle(
                tx,
                actor_id=actor_id,
                name=input.name,
                description=input.description,
                visibility=input.visibility,
                tags=input.tags,
            ),
        )
        if isinstance(result, list):
            return CreateCirclePayload(user_errors=result)
        return CreateCirclePayload(circle=await _seen_now(info, result.id))

    @strawberry.mutation(
        description="Join an open circle, ask to join one on request, or accept an invitation. "
        "Refused (`FORBIDDEN`) across a block between the viewer and the circle's owner."
    )
    async def join_circle(self, info: Info, input: JoinCircleInput) -> JoinCirclePayload:
        return await _circle_command(
            info,
            JoinCirclePayload,
            _target(input.circle_id),
            lambda tx, actor_id, target: circles.join_circle(
                tx, actor_id=actor_id, circle_id=target.circle_id
            ),
        )

    @strawberry.mutation(
        description="Leave a circle, withdraw a request to join, or turn down an invitation. "
        "The owner leaves last, or hands the circle over first; the last member leaving "
        "deletes the circle with its pending requests and invitations (the payload's circle "
        "is then null)."
    )
    async def leave_circle(self, info: Info, input: LeaveCircleInput) -> LeaveCirclePayload:
        return await _circle_command(
            info,
            LeaveCirclePayload,
            _target(input.circle_id),
            lambda tx, actor_id, target: circles.leave_circle(
                tx, actor_id=actor_id, circle_id=target.circle_id
            ),
        )

    @strawberry.mutation(
        description="Invite a member into a private or on-request circle the viewer runs; "
        "not across a block between them and the viewer or the circle's owner."
    )
    async def invite_to_circle(
        self, info: Info, input: InviteToCircleInput
    ) -> InviteToCirclePayload:
        return await _circle_command(
            info,
            InviteToCirclePayload,
            _target(input.circle_id, input.member_id),
            lambda tx, actor_id, target: circles.invite_to_circle(
                tx, actor_id=actor_id, circle_id=target.circle_id, member_id=target.member_id
            ),
        )

    @strawberry.mutation(
        description="Let a member who asked to join into a circle the viewer runs; not "
        "across a block between them and the viewer or the circle's owner."
    )
    async def approve_circle_request(
        self, info: Info, input: ApproveCircleRequestInput
    ) -> ApproveCircleRequestPayload:
        return await _circle_command(
            info,
            ApproveCircleRequestPayload,
            _target(input.circle_id, input.member_id),
            lambda tx, actor_id, target: circles.approve_join_request(
                tx, actor_id=actor_id, circle_id=target.circle_id, member_id=target.member_id
            ),
        )

    @strawberry.mutation(description="Turn down a request to join a circle the viewer runs.")
    async def decline_circle_request(
        self, info: Info, input: DeclineCircleRequestInput
    ) -> DeclineCircleRequestPayload:
        return await _circle_command(
            info,
            DeclineCircleRequestPayload,
            _target(input.circle_id, input.member_id),
            lambda tx, actor_id, target: circles.decline_join_request(
                tx, actor_id=actor_id, circle_id=target.circle_id, member_id=target.member_id
            ),
        )

    @strawberry.mutation(
        description="The owner makes a member a moderator or a plain member, or hands the "
        "circle over (staying on as a moderator)."
    )
    async def set_circle_role(self, info: Info, input: SetCircleRoleInput) -> SetCircleRolePayload:
        return await _circle_command(
            info,
            SetCircleRolePayload,
            _target(input.circle_id, input.member_id),
            lambda tx, actor_id, target: circles.set_circle_role(
                tx,
                actor_id=actor_id,
                circle_id=target.circle_id,
                member_id=target.member_id,
                role=input.role,
            ),
        )

    @strawberry.mutation(
        description="Remove a member (or withdraw an invitation) from a circle the viewer runs. "
        "Only the owner removes moderators; no one removes the owner."
    )
    async def remove_from_circle(
        self, info: Info, input: RemoveFromCircleInput
    ) -> RemoveFromCirclePayload:
        return await _circle_command(
            info,
            RemoveFromCirclePayload,
            _target(input.circle_id, input.member_id),
            lambda tx, actor_id, target: circles.remove_from_circle(
                tx, actor_id=actor_id, circle_id=target.circle_id, member_id=target.member_id
            ),
        )
