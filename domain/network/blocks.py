"""Blocks: a blocked member cannot reach the blocker by any path."""

from __future__ import annotations

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.network.models import Block


async def blocked_between(session: AsyncSession, member_id: int, other_id: int) -> bool:
    """Tell whether either member has blocked the other."""
    found = await session.scalar(
        select(Block.blocker_id)
        .where(
            or_(
                and_(Block.blocker_id == member_id, Block.blocked_id == other_id),
                and_(Block.blocker_id == other_id, Block.blocked_id == member_id),
            )
        )
        .limit(1)
    )
    return found is not None


async def blocked_any(session: AsyncSession, member_ids: list[int]) -> bool:
    """Tell whether any two of these members have blocked one another."""
    found = await session.scalar(
        select(Block.blocker_id)
        .where(Block.blocker_id.in_(member_ids), Block.blocked_id.in_(member_ids))
        .limit(1)
    )
    return found is not None
