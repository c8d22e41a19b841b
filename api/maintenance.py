"""Periodic upkeep every API process runs beside serving requests (``RUN_MAINTENANCE``).

Every ``MAINTENANCE_INTERVAL_SECONDS`` it records the intros that lapsed (``IntroExpired``
events), in transactions of at most ``BATCH`` intros. A round that fails is logged and the
next one runs on time; shutting down cancels the task and waits for it, so a round in
progress rolls back. Several processes may run it at once: ``expire_intros`` skips the
intros another transaction holds and expires each one once.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import AsyncIterator

from domain.network import intros
from domain.store import Store

log = logging.getLogger("rapport.maintenance")

# Intros expired per transaction: a backlog is worked through in short transactions.
BATCH = 500


async def expire_lapsed_intros(store: Store) -> int:
    """Record every open intro past its expiry as expired; return how many."""
    total = 0
    while True:
        async with store.transaction() as tx:
            expired = await intros.expire_intros(tx, tx.now, limit=BATCH)
            await tx.commit()
        total += expired
        if expired < BATCH:
            return total


async def run_rounds(store: Store, interval: dt.timedelta) -> None:
    """Run the maintenance round now and every ``interval``, until cancelled."""
    while True:
        try:
            expired = await expire_lapsed_intros(store)
        except Exception:
            log.exception("maintenance round failed; the next one runs in %s", interval)
        else:
            if expired:
                log.info("expired %d lapsed intro(s)", expired, extra={"expired": expired})
            else:
                log.debug("no lapsed intros to expire")
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
