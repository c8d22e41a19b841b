"""Reading the network as a viewer: relationships, connections, mutuals, suggestions.

Every function answers for a whole batch in a fixed number of statements.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, and_, func, literal, or_, select, tuple_, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from domain.members.models import Member, MemberTag, Tag, TagRole
from domain.members.read import TagView
from domain.members.visibility import visible_members
from domain.network import strength
from domain.network.models import (
    Block,
    CircleMembership,
    Connection,
    MembershipStatus,
    Relationship,
    RelationshipNote,
    RelationshipStatus,
)

# Aliases are built once: one made per call copies every column of its table each time.
_MINE = aliased(Connection, name="mine")
_THEIRS = aliased(Connection, name="theirs")
_LEFT_TAG = aliased(MemberTag, name="left_tag")
_RIGHT_TAG = aliased(MemberTag, name="right_tag")
_LEFT_CIRCLE = aliased(CircleMembership, name="left_circle")
_RIGHT_CIRCLE = aliased(CircleMembership, name="right_circle")


@dataclasses.dataclass(frozen=True)
class Tie:
    """A relationship as one of its two members sees it."""

    relationship: Relationship
    viewer_id: int

    @property
    def other_id(self) -> int:
        r = self.relationship
        return r.high_member_id if r.low_member_id == self.viewer_id else r.low_member_id

    def strength(self, now: dt.datetime) -> float:
        """Return the tie's strength now (0 unless connected)."""
        r = self.relationship
        if r.status is not RelationshipStatus.ACTIVE:
            return 0.0
        return strength.strength(
            help_count=r.help_count,
            intro_count=r.intro_count,
            last_contact=r.last_interaction_at or r.connected_at or r.requested_at,
            now=now,
        )

    def is_cooling(self, now: dt.datetime) -> bool:
        r = self.relationship
        return r.status is RelationshipStatus.ACTIVE and strength.is_cooling(
            help_count=r.help_count,
            intro_count=r.intro_count,
            last_contact=r.last_interaction_at or r.connected_at or r.requested_at,
            now=now,
        )


@dataclasses.dataclass(frozen=True)
class ConnectionEntry:
    other_id: int
    relationship_id: int
    since: dt.datetime


@dataclasses.dataclass(frozen=True)
class Page:
    entries: list[ConnectionEntry]
    has_next: bool
    has_previous: bool
    total: int


@dataclasses.dataclass(frozen=True)
class Suggestion:
    member_id: int
    score: float
    mutual_count: int
    shared_tags: int
    shared_circles: int


async def ties_by_ids(
    session: AsyncSession, *, viewer_id: int, relationship_ids: Sequence[int]
) -> dict[int, Tie]:
    """Return the viewer's relationships among these ids (others' are not theirs to see)."""
    rows = await session.scalars(
        select(Relationship).where(
            Relationship.id.in_(relationship_ids),
            or_(
                Relationship.low_member_id == viewer_id,
                Relationship.high_member_id == viewer_id,
            ),
        )
    )
    return {row.id: Tie(row, viewer_id) for row in rows}


async def ties_with(
    session: AsyncSession, *, viewer_id: int, member_ids: Sequence[int]
) -> dict[int, Tie]:
    """Return the viewer's relationship with each of these members that has one."""
    pairs = [(min(viewer_id, m), max(viewer_id, m)) for m in member_ids if m != viewer_id]
    if not pairs:
        return {}
    rows = await session.scalars(
        select(Relationship).where(
            tuple_(Relationship.low_member_id, Relationship.high_member_id).in_(pairs)
        )
    )
    ties = (Tie(row, viewer_id) for row in rows)
    return {tie.other_id: tie for tie in ties}


async def connections_of(
    session: AsyncSession,
    *,
    viewer_id: int | None,
    member_id: int,
    limit: int,
    after: tuple[dt.datetime, int] | None = None,
    before: tuple[dt.datetime, int] | None = None,
) -> Page:
    """Return one page of a member's connections the viewer may see, newest first.

    Pages follow a (since, member id) key, forward after one or backward before one;
    members whose profile the viewer may not see are left out of the page and the total.
    """
    visible = Connection.other_id.in_(select(Member.id).where(visible_members(viewer_id)))
    key = (Connection.since, Connection.other_id)
    statement = select(
        Connection.other_id,
        Connection.relationship_id,
        Connection.since,
        func.count().over().label("total"),
    ).where(Connection.member_id == member_id, visible)
    if after is not None:
        statement = statement.where(tuple_(*key) < _key_value(after))
    if before is not None:
        statement = statement.where(tuple_(*key) > _key_value(before))
    # Backward pages read up from the key, nearest first, then turn round.
    order = (key[0].asc(), key[1].asc()) if before is not None else (key[0].desc(), key[1].desc())
    found = (await session.execute(statement.order_by(*order).limit(limit + 1))).all()
    more = len(found) > limit
    rows = list(found[:limit])
    if before is not None:
        rows.reverse()
    total = rows[0].total if rows else 0
    if after is not None or before is not None:
        # The window count saw only what is left past the key: count the whole list.
        total = (
            await session.scalar(
                select(func.count())
                .select_from(Connection)
                .where(Connection.member_id == member_id, visible)
            )
            or 0
        )
    return Page(
        entries=[ConnectionEntry(r.other_id, r.relationship_id, r.since) for r in rows],
        has_next=more if before is None else True,
        has_previous=after is not None if before is None else more,
        total=total,
    )


def _key_value(key: tuple[dt.datetime, int]) -> ColumnElement[Any]:
    # Typed like the columns, so SQLite compares timestamps as it stores them.
    return tuple_(literal(key[0], Connection.since.type), literal(key[1], Connection.other_id.type))


async def mutual_counts(
    session: AsyncSession, *, viewer_id: int, member_ids: Sequence[int]
) -> dict[int, int]:
    """Return how many connections the viewer shares with each member."""
    mine, theirs = _MINE, _THEIRS
    rows = await session.execute(
        select(theirs.member_id, func.count())
        .join(mine, mine.other_id == theirs.other_id)
        .where(mine.member_id == viewer_id, theirs.member_id.in_(member_ids))
        .group_by(theirs.member_id)
    )
    counts = dict.fromkeys(member_ids, 0)
    counts.update({member_id: count for member_id, count in rows})
    return counts


async def mutual_connections(
    session: AsyncSession,
    *,
    viewer_id: int | None,
    member_id: int,
    other_id: int,
    limit: int,
    offset: int,
) -> tuple[list[int], bool, int]:
    """Return a page of the members connected to both that the viewer may see, strongest
    ties first; and how many there are."""
    mine, theirs = _MINE, _THEIRS
    rows = (
        await session.execute(
            select(mine.other_id, func.count().over().label("total"))
            .join(theirs, theirs.other_id == mine.other_id)
            .where(
                mine.member_id == member_id,
                theirs.member_id == other_id,
                mine.other_id.in_(select(Member.id).where(visible_members(viewer_id))),
            )
            .order_by((mine.strength + theirs.strength).desc(), mine.other_id)
            .limit(limit + 1)
            .offset(offset)
        )
    ).all()
    return [r.other_id for r in rows[:limit]], len(rows) > limit, rows[0].total if rows else 0


async def incoming_requests(
    session: AsyncSession, *, viewer_id: int, limit: int, offset: int
) -> tuple[list[Tie], bool]:
    """Return connection requests waiting for the viewer's answer, oldest first."""
    rows = (
        await session.scalars(
            select(Relationship)
            .where(
                Relationship.addressee_id == viewer_id,
                Relationship.status == RelationshipStatus.PENDING,
            )
            .order_by(Relationship.requested_at, Relationship.id)
            .limit(limit + 1)
            .offset(offset)
        )
    ).all()
    return [Tie(row, viewer_id) for row in rows[:limit]], len(rows) > limit


async def cooling(
    session: AsyncSession, *, viewer_id: int, now: dt.datetime, limit: int
) -> list[Tie]:
    """Return the viewer's once-strong ties that went quiet, the most faded first."""
    quiet_since = now - strength.COOLING_AFTER
    rows = await session.scalars(
        select(Relationship)
        .join(Connection, Connection.relationship_id == Relationship.id)
        .where(
            Connection.member_id == viewer_id,
            Relationship.help_count * strength.HELP_WEIGHT
            + Relationship.intro_count * strength.INTRO_WEIGHT
            >= strength.STRONG_EFFORT,
            Relationship.last_interaction_at <= quiet_since,
        )
        .order_by(Relationship.last_interaction_at)
        .limit(limit * 4)
    )
    ties = [Tie(row, viewer_id) for row in rows]
    return [tie for tie in ties if tie.is_cooling(now)][:limit]


async def notes(
    session: AsyncSession, *, viewer_id: int, relationship_ids: Sequence[int]
) -> dict[int, str]:
    """Return the viewer's private notes on these relationships."""
    rows = await session.execute(
        select(RelationshipNote.relationship_id, RelationshipNote.note).where(
            RelationshipNote.member_id == viewer_id,
            RelationshipNote.relationship_id.in_(relationship_ids),
        )
    )
    return dict(rows.all())


async def shared_tags(
    session: AsyncSession, pairs: Sequence[tuple[int, int]]
) -> dict[tuple[int, int], list[TagView]]:
    """Return the skills and interests each pair of members has in common."""
    if not pairs:
        return {}
    left, right = _LEFT_TAG, _RIGHT_TAG
    members = {m for pair in pairs for m in pair}
    rows = await session.execute(
        select(left.member_id, right.member_id, Tag.slug, Tag.label)
        .join(right, and_(right.tag_id == left.tag_id, right.member_id != left.member_id))
        .join(Tag, Tag.id == left.tag_id)
        .where(
            left.member_id.in_(members),
            right.member_id.in_(members),
            left.role != TagRole.SEEK,
            right.role != TagRole.SEEK,
        )
        .distinct()
        .order_by(Tag.slug)
    )
    wanted = set(pairs)
    found: dict[tuple[int, int], list[TagView]] = defaultdict(list)
    for a, b, slug, label in rows:
        if (a, b) in wanted and TagView(slug, label) not in found[(a, b)]:
            found[(a, b)].append(TagView(slug, label))
    return found


async def shared_circle_ids(
    session: AsyncSession, pairs: Sequence[tuple[int, int]]
) -> dict[tuple[int, int], list[int]]:
    """Return the circles each pair of members both belong to."""
    if not pairs:
        return {}
    left, right = _LEFT_CIRCLE, _RIGHT_CIRCLE
    members = {m for pair in pairs for m in pair}
    rows = await session.execute(
        select(left.member_id, right.member_id, left.circle_id)
        .join(right, and_(right.circle_id == left.circle_id, right.member_id != left.member_id))
        .where(
            left.member_id.in_(members),
            right.member_id.in_(members),
            left.status == MembershipStatus.ACTIVE,
            right.status == MembershipStatus.ACTIVE,
        )
        .order_by(left.circle_id)
    )
    wanted = set(pairs)
    found: dict[tuple[int, int], list[int]] = defaultdict(list)
    for a, b, circle_id in rows:
        if (a, b) in wanted:
            found[(a, b)].append(circle_id)
    return found


async def people_you_may_know(
    session: AsyncSession, *, viewer_id: int, limit: int
) -> list[Suggestion]:
    """Rank friends of friends by mutual connections, shared tags and shared circles.

    Leaves out the viewer, their connections, anyone with a pending request either way,
    and anyone blocked either way.
    """
    mine, theirs = _MINE, _THEIRS
    excluded = union_all(
        select(Connection.other_id).where(Connection.member_id == viewer_id),
        select(Relationship.addressee_id).where(
            Relationship.requester_id == viewer_id,
            Relationship.status == RelationshipStatus.PENDING,
        ),
        select(Relationship.requester_id).where(
            Relationship.addressee_id == viewer_id,
            Relationship.status == RelationshipStatus.PENDING,
        ),
        select(Block.blocked_id).where(Block.blocker_id == viewer_id),
        select(Block.blocker_id).where(Block.blocked_id == viewer_id),
        select(literal(viewer_id)),
    )
    candidates = (
        await session.execute(
            select(theirs.other_id, func.count().label("mutuals"))
            .join(mine, mine.other_id == theirs.member_id)
            .where(mine.member_id == viewer_id, theirs.other_id.not_in(excluded))
            .group_by(theirs.other_id)
            .order_by(func.count().desc(), theirs.other_id)
            .limit(max(limit * 5, 50))
        )
    ).all()
    if not candidates:
        return []
    pairs = [(viewer_id, row.other_id) for row in candidates]
    tags = await shared_tags(session, pairs)
    circles = await shared_circle_ids(session, pairs)
    suggestions = [
        Suggestion(
            member_id=row.other_id,
            score=round(
                row.mutuals
                + 0.5 * len(tags.get((viewer_id, row.other_id), ()))
                + 0.75 * len(circles.get((viewer_id, row.other_id), ())),
                3,
            ),
            mutual_count=row.mutuals,
            shared_tags=len(tags.get((viewer_id, row.other_id), ())),
            shared_circles=len(circles.get((viewer_id, row.other_id), ())),
        )
        for row in candidates
    ]
    suggestions.sort(key=lambda s: (-s.score, s.member_id))
    return suggestions[:limit]
