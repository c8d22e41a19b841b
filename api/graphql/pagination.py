"""Relay connections: ``edges { cursor node }``, ``pageInfo`` and ``totalCount``."""

from __future__ import annotations

import base64
import binascii
import dataclasses
from collections.abc import Sequence
from typing import Generic, TypeVar

import strawberry

from api.errors import BadArgument

T = TypeVar("T")

DEFAULT_PAGE = 20
MAX_PAGE = 100
# Ranked lists are read by offset; nobody pages a million results deep, and a forged
# cursor must not overflow the database's integers.
MAX_OFFSET = 1_000_000


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo
    total_count: int | None = strawberry.field(
        description="How many items match in all, where that is cheap to know."
    )

    @strawberry.field(description="The nodes of the edges, for clients that need no cursors.")
    def nodes(self) -> list[T]:
        return [edge.node for edge in self.edges]


def page_size(first: int | None) -> int:
    """Return how many items to fetch, refusing sizes outside 0–100."""
    if first is None:
        return DEFAULT_PAGE
    if not 0 <= first <= MAX_PAGE:
        raise BadArgument(f"`first` must be between 0 and {MAX_PAGE}", argument="first")
    return first


@dataclasses.dataclass(frozen=True)
class Window:
    """Which slice of a ranked list a page asks for."""

    offset: int
    limit: int
    backward: bool


def window(
    first: int | None, after: str | None, last: int | None = None, before: str | None = None
) -> Window:
    """Return the slice for Relay arguments: `first`/`after` forward, `last`/`before` back."""
    if last is None and before is None:
        return Window(offset_after(after), page_size(first), backward=False)
    if first is not None or after is not None:
        raise BadArgument("page forward (`first`/`after`) or back (`last`/`before`), not both")
    if before is None:
        raise BadArgument(
            "`last` needs `before`: page back from a cursor this list gave out",
            argument="before",
        )
    size = DEFAULT_PAGE if last is None else last
    if not 0 <= size <= MAX_PAGE:
        raise BadArgument(f"`last` must be between 0 and {MAX_PAGE}", argument="last")
    end = offset_after(before) - 1
    start = max(end - size, 0)
    return Window(start, end - start, backward=True)


def _encode(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def offset_after(after: str | None) -> int:
    """Return the offset just past a cursor made by ``offset_connection``."""
    if after is None:
        return 0
    try:
        kind, _, value = base64.urlsafe_b64decode(after.encode()).decode().partition(":")
        if kind == "offset" and value.isdigit() and int(value) < MAX_OFFSET:
            return int(value) + 1
    except (binascii.Error, UnicodeError, ValueError):
        pass
    raise BadArgument("`after` is not a cursor this list gave out", argument="after")


def offset_connection(
    nodes: Sequence[T],
    *,
    offset: int,
    has_next: bool,
    total: int | None,
    backward: bool = False,
) -> Connection[T]:
    """Return one page of a list ranked by the database, with cursors by position.

    A page read backward ends just before its `before` cursor, so more follows it.
    """
    has_next = has_next or backward
    edges = [Edge(cursor=_encode(offset + index), node=node) for index, node in enumerate(nodes)]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=has_next,
            has_previous_page=offset > 0,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
        total_count=total,
    )
