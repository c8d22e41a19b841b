"""Intros: a member asks a broker they share with someone to introduce the two of them.

Double opt-in: the broker forwards first, then the member asked for accepts. Until the
broker forwards, the target is not a party to the intro and does not learn of it. An intro
shows no profile its parties could not already see; it only carries the messages.

An open intro lapses ``INTRO_TTL`` after it was asked for. Reads show it as expired at
once; ``expire_intros`` records that (and emits the events) when the periodic maintenance
task gets to it, or when the requester asks again.

After an intro was declined (by the broker or the target), its requester may ask for an
intro to the same member again only after ``relationships.DECLINE_COOLDOWN``, whoever they
ask to broker it — as after a declined connection request.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from collections.abc import Iterable, Sequence

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from domain.errors import Checks, Code, DomainError, invalid, not_found
from domain.events import IntroAccepted, IntroDeclined, IntroExpired, IntroForwarded, IntroRequested
from domain.ledger import flows
from domain.ledger.rules import LedgerPolicy
from domain.matching import read as opportunities
from domain.matching.models import SubjectType
from domain.members.models import Member
from domain.members.rules import optional_text, text_problem
from domain.members.visibility import can_see, relations
from domain.network import relationships
from domain.network.blocks import blocked_any
from domain.network.models import Connection, Intro, IntroStatus
from domain.store import Transaction

INTRO_TTL = dt.timedelta(days=14)
BROKER_WINDOW = dt.timedelta(days=7)
MAX_MESSAGE = 1000
MAX_NOTE = 1000
MAX_ID = 2**63 - 1
OPEN = (IntroStatus.REQUESTED, IntroStatus.FORWARDED)


class IntroRole(enum.Enum):
    """The part a member plays in an intro."""

    REQUESTER = "REQUESTER"
    BROKER = "BROKER"
    TARGET = "TARGET"


@dataclasses.dataclass(frozen=True)
class IntroView:
    """An intro as one of its parties sees it, with its status as of ``now``."""

    intro: Intro
    status: IntroStatus
    viewer_role: IntroRole


@dataclasses.dataclass(frozen=True)
class IntroPage:
    intros: list[IntroView]
    total: int
    has_next: bool


def status_at(intro: Intro, now: dt.datetime) -> IntroStatus:
    """Return the intro's status at ``now``: an open intro past its expiry has expired."""
    if intro.status in OPEN and intro.expires_at <= now:
        return IntroStatus.EXPIRED
    return intro.status


def role_of(intro: Intro, member_id: int | None) -> IntroRole | None:
    """Return the member's part in the intro; the target has none until it is forwarded."""
    if member_id == intro.requester_id:
        return IntroRole.REQUESTER
    if member_id == intro.broker_id:
        return IntroRole.BROKER
    if member_id == intro.target_id and intro.forwarded_at is not None:
        return IntroRole.TARGET
    return None


def seen_by(intro: Intro, viewer_id: int | None, now: dt.datetime) -> IntroView | None:
    """Return the intro as the viewer sees it, or None when they are not one of its parties."""
    role = role_of(intro, viewer_id)
    return IntroView(intro, status_at(intro, now), role) if role else None


# Commands


async def request_intro(
    tx: Transaction,
    *,
    actor_id: int,
    target_id: int,
    broker_id: int,
    message: str,
    help_request_id: int | None,
    weekly_limit: int,
) -> Intro:
    """Ask a connection to introduce the actor to one of their connections."""
    message = _checked_request(actor_id, target_id, broker_id, message, help_request_id)
    # Serialise the actor's requests (one open intro per target) and the broker's weekly count.
    await tx.session.execute(
        select(Member.id)
        .where(Member.id.in_([actor_id, broker_id]))
        .order_by(Member.id)
        .with_for_update()
    )
    await _require_visible(tx, actor_id, {target_id: "target_id", broker_id: "broker_id"})
    if await blocked_any(tx.session, [actor_id, broker_id, target_id]):
        raise DomainError(Code.FORBIDDEN, "you cannot ask for this intro", "broker_id")
    brokers_ties = await _connections_among(tx.session, broker_id, [actor_id, target_id])
    if brokers_ties != {actor_id, target_id}:
        raise DomainError(
            Code.FORBIDDEN, "your broker must be connected to both of you", "broker_id"
        )
    if await _connections_among(tx.session, actor_id, [target_id]):
        raise DomainError(Code.ALREADY_EXISTS, "you are already connected", "target_id")
    await _refuse_if_asked_already(tx, actor_id, target_id)
    await _refuse_if_declined_lately(tx, actor_id, target_id)
    await _refuse_past_weekly_limit(tx, broker_id, weekly_limit)
    intro = Intro(
        requester_id=actor_id,
        broker_id=broker_id,
        target_id=target_id,
        message=message,
        help_request_id=help_request_id,
        status=IntroStatus.REQUESTED,
        created_at=tx.now,
        expires_at=tx.now + INTRO_TTL,
    )
    tx.session.add(intro)
    await tx.session.flush()
    tx.emit(
        IntroRequested(
            actor_id=actor_id,
            intro_id=intro.id,
            requester_id=actor_id,
            broker_id=broker_id,
            target_id=target_id,
        )
    )
    return intro


async def forward_intro(
    tx: Transaction, *, actor_id: int, intro_id: int, note: str | None
) -> Intro:
    """Pass an intro the actor was asked to broker on to the member it is for."""
    intro = await _for_party(tx, intro_id, actor_id)
    _require_status(intro, tx.now, IntroStatus.REQUESTED)
    if actor_id != intro.broker_id:
        raise DomainError(Code.FORBIDDEN, "only the broker can forward this intro", "intro_id")
    note = _optional_text(note, limit=MAX_NOTE, field="note")
    await _refuse_if_blocked(tx, intro)
    intro.status = IntroStatus.FORWARDED
    intro.broker_note = note
    intro.forwarded_at = tx.now
    await tx.session.flush()
    await opportunities.mark_acted(
        tx, member_id=actor_id, subject_type=SubjectType.INTRO, subject_id=intro.id
    )
    tx.emit(
        IntroForwarded(
            actor_id=actor_id,
            intro_id=intro.id,
            broker_id=intro.broker_id,
            target_id=intro.target_id,
        )
    )
    return intro


async def accept_intro(
    tx: Transaction, *, actor_id: int, intro_id: int, policy: LedgerPolicy
) -> Intro:
    """Accept an intro forwarded to the actor: they and the requester become connected, and
    the broker is credited their share of karma (within a weekly cap)."""
    intro = await _for_party(tx, intro_id, actor_id)
    _require_status(intro, tx.now, IntroStatus.FORWARDED)
    if actor_id != intro.target_id:
        raise DomainError(
            Code.FORBIDDEN, "only the member being introduced can accept this intro", "intro_id"
        )
    await _refuse_if_blocked(tx, intro)
    if await _connections_among(tx.session, intro.requester_id, [intro.target_id]):
        raise DomainError(Code.ALREADY_EXISTS, "you are already connected", "intro_id")
    broker = await tx.session.get(Member, intro.broker_id)
    assert broker is not None, "intros cascade with their members"
    relationship = await relationships.connect(
        tx,
        member_id=intro.requester_id,
        other_id=intro.target_id,
        context=f"introduced by {broker.display_name}",
        introduced_by_id=broker.id,
    )
    for side in (intro.requester_id, intro.target_id):
        await relationships.record_intro(tx, member_id=broker.id, other_id=side)
    intro.status = IntroStatus.ACCEPTED
    intro.responded_at = tx.now
    await tx.session.flush()
    await flows.broker_share(
        tx, actor_id=actor_id, intro_id=intro.id, broker_id=broker.id, policy=policy
    )
    tx.emit(
        IntroAccepted(
            actor_id=actor_id,
            intro_id=intro.id,
            requester_id=intro.requester_id,
            broker_id=intro.broker_id,
            target_id=intro.target_id,
            relationship_id=relationship.id,
        )
    )
    return intro


async def decline_intro(
    tx: Transaction, *, actor_id: int, intro_id: int, reason: str | None
) -> Intro:
    """Decline an intro: the broker before forwarding it, the target after."""
    intro = await _for_party(tx, intro_id, actor_id)
    status = status_at(intro, tx.now)
    if status is IntroStatus.EXPIRED:
        raise _expired(intro)
    if status is IntroStatus.REQUESTED and actor_id != intro.broker_id:
        raise DomainError(Code.FORBIDDEN, "only the broker can decline this intro now", "intro_id")
    if status is IntroStatus.FORWARDED and actor_id != intro.target_id:
        raise DomainError(
            Code.FORBIDDEN, "only the member being introduced can decline it now", "intro_id"
        )
    if status not in OPEN:
        raise DomainError(
            Code.INVALID_TRANSITION, f"this intro is already {status.value.lower()}", "intro_id"
        )
    intro.decline_reason = _optional_text(reason, limit=MAX_NOTE, field="reason")
    intro.status = IntroStatus.DECLINED
    intro.declined_by_id = actor_id
    intro.responded_at = tx.now
    await tx.session.flush()
    tx.emit(IntroDeclined(actor_id=actor_id, intro_id=intro.id, declined_by_id=actor_id))
    return intro


async def expire_intros(tx: Transaction, now: dt.datetime, *, limit: int | None = None) -> int:
    """Record open intros past their expiry as expired (at most ``limit``, oldest first);
    return how many.

    Safe to run in several processes at once: each intro is expired, and its event written,
    by one transaction only (rows another transaction holds are skipped, and those it
    expired are no longer open).
    """
    return await _expire(tx, now, limit=limit)


async def _expire(
    tx: Transaction, now: dt.datetime, *where: ColumnElement[bool], limit: int | None = None
) -> int:
    statement = (
        select(Intro.id)
        .where(Intro.status.in_(OPEN), Intro.expires_at <= now, *where)
        .order_by(Intro.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    intro_ids = list(await tx.session.scalars(statement))
    if not intro_ids:
        return 0
    # Only the rows this statement changed get an event.
    expired = await tx.session.scalars(
        update(Intro)
        .where(Intro.id.in_(intro_ids), Intro.status.in_(OPEN))
        .values(status=IntroStatus.EXPIRED)
        .returning(Intro.id)
    )
    intro_ids = sorted(expired)
    for intro_id in intro_ids:
        tx.emit(IntroExpired(intro_id=intro_id))
    return len(intro_ids)


def _checked_request(
    actor_id: int, target_id: int, broker_id: int, message: str, help_request_id: int | None
) -> str:
    """Return the message to keep, or raise every problem with the request's input."""
    checks = Checks()
    if target_id == actor_id:
        checks.add(Code.INVALID_INPUT, "you cannot ask for an intro to yourself", "target_id")
    if broker_id in (actor_id, target_id):
        checks.add(
            Code.INVALID_INPUT,
            "the broker must be someone other than you and the member you want to meet",
            "broker_id",
        )
    message = message.strip()
    if not message or len(message) > MAX_MESSAGE:
        checks.add(Code.INVALID_INPUT, f"a message has 1 to {MAX_MESSAGE} characters", "message")
    elif problem := text_problem(message):
        checks.add(Code.INVALID_INPUT, problem, "message")
    if help_request_id is not None and not 0 < help_request_id <= MAX_ID:
        checks.add(Code.INVALID_INPUT, "not a help request id", "help_request_id")
    checks.raise_any()
    for member_id, field in ((target_id, "target_id"), (broker_id, "broker_id")):
        if not 0 < member_id <= MAX_ID:
            raise not_found("member", field)
    return message


async def _refuse_if_asked_already(tx: Transaction, actor_id: int, target_id: int) -> None:
    await _expire(tx, tx.now, Intro.requester_id == actor_id, Intro.target_id == target_id)
    still_open = await tx.session.scalar(
        select(Intro.id)
        .where(
            Intro.requester_id == actor_id,
            Intro.target_id == target_id,
            Intro.status.in_(OPEN),
            Intro.expires_at > tx.now,
        )
        .limit(1)
    )
    if still_open is not None:
        raise DomainError(
            Code.ALREADY_EXISTS,
            "you already asked for an intro to this member; wait for it to be answered",
            "target_id",
        )


async def _refuse_if_declined_lately(tx: Transaction, actor_id: int, target_id: int) -> None:
    declined_at = await tx.session.scalar(
        select(func.max(Intro.responded_at)).where(
            Intro.requester_id == actor_id,
            Intro.target_id == target_id,
            Intro.status == IntroStatus.DECLINED,
            Intro.responded_at > tx.now - relationships.DECLINE_COOLDOWN,
        )
    )
    if declined_at is not None:
        again = (declined_at + relationships.DECLINE_COOLDOWN).date().isoformat()
        raise DomainError(
            Code.RATE_LIMITED,
            f"your last intro to this member was declined; you may ask again from {again}",
            "target_id",
        )


async def _refuse_past_weekly_limit(tx: Transaction, broker_id: int, weekly_limit: int) -> None:
    # Every intro asked counts, whatever became of it: the broker was asked all the same.
    asked = await tx.session.scalar(
        select(func.count())
        .select_from(Intro)
        .where(Intro.broker_id == broker_id, Intro.created_at > tx.now - BROKER_WINDOW)
    )
    if (asked or 0) >= weekly_limit:
        raise DomainError(
            Code.LIMIT_EXCEEDED,
            f"this broker has been asked for {weekly_limit} intros this week; "
            "ask again later, or ask someone else",
            "broker_id",
        )


async def _for_party(tx: Transaction, intro_id: int, actor_id: int) -> Intro:
    intro = (
        await tx.session.get(Intro, intro_id, with_for_update=True)
        if 0 < intro_id <= MAX_ID
        else None
    )
    if intro is None or role_of(intro, actor_id) is None:
        raise not_found("intro", "intro_id")
    return intro


def _require_status(intro: Intro, now: dt.datetime, wanted: IntroStatus) -> None:
    status = status_at(intro, now)
    if status is IntroStatus.EXPIRED:
        raise _expired(intro)
    if status is not wanted:
        raise DomainError(
            Code.INVALID_TRANSITION,
            f"this intro is {status.value.lower()}, not {wanted.value.lower()}",
            "intro_id",
        )


def _expired(intro: Intro) -> DomainError:
    return DomainError(
        Code.INVALID_TRANSITION,
        f"this intro expired on {intro.expires_at.date().isoformat()}",
        "intro_id",
    )


async def _refuse_if_blocked(tx: Transaction, intro: Intro) -> None:
    members = [intro.requester_id, intro.broker_id, intro.target_id]
    if await blocked_any(tx.session, members):
        raise DomainError(Code.FORBIDDEN, "this intro can no longer go ahead", "intro_id")


async def _require_visible(tx: Transaction, viewer_id: int, fields: dict[int, str]) -> None:
    """Refuse members who do not exist or whose profile the viewer may not see, alike."""
    members = {
        member.id: member
        for member in await tx.session.scalars(select(Member).where(Member.id.in_(fields)))
    }
    related = await relations(tx.session, viewer_id=viewer_id, member_ids=members)
    for member_id, field in fields.items():
        member = members.get(member_id)
        if member is None or not can_see(member.visibility, related[member_id]):
            raise not_found("member", field)


async def _connections_among(
    session: AsyncSession, member_id: int, others: Sequence[int]
) -> set[int]:
    found = await session.scalars(
        select(Connection.other_id).where(
            Connection.member_id == member_id, Connection.other_id.in_(others)
        )
    )
    return set(found)


def _optional_text(value: str | None, *, limit: int, field: str) -> str | None:
    try:
        return optional_text(value, limit=limit)
    except ValueError as problem:
        raise invalid(str(problem), field) from None


# Reads


def _party_to(viewer_id: int, role: IntroRole | None) -> ColumnElement[bool]:
    as_requester = Intro.requester_id == viewer_id
    as_broker = Intro.broker_id == viewer_id
    as_target = and_(Intro.target_id == viewer_id, Intro.forwarded_at.is_not(None))
    if role is IntroRole.REQUESTER:
        return as_requester
    if role is IntroRole.BROKER:
        return as_broker
    if role is IntroRole.TARGET:
        return as_target
    return or_(as_requester, as_broker, as_target)


def _in_status(statuses: Iterable[IntroStatus], now: dt.datetime) -> ColumnElement[bool]:
    conditions: list[ColumnElement[bool]] = []
    for status in set(statuses):
        if status in OPEN:
            conditions.append(and_(Intro.status == status, Intro.expires_at > now))
        elif status is IntroStatus.EXPIRED:
            conditions.append(
                or_(
                    Intro.status == status,
                    and_(Intro.status.in_(OPEN), Intro.expires_at <= now),
                )
            )
        else:
            conditions.append(Intro.status == status)
    return or_(*conditions)


async def intros_by_ids(
    session: AsyncSession, *, viewer_id: int | None, intro_ids: Iterable[int], now: dt.datetime
) -> dict[int, IntroView]:
    """Return the intros the viewer is a party to among these, by id."""
    ids = {intro_id for intro_id in intro_ids if 0 < intro_id <= MAX_ID}
    if viewer_id is None or not ids:
        return {}
    rows = await session.scalars(select(Intro).where(Intro.id.in_(ids), _party_to(viewer_id, None)))
    return {view.intro.id: view for row in rows if (view := seen_by(row, viewer_id, now))}


async def viewer_intros(
    session: AsyncSession,
    *,
    viewer_id: int,
    role: IntroRole | None,
    statuses: Sequence[IntroStatus],
    now: dt.datetime,
    limit: int,
    offset: int,
) -> IntroPage:
    """Return the intros the viewer is a party to (in one role, or any), newest first."""
    statement = select(Intro, func.count().over().label("total")).where(_party_to(viewer_id, role))
    if statuses:
        statement = statement.where(_in_status(statuses, now))
    rows = (
        await session.execute(
            statement.order_by(Intro.created_at.desc(), Intro.id.desc())
            .limit(limit + 1)
            .offset(offset)
        )
    ).all()
    views = [seen_by(row[0], viewer_id, now) for row in rows[:limit]]
    return IntroPage(
        intros=[view for view in views if view is not None],
        total=rows[0].total if rows else 0,
        has_next=len(rows) > limit,
    )
