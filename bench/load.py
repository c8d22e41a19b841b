"""A closed-loop load generator: C clients send one request after another for a while.

Also what ``/proc`` tells about a server process: CPU time and resident memory.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

Send = Callable[[], Awaitable[bool]]
"""Sends one request; True when the answer was a success."""

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclasses.dataclass(frozen=True)
class Run:
    """The outcome of one scenario."""

    name: str
    seconds: float
    latencies_ms: list[float]  # successful requests only, sorted
    errors: int
    server_cpu_seconds: float | None
    client_cpu: float  # share of one core
    machine_cpu: float | None  # cores busy on the whole machine, everything included

    @property
    def requests(self) -> int:
        return len(self.latencies_ms) + self.errors

    @property
    def per_second(self) -> float:
        return len(self.latencies_ms) / self.seconds if self.seconds else 0.0

    @property
    def server_cpu(self) -> float | None:
        """Return the server's CPU use as a share of one core."""
        if self.server_cpu_seconds is None or not self.seconds:
            return None
        return self.server_cpu_seconds / self.seconds

    @property
    def other_cpu(self) -> float | None:
        """Return the cores other processes kept busy meanwhile: they skew the figures."""
        if self.machine_cpu is None:
            return None
        return max(0.0, self.machine_cpu - (self.server_cpu or 0) - self.client_cpu)

    @property
    def server_ms_per_request(self) -> float | None:
        """Return the server's CPU time per request: what the page costs, whatever the client."""
        if self.server_cpu_seconds is None or not self.requests:
            return None
        return self.server_cpu_seconds * 1000 / self.requests

    def percentile(self, rank: float) -> float:
        """Return the latency below which ``rank`` percent of successes fall (nearest rank)."""
        if not self.latencies_ms:
            return math.nan
        index = max(0, math.ceil(rank / 100 * len(self.latencies_ms)) - 1)
        return self.latencies_ms[index]


async def drive(
    name: str,
    send: Send,
    *,
    concurrency: int,
    seconds: float,
    max_requests: int,
    server_pid: int | None,
) -> Run:
    """Keep ``concurrency`` requests in flight until time or the request budget runs out."""
    latencies: list[float] = []
    errors = 0
    issued = 0
    deadline = time.perf_counter() + seconds

    async def client() -> None:
        nonlocal errors, issued
        while issued < max_requests and time.perf_counter() < deadline:
            issued += 1
            started = time.perf_counter()
            try:
                ok = await send()
            except httpx.HTTPError:
                ok = False
            if ok:
                latencies.append((time.perf_counter() - started) * 1000)
            else:
                errors += 1

    server_before = cpu_seconds(server_pid)
    machine_before = machine_busy_seconds()
    client_before = time.process_time()
    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    server_after = cpu_seconds(server_pid)
    machine_after = machine_busy_seconds()
    return Run(
        name=name,
        seconds=elapsed,
        latencies_ms=sorted(latencies),
        errors=errors,
        server_cpu_seconds=(
            server_after - server_before
            if server_before is not None and server_after is not None
            else None
        ),
        client_cpu=(time.process_time() - client_before) / elapsed,
        machine_cpu=(
            (machine_after - machine_before) / elapsed
            if machine_before is not None and machine_after is not None
            else None
        ),
    )


def cpu_seconds(pid: int | None) -> float | None:
    """Return the user + system CPU time a process has used, if /proc shows it."""
    if pid is None:
        return None
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Fields after the command name, which may itself hold spaces and parentheses.
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def machine_busy_seconds() -> float | None:
    """Return the CPU time all cores have spent busy since boot, if /proc/stat shows it."""
    try:
        with open("/proc/stat") as stat:
            fields = [int(value) for value in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    # user nice system idle iowait irq softirq steal (guest time is already in user)
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / _TICKS


def memory_kib(pid: int) -> dict[str, int]:
    """Return VmHWM (peak resident) and VmRSS of a process in KiB; empty when unreadable."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return {}
    found = {}
    for line in status.splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            found[key] = int(value.split()[0])
    return found
