"""Suggested audience: which of an author's network to show a help request to, and why.

Candidates are the author's 1st and 2nd degree (never anyone blocked either way, only
profiles the author may see) with at least one of the request's tags among their skills,
gives or active goals. ``score`` ranks them — pure, its weights in ``AudienceWeights`` —
by how well they match, how close they are (tie strength now, or the strongest mutual
connection for the 2nd degree), the active circles they share with the author, and how
much of their weekly help budget (``members.help_requests_per_week``) the requests they
were shown in the last week used up. ``suggest_audience`` reads everything in a fixed
number of statements, whatever the size of the network.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from collections import defaultdict
from collections.abc import Callable, Collection, Sequence
from typing import Any, NamedTuple

from sqlalchemy import (
    ColumnElement,
    and_,
    case,
    exists,
    func,
    literal,
    or_,
    select,
    union,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from domain.errors import Code, DomainError, invalid, not_found
from domain.marketplace.models import HelpRequest, HelpRequestMember, HelpRequestTag
from domain.marketplace.request_read import visible_requests
from domain.members.models import (
    Give,
    Goal,
    GoalStatus,
    GoalTag,
    Member,
    MemberTag,
    Tag,
    TagRole,
    Visibility,
)
from domain.members.visibility import Relation, can_see
from domain.network.models import (
    Block,
    Circle,
    CircleMembership,
    Connection,
    MembershipStatus,
)
from domain.network.paths import decayed, tie_strength
from domain.store import UTCDateTime, any_of

FIRST = 20
MAX_FIRST = 50
BUDGET_WINDOW = dt.timedelta(days=7)

# Built once: an alias made per call copies every column of its table each time.
_MINE = aliased(Connection, name="author_ties")
_THEIRS = aliased(Connection, name="broker_ties")
_AUTHOR_CIRCLES = aliased(CircleMembership, name="author_circles")
_BROKER = aliased(Member, name="brokers")
_THEIRS_BACK = aliased(Connection, name="member_ties")
# The profiles a connection may see: the brokers a 2nd-degree path may name.
_SHOWN_TO_CONNECTIONS = [v for v in Visibility if can_see(v, Relation.CONNECTION)]


class ReasonCode(enum.Enum):
    SKILL_MATCH = "SKILL_MATCH"
    GIVES = "GIVES"
    GOAL = "GOAL"
    STRONG_TIE = "STRONG_TIE"
    SHARED_CIRCLE = "SHARED_CIRCLE"
    VIA = "VIA"


@dataclasses.dataclass(frozen=True)
class Reason:
    """Why a member is suggested: a tag's label, a circle's name or a broker's handle.

    ``subject_id`` is the circle (SHARED_CIRCLE) or the broker (VIA); None otherwise.
    """

    code: ReasonCode
    label: str
    subject_id: int | None = None


@dataclasses.dataclass(frozen=True)
class AudienceSuggestion:
    member_id: int
    score: float
    reasons: list[Reason]


@dataclasses.dataclass(frozen=True, kw_only=True)
class AudienceWeights:
    """Every weight of the ranking, in one place."""

    skill: float = 1.0  # per request tag among the member's skills
    give: float = 1.5  # per request tag among their gives (an offer weighs more)
    goal: float = 0.5  # per request tag among their active goals' tags
    tie: float = 1.0  # closeness multiplies the match by 1 + tie × strength now
    strong_tie: float = 0.5  # strength from which a tie is a reason of its own
    second_degree: float = 0.5  # the 2nd degree's closeness is discounted by this factor
    circle: float = 0.25  # each shared active circle adds this share of the score …
    max_circles: int = 3  # … for at most this many circles
    budget: float = 0.5  # share of the score lost as the week's budget is used up


WEIGHTS = AudienceWeights()


@dataclasses.dataclass(frozen=True)
class TagRef:
    id: int
    label: str


@dataclasses.dataclass(frozen=True)
class Broker:
    member_id: int
    handle: str
    strength: float  # the path's weaker tie, now


@dataclasses.dataclass(frozen=True, kw_only=True)
class Candidate:
    """What the ranking knows of one member of the author's network."""

    member_id: int
    skills: Sequence[TagRef] = ()
    gives: Sequence[TagRef] = ()
    goals: Sequence[TagRef] = ()
    tie_strength: float | None = None  # 1st degree: the tie's strength now
    broker: Broker | None = None  # 2nd degree: the strongest mutual connection
    circles: Sequence[tuple[int, str]] = ()  # shared active circles (id, name)
    budget: int = 0  # help requests a week they accept
    recent_asks: int = 0  # requests they were shown in the last BUDGET_WINDOW


def score(candidate: Candidate, weights: AudienceWeights = WEIGHTS) -> AudienceSuggestion | None:
    """Rank one candidate, or None when they match no tag or have no budget left."""
    c, w = candidate, weights
    if not (c.skills or c.gives or c.goals):
        return None
    if c.budget <= 0 or c.recent_asks >= c.budget:
        return None
    reasons = [Reason(ReasonCode.SKILL_MATCH, tag.label) for tag in c.skills]
    reasons += [Reason(ReasonCode.GIVES, tag.label) for tag in c.gives]
    reasons += [Reason(ReasonCode.GOAL, tag.label) for tag in c.goals]
    match = w.skill * len(c.skills) + w.give * len(c.gives) + w.goal * len(c.goals)
    if c.broker is not None:
        closeness = w.second_degree * (1 + w.tie * c.broker.strength)
    else:
        strength = c.tie_strength or 0.0
        closeness = 1 + w.tie * strength
        if strength >= w.strong_tie:
            reasons.append(Reason(ReasonCode.STRONG_TIE, f"{strength:.2f}"))
    circles = sorted(c.circles, key=lambda circle: (circle[1], circle[0]))
    reasons += [Reason(ReasonCode.SHARED_CIRCLE, name, circle_id) for circle_id, name in circles]
    if c.broker is not None:
        reasons.append(Reason(ReasonCode.VIA, c.broker.handle, c.broker.member_id))
    together = 1 + w.circle * min(len(circles), w.max_circles)
    available = 1 - w.budget * c.recent_asks / c.budget
    return AudienceSuggestion(
        c.member_id, round(match * closeness * together * available, 4), reasons
    )


def rank(
    candidates: Sequence[Candidate], *, limit: int, weights: AudienceWeights = WEIGHTS
) -> list[AudienceSuggestion]:
    """Return the best ``limit`` suggestions, highest score first (then by member id)."""
    scored = [s for s in (score(c, weights) for c in candidates) if s is not None]
    scored.sort(key=lambda s: (-s.score, s.member_id))
    return scored[:limit]


async def suggest_audience(
    session: AsyncSession,
    *,
    author_id: int,
    help_request_id: int,
    now: dt.datetime,
    limit: int = FIRST,
    weights: AudienceWeights = WEIGHTS,
) -> list[AudienceSuggestion]:
    """Return whom of the author's network to show their request to, best first, and why.

    Refuses a request the author may not see (NOT_FOUND) and someone else's (FORBIDDEN).
    """
    if not 1 <= limit <= MAX_FIRST:
        raise invalid(f"between 1 and {MAX_FIRST} suggestions", "first")
    author = await session.scalar(
        select(HelpRequest.author_id).where(
            HelpRequest.id == help_request_id, visible_requests(author_id)
        )
    )
    if author is None:
        raise not_found("the help request", "help_request_id")
    if author != author_id:
        raise DomainError(
            Code.FORBIDDEN, "only its author is told whom to show a request to", "help_request_id"
        )
    tags = {
        tag_id: label
        for tag_id, label in await session.execute(
            select(Tag.id, Tag.label)
            .join(HelpRequestTag, HelpRequestTag.tag_id == Tag.id)
            .where(HelpRequestTag.help_request_id == help_request_id)
            .order_by(HelpRequestTag.position)
        )
    }
    if not tags:
        return []
    first, second = await network_matches(session, author_id=author_id, tag_ids=list(tags), now=now)
    if not first and not second:
        return []
    brokers = {broker for paths in second.values() for broker, _ in paths}
    ids = set(first) | set(second)
    members = await _members(
        session, ids | brokers, help_request_id=help_request_id, since=now - BUDGET_WINDOW
    )
    matches = await tag_matches(session, ids, list(tags))
    circles = await shared_circles(session, author_id=author_id, member_ids=ids)

    candidates = []
    for member_id in ids:
        member = members.get(member_id)
        relation = Relation.CONNECTION if member_id in first else Relation.NETWORK
        if member is None or not can_see(member.visibility, relation):
            continue
        broker = None
        if member_id not in first:
            shown = [
                (strength, broker_id)
                for broker_id, strength in second[member_id]
                if broker_id in members
                and can_see(members[broker_id].visibility, Relation.CONNECTION)
            ]
            if not shown:
                continue
            strength, broker_id = max(shown, key=lambda path: (path[0], -path[1]))
            broker = Broker(broker_id, members[broker_id].handle, strength)
        found = matches.get(member_id, {})

        def refs(role: str, found: dict[str, set[int]] = found) -> list[TagRef]:
            return [
                TagRef(tag_id, label)
                for tag_id, label in tags.items()
                if tag_id in found.get(role, ())
            ]

        candidates.append(
            Candidate(
                member_id=member_id,
                skills=refs("SKILL"),
                gives=refs("GIVES") if can_see(member.gives_visibility, relation) else [],
                goals=refs("GOAL") if can_see(member.goals_visibility, relation) else [],
                tie_strength=first.get(member_id),
                broker=broker,
                circles=circles.get(member_id, []),
                budget=member.budget,
                recent_asks=member.recent_asks,
            )
        )
    return rank(candidates, limit=limit, weights=weights)


async def network_matches(
    session: AsyncSession,
    *,
    author_id: int,
    tag_ids: list[int],
    now: dt.datetime,
    among: Collection[int] | None = None,
) -> tuple[dict[int, float], dict[int, list[tuple[int, float]]]]:
    """Return the author's matching 1st degree (their tie's strength now) and matching 2nd
    degree (each mutual connection and the path's weaker tie now); two statements.

    ``among``: the 2nd degree only among these members (none: no second statement). Each
    tie is decayed from its connection row's own snapshot and last contact, without joining
    their relationships.
    """
    mine, theirs = _MINE, _THEIRS
    blocked = _blocked_with(author_id)
    matching = _held(tag_ids).subquery()
    first_rows = await session.execute(
        select(mine.other_id, mine.strength, mine.last_contact_at).where(
            mine.member_id == author_id,
            mine.other_id.not_in(blocked),
            _holds_any(mine.other_id, tag_ids),
        )
    )
    first = {
        member_id: tie_strength(snapshot, contact, now)
        for member_id, snapshot, contact in first_rows
    }
    if among is not None and not among:
        return first, {}
    if among is None:
        # From the author's side: every tie of their connections, to the members who match.
        member, tie = theirs.other_id, theirs
        joined = theirs.member_id == mine.other_id
        chosen: ColumnElement[bool] = member.in_(select(matching.c.member_id))
    else:
        # From the members' side: each one's own ties into the author's connections (a
        # tie's two rows carry the same strength and last contact), not every tie of the
        # author's connections (a hundred thousand next to a hub).
        member, tie = _THEIRS_BACK.member_id, _THEIRS_BACK
        joined = tie.other_id == mine.other_id
        chosen = any_of(session, member, among)
    second_statement = (
        select(
            member,
            mine.other_id,
            mine.strength,
            mine.last_contact_at,
            tie.strength,
            tie.last_contact_at,
        )
        .join(tie, joined)
        .where(mine.member_id == author_id, mine.other_id.not_in(blocked), chosen)
        .where(*_beyond(author_id, blocked, member))
    )
    second: dict[int, list[tuple[int, float]]] = defaultdict(list)
    for member_id, broker_id, near, near_contact, far, far_contact in await session.execute(
        second_statement
    ):
        weaker = min(tie_strength(near, near_contact, now), tie_strength(far, far_contact, now))
        second[member_id].append((broker_id, weaker))
    return first, dict(second)


# The ways a member holds a tag, in ``_held``'s terms.
HELD_ROLES = ("SKILL", "GIVES", "GOAL")


class Reach(NamedTuple):
    """A member of the author's 2nd degree as one statement sees them all: about how strong
    their strongest path through a mutual connection who shows the author their profile is
    (None: no such connection), and which of the request's tags they hold, how: bit
    3·i + r for its i-th tag held as ``HELD_ROLES[r]`` (``held_tags`` spells it out)."""

    estimate: float | None
    held: int


def held_tags(held: int, tag_ids: Sequence[int]) -> dict[str, set[int]]:
    """Return the tags a ``Reach.held`` names, per role, as ``tag_matches`` does."""
    found: dict[str, set[int]] = {}
    for position, tag_id in enumerate(tag_ids):
        for bit, role in enumerate(HELD_ROLES):
            if held >> (len(HELD_ROLES) * position + bit) & 1:
                found.setdefault(role, set()).add(tag_id)
    return found


async def second_degree_reach(
    session: AsyncSession, *, author_id: int, tag_ids: list[int], now: dt.datetime
) -> dict[int, Reach]:
    """Return the author's matching 2nd degree, one entry per member, in one statement.

    The paths are weighed in SQL, each tie decayed by ``paths.decayed`` (within
    ``paths.DECAY_ERROR`` of ``tie_strength``): only the best path of each member comes
    back, whatever the number of mutual connections. ``network_matches`` with ``among``
    gives the exact paths of the few that deserve them.
    """
    mine, theirs, broker = _MINE, _THEIRS, _BROKER
    dialect = session.get_bind().dialect.name
    moment = literal(now, UTCDateTime())
    blocked = _blocked_with(author_id)
    # The author's ties first, each decayed once and told whether its broker may be named
    # (materialized: else PostgreSQL reads the broker's profile once per path).
    near = (
        select(
            mine.other_id.label("broker_id"),
            decayed(dialect, mine.strength, mine.last_contact_at, moment).label("estimate"),
            broker.visibility.in_(_SHOWN_TO_CONNECTIONS).label("shown"),
        )
        .join(broker, broker.id == mine.other_id)
        .where(mine.member_id == author_id, mine.other_id.not_in(blocked))
        .cte("near")
        .prefix_with("MATERIALIZED", dialect="postgresql")
        .prefix_with("MATERIALIZED", dialect="sqlite")
    )
    far = decayed(dialect, theirs.strength, theirs.last_contact_at, moment)
    weaker = (func.least if dialect == "postgresql" else func.min)(near.c.estimate, far)
    held = _held(tag_ids).subquery()
    width = len(HELD_ROLES)
    bit = case(
        {tag_id: 1 << (width * position) for position, tag_id in enumerate(tag_ids)},
        value=held.c.tag_id,
    ) * case({role: 1 << n for n, role in enumerate(HELD_ROLES)}, value=held.c.role)
    # Thousands of rows next to a hub: read through Core, without the ORM's row handling.
    connection = await session.connection()
    rows = await connection.execute(
        select(held.c.member_id, func.sum(bit.distinct()), func.max(case((near.c.shown, weaker))))
        .select_from(near)
        .join(theirs, theirs.member_id == near.c.broker_id)
        .join(held, held.c.member_id == theirs.other_id)
        .where(*_beyond(author_id, blocked))
        .group_by(held.c.member_id)
    )
    return {
        member_id: Reach(None if estimate is None else float(estimate), int(mask))
        for member_id, mask, estimate in rows
    }


def _beyond(author_id: int, blocked: Any, member_id: Any = None) -> list[ColumnElement[bool]]:
    """Return the conditions on a member reached through one of the author's connections
    (``_THEIRS.other_id`` unless told) that make them the author's 2nd degree: not the
    author, not connected to them, not blocked."""
    member = _THEIRS.other_id if member_id is None else member_id
    connected = select(Connection.other_id).where(Connection.member_id == author_id)
    return [member != author_id, member.not_in(blocked), member.not_in(connected)]


def _blocked_with(member_id: int) -> Any:
    return union(
        select(Block.blocked_id).where(Block.blocker_id == member_id),
        select(Block.blocker_id).where(Block.blocked_id == member_id),
    )


@dataclasses.dataclass(frozen=True)
class _Member:
    handle: str
    visibility: Visibility
    gives_visibility: Visibility
    goals_visibility: Visibility
    budget: int
    recent_asks: int


async def _members(
    session: AsyncSession, ids: set[int], *, help_request_id: int, since: dt.datetime
) -> dict[int, _Member]:
    """Return each member's handle, privacy, weekly budget and asks this week."""
    recent = (
        select(func.count())
        .select_from(HelpRequestMember)
        .join(HelpRequest, HelpRequest.id == HelpRequestMember.help_request_id)
        .where(
            HelpRequestMember.member_id == Member.id,
            HelpRequestMember.help_request_id != help_request_id,
            HelpRequest.created_at >= since,
        )
        .correlate(Member)
        .scalar_subquery()
    )
    rows = await session.execute(
        select(
            Member.id,
            Member.handle,
            Member.visibility,
            Member.gives_visibility,
            Member.goals_visibility,
            Member.help_requests_per_week,
            recent,
        ).where(any_of(session, Member.id, ids))
    )
    return {row[0]: _Member(*row[1:]) for row in rows}


async def tag_matches(
    session: AsyncSession, ids: set[int], tag_ids: list[int]
) -> dict[int, dict[str, set[int]]]:
    """Return, per member, the request's tags among their skills, gives and active goals."""
    rows = await session.execute(_held(tag_ids, lambda member: any_of(session, member, ids)))
    found: dict[int, dict[str, set[int]]] = defaultdict(lambda: defaultdict(set))
    for member_id, tag_id, role in rows:
        found[member_id][role].add(tag_id)
    return found


def _holds_any(member_id: Any, tag_ids: list[int]) -> ColumnElement[bool]:
    """Tell whether a member holds any of these tags, as ``_held`` counts them: a few index
    probes per member, where ``IN (_held(…))`` would gather every holder of the tags."""
    return or_(
        exists().where(
            MemberTag.member_id == member_id,
            MemberTag.role == TagRole.SKILL,
            MemberTag.tag_id.in_(tag_ids),
        ),
        exists().where(Give.member_id == member_id, Give.tag_id.in_(tag_ids)),
        exists().where(
            Goal.member_id == member_id,
            Goal.status == GoalStatus.ACTIVE,
            GoalTag.goal_id == Goal.id,
            GoalTag.tag_id.in_(tag_ids),
        ),
    )


def _held(tag_ids: list[int], among: Callable[[Any], ColumnElement[bool]] | None = None) -> Any:
    """Return who holds which of these tags, and how (SKILL, GIVES or GOAL): among their
    skills, gives and active goals; only of the members ``among`` picks when given."""
    skills = select(MemberTag.member_id, MemberTag.tag_id, _role("SKILL")).where(
        MemberTag.tag_id.in_(tag_ids), MemberTag.role == TagRole.SKILL
    )
    gives = select(Give.member_id, Give.tag_id, _role("GIVES")).where(Give.tag_id.in_(tag_ids))
    goals = (
        select(Goal.member_id, GoalTag.tag_id, _role("GOAL"))
        .join(GoalTag, GoalTag.goal_id == Goal.id)
        .where(GoalTag.tag_id.in_(tag_ids), Goal.status == GoalStatus.ACTIVE)
    )
    if among is not None:
        skills = skills.where(among(MemberTag.member_id))
        gives = gives.where(among(Give.member_id))
        goals = goals.where(among(Goal.member_id))
    return union_all(skills, gives, goals)


def _role(name: str) -> Any:
    return literal(name).label("role")


async def shared_circles(
    session: AsyncSession, *, author_id: int, member_ids: set[int]
) -> dict[int, list[tuple[int, str]]]:
    """Return the active circles each member shares with the author (id, name)."""
    author_circles = _AUTHOR_CIRCLES
    rows = await session.execute(
        select(CircleMembership.member_id, Circle.id, Circle.name)
        .join(Circle, Circle.id == CircleMembership.circle_id)
        .join(
            author_circles,
            and_(
                author_circles.circle_id == CircleMembership.circle_id,
                author_circles.member_id == author_id,
                author_circles.status == MembershipStatus.ACTIVE,
            ),
        )
        .where(
            any_of(session, CircleMembership.member_id, member_ids),
            CircleMembership.status == MembershipStatus.ACTIVE,
        )
    )
    found: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for member_id, circle_id, name in rows:
        found[member_id].append((circle_id, name))
    return found
