"""The GraphQL endpoint, speaking GraphQL over HTTP.

It answers ``application/graphql-response+json`` when the client accepts it (status codes
tell a request that could not run, 4xx, from one that ran, 200) and ``application/json``
otherwise (200 for every well-formed request). It parses and validates each distinct
document once (bounded caches), refuses a mutation over GET with 405, other content types
with 415, oversized bodies with 413, and masks unexpected errors behind the request id.

Execution calls graphql-core directly on strawberry's schema: strawberry's own view answers
only ``application/json``, and its per-request extension machinery costs more than the
operation itself on small queries.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import orjson
import strawberry
from graphql import GraphQLError, OperationType, get_operation_ast
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from api.context import Context, Runtime
from api.documents import Documents, Prepared, coded
from api.errors import mask

log = logging.getLogger("rapport.http")

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"


class HTTPProblem(Exception):
    """A request that is not a well-formed GraphQL-over-HTTP request."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


class GraphQLView:
    """The Starlette endpoint for ``GET`` and ``POST /graphql``."""

    def __init__(
        self,
        runtime: Runtime,
        schema: strawberry.Schema,
        *,
        documents: Documents | None = None,
        playground: Callable[[Request], Response] | None = None,
    ) -> None:
        self.runtime = runtime
        self.schema = schema
        self.documents = documents or Documents(schema, runtime.settings)
        self._playground = playground
        self._max_body = runtime.settings.max_body_bytes

    def prepare(self, query: str) -> Prepared:
        """Return the parsed and validated document (see ``Documents.prepare``)."""
        return self.documents.prepare(query)

    async def handle(self, request: Request) -> Response:
        if (
            request.method == "GET"
            and self._playground is not None
            and "query" not in request.query_params
            and _prefers_html(request.headers.get("accept", ""))
        ):
            return self._playground(request)
        try:
            media_type = _negotiate(request.headers.get("accept"))
            params = await self._params(request)
            return await self._run(request, media_type, params)
        except HTTPProblem as problem:
            return _problem(problem)

    async def _run(self, request: Request, media_type: str, params: dict[str, Any]) -> Response:
        query, variables, operation_name = _unpack(params)
        prepared = self.prepare(query)
        if prepared.errors:
            return self._request_error(media_type, list(prepared.errors))
        assert prepared.document is not None
        operation = get_operation_ast(prepared.document, operation_name)
        if operation is None:
            message = (
                f"no operation named {operation_name!r} in the document"
                if operation_name
                else "the document has several operations: say which in `operationName`"
            )
            return self._request_error(media_type, [coded(GraphQLError(message), "BAD_REQUEST")])
        if request.method == "GET" and operation.operation is not OperationType.QUERY:
            raise HTTPProblem(
                405,
                f"a {operation.operation.value} cannot be sent with GET: use POST",
                {"Allow": "POST"},
            )
        if operation.operation is OperationType.SUBSCRIPTION:
            return self._request_error(
                media_type,
                [
                    coded(
                        GraphQLError("subscriptions run over WebSocket (graphql-transport-ws)"),
                        "BAD_REQUEST",
                    )
                ],
            )
        context = Context(
            self.runtime,
            request_id=request.state.request_id,
            authorization=request.headers.get("authorization"),
            connection=request,
        )
        result = await self.documents.execute(
            prepared.document, operation, context, variables, operation_name
        )
        errors = [mask(error, context.request_id) for error in result.errors or ()]
        if result.data is None and errors and all(error.path is None for error in errors):
            # Variables that do not fit the operation: it never ran.
            return self._request_error(
                media_type, [coded(error, "BAD_USER_INPUT") for error in errors]
            )
        body: dict[str, Any] = {"data": result.data}
        if errors:
            body["errors"] = [error.formatted for error in errors]
        return _json(body, 200, media_type)

    def _request_error(self, media_type: str, errors: list[GraphQLError]) -> Response:
        body = {"errors": [error.formatted for error in errors]}
        return _json(body, 400 if media_type == GRAPHQL_RESPONSE else 200, media_type)

    async def _params(self, request: Request) -> dict[str, Any]:
        if request.method == "GET":
            params: dict[str, Any] = dict(request.query_params)
            for name in ("variables", "extensions"):
                if params.get(name):
                    params[name] = _loads(params[name], name)
            return params
        if request.method != "POST":
            raise HTTPProblem(405, "use GET or POST", {"Allow": "GET, POST"})
        content_type, *parameters = request.headers.get("content-type", "").split(";")
        if content_type.strip().lower() != JSON:
            raise HTTPProblem(415, "send the request as Content-Type: application/json")
        if _charset(parameters) not in ("utf-8", None):
            raise HTTPProblem(415, "the request body must be UTF-8")
        body = await _read_body(request, self._max_body)
        payload = _loads(body, "body")
        if not isinstance(payload, dict):
            raise HTTPProblem(400, "the body must be a JSON object with a `query`")
        return payload


def _charset(parameters: list[str]) -> str | None:
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip('"').lower()
    return None


def _unpack(params: dict[str, Any]) -> tuple[str, dict[str, Any] | None, str | None]:
    query = params.get("query")
    if not isinstance(query, str) or not query.strip():
        raise HTTPProblem(400, "`query` must be a non-empty string")
    variables = params.get("variables")
    if variables is not None and not isinstance(variables, dict):
        raise HTTPProblem(400, "`variables` must be an object")
    operation_name = params.get("operationName")
    if operation_name == "":
        operation_name = None
    if operation_name is not None and not isinstance(operation_name, str):
        raise HTTPProblem(400, "`operationName` must be a string")
    extensions = params.get("extensions")
    if extensions is not None and not isinstance(extensions, dict):
        raise HTTPProblem(400, "`extensions` must be an object")
    return query, variables, operation_name


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise HTTPProblem(400, "Content-Length is not a number")
        if int(declared) > limit:
            raise HTTPProblem(413, f"the body is larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPProblem(413, f"the body is larger than {limit} bytes")
        chunks.append(chunk)
    if not size:
        raise HTTPProblem(400, "the body is empty: send a JSON object with a `query`")
    return b"".join(chunks)


def _loads(raw: str | bytes, what: str) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise HTTPProblem(400, f"the {what} is not valid JSON") from None


def _accepted(accept: str) -> list[tuple[str, float]]:
    ranges = []
    for part in accept.split(","):
        media_range, *options = (piece.strip() for piece in part.split(";"))
        quality = 1.0
        for option in options:
            name, _, value = option.partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if media_range:
            ranges.append((media_range.lower(), quality))
    return ranges


def _negotiate(accept: str | None) -> str:
    if not accept or not accept.strip():
        return JSON
    best: tuple[float, int, str] | None = None
    for media_range, quality in _accepted(accept):
        if quality <= 0:
            continue
        # On a tie the exact type beats a wildcard, and graphql-response+json beats json.
        for rank, (candidate, matches) in enumerate(
            (
                (GRAPHQL_RESPONSE, media_range == GRAPHQL_RESPONSE),
                (JSON, media_range == JSON),
                (JSON, media_range in ("*/*", "application/*")),
            )
        ):
            if matches and (best is None or (quality, -rank) > (best[0], -best[1])):
                best = (quality, rank, candidate)
    if best is None:
        raise HTTPProblem(
            406,
            f"this endpoint answers {GRAPHQL_RESPONSE} or {JSON}; the Accept header allows neither",
        )
    return best[2]


def _prefers_html(accept: str) -> bool:
    ranges = dict(_accepted(accept))
    return ranges.get("text/html", 0) > max(ranges.get(GRAPHQL_RESPONSE, 0), ranges.get(JSON, 0))


def _json(body: dict[str, Any], status: int, media_type: str) -> Response:
    return Response(
        orjson.dumps(body),
        status_code=status,
        media_type=f"{media_type}; charset=utf-8",
        headers={"Cache-Control": "no-store"},
    )


def _problem(problem: HTTPProblem) -> Response:
    body = {"errors": [{"message": problem.message, "extensions": {"code": "BAD_REQUEST"}}]}
    return Response(
        orjson.dumps(body),
        status_code=problem.status,
        media_type=f"{JSON}; charset=utf-8",
        headers={"Cache-Control": "no-store", **problem.headers},
    )


def html(page: str) -> HTMLResponse:
    """Return an HTML page that is never cached (the playground's)."""
    return HTMLResponse(page, headers={"Cache-Control": "no-store"})
