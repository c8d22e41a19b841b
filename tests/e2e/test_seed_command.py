"""`python -m api seed`, run the way a newcomer or an operator runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from domain.demo.seeding import DEMO_PASSWORD
from tests.builders import make_members

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e


def _run(tmp_path: Path, database_url: str, *arguments: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "VAR_DIR": str(tmp_path / "var"),
        "ARGON2_TIME_COST": "1",
        "ARGON2_MEMORY_KIB": "1024",
        "ARGON2_PARALLELISM": "1",
    }
    return subprocess.run(
        [sys.executable, "-m", "api", *arguments],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


async def test_seed_refuses_others_members_then_forced_seeds_once(store, database_url, tmp_path):
    await make_members(store, "dana")

    refused = _run(tmp_path, database_url, "seed", "--members", "20")
    assert refused.returncode == 1
    assert "1 member(s) who are not the demo's" in refused.stderr
    assert "--force" in refused.stderr

    forced = _run(tmp_path, database_url, "seed", "--members", "20", "--force")
    assert forced.returncode == 0, forced.stderr
    assert "Seeded the demo network (seed 1)" in forced.stdout
    assert f"password: {DEMO_PASSWORD}" in forced.stdout
    for email in ("alice@example.com", "bob@example.com", "carol@example.com"):
        assert email in forced.stdout

    again = _run(tmp_path, database_url, "seed", "--members", "20", "--seed", "2")
    assert again.returncode == 0, again.stderr
    assert "already" in again.stdout
    assert "20 demo members" in again.stdout
    assert f"password: {DEMO_PASSWORD}" in again.stdout

    books = _run(tmp_path, database_url, "ledger-check")
    assert books.returncode == 0, books.stdout
    assert "0 violation(s)" in books.stdout


def test_seed_refuses_a_member_count_out_of_range(tmp_path):
    run = _run(tmp_path, f"sqlite:///{tmp_path / 'rapport.db'}", "seed", "--members", "3")
    assert run.returncode == 2
    assert "between 20 and 5000" in run.stderr
