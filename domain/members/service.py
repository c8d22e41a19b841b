"""Commands on members: joining, signing in, and keeping a profile."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import functools
import zoneinfo
from collections.abc import Sequence

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from domain.errors import Checks, Code, DomainError, invalid, not_found
from domain.events import GiveAdded, GoalAdded, MemberJoined, ProfileUpdated
from domain.ledger import flows
from domain.members import rules, sessions
from domain.members.models import (
    Give,
    Goal,
    GoalKind,
    GoalStatus,
    GoalTag,
    LoginThrottle,
    Member,
    MemberTag,
    Tag,
    TagKind,
    TagRole,
    Visibility,
)
from domain.members.passwords import Passwords
from domain.members.sessions import SessionGrant
from domain.members.tagging import ensure_tags
from domain.store import Store, Transaction, insert_ignoring_conflicts

MAX_TAGS = {TagRole.SKILL: 30, TagRole.INTEREST: 30, TagRole.SEEK: 20}
MAX_GIVES = 20
MAX_ACTIVE_GOALS = 10
MAX_HELP_REQUESTS_PER_WEEK = 50
DEFAULT_HELP_REQUESTS_PER_WEEK = 3


class Unset(enum.Enum):
    """Marks a field a partial update leaves as it is (distinct from ``None``, which clears)."""

    UNSET = "UNSET"


UNSET = Unset.UNSET


@dataclasses.dataclass(frozen=True, kw_only=True)
class AuthPolicy:
    """How long sessions live and how hard password guessing is slowed."""

    refresh_ttl: dt.timedelta = dt.timedelta(days=30)
    max_failed_logins: int = 5
    failure_window: dt.timedelta = dt.timedelta(minutes=15)
    lockout: dt.timedelta = dt.timedelta(minutes=15)
    # Karma the issuer grants each new member.
    welcome_karma: int = 50


@dataclasses.dataclass(frozen=True, kw_only=True)
class SignedIn:
    member: Member
    grant: SessionGrant


@dataclasses.dataclass(frozen=True, kw_only=True)
class HelpBudget:
    requests_per_week: int
    quiet_hours_start: dt.time | None = None
    quiet_hours_end: dt.time | None = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class PrivacyChanges:
    profile: Visibility | Unset = UNSET
    location: Visibility | Unset = UNSET
    seeks: Visibility | Unset = UNSET
    gives: Visibility | Unset = UNSET
    goals: Visibility | Unset = UNSET
    connections: Visibility | Unset = UNSET


@dataclasses.dataclass(frozen=True, kw_only=True)
class ProfileChanges:
    display_name: str | Unset = UNSET
    headline: str | Unset | None = UNSET
    bio: str | Unset | None = UNSET
    location: str | Unset | None = UNSET
    timezone: str | Unset | None = UNSET
    skills: Sequence[str] | Unset = UNSET
    interests: Sequence[str] | Unset = UNSET
    seeks: Sequence[str] | Unset = UNSET
    help_budget: HelpBudget | Unset = UNSET
    privacy: PrivacyChanges | Unset = UNSET


_TEXT_LIMITS = {"display_name": 80, "headline": 140, "bio": 2000, "location": 100}


async def sign_up(
    tx: Transaction,
    *,
    passwords: Passwords,
    policy: AuthPolicy,
    email: str,
    password: str,
    display_name: str,
    handle: str,
) -> SignedIn:
    """Create a member with a public profile and sign them in."""
    email = email.strip()
    display_name = " ".join(display_name.split())
    checks = Checks()
    if problem := rules.email_problem(email):
        checks.add(Code.INVALID_INPUT, problem, "email")
    if problem := rules.handle_problem(handle):
        checks.add(Code.INVALID_INPUT, problem, "handle")
    if not display_name or len(display_name) > _TEXT_LIMITS["display_name"]:
        checks.add(Code.INVALID_INPUT, "a display name has 1 to 80 characters", "display_name")
    elif problem := rules.text_problem(display_name):
        checks.add(Code.INVALID_INPUT, problem, "display_name")
    if problem := rules.password_problem(
        password, email=email, handle=handle, display_name=display_name
    ):
        checks.add(Code.WEAK_PASSWORD, problem, "password")
    checks.raise_any()
    # Hash before the first statement, so no write lock is held while argon2 works.
    password_hash = await passwords.hash(password)
    key = rules.email_key(email)
    taken = (
        await tx.session.execute(
            select(Member.email_key, Member.handle).where(
                (Member.email_key == key) | (Member.handle == handle)
            )
        )
    ).all()
    for row in taken:
        if row.email_key == key:
            checks.add(Code.ALREADY_EXISTS, "an account with this email already exists", "email")
        if row.handle == handle:
            checks.add(Code.ALREADY_EXISTS, f"the handle {handle!r} is taken", "handle")
    checks.raise_any()
    member = Member(
        email=email,
        email_key=key,
        password_hash=password_hash,
        handle=handle,
        display_name=display_name,
        help_requests_per_week=DEFAULT_HELP_REQUESTS_PER_WEEK,
        visibility=Visibility.EVERYONE,
        location_visibility=Visibility.EVERYONE,
        seeks_visibility=Visibility.NETWORK,
        gives_visibility=Visibility.EVERYONE,
        goals_visibility=Visibility.NETWORK,
        connections_visibility=Visibility.CONNECTIONS,
        search_text=_search_text(handle=handle, display_name=display_name),
        created_at=tx.now,
        updated_at=tx.now,
    )
    tx.session.add(member)
    try:
        await tx.session.flush()
    except IntegrityError as error:
        # Someone took the email or handle between our check and our insert.
        raise DomainError(
            Code.ALREADY_EXISTS, "this email or handle was just taken", "handle"
        ) from error
    tx.emit(MemberJoined(actor_id=member.id, member_id=member.id, handle=handle))
    await flows.grant_welcome(tx, member_id=member.id, amount=policy.welcome_karma)
    grant = await sessions.start_session(tx, member_id=member.id, ttl=policy.refresh_ttl)
    return SignedIn(member=member, grant=grant)


async def log_in(
    store: Store, *, passwords: Passwords, policy: AuthPolicy, email: str, password: str
) -> SignedIn:
    """Sign a member in by email and password; repeated failures lock the email a while.

    Unlike other commands this opens its own transactions: the password is checked between
    them, so no write lock is held while argon2 works.
    """
    key = rules.email_key(email)
    if len(key) > rules.EMAIL_MAX or "\x00" in key:
        # No account has such an address, and the throttle's column could not hold it.
        await passwords.verify(None, password)
        raise _wrong_credentials()
    async with store.reader() as session:
        member = await session.scalar(select(Member).where(Member.email_key == key))
        throttle = await session.get(LoginThrottle, key)
        now = store.clock()
        if throttle is not None:
            _refuse_if_locked(throttle, now)
    matches = await passwords.verify(member.password_hash if member else None, password)
    async with store.transaction() as tx:
        if not matches or member is None:
            await _record_failure(tx, key, policy)
            await tx.commit()
            raise _wrong_credentials()
        throttle = await tx.session.get(LoginThrottle, key, with_for_update=True)
        if throttle is not None:
            _refuse_if_locked(throttle, tx.now)
            await tx.session.delete(throttle)
        member = await tx.session.get_one(Member, member.id)
        if passwords.needs_rehash(member.password_hash):
            member.password_hash = await passwords.hash(password)
        grant = await sessions.start_session(tx, member_id=member.id, ttl=policy.refresh_ttl)
        await tx.commit()
        return SignedIn(member=member, grant=grant)


def _wrong_credentials() -> DomainError:
    return DomainError(Code.INVALID_CREDENTIALS, "the email or password is not right", "password")


def _refuse_if_locked(throttle: LoginThrottle, now: dt.datetime) -> None:
    if throttle.locked_until is not None and throttle.locked_until > now:
        seconds = int((throttle.locked_until - now).total_seconds()) + 1
        raise DomainError(
            Code.RATE_LIMITED,
            f"too many failed sign-ins for this email; try again in {seconds} seconds",
            "email",
        )


async def _record_failure(tx: Transaction, key: str, policy: AuthPolicy) -> None:
    await tx.session.execute(
        insert_ignoring_conflicts(tx.dialect, LoginThrottle.__table__, ["email_key"]),
        [{"email_key": key, "failures": 0, "window_started_at": tx.now}],
    )
    throttle = await tx.session.get_one(
        LoginThrottle, key, with_for_update=True, populate_existing=True
    )
    # Guesses checked while another request was locking the email answer like the lock,
    # so "wrong password" and "locked" cannot be told apart past the limit.
    _refuse_if_locked(throttle, tx.now)
    if throttle.window_started_at + policy.failure_window <= tx.now:
        throttle.failures, throttle.window_started_at, throttle.locked_until = 0, tx.now, None
    throttle.failures += 1
    if throttle.failures >= policy.max_failed_logins:
        throttle.locked_until = tx.now + policy.lockout
        throttle.failures, throttle.window_started_at = 0, tx.now + policy.lockout


async def update_profile(tx: Transaction, *, actor_id: int, changes: ProfileChanges) -> Member:
    """Change parts of the actor's own profile; parts left unset stay as they are."""
    member = await _get_member(tx, actor_id)
    checks = Checks()
    changed: list[str] = []
    for name, limit in _TEXT_LIMITS.items():
        value = getattr(changes, name)
        if value is UNSET:
            continue
        value = value.strip() if isinstance(value, str) else None
        if name == "display_name":
            value = " ".join((value or "").split())
            if not value:
                checks.add(Code.INVALID_INPUT, "a display name cannot be empty", name)
                continue
        if value is not None and len(value) > limit:
            checks.add(Code.INVALID_INPUT, f"at most {limit} characters", name)
            continue
        if value is not None and (problem := rules.text_problem(value)):
            checks.add(Code.INVALID_INPUT, problem, name)
            continue
        setattr(member, name, value or None if name != "display_name" else value)
        changed.append(name)
    if changes.timezone is not UNSET:
        timezone = (changes.timezone or "").strip() or None
        if timezone is not None and not _is_timezone(timezone):
            checks.add(Code.INVALID_INPUT, "use an IANA time zone such as Europe/Paris", "timezone")
        else:
            member.timezone = timezone
            changed.append("timezone")
    if not isinstance(changes.help_budget, Unset):
        budget = changes.help_budget
        if not 0 <= budget.requests_per_week <= MAX_HELP_REQUESTS_PER_WEEK:
            checks.add(
                Code.INVALID_INPUT,
                f"between 0 and {MAX_HELP_REQUESTS_PER_WEEK} requests a week",
                ("help_budget", "requests_per_week"),
            )
        elif (budget.quiet_hours_start is None) != (budget.quiet_hours_end is None):
            checks.add(
                Code.INVALID_INPUT,
                "give both ends of the quiet hours, or neither",
                ("help_budget", "quiet_hours_end"),
            )
        else:
            member.help_requests_per_week = budget.requests_per_week
            member.quiet_hours_start = budget.quiet_hours_start
            member.quiet_hours_end = budget.quiet_hours_end
            changed.append("help_budget")
    if not isinstance(changes.privacy, Unset):
        for part, visibility in dataclasses.asdict(changes.privacy).items():
            if visibility is not UNSET:
                column = "visibility" if part == "profile" else f"{part}_visibility"
                setattr(member, column, visibility)
        changed.append("privacy")
    checks.raise_any()
    for role, field in (
        (TagRole.SKILL, "skills"),
        (TagRole.INTEREST, "interests"),
        (TagRole.SEEK, "seeks"),
    ):
        texts = getattr(changes, field)
        if not isinstance(texts, Unset):
            kind = TagKind.SKILL if role is TagRole.SKILL else TagKind.TOPIC
            new_tags = await ensure_tags(tx, texts, kind=kind, limit=MAX_TAGS[role], field=field)
            await _replace_tags(tx, member.id, role, new_tags)
            changed.append(field)
    if changed:
        member.updated_at = tx.now
        await _refresh_search_text(tx, member)
        tx.emit(ProfileUpdated(actor_id=actor_id, member_id=actor_id, fields=tuple(changed)))
    return member


async def add_give(
    tx: Transaction,
    *,
    actor_id: int,
    tag: str,
    description: str | None,
    monthly_capacity: int | None,
) -> Give:
    """Add a standing offer of help to the actor's profile."""
    member = await _get_member(tx, actor_id)
    description = (description or "").strip() or None
    checks = Checks()
    if description is not None and len(description) > 280:
        checks.add(Code.INVALID_INPUT, "at most 280 characters", "description")
    elif description is not None and (problem := rules.text_problem(description)):
        checks.add(Code.INVALID_INPUT, problem, "description")
    if monthly_capacity is not None and not 1 <= monthly_capacity <= 100:
        checks.add(Code.INVALID_INPUT, "between 1 and 100 a month", "monthly_capacity")
    checks.raise_any()
    (give_tag,) = await ensure_tags(tx, [tag], kind=TagKind.SKILL, limit=1, field="tag")
    existing = (
        (
            await tx.session.execute(
                select(Give.tag_id).where(Give.member_id == actor_id).with_for_update()
            )
        )
        .scalars()
        .all()
    )
    if give_tag.id in existing:
        raise DomainError(Code.ALREADY_EXISTS, f"you already give {give_tag.label}", "tag")
    if len(existing) >= MAX_GIVES:
        raise DomainError(Code.LIMIT_EXCEEDED, f"at most {MAX_GIVES} gives", "tag")
    give = Give(
        member_id=actor_id,
        tag_id=give_tag.id,
        description=description,
        monthly_capacity=monthly_capacity,
        created_at=tx.now,
    )
    tx.session.add(give)
    await tx.session.flush()
    member.updated_at = tx.now
    await _refresh_search_text(tx, member)
    tx.emit(GiveAdded(actor_id=actor_id, member_id=actor_id, give_id=give.id, tag=give_tag.slug))
    return give


async def add_goal(
    tx: Transaction,
    *,
    actor_id: int,
    title: str,
    kind: GoalKind,
    tags: Sequence[str],
    until: dt.date | None,
) -> Goal:
    """Add a goal the actor is pursuing now."""
    await _get_member(tx, actor_id)
    title = " ".join(title.split())
    checks = Checks()
    if not 3 <= len(title) <= 140:
        checks.add(Code.INVALID_INPUT, "a goal's title has 3 to 140 characters", "title")
    elif problem := rules.text_problem(title):
        checks.add(Code.INVALID_INPUT, problem, "title")
    if until is not None and until < tx.now.date():
        checks.add(Code.INVALID_INPUT, "a goal's date cannot be in the past", "until")
    checks.raise_any()
    active = await tx.session.scalar(
        select(func.count())
        .select_from(Goal)
        .where(Goal.member_id == actor_id, Goal.status == GoalStatus.ACTIVE)
    )
    if (active or 0) >= MAX_ACTIVE_GOALS:
        raise DomainError(Code.LIMIT_EXCEEDED, f"at most {MAX_ACTIVE_GOALS} active goals", "title")
    goal_tags = await ensure_tags(tx, tags, kind=TagKind.TOPIC, limit=10, field="tags")
    goal = Goal(
        member_id=actor_id,
        title=title,
        kind=kind,
        until=until,
        status=GoalStatus.ACTIVE,
        created_at=tx.now,
    )
    tx.session.add(goal)
    await tx.session.flush()
    tx.session.add_all(
        GoalTag(goal_id=goal.id, tag_id=tag.id, position=position)
        for position, tag in enumerate(goal_tags)
    )
    await tx.session.flush()
    tx.emit(
        GoalAdded(
            actor_id=actor_id,
            member_id=actor_id,
            goal_id=goal.id,
            tags=tuple(tag.slug for tag in goal_tags),
        )
    )
    return goal


async def _get_member(tx: Transaction, member_id: int) -> Member:
    member = await tx.session.get(Member, member_id, with_for_update=True)
    if member is None:
        raise not_found("member")
    return member


async def _replace_tags(tx: Transaction, member_id: int, role: TagRole, tags: list[Tag]) -> None:
    await tx.session.execute(
        delete(MemberTag).where(MemberTag.member_id == member_id, MemberTag.role == role)
    )
    tx.session.add_all(
        MemberTag(member_id=member_id, role=role, tag_id=tag.id, position=position)
        for position, tag in enumerate(tags)
    )
    await tx.session.flush()


async def _refresh_search_text(tx: Transaction, member: Member) -> None:
    await tx.session.flush()
    tags = (
        select(Tag.slug, Tag.label)
        .join(MemberTag, MemberTag.tag_id == Tag.id)
        .where(MemberTag.member_id == member.id, MemberTag.role != TagRole.SEEK)
    )
    # One index serves every searcher alike: gives go in only when everyone may read them.
    if member.gives_visibility is Visibility.EVERYONE:
        gives = (
            select(Tag.slug, Tag.label)
            .join(Give, Give.tag_id == Tag.id)
            .where(Give.member_id == member.id)
        )
        labels = await tx.session.execute(tags.union(gives))
    else:
        labels = await tx.session.execute(tags)
    member.search_text = _search_text(
        handle=member.handle,
        display_name=member.display_name,
        headline=member.headline,
        bio=member.bio,
        tags=[f"{row.label} {row.slug.replace('-', ' ')}" for row in labels.all()],
    )


def _search_text(
    *,
    handle: str,
    display_name: str,
    headline: str | None = None,
    bio: str | None = None,
    tags: Sequence[str] = (),
) -> str:
    # Seeks and location are left out, and gives are left out unless shown to everyone: their
    # visibility can be narrower than the profile's, and search must not reveal what a
    # stranger may not read.
    parts = [handle, display_name, headline or "", bio or "", *tags]
    return "\n".join(part for part in parts if part)


def _is_timezone(name: str) -> bool:
    # Looking a name up with ZoneInfo() would read files: "Europe" is a directory, and a
    # long name is an OSError; only the known keys are time zones.
    return name in _time_zones()


@functools.cache
def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


__all__ = [
    "UNSET",
    "AuthPolicy",
    "HelpBudget",
    "PrivacyChanges",
    "ProfileChanges",
    "SignedIn",
    "Unset",
    "add_give",
    "add_goal",
    "invalid",
    "log_in",
    "sign_up",
    "update_profile",
]
