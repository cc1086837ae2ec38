"""Presence from other editors on the standalone room page, in real Chromium.

pycrdt peers join the room over a real WebSocket and publish presence as other Yjs editor
bindings do, with relative positions encoded as Yjs encodes them in JSON
(`{type, tname, item: {client, clock}, assoc}`):

- a peer that cycles through malformed states (strings, numbers, arrays, missing and wrongly
  typed fields, garbage JSON, positions into unknown clients, items or root types);
- a CodeMirror 5 peer (y-codemirror: `cursor.anchor`/`cursor.head` as JSON strings);
- a Monaco peer (y-monaco: `selection: {anchor, head}`).

The page shows named carets for the CodeMirror 5 and Monaco peers where their positions are,
and their Online dots in the same colours, none for the malformed one, still publishes its own
cursor (in y-codemirror.next's format, and the same range as y-monaco's `selection`, seen by a
pycrdt peer), and its console has no "CodeMirror plugin crashed" error.
"""

from __future__ import annotations

import json
from typing import Any

from e2e_harness import Guests, editor_text, wait_until
from peer_loop import PeerLoop
from pycrdt import StickyIndex
from standalone_room import DOT, SELECTED, create_room, shoot

from codecompanion_ext.testing import StandaloneServerProcess

TEXT = "def greet(name):\n    return 'hi ' + name\n\nprint(greet('Ana'))\n"
CM5_NAME = "Cleo (CodeMirror 5)"
MONACO_NAME = "Mona (Monaco)"
MALFORMED_NAME = "Mallory"


def position(client: int, clock: int, assoc: int = 0) -> dict[str, Any]:
    """A Yjs relative position before the character `client` inserted at `clock`, as
    JSON.stringify writes Yjs's RelativePosition object."""
    return {"type": None, "tname": None, "item": {"client": client, "clock": clock}, "assoc": assoc}


def as_string(value: Any) -> str:
    """JSON as y-codemirror writes it (JSON.stringify: no spaces)."""
    return json.dumps(value, separators=(",", ":"))


def malformed_states(writer: int) -> list[dict[str, Any]]:
    """Presence no binding should choke on; the server relays them all (objects whose
    `user`, if any, has a plain name and colours)."""
    unknown = 424242
    return [
        {"cursor": "anchor"},
        {"cursor": 12},
        {"cursor": [position(writer, 1), position(writer, 2)]},
        {"cursor": {"anchor": position(writer, 1)}},  # no head
        {"cursor": {"anchor": None, "head": 3}},
        {"cursor": {"anchor": 5, "head": 7}},
        {"cursor": {"anchor": {}, "head": {}}},
        {"cursor": {"anchor": "{not json", "head": "}{"}},
        {"cursor": {"anchor": "null", "head": "[1, 2]"}},
        {"cursor": {"anchor": as_string(as_string(position(writer, 1))), "head": "1"}},
        {"cursor": {"anchor": {"item": "1:3"}, "head": {"item": [writer, 3]}}},
        {
            "cursor": {
                "anchor": {"item": {"client": str(writer), "clock": 0}},
                "head": {"item": {"client": writer, "clock": "0"}},
            }
        },
        {"cursor": {"anchor": position(writer, -1), "head": position(writer, 1.5)}},
        {"cursor": {"anchor": position(unknown, 0), "head": position(unknown, 1)}},
        {"cursor": {"anchor": position(writer, 10**6), "head": position(writer, 10**6)}},
        {"cursor": {"anchor": {"tname": "nosuch"}, "head": {"tname": "__proto__"}}},
        {"cursor": {"anchor": {"tname": "meta"}, "head": {"tname": 5}}},
        {"cursor": {"anchor": {"tname": "code", "assoc": "0"}, "head": {"assoc": 0}}},
        {"cursor": {"anchor": {"type": {"client": unknown, "clock": 0}}, "head": {"type": 1}}},
        {"selection": "anchor"},
        {"selection": {"anchor": [1, 2], "head": None}},
        {"selection": {"anchor": position(unknown, 0), "head": position(unknown, 0)}},
        {"user": "Mallory", "cursor": {"anchor": "x", "head": "y"}},
        {"user": ["Mallory"], "selection": {"anchor": "x", "head": 1}},
        # The state that stays: named, with unreadable positions in both formats.
        {
            "user": {"name": MALFORMED_NAME, "color": "#7b1fa2"},
            "cursor": {"anchor": "not json", "head": as_string(position(unknown, 9))},
            "selection": {"anchor": {"item": {"client": writer}}, "head": "{}"},
        },
    ]


# Where the caret labelled `name` is: the text of its line before it, and the whole line.
CARET = """(name) => {
  const info = Array.from(document.querySelectorAll('.cc-room .cm-ySelectionInfo'))
    .find((node) => node.textContent === name);
  if (!info) return null;
  const caret = info.closest('.cm-ySelectionCaret');
  const line = caret.closest('.cm-line');
  const range = document.createRange();
  range.setStart(line, 0);
  range.setEndBefore(caret);
  const before = range.cloneContents();
  before.querySelectorAll('.cm-ySelectionCaret').forEach((node) => node.remove());
  const whole = line.cloneNode(true);
  whole.querySelectorAll('.cm-ySelectionCaret').forEach((node) => node.remove());
  return {
    before: before.textContent,
    line: whole.textContent,
    opacity: parseFloat(getComputedStyle(info).opacity),
    background: getComputedStyle(info).backgroundColor,
  };
}"""
LABELS = """() => Array.from(document.querySelectorAll('.cc-room .cm-ySelectionInfo'))
  .map((node) => node.textContent).sort()"""


def test_foreign_and_malformed_presence_show_named_carets_and_never_break_the_editor(
    room_server: StandaloneServerProcess, guests: Guests, peers: PeerLoop
) -> None:
    ana = guests("ana")
    url = create_room(ana, room_server, "Ana")["websocket"]

    # Cleo, on CodeMirror 5, writes the text: her characters' ids are (her client, 0..n-1).
    cleo = peers.join(url, "cleo")
    peers.call(cleo.insert, 0, TEXT)
    wait_until(lambda: editor_text(ana) == TEXT, 20, message="Ana sees Cleo's text")
    writer = cleo.doc.client_id

    # Mallory's presence is every kind of malformed, one state after the other.
    mallory = peers.join(url, "mallory")
    states = malformed_states(writer)
    assert len(states) >= 25
    for state in states:
        peers.call(mallory.set_presence, state)
    ana.wait_for_selector(f".cc-online .cc-name:has-text('{MALFORMED_NAME}')")

    # Cleo's caret before 'Ana' on line 4 (y-codemirror: JSON strings); Mona selects
    # "return" on line 2 (y-monaco: `selection` objects).
    caret = TEXT.index("'Ana'")
    peers.call(
        cleo.set_presence,
        {
            "user": {"name": CM5_NAME, "color": "#1976d2"},
            "cursor": {
                "anchor": as_string(position(writer, caret)),
                "head": as_string(position(writer, caret)),
            },
        },
    )
    mona = peers.join(url, "mona")
    start = TEXT.index("return")
    end = start + len("return")
    peers.call(
        mona.set_presence,
        {
            "user": {"name": MONACO_NAME, "color": "#388e3c"},
            "selection": {"anchor": position(writer, start), "head": position(writer, end)},
        },
    )

    wait_until(
        lambda: ana.evaluate(LABELS) == sorted([CM5_NAME, MONACO_NAME]),
        20,
        message=lambda: f"the CM5 and Monaco carets, and no other (labels: {ana.evaluate(LABELS)})",
    )
    cleo_caret = ana.evaluate(CARET, CM5_NAME)
    assert cleo_caret["before"] == "print(greet(", cleo_caret
    assert cleo_caret["line"] == "print(greet('Ana'))", cleo_caret
    assert cleo_caret["background"] == "rgb(25, 118, 210)", cleo_caret  # her colour
    mona_caret = ana.evaluate(CARET, MONACO_NAME)
    assert mona_caret["before"] == "    return", mona_caret
    assert mona_caret["background"] == "rgb(56, 142, 60)", mona_caret
    assert ana.evaluate(SELECTED) == "return", "Mona's selection is highlighted"
    # Their Online dots are in their carets' colours (the ones their presence gives).
    assert ana.evaluate(DOT, CM5_NAME) == cleo_caret["background"]
    assert ana.evaluate(DOT, MONACO_NAME) == mona_caret["background"]
    # Both just arrived: their labels show (then fade, as anyone's).
    wait_until(
        lambda: all(ana.evaluate(CARET, who)["opacity"] == 1 for who in (CM5_NAME, MONACO_NAME)),
        5,
        message="both labels shown",
    )
    shot = shoot(ana, "foreign-presence-carets")
    print(f"screenshot: {shot}")

    # Ana's own cursor is still published, in y-codemirror.next's format, after she types.
    def ana_presence() -> dict[str, Any] | None:
        for client_id, state in cleo.awareness.states.items():
            if client_id != cleo.doc.client_id and (state.get("user") or {}).get("name") == "Ana":
                return state
        return None

    before = peers.call(ana_presence)
    assert before is not None, "Cleo sees Ana's presence"
    ana.locator(".cc-room .cm-content").click()
    ana.keyboard.press("Control+Home")
    ana.keyboard.press("End")
    ana.keyboard.type("  # hi")
    typed_at = len("def greet(name):  # hi")

    def ana_cursor_head() -> int | None:
        state = ana_presence()
        cursor = state and state.get("cursor")
        if not cursor or state == before:
            return None
        assert isinstance(cursor["anchor"], dict) and isinstance(cursor["head"], dict), cursor
        # The same range as y-monaco's `selection`, for Monaco peers.
        assert state["selection"] == cursor, state
        head = StickyIndex.from_json(cursor["head"], cleo.code).get_index()
        return head if head == typed_at else None

    wait_until(
        lambda: peers.call(ana_cursor_head),
        20,
        message=lambda: f"Ana's cursor at {typed_at} (she has {peers.call(ana_presence)})",
    )
    # The foreign carets are still drawn after her edit (the plugin runs on).
    wait_until(lambda: ana.evaluate(LABELS) == sorted([CM5_NAME, MONACO_NAME]), 10)
    assert ana.evaluate(CARET, MONACO_NAME)["before"] == "    return"

    # Cleo's name connected a second time, in another colour: one Online entry, whose dot
    # takes the colour of the lower client id (the same in every view).
    twin = peers.join(url, "twin")
    peers.call(twin.set_presence, {"user": {"name": "Twin", "color": "#f57c00"}})
    ana.wait_for_selector(".cc-online .cc-name:text-is('Twin')")
    peers.call(twin.set_presence, {"user": {"name": CM5_NAME, "color": "#f57c00"}})
    ana.wait_for_selector(".cc-online .cc-name:text-is('Twin')", state="detached")
    lower = "rgb(25, 118, 210)" if writer < twin.doc.client_id else "rgb(245, 124, 0)"
    assert ana.evaluate(DOT, CM5_NAME) == lower
    assert ana.locator(".cc-online .cc-name").all_inner_texts().count(CM5_NAME) == 1

    console = guests.console["ana"]
    crashes = [line for line in console if "crashed" in line or line.startswith("pageerror")]
    assert crashes == [], crashes
    # Nothing was even caught: the translation turned every state into a cursor or none.
    assert not [line for line in console if "Code Companion: ignored" in line], console
