"""Benchmark Code Companion's room server side by side with the two anchors.

    python benchmarks/run.py            # the full run (about 17 minutes on 2 cores)
    python benchmarks/run.py --smoke    # seconds per workload: proves it all works (CI)

Each server runs alone on loopback while the Node load generator drives it; the
results go to JSON, a PNG chart and a Markdown summary (see benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
from benchlib import report, workloads
from benchlib.servers import SERVERS, Ours, Server
from benchlib.workloads import FULL, SMOKE, Scale

RESULTS = Path(__file__).resolve().parent / "results"
WORKLOADS = ("idle", "pair", "classroom", "busy", "ramp", "cold")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def bench_server(name: str, scale: Scale, chosen: tuple[str, ...], workdir: Path) -> dict[str, Any]:
    """Every chosen workload against one server, each on a freshly started server.

    A workload that fails (a server that stalls past the generator's deadlines, or
    crashes) is recorded as an error, and the run goes on.
    """
    results: dict[str, Any] = {"label": SERVERS[name].label}
    runs = {
        "idle": lambda s: workloads.idle(s, scale.idle_rooms, scale.idle_peers_per_room),
        "pair": lambda s: workloads.typing(s, scale.pair, scale.duration, scale.warmup),
        "classroom": lambda s: workloads.typing(s, scale.classroom, scale.duration, scale.warmup),
        "busy": lambda s: workloads.typing(s, scale.busy, scale.duration, scale.warmup),
        "cold": lambda s: workloads.cold_load(s, scale.cold_edits, scale.cold_writers),
    }
    places = itertools.count()

    def fresh_server(persist: bool = False) -> Server:
        server = SERVERS[name](workdir / str(next(places)), persist=persist)
        server.start()
        return server

    for workload in WORKLOADS:
        if workload not in chosen:
            continue
        log(f"{name}: {workload}")
        if workload == "ramp":  # a fresh server for each step
            try:
                results[workload] = workloads.ramp(fresh_server, scale, log)
            except Exception as e:  # one server failing a workload is a result, not the end
                log(f"  {name} {workload} failed: {e}")
                results[workload] = {"error": str(e)}
            continue
        server = SERVERS[name](workdir / workload, persist=workload == "cold")
        # (The anchors keep rooms in memory by default; a cold load needs their store.)
        try:
            server.start()
            results[workload] = runs[workload](server)
        except Exception as e:  # one server failing a workload is a result, not the end
            log(f"  {name} {workload} failed: {e}")
            results[workload] = {"error": str(e)}
        finally:
            server.stop()
    return results


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    def version(name: str) -> str:
        try:
            return installed(name)
        except PackageNotFoundError:
            return "not installed"

    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    package = json.loads((Path(__file__).parent / "package-lock.json").read_text())["packages"]
    return {
        "python": platform.python_version(),
        "node": node,
        "codecompanion_ext": version("codecompanion_ext"),
        "pycrdt": version("pycrdt"),
        "pycrdt-websocket": version("pycrdt-websocket"),
        "uvicorn": version("uvicorn"),
        "@y/websocket-server": package["node_modules/@y/websocket-server"]["version"],
        "yjs": package["node_modules/yjs"]["version"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="a seconds-long run (CI)")
    parser.add_argument("--servers", default=",".join(SERVERS), help="comma-separated")
    parser.add_argument("--workloads", default=",".join(WORKLOADS), help="comma-separated")
    parser.add_argument("--out", type=Path, default=None, help="results directory")
    parser.add_argument(
        "--ours-arg", action="append", default=[], help="extra option for our server (repeatable)"
    )
    args = parser.parse_args()
    Ours.extra_args = tuple(args.ours_arg)
    scale = SMOKE if args.smoke else FULL
    out = args.out or (Path(tempfile.mkdtemp(prefix="cc-bench-")) if args.smoke else RESULTS)
    out.mkdir(parents=True, exist_ok=True)
    chosen = tuple(args.workloads.split(","))
    results: dict[str, Any] = {
        "run": "smoke" if args.smoke else "full",
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "machine": {
            "cpus": psutil.cpu_count(),
            "memoryGiB": round(psutil.virtual_memory().total / 2**30, 1),
            "platform": platform.platform(),
        },
        "versions": versions(),
        "scale": dataclasses.asdict(scale),
        "servers": {},
    }
    with tempfile.TemporaryDirectory(prefix="cc-bench-work-") as work:
        for name in args.servers.split(","):
            workdir = Path(work) / name
            workdir.mkdir()
            results["servers"][name] = bench_server(name, scale, chosen, workdir)
            (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    report.chart(results, out / "results.png")
    summary = report.summary(results)
    (out / "summary.md").write_text(summary)
    print(summary)
    log(f"results in {out}")


if __name__ == "__main__":
    main()
