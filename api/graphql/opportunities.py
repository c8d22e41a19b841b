"""Opportunities: what the network offers the viewer to act on, with its reasons."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Annotated, Any

import strawberry
from strawberry import relay

from api.context import Info
from api.errors import UserError
from api.graphql.circles import Circle
from api.graphql.commands import mutate
from api.graphql.ids import input_id, party_nodes
from api.graphql.intros import Intro
from api.graphql.ledger import Iou
from api.graphql.marketplace import HelpRequest
from api.graphql.members import Goal, Member
from api.graphql.network import Relationship
from api.graphql.pagination import Connection, id_connection, id_cursor, id_window
from domain.matching import read
from domain.matching.models import (
    DismissReason,
    OpportunityKind,
    OpportunityStatus,
    SubjectType,
)
from domain.matching.models import Opportunity as OpportunityRow
from domain.matching.scoring import ReasonCode

strawberry.enum(OpportunityKind, description="What an opportunity asks of the viewer.")
strawberry.enum(OpportunityStatus, description="`NEW` → `SEEN` → `ACTED` | `DISMISSED`.")
strawberry.enum(
    DismissReason,
    description="Why an opportunity was set aside; matching learns from it (`NOT_RELEVANT` "
    "twice for one member's asks stops them; `NO_TIME` pauses asks for a week).",
)
strawberry.enum(
    ReasonCode,
    description="Why an opportunity reached the viewer: a skill, a give or a goal of theirs "
    "matches (`label` names the tag), a strong tie, a shared circle, a mutual connection it "
    "came through (`VIA`), an IOU they owe, being asked by name, an intro to broker, or a "
    "relationship gone quiet.",
)

OpportunitySubject = Annotated[
    HelpRequest | Goal | Intro | Iou | Relationship, strawberry.union("OpportunitySubject")
]
ReasonSubject = Annotated[Member | Circle, strawberry.union("ReasonSubject")]

_KIND = "opportunity"


def _node_types() -> dict[str, Any]:
    return {
        SubjectType.HELP_REQUEST.value: HelpRequest,
        SubjectType.GOAL.value: Goal,
        SubjectType.INTRO.value: Intro,
        SubjectType.IOU.value: Iou,
        SubjectType.RELATIONSHIP.value: Relationship,
        "MEMBER": Member,
        "CIRCLE": Circle,
    }


async def _node(info: Info, type_name: str | None, node_id: int | None) -> Any:
    """Resolve what a subject names through its type's own visibility checks."""
    if type_name is None or node_id is None:
        return None
    node_type = _node_types()[type_name]
    [found] = await node_type.resolve_nodes(info=info, node_ids=[str(node_id)])
    return found


@strawberry.type(description="One reason an opportunity reached the viewer.")
class OpportunityReason:
    code: ReasonCode
    label: str = strawberry.field(description="A tag's label, a member's handle, a circle's name…")
    subject_type: strawberry.Private[str | None]
    subject_id: strawberry.Private[int | None]

    @strawberry.field(description="The member or circle it names, if the viewer may see it.")
    async def subject(self, info: Info) -> ReasonSubject | None:
        return await _node(info, self.subject_type, self.subject_id)  # type: ignore[no-any-return]


@strawberry.type(description="Something the viewer can act on now, and why it reached them.")
class Opportunity(relay.Node):
    id: relay.NodeID[int]
    kind: OpportunityKind
    score: float
    status: OpportunityStatus
    created_at: dt.datetime
    reasons: list[OpportunityReason]
    cursor: str = strawberry.field(
        description="Its place in `opportunities`: after a dropped connection, "
        "`opportunities(after: <the last cursor you have>)` returns what you missed."
    )
    subject_type: strawberry.Private[str]
    subject_id: strawberry.Private[int]

    @classmethod
    def of(cls, row: OpportunityRow) -> Opportunity:
        return cls.from_values(
            {
                "id": row.id,
                "kind": row.kind.value,
                "score": row.score,
                "status": row.status.value,
                "created_at": row.created_at,
                "reasons": row.reasons,
                "subject_type": row.subject_type.value,
                "subject_id": row.subject_id,
            }
        )

    @classmethod
    def from_values(cls, values: dict[str, Any]) -> Opportunity:
        """Build one from a row's values, or from what a push carries (no read needed)."""
        created = values["created_at"]
        return cls(
            id=values["id"],
            kind=OpportunityKind(values["kind"]),
            score=values["score"],
            status=OpportunityStatus(values["status"]),
            created_at=created
            if isinstance(created, dt.datetime)
            else dt.datetime.fromisoformat(created),
            reasons=[
                OpportunityReason(
                    code=ReasonCode(reason["code"]),
                    label=reason["label"],
                    subject_type=reason.get("subject_type"),
                    subject_id=reason.get("subject_id"),
                )
                for reason in values["reasons"]
            ],
            cursor=id_cursor(_KIND, values["id"]),
            subject_type=values["subject_type"],
            subject_id=values["subject_id"],
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Opportunity | None]:
        return await party_nodes(
            info,
            node_ids,
            lambda session, viewer, ids: read.opportunities_by_ids(
                session, viewer_id=viewer, ids=ids
            ),
            Opportunity.of,
        )

    @strawberry.field(
        description="What to act on; null when it is no longer visible to the viewer."
    )
    async def subject(self, info: Info) -> OpportunitySubject | None:
        return await _node(info, self.subject_type, self.subject_id)  # type: ignore[no-any-return]


async def opportunities_query(
    info: Info,
    status: list[OpportunityStatus] | None = None,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> Connection[Opportunity]:
    viewer_id = await info.context.require_viewer()
    wanted = id_window(_KIND, first, after, last, before)
    async with info.context.store.reader() as session:
        page = await read.opportunities_of(
            session,
            viewer_id,
            statuses=status or (),
            limit=wanted.limit,
            after=wanted.after,
            before=wanted.before,
            backward=wanted.backward,
        )
    return id_connection(
        _KIND,
        [(row.id, Opportunity.of(row)) for row in page.items],
        has_next=page.has_next,
        has_previous=page.has_previous,
    )


@strawberry.type
class Query:
    opportunities: Connection[Opportunity] = strawberry.field(
        resolver=opportunities_query,
        description="The viewer's opportunities in the order they came, oldest first: "
        "`after:` a cursor returns what came since, `last:` the latest (signed in only).",
    )


@strawberry.input
class MarkOpportunitySeenInput:
    opportunity_id: strawberry.ID


@strawberry.input
class DismissOpportunityInput:
    opportunity_id: strawberry.ID
    reason: DismissReason = DismissReason.OTHER


@strawberry.type
class OpportunityPayload:
    opportunity: Opportunity | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class MarkOpportunitySeenPayload(OpportunityPayload):
    pass


@strawberry.type
class DismissOpportunityPayload(OpportunityPayload):
    pass


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Record that the viewer has seen an opportunity.")
    async def mark_opportunity_seen(
        self, info: Info, input: MarkOpportunitySeenInput
    ) -> MarkOpportunitySeenPayload:
        actor_id = await info.context.require_viewer()
        target = input_id(input.opportunity_id, "Opportunity", field="opportunityId")
        if isinstance(target, list):
            return MarkOpportunitySeenPayload(user_errors=target)
        result = await mutate(
            info, lambda tx: read.mark_seen(tx, actor_id=actor_id, opportunity_id=target)
        )
        if isinstance(result, list):
            return MarkOpportunitySeenPayload(user_errors=result)
        return MarkOpportunitySeenPayload(opportunity=Opportunity.of(result))

    @strawberry.mutation(
        description="Set an opportunity aside; its subject is never offered again, and the "
        "reason tells matching what to offer less."
    )
    async def dismiss_opportunity(
        self, info: Info, input: DismissOpportunityInput
    ) -> DismissOpportunityPayload:
        actor_id = await info.context.require_viewer()
        target = input_id(input.opportunity_id, "Opportunity", field="opportunityId")
        if isinstance(target, list):
            return DismissOpportunityPayload(user_errors=target)
        result = await mutate(
            info,
            lambda tx: read.dismiss(
                tx, actor_id=actor_id, opportunity_id=target, reason=input.reason
            ),
        )
        if isinstance(result, list):
            return DismissOpportunityPayload(user_errors=result)
        return DismissOpportunityPayload(opportunity=Opportunity.of(result))


NODES = (Opportunity,)
