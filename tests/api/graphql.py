"""Talking to the API the way a client does: GraphQL documents over HTTP."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import PASSWORD

ACCEPT = "application/graphql-response+json, application/json"

SIGN_UP = """
mutation SignUp($input: SignUpInput!) {
  signUp(input: $input) {
    accessToken refreshToken accessTokenExpiresAt refreshTokenExpiresAt
    viewer { id handle displayName }
    userErrors { field code message }
  }
}
"""

LOG_IN = """
mutation LogIn($input: LogInInput!) {
  logIn(input: $input) {
    accessToken refreshToken
    viewer { id handle }
    userErrors { field code message }
  }
}
"""


async def gql(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    token: str | None = None,
    authorization: str | None = None,
    status: int = 200,
) -> dict[str, Any]:
    """Send a document as a client would, check the HTTP status, return the JSON body.

    ``token`` is sent as ``Authorization: Bearer <token>``; ``authorization`` sends a header
    exactly as given, for clients that get it wrong.
    """
    headers = {"Accept": ACCEPT}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if authorization is not None:
        headers["Authorization"] = authorization
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


async def sign_up(
    client: httpx.AsyncClient,
    handle: str,
    *,
    email: str | None = None,
    password: str = PASSWORD,
    display_name: str | None = None,
) -> dict[str, Any]:
    """Sign a new member up; return the signUp payload (tokens and viewer)."""
    body = await gql(
        client,
        SIGN_UP,
        {
            "input": {
                "email": email or f"{handle}@example.com",
                "password": password,
                "displayName": display_name or handle.title(),
                "handle": handle,
            }
        },
    )
    payload: dict[str, Any] = body["data"]["signUp"]
    assert payload["userErrors"] == [], payload["userErrors"]
    return payload
