"""`SyncRoomClient`: the blocking twin of `RoomClient`, for plain scripts and kernels.

The asyncio client runs on a loop of its own, in a background thread: blocking calls then
work from any thread, including a Jupyter kernel's main thread, whose loop is already
running (and would deadlock if a call blocked it waiting for itself).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from .client import RoomClient

T = TypeVar("T")


class SyncRoomClient:
    """`with connect(link, name="Grader") as room:` - the same properties as RoomClient,
    and blocking methods. `on_change` callbacks run on the client's background thread."""

    def __init__(self, link_or_server: str, room_id: str | None = None, **kwargs: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="codecompanion-room-client", daemon=True
        )
        self._thread.start()
        try:
            self.client: RoomClient = self._call(
                lambda: RoomClient(link_or_server, room_id, **kwargs)
            )
            self._await(self.client.connect())
        except BaseException:
            self._stop_loop()
            raise

    def _await(self, coroutine: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        if threading.current_thread() is self._thread:
            raise RuntimeError("a blocking RoomClient call from its own callback would deadlock")
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def _call(self, function: Callable[[], T]) -> T:
        """Run `function` on the client's loop: pycrdt documents belong to one thread."""
        if threading.current_thread() is self._thread:
            return function()

        async def run() -> T:
            return function()

        return self._await(run())

    # -- the room --------------------------------------------------------------------------

    @property
    def code(self) -> str:
        return self._call(lambda: self.client.code)

    @property
    def language(self) -> str:
        return self._call(lambda: self.client.language)

    @property
    def online(self) -> list[str]:
        return self._call(lambda: self.client.online)

    @property
    def participants(self) -> list[str]:
        return self._call(lambda: self.client.participants)

    @property
    def name(self) -> str:
        return self.client.name

    @property
    def status(self) -> str:
        return self.client.status

    @property
    def error(self) -> Exception | None:
        return self.client.error

    # -- edits and waiting -------------------------------------------------------------

    def set_code(self, text: str) -> None:
        self._call(lambda: self.client.set_code(text))

    def insert(self, index: int, text: str) -> None:
        self._call(lambda: self.client.insert(index, text))

    def delete(self, index: int, length: int) -> None:
        self._call(lambda: self.client.delete(index, length))

    def on_change(self, callback: Callable[[str], Any]) -> Callable[[], None]:
        unsubscribe = self._call(lambda: self.client.on_change(callback))
        return lambda: self._call(unsubscribe)

    def wait_for(self, predicate: Callable[[str], Any], timeout: float | None = 30.0) -> str:
        return self._await(self.client.wait_for(predicate, timeout))

    def saved(self, timeout: float | None = 30.0) -> None:
        self._await(self.client.saved(timeout))

    def wait_connected(self, timeout: float | None = 30.0) -> None:
        self._await(self.client.wait_connected(timeout))

    # -- leaving -------------------------------------------------------------------------

    def close(self) -> None:
        if self._thread.is_alive():
            try:
                self._await(self.client.close(), timeout=30)
            finally:
                self._stop_loop()

    def _stop_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        if not self._thread.is_alive():
            self._loop.close()

    def __enter__(self) -> SyncRoomClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<SyncRoomClient {self.client.room_id} as {self.client.name!r}: {self.status}>"
