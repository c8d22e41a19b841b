"""Intro paths: the chains of connections through which a member could be introduced.

Paths are found with fixed-depth joins over ``connections``, never a recursive query: a
direct tie (1 hop), a shared connection (2 hops), or a connection of the viewer connected
to a connection of the target (3 hops, met in the middle). Each end contributes at most
its ``FRONTIER`` strongest ties to the 3-hop search, so a hub at either end does not
multiply the work; a path left out that way is no stronger than the weakest tie kept.
The statements are built once and run with parameters (building costs more than running).

A path goes only through members the viewer may see (an intro names its brokers), never
through the viewer or the target again, and never through anyone who blocked either end
or whom either end blocked. Paths rank by their weakest tie (the ``Connection.strength``
snapshot), then by how readily their brokers pass intros on, then by fewer hops.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Select,
    and_,
    bindparam,
    case,
    cast,
    exists,
    func,
    literal,
    literal_column,
    null,
    or_,
    select,
    union,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from domain.errors import Checks, Code
from domain.members.models import Member, Visibility
from domain.members.visibility import Relation, can_see
from domain.network.models import Block, Connection, Intro, IntroStatus
from domain.store import Id

# A statement of rows of several columns.
Rows = Select[*tuple[Any, ...]]

MAX_HOPS = 3
FIRST = 5
MAX_PATHS = 20
# Ties taken from each end into the 3-hop search: the strongest, so the best paths stay in.
FRONTIER = 150
# Paths fetched by strength before brokers' responsiveness reorders them.
CANDIDATES = 100
# A broker's responsiveness until they have been asked often enough to judge.
NEUTRAL = 0.5
MIN_ASKED = 3


@dataclasses.dataclass(frozen=True)
class IntroPathView:
    """A path from the viewer to a target: who is on it, and how strong its weakest tie is."""

    member_ids: tuple[int, ...]  # the viewer first, the target last
    strength: float  # the weakest tie's
    broker_score: float  # the chance every broker passes the intro on (1 with none)

    @property
    def broker_ids(self) -> tuple[int, ...]:
        return self.member_ids[1:-1]

    @property
    def hops(self) -> int:
        return len(self.member_ids) - 1


async def intro_paths(
    session: AsyncSession,
    *,
    viewer_id: int,
    target_id: int,
    max_hops: int = MAX_HOPS,
    first: int = FIRST,
) -> list[IntroPathView]:
    """Return the best paths from the viewer to a member, best first.

    There are none when the viewer may not see the member, or either blocked the other.
    """
    checks = Checks()
    if target_id == viewer_id:
        checks.add(Code.INVALID_INPUT, "you need no introduction to yourself", "target_id")
    if not 1 <= max_hops <= MAX_HOPS:
        checks.add(Code.INVALID_INPUT, f"between 1 and {MAX_HOPS}", "max_hops")
    if not 1 <= first <= MAX_PATHS:
        checks.add(Code.INVALID_INPUT, f"between 1 and {MAX_PATHS}", "first")
    checks.raise_any()
    ends = {"viewer_id": viewer_id, "target_id": target_id}
    target = (await session.execute(_target(), ends)).one_or_none()
    if target is None or target.blocked:
        return []
    relation = (
        Relation.CONNECTION
        if target.connected
        else Relation.NETWORK
        if target.shared
        else Relation.MEMBER
    )
    if not can_see(target.visibility, relation):
        return []
    statement = _candidates(
        session.get_bind().dialect.name, max_hops, target.degree < target.viewer_degree
    )
    rows = (await session.execute(statement, ends)).all()
    brokers = {broker for row in rows for broker in (row.x, row.y) if broker is not None}
    responsiveness = await broker_responsiveness(session, brokers)
    found = [
        IntroPathView(
            member_ids=(viewer_id, *middle, target_id),
            strength=row.weakest,
            broker_score=math.prod(responsiveness[broker] for broker in middle),
        )
        for row in rows
        for middle in [tuple(broker for broker in (row.x, row.y) if broker is not None)]
    ]
    found.sort(key=lambda path: (-path.strength, -path.broker_score, path.hops, path.member_ids))
    return found[:first]


@functools.cache
def _target() -> Rows:
    """Return the statement telling how the target stands to the viewer.

    How they show their profile, whether the two are connected or share a connection (as
    ``domain.members.visibility.relations`` tells, for one member), whether either blocked
    the other, and how many connections each has.
    """
    viewer_id, target_id = bindparam("viewer_id", type_=Id), bindparam("target_id", type_=Id)
    mine, theirs = aliased(Connection), aliased(Connection)
    return select(
        Member.visibility,
        exists()
        .where(Connection.member_id == viewer_id, Connection.other_id == target_id)
        .label("connected"),
        exists()
        .where(
            mine.member_id == viewer_id,
            theirs.member_id == target_id,
            theirs.other_id == mine.other_id,
        )
        .label("shared"),
        exists()
        .where(
            or_(
                and_(Block.blocker_id == viewer_id, Block.blocked_id == target_id),
                and_(Block.blocker_id == target_id, Block.blocked_id == viewer_id),
            )
        )
        .label("blocked"),
        _degree(viewer_id).label("viewer_degree"),
        _degree(target_id).label("degree"),
    ).where(Member.id == target_id)


def _degree(member_id: BindParameter[int]) -> Any:
    """Return how many connections a member has, as a scalar subquery (an index-only count)."""
    tie = aliased(Connection)
    return select(func.count()).where(tie.member_id == member_id).scalar_subquery()


@functools.cache
def _candidates(dialect: str, max_hops: int, from_target: bool) -> Rows:
    """Return the statement for the candidate paths: hops, brokers x and y, weakest tie.

    Built once per database, length and side to walk from (building it costs more than
    running it); it takes ``viewer_id`` and ``target_id`` as parameters.
    """
    viewer_id, target_id = bindparam("viewer_id", type_=Id), bindparam("target_id", type_=Id)
    ends = (viewer_id, target_id)
    blocked = union(
        select(Block.blocked_id).where(Block.blocker_id.in_(ends)),
        select(Block.blocker_id).where(Block.blocked_id.in_(ends)),
    )
    # SQLite's many-argument min() is PostgreSQL's least().
    least = func.least if dialect == "postgresql" else func.min
    no_broker = cast(null(), Id)
    direct = aliased(Connection)
    branches: list[Rows] = [
        select(
            literal(1).label("hops"),
            no_broker.label("x"),
            no_broker.label("y"),
            direct.strength.label("weakest"),
        ).where(direct.member_id == viewer_id, direct.other_id == target_id)
    ]
    if max_hops >= 2:
        # Every shared connection, found on the key columns alone (an index-only scan of
        # each neighbourhood); the strengths are read for the few members shared.
        mine, theirs, broker = aliased(Connection), aliased(Connection), aliased(Member)
        to_viewer, to_target = aliased(Connection), aliased(Connection)
        branches.append(
            select(
                literal(2),
                mine.other_id,
                no_broker,
                least(to_viewer.strength, to_target.strength),
            )
            .join(theirs, theirs.other_id == mine.other_id)
            .join(*_tie(to_viewer, viewer_id, mine.other_id))
            .join(*_tie(to_target, target_id, mine.other_id))
            .join(broker, broker.id == mine.other_id)
            .where(
                mine.member_id == viewer_id,
                theirs.member_id == target_id,
                broker.visibility != Visibility.ONLY_ME,
                mine.other_id.not_in(blocked),
            )
        )
    if max_hops >= 3:
        near_viewer = _frontier(viewer_id, target_id, blocked, _shown_as_connection)
        near_target = _frontier(
            target_id, viewer_id, blocked, lambda broker: _shown_beyond(broker, viewer_id)
        )
        # Meet in the middle: walk out of one side's frontier on the ties' key columns
        # alone (an index-only scan) into the other side's; strengths only for the ties
        # that meet. Out of the end with fewer ties, the walk is usually the shorter.
        link, middle = aliased(Connection), aliased(Connection)
        near, far = (near_target, near_viewer) if from_target else (near_viewer, near_target)
        branches.append(
            select(
                literal(3),
                near_viewer.c.member_id,
                near_target.c.member_id,
                least(near_viewer.c.strength, middle.strength, near_target.c.strength),
            )
            .select_from(near)
            .join(link, link.member_id == near.c.member_id)
            .join(far, far.c.member_id == link.other_id)
            .join(*_tie(middle, link.member_id, link.other_id))
            .where(near_viewer.c.member_id != near_target.c.member_id)
        )
    paths = union_all(*branches).subquery("paths")
    return (
        select(paths.c.hops, paths.c.x, paths.c.y, paths.c.weakest)
        .order_by(paths.c.weakest.desc(), paths.c.hops, paths.c.x, paths.c.y)
        .limit(CANDIDATES)
    )


def _tie(tie: Any, member_id: Any, other_id: Any) -> tuple[Any, ColumnElement[bool]]:
    """Return ``tie`` with the join condition that makes it the tie of these two members."""
    return tie, and_(tie.member_id == member_id, tie.other_id == other_id)


def _frontier(
    member_id: BindParameter[int],
    other_end_id: BindParameter[int],
    blocked: Any,
    shown: Callable[[Any], ColumnElement[bool]],
) -> Any:
    """Return a member's strongest ties (at most ``FRONTIER``) fit to carry a path."""
    tie = aliased(Connection)
    strongest = (
        select(tie.other_id.label("member_id"), tie.strength)
        .where(tie.member_id == member_id, tie.other_id != other_end_id)
        .order_by(tie.strength.desc(), tie.other_id)
        .limit(FRONTIER)
        .subquery()
    )
    broker = aliased(Member)
    return (
        select(strongest.c.member_id, strongest.c.strength)
        .join(broker, broker.id == strongest.c.member_id)
        .where(shown(broker), strongest.c.member_id.not_in(blocked))
        .cte()
    )


def _shown_as_connection(broker: Any) -> ColumnElement[bool]:
    """Tell whether a connection of the viewer shows them their profile."""
    visibility: ColumnElement[Visibility] = broker.visibility
    return visibility != Visibility.ONLY_ME


def _shown_beyond(broker: Any, viewer_id: BindParameter[int]) -> ColumnElement[bool]:
    """Tell whether a member in the viewer's network (2nd degree or nearer) shows their profile."""
    tie = aliased(Connection)
    visibility: ColumnElement[Visibility] = broker.visibility
    return or_(
        visibility.in_([Visibility.EVERYONE, Visibility.NETWORK]),
        and_(
            visibility == Visibility.CONNECTIONS,
            exists().where(tie.member_id == viewer_id, tie.other_id == broker.id),
        ),
    )


async def broker_responsiveness(
    session: AsyncSession, member_ids: Iterable[int]
) -> dict[int, float]:
    """Return how readily each member passes on the intros they are asked to broker, 0–1.

    The share of decided asks they forwarded; neutral until they were asked ``MIN_ASKED``
    times. An intro counts as forwarded once the broker forwarded it, whatever the target
    said; as not forwarded when it was declined or expired before that.
    """
    ids = set(member_ids)
    found = dict.fromkeys(ids, NEUTRAL)
    if not ids:
        return found
    rows = await session.execute(_intros_brokered(), {"member_ids": list(ids)})
    for broker_id, asked, passed in rows:
        if asked >= MIN_ASKED:
            found[broker_id] = passed / asked
    return found


@functools.cache
def _intros_brokered() -> Rows:
    """Return the statement counting each broker's decided asks, and those they forwarded."""
    forwarded = Intro.forwarded_at.is_not(None)
    return (
        select(Intro.broker_id, func.count(), func.count(case((forwarded, 1))))
        .where(
            Intro.broker_id.in_(bindparam("member_ids", expanding=True)),
            or_(forwarded, Intro.status.in_([IntroStatus.DECLINED, IntroStatus.EXPIRED])),
        )
        .group_by(Intro.broker_id)
    )


async def degree_of_separation(
    session: AsyncSession, viewer_id: int, member_ids: Iterable[int]
) -> dict[int, int | None]:
    """Return how many hops each member is from the viewer: 1, 2, 3, or None if further.

    The viewer is 0 from themself. A member's degree is one more than the nearest of their
    connections; in two statements for any number of members.
    """
    ids = set(member_ids)
    found: dict[int, int | None] = dict.fromkeys(ids)
    if viewer_id in ids:
        found[viewer_id] = 0
    others = ids - {viewer_id}
    if not others:
        return found
    viewer_degree = await session.scalar(_degree_of(), {"member_id": viewer_id}) or 0
    statement = _degrees_from_members() if viewer_degree > HUB else _degrees_from_viewer()
    rows = await session.execute(statement, {"viewer_id": viewer_id, "member_ids": sorted(others)})
    found.update({member_id: degree for member_id, degree in rows})
    return found


# A viewer with more connections than this has a second degree too large to gather (and
# PostgreSQL, seeing it would not fit in work_mem, would search it row by row): the
# members' connections are checked against the viewer's first degree instead.
HUB = 400


@functools.cache
def _degree_of() -> Rows:
    return select(_degree(bindparam("member_id", type_=Id)))


@functools.cache
def _degrees_from_viewer() -> Rows:
    """Return the statement for each member's degree, gathering the viewer's second degree once.

    On the ties' key columns alone (index-only scans), into a set searched by hash.
    """
    viewer_id = bindparam("viewer_id", type_=Id)
    theirs, mine, near, beyond = (aliased(Connection) for _ in range(4))
    first = select(mine.other_id).where(mine.member_id == viewer_id)
    second = (
        select(beyond.other_id)
        .join(near, near.other_id == beyond.member_id)
        .where(near.member_id == viewer_id)
    )
    degree = func.min(
        case(
            (theirs.other_id == viewer_id, 1),
            (theirs.other_id.in_(first), 2),
            (theirs.other_id.in_(second), 3),
        )
    )
    return (
        select(theirs.member_id, degree)
        .where(theirs.member_id.in_(bindparam("member_ids", expanding=True)))
        .group_by(theirs.member_id)
    )


@functools.cache
def _degrees_from_members() -> Rows:
    """Return the statement for each member's degree, walking out from the members.

    For each connection of theirs that is not the viewer's, whether any of its connections
    is, stopping at the first (``OFFSET 0`` keeps PostgreSQL from gathering every
    connection's connections into one set instead).
    """
    viewer_id = bindparam("viewer_id", type_=Id)
    theirs, mine, link, back = (aliased(Connection) for _ in range(4))
    first = select(mine.other_id).where(mine.member_id == viewer_id)
    reaches = exists(
        select(literal(1))
        .select_from(link)
        .join(back, and_(back.member_id == viewer_id, back.other_id == link.other_id))
        .where(link.member_id == theirs.other_id)
        .offset(literal_column("0"))
    )
    degree = func.min(
        case(
            (theirs.other_id == viewer_id, 1),
            (theirs.other_id.in_(first), 2),
            (reaches, 3),
        )
    )
    return (
        select(theirs.member_id, degree)
        .where(theirs.member_id.in_(bindparam("member_ids", expanding=True)))
        .group_by(theirs.member_id)
    )
