"""Tables of members, their profiles, and their sign-in sessions."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from domain.store import Base, Id, enum_column


class Visibility(enum.Enum):
    """Who may see a profile, or a part of it."""

    EVERYONE = "EVERYONE"
    NETWORK = "NETWORK"
    CONNECTIONS = "CONNECTIONS"
    ONLY_ME = "ONLY_ME"


class TagKind(enum.Enum):
    SKILL = "SKILL"
    TOPIC = "TOPIC"
    INDUSTRY = "INDUSTRY"
    PLACE = "PLACE"


class TagRole(enum.Enum):
    """What a tag means on a member's profile."""

    SKILL = "SKILL"
    INTEREST = "INTEREST"
    SEEK = "SEEK"


class GoalKind(enum.Enum):
    EVENT = "EVENT"
    HIRING = "HIRING"
    FUNDRAISING = "FUNDRAISING"
    LAUNCH = "LAUNCH"
    CLIENTS = "CLIENTS"
    LEARNING = "LEARNING"
    CAREER = "CAREER"
    OTHER = "OTHER"


class GoalStatus(enum.Enum):
    ACTIVE = "ACTIVE"
    ACHIEVED = "ACHIEVED"
    ABANDONED = "ABANDONED"


class Tag(Base):
    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    slug: Mapped[str] = mapped_column(String(40), unique=True)
    label: Mapped[str] = mapped_column(String(60))
    kind: Mapped[TagKind] = mapped_column(enum_column(TagKind))
    created_at: Mapped[dt.datetime]


class Member(Base):
    __tablename__ = "members"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(String(254))
    # Emails are unique case-insensitively: this is the casefolded address.
    email_key: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    handle: Mapped[str] = mapped_column(String(30), unique=True)
    display_name: Mapped[str] = mapped_column(String(80))
    headline: Mapped[str | None] = mapped_column(String(140))
    bio: Mapped[str | None] = mapped_column(Text)
    location: Mapped[str | None] = mapped_column(String(100))
    timezone: Mapped[str | None] = mapped_column(String(64))
    help_requests_per_week: Mapped[int]
    quiet_hours_start: Mapped[dt.time | None]
    quiet_hours_end: Mapped[dt.time | None]
    visibility: Mapped[Visibility] = mapped_column(enum_column(Visibility))
    location_visibility: Mapped[Visibility] = mapped_column(enum_column(Visibility))
    seeks_visibility: Mapped[Visibility] = mapped_column(enum_column(Visibility))
    gives_visibility: Mapped[Visibility] = mapped_column(enum_column(Visibility))
    goals_visibility: Mapped[Visibility] = mapped_column(enum_column(Visibility))
    connections_visibility: Mapped[Visibility] = mapped_column(enum_column(Visibility))
    # What full-text search indexes (FTS5 on SQLite, a GIN tsvector index on PostgreSQL);
    # rebuilt by the service whenever a searchable part of the profile changes.
    search_text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]


class MemberTag(Base):
    __tablename__ = "member_tags"

    member_id: Mapped[int] = mapped_column(
        Id, ForeignKey("members.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[TagRole] = mapped_column(enum_column(TagRole), primary_key=True)
    tag_id: Mapped[int] = mapped_column(Id, ForeignKey("tags.id"), primary_key=True)
    position: Mapped[int]

    __table_args__ = (Index(None, "tag_id", "role"),)


class Give(Base):
    """A standing offer: what a member can help with, and how often."""

    __tablename__ = "gives"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    member_id: Mapped[int] = mapped_column(Id, ForeignKey("members.id", ondelete="CASCADE"))
    tag_id: Mapped[int] = mapped_column(Id, ForeignKey("tags.id"))
    description: Mapped[str | None] = mapped_column(String(280))
    monthly_capacity: Mapped[int | None]
    created_at: Mapped[dt.datetime]

    __table_args__ = (
        Index(None, "member_id", "tag_id", unique=True),
        Index(None, "tag_id"),
    )


class Goal(Base):
    """A time-boxed aim a member is pursuing now, and what it needs."""

    __tablename__ = "goals"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    member_id: Mapped[int] = mapped_column(
        Id, ForeignKey("members.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(140))
    kind: Mapped[GoalKind] = mapped_column(enum_column(GoalKind))
    until: Mapped[dt.date | None]
    status: Mapped[GoalStatus] = mapped_column(enum_column(GoalStatus))
    created_at: Mapped[dt.datetime]


class GoalTag(Base):
    __tablename__ = "goal_tags"

    goal_id: Mapped[int] = mapped_column(
        Id, ForeignKey("goals.id", ondelete="CASCADE"), primary_key=True
    )
    tag_id: Mapped[int] = mapped_column(Id, ForeignKey("tags.id"), primary_key=True, index=True)
    position: Mapped[int]


class AuthSession(Base):
    """A signed-in device: one family of rotating refresh tokens."""

    __tablename__ = "auth_sessions"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    member_id: Mapped[int] = mapped_column(
        Id, ForeignKey("members.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[dt.datetime]
    refreshed_at: Mapped[dt.datetime]
    revoked_at: Mapped[dt.datetime | None]
    revoked_reason: Mapped[str | None] = mapped_column(String(32))


class RefreshToken(Base):
    """One refresh token of a session; single-use, stored as a SHA-256 digest."""

    __tablename__ = "refresh_tokens"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    session_id: Mapped[int] = mapped_column(
        Id, ForeignKey("auth_sessions.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    issued_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]
    used_at: Mapped[dt.datetime | None]


class LoginThrottle(Base):
    """Failed sign-ins for one email address, to slow down password guessing."""

    __tablename__ = "login_throttles"

    email_key: Mapped[str] = mapped_column(String(254), primary_key=True)
    failures: Mapped[int]
    window_started_at: Mapped[dt.datetime]
    locked_until: Mapped[dt.datetime | None]
