"""Errors as clients see them: ``userErrors`` for refused commands, coded GraphQL errors
for requests that cannot run, and a masked message (with the request id) for bugs."""

from __future__ import annotations

import logging
from typing import Any

import strawberry
from graphql import GraphQLError

from domain.errors import DESCRIPTIONS, Code, DomainError

log = logging.getLogger("rapport.errors")

strawberry.enum(
    Code,
    name="ErrorCode",
    description="Why a mutation was refused; stable, so clients may branch on it.\n\n"
    + "\n".join(f"- `{code.name}`: {DESCRIPTIONS[code]}" for code in Code),
)


@strawberry.type(description="A refused input: which field, a stable code, and a readable message.")
class UserError:
    field: list[str] | None = strawberry.field(
        description='Path to the input field concerned, as sent (e.g. ["input", "email"]).'
    )
    code: Code
    message: str


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def user_errors(error: DomainError) -> list[UserError]:
    """Return the ``userErrors`` a refused command shows."""
    return [
        UserError(
            field=["input", *(_camel(part) for part in problem.field)] if problem.field else None,
            code=problem.code,
            message=problem.message,
        )
        for problem in error.problems()
    ]


class CodedError(GraphQLError):
    """A GraphQL error a client can branch on, by ``extensions.code``."""

    code = "BAD_REQUEST"

    def __init__(self, message: str, **extensions: Any) -> None:
        super().__init__(message, extensions={"code": self.code, **extensions})


class Unauthenticated(CodedError):
    code = "UNAUTHENTICATED"


class Forbidden(CodedError):
    code = "FORBIDDEN"


class NotFound(CodedError):
    code = "NOT_FOUND"


class BadArgument(CodedError):
    code = "INVALID_INPUT"


def mask(error: GraphQLError, request_id: str) -> GraphQLError:
    """Return what the client sees of an error: itself if expected, a masked copy if a bug."""
    original = error.original_error
    if original is None or isinstance(original, GraphQLError):
        return error
    log.error(
        "unexpected error in %s",
        ".".join(str(part) for part in error.path or ()) or "operation",
        exc_info=original,
        extra={"request_id": request_id},
    )
    return GraphQLError(
        "Unexpected error. Quote this request id to support: " + request_id,
        nodes=error.nodes,
        path=error.path,
        extensions={"code": "INTERNAL_SERVER_ERROR", "requestId": request_id},
    )
