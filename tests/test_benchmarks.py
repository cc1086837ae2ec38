"""The benchmark's smoke run: every workload against all three servers, seconds each.

It proves the harness works end to end (the figures come from the full run recorded in
benchmarks/README.md); what it checks are facts, not speeds: every server ran every
workload, every peer converged, nothing was lost, and the report was written. A second,
shorter run compares our server with itself at HEAD, exported by git (`--compare`); the
report's columns for such runs are checked on hand-made results, without processes.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
SERVERS = ("ours", "pycrdt-websocket", "y-websocket")
bench = pytest.mark.bench  # every workload against all three servers, about 2 minutes


def benchlib(name: str) -> ModuleType:
    """A module of benchmarks/benchlib (the runner's library, not an installed package)."""
    path = ROOT / "benchmarks" / "benchlib" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"benchlib_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()


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


@bench
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


@bench
@pytest.mark.timeout(700)
def test_our_stored_documents_match_what_the_peers_hold(smoke):
    results, _ = smoke
    ours = results["servers"]["ours"]
    for workload in ("pair", "classroom", "busy"):
        assert ours[workload]["storedMatches"] is True, workload


@bench
@pytest.mark.timeout(700)
def test_the_report_has_a_chart_and_the_ratios(smoke):
    _, out = smoke
    summary = (out / "summary.md").read_text()
    assert "| ours / pycrdt-websocket | ours / y-websocket |" in summary
    assert "idle: memory per idle peer" in summary
    png = (out / "results.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000


@pytest.fixture(scope="module")
def compared(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path, str, str]:
    """ours beside ours@<short HEAD>: the same code, one from the working tree, one
    exported by git archive (about 15 s)."""
    out = tmp_path_factory.mktemp("bench-compare")
    short = git("rev-parse", "--short", "HEAD")
    run = subprocess.run(
        [
            sys.executable,
            "benchmarks/run.py",
            "--smoke",
            "--compare",
            "HEAD",
            "--servers",
            f"ours,ours@{short}",
            "--workloads",
            "pair",
            "--out",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads((out / "results.json").read_text()), out, short, run.stderr


@bench
@pytest.mark.timeout(400)
def test_compare_runs_our_server_at_a_revision_exported_by_git(compared):
    results, out, short, log = compared
    variant = f"ours@{short}"
    assert tuple(results["servers"]) == ("ours", variant)
    assert results["servers"][variant]["label"] == f"Code Companion at {short}"
    for name, server in results["servers"].items():
        pair = server["pair"]
        assert pair["converged"] and pair["storedMatches"] is True, (name, pair.get("why"))
        assert pair["lostDeliveries"] == 0 and pair["latencyMs"]["count"] > 0, name
    # It ran the export in the run's work directory, not the working tree's package.
    ran = re.search(rf"^{re.escape(variant)}: runs (\S+)$", log, re.M)
    assert ran, log[-3000:]
    assert Path(ran[1]).parts[-2:] == (short, "codecompanion_ext")
    assert not Path(ran[1]).is_relative_to(ROOT)
    head = git("rev-parse", "HEAD")
    assert results["revisions"][variant] == {"revision": head, "requested": "HEAD"}
    assert results["revisions"]["ours"]["revision"] == head
    assert isinstance(results["revisions"]["ours"]["dirty"], bool)
    summary = (out / "summary.md").read_text()
    assert f"| ours / {variant} |" in summary
    assert "| pair: converged, nothing lost | yes | yes |" in summary
    assert f"- {variant}: {head} (HEAD)" in summary
    assert (out / "results.png").read_bytes().startswith(b"\x89PNG")


@bench
@pytest.mark.timeout(120)
def test_a_revision_that_would_import_the_working_tree_fails_loudly(tmp_path):
    """An "export" without the package: its process would run the editable install."""
    servers = benchlib("servers")
    empty = tmp_path / "export"
    empty.mkdir()
    fake = type("OursAtNothing", (servers.OursAt,), {"name": "ours@none", "source": empty})
    with pytest.raises(RuntimeError, match="would not run its export") as error:
        fake(tmp_path / "probe").check_import()
    assert f"comes from {ROOT / 'codecompanion_ext' / 'standalone.py'} instead" in str(error.value)


def latency(p50: float) -> dict:
    return {"latencyMs": {"p50": p50}, "converged": True}


def test_the_summary_divides_ours_by_each_earlier_revision_then_by_each_anchor():
    report = benchlib("report")
    results = {
        "revisions": {
            "ours": {"revision": "c" * 40, "dirty": True, "packageChanges": ["x.py"]},
            "ours@aaaaaaa": {"revision": "a" * 40, "requested": "HEAD~3"},
            "ours@bbbbbbb": {"revision": "b" * 40, "requested": "v0.1"},
        },
        "servers": {
            "ours": {"label": "Code Companion (SQLite)", "pair": latency(1.0)},
            "ours@aaaaaaa": {"label": "Code Companion at aaaaaaa", "pair": latency(4.0)},
            "ours@bbbbbbb": {"label": "Code Companion at bbbbbbb", "pair": {"error": "stalled"}},
            "pycrdt-websocket": {"label": "pycrdt-websocket", "pair": latency(2.0)},
            "y-websocket": {"label": "y-websocket", "pair": latency(0.5)},
        },
    }
    lines = report.summary(results).splitlines()
    assert lines[0] == (
        "|  | Code Companion (SQLite) | Code Companion at aaaaaaa | Code Companion at bbbbbbb"
        " | pycrdt-websocket | y-websocket | ours / ours@aaaaaaa | ours / ours@bbbbbbb"
        " | ours / pycrdt-websocket | ours / y-websocket |"
    )
    rows = {line.split(" | ")[0].lstrip("| "): line.strip("| ").split(" | ") for line in lines}
    assert rows["pair: fan-out p50 (ms, lower is better)"][1:] == [
        *("1", "4", "n/a", "2", "0.5"),
        *("0.25", "n/a", "0.50", "2.00"),
    ]
    assert rows["pair: converged, nothing lost"][1:6] == ["yes", "yes", "n/a", "yes", "yes"]
    failed = rows["workloads that failed (see results.json)"][1:6]
    assert failed == ["none", "none", "pair: stalled", "none", "none"]
    assert "- ours: the working tree at " + "c" * 40 + ", with uncommitted changes to x.py" in lines
    assert "- ours@aaaaaaa: " + "a" * 40 + " (HEAD~3)" in lines
