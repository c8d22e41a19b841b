"""Seed a database with the demo network, once, and only a database that is the demo's."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import random
import time
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.demo.activity import plan_activity
from domain.demo.cast import DEMO_EMAIL_DOMAIN, JOURNEY, JOURNEY_EMAILS, draw_profiles
from domain.demo.journey import plan_journey
from domain.demo.story import Policies, Story
from domain.events import OutboxEvent
from domain.ledger.models import Iou, Transfer
from domain.marketplace.models import HelpRequest, Offer
from domain.members.models import Give, Goal, Member
from domain.members.passwords import Passwords
from domain.network.models import (
    Circle,
    CircleMembership,
    Intro,
    MembershipStatus,
    Relationship,
)
from domain.partners import service as partners
from domain.store import Store

# Every demo account signs in with it; README.md and the commands print it.
DEMO_PASSWORD = "rapport-demo-network"
DEFAULT_MEMBERS = 300
MIN_MEMBERS = 20
MAX_MEMBERS = 5000
_DEMO_EMAILS = f"%@{DEMO_EMAIL_DOMAIN}"


class Result(enum.Enum):
    SEEDED = "SEEDED"
    ALREADY_SEEDED = "ALREADY_SEEDED"
    REFUSED = "REFUSED"


@dataclasses.dataclass(frozen=True)
class Census:
    """Who a database holds: the seed's generated members, its three known accounts, others."""

    generated: int
    journey: int
    others: int


@dataclasses.dataclass(frozen=True)
class Seeding:
    """What a seed did, and what the database holds now."""

    result: Result
    census: Census
    counts: dict[str, int]
    seconds: float


class OneHash(Passwords):
    """Hashes each password once and hands out that hash again.

    Every demo member has the same password; argon2id at the configured cost for each of
    hundreds of members would be most of the seed's time. Each stored hash is a real argon2id
    hash of the demo password, checked at log-in like any other.
    """

    def __init__(self, passwords: Passwords) -> None:
        # Not Passwords.__init__: this hashes through ``passwords``, with its parameters.
        self._passwords = passwords
        self._hashes: dict[str, str] = {}

    async def hash(self, password: str) -> str:
        if password not in self._hashes:
            self._hashes[password] = await self._passwords.hash(password)
        return self._hashes[password]

    async def verify(self, password_hash: str | None, password: str) -> bool:
        return await self._passwords.verify(password_hash, password)

    def needs_rehash(self, password_hash: str) -> bool:
        return self._passwords.needs_rehash(password_hash)


async def census(session: AsyncSession) -> Census:
    """Count the demo's members and everyone else in a database."""
    row = (
        await session.execute(
            select(
                func.count().filter(Member.email_key.like(_DEMO_EMAILS)),
                func.count().filter(Member.email_key.in_(sorted(JOURNEY_EMAILS))),
                func.count(),
            ).select_from(Member)
        )
    ).one()
    generated, journey, total = (int(value or 0) for value in row)
    return Census(generated=generated, journey=journey, others=total - generated - journey)


async def seed_demo(
    store: Store,
    *,
    passwords: Passwords,
    policies: Policies,
    end: dt.datetime,
    seed: int = 1,
    members: int = DEFAULT_MEMBERS,
    force: bool = False,
) -> Seeding:
    """Fill the database with the demo network drawn from ``seed``, its history ending at
    ``end``; do nothing if it holds one already, and refuse one holding other members
    unless ``force`` (and, even then, one where Alice's, Bob's or Carol's address is taken).

    ``members`` counts everyone, Alice, Bob and Carol included. It all happens in one
    transaction: a seed that fails leaves nothing behind.
    """
    if not MIN_MEMBERS <= members <= MAX_MEMBERS:
        raise ValueError(f"between {MIN_MEMBERS} and {MAX_MEMBERS} members")
    started = time.perf_counter()
    async with store.transaction() as tx:
        before = await census(tx.session)
        if before.generated:
            result = Result.ALREADY_SEEDED
        elif before.journey or (before.others and not force):
            result = Result.REFUSED
        else:
            taken = frozenset((await tx.session.scalars(select(Member.handle))).all())
            rng = random.Random(seed)  # noqa: S311 (a demo's draws, not a secret)
            cast = [*JOURNEY, *draw_profiles(rng, members - len(JOURNEY), taken)]
            story = Story(
                tx,
                rng=rng,
                passwords=OneHash(passwords),
                policies=policies,
                cast=cast,
                end=end,
                key_prefix=f"demo:{seed}",
            )
            await story.tell(DEMO_PASSWORD, plan_journey, plan_activity)
            # Alice may register partner apps: the journey's partner is hers.
            await partners.set_admin(tx, handle="alice", admin=True)
            await tx.commit()
            result = Result.SEEDED
    async with store.reader() as session:
        counts = await network_counts(session)
    return Seeding(result, before, counts, time.perf_counter() - started)


async def network_counts(session: AsyncSession) -> dict[str, int]:
    """Count what the demo network holds, by kind and state (for the command's summary)."""
    counts: dict[str, int] = {}

    async def count_by(label: str, column: Any, model: type) -> None:
        rows = await session.execute(
            select(column, func.count()).select_from(model).group_by(column)
        )
        for value, number in rows:
            name = getattr(value, "value", value)
            counts[f"{label} {str(name).lower()}"] = int(number)

    counts["members"] = int(await session.scalar(select(func.count()).select_from(Member)) or 0)
    for label, model in (("gives", Give), ("goals", Goal), ("circles", Circle)):
        counts[label] = int(await session.scalar(select(func.count()).select_from(model)) or 0)
    await count_by("relationships", Relationship.status, Relationship)
    memberships = select(func.count()).where(CircleMembership.status == MembershipStatus.ACTIVE)
    counts["circle memberships"] = int(await session.scalar(memberships) or 0)
    await count_by("intros", Intro.status, Intro)
    await count_by("help requests", HelpRequest.status, HelpRequest)
    await count_by("offers", Offer.status, Offer)
    await count_by("transfers", Transfer.reason, Transfer)
    await count_by("IOUs", Iou.status, Iou)
    counts["outbox events"] = int(
        await session.scalar(select(func.count()).select_from(OutboxEvent)) or 0
    )
    return counts


def story_end(now: dt.datetime) -> dt.datetime:
    """Return when the demo's history ends: the start of the day (UTC), so it is recent and
    two seeds on one day tell the same story to the second."""
    return now.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
