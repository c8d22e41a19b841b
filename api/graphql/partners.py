"""Partner apps and their webhook endpoints, deliveries and attempts.

A partner calls these with its app's token (``POST /oauth/token``, scope
``webhooks:manage``); an admin member registers apps with ``createPartnerApp``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry import relay

from api.context import Info
from api.errors import UserError, user_errors
from api.graphql.commands import mutate
from api.graphql.ids import input_id, party_nodes
from api.graphql.pagination import Connection, id_connection, id_window
from domain.errors import DomainError
from domain.partners import service
from domain.partners.models import DeliveryStatus
from domain.partners.models import PartnerApp as PartnerAppRow
from domain.partners.models import WebhookAttempt as AttemptRow
from domain.partners.models import WebhookDelivery as DeliveryRow
from domain.partners.models import WebhookEndpoint as EndpointRow
from domain.partners.rules import EVENT_SCOPES, MANAGE_WEBHOOKS, SCOPES

R = TypeVar("R")
N = TypeVar("N")

strawberry.enum(
    DeliveryStatus,
    name="WebhookDeliveryStatus",
    description="`PENDING` (waiting for its next attempt, or in one) → `SUCCEEDED` (a 2xx "
    "answer) | `FAILED` (the retry schedule ran out, or the endpoint answered 410 Gone).",
)

_ENDPOINTS = "webhook-endpoint"


async def _partner_nodes(
    info: Info,
    node_ids: Iterable[str],
    load: Callable[[AsyncSession, int, list[int]], Awaitable[dict[int, R]]],
    build: Callable[[R], N],
) -> list[N | None]:
    """Resolve nodes only their partner app sees (with a token holding webhooks:manage)."""
    return await party_nodes(
        info, node_ids, load, build, party=lambda: info.context.partner_id(MANAGE_WEBHOOKS)
    )


_DELIVERIES = "webhook-delivery"


@strawberry.type(description="A partner's app: client credentials and the scopes it holds.")
class PartnerApp(relay.Node):
    id: relay.NodeID[int]
    name: str
    client_id: str = strawberry.field(description="Send it with the secret to /oauth/token.")
    scopes: list[str]
    active: bool
    created_at: dt.datetime

    @classmethod
    def of(cls, row: PartnerAppRow) -> PartnerApp:
        return cls(
            id=row.id,
            name=row.name,
            client_id=row.client_id,
            scopes=list(row.scopes),
            active=row.active,
            created_at=row.created_at,
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[PartnerApp | None]:
        async def own(session: AsyncSession, partner_id: int, ids: list[int]) -> dict[int, Any]:
            app = await service.partner(session, partner_id)
            return {app.id: app} if app is not None and app.id in ids else {}

        return await _partner_nodes(info, node_ids, own, PartnerApp.of)


@strawberry.type(description="One POST of a delivery, and what came back.")
class WebhookAttempt:
    number: int
    started_at: dt.datetime
    duration_ms: int
    status_code: int | None = strawberry.field(description="Null when no answer came.")
    error: str | None = strawberry.field(description="Why it failed, if it did.")
    response_body: str | None = strawberry.field(description="The answer's first 2 KiB.")

    @classmethod
    def of(cls, row: AttemptRow) -> WebhookAttempt:
        return cls(
            number=row.number,
            started_at=row.started_at,
            duration_ms=row.duration_ms,
            status_code=row.status_code,
            error=row.error,
            response_body=row.response_body,
        )


@strawberry.type(description="One event sent to one endpoint, with every attempt at it.")
class WebhookDelivery(relay.Node):
    id: relay.NodeID[int]
    webhook_id: str = strawberry.field(
        description="The `webhook-id` header: the same on every attempt and redelivery."
    )
    event_type: str
    status: DeliveryStatus
    attempts: int = strawberry.field(description="How many attempts were made.")
    last_status_code: int | None
    last_error: str | None
    next_attempt_at: dt.datetime | None = strawberry.field(
        description="When it is tried next (pending only)."
    )
    created_at: dt.datetime
    finished_at: dt.datetime | None
    body: str = strawberry.field(description="The exact body every attempt sends (JSON).")

    @classmethod
    def of(cls, row: DeliveryRow) -> WebhookDelivery:
        return cls(
            id=row.id,
            webhook_id=row.message_id,
            event_type=row.event_type,
            status=row.status,
            attempts=row.attempts,
            last_status_code=row.last_status_code,
            last_error=row.last_error,
            next_attempt_at=row.next_attempt_at,
            created_at=row.created_at,
            finished_at=row.finished_at,
            body=row.body,
        )

    @strawberry.field(description="Every attempt, oldest first.")
    async def attempt_log(self, info: Info) -> list[WebhookAttempt]:
        async with info.context.store.reader() as session:
            found = await service.attempts_of(session, [self.id])
        return [WebhookAttempt.of(row) for row in found[self.id]]

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[WebhookDelivery | None]:
        return await _partner_nodes(info, node_ids, service.partner_deliveries, WebhookDelivery.of)


@strawberry.type(description="A partner's URL that receives signed events of the types named.")
class WebhookEndpoint(relay.Node):
    id: relay.NodeID[int]
    url: str
    description: str
    event_types: list[str]
    active: bool = strawberry.field(description="Whether events are sent to it.")
    disabled_reason: str | None = strawberry.field(
        description="Why it is off: turned off by the partner, a 410 Gone, or failing for days."
    )
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def of(cls, row: EndpointRow) -> WebhookEndpoint:
        return cls(
            id=row.id,
            url=row.url,
            description=row.description,
            event_types=list(row.event_types),
            active=row.active,
            disabled_reason=row.disabled_reason,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    @strawberry.field(description="Its deliveries, newest first.")
    async def deliveries(
        self,
        info: Info,
        status: list[DeliveryStatus] | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[WebhookDelivery]:
        wanted = id_window(_DELIVERIES, first, after, last, before)
        async with info.context.store.reader() as session:
            page = await service.deliveries_of(
                session,
                self.id,
                statuses=status or (),
                limit=wanted.limit,
                after=wanted.after,
                before=wanted.before,
                backward=wanted.backward,
            )
        return id_connection(
            _DELIVERIES,
            [(row.id, WebhookDelivery.of(row)) for row in page.items],
            has_next=page.has_next,
            has_previous=page.has_previous,
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[WebhookEndpoint | None]:
        return await _partner_nodes(info, node_ids, service.partner_endpoints, WebhookEndpoint.of)


@strawberry.type(description="An event type partners may subscribe to.")
class WebhookEventType:
    name: str
    scope: str = strawberry.field(description="The scope an app needs to receive it.")


async def webhook_endpoints(
    info: Info,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> Connection[WebhookEndpoint]:
    partner_id = await info.context.require_partner(MANAGE_WEBHOOKS)
    wanted = id_window(_ENDPOINTS, first, after, last, before)
    async with info.context.store.reader() as session:
        page = await service.endpoints_of(
            session,
            partner_id,
            limit=wanted.limit,
            after=wanted.after,
            before=wanted.before,
            backward=wanted.backward,
        )
    return id_connection(
        _ENDPOINTS,
        [(row.id, WebhookEndpoint.of(row)) for row in page.items],
        has_next=page.has_next,
        has_previous=page.has_previous,
    )


@strawberry.type
class Query:
    webhook_endpoints: Connection[WebhookEndpoint] = strawberry.field(
        resolver=webhook_endpoints,
        description="The calling partner app's endpoints, oldest first (scope `webhooks:manage`).",
    )

    @strawberry.field(description="The event types an endpoint may subscribe to.")
    def webhook_event_types(self) -> list[WebhookEventType]:
        return [WebhookEventType(name=name, scope=scope) for name, scope in EVENT_SCOPES.items()]


@strawberry.input
class CreatePartnerAppInput:
    name: str
    scopes: list[str] = strawberry.field(description=f"Some of: {', '.join(SCOPES)}.")


@strawberry.type
class CreatePartnerAppPayload:
    partner_app: PartnerApp | None = None
    client_secret: str | None = strawberry.field(
        default=None, description="Shown this once: only its hash is kept."
    )
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input
class CreateWebhookEndpointInput:
    url: str = strawberry.field(description="An https:// URL that answers 2xx quickly.")
    event_types: list[str] = strawberry.field(description="See `webhookEventTypes`.")
    description: str | None = None


@strawberry.type
class CreateWebhookEndpointPayload:
    endpoint: WebhookEndpoint | None = None
    secret: str | None = strawberry.field(
        default=None,
        description="The signing secret (`whsec_…`), shown this once: verify every delivery "
        "with it (any Standard Webhooks library does).",
    )
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input
class UpdateWebhookEndpointInput:
    endpoint_id: strawberry.ID
    url: str | None = None
    event_types: list[str] | None = None
    description: str | None = None
    active: bool | None = strawberry.field(
        default=None, description="Turn it off, or back on (which forgets why it was off)."
    )


@strawberry.type
class UpdateWebhookEndpointPayload:
    endpoint: WebhookEndpoint | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input
class EndpointInput:
    endpoint_id: strawberry.ID


@strawberry.input
class DeleteWebhookEndpointInput(EndpointInput):
    pass


@strawberry.type
class DeleteWebhookEndpointPayload:
    deleted_endpoint_id: strawberry.ID | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input
class RotateWebhookSecretInput(EndpointInput):
    pass


@strawberry.type
class RotateWebhookSecretPayload:
    endpoint: WebhookEndpoint | None = None
    secret: str | None = strawberry.field(default=None, description="The new secret, shown once.")
    previous_secret_expires_at: dt.datetime | None = strawberry.field(
        default=None, description="Until then deliveries are signed with both secrets."
    )
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input
class SendTestWebhookInput(EndpointInput):
    pass


@strawberry.type
class SendTestWebhookPayload:
    endpoint: WebhookEndpoint | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input
class RedeliverWebhookInput:
    delivery_id: strawberry.ID


@strawberry.type
class RedeliverWebhookPayload:
    delivery: WebhookDelivery | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


async def _checked_url(info: Info, url: str | None) -> list[UserError]:
    """Check where a URL goes before any transaction opens (it may look up DNS)."""
    if url is None:
        return []
    try:
        await info.context.runtime.webhook_guard.check_url(url)
    except DomainError as error:
        return user_errors(error)
    return []


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="Register a partner app and its client credentials (admins only)."
    )
    async def create_partner_app(
        self, info: Info, input: CreatePartnerAppInput
    ) -> CreatePartnerAppPayload:
        actor_id = await info.context.require_viewer()
        result = await mutate(
            info,
            lambda tx: service.register_partner(
                tx, admin_id=actor_id, name=input.name, scopes=input.scopes
            ),
        )
        if isinstance(result, list):
            return CreatePartnerAppPayload(user_errors=result)
        app, secret = result
        return CreatePartnerAppPayload(partner_app=PartnerApp.of(app), client_secret=secret)

    @strawberry.mutation(
        description="Add an endpoint; the payload holds its signing secret, shown this once."
    )
    async def create_webhook_endpoint(
        self, info: Info, input: CreateWebhookEndpointInput
    ) -> CreateWebhookEndpointPayload:
        partner_id = await info.context.require_partner(MANAGE_WEBHOOKS)
        if problems := await _checked_url(info, input.url):
            return CreateWebhookEndpointPayload(user_errors=problems)
        result = await mutate(
            info,
            lambda tx: service.create_endpoint(
                tx,
                partner_id=partner_id,
                url=input.url,
                event_types=input.event_types,
                description=input.description,
            ),
        )
        if isinstance(result, list):
            return CreateWebhookEndpointPayload(user_errors=result)
        endpoint, secret = result
        return CreateWebhookEndpointPayload(endpoint=WebhookEndpoint.of(endpoint), secret=secret)

    @strawberry.mutation(
        description="Change an endpoint's URL, event types or description, or turn it off and on."
    )
    async def update_webhook_endpoint(
        self, info: Info, input: UpdateWebhookEndpointInput
    ) -> UpdateWebhookEndpointPayload:
        partner_id = await info.context.require_partner(MANAGE_WEBHOOKS)
        target = input_id(input.endpoint_id, "WebhookEndpoint", field="endpointId")
        if isinstance(target, list):
            return UpdateWebhookEndpointPayload(user_errors=target)
        if problems := await _checked_url(info, input.url):
            return UpdateWebhookEndpointPayload(user_errors=problems)
        change = service.EndpointChange(
            url=input.url,
            event_types=input.event_types,
            description=input.description,
            active=input.active,
        )
        result = await mutate(
            info,
            lambda tx: service.update_endpoint(
                tx, partner_id=partner_id, endpoint_id=target, change=change
            ),
        )
        if isinstance(result, list):
            return UpdateWebhookEndpointPayload(user_errors=result)
        return UpdateWebhookEndpointPayload(endpoint=WebhookEndpoint.of(result))

    @strawberry.mutation(description="Delete an endpoint, its secrets and its delivery log.")
    async def delete_webhook_endpoint(
        self, info: Info, input: DeleteWebhookEndpointInput
    ) -> DeleteWebhookEndpointPayload:
        partner_id = await info.context.require_partner(MANAGE_WEBHOOKS)
        target = input_id(input.endpoint_id, "WebhookEndpoint", field="endpointId")
        if isinstance(target, list):
            return DeleteWebhookEndpointPayload(user_errors=target)
        result = await mutate(
            info,
            lambda tx: service.delete_endpoint(tx, partner_id=partner_id, endpoint_id=target),
        )
        if isinstance(result, list):
            return DeleteWebhookEndpointPayload(user_errors=result)
        return DeleteWebhookEndpointPayload(deleted_endpoint_id=input.endpoint_id)

    @strawberry.mutation(
        description="Give an endpoint a new signing secret (shown once); the old one keeps "
        "signing beside it for a while (`previousSecretExpiresAt`), so receivers can switch."
    )
    async def rotate_webhook_secret(
        self, info: Info, input: RotateWebhookSecretInput
    ) -> RotateWebhookSecretPayload:
        partner_id = await info.context.require_partner(MANAGE_WEBHOOKS)
        target = input_id(input.endpoint_id, "WebhookEndpoint", field="endpointId")
        if isinstance(target, list):
            return RotateWebhookSecretPayload(user_errors=target)
        overlap = info.context.runtime.settings.webhook_secret_overlap
        result = await mutate(
            info,
            lambda tx: service.rotate_secret(
                tx, partner_id=partner_id, endpoint_id=target, overlap=overlap
            ),
        )
        if isinstance(result, list):
            return RotateWebhookSecretPayload(user_errors=result)
        endpoint, secret, expires_at = result
        return RotateWebhookSecretPayload(
            endpoint=WebhookEndpoint.of(endpoint),
            secret=secret,
            previous_secret_expires_at=expires_at,
        )

    @strawberry.mutation(description="Send a `webhook.test` event to one endpoint.")
    async def send_test_webhook(
        self, info: Info, input: SendTestWebhookInput
    ) -> SendTestWebhookPayload:
        partner_id = await info.context.require_partner(MANAGE_WEBHOOKS)
        target = input_id(input.endpoint_id, "WebhookEndpoint", field="endpointId")
        if isinstance(target, list):
            return SendTestWebhookPayload(user_errors=target)
        result = await mutate(
            info, lambda tx: service.send_test(tx, partner_id=partner_id, endpoint_id=target)
        )
        if isinstance(result, list):
            return SendTestWebhookPayload(user_errors=result)
        return SendTestWebhookPayload(endpoint=WebhookEndpoint.of(result))

    @strawberry.mutation(
        description="Send a finished delivery again now, with the same `webhook-id` and body."
    )
    async def redeliver_webhook(
        self, info: Info, input: RedeliverWebhookInput
    ) -> RedeliverWebhookPayload:
        partner_id = await info.context.require_partner(MANAGE_WEBHOOKS)
        target = input_id(input.delivery_id, "WebhookDelivery", field="deliveryId")
        if isinstance(target, list):
            return RedeliverWebhookPayload(user_errors=target)
        result = await mutate(
            info, lambda tx: service.redeliver(tx, partner_id=partner_id, delivery_id=target)
        )
        if isinstance(result, list):
            return RedeliverWebhookPayload(user_errors=result)
        return RedeliverWebhookPayload(delivery=WebhookDelivery.of(result))


NODES = (PartnerApp, WebhookEndpoint, WebhookDelivery)
