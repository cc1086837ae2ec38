"""Room edits as server activity, so that an idle culler does not stop a class mid-lesson.

Jupyter counts HTTP API calls and kernels as activity, not WebSocket traffic; on a hub
whose proxy reports no route activity, a teacher's server whose rooms students are typing
in looks idle and is culled. Edits relayed by a room are reported instead, at most once
per interval: what a culler needs (timeouts are minutes) for a monotonic-clock comparison
per relayed batch. Presence is not reported: every open tab renews it every 15 seconds,
so counting it would keep a server alive as long as anyone forgot a tab.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class ActivityReport:
    """Calls `report` for the first edit of each `interval` seconds (leading edge: an
    edit after a quiet spell is reported at once, later ones at most `interval` late)."""

    __slots__ = ("_clock", "_next", "interval", "report")

    def __init__(
        self,
        interval: float,
        report: Callable[[], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval = interval
        self.report = report
        self._clock = clock
        self._next = float("-inf")

    def __call__(self) -> None:
        now = self._clock()
        if now < self._next:
            return
        self._next = now + self.interval
        self.report()
