"""Commands on relationships: asking, answering, ending, blocking, and ties growing stronger."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, select, update

from domain.errors import Code, DomainError, invalid, not_found
from domain.events import (
    ConnectionAccepted,
    ConnectionDeclined,
    ConnectionRemoved,
    ConnectionRequested,
    MemberBlocked,
    MemberUnblocked,
    RelationshipStrengthChanged,
)
from domain.members.models import Member
from domain.members.rules import optional_text
from domain.members.visibility import can_see, relations
from domain.network import strength
from domain.network.blocks import blocked_between
from domain.network.models import (
    Block,
    Connection,
    Relationship,
    RelationshipNote,
    RelationshipStatus,
)
from domain.store import Transaction, insert_ignoring_conflicts

# After a decline, the same member may ask again only after this long.
DECLINE_COOLDOWN = dt.timedelta(days=30)
MAX_CONTEXT = 500
MAX_NOTE = 2000


def _pair(member_id: int, other_id: int) -> tuple[int, int]:
    return (member_id, other_id) if member_id < other_id else (other_id, member_id)


async def _pair_row(tx: Transaction, member_id: int, other_id: int) -> Relationship | None:
    low, high = _pair(member_id, other_id)
    return await tx.session.scalar(
        select(Relationship)
        .where(Relationship.low_member_id == low, Relationship.high_member_id == high)
        .with_for_update()
    )


async def _locked_pair_row(tx: Transaction, member_id: int, other_id: int) -> Relationship:
    """Return the pair's relationship row, locked, creating it (REMOVED) if there is none.

    Creating first and locking second serialises two members asking each other at once:
    the second waits for the first's row instead of both inserting one.
    """
    low, high = _pair(member_id, other_id)
    await tx.session.execute(
        insert_ignoring_conflicts(
            tx.dialect, Relationship.__table__, ["low_member_id", "high_member_id"]
        ),
        [
            {
                "requester_id": member_id,
                "addressee_id": other_id,
                "low_member_id": low,
                "high_member_id": high,
                "status": RelationshipStatus.REMOVED,
                "requested_at": tx.now,
                "help_count": 0,
                "intro_count": 0,
            }
        ],
    )
    relationship = await tx.session.scalar(
        select(Relationship)
        .where(Relationship.low_member_id == low, Relationship.high_member_id == high)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert relationship is not None
    return relationship


async def _visible_member(tx: Transaction, viewer_id: int, member_id: int, field: str) -> Member:
    """Return a member the viewer may see; a hidden one is refused like one that is not there."""
    member = await tx.session.get(Member, member_id)
    if member is None:
        raise not_found("member", field)
    related = await relations(tx.session, viewer_id=viewer_id, member_ids=[member_id])
    if not can_see(member.visibility, related[member_id]):
        raise not_found("member", field)
    return member


def _clean_text(value: str | None, *, limit: int, field: str) -> str | None:
    try:
        return optional_text(value, limit=limit)
    except ValueError as problem:
        raise invalid(str(problem), field) from None


async def request_connection(
    tx: Transaction, *, actor_id: int, member_id: int, context: str | None
) -> Relationship:
    """Ask a member to connect, saying how the two know each other.

    If they already asked the actor, this accepts their request instead.
    """
    if member_id == actor_id:
        raise invalid("you cannot connect with yourself", "member_id")
    await _visible_member(tx, actor_id, member_id, "member_id")
    context = _clean_text(context, limit=MAX_CONTEXT, field="context")
    if await blocked_between(tx.session, actor_id, member_id):
        raise DomainError(Code.FORBIDDEN, "you cannot connect with this member", "member_id")
    relationship = await _locked_pair_row(tx, actor_id, member_id)
    # Checked again under the row's lock: a block may have landed meanwhile.
    if await blocked_between(tx.session, actor_id, member_id):
        raise DomainError(Code.FORBIDDEN, "you cannot connect with this member", "member_id")
    if relationship.status is RelationshipStatus.ACTIVE:
        raise DomainError(Code.ALREADY_EXISTS, "you are already connected", "member_id")
    if relationship.status is RelationshipStatus.PENDING:
        if relationship.requester_id == actor_id:
            raise DomainError(
                Code.ALREADY_EXISTS, "you already asked; wait for their answer", "member_id"
            )
        return await _accept(tx, relationship, actor_id=actor_id)
    if (
        relationship.status is RelationshipStatus.DECLINED
        and relationship.requester_id == actor_id
        and relationship.responded_at is not None
        and relationship.responded_at + DECLINE_COOLDOWN > tx.now
    ):
        again = (relationship.responded_at + DECLINE_COOLDOWN).date().isoformat()
        raise DomainError(
            Code.RATE_LIMITED,
            f"they declined recently; you may ask again from {again}",
            "member_id",
        )
    relationship.requester_id, relationship.addressee_id = actor_id, member_id
    relationship.status = RelationshipStatus.PENDING
    relationship.context = context
    relationship.introduced_by_id = None
    relationship.requested_at = tx.now
    relationship.responded_at = relationship.ended_at = None
    await tx.session.flush()
    tx.emit(
        ConnectionRequested(
            actor_id=actor_id,
            relationship_id=relationship.id,
            requester_id=actor_id,
            addressee_id=member_id,
        )
    )
    return relationship


async def _for_party(tx: Transaction, relationship_id: int, actor_id: int) -> Relationship:
    relationship = await tx.session.get(Relationship, relationship_id, with_for_update=True)
    if relationship is None or actor_id not in (
        relationship.low_member_id,
        relationship.high_member_id,
    ):
        raise not_found("relationship", "relationship_id")
    return relationship


async def respond_to_connection(
    tx: Transaction, *, actor_id: int, relationship_id: int, accept: bool
) -> Relationship:
    """Accept or decline a connection request addressed to the actor."""
    relationship = await _for_party(tx, relationship_id, actor_id)
    if relationship.status is not RelationshipStatus.PENDING:
        raise DomainError(
            Code.INVALID_TRANSITION,
            f"this request is {relationship.status.value.lower()}, not pending",
            "relationship_id",
        )
    if relationship.addressee_id != actor_id:
        raise DomainError(
            Code.FORBIDDEN, "only the member who was asked can answer", "relationship_id"
        )
    if accept:
        return await _accept(tx, relationship, actor_id=actor_id)
    relationship.status = RelationshipStatus.DECLINED
    relationship.responded_at = tx.now
    await tx.session.flush()
    tx.emit(ConnectionDeclined(actor_id=actor_id, relationship_id=relationship.id))
    return relationship


async def connect(
    tx: Transaction, *, member_id: int, other_id: int, context: str, introduced_by_id: int | None
) -> Relationship:
    """Connect two members at once (both already said yes, as in an accepted intro)."""
    if await blocked_between(tx.session, member_id, other_id):
        raise DomainError(Code.FORBIDDEN, "these members cannot be connected")
    relationship = await _locked_pair_row(tx, member_id, other_id)
    if relationship.status is RelationshipStatus.ACTIVE:
        return relationship
    relationship.requester_id, relationship.addressee_id = member_id, other_id
    relationship.status = RelationshipStatus.PENDING
    relationship.context = context
    relationship.introduced_by_id = introduced_by_id
    relationship.requested_at = tx.now
    relationship.responded_at = relationship.ended_at = None
    await tx.session.flush()
    return await _accept(tx, relationship, actor_id=other_id)


async def _accept(tx: Transaction, relationship: Relationship, *, actor_id: int) -> Relationship:
    relationship.status = RelationshipStatus.ACTIVE
    relationship.responded_at = relationship.connected_at = tx.now
    relationship.ended_at = None
    relationship.last_interaction_at = tx.now
    await tx.session.flush()
    tie = strength.strength(
        help_count=relationship.help_count,
        intro_count=relationship.intro_count,
        last_contact=tx.now,
        now=tx.now,
    )
    low, high = relationship.low_member_id, relationship.high_member_id
    tx.session.add_all(
        Connection(
            member_id=member,
            other_id=other,
            relationship_id=relationship.id,
            strength=tie,
            last_contact_at=tx.now,
            since=tx.now,
        )
        for member, other in ((low, high), (high, low))
    )
    await tx.session.flush()
    tx.emit(
        ConnectionAccepted(
            actor_id=actor_id,
            relationship_id=relationship.id,
            member_ids=(low, high),
            introduced_by_id=relationship.introduced_by_id,
        )
    )
    return relationship


async def remove_connection(
    tx: Transaction, *, actor_id: int, relationship_id: int
) -> Relationship:
    """End a connection, or withdraw a request the actor made."""
    relationship = await _for_party(tx, relationship_id, actor_id)
    if relationship.status is RelationshipStatus.PENDING:
        if relationship.requester_id != actor_id:
            raise DomainError(
                Code.INVALID_TRANSITION,
                "decline this request rather than remove it",
                "relationship_id",
            )
    elif relationship.status is not RelationshipStatus.ACTIVE:
        raise DomainError(Code.INVALID_TRANSITION, "you are not connected", "relationship_id")
    await _end(tx, relationship, actor_id=actor_id)
    return relationship


async def _end(tx: Transaction, relationship: Relationship, *, actor_id: int) -> None:
    was_active = relationship.status is RelationshipStatus.ACTIVE
    relationship.status = RelationshipStatus.REMOVED
    relationship.ended_at = tx.now
    await tx.session.execute(
        delete(Connection).where(Connection.relationship_id == relationship.id)
    )
    await tx.session.flush()
    if was_active:
        tx.emit(
            ConnectionRemoved(
                actor_id=actor_id,
                relationship_id=relationship.id,
                member_ids=(relationship.low_member_id, relationship.high_member_id),
            )
        )


async def block_member(tx: Transaction, *, actor_id: int, member_id: int) -> None:
    """Block a member: any relationship ends and they can no longer reach the actor."""
    if member_id == actor_id:
        raise invalid("you cannot block yourself", "member_id")
    if await tx.session.get(Member, member_id) is None:
        raise not_found("member", "member_id")
    # One statement decides who blocked first when the same block is sent twice at once.
    inserted = await tx.session.execute(
        insert_ignoring_conflicts(tx.dialect, Block.__table__, ["blocker_id", "blocked_id"]),
        [{"blocker_id": actor_id, "blocked_id": member_id, "created_at": tx.now}],
    )
    if inserted.rowcount != 1:  # type: ignore[attr-defined]
        raise DomainError(Code.ALREADY_EXISTS, "you already blocked this member", "member_id")
    relationship = await _pair_row(tx, actor_id, member_id)
    if relationship is not None and relationship.status in (
        RelationshipStatus.ACTIVE,
        RelationshipStatus.PENDING,
    ):
        await _end(tx, relationship, actor_id=actor_id)
    await tx.session.flush()
    tx.emit(MemberBlocked(actor_id=actor_id, blocker_id=actor_id, blocked_id=member_id))


async def unblock_member(tx: Transaction, *, actor_id: int, member_id: int) -> None:
    """Lift a block; the two are not reconnected."""
    removed = await tx.session.execute(
        delete(Block).where(Block.blocker_id == actor_id, Block.blocked_id == member_id)
    )
    if removed.rowcount != 1:  # type: ignore[attr-defined]
        raise not_found("block", "member_id")
    tx.emit(MemberUnblocked(actor_id=actor_id, blocker_id=actor_id, blocked_id=member_id))


async def set_note(
    tx: Transaction, *, actor_id: int, relationship_id: int, note: str | None
) -> Relationship:
    """Keep (or clear, with nothing) the actor's private note on a relationship."""
    relationship = await _for_party(tx, relationship_id, actor_id)
    note = _clean_text(note, limit=MAX_NOTE, field="note")
    existing = await tx.session.get(RelationshipNote, (relationship.id, actor_id))
    if note is None:
        if existing is not None:
            await tx.session.delete(existing)
    elif existing is None:
        tx.session.add(
            RelationshipNote(
                relationship_id=relationship.id, member_id=actor_id, note=note, updated_at=tx.now
            )
        )
    else:
        existing.note, existing.updated_at = note, tx.now
    await tx.session.flush()
    return relationship


async def record_help(tx: Transaction, *, member_id: int, other_id: int) -> None:
    """Count a help exchanged between two members towards the strength of their tie."""
    await _record(tx, member_id, other_id, helps=1, intros=0)


async def record_intro(tx: Transaction, *, member_id: int, other_id: int) -> None:
    """Count an intro made through a tie (the broker's tie with either side)."""
    await _record(tx, member_id, other_id, helps=0, intros=1)


async def _record(
    tx: Transaction, member_id: int, other_id: int, *, helps: int, intros: int
) -> None:
    relationship = await _pair_row(tx, member_id, other_id)
    if relationship is None or relationship.status is not RelationshipStatus.ACTIVE:
        return
    relationship.help_count += helps
    relationship.intro_count += intros
    relationship.last_interaction_at = tx.now
    tie = strength.strength(
        help_count=relationship.help_count,
        intro_count=relationship.intro_count,
        last_contact=tx.now,
        now=tx.now,
    )
    await tx.session.execute(
        update(Connection)
        .where(Connection.relationship_id == relationship.id)
        .values(strength=tie, last_contact_at=tx.now)
    )
    await tx.session.flush()
    tx.emit(RelationshipStrengthChanged(relationship_id=relationship.id, strength=tie))
