"""The room WebSocket: the standard y-websocket protocol, so any Yjs client can join.

The handler only moves bytes between the socket and its `Room`; the room does
the protocol work.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import Any

from jupyter_server.auth.decorator import allow_unauthenticated
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from tornado.iostream import StreamClosedError
from tornado.web import HTTPError
from tornado.websocket import (
    WebSocketClosedError,
    WebSocketHandler,
    WebSocketProtocol,
    WebSocketProtocol13,
)

from .auth import Access, CreationPolicy, RoomAccessMixin
from .close_codes import CloseCode, close_reason
from .frames import Broadcast
from .limits import TokenBucket
from .protocol import ProtocolError
from .room import DocumentTooLarge, Room
from .rooms import RoomFull, RoomManager, RoomNotFound
from .store import StoreError


class RoomWebSocketHandler(WebSocketMixin, WebSocketHandler, RoomAccessMixin, JupyterHandler):
    """/codecompanion/ws/{roomId}: one peer of one room."""

    room: Room | None = None

    access: Access

    def initialize(
        self,
        rooms: RoomManager,
        max_message_size: int,
        creation: CreationPolicy,
        messages_per_second: float,
        message_burst: int,
        ping_interval: float,
    ) -> None:
        self._ping_interval_ms = ping_interval * 1000
        self.rooms = rooms
        self.creation = creation
        self._max_message_size = max_message_size
        self.rate = TokenBucket(messages_per_second, message_burst)

    @property
    def max_message_size(self) -> int:  # type: ignore[override]
        return self._max_message_size

    # Keep-alive: Jupyter's WebSocketMixin pings every `ping_interval` (it counts in ms) and
    # closes a connection whose last pong is older than three intervals, clearing its
    # presence. Tornado has a pinger of its own that reads the same two properties in
    # seconds (6.5+ warns that 3x is too long); it is turned off in `get_websocket_protocol`,
    # so only one pinger runs.
    @property
    def ping_interval(self) -> float:  # type: ignore[override]
        return self._ping_interval_ms

    @property
    def ping_timeout(self) -> float:  # type: ignore[override]
        return 3 * self._ping_interval_ms

    def get_websocket_protocol(self) -> WebSocketProtocol | None:
        protocol = super().get_websocket_protocol()
        if isinstance(protocol, WebSocketProtocol13):
            protocol.params.ping_interval = None  # the mixin's pinger is the one
            protocol.params.ping_timeout = None
        return protocol

    def set_default_headers(self) -> None:
        """JupyterHandler's page headers mean nothing on a WebSocket upgrade."""

    def check_origin(self, origin: str | None = None) -> bool:
        """Any origin with a room key (it carries no login); else Jupyter's same-origin rule."""
        return self.room_key() is not None or super().check_origin(origin)

    @allow_unauthenticated  # authorization is ours: a room key stands in for a login
    async def get(self, room_id: str, *args: Any, **kwargs: Any) -> None:
        try:
            self.access = await self.authorize("connect", room_id)
        except StoreError as e:
            self.log.error("room storage failed: %s", e)
            raise HTTPError(503, "room storage is unavailable") from None
        await super().get(room_id, *args, **kwargs)

    def open(self, room_id: str, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        super().open()
        self.set_nodelay(True)  # Nagle would hold small frames back ~40 ms
        try:
            self.room = self.rooms.connect(
                room_id, self, can_edit=self.access.can_edit, via_key=self.access.via_key
            )
        except RoomNotFound as e:
            self.close(CloseCode.ROOM_NOT_FOUND, close_reason(str(e)))
        except RoomFull as e:
            self.close(CloseCode.ROOM_FULL, close_reason(str(e)))
        except StoreError as e:
            self.log.error("room %s: cannot load it: %s", room_id, e)
            self.close(CloseCode.INTERNAL_ERROR, "room storage is unavailable")

    def on_message(self, message: str | bytes) -> Awaitable[None] | None:
        """Handle a frame at once; over the rate limit, return a wait for Tornado to await
        before it reads this connection's next frame. So a wait throttles only this
        connection, a sender that keeps flooding is cut off, and the common case costs
        no task."""
        wait = self.rate.take()
        if wait is None:
            self._reject(CloseCode.POLICY_VIOLATION, "too many messages: slow down and reconnect")
            return None
        if wait:
            return self._handle_later(wait, message)
        self._handle(message)
        return None

    async def _handle_later(self, wait: float, message: str | bytes) -> None:
        await asyncio.sleep(wait)
        self._handle(message)

    def _handle(self, message: str | bytes) -> None:
        room = self.room
        if room is None:
            return
        if isinstance(message, str):
            self._reject(CloseCode.UNSUPPORTED_DATA, "y-websocket messages are binary frames")
            return
        try:
            room.receive(self, message)
        except ProtocolError as e:
            self._reject(CloseCode.INVALID_PAYLOAD, str(e))
        except DocumentTooLarge as e:
            self._reject(CloseCode.DOCUMENT_TOO_LARGE, str(e))
        except Exception:
            self.log.exception("room %s: unexpected error handling a message", room.room_id)
            self._reject(CloseCode.INTERNAL_ERROR, "internal error")

    def _reject(self, code: int, reason: str) -> None:
        room_id = self.room.room_id if self.room else "?"
        self.log.warning("room %s: closing a connection: %s", room_id, reason)
        self._leave()
        self.close(code, close_reason(reason))

    def on_close(self) -> None:
        self._leave()

    def _leave(self) -> None:
        room, self.room = self.room, None
        if room is not None:
            self.rooms.disconnect(room, self)

    def send(self, message: bytes) -> None:
        """Part of the room's Peer protocol: queue a frame, ignoring a socket already gone.

        A `Broadcast` goes to the stream as its prebuilt frame: the same bytes for every
        peer, without Tornado's per-message framing and task (this handler never
        negotiates compression, so its frames are plain)."""
        connection = self.ws_connection
        if connection is None or connection.is_closing():
            return
        if isinstance(message, Broadcast):
            with contextlib.suppress(StreamClosedError):
                connection.stream.write(message.frame)
            return
        with contextlib.suppress(WebSocketClosedError):
            self.write_message(message, binary=True)

    def get_compression_options(self) -> None:
        """No permessage-deflate: a broadcast frame is shared by every peer as is."""
        return None
