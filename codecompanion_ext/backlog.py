"""What a room has queued for its connections that they have not read yet.

Tornado's write buffer has no bound: a peer that stops reading keeps, in the server's
memory, every frame sent to it from then on. A room counts what it queues for each
peer until Tornado reports it written (the future of the write). A frame shared by
many peers (a `Broadcast`) is queued as a view of the same bytes, not a copy: it counts
in full for each peer that waits for it, and once for the room.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Hashable
from typing import Any

from .frames import Broadcast


class SendBacklog:
    """Bytes queued for each peer of a room, and distinct bytes queued for all of them."""

    def __init__(
        self,
        per_peer: int,
        per_room: int,
        written: Callable[[bytes], None] | None = None,
        drained: Callable[[Hashable], None] | None = None,
    ) -> None:
        """`written(frame)` is told when no peer waits for a shared frame any more,
        `drained(peer)` when nothing waits for `peer` any more."""
        self.per_peer = per_peer
        self.per_room = per_room
        self._written = written
        self._drained = drained
        self.bytes = 0  # distinct bytes the room's queues hold
        self._shared: dict[int, list[Any]] = {}  # id(frame) -> [frame, peers waiting for it]
        # What waits for each peer: entry number -> (id of its shared frame or None, size).
        self._entries: dict[Hashable, dict[int, tuple[int | None, int]]] = {}
        self._queued: dict[Hashable, int] = {}
        self._numbers = itertools.count()

    def queued(self, peer: Hashable) -> int:
        """Bytes queued for `peer` (shared frames in full) that it has not read yet."""
        return self._queued.get(peer, 0)

    def added_by(self, message: bytes) -> int:
        """The bytes queueing `message` once more would add to the room's memory."""
        if isinstance(message, Broadcast) and id(message.frame) in self._shared:
            return 0
        return len(message)

    def slowest(self, peers: Any) -> Hashable | None:
        """Of `peers`, the one with the most bytes waiting (None if none waits)."""
        return max((p for p in peers if self._queued.get(p)), key=self.queued, default=None)

    def track(self, peer: Hashable, message: bytes, written: Any) -> None:
        """Count `message`, just queued for `peer`, until `written` (its write's future)
        completes. None (not queued on a stream) counts nothing, nor does a write already
        done (a peer that reads keeps up: its frames went straight to the socket)."""
        if written is not None and not written.done():
            self.when_written(peer, self.reserve(peer, message), written)

    def reserve(self, peer: Hashable, message: bytes) -> int:
        """Count `message` for `peer` from now on (it waits to be queued, or is queued):
        the number to `release` it by."""
        size = len(message)
        key = None
        if isinstance(message, Broadcast):
            frame = message.frame
            key = id(frame)
            shared = self._shared.get(key)
            if shared is None:
                self._shared[key] = [frame, 1]
                self.bytes += size
            else:
                shared[1] += 1
        else:
            self.bytes += size
        number = next(self._numbers)
        self._entries.setdefault(peer, {})[number] = (key, size)
        self._queued[peer] = self._queued.get(peer, 0) + size
        return number

    def when_written(self, peer: Hashable, number: int, written: Any) -> None:
        """Release entry `number` once `written` (a write's future) completes."""
        if written.done():
            self.release(peer, number)
        else:
            written.add_done_callback(lambda _: self.release(peer, number))

    def forget(self, peer: Hashable) -> None:
        """Release everything counted for `peer` now (its stream was dropped)."""
        for number in list(self._entries.get(peer, ())):
            self.release(peer, number)

    def release(self, peer: Hashable, number: int) -> None:
        entries = self._entries.get(peer)
        if not entries or number not in entries:
            return  # released already (forgotten)
        key, size = entries.pop(number)
        if entries:
            self._queued[peer] -= size
        else:
            del self._entries[peer], self._queued[peer]
            if self._drained is not None:
                self._drained(peer)
        if key is None:
            self.bytes -= size
            return
        shared = self._shared[key]
        shared[1] -= 1
        if not shared[1]:
            del self._shared[key]
            self.bytes -= size
            if self._written is not None:
                self._written(shared[0])
