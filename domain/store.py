"""The store: table metadata, engines, the transaction scope, and each database's quirks.

Every write runs in one ``Transaction``: it commits only when asked and rolls back when the
block is left any other way. On SQLite a write transaction begins ``IMMEDIATE`` so that two
writers queue on the busy timeout instead of failing when the reader upgrades to a writer.
"""

from __future__ import annotations

import datetime as dt
import enum
import time
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from contextlib import asynccontextmanager
from typing import Any, Protocol

from asyncpg import PostgresError
from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Enum,
    Integer,
    MetaData,
    TypeDecorator,
    any_,
    event,
    insert,
    literal,
    make_url,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, DisconnectionError, IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.sql.elements import ColumnElement

from domain.errors import Code, DomainError

Clock = Callable[[], dt.datetime]
# deadlock_detected, serialization_failure: the database rolled the transaction back.
RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})
# A pooled connection idle this long is pinged before use (see ``_ping_when_idle``).
PING_AFTER_SECONDS = 10.0


def utc_now() -> dt.datetime:
    """Return the current time in UTC."""
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timestamp stored in UTC and always read back timezone-aware (SQLite forgets zones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are ambiguous; pass an aware UTC datetime")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        assert isinstance(value, dt.datetime)
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL ids are 64-bit.
Id = BigInteger().with_variant(Integer(), "sqlite")


def enum_column(kind: type[enum.Enum]) -> Enum:
    """Return the column type of a Python enum: its names as short strings, checked."""
    return Enum(kind, native_enum=False, length=16, validate_strings=True)


class Base(DeclarativeBase):
    """Every table of the domain."""

    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )
    type_annotation_map = {
        dt.datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
    }


# The table of the transactional outbox (defined with the events, in ``domain.events``).
OUTBOX_TABLE = "outbox_events"


class Emittable(Protocol):
    """An event that knows its outbox row (see ``domain.events``)."""

    def outbox_values(self, occurred_at: dt.datetime) -> dict[str, Any]: ...


class Transaction:
    """One unit of work: state changes and the events they cause, committed together."""

    def __init__(
        self,
        session: AsyncSession,
        now: dt.datetime,
        dialect: str,
        on_events: Sequence[Callable[[], None]] = (),
    ) -> None:
        self.session = session
        self.now = now
        self.dialect = dialect
        self.committed = False
        self._after_commit: list[Callable[[], None]] = []
        self._on_events = on_events
        # Outbox rows, written in one INSERT when the transaction commits: a Core statement,
        # not an ORM flush, as nearly every command emits and the flush costs more.
        self._events: list[dict[str, Any]] = []

    def emit(self, event: Emittable) -> None:
        """Append an event to the outbox, to be published only if this transaction commits."""
        self._events.append(event.outbox_values(self.now))
        self.emitted()

    def emitted(self) -> None:
        """Note that an event was written (by ``emit``, or in the database by a function)."""
        if self._on_events:
            # Wake the outbox's consumers once this commits.
            self._after_commit.extend(self._on_events)
            self._on_events = ()

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once the transaction has committed (never if it rolls back)."""
        self._after_commit.append(callback)

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        """Run a block in a SAVEPOINT: if it raises, its writes and events are undone."""
        emitted = len(self._events)
        try:
            async with self.session.begin_nested():
                yield
        except BaseException:
            del self._events[emitted:]
            raise

    async def commit(self) -> None:
        """Make everything done in this transaction durable."""
        if self._events:
            events, self._events = self._events, []
            await self.session.execute(insert(Base.metadata.tables[OUTBOX_TABLE]), events)
        await self.session.commit()
        self.committed = True
        callbacks, self._after_commit = self._after_commit, []
        for callback in callbacks:
            callback()


class Store:
    """Engines and sessions for one database URL."""

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 10,
        clock: Clock = utc_now,
        echo: bool = False,
        ping_after: float = PING_AFTER_SECONDS,
    ) -> None:
        self.url = url
        self.clock = clock
        self.engine: AsyncEngine = _create_engine(
            url, pool_size=pool_size, echo=echo, ping_after=ping_after
        )
        self.dialect = self.engine.dialect.name
        writer = self.engine.execution_options(rapport_write=True)
        self._read_sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        # Called after a commit that wrote outbox events (in-process workers wait on it).
        self.on_events: list[Callable[[], None]] = []
        self._write_sessions = async_sessionmaker(writer, expire_on_commit=False)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """Open a write transaction; it commits only through ``Transaction.commit``."""
        async with self._write_sessions() as session:
            tx = Transaction(session, self.clock(), self.dialect, tuple(self.on_events))
            try:
                yield tx
            except DomainError as error:
                if error.recorded and not tx.committed:
                    await tx.commit()
                raise
            except IntegrityError as error:
                # A unique key another transaction took between our check and our write:
                # the client may simply retry.
                raise DomainError(
                    Code.CONFLICT, "this changed at the same moment elsewhere; try again"
                ) from error
            except DBAPIError as error:
                # PostgreSQL broke a deadlock or a serialization conflict by rolling this
                # transaction back: nothing was written, and a retry (with the same
                # idempotency key) is safe.
                if getattr(error.orig, "sqlstate", None) not in RETRYABLE_SQLSTATES:
                    raise
                raise DomainError(
                    Code.CONFLICT, "this collided with a concurrent change; try again"
                ) from error
            finally:
                if not tx.committed:
                    await session.rollback()

    @asynccontextmanager
    async def reader(self) -> AsyncIterator[AsyncSession]:
        """Open a session for reads; closing it rolls back and keeps loaded rows usable."""
        async with self._read_sessions() as session:
            yield session

    async def ping(self) -> None:
        """Raise unless the database answers a trivial query."""
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()


def _create_engine(url: str, *, pool_size: int, echo: bool, ping_after: float) -> AsyncEngine:
    if url.startswith("sqlite"):
        engine = create_async_engine(
            url,
            echo=echo,
            pool_size=pool_size,
            max_overflow=0,
            pool_timeout=30,
            connect_args={"timeout": 30},
        )
        _install_sqlite_quirks(engine)
        return engine
    engine = create_async_engine(url, echo=echo, pool_size=pool_size, max_overflow=pool_size)
    _ping_when_idle(engine, ping_after)
    return engine


def _ping_when_idle(engine: AsyncEngine, after: float) -> None:
    """Check a pooled connection on checkout only if it sat idle ``after`` seconds or more.

    ``pool_pre_ping`` pings on every checkout: on asyncpg that is BEGIN, a query and
    ROLLBACK, three round trips, as many as half of a short transaction's. A connection in
    steady use needs none: when the server goes away under load, the statement that meets
    the closed connection fails, and SQLAlchemy then discards every connection of the pool
    opened before it. An idle connection is the one that may have died unnoticed (a server
    restart at night, a firewall's idle timeout); it is pinged, and replaced if the ping
    fails (the pool retries the checkout on ``DisconnectionError``).
    """

    @event.listens_for(engine.sync_engine, "checkin")
    def idle_from(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def check(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.pop("idle_since", None)
        if idle_since is None or time.monotonic() - idle_since < after:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as error:
            raise DisconnectionError("an idle pooled connection is gone") from error


def _install_sqlite_quirks(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def configure(dbapi_connection: Any, _record: Any) -> None:
        # Hand transaction control to SQLAlchemy's "begin" hook below.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in (
            "PRAGMA journal_mode=WAL",
            "PRAGMA foreign_keys=ON",
            "PRAGMA busy_timeout=30000",
            "PRAGMA synchronous=NORMAL",
        ):
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def begin(connection: Any) -> None:
        # A deferred BEGIN that reads and then writes fails with SQLITE_BUSY at once,
        # ignoring the busy timeout; IMMEDIATE takes the write lock up front and waits.
        immediate = connection.get_execution_options().get("rapport_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


# What a database that cannot be used raises: unreachable, missing, or refusing us.
UNUSABLE_DATABASE: tuple[type[BaseException], ...] = (OSError, SQLAlchemyError, PostgresError)


def redacted_url(url: str) -> str:
    """Return a database URL fit for a log or a message (no password)."""
    return make_url(url).render_as_string(hide_password=True)


def insert_ignoring_conflicts(dialect: str, table: Any, index_elements: list[str]) -> Any:
    """Return an INSERT that skips rows clashing with a unique key (``ON CONFLICT DO NOTHING``)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).on_conflict_do_nothing(index_elements=index_elements)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table).on_conflict_do_nothing(index_elements=index_elements)


def any_of(session: AsyncSession, column: Any, ids: Collection[int]) -> ColumnElement[bool]:
    """Return ``column IN ids``: on PostgreSQL as ``= ANY`` of one array parameter, which
    costs SQLAlchemy far less to render and bind than a parameter per id (hundreds here)."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(literal(sorted(ids), ARRAY(BigInteger)))  # type: ignore[no-any-return]
    return column.in_(sorted(ids))  # type: ignore[no-any-return]
