"""Relationships and the network around the viewer: types, queries and mutations."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import TYPE_CHECKING, Annotated, TypeVar

import strawberry
from strawberry import relay

from api.context import Info
from api.errors import BadArgument, UserError
from api.graphql.commands import mutate
from api.graphql.ids import argument_id, database_ids, input_id
from api.graphql.pagination import (
    Connection,
    key_window,
    keyset_connection,
    offset_connection,
    window,
)
from domain.members.visibility import Relation
from domain.network import graph, relationships
from domain.network.graph import Tie
from domain.network.models import Relationship as RelationshipRow
from domain.network.models import RelationshipStatus

if TYPE_CHECKING:
    from api.graphql.members import Member, Tag

MemberRef = Annotated["Member", strawberry.lazy("api.graphql.members")]
TagRef = Annotated["Tag", strawberry.lazy("api.graphql.members")]

strawberry.enum(RelationshipStatus, description="Where a relationship stands.")


async def _member(info: Info, member_id: int | None) -> Member | None:
    from api.graphql.members import Member

    if member_id is None:
        return None
    profile = await info.context.loaders.profiles.load(member_id)
    return Member.of(profile) if profile else None


@strawberry.type(description="A relationship, as one of its two members sees it.")
class Relationship(relay.Node):
    id: relay.NodeID[int]
    tie: strawberry.Private[Tie]

    @classmethod
    def of(cls, tie: Tie) -> Relationship:
        return cls(id=tie.relationship.id, tie=tie)

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Relationship | None]:
        ids = database_ids(node_ids)
        ties = await info.context.loaders.ties_by_id.load_many(ids)
        return [Relationship.of(tie) if tie else None for tie in ties]

    @strawberry.field
    def status(self) -> RelationshipStatus:
        return self.tie.relationship.status

    @strawberry.field(description="How the two know each other, as the requester put it.")
    def context(self) -> str | None:
        return self.tie.relationship.context

    @strawberry.field(description="The other member of the relationship.")
    async def member(self, info: Info) -> MemberRef | None:
        return await _member(info, self.tie.other_id)

    @strawberry.field
    async def requester(self, info: Info) -> MemberRef | None:
        return await _member(info, self.tie.relationship.requester_id)

    @strawberry.field
    async def addressee(self, info: Info) -> MemberRef | None:
        return await _member(info, self.tie.relationship.addressee_id)

    @strawberry.field(description="The broker whose intro made this relationship.")
    async def introduced_by(self, info: Info) -> MemberRef | None:
        return await _member(info, self.tie.relationship.introduced_by_id)

    @strawberry.field(description="True when the viewer is the one asked, and may answer.")
    def viewer_can_respond(self) -> bool:
        r = self.tie.relationship
        return r.status is RelationshipStatus.PENDING and r.addressee_id == self.tie.viewer_id

    @strawberry.field
    def requested_at(self) -> dt.datetime:
        return self.tie.relationship.requested_at

    @strawberry.field
    def connected_at(self) -> dt.datetime | None:
        return self.tie.relationship.connected_at

    @strawberry.field(
        description="0–1, from help exchanged, intros and recency; it fades when left alone."
    )
    def strength(self, info: Info) -> float:
        return self.tie.strength(info.context.store.clock())

    @strawberry.field(description="A once-strong tie that has gone quiet: time to renew it.")
    def is_cooling(self, info: Info) -> bool:
        return self.tie.is_cooling(info.context.store.clock())

    @strawberry.field(description="The viewer's private note; the other member never sees it.")
    async def note(self, info: Info) -> str | None:
        return await info.context.loaders.notes.load(self.tie.relationship.id)

    @strawberry.field(description="Skills and interests the two have in common.")
    async def shared_tags(self, info: Info) -> list[TagRef]:
        from api.graphql.members import Tag

        r = self.tie.relationship
        # What the two share says what the other has: only while the viewer may see them.
        live = r.status in (RelationshipStatus.ACTIVE, RelationshipStatus.PENDING)
        if not live or await info.context.loaders.profiles.load(self.tie.other_id) is None:
            return []
        found = await info.context.loaders.shared_tags.load((r.low_member_id, r.high_member_id))
        return [Tag.of(tag) for tag in found]


@strawberry.type(description="Someone the viewer may know, and why.")
class MemberSuggestion:
    member: MemberRef
    score: float
    mutual_count: int
    shared_tag_count: int
    shared_circle_count: int


async def connections_of(
    info: Info,
    member_id: int,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
) -> Connection[Member]:
    """A page of a member's connections the viewer may see, newest first."""
    from api.graphql.members import Member

    wanted = key_window(first, after, last, before)
    async with info.context.store.reader() as session:
        page = await graph.connections_of(
            session,
            viewer_id=await info.context.viewer_id(),
            member_id=member_id,
            limit=wanted.limit,
            after=wanted.after,
            before=wanted.before,
        )
    profiles = await info.context.loaders.profiles.load_many([e.other_id for e in page.entries])
    return keyset_connection(
        [
            ((entry.since, entry.other_id), Member.of(profile))
            for entry, profile in zip(page.entries, profiles, strict=True)
            if profile is not None
        ],
        has_next=page.has_next,
        has_previous=page.has_previous,
        total=page.total,
    )


async def mutual_connections(
    info: Info,
    member_id: int,
    other: strawberry.ID,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
) -> Connection[Member]:
    """Members connected to both this member and another, strongest ties first."""
    from api.graphql.members import Member

    other_id = argument_id(other, "Member", argument="with")
    wanted = window(first, after, last, before)
    limit, offset = wanted.limit, wanted.offset
    others = await info.context.loaders.profiles.load(other_id)
    # Mutuals with the viewer are among the viewer's own connections; between two others,
    # both must show their connections to the viewer (the caller checked this member).
    viewer_id = await info.context.viewer_id()
    involves_viewer = viewer_id in (member_id, other_id)
    # A member who blocked the viewer (a relation no closer than anonymous) shares nothing.
    blocked = others is not None and others.relation is Relation.ANONYMOUS
    if others is None or blocked or not (involves_viewer or others.shows_connections):
        return offset_connection([], offset=offset, has_next=False, total=0)
    async with info.context.store.reader() as session:
        ids, has_next, total = await graph.mutual_connections(
            session,
            viewer_id=viewer_id,
            member_id=member_id,
            other_id=other_id,
            limit=limit,
            offset=offset,
        )
    profiles = await info.context.loaders.profiles.load_many(ids)
    return offset_connection(
        [Member.of(p) for p in profiles if p is not None],
        offset=offset,
        has_next=has_next,
        backward=wanted.backward,
        total=total,
    )


async def connection_requests(
    info: Info,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> Connection[Relationship]:
    viewer_id = await info.context.require_viewer()
    wanted = window(first, after, last, before)
    async with info.context.store.reader() as session:
        ties, has_next = await graph.incoming_requests(
            session, viewer_id=viewer_id, limit=wanted.limit, offset=wanted.offset
        )
    return offset_connection(
        [Relationship.of(tie) for tie in ties],
        offset=wanted.offset,
        has_next=has_next,
        backward=wanted.backward,
        total=None,
    )


async def people_you_may_know(info: Info, first: int = 10) -> list[MemberSuggestion]:
    from api.graphql.members import Member

    viewer_id = await info.context.require_viewer()
    if not 1 <= first <= 50:
        raise BadArgument("`first` must be between 1 and 50", argument="first")
    async with info.context.store.reader() as session:
        suggestions = await graph.people_you_may_know(session, viewer_id=viewer_id, limit=first)
    profiles = await info.context.loaders.profiles.load_many([s.member_id for s in suggestions])
    return [
        MemberSuggestion(
            member=Member.of(profile),
            score=suggestion.score,
            mutual_count=suggestion.mutual_count,
            shared_tag_count=suggestion.shared_tags,
            shared_circle_count=suggestion.shared_circles,
        )
        for suggestion, profile in zip(suggestions, profiles, strict=True)
        if profile is not None
    ]


async def cooling_relationships(info: Info, first: int = 10) -> list[Relationship]:
    viewer_id = await info.context.require_viewer()
    if not 1 <= first <= 50:
        raise BadArgument("`first` must be between 1 and 50", argument="first")
    async with info.context.store.reader() as session:
        ties = await graph.cooling(
            session, viewer_id=viewer_id, now=info.context.store.clock(), limit=first
        )
    return [Relationship.of(tie) for tie in ties]


@strawberry.type
class Query:
    connection_requests: Connection[Relationship] = strawberry.field(
        resolver=connection_requests,
        description="Requests to connect that wait for the viewer's answer.",
    )
    people_you_may_know: list[MemberSuggestion] = strawberry.field(
        resolver=people_you_may_know,
        description="Friends of friends, ranked by mutual connections, shared tags and circles.",
    )
    cooling_relationships: list[Relationship] = strawberry.field(
        resolver=cooling_relationships,
        description="The viewer's once-strong ties that have gone quiet: a nudge to renew them.",
    )


@strawberry.input
class RequestConnectionInput:
    member_id: strawberry.ID
    context: str | None = strawberry.field(
        default=None, description="How you know each other; both of you see it."
    )


@strawberry.input
class RespondToConnectionInput:
    relationship_id: strawberry.ID
    accept: bool


@strawberry.input
class RemoveConnectionInput:
    relationship_id: strawberry.ID


@strawberry.input
class SetRelationshipNoteInput:
    relationship_id: strawberry.ID
    note: str | None = strawberry.field(default=None, description="Null or empty clears it.")


@strawberry.input
class BlockMemberInput:
    member_id: strawberry.ID


@strawberry.type
class RelationshipPayload:
    relationship: Relationship | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class RequestConnectionPayload(RelationshipPayload):
    pass


@strawberry.type
class RespondToConnectionPayload(RelationshipPayload):
    pass


@strawberry.type
class RemoveConnectionPayload(RelationshipPayload):
    pass


@strawberry.type
class SetRelationshipNotePayload(RelationshipPayload):
    pass


@strawberry.type
class BlockPayload:
    member: MemberRef | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class BlockMemberPayload(BlockPayload):
    pass


@strawberry.type
class UnblockMemberPayload(BlockPayload):
    pass


@strawberry.input
class UnblockMemberInput:
    member_id: strawberry.ID


P = TypeVar("P", bound=RelationshipPayload)


def _relationship_id(raw: strawberry.ID) -> int | list[UserError]:
    return input_id(raw, "Relationship", field="relationshipId")


async def _payload(info: Info, payload: type[P], result: object) -> P:
    if isinstance(result, list):
        return payload(user_errors=result)
    assert isinstance(result, RelationshipRow)
    tie = await info.context.loaders.ties_by_id.load(result.id)
    return payload(relationship=Relationship.of(tie) if tie else None)


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Ask a member to connect; if they asked you, this accepts.")
    async def request_connection(
        self, info: Info, input: RequestConnectionInput
    ) -> RequestConnectionPayload:
        actor_id = await info.context.require_viewer()
        member_id = input_id(input.member_id, "Member", field="memberId")
        if isinstance(member_id, list):
            return RequestConnectionPayload(user_errors=member_id)
        result = await mutate(
            info,
            lambda tx: relationships.request_connection(
                tx, actor_id=actor_id, member_id=member_id, context=input.context
            ),
        )
        return await _payload(info, RequestConnectionPayload, result)

    @strawberry.mutation(description="Accept or decline a request to connect.")
    async def respond_to_connection(
        self, info: Info, input: RespondToConnectionInput
    ) -> RespondToConnectionPayload:
        actor_id = await info.context.require_viewer()
        relationship_id = _relationship_id(input.relationship_id)
        if isinstance(relationship_id, list):
            return RespondToConnectionPayload(user_errors=relationship_id)
        result = await mutate(
            info,
            lambda tx: relationships.respond_to_connection(
                tx, actor_id=actor_id, relationship_id=relationship_id, accept=input.accept
            ),
        )
        return await _payload(info, RespondToConnectionPayload, result)

    @strawberry.mutation(description="End a connection, or withdraw a request you made.")
    async def remove_connection(
        self, info: Info, input: RemoveConnectionInput
    ) -> RemoveConnectionPayload:
        actor_id = await info.context.require_viewer()
        relationship_id = _relationship_id(input.relationship_id)
        if isinstance(relationship_id, list):
            return RemoveConnectionPayload(user_errors=relationship_id)
        result = await mutate(
            info,
            lambda tx: relationships.remove_connection(
                tx, actor_id=actor_id, relationship_id=relationship_id
            ),
        )
        return await _payload(info, RemoveConnectionPayload, result)

    @strawberry.mutation(description="Keep a private note on one of your relationships.")
    async def set_relationship_note(
        self, info: Info, input: SetRelationshipNoteInput
    ) -> SetRelationshipNotePayload:
        actor_id = await info.context.require_viewer()
        relationship_id = _relationship_id(input.relationship_id)
        if isinstance(relationship_id, list):
            return SetRelationshipNotePayload(user_errors=relationship_id)
        result = await mutate(
            info,
            lambda tx: relationships.set_note(
                tx, actor_id=actor_id, relationship_id=relationship_id, note=input.note
            ),
        )
        return await _payload(info, SetRelationshipNotePayload, result)

    @strawberry.mutation(
        description="Block a member: any relationship ends; they cannot reach you."
    )
    async def block_member(self, info: Info, input: BlockMemberInput) -> BlockMemberPayload:
        actor_id = await info.context.require_viewer()
        member_id = input_id(input.member_id, "Member", field="memberId")
        if isinstance(member_id, list):
            return BlockMemberPayload(user_errors=member_id)
        result = await mutate(
            info,
            lambda tx: relationships.block_member(tx, actor_id=actor_id, member_id=member_id),
        )
        if isinstance(result, list):
            return BlockMemberPayload(user_errors=result)
        return BlockMemberPayload(member=await _member(info, member_id))

    @strawberry.mutation(description="Lift a block; the two are not reconnected.")
    async def unblock_member(self, info: Info, input: UnblockMemberInput) -> UnblockMemberPayload:
        actor_id = await info.context.require_viewer()
        member_id = input_id(input.member_id, "Member", field="memberId")
        if isinstance(member_id, list):
            return UnblockMemberPayload(user_errors=member_id)
        result = await mutate(
            info,
            lambda tx: relationships.unblock_member(tx, actor_id=actor_id, member_id=member_id),
        )
        if isinstance(result, list):
            return UnblockMemberPayload(user_errors=result)
        return UnblockMemberPayload(member=await _member(info, member_id))


NODES = (Relationship,)
