"""The GraphQL endpoint as a client sees it: status codes, content types and body shapes
for well-formed requests, malformed ones, oversized ones, and bugs behind them."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from graphql import get_introspection_query

from api.app import create_app
from api.context import Runtime
from domain.members import read

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
VIEWER = "{ viewer { id } }"
GENERATED_ID = re.compile(r"[0-9a-f]{16}")


async def post(
    client: httpx.AsyncClient,
    body: Any,
    *,
    accept: str | None = GRAPHQL_RESPONSE,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """POST a JSON body to /graphql; ``accept=None`` sends no Accept header at all."""
    request = client.build_request("POST", "/graphql", json=body, headers=headers)
    _set_accept(request, accept)
    return await client.send(request)


async def post_raw(
    client: httpx.AsyncClient, content: Any, *, content_type: str | None = JSON
) -> httpx.Response:
    """POST bytes (or a stream of them) as they are, with the Content-Type given."""
    headers = {"Accept": GRAPHQL_RESPONSE}
    if content_type is not None:
        headers["Content-Type"] = content_type
    return await client.post("/graphql", content=content, headers=headers)


async def get(
    client: httpx.AsyncClient, params: dict[str, str], *, accept: str | None = GRAPHQL_RESPONSE
) -> httpx.Response:
    request = client.build_request("GET", "/graphql", params=params)
    _set_accept(request, accept)
    return await client.send(request)


def _set_accept(request: httpx.Request, accept: str | None) -> None:
    # httpx sends `Accept: */*` unless told otherwise; a client may send none.
    if accept is None:
        del request.headers["Accept"]
    else:
        request.headers["Accept"] = accept


def media_type(response: httpx.Response) -> str:
    return response.headers["content-type"].partition(";")[0].strip()


def codes(response: httpx.Response) -> list[str]:
    return [error["extensions"]["code"] for error in response.json()["errors"]]


@contextlib.asynccontextmanager
async def client_with(runtime: Runtime, **changes: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A client of a fresh app whose settings differ from the fixture's by ``changes``."""
    settings = dataclasses.replace(runtime.settings, **changes)
    # The view reads its limits from the runtime's settings, so both must change.
    app = create_app(settings, dataclasses.replace(runtime, settings=settings))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://rapport.test") as client:
        yield client


# Content negotiation


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (GRAPHQL_RESPONSE, GRAPHQL_RESPONSE),
        (f"{GRAPHQL_RESPONSE}, {JSON}", GRAPHQL_RESPONSE),
        (JSON, JSON),
        (f"{GRAPHQL_RESPONSE};q=0.5, {JSON}", JSON),
        (None, JSON),
        ("*/*", JSON),
        ("application/*", JSON),
    ],
)
async def test_answers_in_the_type_the_client_accepts(
    client: httpx.AsyncClient, accept: str | None, expected: str
) -> None:
    response = await post(client, {"query": VIEWER}, accept=accept)

    assert response.status_code == 200, response.text
    assert media_type(response) == expected
    assert response.json() == {"data": {"viewer": None}}


@pytest.mark.parametrize("accept", ["text/plain", f"{GRAPHQL_RESPONSE};q=0, {JSON};q=0"])
async def test_refuses_an_accept_header_it_cannot_satisfy(
    client: httpx.AsyncClient, accept: str
) -> None:
    response = await post(client, {"query": VIEWER}, accept=accept)

    assert response.status_code == 406
    assert media_type(response) == JSON
    assert codes(response) == ["BAD_REQUEST"]


# Requests that cannot run


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("{ viewer {", "GRAPHQL_PARSE_FAILED"),
        ("{ viewer { id noSuchField } }", "GRAPHQL_VALIDATION_FAILED"),
    ],
)
async def test_a_document_that_cannot_run_is_a_request_error(
    client: httpx.AsyncClient, query: str, code: str
) -> None:
    # when the client speaks graphql-response+json
    response = await post(client, {"query": query})

    # then the status says the request never ran, and there is no `data` at all
    assert response.status_code == 400
    assert media_type(response) == GRAPHQL_RESPONSE
    body = response.json()
    assert "data" not in body
    assert body["errors"][0]["message"]
    assert body["errors"][0]["extensions"]["code"] == code

    # when it speaks plain JSON, the same errors come with 200
    response = await post(client, {"query": query}, accept=JSON)

    assert response.status_code == 200
    assert media_type(response) == JSON
    assert "data" not in response.json()
    assert codes(response)[0] == code


async def test_variables_of_the_wrong_type_are_a_request_error(client: httpx.AsyncClient) -> None:
    body = {"query": "query($h: String!) { member(handle: $h) { id } }", "variables": {"h": 5}}

    response = await post(client, body)

    assert response.status_code == 400
    assert "data" not in response.json()
    assert codes(response) == ["BAD_USER_INPUT"]

    response = await post(client, body, accept=JSON)

    assert response.status_code == 200
    assert "data" not in response.json()
    assert codes(response) == ["BAD_USER_INPUT"]


async def test_a_missing_required_variable_is_a_request_error(client: httpx.AsyncClient) -> None:
    response = await post(client, {"query": "query($h: String!) { member(handle: $h) { id } }"})

    assert response.status_code == 400
    assert codes(response) == ["BAD_USER_INPUT"]


TWO_OPERATIONS = 'query Mine { viewer { id } } query Theirs { member(handle: "ada") { id } }'


async def test_several_operations_need_an_operation_name(client: httpx.AsyncClient) -> None:
    response = await post(client, {"query": TWO_OPERATIONS})

    assert response.status_code == 400
    assert "data" not in response.json()
    assert codes(response) == ["BAD_REQUEST"]
    assert "operationName" in response.json()["errors"][0]["message"]

    response = await post(client, {"query": TWO_OPERATIONS}, accept=JSON)

    assert response.status_code == 200
    assert codes(response) == ["BAD_REQUEST"]


async def test_operation_name_picks_the_operation_to_run(client: httpx.AsyncClient) -> None:
    response = await post(client, {"query": TWO_OPERATIONS, "operationName": "Theirs"})

    assert response.status_code == 200, response.text
    assert response.json() == {"data": {"member": None}}


async def test_an_unknown_operation_name_is_a_request_error(client: httpx.AsyncClient) -> None:
    response = await post(client, {"query": TWO_OPERATIONS, "operationName": "Nobody"})

    assert response.status_code == 400
    assert codes(response) == ["BAD_REQUEST"]
    assert "Nobody" in response.json()["errors"][0]["message"]


async def test_a_subscription_over_http_is_a_request_error(client: httpx.AsyncClient) -> None:
    response = await post(client, {"query": "subscription { opportunityAdded { id } }"})

    assert response.status_code == 400
    assert "data" not in response.json()
    # Refused by validation while the schema has no Subscription type, by the view after.
    assert codes(response)[0] in ("GRAPHQL_VALIDATION_FAILED", "BAD_REQUEST")


# GET and other methods


async def test_a_query_can_be_sent_with_get(client: httpx.AsyncClient) -> None:
    response = await get(client, {"query": "{viewer{id}}"})

    assert response.status_code == 200, response.text
    assert media_type(response) == GRAPHQL_RESPONSE
    assert response.json() == {"data": {"viewer": None}}


async def test_get_takes_variables_as_json(client: httpx.AsyncClient) -> None:
    response = await get(
        client,
        {
            "query": "query($h: String!) { member(handle: $h) { id } }",
            "variables": '{"h": "ada"}',
        },
    )

    assert response.status_code == 200, response.text
    assert response.json() == {"data": {"member": None}}


async def test_a_mutation_cannot_be_sent_with_get(client: httpx.AsyncClient) -> None:
    mutation = 'mutation { logOut(input: {refreshToken: "x"}) { loggedOut } }'

    response = await get(client, {"query": mutation})

    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert codes(response) == ["BAD_REQUEST"]


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
async def test_other_methods_are_not_allowed(client: httpx.AsyncClient, method: str) -> None:
    response = await client.request(method, "/graphql", json={"query": VIEWER})

    assert response.status_code == 405
    assert "POST" in response.headers["allow"]


# Malformed POST requests


@pytest.mark.parametrize(
    ("content_type", "content", "status"),
    [
        ("text/plain", b'{"query": "{ viewer { id } }"}', 415),
        (None, b'{"query": "{ viewer { id } }"}', 415),
        ("application/graphql", b"{ viewer { id } }", 415),
        ("application/json; charset=latin-1", b'{"query": "{ viewer { id } }"}', 415),
        (JSON, b"{ viewer { id } }", 400),
        (JSON, b'{"query": "{ viewer { id } }"', 400),
        (JSON, b"\xff\xfe not utf-8", 400),
        (JSON, b'[{"query": "{ viewer { id } }"}]', 400),
        (JSON, b'"{ viewer { id } }"', 400),
        (JSON, b"", 400),
        (JSON, b"{}", 400),
        (JSON, b'{"query": ""}', 400),
        (JSON, b'{"query": 42}', 400),
        (JSON, b'{"query": {"viewer": "id"}}', 400),
        (JSON, b'{"query": "{ viewer { id } }", "variables": []}', 400),
        (JSON, b'{"query": "{ viewer { id } }", "variables": "{}"}', 400),
        (JSON, b'{"query": "{ viewer { id } }", "operationName": 7}', 400),
        (JSON, b'{"query": "{ viewer { id } }", "extensions": 7}', 400),
    ],
)
async def test_a_malformed_request_is_refused_with_a_reason(
    client: httpx.AsyncClient, content_type: str | None, content: bytes, status: int
) -> None:
    response = await post_raw(client, content, content_type=content_type)

    assert response.status_code == status, response.text
    assert media_type(response) == JSON
    body = response.json()
    assert "data" not in body
    assert body["errors"][0]["message"]
    assert codes(response) == ["BAD_REQUEST"]


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json; charset=utf-8",
        "application/json;charset=UTF-8",
        'application/json; charset="utf-8"',
        "Application/JSON",
        "application/json; charset=utf-8; profile=rapport",
    ],
)
async def test_json_content_types_in_utf_8_are_accepted(
    client: httpx.AsyncClient, content_type: str
) -> None:
    response = await post_raw(client, b'{"query": "{ viewer { id } }"}', content_type=content_type)

    assert response.status_code == 200, response.text


# Body size


def _body_of_size(size: int) -> bytes:
    """A valid request body of exactly ``size`` bytes."""
    head, tail = b'{"query": "{ viewer { id } }", "padding": "', b'"}'
    return head + b"x" * (size - len(head) - len(tail)) + tail


async def test_a_body_at_the_limit_is_read(client: httpx.AsyncClient, runtime: Runtime) -> None:
    body = _body_of_size(runtime.settings.max_body_bytes)

    response = await post_raw(client, body)

    assert response.status_code == 200, response.text[:200]


async def test_a_body_over_the_limit_is_refused(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    body = _body_of_size(runtime.settings.max_body_bytes + 1)

    response = await post_raw(client, body)

    assert response.request.headers["content-length"] == str(len(body))
    assert response.status_code == 413
    assert codes(response) == ["BAD_REQUEST"]


async def test_a_streamed_body_over_the_limit_is_refused(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    # given a body sent in chunks, with no Content-Length to refuse it up front
    body = _body_of_size(runtime.settings.max_body_bytes + 1)

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 64 * 1024):
            yield body[start : start + 64 * 1024]

    response = await post_raw(client, chunks())

    assert "content-length" not in response.request.headers
    assert response.status_code == 413
    assert codes(response) == ["BAD_REQUEST"]


# Limits on documents


async def test_the_deepest_query_the_schema_allows_is_within_the_depth_limit(
    client: httpx.AsyncClient,
) -> None:
    query = "{ searchMembers { edges { node { gives { tag { slug } } } } } }"

    response = await post(client, {"query": query})

    assert response.status_code == 200, response.text


async def test_graphiql_introspection_is_within_the_limits(client: httpx.AsyncClient) -> None:
    response = await post(client, {"query": get_introspection_query(descriptions=True)})

    assert response.status_code == 200, response.text
    assert response.json()["data"]["__schema"]["queryType"]["name"] == "Query"


DEPTH_4 = "{ searchMembers { edges { node { id } } } }"
# searchMembers > edges > node > gives > id, spread over fragments and an inline fragment.
DEPTH_5 = """
query Deep { ...Search }
fragment Search on Query { searchMembers { ...Edges } }
fragment Edges on MemberConnection { edges { node { ... on Member { gives { id } } } } }
"""


async def test_a_query_deeper_than_the_limit_is_refused(runtime: Runtime) -> None:
    async with client_with(runtime, max_query_depth=4) as client:
        within = await post(client, {"query": DEPTH_4})
        deeper = await post(client, {"query": DEPTH_5})

    assert within.status_code == 200, within.text
    assert deeper.status_code == 400
    assert "data" not in deeper.json()
    assert codes(deeper) == ["QUERY_TOO_DEEP"]
    assert "Deep" in deeper.json()["errors"][0]["message"]


async def test_fragments_spread_many_times_are_measured_quickly(
    client: httpx.AsyncClient,
) -> None:
    # given a chain of fragments each spreading the next twice: 2^24 paths through 25 of them
    chain = "\n".join(f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(24))
    query = "{ ...F0 }\n" + chain + "\nfragment F24 on Query { viewer { id } }"

    started = time.perf_counter()
    response = await post(client, {"query": query})
    elapsed = time.perf_counter() - started

    assert response.status_code == 200, response.text
    assert response.json() == {"data": {"viewer": None}}
    assert elapsed < 1, f"took {elapsed:.1f}s"


def _aliases(count: int) -> str:
    return "{ " + " ".join(f"a{i}: viewer {{ id }}" for i in range(count)) + " }"


async def test_too_many_aliases_are_refused(client: httpx.AsyncClient, runtime: Runtime) -> None:
    limit = runtime.settings.max_aliases

    within = await post(client, {"query": _aliases(limit)})
    over = await post(client, {"query": _aliases(limit + 1)})

    assert within.status_code == 200, within.text
    assert over.status_code == 400
    assert "data" not in over.json()
    assert codes(over) == ["TOO_MANY_ALIASES"]


async def test_too_many_tokens_are_a_parse_failure(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    query = "{ viewer { " + "id " * runtime.settings.max_tokens + "} }"

    response = await post(client, {"query": query})

    assert response.status_code == 400
    assert codes(response) == ["GRAPHQL_PARSE_FAILED"]
    message = response.json()["errors"][0]["message"]
    assert "tokens" in message
    assert len(message) < 200, "the error quotes the document back"


# Headers every response carries


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("POST", "/graphql", {"json": {"query": VIEWER}}),
        ("POST", "/graphql", {"json": {"query": "{ viewer {"}}),
        ("POST", "/graphql", {"content": b"{}", "headers": {"Content-Type": "text/plain"}}),
        ("PUT", "/graphql", {}),
        ("GET", "/graphql", {"headers": {"Accept": "text/html"}}),
        ("GET", "/healthz", {}),
        ("GET", "/no-such-page", {}),
    ],
)
async def test_every_response_has_a_request_id(
    client: httpx.AsyncClient, method: str, path: str, kwargs: dict[str, Any]
) -> None:
    response = await client.request(method, path, **kwargs)

    assert GENERATED_ID.fullmatch(response.headers["x-request-id"]), response.headers


async def test_a_sane_request_id_is_echoed(client: httpx.AsyncClient) -> None:
    response = await post(client, {"query": VIEWER}, headers={"X-Request-ID": "mobile-1.2_abcd"})

    assert response.headers["x-request-id"] == "mobile-1.2_abcd"


@pytest.mark.parametrize(
    "incoming", ["short", "has spaces in it", "x" * 65, "abcdefgh\n", "abcdefgh\r\nx-evil: 1"]
)
async def test_an_odd_request_id_is_replaced(client: httpx.AsyncClient, incoming: str) -> None:
    response = await post(client, {"query": VIEWER}, headers={"X-Request-ID": incoming})

    assert GENERATED_ID.fullmatch(response.headers["x-request-id"]), response.headers
    assert "x-evil" not in response.headers


@pytest.mark.parametrize(
    "body",
    [{"query": VIEWER}, {"query": "{ viewer {"}, {"query": 42}],
)
async def test_graphql_responses_are_not_cached(
    client: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    response = await post(client, body)

    assert response.headers["cache-control"] == "no-store"


# The playground and health checks


async def test_a_browser_gets_the_playground(client: httpx.AsyncClient) -> None:
    browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"

    response = await client.get("/graphql", headers={"Accept": browser})

    assert response.status_code == 200
    assert media_type(response) == "text/html"
    assert "graphiql" in response.text.lower()


async def test_without_graphiql_a_browser_gets_no_playground(runtime: Runtime) -> None:
    async with client_with(runtime, graphiql=False) as client:
        response = await client.get("/graphql", headers={"Accept": "text/html"})

    assert response.status_code == 406
    assert "graphiql" not in response.text.lower()


async def test_healthz_says_alive(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "alive"}


async def test_readyz_checks_the_database(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {"status": "ready", "database": "ok"}


# Unexpected errors


async def test_an_unexpected_error_is_masked_and_logged(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # given a bug behind `member`
    async def broken(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("secret detail")

    monkeypatch.setattr(read, "profile_by_handle", broken)

    # when a client asks for a member
    with caplog.at_level(logging.ERROR, logger="rapport.errors"):
        response = await post(client, {"query": '{ member(handle: "ada") { id } }'})

    # then it sees a coded error quoting the request id, and nothing of the bug
    request_id = response.headers["x-request-id"]
    assert response.status_code == 200
    body = response.json()
    assert body["data"] == {"member": None}
    [error] = body["errors"]
    assert error["path"] == ["member"]
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert request_id in error["message"]
    assert "secret detail" not in response.text
    assert "RuntimeError" not in response.text

    # and the log has the bug, tagged with the same request id
    [record] = [r for r in caplog.records if r.name == "rapport.errors"]
    assert record.levelno == logging.ERROR
    assert getattr(record, "request_id", None) == request_id
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], RuntimeError)
    assert str(record.exc_info[1]) == "secret detail"


# Field suggestions


MISSPELLED_FIELD = {"query": "{ viewr { id } }"}
MISSPELLED_ENUM = {
    "query": "mutation($input: AddGoalInput!) { addGoal(input: $input) { goal { id } } }",
    "variables": {"input": {"title": "Ship it", "kind": "HIRNG"}},
}


@pytest.mark.parametrize("body", [MISSPELLED_FIELD, MISSPELLED_ENUM])
async def test_production_does_not_suggest_names(runtime: Runtime, body: dict[str, Any]) -> None:
    async with client_with(runtime, environment="production") as client:
        response = await post(client, body)

    assert response.status_code == 400
    assert "Did you mean" not in response.text


@pytest.mark.parametrize("body", [MISSPELLED_FIELD, MISSPELLED_ENUM])
async def test_development_suggests_names(client: httpx.AsyncClient, body: dict[str, Any]) -> None:
    response = await post(client, body)

    assert response.status_code == 400
    assert "Did you mean" in response.text
