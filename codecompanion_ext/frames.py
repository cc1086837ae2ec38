"""Server-to-client WebSocket frames, built once for every peer that gets them.

A room sends the same message to each of its peers. Framing it per peer (and, in
Tornado, wrapping each write in a task) was most of what relaying cost; a `Broadcast`
carries its frame, built on first use, so every peer's stream gets the same bytes.
"""

from __future__ import annotations

import struct

BINARY_FINAL = 0x82  # FIN bit and opcode 2 (binary); server frames are never masked


def binary_frame(payload: bytes) -> bytes:
    """One unmasked, uncompressed, final binary frame (RFC 6455, section 5.2)."""
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", BINARY_FINAL, length)
    elif length <= 0xFFFF:
        header = struct.pack("!BBH", BINARY_FINAL, 126, length)
    else:
        header = struct.pack("!BBQ", BINARY_FINAL, 127, length)
    return header + payload


class Broadcast(bytes):
    """A message bound for many peers; peers that write raw frames share `frame`."""

    _frame: bytes | None = None

    @property
    def frame(self) -> bytes:
        if self._frame is None:
            self._frame = binary_frame(self)
        return self._frame
