"""Benchmark Code Companion's room server side by side with the two anchors.

    python benchmarks/run.py            # the full run (about 17 minutes on 2 cores)
    python benchmarks/run.py --smoke    # seconds per workload: proves it all works (CI)
    python benchmarks/run.py --compare HEAD~3   # also our server as it was at HEAD~3

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
from benchlib.servers import SERVERS, Ours, OursAt, Server, git
from benchlib.workloads import FULL, SMOKE, Scale

RESULTS = Path(__file__).resolve().parent / "results"
WORKLOADS = ("idle", "pair", "classroom", "busy", "ramp", "cold")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def bench_server(
    kind: type[Server], scale: Scale, chosen: tuple[str, ...], workdir: Path
) -> dict[str, Any]:
    """Every chosen workload against one server, each on a freshly started server.

    A workload that fails (a server that stalls past the generator's deadlines, or
    crashes) is recorded as an error, and the run goes on.
    """
    name = kind.name
    results: dict[str, Any] = {"label": kind.label}
    runs = {
        "idle": lambda s: workloads.idle(s, scale.idle_rooms, scale.idle_peers_per_room),
        "pair": lambda s: workloads.typing(s, scale.pair, scale.duration, scale.warmup),
        "classroom": lambda s: workloads.typing(s, scale.classroom, scale.duration, scale.warmup),
        "busy": lambda s: workloads.typing(s, scale.busy, scale.duration, scale.warmup),
        "cold": lambda s: workloads.cold_load(s, scale.cold_edits, scale.cold_writers),
    }
    places = itertools.count()

    def fresh_server(persist: bool = False) -> Server:
        server = kind(workdir / str(next(places)), persist=persist)
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
        server = kind(workdir / workload, persist=workload == "cold")
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


def working_tree() -> dict[str, Any]:
    """The revision "ours" is measured at: HEAD, and whether the tree differs from it."""
    try:
        changes = git("status", "--porcelain").splitlines()
        return {
            "revision": git("rev-parse", "HEAD"),
            "dirty": bool(changes),
            "packageChanges": [line[3:] for line in changes if "codecompanion_ext/" in line],
        }
    except (OSError, RuntimeError) as e:  # not a git checkout: the run goes on
        return {"revision": None, "error": str(e)}


def lineup(compare: list[str], into: Path) -> dict[str, type[Server]]:
    """Every server this run can measure, in the order they run: ours, our earlier
    revisions (exported under `into`), then the anchors."""
    servers: dict[str, type[Server]] = {Ours.name: Ours}
    for rev in compare:
        commit = git("rev-parse", "--verify", f"{rev}^{{commit}}")
        if any(getattr(kind, "commit", None) == commit for kind in servers.values()):
            continue  # named twice
        variant = OursAt.revision(rev, into)
        servers[variant.name] = variant
    return {**servers, **{name: kind for name, kind in SERVERS.items() if name != Ours.name}}


def short_name(name: str) -> str:
    """`ours@HEAD~3` is `ours@<its short hash>`; other names are themselves."""
    server, at, rev = name.partition("@")
    if not at:
        return name
    try:
        return f"{server}@{git('rev-parse', '--short', '--verify', f'{rev}^{{commit}}')}"
    except RuntimeError:
        return name  # reported as unknown


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="a seconds-long run (CI)")
    parser.add_argument(
        "--servers",
        default=None,
        help=f"comma-separated (default: all): {','.join(SERVERS)}, ours@REV for each --compare",
    )
    parser.add_argument("--workloads", default=",".join(WORKLOADS), help="comma-separated")
    parser.add_argument("--out", type=Path, default=None, help="results directory")
    parser.add_argument(
        "--ours-arg", action="append", default=[], help="extra option for our server (repeatable)"
    )
    parser.add_argument(
        "--compare",
        action="append",
        default=[],
        metavar="REV",
        help="also measure our server as it was at git revision REV, as ours@<short REV>"
        " (repeatable)",
    )
    args = parser.parse_args()
    Ours.extra_args = tuple(args.ours_arg)  # the earlier revisions get them too
    scale = SMOKE if args.smoke else FULL
    chosen = tuple(args.workloads.split(","))
    with tempfile.TemporaryDirectory(prefix="cc-bench-work-") as work:
        try:
            available = lineup(args.compare, Path(work) / "revisions")
        except (RuntimeError, subprocess.CalledProcessError) as e:
            parser.error(f"--compare: {e}")
        if args.servers is None:
            names = list(available)
        else:
            asked = [short_name(name) for name in args.servers.split(",")]
            unknown = [name for name in asked if name not in available]
            if unknown:
                parser.error(
                    f"unknown servers {','.join(unknown)}; this run has {','.join(available)}"
                    " (ours@REV needs --compare REV)"
                )
            names = [name for name in available if name in asked]  # ours first, anchors last
        servers = {name: available[name] for name in names}
        for kind in servers.values():
            if issubclass(kind, OursAt):  # fails loudly before anything runs
                found = kind(Path(work) / "probe" / kind.name).check_import()
                log(f"{kind.name}: runs {found.parent}")
        out = args.out or (Path(tempfile.mkdtemp(prefix="cc-bench-")) if args.smoke else RESULTS)
        out.mkdir(parents=True, exist_ok=True)
        results: dict[str, Any] = {
            "run": "smoke" if args.smoke else "full",
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            "machine": {
                "cpus": psutil.cpu_count(),
                "memoryGiB": round(psutil.virtual_memory().total / 2**30, 1),
                "platform": platform.platform(),
            },
            "versions": versions(),
            "revisions": {
                name: {"revision": kind.commit, "requested": kind.requested}
                if issubclass(kind, OursAt)
                else working_tree()
                for name, kind in servers.items()
                if issubclass(kind, Ours)
            },
            "scale": dataclasses.asdict(scale),
            "servers": {},
        }
        for name, kind in servers.items():
            workdir = Path(work) / name
            workdir.mkdir()
            results["servers"][name] = bench_server(kind, scale, chosen, workdir)
            (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    report.chart(results, out / "results.png")
    summary = report.summary(results)
    (out / "summary.md").write_text(summary)
    print(summary)
    log(f"results in {out}")


if __name__ == "__main__":
    main()
