"""Running a domain command for a mutation: one transaction, refusals become userErrors."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

import strawberry

from api.context import Info
from api.errors import UserError, user_errors
from domain import idempotency
from domain.errors import DomainError
from domain.store import Transaction

T = TypeVar("T")

IDEMPOTENCY_KEY = (
    "Any string of yours (a UUID is best): a retry with the same key and input returns the "
    "first outcome, refusals included, without doing it twice; the same key with another "
    "input is refused (`CONFLICT`)."
)


class HasId(Protocol):
    @property
    def id(self) -> int: ...


async def mutate(info: Info, command: Callable[[Transaction], Awaitable[T]]) -> T | list[UserError]:
    """Run ``command`` in its own transaction and commit; a refusal rolls back and is returned."""
    try:
        async with info.context.store.transaction() as tx:
            result = await command(tx)
            await tx.commit()
    except DomainError as error:
        return user_errors(error)
    info.context.loaders.clear()
    return result


async def mutate_once(
    info: Info,
    *,
    actor_id: int,
    key: str | None,
    operation: str,
    input: object,
    command: Callable[[Transaction], Awaitable[HasId | int]],
) -> int | list[UserError]:
    """Run a command and return the id of what it made or changed; with an idempotency key, a retry
    with the same input returns the first outcome (refusals included) without running again,
    and the key reused with another input is refused (``CONFLICT``).

    Keys belong to the member: one member's key never meets another's.
    """

    async def first(tx: Transaction) -> int:
        made = await command(tx)
        return made if isinstance(made, int) else made.id

    async def run(tx: Transaction) -> int:
        if key is None:
            return await first(tx)

        return await idempotency.once(
            tx,
            scope=f"member:{actor_id}",
            key=idempotency.check_key(key),
            operation=operation,
            body=input_body(input),
            run=lambda: first(tx),
            alone=True,
        )

    return await mutate(info, run)


def input_body(input: object) -> dict[str, Any]:
    """Return a mutation's input as plain JSON values, without its idempotency key."""
    body = _plain(input)
    assert isinstance(body, dict)
    body.pop("idempotency_key", None)
    return body


def _plain(value: Any) -> Any:
    if value is strawberry.UNSET:
        return {"unset": True}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            field.name: _plain(getattr(value, field.name)) for field in dataclasses.fields(value)
        }
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


async def attempt(info: Info, command: Callable[[], Awaitable[T]]) -> T | list[UserError]:
    """Run a command that manages its own transactions; a refusal is returned."""
    try:
        result = await command()
    except DomainError as error:
        return user_errors(error)
    info.context.loaders.clear()
    return result
