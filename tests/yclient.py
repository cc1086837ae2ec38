"""A real Yjs peer for tests: a pycrdt document synced over a real WebSocket.

It speaks y-websocket as the npm client does: sync step 1 on connect, step 2 in
reply to the server's step 1, updates for local edits, and its awareness state.
Edits made while disconnected stay in the document and merge on reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from pycrdt import (
    Awareness,
    Decoder,
    Doc,
    Map,
    Text,
    YMessageType,
    YSyncMessageType,
    create_awareness_message,
    create_sync_message,
    create_update_message,
    handle_sync_message,
)
from tornado.httpclient import HTTPRequest
from tornado.websocket import WebSocketClientConnection, WebSocketClosedError, websocket_connect


async def eventually(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "") -> Any:
    """Poll `predicate` until it is truthy or the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
        await asyncio.sleep(0.01)


async def eventually_async(
    produce: Callable[[], Awaitable[Any]], expected: Any, timeout: float = 10.0
) -> None:
    """Await `produce()` until it returns `expected` or the deadline passes."""
    deadline = time.monotonic() + timeout
    while (value := await produce()) != expected:
        if time.monotonic() > deadline:
            raise AssertionError(f"after {timeout}s still {value!r}, expected {expected!r}")
        await asyncio.sleep(0.01)


class YClient:
    max_message_size = 10 * 1024 * 1024  # Tornado's default; a room of 64 MiB needs more

    def __init__(self, url: str, headers: dict[str, str] | None = None, name: str = "py") -> None:
        self.url = url
        self.headers = headers or {}
        self.name = name
        self.doc: Doc = Doc()
        self.code = self.doc.get("code", type=Text)
        self.meta = self.doc.get("meta", type=Map)
        self.awareness = Awareness(self.doc)
        self.awareness.set_local_state(None)
        self.ws: WebSocketClientConnection | None = None
        self.synced = asyncio.Event()
        self.closed = asyncio.Event()
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self.received: list[bytes] = []
        self.awareness_updates: list[list[tuple[int, int, Any]]] = []
        self._reader: asyncio.Task[None] | None = None

    @property
    def text(self) -> str:
        return str(self.code)

    @property
    def language(self) -> Any:
        return self.meta.get("language")

    async def connect(self) -> YClient:
        self.synced.clear()
        self.closed.clear()
        self.close_code = self.close_reason = None
        request = HTTPRequest(self.url, headers=self.headers, connect_timeout=10)
        self.ws = await websocket_connect(request, max_message_size=self.max_message_size)
        self._reader = asyncio.ensure_future(self._read())
        self.ws.write_message(create_sync_message(self.doc), binary=True)
        if self.awareness.get_local_state() is not None:
            self.send_awareness()
        return self

    async def sync(self) -> YClient:
        await self.connect()
        await asyncio.wait_for(self.synced.wait(), 10)
        return self

    async def close(self) -> None:
        if self.ws is not None:
            self.ws.close()
            await asyncio.wait_for(self.closed.wait(), 10)
            self.ws = None

    async def _read(self) -> None:
        assert self.ws is not None
        ws = self.ws
        while True:
            message = await ws.read_message()
            if message is None:
                self.close_code, self.close_reason = ws.close_code, ws.close_reason
                ws.close()  # the server closed it: release our side too
                self.closed.set()
                return
            assert isinstance(message, bytes)
            self.received.append(message)
            self._handle(message)

    def _handle(self, message: bytes) -> None:
        if message[0] == YMessageType.SYNC:
            reply = handle_sync_message(message[1:], self.doc)
            if reply is not None:
                self.send_raw(reply)
            if message[1] == YSyncMessageType.SYNC_STEP2:
                self.synced.set()
        elif message[0] == YMessageType.AWARENESS:
            update = Decoder(message[1:]).read_message()
            assert update is not None
            self.awareness_updates.append(decode_awareness(update))
            self.awareness.apply_awareness_update(update, "remote")

    # -- sending -----------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self.ws is not None and not self.closed.is_set()

    def send_raw(self, data: bytes) -> None:
        """Send a frame; if the socket just died, the edit stays in the doc for the next sync."""
        assert self.ws is not None
        with contextlib.suppress(WebSocketClosedError):
            self.ws.write_message(data, binary=True)

    def edit(self, change: Callable[[], None]) -> bytes:
        """Apply a local change and send its update (kept locally while offline).

        The update is the transaction's own, as Yjs clients send it: only this
        change's insertions and deletions, not the document's whole delete set.
        """
        updates: list[bytes] = []
        subscription = self.doc.observe(lambda event: updates.append(event.update))
        try:
            change()
        finally:
            self.doc.unobserve(subscription)
        (update,) = updates
        if self.connected:
            self.send_raw(create_update_message(update))
        return update

    def insert(self, index: int, text: str) -> bytes:
        return self.edit(lambda: self.code.insert(index, text))

    def append(self, text: str) -> bytes:
        return self.edit(lambda: self.code.insert(len(self.code), text))

    def delete(self, index: int, length: int) -> bytes:
        return self.edit(lambda: self.code.__delitem__(slice(index, index + length)))

    def set_presence(self, state: dict[str, Any] | None) -> None:
        self.awareness.set_local_state(state)
        if self.connected:
            self.send_awareness()

    def send_awareness(self) -> None:
        update = self.awareness.encode_awareness_update([self.doc.client_id])
        self.send_raw(create_awareness_message(update))

    @property
    def peer_names(self) -> set[str]:
        return {
            state["user"]["name"]
            for client_id, state in self.awareness.states.items()
            if client_id != self.doc.client_id and isinstance(state.get("user"), dict)
        }


def decode_awareness(update: bytes) -> list[tuple[int, int, Any]]:
    decoder = Decoder(update)
    entries = []
    for _ in range(decoder.read_var_uint()):
        client_id = decoder.read_var_uint()
        clock = decoder.read_var_uint()
        entries.append((client_id, clock, json.loads(decoder.read_var_string())))
    return entries


def typed(text: str, client_id: int) -> bytes:
    """The Yjs update of one peer typing `text` into an empty `code` text."""
    doc = Doc(client_id=client_id)
    doc.get("code", type=Text).insert(0, text)
    return doc.get_update()


def stop_answering_pings(client: YClient) -> None:
    """The peer's machine goes silent: its socket stays open but sends no pong (0xA)."""
    assert client.ws is not None
    protocol = client.ws.protocol
    write_frame = protocol._write_frame

    def no_pongs(fin, opcode, data, flags=0):  # type: ignore[no-untyped-def]
        if opcode != 0xA:
            return write_frame(fin, opcode, data, flags)
        dropped = asyncio.get_running_loop().create_future()
        dropped.set_result(None)
        return dropped

    protocol._write_frame = no_pongs
