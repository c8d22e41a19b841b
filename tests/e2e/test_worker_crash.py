"""A worker process killed with SIGKILL while it matches an ask, then started again: the
opportunities appear, and each of them once — never half of them, never twice."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from api.settings import Settings
from bench.fanout import _seed
from domain import migrate
from domain.consumers import ConsumerEvent, ConsumerStatus
from domain.marketplace import requests
from domain.marketplace.rules import (
    Audience,
    AudienceScope,
    HelpRequestDraft,
    HelpRequestKind,
    MarketPolicy,
)
from domain.matching.models import Opportunity
from domain.store import Store
from tests.e2e.test_server import ROOT, _environment

pytestmark = pytest.mark.e2e

MEMBERS = 1500


async def _worker(env: dict[str, str], log: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "api", "worker"),
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("ab"),
    )


async def _counts(store: Store) -> tuple[int, int, list[ConsumerStatus]]:
    async with store.reader() as session:
        total = await session.scalar(select(func.count()).select_from(Opportunity)) or 0
        members = (
            await session.scalar(select(func.count(func.distinct(Opportunity.member_id)))) or 0
        )
        statuses = list(
            await session.scalars(
                select(ConsumerEvent.status).where(ConsumerEvent.consumer == "matching")
            )
        )
    return total, members, statuses


async def test_a_worker_killed_mid_event_leaves_nothing_half_done(tmp_path: Path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'rapport.db'}"
    store = Store(url, pool_size=2)
    await migrate.upgrade(store.engine)
    settings = Settings(database_url=url, var_dir=tmp_path / "var", jwt_secret="s" * 64)
    await _seed(url, MEMBERS, settings)  # Carol (member 1) and MEMBERS connected, with SEO
    draft = HelpRequestDraft(
        title="Need SEO advice for our launch",
        details=None,
        kind=HelpRequestKind.ADVICE,
        tags=["SEO"],
        audience=Audience(scope=AudienceScope.NETWORK),
        bounty=None,
        offers_iou=False,
        max_helpers=1,
        expires_at=None,
    )
    async with store.transaction() as tx:
        await requests.post_help_request(tx, actor_id=1, draft=draft, policy=MarketPolicy())
        await tx.commit()

    env = {
        **_environment(tmp_path, url),
        "OPPORTUNITIES_PER_SIGNAL": str(MEMBERS),
        "WORKER_POLL_SECONDS": "1",
    }
    log = tmp_path / "worker.log"
    first = await _worker(env, log)
    try:
        # Once the event is enqueued (its own short transaction), the worker is matching it.
        for _ in range(600):
            if (await _counts(store))[2]:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
    finally:
        os.kill(first.pid, signal.SIGKILL)
        await first.wait()
    total, _, statuses = await _counts(store)
    assert total in (0, MEMBERS), f"{total} opportunities: a half-done event"
    assert (total == MEMBERS) == (statuses == [ConsumerStatus.DONE])

    second = await _worker(env, log)
    try:
        for _ in range(600):
            total, members, statuses = await _counts(store)
            if statuses == [ConsumerStatus.DONE]:
                break
            await asyncio.sleep(0.05)
    finally:
        second.terminate()
        await second.wait()
    assert (total, members, statuses) == (MEMBERS, MEMBERS, [ConsumerStatus.DONE])
    assert "Traceback" not in log.read_text()
    await store.dispose()
