"""Every way a client can get signing in wrong: each a clear code, never a 500."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import jwt
import pytest

from api.settings import Settings
from api.tokens import Tokens
from tests.api.graphql import LOG_IN, SIGN_UP, gql, sign_up
from tests.conftest import PASSWORD

VIEWER = "query { viewer { handle } }"
UPDATE_HEADLINE = """
mutation { updateProfile(input: {headline: "Analyst"}) {
  member { headline } userErrors { field code message }
} }
"""
REFRESH = """
mutation Refresh($token: String!) {
  refreshSession(input: {refreshToken: $token}) {
    accessToken refreshToken viewer { handle } userErrors { field code message }
  }
}
"""
LOG_OUT = """
mutation LogOut($token: String!) {
  logOut(input: {refreshToken: $token}) { loggedOut userErrors { field code message } }
}
"""


def signing_up(**changes: str) -> dict[str, Any]:
    """Return signUp variables for a fine new member, with some inputs changed."""
    return {
        "input": {
            "email": "grace@example.com",
            "password": PASSWORD,
            "displayName": "Grace Hopper",
            "handle": "grace",
            **changes,
        }
    }


async def sign_up_errors(client, **changes: str) -> list[dict[str, Any]]:
    body = await gql(client, SIGN_UP, signing_up(**changes))
    assert "errors" not in body, body
    payload = body["data"]["signUp"]
    if payload["userErrors"]:
        assert payload["accessToken"] is None
        assert payload["viewer"] is None
    errors: list[dict[str, Any]] = payload["userErrors"]
    return errors


async def log_in(client, email: str, password: str) -> dict[str, Any]:
    body = await gql(client, LOG_IN, {"input": {"email": email, "password": password}})
    assert "errors" not in body, body
    payload: dict[str, Any] = body["data"]["logIn"]
    return payload


def codes(errors: list[dict[str, Any]]) -> list[tuple[str, list[str]]]:
    return [(error["code"], error["field"]) for error in errors]


def unauthenticated(body: dict[str, Any]) -> str:
    """Assert the operation was refused as UNAUTHENTICATED; return the message."""
    assert body["data"] is None or next(iter(body["data"].values())) is None, body
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "UNAUTHENTICATED", error
    assert "Unexpected error" not in error["message"]
    message: str = error["message"]
    return message


# signUp


async def test_an_email_already_taken_is_refused_even_in_another_case(client):
    # Given a member who signed up as grace@example.com
    await sign_up(client, "grace", email="grace@example.com")

    # When someone signs up with the same email, exactly or in capitals
    exact = await sign_up_errors(client, handle="grace2")
    shouted = await sign_up_errors(client, handle="grace3", email="  GRACE@Example.COM ")

    # Then both are told the email is taken
    assert codes(exact) == [("ALREADY_EXISTS", ["input", "email"])]
    assert codes(shouted) == [("ALREADY_EXISTS", ["input", "email"])]
    assert "email" in shouted[0]["message"]


async def test_a_handle_already_taken_is_refused(client):
    await sign_up(client, "grace", email="grace@example.com")

    errors = await sign_up_errors(client, email="other@example.com")

    assert codes(errors) == [("ALREADY_EXISTS", ["input", "handle"])]
    assert "grace" in errors[0]["message"]


async def test_an_account_taken_twice_over_says_both(client):
    await sign_up(client, "grace", email="grace@example.com")

    errors = await sign_up_errors(client)

    assert sorted(codes(errors)) == [
        ("ALREADY_EXISTS", ["input", "email"]),
        ("ALREADY_EXISTS", ["input", "handle"]),
    ]


@pytest.mark.parametrize(
    ("handle", "gist"),
    [
        ("gh", "at least 3"),
        ("g" * 31, "at most 30"),
        ("GraceHopper", "lowercase"),
        ("grace hopper", "spaces"),
        ("grace-hopper", "lowercase letters, digits and underscores"),
        ("1grace", "start with a letter"),
        ("admin", "reserved"),
        ("ad_min", "reserved"),
        ("support", "reserved"),
    ],
)
async def test_a_bad_handle_is_refused_with_a_reason(client, handle, gist):
    errors = await sign_up_errors(client, handle=handle)

    assert codes(errors) == [("INVALID_INPUT", ["input", "handle"])]
    assert gist in errors[0]["message"]


@pytest.mark.parametrize(
    ("changes", "gist"),
    [
        ({"password": "short1!"}, "at least 10"),
        ({"password": "Password123"}, "too common"),
        ({"password": "qwertyuiop"}, "too common"),
        ({"password": "grace@example.com"}, "email address"),
        ({"password": "GRACE@EXAMPLE.COM!"}, "email address"),
        ({"email": "ghopper@example.com", "password": "i-am-grace-the-admiral"}, "handle"),
        ({"password": "          "}, "only spaces"),
        ({"password": "x" * 300}, ""),
    ],
)
async def test_a_weak_password_is_refused_with_a_reason(client, changes, gist):
    errors = await sign_up_errors(client, **changes)

    assert codes(errors) == [("WEAK_PASSWORD", ["input", "password"])]
    assert gist in errors[0]["message"]


@pytest.mark.parametrize(
    "email",
    ["", "grace", "grace@", "@example.com", "grace@example", "grace@@example.com", "gr ace@x.com"],
)
async def test_a_malformed_email_is_refused(client, email):
    errors = await sign_up_errors(client, email=email)

    assert codes(errors) == [("INVALID_INPUT", ["input", "email"])]


async def test_every_problem_of_a_form_is_reported_at_once(client):
    errors = await sign_up_errors(
        client, email="not-an-email", handle="Admin", displayName=" ", password="short"
    )

    assert sorted(codes(errors)) == [
        ("INVALID_INPUT", ["input", "displayName"]),
        ("INVALID_INPUT", ["input", "email"]),
        ("INVALID_INPUT", ["input", "handle"]),
        ("WEAK_PASSWORD", ["input", "password"]),
    ]


async def test_a_refused_sign_up_creates_no_account(client):
    await sign_up_errors(client, password="short")

    payload = await log_in(client, "grace@example.com", "short")

    assert codes(payload["userErrors"]) == [("INVALID_CREDENTIALS", ["input", "password"])]


# logIn


async def test_a_wrong_password_and_an_unknown_email_read_the_same(client):
    # Given one member
    await sign_up(client, "grace", email="grace@example.com")

    # When someone tries her email with a wrong password, and an email nobody has
    wrong_password = await log_in(client, "grace@example.com", "not her password at all")
    unknown_email = await log_in(client, "nobody@example.com", PASSWORD)

    # Then neither says which was wrong, so accounts cannot be discovered this way
    assert codes(wrong_password["userErrors"]) == [("INVALID_CREDENTIALS", ["input", "password"])]
    assert wrong_password["userErrors"] == unknown_email["userErrors"]
    assert wrong_password["accessToken"] is None
    assert unknown_email["viewer"] is None


@pytest.mark.parametrize(
    "email", ["", "not an email", "x" * 300 + "@example.com", "ünïcode@例え.jp"]
)
async def test_a_log_in_with_a_strange_email_is_only_refused(client, email):
    payload = await log_in(client, email, PASSWORD)

    assert codes(payload["userErrors"]) == [("INVALID_CREDENTIALS", ["input", "password"])]


async def test_repeated_failures_lock_the_email_until_the_lockout_passes(client, clock, settings):
    # Given a member whose password someone keeps guessing wrong
    await sign_up(client, "grace", email="grace@example.com")
    for _ in range(settings.login_max_failures):
        payload = await log_in(client, "grace@example.com", "a wrong guess, again")
        assert codes(payload["userErrors"]) == [("INVALID_CREDENTIALS", ["input", "password"])]

    # When she then signs in with the right password
    locked = await log_in(client, "grace@example.com", PASSWORD)

    # Then she is told to wait, and no session is opened
    assert [error["code"] for error in locked["userErrors"]] == ["RATE_LIMITED"]
    assert "try again in" in locked["userErrors"][0]["message"]
    assert locked["accessToken"] is None
    # ... wrong guesses are refused the same way, without being checked
    guess = await log_in(client, "GRACE@example.com", "another wrong guess")
    assert [error["code"] for error in guess["userErrors"]] == ["RATE_LIMITED"]

    # When the lockout has passed
    clock.advance(minutes=16)
    unlocked = await log_in(client, "grace@example.com", PASSWORD)

    # Then the right password works again, and its access token too
    assert unlocked["userErrors"] == []
    body = await gql(client, VIEWER, token=unlocked["accessToken"])
    assert body == {"data": {"viewer": {"handle": "grace"}}}


async def test_an_unknown_email_is_locked_like_a_known_one(client, settings):
    for _ in range(settings.login_max_failures):
        await log_in(client, "nobody@example.com", "a wrong guess, again")

    payload = await log_in(client, "nobody@example.com", "yet another guess")

    assert [error["code"] for error in payload["userErrors"]] == ["RATE_LIMITED"]


async def test_a_successful_log_in_forgets_earlier_failures(client, settings):
    # Given a member who mistyped her password all but once too often, then got it right
    await sign_up(client, "grace", email="grace@example.com")
    almost = settings.login_max_failures - 1
    for _ in range(almost):
        await log_in(client, "grace@example.com", "a typo in the password")
    assert (await log_in(client, "grace@example.com", PASSWORD))["userErrors"] == []

    # When she mistypes it as often again
    for _ in range(almost):
        await log_in(client, "grace@example.com", "a typo in the password")

    # Then she is not locked out: the count started again at her success
    payload = await log_in(client, "grace@example.com", PASSWORD)
    assert payload["userErrors"] == []
    assert payload["accessToken"]


# refreshSession and logOut


@pytest.mark.parametrize(
    "token", ["", "garbage", "rt_garbage", "rt_" + "x" * 500, "Bearer rt_abc", "rt_\u00e9\u0000"]
)
async def test_a_garbage_refresh_token_is_invalid(client, token):
    body = await gql(client, REFRESH, {"token": token})

    payload = body["data"]["refreshSession"]
    assert codes(payload["userErrors"]) == [("INVALID_TOKEN", ["input", "refreshToken"])]
    assert payload["accessToken"] is None


async def test_an_expired_refresh_token_is_invalid(client, clock):
    # Given a member who signed in and left the app alone for a month
    signed_up = await sign_up(client, "grace")
    clock.advance(days=31)

    # When the app refreshes the session
    body = await gql(client, REFRESH, {"token": signed_up["refreshToken"]})

    # Then it is told to sign in again
    (error,) = body["data"]["refreshSession"]["userErrors"]
    assert error["code"] == "INVALID_TOKEN"
    assert "expired" in error["message"]


@pytest.mark.parametrize("token", ["", "garbage", "rt_garbage"])
async def test_logging_out_with_a_garbage_token_is_invalid(client, token):
    body = await gql(client, LOG_OUT, {"token": token})

    assert body["data"]["logOut"]["loggedOut"] is False
    assert codes(body["data"]["logOut"]["userErrors"]) == [
        ("INVALID_TOKEN", ["input", "refreshToken"])
    ]


# Access tokens


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def unb64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def flip(part: str, index: int) -> str:
    """Change one character of a token part (in the middle: the last one may be padding)."""
    replacement = "A" if part[index] != "A" else "B"
    return part[:index] + replacement + part[index + 1 :]


def claims_of(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


@pytest.fixture
async def grace(client) -> dict[str, Any]:
    return await sign_up(client, "grace")


@pytest.fixture
def dev_secret(settings: Settings, runtime) -> bytes:
    """The secret the server generated under var/ on start, as a forger would steal it."""
    return (settings.var_dir / "jwt-hs256.key").read_text().strip().encode()


def forged(grace: dict[str, Any], secret: bytes, **changes: Any) -> str:
    """Sign grace's own claims with the server's key, with some claims or headers changed."""
    headers = {"kid": jwt.get_unverified_header(grace["accessToken"])["kid"]}
    headers.update(changes.pop("headers", {}))
    claims = {**claims_of(grace["accessToken"]), **changes}
    return jwt.encode(claims, secret, algorithm="HS256", headers=headers)


def expired_token(settings, grace: dict[str, Any]) -> str:
    """Issue grace a token from a server whose clock is an hour behind."""
    an_hour_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    claims = claims_of(grace["accessToken"])
    token, expires_at = Tokens(settings, lambda: an_hour_ago).issue(
        member_id=int(claims["sub"]), session_id=claims["sid"]
    )
    assert expires_at < dt.datetime.now(dt.UTC)
    return token


def tampered_signature(grace: dict[str, Any]) -> str:
    header, payload, signature = grace["accessToken"].split(".")
    return ".".join([header, payload, flip(signature, len(signature) // 2)])


def tampered_payload(grace: dict[str, Any]) -> str:
    header, payload, signature = grace["accessToken"].split(".")
    return ".".join([header, flip(payload, len(payload) // 2), signature])


def someone_elses_payload(grace: dict[str, Any]) -> str:
    header, payload, signature = grace["accessToken"].split(".")
    claims = json.loads(unb64(payload))
    claims["sub"] = str(int(claims["sub"]) + 1)
    return ".".join([header, b64(json.dumps(claims).encode()), signature])


def unsigned(grace: dict[str, Any]) -> str:
    kid = jwt.get_unverified_header(grace["accessToken"])["kid"]
    header = b64(json.dumps({"alg": "none", "typ": "JWT", "kid": kid}).encode())
    payload = b64(json.dumps(claims_of(grace["accessToken"])).encode())
    return f"{header}.{payload}."


Forgery = Callable[[Settings, dict[str, Any], bytes], str]

BAD_TOKENS: dict[str, Forgery] = {
    "expired": lambda settings, grace, secret: expired_token(settings, grace),
    "expired, by hand": lambda settings, grace, secret: forged(
        grace, secret, exp=int(dt.datetime.now(dt.UTC).timestamp()) - 60
    ),
    "issued in the future": lambda settings, grace, secret: forged(
        grace, secret, iat=int(dt.datetime.now(dt.UTC).timestamp()) + 3600
    ),
    "tampered signature": lambda settings, grace, secret: tampered_signature(grace),
    "tampered payload": lambda settings, grace, secret: tampered_payload(grace),
    "someone else's payload": lambda settings, grace, secret: someone_elses_payload(grace),
    "alg none": lambda settings, grace, secret: unsigned(grace),
    "wrong audience": lambda settings, grace, secret: forged(grace, secret, aud="other-api"),
    "wrong issuer": lambda settings, grace, secret: forged(grace, secret, iss="someone-else"),
    "unknown kid": lambda settings, grace, secret: forged(
        grace, secret, headers={"kid": "hs-000000000000"}
    ),
    "no kid": lambda settings, grace, secret: jwt.encode(
        claims_of(grace["accessToken"]), secret, algorithm="HS256"
    ),
    "another secret": lambda settings, grace, secret: forged(grace, b"not the server's secret" * 2),
    "missing session": lambda settings, grace, secret: forged(grace, secret, sid=None),
    "non-numeric subject": lambda settings, grace, secret: forged(grace, secret, sub="grace"),
    "not a JWT": lambda settings, grace, secret: "this is not a token",
    "only dots": lambda settings, grace, secret: "..",
}


@pytest.fixture(params=list(BAD_TOKENS))
def bad_token(request, settings, grace, dev_secret) -> str:
    token: str = BAD_TOKENS[request.param](settings, grace, dev_secret)
    assert token != grace["accessToken"]
    return token


async def test_a_bad_access_token_on_viewer_is_unauthenticated(client, bad_token):
    body = await gql(client, VIEWER, token=bad_token)

    unauthenticated(body)


async def test_a_bad_access_token_on_update_profile_is_unauthenticated(client, bad_token):
    body = await gql(client, UPDATE_HEADLINE, token=bad_token)

    unauthenticated(body)


async def test_the_token_that_was_tampered_with_still_works_untouched(client, grace, settings):
    # The forgeries above differ from a good token in one thing only: this one passes.
    body = await gql(client, VIEWER, token=grace["accessToken"])
    assert body == {"data": {"viewer": {"handle": "grace"}}}
    resigned = jwt.encode(
        claims_of(grace["accessToken"]),
        (settings.var_dir / "jwt-hs256.key").read_text().strip().encode(),
        algorithm="HS256",
        headers={"kid": jwt.get_unverified_header(grace["accessToken"])["kid"]},
    )
    body = await gql(client, VIEWER, token=resigned)
    assert body == {"data": {"viewer": {"handle": "grace"}}}


async def test_an_expired_access_token_says_to_refresh(client, grace, settings):
    body = await gql(client, VIEWER, token=expired_token(settings, grace))

    assert "expired" in unauthenticated(body)


async def test_an_access_token_past_its_lifetime_is_unauthenticated(client, grace, clock):
    clock.advance(minutes=16)

    body = await gql(client, VIEWER, token=grace["accessToken"])

    assert "expired" in unauthenticated(body)


@pytest.mark.parametrize(
    "header", ["Basic Z3JhY2U6c2VjcmV0", "Token {token}", "{token}", "Bearer", "Bearer   "]
)
async def test_a_malformed_authorization_header_is_unauthenticated(client, grace, header):
    authorization = header.format(token=grace["accessToken"])

    on_viewer = await gql(client, VIEWER, authorization=authorization)
    on_update = await gql(client, UPDATE_HEADLINE, authorization=authorization)

    assert "Bearer" in unauthenticated(on_viewer)
    assert "Bearer" in unauthenticated(on_update)


async def test_the_bearer_scheme_is_case_insensitive(client, grace):
    body = await gql(client, VIEWER, authorization=f"bearer {grace['accessToken']}")

    assert body == {"data": {"viewer": {"handle": "grace"}}}


async def test_update_profile_without_a_token_is_unauthenticated(client):
    body = await gql(client, UPDATE_HEADLINE)

    assert "sign in" in unauthenticated(body)


async def test_viewer_without_a_token_is_null_and_no_error(client):
    body = await gql(client, VIEWER)

    assert body == {"data": {"viewer": None}}


async def test_an_access_token_of_a_logged_out_session_is_unauthenticated(client, grace):
    await gql(client, LOG_OUT, {"token": grace["refreshToken"]})

    body = await gql(client, UPDATE_HEADLINE, token=grace["accessToken"])

    assert "ended" in unauthenticated(body)


async def test_control_characters_in_a_display_name_are_refused(client):
    errors = await sign_up_errors(client, displayName="Grace\u0000Hopper")

    assert codes(errors) == [("INVALID_INPUT", ["input", "displayName"])]
    assert "control characters" in errors[0]["message"]


async def test_a_log_in_with_a_nul_in_the_email_is_only_refused(client):
    payload = await log_in(client, "grace\u0000@example.com", PASSWORD)

    assert codes(payload["userErrors"]) == [("INVALID_CREDENTIALS", ["input", "password"])]
