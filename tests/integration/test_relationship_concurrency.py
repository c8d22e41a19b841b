"""Relationship commands that race each other: one outcome, never a crash."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from domain.errors import Code, DomainError
from domain.members.models import Member, Visibility
from domain.network import relationships
from domain.network.models import Block, Connection, Relationship, RelationshipStatus


async def _members(store, count: int) -> list[int]:
    async with store.transaction() as tx:
        rows = [
            Member(
                email=f"m{n}@example.com",
                email_key=f"m{n}@example.com",
                password_hash="x",
                handle=f"member_{n}",
                display_name=f"Member {n}",
                help_requests_per_week=3,
                visibility=Visibility.EVERYONE,
                location_visibility=Visibility.EVERYONE,
                seeks_visibility=Visibility.EVERYONE,
                gives_visibility=Visibility.EVERYONE,
                goals_visibility=Visibility.EVERYONE,
                connections_visibility=Visibility.EVERYONE,
                search_text=f"member_{n}",
                created_at=tx.now,
                updated_at=tx.now,
            )
            for n in range(count)
        ]
        tx.session.add_all(rows)
        await tx.session.flush()
        ids = [row.id for row in rows]
        await tx.commit()
    return ids


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
