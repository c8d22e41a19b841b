"""The journal is append-only, and bounds hold, by the database's own rules (both databases)."""

from __future__ import annotations

import asyncio
import os
import sys

import pytest
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.exc import DBAPIError

from domain.errors import Code, DomainError
from domain.events import OutboxEvent
from domain.ledger import audit, flows
from domain.ledger.core import ISSUER, Posting, karma_account, transfer
from domain.ledger.models import Account, Transfer, TransferReason
from tests.builders import make_members


async def _granted(store, amount=50) -> tuple[int, int]:
    ada, bob = await make_members(store, "ada", "bob")
    async with store.transaction() as tx:
        for member_id in (ada, bob):
            await flows.grant_welcome(tx, member_id=member_id, amount=amount)
        await tx.commit()
    return ada, bob


async def _write(store, statement) -> None:
    """Run a statement as anyone with the database's password could: no domain code between."""
    async with store.engine.begin() as connection:
        await connection.execute(statement)


@pytest.mark.parametrize(
    "change",
    [
        update(Transfer).values(amount=Transfer.amount + 1),
        update(Transfer).values(memo="rewritten"),
        delete(Transfer),
    ],
    ids=["amount", "memo", "delete"],
)
async def test_a_transfer_cannot_be_changed_or_deleted(store, change):
    await _granted(store)
    with pytest.raises(DBAPIError, match="immutable"):
        await _write(store, change)
    async with store.reader() as session:
        assert await session.scalar(select(Transfer.amount).limit(1)) == 50
        assert await audit.violations(session) == []


async def test_the_database_refuses_a_balance_below_its_bound(store):
    ada, _ = await _granted(store)
    with pytest.raises(DBAPIError, match=r"(?i)check"):
        await _write(store, update(Account).where(Account.member_id == ada).values(balance=-1))


async def test_audit_reports_a_cached_balance_that_drifted_from_its_transfers(store):
    ada, _ = await _granted(store)
    async with store.transaction() as tx:
        await tx.session.execute(
            text("UPDATE ledger_accounts SET balance = balance + 5 WHERE member_id = :m"),
            {"m": ada},
        )
        await tx.commit()
    async with store.reader() as session:
        found = await audit.violations(session)
    assert f"replay: karma:{ada} caches 55, its transfers sum to 50" in found
    assert "conservation: balances sum to 5, not 0" in found


async def test_a_key_replays_its_first_outcome_and_refuses_another_body(store):
    ada, bob = await _granted(store, amount=10)

    def gift(amount: int) -> Posting:
        return Posting(
            key="gift:ada:1",
            source=karma_account(ada),
            target=karma_account(bob),
            amount=amount,
            reason=TransferReason.GIFT,
        )

    async def post(posting: Posting) -> int | Code:
        try:
            async with store.transaction() as tx:
                result = await transfer(tx, posting, alone=True)
                await tx.commit()
            return result
        except DomainError as error:
            return error.code

    assert await post(gift(30)) is Code.INSUFFICIENT_KARMA
    top_up = Posting(
        key="top-up:ada",
        source=ISSUER,
        target=karma_account(ada),
        amount=40,
        reason=TransferReason.WELCOME,
    )
    assert isinstance(await post(top_up), int)  # ada can now cover it
    assert await post(gift(30)) is Code.INSUFFICIENT_KARMA  # the first outcome, again
    assert await post(gift(5)) is Code.CONFLICT
    async with store.reader() as session:
        assert await session.scalar(select(Account.balance).where(Account.member_id == bob)) == 10
        assert await audit.violations(session) == []


async def test_a_transfer_writes_its_event_in_the_same_statements_on_either_database(
    store, statements
):
    ada, bob = await _granted(store)
    gift = Posting(
        key="gift:ada:2",
        source=karma_account(ada),
        target=karma_account(bob),
        amount=7,
        reason=TransferReason.GIFT,
        actor_id=ada,
        memo="thanks",
    )
    async with store.transaction() as tx:
        statements.counting = True
        transfer_id = await transfer(tx, gift, alone=True)
        await tx.commit()
        statements.counting = False

    # PostgreSQL: one call to ledger_post. SQLite: claim the key, lock both accounts, debit,
    # credit, the transfer row, the key's outcome, and the event at commit.
    assert statements.count == (1 if store.dialect == "postgresql" else 7), statements.seen
    async with store.reader() as session:
        event = (
            await session.execute(
                select(OutboxEvent.actor_id, OutboxEvent.payload)
                .where(OutboxEvent.type == "karma.transferred")
                .order_by(OutboxEvent.id.desc())
                .limit(1)
            )
        ).one()
        row = await session.get_one(Transfer, transfer_id)
    assert event.actor_id == ada
    assert event.payload == {
        "transfer_id": transfer_id,
        "from_member_id": ada,
        "to_member_id": bob,
        "amount": 7,
        "reason": "GIFT",
        "help_request_id": None,
        "offer_id": None,
        "iou_id": None,
        "intro_id": None,
    }
    assert (row.amount, row.from_balance, row.to_balance, row.memo) == (7, 43, 57, "thanks")


async def test_a_transfer_from_an_account_never_opened_is_refused_and_replayed(store):
    ada, bob = await make_members(store, "ada", "bob")  # no welcome grant: no accounts yet
    gift = Posting(
        key="gift:ada:first",
        source=karma_account(ada),
        target=karma_account(bob),
        amount=1,
        reason=TransferReason.GIFT,
    )
    for _ in range(2):  # the first answer, then its replay
        with pytest.raises(DomainError) as refused:
            async with store.transaction() as tx:
                await transfer(tx, gift, alone=True)
        assert refused.value.code is Code.INSUFFICIENT_KARMA
        assert refused.value.message == ("not enough karma: 0 available in your balance, 1 needed")
    async with store.reader() as session:
        assert await session.scalar(select(func.count()).select_from(Transfer)) == 0
        balances = list(await session.scalars(select(Account.balance)))
        assert await audit.violations(session) == []
    # Both accounts were opened, empty, before the debit was refused: nothing moved.
    assert balances == [0, 0]


async def _ledger_check(database_url: str, tmp_path) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "api",
        "ledger-check",
        env={**os.environ, "DATABASE_URL": database_url, "VAR_DIR": str(tmp_path / "var")},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    assert process.returncode is not None
    return process.returncode, output.decode()


async def test_the_operator_command_checks_the_ledger(store, database_url, tmp_path):
    ada, _ = await _granted(store)
    assert (await _ledger_check(database_url, tmp_path))[0] == 0
    await _write(
        store, update(Account).where(Account.member_id == ada).values(balance=Account.balance + 1)
    )
    code, output = await _ledger_check(database_url, tmp_path)
    assert code == 1
    assert f"replay: karma:{ada} caches 51, its transfers sum to 50" in output
    assert "2 violation(s)" in output
