"""Running a domain command for a mutation: one transaction, refusals become userErrors."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from api.context import Info
from api.errors import UserError, user_errors
from domain.errors import DomainError
from domain.store import Transaction

T = TypeVar("T")


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


async def attempt(info: Info, command: Callable[[], Awaitable[T]]) -> T | list[UserError]:
    """Run a command that manages its own transactions; a refusal is returned."""
    try:
        result = await command()
    except DomainError as error:
        return user_errors(error)
    info.context.loaders.clear()
    return result
