"""Tables of partner apps, their webhook endpoints and signing secrets, and deliveries."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from domain.store import Base, Id, enum_column


class Admin(Base):
    """A member who may register partner apps (granted by an operator: ``python -m api admin``)."""

    __tablename__ = "admins"

    member_id: Mapped[int] = mapped_column(
        Id, ForeignKey("members.id", ondelete="CASCADE"), primary_key=True
    )
    granted_at: Mapped[dt.datetime]


class PartnerApp(Base):
    """A partner's app: client credentials (the secret kept only as a hash) and scopes."""

    __tablename__ = "partner_apps"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(80))
    client_id: Mapped[str] = mapped_column(String(40), unique=True)
    # SHA-256 of a 256-bit random secret: a slow hash buys nothing against a secret no one
    # chose, and costs every token exchange.
    secret_hash: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[list[str]] = mapped_column(JSON)
    active: Mapped[bool] = mapped_column(default=True)
    created_by_id: Mapped[int | None] = mapped_column(Id, ForeignKey("members.id"))
    created_at: Mapped[dt.datetime]


class WebhookEndpoint(Base):
    """A URL of a partner's that receives the event types it names."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    partner_id: Mapped[int] = mapped_column(
        Id, ForeignKey("partner_apps.id", ondelete="CASCADE"), index=True
    )
    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str] = mapped_column(String(500), default="")
    event_types: Mapped[list[str]] = mapped_column(JSON)
    active: Mapped[bool] = mapped_column(default=True)
    # Why it was turned off: the partner, a 410 Gone, or failing for days on end.
    disabled_reason: Mapped[str | None] = mapped_column(String(300))
    # The first failure since the last success: failing for too long disables the endpoint.
    failing_since: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]


class WebhookSecret(Base):
    """A signing secret of an endpoint; after a rotation the old one signs until it expires."""

    __tablename__ = "webhook_secrets"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    endpoint_id: Mapped[int] = mapped_column(
        Id, ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), index=True
    )
    # Kept as is: signing needs it (it is shown to the partner once, when made).
    secret: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime | None]


class DeliveryStatus(enum.Enum):
    PENDING = "PENDING"  # waiting for its next attempt (or in one)
    SUCCEEDED = "SUCCEEDED"  # the endpoint answered 2xx
    FAILED = "FAILED"  # every attempt of the schedule failed, or the endpoint is gone


class WebhookDelivery(Base):
    """One event to one endpoint: the exact body every attempt sends, and where it stands."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    endpoint_id: Mapped[int] = mapped_column(
        Id, ForeignKey("webhook_endpoints.id", ondelete="CASCADE")
    )
    event_id: Mapped[int] = mapped_column(Id, ForeignKey("outbox_events.id", ondelete="CASCADE"))
    # `webhook-id`: the same on every attempt and redelivery, so partners can deduplicate.
    message_id: Mapped[str] = mapped_column(String(40), unique=True)
    event_type: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[DeliveryStatus] = mapped_column(enum_column(DeliveryStatus))
    attempts: Mapped[int] = mapped_column(default=0)
    # Attempts made since the schedule last started (a redelivery starts it again).
    step: Mapped[int] = mapped_column(default=0)
    # When a pending delivery is due; while an attempt is in flight, when its lease ends.
    next_attempt_at: Mapped[dt.datetime | None]
    last_status_code: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[dt.datetime]
    finished_at: Mapped[dt.datetime | None]

    __table_args__ = (
        UniqueConstraint("endpoint_id", "event_id"),
        Index(None, "status", "next_attempt_at"),
        Index(None, "endpoint_id", "id"),
        Index(None, "created_at"),
    )


class WebhookAttempt(Base):
    """One POST of a delivery and what came back."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    delivery_id: Mapped[int] = mapped_column(
        Id, ForeignKey("webhook_deliveries.id", ondelete="CASCADE")
    )
    number: Mapped[int]
    started_at: Mapped[dt.datetime]
    duration_ms: Mapped[int]
    status_code: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(String(300))
    # The start of the answer, for the partner's debugging (at most a few KiB are read).
    response_body: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index(None, "delivery_id", "id"),)
