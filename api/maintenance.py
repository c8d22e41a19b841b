"""Periodic upkeep every API process runs beside serving requests (``RUN_MAINTENANCE``).

Every ``MAINTENANCE_INTERVAL_SECONDS`` it records the intros and help requests that lapsed
(with their events) and signals the relationships that went quiet, in transactions of at
most ``BATCH`` rows. A round that fails is logged and the next one runs on time; shutting
down cancels the task and waits for it, so a round in progress rolls back. Several
processes may run it at once: each step skips the rows another transaction holds and acts
on each one once.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from domain.marketplace import requests
from domain.network import cooling, intros
from domain.store import Store

log = logging.getLogger("rapport.maintenance")

# Rows expired per transaction: a backlog is worked through in short transactions.
BATCH = 500

# What lapses with time: intros after 14 days, help requests at their expiry.
# Looked up when called, so a test (or a hot fix) can replace one.
LAPSING: tuple[tuple[str, Callable[..., Awaitable[int]]], ...] = (
    ("intros", lambda tx, now, limit: intros.expire_intros(tx, now, limit=limit)),
    (
        "help requests",
        lambda tx, now, limit: requests.expire_help_requests(tx, now, limit=limit),
    ),
    # Not an expiry, but time's work too: relationships that went quiet are signalled.
    ("quiet relationships", lambda tx, now, limit: cooling.flag_cooling(tx, now, limit=limit)),
)


async def expire_lapsed(store: Store) -> dict[str, int]:
    """Record everything past its expiry as expired; return how many of each kind."""
    counts: dict[str, int] = {}
    for name, expire in LAPSING:
        total = 0
        while True:
            async with store.transaction() as tx:
                expired = await expire(tx, tx.now, limit=BATCH)
                await tx.commit()
            total += expired
            if expired < BATCH:
                break
        counts[name] = total
    return counts


async def run_rounds(store: Store, interval: dt.timedelta) -> None:
    """Run the maintenance round now and every ``interval``, until cancelled."""
    while True:
        try:
            counts = await expire_lapsed(store)
        except Exception:
            log.exception("maintenance round failed; the next one runs in %s", interval)
        else:
            for name, expired in counts.items():
                if expired:
                    log.info("expired %d lapsed %s", expired, name, extra={"expired": expired})
        await asyncio.sleep(interval.total_seconds())


@contextlib.asynccontextmanager
async def running(store: Store, interval: dt.timedelta) -> AsyncIterator[asyncio.Task[None]]:
    """Run the rounds in a task for as long as the block lasts; then stop it and wait."""
    task = asyncio.create_task(run_rounds(store, interval), name="rapport-maintenance")
    log.info("maintenance started: every %s", interval)
    try:
        yield task
    finally:
        task.cancel()
        # Waits for the task without taking on its cancellation (or any error it ended with).
        await asyncio.wait([task])
        log.info("maintenance stopped")
