"""Serve pycrdt-websocket rooms with uvicorn: the JupyterLab anchor of the benchmarks.

pycrdt-websocket is the engine of JupyterLab's real-time collaboration. This script serves its
WebsocketServer, through its ASGIServer, on one port, so that the benchmarks can drive it with
the same y-websocket clients as Code Companion:

    python pycrdt_websocket_server.py --port 1234 [--host 127.0.0.1] [--store rooms.db]

A client of ws://HOST:PORT/NAME?QUERY joins the room "/NAME" (pycrdt-websocket names a room by
the whole URL path), created on first use and kept in memory while the server runs. With --store,
every update of every room is also appended to one SQLite file (pycrdt's SQLiteYStore, as
jupyter-collaboration does), and a room opened again after a restart starts from the stored
document. "ready" is printed once the port listens; SIGTERM shuts down gracefully, after the
queued updates are written.
"""

from __future__ import annotations

import argparse
import socket
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Any

import anyio
import uvicorn
from pycrdt.store import SQLiteYStore, YDocNotFound
from pycrdt.websocket import ASGIServer, WebsocketServer, YRoom, exception_logger

Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Message, Receive, Send], Awaitable[None]]


class RoomServer(WebsocketServer):
    """pycrdt-websocket's WebsocketServer, with rooms kept in memory and optionally stored.

    WebsocketServer.get_room starts a new room in every client that joins it: when two clients
    join a new room at once, the second waits forever on the room's start lock. Here only the
    client that creates a room starts it, and every client waits until the room observes its
    document (when the stored updates, if any, are in it) before syncing.
    """

    def __init__(self, db_path: str | None = None) -> None:
        super().__init__(auto_clean_rooms=False, exception_handler=exception_logger)
        self.db_path = db_path
        self.stores: list[SQLiteYStore] = []

    def new_store(self, name: str) -> SQLiteYStore:
        assert self.db_path is not None
        store = SQLiteYStore(path=name, log=self.log)
        store.db_path = self.db_path
        return store

    async def __aenter__(self) -> RoomServer:
        if self.db_path is not None:
            # Open the database once first: the stores of rooms opened at once on a new file
            # would all create its tables ("table yupdates already exists").
            store = self.new_store("")
            async with store:
                assert store.db_initialized is not None
                await store.db_initialized.wait()
        await super().__aenter__()
        return self

    async def get_room(self, name: str) -> YRoom:
        room = self.rooms.get(name)
        if room is None:
            store = None
            if self.db_path is not None:
                store = self.new_store(name)
                self.stores.append(store)
            # YRoom writes updates to its ystore but never reads it: apply the stored updates
            # while the room is not "ready" (not observed), so that they are not stored again.
            room = YRoom(
                ready=store is None, ystore=store, exception_handler=exception_logger, log=self.log
            )
            self.rooms[name] = room
            await self.start_room(room)  # which starts the store
            if store is not None:
                await store.started.wait()
                with suppress(YDocNotFound):
                    await store.apply_updates(room.ydoc)
                room.ready = True
        await room.ydoc_observed.wait()
        return room

    async def stop(self) -> None:
        # First let the stores write the updates queued: YRoom writes each update in a task of
        # its own, which waits on the store's lock.
        idle_checks = 0
        while self.stores and idle_checks < 2:
            await anyio.sleep(0.05)
            busy = any(s.lock.locked() or s.lock.statistics().tasks_waiting for s in self.stores)
            idle_checks = 0 if busy else idle_checks + 1
        for store in self.stores:
            await store.stop()
        await super().stop()


def make_app(websocket_server: WebsocketServer) -> ASGIApp:
    """Run websocket_server for the lifespan of the ASGI app; answer plain HTTP with "okay"."""
    asgi_server = ASGIServer(websocket_server)

    async def app(scope: Message, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":

            async def send_or_drop(message: Message) -> None:
                # As jupyter-collaboration's handler: a message to a client that is gone is
                # dropped. Raised, it would fail the room's task group and lose queued updates.
                with suppress(OSError):
                    await send(message)

            await asgi_server(scope, receive, send_or_drop)
        elif scope["type"] == "http":
            headers = [(b"content-type", b"text/plain")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": b"okay"})
        elif scope["type"] == "lifespan":
            await receive()  # lifespan.startup
            async with websocket_server:
                await send({"type": "lifespan.startup.complete"})
                await receive()  # lifespan.shutdown, once every connection is closed
            await send({"type": "lifespan.shutdown.complete"})

    return app


class Server(uvicorn.Server):
    """A uvicorn server that prints "ready" once it listens."""

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if not self.should_exit:
            print("ready", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--store", metavar="PATH", help="SQLite file to persist the rooms to")
    args = parser.parse_args()

    config = uvicorn.Config(
        make_app(RoomServer(args.store)),
        host=args.host,
        port=args.port,
        lifespan="on",
        loop="asyncio",  # as jupyter_server (tornado), even where uvloop is installed
        log_level="warning",
        access_log=False,
        ws_max_size=1024**3,  # as jupyter-collaboration
        ws_per_message_deflate=False,  # as jupyter_server (tornado) and y-websocket-server
    )
    Server(config).run()


if __name__ == "__main__":
    main()
