"""Reading circles as a given viewer sees them: whole batches at a time, never row by row.

Open and on-request circles show to everyone, signed in or not; a private circle shows only
to its members and to the members invited into it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    and_,
    case,
    func,
    literal_column,
    or_,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from domain.members.models import Member, MemberTag, Tag, TagRole
from domain.members.read import TagView, ordered_tags
from domain.members.visibility import visible_members
from domain.network.models import (
    Block,
    Circle,
    CircleMembership,
    CircleRole,
    CircleTag,
    CircleVisibility,
    Connection,
    MembershipStatus,
)
from domain.search import full_text, words_of


@dataclasses.dataclass(frozen=True)
class CircleMemberView:
    """A member's place in a circle: their role, and since when (joined, or asked to join)."""

    member_id: int
    role: CircleRole
    since: dt.datetime


@dataclasses.dataclass(frozen=True)
class MemberPage:
    entries: list[CircleMemberView]
    total: int | None
    has_next: bool


EMPTY_PAGE = MemberPage(entries=[], total=0, has_next=False)


@dataclasses.dataclass(frozen=True)
class CirclePage:
    circles: list[Circle]
    total: int
    has_next: bool


@dataclasses.dataclass(frozen=True)
class CircleSuggestion:
    """A circle the viewer may like, and why: connections in it, tags they share with it."""

    circle: Circle
    score: float
    connections: int
    shared_tags: tuple[TagView, ...]


def visible_circles(viewer_id: int | None) -> ColumnElement[bool]:
    """Return the SQL condition for circles the viewer may see."""
    listed = Circle.visibility != CircleVisibility.PRIVATE
    if viewer_id is None:
        return listed
    mine = select(CircleMembership.circle_id).where(
        CircleMembership.member_id == viewer_id,
        CircleMembership.status.in_([MembershipStatus.ACTIVE, MembershipStatus.INVITED]),
    )
    return or_(listed, Circle.id.in_(mine))


async def circles_by_ids(
    session: AsyncSession, *, viewer_id: int | None, circle_ids: Iterable[int]
) -> dict[int, Circle]:
    """Return the circles the viewer may see among these, by id."""
    ids = set(circle_ids)
    if not ids:
        return {}
    rows = await session.scalars(
        select(Circle).where(Circle.id.in_(ids), visible_circles(viewer_id))
    )
    return {circle.id: circle for circle in rows}


async def tags_by_circle(
    session: AsyncSession, circle_ids: Sequence[int]
) -> dict[int, list[TagView]]:
    """Return each circle's tags, in the order its owner gave them."""
    return await ordered_tags(
        session,
        owner_id=CircleTag.circle_id,
        tag_id=CircleTag.tag_id,
        position=CircleTag.position,
        owner_ids=circle_ids,
    )


async def memberships_of(
    session: AsyncSession, *, member_id: int, circle_ids: Sequence[int]
) -> dict[int, CircleMembership]:
    """Return a member's memberships (of any status) among these circles, by circle id."""
    rows = await session.scalars(
        select(CircleMembership).where(
            CircleMembership.member_id == member_id, CircleMembership.circle_id.in_(circle_ids)
        )
    )
    return {membership.circle_id: membership for membership in rows}


_ROLE_ORDER = case(
    (CircleMembership.role == CircleRole.OWNER, 0),
    (CircleMembership.role == CircleRole.MODERATOR, 1),
    else_=2,
)


async def member_pages(
    session: AsyncSession,
    *,
    viewer_id: int | None,
    circle_ids: Sequence[int],
    limit: int,
    offset: int,
) -> dict[int, MemberPage]:
    """Return one page of each circle's members, owners then moderators first.

    Only members whose profile the viewer may see are listed; whether the viewer may see
    the circle is the caller's check.
    """
    return await _pages(
        session,
        viewer_id=viewer_id,
        where=and_(
            CircleMembership.circle_id.in_(circle_ids),
            CircleMembership.status == MembershipStatus.ACTIVE,
        ),
        since=CircleMembership.joined_at,
        order=(_ROLE_ORDER, CircleMembership.joined_at, CircleMembership.member_id),
        limit=limit,
        offset=offset,
    )


async def join_request_pages(
    session: AsyncSession,
    *,
    viewer_id: int | None,
    circle_ids: Sequence[int],
    limit: int,
    offset: int,
) -> dict[int, MemberPage]:
    """Return one page of the pending requests to join each circle the viewer runs, oldest first.

    Circles the viewer does not own or moderate have no page.
    """
    if viewer_id is None:
        return {}
    runs = aliased(CircleMembership)
    run_by_viewer = select(runs.circle_id).where(
        runs.member_id == viewer_id,
        runs.status == MembershipStatus.ACTIVE,
        runs.role.in_([CircleRole.OWNER, CircleRole.MODERATOR]),
        runs.circle_id.in_(circle_ids),
    )
    return await _pages(
        session,
        viewer_id=viewer_id,
        where=and_(
            CircleMembership.circle_id.in_(run_by_viewer),
            CircleMembership.status == MembershipStatus.REQUESTED,
        ),
        since=CircleMembership.created_at,
        order=(CircleMembership.created_at, CircleMembership.member_id),
        limit=limit,
        offset=offset,
    )


async def _pages(
    session: AsyncSession,
    *,
    viewer_id: int | None,
    where: ColumnElement[bool],
    since: Any,
    order: tuple[Any, ...],
    limit: int,
    offset: int,
) -> dict[int, MemberPage]:
    # Numbering each circle's rows lets one statement cut the same page out of every circle.
    numbered = (
        select(
            CircleMembership.circle_id,
            CircleMembership.member_id,
            CircleMembership.role,
            since.label("since"),
            func.row_number()
            .over(partition_by=CircleMembership.circle_id, order_by=order)
            .label("position"),
            func.count().over(partition_by=CircleMembership.circle_id).label("total"),
        )
        .join(Member, Member.id == CircleMembership.member_id)
        .where(where, visible_members(viewer_id))
        .subquery()
    )
    rows = await session.execute(
        select(numbered)
        .where(numbered.c.position > offset, numbered.c.position <= offset + limit + 1)
        .order_by(numbered.c.circle_id, numbered.c.position)
    )
    entries: dict[int, list[CircleMemberView]] = defaultdict(list)
    totals: dict[int, int] = {}
    for row in rows:
        entries[row.circle_id].append(CircleMemberView(row.member_id, row.role, row.since))
        totals[row.circle_id] = row.total
    return {
        circle_id: MemberPage(
            entries=found[:limit], total=totals[circle_id], has_next=len(found) > limit
        )
        for circle_id, found in entries.items()
    }


async def search_circles(
    session: AsyncSession,
    *,
    viewer_id: int | None,
    query: str | None,
    limit: int,
    offset: int,
) -> CirclePage:
    """Find the circles the viewer may see by words, best matches first, then the largest.

    Without words, every circle the viewer may see is listed, the largest first. Words match
    names, descriptions and tags by the database's full-text index, each as a prefix.
    """
    words = words_of(query)
    statement = select(Circle).where(visible_circles(viewer_id))
    order: list[ColumnElement[Any]] = []
    if words:
        statement, rank = full_text(
            session.get_bind().dialect.name,
            statement,
            id_column=Circle.id,
            search_text=Circle.search_text,
            words=words,
        )
        order.append(rank)
    order += [Circle.member_count.desc(), Circle.id.desc()]
    statement = statement.add_columns(func.count().over().label("total"))
    rows = (await session.execute(statement.order_by(*order).limit(limit + 1).offset(offset))).all()
    return CirclePage(
        circles=[row[0] for row in rows[:limit]],
        total=rows[0].total if rows else 0,
        has_next=len(rows) > limit,
    )


async def suggested_circles(
    session: AsyncSession, *, viewer_id: int, limit: int
) -> list[CircleSuggestion]:
    """Suggest circles the viewer is not in: those their connections are in, and those
    tagged with their skills and interests, the most of both first."""
    if limit <= 0:
        return []
    viewer_tags = select(MemberTag.tag_id).where(
        MemberTag.member_id == viewer_id,
        MemberTag.role.in_([TagRole.SKILL, TagRole.INTEREST]),
    )
    one, none = literal_column("1", Integer), literal_column("0", Integer)
    hits = union_all(
        select(
            CircleMembership.circle_id.label("circle_id"),
            one.label("connection"),
            none.label("tag"),
        ).where(
            CircleMembership.status == MembershipStatus.ACTIVE,
            CircleMembership.member_id.in_(
                select(Connection.other_id).where(Connection.member_id == viewer_id)
            ),
        ),
        select(CircleTag.circle_id, none, one).where(CircleTag.tag_id.in_(viewer_tags)),
    ).subquery()
    counts = (
        select(
            hits.c.circle_id,
            func.sum(hits.c.connection).label("connections"),
            func.sum(hits.c.tag).label("tags"),
        )
        .group_by(hits.c.circle_id)
        .subquery()
    )
    score = counts.c.connections + counts.c.tags
    rows = (
        await session.execute(
            select(Circle, counts.c.connections, counts.c.tags)
            .join(counts, counts.c.circle_id == Circle.id)
            .where(
                Circle.visibility != CircleVisibility.PRIVATE,
                Circle.id.not_in(
                    select(CircleMembership.circle_id).where(
                        CircleMembership.member_id == viewer_id
                    )
                ),
                Circle.owner_id.not_in(
                    select(Block.blocker_id).where(Block.blocked_id == viewer_id)
                ),
                Circle.owner_id.not_in(
                    select(Block.blocked_id).where(Block.blocker_id == viewer_id)
                ),
            )
            .order_by(score.desc(), Circle.member_count.desc(), Circle.id.desc())
            .limit(limit)
        )
    ).all()
    shared: dict[int, list[TagView]] = defaultdict(list)
    tagged = [circle.id for circle, _, tags in rows if tags]
    if tagged:
        tag_rows = await session.execute(
            select(CircleTag.circle_id, Tag.slug, Tag.label)
            .join(Tag, Tag.id == CircleTag.tag_id)
            .where(CircleTag.circle_id.in_(tagged), CircleTag.tag_id.in_(viewer_tags))
            .order_by(CircleTag.circle_id, CircleTag.position)
        )
        for circle_id, slug, label in tag_rows:
            shared[circle_id].append(TagView(slug, label))
    return [
        CircleSuggestion(
            circle=circle,
            score=float(connections + tags),
            connections=int(connections),
            shared_tags=tuple(shared[circle.id]),
        )
        for circle, connections, tags in rows
    ]
