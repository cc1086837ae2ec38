"""The benchmark's outputs: a Markdown summary with ratios, and a PNG chart.

Servers are "ours" (the working tree), any number of "ours@<rev>" (our server at an
earlier revision, `run.py --compare`) and the anchors; the ratios are ours ÷ each of
the others: after ÷ before for the revisions, ours ÷ theirs for the anchors.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

OURS = "ours"
COLORS = {"ours": "#2e7d32", "pycrdt-websocket": "#ef6c00", "y-websocket": "#1565c0"}
EARLIER_COLORS = ("#81c784", "#558b2f", "#c5e1a5", "#1b5e20", "#aed581")  # greens, as ours


def is_earlier(name: str) -> bool:
    """Whether `name` is our server at an earlier revision ("ours@<rev>")."""
    return name.startswith(OURS + "@")


def compared(names: list[str]) -> list[str]:
    """The servers "ours" is divided by, in the summary's order: our earlier revisions,
    then the anchors (none without "ours")."""
    if OURS not in names:
        return []
    earlier = [name for name in names if is_earlier(name)]
    return earlier + [name for name in names if name != OURS and not is_earlier(name)]


def colors(names: list[str]) -> dict[str, str | None]:
    earlier = itertools.cycle(EARLIER_COLORS)
    return {name: next(earlier) if is_earlier(name) else COLORS.get(name) for name in names}


def _get(results: dict[str, Any], path: str) -> Any:
    value: Any = results
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


# (label, path in a server's results, unit, better: "lower" or "higher")
ROWS = [
    ("pair: fan-out p50", "pair.latencyMs.p50", "ms", "lower"),
    ("pair: fan-out p99", "pair.latencyMs.p99", "ms", "lower"),
    ("pair: fan-out max", "pair.latencyMs.max", "ms", "lower"),
    ("pair: server CPU", "pair.server.cpuPercent", "%", "lower"),
    ("classroom: fan-out p50", "classroom.latencyMs.p50", "ms", "lower"),
    ("classroom: fan-out p99", "classroom.latencyMs.p99", "ms", "lower"),
    ("classroom: fan-out max", "classroom.latencyMs.max", "ms", "lower"),
    ("classroom: delivered updates/s", "classroom.deliveriesPerSecond", "/s", "higher"),
    ("classroom: server CPU", "classroom.server.cpuPercent", "%", "lower"),
    ("busy room: fan-out p50", "busy.latencyMs.p50", "ms", "lower"),
    ("busy room: fan-out p99", "busy.latencyMs.p99", "ms", "lower"),
    ("busy room: fan-out max", "busy.latencyMs.max", "ms", "lower"),
    ("busy room: server CPU", "busy.server.cpuPercent", "%", "lower"),
    ("ramp: sustained keystrokes/s", "ramp.sustainedKeystrokesPerSecond", "/s", "higher"),
    ("ramp: deliveries/s at that rate", "ramp.sustainedDeliveriesPerSecond", "/s", "higher"),
    ("ramp: p99 at that rate", "ramp.p99AtSustainedMs", "ms", "lower"),
    ("idle: memory per idle peer", "idle.kibPerIdlePeer", "KiB", "lower"),
    ("cold load: newcomer holds the document", "cold.coldSyncMs", "ms", "lower"),
    (
        "cold load: the server's share (document received)",
        "cold.coldDocumentArrivedMs",
        "ms",
        "lower",
    ),
    ("warm: newcomer holds the document", "cold.warmSyncMs", "ms", "lower"),
]
CONVERGENCE = [
    ("pair", "pair.converged"),
    ("classroom", "classroom.converged"),
    ("busy", "busy.converged"),
    ("cold load", "cold.matches"),
]


def _format(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, float) and value < 100:
        return f"{value:.2f}".rstrip("0").rstrip(".")
    return f"{round(value):,}"


def _ratio(ours: Any, theirs: Any) -> str:
    if not isinstance(ours, (int, float)) or not isinstance(theirs, (int, float)) or theirs == 0:
        return "n/a"
    return f"{ours / theirs:.2f}"


def summary(results: dict[str, Any]) -> str:
    servers = results["servers"]
    others = compared(list(servers))
    header = ["", *(servers[name]["label"] for name in servers)]
    header += [f"ours / {name}" for name in others]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for label, path, unit, better in ROWS:
        values = [_get(servers[name], path) for name in servers]
        if all(value is None for value in values):
            continue
        row = [f"{label} ({unit}, {better} is better)"] + [_format(v) for v in values]
        if others:
            ours = _get(servers[OURS], path)
            row += [_ratio(ours, _get(servers[name], path)) for name in others]
        lines.append("| " + " | ".join(row) + " |")
    for label, path in CONVERGENCE:
        values = [_get(servers[name], path) for name in servers]
        if all(value is None for value in values):
            continue
        row = [f"{label}: converged, nothing lost"] + [_format(v) for v in values]
        lines.append("| " + " | ".join(row + [""] * (len(header) - len(row))) + " |")
    failures = [_failures(servers[name]) for name in servers]
    if any(failures):
        row = ["workloads that failed (see results.json)", *(f or "none" for f in failures)]
        lines.append("| " + " | ".join(row + [""] * (len(header) - len(row))) + " |")
    if any(is_earlier(name) for name in servers):
        lines += ["", *_revisions(results)]
    return "\n".join(lines) + "\n"


def _revisions(results: dict[str, Any]) -> list[str]:
    """What each of our servers ran: the working tree's commit and our earlier ones."""
    lines = []
    for name in results["servers"]:
        revision = _get(results, f"revisions.{name}") or {}
        commit = revision.get("revision") or "unknown"
        if name == OURS:
            dirty = revision.get("packageChanges")
            changes = f", with uncommitted changes to {', '.join(dirty)}" if dirty else ""
            lines.append(f"- ours: the working tree at {commit}{changes}")
        elif is_earlier(name):
            asked = revision.get("requested")
            lines.append(f"- {name}: {commit}" + (f" ({asked})" if asked else ""))
    if OURS in results["servers"]:
        lines.append("- ours / ours@REV: after ÷ before (each row says whether lower is better)")
    return lines


def _failures(server: dict[str, Any]) -> str:
    return ", ".join(
        f"{workload}: {value['error']}"
        for workload, value in server.items()
        if isinstance(value, dict) and "error" in value
    )


def _chart_revisions(results: dict[str, Any]) -> list[str]:
    names = [name for name in results["servers"] if is_earlier(name)]
    if not names:
        return []
    head = _get(results, f"revisions.{OURS}.revision") or "unknown"
    dirty = " + changes" if _get(results, f"revisions.{OURS}.packageChanges") else ""
    before = [f"{n}: before ({_get(results, f'revisions.{n}.requested') or '?'})" for n in names]
    return ["", f"ours: the working tree at {head[:10]}{dirty}", *before]


def chart(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    servers = results["servers"]
    names = list(servers)
    color = colors(names)
    from matplotlib.ticker import FuncFormatter

    plain = FuncFormatter(lambda value, _: f"{value:g}")
    # Minor ticks: label only 2x and 5x, or a log axis spanning decades is unreadable.
    sparse = FuncFormatter(lambda value, _: f"{value:g}" if f"{value:g}"[0] in "25" else "")
    figure, axes = plt.subplots(2, 4, figsize=(19, 8.5))
    figure.suptitle(f"Yjs room servers side by side ({results['run']} run, {results['date']})")

    for axis, workload in zip(axes[0][:3], ("pair", "classroom", "busy"), strict=True):
        width = 0.8 / max(1, len(names))
        for i, name in enumerate(names):
            latency = _get(servers[name], f"{workload}.latencyMs") or {}
            values = [latency.get(q) or 0 for q in ("p50", "p95", "p99", "max")]
            xs = [x + i * width for x in range(4)]
            axis.bar(xs, values, width, label=servers[name]["label"], color=color[name])
        axis.set_xticks([x + width * (len(names) - 1) / 2 for x in range(4)])
        axis.set_xticklabels(["p50", "p95", "p99", "max"])
        if axis.has_data():
            axis.set_yscale("log")
            axis.yaxis.set_major_formatter(plain)
            axis.yaxis.set_minor_formatter(sparse)
        failed = [n for n in names if "error" in (servers[n].get(workload) or {})]
        if failed:
            axis.text(
                0.02,
                0.98,
                "failed: " + ", ".join(failed),
                transform=axis.transAxes,
                va="top",
                fontsize=9,
                color="#b71c1c",
            )
        axis.set_ylabel("fan-out latency (ms, log)")
        axis.set_title(workload)
    axes[0][0].legend(fontsize=8)

    axis = axes[1][0]
    for name in names:
        steps = _get(servers[name], "ramp.steps") or []
        steps = sorted(steps, key=lambda s: s["offered"])
        axis.plot(
            [s["offered"] for s in steps],
            [s["latencyMs"]["p99"] or 0 for s in steps],
            marker="o",
            color=color[name],
            label=servers[name]["label"],
        )
    if axis.has_data():
        axis.set_xscale("log")
        axis.set_yscale("log")
        for scale in (axis.xaxis, axis.yaxis):
            scale.set_major_formatter(plain)
            scale.set_minor_formatter(sparse)
    axis.axhline(50, color="grey", linestyle="--", linewidth=1)
    axis.set_xlabel("offered keystrokes/s (rooms of 5)")
    axis.set_ylabel("p99 fan-out (ms, log)")
    axis.set_title("ramp (dashed: 50 ms)")

    axes[0][3].axis("off")
    machine = results["machine"]
    versions = results["versions"]
    axes[0][3].text(
        0,
        0.9,
        "\n".join(
            [
                f"{machine['cpus']} CPUs, {machine['memoryGiB']} GiB; server and load",
                "generator share them (loopback)",
                "",
                f"Python {versions['python']}, Node {versions['node']}",
                f"pycrdt {versions['pycrdt']}, pycrdt-websocket {versions['pycrdt-websocket']}",
                f"@y/websocket-server {versions['@y/websocket-server']}, yjs {versions['yjs']}",
                "",
                "fan-out: a keystroke typed on one peer",
                "until every other peer of its room has it",
                *_chart_revisions(results),
            ]
        ),
        va="top",
        fontsize=10,
    )
    for axis, (path_, title) in zip(
        axes[1][1:],
        (
            ("ramp.sustainedKeystrokesPerSecond", "sustained keystrokes/s (p99 < 50 ms)"),
            ("idle.kibPerIdlePeer", "memory per idle peer (KiB)"),
            ("cold.coldSyncMs", "cold load of the 100,000-edit room (ms)"),
        ),
        strict=True,
    ):
        values = [_get(servers[name], path_) for name in names]
        axis.bar(range(len(names)), [v or 0 for v in values], color=[color[n] for n in names])
        axis.set_xticks(range(len(names)))
        if len(names) > 3:  # the names of earlier revisions run into each other
            axis.set_xticklabels(names, rotation=20, ha="right")
        else:
            axis.set_xticklabels(names)
        axis.set_title(title)
        for x, value in enumerate(values):
            axis.annotate(
                "failed" if value is None else _format(value),
                (x, value or 0),
                ha="center",
                va="bottom",
            )

    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)
