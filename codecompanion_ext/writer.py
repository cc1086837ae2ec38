"""The write path: the one owner of everything the server writes to the room database.

Document updates, the language mirror, compaction and the REST API's writes all go
through one `Writer`, in the order they were made. On an event loop, the writes that
pile up while a batch commits become the next batch: one transaction, committed on the
writer's thread (sqlite3 releases the GIL while SQLite works), so the loop goes on
parsing and relaying meanwhile. A batch's callbacks then run back on the loop, in order;
that is where a room relays, so an update reaches peers only once it is committed.

Without a running loop (a script or a test) every write commits at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
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
    loop: asyncio.AbstractEventLoop | None = None  # where its callbacks run
    results: list[Any] = field(default_factory=list)
    error: StoreError | None = None


class _Appends:
    """Consecutive document updates of a batch, written by one INSERT."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, bytes]] = []
        self.committed: list[Callable[[], None]] = []
        self.failed: list[Failed] = []

    def __call__(self, store: RoomStore) -> None:
        store.append_updates(self.rows)

    def done(self, _result: None) -> None:
        for committed in self.committed:
            committed()

    def fail(self, error: StoreError) -> None:
        for failed in dict.fromkeys(self.failed):  # each room once
            failed(error)


class Writer:
    """Commits writes in order, a batch at a time, on its own thread and connection."""

    def __init__(self, store: RoomStore, *, log: logging.Logger) -> None:
        # Its own connection: the loop reads through `store` while a batch commits (WAL
        # readers see the last commit), and never shares a connection with this thread.
        self.store = RoomStore(store.path, store.synchronous, any_thread=True)
        self.log = log
        self._pending = _Batch()
        self._in_flight: _Batch | None = None  # one at a time: the next one grows meanwhile
        self._completing: _Batch | None = None
        self._scheduled = False
        self._thread: threading.Thread | None = None
        self._work: queue.SimpleQueue[_Batch | None] = queue.SimpleQueue()
        self._finished: queue.SimpleQueue[_Batch] = queue.SimpleQueue()

    # -- writing ---------------------------------------------------------------------

    def submit(self, write: Write, done: Done | None = None, failed: Failed | None = None) -> None:
        """Commit `write` in the next batch; then `done(result)`, or `failed(error)`."""
        self._pending.writes.append(write)
        self._pending.done.append(done)
        self._pending.failed.append(failed)
        if self._scheduled or self._in_flight is not None:
            return  # it goes with the batch already scheduled, or the one after the commit
        loop = _running_loop()
        if loop is None:
            self._dispatch()
        else:
            loop.call_soon(self._dispatch)  # let this iteration's other writes join
            self._scheduled = True

    def append(
        self, room_id: str, update: bytes, committed: Callable[[], None], failed: Failed
    ) -> None:
        """Commit one document update; consecutive ones share one statement."""
        writes = self._pending.writes
        group = writes[-1] if writes else None
        joining = isinstance(group, _Appends)
        if not joining:
            group = _Appends()
        assert isinstance(group, _Appends)
        group.rows.append((room_id, update))
        group.committed.append(committed)
        group.failed.append(failed)
        if not joining:  # last: without a loop, submitting commits at once
            self.submit(group, group.done, group.fail)

    def then(self, callback: Callable[[], None]) -> None:
        """Call `callback` once everything submitted so far is committed (never, if that
        failed: the failure callbacks speak for it)."""
        if self._completing is not None:
            self._completing.after.append(callback)
        elif self._pending.writes:
            self._pending.after.append(callback)
        elif self._in_flight is not None:
            self._in_flight.after.append(callback)
        else:
            callback()

    def settle(self) -> None:
        """Block until everything submitted so far is committed and its callbacks ran.

        For the rare reads and writes of the REST API; raises StoreError if a batch failed.
        """
        error: StoreError | None = None
        while self._in_flight is not None or self._pending.writes:
            if self._in_flight is None:
                self._dispatch()
                continue
            batch = self._finished.get()  # blocks until the thread has committed it
            error = self._complete(batch) or error
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
            if self._thread is not None:
                self._work.put(None)
                self._thread.join()
                self._thread = None
            self.store.close()

    # -- batches -----------------------------------------------------------------------

    def _dispatch(self) -> None:
        self._scheduled = False
        if self._in_flight is not None or not self._pending.writes:
            return
        batch, self._pending = self._pending, _Batch()
        self._in_flight = batch
        batch.loop = _running_loop()
        if batch.loop is None:  # no loop to come back to: commit here and now
            self._write(batch)
            self._complete(batch)
            return
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._commit_forever, name="codecompanion-writer", daemon=True
            )
            self._thread.start()
        self._work.put(batch)

    def _commit_forever(self) -> None:
        """The writer's thread: commit each batch, then hand it back to its loop."""
        while (batch := self._work.get()) is not None:
            self._write(batch)
            self._finished.put(batch)
            with contextlib.suppress(RuntimeError):  # a closed loop: `settle` completes it
                batch.loop.call_soon_threadsafe(self._complete_finished)  # type: ignore[union-attr]

    def _write(self, batch: _Batch) -> None:
        writes = batch.writes
        try:
            if len(writes) == 1 and isinstance(writes[0], _Appends):
                batch.results = [writes[0](self.store)]  # one statement: atomic by itself
            else:
                batch.results = self.store.write_batch(writes)
        except StoreError as e:
            batch.error = e
        except Exception as e:  # a bug must fail the batch, not stop the writer
            self.log.exception("writing a batch failed")
            batch.error = StoreError(f"unexpected error while writing: {e}")

    def _complete_finished(self) -> None:
        """On the loop: complete the batch the thread has committed, start the next one."""
        try:
            batch = self._finished.get_nowait()
        except queue.Empty:  # `settle` completed it already
            return
        self._complete(batch)
        if self._pending.writes and not self._scheduled:
            self._dispatch()

    def _complete(self, batch: _Batch) -> StoreError | None:
        """Run a batch's callbacks: each write's, then those waiting for the batch."""
        self._in_flight = None
        if batch.error is not None:
            for failed in batch.failed:
                if failed is not None:
                    self._call(failed, batch.error)
            return batch.error
        self._completing = batch
        try:
            for done, result in zip(batch.done, batch.results, strict=True):
                if done is not None:
                    self._call(done, result)
            i = 0
            while i < len(batch.after):  # callbacks may add more for this batch
                self._call(batch.after[i])
                i += 1
        finally:
            self._completing = None
        return None

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
        self.rows += 1
        self.bytes += len(update)
        self._rows_since += 1
        self._bytes_since += len(update)
        self.writer.append(self.room_id, update, committed, self._failed)
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
        """Replace the stored history by one update holding the same state.

        The snapshot is encoded here, on the loop: a pycrdt document is not safe to read
        from another thread while the loop edits it (its current transaction is shared,
        not per thread). Rewriting the rows, the slow part, runs on the writer's thread,
        after every earlier append of the batch."""
        if self.closed or self._compacting or self.rows <= 1:
            return
        self._compacting = True
        self._rows_since = self._bytes_since = 0
        snapshot = self._snapshot()
        room_id = self.room_id

        def write(store: RoomStore) -> int:
            store.replace_updates(room_id, snapshot)
            return len(snapshot)

        self.writer.submit(write, self._compacted, self._compaction_failed)

    def then(self, callback: Callable[[], None]) -> None:
        self.writer.then(callback)

    def _compacted(self, size: int) -> None:
        self._compacting = False
        self.rows = 1 + self._rows_since
        self.bytes = size + self._bytes_since
        if self.rows > self.compact_after:
            self.compact()

    def _compaction_failed(self, error: StoreError) -> None:
        self._compacting = False
        self._failed(error)
