"""What document updates cost the event loop: bounded before they are applied, metered after.

Applying an update holds the loop (pycrdt holds the GIL), and its cost grows with how
many blocks it splits, each split copying what is left of the block and shifting the
client's list of blocks. So a peer could send a kilobyte of delete ranges that costs
seconds. Two bounds keep any peer's edits to milliseconds of loop time:

- Before: an update may carry only as many pieces (structs, delete ranges) as the
  room's worst case allows within `max_update_ms`: every piece is priced as if it split
  the largest block the room could hold (bounded by the bytes it has stored) and
  shifted every block it holds.
- After: the time each update really took is charged to the room and to its sender,
  each allowed `cpu_share` of one core on average; past that the sender waits before its
  next message is read, and a sender kept waiting for 5 s is cut off.
"""

from __future__ import annotations

import math

from .limits import TokenBucket
from .update_shape import UpdateShape

# Twice what pycrdt 0.14 (yrs 0.28) costs on a quiet core: the per-piece cost of
# reading and integrating it, of copying a block's bytes when it is split, and of
# shifting one block in its client's list.
NS_PER_PIECE = 4_000
NS_PER_COPIED_BYTE = 0.12
NS_PER_SHIFTED_BLOCK = 3.0
MAX_PIECES = 20_000  # whatever the room: bounds the reading itself
BURST_SECONDS = 0.25  # loop time a room or a peer may use at once
MAX_BEHIND = 5.0  # seconds a sender may be kept waiting before it is cut off


class EditCost:
    """The cost bounds of one room's document updates."""

    def __init__(self, max_update_ms: float, cpu_share: float, blocks: int = 0) -> None:
        """`blocks` estimates how many blocks the room's document holds."""
        self.max_update_ns = max_update_ms * 1e6
        self.cpu_share = cpu_share
        self.blocks = blocks
        self.room = TokenBucket(cpu_share, BURST_SECONDS, max_behind=math.inf)

    def peer_budget(self) -> TokenBucket:
        """A sender's own meter: the one that decides whether it is cut off."""
        return TokenBucket(self.cpu_share, BURST_SECONDS, max_behind=MAX_BEHIND)

    def max_pieces(self, content_bytes: int) -> int:
        """How many pieces one update may carry when no block can hold more than
        `content_bytes` bytes."""
        per_piece = (
            NS_PER_PIECE + NS_PER_COPIED_BYTE * content_bytes + NS_PER_SHIFTED_BLOCK * self.blocks
        )
        return max(1, min(MAX_PIECES, int(self.max_update_ns / per_piece)))

    def applied(self, shape: UpdateShape, seconds: float, sender: TokenBucket) -> float | None:
        """Record an applied update that took `seconds`: how long its sender should wait
        before its next message is read, or None to cut the sender off."""
        self.blocks += 2 * shape.pieces  # each piece may split one block in two, at most
        room_wait = self.room.take(seconds)
        sender_wait = sender.take(seconds)
        if sender_wait is None:
            return None
        return max(room_wait or 0.0, sender_wait)
