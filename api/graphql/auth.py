"""Signing up, signing in, and keeping a session alive with rotating refresh tokens."""

from __future__ import annotations

import datetime as dt

import strawberry

from api.context import Info
from api.errors import UserError
from api.graphql.commands import attempt, mutate
from api.graphql.members import Member
from domain.members import read, service, sessions
from domain.members.sessions import SessionGrant


@strawberry.input
class SignUpInput:
    email: str
    password: str = strawberry.field(
        description="At least 10 characters, not a common password, not your email or handle."
    )
    display_name: str
    handle: str = strawberry.field(
        description="3–30 lowercase letters, digits or underscores, starting with a letter."
    )


@strawberry.input
class LogInInput:
    email: str
    password: str


@strawberry.input
class RefreshSessionInput:
    refresh_token: str


@strawberry.input
class LogOutInput:
    refresh_token: str


@strawberry.type(description="A signed-in session: keep the refresh token secret.")
class AuthPayload:
    viewer: Member | None = None
    access_token: str | None = strawberry.field(
        default=None, description="Send as `Authorization: Bearer <accessToken>`."
    )
    access_token_expires_at: dt.datetime | None = None
    refresh_token: str | None = strawberry.field(
        default=None, description="Single use: `refreshSession` returns the next one."
    )
    refresh_token_expires_at: dt.datetime | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class LogOutPayload:
    logged_out: bool = False
    user_errors: list[UserError] = strawberry.field(default_factory=list)


async def _signed_in(info: Info, grant: SessionGrant) -> AuthPayload:
    access_token, expires_at = info.context.runtime.tokens.issue(
        member_id=grant.member_id, session_id=grant.session_id
    )
    async with info.context.store.reader() as session:
        found = await read.profiles(
            session, viewer_id=grant.member_id, member_ids=[grant.member_id]
        )
    return AuthPayload(
        viewer=Member.of(found[grant.member_id]),
        access_token=access_token,
        access_token_expires_at=expires_at,
        refresh_token=grant.refresh_token,
        refresh_token_expires_at=grant.refresh_expires_at,
    )


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Create an account and sign in.")
    async def sign_up(self, info: Info, input: SignUpInput) -> AuthPayload:
        runtime = info.context.runtime
        result = await mutate(
            info,
            lambda tx: service.sign_up(
                tx,
                passwords=runtime.passwords,
                policy=runtime.auth_policy,
                email=input.email,
                password=input.password,
                display_name=input.display_name,
                handle=input.handle,
            ),
        )
        if isinstance(result, list):
            return AuthPayload(user_errors=result)
        return await _signed_in(info, result.grant)

    @strawberry.mutation(description="Sign in with email and password.")
    async def log_in(self, info: Info, input: LogInInput) -> AuthPayload:
        runtime = info.context.runtime
        result = await attempt(
            info,
            lambda: service.log_in(
                runtime.store,
                passwords=runtime.passwords,
                policy=runtime.auth_policy,
                email=input.email,
                password=input.password,
            ),
        )
        if isinstance(result, list):
            return AuthPayload(user_errors=result)
        return await _signed_in(info, result.grant)

    @strawberry.mutation(description="Trade a refresh token for a new access and refresh token.")
    async def refresh_session(self, info: Info, input: RefreshSessionInput) -> AuthPayload:
        ttl = info.context.runtime.auth_policy.refresh_ttl
        result = await mutate(
            info,
            lambda tx: sessions.refresh_session(tx, refresh_token=input.refresh_token, ttl=ttl),
        )
        if isinstance(result, list):
            return AuthPayload(user_errors=result)
        return await _signed_in(info, result)

    @strawberry.mutation(description="End the session of a refresh token, on this device.")
    async def log_out(self, info: Info, input: LogOutInput) -> LogOutPayload:
        result = await mutate(
            info, lambda tx: sessions.log_out(tx, refresh_token=input.refresh_token)
        )
        if isinstance(result, list):
            return LogOutPayload(user_errors=result)
        return LogOutPayload(logged_out=True)
