"""Scoring an opportunity for one member: a pure function, its weights in one place.

``score`` multiplies what the member brings to the subject by how likely the two sides are
to want it:

    match        Σ over the subject's tags the member has: role weight × rarity, where
                 rarity = 1 + ln((members + 1) / (members with the tag + 1)): a rare skill
                 counts for more than one everybody lists;
    closeness    1 + tie × strength for a direct tie; second_degree × (1 + tie × the path's
                 weaker tie) through a mutual connection; stranger for anyone further;
    together     1 + circle × shared active circles (at most max_circles);
    reciprocity  1 + giver × (share of help they gave − ½): givers respond more;
    responsive   ½ + (acted + 1) / (acted + ignored + 2): members who act on what they are
                 shown are shown more;
    fresh        2^(−age / half_life): an event handled late is worth less;
    welcome      the requester's side: 1, less welcome_decline for each offer of this member
                 the requester declined lately (never below min_welcome).

``caps`` then keeps a member's weekly help budget, the daily push limit, quiet hours and
their dismissals.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import math
from collections.abc import Sequence
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class ReasonCode(enum.Enum):
    SKILL_MATCH = "SKILL_MATCH"
    GIVES = "GIVES"
    GOAL = "GOAL"
    STRONG_TIE = "STRONG_TIE"
    SHARED_CIRCLE = "SHARED_CIRCLE"
    VIA = "VIA"
    YOU_OWE = "YOU_OWE"
    CHOSEN = "CHOSEN"
    BROKER = "BROKER"
    COOLING = "COOLING"


@dataclasses.dataclass(frozen=True)
class Reason:
    """Why: a tag's label, a member's handle or a circle's name, and what it names."""

    code: ReasonCode
    label: str
    subject_type: str | None = None  # "MEMBER" or "CIRCLE"
    subject_id: int | None = None

    def as_json(self) -> dict[str, object]:
        return {
            "code": self.code.value,
            "label": self.label,
            "subject_type": self.subject_type,
            "subject_id": self.subject_id,
        }


@dataclasses.dataclass(frozen=True, kw_only=True)
class Weights:
    """Every weight of matching, in one place."""

    skill: float = 1.0
    give: float = 1.5
    goal: float = 0.5
    tie: float = 1.0
    strong_tie: float = 0.5  # a tie this strong is a reason of its own
    second_degree: float = 0.5
    stranger: float = 0.25
    circle: float = 0.25
    max_circles: int = 3
    giver: float = 0.5
    half_life: dt.timedelta = dt.timedelta(days=3)
    welcome_decline: float = 0.4
    min_welcome: float = 0.1
    owed: float = 100.0  # an IOU called in outranks any match
    chosen: float = 2.0  # the author chose this member by name


WEIGHTS = Weights()


class Role(enum.Enum):
    SKILL = "SKILL"
    GIVES = "GIVES"
    GOAL = "GOAL"


@dataclasses.dataclass(frozen=True)
class TagMatch:
    label: str
    role: Role
    holders: int  # members with this tag in this role or any


@dataclasses.dataclass(frozen=True)
class Via:
    member_id: int
    handle: str
    strength: float


@dataclasses.dataclass(frozen=True, kw_only=True)
class Candidate:
    """What matching knows of one member for one subject."""

    member_id: int
    tags: Sequence[TagMatch] = ()
    members: int = 1  # members in all, for rarity
    tie_strength: float | None = None  # a direct tie with the subject's member
    via: Via | None = None  # else the strongest mutual connection
    circles: Sequence[tuple[int, str]] = ()
    help_given: int = 0
    help_received: int = 0
    acted: int = 0
    ignored: int = 0
    declined_by_requester: int = 0
    owes: str | None = None  # the creditor's handle, when the member owes them an IOU
    chosen: bool = False
    age: dt.timedelta = dt.timedelta(0)


@dataclasses.dataclass(frozen=True)
class Scored:
    member_id: int
    score: float
    reasons: list[Reason]


_ROLE_WEIGHT = {Role.SKILL: "skill", Role.GIVES: "give", Role.GOAL: "goal"}
_ROLE_REASON = {
    Role.SKILL: ReasonCode.SKILL_MATCH,
    Role.GIVES: ReasonCode.GIVES,
    Role.GOAL: ReasonCode.GOAL,
}


def rarity(holders: int, members: int) -> float:
    return 1 + math.log((members + 1) / (holders + 1))


def match_of(
    tags: Sequence[TagMatch],
    members: int,
    w: Weights = WEIGHTS,
    *,
    owes: bool = False,
    chosen: bool = False,
) -> float:
    """Return what a member brings to the subject: ``score``'s match."""
    match = 0.0
    for tag in tags:
        match += getattr(w, _ROLE_WEIGHT[tag.role]) * rarity(tag.holders, members)
    if owes:
        match += w.owed
    if chosen:
        match += w.chosen
    return match


def closeness_of(tie_strength: float | None, via: float | None, w: Weights = WEIGHTS) -> float:
    """Return ``score``'s closeness: a direct tie's strength, else the path's through a
    mutual connection (``via``), else a stranger's."""
    if tie_strength is not None:
        return 1 + w.tie * tie_strength
    if via is not None:
        return w.second_degree * (1 + w.tie * via)
    return w.stranger


def fresh_of(age: dt.timedelta, w: Weights = WEIGHTS) -> float:
    """Return ``score``'s freshness: an event handled late is worth less."""
    return float(2 ** (-age / w.half_life))


def score(c: Candidate, w: Weights = WEIGHTS) -> Scored | None:
    """Score one candidate; None when nothing ties them to the subject."""
    reasons: list[Reason] = []
    if c.owes is not None:
        reasons.append(Reason(ReasonCode.YOU_OWE, c.owes))
    if c.chosen:
        reasons.append(Reason(ReasonCode.CHOSEN, "asked by name"))
    reasons += [Reason(_ROLE_REASON[tag.role], tag.label) for tag in c.tags]
    match = match_of(c.tags, c.members, w, owes=c.owes is not None, chosen=c.chosen)
    if match <= 0:
        return None
    closeness = closeness_of(c.tie_strength, None if c.via is None else c.via.strength, w)
    if c.tie_strength is not None:
        if c.tie_strength >= w.strong_tie:
            reasons.append(Reason(ReasonCode.STRONG_TIE, f"{c.tie_strength:.2f}"))
    elif c.via is not None:
        reasons.append(Reason(ReasonCode.VIA, c.via.handle, "MEMBER", c.via.member_id))
    circles = sorted(c.circles, key=lambda circle: (circle[1], circle[0]))
    reasons += [Reason(ReasonCode.SHARED_CIRCLE, name, "CIRCLE", cid) for cid, name in circles]
    together = 1 + w.circle * min(len(circles), w.max_circles)
    gave = (c.help_given + 1) / (c.help_given + c.help_received + 2)
    reciprocity = 1 + w.giver * (gave - 0.5)
    responsive = 0.5 + (c.acted + 1) / (c.acted + c.ignored + 2)
    fresh = fresh_of(c.age, w)
    welcome = max(w.min_welcome, 1 - w.welcome_decline * c.declined_by_requester)
    total = match * closeness * together * reciprocity * responsive * fresh * welcome
    return Scored(c.member_id, round(total, 4), reasons)


def rank(candidates: Sequence[Candidate], *, limit: int, w: Weights = WEIGHTS) -> list[Scored]:
    """Return the best ``limit`` scored candidates, highest first (then by member id)."""
    scored = [s for s in (score(c, w) for c in candidates) if s is not None]
    scored.sort(key=lambda s: (-s.score, s.member_id))
    return scored[:limit]


@dataclasses.dataclass(frozen=True, kw_only=True)
class Member:
    """What the caps need to know of a member."""

    budget: int  # help requests a week they accept
    asked_this_week: int  # help-request opportunities they got in the last 7 days
    pushed_today: int  # opportunities pushed to them in the last 24 hours
    timezone: str | None = None
    quiet_start: dt.time | None = None
    quiet_end: dt.time | None = None
    not_relevant_from_source: int = 0  # their NOT_RELEVANT dismissals of this source member
    no_time_lately: bool = False  # a NO_TIME dismissal in the last 7 days


@dataclasses.dataclass(frozen=True)
class Caps:
    max_pushes_per_day: int = 10
    per_signal: int = 50  # the most opportunities one signal (one ask, one goal) writes
    # A signal older than this is offered but not pushed: a worker catching up on a backlog
    # (after downtime, or a seeded history) does not buzz phones with old news.
    push_within: dt.timedelta = dt.timedelta(hours=1)


CAPS = Caps()


class Verdict(enum.Enum):
    PUSH = "PUSH"  # write it and push it live
    KEEP = "KEEP"  # write it, but do not push (quiet hours, daily limit)
    DROP = "DROP"  # do not offer it at all


def quiet_now(member: Member, now: dt.datetime) -> bool:
    """Tell whether it is within the member's quiet hours, in their time zone (UTC if none)."""
    if member.quiet_start is None or member.quiet_end is None:
        return False
    try:
        zone = ZoneInfo(member.timezone) if member.timezone else dt.UTC
    except (ZoneInfoNotFoundError, ValueError):
        zone = dt.UTC
    local = now.astimezone(zone).time()
    start, end = member.quiet_start, member.quiet_end
    return start <= local < end if start <= end else local >= start or local < end


def verdict(
    member: Member,
    now: dt.datetime,
    *,
    asks: bool,
    caps: Caps = CAPS,
    signalled_at: dt.datetime | None = None,
) -> Verdict:
    """Apply the caps to one opportunity; ``asks``: it asks for help (budget applies);
    ``signalled_at``: when what it answers happened (stale news is not pushed)."""
    if asks:
        if member.budget <= 0 or member.asked_this_week >= member.budget:
            return Verdict.DROP
        if member.not_relevant_from_source >= 2 or member.no_time_lately:
            return Verdict.DROP
    if member.pushed_today >= caps.max_pushes_per_day or quiet_now(member, now):
        return Verdict.KEEP
    if signalled_at is not None and now - signalled_at > caps.push_within:
        return Verdict.KEEP
    return Verdict.PUSH
