"""Access tokens: short-lived JWTs with pinned algorithms and key ids, so keys can rotate.

HS256 with a key generated once under ``var/`` is the embedded default; EdDSA or RS256 keys
come from PEM files in production. Verification accepts the signing key and any previous
public keys still configured, picked by the token's ``kid``.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import os
import secrets
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

from api.settings import Settings
from domain.store import Clock


class TokenError(Exception):
    """An access token was refused; ``reason`` is safe to show to the client."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclasses.dataclass(frozen=True)
class Claims:
    member_id: int
    session_id: int
    expires_at: dt.datetime


@dataclasses.dataclass(frozen=True)
class PartnerClaims:
    """A partner app's token (OAuth client credentials): it acts for the app, never a member."""

    partner_id: int
    scopes: frozenset[str]
    expires_at: dt.datetime


PARTNER_SUBJECT = "partner:"


@dataclasses.dataclass(frozen=True)
class _Key:
    kid: str
    algorithm: str
    verifying: Any


class Tokens:
    """Issue and verify access tokens."""

    def __init__(self, settings: Settings, clock: Clock) -> None:
        self._clock = clock
        self._ttl = settings.access_token_ttl
        self._partner_ttl = settings.partner_token_ttl
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience
        self._algorithm = settings.jwt_algorithm
        self._signing, signing_key = _load_signing_key(settings)
        self._keys = {signing_key.kid: signing_key}
        for path in settings.jwt_public_key_files:
            key = _public_key(path, settings.jwt_algorithm)
            self._keys.setdefault(key.kid, key)
        self._kid = signing_key.kid

    def issue(self, *, member_id: int, session_id: int) -> tuple[str, dt.datetime]:
        """Return a signed access token for a member's session, and when it expires."""
        return self._issue(str(member_id), self._ttl, {"sid": session_id})

    def issue_partner(self, *, partner_id: int, scopes: Iterable[str]) -> tuple[str, dt.datetime]:
        """Return a signed access token for a partner app with these scopes."""
        return self._issue(
            f"{PARTNER_SUBJECT}{partner_id}", self._partner_ttl, {"scope": " ".join(scopes)}
        )

    def _issue(
        self, subject: str, ttl: dt.timedelta, extra: dict[str, Any]
    ) -> tuple[str, dt.datetime]:
        now = self._clock()
        expires_at = (now + ttl).replace(microsecond=0)
        claims = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": subject,
            "iat": int(now.timestamp()),
            "exp": int(expires_at.timestamp()),
            "jti": uuid.uuid4().hex,
            **extra,
        }
        token = jwt.encode(
            claims, self._signing, algorithm=self._algorithm, headers={"kid": self._kid}
        )
        return token, expires_at

    def verify(self, token: str) -> Claims:
        """Return the claims of a valid member's token, or raise ``TokenError`` saying why not."""
        claims = self.verify_any(token)
        if isinstance(claims, PartnerClaims):
            raise TokenError("a partner app's token cannot act for a member")
        return claims

    def verify_any(self, token: str) -> Claims | PartnerClaims:
        """Return the claims of a valid token, a member's or a partner app's, or raise
        ``TokenError`` saying why not."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise TokenError("the access token is malformed") from None
        key = self._keys.get(str(header.get("kid", "")))
        if key is None or header.get("alg") != key.algorithm:
            raise TokenError("the access token was not signed by this server")
        try:
            claims = jwt.decode(
                token,
                key.verifying,
                algorithms=[key.algorithm],
                audience=self._audience,
                issuer=self._issuer,
                # Times are checked below against the clock that issued them: pyjwt would
                # use the wall clock, and refuse a token just issued by a clock set ahead.
                options={
                    "require": ["iss", "aud", "sub", "exp", "iat", "jti"],
                    "verify_exp": False,
                    "verify_iat": False,
                },
            )
        except jwt.InvalidTokenError:
            raise TokenError("the access token is not valid") from None
        try:
            subject = str(claims["sub"])
            issued_at, expires_at = _instant(claims["iat"]), _instant(claims["exp"])
            partner = subject.startswith(PARTNER_SUBJECT)
            if partner:
                partner_id = int(subject.removeprefix(PARTNER_SUBJECT))
                scopes = frozenset(str(claims["scope"]).split())
            else:
                member_id, session_id = int(subject), int(claims["sid"])
        except (KeyError, TypeError, ValueError, OverflowError, OSError):
            raise TokenError("the access token is not valid") from None
        now = self._clock()
        if expires_at <= now - _LEEWAY:
            if partner:
                raise TokenError("the access token has expired: ask /oauth/token for another")
            raise TokenError("the access token has expired: refresh the session")
        if issued_at > now + _LEEWAY:
            raise TokenError("the access token is not valid yet")
        if partner:
            return PartnerClaims(partner_id=partner_id, scopes=scopes, expires_at=expires_at)
        return Claims(member_id=member_id, session_id=session_id, expires_at=expires_at)


# Clocks of the hosts that issue and verify a token may differ by this much.
_LEEWAY = dt.timedelta(seconds=5)


def _instant(claim: Any) -> dt.datetime:
    if isinstance(claim, bool) or not isinstance(claim, int | float):
        raise TypeError("a JWT time is a number of seconds")
    return dt.datetime.fromtimestamp(claim, dt.UTC)


def _load_signing_key(settings: Settings) -> tuple[Any, _Key]:
    if settings.jwt_algorithm == "HS256":
        secret = (settings.jwt_secret or _development_secret(settings.var_dir)).encode()
        kid = "hs-" + hashlib.sha256(b"kid:" + secret).hexdigest()[:12]
        return secret, _Key(kid, "HS256", secret)
    assert settings.jwt_private_key_file is not None
    private = serialization.load_pem_private_key(
        settings.jwt_private_key_file.read_bytes(), password=None
    )
    _check_key_type(private, settings.jwt_algorithm)
    public = private.public_key()
    return private, _Key(_thumbprint(public), settings.jwt_algorithm, public)


def _public_key(path: Path, algorithm: str) -> _Key:
    public = serialization.load_pem_public_key(path.read_bytes())
    _check_key_type(public, algorithm)
    return _Key(_thumbprint(public), algorithm, public)


def _check_key_type(key: Any, algorithm: str) -> None:
    expected = {
        "EdDSA": (Ed25519PrivateKey, Ed25519PublicKey),
        "RS256": (RSAPrivateKey, RSAPublicKey),
    }[algorithm]
    if not isinstance(key, expected):
        raise ValueError(f"the key file does not hold a key for {algorithm}")


def _thumbprint(public: Any) -> str:
    der = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()[:12]).decode().rstrip("=")


def _development_secret(var_dir: Path) -> str:
    """Return the signing secret kept under var/, generating it on first use."""
    path = var_dir / "jwt-hs256.key"
    if not path.exists():
        var_dir.mkdir(parents=True, exist_ok=True)
        candidate = path.with_suffix(f".{os.getpid()}.tmp")
        fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write(secrets.token_urlsafe(48))
        # Two processes starting at once must agree on one key: the first link wins.
        try:
            os.link(candidate, path)
        except FileExistsError:
            pass
        finally:
            candidate.unlink()
    return path.read_text().strip()
