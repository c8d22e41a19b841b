"""The GraphQL schema: every context's Query and Mutation fields, assembled."""

from __future__ import annotations

import functools

import strawberry
from graphql import build_schema as build_schema_from_sdl
from graphql import lexicographic_sort_schema, print_schema
from strawberry import relay
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types

from api.graphql import auth, members


@strawberry.type
class NodeQuery:
    node: relay.Node | None = relay.node(
        description="Any object by its global id, if the viewer may see it."
    )
    nodes: list[relay.Node | None] = relay.node(
        description="Objects by global id, in order; null for those the viewer may not see."
    )


Query = merge_types("Query", (NodeQuery, members.Query))
Mutation = merge_types("Mutation", (auth.Mutation, members.Mutation))


@functools.cache
def build_schema() -> strawberry.Schema:
    """Return the schema the server executes and ``schema.graphql`` records.

    Built once per process: strawberry's relay fields cannot be converted twice.
    """
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        types=[members.Give, members.Goal],
        config=StrawberryConfig(relay_max_results=100),
    )


def schema_sdl() -> str:
    """Return the schema in SDL, sorted, as committed in ``schema.graphql``."""
    # Strawberry's own sort_schema rebuilds enums without their Python mapping, so sort the
    # printed SDL instead.
    sdl = build_schema().as_str()
    return print_schema(lexicographic_sort_schema(build_schema_from_sdl(sdl))) + "\n"
