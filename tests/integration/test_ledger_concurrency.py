"""Racing transfers on PostgreSQL, where writers really run at once (SQLite has one writer
at a time, so a naive ledger passes there: FIELD-NOTES.md). Totals are conserved, no
balance goes negative, and no deadlock escapes as anything but a refusal to retry.

A deliberately naive read-check-write transfer is raced the same way and must be caught by
the same audit, so these tests prove they can fail.
"""

from __future__ import annotations

import asyncio
import random

import pytest
from sqlalchemy import func, insert, select, update

from domain.errors import Code, DomainError
from domain.ledger import audit, flows, ious
from domain.ledger.core import Posting, escrow_account, karma_account, transfer
from domain.ledger.models import Account, Iou, IouStatus, Transfer, TransferReason
from domain.ledger.rules import LedgerPolicy
from domain.marketplace.models import Offer
from domain.marketplace.rules import OfferStatus, Settlement
from domain.store import Store
from tests.builders import make_members
from tests.integration.test_offers import _request as request_with_bounty

START = 100


@pytest.fixture
def pg_store(store: Store) -> Store:
    if store.dialect != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL (SQLite runs one writer at a time)")
    return store


async def _members(store: Store, *handles: str) -> list[int]:
    ids = await make_members(store, *handles)
    async with store.transaction() as tx:
        for member_id in ids:
            await flows.grant_welcome(tx, member_id=member_id, amount=START)
        await tx.commit()
    return ids


async def _post(store: Store, posting: Posting) -> int | Code:
    try:
        async with store.transaction() as tx:
            result = await transfer(tx, posting, alone=True)
            await tx.commit()
        return result
    except DomainError as error:
        return error.code


async def _balances(store: Store, member_ids: list[int]) -> dict[int, int]:
    async with store.reader() as session:
        rows = await session.execute(
            select(Account.member_id, Account.balance).where(Account.member_id.in_(member_ids))
        )
        return {member_id: balance for member_id, balance in rows if member_id is not None}


async def _violations(store: Store) -> list[str]:
    async with store.reader() as session:
        return await audit.violations(session)


async def test_racing_transfers_both_ways_conserve_karma(pg_store):
    members = await _members(pg_store, "ada", "bob", "cy")
    rng = random.Random(7)
    postings = []
    for n in range(120):
        source, target = rng.sample(members, 2)
        postings.append(
            Posting(
                key=f"race:{n}",
                source=karma_account(source),
                target=karma_account(target),
                amount=rng.randint(10, 60),
                reason=TransferReason.GIFT,
            )
        )
    outcomes = await asyncio.gather(*(_post(pg_store, p) for p in postings))

    done = [o for o in outcomes if isinstance(o, int)]
    refused = [o for o in outcomes if isinstance(o, Code)]
    assert set(refused) <= {Code.INSUFFICIENT_KARMA, Code.CONFLICT}
    assert done, "some transfers must go through"
    balances = await _balances(pg_store, members)
    assert sum(balances.values()) == 3 * START
    assert min(balances.values()) >= 0
    assert await _violations(pg_store) == []


async def test_two_awards_of_one_bounty_at_once_pay_it_once(pg_store):
    carol, alice, bob = await _members(pg_store, "carol", "alice", "bob")
    request_id = await request_with_bounty(pg_store, carol, bounty=30)
    awards = [
        Posting(
            key=f"bounty:{request_id}:award:{helper}",
            source=escrow_account(request_id),
            target=karma_account(helper),
            amount=30,
            reason=TransferReason.BOUNTY_AWARD,
            help_request_id=request_id,
        )
        for helper in (alice, bob)
    ]
    outcomes = await asyncio.gather(*(_post(pg_store, p) for p in awards))

    assert sorted(outcomes, key=str).count(Code.INSUFFICIENT_KARMA) == 1
    balances = await _balances(pg_store, [alice, bob])
    assert sorted(balances.values()) == [START, START + 30]
    assert await _violations(pg_store) == []


async def _naive_transfer(store: Store, posting: Posting, barrier: asyncio.Barrier) -> None:
    """Read both balances, check in Python, then write the results: the bug rule 3 forbids."""
    async with store.transaction() as tx:
        accounts = {
            row.name: row
            for row in await tx.session.scalars(
                select(Account).where(Account.name.in_([posting.source, posting.target]))
            )
        }
        source, target = accounts[posting.source], accounts[posting.target]
        await barrier.wait()  # every writer has read before any writes: a real race, made sure
        if source.balance - posting.amount < 0:
            return
        new_source, new_target = source.balance - posting.amount, target.balance + posting.amount
        for account, balance in ((source, new_source), (target, new_target)):
            await tx.session.execute(
                update(Account).where(Account.id == account.id).values(balance=balance)
            )
        await tx.session.execute(
            insert(Transfer).values(
                key=posting.key,
                from_account_id=source.id,
                to_account_id=target.id,
                amount=posting.amount,
                from_balance=new_source,
                to_balance=new_target,
                reason=posting.reason,
                created_at=tx.now,
            )
        )
        await tx.commit()


async def test_the_audit_catches_a_naive_read_check_write_ledger(pg_store):
    ada, bob = await _members(pg_store, "ada", "bob")
    postings = [
        Posting(
            key=f"naive:{n}",
            source=karma_account(ada),
            target=karma_account(bob),
            amount=START,
            reason=TransferReason.GIFT,
        )
        for n in range(4)
    ]
    barrier = asyncio.Barrier(len(postings))
    await asyncio.gather(*(_naive_transfer(pg_store, p, barrier) for p in postings))

    found = await _violations(pg_store)
    # Four transfers of all ada had each passed the check: karma was created from nothing.
    assert any(line.startswith("replay:") for line in found), found

    # The real ledger, raced the same way, spends ada's karma once.
    carol, dan = await _members(pg_store, "carol", "dan")
    outcomes = await asyncio.gather(
        *(
            _post(
                pg_store,
                Posting(
                    key=f"real:{n}",
                    source=karma_account(carol),
                    target=karma_account(dan),
                    amount=START,
                    reason=TransferReason.GIFT,
                ),
            )
            for n in range(4)
        )
    )
    assert sum(isinstance(o, int) for o in outcomes) == 1
    assert await _balances(pg_store, [carol, dan]) == {carol: 0, dan: 2 * START}


async def _iou(store: Store, debtor: int, creditor: int) -> int:
    request_id = await request_with_bounty(store, debtor, bounty=0)
    async with store.transaction() as tx:
        offer_id = await tx.session.scalar(
            insert(Offer)
            .values(
                help_request_id=request_id,
                helper_id=creditor,
                status=OfferStatus.COMPLETED,
                settlement=Settlement.IOU,
                created_at=tx.now,
            )
            .returning(Offer.id)
        )
        assert offer_id is not None
        iou = await ious.issue_iou(
            tx,
            debtor_id=debtor,
            creditor_id=creditor,
            help_request_id=request_id,
            offer_id=offer_id,
            policy=LedgerPolicy(),
        )
        await tx.commit()
    return iou.id


async def test_a_settle_and_a_forgive_at_once_end_in_one_of_them(pg_store):
    ada, bob = await _members(pg_store, "ada", "bob")
    iou_id = await _iou(pg_store, ada, bob)

    async def run(command) -> str:
        try:
            async with pg_store.transaction() as tx:
                iou = await command(tx)
                await tx.commit()
            return iou.status.value
        except DomainError as error:
            return error.code.value

    outcomes = await asyncio.gather(
        run(lambda tx: ious.settle_iou(tx, actor_id=ada, iou_id=iou_id)),
        run(lambda tx: ious.forgive_iou(tx, actor_id=bob, iou_id=iou_id)),
    )

    assert sorted(outcomes) in (
        ["INVALID_TRANSITION", "SETTLED"],
        ["FORGIVEN", "INVALID_TRANSITION"],
    )
    async with pg_store.reader() as session:
        iou = await session.get_one(Iou, iou_id)
        settlements = await session.scalar(
            select(func.count()).select_from(Transfer).where(Transfer.iou_id == iou_id)
        )
    assert iou.status.value in outcomes
    assert settlements == (1 if iou.status is IouStatus.SETTLED else 0)
    paid = LedgerPolicy().iou_value if iou.status is IouStatus.SETTLED else 0
    assert await _balances(pg_store, [ada, bob]) == {ada: START - paid, bob: START + paid}
    assert await _violations(pg_store) == []
