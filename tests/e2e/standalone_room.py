"""The standalone room server's pages, as the e2e tests drive them: start a server,
create a room from its landing page, take screenshots."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from e2e_harness import ARTIFACTS_DIR

from codecompanion_ext.testing import StandaloneServerProcess

CONNECTED = ".cc-status[data-status=connected]"
SHOTS = ARTIFACTS_DIR / "e2e" / "standalone"
# The text of every remote selection the room page's editor highlights.
SELECTED = """() => Array.from(document.querySelectorAll('.cc-room .cm-ySelection'))
  .map((node) => node.textContent).join('')"""
# The computed colour of the Online list's dot before `name` in the room page's view.
DOT = """(name) => {
  const item = Array.from(document.querySelectorAll('.cc-room .cc-online .cc-person'))
    .find((node) => node.querySelector('.cc-name').textContent === name);
  const dot = item && item.querySelector('.cc-dot');
  return dot ? getComputedStyle(dot).backgroundColor : null;
}"""


def running_server(workdir: Path) -> Iterator[StandaloneServerProcess]:
    """A standalone server on its own database in `workdir`, for a module's tests."""
    server = StandaloneServerProcess(workdir, [f"--db={workdir / 'rooms.db'}"])
    server.start()
    try:
        yield server
    finally:
        server.stop()


def shoot(page: Any, name: str, **options: Any) -> Path:
    target = SHOTS / f"{name}.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(target), **options)
    return target


def create_room(page: Any, server: StandaloneServerProcess, name: str) -> dict[str, str]:
    """Create a room as anyone may on the standalone server: the landing page's form. Its
    id, its page's link, and its WebSocket URL with the edit key."""
    page.goto(server.url("codecompanion/"))
    page.locator(".cc-create-name").fill(name)
    page.locator(".cc-create button[type=submit]").click()
    page.wait_for_url(re.compile(r"/codecompanion/rooms/[A-Za-z0-9_-]+\?key="))
    page.wait_for_selector(CONNECTED)
    room_id, key = re.search(r"/rooms/([A-Za-z0-9_-]+)\?key=([^&#]+)", page.url).groups()
    websocket = f"ws://127.0.0.1:{server.port}/codecompanion/ws/{room_id}?key={key}"
    return {"roomId": room_id, "link": page.url, "websocket": websocket}
