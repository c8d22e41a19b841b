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

from sqlalchemy import BindParameter, ColumnElement, and_, literal, or_, select, union
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
from domain.members.read import TagView, ordered_tags
from domain.members.visibility import relations
from domain.network.models import Block, CircleMembership, Connection, MembershipStatus

_MINE = aliased(Connection, name="viewer_ties")
_THEIRS = aliased(Connection, name="author_ties")


@dataclasses.dataclass(frozen=True)
class AudienceView:
    """Whom the author chose: shown to the author alone."""

    circle_ids: tuple[int, ...]
    member_ids: tuple[int, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class RequestView:
    """A help request as a page of them reads it: every column but its search text and
    bookkeeping times, without the cost of an ORM entity per row."""

    id: int
    author_id: int
    title: str
    details: str | None
    kind: HelpRequestKind
    status: HelpRequestStatus
    audience_scope: AudienceScope
    bounty: int | None
    offers_iou: bool
    max_helpers: int
    accepted_count: int
    expires_at: dt.datetime
    created_at: dt.datetime


# The columns of a RequestView, in its fields' order.
VIEW_COLUMNS = tuple(getattr(HelpRequest, field.name) for field in dataclasses.fields(RequestView))

Viewer = int | BindParameter[int]


def _first_degree(viewer_id: Viewer) -> Any:
    return select(Connection.other_id).where(Connection.member_id == viewer_id).correlate(None)


def network_of(viewer_id: Viewer) -> Any:
    """Members one or two hops from the viewer."""
    mine, theirs = _MINE, _THEIRS
    second = (
        select(theirs.member_id)
        .join(mine, mine.other_id == theirs.other_id)
        .where(mine.member_id == viewer_id)
    )
    return union(_first_degree(viewer_id), second)


def visible_requests(viewer_id: Viewer | None) -> ColumnElement[bool]:
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
                    scope == AudienceScope.NETWORK, HelpRequest.author_id.in_(network_of(viewer_id))
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


def shown_status(request: HelpRequest | RequestView, now: dt.datetime) -> HelpRequestStatus:
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
