"""The double-entry core: accounts named by owner, and transfers posted once per key.

A transfer moves a positive amount from one account to another. Posting it runs, inside the
caller's transaction (``domain.idempotency.once``):

1. claim the transfer's key: a retry replays the first outcome, a refusal included;
2. find (or open) both accounts and lock them in id order (one ``SELECT … ORDER BY id FOR
   UPDATE``), so two transfers over the same accounts queue instead of deadlocking;
3. debit with a guarded ``UPDATE … WHERE balance - amount >= lower_bound`` (zero rows
   updated means the account cannot cover it), then credit. Nothing is read and checked in
   Python, so concurrent writers cannot both spend the same karma; and as the debit is the
   first write, a refusal leaves nothing to undo (no SAVEPOINT);
4. append the transfer row (the database refuses to change or delete it afterwards), with
   each side's balance after it, and its ``karma.transferred`` event.

On PostgreSQL the same steps run in the database, in one call to the ``ledger_post``
function (migration ``c4d2f7a90e15``): a transfer is one round trip instead of six, and
twice as many transfers a second fit on the same cores (``bench/ledger.py``). Python
still decides everything else: the checks above, the key's fingerprint, the rows of
accounts to open, the event, and what a replay or a refusal raises. SQLite runs ``_post``
inside ``once``; the ledger's model test holds both to one model.
"""

from __future__ import annotations

import dataclasses
from typing import Any, cast

import orjson
from sqlalchemy import JSON, Table, bindparam, insert, or_, select, text, update

from domain.errors import Code, DomainError, invalid
from domain.events import KarmaTransferred
from domain.idempotency import fingerprint, once, record_refusal, replayed
from domain.ledger.models import Account, AccountKind, Transfer, TransferReason
from domain.store import Transaction, UTCDateTime, insert_ignoring_conflicts

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
        body = dict(vars(self))  # dataclasses.asdict deep-copies: 10 times slower
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
    if tx.dialect == "postgresql":
        return await _post_in_database(tx, posting, alone=alone)
    return await once(
        tx,
        scope=SCOPE,
        key=posting.key,
        operation=SCOPE,
        body=posting.body(),
        run=lambda: _post(tx, posting),
        alone=alone,
        # _post refuses before it writes anything but an empty account: no SAVEPOINT needed.
        savepoint=False,
    )


# Built once: each transfer runs them with parameters, on the tables themselves (Core, not
# the ORM's bulk paths), so a transfer costs its round trips and little Python.
_ACCOUNTS = cast(Table, Account.__table__)
_TRANSFERS = cast(Table, Transfer.__table__)
# Both accounts locked in id order, in one statement (on PostgreSQL rows are locked in the
# order sorted; SQLite has one writer at a time anyway).
_LOCK_ACCOUNTS = (
    select(_ACCOUNTS.c.name, _ACCOUNTS.c.id)
    .where(_ACCOUNTS.c.name.in_(bindparam("names", expanding=True)))
    .order_by(_ACCOUNTS.c.id)
    .with_for_update()
)
_DEBIT = (
    update(_ACCOUNTS)
    .where(
        _ACCOUNTS.c.id == bindparam("account_id"),
        or_(
            _ACCOUNTS.c.lower_bound.is_(None),
            _ACCOUNTS.c.balance - bindparam("amount") >= _ACCOUNTS.c.lower_bound,
        ),
    )
    .values(balance=_ACCOUNTS.c.balance - bindparam("amount"))
    .returning(_ACCOUNTS.c.balance)
)
_CREDIT = (
    update(_ACCOUNTS)
    .where(_ACCOUNTS.c.id == bindparam("account_id"))
    .values(balance=_ACCOUNTS.c.balance + bindparam("amount"))
    .returning(_ACCOUNTS.c.balance)
)
_BALANCE = select(_ACCOUNTS.c.balance).where(_ACCOUNTS.c.id == bindparam("account_id"))
_RECORD = insert(_TRANSFERS).returning(_TRANSFERS.c.id)
_LEDGER_POST = (
    text(
        "SELECT outcome, transfer_id, available, first_fingerprint, first_refusal "
        "FROM ledger_post(:scope, :key, :fingerprint, "
        ":source, :target, :amount, :reason, :actor_id, :help_request_id, :offer_id, :iou_id, "
        ":intro_id, :memo, :now, :open, :event_type, :event_payload)"
    )
    .bindparams(bindparam("now", type_=UTCDateTime()))
    .columns(first_refusal=JSON)
)
SCOPE = "transfer"


async def _post_in_database(tx: Transaction, posting: Posting, *, alone: bool) -> int:
    """``once`` and ``_post`` in one call to PostgreSQL's ``ledger_post``."""
    body = posting.body()  # source, target, amount, reason, actor_id, …: ledger_post's own
    digest = fingerprint(SCOPE, body)
    # The transfer's id is not known yet: ledger_post sets the payload's transfer_id.
    event = _event(posting, transfer_id=0).outbox_values(tx.now)
    row = (
        await tx.session.execute(
            _LEDGER_POST,
            body
            | {
                "scope": SCOPE,
                "key": posting.key,
                "fingerprint": digest,
                "now": tx.now,
                "open": orjson.dumps([_opening(posting.source), _opening(posting.target)]).decode(),
                "event_type": event["type"],
                "event_payload": orjson.dumps(event["payload"]).decode(),
            },
        )
    ).one()
    if row.outcome == "replay":
        return replayed(row.first_fingerprint, row.transfer_id, row.first_refusal, digest=digest)
    if row.outcome == "refused":
        error = _insufficient(posting, row.available)
        await record_refusal(tx, scope=SCOPE, key=posting.key, error=error, alone=alone)
        raise error
    tx.emitted()
    return int(row.transfer_id)


async def _post(tx: Transaction, posting: Posting) -> int:
    # Lock both accounts (id order), then debit first: a refusal comes before any write.
    ids = await _account_ids(tx, (posting.source, posting.target))
    source = await _debit(tx, ids[posting.source], posting)
    target = (
        await tx.session.execute(
            _CREDIT, {"account_id": ids[posting.target], "amount": posting.amount}
        )
    ).one()
    transfer_id = (
        await tx.session.execute(
            _RECORD,
            {
                "key": posting.key,
                "from_account_id": ids[posting.source],
                "to_account_id": ids[posting.target],
                "amount": posting.amount,
                "from_balance": source.balance,
                "to_balance": target.balance,
                "reason": posting.reason,
                "actor_id": posting.actor_id,
                "help_request_id": posting.help_request_id,
                "offer_id": posting.offer_id,
                "iou_id": posting.iou_id,
                "intro_id": posting.intro_id,
                "memo": posting.memo,
                "created_at": tx.now,
            },
        )
    ).scalar_one()
    tx.emit(_event(posting, transfer_id=transfer_id))
    return int(transfer_id)


def _event(posting: Posting, *, transfer_id: int) -> KarmaTransferred:
    return KarmaTransferred(
        actor_id=posting.actor_id,
        transfer_id=transfer_id,
        from_member_id=_opening(posting.source)["member_id"],
        to_member_id=_opening(posting.target)["member_id"],
        amount=posting.amount,
        reason=posting.reason.value,
        help_request_id=posting.help_request_id,
        offer_id=posting.offer_id,
        iou_id=posting.iou_id,
        intro_id=posting.intro_id,
    )


async def _account_ids(tx: Transaction, names: tuple[str, ...]) -> dict[str, int]:
    """Lock accounts in id order and return their ids by name, opening any that is missing.

    An account opened here is empty: kept even if the transfer is refused, it changes no
    balance.
    """
    found = await _ids_of(tx, names)
    missing = [name for name in names if name not in found]
    if missing:
        opened = [_opening(name) | {"created_at": tx.now} for name in missing]
        await tx.session.execute(
            insert_ignoring_conflicts(tx.dialect, _ACCOUNTS, ["name"]).values(opened)
        )
        found.update(await _ids_of(tx, tuple(missing)))
    return found


async def _ids_of(tx: Transaction, names: tuple[str, ...]) -> dict[str, int]:
    rows = await tx.session.execute(_LOCK_ACCOUNTS, {"names": list(names)})
    return {name: account_id for name, account_id in rows}


def _opening(name: str) -> dict[str, Any]:
    """Return the row of a new, empty account for a name ``karma_account`` etc. gave."""
    kind, _, owner = name.partition(":")
    row: dict[str, Any] = {
        "name": name,
        "balance": 0,
        "lower_bound": 0,
        "member_id": None,
        "help_request_id": None,
    }
    if name == ISSUER:
        return row | {"kind": AccountKind.ISSUER, "lower_bound": None}
    if kind == "karma" and owner.isdigit():
        return row | {"kind": AccountKind.KARMA, "member_id": int(owner)}
    if kind == "escrow" and owner.isdigit():
        return row | {"kind": AccountKind.ESCROW, "help_request_id": int(owner)}
    raise ValueError(f"not an account name: {name!r}")


async def _debit(tx: Transaction, account_id: int, posting: Posting) -> Any:
    row = (
        await tx.session.execute(_DEBIT, {"account_id": account_id, "amount": posting.amount})
    ).one_or_none()
    if row is None:
        available = await tx.session.scalar(_BALANCE, {"account_id": account_id})
        raise _insufficient(posting, available)
    return row


def _insufficient(posting: Posting, available: int | None) -> DomainError:
    whose = "your" if posting.source.startswith("karma:") else "this account's"
    return DomainError(
        Code.INSUFFICIENT_KARMA,
        f"not enough karma: {available or 0} available in {whose} balance, {posting.amount} needed",
        posting.field,
    )


_LOCK_BALANCE = (
    select(_ACCOUNTS.c.balance).where(_ACCOUNTS.c.name == bindparam("name")).with_for_update()
)


async def locked_balance(tx: Transaction, name: str) -> int:
    """Lock an account's row and return its balance (0 when it was never opened)."""
    return (await tx.session.scalar(_LOCK_BALANCE, {"name": name})) or 0
