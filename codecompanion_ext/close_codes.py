"""Every WebSocket close code a room connection can end with: the one list.

Clients read them (js/src/closeCodes.ts is a copy, checked against this one by
tests/test_close_codes.py), so a code never changes meaning. 1000-2999 are RFC 6455's;
4000-4999 are free for applications, and ours mirror the HTTP status they resemble.
"""

from __future__ import annotations

from enum import IntEnum

MAX_REASON_BYTES = 123  # RFC 6455: a close frame's reason fits in 123 bytes


class CloseCode(IntEnum):
    GOING_AWAY = 1001
    """The server is shutting down; reconnect later."""
    UNSUPPORTED_DATA = 1003
    """A text frame: y-websocket speaks binary."""
    INVALID_PAYLOAD = 1007
    """A malformed y-websocket message."""
    POLICY_VIOLATION = 1008
    """Over a per-connection limit: too many messages (or too much work) for too long,
    presence past its bounds, or too slow to read what it is sent. Clients reconnect."""
    MESSAGE_TOO_BIG = 1009
    """A message over `max_message_size` (sent by Tornado itself)."""
    INTERNAL_ERROR = 1011
    """Storage failed: the client reconnects and resends its edits."""
    KEY_ROTATED = 4403
    """The room's links were changed: the key this connection used no longer opens it."""
    ROOM_NOT_FOUND = 4404
    """No such room."""
    ROOM_DELETED = 4410
    """The room was deleted."""
    DOCUMENT_TOO_LARGE = 4413
    """The room is full: the edit would grow it past `max_document_size` (resending it
    cannot help, so clients stop and say so)."""
    ROOM_FULL = 4429
    """The room already has `max_peers_per_room` connections."""


FINAL = frozenset(
    {
        CloseCode.KEY_ROTATED,
        CloseCode.ROOM_NOT_FOUND,
        CloseCode.ROOM_DELETED,
        CloseCode.DOCUMENT_TOO_LARGE,
    }
)
"""Codes after which reconnecting cannot help: clients stop and say why."""


def close_reason(text: str) -> str:
    """`text` cut to what a close frame can carry, on a character boundary."""
    return text.encode("utf-8")[:MAX_REASON_BYTES].decode("utf-8", "ignore")
