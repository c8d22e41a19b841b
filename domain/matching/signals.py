"""From signals to opportunities: what each outbox event offers to whom.

Each handler runs inside the worker's transaction for its event (``domain.consumers``):
it reads what scoring needs in a fixed number of statements, scores the candidates
(``scoring``, pure), applies the caps, and writes the opportunities with
``INSERT … ON CONFLICT DO NOTHING`` on (member, subject) — so an event handled twice, or a
subject offered before (dismissed or not), never offers it again. It returns a notice for
each new opportunity that may be pushed now; the worker publishes them after commit.

Signals: a help request posted (to the members it matches, within its audience), an IOU
called in (to the debtor, first of all), a connection's new goal (to connections whose
gives or skills fit it), an intro waiting on a broker, and a relationship gone quiet.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import heapq
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, case, func, literal, or_, select, union, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from domain.consumers import Consumer, Notice, member_channel
from domain.events import OutboxEvent
from domain.ledger.models import Iou, IouStatus
from domain.ledger.read import help_exchanged
from domain.marketplace.audience import (
    Reach,
    held_tags,
    network_matches,
    second_degree_reach,
    shared_circles,
    tag_matches,
)
from domain.marketplace.models import (
    HelpRequest,
    HelpRequestCircle,
    HelpRequestMember,
    HelpRequestTag,
    Offer,
)
from domain.marketplace.request_read import shown_status
from domain.marketplace.rules import AudienceScope, HelpRequestStatus, OfferStatus
from domain.matching import scoring
from domain.matching.models import (
    DismissReason,
    Opportunity,
    OpportunityKind,
    OpportunityStatus,
    SubjectType,
)
from domain.matching.scoring import CAPS, WEIGHTS, Candidate, Caps, Reason, ReasonCode, Verdict
from domain.members.models import Give, Goal, GoalTag, Member, MemberTag, Tag, TagRole
from domain.members.visibility import Relation, can_see
from domain.network.models import (
    Block,
    CircleMembership,
    Connection,
    Intro,
    MembershipStatus,
    Relationship,
)
from domain.network.paths import DECAY_ERROR
from domain.store import Transaction, any_of, insert_ignoring_conflicts

SHORTLIST = 4  # times caps.per_signal: the candidates whose every feature is read
STRANGERS = 200  # for a public request: tag matches outside the author's network considered
WEEK = dt.timedelta(days=7)
DAY = dt.timedelta(days=1)
IGNORED_AFTER = dt.timedelta(days=3)  # an opportunity left unseen this long was ignored
DECLINES_WINDOW = dt.timedelta(days=90)


_ROLES = {role.value: role for role in scoring.Role}
# What each kind of opportunity is about.
SUBJECTS = {
    OpportunityKind.HELP_REQUEST: SubjectType.HELP_REQUEST,
    OpportunityKind.IOU_CALLED_IN: SubjectType.IOU,
    OpportunityKind.GOAL: SubjectType.GOAL,
    OpportunityKind.INTRO: SubjectType.INTRO,
    OpportunityKind.COOLING: SubjectType.RELATIONSHIP,
}


def message_of(opportunity: dict[str, Any]) -> dict[str, Any]:
    """Return what is pushed for a new opportunity: the whole item, so a subscriber needs
    no read to show it."""
    return {"type": "opportunity.added", "opportunity": opportunity}


async def _tags_of_request(session: AsyncSession, request_id: int) -> dict[int, str]:
    rows = await session.execute(
        select(Tag.id, Tag.label)
        .join(HelpRequestTag, HelpRequestTag.tag_id == Tag.id)
        .where(HelpRequestTag.help_request_id == request_id)
        .order_by(HelpRequestTag.position)
    )
    return dict(rows.all())


def _blocked_with(member_id: int) -> Any:
    return union(
        select(Block.blocked_id).where(Block.blocker_id == member_id),
        select(Block.blocker_id).where(Block.blocked_id == member_id),
    )


def _tag_holders(tag_ids: list[int]) -> Any:
    """Return who holds which of these tags as a skill or a give, once each."""
    return union(
        select(MemberTag.member_id.label("member_id"), MemberTag.tag_id.label("tag_id")).where(
            MemberTag.tag_id.in_(tag_ids), MemberTag.role == TagRole.SKILL
        ),
        select(Give.member_id, Give.tag_id).where(Give.tag_id.in_(tag_ids)),
    )


def _ranked(holders: Any, author_id: int) -> Any:
    """Return the holders but the author and anyone blocked either way, most tags first."""
    return (
        select(holders.c.member_id, func.count().label("tags"))
        .where(
            holders.c.member_id != author_id,
            holders.c.member_id.not_in(_blocked_with(author_id)),
        )
        .group_by(holders.c.member_id)
        .order_by(func.count().desc(), holders.c.member_id)
    )


@dataclasses.dataclass(frozen=True)
class _TagFigures:
    holders: dict[int, int]  # members holding each tag (as a skill or a give)
    members: int  # members in all
    ranked: list[int]  # the first holders by ``_ranked``, when strangers are wanted


async def _tag_figures(
    session: AsyncSession, *, author_id: int, tag_ids: list[int], strangers: bool
) -> _TagFigures:
    """Return how many members hold each tag, members in all, and (``strangers``) the first
    page of candidate strangers: one statement, the tags' holders gathered once."""
    holders = _tag_holders(tag_ids).cte("holders")
    # Rarity needs the size of the network, not its exact count: ids are dense enough.
    parts = [
        select(literal(0).label("kind"), holders.c.tag_id, func.count()).group_by(holders.c.tag_id),
        select(literal(1), func.max(Member.id), literal(0)),
    ]
    if strangers:
        page = _ranked(holders, author_id).limit(2 * STRANGERS).subquery()
        parts.append(select(literal(2), page.c.member_id, page.c.tags))
    counts: dict[int, int] = {}
    members, ranked = 0, []
    for kind, key, count in await session.execute(union_all(*parts)):
        if kind == 0:
            counts[key] = count
        elif kind == 1:
            members = int(key or 0)
        else:
            ranked.append((-count, key))
    ranked.sort()
    return _TagFigures(counts, members, [key for _, key in ranked])


async def _strangers(
    session: AsyncSession,
    *,
    author_id: int,
    tag_ids: list[int],
    known: set[int],
    figures: _TagFigures,
) -> list[int]:
    """Members outside the author's network with the most of these tags (skills or gives)."""
    # The first STRANGERS not known, in ``_ranked``'s order: usually within its first page,
    # though up to len(known) of them may be known (thousands next to a hub, and sorting
    # that many costs more than asking again).
    rows, limit = figures.ranked, 2 * STRANGERS
    ranked = _ranked(_tag_holders(tag_ids).subquery(), author_id)
    while True:
        found = [member_id for member_id in rows if member_id not in known][:STRANGERS]
        if len(found) == STRANGERS or len(rows) < limit or limit >= STRANGERS + len(known):
            return found
        limit = min(4 * limit, STRANGERS + len(known))
        rows = list(await session.scalars(ranked.limit(limit)))  # member ids, in order


async def _caps_of(
    session: AsyncSession, ids: Sequence[int], *, source_id: int | None, now: dt.datetime
) -> dict[int, scoring.Member]:
    """Return what the caps need of each member: budget, recent opportunities, quiet hours."""
    mine = Opportunity.member_id == Member.id
    asked = (
        select(func.count())
        .where(
            mine,
            Opportunity.kind == OpportunityKind.HELP_REQUEST,
            Opportunity.created_at > now - WEEK,
        )
        .correlate(Member)
        .scalar_subquery()
    )
    pushed = (
        select(func.count())
        .where(mine, Opportunity.pushed.is_(True), Opportunity.created_at > now - DAY)
        .correlate(Member)
        .scalar_subquery()
    )
    not_relevant = (
        select(func.count())
        .where(
            mine,
            Opportunity.source_member_id == source_id,
            Opportunity.dismiss_reason == DismissReason.NOT_RELEVANT,
        )
        .correlate(Member)
        .scalar_subquery()
    )
    no_time = (
        select(func.count())
        .where(
            mine,
            Opportunity.dismiss_reason == DismissReason.NO_TIME,
            Opportunity.dismissed_at > now - WEEK,
        )
        .correlate(Member)
        .scalar_subquery()
    )
    rows = await session.execute(
        select(
            Member.id,
            Member.help_requests_per_week,
            asked,
            pushed,
            Member.timezone,
            Member.quiet_hours_start,
            Member.quiet_hours_end,
            not_relevant,
            no_time,
        ).where(any_of(session, Member.id, ids))
    )
    return {
        row[0]: scoring.Member(
            budget=row[1],
            asked_this_week=row[2],
            pushed_today=row[3],
            timezone=row[4],
            quiet_start=row[5],
            quiet_end=row[6],
            not_relevant_from_source=row[7],
            no_time_lately=bool(row[8]),
        )
        for row in rows
    }


async def _responsiveness(
    session: AsyncSession, ids: Sequence[int], now: dt.datetime
) -> dict[int, tuple[int, int]]:
    """Return, per member, how many opportunities they acted on and how many they ignored."""
    ignored = or_(
        Opportunity.status == OpportunityStatus.DISMISSED,
        and_(
            Opportunity.status == OpportunityStatus.NEW,
            Opportunity.created_at < now - IGNORED_AFTER,
        ),
    )
    rows = await session.execute(
        select(
            Opportunity.member_id,
            func.sum(case((Opportunity.status == OpportunityStatus.ACTED, 1), else_=0)),
            func.sum(case((ignored, 1), else_=0)),
        )
        .where(any_of(session, Opportunity.member_id, ids))
        .group_by(Opportunity.member_id)
    )
    return {member_id: (int(acted or 0), int(skipped or 0)) for member_id, acted, skipped in rows}


async def _declines(
    session: AsyncSession, ids: Sequence[int], *, requester_id: int, now: dt.datetime
) -> dict[int, int]:
    """Return how many offers of each member the requester declined lately."""
    rows = await session.execute(
        select(Offer.helper_id, func.count())
        .join(HelpRequest, HelpRequest.id == Offer.help_request_id)
        .where(
            HelpRequest.author_id == requester_id,
            any_of(session, Offer.helper_id, ids),
            Offer.status == OfferStatus.DECLINED,
            Offer.responded_at > now - DECLINES_WINDOW,
        )
        .group_by(Offer.helper_id)
    )
    return dict(rows.all())


async def _owing(session: AsyncSession, ids: Sequence[int], *, creditor_id: int) -> set[int]:
    """Return the members among these who owe the creditor an outstanding IOU."""
    rows = await session.scalars(
        select(Iou.debtor_id).where(
            Iou.creditor_id == creditor_id,
            any_of(session, Iou.debtor_id, ids),
            Iou.status == IouStatus.OUTSTANDING,
        )
    )
    return set(rows)


async def _handles(session: AsyncSession, ids: set[int]) -> dict[int, Member]:
    rows = await session.scalars(select(Member).where(any_of(session, Member.id, ids)))
    return {member.id: member for member in rows}


async def _write(
    tx: Transaction,
    *,
    event: OutboxEvent,
    kind: OpportunityKind,
    subject_id: int,
    source_id: int | None,
    scored: Sequence[scoring.Scored],
    asks: bool,
    limits: Caps,
) -> list[Notice]:
    """Write the opportunities the caps let through; return the notices to push."""
    subject_type = SUBJECTS[kind]
    caps = await _caps_of(
        tx.session, [item.member_id for item in scored], source_id=source_id, now=tx.now
    )
    rows: list[dict[str, Any]] = []
    for item in scored:
        member = caps.get(item.member_id)
        if member is None:
            continue
        decided = scoring.verdict(
            member, tx.now, asks=asks, caps=limits, signalled_at=event.occurred_at
        )
        if decided is Verdict.DROP:
            continue
        rows.append(
            {
                "member_id": item.member_id,
                "kind": kind,
                "subject_type": subject_type,
                "subject_id": subject_id,
                "source_member_id": source_id,
                "score": item.score,
                "reasons": [reason.as_json() for reason in item.reasons],
                "status": OpportunityStatus.NEW,
                "pushed": decided is Verdict.PUSH,
                "created_at": tx.now,
                "event_id": event.id,
            }
        )
    if not rows:
        return []
    # Many rows, one statement compiled once (SQLAlchemy batches them as "insertmanyvalues").
    statement = insert_ignoring_conflicts(
        tx.dialect, Opportunity.__table__, ["member_id", "subject_type", "subject_id"]
    ).returning(Opportunity.id, Opportunity.member_id)
    created = {
        member_id: opportunity_id
        for opportunity_id, member_id in await tx.session.execute(statement, rows)
    }
    notices = []
    for row in rows:
        opportunity_id = created.get(row["member_id"])
        if opportunity_id is None or not row["pushed"]:
            continue
        notices.append(
            Notice(
                member_channel(row["member_id"]),
                message_of(
                    {
                        "id": opportunity_id,
                        "member_id": row["member_id"],
                        "kind": kind.value,
                        "subject_type": subject_type.value,
                        "subject_id": subject_id,
                        "score": row["score"],
                        "reasons": row["reasons"],
                        "status": OpportunityStatus.NEW.value,
                        "created_at": tx.now.isoformat(),
                    }
                ),
            )
        )
    return notices


# How far a 2nd-degree path's strength estimated in SQL may be from ``tie_strength``'s:
# the decay's own error, relative, and the rounding to 4 decimals, with room.
_BELOW, _ABOVE = 1 - DECAY_ERROR, 1 + DECAY_ERROR
_PATH_SLACK = 0.0002
# Two scores closer than this may round to the same 4 decimals (then the member id decides).
_ROUNDING = 0.0002


def _preshortlist(
    reach: dict[int, Reach],
    tags: dict[int, str],
    holders: dict[int, int],
    members: int,
    age: dt.timedelta,
    *,
    limit: int,
    w: scoring.Weights,
) -> set[int]:
    """Return the 2nd-degree members who might rank among the best ``limit`` (by the score
    before the shortlist's features), from their estimated best path alone.

    Each member's score is bounded from their tags and their path's estimate, give or take
    the estimate's error; a member whose best case stays below the ``limit``-th best worst
    case (with room for rounding) is left out: ``limit`` others outrank them whatever the
    exact strengths. Everyone else is kept, so the exact ranking of what is kept is the
    ranking of the whole 2nd degree.
    """
    if len(reach) <= limit:
        return set(reach)
    fresh = scoring.fresh_of(age, w)
    stranger = scoring.closeness_of(None, None, w)
    matched: dict[int, float] = {}
    bounds: list[tuple[float, float, int]] = []
    for member_id, (estimate, held) in reach.items():
        match = matched.get(held)
        if match is None:
            match = matched[held] = scoring.match_of(
                _tag_matches(held_tags(held, list(tags)), tags, holders), members, w
            )
        if estimate is None:
            low = high = match * stranger * fresh
        else:
            low = match * scoring.closeness_of(None, estimate * _BELOW - _PATH_SLACK, w) * fresh
            high = match * scoring.closeness_of(None, estimate * _ABOVE + _PATH_SLACK, w) * fresh
            if low > high:
                low, high = high, low
        bounds.append((low, high, member_id))
    floor = heapq.nlargest(limit, (low for low, _, _ in bounds))[-1] - _ROUNDING
    return {member_id for _, high, member_id in bounds if high >= floor}


def _tag_matches(
    found: dict[str, set[int]], tags: dict[int, str], holders: dict[int, int]
) -> list[scoring.TagMatch]:
    """Return what scoring knows of the request's tags a member holds, in its order."""
    return [
        scoring.TagMatch(label, _ROLES[role], holders.get(tag_id, 0))
        for role in ("SKILL", "GIVES", "GOAL")
        for tag_id, label in tags.items()
        if tag_id in found.get(role, ())
    ]


async def on_help_request_posted(
    tx: Transaction, event: OutboxEvent, *, weights: scoring.Weights = WEIGHTS, caps: Caps = CAPS
) -> list[Notice]:
    """Offer a new request to the members best placed to help, within its audience."""
    session = tx.session
    request = await session.get(HelpRequest, event.payload["help_request_id"])
    if request is None or shown_status(request, tx.now) is not HelpRequestStatus.OPEN:
        return []
    author_id, scope = request.author_id, request.audience_scope
    tags = await _tags_of_request(session, request.id)
    tag_ids = list(tags)
    figures = (
        await _tag_figures(
            session,
            author_id=author_id,
            tag_ids=tag_ids,
            strangers=scope is AudienceScope.PUBLIC,
        )
        if tag_ids
        else _TagFigures({}, 1, [])
    )
    holders, members = figures.holders, figures.members
    age = tx.now - request.created_at
    first: dict[int, float] = {}
    second: dict[int, list[tuple[int, float]]] = {}
    chosen: set[int] = set()
    reach: dict[int, Reach] = {}
    network = scope in (AudienceScope.CONNECTIONS, AudienceScope.NETWORK, AudienceScope.PUBLIC)
    if network:
        reach = (
            await second_degree_reach(session, author_id=author_id, tag_ids=tag_ids, now=tx.now)
            if tag_ids and scope is not AudienceScope.CONNECTIONS
            else {}
        )
        # The whole 2nd degree weighed in SQL; only those who might make the shortlist
        # have their paths read and decayed exactly.
        likely = _preshortlist(
            reach, tags, holders, members, age, limit=SHORTLIST * caps.per_signal, w=weights
        )
        if tag_ids:
            first, second = await network_matches(
                session, author_id=author_id, tag_ids=tag_ids, now=tx.now, among=likely
            )
        ids = set(first) | set(second)
        if scope is AudienceScope.PUBLIC and tag_ids:
            known = set(first) | set(reach)
            ids |= set(
                await _strangers(
                    session, author_id=author_id, tag_ids=tag_ids, known=known, figures=figures
                )
            )
    elif scope is AudienceScope.CIRCLES:
        in_circles = set(
            await session.scalars(
                select(CircleMembership.member_id)
                .join(
                    HelpRequestCircle,
                    HelpRequestCircle.circle_id == CircleMembership.circle_id,
                )
                .where(
                    HelpRequestCircle.help_request_id == request.id,
                    CircleMembership.status == MembershipStatus.ACTIVE,
                    CircleMembership.member_id != author_id,
                    CircleMembership.member_id.not_in(_blocked_with(author_id)),
                )
            )
        )
        ids = in_circles
    else:  # MEMBERS, SUGGESTED: the members chosen by name
        chosen = set(
            await session.scalars(
                select(HelpRequestMember.member_id).where(
                    HelpRequestMember.help_request_id == request.id,
                    HelpRequestMember.member_id.not_in(_blocked_with(author_id)),
                )
            )
        )
        ids = chosen
    ids.discard(author_id)
    if ids and tag_ids and not network:
        # Closeness for the members named: their tie, or their paths, if they match.
        first, second = await network_matches(
            session, author_id=author_id, tag_ids=tag_ids, now=tx.now, among=ids
        )
    if not ids:
        return []
    # The 2nd degree weighed in SQL came with their tags.
    matches: dict[int, dict[str, set[int]]] = {
        member_id: held_tags(reach[member_id].held, tag_ids) for member_id in ids & reach.keys()
    }
    if tag_ids and ids - matches.keys():
        matches.update(await tag_matches(session, ids - matches.keys(), tag_ids))
    brokers = {broker for paths in second.values() for broker, _ in paths}
    people = await _handles(session, brokers | {author_id})
    author = people[author_id]
    # Stage one: what the match and closeness say, for everyone; stage two reads the rest
    # (circles, give and take, responsiveness, declines, IOUs) for a shortlist only.
    rough: dict[int, Candidate] = {}
    for member_id in sorted(ids):
        via = None
        if member_id not in first and member_id in second:
            shown = [
                (strength, broker_id)
                for broker_id, strength in second[member_id]
                if broker_id in people
                and can_see(people[broker_id].visibility, Relation.CONNECTION)
            ]
            if shown:
                strength, broker_id = max(shown, key=lambda path: (path[0], -path[1]))
                via = scoring.Via(broker_id, people[broker_id].handle, strength)
        rough[member_id] = Candidate(
            member_id=member_id,
            tags=_tag_matches(matches.get(member_id, {}), tags, holders),
            members=members,
            tie_strength=first.get(member_id),
            via=via,
            chosen=member_id in chosen,
            age=age,
        )
    shortlist = [
        s.member_id
        for s in scoring.rank(list(rough.values()), limit=SHORTLIST * caps.per_signal, w=weights)
    ]
    circles = await shared_circles(session, author_id=author_id, member_ids=set(shortlist))
    give_take = await help_exchanged(session, shortlist)
    responsive = await _responsiveness(session, shortlist, tx.now)
    declines = await _declines(session, shortlist, requester_id=author_id, now=tx.now)
    owing = await _owing(session, shortlist, creditor_id=author_id)
    candidates = []
    for member_id in shortlist:
        help_given, help_received = give_take.get(member_id, (0, 0))
        acted, ignored = responsive.get(member_id, (0, 0))
        candidates.append(
            dataclasses.replace(
                rough[member_id],
                circles=circles.get(member_id, []),
                help_given=help_given,
                help_received=help_received,
                acted=acted,
                ignored=ignored,
                declined_by_requester=declines.get(member_id, 0),
                owes=author.handle if member_id in owing else None,
            )
        )
    scored = scoring.rank(candidates, limit=caps.per_signal, w=weights)
    return await _write(
        tx,
        event=event,
        kind=OpportunityKind.HELP_REQUEST,
        subject_id=request.id,
        source_id=author_id,
        scored=scored,
        asks=True,
        limits=caps,
    )


async def _tie(session: AsyncSession, member_id: int, other_id: int) -> float | None:
    strength = await session.scalar(
        select(Connection.strength).where(
            Connection.member_id == member_id, Connection.other_id == other_id
        )
    )
    return None if strength is None else float(strength)


async def on_iou_called_in(
    tx: Transaction, event: OutboxEvent, *, weights: scoring.Weights = WEIGHTS, caps: Caps = CAPS
) -> list[Notice]:
    """Put the request an IOU is called in for first in the debtor's opportunities."""
    payload = event.payload
    iou = await tx.session.get(Iou, payload["iou_id"])
    if iou is None or iou.status is not IouStatus.OUTSTANDING:
        return []
    people = await _handles(tx.session, {iou.creditor_id})
    candidate = Candidate(
        member_id=iou.debtor_id,
        owes=people[iou.creditor_id].handle,
        tie_strength=await _tie(tx.session, iou.debtor_id, iou.creditor_id),
    )
    scored = scoring.rank([candidate], limit=1, w=weights)
    return await _write(
        tx,
        event=event,
        kind=OpportunityKind.IOU_CALLED_IN,
        subject_id=iou.id,
        source_id=iou.creditor_id,
        scored=scored,
        asks=False,
        limits=caps,
    )


async def on_goal_added(
    tx: Transaction, event: OutboxEvent, *, weights: scoring.Weights = WEIGHTS, caps: Caps = CAPS
) -> list[Notice]:
    """Offer a member's new goal to their connections whose gives or skills fit it."""
    session = tx.session
    goal = await session.get(Goal, event.payload["goal_id"])
    if goal is None:
        return []
    owner = (await _handles(session, {goal.member_id}))[goal.member_id]
    if not can_see(owner.goals_visibility, Relation.CONNECTION):
        return []
    tags = dict(
        (
            await session.execute(
                select(Tag.id, Tag.label)
                .join(GoalTag, GoalTag.tag_id == Tag.id)
                .where(GoalTag.goal_id == goal.id)
            )
        ).all()
    )
    if not tags:
        return []
    first, _ = await network_matches(
        session, author_id=goal.member_id, tag_ids=list(tags), now=tx.now, among=()
    )
    if not first:
        return []
    ids = set(first)
    matches = await tag_matches(session, ids, list(tags))
    figures = await _tag_figures(
        session, author_id=goal.member_id, tag_ids=list(tags), strangers=False
    )
    holders, members = figures.holders, figures.members
    candidates = []
    for member_id in sorted(ids):
        found = matches.get(member_id, {})
        matched = [
            scoring.TagMatch(label, _ROLES[role], holders.get(tag_id, 0))
            for role in ("SKILL", "GIVES")
            for tag_id, label in tags.items()
            if tag_id in found.get(role, ())
        ]
        if matched:
            candidates.append(
                Candidate(
                    member_id=member_id,
                    tags=matched,
                    members=members,
                    tie_strength=first[member_id],
                )
            )
    scored = scoring.rank(candidates, limit=caps.per_signal, w=weights)
    return await _write(
        tx,
        event=event,
        kind=OpportunityKind.GOAL,
        subject_id=goal.id,
        source_id=goal.member_id,
        scored=scored,
        asks=False,
        limits=caps,
    )


async def on_intro_requested(
    tx: Transaction, event: OutboxEvent, *, caps: Caps = CAPS
) -> list[Notice]:
    """Tell a broker an intro waits on them."""
    intro = await tx.session.get(Intro, event.payload["intro_id"])
    if intro is None:
        return []
    people = await _handles(tx.session, {intro.requester_id, intro.target_id})
    requester, target = people[intro.requester_id], people[intro.target_id]
    strength = await _tie(tx.session, intro.broker_id, intro.requester_id) or 0.0
    scored = [
        scoring.Scored(
            intro.broker_id,
            round(1 + strength, 4),
            [
                Reason(
                    ReasonCode.BROKER,
                    f"{requester.handle} → {target.handle}",
                    "MEMBER",
                    intro.requester_id,
                )
            ],
        )
    ]
    return await _write(
        tx,
        event=event,
        kind=OpportunityKind.INTRO,
        subject_id=intro.id,
        source_id=intro.requester_id,
        scored=scored,
        asks=False,
        limits=caps,
    )


async def on_relationship_cooling(
    tx: Transaction, event: OutboxEvent, *, caps: Caps = CAPS
) -> list[Notice]:
    """Suggest both members of a relationship gone quiet get back in touch."""
    relationship = await tx.session.get(Relationship, event.payload["relationship_id"])
    if relationship is None:
        return []
    pair = (relationship.low_member_id, relationship.high_member_id)
    people = await _handles(tx.session, set(pair))
    notices: list[Notice] = []
    for member_id, other_id in (pair, pair[::-1]):
        scored = [
            scoring.Scored(
                member_id,
                round(float(event.payload.get("strength", 0.0)), 4),
                [Reason(ReasonCode.COOLING, people[other_id].handle, "MEMBER", other_id)],
            )
        ]
        notices += await _write(
            tx,
            event=event,
            kind=OpportunityKind.COOLING,
            subject_id=relationship.id,
            source_id=other_id,
            scored=scored,
            asks=False,
            limits=caps,
        )
    return notices


HANDLERS = {
    "help_request.posted": on_help_request_posted,
    "iou.called_in": on_iou_called_in,
    "member.goal_added": on_goal_added,
    "intro.requested": on_intro_requested,
    "relationship.cooling": on_relationship_cooling,
}


def matching(caps: Caps = CAPS) -> Consumer:
    """Return the matching consumer of the outbox, with these caps."""

    async def handle(tx: Transaction, event: OutboxEvent) -> list[Notice]:
        handler: Any = HANDLERS[event.type]
        return list(await handler(tx, event, caps=caps))

    return Consumer(name="matching", types=frozenset(HANDLERS), handle=handle)
