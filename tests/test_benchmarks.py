"""The benchmark's smoke run: every workload against all three servers, seconds each.

It proves the harness works end to end (the figures come from the full run recorded in
benchmarks/README.md); what it checks are facts, not speeds: every server ran every
workload, every peer converged, nothing was lost, and the report was written.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.bench  # every workload against all three servers, about 2 minutes

ROOT = Path(__file__).resolve().parent.parent
SERVERS = ("ours", "pycrdt-websocket", "y-websocket")


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    out = tmp_path_factory.mktemp("bench")
    run = subprocess.run(
        [sys.executable, "benchmarks/run.py", "--smoke", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads((out / "results.json").read_text()), out


@pytest.mark.timeout(700)
def test_every_server_runs_every_workload_and_converges(smoke):
    results, _ = smoke
    assert tuple(results["servers"]) == SERVERS
    for name, server in results["servers"].items():
        failed = {w: r["error"] for w, r in server.items() if isinstance(r, dict) and "error" in r}
        assert not failed, (name, failed)
        for workload in ("pair", "classroom", "busy"):
            run = server[workload]
            assert run["converged"], (name, workload, run.get("why"))
            assert run["lostDeliveries"] == 0, (name, workload)
            assert run["latencyMs"]["count"] > 0, (name, workload)
            assert run["deliveries"] == run["keystrokes"] * (run["peersPerRoom"] - 1)
        assert server["ramp"]["sustainedKeystrokesPerSecond"] > 0, name
        assert server["idle"]["peers"] == 20 and server["idle"]["closedSockets"] == 0, name
        assert server["cold"]["matches"], name


@pytest.mark.timeout(700)
def test_our_stored_documents_match_what_the_peers_hold(smoke):
    results, _ = smoke
    ours = results["servers"]["ours"]
    for workload in ("pair", "classroom", "busy"):
        assert ours[workload]["storedMatches"] is True, workload


@pytest.mark.timeout(700)
def test_the_report_has_a_chart_and_the_ratios(smoke):
    _, out = smoke
    summary = (out / "summary.md").read_text()
    assert "| ours / pycrdt-websocket | ours / y-websocket |" in summary
    assert "idle: memory per idle peer" in summary
    png = (out / "results.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
