""" "Saved" on the room page means on the server's disk, in real Chromium.

A standalone server; Ana's room page records every status it shows. While another program
holds the database's write lock, the server receives her edit but cannot commit it: the page
says "Saving…". The server is then killed (SIGKILL), so the edit is lost; the page says
"… edits not saved" and keeps the edit. Once the server is back on the same database, the page
sends the edit again and says "Saved", and now the stored room holds it. At no moment between
the edit and the restart did the page claim "Saved".
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_harness import Guests, editor_text, wait_until
from pycrdt import Doc, Text
from standalone_room import create_room, running_server, shoot

from codecompanion_ext.testing import StandaloneServerProcess

STATUS = ".cc-status"
RECORD_STATUSES = """() => {
  const status = document.querySelector(".cc-status");
  window.ccStatuses = [status.textContent];
  new MutationObserver(() => window.ccStatuses.push(status.textContent)).observe(status, {
    childList: true, characterData: true, subtree: true,
  });
}"""


@pytest.fixture
def server(tmp_path: Path) -> Iterator[StandaloneServerProcess]:
    yield from running_server(tmp_path)  # one per test: this test kills it


def stored_text(db: Path, room_id: str) -> str:
    """The room's text as its stored rows give it (read with the server down or up)."""
    reader = sqlite3.connect(db)
    try:
        rows = reader.execute(
            "SELECT data FROM updates WHERE room_id = ? ORDER BY id", (room_id,)
        ).fetchall()
    finally:
        reader.close()
    doc = Doc()
    for (data,) in rows:
        doc.apply_update(data)
    return str(doc.get("code", type=Text))


def statuses(page) -> list[str]:
    return page.evaluate("() => window.ccStatuses")


def test_the_page_never_says_saved_for_an_edit_the_server_lost(
    server: StandaloneServerProcess, guests: Guests
) -> None:
    ana = guests("ana")
    room = create_room(ana, server, "Ana")
    db = server.workdir / "rooms.db"
    ana.wait_for_selector(f"{STATUS}:text-is('Saved')")
    ana.evaluate(RECORD_STATUSES)

    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # the server's commit waits for this lock
    try:
        ana.locator(".cm-content").click()
        ana.keyboard.type("x")
        ana.wait_for_selector(f"{STATUS}:text-is('Saving…')")
        shoot(ana, "saving")
        server.kill()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    ana.wait_for_selector(f"{STATUS}:has-text('1 edit not saved')")
    shoot(ana, "not-saved")
    assert stored_text(db, room["roomId"]) == "", "the edit never reached the disk"
    assert editor_text(ana) == "x", "the page keeps the edit"
    seen_while_down = statuses(ana)

    server.restart()
    ana.wait_for_selector(f"{STATUS}:text-is('Saved')", timeout=60_000)
    shoot(ana, "saved-again")
    assert stored_text(db, room["roomId"]) == "x"

    before_edit, *after_edit = seen_while_down
    assert before_edit == "Saved"
    assert "Saved" not in after_edit, after_edit
    assert after_edit[0] == "Saving…", after_edit
    assert after_edit[-1].endswith("· 1 edit not saved"), after_edit
    wait_until(lambda: statuses(ana)[-1] == "Saved", 10, message="the last status is Saved")
