"""The room WebSocket: the standard y-websocket protocol, so any Yjs client can join.

The handler only moves bytes between the socket and its `Room`; the room does
the protocol work.
"""

from __future__ import annotations

import asyncio
import contextlib
from asyncio import Future
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from jupyter_server.auth.decorator import allow_unauthenticated
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from tornado.httputil import HTTPHeaders
from tornado.ioloop import IOLoop, PeriodicCallback
from tornado.iostream import IOStream, StreamClosedError
from tornado.web import HTTPError
from tornado.websocket import (
    WebSocketHandler,
    WebSocketProtocol,
    WebSocketProtocol13,
)

from .auth import Access, CreationPolicy, RoomAccessMixin
from .close_codes import CloseCode, close_reason
from .frames import Broadcast, binary_frame
from .limits import TokenBucket
from .protocol import ProtocolError
from .room import DocumentTooLarge, PresenceLimit, Room, TooMuchWork
from .rooms import RoomFull, RoomManager, RoomNotFound
from .store import StoreError


class KeepAlive:
    """One timer that pings the connections of an event loop, instead of a timer each.

    Jupyter's `WebSocketMixin` starts a `PeriodicCallback` per connection: a timer, its
    callback and a context kept for every idle peer. A `KeepAlive` ticks every `TICK`
    seconds (at most `MAX_SLOTS` times per interval) and pings one slot of connections at
    each tick, so that every connection is still pinged once per interval, the first time
    about an interval after it opened, and the pings stay spread over the interval.
    """

    TICK = 1.0  # seconds between ticks, at least
    MAX_SLOTS = 30

    _running: ClassVar[dict[tuple[IOLoop, float], KeepAlive]] = {}

    def __init__(self, interval_ms: float) -> None:
        self.key = (IOLoop.current(), interval_ms)
        count = max(1, min(self.MAX_SLOTS, int(interval_ms // (1000 * self.TICK))))
        self.slots: list[dict[RoomWebSocketHandler, None]] = [{} for _ in range(count)]
        self.next = 0  # the slot the next tick pings
        self.timer = PeriodicCallback(self._tick, interval_ms / count)

    @classmethod
    def add(cls, handler: RoomWebSocketHandler) -> None:
        """Keep `handler` alive from now on, on this loop, every `handler.ping_interval`."""
        key = (IOLoop.current(), handler.ping_interval)
        pinger = cls._running.get(key)
        if pinger is None:
            pinger = cls._running[key] = cls(handler.ping_interval)
            pinger.timer.start()
        # The slot pinged last comes round again in one interval (at most a tick less).
        pinger.slots[pinger.next - 1][handler] = None

    @classmethod
    def remove(cls, handler: RoomWebSocketHandler) -> None:
        pinger = cls._running.get((IOLoop.current(), handler.ping_interval))
        if pinger is not None:
            pinger._forget(handler)

    def _forget(self, handler: RoomWebSocketHandler) -> None:
        for slot in self.slots:
            slot.pop(handler, None)
        if not any(self.slots):  # the last connection left: no timer while there is none
            self.timer.stop()
            if self._running.get(self.key) is self:
                del self._running[self.key]

    def _tick(self) -> None:
        slot = self.slots[self.next]
        self.next = (self.next + 1) % len(self.slots)
        now = IOLoop.current().time()
        for handler in list(slot):
            try:
                alive = handler.keep_alive(now)
            except Exception:  # one connection's failure must not stop the others' pings
                handler.log.exception("WebSocket keep-alive failed")
                alive = False
            if not alive:
                self._forget(handler)


class RoomWebSocketHandler(WebSocketMixin, WebSocketHandler, RoomAccessMixin, JupyterHandler):
    """/codecompanion/ws/{roomId}: one peer of one room."""

    # Its own state in slots, not in the instance dict: Tornado and Jupyter set 29
    # attributes already, and with ours too CPython 3.11 gives each handler a dict of
    # 1.5 KiB rather than 0.8 (or than 0.3, when the class's shared keys hold them all).
    __slots__ = (
        "_max_message_size",
        "_ping_interval_ms",
        "_socket",
        "access",
        "creation",
        "last_ping",
        "last_pong",
        "name_rule",
        "rate",
        "room",
        "room_action",
        "rooms",
    )

    room: Room | None
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
        self.room = None
        self.name_rule: Callable[[str], str | None] | None = None
        self.last_ping = self.last_pong = 0.0
        self._socket: IOStream | None = None  # kept past close(), for `abort`
        self.rooms = rooms
        self.creation = creation
        self._max_message_size = max_message_size
        self.rate = TokenBucket(messages_per_second, message_burst)

    @property
    def max_message_size(self) -> int:  # type: ignore[override]
        return self._max_message_size

    # Keep-alive: Jupyter's WebSocketMixin rules, pinging every `ping_interval` (it counts in
    # ms) and closing a connection whose last pong is older than three intervals, clearing
    # its presence; one `KeepAlive` timer runs them for every connection (see `keep_alive`).
    # Tornado has a pinger of its own that reads the same two properties in seconds (6.5+
    # warns that 3x is too long); it is turned off in `get_websocket_protocol`, so only one
    # pinger runs.
    @property
    def ping_interval(self) -> float:  # type: ignore[override]
        return self._ping_interval_ms

    @property
    def ping_timeout(self) -> float:  # type: ignore[override]
        return 3 * self._ping_interval_ms

    def get_websocket_protocol(self) -> WebSocketProtocol | None:
        protocol = super().get_websocket_protocol()
        if isinstance(protocol, WebSocketProtocol13):
            protocol.params.ping_interval = None  # `KeepAlive` is the one
            protocol.params.ping_timeout = None
        return protocol

    def set_default_headers(self) -> None:
        """JupyterHandler's page headers mean nothing on a WebSocket upgrade."""

    def check_origin(self, origin: str | None = None) -> bool:
        """Any origin with a room key (it carries no login); else Jupyter's same-origin rule."""
        return self.room_key() is not None or super().check_origin(origin)

    async def prepare(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        """Jupyter's checks (who is calling), then ours for the upgrade: may they connect
        to this room? Tornado's `get` then checks the origin and upgrades."""
        checked = super().prepare(*args, **kwargs)
        if checked is not None:
            await checked
        if self._finished or self.request.method != "GET":
            return
        try:
            self.access = await self.authorize("connect", self.path_kwargs["room_id"])
            self.name_rule = await self.presence_rule()
        except StoreError as e:
            self.log.error("room storage failed: %s", e)
            raise HTTPError(503, "room storage is unavailable") from None

    # Tornado's own, not an override: an idle connection waits inside `get` for as long as
    # it lives, and a coroutine of ours around it would be one more frame kept per peer.
    # Authorization is ours (`prepare`): a room key stands in for a login.
    get = allow_unauthenticated(WebSocketHandler.get)

    def open(self, room_id: str, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        # Past WebSocketMixin.open, which would start a timer of this connection's own.
        super(WebSocketMixin, self).open()
        self._socket = self.ws_connection.stream if self.ws_connection else None
        self.log.debug("Opening websocket %s", self.request.path)
        if self.ping_interval > 0:
            self.last_ping = self.last_pong = IOLoop.current().time()
            KeepAlive.add(self)
        self._forget_handshake()
        self.set_nodelay(True)  # Nagle would hold small frames back ~40 ms
        try:
            self.room = self.rooms.connect(
                room_id, self, can_edit=self.access.can_edit, via_key=self.access.via_key
            )
            if self.name_rule is not None:
                self.room.restrict_names(self, self.name_rule)
        except RoomNotFound as e:
            self.close(CloseCode.ROOM_NOT_FOUND, close_reason(str(e)))
        except RoomFull as e:
            self.close(CloseCode.ROOM_FULL, close_reason(str(e)))
        except StoreError as e:
            self.log.error("room %s: cannot load it: %s", room_id, e)
            self.close(CloseCode.INTERNAL_ERROR, "room storage is unavailable")

    def _forget_handshake(self) -> None:
        """Let go of what only the HTTP upgrade needed: a fifth of what an idle peer cost.

        The connection lives on in its stream and protocol; the HTTP connection objects
        (with a finished task each), the parsed query and cookies, the response headers
        and the template namespace (`ui`, which Tornado itself clears on close) are
        never used again. The request stays, for what logs say about it."""
        self.path_kwargs = self.open_kwargs  # equal dicts (Tornado's `get` got one from the other)
        request = self.request
        request.connection = None
        request.server_connection = None
        request.arguments = {}
        request.query_arguments = {}
        with contextlib.suppress(AttributeError):
            del request._cookies  # parsed again if ever asked for
        self._headers = HTTPHeaders()
        self.ui = None  # type: ignore[assignment]

    def keep_alive(self, now: float) -> bool:
        """One keep-alive tick: WebSocketMixin.send_ping's rules, for `KeepAlive`. False once
        the connection is gone or closed (then it is pinged no more)."""
        connection = self.ws_connection
        if connection is None:
            return False
        if connection.client_terminated:
            self.close()
            return False
        # Time out only if we really pinged recently: the machine may have been suspended.
        since_last_pong = 1e3 * (now - self.last_pong)
        since_last_ping = 1e3 * (now - self.last_ping)
        if since_last_ping < 2 * self.ping_interval and since_last_pong > self.ping_timeout:
            self.log.warning("WebSocket ping timeout after %i ms.", since_last_pong)
            self.close()
            return False
        if not connection.is_closing():  # closing: Tornado gives it a few seconds, no more
            self.ping(b"")
            self.last_ping = now
        return True

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
        rest = self._handle(message)
        return asyncio.sleep(rest) if rest else None

    async def _handle_later(self, wait: float, message: str | bytes) -> None:
        await asyncio.sleep(wait)
        rest = self._handle(message)
        if rest:
            await asyncio.sleep(rest)

    def _handle(self, message: str | bytes) -> float:
        """Pass a frame to the room: how long this connection should rest before its
        next frame is read (an edit that cost a lot of loop time makes it rest)."""
        room = self.room
        if room is None:
            return 0.0
        if isinstance(message, str):
            self._reject(CloseCode.UNSUPPORTED_DATA, "y-websocket messages are binary frames")
            return 0.0
        try:
            return room.receive(self, message)
        except ProtocolError as e:
            self._reject(CloseCode.INVALID_PAYLOAD, str(e))
        except DocumentTooLarge as e:
            self._reject(CloseCode.DOCUMENT_TOO_LARGE, str(e))
        except (TooMuchWork, PresenceLimit) as e:
            self._reject(CloseCode.POLICY_VIOLATION, str(e))
        except Exception:
            self.log.exception("room %s: unexpected error handling a message", room.room_id)
            self._reject(CloseCode.INTERNAL_ERROR, "internal error")
        return 0.0

    def _reject(self, code: int, reason: str) -> None:
        room_id = self.room.room_id if self.room else "?"
        self.log.warning("room %s: closing a connection: %s", room_id, reason)
        self._leave()
        self.close(code, close_reason(reason))

    def on_close(self) -> None:
        KeepAlive.remove(self)
        self._leave()

    def _leave(self) -> None:
        room, self.room = self.room, None
        if room is not None:
            self.rooms.disconnect(room, self)

    def send(self, message: bytes) -> Future[None] | None:
        """Part of the room's Peer protocol: queue a frame, ignoring a socket already gone.
        Returns the future of its write: the room counts the frame as unread until then.

        Each message goes to the stream as one frame, without Tornado's per-message task
        (this handler never negotiates compression, so its frames are plain). A
        `Broadcast` brings its prebuilt frame: the same bytes for every peer, which the
        stream queues as a view, not a copy."""
        connection = self.ws_connection
        if connection is None or connection.is_closing():
            return None
        frame = message.frame if isinstance(message, Broadcast) else binary_frame(message)
        try:
            return connection.stream.write(frame)
        except StreamClosedError:
            return None

    def abort(self) -> None:
        """Part of the room's Peer protocol: drop the connection now, and what it has not
        read (a peer that stopped reading would not read a close frame either). Also after
        `close`: its close frame waits behind what the peer does not read."""
        if self._socket is not None:
            self._socket.close()

    def get_compression_options(self) -> None:
        """No permessage-deflate: a broadcast frame is shared by every peer as is."""
        return None
