"""The newcomer's journey: a seeded server process, and `examples/journey.py` run against
it as a client would run it (HTTP, WebSocket, and a webhook receiver of its own)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.test_server import ROOT, Server, _environment

pytestmark = pytest.mark.e2e


def test_the_journey_passes_against_a_seeded_server(tmp_path: Path):
    env = _environment(tmp_path, f"sqlite:///{tmp_path / 'rapport.db'}")
    seeded = subprocess.run(
        [sys.executable, "-m", "api", "seed", "--members", "60"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert seeded.returncode == 0, seeded.stderr
    server = Server(env, tmp_path)
    try:
        server.wait_ready()
        journey = subprocess.run(
            [sys.executable, "examples/journey.py", "--url", server.url],
            cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
    finally:
        log = server.stop()
    assert journey.returncode == 0, journey.stdout + journey.stderr + log[-3000:]
    out = journey.stdout
    for line in (
        "pushed live over the WebSocket",
        "SKILL_MATCH seo",
        "VIA bob",
        "alice → bob → carol",
        "IOU SETTLED by helping back",
        "every signature verified",
        "The journey went as expected.",
    ):
        assert line in out, out
    assert "Traceback" not in log
