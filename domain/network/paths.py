"""Intro paths: the chains of connections through which a member could be introduced.

Paths are found with fixed-depth joins over ``connections``, never a recursive query: a
direct tie (1 hop), a shared connection (2 hops), or a connection of the viewer connected
to a connection of the target (3 hops, met in the middle). Each end contributes at most
its ``FRONTIER`` strongest ties to the 3-hop search, so a hub at either end does not
multiply the work. The statements are built once and run with parameters (building costs
more than running).

A path goes only through members the viewer may see (an intro names its brokers), never
through the viewer or the target again, and never through anyone who blocked either end
or whom either end blocked. Paths rank by their weakest tie as strong as it is *now*, then
by how readily their brokers pass intros on, then by fewer hops.

How strong a tie is now: ``Connection.strength`` is what it was at the tie's last contact
(``Relationship.last_interaction_at``), and it halves every ``strength.HALF_LIFE`` since
(``tie_strength``; the relationship's own strength, ``graph.Tie.strength``, but for the
snapshot's rounding to 4 decimals). The SQL applies that decay to every tie of every path
it weighs and keeps the ``CANDIDATES`` strongest; Python computes each one's strength
exactly and ranks them. One proxy remains: an end with more than ``FRONTIER`` ties brings
to the 3-hop search its strongest by the snapshot (the order an index keeps), not by the
strength now, so a path through a tie strong long ago may take the place of one through a
fresher tie. bench/README.md measures how often that gives a weaker best path.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import math
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Float,
    Integer,
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
from domain.network import strength
from domain.network.intros import OPEN
from domain.network.models import Block, Connection, Intro, IntroStatus, Relationship
from domain.store import Id, UTCDateTime

# A statement of rows of several columns.
Rows = Select[*tuple[Any, ...]]

MAX_HOPS = 3
FIRST = 5
MAX_PATHS = 20
# Ties taken from each end into the 3-hop search: the strongest (by their snapshot).
FRONTIER = 150
# Paths fetched by (decayed) strength before brokers' responsiveness reorders them.
CANDIDATES = 100
# A broker's responsiveness until they have been asked often enough to judge.
NEUTRAL = 0.5
MIN_ASKED = 3


@dataclasses.dataclass(frozen=True)
class IntroPathView:
    """A path from the viewer to a target: who is on it, and how strong its weakest tie is."""

    member_ids: tuple[int, ...]  # the viewer first, the target last
    strength: float  # the weakest tie's, now
    broker_score: float  # the chance every broker passes the intro on (1 with none)

    @property
    def broker_ids(self) -> tuple[int, ...]:
        return self.member_ids[1:-1]

    @property
    def hops(self) -> int:
        return len(self.member_ids) - 1


def tie_strength(snapshot: float, last_contact: dt.datetime, now: dt.datetime) -> float:
    """Return how strong a tie is now, from its strength at its last contact (0–1).

    As ``strength.strength`` decays a tie's peak: halved every ``strength.HALF_LIFE``.
    """
    quiet = max((now - last_contact).total_seconds(), 0.0)
    decay: float = 0.5 ** (quiet / strength.HALF_LIFE.total_seconds())
    return round(min(max(snapshot * decay, 0.0), 1.0), 4)


async def intro_paths(
    session: AsyncSession,
    *,
    viewer_id: int,
    target_id: int,
    now: dt.datetime,
    max_hops: int = MAX_HOPS,
    first: int = FIRST,
) -> list[IntroPathView]:
    """Return the best paths from the viewer to a member as of ``now``, best first.

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
    rows = (await session.execute(statement, {**ends, "now": now})).all()
    brokers = {broker for row in rows for broker in (row.x, row.y) if broker is not None}
    responsiveness = await broker_responsiveness(session, brokers, now=now)
    found = [
        IntroPathView(
            member_ids=(viewer_id, *middle, target_id),
            strength=min(
                tie_strength(snapshot, last_contact, now)
                for snapshot, last_contact in (
                    (row.s1, row.l1),
                    (row.s2, row.l2),
                    (row.s3, row.l3),
                )
                if last_contact is not None
            ),
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
    """Return the statement for the candidate paths, the strongest now first.

    Each row: hops, brokers x and y, and each tie's strength at its last contact and when
    that was (s1, l1 … s3, l3; the ties a shorter path lacks are null). Built once per
    database, length and side to walk from (building it costs more than running it); it
    takes ``viewer_id``, ``target_id`` and ``now`` as parameters.
    """
    viewer_id, target_id = bindparam("viewer_id", type_=Id), bindparam("target_id", type_=Id)
    now = bindparam("now", type_=UTCDateTime())
    ends = (viewer_id, target_id)
    blocked = union(
        select(Block.blocked_id).where(Block.blocker_id.in_(ends)),
        select(Block.blocker_id).where(Block.blocked_id.in_(ends)),
    )
    # SQLite's many-argument min() is PostgreSQL's least().
    least = func.least if dialect == "postgresql" else func.min
    no_broker = cast(null(), Id)
    no_tie = (cast(null(), Float), cast(null(), UTCDateTime()))

    direct = aliased(Connection)
    one = _Tie.of(direct, dialect, now)
    branches: list[Rows] = [
        select(
            literal(1).label("hops"),
            no_broker.label("x"),
            no_broker.label("y"),
            one.snapshot.label("s1"),
            one.last_contact.label("l1"),
            no_tie[0].label("s2"),
            no_tie[1].label("l2"),
            no_tie[0].label("s3"),
            no_tie[1].label("l3"),
            one.estimate.label("weakest"),
        )
        .join(*one.relationship)
        .where(direct.member_id == viewer_id, direct.other_id == target_id)
    ]
    if max_hops >= 2:
        # Every shared connection, found on the key columns alone (an index-only scan of
        # each neighbourhood); the ties are read for the few members shared.
        mine, theirs, broker = aliased(Connection), aliased(Connection), aliased(Member)
        to_viewer, to_target = aliased(Connection), aliased(Connection)
        first, second = _Tie.of(to_viewer, dialect, now), _Tie.of(to_target, dialect, now)
        branches.append(
            select(
                literal(2),
                mine.other_id,
                no_broker,
                first.snapshot,
                first.last_contact,
                second.snapshot,
                second.last_contact,
                *no_tie,
                least(first.estimate, second.estimate),
            )
            .join(theirs, theirs.other_id == mine.other_id)
            .join(*_tie(to_viewer, viewer_id, mine.other_id))
            .join(*_tie(to_target, target_id, mine.other_id))
            .join(*first.relationship)
            .join(*second.relationship)
            .join(broker, broker.id == mine.other_id)
            .where(
                mine.member_id == viewer_id,
                theirs.member_id == target_id,
                broker.visibility != Visibility.ONLY_ME,
                mine.other_id.not_in(blocked),
            )
        )
    if max_hops >= 3:
        near_viewer = _frontier(dialect, viewer_id, target_id, blocked, _shown_as_connection)
        near_target = _frontier(
            dialect, target_id, viewer_id, blocked, lambda broker: _shown_beyond(broker, viewer_id)
        )
        # Meet in the middle: walk out of one side's frontier on the ties' key columns
        # alone (an index-only scan) into the other side's; the ties that meet are read.
        # Out of the end with fewer ties, the walk is usually the shorter.
        link, middle = aliased(Connection), aliased(Connection)
        near, far = (near_target, near_viewer) if from_target else (near_viewer, near_target)
        between = _Tie.of(middle, dialect, now)
        branches.append(
            select(
                literal(3),
                near_viewer.c.member_id,
                near_target.c.member_id,
                near_viewer.c.strength,
                near_viewer.c.last_contact,
                between.snapshot,
                between.last_contact,
                near_target.c.strength,
                near_target.c.last_contact,
                least(near_viewer.c.estimate, between.estimate, near_target.c.estimate),
            )
            .select_from(near)
            .join(link, link.member_id == near.c.member_id)
            .join(far, far.c.member_id == link.other_id)
            .join(*_tie(middle, link.member_id, link.other_id))
            .join(*between.relationship)
            .where(near_viewer.c.member_id != near_target.c.member_id)
        )
    paths = union_all(*branches).subquery("paths")
    return (
        select(
            paths.c.hops,
            paths.c.x,
            paths.c.y,
            paths.c.s1,
            paths.c.l1,
            paths.c.s2,
            paths.c.l2,
            paths.c.s3,
            paths.c.l3,
        )
        .order_by(paths.c.weakest.desc(), paths.c.hops, paths.c.x, paths.c.y)
        .limit(CANDIDATES)
    )


def _tie(tie: Any, member_id: Any, other_id: Any) -> tuple[Any, ColumnElement[bool]]:
    """Return ``tie`` with the join condition that makes it the tie of these two members."""
    return tie, and_(tie.member_id == member_id, tie.other_id == other_id)


@dataclasses.dataclass(frozen=True)
class _Tie:
    """What the candidates read of one tie: its relationship (to join), its strength at its
    last contact, when that was, and about how strong it is now (to choose by)."""

    relationship: tuple[Any, ColumnElement[bool]]
    snapshot: Any
    last_contact: Any
    estimate: Any

    @classmethod
    def of(cls, connection: Any, dialect: str, now: Any) -> _Tie:
        relationship = aliased(Relationship)
        last = _last_contact(relationship)
        return cls(
            (relationship, relationship.id == connection.relationship_id),
            connection.strength,
            last,
            decayed(dialect, connection.strength, last, now),
        )


def _last_contact(relationship: Any) -> ColumnElement[dt.datetime]:
    """Return when a tie was last in contact, as ``graph.Tie.strength`` reads it."""
    return func.coalesce(
        relationship.last_interaction_at, relationship.connected_at, relationship.requested_at
    )


# 2^-f = e^(-f·ln 2) for 0 ≤ f < 1 by its series to the 5th power (off by under 0.04 %).
_SERIES = [(-math.log(2)) ** power / math.factorial(power) for power in range(6)]
# How far ``decayed`` may be from the exact decay, relative: SQLite's series, with room.
DECAY_ERROR = 0.001


def decayed(dialect: str, snapshot: Any, last_contact: Any, now: Any) -> ColumnElement[float]:
    """Return, in SQL, about how strong a tie is now (to choose candidates by).

    ``tie_strength`` gives the exact figure; this one is within ``DECAY_ERROR`` of it
    (relative, before ``tie_strength`` rounds). Intro paths and matching's second degree
    both choose by it. PostgreSQL computes 2^-h (h: half-lives since
    the last contact) with power(); SQLite has no power() in every build (Windows' Python
    lacks the math functions), so it takes 2^-h as 2^-⌊h⌋ (a bit shift) times 2^-f of the
    fraction left (a short series).
    """
    if dialect == "postgresql":
        quiet_seconds = cast(func.extract("epoch", now - last_contact), Float)
        half_lives = func.greatest(quiet_seconds / strength.HALF_LIFE.total_seconds(), 0.0)
        decayed: ColumnElement[float] = snapshot * func.power(0.5, half_lives)
        return decayed
    quiet_days = func.julianday(now) - func.julianday(last_contact)
    half_lives = func.max(quiet_days / (strength.HALF_LIFE / dt.timedelta(days=1)), 0.0)
    whole = func.min(cast(half_lives, Integer), 62)
    fraction = half_lives - cast(half_lives, Integer)
    series: Any = literal_column(repr(_SERIES[-1]), Float)
    for coefficient in reversed(_SERIES[:-1]):
        series = series * fraction + literal_column(repr(coefficient), Float)
    shift = literal_column("1", Integer).op("<<", return_type=Integer)(whole)
    decayed = snapshot * series / shift
    return decayed


def _frontier(
    dialect: str,
    member_id: BindParameter[int],
    other_end_id: BindParameter[int],
    blocked: Any,
    shown: Callable[[Any], ColumnElement[bool]],
) -> Any:
    """Return a member's strongest ties (at most ``FRONTIER``) fit to carry a path.

    Strongest by the snapshot ``Connection.strength`` (the index's order), each with its
    strength now: the proxy the module's docstring tells of.
    """
    tie = aliased(Connection)
    strongest = (
        select(tie.other_id.label("member_id"), tie.strength, tie.relationship_id)
        .where(tie.member_id == member_id, tie.other_id != other_end_id)
        .order_by(tie.strength.desc(), tie.other_id)
        .limit(FRONTIER)
        .subquery()
    )
    broker, relationship = aliased(Member), aliased(Relationship)
    last = _last_contact(relationship)
    now = bindparam("now", type_=UTCDateTime())
    return (
        select(
            strongest.c.member_id,
            strongest.c.strength,
            last.label("last_contact"),
            decayed(dialect, strongest.c.strength, last, now).label("estimate"),
        )
        .join(broker, broker.id == strongest.c.member_id)
        .join(relationship, relationship.id == strongest.c.relationship_id)
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
    session: AsyncSession, member_ids: Iterable[int], *, now: dt.datetime
) -> dict[int, float]:
    """Return how readily each member passes on the intros they are asked to broker, 0–1.

    The share of decided asks they forwarded; neutral until they were asked ``MIN_ASKED``
    times. An intro counts as forwarded once the broker forwarded it, whatever the target
    said; as not forwarded when it was declined, or lapsed before that — recorded expired
    or still open past its expiry at ``now`` (as ``intros.status_at`` reads it).
    """
    ids = set(member_ids)
    found = dict.fromkeys(ids, NEUTRAL)
    if not ids:
        return found
    rows = await session.execute(_intros_brokered(), {"member_ids": list(ids), "now": now})
    for broker_id, asked, passed in rows:
        if asked >= MIN_ASKED:
            found[broker_id] = passed / asked
    return found


@functools.cache
def _intros_brokered() -> Rows:
    """Return the statement counting each broker's decided asks, and those they forwarded."""
    forwarded = Intro.forwarded_at.is_not(None)
    lapsed = and_(Intro.status.in_(OPEN), Intro.expires_at <= bindparam("now", type_=UTCDateTime()))
    return (
        select(Intro.broker_id, func.count(), func.count(case((forwarded, 1))))
        .where(
            Intro.broker_id.in_(bindparam("member_ids", expanding=True)),
            or_(
                forwarded,
                Intro.status.in_([IntroStatus.DECLINED, IntroStatus.EXPIRED]),
                lapsed,
            ),
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
