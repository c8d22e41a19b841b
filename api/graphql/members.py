"""Members and their profiles: types, queries and profile mutations."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry import relay

from api.context import Info
from api.errors import UserError
from api.graphql.commands import mutate
from api.graphql.ids import database_ids
from api.graphql.pagination import Connection, offset_connection, window
from domain.members import read, service
from domain.members.models import GoalKind, GoalStatus, TagRole, Visibility
from domain.members.read import GiveView, GoalView, Profile, TagView
from domain.members.visibility import Relation

if TYPE_CHECKING:
    from api.graphql.ledger import Iou, IouRole, KarmaAccount, Reciprocity
    from api.graphql.marketplace import HelpRequest
    from api.graphql.network import Relationship
    from domain.ledger.models import IouStatus
    from domain.marketplace.rules import HelpRequestStatus

RelationshipRef = Annotated["Relationship", strawberry.lazy("api.graphql.network")]
HelpRequestRef = Annotated["HelpRequest", strawberry.lazy("api.graphql.marketplace")]
HelpRequestStatusRef = Annotated["HelpRequestStatus", strawberry.lazy("api.graphql.marketplace")]
KarmaAccountRef = Annotated["KarmaAccount", strawberry.lazy("api.graphql.ledger")]
IouRef = Annotated["Iou", strawberry.lazy("api.graphql.ledger")]
IouRoleRef = Annotated["IouRole", strawberry.lazy("api.graphql.ledger")]
IouStatusRef = Annotated["IouStatus", strawberry.lazy("api.graphql.ledger")]
ReciprocityRef = Annotated["Reciprocity", strawberry.lazy("api.graphql.ledger")]
V = TypeVar("V", GiveView, GoalView)

strawberry.enum(Visibility, description="Who may see a profile or a part of it.")
strawberry.enum(GoalKind, description="What kind of aim a goal is.")
strawberry.enum(GoalStatus)


@strawberry.type(description="A normalised tag: skills, interests, seeks and gives use them.")
class Tag:
    slug: str = strawberry.field(description="The normalised form, e.g. `seo`.")
    label: str = strawberry.field(description="How it reads, e.g. `SEO`.")

    @classmethod
    def of(cls, tag: TagView) -> Tag:
        return cls(slug=tag.slug, label=tag.label)


@strawberry.type(description="A standing offer of help: what a member gives, and how often.")
class Give(relay.Node):
    id: relay.NodeID[int]
    tag: Tag
    description: str | None
    monthly_capacity: int | None = strawberry.field(description="Helps a month, at most.")
    created_at: dt.datetime

    @classmethod
    def of(cls, give: GiveView) -> Give:
        return cls(
            id=give.id,
            tag=Tag.of(give.tag),
            description=give.description,
            monthly_capacity=give.monthly_capacity,
            created_at=give.created_at,
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Give | None]:
        found = await _owned_nodes(info, node_ids, read.gives_by_ids, lambda p: p.shows_gives)
        return [Give.of(give) if give else None for give in found]


@strawberry.type(description="A time-boxed aim a member is pursuing, and what it needs.")
class Goal(relay.Node):
    id: relay.NodeID[int]
    title: str
    kind: GoalKind
    tags: list[Tag]
    until: dt.date | None
    status: GoalStatus
    created_at: dt.datetime

    @classmethod
    def of(cls, goal: GoalView) -> Goal:
        return cls(
            id=goal.id,
            title=goal.title,
            kind=goal.kind,
            tags=[Tag.of(tag) for tag in goal.tags],
            until=goal.until,
            status=goal.status,
            created_at=goal.created_at,
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Goal | None]:
        found = await _owned_nodes(info, node_ids, read.goals_by_ids, lambda p: p.shows_goals)
        return [Goal.of(goal) if goal else None for goal in found]


async def _owned_nodes(
    info: Info,
    node_ids: Iterable[str],
    load: Callable[[AsyncSession, list[int]], Awaitable[dict[int, V]]],
    shown: Callable[[Profile], bool],
) -> list[V | None]:
    """Load a member's parts by id, keeping those whose owner shows them to the viewer."""
    ids = database_ids(node_ids)
    async with info.context.store.reader() as session:
        rows = await load(session, ids)
    owners = await info.context.loaders.profiles.load_many([row.member_id for row in rows.values()])
    visible = {owner.member.id for owner in owners if owner is not None and shown(owner)}
    return [
        row if (row := rows.get(node_id)) and row.member_id in visible else None for node_id in ids
    ]


@strawberry.type(description="How much help a member is willing to be asked for.")
class HelpBudget:
    requests_per_week: int
    quiet_hours_start: dt.time | None = strawberry.field(
        description="Start of the daily quiet hours (no pushes), in the member's time zone."
    )
    quiet_hours_end: dt.time | None


@strawberry.type(description="Who may see the profile, and each of its parts.")
class Privacy:
    profile: Visibility
    location: Visibility
    seeks: Visibility
    gives: Visibility
    goals: Visibility
    connections: Visibility


@strawberry.type(description="A member of the network, as the viewer may see them.")
class Member(relay.Node):
    id: relay.NodeID[int]
    profile: strawberry.Private[Profile]
    # Plain values, copied once: a field without a resolver costs graphql-core a getattr,
    # where a method costs strawberry's whole resolver machinery, per member per field.
    handle: str
    display_name: str
    headline: str | None
    bio: str | None
    location: str | None = strawberry.field(
        description="Null when the member shows it to fewer people."
    )
    timezone: str | None = strawberry.field(description="An IANA time zone, e.g. `Europe/Paris`.")
    is_viewer: bool = strawberry.field(description="True when this member is the viewer.")
    joined_at: dt.datetime

    @classmethod
    def of(cls, profile: Profile) -> Member:
        member = profile.member
        return cls(
            id=member.id,
            profile=profile,
            handle=member.handle,
            display_name=member.display_name,
            headline=member.headline,
            bio=member.bio,
            location=profile.location,
            timezone=member.timezone,
            is_viewer=profile.is_viewer,
            joined_at=member.created_at,
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Member | None]:
        ids = database_ids(node_ids)
        profiles = await info.context.loaders.profiles.load_many(ids)
        return [Member.of(profile) if profile else None for profile in profiles]

    @strawberry.field
    async def skills(self, info: Info) -> list[Tag]:
        return await _tags(info, self.profile, TagRole.SKILL)

    @strawberry.field
    async def interests(self, info: Info) -> list[Tag]:
        return await _tags(info, self.profile, TagRole.INTEREST)

    @strawberry.field(description="What the member is looking for; null when hidden from you.")
    async def seeks(self, info: Info) -> list[Tag] | None:
        if not self.profile.shows_seeks:
            return None
        return await _tags(info, self.profile, TagRole.SEEK)

    @strawberry.field(description="Standing offers of help; null when hidden from you.")
    async def gives(self, info: Info) -> list[Give] | None:
        if not self.profile.shows_gives:
            return None
        return [Give.of(give) for give in await info.context.loaders.gives.load(self.id)]

    @strawberry.field(description="Goals being pursued; null when hidden from you.")
    async def goals(self, info: Info) -> list[Goal] | None:
        if not self.profile.shows_goals:
            return None
        return [Goal.of(goal) for goal in await info.context.loaders.goals.load(self.id)]

    @strawberry.field(description="The viewer's relationship with this member, if any.")
    async def relationship(self, info: Info) -> RelationshipRef | None:
        from api.graphql.network import Relationship

        tie = await info.context.loaders.tie_with.load(self.id)
        return Relationship.of(tie) if tie else None

    @strawberry.field(description="Connections shared with the viewer; null when signed out.")
    async def mutual_connection_count(self, info: Info) -> int | None:
        if self.profile.is_viewer or self.profile.relation is Relation.ANONYMOUS:
            return None  # the viewer, signed out, or blocked by this member
        return await info.context.loaders.mutual_count.load(self.id)

    @strawberry.field(
        description="Hops from the viewer through connections: 1, 2 or 3; null when further, "
        "for the viewer themself, or when signed out."
    )
    async def degree(self, info: Info) -> int | None:
        if self.profile.is_viewer or self.profile.relation is Relation.ANONYMOUS:
            return None  # the viewer, signed out, or blocked by this member
        return await info.context.loaders.degree.load(self.id)

    @strawberry.field(description="This member's connections, newest first; null when hidden.")
    async def connections(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[Member] | None:
        from api.graphql.network import connections_of

        if not self.profile.shows_connections:
            return None
        return await connections_of(info, self.id, first, after, last, before)

    @strawberry.field(description="Members connected to both this member and `with`.")
    async def mutual_connections(
        self,
        info: Info,
        with_: Annotated[strawberry.ID, strawberry.argument(name="with")],
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[Member] | None:
        from api.graphql.network import mutual_connections

        if not (self.profile.shows_connections or self.profile.is_viewer):
            return None
        return await mutual_connections(info, self.id, with_, first, after, last, before)

    @strawberry.field(
        description="This member's help requests that the viewer may see, newest first."
    )
    async def help_requests(
        self,
        info: Info,
        status: list[HelpRequestStatusRef] | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[HelpRequestRef]:
        from api.graphql.marketplace import HelpRequestFilter, help_requests_query

        by_member = HelpRequestFilter(
            author_id=strawberry.ID(relay.to_base64("Member", self.id)), status=status
        )
        return await help_requests_query(info, by_member, first, after, last, before)

    @strawberry.field(description="The member's karma; null for anyone but the member.")
    async def karma(self, info: Info) -> KarmaAccountRef | None:
        from api.graphql.ledger import karma_of

        return await karma_of(info, self.id)

    @strawberry.field(
        description="IOUs the member owes (`role: OWED`) or is owed (`HELD`), newest first; "
        "null for anyone but the member."
    )
    async def ious(
        self,
        info: Info,
        role: IouRoleRef | None = None,
        status: list[IouStatusRef] | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[IouRef] | None:
        from api.graphql.ledger import ious_of

        return await ious_of(info, self.id, role, status, first, after, last, before)

    @strawberry.field(
        description="How the member gives and takes; shown to whoever may see the profile."
    )
    async def reciprocity(self, info: Info) -> ReciprocityRef:
        from api.graphql.ledger import reciprocity_of

        return await reciprocity_of(info, self.id)

    @strawberry.field(description="The sign-in email; the member alone sees it.")
    def email(self) -> str | None:
        return self.profile.member.email if self.profile.is_viewer else None

    @strawberry.field(description="The member alone sees it.")
    def help_budget(self) -> HelpBudget | None:
        if not self.profile.is_viewer:
            return None
        member = self.profile.member
        return HelpBudget(
            requests_per_week=member.help_requests_per_week,
            quiet_hours_start=member.quiet_hours_start,
            quiet_hours_end=member.quiet_hours_end,
        )

    @strawberry.field(description="The member alone sees it.")
    def privacy(self) -> Privacy | None:
        if not self.profile.is_viewer:
            return None
        member = self.profile.member
        return Privacy(
            profile=member.visibility,
            location=member.location_visibility,
            seeks=member.seeks_visibility,
            gives=member.gives_visibility,
            goals=member.goals_visibility,
            connections=member.connections_visibility,
        )


async def _tags(info: Info, profile: Profile, role: TagRole) -> list[Tag]:
    return [Tag.of(tag) for tag in await info.context.loaders.tags.load((profile.member.id, role))]


async def viewer(info: Info) -> Member | None:
    member_id = await info.context.viewer_id()
    if member_id is None:
        return None
    profile = await info.context.loaders.profiles.load(member_id)
    return Member.of(profile) if profile else None


async def member(info: Info, handle: str) -> Member | None:
    async with info.context.store.reader() as session:
        profile = await read.profile_by_handle(
            session, viewer_id=await info.context.viewer_id(), handle=handle
        )
    return Member.of(profile) if profile else None


async def search_members(
    info: Info,
    query: str | None = None,
    tags: list[str] | None = None,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> Connection[Member]:
    wanted = window(first, after, last, before)
    limit, offset = wanted.limit, wanted.offset
    async with info.context.store.reader() as session:
        page = await read.search_members(
            session,
            viewer_id=await info.context.viewer_id(),
            query=query,
            tags=tags or [],
            limit=limit,
            offset=offset,
        )
    info.context.loaders.prime_profiles(page.profiles)
    return offset_connection(
        [Member.of(profile) for profile in page.profiles],
        offset=offset,
        has_next=page.has_next,
        backward=wanted.backward,
        total=page.total,
    )


NODES = (Member, Give, Goal)


@strawberry.type
class Query:
    viewer: Member | None = strawberry.field(
        resolver=viewer, description="The signed-in member; null when not signed in."
    )
    member: Member | None = strawberry.field(
        resolver=member, description="A member by handle, if the viewer may see them."
    )
    search_members: Connection[Member] = strawberry.field(
        resolver=search_members,
        description="Members the viewer may see, matching words and/or tags, best first.",
    )


@strawberry.input(description="How much help to be asked for; both quiet-hour ends or neither.")
class HelpBudgetInput:
    requests_per_week: int
    quiet_hours_start: dt.time | None = None
    quiet_hours_end: dt.time | None = None


@strawberry.input(description="Change who sees what; parts left out stay as they are.")
class PrivacyInput:
    profile: Visibility | None = strawberry.UNSET
    location: Visibility | None = strawberry.UNSET
    seeks: Visibility | None = strawberry.UNSET
    gives: Visibility | None = strawberry.UNSET
    goals: Visibility | None = strawberry.UNSET
    connections: Visibility | None = strawberry.UNSET


@strawberry.input(description="Fields left out stay as they are; null clears an optional one.")
class UpdateProfileInput:
    display_name: str | None = strawberry.UNSET
    headline: str | None = strawberry.UNSET
    bio: str | None = strawberry.UNSET
    location: str | None = strawberry.UNSET
    timezone: str | None = strawberry.UNSET
    skills: list[str] | None = strawberry.field(
        default=strawberry.UNSET, description="Replaces the skills; free text, normalised."
    )
    interests: list[str] | None = strawberry.UNSET
    seeks: list[str] | None = strawberry.UNSET
    help_budget: HelpBudgetInput | None = strawberry.UNSET
    privacy: PrivacyInput | None = strawberry.UNSET


def _given(value: Any) -> Any:
    return service.UNSET if value is strawberry.UNSET else value


def _changes(data: UpdateProfileInput) -> service.ProfileChanges:
    budget = _given(data.help_budget)
    privacy = _given(data.privacy)
    return service.ProfileChanges(
        display_name=_given(data.display_name) if data.display_name is not None else "",
        headline=_given(data.headline),
        bio=_given(data.bio),
        location=_given(data.location),
        timezone=_given(data.timezone),
        skills=_given(data.skills) if data.skills is not None else [],
        interests=_given(data.interests) if data.interests is not None else [],
        seeks=_given(data.seeks) if data.seeks is not None else [],
        help_budget=(
            service.HelpBudget(
                requests_per_week=budget.requests_per_week,
                quiet_hours_start=budget.quiet_hours_start,
                quiet_hours_end=budget.quiet_hours_end,
            )
            if isinstance(budget, HelpBudgetInput)
            else service.UNSET
        ),
        privacy=(
            service.PrivacyChanges(
                **{
                    part: _given(getattr(privacy, part)) or service.UNSET
                    for part in ("profile", "location", "seeks", "gives", "goals", "connections")
                }
            )
            if isinstance(privacy, PrivacyInput)
            else service.UNSET
        ),
    )


@strawberry.type
class UpdateProfilePayload:
    member: Member | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input
class AddGiveInput:
    tag: str = strawberry.field(description="What you can help with, e.g. `SEO`.")
    description: str | None = None
    monthly_capacity: int | None = strawberry.field(
        default=None, description="How many times a month, at most."
    )


@strawberry.type
class AddGivePayload:
    give: Give | None = None
    member: Member | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input
class AddGoalInput:
    title: str
    kind: GoalKind = GoalKind.OTHER
    tags: list[str] = strawberry.field(default_factory=list)
    until: dt.date | None = None


@strawberry.type
class AddGoalPayload:
    goal: Goal | None = None
    member: Member | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


async def _own_member(info: Info, member_id: int) -> Member | None:
    profile = await info.context.loaders.profiles.load(member_id)
    return Member.of(profile) if profile else None


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Change the viewer's profile.")
    async def update_profile(self, info: Info, input: UpdateProfileInput) -> UpdateProfilePayload:
        actor_id = await info.context.require_viewer()
        changes = _changes(input)
        result = await mutate(
            info, lambda tx: service.update_profile(tx, actor_id=actor_id, changes=changes)
        )
        if isinstance(result, list):
            return UpdateProfilePayload(user_errors=result)
        return UpdateProfilePayload(member=await _own_member(info, actor_id))

    @strawberry.mutation(description="Add a standing offer of help to the viewer's profile.")
    async def add_give(self, info: Info, input: AddGiveInput) -> AddGivePayload:
        actor_id = await info.context.require_viewer()
        result = await mutate(
            info,
            lambda tx: service.add_give(
                tx,
                actor_id=actor_id,
                tag=input.tag,
                description=input.description,
                monthly_capacity=input.monthly_capacity,
            ),
        )
        if isinstance(result, list):
            return AddGivePayload(user_errors=result)
        gives = await info.context.loaders.gives.load(actor_id)
        give = next(give for give in gives if give.id == result.id)
        return AddGivePayload(give=Give.of(give), member=await _own_member(info, actor_id))

    @strawberry.mutation(description="Add a goal the viewer is pursuing now.")
    async def add_goal(self, info: Info, input: AddGoalInput) -> AddGoalPayload:
        actor_id = await info.context.require_viewer()
        result = await mutate(
            info,
            lambda tx: service.add_goal(
                tx,
                actor_id=actor_id,
                title=input.title,
                kind=input.kind,
                tags=input.tags,
                until=input.until,
            ),
        )
        if isinstance(result, list):
            return AddGoalPayload(user_errors=result)
        goals = await info.context.loaders.goals.load(actor_id)
        goal = next(goal for goal in goals if goal.id == result.id)
        return AddGoalPayload(goal=Goal.of(goal), member=await _own_member(info, actor_id))
