"""Relationship commands that race each other: one outcome, never a crash."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from domain.errors import Code, DomainError
from domain.network import relationships
from domain.network.models import Block, Connection, Relationship, RelationshipStatus
from tests.builders import make_members


async def _members(store, count: int) -> list[int]:
    return await make_members(store, *(f"member_{n}" for n in range(count)))


async def _attempt(store, command, **arguments) -> Code | None:
    try:
        async with store.transaction() as tx:
            await command(tx, **arguments)
            await tx.commit()
    except DomainError as error:
        return error.code
    return None


async def test_two_members_asking_each_other_at_once_end_up_connected(store):
    ada, bob = await _members(store, 2)

    outcomes = await asyncio.gather(
        _attempt(
            store, relationships.request_connection, actor_id=ada, member_id=bob, context=None
        ),
        _attempt(
            store, relationships.request_connection, actor_id=bob, member_id=ada, context=None
        ),
    )

    assert list(outcomes) == [None, None]
    async with store.reader() as session:
        (relationship,) = (await session.scalars(select(Relationship))).all()
        assert relationship.status is RelationshipStatus.ACTIVE
        assert await session.scalar(select(func.count()).select_from(Connection)) == 2


async def test_the_same_request_sent_three_times_at_once_is_made_once(store):
    ada, bob = await _members(store, 2)

    outcomes = await asyncio.gather(
        *(
            _attempt(
                store, relationships.request_connection, actor_id=ada, member_id=bob, context=None
            )
            for _ in range(3)
        )
    )

    assert outcomes.count(None) == 1
    assert outcomes.count(Code.ALREADY_EXISTS) == 2
    async with store.reader() as session:
        assert await session.scalar(select(func.count()).select_from(Relationship)) == 1


async def test_a_block_sent_three_times_at_once_blocks_once(store):
    ada, bob = await _members(store, 2)

    outcomes = await asyncio.gather(
        *(
            _attempt(store, relationships.block_member, actor_id=ada, member_id=bob)
            for _ in range(3)
        )
    )

    assert outcomes.count(None) == 1
    assert outcomes.count(Code.ALREADY_EXISTS) == 2
    async with store.reader() as session:
        assert await session.scalar(select(func.count()).select_from(Block)) == 1
