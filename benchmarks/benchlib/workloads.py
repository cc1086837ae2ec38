"""The workloads, run by the Node load generator against one server at a time.

The runner measures what the generator cannot see from outside the server: the
server's CPU time over the measured window and its resident memory.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .servers import BENCHMARKS, Server

LOADGEN = BENCHMARKS / "loadgen" / "main.mjs"
P99_TARGET_MS = 50.0
LOADGEN_TIMEOUT = 900  # seconds: a stuck run fails instead of hanging the benchmark


@dataclass(frozen=True)
class Typing:
    """Rooms of `peers` peers, `typists` of them typing `rate` keystrokes/s each."""

    rooms: int
    peers: int
    typists: int
    rate: float


@dataclass(frozen=True)
class Scale:
    duration: float  # measured seconds of typing per workload
    warmup: float
    pair: Typing
    classroom: Typing
    busy: Typing
    ramp_rooms: int
    ramp_start: float  # total keystrokes/s of the first step
    ramp_factor: float
    ramp_refinements: int
    ramp_step_duration: float
    ramp_max: float
    idle_rooms: int
    idle_peers_per_room: int
    cold_edits: int
    cold_writers: int


FULL = Scale(
    duration=20,
    warmup=2,
    pair=Typing(rooms=10, peers=5, typists=5, rate=5),
    classroom=Typing(rooms=20, peers=30, typists=1, rate=10),
    busy=Typing(rooms=1, peers=50, typists=50, rate=2),
    ramp_rooms=50,
    ramp_start=1000,
    ramp_factor=1.6,
    ramp_refinements=3,
    ramp_step_duration=8,
    ramp_max=80_000,
    idle_rooms=20,
    idle_peers_per_room=50,
    cold_edits=100_000,
    cold_writers=10,
)

# Seconds long: proves every workload runs end to end against every server (CI).
SMOKE = Scale(
    duration=1.5,
    warmup=0.5,
    pair=Typing(rooms=2, peers=3, typists=3, rate=5),
    classroom=Typing(rooms=2, peers=6, typists=1, rate=10),
    busy=Typing(rooms=1, peers=8, typists=8, rate=2),
    ramp_rooms=4,
    ramp_start=100,
    ramp_factor=2,
    ramp_refinements=0,
    ramp_step_duration=1,
    ramp_max=200,
    idle_rooms=2,
    idle_peers_per_room=10,
    cold_edits=2_000,
    cold_writers=2,
)


class LoadgenError(RuntimeError):
    pass


def run_loadgen(config: dict[str, Any], server: Server, on_event: Any = None) -> dict[str, Any]:
    """Run one generator process to completion; returns its result line."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(config, f)
    process = subprocess.Popen(
        ["node", str(LOADGEN), f.name],
        stdout=subprocess.PIPE,
        stdin=subprocess.PIPE,
        text=True,
    )
    result = None
    error = "it crashed"
    assert process.stdout is not None
    watchdog = threading.Timer(LOADGEN_TIMEOUT, process.kill)
    watchdog.start()
    for line in process.stdout:
        event = json.loads(line)
        if event["event"] == "result":
            result = event
        elif event["event"] == "error":
            error = event["message"]
        elif on_event is not None:
            on_event(event, process)
    process.wait()
    watchdog.cancel()
    Path(f.name).unlink()
    if process.returncode != 0 or result is None:
        raise LoadgenError(f"against {server.name}: {error}")
    return result


def settle(server: Server, timeout: float = 60.0) -> None:
    """Wait until the server is idle again (a backlog from the last workload drained)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = server.cpu_seconds()
        time.sleep(0.5)
        if server.cpu_seconds() - before < 0.05:
            return


def typing(server: Server, shape: Typing, duration: float, warmup: float) -> dict[str, Any]:
    settle(server)
    rooms = server.new_rooms(shape.rooms)
    window: dict[str, float] = {}

    def on_event(event: dict[str, Any], _process: Any) -> None:
        window[event["event"]] = time.monotonic()
        window[event["event"] + "_cpu"] = server.cpu_seconds()
        if event["event"] == "typed":
            window["rss"] = server.rss()

    result = run_loadgen(
        {
            "mode": "type",
            "rooms": rooms,
            "peersPerRoom": shape.peers,
            "typistsPerRoom": shape.typists,
            "rate": shape.rate,
            "duration": duration,
            "warmup": warmup,
        },
        server,
        on_event,
    )
    seconds = window["typed"] - window["measuring"]
    result["server"] = {
        "cpuPercent": round(100 * (window["typed_cpu"] - window["measuring_cpu"]) / seconds, 1),
        "rssMiB": round(window["rss"] / 2**20, 1),
    }
    stored = server.stored_text_hashes(rooms)
    if stored is not None:
        result["storedMatches"] = stored == result.get("roomHashes")
        result["converged"] = result["converged"] and result["storedMatches"]
    result.pop("roomHashes", None)
    return result


def passes(result: dict[str, Any]) -> bool:
    p99 = result["latencyMs"]["p99"]
    return (
        result["converged"]
        and result["lostDeliveries"] == 0
        and p99 is not None
        and p99 < P99_TARGET_MS
        and result["achievedKeystrokesPerSecond"] >= 0.95 * result["offeredKeystrokesPerSecond"]
    )


def ramp(fresh_server: Callable[[], Server], scale: Scale, log: Any) -> dict[str, Any]:
    """The highest total keystroke rate with p99 fan-out under 50 ms and nothing lost.

    Each step runs on a freshly started server, so that one step's aftermath (a backlog
    to drain, rooms unloading) does not count against the next.
    """
    typists = scale.ramp_rooms * 5

    def step(total: float) -> dict[str, Any]:
        shape = Typing(rooms=scale.ramp_rooms, peers=5, typists=5, rate=total / typists)
        for attempt in (1, 2):  # a failure is confirmed once: one stray stall is not a limit
            server = fresh_server()
            try:
                result = typing(server, shape, scale.ramp_step_duration, 1)
            finally:
                server.stop()
            result["passed"] = passes(result)
            result["attempt"] = attempt
            log(
                f"  ramp {total:>8.0f} keys/s: p99 {result['latencyMs']['p99']} ms,"
                f" lost {result['lostDeliveries']}, server CPU {result['server']['cpuPercent']}%,"
                f" generator CPU {result['generator']['cpuPercent']}%"
                f" -> {'pass' if result['passed'] else 'FAIL'} (attempt {attempt})"
            )
            if result["passed"]:
                break
        return result

    steps = []
    best, failed = 0.0, None
    total = scale.ramp_start
    while total <= scale.ramp_max:
        result = step(total)
        steps.append(result)
        if not result["passed"]:
            failed = total
            break
        best = total
        total *= scale.ramp_factor
    if failed is not None:
        low, high = best, failed
        for _ in range(scale.ramp_refinements):
            middle = (low + high) / 2
            result = step(middle)
            steps.append(result)
            if result["passed"]:
                low = best = middle
            else:
                high = middle
    passed = [s for s in steps if s["passed"]]
    top = max(passed, key=lambda s: s["offeredKeystrokesPerSecond"]) if passed else None
    return {
        "sustainedKeystrokesPerSecond": round(best),
        "sustainedDeliveriesPerSecond": round(top["deliveriesPerSecond"]) if top else 0,
        "p99AtSustainedMs": top["latencyMs"]["p99"] if top else None,
        "serverCpuAtSustained": top["server"]["cpuPercent"] if top else None,
        "generatorCpuAtSustained": top["generator"]["cpuPercent"] if top else None,
        "firstFailure": failed,
        "steps": [
            {
                "offered": round(s["offeredKeystrokesPerSecond"]),
                "achieved": round(s["achievedKeystrokesPerSecond"]),
                "latencyMs": s["latencyMs"],
                "lost": s["lostDeliveries"],
                "converged": s["converged"],
                "serverCpuPercent": s["server"]["cpuPercent"],
                "generatorCpuPercent": s["generator"]["cpuPercent"],
                "passed": s["passed"],
                "attempt": s["attempt"],
            }
            for s in steps
        ],
    }


def idle(server: Server, rooms: int, peers_per_room: int) -> dict[str, Any]:
    """Resident memory per connected, present, idle peer."""
    settle(server)
    urls = server.new_rooms(rooms)
    before = server.rss()
    measured: dict[str, Any] = {}

    def on_event(event: dict[str, Any], process: Any) -> None:
        if event["event"] == "ready":
            settle(server)
            measured["rss"] = server.rss()
            measured["connectSeconds"] = event["connectSeconds"]
            process.stdin.write("done\n")
            process.stdin.flush()

    result = run_loadgen(
        {"mode": "idle", "rooms": urls, "peersPerRoom": peers_per_room}, server, on_event
    )
    peers = result["peers"]
    return {
        "peers": peers,
        "rooms": rooms,
        "rssBeforeMiB": round(before / 2**20, 1),
        "rssWithPeersMiB": round(measured["rss"] / 2**20, 1),
        "kibPerIdlePeer": round((measured["rss"] - before) / 1024 / peers, 1),
        "connectSeconds": round(measured["connectSeconds"], 2),
        "closedSockets": result["closedSockets"],
    }


def cold_load(server: Server, edits: int, writers: int) -> dict[str, Any]:
    """Time for a newcomer to sync a room of `edits` stored edits, right after a restart."""
    settle(server)
    (url,) = server.new_rooms(1)
    seeded = run_loadgen(
        {
            "mode": "seed",
            "room": url,
            "edits": edits,
            "writers": writers,
            "editsPerMessage": 10,
            "messagesPerSecond": 150,
        },
        server,
    )
    settle(server)  # a store that writes in the background has finished
    server.restart()
    expected = {"mode": "join", "room": url, "textHash": seeded["textHash"]}
    expected["textLength"] = seeded["textLength"]
    cold = run_loadgen(expected, server)
    warm = run_loadgen(expected, server)
    return {
        "edits": seeded["edits"],
        "messages": seeded["messages"],
        "textLength": seeded["textLength"],
        "seedSeconds": round(seeded["seconds"], 2),
        "coldSyncMs": round(cold["syncedMs"], 1),
        "warmSyncMs": round(warm["syncedMs"], 1),
        # The server's share: until the newcomer has received the document (a lower
        # bound when a server sends it in pieces), before its own Yjs applies it.
        "coldDocumentArrivedMs": round(cold["documentArrivedMs"], 1),
        "warmDocumentArrivedMs": round(warm["documentArrivedMs"], 1),
        "documentBytes": cold["documentBytes"],
        "matches": bool(cold["matches"] and warm["matches"]),
    }
