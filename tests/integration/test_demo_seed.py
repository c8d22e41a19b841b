"""The demo seed on each database: the same network from the same seed, once, and only
where it is welcome."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import aliased

from api.context import Runtime
from domain.demo.seeding import Result, Seeding, seed_demo, story_end
from domain.demo.story import Policies
from domain.events import OutboxEvent
from domain.ledger import audit
from domain.ledger.models import Account, Iou, Transfer
from domain.marketplace.models import HelpRequest, Offer
from domain.members.models import Goal, Member, MemberTag, Tag
from domain.network.models import Circle, CircleMembership, Relationship
from domain.store import Store
from domain.tables import metadata
from tests.builders import make_members

MEMBERS = 20
END = story_end(dt.datetime.now(dt.UTC))


async def _seed(runtime: Runtime, store: Store, **options: Any) -> Seeding:
    return await seed_demo(
        store,
        passwords=runtime.passwords,
        policies=Policies(
            auth=runtime.auth_policy,
            market=runtime.market_policy,
            intros_per_broker_per_week=runtime.settings.intro_requests_per_broker_per_week,
        ),
        end=END,
        **{"members": MEMBERS, "seed": 7, **options},
    )


async def network(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    """Everything a member could see of the network, keyed by handles rather than ids."""
    requester, addressee = aliased(Member), aliased(Member)
    author, helper, debtor, creditor = (aliased(Member) for _ in range(4))
    queries = {
        "members": select(
            Member.handle, Member.email, Member.display_name, Member.headline, Member.bio,
            Member.location, Member.timezone, Member.created_at,
        ),
        "tags": select(Member.handle, MemberTag.role, Tag.slug, MemberTag.position)
        .join(MemberTag, MemberTag.member_id == Member.id)
        .join(Tag, Tag.id == MemberTag.tag_id),
        "goals": select(Member.handle, Goal.title, Goal.until).join(
            Goal, Goal.member_id == Member.id
        ),
        "relationships": select(
            requester.handle, addressee.handle, Relationship.status, Relationship.context,
            Relationship.help_count, Relationship.intro_count, Relationship.connected_at,
            Relationship.last_interaction_at,
        )
        .join(requester, requester.id == Relationship.requester_id)
        .join(addressee, addressee.id == Relationship.addressee_id),
        "circles": select(
            Circle.slug, Member.handle, CircleMembership.role, CircleMembership.status
        )
        .join(CircleMembership, CircleMembership.circle_id == Circle.id)
        .join(Member, Member.id == CircleMembership.member_id),
        "requests": select(
            author.handle, HelpRequest.title, HelpRequest.status, HelpRequest.bounty,
            HelpRequest.offers_iou, HelpRequest.created_at, HelpRequest.expires_at,
        ).join(author, author.id == HelpRequest.author_id),
        "offers": select(
            HelpRequest.title, helper.handle, Offer.status, Offer.settlement, Offer.tip
        )
        .join(HelpRequest, HelpRequest.id == Offer.help_request_id)
        .join(helper, helper.id == Offer.helper_id),
        "balances": select(Account.name, Account.balance),
        "transfers": select(Transfer.reason, Transfer.amount, Transfer.created_at),
        "ious": select(debtor.handle, creditor.handle, Iou.status, Iou.resolution, Iou.value)
        .join(debtor, debtor.id == Iou.debtor_id)
        .join(creditor, creditor.id == Iou.creditor_id),
        "events": select(OutboxEvent.type, OutboxEvent.occurred_at),
    }  # fmt: skip
    async with store.reader() as session:
        return {
            # Sorted by their text: rows mix None and values, which do not compare.
            name: sorted((tuple(row) for row in await session.execute(query)), key=repr)
            for name, query in queries.items()
        }


async def _fresh(store: Store, tmp_path: Path) -> Store:
    """Return a store on another fresh, migrated database of the same kind."""
    if store.dialect == "sqlite":
        template = Path(store.engine.url.database or "")
        copy = tmp_path / "second.db"
        # The fixture's database was copied from the migrated template before this test.
        shutil.copyfile(template.with_name("template.db"), copy)
        return Store(f"sqlite+aiosqlite:///{copy}", pool_size=1)
    tables = ", ".join(table.name for table in metadata.sorted_tables)
    async with store.engine.begin() as connection:
        await connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    return store


@pytest.fixture
def template(database_url: str, request: pytest.FixtureRequest) -> None:
    """Keep a migrated, empty copy of a SQLite test database beside it, for a second one."""
    if database_url.startswith("sqlite"):
        source = Path(request.getfixturevalue("sqlite_template"))
        target = Path(database_url.removeprefix("sqlite+aiosqlite:///"))
        shutil.copyfile(source, target.with_name("template.db"))


async def test_two_fresh_databases_get_the_same_network(runtime, store, template, tmp_path):
    first = await _seed(runtime, store)
    assert first.result is Result.SEEDED
    seeded = await network(store)
    assert len(seeded["members"]) == MEMBERS

    other = await _fresh(store, tmp_path)
    try:
        second = await _seed(runtime, other)
        assert second.result is Result.SEEDED
        assert await network(other) == seeded
    finally:
        if other is not store:
            await other.dispose()


async def test_seeding_a_seeded_database_again_changes_nothing(runtime, store):
    await _seed(runtime, store)
    before = await network(store)

    again = await _seed(runtime, store, seed=8, members=60)

    assert again.result is Result.ALREADY_SEEDED
    assert again.census.generated == MEMBERS - 3
    assert await network(store) == before


async def test_a_database_with_members_of_its_own_is_refused_unless_forced(runtime, store):
    await make_members(store, "dana")

    refused = await _seed(runtime, store)

    assert refused.result is Result.REFUSED
    assert refused.census.others == 1
    assert [row[0] for row in (await network(store))["members"]] == ["dana"]

    forced = await _seed(runtime, store, force=True)

    assert forced.result is Result.SEEDED
    handles = {row[0] for row in (await network(store))["members"]}
    assert len(handles) == MEMBERS + 1
    assert {"dana", "alice", "bob", "carol"} <= handles


async def test_the_books_balance_after_seeding(runtime, store):
    await _seed(runtime, store)

    async with store.reader() as session:
        assert await audit.violations(session) == []
        reasons = dict(
            (reason.value, count)
            for reason, count in await session.execute(
                select(Transfer.reason, func.count()).group_by(Transfer.reason)
            )
        )
        ious = set(await session.scalars(select(Iou.status)))
    # Welcome grants for everyone; bounties paid, tips and gifts among them.
    assert reasons["WELCOME"] == MEMBERS
    assert {"BOUNTY_HOLD", "BOUNTY_AWARD", "TIP", "GIFT"} <= reasons.keys()
    assert ious
