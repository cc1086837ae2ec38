"""`RoomClient`: a room peer without a browser, for graders, scripts, bots and kernels.

It joins a room as the editors do (REST `participants`, then the room's y-websocket with
pycrdt over Tornado's WebSocket client), shows its name in the room's presence, keeps
edits made while disconnected and sends them on reconnecting, and stops with a
`RoomError` on a close code after which reconnecting cannot help (room deleted, links
changed, ...). It runs on the caller's asyncio loop (a kernel's, with top-level
`await`); `codecompanion_ext.client.connect` is the blocking twin for plain scripts.

Indexes (`insert`, `delete`) count Python characters (code points), as `room.code` does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pycrdt import (
    Array,
    Awareness,
    Decoder,
    Doc,
    Map,
    Text,
    TransactionEvent,
    YMessageType,
    YSyncMessageType,
    create_awareness_message,
    create_sync_message,
    create_update_message,
    handle_sync_message,
)
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from tornado.websocket import WebSocketClientConnection, WebSocketClosedError, websocket_connect

from . import defaults
from .close_codes import FINAL, CloseCode
from .remote_rooms import CREATION_TOKEN_HEADER, create_room, parse_room_link, server_base_url
from .save_tracker import SaveTracker, decode_state_vector
from .validation import check_name

if TYPE_CHECKING:
    from .sync_client import SyncRoomClient

log = logging.getLogger(__name__)
KEY_HEADER = "X-Room-Key"  # auth.KEY_HEADER: a header keeps the key out of access logs
PALETTE = (  # js/src/colors.ts, so a name has the same colour as in the editors
    "#d32f2f", "#1976d2", "#388e3c", "#f57c00", "#7b1fa2", "#0097a7",
    "#c2185b", "#5d4037", "#303f9f", "#689f38", "#e64a19", "#00796b",
)  # fmt: skip
PRESENCE_RENEWAL = 15.0
"""Seconds between presence renewals: y-websocket peers forget a state after 30 s."""
MAX_BACKOFF = 5.0
MAX_MESSAGE_SIZE = 2 * defaults.MAX_DOCUMENT_SIZE  # a full room, greeted in one message


class RoomError(Exception):
    """The room cannot be used any more: deleted, its links changed, unknown, full.

    `code` is the WebSocket close code, or the HTTP status that refused joining."""

    def __init__(self, message: str, code: int = 0) -> None:
        super().__init__(message)
        self.code = code


def color_for(name: str) -> str:
    """The name's colour, as the editors pick it (FNV-1a over code points, mod palette)."""
    hashed = 0x811C9DC5
    for char in name:
        hashed = ((hashed ^ ord(char)) * 0x01000193) & 0xFFFFFFFF
    return PALETTE[hashed % len(PALETTE)]


def _close_message(code: int, reason: str) -> str:
    try:
        meaning = CloseCode(code).name.replace("_", " ").lower()
    except ValueError:
        meaning = "closed"
    return f"the server closed the room connection: {meaning} ({code})" + (
        f": {reason}" if reason else ""
    )


class RoomClient:
    """One peer of one room. `async with RoomClient(link, name="Grader") as room:` joins by
    a room link (its key); `RoomClient(server, room_id, token=...)` with a Jupyter token.

    `code`, `language`, `online` and `participants` follow the room live; `set_code`,
    `insert` and `delete` edit it (kept while disconnected, sent on reconnecting);
    `wait_for`, `saved` and `on_change` react to it without polling."""

    def __init__(
        self,
        link_or_server: str,
        room_id: str | None = None,
        *,
        name: str = "",
        token: str = "",
        color: str = "",
        connect_timeout: float = 10.0,
    ) -> None:
        server, link_room, key = ("", "", "") if room_id else parse_room_link(link_or_server)
        if room_id is None and not server:
            raise ValueError("give a full room link, or the server's address and a room id")
        self.server = server_base_url(server or link_or_server)
        self.room_id = room_id or link_room
        self.key = key
        self.token = token
        self.name = check_name(name or os.environ.get("JUPYTERHUB_USER", "") or "Python")
        self.color = color or color_for(self.name)
        self.connect_timeout = connect_timeout
        self.access = "edit"
        self.status = "new"  # connecting, connected, reconnecting, closed, error
        self.error: RoomError | None = None
        self._room: dict[str, Any] = {}
        self.doc = Doc()
        self._text = self.doc.get("code", type=Text)
        self._meta = self.doc.get("meta", type=Map)
        self._participants = self.doc.get("participants", type=Array)
        self.awareness = Awareness(self.doc)
        self._tracker = SaveTracker(self.doc.client_id)
        self._remote = False
        self._outgoing: list[bytes] = []
        self.doc.observe(self._on_transaction)
        self._code = ""
        self._callbacks: list[Callable[[str], Any]] = []
        self._waiters: list[tuple[Callable[[str], Any], asyncio.Future[str]]] = []
        self._ws: WebSocketClientConnection | None = None
        self._live = False  # we answered the server's sync step 1: edits may go out
        self._synced: asyncio.Event | None = None
        self._saved: asyncio.Event | None = None
        self._stop: asyncio.Event | None = None
        self._tasks: list[asyncio.Task[None]] = []

    @classmethod
    async def create(
        cls, server: str, *, name: str, language: str = "python", token: str = "", **kwargs: Any
    ) -> RoomClient:
        """Create a room on `server` (with a Jupyter token or a standalone server's creation
        token) and return a client of it, not yet connected: `async with` it."""
        room = await asyncio.to_thread(create_room, server, name, language, token)
        return cls(room["links"]["edit"], name=room.get("joinedAs") or name, **kwargs)

    # -- the room, as it is now ------------------------------------------------------------

    @property
    def code(self) -> str:
        return self._code

    @property
    def language(self) -> str:
        language = self._meta.get("language")
        return language if isinstance(language, str) else self._room.get("programmingLanguage", "")

    @property
    def participants(self) -> list[str]:
        """Everyone who ever joined, in join order (the server keeps the doc's copy)."""
        names = [name for name in self._participants.to_py() or [] if isinstance(name, str)]
        return names or list(self._room.get("participants") or [])

    @property
    def online(self) -> list[str]:
        """Names of everyone connected now, this client included while it is."""
        names = set()
        for client_id, state in self.awareness.states.items():
            user = state.get("user") if isinstance(state, dict) else None
            shown = client_id != self.doc.client_id or self.connected
            if shown and isinstance(user, dict) and isinstance(user.get("name"), str):
                names.add(user["name"])
        return sorted(names)

    @property
    def connected(self) -> bool:
        return self.status == "connected"

    @property
    def unsaved(self) -> bool:
        return not self._tracker.saved

    # -- edits -------------------------------------------------------------------------------

    def set_code(self, text: str) -> None:
        """Replace the code as one edit that touches only the part that differs, so
        concurrent edits elsewhere (and others' cursors) stay where they are."""
        current = self._code
        if current == text:
            return
        start = 0
        limit = min(len(current), len(text))
        while start < limit and current[start] == text[start]:
            start += 1
        end = 0
        while end < limit - start and current[-1 - end] == text[-1 - end]:
            end += 1

        def replace() -> None:
            with self.doc.transaction():
                self._delete_chars(start, len(current) - start - end)
                self._text.insert(self._offset(start), text[start : len(text) - end])

        self._edit(replace)

    def insert(self, index: int, text: str) -> None:
        self._edit(lambda: self._text.insert(self._offset(index), text))

    def delete(self, index: int, length: int) -> None:
        self._edit(lambda: self._delete_chars(index, length))

    def _offset(self, index: int) -> int:
        """pycrdt counts UTF-8 bytes; callers count characters."""
        if not 0 <= index <= len(self._code):
            raise IndexError(f"index {index} is outside the code (0 to {len(self._code)})")
        return len(self._code[:index].encode("utf-8"))

    def _delete_chars(self, index: int, length: int) -> None:
        if length > 0:
            start = self._offset(index)
            del self._text[start : start + len(self._code[index : index + length].encode())]

    def _edit(self, change: Callable[[], None]) -> None:
        if self.error is not None:
            raise self.error
        if self.access != "edit":
            raise PermissionError("this is a view-only link: the room cannot be edited with it")
        change()
        outgoing, self._outgoing = self._outgoing, []
        for update in outgoing:
            self._tracker.track(update)
            if self._live:
                self._send(create_update_message(update))
        if outgoing and self._saved is not None and not self._tracker.saved:
            self._saved.clear()
        self._changed()

    def _on_transaction(self, event: TransactionEvent) -> None:
        if not self._remote:
            self._outgoing.append(event.update)

    # -- waiting and listening -----------------------------------------------------------

    def on_change(self, callback: Callable[[str], Any]) -> Callable[[], None]:
        """Call `callback(code)` after each change of the code, remote or local (ours are
        reported once applied, before they reach the server). Returns the unsubscriber."""
        self._callbacks.append(callback)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._callbacks.remove(callback)

        return unsubscribe

    async def wait_for(self, predicate: Callable[[str], Any], timeout: float | None = 30.0) -> str:
        """The code, once `predicate(code)` holds (checked now and after each change).
        TimeoutError past `timeout` seconds; the RoomError if the room closes for good."""
        if predicate(self._code):
            return self._code
        if self.error is not None:
            raise self.error
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        entry = (predicate, future)
        self._waiters.append(entry)
        try:
            return await asyncio.wait_for(future, timeout)
        except asyncio.TimeoutError:
            raise TimeoutError(
                f"the room's code did not satisfy the condition within {timeout} s"
            ) from None
        finally:
            with contextlib.suppress(ValueError):
                self._waiters.remove(entry)

    async def saved(self, timeout: float | None = 30.0) -> None:
        """Return once every edit made here is on the server's disk (it sent them back)."""
        assert self._saved is not None, "connect first"
        if self._tracker.saved:
            return
        try:
            await asyncio.wait_for(self._until(self._saved), timeout)
        except asyncio.TimeoutError:
            raise TimeoutError(f"edits still not saved after {timeout} s") from None

    async def wait_connected(self, timeout: float | None = 30.0) -> None:
        """Return once connected and synced (after a reconnection, say)."""
        assert self._synced is not None, "connect first"
        try:
            await asyncio.wait_for(self._until(self._synced), timeout)
        except asyncio.TimeoutError:
            raise TimeoutError(f"not connected to the room after {timeout} s") from None

    async def _until(self, event: asyncio.Event) -> None:
        assert self._stop is not None
        if self.error is not None:
            raise self.error
        waits = [asyncio.ensure_future(event.wait()), asyncio.ensure_future(self._stop.wait())]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()
        if not event.is_set():
            raise self.error or RoomError("the client was closed")

    def _changed(self) -> None:
        code = str(self._text)
        if code == self._code:
            return
        self._code = code
        for callback in list(self._callbacks):
            try:
                callback(code)
            except Exception:  # the room must go on syncing whatever a callback does
                log.exception("a RoomClient.on_change callback failed")
        for predicate, future in list(self._waiters):
            if future.done():
                continue
            try:
                if predicate(code):
                    future.set_result(code)
            except Exception as e:
                future.set_exception(e)

    # -- connection --------------------------------------------------------------------------

    async def __aenter__(self) -> RoomClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def _headers(self) -> dict[str, str]:
        if self.key:
            return {KEY_HEADER: self.key}
        if self.token:
            return {"Authorization": f"token {self.token}", CREATION_TOKEN_HEADER: self.token}
        return {}

    async def connect(self) -> None:
        """Join (so the name is among the participants), connect and sync. Raises at once
        what stops joining: ValueError, PermissionError, RoomError, ConnectionError."""
        self._synced, self._saved, self._stop = asyncio.Event(), asyncio.Event(), asyncio.Event()
        self._saved.set()
        self.status = "connecting"
        await self._join()
        ws = await self._open()
        self._tasks = [asyncio.ensure_future(self._run(ws))]
        try:
            await self.wait_connected(self.connect_timeout)
        except BaseException:
            await self.close()
            raise
        self._tasks.append(asyncio.ensure_future(self._renew_presence()))

    async def _join(self) -> None:
        request = HTTPRequest(
            f"{self.server}codecompanion/api/rooms/{self.room_id}/participants",
            method="POST",
            headers={**self._headers(), "Content-Type": "application/json"},
            body=json.dumps({"name": self.name}),
            request_timeout=self.connect_timeout,
            follow_redirects=False,
        )
        try:
            response = await AsyncHTTPClient().fetch(request, raise_error=False)
        except (OSError, HTTPClientError) as e:  # refused, unreachable, timed out
            raise ConnectionError(f"cannot reach the room server at {self.server}: {e}") from None
        try:
            answer = json.loads(response.body or b"null")
        except ValueError:
            answer = None
        error = answer.get("error") if isinstance(answer, dict) else None
        where = f"room {self.room_id} at {self.server}"
        if response.code == 200 and isinstance(answer, dict):
            self._room = answer
            self.name = answer.get("joinedAs") or self.name
            self.access = answer.get("access") or "edit"
            self._set_presence()
            return
        if response.code == 599:
            raise ConnectionError(f"cannot reach the room server at {self.server}: {answer}")
        if response.code == 400:
            raise ValueError(f"cannot join {where}: {error}")
        if response.code in (401, 403):
            raise PermissionError(f"cannot join {where}: {error or 'no valid key or token'}")
        raise RoomError(f"cannot join {where}: {error or f'HTTP {response.code}'}", response.code)

    def _set_presence(self) -> None:
        user = {"name": self.name, "color": self.color, "colorLight": f"{self.color}33"}
        self.awareness.set_local_state({"user": user})

    async def _open(self) -> WebSocketClientConnection:
        url = "ws" + self.server.removeprefix("http") + f"codecompanion/ws/{self.room_id}"
        request = HTTPRequest(url, headers=self._headers(), connect_timeout=self.connect_timeout)
        try:
            ws = await websocket_connect(request, max_message_size=MAX_MESSAGE_SIZE)
        except HTTPClientError as e:
            if e.code in (403, 404):  # the key no longer opens it, or it is gone
                raise RoomError(f"room {self.room_id} cannot be opened: {e}", e.code) from None
            raise ConnectionError(f"room {self.room_id}: {e}") from None
        except OSError as e:
            raise ConnectionError(f"cannot reach the room server at {self.server}: {e}") from None
        self._ws = ws
        ws.write_message(create_sync_message(self.doc), binary=True)
        self._send_presence()
        return ws

    async def _run(self, ws: WebSocketClientConnection | None) -> None:
        """Read the socket; reconnect with backoff until closed or a final close code."""
        assert self._stop is not None and self._synced is not None
        attempt = 0
        while not self._stop.is_set():
            if ws is None:
                with contextlib.suppress(asyncio.TimeoutError):  # 0.1 s, 0.2 s, ... 5 s
                    await asyncio.wait_for(self._stop.wait(), min(0.1 * 2**attempt, MAX_BACKOFF))
                if self._stop.is_set():
                    return
                attempt += 1
                try:
                    ws = await self._open()
                except RoomError as e:
                    return self._fail(e)
                except ConnectionError:
                    continue
            code, reason = await self._read(ws)
            if self._synced.is_set():
                attempt = 0
            ws = self._ws = None
            self._disconnected()
            if self._stop.is_set():
                return
            if code in FINAL:
                return self._fail(RoomError(_close_message(code, reason or ""), code))
            self.status = "reconnecting"

    async def _read(self, ws: WebSocketClientConnection) -> tuple[int | None, str | None]:
        while (message := await ws.read_message()) is not None:
            if isinstance(message, bytes) and len(message) > 1:
                try:
                    self._receive(message)
                except Exception:  # a message pycrdt cannot read: say so, go on
                    log.exception("room %s: cannot read a message from the server", self.room_id)
        ws.close()
        return ws.close_code, ws.close_reason

    def _receive(self, message: bytes) -> None:
        if message[0] == YMessageType.SYNC:
            kind = message[1]
            payload = Decoder(message[1:])
            payload.read_var_uint()
            data = payload.read_message() or b""
            if kind == YSyncMessageType.SYNC_STEP1:
                self._tracker.confirm_state(decode_state_vector(data))
            else:
                self._tracker.confirm_update(data)
            self._remote = True
            try:
                reply = handle_sync_message(message[1:], self.doc)
            finally:
                self._remote = False
            if reply is not None:  # our step 2: whatever the server lacks, offline edits too
                self._send(reply)
                self._live = True
            if kind == YSyncMessageType.SYNC_STEP2:
                assert self._synced is not None
                self.status = "connected"
                self._synced.set()
            if self._tracker.saved and self._saved is not None:
                self._saved.set()
            self._changed()
        elif message[0] == YMessageType.AWARENESS:
            update = Decoder(message[1:]).read_message()
            if update:
                self.awareness.apply_awareness_update(update, "remote")

    def _disconnected(self) -> None:
        self._live = False
        if self._synced is not None:
            self._synced.clear()
        others = [c for c in self.awareness.states if c != self.doc.client_id]
        if others:  # who is online is unknown until the server says again
            self.awareness.remove_awareness_states(others, "disconnected")

    def _send(self, data: bytes) -> None:
        if self._ws is not None:
            with contextlib.suppress(WebSocketClosedError):
                self._ws.write_message(data, binary=True)

    def _send_presence(self) -> None:
        update = self.awareness.encode_awareness_update([self.doc.client_id])
        self._send(create_awareness_message(update))

    async def _renew_presence(self) -> None:
        assert self._stop is not None
        while not self._stop.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stop.wait(), PRESENCE_RENEWAL)
            if not self._stop.is_set() and self.connected:
                self.awareness.set_local_state(self.awareness.get_local_state())
                self._send_presence()

    def _fail(self, error: RoomError) -> None:
        self.error = error
        self.status = "error"
        assert self._stop is not None
        self._stop.set()
        for _, future in self._waiters:
            if not future.done():
                future.set_exception(error)

    async def close(self) -> None:
        """Leave: say so in presence, close the socket, stop reconnecting."""
        if self._stop is None or (self._stop.is_set() and not self._tasks):
            return
        self._stop.set()
        for _, future in self._waiters:
            if not future.done():
                future.set_exception(self.error or RoomError("the client was closed"))
        if self._ws is not None:
            self.awareness.set_local_state(None)
            self._send_presence()
            self._ws.close()
        tasks, self._tasks = self._tasks, []
        if tasks:  # a closing handshake or a connection attempt may hang: not for long
            _, hanging = await asyncio.wait(tasks, timeout=2)
            for task in hanging:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        if self.status != "error":
            self.status = "closed"


def connect(link_or_server: str, room_id: str | None = None, **kwargs: Any) -> SyncRoomClient:
    """Join a room from plain (blocking) code: see `SyncRoomClient`."""
    from .sync_client import SyncRoomClient

    return SyncRoomClient(link_or_server, room_id, **kwargs)
