"""Which of a client's own edits are on the server's disk (the headless client's `saved()`).

js/src/saved.ts does the same for the editors, with Yjs's own decoder; here the update's
shape reader (update_shape.py) lists the delete ranges that pycrdt cannot decode.
"""

from __future__ import annotations

from pycrdt import Decoder

from .protocol import ProtocolError
from .update_shape import read_shape

UNBOUNDED = 1 << 62  # read_shape's step budget: these updates are our own or the server's


def decode_state_vector(payload: bytes) -> dict[int, int]:
    decoder = Decoder(payload)
    count = decoder.read_var_uint()
    return {decoder.read_var_uint(): decoder.read_var_uint() for _ in range(count)}


class SaveTracker:
    """Which of our edits the server has sent back. The server relays an edit, to its
    sender too, only once it is committed, and greets with the state vector of what it has
    committed (docs/guarantees.md). It refuses updates that build on edits it lacks, so an
    echo reaching our clock `c` means all our inserts below `c` are on disk."""

    def __init__(self, client_id: int) -> None:
        self.client_id = client_id
        self.end = 0  # one past our last inserted clock
        self.confirmed = 0
        self.deletes: dict[int, list[tuple[int, int]]] = {}  # our deletions not yet back

    @property
    def saved(self) -> bool:
        return self.confirmed >= self.end and not self.deletes

    def track(self, update: bytes) -> None:
        shape = read_shape(update, UNBOUNDED, deletes := {})
        self.end = max(self.end, shape.ends.get(self.client_id, 0))
        for client, ranges in deletes.items():
            self.deletes.setdefault(client, []).extend(ranges)

    def confirm_state(self, state_vector: dict[int, int]) -> None:
        self.confirmed = max(self.confirmed, state_vector.get(self.client_id, 0))

    def confirm_update(self, update: bytes) -> None:
        if self.saved:
            return  # nothing to learn: skip reading big updates
        try:
            shape = read_shape(update, UNBOUNDED, deletes := {})
        except ProtocolError:
            return
        self.confirmed = max(self.confirmed, shape.ends.get(self.client_id, 0))
        for client, ranges in deletes.items():
            pending = self.deletes.get(client)
            for start, end in ranges if pending else ():
                pending = [
                    piece
                    for low, high in pending
                    for piece in ((low, min(high, start)), (max(low, end), high))
                    if piece[0] < piece[1]
                ]
            if pending:
                self.deletes[client] = pending
            else:
                self.deletes.pop(client, None)
