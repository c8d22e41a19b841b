"""The maintenance task the app runs beside serving: lapsed intros are recorded as expired,
once, whatever fails and however many processes run it; it stops with the app."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from starlette.applications import Starlette

from api import maintenance
from api.app import create_app
from api.context import Runtime
from api.settings import Settings, SettingsError
from domain.network import intros
from domain.network.models import IntroStatus
from domain.store import Store
from tests.api.test_intros import (
    FORWARD,
    asked,
    connect,
    events_of,
    intro_rows,
    make_member,
    step,
)

TASK = "rapport-maintenance"
FAST = dt.timedelta(seconds=0.05)


def _app(runtime: Runtime, **changes: Any) -> Starlette:
    settings = dataclasses.replace(runtime.settings, maintenance_interval=FAST, **changes)
    return create_app(settings, dataclasses.replace(runtime, settings=settings))


@contextlib.asynccontextmanager
async def _serving(app: Starlette) -> AsyncIterator[None]:
    """Run the app's startup and, on leaving, its shutdown, as a server does."""
    async with app.router.lifespan_context(app):
        yield


def _tasks() -> list[asyncio.Task[Any]]:
    return [task for task in asyncio.all_tasks() if task.get_name() == TASK]


async def _eventually(check: Callable[[], Awaitable[bool]], seconds: float = 10) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "it did not happen in time"
        await asyncio.sleep(0.02)


async def _lapsed_intros(client, store, clock, count: int) -> list[str]:
    """Intros asked of Bob, left unanswered until 15 days later (one of them forwarded)."""
    bob = await make_member(client, "bob")
    requesters = [await make_member(client, f"asker{n}") for n in range(count)]
    targets = [await make_member(client, f"target{n}") for n in range(count)]
    await connect(store, *((bob, other) for other in [*requesters, *targets]))
    intro_ids = [
        await asked(client, requester, bob, target)
        for requester, target in zip(requesters, targets, strict=True)
    ]
    assert (await step(client, FORWARD, bob, intro_ids[0]))["userErrors"] == []
    clock.advance(days=15)
    return intro_ids


async def _all_expired(store) -> bool:
    return {row.status for row in await intro_rows(store)} == {IntroStatus.EXPIRED}


async def test_a_lapsed_intro_is_recorded_as_expired_once(client, store, runtime, clock):
    await _lapsed_intros(client, store, clock, 1)
    app = _app(runtime)

    async with _serving(app):
        await _eventually(lambda: _all_expired(store))
        # several more rounds run, and find nothing more to do
        await asyncio.sleep(FAST.total_seconds() * 6)
        (task,) = _tasks()
        assert not task.done()

    assert len(await events_of(store, "intro.expired")) == 1


async def test_shutdown_stops_the_task(runtime):
    async with _serving(_app(runtime)):
        (task,) = _tasks()
        await asyncio.sleep(FAST.total_seconds() * 2)

    assert task.cancelled()
    assert _tasks() == []


async def test_no_task_runs_when_maintenance_is_off(client, store, runtime, clock):
    await _lapsed_intros(client, store, clock, 1)

    async with _serving(_app(runtime, run_maintenance=False)):
        assert _tasks() == []
        await asyncio.sleep(FAST.total_seconds() * 4)

    assert not await _all_expired(store)
    assert await events_of(store, "intro.expired") == []


async def test_a_failing_round_is_logged_and_the_next_one_runs(
    client, store, runtime, clock, monkeypatch, caplog
):
    await _lapsed_intros(client, store, clock, 1)
    expire = intros.expire_intros
    calls = 0

    async def fails_first(*args: Any, **kwargs: Any) -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("the database went away")
        return await expire(*args, **kwargs)

    monkeypatch.setattr(intros, "expire_intros", fails_first)
    caplog.set_level(logging.INFO, logger="rapport.maintenance")

    async def logged_and_expired() -> bool:
        # The round logs once all its steps are done, after the intros' commit.
        logged = any(r.getMessage() == "expired 1 lapsed intros" for r in caplog.records)
        return logged and await _all_expired(store)

    async with _serving(_app(runtime)):
        await _eventually(logged_and_expired)

    # Only the task's own log: stopping the app may cancel a pooled connection's rollback,
    # which SQLAlchemy's pool logs as an error of its own.
    failures = [
        r for r in caplog.records if r.levelno == logging.ERROR and r.name == "rapport.maintenance"
    ]
    assert [r.getMessage().startswith("maintenance round failed") for r in failures] == [True]
    assert "the database went away" in str(failures[0].exc_info)
    assert any(r.getMessage() == "expired 1 lapsed intros" for r in caplog.records)
    assert len(await events_of(store, "intro.expired")) == 1


async def test_processes_running_it_at_once_expire_each_intro_once(
    client, store, runtime, clock, monkeypatch
):
    intro_ids = await _lapsed_intros(client, store, clock, 8)
    # small batches, so the processes' transactions interleave
    monkeypatch.setattr(maintenance, "BATCH", 2)
    others = [Store(runtime.settings.database_url, pool_size=2, clock=clock) for _ in range(3)]
    try:
        async with contextlib.AsyncExitStack() as stack:
            for other in [store, *others]:
                await stack.enter_async_context(maintenance.running(other, FAST))
            await _eventually(lambda: _all_expired(store))
            await asyncio.sleep(FAST.total_seconds() * 4)
    finally:
        for other in others:
            await other.dispose()

    expired = await events_of(store, "intro.expired")
    assert sorted(event["intro_id"] for event in expired) == sorted(
        row.id for row in await intro_rows(store)
    )
    assert len(expired) == len(intro_ids)


def test_maintenance_is_configured_from_the_environment():
    defaults = Settings.from_env({})
    assert (defaults.run_maintenance, defaults.maintenance_interval) == (
        True,
        dt.timedelta(seconds=60),
    )
    found = Settings.from_env({"RUN_MAINTENANCE": "0", "MAINTENANCE_INTERVAL_SECONDS": "5"})
    assert (found.run_maintenance, found.maintenance_interval) == (False, dt.timedelta(seconds=5))
    for name, value in (("RUN_MAINTENANCE", "maybe"), ("MAINTENANCE_INTERVAL_SECONDS", "0")):
        with pytest.raises(SettingsError, match=name):
            Settings.from_env({name: value})
