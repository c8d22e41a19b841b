"""A member's opportunities: read newest first by id, marked seen, acted on, or dismissed."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from domain.errors import Code, DomainError, not_found
from domain.events import OpportunityDismissed
from domain.matching.models import DismissReason, Opportunity, OpportunityStatus, SubjectType
from domain.paging import Page, id_page
from domain.store import Transaction

_OPEN = (OpportunityStatus.NEW, OpportunityStatus.SEEN)


async def opportunities_of(
    session: AsyncSession,
    member_id: int,
    *,
    statuses: Sequence[OpportunityStatus],
    limit: int,
    after: int | None = None,
    before: int | None = None,
    backward: bool = False,
) -> Page[Opportunity]:
    """Return a page of the member's opportunities in the order they came (by id): a client
    that reconnects asks for those ``after`` the last one it has, and gets what it missed.
    The newest are at the end: ``last`` without a cursor is the latest page."""
    statement = select(Opportunity).where(Opportunity.member_id == member_id)
    if statuses:
        statement = statement.where(Opportunity.status.in_(statuses))
    return await id_page(
        session,
        statement,
        Opportunity.id,
        newest_first=False,
        limit=limit,
        after=after,
        before=before,
        backward=backward,
    )


async def opportunities_by_ids(
    session: AsyncSession, *, viewer_id: int, ids: Sequence[int]
) -> dict[int, Opportunity]:
    """Return the viewer's own opportunities among these (nobody sees another's)."""
    rows = await session.scalars(
        select(Opportunity).where(Opportunity.id.in_(ids), Opportunity.member_id == viewer_id)
    )
    return {row.id: row for row in rows}


async def _own(tx: Transaction, actor_id: int, opportunity_id: int) -> Opportunity:
    row = await tx.session.get(
        Opportunity, opportunity_id, with_for_update=True, populate_existing=True
    )
    if row is None or row.member_id != actor_id:
        raise not_found("opportunity", "opportunity_id")
    return row


async def mark_seen(tx: Transaction, *, actor_id: int, opportunity_id: int) -> Opportunity:
    """Record that the member saw an opportunity (a second time changes nothing)."""
    row = await _own(tx, actor_id, opportunity_id)
    if row.status is OpportunityStatus.NEW:
        row.status, row.seen_at = OpportunityStatus.SEEN, tx.now
        await tx.session.flush()
    return row


async def dismiss(
    tx: Transaction, *, actor_id: int, opportunity_id: int, reason: DismissReason
) -> Opportunity:
    """Dismiss an opportunity: its subject is never offered again, and the reason feeds
    matching (NOT_RELEVANT twice for one author's asks stops them; NO_TIME pauses asks for a
    week)."""
    row = await _own(tx, actor_id, opportunity_id)
    if row.status not in _OPEN:
        raise DomainError(
            Code.INVALID_TRANSITION,
            f"this opportunity is already {row.status.value.lower()}",
            "opportunity_id",
        )
    row.status, row.dismissed_at, row.dismiss_reason = OpportunityStatus.DISMISSED, tx.now, reason
    row.seen_at = row.seen_at or tx.now
    await tx.session.flush()
    tx.emit(
        OpportunityDismissed(
            actor_id=actor_id, opportunity_id=row.id, member_id=actor_id, reason=reason.value
        )
    )
    return row


async def mark_acted(
    tx: Transaction, *, member_id: int, subject_type: SubjectType, subject_id: int
) -> int:
    """Record that a member acted on a subject they were offered (e.g. offered help on it)."""
    result = await tx.session.execute(
        update(Opportunity)
        .where(
            Opportunity.member_id == member_id,
            Opportunity.subject_type == subject_type,
            Opportunity.subject_id == subject_id,
            Opportunity.status.in_(_OPEN),
        )
        .values(status=OpportunityStatus.ACTED, acted_at=tx.now)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
