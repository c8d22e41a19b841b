"""Pushes across processes: two real API processes sharing a database and Redis, a member
subscribed on each, and a publisher standing in for the outbox worker."""

from __future__ import annotations

import asyncio
import os
import secrets
from pathlib import Path

import httpx
import orjson
import pytest
import redis.asyncio as redis
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from api.graphql.ids import node_id
from api.realtime import create_broker
from domain.consumers import help_request_channel
from tests.conftest import REDIS_URL
from tests.e2e.test_server import Server, _environment

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not REDIS_URL, reason="TEST_REDIS_URL is not set"),
]

SIGN_UP = """mutation($input: SignUpInput!) { signUp(input: $input) { accessToken } }"""
POST = """mutation($input: PostHelpRequestInput!) {
  postHelpRequest(input: $input) { helpRequest { id } userErrors { code } } }"""
WATCH = "subscription($id: ID!) { helpRequestUpdated(id: $id) { id status } }"


async def test_redis_pushes_reach_subscribers_on_every_api_process(tmp_path: Path):
    prefix = f"test-e2e-{os.getpid()}-{secrets.token_hex(4)}:"
    env = {
        **_environment(tmp_path, f"sqlite:///{tmp_path / 'rapport.db'}"),
        "BROKER_URL": str(REDIS_URL),
        "BROKER_CHANNEL_PREFIX": prefix,
    }
    first = Server(env, tmp_path)
    try:
        first.wait_ready()
        second = Server(env, tmp_path)  # after the first migrated the shared database
        try:
            second.wait_ready()
            await _push_reaches_both(first, second, prefix)
        finally:
            second.stop()
    finally:
        first.stop()


async def _push_reaches_both(first: Server, second: Server, prefix: str) -> None:
    async with httpx.AsyncClient(base_url=first.url) as http:
        signed = await http.post(
            "/graphql",
            json={
                "query": SIGN_UP,
                "variables": {
                    "input": {
                        "email": "carol@example.com",
                        "password": "a long unusual passphrase",
                        "displayName": "Carol",
                        "handle": "carol",
                    }
                },
            },
        )
        token = signed.json()["data"]["signUp"]["accessToken"]
        posted = await http.post(
            "/graphql",
            json={
                "query": POST,
                "variables": {
                    "input": {
                        "title": "Need SEO advice for our launch",
                        "kind": "ADVICE",
                        "tags": ["seo"],
                        "audience": {"scope": "PUBLIC"},
                    }
                },
            },
            headers={"Authorization": f"Bearer {token}"},
        )
        request_id = posted.json()["data"]["postHelpRequest"]["helpRequest"]["id"]

    sockets = []
    for server in (first, second):
        socket = await connect(
            server.url.replace("http://", "ws://") + "/graphql",
            subprotocols=[Subprotocol("graphql-transport-ws")],
        )
        sockets.append(socket)
        await socket.send(
            orjson.dumps(
                {"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}
            ).decode()
        )
        assert orjson.loads(await socket.recv()) == {"type": "connection_ack"}
        await socket.send(
            orjson.dumps(
                {
                    "id": "watch",
                    "type": "subscribe",
                    "payload": {"query": WATCH, "variables": {"id": request_id}},
                }
            ).decode()
        )
    try:
        channel = help_request_channel(node_id(request_id, "HelpRequest") or 0)
        admin = redis.Redis.from_url(str(REDIS_URL))
        try:
            # Both processes subscribed, one connection each.
            for _ in range(500):
                ((_, count),) = await admin.pubsub_numsub(prefix + channel)
                if count == 2:
                    break
                await asyncio.sleep(0.01)
            assert count == 2
        finally:
            await admin.aclose()

        publisher = create_broker(str(REDIS_URL), channel_prefix=prefix)
        await publisher.start()
        try:
            await publisher.publish(channel, {"type": "help_request.updated", "help_request_id": 1})
        finally:
            await publisher.close()

        for socket in sockets:
            pushed = orjson.loads(await asyncio.wait_for(socket.recv(), 10))
            assert pushed == {
                "id": "watch",
                "type": "next",
                "payload": {"data": {"helpRequestUpdated": {"id": request_id, "status": "OPEN"}}},
            }
    finally:
        for socket in sockets:
            await socket.close()
