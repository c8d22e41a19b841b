"""The GraphQL schema: every context's Query and Mutation fields, assembled."""

from __future__ import annotations

import functools
from collections import defaultdict

import strawberry
from graphql import build_schema as build_schema_from_sdl
from graphql import lexicographic_sort_schema, print_schema
from strawberry import relay
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types

from api.context import Info
from api.errors import BadArgument
from api.graphql import (
    audience,
    auth,
    circles,
    intros,
    ledger,
    live,
    marketplace,
    members,
    network,
    offers,
    opportunities,
    partners,
    paths,
)
from api.graphql.pagination import MAX_PAGE

# Each context's module may define ``Query``, ``Mutation``, ``Subscription`` and ``NODES``
# (its Node types).
CONTEXTS = (
    auth,
    members,
    network,
    intros,
    paths,
    circles,
    marketplace,
    offers,
    audience,
    ledger,
    opportunities,
    live,
    partners,
)

NODE_TYPES: dict[str, type[relay.Node]] = {
    node_type.__name__: node_type
    for context in CONTEXTS
    for node_type in getattr(context, "NODES", ())
}


async def _resolve(info: Info, ids: list[str]) -> list[relay.Node | BadArgument | None]:
    """Resolve global ids in order: one batch per type, null for what the viewer may not see."""
    wanted: dict[type[relay.Node], list[str]] = defaultdict(list)
    parsed: list[tuple[type[relay.Node], str] | BadArgument] = []
    for raw in ids:
        try:
            global_id = relay.GlobalID.from_id(raw)
            node_type = NODE_TYPES[global_id.type_name]
        except (ValueError, KeyError):
            parsed.append(BadArgument(f"{raw!r} is not an id this API gave out", argument="id"))
            continue
        wanted[node_type].append(global_id.node_id)
        parsed.append((node_type, global_id.node_id))
    found: dict[tuple[type[relay.Node], str], relay.Node | None] = {}
    for node_type, node_ids in wanted.items():
        resolved = await node_type.resolve_nodes(info=info, node_ids=node_ids)  # type: ignore[misc]
        found.update(zip(((node_type, node_id) for node_id in node_ids), resolved, strict=True))
    return [item if isinstance(item, BadArgument) else found[item] for item in parsed]


@strawberry.type
class NodeQuery:
    @strawberry.field(description="Any object by its global id, if the viewer may see it.")
    async def node(self, info: Info, id: strawberry.ID) -> relay.Node | None:
        (item,) = await _resolve(info, [id])
        if isinstance(item, BadArgument):
            raise item
        return item

    @strawberry.field(
        description="Objects by global id, in order; null for those the viewer may not see."
    )
    async def nodes(self, info: Info, ids: list[strawberry.ID]) -> list[relay.Node | None]:
        if len(ids) > MAX_PAGE:
            raise BadArgument(f"at most {MAX_PAGE} ids at once", argument="ids")
        # A malformed id fails its own entry (null and an error), not the whole list.
        return await _resolve(info, list(ids))  # type: ignore[return-value]


Query = merge_types("Query", (NodeQuery, *(c.Query for c in CONTEXTS if hasattr(c, "Query"))))
Mutation = merge_types("Mutation", tuple(c.Mutation for c in CONTEXTS if hasattr(c, "Mutation")))
Subscription = merge_types(
    "Subscription", tuple(c.Subscription for c in CONTEXTS if hasattr(c, "Subscription"))
)


@functools.cache
def build_schema() -> strawberry.Schema:
    """Return the schema the server executes and ``schema.graphql`` records.

    Built once per process: strawberry's relay fields cannot be converted twice.
    """
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=list(NODE_TYPES.values()),
        config=StrawberryConfig(relay_max_results=100),
    )


def schema_sdl() -> str:
    """Return the schema in SDL, sorted, as committed in ``schema.graphql``."""
    # Strawberry's own sort_schema rebuilds enums without their Python mapping, so sort the
    # printed SDL instead.
    sdl = build_schema().as_str()
    return print_schema(lexicographic_sort_schema(build_schema_from_sdl(sdl))) + "\n"
