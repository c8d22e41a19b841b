"""Webhook deliveries from the outbox to a real receiver on loopback, verified the way a
partner verifies them (the `standardwebhooks` library), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import ipaddress
import json
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select
from standardwebhooks import Webhook, WebhookVerificationError

from api.context import Runtime
from api.settings import Settings
from api.webhooks import WEBHOOKS, Dispatcher
from api.worker import Worker, dispatcher_for
from domain.consumers import ConsumerEvent, ConsumerStatus
from domain.events import (
    ConnectionRequested,
    Event,
    HelpRequestCancelled,
    KarmaTransferred,
    MemberJoined,
)
from domain.partners import service
from domain.partners.models import DeliveryStatus, WebhookAttempt, WebhookDelivery
from domain.partners.rules import DeliveryPolicy
from domain.store import Store
from tests.builders import make_members
from tests.conftest import Clock
from tests.receiver import Received, Receiver

LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"),)
NO_WAIT = tuple(dt.timedelta(0) for _ in range(8))


@pytest.fixture
async def partner_runtime(settings: Settings, clock: Clock) -> AsyncIterator[Runtime]:
    """The app's runtime with the loopback receiver allowed and retries without waits."""
    runtime = Runtime.create(
        dataclasses.replace(
            settings, webhook_allowed_networks=LOOPBACK, webhook_retry_schedule=NO_WAIT
        ),
        clock=clock,
    )
    yield runtime
    await runtime.store.dispose()


async def _noop(_channel: str, _message: dict[str, Any]) -> None:
    return None


class Partner:
    """A partner app with endpoints, and the worker that delivers to them."""

    def __init__(self, runtime: Runtime, partner_id: int) -> None:
        self.runtime = runtime
        self.store = runtime.store
        self.partner_id = partner_id
        self.dispatcher: Dispatcher = dispatcher_for(runtime)
        self.worker = Worker(self.store, _noop, [WEBHOOKS], dispatcher=self.dispatcher)

    async def endpoint(self, url: str, *event_types: str) -> tuple[int, str]:
        async with self.store.transaction() as tx:
            endpoint, secret = await service.create_endpoint(
                tx,
                partner_id=self.partner_id,
                url=url,
                event_types=list(event_types),
                description=None,
            )
            await tx.commit()
        return endpoint.id, secret

    async def deliver(self) -> None:
        """Make the deliveries of new events and every attempt that is due."""
        await self.worker.round()
        await self.dispatcher.drain()

    async def deliveries(self) -> list[WebhookDelivery]:
        async with self.store.reader() as session:
            return list(await session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))


async def _partner(runtime: Runtime, scopes: list[str] | None = None) -> Partner:
    async with runtime.store.transaction() as tx:
        app, _secret = await service.create_partner(
            tx,
            name="Acme CRM",
            scopes=scopes or ["webhooks:manage", "read:*"],
            created_by_id=None,
        )
        await tx.commit()
    return Partner(runtime, app.id)


async def _emit(store: Store, *events: Event) -> None:
    async with store.transaction() as tx:
        for event in events:
            tx.emit(event)
        await tx.commit()


def _transfer(transfer_id: int, frm: int, to: int) -> KarmaTransferred:
    return KarmaTransferred(
        transfer_id=transfer_id,
        from_member_id=frm,
        to_member_id=to,
        amount=5,
        reason="GIFT",
        help_request_id=None,
        offer_id=None,
        iou_id=None,
        intro_id=None,
    )


def _verified(secret: str, received: Received) -> Any:
    return Webhook(secret).verify(received.body, received.headers)


async def test_subscribed_events_arrive_once_each_signed_and_the_rest_never(
    partner_runtime: Runtime,
):
    store = partner_runtime.store
    alice, bob = await make_members(store, "alice", "bob")
    partner = await _partner(partner_runtime)
    async with Receiver() as receiver:
        _, secret = await partner.endpoint(receiver.url(), "member.joined", "karma.transferred")
        await _emit(
            store,
            MemberJoined(member_id=alice, handle="alice"),
            ConnectionRequested(relationship_id=1, requester_id=alice, addressee_id=bob),
            _transfer(7, alice, bob),
            HelpRequestCancelled(help_request_id=3, bounty=None, cancelled_offer_ids=()),
        )
        await partner.deliver()
        await partner.deliver()  # a second round finds nothing new to send
        received = receiver.received
    bodies = [_verified(secret, item) for item in received]
    assert [body["type"] for body in bodies] == ["member.joined", "karma.transferred"]
    joined, transfer = bodies
    assert joined["data"]["handle"] == "alice"
    # Ids are the API's global ids: a partner can look them up with node(id:).
    assert joined["data"]["memberId"] not in (alice, str(alice))
    assert transfer["data"]["amount"] == 5
    assert transfer["data"]["reason"] == "GIFT"
    assert set(transfer["data"]) >= {"fromMemberId", "toMemberId", "transferId"}
    assert transfer["timestamp"].endswith("Z")
    assert len({item.webhook_id for item in received}) == 2
    # A signature made with another secret does not verify.
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "A" * 43 + "=").verify(received[0].body, received[0].headers)
    deliveries = await partner.deliveries()
    assert [(d.status, d.attempts, d.last_status_code) for d in deliveries] == [
        (DeliveryStatus.SUCCEEDED, 1, 200),
        (DeliveryStatus.SUCCEEDED, 1, 200),
    ]


async def test_an_event_handled_twice_makes_its_deliveries_once(partner_runtime: Runtime):
    store = partner_runtime.store
    (alice,) = await make_members(store, "alice")
    partner = await _partner(partner_runtime)
    async with Receiver() as receiver:
        await partner.endpoint(receiver.url(), "member.joined")
        await _emit(store, MemberJoined(member_id=alice, handle="alice"))
        await partner.deliver()
        # The consumer sees the event again (a worker died after delivering, before marking
        # it done): no second delivery is made.
        async with store.transaction() as tx:
            row = await tx.session.scalar(
                select(ConsumerEvent).where(ConsumerEvent.consumer == "webhooks")
            )
            assert row is not None
            row.status = ConsumerStatus.PENDING
            await tx.commit()
        await partner.deliver()
    assert len(receiver.received) == 1
    assert len(await partner.deliveries()) == 1


async def test_failures_are_retried_with_the_same_webhook_id_until_a_2xx(
    partner_runtime: Runtime,
):
    store = partner_runtime.store
    (alice,) = await make_members(store, "alice")
    partner = await _partner(partner_runtime)
    answers = iter([500, 502, 200])
    async with Receiver(lambda _r: (next(answers), {}, b"")) as receiver:
        _, secret = await partner.endpoint(receiver.url(), "member.joined")
        await _emit(store, MemberJoined(member_id=alice, handle="alice"))
        await partner.deliver()
    assert len(receiver.received) == 3
    assert len({item.webhook_id for item in receiver.received}) == 1
    assert len({item.body for item in receiver.received}) == 1
    for item in receiver.received:
        _verified(secret, item)
    [delivery] = await partner.deliveries()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.SUCCEEDED, 3)
    async with store.reader() as session:
        attempts = list(await session.scalars(select(WebhookAttempt).order_by(WebhookAttempt.id)))
    assert [(a.number, a.status_code) for a in attempts] == [(1, 500), (2, 502), (3, 200)]
    assert attempts[0].error == "answered 500"


async def test_a_delivery_fails_once_the_schedule_is_spent(partner_runtime: Runtime):
    store = partner_runtime.store
    (alice,) = await make_members(store, "alice")
    partner = await _partner(partner_runtime)
    async with Receiver(lambda _r: (500, {}, b"down")) as receiver:
        await partner.endpoint(receiver.url(), "member.joined")
        await _emit(store, MemberJoined(member_id=alice, handle="alice"))
        await partner.deliver()
    [delivery] = await partner.deliveries()
    schedule = partner_runtime.settings.webhook_retry_schedule
    assert len(receiver.received) == len(schedule) == delivery.attempts
    assert delivery.status is DeliveryStatus.FAILED
    assert delivery.next_attempt_at is None


def test_the_schedule_is_standard_webhooks_with_jitter_and_retry_after():
    policy = DeliveryPolicy()
    minutes = [
        policy.next_wait(step, None).total_seconds() / 60  # type: ignore[union-attr]
        for step in range(1, 8)
    ]
    expected = [5 / 60, 5, 30, 120, 300, 600, 600]
    for got, want in zip(minutes, expected, strict=True):
        assert want * 0.9 <= got <= want * 1.1
    assert policy.next_wait(8, None) is None
    # A Retry-After longer than the schedule's wait is honoured; a shorter one is not.
    assert policy.next_wait(1, dt.timedelta(minutes=3)) == dt.timedelta(minutes=3)
    assert policy.next_wait(2, dt.timedelta(seconds=1)) >= dt.timedelta(minutes=4.5)  # type: ignore[operator]


async def test_retry_after_on_429_sets_the_next_attempt(partner_runtime: Runtime, clock: Clock):
    store = partner_runtime.store
    (alice,) = await make_members(store, "alice")
    partner = await _partner(partner_runtime)
    async with Receiver(lambda _r: (429, {"Retry-After": "120"}, b"slow down")) as receiver:
        await partner.endpoint(receiver.url(), "member.joined")
        await _emit(store, MemberJoined(member_id=alice, handle="alice"))
        await partner.deliver()
    [delivery] = await partner.deliveries()
    assert len(receiver.received) == 1
    assert delivery.status is DeliveryStatus.PENDING
    assert delivery.next_attempt_at == clock.now + dt.timedelta(seconds=120)


async def test_410_gone_turns_the_endpoint_off_and_tells_the_app(partner_runtime: Runtime):
    store = partner_runtime.store
    (alice,) = await make_members(store, "alice")
    partner = await _partner(partner_runtime)
    async with Receiver(lambda r: (410 if r.path == "/gone" else 200, {}, b"")) as receiver:
        gone, _ = await partner.endpoint(receiver.url("/gone"), "member.joined")
        _, secret = await partner.endpoint(receiver.url("/ops"), "webhook_endpoint.disabled")
        await _emit(store, MemberJoined(member_id=alice, handle="alice"))
        await partner.deliver()
        await partner.deliver()  # the endpoint.disabled event, to the app's other endpoint
        await _emit(store, MemberJoined(member_id=alice, handle="alice"))
        await partner.deliver()  # nothing more goes to the endpoint that is gone
    paths = [item.path for item in receiver.received]
    assert paths == ["/gone", "/ops"]
    told = _verified(secret, receiver.received[1])
    assert told["type"] == "webhook_endpoint.disabled"
    assert told["data"]["reason"] == "the endpoint answered 410 Gone"
    assert "partnerId" not in told["data"]
    async with store.reader() as session:
        [endpoint] = [
            e
            for e in (await service.endpoints_of(session, partner.partner_id, limit=5)).items
            if e.id == gone
        ]
    assert (endpoint.active, endpoint.disabled_reason) == (False, "the endpoint answered 410 Gone")


async def test_an_endpoint_failing_for_five_days_is_turned_off(
    partner_runtime: Runtime, clock: Clock
):
    store = partner_runtime.store
    (alice,) = await make_members(store, "alice")
    partner = await _partner(partner_runtime)
    async with Receiver(lambda _r: (503, {}, b"")) as receiver:
        endpoint_id, _ = await partner.endpoint(receiver.url(), "member.joined")
        await _emit(store, MemberJoined(member_id=alice, handle="alice"))
        await partner.worker.round()
        await partner.dispatcher.round()
        await partner.dispatcher.drain()
        for _ in range(3):
            clock.advance(days=2)
            await _emit(store, MemberJoined(member_id=alice, handle="alice"))
            await partner.deliver()
        sent = len(receiver.received)
        clock.advance(days=1)
        await _emit(store, MemberJoined(member_id=alice, handle="alice"))
        await partner.deliver()
        assert len(receiver.received) == sent  # off: nothing more is sent
    async with store.reader() as session:
        endpoint = (await service.partner_endpoints(session, partner.partner_id, [endpoint_id]))[
            endpoint_id
        ]
    assert not endpoint.active
    assert endpoint.disabled_reason == "every attempt failed for 5 days"


async def test_a_redirect_is_not_followed(partner_runtime: Runtime):
    store = partner_runtime.store
    (alice,) = await make_members(store, "alice")
    partner = await _partner(partner_runtime)
    async with Receiver() as target:
        redirect = (302, {"Location": target.url("/metadata")}, b"")
        async with Receiver(lambda _r: redirect) as receiver:
            await partner.endpoint(receiver.url(), "member.joined")
            await _emit(store, MemberJoined(member_id=alice, handle="alice"))
            await partner.worker.round()
            await partner.dispatcher.round()
            await asyncio.sleep(0)
            await partner.dispatcher.drain()
    assert receiver.received
    assert not target.received
    async with store.reader() as session:
        attempt = await session.scalar(select(WebhookAttempt).limit(1))
    assert attempt is not None
    assert attempt.status_code == 302
    assert "redirects are not followed" in (attempt.error or "")


async def test_without_the_allow_list_loopback_is_refused_at_delivery(
    partner_runtime: Runtime, settings: Settings, clock: Clock
):
    """An endpoint made while its host was allowed (or whose DNS changed since) is
    re-checked at every connection."""
    store = partner_runtime.store
    (alice,) = await make_members(store, "alice")
    partner = await _partner(partner_runtime)
    async with Receiver() as receiver:
        await partner.endpoint(receiver.url(), "member.joined")
        await _emit(store, MemberJoined(member_id=alice, handle="alice"))
        strict = Runtime.create(
            dataclasses.replace(settings, webhook_retry_schedule=(dt.timedelta(0),)), clock=clock
        )
        try:
            guarded = Partner(strict, partner.partner_id)
            await guarded.deliver()
        finally:
            await strict.store.dispose()
    assert receiver.received == []
    async with store.reader() as session:
        attempt = await session.scalar(select(WebhookAttempt).limit(1))
    assert attempt is not None
    assert attempt.status_code is None
    assert "127.0.0.1 is a loopback address" in (attempt.error or "")


async def test_a_slow_endpoint_does_not_hold_up_the_others(partner_runtime: Runtime):
    store = partner_runtime.store
    (alice,) = await make_members(store, "alice")
    partner = await _partner(partner_runtime)
    async with Receiver(delay=3.0) as slow, Receiver() as fast:
        await partner.endpoint(slow.url(), "member.joined")
        await partner.endpoint(fast.url(), "member.joined")
        await _emit(store, *(MemberJoined(member_id=alice, handle="alice") for _ in range(3)))
        await partner.worker.round()
        running = asyncio.create_task(partner.dispatcher.run())
        try:
            # All three reach the fast endpoint while the slow one holds two (its share of
            # the slots) and its third waits.
            await fast.wait_for(3)
            assert len(slow.received) == 2
        finally:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)


async def test_rotation_signs_with_both_secrets_during_the_overlap_then_the_new_one(
    partner_runtime: Runtime, clock: Clock
):
    store = partner_runtime.store
    (alice,) = await make_members(store, "alice")
    partner = await _partner(partner_runtime)
    async with Receiver() as receiver:
        endpoint_id, old = await partner.endpoint(receiver.url(), "member.joined")
        async with store.transaction() as tx:
            _, new, ends = await service.rotate_secret(
                tx,
                partner_id=partner.partner_id,
                endpoint_id=endpoint_id,
                overlap=dt.timedelta(hours=24),
            )
            await tx.commit()
        assert ends == clock.now + dt.timedelta(hours=24)
        await _emit(store, MemberJoined(member_id=alice, handle="alice"))
        await partner.deliver()
        clock.advance(hours=24, seconds=1)
        await _emit(store, MemberJoined(member_id=alice, handle="alice"))
        await partner.deliver()
    during, after = receiver.received
    assert len(during.headers["webhook-signature"].split()) == 2
    _verified(old, during)
    _verified(new, during)
    assert len(after.headers["webhook-signature"].split()) == 1
    _verified(new, after)
    with pytest.raises(WebhookVerificationError):
        _verified(old, after)


async def test_redelivery_keeps_the_webhook_id_and_body(partner_runtime: Runtime):
    store = partner_runtime.store
    (alice,) = await make_members(store, "alice")
    partner = await _partner(partner_runtime)
    async with Receiver() as receiver:
        await partner.endpoint(receiver.url(), "member.joined")
        await _emit(store, MemberJoined(member_id=alice, handle="alice"))
        await partner.deliver()
        [delivery] = await partner.deliveries()
        async with store.transaction() as tx:
            await service.redeliver(tx, partner_id=partner.partner_id, delivery_id=delivery.id)
            await tx.commit()
        await partner.deliver()
    first, again = receiver.received
    assert first.webhook_id == again.webhook_id
    assert first.body == again.body
    [delivery] = await partner.deliveries()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.SUCCEEDED, 2)


async def test_only_what_the_apps_scopes_cover_is_delivered(partner_runtime: Runtime):
    store = partner_runtime.store
    alice, bob = await make_members(store, "alice", "bob")
    partner = await _partner(partner_runtime, ["webhooks:manage", "read:members", "read:ledger"])
    async with Receiver() as receiver:
        await partner.endpoint(receiver.url(), "member.joined", "karma.transferred")
        # The app loses read:ledger after subscribing: those events stop at once.
        async with store.transaction() as tx:
            app = await service.partner(tx.session, partner.partner_id)
            assert app is not None
            app.scopes = ["webhooks:manage", "read:members"]
            await tx.commit()
        await _emit(store, MemberJoined(member_id=alice, handle="alice"), _transfer(1, alice, bob))
        await partner.deliver()
    assert [json.loads(item.body)["type"] for item in receiver.received] == ["member.joined"]


async def test_old_delivery_logs_are_purged(partner_runtime: Runtime, clock: Clock):
    store = partner_runtime.store
    (alice,) = await make_members(store, "alice")
    partner = await _partner(partner_runtime)
    async with Receiver() as receiver:
        await partner.endpoint(receiver.url(), "member.joined")
        await _emit(store, MemberJoined(member_id=alice, handle="alice"))
        await partner.deliver()
        clock.advance(days=29)
        await _emit(store, MemberJoined(member_id=alice, handle="alice"))
        await partner.deliver()
        clock.advance(days=2)
        assert await partner.dispatcher.purge() == 1
    remaining = await partner.deliveries()
    assert len(remaining) == 1
    assert remaining[0].status is DeliveryStatus.SUCCEEDED


async def test_two_workers_never_make_the_same_attempt(partner_runtime: Runtime, clock: Clock):
    """Two worker processes (each its own pool) drain one outbox at once: every delivery is
    sent once, and no webhook-id is ever in flight twice."""
    store = partner_runtime.store
    (alice,) = await make_members(store, "alice")
    partner = await _partner(partner_runtime)

    async with Receiver(delay=0.02) as receiver:
        await partner.endpoint(receiver.url("/a"), "member.joined")
        await partner.endpoint(receiver.url("/b"), "member.joined")
        await _emit(store, *(MemberJoined(member_id=alice, handle="alice") for _ in range(40)))
        await partner.worker.round()
        other_runtime = Runtime.create(partner_runtime.settings, clock=clock)
        try:
            other = Partner(other_runtime, partner.partner_id)
            await asyncio.gather(partner.dispatcher.drain(), other.dispatcher.drain())
        finally:
            await other_runtime.store.dispose()
    deliveries = await partner.deliveries()
    assert len(deliveries) == 80
    assert {(d.status, d.attempts) for d in deliveries} == {(DeliveryStatus.SUCCEEDED, 1)}
    assert sorted(Counter(r.webhook_id for r in receiver.received).values()) == [1] * 80
    assert receiver.overlaps == []


async def test_nothing_goes_out_for_an_app_that_is_off_until_it_is_on_again(
    partner_runtime: Runtime, clock: Clock
):
    store = partner_runtime.store
    (alice,) = await make_members(store, "alice")
    partner = await _partner(partner_runtime)
    async with Receiver() as receiver:
        await partner.endpoint(receiver.url(), "member.joined")
        await _emit(store, MemberJoined(member_id=alice, handle="alice"))
        await partner.worker.round()  # the delivery is made...
        async with store.transaction() as tx:
            [app] = await service.partners(tx.session)
            await service.set_partner_active(tx, client_id=app.client_id, active=False)
            await tx.commit()
        await partner.deliver()  # ...and waits while the app is off
        assert receiver.received == []
        async with store.transaction() as tx:
            await service.set_partner_active(tx, client_id=app.client_id, active=True)
            await tx.commit()
        await partner.deliver()
        assert len(receiver.received) == 1
        # A delivery left waiting longer than the log is kept is purged with the rest.
        await _emit(store, MemberJoined(member_id=alice, handle="alice"))
        await partner.worker.round()
        async with store.transaction() as tx:
            await service.set_partner_active(tx, client_id=app.client_id, active=False)
            await tx.commit()
        # Events while the app is off make no deliveries at all.
        await _emit(store, MemberJoined(member_id=alice, handle="alice"))
        await partner.deliver()
        assert len(await partner.deliveries()) == 2
        clock.advance(days=31)
        assert await partner.dispatcher.purge() == 2
    assert await partner.deliveries() == []
