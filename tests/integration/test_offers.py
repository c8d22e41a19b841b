"""Offers of help through their states, at the domain's edge, on each database."""

from __future__ import annotations

import asyncio
import datetime as dt

from sqlalchemy import func, select

from domain.errors import Code, DomainError
from domain.events import OutboxEvent
from domain.ledger import flows
from domain.marketplace import offers
from domain.marketplace.models import HelpRequest, Offer
from domain.marketplace.rules import (
    AudienceScope,
    HelpRequestKind,
    HelpRequestStatus,
    MarketPolicy,
    OfferStatus,
    Settlement,
)
from domain.network import relationships
from domain.network.models import Relationship
from tests.builders import make_members

POLICY = MarketPolicy()


async def _request(store, author_id, *, scope=AudienceScope.PUBLIC, bounty=10, max_helpers=1):
    async with store.transaction() as tx:
        request = HelpRequest(
            author_id=author_id,
            title="Need SEO advice",
            details=None,
            kind=HelpRequestKind.ADVICE,
            status=HelpRequestStatus.OPEN,
            audience_scope=scope,
            bounty=bounty,
            offers_iou=False,
            max_helpers=max_helpers,
            accepted_count=0,
            expires_at=tx.now + dt.timedelta(days=14),
            created_at=tx.now,
            updated_at=tx.now,
            search_text="Need SEO advice",
        )
        tx.session.add(request)
        await tx.session.flush()
        request_id = request.id
        # As posting does: the author's karma covers the bounty, held in escrow.
        await flows.grant_welcome(tx, member_id=author_id, amount=100)
        if bounty:
            await flows.hold_bounty(
                tx, author_id=author_id, help_request_id=request_id, bounty=bounty
            )
        await tx.commit()
    return request_id


async def _run(store, command, **arguments):
    async with store.transaction() as tx:
        result = await command(tx, **arguments)
        await tx.commit()
    return result


async def _refused(store, command, **arguments) -> DomainError:
    try:
        await _run(store, command, **arguments)
    except DomainError as error:
        return error
    raise AssertionError(f"{command.__name__} was not refused")


async def _events(store) -> list[str]:
    async with store.reader() as session:
        return list(await session.scalars(select(OutboxEvent.type).order_by(OutboxEvent.id)))


async def _state(store, request_id):
    async with store.reader() as session:
        request = await session.get(HelpRequest, request_id)
        statuses = list(
            await session.scalars(
                select(Offer.status).where(Offer.help_request_id == request_id).order_by(Offer.id)
            )
        )
    return request.status, request.accepted_count, statuses


async def test_an_offer_accepted_and_completed_fulfils_the_request(store):
    carol, alice = await make_members(store, "carol", "alice")
    async with store.transaction() as tx:
        await relationships.connect(
            tx, member_id=carol, other_id=alice, context="test", introduced_by_id=None
        )
        await tx.commit()
    request_id = await _request(store, carol, scope=AudienceScope.CONNECTIONS)

    offer = await _run(
        store, offers.offer_help, actor_id=alice, help_request_id=request_id, message="I can"
    )
    await _run(store, offers.accept_offer, actor_id=carol, offer_id=offer.id)
    assert await _state(store, request_id) == (
        HelpRequestStatus.IN_PROGRESS,
        1,
        [OfferStatus.ACCEPTED],
    )
    await _run(
        store,
        offers.complete_help,
        actor_id=carol,
        offer_id=offer.id,
        settlement=Settlement.BOUNTY,
        tip=None,
        note="Thank you!",
        policy=POLICY,
    )

    assert await _state(store, request_id) == (
        HelpRequestStatus.FULFILLED,
        1,
        [OfferStatus.COMPLETED],
    )
    events = await _events(store)
    for expected in ("offer.made", "offer.accepted", "help.completed", "help_request.fulfilled"):
        assert expected in events
    async with store.reader() as session:
        assert await session.scalar(select(Relationship.help_count)) == 1


async def test_double_clicks_change_nothing_the_second_time_and_say_why(store):
    carol, alice = await make_members(store, "carol", "alice")
    request_id = await _request(store, carol)
    offer = await _run(
        store, offers.offer_help, actor_id=alice, help_request_id=request_id, message=None
    )
    await _run(store, offers.accept_offer, actor_id=carol, offer_id=offer.id)
    before = await _events(store)

    again = await _refused(store, offers.accept_offer, actor_id=carol, offer_id=offer.id)
    assert again.code is Code.INVALID_TRANSITION
    assert "accepted" in again.message
    assert await _events(store) == before

    complete = {"settlement": Settlement.THANKS, "tip": None, "note": None, "policy": POLICY}
    await _run(store, offers.complete_help, actor_id=carol, offer_id=offer.id, **complete)
    twice = await _refused(
        store, offers.complete_help, actor_id=carol, offer_id=offer.id, **complete
    )
    assert twice.code is Code.INVALID_TRANSITION
    assert "completed" in twice.message
    assert (await _events(store)).count("help.completed") == 1


async def test_wrong_actors_are_refused_and_nothing_changes(store):
    carol, alice, eve = await make_members(store, "carol", "alice", "eve")
    request_id = await _request(store, carol, scope=AudienceScope.CONNECTIONS)
    # Eve is not Carol's connection: the request does not exist for her
    assert (
        await _refused(
            store, offers.offer_help, actor_id=eve, help_request_id=request_id, message=None
        )
    ).code is Code.NOT_FOUND
    assert (
        await _refused(
            store, offers.offer_help, actor_id=carol, help_request_id=request_id, message=None
        )
    ).code is Code.FORBIDDEN

    public_id = await _request(store, carol)
    offer = await _run(
        store, offers.offer_help, actor_id=alice, help_request_id=public_id, message=None
    )
    assert (await _refused(store, offers.accept_offer, actor_id=alice, offer_id=offer.id)).code is (
        Code.FORBIDDEN
    )
    assert (await _refused(store, offers.accept_offer, actor_id=eve, offer_id=offer.id)).code is (
        Code.NOT_FOUND
    )
    assert (
        await _refused(store, offers.withdraw_offer, actor_id=carol, offer_id=offer.id)
    ).code is (Code.FORBIDDEN)
    assert await _state(store, public_id) == (HelpRequestStatus.OPEN, 0, [OfferStatus.PENDING])


async def test_one_live_offer_per_member_per_request(store):
    carol, alice = await make_members(store, "carol", "alice")
    request_id = await _request(store, carol)
    offer = await _run(
        store, offers.offer_help, actor_id=alice, help_request_id=request_id, message=None
    )
    again = await _refused(
        store, offers.offer_help, actor_id=alice, help_request_id=request_id, message=None
    )
    assert again.code is Code.ALREADY_EXISTS
    await _run(store, offers.withdraw_offer, actor_id=alice, offer_id=offer.id)
    await _run(store, offers.offer_help, actor_id=alice, help_request_id=request_id, message=None)
    assert (await _state(store, request_id))[2] == [OfferStatus.WITHDRAWN, OfferStatus.PENDING]


async def test_a_request_for_two_helpers_is_fulfilled_when_both_are_done(store):
    carol, alice, bob, dan = await make_members(store, "carol", "alice", "bob", "dan")
    request_id = await _request(store, carol, max_helpers=2, bounty=10)
    made = [
        await _run(
            store, offers.offer_help, actor_id=helper, help_request_id=request_id, message=None
        )
        for helper in (alice, bob, dan)
    ]
    await _run(store, offers.accept_offer, actor_id=carol, offer_id=made[0].id)
    await _run(store, offers.accept_offer, actor_id=carol, offer_id=made[1].id)
    third = await _refused(store, offers.accept_offer, actor_id=carol, offer_id=made[2].id)
    assert third.code is Code.LIMIT_EXCEEDED

    complete = {"settlement": Settlement.BOUNTY, "tip": 3, "note": None, "policy": POLICY}
    await _run(store, offers.complete_help, actor_id=carol, offer_id=made[0].id, **complete)
    assert (await _state(store, request_id))[0] is HelpRequestStatus.IN_PROGRESS
    await _run(store, offers.complete_help, actor_id=carol, offer_id=made[1].id, **complete)
    assert (await _state(store, request_id))[0] is HelpRequestStatus.FULFILLED
    async with store.reader() as session:
        shares = [
            row.payload["bounty_share"]
            for row in await session.scalars(
                select(OutboxEvent).where(OutboxEvent.type == "help.completed")
            )
        ]
    assert shares == [5, 5]


async def test_a_settlement_must_be_one_the_request_offered(store):
    carol, alice = await make_members(store, "carol", "alice")
    request_id = await _request(store, carol, bounty=None)
    offer = await _run(
        store, offers.offer_help, actor_id=alice, help_request_id=request_id, message=None
    )
    await _run(store, offers.accept_offer, actor_id=carol, offer_id=offer.id)
    for settlement in (Settlement.BOUNTY, Settlement.IOU):
        refused = await _refused(
            store,
            offers.complete_help,
            actor_id=carol,
            offer_id=offer.id,
            settlement=settlement,
            tip=None,
            note=None,
            policy=POLICY,
        )
        assert refused.code is Code.INVALID_INPUT
        assert refused.field == ("settlement",)
    assert (await _state(store, request_id))[2] == [OfferStatus.ACCEPTED]


async def test_two_accepts_at_once_accept_once(store):
    carol, alice = await make_members(store, "carol", "alice")
    request_id = await _request(store, carol)
    offer = await _run(
        store, offers.offer_help, actor_id=alice, help_request_id=request_id, message=None
    )

    async def accept() -> Code | None:
        try:
            await _run(store, offers.accept_offer, actor_id=carol, offer_id=offer.id)
        except DomainError as error:
            return error.code
        return None

    outcomes = await asyncio.gather(accept(), accept())
    assert outcomes.count(None) == 1
    assert outcomes.count(Code.INVALID_TRANSITION) == 1
    assert await _state(store, request_id) == (
        HelpRequestStatus.IN_PROGRESS,
        1,
        [OfferStatus.ACCEPTED],
    )
    async with store.reader() as session:
        assert (
            await session.scalar(
                select(func.count())
                .select_from(OutboxEvent)
                .where(OutboxEvent.type == "offer.accepted")
            )
            == 1
        )
