"""Reading members as a given viewer sees them: whole batches at a time, never row by row."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    bindparam,
    func,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute, aliased

from domain.members import tags as tag_rules
from domain.members.models import (
    Give,
    Goal,
    GoalKind,
    GoalStatus,
    GoalTag,
    Member,
    MemberTag,
    Tag,
    TagRole,
    Visibility,
)
from domain.members.visibility import Relation, can_see, relations, shown_to, visible_members
from domain.search import full_text, words_of


@dataclasses.dataclass(frozen=True)
class Profile:
    """A member as one viewer may see them: the parts the viewer may not see are withheld."""

    member: Member
    relation: Relation

    @property
    def is_viewer(self) -> bool:
        return self.relation is Relation.SELF

    def shows(self, visibility: Visibility) -> bool:
        """Tell whether a part with this visibility is shown to the viewer."""
        return can_see(visibility, self.relation)

    @property
    def location(self) -> str | None:
        return self.member.location if self.shows(self.member.location_visibility) else None

    @property
    def shows_seeks(self) -> bool:
        return self.shows(self.member.seeks_visibility)

    @property
    def shows_gives(self) -> bool:
        return self.shows(self.member.gives_visibility)

    @property
    def shows_goals(self) -> bool:
        return self.shows(self.member.goals_visibility)

    @property
    def shows_connections(self) -> bool:
        return self.shows(self.member.connections_visibility)


@dataclasses.dataclass(frozen=True)
class TagView:
    slug: str
    label: str


@dataclasses.dataclass(frozen=True)
class GiveView:
    id: int
    member_id: int
    tag: TagView
    description: str | None
    monthly_capacity: int | None
    created_at: dt.datetime


@dataclasses.dataclass(frozen=True)
class GoalView:
    id: int
    member_id: int
    title: str
    kind: GoalKind
    tags: tuple[TagView, ...]
    until: dt.date | None
    status: GoalStatus
    created_at: dt.datetime


@dataclasses.dataclass(frozen=True)
class SearchPage:
    profiles: list[Profile]
    total: int
    has_next: bool


async def profiles(
    session: AsyncSession, *, viewer_id: int | None, member_ids: Iterable[int]
) -> dict[int, Profile]:
    """Return the profiles the viewer may see among these members, by id."""
    ids = set(member_ids)
    if not ids:
        return {}
    rows = (await session.scalars(select(Member).where(Member.id.in_(ids)))).all()
    return await _as_profiles(session, viewer_id, rows)


async def profile_by_handle(
    session: AsyncSession, *, viewer_id: int | None, handle: str
) -> Profile | None:
    """Return the profile with this handle, if the viewer may see it."""
    handle = handle.strip().lower()
    if "\x00" in handle:
        return None  # no handle has one, and PostgreSQL refuses it even in a comparison
    member = await session.scalar(select(Member).where(Member.handle == handle))
    if member is None:
        return None
    return (await _as_profiles(session, viewer_id, [member])).get(member.id)


async def _as_profiles(
    session: AsyncSession, viewer_id: int | None, members: Sequence[Member]
) -> dict[int, Profile]:
    related = await relations(session, viewer_id=viewer_id, member_ids=[m.id for m in members])
    return {
        member.id: Profile(member, related[member.id])
        for member in members
        if can_see(member.visibility, related[member.id])
    }


async def ordered_tags(
    session: AsyncSession,
    *,
    owner_id: InstrumentedAttribute[int],
    tag_id: InstrumentedAttribute[int],
    position: InstrumentedAttribute[int],
    owner_ids: Iterable[int],
) -> dict[int, list[TagView]]:
    """Return the tags of each owner (a goal, a circle, a request…) in their given order.

    The three columns belong to the owner's link table, e.g. ``GoalTag.goal_id``.
    """
    rows = await session.execute(
        _ordered_tags(owner_id, tag_id, position), {"owner_ids": list(owner_ids)}
    )
    found: dict[int, list[TagView]] = defaultdict(list)
    for owner, slug, label in rows:
        found[owner].append(TagView(slug, label))
    return found


@functools.cache
def _ordered_tags(
    owner_id: InstrumentedAttribute[int],
    tag_id: InstrumentedAttribute[int],
    position: InstrumentedAttribute[int],
) -> Select[int, str, str]:
    # Built once per link table: building it cost more than running it for a page.
    return (
        select(owner_id, Tag.slug, Tag.label)
        .join(Tag, Tag.id == tag_id)
        .where(owner_id.in_(bindparam("owner_ids", expanding=True)))
        .order_by(owner_id, position)
    )


async def tags_by_member(
    session: AsyncSession, member_ids: Sequence[int]
) -> dict[tuple[int, TagRole], list[TagView]]:
    """Return each member's tags for each role, in the member's order."""
    rows = await session.execute(
        select(MemberTag.member_id, MemberTag.role, Tag.slug, Tag.label)
        .join(Tag, Tag.id == MemberTag.tag_id)
        .where(MemberTag.member_id.in_(member_ids))
        .order_by(MemberTag.member_id, MemberTag.role, MemberTag.position)
    )
    found: dict[tuple[int, TagRole], list[TagView]] = defaultdict(list)
    for row in rows:
        found[(row.member_id, row.role)].append(TagView(row.slug, row.label))
    return found


async def gives_by_member(
    session: AsyncSession, member_ids: Sequence[int]
) -> dict[int, list[GiveView]]:
    """Return each member's standing offers, oldest first."""
    found: dict[int, list[GiveView]] = defaultdict(list)
    for give in await _gives(session, Give.member_id.in_(member_ids)):
        found[give.member_id].append(give)
    return found


async def gives_by_ids(session: AsyncSession, give_ids: Sequence[int]) -> dict[int, GiveView]:
    """Return standing offers by id (whether their owner shows them is the caller's check)."""
    return {give.id: give for give in await _gives(session, Give.id.in_(give_ids))}


async def _gives(session: AsyncSession, where: ColumnElement[bool]) -> list[GiveView]:
    rows = await session.execute(
        select(Give, Tag.slug, Tag.label)
        .join(Tag, Tag.id == Give.tag_id)
        .where(where)
        .order_by(Give.member_id, Give.id)
    )
    return [
        GiveView(
            give.id,
            give.member_id,
            TagView(slug, label),
            give.description,
            give.monthly_capacity,
            give.created_at,
        )
        for give, slug, label in rows
    ]


async def goals_by_member(
    session: AsyncSession, member_ids: Sequence[int]
) -> dict[int, list[GoalView]]:
    """Return each member's goals, active ones first, soonest deadline first."""
    found: dict[int, list[GoalView]] = defaultdict(list)
    for goal in await _goals(session, Goal.member_id.in_(member_ids)):
        found[goal.member_id].append(goal)
    return found


async def goals_by_ids(session: AsyncSession, goal_ids: Sequence[int]) -> dict[int, GoalView]:
    """Return goals by id (whether their owner shows them is the caller's check)."""
    return {goal.id: goal for goal in await _goals(session, Goal.id.in_(goal_ids))}


async def _goals(session: AsyncSession, where: ColumnElement[bool]) -> list[GoalView]:
    goals = (
        await session.scalars(
            select(Goal).where(where).order_by(Goal.member_id, Goal.status, Goal.until, Goal.id)
        )
    ).all()
    goal_tags = await ordered_tags(
        session,
        owner_id=GoalTag.goal_id,
        tag_id=GoalTag.tag_id,
        position=GoalTag.position,
        owner_ids=[goal.id for goal in goals],
    )
    return [
        GoalView(
            goal.id,
            goal.member_id,
            goal.title,
            goal.kind,
            tuple(goal_tags[goal.id]),
            goal.until,
            goal.status,
            goal.created_at,
        )
        for goal in goals
    ]


_GIVE_OWNER = aliased(Member, name="give_owner")


async def search_members(
    session: AsyncSession,
    *,
    viewer_id: int | None,
    query: str | None,
    tags: Sequence[str],
    limit: int,
    offset: int,
) -> SearchPage:
    """Find the members the viewer may see by text and tags, best matches first.

    Text is matched by the database's full-text index (FTS5 on SQLite, a tsvector GIN index
    on PostgreSQL) with every word as a prefix; tags match skills, interests and the gives the
    viewer may see, and a member matching more of them ranks higher.
    """
    words = words_of(query)
    slugs = [slug for slug in (tag_rules.normalise(tag) for tag in tags) if slug][:10]
    # Rank ids alone (narrow rows sort fast), then read the page's rows.
    statement = select(Member.id).where(visible_members(viewer_id))
    order: list[ColumnElement[Any]] = []
    if slugs:
        # Constants, not a subquery: the planner then uses the tags' statistics.
        tag_ids = list(await session.scalars(select(Tag.id).where(Tag.slug.in_(slugs))))
        if not tag_ids:
            return SearchPage(profiles=[], total=0, has_next=False)
        owner = _GIVE_OWNER
        hits = union_all(
            select(MemberTag.member_id, MemberTag.tag_id).where(
                MemberTag.tag_id.in_(tag_ids), MemberTag.role != TagRole.SEEK
            ),
            # A give counts only where its owner shows gives to the viewer: finding a
            # member by a tag must not tell what they keep hidden.
            select(Give.member_id, Give.tag_id)
            .join(owner, owner.id == Give.member_id)
            .where(
                Give.tag_id.in_(tag_ids),
                shown_to(viewer_id, owner.gives_visibility, owner.id),
            ),
        ).subquery()
        matched = (
            select(hits.c.member_id, func.count(func.distinct(hits.c.tag_id)).label("hits"))
            .group_by(hits.c.member_id)
            .subquery()
        )
        statement = statement.join(matched, matched.c.member_id == Member.id)
        order.append(matched.c.hits.desc())
    if words:
        statement, rank = full_text(
            session.get_bind().dialect.name,
            statement,
            id_column=Member.id,
            search_text=Member.search_text,
            words=words,
        )
        order.append(rank)
    order.append(Member.id.desc())
    statement = statement.add_columns(func.count().over().label("total"))
    rows = (await session.execute(statement.order_by(*order).limit(limit + 1).offset(offset))).all()
    page_ids = [row.id for row in rows[:limit]]
    members = (
        {
            member.id: member
            for member in await session.scalars(select(Member).where(Member.id.in_(page_ids)))
        }
        if page_ids
        else {}
    )
    found = await _as_profiles(session, viewer_id, list(members.values()))
    return SearchPage(
        profiles=[found[member_id] for member_id in page_ids if member_id in found],
        total=rows[0].total if rows else 0,
        has_next=len(rows) > limit,
    )
