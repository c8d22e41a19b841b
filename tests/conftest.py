"""Shared fixtures: a migrated database per test on SQLite, and on PostgreSQL when
TEST_DATABASE_URL is set; the app over an in-process ASGI transport; small builders."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import secrets
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event, make_url, text

from api.app import create_app
from api.context import Runtime
from api.settings import Settings
from domain import migrate
from domain.store import Store
from domain.tables import metadata

POSTGRES_URL = os.environ.get("TEST_DATABASE_URL")
BACKENDS = ["sqlite", *(["postgresql"] if POSTGRES_URL else [])]
REDIS_URL = os.environ.get("TEST_REDIS_URL")
BROKERS = ["memory", *(["redis"] if REDIS_URL else [])]
PASSWORD = "a long unusual passphrase"


def _async_url(url: str) -> str:
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            return "postgresql+asyncpg://" + url[len(plain) :]
    return url


class Clock:
    """A clock tests can move forward."""

    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "rapport.db"

    async def build() -> None:
        store = Store(f"sqlite+aiosqlite:///{path}", pool_size=1)
        await migrate.upgrade(store.engine)
        await store.dispose()

    asyncio.run(build())
    return path


@pytest.fixture(scope="session")
def postgres_migrated() -> Iterator[str]:
    """A PostgreSQL database of this test session's own, migrated, dropped at the end.

    Its own database keeps parallel runs against one server (two developers, CI) apart.
    """
    assert POSTGRES_URL, "TEST_DATABASE_URL is not set"
    server = make_url(_async_url(POSTGRES_URL))
    name = f"rapport_test_{os.getpid()}_{secrets.token_hex(3)}"
    url = server.set(database=name).render_as_string(hide_password=False)

    async def on_server(statement: str) -> None:
        admin = Store(server.render_as_string(hide_password=False), pool_size=1)
        async with admin.engine.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            await autocommit.execute(text(statement))
        await admin.dispose()

    async def build() -> None:
        await on_server(f'CREATE DATABASE "{name}"')
        store = Store(url, pool_size=1)
        await migrate.upgrade(store.engine)
        await store.dispose()

    asyncio.run(build())
    yield url
    asyncio.run(on_server(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        template = request.getfixturevalue("sqlite_template")
        target = tmp_path / "rapport.db"
        shutil.copyfile(template, target)
        yield f"sqlite+aiosqlite:///{target}"
        return
    url = request.getfixturevalue("postgres_migrated")

    async def truncate() -> None:
        store = Store(url, pool_size=1)
        tables = ", ".join(table.name for table in metadata.sorted_tables)
        async with store.engine.begin() as connection:
            await connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        await store.dispose()

    asyncio.run(truncate())
    yield url


@pytest.fixture(params=BROKERS)
def broker_url(request: pytest.FixtureRequest) -> str:
    """A broker for tests that push: in memory, and on Redis when TEST_REDIS_URL is set."""
    return "memory://" if request.param == "memory" else str(REDIS_URL)


@pytest.fixture
def channel_prefix() -> str:
    # Redis channels are server-wide (not per database): keep parallel runs apart.
    return f"test-{os.getpid()}-{secrets.token_hex(4)}:"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        var_dir=tmp_path / "var",
        argon2_time_cost=1,
        argon2_memory_kib=1024,
        argon2_parallelism=1,
        db_pool_size=5,
        playground_assets_dir=tmp_path / "var" / "graphiql",
        # Tests run the outbox's workers themselves, when and where they want them.
        run_workers=False,
    )


@pytest.fixture
async def runtime(settings: Settings, clock: Clock) -> AsyncIterator[Runtime]:
    runtime = Runtime.create(settings, clock=clock)
    yield runtime
    await runtime.store.dispose()


@pytest.fixture
async def store(runtime: Runtime) -> Store:
    return runtime.store


@pytest.fixture
async def client(settings: Settings, runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, runtime)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://rapport.test") as client:
        yield client


class Statements:
    """Counts the SQL statements an engine runs while ``counting`` is on.

    SQLite's explicit ``BEGIN`` (issued by the store's begin hook) is transaction control,
    not a query, and is left out so counts are the same on both databases.
    """

    def __init__(self) -> None:
        self.count = 0
        self.counting = False
        self.seen: list[str] = []

    def __call__(self, *args: Any) -> None:
        if self.counting and not args[2].startswith("BEGIN"):
            self.count += 1
            self.seen.append(args[2])


@pytest.fixture
def statements(store: Store) -> Iterator[Statements]:
    counter = Statements()
    event.listen(store.engine.sync_engine, "before_cursor_execute", counter)
    yield counter
    event.remove(store.engine.sync_engine, "before_cursor_execute", counter)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # With TEST_DATABASE_URL (TEST_REDIS_URL) set, a run where no PostgreSQL (Redis) test
    # passed has not tested what it claims to: fail it rather than let it pass without.
    if exitstatus != 0:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    passed = reporter.stats.get("passed", []) if reporter else []
    if REDIS_URL and not any("redis" in report.nodeid for report in passed):
        print("\nTEST_REDIS_URL is set but no Redis test passed")
        session.exitstatus = 1
    if not POSTGRES_URL:
        return
    if not any("postgresql" in report.nodeid for report in passed):
        print("\nTEST_DATABASE_URL is set but no PostgreSQL test passed")
        session.exitstatus = 1
