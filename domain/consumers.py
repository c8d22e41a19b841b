"""Consumers of the outbox: each event is handled once in effect by each consumer.

A consumer (matching, realtime fan-out, webhooks) names the event types it wants. For each,
``consumer_events`` holds one row per event: ``PENDING`` until handled (``DONE``), retried
with backoff when its handler fails, ``PARKED`` for an operator after ``max_attempts``.

- **Enqueue.** New events of the consumer's types get their rows with one
  ``INSERT … SELECT … ON CONFLICT DO NOTHING``. It reads past the newest event already
  enqueued and also re-reads the last ``RESCAN`` of events: an event whose transaction took
  an id early but committed late is still found.
- **Claim and handle.** One pending row at a time is locked (``FOR UPDATE SKIP LOCKED`` on
  PostgreSQL, so workers never handle the same event at once; SQLite has one writer) and
  the handler runs in that same transaction, which then marks the row ``DONE``. What the
  handler writes commits with that mark or not at all: a worker killed mid-event leaves
  the row pending for the next one, and the event takes effect once.
- **Fail.** A handler that raises rolls its transaction back; a second transaction counts
  the attempt, records the error and schedules the next one (exponential backoff), so one
  failing event never blocks the others.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, func, literal, select, union, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from domain.events import OutboxEvent
from domain.store import Base, Id, Store, Transaction, enum_column, insert_ignoring_conflicts

# Re-read this far back on every enqueue, for events committed after newer ones.
RESCAN = dt.timedelta(minutes=10)


class ConsumerStatus(enum.Enum):
    PENDING = "PENDING"
    DONE = "DONE"
    PARKED = "PARKED"  # failed max_attempts times: left for an operator


class ConsumerEvent(Base):
    """One event as one consumer handles it."""

    __tablename__ = "consumer_events"

    consumer: Mapped[str] = mapped_column(String(32), primary_key=True)
    event_id: Mapped[int] = mapped_column(
        Id, ForeignKey("outbox_events.id", ondelete="CASCADE"), primary_key=True
    )
    status: Mapped[ConsumerStatus] = mapped_column(enum_column(ConsumerStatus))
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[dt.datetime]
    last_error: Mapped[str | None] = mapped_column(Text)
    done_at: Mapped[dt.datetime | None]

    __table_args__ = (Index(None, "consumer", "status", "next_attempt_at"),)


@dataclasses.dataclass(frozen=True)
class Notice:
    """Something to tell after commit (a realtime push): a channel and a JSON message."""

    channel: str
    message: dict[str, Any]


def member_channel(member_id: int) -> str:
    """Return the channel of a member's live pushes: ``{"type": "opportunity.added", …}``."""
    return f"member:{member_id}"


def help_request_channel(help_request_id: int) -> str:
    """Return the channel of one help request: ``{"type": "help_request.updated", …}``."""
    return f"help_request:{help_request_id}"


Handler = Callable[[Transaction, OutboxEvent], Awaitable[Sequence[Notice]]]


@dataclasses.dataclass(frozen=True)
class Consumer:
    name: str
    types: frozenset[str]
    handle: Handler
    max_attempts: int = 8
    first_retry: dt.timedelta = dt.timedelta(seconds=5)
    last_retry: dt.timedelta = dt.timedelta(hours=1)

    def backoff(self, attempts: int) -> dt.timedelta:
        """Return the wait before attempt ``attempts + 1``: doubling, capped."""
        wait: dt.timedelta = self.first_retry * 2 ** (attempts - 1)
        return min(wait, self.last_retry)


@dataclasses.dataclass(frozen=True)
class Handled:
    event_id: int
    notices: Sequence[Notice]


async def enqueue(tx: Transaction, consumer: Consumer) -> int:
    """Give each new event of the consumer's types its pending row; return how many."""
    rows = ConsumerEvent.__table__
    newest = (
        select(func.coalesce(func.max(ConsumerEvent.event_id), 0))
        .where(ConsumerEvent.consumer == consumer.name)
        .scalar_subquery()
    )

    def events(condition: Any) -> Any:
        return select(
            literal(consumer.name),
            OutboxEvent.id,
            literal(ConsumerStatus.PENDING.value),
            literal(0),
            OutboxEvent.occurred_at,
        ).where(OutboxEvent.type.in_(sorted(consumer.types)), condition)

    # Two index ranges, not an OR over the whole outbox: this runs every poll, forever.
    new_events = union(
        events(OutboxEvent.id > newest), events(OutboxEvent.occurred_at > tx.now - RESCAN)
    )
    statement = insert_ignoring_conflicts(tx.dialect, rows, ["consumer", "event_id"]).from_select(
        ["consumer", "event_id", "status", "attempts", "next_attempt_at"], new_events
    )
    result = await tx.session.execute(statement)
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def handle_next(store: Store, consumer: Consumer) -> Handled | None:
    """Claim the next due event of this consumer and handle it; None when nothing is due.

    A handler's exception is recorded against the event (retried later, or parked) and not
    raised: the caller goes on with the next event.
    """
    async with store.transaction() as tx:
        claimed = await tx.session.scalar(
            select(ConsumerEvent)
            .where(
                ConsumerEvent.consumer == consumer.name,
                ConsumerEvent.status == ConsumerStatus.PENDING,
                ConsumerEvent.next_attempt_at <= tx.now,
            )
            .order_by(ConsumerEvent.next_attempt_at, ConsumerEvent.event_id)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        if claimed is None:
            return None
        event_id = claimed.event_id
        event = await tx.session.get_one(OutboxEvent, event_id)
        try:
            notices = await consumer.handle(tx, event)
            claimed.status, claimed.done_at = ConsumerStatus.DONE, tx.now
            claimed.attempts += 1
            await tx.commit()
            return Handled(event_id, notices)
        except Exception as error:
            failure = f"{type(error).__name__}: {error}"[:2000]
    await _record_failure(store, consumer, event_id, failure)
    return Handled(event_id, ())


async def _record_failure(store: Store, consumer: Consumer, event_id: int, failure: str) -> None:
    async with store.transaction() as tx:
        row = await tx.session.get_one(
            ConsumerEvent, (consumer.name, event_id), with_for_update=True
        )
        row.attempts += 1
        row.last_error = failure
        if row.attempts >= consumer.max_attempts:
            row.status = ConsumerStatus.PARKED
        else:
            row.next_attempt_at = tx.now + consumer.backoff(row.attempts)
        await tx.commit()


async def retry_parked(tx: Transaction, consumer: str, event_ids: Sequence[int]) -> int:
    """Put parked events back in line (an operator fixed the cause); return how many."""
    result = await tx.session.execute(
        update(ConsumerEvent)
        .where(
            ConsumerEvent.consumer == consumer,
            ConsumerEvent.event_id.in_(event_ids),
            ConsumerEvent.status == ConsumerStatus.PARKED,
        )
        .values(status=ConsumerStatus.PENDING, attempts=0, next_attempt_at=tx.now)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def parked(session: AsyncSession, consumer: str | None) -> list[ConsumerEvent]:
    """Return the parked events (of one consumer, or all), oldest first."""
    statement = select(ConsumerEvent).where(ConsumerEvent.status == ConsumerStatus.PARKED)
    if consumer is not None:
        statement = statement.where(ConsumerEvent.consumer == consumer)
    return list(await session.scalars(statement.order_by(ConsumerEvent.event_id)))


async def backlog(store: Store) -> dict[str, dict[str, int]]:
    """Return how many events each consumer has in each status (for operators)."""
    async with store.reader() as session:
        rows = await session.execute(
            select(ConsumerEvent.consumer, ConsumerEvent.status, func.count()).group_by(
                ConsumerEvent.consumer, ConsumerEvent.status
            )
        )
        found: dict[str, dict[str, int]] = {}
        for consumer, status, count in rows:
            found.setdefault(consumer, {})[status.value] = count
        return found


__all__ = [
    "Consumer",
    "ConsumerEvent",
    "ConsumerStatus",
    "Handled",
    "Notice",
    "backlog",
    "enqueue",
    "handle_next",
    "help_request_channel",
    "member_channel",
    "parked",
    "retry_parked",
]
