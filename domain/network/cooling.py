"""Relationships gone quiet: noticed by the maintenance round, offered back by matching.

A relationship is cooling when it is active, its tie mattered (a strength of at least
``MIN_STRENGTH`` at its last contact) and nobody has been in touch for ``QUIET_FOR``.
``flag_cooling`` emits one ``relationship.cooling`` event per quiet spell: a
``cooling_signals`` row remembers the last contact it was raised for, so the next round
skips it until the two talk again and fall quiet again.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, and_, func, or_, select
from sqlalchemy.orm import Mapped, mapped_column

from domain.events import RelationshipCooling
from domain.network.models import Connection, Relationship, RelationshipStatus
from domain.network.paths import tie_strength
from domain.store import Base, Id, Transaction

QUIET_FOR = dt.timedelta(days=90)
MIN_STRENGTH = 0.2


class CoolingSignal(Base):
    """The last contact a relationship's cooling was signalled for."""

    __tablename__ = "cooling_signals"

    relationship_id: Mapped[int] = mapped_column(
        Id, ForeignKey("relationships.id", ondelete="CASCADE"), primary_key=True
    )
    last_contact_at: Mapped[dt.datetime]
    signalled_at: Mapped[dt.datetime]


async def flag_cooling(tx: Transaction, now: dt.datetime, *, limit: int | None = None) -> int:
    """Signal the relationships that went quiet since their last signal; return how many."""
    last = func.coalesce(Relationship.last_interaction_at, Relationship.connected_at)
    rows = (
        await tx.session.execute(
            select(Relationship.id, last, Connection.strength)
            .join(
                Connection,
                and_(
                    Connection.relationship_id == Relationship.id,
                    Connection.member_id == Relationship.low_member_id,
                ),
            )
            .outerjoin(CoolingSignal, CoolingSignal.relationship_id == Relationship.id)
            .where(
                Relationship.status == RelationshipStatus.ACTIVE,
                last < now - QUIET_FOR,
                Connection.strength >= MIN_STRENGTH,
                or_(CoolingSignal.relationship_id.is_(None), CoolingSignal.last_contact_at < last),
            )
            .order_by(Relationship.id)
            .limit(limit)
            .with_for_update(skip_locked=True, of=Relationship)
        )
    ).all()
    for relationship_id, last_contact, snapshot in rows:
        await tx.session.merge(
            CoolingSignal(
                relationship_id=relationship_id, last_contact_at=last_contact, signalled_at=now
            )
        )
        tx.emit(
            RelationshipCooling(
                relationship_id=relationship_id,
                strength=tie_strength(snapshot, last_contact, now),
                quiet_since=last_contact,
            )
        )
    await tx.session.flush()
    return len(rows)
