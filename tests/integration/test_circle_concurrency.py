"""Circles under concurrent commands, on each database: counts and owners stay true."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from domain.errors import DomainError
from domain.network import circles
from domain.network.models import Circle, CircleMembership, CircleRole, CircleVisibility
from domain.network.models import MembershipStatus as Status
from tests.builders import make_members


async def create(
    store, owner_id: int, name: str, visibility: CircleVisibility = CircleVisibility.OPEN
) -> Circle:
    async with store.transaction() as tx:
        circle = await circles.create_circle(
            tx,
            actor_id=owner_id,
            name=name,
            description=None,
            visibility=visibility,
            tags=[],
        )
        await tx.commit()
        return circle


async def attempt(store, command, **arguments) -> bool:
    """Run a circle command in its own transaction; tell whether it was accepted."""
    try:
        async with store.transaction() as tx:
            await command(tx, **arguments)
            await tx.commit()
    except DomainError:
        return False
    return True


async def counted_and_actual(store, circle_id: int) -> tuple[int, int, list[CircleRole]]:
    async with store.reader() as session:
        counted = await session.scalar(select(Circle.member_count).where(Circle.id == circle_id))
        roles = list(
            await session.scalars(
                select(CircleMembership.role).where(
                    CircleMembership.circle_id == circle_id,
                    CircleMembership.status == Status.ACTIVE,
                )
            )
        )
        assert counted is not None
        return counted, len(roles), roles


async def test_concurrent_joins_are_all_counted(store):
    owner, *joiners = await make_members(store, "own", *(f"joiner_{n}" for n in range(8)))
    circle = await create(store, owner, "Busy")

    accepted = await asyncio.gather(
        *(
            attempt(store, circles.join_circle, actor_id=member, circle_id=circle.id)
            for member in joiners
        )
    )

    assert all(accepted)
    counted, actual, _ = await counted_and_actual(store, circle.id)
    assert counted == actual == 9


async def test_concurrent_circles_with_one_name_get_distinct_slugs(store):
    (owner,) = await make_members(store, "own")

    created = await asyncio.gather(*(create(store, owner, "Same Name") for _ in range(4)))

    assert sorted(circle.slug for circle in created) == [
        "same-name",
        "same-name-2",
        "same-name-3",
        "same-name-4",
    ]


@pytest.mark.parametrize("visibility", [CircleVisibility.OPEN, CircleVisibility.ON_REQUEST])
async def test_the_owner_leaving_while_others_join_leaves_no_circle_without_an_owner(
    store, visibility
):
    owner, *joiners = await make_members(store, "own", *(f"joiner_{n}" for n in range(4)))
    circle = await create(store, owner, "Busy", visibility)

    def join(member: int):
        return attempt(store, circles.join_circle, actor_id=member, circle_id=circle.id)

    # The leave goes in the middle, so joins come both before and after it.
    *joined_before, left, joined_after = await asyncio.gather(
        *(join(member) for member in joiners[:3]),
        attempt(store, circles.leave_circle, actor_id=owner, circle_id=circle.id),
        join(joiners[3]),
    )
    joined = [*joined_before, joined_after]

    async with store.reader() as session:
        kept = await session.get(Circle, circle.id)
        rows = list(
            await session.scalars(
                select(CircleMembership).where(CircleMembership.circle_id == circle.id)
            )
        )
    if kept is None:
        # The owner left alone: the circle went, with any requests made before, and no one
        # came into it after.
        assert left
        assert rows == []
        if visibility is CircleVisibility.OPEN:
            assert not any(joined)
        return
    # Someone joined an open circle first: the owner stays, and owns it.
    assert visibility is CircleVisibility.OPEN
    assert not left
    assert any(joined)
    counted, actual, roles = await counted_and_actual(store, circle.id)
    assert counted == actual == 1 + sum(joined) == len(rows)
    assert roles.count(CircleRole.OWNER) == 1
    assert kept.owner_id == owner
