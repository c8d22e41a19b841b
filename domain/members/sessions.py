"""Sign-in sessions: single-use refresh tokens rotated on every refresh.

A session is one family of refresh tokens. Presenting a token that was already spent means
it leaked (or a client replayed it): the whole family is revoked, so whoever holds the
newer token is signed out too.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import secrets

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from domain.errors import Code, DomainError
from domain.events import SessionRevoked, SessionStarted
from domain.members.models import AuthSession, RefreshToken
from domain.store import Transaction

_PREFIX = "rt_"


@dataclasses.dataclass(frozen=True)
class SessionGrant:
    """What a client keeps after signing in or refreshing."""

    member_id: int
    session_id: int
    refresh_token: str
    refresh_expires_at: dt.datetime


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _invalid(message: str = "this refresh token is not valid: sign in again") -> DomainError:
    return DomainError(Code.INVALID_TOKEN, message, "refresh_token")


async def start_session(tx: Transaction, *, member_id: int, ttl: dt.timedelta) -> SessionGrant:
    """Open a session for a member and give it its first refresh token."""
    session = AuthSession(member_id=member_id, created_at=tx.now, refreshed_at=tx.now)
    tx.session.add(session)
    await tx.session.flush()
    tx.emit(SessionStarted(actor_id=member_id, member_id=member_id, session_id=session.id))
    return await _issue(tx, session, ttl)


async def _issue(tx: Transaction, session: AuthSession, ttl: dt.timedelta) -> SessionGrant:
    token = _PREFIX + secrets.token_urlsafe(32)
    expires_at = (tx.now + ttl).replace(microsecond=0)
    tx.session.add(
        RefreshToken(
            session_id=session.id,
            token_hash=_digest(token),
            issued_at=tx.now,
            expires_at=expires_at,
        )
    )
    await tx.session.flush()
    return SessionGrant(session.member_id, session.id, token, expires_at)


async def refresh_session(
    tx: Transaction, *, refresh_token: str, ttl: dt.timedelta
) -> SessionGrant:
    """Spend a refresh token for a new one in the same session; a replay revokes the session."""
    row = await _find(tx, refresh_token)
    token, session = row
    if session.revoked_at is not None:
        raise _invalid("this session has ended: sign in again")
    # Spending is one guarded UPDATE, so two concurrent refreshes cannot both succeed.
    spent = await tx.session.execute(
        update(RefreshToken)
        .where(RefreshToken.id == token.id, RefreshToken.used_at.is_(None))
        .values(used_at=tx.now)
    )
    if spent.rowcount != 1:  # type: ignore[attr-defined]
        await _revoke(tx, session, reason="refresh_token_reused")
        await tx.commit()
        raise _invalid("this refresh token was already used; the session is revoked for safety")
    if token.expires_at <= tx.now:
        raise _invalid("this refresh token has expired: sign in again")
    session.refreshed_at = tx.now
    return await _issue(tx, session, ttl)


async def log_out(tx: Transaction, *, refresh_token: str) -> int:
    """End the session a refresh token belongs to; ending an ended session is a no-op."""
    _token, session = await _find(tx, refresh_token)
    if session.revoked_at is None:
        await _revoke(tx, session, reason="logged_out")
    return session.member_id


async def session_is_active(session: AsyncSession, session_id: int) -> bool:
    """Tell whether a sign-in session is still open (access tokens die with their session)."""
    row = (
        await session.execute(select(AuthSession.revoked_at).where(AuthSession.id == session_id))
    ).one_or_none()
    return row is not None and row.revoked_at is None


async def _find(tx: Transaction, refresh_token: str) -> tuple[RefreshToken, AuthSession]:
    if not refresh_token.startswith(_PREFIX) or len(refresh_token) > 100:
        raise _invalid()
    row = (
        await tx.session.execute(
            select(RefreshToken, AuthSession)
            .join(AuthSession, AuthSession.id == RefreshToken.session_id)
            .where(RefreshToken.token_hash == _digest(refresh_token))
            .with_for_update(of=AuthSession)
        )
    ).one_or_none()
    if row is None:
        raise _invalid()
    return row[0], row[1]


async def _revoke(tx: Transaction, session: AuthSession, *, reason: str) -> None:
    session.revoked_at = tx.now
    session.revoked_reason = reason
    tx.emit(
        SessionRevoked(
            actor_id=session.member_id,
            member_id=session.member_id,
            session_id=session.id,
            reason=reason,
        )
    )
    await tx.session.flush()
