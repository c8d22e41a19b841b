"""The demo network's history, told through the domain's own commands.

Every change goes through the service a member's action would call (sign-up, profile,
connections, circles, intros, help requests, offers, karma), so the ledger balances and
the outbox holds the events those actions cause. The history is back-dated: each action
runs with the transaction's clock set to when it happened, in time order, so ties have
believable recency and requests believable ages. Random choices come from one seeded
``random.Random`` in a fixed order: the same seed tells the same story.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import heapq
import itertools
import random
from collections.abc import Awaitable, Callable

from domain.demo.cast import COMPANIES, EVENTS, FIELDS, JOURNEY, Field, Profile
from domain.marketplace.rules import (
    MarketPolicy,
)
from domain.members import service as members
from domain.members.models import GoalKind
from domain.members.passwords import Passwords
from domain.network import circles, relationships
from domain.network.models import CircleVisibility
from domain.store import Transaction

DAY = dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)
_ON_REQUEST_CIRCLES = frozenset({"law", "fundraising"})
Action = Callable[[], Awaitable[None]]
Plan = Callable[["Story", list[Profile]], None]


@dataclasses.dataclass(frozen=True, kw_only=True)
class Policies:
    """The deployment's rules the story must keep to."""

    auth: members.AuthPolicy
    market: MarketPolicy
    intros_per_broker_per_week: int


class Story:
    """One seeded telling of the demo network's history, inside one transaction."""

    def __init__(
        self,
        tx: Transaction,
        *,
        rng: random.Random,
        passwords: Passwords,
        policies: Policies,
        cast: list[Profile],
        end: dt.datetime,
        key_prefix: str,
    ) -> None:
        self.tx = tx
        self.rng = rng
        self.passwords = passwords
        self.policies = policies
        self.cast = cast
        self.end = end
        self.key_prefix = key_prefix
        self.ids: dict[str, int] = {}
        self.profiles: dict[int, Profile] = {}
        self.ties: dict[int, set[int]] = {}
        self.circle_ids: dict[str, int] = {}
        # Every pair a connection request is planned for: intros are kept clear of them.
        self.planned_pairs: set[frozenset[str]] = set()
        self._agenda: list[tuple[dt.datetime, int, Action]] = []
        self._order = itertools.count()
        self._gifts = itertools.count(1)

    # The agenda: actions in time order; an action may plan later ones.

    def at(self, when: dt.datetime, action: Action) -> None:
        """Plan an action for a moment of the story (ignored past its end)."""
        if when <= self.end:
            heapq.heappush(self._agenda, (when, next(self._order), action))

    async def tell(self, password: str, *plans: Plan) -> None:
        """Plan who joins, their circles and ties, then ``plans``; run it all in time order."""
        generated = [profile for profile in self.cast if profile.handle not in self.journey]
        self._plan_sign_ups(password, generated)
        self._plan_circles(generated)
        self._plan_connections(generated)
        for plan in plans:
            plan(self, generated)
        while self._agenda:
            when, _, action = heapq.heappop(self._agenda)
            # Services stamp rows and events with the transaction's time: each action's is
            # the moment it happens in the story.
            self.tx.now = when
            await action()

    @property
    def journey(self) -> frozenset[str]:
        return frozenset(profile.handle for profile in JOURNEY)

    def days_ago(self, low: float, high: float | None = None) -> dt.datetime:
        """Return a moment between ``low`` and ``high`` days before the end, to the minute."""
        days = low if high is None else self.rng.uniform(min(low, high), max(low, high))
        return (self.end - days * DAY).replace(second=0, microsecond=0)

    # Members

    def _plan_sign_ups(self, password: str, generated: list[Profile]) -> None:
        for index, profile in enumerate(JOURNEY):
            self.at(self.days_ago(400 - index), self._join(profile, password))
        for profile in generated:
            self.at(self.days_ago(420, 340), self._join(profile, password))

    def _join(self, profile: Profile, password: str) -> Action:
        async def join() -> None:
            signed_in = await members.sign_up(
                self.tx,
                passwords=self.passwords,
                policy=self.policies.auth,
                email=profile.email,
                password=password,
                display_name=profile.display_name,
                handle=profile.handle,
            )
            member_id = signed_in.member.id
            self.ids[profile.handle] = member_id
            self.profiles[member_id] = profile
            self.ties[member_id] = set()
            await members.update_profile(
                self.tx,
                actor_id=member_id,
                changes=members.ProfileChanges(
                    headline=profile.headline,
                    bio=profile.bio,
                    location=profile.location,
                    timezone=profile.timezone,
                    skills=profile.skills,
                    interests=profile.interests,
                    seeks=profile.seeks,
                ),
            )
            for tag, description, capacity in profile.gives:
                await members.add_give(
                    self.tx,
                    actor_id=member_id,
                    tag=tag,
                    description=description,
                    monthly_capacity=capacity,
                )

        return join

    # Circles

    def _plan_circles(self, generated: list[Profile]) -> None:
        owners = {"events": "carol"}
        for profile in generated:
            owners.setdefault(profile.field.slug, profile.handle)
        for index, field in enumerate(FIELDS):
            if field.slug in owners:
                self.at(self.days_ago(330 - index), self._create_circle(field, owners[field.slug]))
        for profile in [*JOURNEY, *generated]:
            if profile.handle == owners.get(profile.field.slug):
                continue
            if profile.handle in self.journey or self.rng.random() < 0.6:
                self.at(self.days_ago(300, 5), self._join_circle(profile.handle, profile.field))
            if profile.handle not in self.journey and self.rng.random() < 0.15:
                other = self.rng.choice(FIELDS)
                if other is not profile.field:
                    self.at(self.days_ago(300, 5), self._join_circle(profile.handle, other))

    def _create_circle(self, field: Field, owner: str) -> Action:
        async def create() -> None:
            circle = await circles.create_circle(
                self.tx,
                actor_id=self.ids[owner],
                name=field.circle,
                description=field.circle_description,
                visibility=(
                    CircleVisibility.ON_REQUEST
                    if field.slug in _ON_REQUEST_CIRCLES
                    else CircleVisibility.OPEN
                ),
                tags=field.skills[:3],
            )
            self.circle_ids[field.slug] = circle.id

        return create

    def _join_circle(self, handle: str, field: Field) -> Action:
        async def join() -> None:
            circle_id = self.circle_ids.get(field.slug)
            if circle_id is None:
                return
            circle = await circles.join_circle(
                self.tx, actor_id=self.ids[handle], circle_id=circle_id
            )
            if circle.visibility is CircleVisibility.ON_REQUEST and self.rng.random() < 0.8:
                self.at(self.tx.now + 2 * DAY, self._approve(circle_id, circle.owner_id, handle))

        return join

    def _approve(self, circle_id: int, owner_id: int, handle: str) -> Action:
        async def approve() -> None:
            await circles.approve_join_request(
                self.tx, actor_id=owner_id, circle_id=circle_id, member_id=self.ids[handle]
            )

        return approve

    # Connections

    def _plan_connections(self, generated: list[Profile]) -> None:
        by_field: dict[str, list[Profile]] = {}
        by_company: dict[str, list[Profile]] = {}
        for profile in generated:
            by_field.setdefault(profile.field.slug, []).append(profile)
            by_company.setdefault(profile.company, []).append(profile)
        pairs: set[tuple[str, str]] = set()
        # The journey's members are connected by their own plan only.
        for profile in generated:
            # A few well-connected people, most with a handful of ties.
            wanted = min(1 + int(self.rng.paretovariate(1.8) * 1.2), 15)
            for _ in range(wanted):
                draw = self.rng.random()
                pool = (
                    by_field[profile.field.slug]
                    if draw < 0.5
                    else by_company[profile.company]
                    if draw < 0.7
                    else generated
                )
                other = self.rng.choice(pool)
                if other.handle != profile.handle:
                    pairs.add((profile.handle, other.handle))
        for first, second in sorted(pairs):
            pair = frozenset((first, second))
            if pair in self.planned_pairs:
                continue
            profile, other = self._profile(first), self._profile(second)
            requester, addressee = (profile, other) if self.rng.random() < 0.5 else (other, profile)
            answer = self.rng.random()
            self.connect(
                requester.handle,
                addressee.handle,
                self._context(profile, other),
                self.days_ago(330, 3),
                accept=True if answer < 0.92 else None if answer < 0.96 else False,
            )

    def _profile(self, handle: str) -> Profile:
        return next(profile for profile in self.cast if profile.handle == handle)

    def _context(self, profile: Profile, other: Profile) -> str:
        if profile.company == other.company:
            return f"Worked together at {profile.company}"
        if profile.field is other.field and self.rng.random() < 0.4:
            return f"Both in the {profile.field.circle}"
        if self.rng.random() < 0.2:
            return (
                f"Neighbours in {profile.location}"
                if (profile.location == other.location)
                else f"Worked on a project for {self.rng.choice(COMPANIES)}"
            )
        return f"Met at {self.rng.choice(EVENTS)}"

    def connect(
        self,
        requester: str,
        addressee: str,
        context: str,
        when: dt.datetime,
        *,
        accept: bool | None = True,
    ) -> None:
        """Plan a connection request and its answer (None: left unanswered)."""
        self.planned_pairs.add(frozenset((requester, addressee)))

        async def ask() -> None:
            relationship = await relationships.request_connection(
                self.tx,
                actor_id=self.ids[requester],
                member_id=self.ids[addressee],
                context=context,
            )
            if accept is not None:
                delay = self.rng.uniform(0.1, 3) * DAY
                self.at(self.tx.now + delay, answer(relationship.id))

        def answer(relationship_id: int) -> Action:
            async def respond() -> None:
                await relationships.respond_to_connection(
                    self.tx,
                    actor_id=self.ids[addressee],
                    relationship_id=relationship_id,
                    accept=bool(accept),
                )
                if accept:
                    first, second = self.ids[requester], self.ids[addressee]
                    self.ties[first].add(second)
                    self.ties[second].add(first)

            return respond

        self.at(when, ask)

    def days(self, count: float) -> dt.timedelta:
        return count * DAY

    async def add_goal(
        self, handle: str, title: str, kind: GoalKind, tags: tuple[str, ...]
    ) -> None:
        """Add a goal that runs a few months past the end of the story."""
        until = (self.end + self.rng.randint(60, 240) * DAY).date()
        await members.add_goal(
            self.tx, actor_id=self.ids[handle], title=title, kind=kind, tags=tags, until=until
        )

    def gift_key(self) -> str:
        """Return the idempotency key of the story's next gift of karma."""
        return f"{self.key_prefix}:gift:{next(self._gifts)}"
