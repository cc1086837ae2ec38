"""What a room has queued for its connections that they have not read yet.

Tornado's write buffer has no bound: a peer that stops reading keeps, in the server's
memory, every frame sent to it from then on. A room counts what it queues for each
peer until Tornado reports it written (the future of the write). A frame shared by
many peers (a `Broadcast`) is queued as a view of the same bytes, not a copy: it counts
in full for each peer that waits for it, and once for the room.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable
from typing import Any

from .frames import Broadcast


class SendBacklog:
    """Bytes queued for each peer of a room, and distinct bytes queued for all of them."""

    def __init__(
        self, per_peer: int, per_room: int, written: Callable[[bytes], None] | None = None
    ) -> None:
        """`written(frame)` is told when no peer waits for a shared frame any more."""
        self.per_peer = per_peer
        self.per_room = per_room
        self._written = written
        self.bytes = 0  # distinct bytes the room's queues hold
        self._shared: dict[int, list[Any]] = {}  # id(frame) -> [frame, peers waiting for it]
        # Each peer's writes in order: (id of its shared frame or None, size). Tornado
        # completes a stream's writes in order, so each completion releases the oldest.
        self._queues: dict[Hashable, deque[tuple[int | None, int]]] = {}
        self._queued: dict[Hashable, int] = {}

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
        completes; None (not queued on a stream) counts nothing."""
        if written is None:
            return
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
        self._queues.setdefault(peer, deque()).append((key, size))
        self._queued[peer] = self._queued.get(peer, 0) + size
        written.add_done_callback(lambda _: self._release_oldest(peer))

    def forget(self, peer: Hashable) -> None:
        """Release everything queued for `peer` now (its stream was dropped)."""
        queue = self._queues.get(peer)
        while queue:
            self._release_oldest(peer)

    def _release_oldest(self, peer: Hashable) -> None:
        queue = self._queues.get(peer)
        if not queue:
            return  # forgotten already
        key, size = queue.popleft()
        if queue:
            self._queued[peer] -= size
        else:
            del self._queues[peer], self._queued[peer]
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
