"""The double-entry core: accounts named by owner, and transfers posted once per key.

A transfer moves a positive amount from one account to another. Posting it runs, inside the
caller's transaction and a SAVEPOINT (``domain.idempotency.once``):

1. claim the transfer's key: a retry replays the first outcome, a refusal included;
2. find (or open) both accounts and touch them in id order, so two transfers over the same
   accounts queue instead of deadlocking;
3. change each balance with a guarded ``UPDATE … WHERE balance - amount >= lower_bound``:
   zero rows updated means the account cannot cover it. Nothing is read and checked in
   Python, so concurrent writers cannot both spend the same karma;
4. append the transfer row (the database refuses to change or delete it afterwards), with
   each side's balance after it, and its ``karma.transferred`` event.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from sqlalchemy import and_, insert, or_, select, update

from domain.errors import Code, DomainError, invalid
from domain.events import KarmaTransferred
from domain.idempotency import once
from domain.ledger.models import Account, AccountKind, Transfer, TransferReason
from domain.store import Transaction, insert_ignoring_conflicts

ISSUER = "issuer"
MAX_AMOUNT = 1_000_000_000


def karma_account(member_id: int) -> str:
    """Return the name of a member's karma account."""
    return f"karma:{member_id}"


def escrow_account(help_request_id: int) -> str:
    """Return the name of a help request's escrow account."""
    return f"escrow:{help_request_id}"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Posting:
    """What a transfer moves, why, and what it belongs to; ``key`` makes it happen once."""

    key: str
    source: str
    target: str
    amount: int
    reason: TransferReason
    actor_id: int | None = None
    help_request_id: int | None = None
    offer_id: int | None = None
    iou_id: int | None = None
    intro_id: int | None = None
    memo: str | None = None
    # The input a refusal points at (not part of the transfer).
    field: str = "amount"

    def body(self) -> dict[str, Any]:
        body = dataclasses.asdict(self)
        del body["key"], body["field"]
        body["reason"] = self.reason.value
        return body


async def transfer(tx: Transaction, posting: Posting, *, alone: bool = False) -> int:
    """Post a transfer once for its key and return its id (the first outcome on a retry).

    Refused with ``INSUFFICIENT_KARMA`` when the source cannot cover the amount, and with
    ``CONFLICT`` when the key was used for another transfer. ``alone``: the transfer is the
    transaction's whole work, so a refusal is committed and a retry with its key replays it.
    """
    if not 1 <= posting.amount <= MAX_AMOUNT:
        raise invalid(f"an amount is 1 to {MAX_AMOUNT} karma", "amount")
    if posting.source == posting.target:
        raise invalid("a transfer needs two accounts", "amount")
    return await once(
        tx,
        scope="transfer",
        key=posting.key,
        operation="transfer",
        body=posting.body(),
        run=lambda: _post(tx, posting),
        alone=alone,
    )


async def _post(tx: Transaction, posting: Posting) -> int:
    ids = await _account_ids(tx, (posting.source, posting.target))
    after: dict[str, Any] = {}
    for name in sorted(ids, key=ids.__getitem__):
        if name == posting.source:
            after[name] = await _debit(tx, ids[name], name, posting.amount, posting.field)
        else:
            after[name] = await _credit(tx, ids[name], posting.amount)
    source, target = after[posting.source], after[posting.target]
    transfer_id = await tx.session.scalar(
        insert(Transfer)
        .values(
            key=posting.key,
            from_account_id=ids[posting.source],
            to_account_id=ids[posting.target],
            amount=posting.amount,
            from_balance=source.balance,
            to_balance=target.balance,
            reason=posting.reason,
            actor_id=posting.actor_id,
            help_request_id=posting.help_request_id,
            offer_id=posting.offer_id,
            iou_id=posting.iou_id,
            intro_id=posting.intro_id,
            memo=posting.memo,
            created_at=tx.now,
        )
        .returning(Transfer.id)
    )
    assert transfer_id is not None
    tx.emit(
        KarmaTransferred(
            actor_id=posting.actor_id,
            transfer_id=transfer_id,
            from_member_id=source.member_id,
            to_member_id=target.member_id,
            amount=posting.amount,
            reason=posting.reason.value,
            help_request_id=posting.help_request_id,
            offer_id=posting.offer_id,
            iou_id=posting.iou_id,
            intro_id=posting.intro_id,
        )
    )
    return int(transfer_id)


async def _account_ids(tx: Transaction, names: tuple[str, ...]) -> dict[str, int]:
    """Return the ids of accounts by name, opening any that does not exist yet."""
    found = await _ids_of(tx, names)
    missing = [name for name in names if name not in found]
    if missing:
        opened = [_opening(name, tx) for name in missing]
        await tx.session.execute(
            insert_ignoring_conflicts(tx.dialect, Account, ["name"]).values(opened)
        )
        found.update(await _ids_of(tx, tuple(missing)))
    return found


async def _ids_of(tx: Transaction, names: tuple[str, ...]) -> dict[str, int]:
    rows = await tx.session.execute(select(Account.name, Account.id).where(Account.name.in_(names)))
    return {name: account_id for name, account_id in rows}


def _opening(name: str, tx: Transaction) -> dict[str, Any]:
    """Return the row of a new, empty account for a name ``karma_account`` etc. gave."""
    kind, _, owner = name.partition(":")
    row: dict[str, Any] = {
        "name": name,
        "balance": 0,
        "lower_bound": 0,
        "member_id": None,
        "help_request_id": None,
        "created_at": tx.now,
    }
    if name == ISSUER:
        return row | {"kind": AccountKind.ISSUER, "lower_bound": None}
    if kind == "karma" and owner.isdigit():
        return row | {"kind": AccountKind.KARMA, "member_id": int(owner)}
    if kind == "escrow" and owner.isdigit():
        return row | {"kind": AccountKind.ESCROW, "help_request_id": int(owner)}
    raise ValueError(f"not an account name: {name!r}")


_RETURNED = (Account.balance, Account.member_id)


async def _debit(tx: Transaction, account_id: int, name: str, amount: int, field: str) -> Any:
    covered = or_(Account.lower_bound.is_(None), Account.balance - amount >= Account.lower_bound)
    row = (
        await tx.session.execute(
            update(Account)
            .where(and_(Account.id == account_id, covered))
            .values(balance=Account.balance - amount)
            .returning(*_RETURNED)
        )
    ).one_or_none()
    if row is None:
        available = await tx.session.scalar(select(Account.balance).where(Account.id == account_id))
        whose = "your" if name.startswith("karma:") else "this account's"
        raise DomainError(
            Code.INSUFFICIENT_KARMA,
            f"not enough karma: {available or 0} available in {whose} balance, {amount} needed",
            field,
        )
    return row


async def _credit(tx: Transaction, account_id: int, amount: int) -> Any:
    return (
        await tx.session.execute(
            update(Account)
            .where(Account.id == account_id)
            .values(balance=Account.balance + amount)
            .returning(*_RETURNED)
        )
    ).one()


async def balance_of(tx: Transaction, name: str, *, lock: bool = False) -> int:
    """Return an account's balance (0 when it was never opened); ``lock`` holds its row."""
    statement = select(Account.balance).where(Account.name == name)
    if lock:
        statement = statement.with_for_update()
    return (await tx.session.scalar(statement)) or 0
