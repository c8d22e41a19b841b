"""Reading offers: each is seen by its helper and by the request's author, no one else."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.marketplace.models import HelpRequest, Offer
from domain.marketplace.rules import LIVE_OFFERS


async def offers_by_ids(
    session: AsyncSession, *, viewer_id: int, offer_ids: Sequence[int]
) -> dict[int, Offer]:
    """Return the offers among these that the viewer made or received."""
    rows = await session.scalars(
        select(Offer)
        .join(HelpRequest, HelpRequest.id == Offer.help_request_id)
        .where(
            Offer.id.in_(offer_ids),
            or_(Offer.helper_id == viewer_id, HelpRequest.author_id == viewer_id),
        )
    )
    return {offer.id: offer for offer in rows}


async def offers_on(
    session: AsyncSession, *, viewer_id: int, help_request_id: int, limit: int, offset: int
) -> tuple[list[Offer], bool, int]:
    """Return a page of a request's offers as the viewer may see them, oldest first.

    The author sees every offer; anyone else sees only their own.
    """
    statement = (
        select(Offer, func.count().over().label("total"))
        .join(HelpRequest, HelpRequest.id == Offer.help_request_id)
        .where(
            Offer.help_request_id == help_request_id,
            or_(HelpRequest.author_id == viewer_id, Offer.helper_id == viewer_id),
        )
        .order_by(Offer.created_at, Offer.id)
        .limit(limit + 1)
        .offset(offset)
    )
    rows = (await session.execute(statement)).all()
    return [row[0] for row in rows[:limit]], len(rows) > limit, rows[0].total if rows else 0


async def live_offers_of(
    session: AsyncSession, *, viewer_id: int, help_request_ids: Sequence[int]
) -> dict[int, Offer]:
    """Return the viewer's own live (pending or accepted) offer on each of these requests."""
    rows = await session.scalars(
        select(Offer).where(
            Offer.helper_id == viewer_id,
            Offer.help_request_id.in_(help_request_ids),
            Offer.status.in_(LIVE_OFFERS),
        )
    )
    return {offer.help_request_id: offer for offer in rows}
