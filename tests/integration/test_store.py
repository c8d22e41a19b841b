"""The transaction scope and the outbox, on each database."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import ClassVar

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from domain.events import Event, OutboxEvent
from domain.members.models import Tag, TagKind
from domain.store import Store


@dataclasses.dataclass(frozen=True, kw_only=True)
class Happened(Event):
    type: ClassVar[str] = "test.happened"
    what: str


async def _outbox(store) -> list[tuple[str, dict]]:
    async with store.reader() as session:
        rows = (await session.scalars(select(OutboxEvent).order_by(OutboxEvent.id))).all()
    return [(row.type, row.payload) for row in rows]


async def _tag_count(store) -> int:
    async with store.reader() as session:
        return await session.scalar(select(func.count()).select_from(Tag)) or 0


async def test_a_committed_transaction_keeps_its_state_and_its_events(store):
    async with store.transaction() as tx:
        tx.session.add(Tag(slug="seo", label="SEO", kind=TagKind.SKILL, created_at=tx.now))
        tx.emit(Happened(actor_id=7, what="tag created"))
        await tx.commit()

    assert await _tag_count(store) == 1
    assert await _outbox(store) == [("test.happened", {"what": "tag created"})]


async def test_leaving_without_commit_rolls_back_state_and_events(store):
    async with store.transaction() as tx:
        tx.session.add(Tag(slug="seo", label="SEO", kind=TagKind.SKILL, created_at=tx.now))
        tx.emit(Happened(what="never"))
        await tx.session.flush()

    assert await _tag_count(store) == 0
    assert await _outbox(store) == []


async def test_an_exception_rolls_back_everything(store):
    async def crash_between_two_writes() -> None:
        async with store.transaction() as tx:
            tx.session.add(Tag(slug="seo", label="SEO", kind=TagKind.SKILL, created_at=tx.now))
            tx.emit(Happened(what="never"))
            await tx.session.flush()
            raise RuntimeError("crash between two writes")

    with pytest.raises(RuntimeError):
        await crash_between_two_writes()

    assert await _tag_count(store) == 0
    assert await _outbox(store) == []


async def test_after_commit_callbacks_run_only_after_a_commit(store):
    ran: list[str] = []
    async with store.transaction() as tx:
        tx.after_commit(lambda: ran.append("rolled back"))
    async with store.transaction() as tx:
        tx.after_commit(lambda: ran.append("committed"))
        await tx.commit()
    assert ran == ["committed"]


async def test_concurrent_read_then_write_transactions_queue_instead_of_failing(store):
    # On SQLite a deferred BEGIN that reads then writes fails with SQLITE_BUSY at once;
    # IMMEDIATE makes the second writer wait for the first.
    async def create(slug: str) -> None:
        async with store.transaction() as tx:
            await tx.session.scalar(select(func.count()).select_from(Tag))
            await asyncio.sleep(0.05)
            tx.session.add(Tag(slug=slug, label=slug, kind=TagKind.SKILL, created_at=tx.now))
            await tx.commit()

    await asyncio.gather(*(create(f"tag-{n}") for n in range(5)))
    assert await _tag_count(store) == 5


async def test_sqlite_runs_in_wal_with_foreign_keys_and_a_busy_timeout(tmp_path):
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'quirks.db'}", pool_size=1)
    try:
        async with store.engine.connect() as connection:
            assert (await connection.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
            assert (await connection.execute(text("PRAGMA foreign_keys"))).scalar() == 1
            assert (await connection.execute(text("PRAGMA busy_timeout"))).scalar_one() >= 5000
    finally:
        await store.dispose()


async def test_timestamps_come_back_timezone_aware(store):
    async with store.transaction() as tx:
        tx.session.add(Tag(slug="seo", label="SEO", kind=TagKind.SKILL, created_at=tx.now))
        await tx.commit()
        written = tx.now
    async with store.reader() as session:
        tag = await session.scalar(select(Tag))
    assert tag is not None
    assert tag.created_at.tzinfo is not None
    assert tag.created_at == written


async def _backend_pid(store: Store) -> int:
    async with store.transaction() as tx:
        pid = await tx.session.scalar(text("SELECT pg_backend_pid()"))
        await tx.commit()
    assert pid is not None
    return int(pid)


async def _terminate(database_url: str, pid: int) -> None:
    admin = Store(database_url, pool_size=1)
    try:
        async with admin.engine.connect() as connection:
            await connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            await connection.commit()
    finally:
        await admin.dispose()


@pytest.fixture
def postgres_url(database_url: str) -> str:
    if not database_url.startswith("postgresql"):
        pytest.skip("a server-side disconnect needs PostgreSQL")
    return database_url


async def test_a_pooled_connection_that_died_while_idle_is_replaced_unseen(postgres_url):
    # The server restarted at night: the pool's idle connection is dead, and the next
    # request still succeeds, on a new connection.
    store = Store(postgres_url, pool_size=1, ping_after=0.05)
    try:
        first = await _backend_pid(store)
        await _terminate(postgres_url, first)
        await asyncio.sleep(0.1)
        assert await _backend_pid(store) != first
    finally:
        await store.dispose()


async def test_a_connection_in_steady_use_is_not_pinged(postgres_url):
    # A ping is a BEGIN, a query and a ROLLBACK: three round trips a busy connection
    # does without. Without the ping, the first use of a dead connection fails, and the
    # pool then replaces it for the next one.
    store = Store(postgres_url, pool_size=1, ping_after=60)
    try:
        first = await _backend_pid(store)
        await _terminate(postgres_url, first)
        await asyncio.sleep(0.05)
        with pytest.raises(DBAPIError):
            await _backend_pid(store)
        assert await _backend_pid(store) != first
    finally:
        await store.dispose()
