"""What every resolver may use: the process's shared services and this request's state."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from typing import Any

from starlette.requests import HTTPConnection
from strawberry.types import Info as StrawberryInfo

from api.errors import Forbidden, Unauthenticated
from api.loaders import Loaders
from api.realtime import Broker, create_broker
from api.settings import Settings
from api.tokens import Claims, PartnerClaims, TokenError, Tokens
from api.webhooks import Guard
from domain.ledger.rules import LedgerPolicy
from domain.marketplace.rules import MarketPolicy
from domain.members import sessions
from domain.members.passwords import Passwords
from domain.members.service import AuthPolicy
from domain.partners import service as partners
from domain.partners.rules import DeliveryPolicy
from domain.store import Clock, Store, utc_now


@dataclasses.dataclass(frozen=True)
class Runtime:
    """The services one process shares between requests."""

    settings: Settings
    store: Store
    tokens: Tokens
    passwords: Passwords
    auth_policy: AuthPolicy
    market_policy: MarketPolicy
    ledger_policy: LedgerPolicy
    broker: Broker
    webhook_guard: Guard
    delivery_policy: DeliveryPolicy

    @classmethod
    def create(cls, settings: Settings, *, clock: Clock = utc_now) -> Runtime:
        store = Store(settings.database_url, pool_size=settings.db_pool_size, clock=clock)
        return cls(
            settings=settings,
            store=store,
            tokens=Tokens(settings, store.clock),
            passwords=passwords_of(settings),
            auth_policy=auth_policy_of(settings),
            market_policy=market_policy_of(settings),
            ledger_policy=ledger_policy_of(settings),
            broker=create_broker(
                settings.broker_url, channel_prefix=settings.broker_channel_prefix
            ),
            webhook_guard=Guard(allowed=settings.webhook_allowed_networks),
            delivery_policy=DeliveryPolicy(
                schedule=settings.webhook_retry_schedule,
                disable_after=settings.webhook_disable_after,
                # An attempt holds its delivery well past the longest it may take.
                lease=settings.webhook_timeout * 2 + dt.timedelta(seconds=5),
            ),
        )


def passwords_of(settings: Settings) -> Passwords:
    """Return the password hasher at the configured argon2id cost."""
    return Passwords(
        time_cost=settings.argon2_time_cost,
        memory_cost_kib=settings.argon2_memory_kib,
        parallelism=settings.argon2_parallelism,
    )


def auth_policy_of(settings: Settings) -> AuthPolicy:
    """Return the configured sessions, log-in throttling and welcome grant."""
    return AuthPolicy(
        refresh_ttl=settings.refresh_token_ttl,
        max_failed_logins=settings.login_max_failures,
        lockout=settings.login_lockout,
        failure_window=settings.login_failure_window,
        welcome_karma=settings.welcome_karma,
    )


def ledger_policy_of(settings: Settings) -> LedgerPolicy:
    """Return the configured karma flows and caps on credit."""
    return LedgerPolicy(
        welcome_karma=settings.welcome_karma,
        iou_value=settings.iou_value,
        max_ious_owed=settings.max_ious_owed,
        broker_share=settings.broker_share,
        broker_weekly_cap=settings.broker_weekly_cap,
    )


def market_policy_of(settings: Settings) -> MarketPolicy:
    """Return the configured limits on help requests."""
    return MarketPolicy(
        max_open_requests=settings.max_open_requests, ledger=ledger_policy_of(settings)
    )


class Context:
    """One request's context: who is asking, and its DataLoaders."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        request_id: str,
        authorization: str | None,
        connection: HTTPConnection | None = None,
    ) -> None:
        self.runtime = runtime
        self.request_id = request_id
        self.connection = connection
        self._authorization = authorization
        self._claims: asyncio.Future[Claims | None] | None = None
        self._partner: PartnerClaims | None = None
        self.loaders = Loaders(runtime.store, self.viewer_id)

    @classmethod
    def verified(
        cls,
        runtime: Runtime,
        *,
        request_id: str,
        claims: Claims | None,
        connection: HTTPConnection | None = None,
    ) -> Context:
        """Return a context for a caller whose token was already checked (a WebSocket's)."""
        context = cls(runtime, request_id=request_id, authorization=None, connection=connection)
        checked: asyncio.Future[Claims | None] = asyncio.get_running_loop().create_future()
        checked.set_result(claims)
        context._claims = checked
        return context

    @property
    def store(self) -> Store:
        return self.runtime.store

    async def claims(self) -> Claims | None:
        """Return the caller's verified token claims; None when no token was sent."""
        if self._claims is None:
            # Resolvers run concurrently: they share one check of the token.
            self._claims = asyncio.ensure_future(self._verify())
        return await self._claims

    async def viewer_id(self) -> int | None:
        """Return the signed-in member's id, None when anonymous; a bad token is an error."""
        claims = await self.claims()
        return claims.member_id if claims else None

    async def require_viewer(self) -> int:
        """Return the signed-in member's id, or refuse the field as UNAUTHENTICATED."""
        member_id = await self.viewer_id()
        if member_id is None and self._partner is not None:
            raise Unauthenticated("a partner app's token cannot act for a member: sign in as one")
        if member_id is None:
            raise Unauthenticated("sign in first: send `Authorization: Bearer <access token>`")
        return member_id

    async def partner_id(self, scope: str) -> int | None:
        """Return the id of the partner app whose token was sent, if it holds ``scope``."""
        await self.claims()
        if self._partner is None or scope not in self._partner.scopes:
            return None
        return self._partner.partner_id

    async def require_partner(self, scope: str) -> int:
        """Return the id of the partner app whose token was sent, if it holds ``scope``;
        refuse the field otherwise (UNAUTHENTICATED, or FORBIDDEN without the scope)."""
        await self.claims()
        if self._partner is None:
            raise Unauthenticated(
                "this needs a partner app's token: POST /oauth/token with its client "
                "credentials, then send `Authorization: Bearer <access token>`"
            )
        if scope not in self._partner.scopes:
            raise Forbidden(f"this needs the `{scope}` scope, which this token does not hold")
        return self._partner.partner_id

    async def _verify(self) -> Claims | None:
        """Check the token sent: a member's (returned), a partner app's (kept: the caller
        is then anonymous to member fields), or a refusal."""
        if not self._authorization:
            return None
        scheme, _, token = self._authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("the Authorization header must be `Bearer <access token>`")
        try:
            claims = self.runtime.tokens.verify_any(token.strip())
        except TokenError as error:
            raise Unauthenticated(error.reason) from None
        async with self.store.reader() as session:
            if isinstance(claims, PartnerClaims):
                # Turning an app off stops its tokens at once, as logging out does a member's.
                if await partners.partner(session, claims.partner_id) is None:
                    raise Unauthenticated("this partner app has been turned off")
                self._partner = claims
                return None
            if not await sessions.session_is_active(session, claims.session_id):
                raise Unauthenticated("this session has ended: sign in again")
        return claims


Info = StrawberryInfo[Context, Any]
