"""Access tokens: issued and verified by api/tokens.py alone, with keys made on the spot."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import stat
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from api.settings import Settings
from api.tokens import TokenError, Tokens

NOW = dt.datetime(2030, 5, 1, 12, 0, tzinfo=dt.UTC)


def clock() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def private_key_file(directory: Path, name: str, key: Any) -> Path:
    """Write a private key as an unencrypted PKCS#8 PEM file, as an operator would."""
    path = directory / f"{name}.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


def public_key_file(directory: Path, name: str, key: Any) -> Path:
    path = directory / f"{name}.pub.pem"
    path.write_bytes(public_pem(key))
    return path


def public_pem(key: Any) -> bytes:
    pem: bytes = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem


def make_key(algorithm: str) -> Any:
    if algorithm == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def asymmetric(tmp_path: Path, algorithm: str, key: Any, *previous: Any) -> Settings:
    """Settings for a server signing with ``key`` and still accepting ``previous`` keys."""
    return Settings(
        var_dir=tmp_path / "var",
        jwt_algorithm=algorithm,
        jwt_private_key_file=private_key_file(tmp_path, f"key-{id(key)}", key),
        jwt_public_key_files=tuple(
            public_key_file(tmp_path, f"old-{id(old)}", old) for old in previous
        ),
    )


def header_of(token: str) -> dict[str, Any]:
    header: dict[str, Any] = jwt.get_unverified_header(token)
    return header


def test_an_hs256_token_round_trips_with_its_key_id(tmp_path):
    # Given a server with a configured secret
    tokens = Tokens(Settings(var_dir=tmp_path, jwt_secret="s" * 48), clock)

    # When it issues a token and reads it back
    token, expires_at = tokens.issue(member_id=7, session_id=3)
    claims = tokens.verify(token)

    # Then the claims are the member's and session's, signed HS256 under a key id
    assert (claims.member_id, claims.session_id, claims.expires_at) == (7, 3, expires_at)
    assert header_of(token)["alg"] == "HS256"
    assert header_of(token)["kid"].startswith("hs-")
    assert dt.timedelta(minutes=14) < expires_at - clock() <= dt.timedelta(minutes=15)
    assert not (tmp_path / "jwt-hs256.key").exists()


def test_another_secret_refuses_the_token(tmp_path):
    token, _ = Tokens(Settings(var_dir=tmp_path, jwt_secret="s" * 48), clock).issue(
        member_id=7, session_id=3
    )

    with pytest.raises(TokenError):
        Tokens(Settings(var_dir=tmp_path, jwt_secret="t" * 48), clock).verify(token)


def test_an_eddsa_key_from_a_pem_file_signs_and_verifies(tmp_path):
    key = ed25519.Ed25519PrivateKey.generate()
    tokens = Tokens(asymmetric(tmp_path, "EdDSA", key), clock)

    token, _ = tokens.issue(member_id=7, session_id=3)

    assert tokens.verify(token).member_id == 7
    assert header_of(token)["alg"] == "EdDSA"
    # Anyone with the public key can check it, as a partner service would.
    claims = jwt.decode(token, key.public_key(), algorithms=["EdDSA"], audience="rapport-api")
    assert claims["sub"] == "7"


@pytest.mark.parametrize("algorithm", ["EdDSA", "RS256"])
def test_a_token_signed_by_the_previous_key_is_accepted_while_it_is_configured(tmp_path, algorithm):
    # Given a token signed before the keys were rotated
    old, new = make_key(algorithm), make_key(algorithm)
    token, _ = Tokens(asymmetric(tmp_path, algorithm, old), clock).issue(member_id=7, session_id=3)

    # When the new key signs and the old public key is still configured
    rotated = Tokens(asymmetric(tmp_path, algorithm, new, old), clock)

    # Then the old token is still good, and new tokens carry the new key's id
    assert rotated.verify(token).member_id == 7
    fresh, _ = rotated.issue(member_id=7, session_id=3)
    assert header_of(fresh)["kid"] != header_of(token)["kid"]
    assert rotated.verify(fresh).member_id == 7


@pytest.mark.parametrize("algorithm", ["EdDSA", "RS256"])
def test_a_token_signed_by_a_retired_key_is_refused(tmp_path, algorithm):
    # Given a token signed by a key that has since been dropped from the configuration
    old, new = make_key(algorithm), make_key(algorithm)
    token, _ = Tokens(asymmetric(tmp_path, algorithm, old), clock).issue(member_id=7, session_id=3)

    # When only the new key is configured, the token is refused
    with pytest.raises(TokenError, match="not signed by this server"):
        Tokens(asymmetric(tmp_path, algorithm, new), clock).verify(token)


def hs256_with(secret: bytes, header: dict[str, Any], claims: dict[str, Any]) -> str:
    """Sign by hand: pyjwt itself refuses to use a PEM public key as an HMAC secret."""

    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    signing_input = f"{part(header)}.{part(claims)}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + base64.urlsafe_b64encode(signature).decode().rstrip("=")


@pytest.mark.parametrize("algorithm", ["EdDSA", "RS256"])
def test_a_token_hmac_signed_with_the_public_key_is_refused(tmp_path, algorithm):
    # Given a server signing with an asymmetric key, whose public key anyone may hold
    key = make_key(algorithm)
    tokens = Tokens(asymmetric(tmp_path, algorithm, key), clock)
    genuine, _ = tokens.issue(member_id=7, session_id=3)
    claims = {**jwt.decode(genuine, options={"verify_signature": False}), "sub": "1"}
    kid = header_of(genuine)["kid"]

    # When an attacker signs claims with HS256, using the public key as the secret
    for secret in (
        public_pem(key),
        key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
    ):
        for header in ({"alg": "HS256", "kid": kid}, {"alg": "HS256"}):
            forged = hs256_with(secret, {"typ": "JWT", **header}, claims)

            # Then the server refuses it
            with pytest.raises(TokenError):
                tokens.verify(forged)


def test_the_development_key_is_made_once_private_and_reused(tmp_path):
    # Given no secret configured
    settings = Settings(var_dir=tmp_path / "var")

    # When two servers start one after the other
    first = Tokens(settings, clock)
    key_file = tmp_path / "var" / "jwt-hs256.key"
    written = key_file.read_text()
    second = Tokens(settings, clock)

    # Then one key was written, readable by its owner alone, and both servers use it
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(written.strip()) >= 32
    assert key_file.read_text() == written
    assert [path.name for path in key_file.parent.iterdir()] == ["jwt-hs256.key"]
    token, _ = first.issue(member_id=7, session_id=3)
    assert second.verify(token).member_id == 7
    assert header_of(second.issue(member_id=7, session_id=3)[0])["kid"] == header_of(token)["kid"]


def test_a_token_expires_by_the_clock_that_issued_it(tmp_path):
    # Given a server whose clock is injected (as tests and replays do)
    now = [NOW]
    tokens = Tokens(Settings(var_dir=tmp_path, jwt_secret="s" * 48), lambda: now[0])
    token, expires_at = tokens.issue(member_id=7, session_id=3)

    # Then the token is good for its lifetime on that clock, and expired after it
    now[0] = expires_at - dt.timedelta(seconds=10)
    assert tokens.verify(token).member_id == 7
    now[0] = expires_at + dt.timedelta(seconds=10)
    with pytest.raises(TokenError, match="expired"):
        tokens.verify(token)


def test_a_token_issued_in_the_future_is_refused(tmp_path):
    settings = Settings(var_dir=tmp_path, jwt_secret="s" * 48)
    token, _ = Tokens(settings, lambda: NOW + dt.timedelta(hours=1)).issue(
        member_id=7, session_id=3
    )

    with pytest.raises(TokenError, match="not valid yet"):
        Tokens(settings, lambda: NOW).verify(token)


@pytest.mark.parametrize(
    "changes",
    [{"exp": "tomorrow"}, {"exp": 10**20}, {"iat": True}, {"sid": "three"}, {"sub": "seven"}],
)
def test_a_token_with_malformed_claims_is_refused(tmp_path, changes):
    secret = "s" * 48
    tokens = Tokens(Settings(var_dir=tmp_path, jwt_secret=secret), clock)
    genuine, _ = tokens.issue(member_id=7, session_id=3)
    claims = {**jwt.decode(genuine, options={"verify_signature": False}), **changes}

    forged = jwt.encode(claims, secret, algorithm="HS256", headers=header_of(genuine))

    with pytest.raises(TokenError):
        tokens.verify(forged)
