"""Benchmark the help request feed: the GraphQL app against a plain Starlette baseline.

    .venv/bin/python bench/feed.py [--members 10000] [--requests 10000] [--seconds 10]
                                   [--concurrency 16] [--database-url URL [--reset]]

It loads N seeded members (``bench/seed.py``) and R open public help requests with 1–4
tags and 0–3 offers each into a fresh SQLite database in a temporary directory (or the given
database), starts the app (``python -m api serve``) and the baseline
(``python -m bench.feed_plain``) as one-worker uvicorn processes on free loopback ports,
checks they answer the same page, drives each with C concurrent keep-alive clients for
--seconds, counts the SQL statements the page costs in-process for first=5/20/100, and
prints a table. Timings are reported, never asserted: it exits 0 whenever it ran. The
servers are stopped on exit, on Ctrl-C and on SIGTERM. The process machinery (servers,
statement counting, rows of the table) is ``bench/members.py``'s.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import os
import random
import secrets
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: bench/ is sys.path[0], the project is not
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from sqlalchemy import func, insert, inspect, make_url, select, text  # noqa: E402

from api.settings import Settings  # noqa: E402
from bench import load, seed  # noqa: E402
from bench.members import (  # noqa: E402
    CHEAP_ARGON2,
    GRAPHQL_HEADERS,
    HEADER,
    HOST,
    BenchError,
    Counted,
    Probe,
    Server,
    Servers,
    _code_version,
    _count_statements,
    _database_url,
    _graphql_body,
    _interrupt,
    _ok,
    _row,
    _run_async,
    _wait_ready,
)
from domain import migrate  # noqa: E402
from domain.marketplace.models import HelpRequest, HelpRequestTag, Offer  # noqa: E402
from domain.marketplace.rules import (  # noqa: E402
    AudienceScope,
    HelpRequestKind,
    HelpRequestStatus,
    OfferStatus,
)
from domain.members.models import Member, Tag  # noqa: E402
from domain.store import Store  # noqa: E402

PAGE_SIZE = 20
FEED = """query Feed($first: Int) {
  helpRequests(first: $first) {
    nodes { title author { displayName headline } tags { slug label } }
  }
}"""
TOPICS = (
    "a first look at our pricing page",
    "an intro to a seed investor in climate tech",
    "feedback on a pitch deck",
    "a review of our onboarding flow",
    "help choosing a database for analytics",
    "a mentor for a junior designer",
    "advice on hiring a first engineer",
    "a sanity check of our SEO setup",
)
VERBS = ("Looking for", "Need", "Hoping to find", "Would love")
# Far beyond any run: every seeded request stays open.
EXPIRES = dt.datetime(2099, 1, 1, tzinfo=dt.UTC)


@dataclasses.dataclass(frozen=True)
class SeededRequests:
    requests: int
    request_tags: int
    offers: int


@dataclasses.dataclass(frozen=True)
class SeededFeed:
    members: seed.Seeded
    requests: int
    request_tags: int
    offers: int
    seconds: float


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


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/feed.py",
        description="Throughput and latency of the helpRequests feed, GraphQL vs plain.",
    )
    parser.add_argument("--members", type=int, default=10_000, help="members (10000)")
    parser.add_argument("--requests", type=int, default=10_000, help="help requests (10000)")
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
        help="with --database-url: drop and recreate PostgreSQL's public schema first",
    )
    parser.add_argument(
        "--db-pool-size", type=int, help="DB_POOL_SIZE for both servers (default: the app's)"
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed of the data (1)")
    parser.add_argument("--show-sql", action="store_true", help="print each probe's statements")
    args = parser.parse_args(argv)
    if min(args.members, args.requests, args.concurrency, args.max_requests) < 1 or (
        args.seconds <= 0
    ):
        parser.error("--members, --requests, --concurrency, --max-requests, --seconds: positive")
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
        seeded = _run_async(_prepare(url, args))
        print(
            f"loaded {seeded.members.members} members, {seeded.requests} open public requests, "
            f"{seeded.request_tags} request tags, {seeded.offers} offers in "
            f"{seeded.seconds:.1f} s"
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
                "bench.feed_plain",
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
        runs, counted, same_page = _run_async(
            _measure(args, graphql, plain, url=url, work=work, jwt_secret=jwt_secret)
        )
        print(
            f"\n== {seeded.members.members} members, {seeded.requests} requests on "
            f"{'SQLite' if sqlite else 'PostgreSQL'}, concurrency {args.concurrency}, "
            f"{args.seconds:g} s per scenario, DB pool {pool_size}, "
            f"page = helpRequests(first: {PAGE_SIZE}), {os.cpu_count()} CPUs"
        )
        print(HEADER)
        for run in runs:
            print(_row(run))
        _print_ratio(runs, same_page)
        print(
            f"\n{'SQL per request (in-process)':<30} {'stmts':>5} {'BEGIN':>5} {'in-proc ms':>10}"
        )
        for count in counted:
            print(
                f"{count.name:<30} {count.statements:5d} {count.begins:5d} {count.median_ms:10.2f}"
            )
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


async def _prepare(url: str, args: argparse.Namespace) -> SeededFeed:
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
            if has_members and await connection.scalar(select(func.count()).select_from(Member)):
                raise BenchError("the database already holds members: pass --reset")
        await migrate.upgrade(store.engine)
        started = time.perf_counter()
        members = await seed.populate(store, members=args.members, seed=args.seed)
        requests = await populate_requests(store, count=args.requests, random_seed=args.seed)
        async with store.engine.begin() as connection:
            await connection.execute(text("ANALYZE"))
        return SeededFeed(
            members=members,
            requests=requests.requests,
            request_tags=requests.request_tags,
            offers=requests.offers,
            seconds=time.perf_counter() - started,
        )
    finally:
        await store.dispose()


async def populate_requests(store: Store, *, count: int, random_seed: int) -> SeededRequests:
    """Load ``count`` open public help requests by seeded members, with tags and offers."""
    rng = random.Random(random_seed * 7919)
    async with store.transaction() as tx:
        session = tx.session
        member_ids = list(await session.scalars(select(Member.id).order_by(Member.id)))
        tags = (await session.execute(select(Tag.id, Tag.label).order_by(Tag.id))).all()
        drawn: list[list[Any]] = []
        rows: list[dict[str, Any]] = []
        for index in range(count):
            chosen = rng.sample(tags, rng.randint(1, 4))
            drawn.append(chosen)
            title = f"{rng.choice(VERBS)} {rng.choice(TOPICS)} ({chosen[0].label})"
            details = f"Request {index}: anything about {', '.join(t.label for t in chosen)}."
            created = seed.BASE_TIME - dt.timedelta(seconds=rng.randrange(1, 30_000_000))
            rows.append(
                {
                    "author_id": rng.choice(member_ids),
                    "title": title,
                    "details": details,
                    "kind": rng.choice(list(HelpRequestKind)),
                    "status": HelpRequestStatus.OPEN,
                    "audience_scope": AudienceScope.PUBLIC,
                    "bounty": rng.choice((None, None, 5, 10, 25)),
                    "offers_iou": rng.random() < 0.3,
                    "max_helpers": rng.choice((1, 1, 2, 3)),
                    "accepted_count": 0,
                    "expires_at": EXPIRES,
                    "created_at": created,
                    "updated_at": created,
                    "closed_at": None,
                    "search_text": " ".join([title, details, *(t.label for t in chosen)]),
                }
            )
        table = seed._table
        for chunk in seed._chunks(rows):
            await session.execute(insert(table(HelpRequest)), chunk)
        ids = list(await session.scalars(select(HelpRequest.id).order_by(HelpRequest.id)))
        request_tags: list[dict[str, Any]] = []
        offers: list[dict[str, Any]] = []
        for request_id, row, chosen in zip(ids, rows, drawn, strict=True):
            request_tags.extend(
                {"help_request_id": request_id, "tag_id": tag.id, "position": position}
                for position, tag in enumerate(chosen)
            )
            for _ in range(rng.randint(0, 3)):
                helper = rng.choice(member_ids)
                if helper == row["author_id"]:
                    continue
                offers.append(
                    {
                        "help_request_id": request_id,
                        "helper_id": helper,
                        "message": "Happy to help with this.",
                        "status": OfferStatus.PENDING,
                        "created_at": row["created_at"] + dt.timedelta(hours=1),
                        "responded_at": None,
                        "completed_at": None,
                        "settlement": None,
                        "tip": None,
                        "note": None,
                    }
                )
        for chunk in seed._chunks(request_tags):
            await session.execute(insert(table(HelpRequestTag)), chunk)
        for chunk in seed._chunks(offers):
            await session.execute(insert(table(Offer)), chunk)
        await tx.commit()
    return SeededRequests(requests=len(ids), request_tags=len(request_tags), offers=len(offers))


async def _measure(
    args: argparse.Namespace,
    graphql: Server,
    plain: Server,
    *,
    url: str,
    work: Path,
    jwt_secret: str,
) -> tuple[list[load.Run], list[Counted], bool | None]:
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
        body = _graphql_body(FEED, {"first": PAGE_SIZE})
        plain_path = f"/feed?first={PAGE_SIZE}"
        same_page = await _same_page(graphql_client, plain_client, body, plain_path)
        counted = await _count_statements(
            url,
            work,
            jwt_secret,
            "",
            [
                Probe(f"helpRequests first={first}", _graphql_body(FEED, {"first": first}))
                for first in (5, PAGE_SIZE, 100)
            ],
            show_sql=args.show_sql,
        )

        async def graphql_feed() -> bool:
            return _ok(await graphql_client.post("/graphql", content=body, headers=GRAPHQL_HEADERS))

        async def plain_feed() -> bool:
            return _ok(await plain_client.get(plain_path))

        print(HEADER)
        runs = []
        for name, send, server in (
            ("graphql helpRequests", graphql_feed, graphql),
            ("plain feed", plain_feed, plain),
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
        return runs, counted, same_page


async def _same_page(
    graphql_client: httpx.AsyncClient, plain_client: httpx.AsyncClient, body: bytes, path: str
) -> bool | None:
    """Tell whether both servers answer the same page (None when one of them failed)."""
    graphql = await graphql_client.post("/graphql", content=body, headers=GRAPHQL_HEADERS)
    plain = await plain_client.get(path)
    if not (_ok(graphql) and _ok(plain)):
        return None
    nodes = graphql.json()["data"]["helpRequests"]["nodes"]
    if len(nodes) != PAGE_SIZE or not any(node["tags"] for node in nodes):
        return False  # an empty page would compare equal and measure nothing
    return bool(graphql.json()["data"] == plain.json()["data"])


def _print_ratio(runs: list[load.Run], same_page: bool | None) -> None:
    graphql, plain = runs
    if not (plain.per_second and graphql.per_second):
        print("could not compare the two servers: one answered nothing")
        return
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
    }[same_page]
    print(line)
    if busy := [run.name for run in runs if (run.other_cpu or 0) > 0.15]:
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


if __name__ == "__main__":
    sys.exit(main())
