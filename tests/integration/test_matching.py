"""Signals to opportunities through the real worker: who is offered what, and why; each
event once in effect, whatever fails or is handled twice."""

from __future__ import annotations

import contextlib
import datetime as dt
from typing import Any

from sqlalchemy import or_, select, update

from api.worker import REALTIME, Worker, consumers_for
from domain import consumers
from domain.consumers import ConsumerEvent, ConsumerStatus
from domain.events import OutboxEvent
from domain.ledger import ious
from domain.marketplace import audience, requests
from domain.marketplace.rules import (
    Audience,
    AudienceScope,
    HelpRequestDraft,
    HelpRequestKind,
    MarketPolicy,
)
from domain.matching import signals
from domain.matching.models import Opportunity
from domain.matching.scoring import Caps
from domain.members import service
from domain.network import relationships
from domain.network.models import Connection
from tests.builders import make_members


class Published:
    def __init__(self) -> None:
        self.messages: list[tuple[str, dict[str, Any]]] = []

    async def __call__(self, channel: str, message: dict[str, Any]) -> None:
        self.messages.append((channel, message))


async def _skills(store, member_id: int, *labels: str) -> None:
    async with store.transaction() as tx:
        await service.update_profile(
            tx, actor_id=member_id, changes=service.ProfileChanges(skills=list(labels))
        )
        await tx.commit()


async def _connect(store, *pairs: tuple[int, int]) -> None:
    async with store.transaction() as tx:
        for one, other in pairs:
            await relationships.connect(
                tx, member_id=one, other_id=other, context="met", introduced_by_id=None
            )
        await tx.commit()


async def _post(store, author: int, *, tags=("SEO",), scope=AudienceScope.NETWORK) -> int:
    draft = HelpRequestDraft(
        title="Need SEO advice for our launch",
        details=None,
        kind=HelpRequestKind.ADVICE,
        tags=list(tags),
        audience=Audience(scope=scope),
        bounty=None,
        offers_iou=False,
        max_helpers=1,
        expires_at=None,
    )
    async with store.transaction() as tx:
        request = await requests.post_help_request(
            tx, actor_id=author, draft=draft, policy=MarketPolicy()
        )
        await tx.commit()
    return request.id


async def _opportunities(store) -> list[Opportunity]:
    async with store.reader() as session:
        return list(await session.scalars(select(Opportunity).order_by(Opportunity.id)))


async def test_a_network_request_reaches_the_skilled_second_degree_via_their_friend(store):
    alice, bob, carol, dan = await make_members(store, "alice", "bob", "carol", "dan")
    await _skills(store, alice, "SEO")
    await _skills(store, dan, "Python")  # in the network, but no match
    await _connect(store, (alice, bob), (bob, carol), (dan, carol))
    published = Published()
    worker = Worker(store, published, consumers_for(Caps()))

    request_id = await _post(store, carol)
    await worker.round()

    [offered] = await _opportunities(store)
    assert (offered.member_id, offered.subject_id) == (alice, request_id)
    assert [(r["code"], r["label"]) for r in offered.reasons] == [
        ("SKILL_MATCH", "SEO"),
        ("VIA", "bob"),
    ]
    assert offered.reasons[1]["subject_id"] == bob
    pushes = [m for channel, m in published.messages if channel == f"member:{alice}"]
    assert [m["opportunity"]["id"] for m in pushes] == [offered.id]

    # handled once: another round, or the same event enqueued again, offers nothing new
    await worker.round()
    async with store.transaction() as tx:
        await consumers.enqueue(tx, consumers_for(Caps())[0])
        await tx.commit()
    assert len(await _opportunities(store)) == 1


async def test_a_connections_request_skips_the_second_degree(store):
    alice, bob, carol = await make_members(store, "alice", "bob", "carol")
    await _skills(store, alice, "SEO")
    await _skills(store, bob, "SEO")
    await _connect(store, (alice, bob), (bob, carol))
    await _post(store, carol, scope=AudienceScope.CONNECTIONS)
    await Worker(store, Published(), consumers_for(Caps())).round()
    assert [o.member_id for o in await _opportunities(store)] == [bob]


async def test_a_public_request_reaches_strangers_with_the_skill_below_the_network(store):
    alice, _bob, carol, erin = await make_members(store, "alice", "bob", "carol", "erin")
    for member in (alice, erin):
        await _skills(store, member, "SEO")
    await _connect(store, (alice, carol))
    await _post(store, carol, scope=AudienceScope.PUBLIC)
    await Worker(store, Published(), consumers_for(Caps())).round()
    found = await _opportunities(store)
    assert [o.member_id for o in found] == [alice, erin]  # alice first: a direct tie
    assert found[0].score > found[1].score


async def test_a_backlog_of_old_signals_is_offered_without_buzzing_anyone(store, clock):
    """A worker that was down for hours (or a seeded history) catches up: the opportunities
    are written, and a client finds them, but nothing that old is pushed."""
    alice, carol = await make_members(store, "alice", "carol")
    await _skills(store, alice, "SEO")
    await _connect(store, (alice, carol))
    await _post(store, carol)
    clock.advance(hours=2)
    published = Published()
    await Worker(store, published, consumers_for(Caps())).round()
    [offered] = await _opportunities(store)
    assert offered.member_id == alice
    assert not offered.pushed
    assert [m for channel, m in published.messages if channel == f"member:{alice}"] == []


async def test_quiet_hours_and_the_daily_cap_keep_an_opportunity_but_do_not_push_it(store):
    alice, carol = await make_members(store, "alice", "carol")
    await _skills(store, alice, "SEO")
    await _connect(store, (alice, carol))
    published = Published()
    worker = Worker(store, published, consumers_for(Caps(max_pushes_per_day=1)))
    await _post(store, carol, tags=("SEO",))
    await _post(store, carol, tags=("SEO", "Growth"))
    await worker.round()
    found = await _opportunities(store)
    assert [o.pushed for o in found] == [True, False]
    assert len([m for c, m in published.messages if c == f"member:{alice}"]) == 1


async def test_an_iou_called_in_goes_to_the_debtor(store):
    carol, alice = await make_members(store, "carol", "alice")
    request_id = await _post(store, alice, tags=("Design",), scope=AudienceScope.PUBLIC)
    async with store.transaction() as tx:
        from domain.ledger.models import Iou, IouStatus
        from domain.marketplace.models import Offer
        from domain.marketplace.rules import OfferStatus

        own = await _post_row(tx, carol)
        offer = Offer(
            help_request_id=own, helper_id=alice, status=OfferStatus.COMPLETED, created_at=tx.now
        )
        tx.session.add(offer)
        await tx.session.flush()
        iou = Iou(
            debtor_id=carol,
            creditor_id=alice,
            status=IouStatus.OUTSTANDING,
            value=10,
            offer_id=offer.id,
            help_request_id=own,
            created_at=tx.now,
        )
        tx.session.add(iou)
        await tx.session.flush()
        await ious.call_in_iou(tx, actor_id=alice, iou_id=iou.id, help_request_id=request_id)
        await tx.commit()
    await Worker(store, Published(), consumers_for(Caps())).round()
    [offered] = await _opportunities(store)
    assert (offered.member_id, offered.kind.value, offered.subject_type.value) == (
        carol,
        "IOU_CALLED_IN",
        "IOU",
    )
    assert offered.reasons[0] == {
        "code": "YOU_OWE",
        "label": "alice",
        "subject_type": None,
        "subject_id": None,
    }


async def _post_row(tx, author: int) -> int:
    from domain.marketplace.models import HelpRequest
    from domain.marketplace.rules import HelpRequestStatus

    row = HelpRequest(
        author_id=author,
        title="Earlier help",
        details=None,
        kind=HelpRequestKind.ADVICE,
        status=HelpRequestStatus.FULFILLED,
        audience_scope=AudienceScope.PUBLIC,
        bounty=None,
        offers_iou=True,
        max_helpers=1,
        accepted_count=1,
        expires_at=tx.now + dt.timedelta(days=1),
        created_at=tx.now,
        updated_at=tx.now,
        search_text="",
    )
    tx.session.add(row)
    await tx.session.flush()
    return row.id


async def test_a_failing_event_is_retried_with_backoff_then_parked_without_blocking_others(
    store, clock
):
    calls: list[int] = []

    async def flaky(_tx, event):
        calls.append(event.id)
        if event.payload["help_request_id"] == first:
            raise RuntimeError("the scoring service is down")
        return []

    consumer = consumers.Consumer(
        name="flaky",
        types=frozenset({"help_request.posted"}),
        handle=flaky,
        max_attempts=3,
    )
    (carol,) = await make_members(store, "carol")
    first = await _post(store, carol)
    await _post(store, carol, tags=("Python",))
    worker = Worker(store, Published(), [consumer])
    await worker.round()

    async with store.reader() as session:
        rows = {
            row.event_id: row
            for row in await session.scalars(
                select(ConsumerEvent).where(ConsumerEvent.consumer == "flaky")
            )
        }
    statuses = sorted((row.status.value, row.attempts) for row in rows.values())
    assert statuses == [("DONE", 1), ("PENDING", 1)]
    failing = next(row for row in rows.values() if row.status is ConsumerStatus.PENDING)
    assert "the scoring service is down" in failing.last_error
    assert failing.next_attempt_at == clock.now + dt.timedelta(seconds=5)

    await worker.round()  # not due yet
    assert len(calls) == 2
    for wait in (5, 10):
        clock.advance(seconds=wait)
        await worker.round()
    async with store.reader() as session:
        parked = await session.get(ConsumerEvent, ("flaky", failing.event_id))
    assert (parked.status, parked.attempts) == (ConsumerStatus.PARKED, 3)
    assert (await consumers.backlog(store))["flaky"] == {"DONE": 1, "PARKED": 1}


async def test_a_handler_that_dies_midway_leaves_nothing_and_runs_again(store):
    alice, carol = await make_members(store, "alice", "carol")
    await _skills(store, alice, "SEO")
    await _connect(store, (alice, carol))
    real = consumers_for(Caps())[0]
    dying = True

    async def crash_after_writing(tx, event):
        notices = await real.handle(tx, event)  # the opportunities are written …
        if dying:
            raise KeyboardInterrupt  # … and the worker dies before its commit
        return notices

    consumer = consumers.Consumer(name="matching", types=real.types, handle=crash_after_writing)
    await _post(store, carol)
    with contextlib.suppress(KeyboardInterrupt):
        await Worker(store, Published(), [consumer]).round()
    assert await _opportunities(store) == []
    dying = False
    await Worker(store, Published(), [consumer]).round()
    assert [o.member_id for o in await _opportunities(store)] == [alice]


async def test_the_author_of_a_request_hears_of_offers_on_it(store):
    carol, alice = await make_members(store, "carol", "alice")
    request_id = await _post(store, carol, scope=AudienceScope.PUBLIC)
    from domain.marketplace import offers

    async with store.transaction() as tx:
        await offers.offer_help(tx, actor_id=alice, help_request_id=request_id, message=None)
        await tx.commit()
    published = Published()
    await Worker(store, published, [REALTIME]).round()
    assert published.messages == [
        (
            f"help_request:{request_id}",
            {"type": "help_request.updated", "help_request_id": request_id, "event": "offer.made"},
        )
    ]


async def test_a_relationship_gone_quiet_is_signalled_once_and_offered_to_both(store, clock):
    from domain.network import cooling
    from domain.network.models import Connection

    alice, bob = await make_members(store, "alice", "bob")
    await _connect(store, (alice, bob))
    async with store.transaction() as tx:
        for connection in await tx.session.scalars(select(Connection)):
            connection.strength = 0.6  # a tie that mattered
        await tx.commit()

    async def flag() -> int:
        async with store.transaction() as tx:
            flagged = await cooling.flag_cooling(tx, tx.now)
            await tx.commit()
        return flagged

    assert await flag() == 0  # not quiet yet
    clock.advance(days=91)
    assert (await flag(), await flag()) == (1, 0)  # one signal per quiet spell
    await Worker(store, Published(), consumers_for(Caps())).round()
    found = await _opportunities(store)
    assert sorted((o.member_id, o.kind.value) for o in found) == [
        (alice, "COOLING"),
        (bob, "COOLING"),
    ]
    by_member = {o.member_id: o.reasons[0] for o in found}
    assert by_member[alice]["label"] == "bob"
    assert by_member[bob]["subject_id"] == alice
    # a tie at 0.6 ninety-one days quiet, halved every 120 days
    assert 0.35 < found[0].score < 0.4


async def test_operators_see_parked_events_and_put_them_back_in_line(store, database_url, tmp_path):
    import asyncio
    import os
    import sys

    (carol,) = await make_members(store, "carol")
    await _post(store, carol)
    async with store.transaction() as tx:
        event_id = await tx.session.scalar(select(OutboxEvent.id).order_by(OutboxEvent.id.desc()))
        tx.session.add(
            ConsumerEvent(
                consumer="matching",
                event_id=event_id,
                status=ConsumerStatus.PARKED,
                attempts=8,
                next_attempt_at=tx.now,
                last_error="RuntimeError: the scoring service is down",
            )
        )
        await tx.commit()

    async def outbox(*arguments: str) -> str:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "api",
            "outbox",
            *arguments,
            env={**os.environ, "DATABASE_URL": database_url, "VAR_DIR": str(tmp_path / "v")},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await process.communicate()
        assert process.returncode == 0, output
        return output.decode()

    shown = await outbox()
    assert "matching: 1 PARKED" in shown
    assert f"parked matching event {event_id} after 8 attempts: RuntimeError" in shown
    retried = await outbox("--retry", "matching")
    assert "matching: 1 parked event(s) back in line" in retried
    assert "matching: 1 PENDING" in retried


async def test_the_second_degree_left_out_by_its_estimate_would_not_have_ranked(store, monkeypatch):
    # Given an author whose 2nd degree outnumbers the shortlist (caps of 1: 4 candidates),
    # through brokers of different strengths, some candidates holding both tags
    carol, *brokers = await make_members(store, "carol", "bea", "ben", "bo")
    candidates = await make_members(store, *(f"c{n}" for n in range(12)))
    for n, member in enumerate(candidates):
        await _skills(store, member, *(("SEO", "Copywriting") if n % 3 == 0 else ("SEO",)))
    await _connect(store, *((carol, broker) for broker in brokers))
    await _connect(
        store,
        *((brokers[n % 3], member) for n, member in enumerate(candidates)),
        (brokers[0], candidates[1]),
    )
    async with store.transaction() as tx:
        for n, broker in enumerate(brokers):
            await tx.session.execute(
                update(Connection)
                .where(or_(Connection.member_id == broker, Connection.other_id == broker))
                .values(strength=0.3 + 0.2 * n, last_contact_at=tx.now - dt.timedelta(days=30 * n))
            )
        await tx.commit()
    request_id = await _post(store, carol, tags=("SEO", "Copywriting"))
    async with store.reader() as session:
        event = await session.scalar(
            select(OutboxEvent).where(OutboxEvent.type == "help_request.posted")
        )
    assert event is not None
    assert event.payload["help_request_id"] == request_id

    scored: list[list[tuple[int, float, list[Any]]]] = []
    among: list[int] = []
    write, matches = signals._write, audience.network_matches

    async def spy_write(tx, **kwargs):
        scored.append([(s.member_id, s.score, s.reasons) for s in kwargs["scored"]])
        return await write(tx, **kwargs)

    async def spy_matches(session, **kwargs):
        among.append(len(kwargs["among"]))
        return await matches(session, **kwargs)

    monkeypatch.setattr(signals, "_write", spy_write)
    monkeypatch.setattr(signals, "network_matches", spy_matches)

    # When it is matched with the estimate's preshortlist, and with every path read
    async with store.transaction() as tx:  # rolled back
        await signals.on_help_request_posted(tx, event, caps=Caps(per_signal=1))
    monkeypatch.setattr(signals, "_preshortlist", lambda reach, *_args, **_kwargs: set(reach))
    async with store.transaction() as tx:
        await signals.on_help_request_posted(tx, event, caps=Caps(per_signal=1))

    # Then the estimate left some out, and the same member ranks first for the same reasons
    assert among[0] < among[1] == len(candidates)
    assert scored[0] == scored[1]
    assert len(scored[0]) == 1
