"""Benchmark live pushes: N WebSocket subscribers on one server process, one ask that
matches them all.

    .venv/bin/python bench/fanout.py [--subscribers 2000] [--database-url URL]

It creates Carol and N members with the skill SEO, each connected to Carol and signed in
(a session and an access token each), then starts ``python -m api serve`` (one uvicorn
process, its in-process worker and the memory broker) and opens N sockets
(graphql-transport-ws), each subscribed to ``opportunityAdded { id score cursor reasons {
code label } }``. It measures the server's resident memory before and after the idle
subscriptions; then Carol asks her network for SEO help (``OPPORTUNITIES_PER_SIGNAL`` =
N, so the one ask matches everyone) and each client notes when its push arrives. From the
mutation's answer (its commit) to each delivery: p50/p99, the first and the last, and
deliveries/s. Baseline in the same run, the same sockets without GraphQL: a protocol
``ping`` sent on every socket at once, and the time until each ``pong`` is back. Timings
are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import math
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: bench/ is sys.path[0], the project is not
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import orjson  # noqa: E402
from websockets.asyncio.client import ClientConnection, connect  # noqa: E402
from websockets.typing import Subprotocol  # noqa: E402

from api.settings import Settings  # noqa: E402
from api.tokens import Tokens  # noqa: E402
from bench.intro_paths import BenchError, fresh_database  # noqa: E402
from bench.load import cpu_seconds, memory_kib  # noqa: E402
from domain.members import sessions  # noqa: E402
from domain.members.models import Member, MemberTag, TagKind, TagRole, Visibility  # noqa: E402
from domain.members.tagging import ensure_tags  # noqa: E402
from domain.network import relationships  # noqa: E402
from domain.store import Store  # noqa: E402

ADDED = "subscription { opportunityAdded { id score cursor reasons { code label } } }"
POST = """mutation { postHelpRequest(input: {title: "Need SEO advice for our launch",
  kind: ADVICE, tags: ["SEO"], audience: {scope: NETWORK}}) { userErrors { code } } }"""


def _percentile(values: list[float], rank: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(rank / 100 * len(ordered)) - 1)] if ordered else math.nan


def _member(handle: str, now: dt.datetime) -> Member:
    return Member(
        email=f"{handle}@example.com",
        email_key=f"{handle}@example.com",
        password_hash="-",
        handle=handle,
        display_name=handle.title(),
        help_requests_per_week=5,
        visibility=Visibility.EVERYONE,
        location_visibility=Visibility.EVERYONE,
        seeks_visibility=Visibility.EVERYONE,
        gives_visibility=Visibility.EVERYONE,
        goals_visibility=Visibility.EVERYONE,
        connections_visibility=Visibility.EVERYONE,
        search_text=handle,
        created_at=now,
        updated_at=now,
    )


async def _seed(url: str, subscribers: int, settings: Settings) -> tuple[str, list[str]]:
    """Create Carol and the subscribers; return Carol's token and theirs."""
    store = Store(url, pool_size=1)
    tokens = Tokens(settings, store.clock)
    try:
        async with store.transaction() as tx:
            carol = _member("carol", tx.now)
            people = [_member(f"member{n}", tx.now) for n in range(subscribers)]
            tx.session.add_all([carol, *people])
            await tx.session.flush()
            [seo] = await ensure_tags(tx, ["SEO"], kind=TagKind.SKILL, limit=1, field="skills")
            tx.session.add_all(
                MemberTag(member_id=p.id, role=TagRole.SKILL, tag_id=seo.id, position=0)
                for p in people
            )
            for person in people:
                await relationships.connect(
                    tx, member_id=carol.id, other_id=person.id, context="met", introduced_by_id=None
                )
            grants = [
                await sessions.start_session(tx, member_id=m.id, ttl=dt.timedelta(days=1))
                for m in (carol, *people)
            ]
            await tx.commit()
    finally:
        await store.dispose()
    issued = [tokens.issue(member_id=g.member_id, session_id=g.session_id)[0] for g in grants]
    return issued[0], issued[1:]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _subscribe(url: str, token: str) -> ClientConnection:
    client = await connect(url, subprotocols=[Subprotocol("graphql-transport-ws")], max_queue=None)
    init = {"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}
    await client.send(orjson.dumps(init).decode())
    ack = orjson.loads(await client.recv())
    if ack != {"type": "connection_ack"}:
        raise BenchError(f"no ack: {ack}")
    subscribe = {"id": "mine", "type": "subscribe", "payload": {"query": ADDED}}
    await client.send(orjson.dumps(subscribe).decode())
    return client


async def _first(client: ClientConnection, kind: str) -> float:
    """Wait for the next message of this type; return when it came."""
    while True:
        message = orjson.loads(await client.recv())
        if message.get("type") == kind:
            return time.perf_counter()
        if message.get("type") == "error":
            raise BenchError(f"subscription refused: {message}")


async def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="rapport-fanout-") as temp:
        work = Path(temp)
        async with fresh_database(args.database_url, work, keep=False) as url:
            secret = secrets.token_urlsafe(48)
            env = {
                **os.environ,
                "DATABASE_URL": url,
                "VAR_DIR": str(work / "var"),
                "JWT_SECRET": secret,
                "OPPORTUNITIES_PER_SIGNAL": str(args.subscribers),
                "MAX_PUSHES_PER_DAY": "1000",
                "LOG_LEVEL": "WARNING",
                "GRAPHIQL": "0",
            }
            settings = Settings(database_url=url, var_dir=work / "var", jwt_secret=secret)
            started = time.perf_counter()
            carol, tokens = await _seed(url, args.subscribers, settings)
            print(
                f"seeded {args.subscribers:,} subscribers in {time.perf_counter() - started:.1f} s"
            )
            port = _free_port()
            server = await asyncio.create_subprocess_exec(
                *(sys.executable, "-m", "api", "serve", "--port", str(port)),
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=(work / "server.log").open("wb"),
            )
            try:
                await _measure(f"127.0.0.1:{port}", server.pid, carol, tokens)
            finally:
                server.terminate()
                try:
                    await asyncio.wait_for(server.wait(), 10)
                except TimeoutError:
                    server.kill()


async def _measure(address: str, pid: int, carol: str, tokens: list[str]) -> None:
    async with httpx.AsyncClient(base_url=f"http://{address}", timeout=30) as http:
        for _ in range(300):
            with contextlib.suppress(httpx.TransportError):
                if (await http.get("/readyz")).status_code == 200:
                    break
            await asyncio.sleep(0.1)
        else:
            raise BenchError("the server did not become ready")
        await asyncio.sleep(1)
        idle_before = memory_kib(pid).get("VmRSS", 0)
        clients: list[ClientConnection] = []
        for start in range(0, len(tokens), 100):
            clients += await asyncio.gather(
                *(_subscribe(f"ws://{address}/graphql", t) for t in tokens[start : start + 100])
            )
        await asyncio.sleep(2)  # every subscription listening
        idle_after = memory_kib(pid).get("VmRSS", 0)
        per_subscription = (idle_after - idle_before) / len(clients)
        print(
            f"{len(clients):,} idle subscriptions: server RSS {idle_before / 1024:.0f} → "
            f"{idle_after / 1024:.0f} MiB, {per_subscription:.1f} KiB each"
        )

        # Baseline: the same sockets, a protocol ping each, no GraphQL.
        sent = time.perf_counter()
        waits = [asyncio.create_task(_first(client, "pong")) for client in clients]
        await asyncio.gather(*(c.send('{"type": "ping"}') for c in clients))
        pongs = [(at - sent) * 1000 for at in await asyncio.gather(*waits)]

        waits = [asyncio.create_task(_first(client, "next")) for client in clients]
        cpu_before = cpu_seconds(pid)
        answer = await http.post(
            "/graphql", json={"query": POST}, headers={"Authorization": f"Bearer {carol}"}
        )
        committed = time.perf_counter()
        if answer.json()["data"]["postHelpRequest"]["userErrors"]:
            raise BenchError(f"the ask was refused: {answer.text}")
        arrived = await asyncio.wait_for(asyncio.gather(*waits), 120)
        cpu_after = cpu_seconds(pid)
        delays = [(at - committed) * 1000 for at in arrived]
        spread = (max(arrived) - min(arrived)) or 1e-9
        print("\n| ms from … | p50 | p99 | first | last |\n|---|---|---|---|---|")
        print(
            f"| commit to push (match, write, fan out) | {_percentile(delays, 50):.0f} "
            f"| {_percentile(delays, 99):.0f} | {min(delays):.0f} | {max(delays):.0f} |"
        )
        print(
            f"| ping to pong, same sockets (baseline) | {_percentile(pongs, 50):.0f} "
            f"| {_percentile(pongs, 99):.0f} | {min(pongs):.0f} | {max(pongs):.0f} |"
        )
        print(
            f"\ndeliveries/s from first to last push: {len(arrived) / spread:,.0f}; "
            f"server CPU for the ask and its pushes: "
            f"{((cpu_after or 0) - (cpu_before or 0)) * 1000:.0f} ms"
        )
        await asyncio.gather(*(client.close() for client in clients))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/fanout.py", description=__doc__.split("\n")[0])
    parser.add_argument("--subscribers", type=int, default=2000, help="subscribers (2000)")
    parser.add_argument(
        "--database-url",
        help="a PostgreSQL server (a fresh database is made on it) or a new SQLite file; "
        "default: a temporary SQLite file",
    )
    args = parser.parse_args(argv)
    if args.subscribers < 1:
        parser.error("--subscribers ≥ 1")
    try:
        asyncio.run(run(args))
    except BenchError as error:
        print(f"bench/fanout.py: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
