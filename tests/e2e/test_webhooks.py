"""Partner webhooks end to end: an API process, a worker process killed and restarted in the
middle, and a partner's endpoint on loopback that verifies every delivery with the
`standardwebhooks` library while it answers 500 for a while, then 200."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import httpx
import pytest
from standardwebhooks import Webhook

from tests.conftest import PASSWORD
from tests.e2e.test_server import ROOT, Server, _environment
from tests.e2e.test_worker_crash import _worker
from tests.receiver import Received, Receiver

pytestmark = pytest.mark.e2e

CREATE = """mutation ($input: CreateWebhookEndpointInput!) {
  createWebhookEndpoint(input: $input) { endpoint { id } secret userErrors { message } } }"""
SIGN_UP = """mutation ($input: SignUpInput!) { signUp(input: $input) { userErrors { message } } }"""


def _register(env: dict[str, str]) -> tuple[str, str]:
    """Register a partner app the way an operator does; return its client id and secret."""
    done = subprocess.run(
        [sys.executable, "-m", "api", "partner", "create", "Acme CRM", "--scope",
         "webhooks:manage", "--scope", "read:members"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    client_id = re.search(r"client_id:\s+(\S+)", done.stdout)
    secret = re.search(r"client_secret:\s+(\S+)", done.stdout)
    assert client_id, done.stdout
    assert secret, done.stdout
    return client_id.group(1), secret.group(1)


async def test_every_event_arrives_verified_through_failures_and_a_killed_worker(tmp_path: Path):
    env = {
        **_environment(tmp_path, f"sqlite:///{tmp_path / 'rapport.db'}"),
        "RUN_WORKERS": "0",
        "WORKER_POLL_SECONDS": "1",
        "WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
        "WEBHOOK_RETRY_SCHEDULE": ",".join(["0"] + ["0.3"] * 40),
        "WEBHOOK_TIMEOUT_SECONDS": "1",
    }
    failing = True
    answered: Counter[str] = Counter()

    def answer(received: Received) -> tuple[int, dict[str, str], bytes]:
        if failing:
            return 500, {}, b"down for maintenance"
        answered[received.webhook_id] += 1
        return 204, {}, b""

    server = Server(env, tmp_path)
    log = tmp_path / "worker.log"
    try:
        await asyncio.to_thread(server.wait_ready)
        client_id, client_secret = await asyncio.to_thread(_register, env)
        async with (
            Receiver(answer) as receiver,
            httpx.AsyncClient(base_url=server.url, timeout=10) as http,
        ):
            grant = {
                "grant_type": "client_credentials",
                "client_id": client_id,
                "client_secret": client_secret,
            }
            token = (await http.post("/oauth/token", data=grant)).json()["access_token"]
            made = (
                await http.post(
                    "/graphql",
                    json={
                        "query": CREATE,
                        "variables": {
                            "input": {"url": receiver.url(), "eventTypes": ["member.joined"]}
                        },
                    },
                    headers={"Authorization": f"Bearer {token}"},
                )
            ).json()["data"]["createWebhookEndpoint"]
            assert made["userErrors"] == []
            secret = made["secret"]

            async def sign_up(handle: str) -> None:
                variables = {
                    "input": {
                        "email": f"{handle}@example.com",
                        "password": PASSWORD,
                        "displayName": handle.title(),
                        "handle": handle,
                    }
                }
                body = (
                    await http.post("/graphql", json={"query": SIGN_UP, "variables": variables})
                ).json()
                assert body["data"]["signUp"]["userErrors"] == []

            # Signing up also moves welcome karma (karma.transferred): not subscribed, never sent.
            for handle in ("ada", "bob", "cyd"):
                await sign_up(handle)
            first = await _worker(env, log)
            try:
                await receiver.wait_for(6, seconds=30)  # failures, retried
            finally:
                os.kill(first.pid, signal.SIGKILL)
                await first.wait()
            for handle in ("dee", "eve"):
                await sign_up(handle)
            failing = False
            second = await _worker(env, log)
            try:
                async with asyncio.timeout(60):
                    while len(answered) < 5:  # noqa: ASYNC110 (the receiver's answers)
                        await asyncio.sleep(0.1)
                await asyncio.sleep(1.5)  # time for anything sent twice to show up
            finally:
                second.terminate()
                await second.wait()
    finally:
        server.stop()

    received = receiver.received
    verifier = Webhook(secret)
    handles = []
    for item in received:
        body = verifier.verify(item.body, item.headers)
        assert body["type"] == "member.joined"
        handles.append(body["data"]["handle"])
    assert sorted(set(handles)) == ["ada", "bob", "cyd", "dee", "eve"]
    # Each event kept one webhook-id through every retry, and succeeded once.
    ids_by_handle: dict[str, set[str]] = {}
    for item in received:
        ids_by_handle.setdefault(json.loads(item.body)["data"]["handle"], set()).add(
            item.webhook_id
        )
    assert all(len(ids) == 1 for ids in ids_by_handle.values()), ids_by_handle
    assert sorted(answered.values()) == [1, 1, 1, 1, 1]
    assert len(received) > 5  # the failures were retried
    assert "Traceback" not in log.read_text()
