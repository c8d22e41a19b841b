"""Pages of lists keyed by id: ids only grow, so a page never shifts when rows are added."""

from __future__ import annotations

import dataclasses
from typing import Any, Generic, TypeVar

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    has_next: bool
    has_previous: bool


async def id_page(
    session: AsyncSession,
    statement: Select[T],
    column: Any,
    *,
    newest_first: bool,
    limit: int,
    after: int | None = None,
    before: int | None = None,
    backward: bool = False,
) -> Page[T]:
    """Return a page of ``statement``'s rows ordered by the id ``column``: ``after`` and
    ``before`` are ids in the list's own order (newest or oldest first); ``backward`` reads
    the page that ends at ``before``, or the list's last page (Relay's ``last``)."""
    ahead, behind = (
        (column.__lt__, column.__gt__) if newest_first else (column.__gt__, column.__lt__)
    )
    if after is not None:
        statement = statement.where(ahead(after))
    if before is not None:
        statement = statement.where(behind(before))
    forward, reverse = (
        (column.desc(), column.asc()) if newest_first else (column.asc(), column.desc())
    )
    rows = list(
        (
            await session.scalars(
                statement.order_by(reverse if backward else forward).limit(limit + 1)
            )
        ).all()
    )
    more = len(rows) > limit
    rows = rows[:limit]
    if backward:
        rows.reverse()
        return Page(rows, has_next=before is not None, has_previous=more)
    return Page(rows, has_next=more, has_previous=after is not None)
