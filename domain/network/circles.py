"""Commands on circles: creating one, coming in and going out, and who runs it.

Every command on an existing circle locks the circle's row first, then the memberships it
reads: changes to one circle's members happen one after another, so "the owner is the last
member" stays true between the check and the write.

A circle is its owner's: no one comes into it (joining, asking, being invited or let in)
across a block between them and the owner, whichever of the two blocked the other.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeGuard

from sqlalchemy import delete, or_, select, text, update

from domain.errors import Checks, Code, DomainError, invalid, not_found
from domain.events import (
    CircleCreated,
    CircleDeleted,
    CircleInvited,
    CircleJoined,
    CircleJoinRequested,
    CircleLeft,
    CircleMemberRemoved,
    CircleRequestDeclined,
    CircleRoleChanged,
)
from domain.members import tags as tag_rules
from domain.members.models import Member, Tag, TagKind
from domain.members.rules import text_problem
from domain.members.tagging import ensure_tags
from domain.network.blocks import blocked_between
from domain.network.models import (
    Circle,
    CircleMembership,
    CircleRole,
    CircleTag,
    CircleVisibility,
    MembershipStatus,
)
from domain.store import Transaction

NAME_MIN = 2
NAME_MAX = 80
DESCRIPTION_MAX = 1000
MAX_TAGS = 10
# The PostgreSQL advisory lock that circle creators take to choose slugs in turn.
_SLUG_LOCK = 0x636972636C6573  # "circles"
_RUNS_IT = (CircleRole.OWNER, CircleRole.MODERATOR)


# Decisions with no event of their own in domain.events yet.


async def create_circle(
    tx: Transaction,
    *,
    actor_id: int,
    name: str,
    description: str | None,
    visibility: CircleVisibility,
    tags: Sequence[str],
) -> Circle:
    """Create a circle owned by the actor, its first member."""
    name = " ".join(name.split())
    description = (description or "").strip() or None
    checks = Checks()
    if not NAME_MIN <= len(name) <= NAME_MAX:
        checks.add(
            Code.INVALID_INPUT, f"a circle's name has {NAME_MIN} to {NAME_MAX} characters", "name"
        )
    elif problem := text_problem(name):
        checks.add(Code.INVALID_INPUT, problem, "name")
    if description is not None and len(description) > DESCRIPTION_MAX:
        checks.add(Code.INVALID_INPUT, f"at most {DESCRIPTION_MAX} characters", "description")
    elif description is not None and (problem := text_problem(description)):
        checks.add(Code.INVALID_INPUT, problem, "description")
    checks.raise_any()
    circle_tags = await ensure_tags(tx, tags, kind=TagKind.TOPIC, limit=MAX_TAGS, field="tags")
    circle = Circle(
        name=name,
        description=description,
        visibility=visibility,
        owner_id=actor_id,
        member_count=1,
        search_text=_search_text(name, description, circle_tags),
        created_at=tx.now,
    )
    await _insert_with_free_slug(tx, circle)
    tx.session.add_all(
        CircleTag(circle_id=circle.id, tag_id=tag.id, position=position)
        for position, tag in enumerate(circle_tags)
    )
    tx.session.add(
        CircleMembership(
            circle_id=circle.id,
            member_id=actor_id,
            role=CircleRole.OWNER,
            status=MembershipStatus.ACTIVE,
            created_at=tx.now,
            joined_at=tx.now,
        )
    )
    await tx.session.flush()
    tx.emit(CircleCreated(actor_id=actor_id, circle_id=circle.id, owner_id=actor_id))
    return circle


async def join_circle(tx: Transaction, *, actor_id: int, circle_id: int) -> Circle:
    """Join an open circle, ask to join one on request, or accept an invitation.

    A member blocked by the owner, or who blocked the owner, does none of these.
    """
    circle, mine = await _seen_by(tx, circle_id, actor_id)
    if mine is not None and mine.status is MembershipStatus.REQUESTED:
        raise DomainError(
            Code.ALREADY_EXISTS, "you already asked to join; wait for an answer", "circle_id"
        )
    if mine is not None and mine.status is MembershipStatus.ACTIVE:
        raise DomainError(Code.ALREADY_EXISTS, "you are already a member", "circle_id")
    if await _blocked_with(tx, actor_id, circle.owner_id):
        raise DomainError(Code.FORBIDDEN, "you cannot join this circle", "circle_id")
    if mine is not None:  # invited
        await _activate(tx, circle, mine, actor_id=actor_id)
        return circle
    # _seen_by hides a private circle from anyone without an invitation.
    membership = CircleMembership(
        circle_id=circle.id,
        member_id=actor_id,
        role=CircleRole.MEMBER,
        status=MembershipStatus.REQUESTED,
        created_at=tx.now,
    )
    tx.session.add(membership)
    if circle.visibility is CircleVisibility.OPEN:
        await _activate(tx, circle, membership, actor_id=actor_id)
        return circle
    await tx.session.flush()
    tx.emit(CircleJoinRequested(actor_id=actor_id, circle_id=circle.id, member_id=actor_id))
    return circle


async def leave_circle(tx: Transaction, *, actor_id: int, circle_id: int) -> Circle:
    """Leave a circle, withdraw a request to join it, or turn down an invitation to it.

    The owner hands the circle over first, or leaves last; the last member leaving deletes
    the circle, with its tags and the requests and invitations still pending (the circle
    returned is then gone). Every circle thus has an owner who is in it: an empty circle
    kept would leave requests no one can answer, and hand an open circle to the first
    stranger to walk in. Refusing the owner's leave while requests are pending instead
    would still leave an empty open circle behind, and tie the owner to a circle no one
    else wants to run.
    """
    circle, mine = await _seen_by(tx, circle_id, actor_id)
    if mine is None:
        raise DomainError(Code.NOT_FOUND, "you are not in this circle", "circle_id")
    active = mine.status is MembershipStatus.ACTIVE
    owner = active and mine.role is CircleRole.OWNER
    if owner and circle.member_count > 1:
        raise DomainError(
            Code.INVALID_TRANSITION,
            "hand the circle to another member before you leave it",
            "circle_id",
        )
    await tx.session.delete(mine)
    await tx.session.flush()
    tx.emit(CircleLeft(actor_id=actor_id, circle_id=circle.id, member_id=actor_id))
    if owner:  # and so the last member
        await _delete(tx, circle, actor_id=actor_id)
    elif active:
        await _count(tx, circle, -1)
    return circle


async def invite_to_circle(
    tx: Transaction, *, actor_id: int, circle_id: int, member_id: int
) -> Circle:
    """Invite a member into a private or on-request circle the actor runs."""
    circle, _ = await _run_by(tx, circle_id, actor_id)
    if circle.visibility is CircleVisibility.OPEN:
        raise DomainError(
            Code.INVALID_TRANSITION,
            "anyone may join an open circle; no invitation is needed",
            "circle_id",
        )
    if member_id == actor_id:
        raise invalid("you cannot invite yourself", "member_id")
    if await tx.session.get(Member, member_id) is None:
        raise not_found("member", "member_id")
    if await _blocked_with(tx, member_id, actor_id, circle.owner_id):
        raise DomainError(Code.FORBIDDEN, "you cannot invite this member", "member_id")
    theirs = await _membership(tx, circle.id, member_id)
    if theirs is not None:
        if theirs.status is MembershipStatus.REQUESTED:
            # They asked already: inviting them says yes.
            await _activate(tx, circle, theirs, actor_id=actor_id)
            return circle
        if theirs.status is MembershipStatus.INVITED:
            raise DomainError(Code.ALREADY_EXISTS, "this member is invited already", "member_id")
        raise DomainError(Code.ALREADY_EXISTS, "this member is in the circle already", "member_id")
    tx.session.add(
        CircleMembership(
            circle_id=circle.id,
            member_id=member_id,
            role=CircleRole.MEMBER,
            status=MembershipStatus.INVITED,
            invited_by_id=actor_id,
            created_at=tx.now,
        )
    )
    await tx.session.flush()
    tx.emit(
        CircleInvited(
            actor_id=actor_id, circle_id=circle.id, member_id=member_id, invited_by_id=actor_id
        )
    )
    return circle


async def approve_join_request(
    tx: Transaction, *, actor_id: int, circle_id: int, member_id: int
) -> Circle:
    """Let a member who asked to join into a circle the actor runs.

    Not across a block between them and the owner (they may have asked before it), nor
    between them and the actor.
    """
    circle, _ = await _run_by(tx, circle_id, actor_id)
    request = await _join_request(tx, circle.id, member_id)
    if await _blocked_with(tx, member_id, actor_id, circle.owner_id):
        raise DomainError(Code.FORBIDDEN, "you cannot let this member in", "member_id")
    await _activate(tx, circle, request, actor_id=actor_id)
    return circle


async def decline_join_request(
    tx: Transaction, *, actor_id: int, circle_id: int, member_id: int
) -> Circle:
    """Turn down a member's request to join a circle the actor runs."""
    circle, _ = await _run_by(tx, circle_id, actor_id)
    request = await _join_request(tx, circle.id, member_id)
    await tx.session.delete(request)
    await tx.session.flush()
    tx.emit(CircleRequestDeclined(actor_id=actor_id, circle_id=circle.id, member_id=member_id))
    return circle


async def set_circle_role(
    tx: Transaction, *, actor_id: int, circle_id: int, member_id: int, role: CircleRole
) -> Circle:
    """Make a member a moderator or a plain member; making them owner hands the circle over.

    The owner who hands the circle over stays on as a moderator.
    """
    circle, mine = await _seen_by(tx, circle_id, actor_id)
    if not _is_active(mine) or mine.role is not CircleRole.OWNER:
        raise DomainError(Code.FORBIDDEN, "only the circle's owner can change roles", "circle_id")
    if member_id == actor_id:
        raise DomainError(
            Code.INVALID_TRANSITION,
            "make another member the owner to step down",
            "member_id",
        )
    theirs = await _membership(tx, circle.id, member_id)
    if not _is_active(theirs):
        raise DomainError(Code.NOT_FOUND, "this member is not in the circle", "member_id")
    if theirs.role is role:
        return circle
    theirs.role = role
    changed = [theirs]
    if role is CircleRole.OWNER:
        mine.role = CircleRole.MODERATOR
        circle.owner_id = member_id
        changed.append(mine)
    await tx.session.flush()
    for membership in changed:
        tx.emit(
            CircleRoleChanged(
                actor_id=actor_id,
                circle_id=circle.id,
                member_id=membership.member_id,
                role=membership.role.value,
            )
        )
    return circle


async def remove_from_circle(
    tx: Transaction, *, actor_id: int, circle_id: int, member_id: int
) -> Circle:
    """Remove a member from a circle the actor runs, or withdraw their invitation.

    Moderators remove members; only the owner removes a moderator; no one removes the owner.
    """
    circle, mine = await _run_by(tx, circle_id, actor_id)
    if member_id == actor_id:
        raise invalid("leave the circle rather than remove yourself", "member_id")
    theirs = await _membership(tx, circle.id, member_id)
    if theirs is None or theirs.status is MembershipStatus.REQUESTED:
        raise DomainError(Code.NOT_FOUND, "this member is not in the circle", "member_id")
    if theirs.role is CircleRole.OWNER:
        raise DomainError(Code.FORBIDDEN, "no one can remove the circle's owner", "member_id")
    if theirs.role is CircleRole.MODERATOR and mine.role is not CircleRole.OWNER:
        raise DomainError(Code.FORBIDDEN, "only the owner can remove a moderator", "member_id")
    was_active = theirs.status is MembershipStatus.ACTIVE
    await tx.session.delete(theirs)
    await tx.session.flush()
    if was_active:
        await _count(tx, circle, -1)
    tx.emit(CircleMemberRemoved(actor_id=actor_id, circle_id=circle.id, member_id=member_id))
    return circle


async def _seen_by(
    tx: Transaction, circle_id: int, actor_id: int
) -> tuple[Circle, CircleMembership | None]:
    """Return the circle, locked, and the actor's membership; hide what the actor may not see."""
    circle = await tx.session.get(Circle, circle_id, with_for_update=True)
    mine = await _membership(tx, circle_id, actor_id) if circle is not None else None
    if circle is None or (
        circle.visibility is CircleVisibility.PRIVATE
        and (mine is None or mine.status is MembershipStatus.REQUESTED)
    ):
        raise not_found("circle", "circle_id")
    return circle, mine


async def _run_by(
    tx: Transaction, circle_id: int, actor_id: int
) -> tuple[Circle, CircleMembership]:
    """Return the circle and the actor's membership when the actor owns or moderates it."""
    circle, mine = await _seen_by(tx, circle_id, actor_id)
    if not _is_active(mine) or mine.role not in _RUNS_IT:
        raise DomainError(
            Code.FORBIDDEN, "only the circle's owner and moderators can do this", "circle_id"
        )
    return circle, mine


def _is_active(membership: CircleMembership | None) -> TypeGuard[CircleMembership]:
    return membership is not None and membership.status is MembershipStatus.ACTIVE


async def _membership(tx: Transaction, circle_id: int, member_id: int) -> CircleMembership | None:
    return await tx.session.get(CircleMembership, (circle_id, member_id), with_for_update=True)


async def _join_request(tx: Transaction, circle_id: int, member_id: int) -> CircleMembership:
    request = await _membership(tx, circle_id, member_id)
    if request is None or request.status is not MembershipStatus.REQUESTED:
        raise DomainError(
            Code.NOT_FOUND, "this member has not asked to join the circle", "member_id"
        )
    return request


async def _activate(
    tx: Transaction, circle: Circle, membership: CircleMembership, *, actor_id: int
) -> None:
    membership.status = MembershipStatus.ACTIVE
    membership.joined_at = tx.now
    await tx.session.flush()
    await _count(tx, circle, +1)
    tx.emit(CircleJoined(actor_id=actor_id, circle_id=circle.id, member_id=membership.member_id))


async def _blocked_with(tx: Transaction, member_id: int, *others: int) -> bool:
    """Tell whether the member and any of the others have blocked one another."""
    for other in dict.fromkeys(others):
        if await blocked_between(tx.session, member_id, other):
            return True
    return False


async def _delete(tx: Transaction, circle: Circle, *, actor_id: int) -> None:
    """Delete a circle its last member left: what is left of it goes with it."""
    await tx.session.execute(
        delete(CircleMembership).where(CircleMembership.circle_id == circle.id)
    )
    await tx.session.execute(delete(CircleTag).where(CircleTag.circle_id == circle.id))
    await tx.session.delete(circle)
    await tx.session.flush()
    tx.emit(CircleDeleted(actor_id=actor_id, circle_id=circle.id))


async def _count(tx: Transaction, circle: Circle, change: int) -> None:
    await tx.session.execute(
        update(Circle)
        .where(Circle.id == circle.id)
        .values(member_count=Circle.member_count + change)
    )


async def _insert_with_free_slug(tx: Transaction, circle: Circle) -> None:
    if tx.dialect == "postgresql":
        # Creators choose slugs one at a time, each seeing the slugs taken before it. (SQLite
        # runs one writer at a time already.) Creating a circle is rare: waiting costs little.
        await tx.session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SLUG_LOCK})
    circle.slug = await _free_slug(tx, tag_rules.slugify(circle.name) or "circle")
    tx.session.add(circle)
    await tx.session.flush()


async def _free_slug(tx: Transaction, base: str) -> str:
    taken = set(
        await tx.session.scalars(
            select(Circle.slug).where(or_(Circle.slug == base, Circle.slug.like(f"{base}-%")))
        )
    )
    if base not in taken:
        return base
    number = 2
    while f"{base}-{number}" in taken:
        number += 1
    return f"{base}-{number}"


def _search_text(name: str, description: str | None, tags: Sequence[Tag]) -> str:
    labels = [f"{tag.label} {tag.slug.replace('-', ' ')}" for tag in tags]
    return "\n".join(part for part in (name, description or "", *labels) if part)
