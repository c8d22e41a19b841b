"""Tables of the marketplace: help requests, who they are shown to, and offers of help."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from domain.marketplace.rules import (
    AudienceScope,
    HelpRequestKind,
    HelpRequestStatus,
    OfferStatus,
    Settlement,
)
from domain.store import Base, Id, enum_column


class HelpRequest(Base):
    """An ask: what is needed, for whom it is shown, and what the helper gets."""

    __tablename__ = "help_requests"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    author_id: Mapped[int] = mapped_column(Id, ForeignKey("members.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(140))
    details: Mapped[str | None] = mapped_column(Text)
    kind: Mapped[HelpRequestKind] = mapped_column(enum_column(HelpRequestKind))
    status: Mapped[HelpRequestStatus] = mapped_column(enum_column(HelpRequestStatus))
    audience_scope: Mapped[AudienceScope] = mapped_column(enum_column(AudienceScope))
    # Karma held in escrow from posting to completion (the ledger issue moves it).
    bounty: Mapped[int | None]
    offers_iou: Mapped[bool]
    max_helpers: Mapped[int]
    accepted_count: Mapped[int] = mapped_column(default=0)
    expires_at: Mapped[dt.datetime]
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]
    closed_at: Mapped[dt.datetime | None]
    # What full-text search indexes: title, details and tag labels.
    search_text: Mapped[str] = mapped_column(Text)

    __table_args__ = (
        Index(None, "status", "created_at"),
        # The feed's newest-first key: the 21 newest rows, not a sort of them all.
        Index(None, "created_at", "id"),
        Index(None, "author_id", "status"),
        Index(None, "status", "expires_at"),
    )


class HelpRequestTag(Base):
    __tablename__ = "help_request_tags"

    help_request_id: Mapped[int] = mapped_column(
        Id, ForeignKey("help_requests.id", ondelete="CASCADE"), primary_key=True
    )
    tag_id: Mapped[int] = mapped_column(Id, ForeignKey("tags.id"), primary_key=True, index=True)
    position: Mapped[int]


class HelpRequestCircle(Base):
    """A circle a request with the CIRCLES audience is shown to."""

    __tablename__ = "help_request_circles"

    help_request_id: Mapped[int] = mapped_column(
        Id, ForeignKey("help_requests.id", ondelete="CASCADE"), primary_key=True
    )
    circle_id: Mapped[int] = mapped_column(
        Id, ForeignKey("circles.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class HelpRequestMember(Base):
    """A member a request with the MEMBERS (or SUGGESTED) audience is shown to."""

    __tablename__ = "help_request_members"

    help_request_id: Mapped[int] = mapped_column(
        Id, ForeignKey("help_requests.id", ondelete="CASCADE"), primary_key=True
    )
    member_id: Mapped[int] = mapped_column(
        Id, ForeignKey("members.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class Offer(Base):
    """A member's offer of help on a request, through its states."""

    __tablename__ = "offers"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    help_request_id: Mapped[int] = mapped_column(
        Id, ForeignKey("help_requests.id", ondelete="CASCADE")
    )
    helper_id: Mapped[int] = mapped_column(Id, ForeignKey("members.id", ondelete="CASCADE"))
    message: Mapped[str | None] = mapped_column(String(1000))
    status: Mapped[OfferStatus] = mapped_column(enum_column(OfferStatus))
    created_at: Mapped[dt.datetime]
    responded_at: Mapped[dt.datetime | None]
    completed_at: Mapped[dt.datetime | None]
    settlement: Mapped[Settlement | None] = mapped_column(enum_column(Settlement))
    tip: Mapped[int | None]
    note: Mapped[str | None] = mapped_column(String(1000))

    __table_args__ = (
        Index(None, "help_request_id", "status"),
        Index(None, "helper_id", "status"),
    )
