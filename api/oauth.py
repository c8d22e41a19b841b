"""``POST /oauth/token``: a partner app exchanges its client credentials for an access token
(OAuth 2.0 client-credentials grant, RFC 6749 §4.4), used like a member's bearer token."""

from __future__ import annotations

import base64
import binascii
import math
from urllib.parse import parse_qsl, unquote_plus

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from api.context import Runtime
from domain.partners import service as partners

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_MAX_FORM = 4096


def _error(status: int, error: str, description: str, **headers: str) -> Response:
    return JSONResponse(
        {"error": error, "error_description": description},
        status_code=status,
        headers={**_NO_STORE, **headers},
    )


def _basic(header: str | None) -> tuple[str, str] | None:
    """Return the client id and secret of an ``Authorization: Basic`` header, if any."""
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return ("", "")
    client_id, _, secret = decoded.partition(":")
    # RFC 6749 §2.3.1: both parts are form-encoded before going into the header.
    return unquote_plus(client_id), unquote_plus(secret)


async def token(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        return _error(
            400,
            "invalid_request",
            "send the grant as application/x-www-form-urlencoded (RFC 6749 §4.4.2)",
        )
    if int(request.headers.get("content-length") or 0) > _MAX_FORM:
        return _error(400, "invalid_request", "the request body is too large")
    raw = await request.body()
    if len(raw) > _MAX_FORM:
        return _error(400, "invalid_request", "the request body is too large")
    try:
        pairs = parse_qsl(raw.decode(), keep_blank_values=True, max_num_fields=10)
    except (UnicodeDecodeError, ValueError):
        return _error(400, "invalid_request", "the body is not a form")
    fields = dict(pairs)
    if fields.get("grant_type") != "client_credentials":
        return _error(
            400, "unsupported_grant_type", "only grant_type=client_credentials is offered"
        )
    credentials = _basic(request.headers.get("authorization"))
    in_body = fields.get("client_id"), fields.get("client_secret")
    if credentials is not None and any(in_body):
        return _error(400, "invalid_request", "send the client credentials one way, not two")
    client_id, secret = credentials or (in_body[0] or "", in_body[1] or "")
    if not client_id or not secret:
        return _error(
            401,
            "invalid_client",
            "send client_id and client_secret (HTTP Basic or form fields)",
            **{"WWW-Authenticate": 'Basic realm="rapport"'},
        )
    async with runtime.store.reader() as session:
        app = await partners.authenticate(session, client_id, secret)
    if app is None:
        return _error(
            401,
            "invalid_client",
            "unknown client, wrong secret, or the app is turned off",
            **{"WWW-Authenticate": 'Basic realm="rapport"'},
        )
    granted = list(app.scopes)
    asked = fields.get("scope")
    if asked is not None:
        wanted = asked.split()
        beyond = [scope for scope in wanted if scope not in granted]
        if beyond:
            return _error(400, "invalid_scope", f"this app does not hold {', '.join(beyond)}")
        granted = [scope for scope in granted if scope in wanted]
    access_token, expires_at = runtime.tokens.issue_partner(partner_id=app.id, scopes=granted)
    expires_in = math.ceil((expires_at - runtime.store.clock()).total_seconds())
    return JSONResponse(
        {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": expires_in,
            "scope": " ".join(granted),
        },
        headers=_NO_STORE,
    )
