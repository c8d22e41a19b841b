"""The outbox's workers: matching, realtime fan-out and webhooks, in the API process or on
their own.

``serve`` runs them in-process (``RUN_WORKERS``, on by default); in production run
``python -m api worker`` processes and ``RUN_WORKERS=0`` on the API. Any number of workers
share the outbox: each event is claimed by one at a time (``domain.consumers``).

A worker wakes when this process commits outbox events, and otherwise every
``WORKER_POLL_SECONDS`` (events written by other processes). For each consumer it enqueues
new events, then handles the due ones until none is left, publishing each handled event's
notices on the broker after its commit. A push lost to a crash between the commit and the
publish is caught up by the client: every item carries a cursor (``opportunities(after:)``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from typing import Any

from api import webhooks
from api.context import Runtime
from api.webhooks import WEBHOOKS, Dispatcher
from domain import consumers
from domain.consumers import Consumer, Notice, help_request_channel
from domain.events import OutboxEvent
from domain.matching.scoring import Caps
from domain.matching.signals import matching
from domain.store import Store, Transaction

log = logging.getLogger("rapport.worker")

# How long a stopping worker waits for its round and attempts in flight before cancelling.
STOP_GRACE = 30.0

Publish = Callable[[str, dict[str, Any]], Awaitable[None]]
PublishMany = Callable[[Iterable[tuple[str, dict[str, Any]]]], Awaitable[None]]

# Events that change what the author of a help request sees of it (offers and status).
HELP_REQUEST_CHANGES = frozenset(
    {
        "offer.made",
        "offer.withdrawn",
        "offer.accepted",
        "offer.declined",
        "help.completed",
        "help_request.edited",
        "help_request.fulfilled",
        "help_request.cancelled",
        "help_request.expired",
    }
)


async def _help_request_changed(_tx: Transaction, event: OutboxEvent) -> list[Notice]:
    request_id = event.payload["help_request_id"]
    return [
        Notice(
            help_request_channel(request_id),
            {"type": "help_request.updated", "help_request_id": request_id, "event": event.type},
        )
    ]


REALTIME = Consumer(name="realtime", types=HELP_REQUEST_CHANGES, handle=_help_request_changed)


def consumers_for(caps: Caps) -> tuple[Consumer, ...]:
    """Return every consumer of the outbox, in the order a round runs them."""
    return (matching(caps), REALTIME, WEBHOOKS)


@dataclasses.dataclass
class Worker:
    store: Store
    publish: Publish
    consumers: Sequence[Consumer]
    poll_seconds: float = 1.0
    # Most events one consumer handles in a row before the others get their turn.
    batch: int = 100
    # Publishes an event's notices at once (a burst of thousands: one Redis round trip).
    publish_many: PublishMany | None = None
    # Makes the attempts of the deliveries the webhooks consumer writes.
    dispatcher: Dispatcher | None = None

    def __post_init__(self) -> None:
        self._wake = asyncio.Event()
        self._stopping = False

    def wake(self) -> None:
        """Ask for a round now (called after a local commit that wrote events)."""
        self._wake.set()

    def stop(self) -> None:
        """Ask ``run`` to return once the round in progress is done."""
        self._stopping = True
        self._wake.set()

    async def round(self) -> int:
        """Enqueue and handle what is due for every consumer; return how many were handled."""
        handled = 0
        for consumer in self.consumers:
            async with self.store.transaction() as tx:
                await consumers.enqueue(tx, consumer)
                await tx.commit()
            for _ in range(self.batch):
                done = await consumers.handle_next(self.store, consumer)
                if done is None:
                    break
                handled += 1
                if self.publish_many is not None and len(done.notices) > 1:
                    await self._publish_all(done.notices)
                else:
                    for notice in done.notices:
                        await self._publish(notice)
                if consumer is WEBHOOKS and self.dispatcher is not None:
                    self.dispatcher.wake()
        return handled

    async def _publish_all(self, notices: Sequence[Notice]) -> None:
        assert self.publish_many is not None
        try:
            await self.publish_many((notice.channel, notice.message) for notice in notices)
        except Exception:  # a broker outage degrades pushes, never the worker
            log.exception("could not publish %d notices", len(notices))

    async def _publish(self, notice: Notice) -> None:
        try:
            await self.publish(notice.channel, notice.message)
        except Exception:  # a broker outage degrades pushes, never the worker
            log.exception("could not publish on %s", notice.channel)

    async def run(self) -> None:
        """Run rounds until stopped (or cancelled)."""
        while not self._stopping:
            self._wake.clear()
            try:
                handled = await self.round()
            except Exception:
                log.exception("worker round failed; retrying in %s s", self.poll_seconds)
                handled = 0
            if handled:
                continue  # there may be more: go again at once
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_seconds)


def dispatcher_for(runtime: Runtime) -> Dispatcher:
    """Return the webhook dispatcher of this process, configured by its settings."""
    settings = runtime.settings
    return Dispatcher(
        runtime.store,
        webhooks.client(
            runtime.webhook_guard,
            connect_timeout=settings.webhook_connect_timeout.total_seconds(),
            timeout=settings.webhook_timeout.total_seconds(),
            connections=settings.webhook_concurrency,
        ),
        runtime.delivery_policy,
        timeout=settings.webhook_timeout.total_seconds(),
        concurrency=settings.webhook_concurrency,
        poll_seconds=settings.worker_poll_interval.total_seconds(),
        retention=settings.webhook_retention,
    )


def worker_for(runtime: Runtime) -> Worker:
    """Return the worker of this process: every consumer, publishing on its broker, and the
    webhook dispatcher."""
    settings = runtime.settings
    return Worker(
        runtime.store,
        runtime.broker.publish,
        consumers_for(
            Caps(
                max_pushes_per_day=settings.max_pushes_per_day,
                per_signal=settings.opportunities_per_signal,
            )
        ),
        poll_seconds=settings.worker_poll_interval.total_seconds(),
        publish_many=runtime.broker.publish_many,
        dispatcher=dispatcher_for(runtime),
    )


@contextlib.asynccontextmanager
async def running(worker: Worker) -> AsyncIterator[Worker]:
    """Run a worker in a task for as long as the block lasts, woken by local commits."""
    worker.store.on_events.append(worker.wake)
    tasks = [asyncio.create_task(worker.run(), name="rapport-worker")]
    if worker.dispatcher is not None:
        tasks.append(asyncio.create_task(worker.dispatcher.run(), name="rapport-webhooks"))
    log.info("worker started: %s", ", ".join(c.name for c in worker.consumers))
    try:
        yield worker
    finally:
        worker.store.on_events.remove(worker.wake)
        # Let each loop finish what it is doing (a round, an attempt): a task cancelled
        # mid-transaction rolls back, but its connection's rollback is cut short too.
        worker.stop()
        if worker.dispatcher is not None:
            worker.dispatcher.stop()
        _done, late = await asyncio.wait(tasks, timeout=STOP_GRACE)
        for task in late:
            task.cancel()
        if late:
            await asyncio.wait(late)
        log.info("worker stopped")
