"""The heart of the product, end to end: real server processes, real WebSocket clients.

Alice (skill SEO) is connected to Bob, who is connected to Carol. Alice subscribes to
`opportunityAdded`; Carol asks her network for SEO help; Alice is pushed an opportunity
whose reasons name the skill and Bob. Her socket drops; Carol asks again; Alice catches up
with `opportunities(after:)`. Then the same across two processes sharing PostgreSQL and
Redis, the subscriber on one and the mutations on the other, with the worker on its own.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from tests.conftest import PASSWORD, POSTGRES_URL, REDIS_URL
from tests.e2e.test_server import ROOT, Server, _environment

pytestmark = pytest.mark.e2e

ADDED = """subscription { opportunityAdded {
  id cursor kind reasons { code label } subject { ... on HelpRequest { title } } } }"""
MISSED = """query($after: String) { opportunities(after: $after) {
  edges { cursor node { kind reasons { code label } subject { ... on HelpRequest { title } } } }
} }"""


class Client:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def gql(self, query: str, variables: dict[str, Any], token: str | None = None) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        answer = await self.http.post(
            "/graphql", json={"query": query, "variables": variables}, headers=headers
        )
        body = answer.json()
        assert "errors" not in body, body
        return body["data"]

    async def member(self, handle: str) -> dict[str, str]:
        data = await self.gql(
            """mutation($input: SignUpInput!) {
              signUp(input: $input) { accessToken viewer { id } } }""",
            {
                "input": {
                    "email": f"{handle}@example.com",
                    "password": PASSWORD,
                    "displayName": handle.title(),
                    "handle": handle,
                }
            },
        )
        return {"id": data["signUp"]["viewer"]["id"], "token": data["signUp"]["accessToken"]}

    async def connect(self, one: dict[str, str], other: dict[str, str]) -> None:
        asked = await self.gql(
            """mutation($id: ID!) { requestConnection(input: {memberId: $id, context: "met"}) {
              relationship { id } userErrors { code } } }""",
            {"id": other["id"]},
            one["token"],
        )
        relationship = asked["requestConnection"]["relationship"]["id"]
        answered = await self.gql(
            """mutation($id: ID!) { respondToConnection(input: {relationshipId: $id, accept: true})
              { userErrors { code } } }""",
            {"id": relationship},
            other["token"],
        )
        assert answered["respondToConnection"]["userErrors"] == []

    async def ask(self, author: dict[str, str], title: str) -> None:
        posted = await self.gql(
            """mutation($input: PostHelpRequestInput!) {
              postHelpRequest(input: $input) { helpRequest { id } userErrors { code } } }""",
            {
                "input": {
                    "title": title,
                    "kind": "ADVICE",
                    "tags": ["SEO"],
                    "audience": {"scope": "NETWORK"},
                }
            },
            author["token"],
        )
        assert posted["postHelpRequest"]["userErrors"] == []


async def _subscribe(ws_url: str, token: str) -> ClientConnection:
    socket = await connect(ws_url, subprotocols=[Subprotocol("graphql-transport-ws")])
    init = {"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}
    await socket.send(orjson.dumps(init).decode())
    assert orjson.loads(await socket.recv()) == {"type": "connection_ack"}
    subscribe = {"id": "mine", "type": "subscribe", "payload": {"query": ADDED}}
    await socket.send(orjson.dumps(subscribe).decode())
    return socket


async def _journey(subscriber: str, mutator: str) -> None:
    """Run the story with Alice's socket on ``subscriber`` and everything else on ``mutator``."""
    async with httpx.AsyncClient(base_url=mutator, timeout=10) as http:
        api = Client(http)
        alice, bob, carol = [await api.member(handle) for handle in ("alice", "bob", "carol")]
        profile = await api.gql(
            """mutation { updateProfile(input: {skills: ["SEO"]}) { userErrors { code } } }""",
            {},
            alice["token"],
        )
        assert profile["updateProfile"]["userErrors"] == []
        await api.connect(alice, bob)
        await api.connect(bob, carol)

        socket = await _subscribe(
            subscriber.replace("http://", "ws://") + "/graphql", alice["token"]
        )
        await asyncio.sleep(0.5)  # the subscription is live before Carol asks
        await api.ask(carol, "Need SEO advice for our launch")
        pushed = orjson.loads(await asyncio.wait_for(socket.recv(), 20))
        assert pushed["type"] == "next"
        item = pushed["payload"]["data"]["opportunityAdded"]
        assert item["kind"] == "HELP_REQUEST"
        assert item["reasons"] == [
            {"code": "SKILL_MATCH", "label": "SEO"},
            {"code": "VIA", "label": "bob"},
        ]
        assert item["subject"] == {"title": "Need SEO advice for our launch"}

        # the connection drops; Carol asks again meanwhile; Alice catches up by cursor
        await socket.close()
        await api.ask(carol, "Need an SEO audit of our docs")
        missed: list[Any] = []
        for _ in range(200):
            found = await api.gql(MISSED, {"after": item["cursor"]}, alice["token"])
            missed = found["opportunities"]["edges"]
            if missed:
                break
            await asyncio.sleep(0.1)
        assert [edge["node"]["subject"]["title"] for edge in missed] == [
            "Need an SEO audit of our docs"
        ]
        assert missed[0]["node"]["reasons"][1] == {"code": "VIA", "label": "bob"}
        everything = await api.gql(MISSED, {"after": None}, alice["token"])
        assert len(everything["opportunities"]["edges"]) == 2


async def test_alice_is_pushed_carols_ask_and_catches_up_after_a_drop(tmp_path: Path):
    server = Server(_environment(tmp_path, f"sqlite:///{tmp_path / 'rapport.db'}"), tmp_path)
    try:
        server.wait_ready()
        await _journey(server.url, server.url)
    finally:
        log = server.stop()
    assert "Traceback" not in log, log


@pytest.mark.skipif(
    not (POSTGRES_URL and REDIS_URL), reason="needs TEST_DATABASE_URL and TEST_REDIS_URL"
)
async def test_across_two_api_processes_and_a_worker_sharing_postgresql_and_redis(
    tmp_path: Path, database_url: str
):
    if not database_url.startswith("postgresql"):
        pytest.skip("the shared topology runs on PostgreSQL")
    env = {
        **_environment(tmp_path, database_url),
        "BROKER_URL": str(REDIS_URL),
        "BROKER_CHANNEL_PREFIX": f"test-e2e-{os.getpid()}-{secrets.token_hex(4)}:",
        "RUN_WORKERS": "0",
        "WORKER_POLL_SECONDS": "1",
    }
    worker_log = tmp_path / "worker.log"
    worker = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "api",
        "worker",
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=worker_log.open("wb"),
    )
    first, second = Server(env, tmp_path), Server(env, tmp_path)
    try:
        first.wait_ready()
        second.wait_ready()
        await _journey(first.url, second.url)
    finally:
        first.stop()
        second.stop()
        worker.terminate()
        await asyncio.wait_for(worker.wait(), 10)
    assert worker.returncode == 0, worker_log.read_text()
    assert "Traceback" not in worker_log.read_text()
