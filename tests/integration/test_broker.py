"""The broker on its own: in memory, and on the real Redis of this machine (TEST_REDIS_URL)
with two brokers standing for two processes, including a dropped connection."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as redis

from api.realtime import Broker, RedisBroker, create_broker
from tests.api.sockets import until
from tests.conftest import REDIS_URL

needs_redis = pytest.mark.skipif(not REDIS_URL, reason="TEST_REDIS_URL is not set")


@contextlib.asynccontextmanager
async def started(broker: Broker) -> AsyncIterator[Broker]:
    await broker.start()
    try:
        yield broker
    finally:
        await broker.close()


class Inbox:
    """What one listener received, collected in the background."""

    def __init__(self, broker: Broker, channel: str) -> None:
        self.messages: list[dict] = []
        self._listen = broker.listen(channel)
        self._task = asyncio.create_task(self._collect())

    async def _collect(self) -> None:
        async for message in self._listen:
            self.messages.append(message)

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await self._listen.aclose()


def prefix() -> str:
    return f"test-{os.getpid()}-{secrets.token_hex(4)}:"


async def test_memory_delivers_to_the_listeners_of_a_channel_only():
    async with started(create_broker("memory://")) as broker:
        mine, also_mine, other = (
            Inbox(broker, "member:1"),
            Inbox(broker, "member:1"),
            Inbox(broker, "member:2"),
        )
        await until(lambda: broker.listening("member:1") and broker.listening("member:2"))

        await broker.publish("member:1", {"type": "opportunity.added", "id": 7})

        await until(lambda: len(mine.messages) == len(also_mine.messages) == 1)
        assert mine.messages == [{"type": "opportunity.added", "id": 7}]
        assert other.messages == []
        for inbox in (mine, also_mine, other):
            await inbox.close()
        assert not broker.listening("member:1")


@pytest.mark.parametrize("url", ["memory://", "redis"])
async def test_a_watcher_is_called_with_each_message_and_many_go_out_at_once(url):
    if url == "redis" and not REDIS_URL:
        pytest.skip("TEST_REDIS_URL is not set")
    address = str(REDIS_URL) if url == "redis" else url
    shared = prefix()
    async with (
        started(create_broker(address, channel_prefix=shared)) as publisher,
        started(create_broker(address, channel_prefix=shared)) as receiver,
    ):
        one = publisher if url == "memory://" else receiver  # memory: one process only
        seen: list[tuple[str, dict]] = []
        stops = [
            one.watch(f"member:{n}", lambda channel, message: seen.append((channel, message)))
            for n in range(3)
        ]
        await until(lambda: all(one.listening(f"member:{n}") for n in range(3)))

        sender = publisher
        await sender.publish_many(
            [(f"member:{n % 4}", {"type": "opportunity.added", "n": n}) for n in range(8)]
        )

        await until(lambda: len(seen) == 6)
        assert [message["n"] for _, message in seen] == [0, 1, 2, 4, 5, 6]  # not member:3
        assert seen[1] == ("member:1", {"type": "opportunity.added", "n": 1})
        for stop in stops:
            stop()
        await until(lambda: not any(one.listening(f"member:{n}") for n in range(3)))


async def test_publishing_refuses_what_is_not_json():
    async with started(create_broker("memory://")) as broker:
        with pytest.raises(TypeError):
            await broker.publish("member:1", {"when": object()})


def test_a_broker_url_names_its_adapter():
    assert type(create_broker("memory://")) is Broker
    assert isinstance(create_broker("redis://127.0.0.1:6379/0"), RedisBroker)
    with pytest.raises(ValueError, match="redis"):
        create_broker("amqp://nope")


async def pubsub_clients(name: str) -> list[dict]:
    admin = redis.Redis.from_url(str(REDIS_URL))
    try:
        clients = await admin.client_list(_type="pubsub")
        return [client for client in clients if client.get("name") == name]
    finally:
        await admin.aclose()


@needs_redis
async def test_redis_carries_messages_between_processes_on_one_connection_each():
    shared = prefix()
    async with (
        started(create_broker(str(REDIS_URL), channel_prefix=shared)) as publisher,
        started(create_broker(str(REDIS_URL), channel_prefix=shared)) as receiver,
    ):
        assert isinstance(receiver, RedisBroker)
        inboxes = [Inbox(receiver, f"member:{n % 3}") for n in range(30)]
        await until(lambda: all(receiver.listening(f"member:{n}") for n in range(3)))

        await publisher.publish("member:1", {"type": "opportunity.added", "id": 1})

        await until(lambda: sum(len(inbox.messages) for inbox in inboxes) == 10)
        assert all(
            inbox.messages == ([{"type": "opportunity.added", "id": 1}] if n % 3 == 1 else [])
            for n, inbox in enumerate(inboxes)
        )
        # Thirty listeners on three channels: one Redis connection.
        assert len(await pubsub_clients(receiver.client_name)) == 1
        for inbox in inboxes:
            await inbox.close()
        await until(lambda: not receiver.listening("member:1"))


@needs_redis
async def test_redis_listeners_survive_a_dropped_connection():
    shared = prefix()
    async with (
        started(create_broker(str(REDIS_URL), channel_prefix=shared)) as publisher,
        started(RedisBroker(str(REDIS_URL), channel_prefix=shared, min_backoff=0.05)) as receiver,
    ):
        assert isinstance(receiver, RedisBroker)
        inbox = Inbox(receiver, "help_request:5")
        await until(lambda: receiver.listening("help_request:5"))
        await publisher.publish("help_request:5", {"n": 1})
        await until(lambda: len(inbox.messages) == 1)

        # When Redis drops this process's connection (as a restart would), and only that one
        (ours,) = await pubsub_clients(receiver.client_name)
        admin = redis.Redis.from_url(str(REDIS_URL))
        try:
            await admin.client_kill_filter(_id=ours["id"])
        finally:
            await admin.aclose()
        await until(lambda: not receiver.listening("help_request:5"))

        # Then it reconnects, resubscribes, and the same listener goes on receiving
        await until(lambda: receiver.listening("help_request:5"))
        (again,) = await pubsub_clients(receiver.client_name)
        assert again["id"] != ours["id"]
        await publisher.publish("help_request:5", {"n": 2})
        await until(lambda: len(inbox.messages) == 2)
        assert inbox.messages == [{"n": 1}, {"n": 2}]
        await inbox.close()


@needs_redis
async def test_redis_away_degrades_pushes_and_raises_nothing():
    # Nothing listens on port 1: every connection is refused at once.
    async with started(RedisBroker("redis://127.0.0.1:1/0", min_backoff=0.05)) as broker:
        await broker.publish("member:1", {"type": "opportunity.added"})  # logged, not raised
        await broker.publish_many([("member:1", {"n": 1}), ("member:2", {"n": 2})])  # the same
        inbox = Inbox(broker, "member:1")
        await asyncio.sleep(0.3)
        assert not broker.listening("member:1")
        assert inbox.messages == []
        await inbox.close()


@needs_redis
async def test_redis_broker_closes_at_once_even_while_still_connecting():
    for _ in range(3):
        broker = create_broker(str(REDIS_URL), channel_prefix=prefix())
        await broker.start()
        await broker.publish("member:1", {"n": 1})
        await asyncio.wait_for(broker.close(), 5)
