"""Partner apps, their credentials, and their webhook endpoints: the commands and reads.

Client secrets and signing secrets are random and shown once, when made. A client secret is
kept only as a hash; a signing secret is kept as is, since every delivery is signed with it.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Sequence

from sqlalchemy import delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.errors import Code, DomainError, invalid, not_found
from domain.events import WebhookTestRequested
from domain.members.models import Member
from domain.paging import Page, id_page
from domain.partners.models import (
    Admin,
    DeliveryStatus,
    PartnerApp,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookSecret,
)
from domain.partners.rules import check_event_types, check_scopes, parse_url
from domain.store import Transaction

CLIENT_ID_PREFIX = "rpa_"
CLIENT_SECRET_PREFIX = "rps_"
SIGNING_SECRET_PREFIX = "whsec_"
MAX_NAME = 80
MAX_DESCRIPTION = 500


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


# --- Admins and partner apps --------------------------------------------------------------


async def set_admin(tx: Transaction, *, handle: str, admin: bool) -> Member:
    """Grant (or take back) the right to register partner apps."""
    member = await tx.session.scalar(select(Member).where(Member.handle == handle.lower()))
    if member is None:
        raise not_found(f"member @{handle}", "handle")
    found = await tx.session.get(Admin, member.id)
    if admin and found is None:
        tx.session.add(Admin(member_id=member.id, granted_at=tx.now))
    elif not admin and found is not None:
        await tx.session.delete(found)
    await tx.session.flush()
    return member


async def is_admin(session: AsyncSession, member_id: int) -> bool:
    return await session.get(Admin, member_id) is not None


async def create_partner(
    tx: Transaction, *, name: str, scopes: Sequence[str], created_by_id: int | None
) -> tuple[PartnerApp, str]:
    """Register a partner app; return it with its client secret (shown this once)."""
    clean = " ".join(name.split())
    if not clean or len(clean) > MAX_NAME:
        raise invalid(f"a name of 1 to {MAX_NAME} characters", "name")
    client_secret = CLIENT_SECRET_PREFIX + secrets.token_urlsafe(32)
    app = PartnerApp(
        name=clean,
        client_id=CLIENT_ID_PREFIX + secrets.token_hex(10),
        secret_hash=_digest(client_secret),
        scopes=check_scopes(scopes),
        active=True,
        created_by_id=created_by_id,
        created_at=tx.now,
    )
    tx.session.add(app)
    await tx.session.flush()
    return app, client_secret


async def authenticate(
    session: AsyncSession, client_id: str, client_secret: str
) -> PartnerApp | None:
    """Return the active app these client credentials belong to, or None."""
    app = await session.scalar(select(PartnerApp).where(PartnerApp.client_id == client_id))
    # Compare even when no app was found, so timing does not tell which ids exist.
    expected = app.secret_hash if app is not None else _digest("")
    matches = hmac.compare_digest(expected, _digest(client_secret))
    return app if app is not None and app.active and matches else None


async def register_partner(
    tx: Transaction, *, admin_id: int, name: str, scopes: Sequence[str]
) -> tuple[PartnerApp, str]:
    """Register a partner app for an admin (FORBIDDEN for anyone else)."""
    if not await is_admin(tx.session, admin_id):
        raise DomainError(Code.FORBIDDEN, "only an admin registers partner apps")
    return await create_partner(tx, name=name, scopes=scopes, created_by_id=admin_id)


async def partner(session: AsyncSession, partner_id: int) -> PartnerApp | None:
    """Return an active partner app by id."""
    app = await session.get(PartnerApp, partner_id)
    return app if app is not None and app.active else None


async def partners(session: AsyncSession) -> list[PartnerApp]:
    return list(await session.scalars(select(PartnerApp).order_by(PartnerApp.id)))


async def set_partner_active(tx: Transaction, *, client_id: str, active: bool) -> PartnerApp:
    """Turn an app off (its tokens stop working at once) or back on."""
    app = await tx.session.scalar(select(PartnerApp).where(PartnerApp.client_id == client_id))
    if app is None:
        raise not_found(f"partner app {client_id}", "client_id")
    app.active = active
    await tx.session.flush()
    return app


# --- Endpoints ---------------------------------------------------------------------------


def new_signing_secret() -> str:
    """Return a Standard Webhooks secret: ``whsec_`` and 32 random bytes in base64."""
    return SIGNING_SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def _description(text: str | None) -> str:
    clean = (text or "").strip()
    if len(clean) > MAX_DESCRIPTION:
        raise invalid(f"a description has at most {MAX_DESCRIPTION} characters", "description")
    return clean


async def _app(tx: Transaction, partner_id: int) -> PartnerApp:
    app = await tx.session.get(PartnerApp, partner_id)
    if app is None or not app.active:
        raise DomainError(Code.FORBIDDEN, "this partner app is disabled")
    return app


async def create_endpoint(
    tx: Transaction,
    *,
    partner_id: int,
    url: str,
    event_types: Sequence[str],
    description: str | None,
) -> tuple[WebhookEndpoint, str]:
    """Add an endpoint; return it with its signing secret (shown this once). The caller has
    checked where the URL resolves (``domain.partners.rules.check_target``)."""
    app = await _app(tx, partner_id)
    parse_url(url)
    endpoint = WebhookEndpoint(
        partner_id=partner_id,
        url=url.strip(),
        description=_description(description),
        event_types=check_event_types(event_types, app.scopes),
        active=True,
        created_at=tx.now,
        updated_at=tx.now,
    )
    tx.session.add(endpoint)
    await tx.session.flush()
    secret = new_signing_secret()
    tx.session.add(WebhookSecret(endpoint_id=endpoint.id, secret=secret, created_at=tx.now))
    await tx.session.flush()
    return endpoint, secret


async def own_endpoint(tx: Transaction, partner_id: int, endpoint_id: int) -> WebhookEndpoint:
    """Return one of the partner's endpoints, locked; NOT_FOUND for anyone else's."""
    endpoint = await tx.session.get(
        WebhookEndpoint, endpoint_id, with_for_update=True, populate_existing=True
    )
    if endpoint is None or endpoint.partner_id != partner_id:
        raise not_found("webhook endpoint", "endpoint_id")
    return endpoint


@dataclasses.dataclass(frozen=True)
class EndpointChange:
    url: str | None = None
    event_types: Sequence[str] | None = None
    description: str | None = None
    active: bool | None = None


async def update_endpoint(
    tx: Transaction, *, partner_id: int, endpoint_id: int, change: EndpointChange
) -> WebhookEndpoint:
    """Change an endpoint; turning it back on clears why it was off and its failing streak."""
    app = await _app(tx, partner_id)
    endpoint = await own_endpoint(tx, partner_id, endpoint_id)
    if change.url is not None:
        parse_url(change.url)
        endpoint.url = change.url.strip()
    if change.event_types is not None:
        endpoint.event_types = check_event_types(change.event_types, app.scopes)
    if change.description is not None:
        endpoint.description = _description(change.description)
    if change.active is not None:
        endpoint.active = change.active
        endpoint.disabled_reason = None if change.active else "turned off by the partner"
        endpoint.failing_since = None
    endpoint.updated_at = tx.now
    await tx.session.flush()
    return endpoint


async def delete_endpoint(tx: Transaction, *, partner_id: int, endpoint_id: int) -> int:
    """Delete an endpoint with its secrets and delivery log; return its id."""
    await _app(tx, partner_id)
    endpoint = await own_endpoint(tx, partner_id, endpoint_id)
    deliveries = select(WebhookDelivery.id).where(WebhookDelivery.endpoint_id == endpoint.id)
    await tx.session.execute(
        delete(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(deliveries))
    )
    for table in (WebhookDelivery, WebhookSecret):
        await tx.session.execute(delete(table).where(table.endpoint_id == endpoint.id))
    await tx.session.delete(endpoint)
    await tx.session.flush()
    return endpoint_id


async def rotate_secret(
    tx: Transaction, *, partner_id: int, endpoint_id: int, overlap: dt.timedelta
) -> tuple[WebhookEndpoint, str, dt.datetime]:
    """Give an endpoint a new signing secret; the ones before it sign too until ``overlap``
    has passed. Return the endpoint, the new secret (shown this once) and when the old ones
    stop signing."""
    await _app(tx, partner_id)
    endpoint = await own_endpoint(tx, partner_id, endpoint_id)
    ends = tx.now + overlap
    current = await tx.session.scalars(
        select(WebhookSecret).where(
            WebhookSecret.endpoint_id == endpoint.id,
            or_(WebhookSecret.expires_at.is_(None), WebhookSecret.expires_at > ends),
        )
    )
    for old in current:
        old.expires_at = ends
    secret = new_signing_secret()
    tx.session.add(WebhookSecret(endpoint_id=endpoint.id, secret=secret, created_at=tx.now))
    endpoint.updated_at = tx.now
    await tx.session.flush()
    return endpoint, secret, ends


async def signing_secrets(
    session: AsyncSession, endpoint_ids: Sequence[int], now: dt.datetime
) -> dict[int, list[str]]:
    """Return each endpoint's secrets that sign now, newest first."""
    rows = await session.execute(
        select(WebhookSecret.endpoint_id, WebhookSecret.secret)
        .where(
            WebhookSecret.endpoint_id.in_(endpoint_ids),
            or_(WebhookSecret.expires_at.is_(None), WebhookSecret.expires_at > now),
        )
        .order_by(WebhookSecret.id.desc())
    )
    found: dict[int, list[str]] = {}
    for endpoint_id, secret in rows:
        found.setdefault(endpoint_id, []).append(secret)
    return found


async def send_test(tx: Transaction, *, partner_id: int, endpoint_id: int) -> WebhookEndpoint:
    """Queue a ``webhook.test`` event for one endpoint (delivered like any other)."""
    await _app(tx, partner_id)
    endpoint = await own_endpoint(tx, partner_id, endpoint_id)
    if not endpoint.active:
        raise DomainError(
            Code.INVALID_TRANSITION,
            "this endpoint is turned off; turn it on first (updateWebhookEndpoint active: true)",
            "endpoint_id",
        )
    tx.emit(WebhookTestRequested(endpoint_id=endpoint.id, partner_id=partner_id))
    return endpoint


async def redeliver(tx: Transaction, *, partner_id: int, delivery_id: int) -> WebhookDelivery:
    """Send a finished delivery again, now, with its `webhook-id` and body unchanged."""
    await _app(tx, partner_id)
    delivery = await tx.session.get(
        WebhookDelivery, delivery_id, with_for_update=True, populate_existing=True
    )
    endpoint = await tx.session.get(WebhookEndpoint, delivery.endpoint_id) if delivery else None
    if delivery is None or endpoint is None or endpoint.partner_id != partner_id:
        raise not_found("webhook delivery", "delivery_id")
    if delivery.status is DeliveryStatus.PENDING:
        raise DomainError(
            Code.INVALID_TRANSITION,
            "this delivery is still being tried; its next attempt is at "
            f"{delivery.next_attempt_at.isoformat() if delivery.next_attempt_at else 'once due'}",
            "delivery_id",
        )
    delivery.status = DeliveryStatus.PENDING
    delivery.step = 0
    delivery.next_attempt_at = tx.now
    delivery.finished_at = None
    await tx.session.flush()
    return delivery


# --- Reading ------------------------------------------------------------------------------


async def endpoints_of(
    session: AsyncSession,
    partner_id: int,
    *,
    limit: int,
    after: int | None = None,
    before: int | None = None,
    backward: bool = False,
) -> Page[WebhookEndpoint]:
    """Return a page of the partner's endpoints, oldest first."""
    return await id_page(
        session,
        select(WebhookEndpoint).where(WebhookEndpoint.partner_id == partner_id),
        WebhookEndpoint.id,
        newest_first=False,
        limit=limit,
        after=after,
        before=before,
        backward=backward,
    )


async def deliveries_of(
    session: AsyncSession,
    endpoint_id: int,
    *,
    statuses: Sequence[DeliveryStatus] = (),
    limit: int,
    after: int | None = None,
    before: int | None = None,
    backward: bool = False,
) -> Page[WebhookDelivery]:
    """Return a page of an endpoint's deliveries, newest first."""
    statement = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)
    if statuses:
        statement = statement.where(WebhookDelivery.status.in_(statuses))
    return await id_page(
        session,
        statement,
        WebhookDelivery.id,
        newest_first=True,
        limit=limit,
        after=after,
        before=before,
        backward=backward,
    )


async def attempts_of(
    session: AsyncSession, delivery_ids: Sequence[int]
) -> dict[int, list[WebhookAttempt]]:
    """Return each delivery's attempts, oldest first."""
    found: dict[int, list[WebhookAttempt]] = {i: [] for i in delivery_ids}
    rows = await session.scalars(
        select(WebhookAttempt)
        .where(WebhookAttempt.delivery_id.in_(delivery_ids))
        .order_by(WebhookAttempt.delivery_id, WebhookAttempt.id)
    )
    for row in rows:
        found[row.delivery_id].append(row)
    return found


async def partner_endpoints(
    session: AsyncSession, partner_id: int, ids: Sequence[int]
) -> dict[int, WebhookEndpoint]:
    """Return the partner's own endpoints among these ids."""
    rows = await session.scalars(
        select(WebhookEndpoint).where(
            WebhookEndpoint.id.in_(ids), WebhookEndpoint.partner_id == partner_id
        )
    )
    return {row.id: row for row in rows}


async def partner_deliveries(
    session: AsyncSession, partner_id: int, ids: Sequence[int]
) -> dict[int, WebhookDelivery]:
    """Return the deliveries to the partner's own endpoints among these ids."""
    rows = await session.scalars(
        select(WebhookDelivery)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(WebhookDelivery.id.in_(ids), WebhookEndpoint.partner_id == partner_id)
    )
    return {row.id: row for row in rows}
