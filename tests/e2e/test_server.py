"""A real server process, started the way an operator starts it, used as a client uses it."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import make_url, text

from domain.store import Store
from tests.conftest import PASSWORD, POSTGRES_URL, _async_url

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _environment(tmp_path: Path, database_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "VAR_DIR": str(tmp_path / "var"),
        "ARGON2_TIME_COST": "1",
        "ARGON2_MEMORY_KIB": "1024",
        "ARGON2_PARALLELISM": "1",
        "LOG_FORMAT": "json",
        "PLAYGROUND_ASSETS_DIR": str(tmp_path / "no-assets"),
        # A shell that exports SEED=1 must not seed the demo network into every test server.
        "SEED": "0",
    }


class Server:
    def __init__(self, env: dict[str, str], tmp_path: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp_path / f"server-{self.port}.log"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "api", "serve", "--port", str(self.port)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=self.log.open("wb"),
        )

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited: {self.log.read_text()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"server not ready: {self.log.read_text()}")

    def stop(self) -> str:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        return self.log.read_text()


@pytest.fixture
def sqlite_server(tmp_path: Path) -> Iterator[Server]:
    server = Server(_environment(tmp_path, f"sqlite:///{tmp_path / 'rapport.db'}"), tmp_path)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def test_the_playground_is_served_and_a_sign_up_works_from_it(sqlite_server: Server):
    # Given the server a newcomer started with `make run`
    page = httpx.get(f"{sqlite_server.url}/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert "graphiql" in page.text.lower()

    # When the playground sends a sign-up, as GraphiQL does
    response = httpx.post(
        f"{sqlite_server.url}/graphql",
        json={
            "query": "mutation($input: SignUpInput!) { signUp(input: $input) { "
            "accessToken viewer { handle } userErrors { code } } }",
            "variables": {
                "input": {
                    "email": "ada@example.com",
                    "password": PASSWORD,
                    "displayName": "Ada",
                    "handle": "ada",
                }
            },
        },
        headers={"Accept": "application/graphql-response+json, application/json"},
    )

    # Then the member exists and is signed in
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/graphql-response+json")
    payload = response.json()["data"]["signUp"]
    assert payload["userErrors"] == []
    viewer = httpx.post(
        f"{sqlite_server.url}/graphql",
        json={"query": "{ viewer { handle } }"},
        headers={"Authorization": f"Bearer {payload['accessToken']}"},
    )
    assert viewer.json() == {"data": {"viewer": {"handle": "ada"}}}


def test_logs_are_json_lines_with_a_request_id(sqlite_server: Server):
    response = httpx.get(f"{sqlite_server.url}/healthz", headers={"X-Request-ID": "trace-12345678"})
    assert response.headers["x-request-id"] == "trace-12345678"
    time.sleep(0.2)
    lines = [json.loads(line) for line in sqlite_server.log.read_text().splitlines() if line]
    access = [line for line in lines if line.get("path") == "/healthz"]
    assert access
    assert access[-1]["request_id"] == "trace-12345678"
    assert access[-1]["status"] == 200


def test_serve_explains_a_bad_setting_instead_of_starting(tmp_path: Path):
    env = {**_environment(tmp_path, "mysql://nope"), "PORT": "eighty"}
    result = subprocess.run(
        [sys.executable, "-m", "api", "serve"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "DATABASE_URL" in result.stderr
    assert "PORT" in result.stderr


@pytest.mark.skipif(not POSTGRES_URL, reason="needs TEST_DATABASE_URL")
def test_serve_refuses_an_unmigrated_postgresql_until_migrate_runs(tmp_path: Path):
    server_url = make_url(_async_url(POSTGRES_URL or ""))
    name = f"rapport_e2e_{secrets.token_hex(4)}"

    async def on_server(statement: str) -> None:
        admin = Store(server_url.render_as_string(hide_password=False), pool_size=1)
        async with admin.engine.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            await autocommit.execute(text(statement))
        await admin.dispose()

    asyncio.run(on_server(f'CREATE DATABASE "{name}"'))
    try:
        url = server_url.set(database=name).render_as_string(hide_password=False)
        env = _environment(tmp_path, url)
        refused = subprocess.run(
            [sys.executable, "-m", "api", "serve", "--port", str(_free_port())],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert refused.returncode == 1
        assert "python -m api migrate" in refused.stderr

        migrated = subprocess.run(
            [sys.executable, "-m", "api", "migrate"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert migrated.returncode == 0, migrated.stderr

        server = Server(env, tmp_path)
        try:
            server.wait_ready()
        finally:
            server.stop()
    finally:
        asyncio.run(on_server(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
