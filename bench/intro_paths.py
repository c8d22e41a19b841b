"""Benchmark intro paths (and degrees of separation) over a large generated network.

    .venv/bin/python bench/intro_paths.py [--members 100000] [--edges-per-member 20]
        [--pairs 1000] [--hub-pairs 100] [--database-url URL [--keep]] [--seed 7]

It generates a network with skewed degrees (preferential attachment: each newcomer ties to
1 to 2·E-1 members chosen in proportion to their degree, so a few members become hubs),
with random helps, intros and last contacts per tie (each connection row holding the
strength at the last contact, as the app writes it; paths decay it to ``NOW``), a few
profiles hidden from some viewers and a few blocks. It loads it into a fresh database — a temporary
SQLite file by default; with a PostgreSQL ``--database-url`` a new database
``rapport_bench_<random>`` on that server, dropped at the end unless ``--keep`` — migrated
with the app's migrations, bulk-loaded (COPY on PostgreSQL, executemany on SQLite) and
analysed. Then it times ``intro_paths`` for random pairs through the domain function and
through GraphQL (the app in-process over httpx's ASGI transport, each viewer signed in with
a token of their own), and ``degree_of_separation`` for batches, and prints percentiles.
Then it counts the answers that taking each end's ``FRONTIER`` strongest ties by their
snapshot (not by their strength now) changed, against a search with no frontier limit.
Timings are reported, never asserted; it stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime as dt
import gc
import math
import random
import secrets
import signal
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: bench/ is sys.path[0], the project is not
    sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
import httpx  # noqa: E402
from sqlalchemy import make_url, text  # noqa: E402
from strawberry import relay  # noqa: E402

from api.app import create_app  # noqa: E402
from api.context import Runtime  # noqa: E402
from api.settings import Settings  # noqa: E402
from domain import migrate  # noqa: E402
from domain.members import sessions  # noqa: E402
from domain.members.models import Visibility  # noqa: E402
from domain.network import paths, strength  # noqa: E402
from domain.store import Store  # noqa: E402

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
WARMUP = 100
BATCH = 20  # members whose degree one call asks for
GRAPHQL_QUERY = """
query($to: ID!) {
  introPaths(to: $to) { strength hops { id handle displayName } brokers { id } }
}
"""


class BenchError(Exception):
    pass


@dataclasses.dataclass
class Network:
    """A generated network: members 1..N, relationships 1..E, blocks."""

    members: int
    edges: list[tuple[int, int]]
    visibility: list[Visibility]  # by member id - 1
    blocks: list[tuple[int, int]]
    degree: list[int]  # by member id
    seconds: float

    def ranked_by_degree(self) -> list[int]:
        return sorted(range(1, self.members + 1), key=lambda m: -self.degree[m])


def generate(members: int, edges_per_member: int, seed: int) -> Network:
    """Grow a network by preferential attachment, reproducibly."""
    started = time.perf_counter()
    rng = random.Random(seed)
    core = min(edges_per_member + 1, members)
    edges = [(a, b) for a in range(1, core + 1) for b in range(a + 1, core + 1)]
    # Each tie's two ends: a uniform draw from it picks members in proportion to degree.
    ends = [member for edge in edges for member in edge]
    for newcomer in range(core + 1, members + 1):
        wanted = min(rng.randint(1, 2 * edges_per_member - 1), newcomer - 1)
        chosen: set[int] = set()
        while len(chosen) < wanted:
            chosen.add(ends[int(rng.random() * len(ends))])
        for old in chosen:
            edges.append((old, newcomer))
            ends.append(old)
            ends.append(newcomer)
    degree = [0] * (members + 1)
    for member in ends:
        degree[member] += 1
    visibility = [_visibility(rng.random()) for _ in range(members)]
    blocks = []
    for _ in range(members // 200):
        blocker, blocked = rng.randint(1, members), rng.randint(1, members)
        if blocker != blocked:
            blocks.append((blocker, blocked))
    return Network(
        members, edges, visibility, sorted(set(blocks)), degree, time.perf_counter() - started
    )


def _visibility(draw: float) -> Visibility:
    if draw < 0.005:
        return Visibility.ONLY_ME
    if draw < 0.025:
        return Visibility.CONNECTIONS
    if draw < 0.075:
        return Visibility.NETWORK
    return Visibility.EVERYONE


@dataclasses.dataclass(frozen=True)
class Tie:
    helps: int
    intros: int
    last_contact: dt.datetime
    strength: float  # at the last contact, as the app writes it; it decays from there


def _ties(network: Network, seed: int) -> Iterator[Tie]:
    """Yield each relationship's history and strength, in the order of ``network.edges``."""
    rng = random.Random(seed + 1)
    for _ in network.edges:
        helps = 0 if rng.random() < 0.6 else 1 + int(rng.expovariate(0.7))
        intros = 0 if rng.random() < 0.85 else 1 + int(rng.expovariate(1.0))
        last_contact = NOW - dt.timedelta(minutes=rng.randrange(0, 720 * 24 * 60))
        yield Tie(
            helps,
            intros,
            last_contact,
            strength.strength(
                help_count=helps, intro_count=intros, last_contact=last_contact, now=last_contact
            ),
        )


# The rows, as tuples in these columns' order (one generator per table).

MEMBER_COLUMNS = (
    "id", "email", "email_key", "password_hash", "handle", "display_name", "headline",
    "help_requests_per_week", "visibility", "location_visibility", "seeks_visibility",
    "gives_visibility", "goals_visibility", "connections_visibility", "search_text",
    "created_at", "updated_at",
)  # fmt: skip
RELATIONSHIP_COLUMNS = (
    "id", "requester_id", "addressee_id", "low_member_id", "high_member_id", "status",
    "requested_at", "responded_at", "connected_at", "help_count", "intro_count",
    "last_interaction_at",
)  # fmt: skip
CONNECTION_COLUMNS = (
    "member_id", "other_id", "relationship_id", "strength", "last_contact_at", "since",
)  # fmt: skip
BLOCK_COLUMNS = ("blocker_id", "blocked_id", "created_at")

Stamp = Callable[[dt.datetime], Any]


def member_rows(network: Network, stamp: Stamp) -> Iterator[tuple[Any, ...]]:
    joined = stamp(NOW - dt.timedelta(days=800))
    for member_id in range(1, network.members + 1):
        handle = f"member_{member_id}"
        shown = network.visibility[member_id - 1].value
        yield (
            member_id, f"{handle}@example.com", f"{handle}@example.com", "-", handle,
            f"Member {member_id}", None, 3, shown, "EVERYONE", "NETWORK", "EVERYONE",
            "NETWORK", "CONNECTIONS", f"{handle} member {member_id}", joined, joined,
        )  # fmt: skip


def relationship_rows(
    network: Network, ties: Iterable[Tie], stamp: Stamp
) -> Iterator[tuple[Any, ...]]:
    for relationship_id, ((low, high), tie) in enumerate(
        zip(network.edges, ties, strict=True), start=1
    ):
        connected = stamp(tie.last_contact - dt.timedelta(days=30))
        yield (
            relationship_id, high, low, low, high, "ACTIVE", connected, connected, connected,
            tie.helps, tie.intros, stamp(tie.last_contact),
        )  # fmt: skip


def connection_rows(
    network: Network, ties: Iterable[Tie], stamp: Stamp
) -> Iterator[tuple[Any, ...]]:
    # Both directions of a tie together, in the order ties were made (as the app writes).
    for relationship_id, ((low, high), tie) in enumerate(
        zip(network.edges, ties, strict=True), start=1
    ):
        since = stamp(tie.last_contact - dt.timedelta(days=30))
        last = stamp(tie.last_contact)
        yield (low, high, relationship_id, tie.strength, last, since)
        yield (high, low, relationship_id, tie.strength, last, since)


def block_rows(network: Network, stamp: Stamp) -> Iterator[tuple[Any, ...]]:
    for blocker, blocked in network.blocks:
        yield (blocker, blocked, stamp(NOW))


def _tables(
    network: Network, seed: int, stamp: Stamp
) -> list[tuple[str, tuple[str, ...], Iterator[tuple[Any, ...]]]]:
    """Return each table to load, its columns, and its rows (in an order foreign keys allow)."""
    relationships = relationship_rows(network, _ties(network, seed), stamp)
    connections = connection_rows(network, _ties(network, seed), stamp)
    return [
        ("members", MEMBER_COLUMNS, member_rows(network, stamp)),
        ("relationships", RELATIONSHIP_COLUMNS, relationships),
        ("connections", CONNECTION_COLUMNS, connections),
        ("blocks", BLOCK_COLUMNS, block_rows(network, stamp)),
    ]


# Databases


def _async_url(url: str) -> str:
    for plain, driver in (
        ("postgres://", "postgresql+asyncpg://"),
        ("postgresql://", "postgresql+asyncpg://"),
        ("sqlite://", "sqlite+aiosqlite://"),
    ):
        if url.startswith(plain):
            return driver + url[len(plain) :]
    if url.startswith(("postgresql+asyncpg://", "sqlite+aiosqlite://")):
        return url
    raise BenchError("expected a postgresql://… or sqlite:///… URL")


@contextlib.asynccontextmanager
async def fresh_database(given: str | None, work: Path, keep: bool) -> AsyncIterator[str]:
    """Yield the URL of a new, migrated database; drop it afterwards unless kept."""
    if given is None:
        url = f"sqlite+aiosqlite:///{work / 'rapport.db'}"
        await _migrate(url)
        yield url
        return
    url = _async_url(given)
    if url.startswith("sqlite"):
        database = Path(make_url(url).database or "")
        if await asyncio.to_thread(database.is_file):
            raise BenchError(f"{database} exists: give a new SQLite file")
        await _migrate(url)
        yield url
        return
    server = make_url(url)
    name = f"rapport_bench_{secrets.token_hex(4)}"
    url = server.set(database=name).render_as_string(hide_password=False)
    await _on_server(server.render_as_string(hide_password=False), f'CREATE DATABASE "{name}"')
    try:
        await _migrate(url)
        yield url
    finally:
        if keep:
            print(f"kept database {name}")
        else:
            await _on_server(
                server.render_as_string(hide_password=False),
                f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
            )


async def _on_server(url: str, statement: str) -> None:
    admin = Store(url, pool_size=1)
    try:
        async with admin.engine.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            await autocommit.execute(text(statement))
    finally:
        await admin.dispose()


async def _migrate(url: str) -> None:
    store = Store(url, pool_size=1)
    try:
        await migrate.upgrade(store.engine)
    finally:
        await store.dispose()


@dataclasses.dataclass(frozen=True)
class Loaded:
    rows: dict[str, int]
    load_seconds: float
    analyze_seconds: float


async def load(url: str, network: Network, seed: int) -> Loaded:
    """Bulk-load the network into a migrated database, then refresh its statistics."""
    if url.startswith("sqlite"):
        return await asyncio.to_thread(_load_sqlite, make_url(url).database or "", network, seed)
    return await _load_postgres(url, network, seed)


async def _load_postgres(url: str, network: Network, seed: int) -> Loaded:
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(dsn)
    try:
        started = time.perf_counter()
        # The generator keeps every reference whole: skip the per-row foreign-key triggers.
        with contextlib.suppress(asyncpg.InsufficientPrivilegeError):
            await connection.execute("SET session_replication_role = replica")

        def stamp(moment: dt.datetime) -> dt.datetime:
            return moment

        rows = {}
        for table, columns, records in _tables(network, seed, stamp):
            status = await connection.copy_records_to_table(
                table, records=records, columns=list(columns)
            )
            rows[table] = int(status.split()[-1])
        for table in ("members", "relationships"):
            await connection.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT max(id) FROM {table}))"
            )
        loaded = time.perf_counter()
        # VACUUM too: index-only scans need the visibility map a fresh table lacks.
        await connection.execute("VACUUM ANALYZE")
        return Loaded(rows, loaded - started, time.perf_counter() - loaded)
    finally:
        await connection.close()


def _load_sqlite(path: str, network: Network, seed: int) -> Loaded:
    connection = sqlite3.connect(path)
    try:
        started = time.perf_counter()
        connection.execute("PRAGMA synchronous=OFF")

        def stamp(moment: dt.datetime) -> str:
            # How SQLAlchemy stores a UTC timestamp on SQLite.
            return moment.astimezone(dt.UTC).replace(tzinfo=None).isoformat(sep=" ")

        rows = {}
        with connection:
            for table, columns, records in _tables(network, seed, stamp):
                marks = ", ".join("?" * len(columns))
                cursor = connection.executemany(
                    f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", records
                )
                rows[table] = cursor.rowcount
        loaded = time.perf_counter()
        connection.execute("ANALYZE")
        return Loaded(rows, loaded - started, time.perf_counter() - loaded)
    finally:
        connection.close()


# Measuring


@dataclasses.dataclass(frozen=True)
class Timings:
    name: str
    milliseconds: list[float]
    note: str = ""

    def percentile(self, share: float) -> float:
        ordered = sorted(self.milliseconds)
        return ordered[min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1)]

    def row(self) -> str:
        if not self.milliseconds:
            return f"| {self.name} | 0 | – | – | – | – | – |"
        figures = [
            statistics.fmean(self.milliseconds),
            *(self.percentile(share) for share in (0.5, 0.95, 0.99)),
            max(self.milliseconds),
        ]
        shown = " | ".join(f"{figure:.2f}" for figure in figures)
        return f"| {self.name} | {len(self.milliseconds)} | {shown} |"


def random_pairs(
    rng: random.Random, count: int, viewers: Sequence[int], members: int
) -> list[tuple[int, int]]:
    pairs: list[tuple[int, int]] = []
    while len(pairs) < count:
        viewer, target = rng.choice(viewers), rng.randint(1, members)
        if viewer != target:
            pairs.append((viewer, target))
    return pairs


async def _timed(calls: Iterable[Callable[[], Awaitable[Any]]]) -> tuple[list[float], list[Any]]:
    spent, answers = [], []
    for call in calls:
        started = time.perf_counter()
        answers.append(await call())
        spent.append((time.perf_counter() - started) * 1000)
    return spent, answers


async def measure_domain(
    store: Store, pairs: Sequence[tuple[int, int]]
) -> tuple[list[float], list[list[paths.IntroPathView]]]:
    def call(viewer: int, target: int) -> Callable[[], Awaitable[list[paths.IntroPathView]]]:
        async def run() -> list[paths.IntroPathView]:
            async with store.reader() as session:
                return await paths.intro_paths(session, viewer_id=viewer, target_id=target, now=NOW)

        return run

    return await _timed(call(viewer, target) for viewer, target in pairs)


async def measure_degrees(
    store: Store, batches: Sequence[tuple[int, list[int]]]
) -> tuple[list[float], list[dict[int, int | None]]]:
    def call(viewer: int, members: list[int]) -> Callable[[], Awaitable[dict[int, int | None]]]:
        async def run() -> dict[int, int | None]:
            async with store.reader() as session:
                return await paths.degree_of_separation(session, viewer, members)

        return run

    return await _timed(call(viewer, members) for viewer, members in batches)


async def measure_graphql(
    url: str, work: Path, pairs: Sequence[tuple[int, int]], warmup: Sequence[tuple[int, int]]
) -> tuple[list[float], int]:
    """Time introPaths over HTTP to the app in-process, each viewer with a token of their own."""
    settings = Settings(
        database_url=url,
        var_dir=work / "var",
        db_pool_size=5,
        graphiql=False,
        playground_assets_dir=work / "var" / "graphiql",
        access_token_ttl=dt.timedelta(hours=6),
    )
    runtime = Runtime.create(settings, clock=lambda: NOW)
    app = create_app(settings, runtime)
    tokens: dict[int, str] = {}
    async with runtime.store.transaction() as tx:
        for viewer in {viewer for viewer, _ in [*warmup, *pairs]}:
            grant = await sessions.start_session(
                tx, member_id=viewer, ttl=settings.refresh_token_ttl
            )
            tokens[viewer], _ = runtime.tokens.issue(member_id=viewer, session_id=grant.session_id)
        await tx.commit()
    failures = 0
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:

            def call(viewer: int, target: int) -> Callable[[], Awaitable[bool]]:
                async def run() -> bool:
                    response = await client.post(
                        "/graphql",
                        json={
                            "query": GRAPHQL_QUERY,
                            "variables": {"to": relay.to_base64("Member", target)},
                        },
                        headers={"Authorization": f"Bearer {tokens[viewer]}"},
                    )
                    body = response.json()
                    return response.status_code == 200 and "errors" not in body

                return run

            await _timed(call(viewer, target) for viewer, target in warmup)
            spent, answers = await _timed(call(viewer, target) for viewer, target in pairs)
            failures = answers.count(False)
    finally:
        await runtime.store.dispose()
    return spent, failures


async def measure_frontier_proxy(
    store: Store, pairs: Sequence[tuple[int, int]], found: Sequence[list[paths.IntroPathView]]
) -> tuple[list[float], Counter[str]]:
    """Search the pairs again with no frontier limit; count how the answers differ.

    The 3-hop search takes each end's ``FRONTIER`` strongest ties by their snapshot, not by
    their strength now: this tells what that costs the answers (and the search without it).
    """
    limited = paths.FRONTIER
    paths.FRONTIER = 10**9
    paths._candidates.cache_clear()  # the statements are built with the frontier in them
    try:
        spent, exact = await measure_domain(store, pairs)
    finally:
        paths.FRONTIER = limited
        paths._candidates.cache_clear()
    compared: Counter[str] = Counter()
    for got, wanted in zip(found, exact, strict=True):
        if [p.member_ids for p in got] == [p.member_ids for p in wanted]:
            compared["same paths"] += 1
        elif [p.strength for p in got] == [p.strength for p in wanted]:
            compared["other paths, as strong"] += 1
        elif got and got[0].strength == wanted[0].strength:
            compared["same best strength, weaker others"] += 1
        else:
            compared["weaker best path"] += 1
    return spent, compared


def _outcomes(found: Sequence[Sequence[paths.IntroPathView]]) -> Counter[str]:
    return Counter(
        f"shortest {min(path.hops for path in answer)} hop(s)" if answer else "no path"
        for answer in found
    )


def _by_outcome(
    spent: Sequence[float], found: Sequence[Sequence[paths.IntroPathView]], prefix: str
) -> list[Timings]:
    groups: dict[str, list[float]] = {}
    for milliseconds, answer in zip(spent, found, strict=True):
        key = f"shortest {min(p.hops for p in answer)}" if answer else "no path ≤ 3 hops"
        groups.setdefault(key, []).append(milliseconds)
    return [Timings(f"{prefix}: {key}", groups[key]) for key in sorted(groups)]


async def run(args: argparse.Namespace) -> None:
    print(f"generating {args.members} members, ~{args.members * args.edges_per_member} ties …")
    network = generate(args.members, args.edges_per_member, args.seed)
    degrees = sorted(network.degree[1:])
    print(
        f"generated {len(network.edges)} relationships in {network.seconds:.1f} s; degree "
        f"median {statistics.median(degrees):.0f}, mean {statistics.fmean(degrees):.1f}, "
        f"p99 {degrees[int(0.99 * len(degrees))]}, max {degrees[-1]}; "
        f"{len(network.blocks)} blocks"
    )
    rng = random.Random(args.seed + 2)
    everyone = range(1, network.members + 1)
    hubs = network.ranked_by_degree()[: max(1, network.members // 1000)]
    warmup = random_pairs(rng, WARMUP, everyone, network.members)
    pairs = random_pairs(rng, args.pairs, everyone, network.members)
    hub_pairs = random_pairs(rng, args.hub_pairs, hubs, network.members)
    batches = [
        (viewer, [rng.randint(1, network.members) for _ in range(BATCH)])
        for viewer, _ in [*pairs, *hub_pairs]
    ]
    with tempfile.TemporaryDirectory(prefix="rapport-bench-") as temp:
        work = Path(temp)
        async with fresh_database(args.database_url, work, args.keep) as url:
            shown = make_url(url).render_as_string(hide_password=True)
            print(f"database: {shown}")
            loaded = await load(url, network, args.seed)
            # Millions of generated objects would make each full garbage collection cost
            # ~100 ms in the middle of a timing: drop them, freeze the rest.
            network.edges.clear()
            gc.collect()
            gc.freeze()
            print(
                f"loaded {loaded.rows} in {loaded.load_seconds:.1f} s; "
                f"{'VACUUM ANALYZE' if 'postgresql' in url else 'ANALYZE'} "
                f"{loaded.analyze_seconds:.1f} s; in-memory structures: none (SQL only)"
            )
            store = Store(url, pool_size=2)
            try:
                await measure_domain(store, warmup)
                spent, found = await measure_domain(store, pairs)
                hub_spent, hub_found = await measure_domain(store, hub_pairs)
                degree_spent, degree_found = await measure_degrees(store, batches)
                exact_spent, proxy = await measure_frontier_proxy(store, pairs, found)
                hub_exact_spent, hub_proxy = await measure_frontier_proxy(
                    store, hub_pairs, hub_found
                )
            finally:
                await store.dispose()
            graphql_spent, failures = await measure_graphql(url, work, pairs, warmup)
    separation = Counter(
        "none" if degree is None else str(degree)
        for answer in degree_found[: len(pairs)]
        for degree in answer.values()
    )
    print(
        f"\nintro_paths(maxHops 3, first 5), {args.pairs} random pairs after {WARMUP} warm-up; "
        f"hub pairs: viewer among the {len(hubs)} best-connected members"
    )
    print("| measured | calls | mean ms | p50 | p95 | p99 | max |")
    print("|---|---|---|---|---|---|---|")
    for timings in [
        Timings("domain intro_paths", spent),
        *_by_outcome(spent, found, "  domain"),
        Timings("domain intro_paths, hub viewers", hub_spent),
        Timings("GraphQL introPaths (in-process HTTP)", graphql_spent),
        Timings(f"domain degree_of_separation ({BATCH} members)", degree_spent[: len(pairs)]),
        Timings("  the same, hub viewers", degree_spent[len(pairs) :]),
        Timings("domain intro_paths, no frontier limit", exact_spent),
        Timings("  the same, hub viewers", hub_exact_spent),
    ]:
        print(timings.row())
    print(f"\nrandom pairs: {dict(sorted(_outcomes(found).items()))}")
    print(f"hub pairs: {dict(sorted(_outcomes(hub_found).items()))}")
    print(f"degrees of separation: {dict(sorted(separation.items()))}")
    print(
        f"frontier of {paths.FRONTIER} by snapshot vs none, random pairs: {dict(proxy)}; "
        f"hub pairs: {dict(hub_proxy)}"
    )
    if failures:
        print(f"GraphQL requests that failed: {failures}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bench/intro_paths.py", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--members", type=int, default=100_000, help="members (100000)")
    parser.add_argument(
        "--edges-per-member", type=int, default=20, help="ties each newcomer makes on average (20)"
    )
    parser.add_argument("--pairs", type=int, default=1000, help="random pairs timed (1000)")
    parser.add_argument(
        "--hub-pairs", type=int, default=100, help="pairs whose viewer is a hub (100)"
    )
    parser.add_argument(
        "--database-url",
        help="a PostgreSQL server (a fresh database is made on it) or a new SQLite file; "
        "default: a temporary SQLite file",
    )
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL database")
    parser.add_argument("--seed", type=int, default=7, help="random seed (7)")
    args = parser.parse_args(argv)
    if args.members < 2 or args.edges_per_member < 1 or args.pairs < 1 or args.hub_pairs < 0:
        parser.error("--members ≥ 2, --edges-per-member ≥ 1, --pairs ≥ 1, --hub-pairs ≥ 0")

    def interrupt(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, interrupt)
    try:
        asyncio.run(run(args))
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    except BenchError as error:
        print(f"bench: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
