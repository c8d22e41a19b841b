"""The marketplace's rules, pure: states and their transitions, audiences, rewards.

Tables and services (the next step of the marketplace issue) enforce these; nothing here
reads or writes the database, so every rule is tested on its own.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from collections.abc import Mapping, Sequence

from domain.errors import Checks, Code, DomainError
from domain.ledger.rules import LedgerPolicy
from domain.members.rules import text_problem
from domain.members.visibility import Relation


class HelpRequestKind(enum.Enum):
    ADVICE = "ADVICE"
    INTRO = "INTRO"
    HIRE = "HIRE"
    JOB = "JOB"
    CUSTOMER = "CUSTOMER"
    FUNDING = "FUNDING"
    FEEDBACK = "FEEDBACK"
    EVENT = "EVENT"
    OTHER = "OTHER"


class HelpRequestStatus(enum.Enum):
    OPEN = "OPEN"
    IN_PROGRESS = "IN_PROGRESS"
    FULFILLED = "FULFILLED"
    CANCELLED = "CANCELLED"
    EXPIRED = "EXPIRED"


class OfferStatus(enum.Enum):
    PENDING = "PENDING"
    ACCEPTED = "ACCEPTED"
    COMPLETED = "COMPLETED"
    DECLINED = "DECLINED"
    WITHDRAWN = "WITHDRAWN"
    CANCELLED = "CANCELLED"


class AudienceScope(enum.Enum):
    PUBLIC = "PUBLIC"
    NETWORK = "NETWORK"
    CONNECTIONS = "CONNECTIONS"
    CIRCLES = "CIRCLES"
    MEMBERS = "MEMBERS"
    SUGGESTED = "SUGGESTED"


class Settlement(enum.Enum):
    BOUNTY = "BOUNTY"
    IOU = "IOU"
    THANKS = "THANKS"


# DESIGN.md §2: OPEN → IN_PROGRESS → FULFILLED; OPEN|IN_PROGRESS → CANCELLED; OPEN → EXPIRED.
REQUEST_TRANSITIONS: Mapping[HelpRequestStatus, frozenset[HelpRequestStatus]] = {
    HelpRequestStatus.OPEN: frozenset(
        {HelpRequestStatus.IN_PROGRESS, HelpRequestStatus.CANCELLED, HelpRequestStatus.EXPIRED}
    ),
    HelpRequestStatus.IN_PROGRESS: frozenset(
        {HelpRequestStatus.FULFILLED, HelpRequestStatus.CANCELLED}
    ),
}

# DESIGN.md §2: PENDING → ACCEPTED → COMPLETED, or DECLINED, WITHDRAWN, CANCELLED.
OFFER_TRANSITIONS: Mapping[OfferStatus, frozenset[OfferStatus]] = {
    OfferStatus.PENDING: frozenset(
        {OfferStatus.ACCEPTED, OfferStatus.DECLINED, OfferStatus.WITHDRAWN, OfferStatus.CANCELLED}
    ),
    OfferStatus.ACCEPTED: frozenset(
        {OfferStatus.COMPLETED, OfferStatus.WITHDRAWN, OfferStatus.CANCELLED}
    ),
}

LIVE_OFFERS = frozenset({OfferStatus.PENDING, OfferStatus.ACCEPTED})


def _transition(
    what: str,
    current: enum.Enum,
    target: enum.Enum,
    table: Mapping[enum.Enum, frozenset[enum.Enum]],
) -> None:
    if target not in table.get(current, frozenset()):
        raise DomainError(
            Code.INVALID_TRANSITION,
            f"this {what} is {current.value.lower().replace('_', ' ')}: it cannot become "
            f"{target.value.lower().replace('_', ' ')}",
        )


def check_request_transition(current: HelpRequestStatus, target: HelpRequestStatus) -> None:
    """Refuse a help request's move that the state machine does not allow."""
    _transition("request", current, target, REQUEST_TRANSITIONS)  # type: ignore[arg-type]


def check_offer_transition(current: OfferStatus, target: OfferStatus) -> None:
    """Refuse an offer's move that the state machine does not allow."""
    _transition("offer", current, target, OFFER_TRANSITIONS)  # type: ignore[arg-type]


@dataclasses.dataclass(frozen=True)
class Audience:
    """Who a help request is shown to."""

    scope: AudienceScope
    circle_ids: frozenset[int] = frozenset()
    member_ids: frozenset[int] = frozenset()


def admits(
    audience: Audience,
    *,
    relation: Relation,
    viewer_id: int | None,
    viewer_circle_ids: frozenset[int] = frozenset(),
) -> bool:
    """Tell whether a viewer so related to the author is in a request's audience.

    The author always is; a member who blocked the author, or whom the author blocked, is
    seen as anonymous (``Relation.ANONYMOUS``) and so only ever sees public requests.
    Suggested audiences are chosen members, picked from the suggestions.
    """
    if relation is Relation.SELF:
        return True
    scope = audience.scope
    if scope is AudienceScope.PUBLIC:
        return True
    if viewer_id is None or relation is Relation.ANONYMOUS:
        return False
    if scope is AudienceScope.NETWORK:
        return relation >= Relation.NETWORK
    if scope is AudienceScope.CONNECTIONS:
        return relation >= Relation.CONNECTION
    if scope is AudienceScope.CIRCLES:
        return bool(audience.circle_ids & viewer_circle_ids)
    return viewer_id in audience.member_ids  # MEMBERS and SUGGESTED


@dataclasses.dataclass(frozen=True, kw_only=True)
class MarketPolicy:
    """Limits a deployment may tune."""

    max_open_requests: int = 5
    max_bounty: int = 1_000
    max_helpers: int = 10
    max_expiry: dt.timedelta = dt.timedelta(days=90)
    default_expiry: dt.timedelta = dt.timedelta(days=14)
    max_tags: int = 10
    max_audience: int = 50
    # What bounties, tips and IOUs may move (the ledger's own knobs).
    ledger: LedgerPolicy = dataclasses.field(default_factory=LedgerPolicy)


@dataclasses.dataclass(frozen=True, kw_only=True)
class HelpRequestDraft:
    """What a member writes when asking; checked by ``check_draft``."""

    title: str
    details: str | None
    kind: HelpRequestKind
    tags: Sequence[str]
    audience: Audience
    bounty: int | None
    offers_iou: bool
    max_helpers: int
    expires_at: dt.datetime | None


def check_draft(draft: HelpRequestDraft, *, now: dt.datetime, policy: MarketPolicy) -> Checks:
    """Return every problem with a help request as written (raise them with ``raise_any``)."""
    checks = Checks()
    title = " ".join(draft.title.split())
    if not 5 <= len(title) <= 140:
        checks.add(Code.INVALID_INPUT, "a title has 5 to 140 characters", "title")
    for field, value in (("title", draft.title), ("details", draft.details or "")):
        if problem := text_problem(value):
            checks.add(Code.INVALID_INPUT, problem, field)
    if draft.details is not None and len(draft.details) > 5_000:
        checks.add(Code.INVALID_INPUT, "details have at most 5,000 characters", "details")
    if len(draft.tags) > policy.max_tags:
        checks.add(Code.LIMIT_EXCEEDED, f"at most {policy.max_tags} tags", "tags")
    audience = draft.audience
    if audience.scope is AudienceScope.CIRCLES and not audience.circle_ids:
        checks.add(Code.INVALID_INPUT, "choose at least one circle", ("audience", "circle_ids"))
    if audience.scope in (AudienceScope.MEMBERS, AudienceScope.SUGGESTED) and not (
        audience.member_ids
    ):
        checks.add(Code.INVALID_INPUT, "choose at least one member", ("audience", "member_ids"))
    if len(audience.member_ids) > policy.max_audience:
        checks.add(
            Code.LIMIT_EXCEEDED,
            f"show it to at most {policy.max_audience} chosen members",
            ("audience", "member_ids"),
        )
    if draft.bounty is not None and not 1 <= draft.bounty <= policy.max_bounty:
        checks.add(Code.INVALID_INPUT, f"a bounty is 1 to {policy.max_bounty} karma", "bounty")
    if not 1 <= draft.max_helpers <= policy.max_helpers:
        checks.add(Code.INVALID_INPUT, f"between 1 and {policy.max_helpers} helpers", "max_helpers")
    if draft.expires_at is not None:
        if draft.expires_at <= now:
            checks.add(Code.INVALID_INPUT, "the expiry must be in the future", "expires_at")
        elif draft.expires_at > now + policy.max_expiry:
            days = policy.max_expiry.days
            checks.add(Code.INVALID_INPUT, f"at most {days} days ahead", "expires_at")
    return checks


def expiry_of(draft: HelpRequestDraft, *, now: dt.datetime, policy: MarketPolicy) -> dt.datetime:
    """Return when a request lapses: as asked, or after the default time."""
    return draft.expires_at or now + policy.default_expiry


def settlement_problem(
    settlement: Settlement, *, bounty: int | None, offers_iou: bool
) -> str | None:
    """Return why a completion cannot settle this way, or None when it can."""
    if settlement is Settlement.BOUNTY and not bounty:
        return "this request has no bounty to pay"
    if settlement is Settlement.IOU and not offers_iou:
        return "this request did not offer an IOU"
    return None
