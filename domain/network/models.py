"""Tables of the network: relationships and their adjacency, blocks, circles, intros."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import CheckConstraint, Float, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from domain.store import Base, Id, enum_column


def _member(*, nullable: bool = False, cascade: bool = True) -> Mapped[int]:
    return mapped_column(
        Id,
        ForeignKey("members.id", ondelete="CASCADE" if cascade else "SET NULL"),
        nullable=nullable,
    )


class RelationshipStatus(enum.Enum):
    PENDING = "PENDING"
    ACTIVE = "ACTIVE"
    DECLINED = "DECLINED"
    REMOVED = "REMOVED"


class Relationship(Base):
    """The one relationship of a pair of members, whoever asked first, through its states."""

    __tablename__ = "relationships"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    requester_id: Mapped[int] = _member()
    addressee_id: Mapped[int] = _member()
    # The pair in id order, unique: two members have one relationship.
    low_member_id: Mapped[int] = _member()
    high_member_id: Mapped[int] = _member()
    status: Mapped[RelationshipStatus] = mapped_column(enum_column(RelationshipStatus))
    context: Mapped[str | None] = mapped_column(String(500))
    introduced_by_id: Mapped[int | None] = mapped_column(
        Id, ForeignKey("members.id", ondelete="SET NULL")
    )
    requested_at: Mapped[dt.datetime]
    responded_at: Mapped[dt.datetime | None]
    connected_at: Mapped[dt.datetime | None]
    ended_at: Mapped[dt.datetime | None]
    # What strength is computed from (see domain/network/strength.py).
    help_count: Mapped[int] = mapped_column(default=0)
    intro_count: Mapped[int] = mapped_column(default=0)
    last_interaction_at: Mapped[dt.datetime | None]

    __table_args__ = (
        Index(None, "low_member_id", "high_member_id", unique=True),
        Index(None, "addressee_id", "status"),
        Index(None, "requester_id", "status"),
        CheckConstraint("low_member_id < high_member_id", name="ordered_pair"),
    )


class Connection(Base):
    """One direction of an active relationship: the adjacency the graph queries walk.

    Two rows per active relationship keep "my connections", mutuals and fixed-depth path
    joins on one indexed column each.
    """

    __tablename__ = "connections"

    member_id: Mapped[int] = mapped_column(
        Id, ForeignKey("members.id", ondelete="CASCADE"), primary_key=True
    )
    other_id: Mapped[int] = mapped_column(
        Id, ForeignKey("members.id", ondelete="CASCADE"), primary_key=True
    )
    relationship_id: Mapped[int] = mapped_column(
        Id, ForeignKey("relationships.id", ondelete="CASCADE")
    )
    # Strength when last recomputed (it decays between events; readers apply the decay).
    strength: Mapped[float] = mapped_column(Float)
    # The last contact that strength was computed at (the relationship's, copied so a
    # reader of many ties decays them without joining their relationships).
    last_contact_at: Mapped[dt.datetime]
    since: Mapped[dt.datetime]

    __table_args__ = (
        Index(None, "other_id", "member_id"),
        # A hub's strongest ties without reading all of them (intro paths).
        Index(None, "member_id", "strength"),
        # Every tie of a member, strength and last contact included, from the index alone:
        # matching's 2nd degree reads thousands next to a hub, scattered over the heap.
        Index(None, "member_id", "other_id", "strength", "last_contact_at"),
    )


class RelationshipNote(Base):
    """A member's private note on one of their relationships; the other side never sees it."""

    __tablename__ = "relationship_notes"

    relationship_id: Mapped[int] = mapped_column(
        Id, ForeignKey("relationships.id", ondelete="CASCADE"), primary_key=True
    )
    member_id: Mapped[int] = mapped_column(
        Id, ForeignKey("members.id", ondelete="CASCADE"), primary_key=True
    )
    note: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[dt.datetime]


class Block(Base):
    __tablename__ = "blocks"

    blocker_id: Mapped[int] = mapped_column(
        Id, ForeignKey("members.id", ondelete="CASCADE"), primary_key=True
    )
    blocked_id: Mapped[int] = mapped_column(
        Id, ForeignKey("members.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[dt.datetime]


class CircleVisibility(enum.Enum):
    OPEN = "OPEN"
    ON_REQUEST = "ON_REQUEST"
    PRIVATE = "PRIVATE"


class CircleRole(enum.Enum):
    OWNER = "OWNER"
    MODERATOR = "MODERATOR"
    MEMBER = "MEMBER"


class MembershipStatus(enum.Enum):
    ACTIVE = "ACTIVE"
    REQUESTED = "REQUESTED"
    INVITED = "INVITED"


class Circle(Base):
    """A micro-network around an interest or a context."""

    __tablename__ = "circles"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    slug: Mapped[str] = mapped_column(String(60), unique=True)
    name: Mapped[str] = mapped_column(String(80))
    description: Mapped[str | None] = mapped_column(String(1000))
    visibility: Mapped[CircleVisibility] = mapped_column(enum_column(CircleVisibility))
    owner_id: Mapped[int] = _member()
    member_count: Mapped[int] = mapped_column(default=0)
    # What full-text search indexes: name, description and tag labels.
    search_text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime]


class CircleTag(Base):
    __tablename__ = "circle_tags"

    circle_id: Mapped[int] = mapped_column(
        Id, ForeignKey("circles.id", ondelete="CASCADE"), primary_key=True
    )
    tag_id: Mapped[int] = mapped_column(Id, ForeignKey("tags.id"), primary_key=True, index=True)
    position: Mapped[int]


class CircleMembership(Base):
    __tablename__ = "circle_memberships"

    circle_id: Mapped[int] = mapped_column(
        Id, ForeignKey("circles.id", ondelete="CASCADE"), primary_key=True
    )
    member_id: Mapped[int] = mapped_column(
        Id, ForeignKey("members.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[CircleRole] = mapped_column(enum_column(CircleRole))
    status: Mapped[MembershipStatus] = mapped_column(enum_column(MembershipStatus))
    invited_by_id: Mapped[int | None] = mapped_column(
        Id, ForeignKey("members.id", ondelete="SET NULL")
    )
    created_at: Mapped[dt.datetime]
    joined_at: Mapped[dt.datetime | None]

    __table_args__ = (Index(None, "member_id", "status"),)


class IntroStatus(enum.Enum):
    REQUESTED = "REQUESTED"
    FORWARDED = "FORWARDED"
    ACCEPTED = "ACCEPTED"
    DECLINED = "DECLINED"
    EXPIRED = "EXPIRED"


class Intro(Base):
    """A asks broker B to introduce them to C; double opt-in (B forwards, C accepts)."""

    __tablename__ = "intros"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    requester_id: Mapped[int] = _member()
    broker_id: Mapped[int] = _member()
    target_id: Mapped[int] = _member()
    message: Mapped[str] = mapped_column(String(1000))
    broker_note: Mapped[str | None] = mapped_column(String(1000))
    # The help request it is about, once help requests exist (no foreign key until then).
    help_request_id: Mapped[int | None] = mapped_column(Id)
    status: Mapped[IntroStatus] = mapped_column(enum_column(IntroStatus))
    declined_by_id: Mapped[int | None] = mapped_column(
        Id, ForeignKey("members.id", ondelete="SET NULL")
    )
    # Shown to the requester and the decliner, never to the third party.
    decline_reason: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[dt.datetime]
    forwarded_at: Mapped[dt.datetime | None]
    responded_at: Mapped[dt.datetime | None]
    expires_at: Mapped[dt.datetime]

    __table_args__ = (
        Index(None, "broker_id", "created_at"),
        Index(None, "target_id", "status"),
        Index(None, "requester_id", "status"),
        Index(None, "status", "expires_at"),
    )
