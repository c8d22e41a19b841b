"""GraphQL documents as both transports receive them: parsed and validated once each, with
the limits, and executed with graphql-core directly on strawberry's schema."""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import strawberry
from graphql import (
    DocumentNode,
    ExecutionResult,
    GraphQLError,
    OperationDefinitionNode,
    execute,
    parse,
    specified_rules,
    validate,
)

from api.context import Context
from api.limits import alias_limit, depth_limit
from api.settings import Settings

CACHEABLE_DOCUMENT_CHARS = 20_000


@dataclasses.dataclass(frozen=True)
class Prepared:
    """A document parsed and validated once, or the errors that stop it."""

    document: DocumentNode | None
    errors: tuple[GraphQLError, ...]


class Documents:
    """Prepare and run documents against the schema, for HTTP and WebSocket alike."""

    def __init__(self, schema: strawberry.Schema, settings: Settings, cache_size: int = 512):
        self.schema = schema
        self.graphql_schema = schema._schema
        self.executor_class = schema.execution_context_class
        self.hide_suggestions = settings.production
        self._max_tokens = settings.max_tokens
        self._rules = (
            *specified_rules,
            depth_limit(settings.max_query_depth),
            alias_limit(settings.max_aliases),
        )
        self._prepare_cached = functools.lru_cache(maxsize=cache_size)(self._prepare)

    def prepare(self, query: str) -> Prepared:
        """Return the parsed and validated document, from the cache when it is small."""
        # Clients send the same few documents again and again; a huge one-off document is
        # parsed each time rather than pinning megabytes of syntax tree in the cache.
        if len(query) > CACHEABLE_DOCUMENT_CHARS:
            return self._prepare(query)
        return self._prepare_cached(query)

    async def execute(
        self,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        context: Context,
        variables: dict[str, Any] | None,
        operation_name: str | None,
    ) -> ExecutionResult:
        """Run a query or a mutation once."""
        result = execute(
            self.graphql_schema,
            document,
            context_value=context,
            variable_values=variables,
            operation_name=operation_name,
            executor_class=self.executor_class,
            hide_suggestions=self.hide_suggestions,
        )
        if isinstance(result, ExecutionResult):
            return result
        return await result

    def _prepare(self, query: str) -> Prepared:
        try:
            document = parse(query, max_tokens=self._max_tokens)
        except GraphQLError as error:
            return Prepared(None, (coded(error, "GRAPHQL_PARSE_FAILED"),))
        errors = validate(
            self.graphql_schema,
            document,
            self._rules,
            max_errors=20,
            hide_suggestions=self.hide_suggestions,
        )
        if errors:
            return Prepared(None, tuple(coded(e, "GRAPHQL_VALIDATION_FAILED") for e in errors))
        return Prepared(document, ())


def coded(error: GraphQLError, code: str) -> GraphQLError:
    """Give an error ``extensions.code`` unless it has one."""
    if not (error.extensions or {}).get("code"):
        error.extensions = {**(error.extensions or {}), "code": code}
    return error
