"""The broker: a low-latency notifier between the processes that change things and the
sockets that push them, with an in-memory adapter (one process) and a Redis one (many).

Every process holds at most one broker connection, whatever its number of sockets: each
channel a local listener wants is subscribed once, and each message that arrives is parsed
once and handed to every local listener of its channel. The broker is not the record — a
message published while nobody listens, or while Redis is away, is gone, and clients catch
up through the queries (every pushed item carries a cursor). So an outage degrades pushes,
never commands: ``publish`` logs and swallows broker errors, and the listening side
reconnects with backoff and resubscribes by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import secrets
from collections.abc import AsyncGenerator, Callable, Iterable
from typing import Any

import orjson
import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

log = logging.getLogger("rapport.realtime")

LISTENER_QUEUE = 256
"""Messages a listener may fall behind by before the oldest are dropped."""

Watcher = Callable[[str, dict[str, Any]], None]
"""Called with each message of a watched channel, as it arrives: ``(channel, message)``."""
_Sink = asyncio.Queue[dict[str, Any] | None] | Watcher


class Broker:
    """Publish JSON messages on named channels; listen to a channel from this process.

    This base class is the in-memory broker: it reaches the listeners of this process
    alone, which is all the embedded default (one process) needs.
    """

    _remote = False  # whether channels must be subscribed to elsewhere (``_subscribe``)

    def __init__(self) -> None:
        # Each channel's local listeners: queues (``listen``) and callbacks (``watch``).
        self._listeners: dict[str, set[_Sink]] = {}
        self._closed = False
        self._pending_subscribes: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Get ready to publish and listen (the app's lifespan calls it once)."""
        self._closed = False

    async def close(self) -> None:
        """Stop: every listener's iterator ends."""
        self._closed = True
        for sinks in self._listeners.values():
            for sink in sinks:
                if isinstance(sink, asyncio.Queue):
                    _offer(sink, None)
        for task in list(self._pending_subscribes):
            task.cancel()

    async def publish(self, channel: str, message: dict[str, Any]) -> None:
        """Send a JSON-serialisable message to every listener of the channel, anywhere."""
        self._deliver(channel, orjson.dumps(message))

    async def publish_many(self, messages: Iterable[tuple[str, dict[str, Any]]]) -> None:
        """Publish many ``(channel, message)`` at once (one round trip where it can)."""
        for channel, message in messages:
            await self.publish(channel, message)

    def listen(self, channel: str) -> AsyncGenerator[dict[str, Any], None]:
        """Yield the messages published on the channel from now on; close it to stop.

        An async generator (so an ``AsyncIterator``): where the loop may be left early, use
        ``async with contextlib.aclosing(broker.listen(channel)) as messages`` so the
        channel is released at once. Listeners share each message: treat it as read-only.
        """
        return self._listen(channel)

    def watch(self, channel: str, watcher: Watcher) -> Callable[[], None]:
        """Call ``watcher(channel, message)`` for each message on the channel from now on,
        synchronously as it arrives (no task, no queue); return the function that stops it.

        For a caller that keeps thousands of channels (the fan-out): a watcher must not
        block; it queues what it has to do. Watchers share each message: read-only.
        """
        first = channel not in self._listeners
        self._listeners.setdefault(channel, set()).add(watcher)
        if first and self._remote:
            task = asyncio.get_running_loop().create_task(self._subscribe(channel))
            self._pending_subscribes.add(task)
            task.add_done_callback(self._pending_subscribes.discard)

        def unwatch() -> None:
            self._release(channel, watcher)

        return unwatch

    def listening(self, channel: str) -> bool:
        """Whether a message published now on the channel reaches a listener here."""
        return bool(self._listeners.get(channel))

    async def _listen(self, channel: str) -> AsyncGenerator[dict[str, Any], None]:
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(LISTENER_QUEUE)
        first = channel not in self._listeners
        self._listeners.setdefault(channel, set()).add(queue)
        try:
            if first:
                await self._subscribe(channel)
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    # redis-py can swallow a cancellation that lands while it connects.
                    raise asyncio.CancelledError
            while not self._closed:
                message = await queue.get()
                if message is None:
                    return
                yield message
        finally:
            self._release(channel, queue)

    def _release(self, channel: str, sink: _Sink) -> None:
        sinks = self._listeners.get(channel)
        if sinks is not None and sink in sinks:
            sinks.discard(sink)
            if not sinks:
                del self._listeners[channel]
                self._unsubscribe(channel)

    def _deliver(self, channel: str, data: bytes) -> None:
        """Hand one message, parsed once, to every local listener of its channel."""
        sinks = self._listeners.get(channel)
        if not sinks:
            return
        try:
            message = orjson.loads(data)
        except orjson.JSONDecodeError:
            log.warning("dropped a message on %s that is not JSON", channel)
            return
        if not isinstance(message, dict):
            log.warning("dropped a message on %s that is not a JSON object", channel)
            return
        for sink in list(sinks):
            if isinstance(sink, asyncio.Queue):
                if not _offer(sink, message):
                    log.warning(
                        "a listener on %s fell behind: its oldest message was dropped", channel
                    )
                continue
            try:
                sink(channel, message)
            except Exception:
                log.exception("a watcher of %s failed", channel)

    async def _subscribe(self, channel: str) -> None:
        """Start receiving the channel from elsewhere (nothing to do in one process)."""

    def _unsubscribe(self, channel: str) -> None:
        """Stop receiving the channel from elsewhere (nothing to do in one process)."""


class RedisBroker(Broker):
    """Redis pub/sub: one connection per process for every channel listened to here."""

    _remote = True

    def __init__(
        self,
        url: str,
        *,
        channel_prefix: str = "",
        min_backoff: float = 0.1,
        max_backoff: float = 5.0,
    ) -> None:
        super().__init__()
        self._url = url
        self._prefix = channel_prefix
        self._min_backoff = min_backoff
        self._max_backoff = max_backoff
        # Publishing must never hold a command up for long, and gives up rather than retry:
        # the message is a hint, the state is already committed.
        self._publisher = redis.Redis.from_url(
            url,
            socket_connect_timeout=2,
            socket_timeout=2,
            retry=Retry(NoBackoff(), 0),
        )
        self._pubsub: redis.client.PubSub | None = None
        self._confirmed: set[str] = set()
        self._commands = asyncio.Lock()
        self._reader: asyncio.Task[None] | None = None
        self._pending: set[asyncio.Task[None]] = set()
        self._control = f"{channel_prefix}rapport:broker"
        # Each broker's own name: operators (and tests) tell processes apart in CLIENT LIST.
        label = "".join(c if c.isalnum() else "-" for c in channel_prefix).strip("-")
        self.client_name = f"rapport-broker-{label}-{os.getpid()}-{secrets.token_hex(3)}"

    async def start(self) -> None:
        await super().start()
        if self._reader is None:
            self._reader = asyncio.create_task(self._read_forever(), name="broker-reader")

    async def close(self) -> None:
        await super().close()
        if self._reader is not None:
            # redis-py may swallow a cancellation that lands while it connects: the reader
            # also stops on the flag, within a second, and shutdown never waits longer.
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(self._reader, 3)
            self._reader = None
        for task in list(self._pending):
            task.cancel()
        await self._publisher.aclose()

    async def publish(self, channel: str, message: dict[str, Any]) -> None:
        data = orjson.dumps(message)
        try:
            await self._publisher.publish(self._prefix + channel, data)
        except (RedisError, OSError) as error:
            log.warning("could not publish on %s, the push is lost: %s", channel, error)

    async def publish_many(self, messages: Iterable[tuple[str, dict[str, Any]]]) -> None:
        # One pipeline, one round trip: a fan-out of thousands does not wait on each.
        pipeline = self._publisher.pipeline(transaction=False)
        count = 0
        for channel, message in messages:
            pipeline.publish(self._prefix + channel, orjson.dumps(message))
            count += 1
        if not count:
            return
        try:
            await pipeline.execute()
        except (RedisError, OSError) as error:
            log.warning("could not publish %d message(s), the pushes are lost: %s", count, error)

    def listening(self, channel: str) -> bool:
        return super().listening(channel) and self._prefix + channel in self._confirmed

    async def _subscribe(self, channel: str) -> None:
        async with self._commands:
            pubsub = self._pubsub
            if pubsub is None or channel not in self._listeners:
                return  # the reader subscribes to every wanted channel when it connects
            try:
                await pubsub.subscribe(self._prefix + channel)
            except (RedisError, OSError) as error:
                # The reader sees the broken connection too, and resubscribes.
                log.warning("could not subscribe to %s yet: %s", channel, error)

    def _unsubscribe(self, channel: str) -> None:
        task = asyncio.create_task(self._unsubscribe_if_unwanted(channel))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _unsubscribe_if_unwanted(self, channel: str) -> None:
        async with self._commands:
            pubsub = self._pubsub
            if pubsub is None or channel in self._listeners:
                return
            with contextlib.suppress(RedisError, OSError):
                await pubsub.unsubscribe(self._prefix + channel)

    async def _read_forever(self) -> None:
        delay = self._min_backoff
        while not self._closed:
            try:
                await self._read_one_connection()
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as error:
                log.warning(
                    "broker connection lost (%s): pushes pause, reconnecting in %.1f s",
                    error,
                    delay,
                )
            except Exception:
                log.exception("broker reader failed; reconnecting in %.1f s", delay)
            else:
                delay = self._min_backoff
            self._confirmed.clear()
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))  # noqa: S311
            delay = min(delay * 2, self._max_backoff)

    async def _read_one_connection(self) -> None:
        client = redis.Redis.from_url(
            self._url,
            socket_connect_timeout=2,
            socket_keepalive=True,
            health_check_interval=5,
            client_name=self.client_name,
            # One place reconnects (here), so it knows what was subscribed and when.
            retry=Retry(NoBackoff(), 0),
        )
        pubsub = client.pubsub()
        try:
            async with self._commands:
                wanted = [self._prefix + channel for channel in self._listeners]
                await pubsub.subscribe(self._control, *wanted)
                self._pubsub = pubsub
            log.info("broker connected; %d channel(s) listened to", len(wanted))
            while not self._closed:
                # A timeout now and then lets the health check ping a silent connection.
                message = await pubsub.get_message(timeout=1.0)
                if message is not None:
                    self._handle(message)
        finally:
            self._pubsub = None
            self._confirmed.clear()
            with contextlib.suppress(Exception):
                await pubsub.aclose()  # type: ignore[no-untyped-call]
            with contextlib.suppress(Exception):
                await client.aclose()

    def _handle(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        channel = _text(message["channel"])
        if kind == "subscribe":
            self._confirmed.add(channel)
        elif kind == "unsubscribe":
            self._confirmed.discard(channel)
        elif kind == "message" and channel.startswith(self._prefix):
            self._deliver(channel[len(self._prefix) :], message["data"])


def create_broker(url: str, *, channel_prefix: str = "") -> Broker:
    """Return the broker a ``BROKER_URL`` names: ``memory://`` or ``redis://…``."""
    if url.startswith("memory://"):
        return Broker()
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisBroker(url, channel_prefix=channel_prefix)
    raise ValueError("expected memory:// or a redis://… URL")


def _offer(queue: asyncio.Queue[dict[str, Any] | None], item: dict[str, Any] | None) -> bool:
    """Queue an item; when the queue is full, drop its oldest to make room."""
    try:
        queue.put_nowait(item)
        return True
    except asyncio.QueueFull:
        queue.get_nowait()
        queue.put_nowait(item)
        return False


def _text(value: bytes | str | None) -> str:
    if isinstance(value, bytes):
        return value.decode()
    return value or ""
