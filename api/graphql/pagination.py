"""Relay connections: ``edges { cursor node }``, ``pageInfo`` and ``totalCount``."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import Generic, TypeVar

import strawberry

from api.errors import BadArgument
from api.graphql.ids import database_id

T = TypeVar("T")

DEFAULT_PAGE = 20
MAX_PAGE = 100
# Ranked lists are read by offset; nobody pages a million results deep, and a forged
# cursor must not overflow the database's integers.
MAX_OFFSET = 1_000_000
# A cursor says how its list is ordered: by position in a ranking, or by a (time, id) key.
_OFFSET = "offset"
_KEY = "k"

Key = tuple[dt.datetime, int]


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
    size = _backward_size(first, after, last, before)
    end = offset_after(before, "before") - 1
    start = max(end - size, 0)
    return Window(start, end - start, backward=True)


@dataclasses.dataclass(frozen=True)
class KeyWindow:
    """Which page of a list ordered by a (time, id) key a page asks for: up to ``limit``
    items after ``after``, or, backward, the last ``limit`` before ``before``."""

    limit: int
    after: Key | None
    before: Key | None

    @property
    def backward(self) -> bool:
        return self.before is not None


def key_window(
    first: int | None, after: str | None, last: int | None = None, before: str | None = None
) -> KeyWindow:
    """Return the page for Relay arguments over a list ordered by a (time, id) key."""
    if last is None and before is None:
        return KeyWindow(page_size(first), after=keyset(after, "after"), before=None)
    size = _backward_size(first, after, last, before)
    return KeyWindow(size, after=None, before=keyset(before, "before"))


def _backward_size(
    first: int | None, after: str | None, last: int | None, before: str | None
) -> int:
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
    return size


def _encode(kind: str, value: str) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{value}".encode()).decode()


def _decode(cursor: str) -> tuple[str, str]:
    try:
        kind, _, value = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
    except (binascii.Error, UnicodeError, ValueError):
        return "", ""
    return kind, value


def _refused(argument: str, kind: str, *, expected: str) -> BadArgument:
    """Refuse a cursor: one of another order (by rank or by date) is named as such."""
    orders = {_OFFSET: "rank", _KEY: "date"}
    if kind in orders and kind != expected:
        return BadArgument(
            f"`{argument}` is a cursor of a list paged by {orders[kind]}, and this one pages "
            f"by {orders[expected]}: cursors do not carry over from one order to another; "
            "ask for the first page again",
            argument=argument,
        )
    return BadArgument(f"`{argument}` is not a cursor this list gave out", argument=argument)


def offset_after(after: str | None, argument: str = "after") -> int:
    """Return the offset just past a cursor made by ``offset_connection``."""
    if after is None:
        return 0
    kind, value = _decode(after)
    if kind == _OFFSET and value.isdigit() and int(value) < MAX_OFFSET:
        return int(value) + 1
    raise _refused(argument, kind, expected=_OFFSET)


def keyset_cursor(at: dt.datetime, item_id: int) -> str:
    """Return the cursor of an item in a list ordered by (time, id)."""
    return _encode(_KEY, f"{at.isoformat()}|{item_id}")


def keyset(cursor: str | None, argument: str) -> Key | None:
    """Return the (time, id) key of a cursor made by ``keyset_cursor``; None for no cursor."""
    if cursor is None:
        return None
    kind, value = _decode(cursor)
    if kind == _KEY:
        at_text, _, id_text = value.rpartition("|")
        try:
            at = dt.datetime.fromisoformat(at_text)
        except ValueError:
            at = None
        item_id = database_id(id_text)
        if at is not None and at.tzinfo is not None and item_id is not None:
            return at, item_id
    raise _refused(argument, kind, expected=_KEY)


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
    edges = [
        Edge(cursor=_encode(_OFFSET, str(offset + index)), node=node)
        for index, node in enumerate(nodes)
    ]
    return _connection(edges, has_next=has_next, has_previous=offset > 0, total=total)


def keyset_connection(
    items: Sequence[tuple[Key, T]], *, has_next: bool, has_previous: bool, total: int | None
) -> Connection[T]:
    """Return one page of a list ordered by a (time, id) key, each node with its key."""
    edges = [Edge(cursor=keyset_cursor(*key), node=node) for key, node in items]
    return _connection(edges, has_next=has_next, has_previous=has_previous, total=total)


def _connection(
    edges: list[Edge[T]], *, has_next: bool, has_previous: bool, total: int | None
) -> Connection[T]:
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=has_next,
            has_previous_page=has_previous,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
        total_count=total,
    )


# Lists keyed by id alone (statements, IOUs, opportunities): ids only grow, so a page never
# shifts when something is written, and the cursor needs no time.


def id_cursor(kind: str, item_id: int) -> str:
    """Return the cursor of an item in a list of ``kind`` keyed by id."""
    return _encode(kind, str(item_id))


def id_key(kind: str, cursor: str | None, argument: str) -> int | None:
    """Return the id of a cursor made by ``id_cursor`` for this kind; None for no cursor."""
    if cursor is None:
        return None
    found, value = _decode(cursor)
    if found == kind and value.isdigit() and len(value) < 19:
        return int(value)
    raise _refused(argument, found, expected=kind)


@dataclasses.dataclass(frozen=True)
class IdWindow:
    """Which page of a list keyed by id the Relay arguments ask for."""

    limit: int
    after: int | None
    before: int | None
    backward: bool  # `last`: before a cursor, or the end of the list


def id_window(
    kind: str, first: int | None, after: str | None, last: int | None, before: str | None
) -> IdWindow:
    """Return the page for Relay arguments over a list keyed by id; unlike a ranked list,
    `last` alone is the end of the list."""
    if (last is not None or before is not None) and (first is not None or after is not None):
        raise BadArgument("page forward (`first`/`after`) or back (`last`/`before`), not both")
    backward = last is not None or before is not None
    size = last if backward else first
    if backward and size is not None and not 0 <= size <= MAX_PAGE:
        raise BadArgument(f"`last` must be between 0 and {MAX_PAGE}", argument="last")
    return IdWindow(
        page_size(size),
        id_key(kind, after, "after"),
        id_key(kind, before, "before"),
        backward,
    )


def id_connection(
    kind: str, items: Sequence[tuple[int, T]], *, has_next: bool, has_previous: bool
) -> Connection[T]:
    """Return one page of a list keyed by id, each node with its id."""
    edges = [Edge(cursor=id_cursor(kind, item_id), node=node) for item_id, node in items]
    return _connection(edges, has_next=has_next, has_previous=has_previous, total=None)
