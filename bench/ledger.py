"""Benchmark the ledger: concurrent writers moving karma, then every invariant checked.

    .venv/bin/python bench/ledger.py [--writers 16] [--processes CPUS] [--seconds 30]
        [--members 1000] [--baseline-seconds 10]
        [--database-url postgresql://postgres@127.0.0.1:5432/postgres]

(With PostgreSQL on the same machine, its Unix socket costs less CPU per round trip than
loopback TCP: ``postgresql://postgres@/postgres?host=/var/run/postgresql``.)

On a fresh database (a temporary SQLite file, or a new database on the PostgreSQL server
given, dropped afterwards unless --keep), it creates N members with a welcome grant each
and, per writer, a stock of outstanding IOUs. Then W writers (one pooled connection each,
split over --processes processes, one per CPU by default, as API processes would be) run
a random mix for
--seconds, each operation its own transaction through the real
domain code:

- 55 % gifts (``core.transfer``, a fresh key each), 1 in 10 of them for more than the
  sender has (refused: INSUFFICIENT_KARMA);
- 15 % bounty holds (a help request row and its bounty moved into escrow, one transaction);
- 15 % awards or refunds of a held bounty (escrow → helper, or the rest → author);
- 10 % IOU settlements in karma (``ious.settle_iou``);
- 5 % retries of an earlier gift's key (replayed: no new transfer).

It prints transfers/s, operation latency p50/p99, refusals by code, replays, and the CPU
cores the bench processes and the whole machine (database included) kept busy. Then the
same writers run gifts alone for --baseline-seconds (what a transfer costs, without the
mix's request and IOU rows), and a bare baseline as long: the same guarded UPDATEs and
INSERT as raw SQL with no idempotency key or outbox event, which shows what the safety
costs. Last it checks ``domain.ledger.audit.violations`` (conservation, bounds,
cached balance = replay, empty escrows for closed requests, IOU settlements) and that no
member's balance is negative. Timings are reported, never asserted; it exits non-zero only
when an invariant is broken.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import math
import multiprocessing
import os
import random
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, cast

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script: bench/ is sys.path[0], the project is not
    sys.path.insert(0, str(ROOT))

from sqlalchemy import Table, bindparam, func, insert, select, text, update  # noqa: E402

from bench.intro_paths import BenchError, fresh_database  # noqa: E402
from bench.load import machine_busy_seconds  # noqa: E402
from bench.seed import populate  # noqa: E402
from domain.errors import DomainError  # noqa: E402
from domain.ledger import audit, flows, ious  # noqa: E402
from domain.ledger.core import Posting, escrow_account, karma_account, transfer  # noqa: E402
from domain.ledger.models import Account, Iou, IouStatus, TransferReason  # noqa: E402
from domain.ledger.rules import LedgerPolicy  # noqa: E402
from domain.marketplace.models import HelpRequest, Offer  # noqa: E402
from domain.marketplace.rules import (  # noqa: E402
    AudienceScope,
    HelpRequestKind,
    HelpRequestStatus,
    OfferStatus,
    Settlement,
)
from domain.members.models import Member  # noqa: E402
from domain.store import Store  # noqa: E402

WELCOME = 1_000
IOUS_PER_WRITER = 400
NOW = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


@dataclasses.dataclass
class Tally:
    latencies_ms: list[float] = dataclasses.field(default_factory=list)
    transfers: int = 0
    replays: int = 0
    refusals: Counter[str] = dataclasses.field(default_factory=Counter)
    seconds: float = 0.0
    bench_cpu: float = 0.0  # cores this process kept busy (the writers' Python)
    machine_cpu: float | None = None  # cores the whole machine kept busy (database included)

    def percentile(self, rank: float) -> float:
        ordered = sorted(self.latencies_ms)
        if not ordered:
            return math.nan
        return ordered[max(0, math.ceil(rank / 100 * len(ordered)) - 1)]

    def row(self, name: str) -> str:
        rate = self.transfers / self.seconds if self.seconds else 0.0
        refused = sum(self.refusals.values())
        machine = "?" if self.machine_cpu is None else f"{self.machine_cpu:.2f}"
        return (
            f"| {name} | {rate:,.0f} | {self.percentile(50):.2f} / {self.percentile(99):.2f} "
            f"| {len(self.latencies_ms):,} | {refused:,} | {self.replays:,} "
            f"| {self.bench_cpu:.2f} / {machine} |"
        )


class Clocks:
    """CPU time of this process and of the whole machine over a run."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        self.machine = machine_busy_seconds()

    def stop(self, tally: Tally) -> None:
        tally.seconds = time.perf_counter() - self.wall
        tally.bench_cpu = (time.process_time() - self.cpu) / tally.seconds
        machine = machine_busy_seconds()
        if machine is not None and self.machine is not None:
            tally.machine_cpu = (machine - self.machine) / tally.seconds


class Writer:
    """One writer's loop of operations, with the bounties and keys it has in hand."""

    def __init__(
        self, store: Store, members: list[int], ious_owed: list[tuple[int, int]], seed: int
    ) -> None:
        self.store = store
        self.members = members
        self.ious = ious_owed
        self.rng = random.Random(seed)
        self.held: list[tuple[int, int]] = []  # (request id, author)
        self.gift_keys: list[Posting] = []
        self.seq = 0
        self.seed = seed

    async def _tx(self, command: Any) -> Any:
        async with self.store.transaction() as tx:
            result = await command(tx)
            await tx.commit()
        return result

    async def step(self, tally: Tally, *, gifts_only: bool = False) -> None:
        rng = self.rng
        draw = 0.5 if gifts_only else rng.random()
        self.seq += 1
        started = time.perf_counter()
        moved = 1
        try:
            if draw < 0.05 and self.gift_keys:
                await self._tx(lambda tx: transfer(tx, rng.choice(self.gift_keys), alone=True))
                moved, tally.replays = 0, tally.replays + 1
            elif draw < 0.60:
                await self._gift(rng)
            elif draw < 0.75:
                await self._hold(rng)
            elif draw < 0.90 and self.held:
                moved = await self._close(rng)
            elif self.ious:
                iou_id, debtor = self.ious.pop()
                await self._tx(lambda tx: ious.settle_iou(tx, actor_id=debtor, iou_id=iou_id))
            else:
                await self._gift(rng)
        except DomainError as error:
            tally.refusals[error.code.value] += 1
            moved = 0
        tally.latencies_ms.append((time.perf_counter() - started) * 1000)
        tally.transfers += moved

    async def _gift(self, rng: random.Random) -> None:
        source, target = rng.sample(self.members, 2)
        amount = rng.randint(1, 40) if rng.random() > 0.1 else 10 * WELCOME
        posting = Posting(
            key=f"bench:{self.seed}:{self.seq}",
            source=karma_account(source),
            target=karma_account(target),
            amount=amount,
            reason=TransferReason.GIFT,
            actor_id=source,
        )
        if len(self.gift_keys) < 200:
            self.gift_keys.append(posting)
        await self._tx(lambda tx: transfer(tx, posting, alone=True))

    async def _hold(self, rng: random.Random) -> None:
        author = rng.choice(self.members)
        bounty = rng.randint(5, 50)

        async def post(tx: Any) -> int:
            request_id = await tx.session.scalar(
                _POST_REQUEST, _request_row(author, bounty, tx.now)
            )
            await flows.hold_bounty(tx, author_id=author, help_request_id=request_id, bounty=bounty)
            return int(request_id)

        self.held.append((await self._tx(post), author))

    async def _close(self, rng: random.Random) -> int:
        request_id, author = self.held.pop(rng.randrange(len(self.held)))
        helper = rng.choice([m for m in rng.sample(self.members, 2) if m != author])
        award = rng.random() < 0.7

        async def close(tx: Any) -> int:
            # Close the request, holding its row (as completeHelp and cancel do).
            status = HelpRequestStatus.FULFILLED if award else HelpRequestStatus.CANCELLED
            bounty = await tx.session.scalar(
                _CLOSE_REQUEST, {"request_id": request_id, "new_status": status}
            )
            moved = 0
            if award:
                await transfer(
                    tx,
                    Posting(
                        key=f"bounty:{request_id}:award",
                        source=escrow_account(request_id),
                        target=karma_account(helper),
                        amount=bounty,
                        reason=TransferReason.BOUNTY_AWARD,
                        actor_id=author,
                        help_request_id=request_id,
                    ),
                )
                moved += 1
            if await flows.refund_bounty(
                tx, actor_id=author, help_request_id=request_id, author_id=author
            ):
                moved += 1
            return moved

        return int(await self._tx(close))


# The writers' own rows (requests to hold bounties for) are written with statements built
# once, so that the bench's scaffolding costs little beside the ledger it measures.
_REQUESTS = cast(Table, HelpRequest.__table__)
_POST_REQUEST = insert(_REQUESTS).returning(_REQUESTS.c.id)
_CLOSE_REQUEST = (
    update(_REQUESTS)
    .where(_REQUESTS.c.id == bindparam("request_id"))
    .values(status=bindparam("new_status"))
    .returning(_REQUESTS.c.bounty)
)


def _request_row(author: int, bounty: int, now: dt.datetime) -> dict[str, Any]:
    return {
        "author_id": author,
        "title": "A bench request",
        "details": None,
        "kind": HelpRequestKind.ADVICE,
        "status": HelpRequestStatus.OPEN,
        "audience_scope": AudienceScope.PUBLIC,
        "bounty": bounty,
        "offers_iou": True,
        "max_helpers": 1,
        "accepted_count": 0,
        "expires_at": now + dt.timedelta(days=14),
        "created_at": now,
        "updated_at": now,
        "search_text": "A bench request",
    }


async def _seed(
    store: Store, members: int, writers: int, seed: int
) -> tuple[list[int], list[list[tuple[int, int]]]]:
    """Create members with their welcome karma and, per writer, outstanding IOUs."""
    rng = random.Random(seed)
    await populate(store, members=members, seed=seed)
    async with store.reader() as session:
        ids = list(await session.scalars(select(Member.id).order_by(Member.id)))
    for start in range(0, len(ids), 500):
        async with store.transaction() as tx:
            for member_id in ids[start : start + 500]:
                await flows.grant_welcome(tx, member_id=member_id, amount=WELCOME)
            await tx.commit()
    stocks: list[list[tuple[int, int]]] = []
    policy = LedgerPolicy(max_ious_owed=10**6)
    for _ in range(writers):
        stock = []
        async with store.transaction() as tx:
            for _ in range(IOUS_PER_WRITER):
                debtor, creditor = rng.sample(ids, 2)
                request_id = (
                    await tx.session.execute(
                        insert(HelpRequest)
                        .values(**_request_row(debtor, 0, NOW) | {"bounty": None})
                        .returning(HelpRequest.id)
                    )
                ).scalar_one()
                offer_id = await tx.session.scalar(
                    insert(Offer)
                    .values(
                        help_request_id=request_id,
                        helper_id=creditor,
                        status=OfferStatus.COMPLETED,
                        settlement=Settlement.IOU,
                        created_at=NOW,
                    )
                    .returning(Offer.id)
                )
                assert offer_id is not None
                iou = await ious.issue_iou(
                    tx,
                    debtor_id=debtor,
                    creditor_id=creditor,
                    help_request_id=request_id,
                    offer_id=offer_id,
                    policy=policy,
                )
                stock.append((iou.id, debtor))
            await tx.commit()
        stocks.append(stock)
    return ids, stocks


async def _until(moment: float) -> None:
    """Sleep until a wall-clock moment: every process starts a phase together."""
    await asyncio.sleep(max(0.0, moment - time.time()))


async def _drive(
    writers: list[Writer], start: float, seconds: float, *, gifts_only: bool = False
) -> Tally:
    tally = Tally()
    await _until(start)
    deadline = start + seconds

    async def loop(writer: Writer) -> None:
        while time.time() < deadline:
            await writer.step(tally, gifts_only=gifts_only)

    clocks = Clocks()
    await asyncio.gather(*(loop(writer) for writer in writers))
    clocks.stop(tally)
    return tally


async def _baseline(
    store: Store, members: list[int], seeds: list[int], start: float, seconds: float
) -> Tally:
    """Bare transfers: guarded UPDATEs in id order and an INSERT, nothing else."""
    tally = Tally()
    async with store.reader() as session:
        accounts = dict(
            (
                await session.execute(
                    select(Account.member_id, Account.id).where(Account.member_id.in_(members))
                )
            ).all()
        )
    debit = text(
        "UPDATE ledger_accounts SET balance = balance - :amount "
        "WHERE id = :id AND balance - :amount >= lower_bound RETURNING balance"
    )
    credit = text(
        "UPDATE ledger_accounts SET balance = balance + :amount WHERE id = :id RETURNING balance"
    )
    record = text(
        "INSERT INTO ledger_transfers (key, from_account_id, to_account_id, amount, "
        "from_balance, to_balance, reason, created_at) "
        "VALUES (:key, :source, :target, :amount, 0, 0, 'GIFT', :now)"
    )

    await _until(start)
    deadline = start + seconds

    async def loop(n: int) -> None:
        rng = random.Random(n)
        seq = 0
        while time.time() < deadline:
            source, target = rng.sample(members, 2)
            amount = rng.randint(1, 40)
            seq += 1
            started = time.perf_counter()
            async with store.transaction() as tx:
                for account in sorted((accounts[source], accounts[target])):
                    statement = debit if account == accounts[source] else credit
                    found = await tx.session.scalar(statement, {"amount": amount, "id": account})
                    if found is None:
                        break
                else:
                    await tx.session.execute(
                        record,
                        {
                            "key": f"baseline:{n}:{seq}",
                            "source": accounts[source],
                            "target": accounts[target],
                            "amount": amount,
                            "now": tx.now,
                        },
                    )
                    await tx.commit()
                    tally.transfers += 1
            tally.latencies_ms.append((time.perf_counter() - started) * 1000)

    clocks = Clocks()
    await asyncio.gather(*(loop(n) for n in seeds))
    clocks.stop(tally)
    return tally


@dataclasses.dataclass(frozen=True)
class Part:
    """One process's share of the writers, and when its two phases start."""

    url: str
    members: list[int]
    stocks: list[list[tuple[int, int]]]
    seeds: list[int]
    start: float
    seconds: float
    baseline_start: float
    baseline_seconds: float


def run_part(part: Part) -> tuple[Tally, Tally, Tally]:
    """Run one process's writers through both phases (the entry point of each process)."""
    return asyncio.run(_part(part))


async def _part(part: Part) -> tuple[Tally, Tally, Tally]:
    store = Store(part.url, pool_size=len(part.seeds), clock=lambda: NOW)
    try:
        writers = [
            Writer(store, part.members, stock, seed)
            for stock, seed in zip(part.stocks, part.seeds, strict=True)
        ]
        tally = await _drive(writers, part.start, part.seconds)
        gifts = await _drive(writers, part.baseline_start, part.baseline_seconds, gifts_only=True)
        base = await _baseline(
            store,
            part.members,
            part.seeds,
            part.baseline_start + part.baseline_seconds + 1,
            part.baseline_seconds,
        )
        return tally, gifts, base
    finally:
        await store.dispose()


def _merge(tallies: list[Tally]) -> Tally:
    merged = Tally(seconds=max(t.seconds for t in tallies))
    for tally in tallies:
        merged.latencies_ms += tally.latencies_ms
        merged.transfers += tally.transfers
        merged.replays += tally.replays
        merged.refusals += tally.refusals
        merged.bench_cpu += tally.bench_cpu * tally.seconds / merged.seconds
    merged.machine_cpu = tallies[0].machine_cpu
    return merged


async def _phases(
    url: str, members: list[int], stocks: list[Any], args: Any
) -> tuple[Tally, Tally, Tally]:
    """Run the writers, split over ``--processes`` processes, through both phases."""
    seeds = [args.seed * 1000 + n for n in range(args.writers)]
    start = time.time() + (3 if args.processes > 1 else 0.2)  # room for processes to start
    parts = [
        Part(
            url=url,
            members=members,
            stocks=stocks[n :: args.processes],
            seeds=seeds[n :: args.processes],
            start=start,
            seconds=args.seconds,
            baseline_start=start + args.seconds + 1,
            baseline_seconds=args.baseline_seconds,
        )
        for n in range(args.processes)
    ]
    if args.processes == 1:
        return await _part(parts[0])
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=args.processes, mp_context=context) as pool:
        loop = asyncio.get_running_loop()
        done = await asyncio.gather(*(loop.run_in_executor(pool, run_part, p) for p in parts))
    return (
        _merge([d[0] for d in done]),
        _merge([d[1] for d in done]),
        _merge([d[2] for d in done]),
    )


async def run(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="rapport-ledger-") as work:
        async with fresh_database(args.database_url, Path(work), args.keep) as url:
            store = Store(url, pool_size=args.writers, clock=lambda: NOW)
            try:
                started = time.perf_counter()
                members, stocks = await _seed(store, args.members, args.writers, args.seed)
                print(
                    f"{store.dialect}: {len(members):,} members, "
                    f"{args.writers * IOUS_PER_WRITER:,} IOUs, seeded in "
                    f"{time.perf_counter() - started:.1f} s; {args.writers} writers in "
                    f"{args.processes} process(es), {os.cpu_count()} CPUs"
                )
                tally, gifts, base = await _phases(url, members, stocks, args)
                print(
                    "\n| run | transfers/s | latency p50 / p99 ms | operations | refused "
                    "| replayed | CPU cores: bench / machine |\n|---|---|---|---|---|---|---|"
                )
                print(tally.row("ledger (domain, all operations)"))
                print(gifts.row("ledger (domain, gifts only)"))
                print(base.row("bare SQL baseline (gifts only)"))
                if base.transfers and tally.transfers:
                    ratio = (tally.transfers / tally.seconds) / (base.transfers / base.seconds)
                    print(f"\nledger / baseline throughput: {ratio:.2f}")
                print(f"refusals: {dict(sorted(tally.refusals.items()))}")
                async with store.reader() as session:
                    found = await audit.violations(session)
                    negative = await session.scalar(
                        select(Account.id)
                        .where(Account.member_id.is_not(None), Account.balance < 0)
                        .limit(1)
                    )
                    outstanding = await session.scalar(
                        select(func.count()).where(Iou.status == IouStatus.OUTSTANDING)
                    )
                if negative is not None:
                    found.append(f"account {negative} is negative")
                print(f"outstanding IOUs left: {outstanding:,}")
                print(f"invariant violations: {len(found)}")
                for line in found[:20]:
                    print(f"  {line}")
                return 1 if found else 0
            finally:
                await store.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/ledger.py", description=__doc__.split("\n")[0])
    parser.add_argument("--writers", type=int, default=16, help="concurrent writers (16)")
    parser.add_argument("--seconds", type=float, default=30, help="run time (30)")
    parser.add_argument("--members", type=int, default=1000, help="members (1000)")
    parser.add_argument(
        "--processes",
        type=int,
        default=None,
        help="processes the writers are split over (one per CPU, at most --writers)",
    )
    parser.add_argument(
        "--baseline-seconds",
        type=float,
        default=10,
        help="time of the gifts-only run and of the bare SQL baseline (10 each)",
    )
    parser.add_argument(
        "--database-url",
        help="a PostgreSQL server (a fresh database is made on it) or a new SQLite file; "
        "default: a temporary SQLite file",
    )
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL database")
    parser.add_argument("--seed", type=int, default=7, help="random seed (7)")
    args = parser.parse_args(argv)
    if args.writers < 1 or args.members < 2 or args.seconds <= 0:
        parser.error("--writers ≥ 1, --members ≥ 2, --seconds > 0")
    if args.processes is None:
        args.processes = min(os.cpu_count() or 1, args.writers)
    if not 1 <= args.processes <= args.writers:
        parser.error("--processes between 1 and --writers")
    try:
        return asyncio.run(run(args))
    except BenchError as error:
        print(f"bench/ledger.py: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
