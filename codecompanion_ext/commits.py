"""Group commit: the document updates of one event-loop iteration share one transaction.

A room still relays an update only once it is committed. Grouping only lets the
updates that arrive together, from every room, share one COMMIT, which is most of
what a small SQLite write costs. Under load an iteration handles more messages, so
batches grow exactly when it pays.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from .store import RoomStore, StoreError

Committed = Callable[[], None]
Failed = Callable[[StoreError], None]


class GroupCommit:
    """Collects updates and writes them at the end of the current loop iteration."""

    def __init__(self, store: RoomStore) -> None:
        self.store = store
        self._pending: list[tuple[str, bytes, Committed, Failed]] = []
        self._after: list[Committed] = []
        self._scheduled = False

    def submit(self, room_id: str, update: bytes, committed: Committed, failed: Failed) -> None:
        """Write `update` soon; then call `committed`, or `failed` if it could not be saved."""
        self._pending.append((room_id, update, committed, failed))
        if self._scheduled:
            return
        try:
            asyncio.get_running_loop().call_soon(self.flush)
            self._scheduled = True
        except RuntimeError:  # no event loop (a script or a test): write now
            self.flush()

    def after(self, callback: Committed) -> None:
        """Call `callback` once this batch is committed and each update's callback has run."""
        self._after.append(callback)

    def flush(self) -> None:
        """Write everything pending now (before anything that reads the documents' state)."""
        self._scheduled = False
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        try:
            self.store.append_updates([(room_id, update) for room_id, update, _, _ in pending])
        except StoreError as e:
            for _, _, _, failed in pending:
                failed(e)
            return
        for _, _, committed, _ in pending:
            committed()
        after, self._after = self._after, []
        for callback in after:
            callback()
