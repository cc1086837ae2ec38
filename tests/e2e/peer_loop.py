"""pycrdt peers beside a sync Playwright test: an asyncio loop in a thread of its own."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from yclient import YClient

T = TypeVar("T")


class PeerLoop:
    """An asyncio loop in a thread of its own for the pycrdt peers (sync Playwright marks
    this thread's loop as running)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.clients: list[YClient] = []

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def call(self, function: Any, *args: Any) -> Any:
        async def call() -> Any:
            return function(*args)

        return self.run(call())

    def join(self, url: str, name: str) -> YClient:
        async def join() -> YClient:
            return await YClient(url, name=name).sync()

        client = self.run(join())
        self.clients.append(client)
        return client

    def close(self) -> None:
        for client in self.clients:
            try:
                self.run(client.close(), 15)
            except Exception as e:
                print(f"closing peer {client.name}: {e}")
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()
