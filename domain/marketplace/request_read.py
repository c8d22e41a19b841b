"""Reading help requests as a given viewer may see them: whole pages at a time.

``visible_requests`` is ``rules.admits`` as one SQL condition, so every read path (the
feed, ``node``, the author's profile, search) filters in the database alike.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, false, func, literal, or_, select, union
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from domain.marketplace.models import (
    HelpRequest,
    HelpRequestCircle,
    HelpRequestMember,
    HelpRequestTag,
)
from domain.marketplace.rules import (
    Audience,
    AudienceScope,
    HelpRequestKind,
    HelpRequestStatus,
    admits,
)
from domain.members import tags as tag_rules
from domain.members.models import Give, Member, MemberTag, Tag, TagRole
from domain.members.read import Profile, TagView, ordered_tags
from domain.members.visibility import can_see, relations
from domain.network.models import Block, CircleMembership, Connection, MembershipStatus
from domain.search import full_text, words_of

_MINE = aliased(Connection, name="viewer_ties")
_THEIRS = aliased(Connection, name="author_ties")


@dataclasses.dataclass(frozen=True)
class AudienceView:
    """Whom the author chose: shown to the author alone."""

    circle_ids: tuple[int, ...]
    member_ids: tuple[int, ...]


@dataclasses.dataclass(frozen=True)
class FeedPage:
    requests: list[HelpRequest]
    total: int | None  # None unless asked for
    has_next: bool
    # Filled in when asked for: each author as the viewer may see them (None when hidden),
    # and each request's tags, in the author's order.
    authors: dict[int, Profile | None] = dataclasses.field(default_factory=dict)
    tags: dict[int, list[TagView]] = dataclasses.field(default_factory=dict)


def _first_degree(viewer_id: int) -> Any:
    return select(Connection.other_id).where(Connection.member_id == viewer_id).correlate(None)


def _network(viewer_id: int) -> Any:
    """Members one or two hops from the viewer."""
    mine, theirs = _MINE, _THEIRS
    second = (
        select(theirs.member_id)
        .join(mine, mine.other_id == theirs.other_id)
        .where(mine.member_id == viewer_id)
    )
    return union(_first_degree(viewer_id), second)


def visible_requests(viewer_id: int | None) -> ColumnElement[bool]:
    """Return the SQL condition for help requests whose audience admits the viewer."""
    public = HelpRequest.audience_scope == AudienceScope.PUBLIC
    if viewer_id is None:
        return public
    blocked = union(
        select(Block.blocker_id).where(Block.blocked_id == viewer_id),
        select(Block.blocked_id).where(Block.blocker_id == viewer_id),
    )
    in_circles = (
        select(HelpRequestCircle.help_request_id)
        .join(CircleMembership, CircleMembership.circle_id == HelpRequestCircle.circle_id)
        .where(
            CircleMembership.member_id == viewer_id,
            CircleMembership.status == MembershipStatus.ACTIVE,
        )
        .correlate(None)
    )
    chosen = (
        select(HelpRequestMember.help_request_id)
        .where(HelpRequestMember.member_id == viewer_id)
        .correlate(None)
    )
    scope = HelpRequest.audience_scope
    return or_(
        public,
        HelpRequest.author_id == viewer_id,
        and_(
            HelpRequest.author_id.not_in(blocked),
            or_(
                and_(
                    scope == AudienceScope.NETWORK, HelpRequest.author_id.in_(_network(viewer_id))
                ),
                and_(
                    scope == AudienceScope.CONNECTIONS,
                    HelpRequest.author_id.in_(_first_degree(viewer_id)),
                ),
                and_(scope == AudienceScope.CIRCLES, HelpRequest.id.in_(in_circles)),
                and_(
                    scope.in_([AudienceScope.MEMBERS, AudienceScope.SUGGESTED]),
                    HelpRequest.id.in_(chosen),
                ),
            ),
        ),
    )


def shown_status(request: HelpRequest, now: dt.datetime) -> HelpRequestStatus:
    """Return the status as it stands now: an open request past its expiry has expired."""
    if request.status is HelpRequestStatus.OPEN and request.expires_at <= now:
        return HelpRequestStatus.EXPIRED
    return request.status


async def sees_request(session: AsyncSession, request: HelpRequest, viewer_id: int) -> bool:
    """Tell whether a member is in a request's audience (the rule of ``rules.admits``)."""
    related = await relations(session, viewer_id=viewer_id, member_ids=[request.author_id])
    circle_ids = frozenset(
        await session.scalars(
            select(HelpRequestCircle.circle_id)
            .join(
                CircleMembership,
                (CircleMembership.circle_id == HelpRequestCircle.circle_id)
                & (CircleMembership.member_id == viewer_id)
                & (CircleMembership.status == MembershipStatus.ACTIVE),
            )
            .where(HelpRequestCircle.help_request_id == request.id)
        )
    )
    member_ids = frozenset(
        await session.scalars(
            select(HelpRequestMember.member_id).where(
                HelpRequestMember.help_request_id == request.id,
                HelpRequestMember.member_id == viewer_id,
            )
        )
    )
    audience = Audience(request.audience_scope, circle_ids=circle_ids, member_ids=member_ids)
    return admits(
        audience,
        relation=related[request.author_id],
        viewer_id=viewer_id,
        viewer_circle_ids=circle_ids,
    )


async def requests_by_ids(
    session: AsyncSession, *, viewer_id: int | None, request_ids: Iterable[int]
) -> dict[int, HelpRequest]:
    """Return the help requests the viewer may see among these, by id."""
    ids = set(request_ids)
    if not ids:
        return {}
    rows = await session.scalars(
        select(HelpRequest).where(HelpRequest.id.in_(ids), visible_requests(viewer_id))
    )
    return {row.id: row for row in rows}


async def tags_by_request(
    session: AsyncSession, request_ids: Sequence[int]
) -> dict[int, list[TagView]]:
    """Return each request's tags, in the author's order."""
    return await ordered_tags(
        session,
        owner_id=HelpRequestTag.help_request_id,
        tag_id=HelpRequestTag.tag_id,
        position=HelpRequestTag.position,
        owner_ids=request_ids,
    )


async def audiences(session: AsyncSession, request_ids: Sequence[int]) -> dict[int, AudienceView]:
    """Return the circles and members each request was shown to (for its author's eyes)."""
    rows = await session.execute(
        union(
            select(
                HelpRequestCircle.help_request_id.label("request_id"),
                HelpRequestCircle.circle_id.label("id"),
                literal(1).label("is_circle"),
            ).where(HelpRequestCircle.help_request_id.in_(request_ids)),
            select(
                HelpRequestMember.help_request_id,
                HelpRequestMember.member_id,
                literal(0),
            ).where(HelpRequestMember.help_request_id.in_(request_ids)),
        )
    )
    circles: dict[int, list[int]] = defaultdict(list)
    members: dict[int, list[int]] = defaultdict(list)
    for request_id, item_id, is_circle in rows:
        (circles if is_circle else members)[request_id].append(item_id)
    return {
        request_id: AudienceView(
            tuple(sorted(circles.get(request_id, ()))), tuple(sorted(members.get(request_id, ())))
        )
        for request_id in request_ids
    }


def _status_condition(statuses: Sequence[HelpRequestStatus], now: dt.datetime) -> Any:
    wanted = []
    for status in statuses:
        if status is HelpRequestStatus.OPEN:
            wanted.append(and_(HelpRequest.status == status, HelpRequest.expires_at > now))
        elif status is HelpRequestStatus.EXPIRED:
            lapsed = and_(
                HelpRequest.status == HelpRequestStatus.OPEN, HelpRequest.expires_at <= now
            )
            wanted.append(or_(HelpRequest.status == status, lapsed))
        else:
            wanted.append(HelpRequest.status == status)
    return or_(false(), *wanted)


async def feed(
    session: AsyncSession,
    *,
    viewer_id: int | None,
    now: dt.datetime,
    statuses: Sequence[HelpRequestStatus] = (),
    kinds: Sequence[HelpRequestKind] = (),
    tags: Sequence[str] = (),
    author_id: int | None = None,
    query: str | None = None,
    from_network: bool = False,
    matching_me: bool = False,
    limit: int,
    offset: int,
    with_total: bool = True,
    with_authors: bool = False,
    with_tags: bool = False,
) -> FeedPage:
    """Return a page of the requests the viewer may see, newest first (best match first
    when there are words to search).

    One statement reads the page, with its authors' rows joined in when ``with_authors``;
    the authors' relations to a signed-in viewer take one more, the tags one more: the
    count never grows with the page. Counting every match costs a pass over all of them,
    so the total is only counted ``with_total``.
    """
    statement = select(HelpRequest).where(visible_requests(viewer_id))
    if statuses:
        statement = statement.where(_status_condition(statuses, now))
    if kinds:
        statement = statement.where(HelpRequest.kind.in_(kinds))
    if author_id is not None:
        statement = statement.where(HelpRequest.author_id == author_id)
    slugs = [slug for slug in (tag_rules.normalise(tag) for tag in tags) if slug][:10]
    if tags:
        tagged = (
            select(HelpRequestTag.help_request_id)
            .join(Tag, Tag.id == HelpRequestTag.tag_id)
            .where(Tag.slug.in_(slugs))
        )
        statement = statement.where(HelpRequest.id.in_(tagged))
    if from_network or matching_me:
        if viewer_id is None:
            return FeedPage(requests=[], total=0, has_next=False)
        if from_network:
            statement = statement.where(HelpRequest.author_id.in_(_network(viewer_id)))
        if matching_me:
            mine = union(
                select(MemberTag.tag_id).where(
                    MemberTag.member_id == viewer_id, MemberTag.role == TagRole.SKILL
                ),
                select(Give.tag_id).where(Give.member_id == viewer_id),
            )
            matching = select(HelpRequestTag.help_request_id).where(HelpRequestTag.tag_id.in_(mine))
            statement = statement.where(HelpRequest.id.in_(matching))
    order: list[ColumnElement[Any]] = []
    if words := words_of(query):
        statement, rank = full_text(
            session.get_bind().dialect.name,
            statement,
            id_column=HelpRequest.id,
            search_text=HelpRequest.search_text,
            words=words,
        )
        order.append(rank)
    order += [HelpRequest.created_at.desc(), HelpRequest.id.desc()]
    # Rank narrow rows (ids) first, then read the page's wide rows and authors: sorting every
    # match with its text and its author joined in costs far more than the page.
    ranked = statement.with_only_columns(HelpRequest.id)
    if words:
        ranked = ranked.add_columns(func.row_number().over(order_by=order).label("position"))
    if with_total:
        ranked = ranked.add_columns(func.count().over().label("total"))
    window_ = ranked.order_by(*order).limit(limit + 1).offset(offset).subquery()
    page_rows: Select[Any] = select(HelpRequest).join(window_, window_.c.id == HelpRequest.id)
    if with_authors:
        page_rows = page_rows.join(Member, Member.id == HelpRequest.author_id).add_columns(Member)
    if with_total:
        page_rows = page_rows.add_columns(window_.c.total)
    # Newest first is ranked again among the page's rows: cheaper than numbering them all.
    outer = (
        [window_.c.position] if words else [HelpRequest.created_at.desc(), HelpRequest.id.desc()]
    )
    rows = (await session.execute(page_rows.order_by(*outer))).all()
    page = [row[0] for row in rows[:limit]]
    authors: dict[int, Profile | None] = {}
    if with_authors and page:
        members = {row[1].id: row[1] for row in rows[:limit]}
        related = await relations(session, viewer_id=viewer_id, member_ids=members)
        authors = {
            member_id: Profile(member, related[member_id])
            if can_see(member.visibility, related[member_id])
            else None
            for member_id, member in members.items()
        }
    page_tags: dict[int, list[TagView]] = {}
    if with_tags and page:
        ids = [request.id for request in page]
        found = await tags_by_request(session, ids)
        page_tags = {request_id: found.get(request_id, []) for request_id in ids}
    return FeedPage(
        requests=page,
        total=(rows[0].total if rows else 0) if with_total else None,
        has_next=len(rows) > limit,
        authors=authors,
        tags=page_tags,
    )
