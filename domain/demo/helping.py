"""Asking and helping in the demo's story: requests, offers, completions, karma, IOUs and
intros, each through the domain command a member's action calls, with the state it needs
checked first (karma to cover a bounty, room under the caps) so the domain accepts it."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from domain.demo.story import DAY, HOUR, Action, Story
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
    Settlement,
)
from domain.network import intros

_UNFINISHED = (HelpRequestStatus.OPEN, HelpRequestStatus.IN_PROGRESS)
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


async def unfinished(story: Story, member_id: int) -> int:
    """Return how many requests a member has open or in progress."""
    count = await story.tx.session.scalar(
        select(func.count())
        .select_from(HelpRequest)
        .where(HelpRequest.author_id == member_id, HelpRequest.status.in_(_UNFINISHED))
    )
    return int(count or 0)


async def available(story: Story, member_id: int) -> int:
    """Return a member's karma available to spend."""
    return (await karma_of(story.tx.session, member_id)).available


async def post(
    story: Story,
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
        story.tx,
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
            expires_at=story.tx.now + lasts,
        ),
        policy=story.policies.market,
    )
    return request.id


async def offer(story: Story, helper_id: int, help_request_id: int) -> int:
    """Offer help on a request; return the offer's id."""
    offer = await offers.offer_help(
        story.tx,
        actor_id=helper_id,
        help_request_id=help_request_id,
        message=story.rng.choice(OFFER_MESSAGES),
    )
    return offer.id


async def complete(
    story: Story, author_id: int, offer_id: int, settlement: Settlement, tip: int | None
) -> None:
    await offers.complete_help(
        story.tx,
        actor_id=author_id,
        offer_id=offer_id,
        settlement=settlement,
        tip=tip,
        note=story.rng.choice(THANKS_NOTES),
        policy=story.policies.market,
    )


async def cancel(story: Story, author_id: int, help_request_id: int) -> None:
    await requests.cancel_help_request(
        story.tx, actor_id=author_id, help_request_id=help_request_id
    )


async def send_karma(story: Story, sender_id: int, recipient_id: int, amount: int) -> None:
    await flows.send_karma(
        story.tx,
        actor_id=sender_id,
        to_member_id=recipient_id,
        amount=amount,
        memo=story.rng.choice(GIFT_MEMOS),
        key=story.gift_key(),
        policy=story.policies.market.ledger,
    )


async def owed(story: Story, member_id: int) -> int:
    return await ious.owed_count(story.tx, member_id)


async def settle_iou(story: Story, debtor_id: int, iou_id: int) -> None:
    await ious.settle_iou(story.tx, actor_id=debtor_id, iou_id=iou_id)


async def forgive_iou(story: Story, creditor_id: int, iou_id: int) -> None:
    await ious.forgive_iou(story.tx, actor_id=creditor_id, iou_id=iou_id)


async def introduce(story: Story, requester_id: int, broker_id: int, target_id: int) -> None:
    """Ask for an intro, have it forwarded a day later and accepted the day after."""
    intro = await intros.request_intro(
        story.tx,
        actor_id=requester_id,
        target_id=target_id,
        broker_id=broker_id,
        message="I'd love to compare notes with you; our mutual friend says we should talk.",
        help_request_id=None,
        weekly_limit=story.policies.intros_per_broker_per_week,
    )

    async def forward() -> None:
        await intros.forward_intro(
            story.tx, actor_id=broker_id, intro_id=intro.id, note="You two should meet."
        )
        story.at(story.tx.now + DAY, accept_intro)

    async def accept_intro() -> None:
        await intros.accept_intro(
            story.tx, actor_id=target_id, intro_id=intro.id, policy=story.policies.market.ledger
        )
        story.ties[requester_id].add(target_id)
        story.ties[target_id].add(requester_id)

    story.at(story.tx.now + DAY, forward)


def follow(
    story: Story,
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
    start = story.tx.now
    for number, helper_id in enumerate(helper_ids, start=1):
        story.at(
            start + number * story.rng.uniform(2, 14) * HOUR,
            _offer(story, helper_id, help_request_id, offer_ids),
        )
    if until == "offered" or not helper_ids:
        return

    async def accept_first() -> None:
        first, *others = offer_ids
        await offers.accept_offer(story.tx, actor_id=author_id, offer_id=first)
        for offer_id in others:
            await offers.decline_offer(story.tx, actor_id=author_id, offer_id=offer_id)
        if until == "completed":
            story.at(story.tx.now + story.rng.uniform(2, 8) * DAY, confirm)

    async def confirm() -> None:
        chosen = settlement
        if chosen is None:
            if bounty:
                chosen = Settlement.BOUNTY
            elif (
                offers_iou
                and await owed(story, author_id) < story.policies.market.ledger.max_ious_owed
            ):
                chosen = Settlement.IOU
            else:
                chosen = Settlement.THANKS
        given_tip = tip
        if given_tip is None and story.rng.random() < 0.25:
            amount = story.rng.randint(1, 5)
            given_tip = amount if await available(story, author_id) >= amount else None
        await complete(story, author_id, offer_ids[0], chosen, given_tip)
        if chosen is Settlement.IOU and iou_fates:
            iou_fate(story, offer_ids[0])

    story.at(start + 2 * DAY, accept_first)


def _offer(story: Story, helper_id: int, help_request_id: int, offer_ids: list[int]) -> Action:
    async def make() -> None:
        offer_ids.append(await offer(story, helper_id, help_request_id))

    return make


def iou_fate(story: Story, offer_id: int) -> None:
    """Plan what becomes of the IOU a completed offer issued: settled in karma,
    forgiven, helped back, or left outstanding."""
    fate = story.rng.random()
    when = story.tx.now + story.rng.uniform(15, 120) * DAY

    async def settle_or_forgive() -> None:
        iou = await story.tx.session.scalar(select(Iou).where(Iou.offer_id == offer_id))
        if iou is None or iou.status is not IouStatus.OUTSTANDING:
            return
        if fate < 0.35:
            if await available(story, iou.debtor_id) >= iou.value:
                await settle_iou(story, iou.debtor_id, iou.id)
        elif fate < 0.5:
            await forgive_iou(story, iou.creditor_id, iou.id)
        else:
            await _help_back(story, iou.creditor_id, iou.debtor_id)

    if fate < 0.7:
        story.at(when, settle_or_forgive)


async def _help_back(story: Story, creditor_id: int, debtor_id: int) -> None:
    """The creditor asks their connections; the debtor helps, which settles the IOU."""
    if await unfinished(story, creditor_id) >= story.policies.market.max_open_requests:
        return
    ask = story.rng.choice(story.profiles[creditor_id].field.asks)
    request_id = await post(
        story,
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
    follow(
        story,
        creditor_id,
        request_id,
        [debtor_id],
        until="completed",
        bounty=None,
        offers_iou=False,
        settlement=Settlement.THANKS,
    )
