"""Strict reading of y-websocket messages, on top of pycrdt's decoder.

pycrdt's `Decoder` trusts its input (a truncated message reads as a shorter
one); a room server must not, so every length is checked here before any byte
reaches a document or the awareness state.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from enum import IntEnum

from pycrdt import Decoder, YMessageType, YSyncMessageType

from .validation import name_problem

SAFE_COLOR = re.compile(
    r"(?:#[0-9a-fA-F]{3,8}|[a-zA-Z]{1,24}|(?:rgb|hsl)a?\([0-9.,%\s]{1,40}\))\Z", re.ASCII
)
# JavaScript clients hold client ids and clocks as doubles: keep them exact there.
MAX_SAFE_INTEGER = 2**53 - 1
# Presence is a few levels deep (user, cursor, relative positions); deeper is an attack on
# whoever serialises it next (Python's json recurses).
MAX_STATE_DEPTH = 32


class MessageType(IntEnum):
    """The message types of the y-websocket protocol."""

    SYNC = YMessageType.SYNC
    AWARENESS = YMessageType.AWARENESS
    AUTH = 2
    QUERY_AWARENESS = 3


class ProtocolError(ValueError):
    """A WebSocket message that does not follow the y-websocket protocol."""


@dataclass(frozen=True)
class Message:
    type: MessageType
    payload: bytes = b""
    sync_type: YSyncMessageType | None = None


@dataclass(frozen=True)
class AwarenessEntry:
    client_id: int
    clock: int
    state_json: str  # "null" when the client left


def _read_uint(decoder: Decoder, what: str) -> int:
    try:
        value = decoder.read_var_uint()
    except (IndexError, RuntimeError):
        raise ProtocolError(f"truncated {what}") from None
    if value > MAX_SAFE_INTEGER:
        raise ProtocolError(f"{what} is out of range")
    return value


def _read_bytes(decoder: Decoder, what: str) -> bytes:
    length = _read_uint(decoder, f"length of {what}")
    if length > decoder.length:
        raise ProtocolError(f"{what} is shorter than its length prefix says")
    start = decoder.i0
    decoder.i0 += length
    decoder.length -= length
    return bytes(decoder.stream[start : start + length])


def _expect_end(decoder: Decoder, what: str) -> None:
    if decoder.length != 0:
        raise ProtocolError(f"unexpected bytes after the {what}")


def parse_message(data: bytes) -> Message:
    """Split one WebSocket frame into its y-websocket message type and payload."""
    if not isinstance(data, bytes):
        raise ProtocolError("y-websocket messages are binary frames")
    decoder = Decoder(data)
    kind = _read_uint(decoder, "message type")
    if kind == MessageType.SYNC:
        sync_type = _read_uint(decoder, "sync message type")
        if sync_type not in tuple(YSyncMessageType):
            raise ProtocolError(f"unknown sync message type {sync_type}")
        payload = _read_bytes(decoder, "sync payload")
        _expect_end(decoder, "sync message")
        return Message(MessageType.SYNC, payload, YSyncMessageType(sync_type))
    if kind == MessageType.AWARENESS:
        payload = _read_bytes(decoder, "awareness update")
        _expect_end(decoder, "awareness message")
        return Message(MessageType.AWARENESS, payload)
    if kind == MessageType.QUERY_AWARENESS:
        return Message(MessageType.QUERY_AWARENESS)
    raise ProtocolError(f"unsupported message type {kind}")


def _raw_awareness_entries(payload: bytes) -> list[tuple[int, int, bytes]]:
    """(client id, clock, state bytes) of each entry of an awareness update."""
    decoder = Decoder(payload)
    count = _read_uint(decoder, "awareness entry count")
    entries = []
    for _ in range(count):
        client_id = _read_uint(decoder, "awareness client id")
        clock = _read_uint(decoder, "awareness clock")
        entries.append((client_id, clock, _read_bytes(decoder, "awareness state")))
    _expect_end(decoder, "awareness update")
    return entries


def awareness_clocks(payload: bytes) -> list[tuple[int, int, bool]]:
    """(client id, clock, leaving) of each entry, states left undecoded.

    Enough to recognise an echo: y-websocket clients send back every awareness change
    they receive, so most awareness messages a room gets carry nothing new.
    """
    return [(c, clock, raw == b"null") for c, clock, raw in _raw_awareness_entries(payload)]


def _refuse_constant(name: str) -> None:
    """NaN and Infinity: Python's json accepts them, JavaScript's JSON.parse does not, and
    every browser that joins is sent the room's presence."""
    raise ProtocolError(f"awareness state is not strict JSON ({name})")


def _depth(value: object) -> int:
    """How deeply `value` nests lists and dicts (without recursing)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        children = (
            item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        )
        if children:
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in children)
    return deepest


def parse_awareness_update(payload: bytes, max_state_size: int) -> list[AwarenessEntry]:
    """Read every entry of an awareness update, refusing anything malformed or oversized."""
    entries = []
    for client_id, clock, raw_state in _raw_awareness_entries(payload):
        if len(raw_state) > max_state_size:
            raise ProtocolError(f"awareness state is larger than {max_state_size} bytes")
        try:
            state_json = raw_state.decode("utf-8")
            state = json.loads(state_json, parse_constant=_refuse_constant)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise ProtocolError("awareness state is not valid JSON") from None
        except RecursionError:
            raise ProtocolError("awareness state is nested too deeply") from None
        if _depth(state) > MAX_STATE_DEPTH:
            raise ProtocolError("awareness state is nested too deeply")
        if state is not None and not isinstance(state, dict):
            raise ProtocolError("awareness state must be a JSON object or null")
        if isinstance(state, dict) and isinstance(state.get("user"), dict):
            for field in ("color", "colorLight"):
                color = state["user"].get(field)
                if color is not None and not (isinstance(color, str) and SAFE_COLOR.match(color)):
                    # Editors put these into style attributes: only plain colours may pass.
                    raise ProtocolError(f"awareness user.{field} is not a plain CSS colour")
            name = state["user"].get("name")
            problem = name_problem(name) if isinstance(name, str) else None
            if problem:  # shown to everyone as who is online, like a joined name
                raise ProtocolError(f"awareness user.name {problem}")
        entries.append(AwarenessEntry(client_id, clock, state_json))
    return entries
