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

from sqlalchemy import func, select

from domain.demo.activity import plan_activity
from domain.demo.cast import COMPANIES, EVENTS, FIELDS, JOURNEY, Field, Profile
from domain.demo.journey import plan_journey
from domain.ledger import flows, ious
from domain.ledger.models import Iou, IouStatus
from domain.ledger.read import karma_of
from domain.marketplace import offers, requests
from domain.marketplace.models import HelpRequest
from domain.marketplace.rules import (
    Audience,
    AudienceScope,
    HelpRequestDraft,
    HelpRequestKind,
    HelpRequestStatus,
    MarketPolicy,
    Settlement,
)
from domain.members import service as members
from domain.members.models import GoalKind
from domain.members.passwords import Passwords
from domain.network import circles, intros, relationships
from domain.network.models import CircleVisibility
from domain.store import Transaction

DAY = dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)
_UNFINISHED = (HelpRequestStatus.OPEN, HelpRequestStatus.IN_PROGRESS)
_ON_REQUEST_CIRCLES = frozenset({"law", "fundraising"})
THANKS_NOTES = (
    "Thank you, this saved us weeks.",
    "Exactly what we needed.",
    "Clear, kind and fast. Thanks!",
    "Owe you a coffee.",
    None,
)
OFFER_MESSAGES = (
    "I did this for three clients last year; happy to help.",
    "I have an hour on Thursday, want to talk it through?",
    "Sounds familiar: we had the same problem. Let me share what worked.",
    "Happy to take a look.",
)
GIFT_MEMOS = (
    "Thanks for the intro!",
    "Paying it forward",
    "For the great feedback",
    "Coffee's on me",
)

Action = Callable[[], Awaitable[None]]


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

    async def tell(self, password: str) -> None:
        """Plan the whole history, then run it in time order."""
        generated = [profile for profile in self.cast if profile.handle not in self.journey]
        self._plan_sign_ups(password, generated)
        self._plan_circles(generated)
        self._plan_connections(generated)
        plan_journey(self, generated)
        plan_activity(self, generated)
        while self._agenda:
            when, _, action = heapq.heappop(self._agenda)
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

    # Help, karma and intros: the commands the plans in journey.py and activity.py run

    async def unfinished(self, member_id: int) -> int:
        """Return how many requests a member has open or in progress."""
        count = await self.tx.session.scalar(
            select(func.count())
            .select_from(HelpRequest)
            .where(HelpRequest.author_id == member_id, HelpRequest.status.in_(_UNFINISHED))
        )
        return int(count or 0)

    async def available(self, member_id: int) -> int:
        """Return a member's karma available to spend."""
        return (await karma_of(self.tx.session, member_id)).available

    async def post(
        self,
        author_id: int,
        *,
        title: str,
        details: str,
        kind: HelpRequestKind,
        tags: tuple[str, ...],
        scope: AudienceScope,
        bounty: int | None,
        offers_iou: bool,
        lasts: dt.timedelta,
    ) -> int:
        """Post a help request; return its id."""
        request = await requests.post_help_request(
            self.tx,
            actor_id=author_id,
            draft=HelpRequestDraft(
                title=title,
                details=details,
                kind=kind,
                tags=tags,
                audience=Audience(scope=scope),
                bounty=bounty,
                offers_iou=offers_iou,
                max_helpers=1,
                expires_at=self.tx.now + lasts,
            ),
            policy=self.policies.market,
        )
        return request.id

    async def offer(self, helper_id: int, help_request_id: int) -> int:
        """Offer help on a request; return the offer's id."""
        offer = await offers.offer_help(
            self.tx,
            actor_id=helper_id,
            help_request_id=help_request_id,
            message=self.rng.choice(OFFER_MESSAGES),
        )
        return offer.id

    async def accept(self, author_id: int, offer_id: int) -> None:
        await offers.accept_offer(self.tx, actor_id=author_id, offer_id=offer_id)

    async def decline(self, author_id: int, offer_id: int) -> None:
        await offers.decline_offer(self.tx, actor_id=author_id, offer_id=offer_id)

    async def complete(
        self, author_id: int, offer_id: int, settlement: Settlement, tip: int | None
    ) -> None:
        await offers.complete_help(
            self.tx,
            actor_id=author_id,
            offer_id=offer_id,
            settlement=settlement,
            tip=tip,
            note=self.rng.choice(THANKS_NOTES),
            policy=self.policies.market,
        )

    async def cancel(self, author_id: int, help_request_id: int) -> None:
        await requests.cancel_help_request(
            self.tx, actor_id=author_id, help_request_id=help_request_id
        )

    async def send_karma(self, sender_id: int, recipient_id: int, amount: int) -> None:
        await flows.send_karma(
            self.tx,
            actor_id=sender_id,
            to_member_id=recipient_id,
            amount=amount,
            memo=self.rng.choice(GIFT_MEMOS),
            key=f"{self.key_prefix}:gift:{next(self._gifts)}",
            policy=self.policies.market.ledger,
        )

    async def owed(self, member_id: int) -> int:
        return await ious.owed_count(self.tx, member_id)

    async def settle_iou(self, debtor_id: int, iou_id: int) -> None:
        await ious.settle_iou(self.tx, actor_id=debtor_id, iou_id=iou_id)

    async def forgive_iou(self, creditor_id: int, iou_id: int) -> None:
        await ious.forgive_iou(self.tx, actor_id=creditor_id, iou_id=iou_id)

    async def introduce(self, requester_id: int, broker_id: int, target_id: int) -> None:
        """Ask for an intro, have it forwarded a day later and accepted the day after."""
        intro = await intros.request_intro(
            self.tx,
            actor_id=requester_id,
            target_id=target_id,
            broker_id=broker_id,
            message="I'd love to compare notes with you; our mutual friend says we should talk.",
            help_request_id=None,
            weekly_limit=self.policies.intros_per_broker_per_week,
        )

        async def forward() -> None:
            await intros.forward_intro(
                self.tx, actor_id=broker_id, intro_id=intro.id, note="You two should meet."
            )
            self.at(self.tx.now + DAY, accept)

        async def accept() -> None:
            await intros.accept_intro(
                self.tx, actor_id=target_id, intro_id=intro.id, policy=self.policies.market.ledger
            )
            self.ties[requester_id].add(target_id)
            self.ties[target_id].add(requester_id)

        self.at(self.tx.now + DAY, forward)

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

    def follow(
        self,
        author_id: int,
        help_request_id: int,
        helper_ids: list[int],
        *,
        until: str,
        bounty: int | None,
        offers_iou: bool,
        settlement: Settlement | None = None,
        tip: int | None = None,
        iou_fates: bool = False,
    ) -> None:
        """Plan offers on a new request and, as far as ``until`` says ("offered",
        "accepted", "completed"), the author accepting the first and confirming its help.

        Without a ``settlement`` the author pays the bounty, or gives an IOU while they
        may owe one more, or thanks; without a ``tip`` they tip now and then.
        """
        offer_ids: list[int] = []
        start = self.tx.now
        for number, helper_id in enumerate(helper_ids, start=1):
            self.at(
                start + number * self.rng.uniform(2, 14) * HOUR,
                self._offer(helper_id, help_request_id, offer_ids),
            )
        if until == "offered" or not helper_ids:
            return

        async def accept() -> None:
            first, *others = offer_ids
            await self.accept(author_id, first)
            for offer_id in others:
                await self.decline(author_id, offer_id)
            if until == "completed":
                self.at(self.tx.now + self.rng.uniform(2, 8) * DAY, complete)

        async def complete() -> None:
            chosen = settlement
            if chosen is None:
                if bounty:
                    chosen = Settlement.BOUNTY
                elif (
                    offers_iou
                    and await self.owed(author_id) < self.policies.market.ledger.max_ious_owed
                ):
                    chosen = Settlement.IOU
                else:
                    chosen = Settlement.THANKS
            given_tip = tip
            if given_tip is None and self.rng.random() < 0.25:
                amount = self.rng.randint(1, 5)
                given_tip = amount if await self.available(author_id) >= amount else None
            await self.complete(author_id, offer_ids[0], chosen, given_tip)
            if chosen is Settlement.IOU and iou_fates:
                self.iou_fate(offer_ids[0])

        self.at(start + 2 * DAY, accept)

    def _offer(self, helper_id: int, help_request_id: int, offer_ids: list[int]) -> Action:
        async def offer() -> None:
            offer_ids.append(await self.offer(helper_id, help_request_id))

        return offer

    def iou_fate(self, offer_id: int) -> None:
        """Plan what becomes of the IOU a completed offer issued: settled in karma,
        forgiven, helped back, or left outstanding."""
        fate = self.rng.random()
        when = self.tx.now + self.rng.uniform(15, 120) * DAY

        async def settle_or_forgive() -> None:
            iou = await self.tx.session.scalar(select(Iou).where(Iou.offer_id == offer_id))
            if iou is None or iou.status is not IouStatus.OUTSTANDING:
                return
            if fate < 0.35:
                if await self.available(iou.debtor_id) >= iou.value:
                    await self.settle_iou(iou.debtor_id, iou.id)
            elif fate < 0.5:
                await self.forgive_iou(iou.creditor_id, iou.id)
            else:
                await self._help_back(iou.creditor_id, iou.debtor_id)

        if fate < 0.7:
            self.at(when, settle_or_forgive)

    async def _help_back(self, creditor_id: int, debtor_id: int) -> None:
        """The creditor asks their connections; the debtor helps, which settles the IOU."""
        if await self.unfinished(creditor_id) >= self.policies.market.max_open_requests:
            return
        ask = self.rng.choice(self.profiles[creditor_id].field.asks)
        request_id = await self.post(
            creditor_id,
            title=ask.title,
            details=ask.details,
            kind=ask.kind,
            tags=ask.tags,
            scope=AudienceScope.CONNECTIONS,
            bounty=None,
            offers_iou=False,
            lasts=30 * DAY,
        )
        self.follow(
            creditor_id,
            request_id,
            [debtor_id],
            until="completed",
            bounty=None,
            offers_iou=False,
            settlement=Settlement.THANKS,
        )
