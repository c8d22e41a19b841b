"""Benchmark matching: a help request posted into a large network, scored and written.

    .venv/bin/python bench/matching.py [--members 100000] [--edges-per-member 20]
        [--requests 200] [--database-url postgresql://postgres@127.0.0.1:5432/postgres]

It grows the same network as ``bench/intro_paths.py`` (preferential attachment, N members,
their relationships and blocks, loaded with COPY on PostgreSQL), gives each member 1–4
skills and 0–2 gives drawn Zipf-weighted from 300 tags, and refreshes the statistics.
Then, one at a time, a random member posts a request with 1–3 tags (half to their network,
half public) through the real command, and the matching handler for its
``help_request.posted`` event runs in its own transaction, as the worker runs it: candidate
SQL, scoring, caps, and the opportunities written, commit included. It prints the time to
post (the user's wait, the baseline) and the time to match, p50/p95/p99, the SQL
statements one match runs, and the opportunities written per request. Then each event is
matched again with every 2nd-degree path read and decayed exactly (no preshortlist; not
committed, timed apart) and the two rankings, before the caps, are compared, as
``bench/intro_paths.py`` compares its frontier with none. Timings are printed, never
asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import dataclasses
import math
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: bench/ is sys.path[0], the project is not
    sys.path.insert(0, str(ROOT))

from sqlalchemy import event, func, insert, select, text  # noqa: E402

from bench.intro_paths import NOW, BenchError, fresh_database, generate, load  # noqa: E402
from domain.events import OutboxEvent  # noqa: E402
from domain.marketplace import requests  # noqa: E402
from domain.marketplace.rules import (  # noqa: E402
    Audience,
    AudienceScope,
    HelpRequestDraft,
    HelpRequestKind,
    MarketPolicy,
)
from domain.matching import signals  # noqa: E402
from domain.matching.models import Opportunity  # noqa: E402
from domain.matching.scoring import CAPS  # noqa: E402
from domain.members.models import Give, MemberTag, Tag, TagKind, TagRole  # noqa: E402
from domain.store import Store  # noqa: E402

TAGS = 300
POLICY = MarketPolicy(max_open_requests=1_000_000)


def _percentile(values: list[float], rank: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(rank / 100 * len(ordered)) - 1)] if ordered else math.nan


def _zipf(rng: random.Random, cumulative: list[float]) -> int:
    return bisect.bisect(cumulative, rng.random() * cumulative[-1])


async def _tag_members(store: Store, members: int, seed: int) -> dict[str, int]:
    """Give every member skills and gives, Zipf-weighted over TAGS tags."""
    rng = random.Random(seed)
    weights = [1 / (rank + 1) ** 0.9 for rank in range(TAGS)]
    cumulative = [sum(weights[: i + 1]) for i in range(TAGS)]
    async with store.transaction() as tx:
        await tx.session.execute(
            insert(Tag),
            [
                {"slug": f"topic-{n}", "label": f"Topic {n}", "kind": TagKind.SKILL}
                | {"created_at": NOW}
                for n in range(TAGS)
            ],
        )
        tag_ids = list(await tx.session.scalars(select(Tag.id).order_by(Tag.id)))
        await tx.commit()
    skills: list[dict[str, Any]] = []
    gives: list[dict[str, Any]] = []
    for member_id in range(1, members + 1):
        chosen = {tag_ids[_zipf(rng, cumulative)] for _ in range(rng.randint(1, 4))}
        skills += [
            {"member_id": member_id, "role": TagRole.SKILL, "tag_id": tag, "position": n}
            for n, tag in enumerate(sorted(chosen))
        ]
        offered = {tag_ids[_zipf(rng, cumulative)] for _ in range(rng.choice((0, 0, 1, 2)))}
        gives += [
            {
                "member_id": member_id,
                "tag_id": tag,
                "description": None,
                "monthly_capacity": 2,
                "created_at": NOW,
            }
            for tag in sorted(offered)
        ]
    tables: tuple[tuple[Any, list[dict[str, Any]]], ...] = ((MemberTag, skills), (Give, gives))
    for table, rows in tables:
        for start in range(0, len(rows), 20_000):
            async with store.transaction() as tx:
                await tx.session.execute(insert(table), rows[start : start + 20_000])
                await tx.commit()
    async with store.engine.connect() as connection:
        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
        await autocommit.execute(text("ANALYZE"))
    return {"member_tags": len(skills), "gives": len(gives)}


async def run(args: argparse.Namespace) -> None:
    print(f"generating {args.members:,} members, ~{args.members * args.edges_per_member:,} ties …")
    network = generate(args.members, args.edges_per_member, args.seed)
    with tempfile.TemporaryDirectory(prefix="rapport-matching-") as work:
        async with fresh_database(args.database_url, Path(work), args.keep) as url:
            loaded = await load(url, network, args.seed)
            store = Store(url, pool_size=2, clock=lambda: NOW)
            try:
                started = time.perf_counter()
                tagged = await _tag_members(store, network.members, args.seed)
                print(
                    f"{store.dialect}: {loaded.rows}, {tagged}; loaded in "
                    f"{loaded.load_seconds + time.perf_counter() - started:.1f} s"
                )
                await _measure(store, network.members, args)
            finally:
                await store.dispose()


async def _measure(store: Store, members: int, args: argparse.Namespace) -> None:
    rng = random.Random(args.seed + 1)
    async with store.reader() as session:
        tags = list(await session.scalars(select(Tag.label).order_by(Tag.id)))
    statements = 0

    def count(*_args: Any) -> None:
        nonlocal statements
        statements += 1

    post_ms: list[float] = []
    match_ms: list[float] = []
    exact_ms: list[float] = []
    written: list[int] = []
    counted: list[int] = []
    compared: Counter[str] = Counter()
    spy = _Spy()
    for n in range(args.requests + 10):
        author = rng.randint(1, members)
        scope = AudienceScope.NETWORK if n % 2 else AudienceScope.PUBLIC
        draft = HelpRequestDraft(
            title=f"Looking for help, request {n}",
            details=None,
            kind=HelpRequestKind.ADVICE,
            tags=rng.sample(tags[:60], rng.randint(1, 3)),
            audience=Audience(scope=scope),
            bounty=None,
            offers_iou=False,
            max_helpers=1,
            expires_at=None,
        )
        started = time.perf_counter()
        async with store.transaction() as tx:
            request = await requests.post_help_request(
                tx, actor_id=author, draft=draft, policy=POLICY
            )
            await tx.commit()
        posted = time.perf_counter()
        async with store.reader() as session:
            outbox = await session.scalar(
                select(OutboxEvent).where(
                    OutboxEvent.type == "help_request.posted",
                    OutboxEvent.payload["help_request_id"].as_integer() == request.id,
                )
            )
        assert outbox is not None
        statements = 0
        event.listen(store.engine.sync_engine, "before_cursor_execute", count)
        matched = time.perf_counter()
        async with store.transaction() as tx:
            await signals.on_help_request_posted(tx, outbox)
            await tx.commit()
        done = time.perf_counter()
        event.remove(store.engine.sync_engine, "before_cursor_execute", count)
        # The same match again with every 2nd-degree path read and decayed exactly (no
        # preshortlist), not committed: what it ranks, and what it costs. The opportunities
        # just written change the caps, not the ranking (stage two counts older ones only).
        limited = spy.take()
        with spy.exact():
            exact_started = time.perf_counter()
            async with store.transaction() as tx:
                await signals.on_help_request_posted(tx, outbox)
            exact_done = time.perf_counter()
        compared[_compare(limited.ranked, spy.take().ranked)] += 1
        if n < 10:
            continue  # warm-up
        post_ms.append((posted - started) * 1000)
        match_ms.append((done - matched) * 1000)
        exact_ms.append((exact_done - exact_started) * 1000)
        counted.append(statements)
        spy.sizes.append((limited.reach, limited.read))
        async with store.reader() as session:
            written.append(
                await session.scalar(
                    select(func.count()).where(Opportunity.subject_id == request.id)
                )
                or 0
            )
    print("\n| ms | p50 | p95 | p99 |\n|---|---|---|---|")
    for name, values in (
        ("post a request (baseline)", post_ms),
        ("match it", match_ms),
        ("… every 2nd-degree path read (not committed)", exact_ms),
    ):
        print(
            f"| {name} | {_percentile(values, 50):.1f} | {_percentile(values, 95):.1f} "
            f"| {_percentile(values, 99):.1f} |"
        )
    print(
        f"\nstatements per match: {min(counted)}–{max(counted)}; opportunities per request: "
        f"median {statistics.median(written):.0f}, max {max(written)}"
    )
    reach = [weighed for weighed, _ in spy.sizes]
    read = [exact for _, exact in spy.sizes]
    print(
        f"2nd degree weighed in SQL: median {statistics.median(reach):.0f}, max {max(reach)}; "
        f"paths read for: median {statistics.median(read):.0f}, max {max(read)}"
    )
    print(f"ranked (top {CAPS.per_signal}) with the preshortlist vs without: {dict(compared)}")


@dataclasses.dataclass
class _Seen:
    ranked: list[tuple[int, float, list[dict[str, Any]]]] = dataclasses.field(default_factory=list)
    reach: int = 0  # 2nd-degree members weighed in SQL
    read: int = 0  # … whose paths were read exactly


class _Spy:
    """What the matching handler ranked (before the caps), and how much of the 2nd degree it
    weighed and read; ``exact()`` turns the preshortlist off (every path read)."""

    def __init__(self) -> None:
        self.seen = _Seen()
        self.sizes: list[tuple[int, int]] = []
        write, reach, matches = (
            getattr(signals, name) for name in ("_write", "second_degree_reach", "network_matches")
        )

        async def spy_write(tx: Any, **kwargs: Any) -> Any:
            self.seen.ranked = [
                (s.member_id, s.score, [r.as_json() for r in s.reasons]) for s in kwargs["scored"]
            ]
            return await write(tx, **kwargs)

        async def spy_reach(session: Any, **kwargs: Any) -> Any:
            found = await reach(session, **kwargs)
            self.seen.reach = len(found)
            return found

        async def spy_matches(session: Any, **kwargs: Any) -> Any:
            among = kwargs.get("among")
            self.seen.read = len(among) if among is not None else -1
            return await matches(session, **kwargs)

        setattr(signals, "_write", spy_write)  # noqa: B010
        setattr(signals, "second_degree_reach", spy_reach)  # noqa: B010
        setattr(signals, "network_matches", spy_matches)  # noqa: B010

    def take(self) -> _Seen:
        seen, self.seen = self.seen, _Seen()
        return seen

    @contextlib.contextmanager
    def exact(self) -> Iterator[None]:
        preshortlist = signals._preshortlist
        setattr(signals, "_preshortlist", lambda reach, *_args, **_kwargs: set(reach))  # noqa: B010
        try:
            yield
        finally:
            setattr(signals, "_preshortlist", preshortlist)  # noqa: B010


def _compare(
    limited: list[tuple[int, float, list[dict[str, Any]]]],
    exact: list[tuple[int, float, list[dict[str, Any]]]],
) -> str:
    if limited == exact:
        return "same"
    if [m for m, _, _ in limited] == [m for m, _, _ in exact]:
        return "same members and order, other scores or reasons"
    if {m for m, _, _ in limited} == {m for m, _, _ in exact}:
        return "same members, other order"
    return "other members"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/matching.py", description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=100_000, help="members (100000)")
    parser.add_argument(
        "--edges-per-member", type=int, default=20, help="ties each newcomer makes (20)"
    )
    parser.add_argument("--requests", type=int, default=200, help="requests timed (200)")
    parser.add_argument(
        "--database-url",
        help="a PostgreSQL server (a fresh database is made on it) or a new SQLite file; "
        "default: a temporary SQLite file",
    )
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL database")
    parser.add_argument("--seed", type=int, default=7, help="random seed (7)")
    args = parser.parse_args(argv)
    if args.members < 100 or args.requests < 1:
        parser.error("--members ≥ 100, --requests ≥ 1")
    try:
        asyncio.run(run(args))
    except BenchError as error:
        print(f"bench/matching.py: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
