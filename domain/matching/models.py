"""Opportunities: something one member can act on now, with its score and reasons."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from domain.store import Base, Id, enum_column


class OpportunityKind(enum.Enum):
    HELP_REQUEST = "HELP_REQUEST"  # a request the member is well placed to help with
    IOU_CALLED_IN = "IOU_CALLED_IN"  # someone the member owes asks for help in return
    GOAL = "GOAL"  # a connection's new goal the member's gives or skills fit
    INTRO = "INTRO"  # an intro waiting on the member as its broker
    COOLING = "COOLING"  # a relationship that has gone quiet


class SubjectType(enum.Enum):
    HELP_REQUEST = "HELP_REQUEST"
    GOAL = "GOAL"
    INTRO = "INTRO"
    IOU = "IOU"
    RELATIONSHIP = "RELATIONSHIP"


class OpportunityStatus(enum.Enum):
    NEW = "NEW"
    SEEN = "SEEN"
    ACTED = "ACTED"
    DISMISSED = "DISMISSED"


class DismissReason(enum.Enum):
    NOT_RELEVANT = "NOT_RELEVANT"  # matching stops offering this author's asks after two
    NO_TIME = "NO_TIME"  # matching pauses help requests for the member for a week
    DONT_KNOW_THEM = "DONT_KNOW_THEM"
    OTHER = "OTHER"


class Opportunity(Base):
    """One subject offered to one member, once: a dismissed subject is never offered again."""

    __tablename__ = "opportunities"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    member_id: Mapped[int] = mapped_column(Id, ForeignKey("members.id", ondelete="CASCADE"))
    kind: Mapped[OpportunityKind] = mapped_column(enum_column(OpportunityKind))
    subject_type: Mapped[SubjectType] = mapped_column(enum_column(SubjectType))
    subject_id: Mapped[int] = mapped_column(Id)
    # The member whose ask or goal it is (None for the member's own relationship).
    source_member_id: Mapped[int | None] = mapped_column(
        Id, ForeignKey("members.id", ondelete="CASCADE")
    )
    score: Mapped[float]
    # [{"code", "label", "subject_type", "subject_id"}], strongest first.
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    status: Mapped[OpportunityStatus] = mapped_column(enum_column(OpportunityStatus))
    # Whether it was pushed live (not during quiet hours, not past the daily cap).
    pushed: Mapped[bool]
    created_at: Mapped[dt.datetime]
    seen_at: Mapped[dt.datetime | None]
    acted_at: Mapped[dt.datetime | None]
    dismissed_at: Mapped[dt.datetime | None]
    dismiss_reason: Mapped[DismissReason | None] = mapped_column(enum_column(DismissReason))
    # The outbox event that caused it.
    event_id: Mapped[int | None] = mapped_column(Id)

    __table_args__ = (
        UniqueConstraint("member_id", "subject_type", "subject_id"),
        Index(None, "member_id", "id"),
        Index(None, "member_id", "status", "id"),
        Index(None, "member_id", "created_at"),
        Index(None, "member_id", "source_member_id", "dismiss_reason"),
    )
