"""Global ids in arguments and inputs: decoded once, with a coded error when malformed."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession
from strawberry import relay

from api.errors import BadArgument, UserError
from domain.errors import Code

if TYPE_CHECKING:
    from api.context import Info

R = TypeVar("R")
N = TypeVar("N")

_DATABASE_ID = re.compile(r"[0-9]{1,18}")


def database_id(text: str) -> int | None:
    """Return the integer a node id's text stands for, or None (ASCII digits, fits bigint)."""
    return int(text) if _DATABASE_ID.fullmatch(text) else None


def database_ids(texts: Iterable[str]) -> list[int]:
    """Return the integers for node ids in order, 0 (never an id) for malformed ones."""
    return [database_id(text) or 0 for text in texts]


def node_id(raw: str, type_name: str) -> int | None:
    """Return the database id inside a global id of this type, or None if it is not one."""
    try:
        global_id = relay.GlobalID.from_id(raw)
    except ValueError:
        return None
    if global_id.type_name != type_name:
        return None
    return database_id(global_id.node_id)


def argument_id(raw: str, type_name: str, *, argument: str) -> int:
    """Return the id of an argument, or refuse the field with INVALID_INPUT."""
    found = node_id(raw, type_name)
    if found is None:
        raise BadArgument(f"`{argument}` is not a {type_name} id", argument=argument)
    return found


def input_id(raw: str, type_name: str, *, field: str) -> int | list[UserError]:
    """Return the id of an input field, or the userErrors a mutation answers with."""
    found = node_id(raw, type_name)
    if found is None:
        return [
            UserError(
                field=["input", field], code=Code.INVALID_INPUT, message=f"not a {type_name} id"
            )
        ]
    return found


async def party_nodes(
    info: Info,
    node_ids: Iterable[str],
    load: Callable[[AsyncSession, int, list[int]], Awaitable[dict[int, R]]],
    build: Callable[[R], N],
    party: Callable[[], Awaitable[int | None]] | None = None,
) -> list[N | None]:
    """Resolve nodes only a party to them may see (a member's offer, transfer, IOU or
    opportunity; a partner app's endpoints): ``load`` returns the party's own among the ids;
    null for others. The party is the signed-in member unless ``party`` says who."""
    ids = database_ids(node_ids)
    viewer_id = await (party or info.context.viewer_id)()
    if viewer_id is None:
        return [None for _ in ids]
    async with info.context.store.reader() as session:
        found = await load(session, viewer_id, ids)
    return [build(found[i]) if i in found else None for i in ids]
