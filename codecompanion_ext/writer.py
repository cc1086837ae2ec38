"""The write path: the one owner of everything the server writes to the room database.

Document updates, the language mirror, compaction and the REST API's writes all go
through one `Writer`, in the order they were made. On an event loop, the writes that
pile up while a batch commits become the next batch: one transaction, committed on the
writer's thread (sqlite3 and pycrdt's encoder release the GIL), so the loop goes on
parsing and relaying meanwhile. A batch's callbacks then run back on the loop, in order;
that is where a room relays, so an update reaches peers only once it is committed.

Without a running loop (a script or a test) every write commits at once.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from . import defaults
from .store import RoomStore, StoreError
from .validation import is_language

T = TypeVar("T")
Write = Callable[[RoomStore], Any]  # runs on the writer's thread, inside the batch
Done = Callable[[Any], None]  # gets the write's result, on the loop, once committed
Failed = Callable[[StoreError], None]


@dataclass
class _Batch:
    writes: list[Write] = field(default_factory=list)
    done: list[Done | None] = field(default_factory=list)
    failed: list[Failed | None] = field(default_factory=list)
    after: list[Callable[[], None]] = field(default_factory=list)
    future: concurrent.futures.Future[list[Any]] | None = None


class Writer:
    """Commits writes in order, a batch at a time, on its own thread and connection."""

    def __init__(self, store: RoomStore, *, log: logging.Logger) -> None:
        # Its own connection: the loop reads through `store` while a batch commits (WAL
        # readers see the last commit), and never shares a connection with this thread.
        self.store = RoomStore(store.path, store.synchronous, any_thread=True)
        self.log = log
        self._pending = _Batch()
        self._in_flight: deque[_Batch] = deque()
        self._completing: _Batch | None = None
        self._scheduled = False
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None

    # -- writing ---------------------------------------------------------------------

    def submit(self, write: Write, done: Done | None = None, failed: Failed | None = None) -> None:
        """Commit `write` in the next batch; then `done(result)`, or `failed(error)`."""
        self._pending.writes.append(write)
        self._pending.done.append(done)
        self._pending.failed.append(failed)
        loop = _running_loop()
        if loop is None:
            self._dispatch()
        elif not self._scheduled and not self._in_flight:
            loop.call_soon(self._dispatch)  # let this iteration's other writes join
            self._scheduled = True

    def then(self, callback: Callable[[], None]) -> None:
        """Call `callback` once everything submitted so far is committed (never, if that
        failed: the failure callbacks speak for it)."""
        if self._completing is not None:
            self._completing.after.append(callback)
        elif self._pending.writes:
            self._pending.after.append(callback)
        elif self._in_flight:
            self._in_flight[-1].after.append(callback)
        else:
            callback()

    def settle(self) -> None:
        """Block until everything submitted so far is committed and its callbacks ran.

        For the rare reads and writes of the REST API; raises StoreError if a batch failed.
        """
        error: StoreError | None = None
        while self._in_flight or self._pending.writes:
            if not self._in_flight:
                self._dispatch()
                continue
            concurrent.futures.wait([self._in_flight[0].future])  # type: ignore[list-item]
            error = self._complete_ready() or error
        if error is not None:
            raise error

    def run(self, write: Callable[[RoomStore], T]) -> T:
        """Commit `write` now, after everything submitted before it, and return its result."""
        self.settle()  # the thread is idle now: the connection is ours until we return
        return self.store.write_batch([write])[0]

    def read(self, value: Callable[[], T]) -> T:
        """`value()` as it is now, returned once everything it may reflect is committed."""
        result = value()
        self.settle()
        return result

    def journal(
        self,
        room_id: str,
        history: list[bytes],
        snapshot: Callable[[], bytes],
        language: str | None,
        failed: Failed,
        compact_after: int = defaults.COMPACT_AFTER,
    ) -> RoomJournal:
        """The writer's handle on one loaded room."""
        return RoomJournal(self, room_id, history, snapshot, language, failed, compact_after)

    def close(self) -> None:
        """Commit what is pending, then stop the thread and close the connection."""
        try:
            self.settle()
        finally:
            if self._executor is not None:
                self._executor.shutdown()
            self.store.close()

    # -- batches -----------------------------------------------------------------------

    def _dispatch(self) -> None:
        self._scheduled = False
        if self._in_flight or not self._pending.writes:
            return
        batch, self._pending = self._pending, _Batch()
        loop = _running_loop()
        if loop is None:
            future: concurrent.futures.Future[list[Any]] = concurrent.futures.Future()
            try:
                future.set_result(self.store.write_batch(batch.writes))
            except StoreError as e:
                future.set_exception(e)
            batch.future = future
            self._in_flight.append(batch)
            self._complete_ready()
            return
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(
                1, thread_name_prefix="codecompanion-writer"
            )
        batch.future = self._executor.submit(self.store.write_batch, batch.writes)
        self._in_flight.append(batch)
        batch.future.add_done_callback(
            lambda _: loop.call_soon_threadsafe(self._complete_ready)  # type: ignore[union-attr]
        )

    def _complete_ready(self) -> StoreError | None:
        """Run the callbacks of the committed batches, oldest first; start the next batch."""
        error = None
        while self._in_flight and self._in_flight[0].future.done():  # type: ignore[union-attr]
            batch = self._in_flight.popleft()
            try:
                results = batch.future.result()  # type: ignore[union-attr]
            except StoreError as e:
                error = e
                for failed in batch.failed:
                    if failed is not None:
                        self._call(failed, e)
                continue
            self._completing = batch
            try:
                for done, result in zip(batch.done, results, strict=True):
                    if done is not None:
                        self._call(done, result)
                i = 0
                while i < len(batch.after):  # callbacks may add more for this batch
                    self._call(batch.after[i])
                    i += 1
            finally:
                self._completing = None
        if self._pending.writes and not self._in_flight and not self._scheduled:
            self._dispatch()
        return error

    def _call(self, callback: Callable[..., None], *args: Any) -> None:
        """A callback that raises is logged; it does not stop the others."""
        try:
            callback(*args)
        except Exception:
            self.log.exception("a storage callback failed")


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class RoomJournal:
    """One room's history as the writer keeps it: appends in order, the language mirror,
    the compaction policy, and how many rows and bytes the room holds once what is
    queued commits (so size limits count edits not yet committed)."""

    def __init__(
        self,
        writer: Writer,
        room_id: str,
        history: list[bytes],
        snapshot: Callable[[], bytes],
        language: str | None,
        failed: Failed,
        compact_after: int,
    ) -> None:
        self.writer = writer
        self.room_id = room_id
        self.rows = len(history)
        self.bytes = sum(map(len, history))
        self.compact_after = compact_after
        self._snapshot = snapshot
        self._language = language
        self._failed = failed
        self._compacting = False
        self._rows_since = 0  # appended after the compaction in progress
        self._bytes_since = 0
        self.closed = False

    def append(self, update: bytes, committed: Callable[[], None]) -> None:
        """Store one applied update; `committed()` once it is."""
        if self.closed:
            return
        room_id = self.room_id
        self.rows += 1
        self.bytes += len(update)
        self._rows_since += 1
        self._bytes_since += len(update)
        self.writer.submit(
            lambda store: store.append_update(room_id, update), lambda _: committed(), self._failed
        )
        if self.rows > self.compact_after:
            self.compact()

    def mirror_language(self, language: str | None) -> None:
        """Keep the rooms table's language equal to the document's `meta.language`."""
        if self.closed or language == self._language:
            return
        if not is_language(language):
            self.writer.log.warning("room %s: ignoring unknown language %r", self.room_id, language)
            return
        self._language = language
        room_id = self.room_id
        self.writer.submit(lambda store: store.set_language(room_id, language), None, self._failed)

    def compact(self) -> None:
        """Replace the stored history by one update holding the same state. The snapshot
        is encoded on the writer's thread, after every earlier append is in the batch."""
        if self.closed or self._compacting or self.rows <= 1:
            return
        self._compacting = True
        self._rows_since = self._bytes_since = 0
        self.writer.submit(self._write_snapshot, self._compacted, self._compaction_failed)

    def then(self, callback: Callable[[], None]) -> None:
        self.writer.then(callback)

    def _write_snapshot(self, store: RoomStore) -> int:
        snapshot = self._snapshot()
        store.replace_updates(self.room_id, snapshot)
        return len(snapshot)

    def _compacted(self, size: int) -> None:
        self._compacting = False
        self.rows = 1 + self._rows_since
        self.bytes = size + self._bytes_since
        if self.rows > self.compact_after:
            self.compact()

    def _compaction_failed(self, error: StoreError) -> None:
        self._compacting = False
        self._failed(error)
