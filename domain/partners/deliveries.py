"""Webhook deliveries: made from the outbox, claimed by workers, retried, finished.

- **Made.** The webhooks consumer turns each outbox event into one delivery per active
  endpoint that subscribes to its type and whose app may read it, with the exact body every
  attempt will send and a `webhook-id` of its own (``ON CONFLICT DO NOTHING``: an event seen
  twice makes its deliveries once).
- **Claimed.** A worker locks due deliveries (``FOR UPDATE SKIP LOCKED`` on PostgreSQL),
  counts the attempt and leases it (``next_attempt_at`` moves to the lease's end), commits,
  and only then sends: no transaction stays open across the network. A worker that dies
  mid-attempt leaves the delivery due again when the lease ends; no two workers hold the
  same attempt at once.
- **Recorded.** The answer is logged as an attempt. A 2xx finishes the delivery; a 410 Gone
  turns the endpoint off; anything else waits for the schedule's next step (at least as
  long as a 429/503's ``Retry-After``), and after the last step the delivery has failed.
  An endpoint failing for ``disable_after`` on end is turned off, and its app told
  (``webhook_endpoint.disabled``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import secrets
from collections import Counter
from collections.abc import Callable, Sequence

from sqlalchemy import delete, select

from domain.events import OutboxEvent, WebhookEndpointDisabled
from domain.partners.models import (
    DeliveryStatus,
    PartnerApp,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from domain.partners.rules import EVENT_SCOPES, DeliveryPolicy, may_read
from domain.partners.service import signing_secrets
from domain.store import Transaction, insert_ignoring_conflicts

# What the webhooks consumer asks the outbox for.
DELIVERED_TYPES = frozenset(EVENT_SCOPES)
# At most this much of an answer is kept in the log.
MAX_LOGGED_BODY = 2048

Render = Callable[[OutboxEvent], str]


def message_id() -> str:
    """Return a new `webhook-id`."""
    return "msg_" + secrets.token_urlsafe(18)


async def create_deliveries(tx: Transaction, event: OutboxEvent, render: Render) -> int:
    """Make the deliveries of one outbox event; return how many were new."""
    statement = (
        select(WebhookEndpoint.id, WebhookEndpoint.event_types, PartnerApp.scopes)
        .join(PartnerApp, PartnerApp.id == WebhookEndpoint.partner_id)
        .where(WebhookEndpoint.active.is_(True), PartnerApp.active.is_(True))
    )
    if event.type == "webhook.test":
        statement = statement.where(WebhookEndpoint.id == event.payload["endpoint_id"])
    elif event.type == "webhook_endpoint.disabled":
        statement = statement.where(WebhookEndpoint.partner_id == event.payload["partner_id"])
    endpoint_ids = [
        endpoint_id
        for endpoint_id, event_types, scopes in await tx.session.execute(statement)
        # A test goes to its endpoint whatever it subscribes to.
        if (event.type == "webhook.test" or event.type in event_types)
        and may_read(scopes, event.type)
    ]
    if not endpoint_ids:
        return 0
    body = render(event)
    rows = [
        {
            "endpoint_id": endpoint_id,
            "event_id": event.id,
            "message_id": message_id(),
            "event_type": event.type,
            "body": body,
            "status": DeliveryStatus.PENDING,
            "attempts": 0,
            "step": 0,
            "next_attempt_at": tx.now,
            "created_at": tx.now,
        }
        for endpoint_id in endpoint_ids
    ]
    insert = insert_ignoring_conflicts(
        tx.dialect, WebhookDelivery.__table__, ["endpoint_id", "event_id"]
    )
    result = await tx.session.execute(insert, rows)
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


@dataclasses.dataclass(frozen=True)
class Claim:
    """One attempt a worker holds: what to send, where, and signed with what."""

    delivery_id: int
    number: int  # the delivery's attempt count, this one included
    endpoint_id: int
    url: str
    message_id: str
    event_type: str
    body: str
    secrets: tuple[str, ...]


async def claim_due(
    tx: Transaction,
    *,
    limit: int,
    policy: DeliveryPolicy,
    skip_endpoints: Sequence[int] = (),
    per_endpoint: int | None = None,
) -> list[Claim]:
    """Lease up to ``limit`` due deliveries to active endpoints, at most ``per_endpoint`` to
    any one (none to those in ``skip_endpoints``, which this worker is busy with), oldest
    due first, and count their attempts."""
    statement = (
        select(WebhookDelivery, WebhookEndpoint.url)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .join(PartnerApp, PartnerApp.id == WebhookEndpoint.partner_id)
        .where(
            WebhookDelivery.status == DeliveryStatus.PENDING,
            WebhookDelivery.next_attempt_at <= tx.now,
            WebhookEndpoint.active.is_(True),
            PartnerApp.active.is_(True),
        )
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        # Room to skip an endpoint's surplus and still fill the slots.
        .limit(limit * 4 if per_endpoint else limit)
        .with_for_update(of=WebhookDelivery, skip_locked=True)
    )
    if skip_endpoints:
        statement = statement.where(WebhookDelivery.endpoint_id.not_in(skip_endpoints))
    rows = [(row[0], row[1]) for row in await tx.session.execute(statement)]
    taken: Counter[int] = Counter()
    found: list[tuple[WebhookDelivery, str]] = []
    for delivery, url in rows:
        if len(found) == limit:
            break
        if per_endpoint is not None and taken[delivery.endpoint_id] >= per_endpoint:
            continue
        taken[delivery.endpoint_id] += 1
        found.append((delivery, url))
    if not found:
        return []
    keys = await signing_secrets(tx.session, sorted({d.endpoint_id for d, _ in found}), tx.now)
    claims = []
    for delivery, url in found:
        delivery.attempts += 1
        delivery.step += 1
        delivery.next_attempt_at = tx.now + policy.lease
        claims.append(
            Claim(
                delivery_id=delivery.id,
                number=delivery.attempts,
                endpoint_id=delivery.endpoint_id,
                url=url,
                message_id=delivery.message_id,
                event_type=delivery.event_type,
                body=delivery.body,
                secrets=tuple(keys.get(delivery.endpoint_id, ())),
            )
        )
    await tx.session.flush()
    return claims


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What one POST got back (``status_code`` None: no answer, ``error`` says why)."""

    started_at: dt.datetime
    duration_ms: int
    status_code: int | None = None
    error: str | None = None
    response_body: str | None = None
    retry_after: dt.timedelta | None = None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


async def record(
    tx: Transaction, claim: Claim, outcome: Outcome, policy: DeliveryPolicy
) -> WebhookDelivery | None:
    """Log an attempt and move its delivery on; None if the delivery is gone (its endpoint
    was deleted). An attempt whose lease another worker took over is logged, nothing more."""
    delivery = await tx.session.get(
        WebhookDelivery, claim.delivery_id, with_for_update=True, populate_existing=True
    )
    if delivery is None:
        return None
    tx.session.add(
        WebhookAttempt(
            delivery_id=delivery.id,
            number=claim.number,
            started_at=outcome.started_at,
            duration_ms=outcome.duration_ms,
            status_code=outcome.status_code,
            error=outcome.error[:300] if outcome.error else None,
            response_body=outcome.response_body[:MAX_LOGGED_BODY]
            if outcome.response_body
            else None,
        )
    )
    if delivery.status is not DeliveryStatus.PENDING or delivery.attempts != claim.number:
        await tx.session.flush()
        return delivery
    endpoint = await tx.session.get_one(
        WebhookEndpoint, delivery.endpoint_id, with_for_update=True, populate_existing=True
    )
    delivery.last_status_code = outcome.status_code
    delivery.last_error = outcome.error[:300] if outcome.error else None
    if outcome.succeeded:
        delivery.status, delivery.finished_at, delivery.next_attempt_at = (
            DeliveryStatus.SUCCEEDED,
            tx.now,
            None,
        )
        endpoint.failing_since = None
    elif outcome.status_code == 410:
        _finish_failed(tx, delivery)
        _disable(tx, endpoint, "the endpoint answered 410 Gone")
    else:
        wait = policy.next_wait(delivery.step, outcome.retry_after)
        if wait is None:
            _finish_failed(tx, delivery)
        else:
            delivery.next_attempt_at = tx.now + wait
        if endpoint.failing_since is None:
            endpoint.failing_since = outcome.started_at
        elif tx.now - endpoint.failing_since >= policy.disable_after and endpoint.active:
            days = policy.disable_after.total_seconds() / 86400
            _disable(tx, endpoint, f"every attempt failed for {days:g} days")
    await tx.session.flush()
    return delivery


def _finish_failed(tx: Transaction, delivery: WebhookDelivery) -> None:
    delivery.status, delivery.finished_at, delivery.next_attempt_at = (
        DeliveryStatus.FAILED,
        tx.now,
        None,
    )


def _disable(tx: Transaction, endpoint: WebhookEndpoint, reason: str) -> None:
    endpoint.active = False
    endpoint.disabled_reason = reason
    endpoint.updated_at = tx.now
    tx.emit(
        WebhookEndpointDisabled(
            endpoint_id=endpoint.id, partner_id=endpoint.partner_id, reason=reason
        )
    )


async def purge(tx: Transaction, *, older_than: dt.timedelta) -> int:
    """Delete deliveries made before ``older_than`` ago, with their attempts: finished ones,
    and those still waiting for an endpoint or app that has been off all that time."""
    old = select(WebhookDelivery.id).where(WebhookDelivery.created_at < tx.now - older_than)
    await tx.session.execute(delete(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(old)))
    result = await tx.session.execute(delete(WebhookDelivery).where(WebhookDelivery.id.in_(old)))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
