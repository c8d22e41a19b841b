"""Idempotency keys: a retried command returns its first outcome, refusals included.

A key is claimed before the command runs (``INSERT … ON CONFLICT DO NOTHING``): a second
attempt with the same key waits on the first's row until it commits, then replays what it
recorded. The command runs inside a SAVEPOINT, so a refusal rolls back its writes but keeps
the key row, which records the refusal. When the command is the transaction's whole work
(``alone``), ``DomainError.recorded`` tells the store to commit that record; inside a larger
command the refusal rolls back with everything else, so nothing is left half-written. The
same key with another body is refused with ``CONFLICT``.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, cast

import orjson
from sqlalchemy import JSON, String, Table, bindparam, select, update
from sqlalchemy.orm import Mapped, mapped_column

from domain.errors import Code, DomainError, Problems, invalid
from domain.store import Base, Id, Transaction, insert_ignoring_conflicts

MAX_KEY = 100


class IdempotencyKey(Base):
    """A claimed key and, once the command ran, its outcome: a result id or a refusal."""

    __tablename__ = "idempotency_keys"

    scope: Mapped[str] = mapped_column(String(40), primary_key=True)
    key: Mapped[str] = mapped_column(String(MAX_KEY), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    result_id: Mapped[int | None] = mapped_column(Id)
    # The refusal's problems, as [{"code", "message", "field"}], when it was refused.
    refusal: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)


# Built once, run with parameters (Core statements: no ORM bulk path per call).
_KEYS = cast(Table, IdempotencyKey.__table__)
_THIS = (_KEYS.c.scope == bindparam("this_scope")) & (_KEYS.c.key == bindparam("this_key"))
_FIRST = select(_KEYS.c.fingerprint, _KEYS.c.result_id, _KEYS.c.refusal).where(_THIS)
_RECORD = update(_KEYS).where(_THIS)


@functools.cache
def _claim(dialect: str) -> Any:
    return insert_ignoring_conflicts(dialect, _KEYS, ["scope", "key"])


def fingerprint(operation: str, body: Mapping[str, Any]) -> str:
    """Return the digest that tells two bodies of one key apart."""
    canonical = orjson.dumps([operation, body], option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()


def check_key(key: str, field: str = "idempotency_key") -> str:
    """Return a client's key, refusing an empty or overlong one."""
    if not key or len(key) > MAX_KEY or not key.isprintable():
        raise invalid(f"an idempotency key is 1 to {MAX_KEY} printable characters", field)
    return key


async def once(
    tx: Transaction,
    *,
    scope: str,
    key: str,
    operation: str,
    body: Mapping[str, Any],
    run: Callable[[], Awaitable[int]],
    alone: bool = False,
    savepoint: bool = True,
) -> int:
    """Run ``run`` once for this key and return its result id, or replay the first outcome.

    ``body`` is what the caller asked for (JSON values); the same key with another body or
    operation is refused with ``CONFLICT``. ``alone`` says nothing else is written in this
    transaction, so a refusal may be committed for a retry to replay. ``savepoint=False`` is
    for a ``run`` that refuses before it writes anything that matters.
    """
    digest = fingerprint(operation, body)
    claimed = (
        await tx.session.execute(
            _claim(tx.dialect), {"scope": scope, "key": key, "fingerprint": digest}
        )
    ).rowcount  # type: ignore[attr-defined]
    if not claimed:
        return await replay(tx, scope=scope, key=key, digest=digest)
    try:
        if savepoint:
            async with tx.savepoint():
                result = await run()
        else:
            result = await run()
    except DomainError as error:
        await record_refusal(tx, scope=scope, key=key, error=error, alone=alone)
        raise
    await tx.session.execute(_RECORD, _this(scope, key) | {"result_id": result})
    return result


async def replay(tx: Transaction, *, scope: str, key: str, digest: str) -> int:
    """Return the first outcome of a key another attempt claimed (raise its refusal).

    Refused with ``CONFLICT`` when that attempt's fingerprint is not ``digest``.
    """
    first = (await tx.session.execute(_FIRST, _this(scope, key))).one()
    return replayed(first.fingerprint, first.result_id, first.refusal, digest=digest)


def replayed(
    fingerprint: str, result_id: int | None, refusal: list[dict[str, Any]] | None, *, digest: str
) -> int:
    """Return a key's first outcome (its result id), or raise its refusal or ``CONFLICT``."""
    if fingerprint != digest:
        raise DomainError(
            Code.CONFLICT,
            "this idempotency key was used for another request: use a new key",
            "idempotency_key",
        )
    if refusal:
        raise _refusal_of(refusal)
    assert result_id is not None, "a claimed key has an outcome once committed"
    return int(result_id)


async def record_refusal(
    tx: Transaction, *, scope: str, key: str, error: DomainError, alone: bool
) -> None:
    """Record a claimed key's refusal, for a retry to replay (committed when ``alone``)."""
    problems = [
        {"code": p.code.value, "message": p.message, "field": list(p.field or ())}
        for p in error.problems()
    ]
    await tx.session.execute(_RECORD, _this(scope, key) | {"refusal": problems})
    error.recorded = alone


def _this(scope: str, key: str) -> dict[str, str]:
    return {"this_scope": scope, "this_key": key}


def _refusal_of(problems: list[dict[str, Any]]) -> DomainError:
    errors = [DomainError(Code(p["code"]), p["message"], p["field"] or None) for p in problems]
    return errors[0] if len(errors) == 1 else Problems(errors)
