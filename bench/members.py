"""Benchmark the members search page: the GraphQL app against a plain Starlette baseline.

    .venv/bin/python bench/members.py [--members 2000] [--seconds 10] [--concurrency 16]
                                      [--database-url URL [--reset]]

It loads N seeded members into a fresh SQLite database in a temporary directory (or the
given database), starts the app (``python -m api serve``) and the baseline
(``python -m bench.plain``) as one-worker uvicorn processes on free loopback ports, drives
each with C concurrent keep-alive clients for --seconds, counts the SQL statements each
page costs in-process, and prints a table. Timings are reported, never asserted: it exits 0
whenever it ran. The servers are stopped on exit, on Ctrl-C and on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Coroutine, Iterator
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: bench/ is sys.path[0], the project is not
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import orjson  # noqa: E402
from sqlalchemy import event, func, inspect, make_url, select, text  # noqa: E402

from api.app import create_app  # noqa: E402
from api.context import Runtime  # noqa: E402
from api.settings import Settings, SettingsError  # noqa: E402
from bench import load, seed  # noqa: E402
from domain import migrate  # noqa: E402
from domain.members.models import Member  # noqa: E402
from domain.store import Store  # noqa: E402

T = TypeVar("T")

HOST = "127.0.0.1"
PAGE_SIZE = 20
SEARCH = """query Search($tags: [String!], $first: Int) {
  searchMembers(tags: $tags, first: $first) {
    totalCount
    nodes { handle displayName headline skills { slug label } }
  }
}"""
VIEWER = "query Viewer { viewer { handle skills { slug } } }"
CARD = """query Cards($tags: [String!], $first: Int) {
  searchMembers(tags: $tags, first: $first) {
    totalCount
    nodes {
      handle displayName headline
      skills { slug label } interests { slug label }
      gives { tag { slug } monthlyCapacity }
    }
  }
}"""
TEXT_SEARCH = """query Text($query: String, $first: Int) {
  searchMembers(query: $query, first: $first) {
    totalCount
    nodes { handle displayName headline skills { slug label } }
  }
}"""
SIGN_UP = """mutation SignUp($input: SignUpInput!) {
  signUp(input: $input) { accessToken userErrors { field code message } }
}"""
UPDATE_PROFILE = """mutation Update($input: UpdateProfileInput!) {
  updateProfile(input: $input) { member { handle } userErrors { field code message } }
}"""
VIEWER_PASSWORD = "quiet harbour lanterns at dusk"
GRAPHQL_HEADERS = {
    "content-type": "application/json",
    "accept": "application/graphql-response+json",
}
# Sign-up and the login decoy hash use argon2 at 64 MiB by default, which would dominate
# the servers' peak memory; the page under test never hashes anything.
CHEAP_ARGON2 = {"ARGON2_TIME_COST": "1", "ARGON2_MEMORY_KIB": "1024", "ARGON2_PARALLELISM": "1"}


class BenchError(Exception):
    """The benchmark could not run (not a slow result: those are only reported)."""


@dataclasses.dataclass(frozen=True)
class Probe:
    """A request whose SQL statements are counted in-process."""

    name: str
    body: bytes
    authorized: bool = False


@dataclasses.dataclass(frozen=True)
class Counted:
    name: str
    statements: int
    begins: int
    first_request: int
    median_ms: float
    sql: list[str]


@dataclasses.dataclass
class Server:
    """A server process this benchmark started, and where it writes its output."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class Servers:
    """Starts server processes and stops every one of them on the way out."""

    def __init__(self) -> None:
        self.started: list[Server] = []

    def __enter__(self) -> Servers:
        return self

    def __exit__(self, *_exc: object) -> None:
        for server in reversed(self.started):
            server.stop()

    def start(self, name: str, command: list[str], env: dict[str, str], log: Path) -> Server:
        port = _free_port()
        command = [part.replace("{port}", str(port)) for part in command]
        with log.open("wb") as output:
            process = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT
            )
        server = Server(name, process, port, log)
        self.started.append(server)
        return server


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _interrupt)
    try:
        return _run(args)
    except KeyboardInterrupt:
        print("\ninterrupted: servers stopped", file=sys.stderr)
        return 130
    except BenchError as error:
        print(f"bench: {error}", file=sys.stderr)
        return 1


def _interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/members.py",
        description="Throughput and latency of the searchMembers page, GraphQL vs plain.",
    )
    parser.add_argument("--members", type=int, default=2000, help="members to load (2000)")
    parser.add_argument("--seconds", type=float, default=10, help="per scenario (10)")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight (16)")
    parser.add_argument(
        "--max-requests", type=int, default=200_000, help="per scenario, at most (200000)"
    )
    parser.add_argument("--warmup", type=float, default=2, help="seconds before each (2)")
    parser.add_argument(
        "--database-url",
        help="use this database instead of a temporary SQLite file; it must hold no members "
        "unless --reset is given",
    )
    parser.add_argument(
        "--reset",
        action="store_true",
        help="with --database-url: drop and recreate PostgreSQL's public schema (or delete "
        "the SQLite file) first",
    )
    parser.add_argument(
        "--no-analyze",
        action="store_true",
        help="on PostgreSQL, skip ANALYZE after loading (plans without statistics)",
    )
    parser.add_argument(
        "--db-pool-size", type=int, help="DB_POOL_SIZE for both servers (default: the app's)"
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed of the data (1)")
    parser.add_argument("--tag", help="the tag the page asks for (default: the most common)")
    parser.add_argument("--show-sql", action="store_true", help="print each probe's statements")
    args = parser.parse_args(argv)
    if args.members < 1 or args.concurrency < 1 or args.seconds <= 0 or args.max_requests < 1:
        parser.error("--members, --concurrency, --max-requests and --seconds must be positive")
    if args.reset and not args.database_url:
        parser.error("--reset only applies to --database-url (the default database is new)")
    return args


def _run(args: argparse.Namespace) -> int:
    with (
        tempfile.TemporaryDirectory(prefix="rapport-bench-") as temp,
        Servers() as servers,
    ):
        work = Path(temp)
        url = _database_url(args.database_url, work)
        sqlite = url.startswith("sqlite")
        print(f"code: {_code_version()}; database: {make_url(url).render_as_string()}")
        if args.reset and sqlite and (database := make_url(url).database):
            for suffix in ("", "-wal", "-shm"):
                Path(database + suffix).unlink(missing_ok=True)
        seeded = _run_async(_prepare(url, args))
        tag = args.tag or seeded.common_tag
        print(
            f"loaded {seeded.members} members, {seeded.tags} tags, "
            f"{seeded.member_tags} member tags, {seeded.gives} gives in {seeded.seconds:.1f} s; "
            f"tag {tag!r} is on {seeded.common_tag_matches if not args.tag else '?'} "
            "visible profiles"
        )
        pool_size = args.db_pool_size or Settings().db_pool_size
        jwt_secret = secrets.token_urlsafe(48)
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "VAR_DIR": str(work / "var"),
            "LOG_LEVEL": "WARNING",
            "LOG_FORMAT": "text",
            "JWT_SECRET": jwt_secret,
            "JWT_ACCESS_TOKEN_TTL_SECONDS": "86400",
            "DB_POOL_SIZE": str(pool_size),
            **CHEAP_ARGON2,
        }
        for inherited in ("HOST", "PORT", "RAPPORT_ENV"):
            env.pop(inherited, None)
        graphql = servers.start(
            "graphql",
            [sys.executable, "-m", "api", "serve", "--host", HOST, "--port", "{port}"],
            env,
            work / "graphql.log",
        )
        plain = servers.start(
            "plain",
            [
                sys.executable,
                "-m",
                "bench.plain",
                "--host",
                HOST,
                "--port",
                "{port}",
                "--database-url",
                url,
                "--pool-size",
                str(pool_size),
            ],
            env,
            work / "plain.log",
        )
        report = _run_async(
            _measure(args, graphql, plain, tag=tag, url=url, work=work, jwt_secret=jwt_secret)
        )
        memory = {server.name: load.memory_kib(server.process.pid) for server in (graphql, plain)}
        _print_report(args, seeded, tag, sqlite, pool_size, report, memory)
        for server in (graphql, plain):
            problems = [
                line
                for line in server.log_tail(200).splitlines()
                if "Traceback" in line or "ERROR" in line or "WARNING" in line
            ]
            if problems:
                print(f"\n{server.name} server logged {len(problems)} warnings/errors, e.g.:")
                print("  " + problems[0][:300])
    return 0


def _run_async(main: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on uvloop when it is installed: the load generator needs the speed."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


def _code_version() -> str:
    """Return the commit measured, marked when the working tree has changes on top of it."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return "unknown"
    return f"{commit or 'unknown'}{' + uncommitted changes' if changed else ''}"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def _database_url(given: str | None, work: Path) -> str:
    if given is None:
        return f"sqlite+aiosqlite:///{work / 'rapport.db'}"
    try:
        return Settings.from_env({"DATABASE_URL": given, "VAR_DIR": str(work)}).database_url
    except SettingsError as error:
        raise BenchError(str(error)) from None


async def _prepare(url: str, args: argparse.Namespace) -> seed.Seeded:
    store = Store(url, pool_size=1)
    try:
        if args.reset and store.dialect == "postgresql":
            async with store.engine.begin() as connection:
                await connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
                await connection.execute(text("CREATE SCHEMA public"))
        async with store.engine.connect() as connection:
            has_members = await connection.run_sync(
                lambda sync: inspect(sync).has_table(Member.__tablename__)
            )
            existing = (
                await connection.scalar(select(func.count()).select_from(Member))
                if has_members
                else 0
            )
        if existing:
            raise BenchError(
                f"the database already holds {existing} members: pass --reset to start over"
            )
        await migrate.upgrade(store.engine)
        seeded = await seed.populate(store, members=args.members, seed=args.seed)
        if store.dialect == "postgresql" and not args.no_analyze:
            # Autovacuum would have gathered statistics by now on a live database; without
            # them the planner joins the search's subqueries with a quadratic nested loop.
            async with store.engine.begin() as connection:
                await connection.execute(text("ANALYZE"))
        return seeded
    finally:
        await store.dispose()


@dataclasses.dataclass(frozen=True)
class Report:
    runs: list[load.Run]
    counted: list[Counted]
    same_page: bool | None


async def _measure(
    args: argparse.Namespace,
    graphql: Server,
    plain: Server,
    *,
    tag: str,
    url: str,
    work: Path,
    jwt_secret: str,
) -> Report:
    limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=None)
    async with (
        httpx.AsyncClient(
            base_url=graphql.url, limits=limits, timeout=30, trust_env=False
        ) as graphql_client,
        httpx.AsyncClient(
            base_url=plain.url, limits=limits, timeout=30, trust_env=False
        ) as plain_client,
    ):
        await asyncio.gather(_wait_ready(graphql, graphql_client), _wait_ready(plain, plain_client))
        token = await _sign_up_viewer(graphql_client)
        search_body = _graphql_body(SEARCH, {"tags": [tag], "first": PAGE_SIZE})
        counted = await _count_statements(
            url,
            work,
            jwt_secret,
            token,
            [
                Probe(f"searchMembers first={PAGE_SIZE}", search_body),
                Probe("searchMembers first=5", _graphql_body(SEARCH, {"tags": [tag], "first": 5})),
                Probe(
                    "searchMembers first=100", _graphql_body(SEARCH, {"tags": [tag], "first": 100})
                ),
                Probe(
                    "search + interests, gives",
                    _graphql_body(CARD, {"tags": [tag], "first": PAGE_SIZE}),
                ),
                Probe(
                    "searchMembers(query:)",
                    _graphql_body(
                        TEXT_SEARCH, {"query": tag.replace("-", " "), "first": PAGE_SIZE}
                    ),
                ),
                Probe("viewer (signed in)", _graphql_body(VIEWER, {}), authorized=True),
            ],
            show_sql=args.show_sql,
        )
        plain_path = f"/search?tag={tag}&first={PAGE_SIZE}"
        same_page = await _same_page(graphql_client, plain_client, search_body, plain_path)
        viewer_headers = {**GRAPHQL_HEADERS, "authorization": f"Bearer {token}"}
        viewer_body = _graphql_body(VIEWER, {})

        async def graphql_search() -> bool:
            return _ok(
                await graphql_client.post("/graphql", content=search_body, headers=GRAPHQL_HEADERS)
            )

        async def plain_search() -> bool:
            return _ok(await plain_client.get(plain_path))

        async def graphql_viewer() -> bool:
            return _ok(
                await graphql_client.post("/graphql", content=viewer_body, headers=viewer_headers)
            )

        print(HEADER)
        runs = []
        for name, send, server in (
            ("graphql searchMembers", graphql_search, graphql),
            ("plain search", plain_search, plain),
            ("graphql viewer", graphql_viewer, graphql),
        ):
            for seconds in (args.warmup, args.seconds):  # warm up, then measure
                if seconds <= 0:
                    continue
                run = await load.drive(
                    name,
                    send,
                    concurrency=args.concurrency,
                    seconds=seconds,
                    max_requests=args.max_requests,
                    server_pid=server.process.pid,
                )
            print(f"  {_row(run)}", flush=True)
            runs.append(run)
        return Report(runs, counted, same_page)


def _ok(response: httpx.Response) -> bool:
    return response.status_code == 200 and b'"errors"' not in response.content


def _graphql_body(query: str, variables: dict[str, Any]) -> bytes:
    return orjson.dumps({"query": query, "variables": variables})


async def _wait_ready(server: Server, client: httpx.AsyncClient, within: float = 60) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise BenchError(
                f"the {server.name} server exited with {server.process.returncode}:\n"
                f"{server.log_tail()}"
            )
        with contextlib.suppress(httpx.HTTPError):
            if (await client.get("/readyz")).status_code == 200:
                return
        await asyncio.sleep(0.1)
    raise BenchError(f"the {server.name} server was not ready in {within:.0f} s")


async def _sign_up_viewer(client: httpx.AsyncClient) -> str:
    """Sign up one member through the API and give them skills; return their access token."""
    response = await client.post(
        "/graphql",
        headers=GRAPHQL_HEADERS,
        content=_graphql_body(
            SIGN_UP,
            {
                "input": {
                    "email": "bench.viewer@example.com",
                    "password": VIEWER_PASSWORD,
                    "displayName": "Bench Viewer",
                    "handle": "bench_viewer",
                }
            },
        ),
    )
    payload = _data(response, "signUp")
    token = payload.get("accessToken")
    if not isinstance(token, str):
        raise BenchError(f"signUp gave no token: {payload.get('userErrors')}")
    response = await client.post(
        "/graphql",
        headers={**GRAPHQL_HEADERS, "authorization": f"Bearer {token}"},
        content=_graphql_body(
            UPDATE_PROFILE, {"input": {"skills": ["Python", "SQL", "Go"], "headline": "Bench"}}
        ),
    )
    if errors := _data(response, "updateProfile").get("userErrors"):
        raise BenchError(f"updateProfile refused: {errors}")
    return token


def _data(response: httpx.Response, field: str) -> dict[str, Any]:
    body = response.json()
    if response.status_code != 200 or body.get("errors") or not body.get("data"):
        raise BenchError(f"{field} failed with {response.status_code}: {response.text[:500]}")
    result: dict[str, Any] = body["data"][field]
    return result


async def _same_page(
    graphql_client: httpx.AsyncClient, plain_client: httpx.AsyncClient, body: bytes, path: str
) -> bool | None:
    """Tell whether both servers answer the same page (None when one of them failed)."""
    graphql = await graphql_client.post("/graphql", content=body, headers=GRAPHQL_HEADERS)
    plain = await plain_client.get(path)
    if not (_ok(graphql) and _ok(plain)):
        return None
    return bool(graphql.json()["data"] == plain.json()["data"])


class _Statements:
    """Counts the statements an engine sends while ``on``."""

    def __init__(self) -> None:
        self.on = False
        self.seen: list[str] = []

    def __call__(self, *args: Any) -> None:
        if self.on:
            self.seen.append(" ".join(str(args[2]).split()))

    @contextlib.contextmanager
    def counting(self) -> Iterator[list[str]]:
        self.seen, self.on = [], True
        try:
            yield self.seen
        finally:
            self.on = False


async def _count_statements(
    url: str, work: Path, jwt_secret: str, token: str, probes: list[Probe], *, show_sql: bool
) -> list[Counted]:
    """Send each probe to an in-process app and count the SQL it runs (the second time)."""
    settings = Settings(
        database_url=url,
        var_dir=work / "in-process",
        jwt_secret=jwt_secret,
        db_pool_size=2,
        argon2_time_cost=1,
        argon2_memory_kib=1024,
        argon2_parallelism=1,
        playground_assets_dir=work / "in-process" / "graphiql",
    )
    runtime = Runtime.create(settings)
    statements = _Statements()
    engine = runtime.store.engine.sync_engine
    event.listen(engine, "before_cursor_execute", statements)
    counted = []
    try:
        app = create_app(settings, runtime)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench.test") as client:
            for probe in probes:
                headers = dict(GRAPHQL_HEADERS)
                if probe.authorized:
                    headers["authorization"] = f"Bearer {token}"

                async def send(probe: Probe = probe, headers: dict[str, str] = headers) -> None:
                    response = await client.post("/graphql", content=probe.body, headers=headers)
                    if not _ok(response):
                        raise BenchError(f"{probe.name} failed in-process: {response.text[:500]}")

                with statements.counting() as first:
                    await send()
                with statements.counting() as seen:
                    await send()
                timings = []
                for _ in range(30):
                    started = time.perf_counter()
                    await send()
                    timings.append((time.perf_counter() - started) * 1000)
                counted.append(
                    Counted(
                        name=probe.name,
                        statements=len(seen),
                        begins=sum(sql.upper().startswith("BEGIN") for sql in seen),
                        first_request=len(first),
                        median_ms=statistics.median(timings),
                        sql=list(seen),
                    )
                )
                if show_sql:
                    print(f"-- {probe.name}")
                    for sql in seen:
                        print(f"   {sql[:400]}")
    finally:
        event.remove(engine, "before_cursor_execute", statements)
        await runtime.store.dispose()
    return counted


def _row(run: load.Run) -> str:
    cpu = f"{run.server_cpu:6.0%}" if run.server_cpu is not None else "     ?"
    per_request = run.server_ms_per_request
    cost = f"{per_request:7.2f}" if per_request is not None else "      ?"
    other = f"{run.other_cpu:6.0%}" if run.other_cpu is not None else "     ?"
    return (
        f"{run.name:<22} {run.per_second:7.0f} {run.percentile(50):7.1f} "
        f"{run.percentile(90):7.1f} {run.percentile(99):7.1f} {run.errors:6d} "
        f"{run.requests:8d} {cpu} {cost} {run.client_cpu:6.0%} {other}"
    )


HEADER = (
    f"{'scenario':<22} {'req/s':>7} {'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7} {'errors':>6} "
    f"{'requests':>8} {'server':>6} {'CPU ms':>7} {'client':>6} {'others':>6}"
)


def _print_report(
    args: argparse.Namespace,
    seeded: seed.Seeded,
    tag: str,
    sqlite: bool,
    pool_size: int,
    report: Report,
    memory: dict[str, dict[str, int]],
) -> None:
    print(
        f"\n== {seeded.members} members on {'SQLite' if sqlite else 'PostgreSQL'}, "
        f"concurrency {args.concurrency}, {args.seconds:g} s per scenario, DB pool {pool_size}, "
        f"page = searchMembers(tags: [{tag!r}], first: {PAGE_SIZE}), "
        f"{seeded.common_tag_matches if not args.tag else '?'} matches, {os.cpu_count()} CPUs"
    )
    print(HEADER)
    for run in report.runs:
        print(_row(run))
    by_name = {run.name: run for run in report.runs}
    graphql, plain = by_name["graphql searchMembers"], by_name["plain search"]
    if plain.per_second and graphql.per_second:
        line = (
            f"GraphQL/plain: throughput {graphql.per_second / plain.per_second:.2f}, "
            f"p50 latency x{graphql.percentile(50) / plain.percentile(50):.1f}"
        )
        graphql_cost, plain_cost = graphql.server_ms_per_request, plain.server_ms_per_request
        if graphql_cost and plain_cost:
            line += f", server CPU per request {plain_cost / graphql_cost:.2f} (plain/GraphQL)"
        line += {
            None: "; could not compare the two pages",
            True: "; both answered the same page",
            False: "; the two servers answered DIFFERENT pages",
        }[report.same_page]
        print(line)
    if busy := [run.name for run in report.runs if (run.other_cpu or 0) > 0.15]:
        print(
            f"WARNING: other processes kept CPUs busy during {', '.join(busy)} (others column): "
            "those figures are skewed; run again on a quiet machine"
        )
    if (plain.server_cpu or 0) < 0.9 and (plain.other_cpu or 0) <= 0.15:
        print(
            f"note: the plain server was busy {plain.server_cpu or 0:.0%} of a core, so its "
            "req/s is bound by the load generator (client column); the CPU-per-request ratio "
            "is the fairer comparison"
        )
    print(
        f"\n{'SQL per request (in-process)':<30} {'stmts':>5} {'BEGIN':>5} "
        f"{'1st req':>7} {'in-proc ms':>10}"
    )
    for counted in report.counted:
        print(
            f"{counted.name:<30} {counted.statements:5d} {counted.begins:5d} "
            f"{counted.first_request:7d} {counted.median_ms:10.2f}"
        )
    for name, found in memory.items():
        if found:
            print(
                f"{name} server memory: peak RSS (VmHWM) {found.get('VmHWM', 0) / 1024:.1f} MiB, "
                f"now {found.get('VmRSS', 0) / 1024:.1f} MiB"
            )


if __name__ == "__main__":
    sys.exit(main())
