"""What a group's dashboard shows of one live room, kept current as the room changes.

A room of a group (groups.py) has a `SummaryTracker`: who is online (presence names),
how many lines its code has, how many edits it has had and when the last one was, and
whose hand is raised. Everything is kept up to date from the room's own events, at a
cost bounded per change:

- `edits` counts the document updates that changed the `code` text (one per update a
  client sent, as it sent it: a keystroke, or the keystrokes a client batched); the
  server's own changes (starter code, language, repairs) and changes elsewhere in the
  document (a raised hand, the language) do not count. `lastEdit` is the time of the
  last of them.
- Hands are the root `Y.Map` named `help`: key a person's name, value the ISO 8601 UTC
  time they raised their hand; lowering it deletes the key. Followed from the map's
  events (what each update changed, never the whole map); an entry counts when its key
  is a valid name and its value a string.
- Lines are counted from the text, which costs a pass over it: only after the code
  changed, and at most once per `LINES_COST_FACTOR` times what the last count took (so a
  huge room is counted seldom, and the dashboard hears of the new count when it is).

The figures are saved to the rooms table a few seconds after they change and when the
room unloads, so a dashboard reads an unloaded room's summary without loading it.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from .store import RoomSummary
from .validation import MAX_NAME_LENGTH, name_problem

if TYPE_CHECKING:
    from .room import Room

SAVE_AFTER = 2.0  # seconds between a change and saving the figures
LINES_COST_FACTOR = 50  # a line count waits 50 times what the last one took
MAX_NAMES_SHOWN = 50  # online names and hands a summary lists at most
MAX_HAND_VALUE = 64  # characters of a hand's time string


def utc_iso(epoch: float) -> str:
    moment = datetime.fromtimestamp(epoch, timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def valid_hand(name: Any, value: Any) -> bool:
    return (
        isinstance(name, str)
        and 0 < len(name) <= MAX_NAME_LENGTH
        and name == name.strip()
        and name_problem(name) is None
        and isinstance(value, str)
        and len(value) <= MAX_HAND_VALUE
    )


def count_lines(text: str) -> int:
    """Lines as an editor numbers them; an empty text has none."""
    return text.count("\n") + 1 if text else 0


class SummaryTracker:
    """The live summary of one room of a group; `changed` is called after its document or
    presence changed (once a batch is relayed), and tells the group (`notify`)."""

    def __init__(self, room: Room, saved: RoomSummary, notify: Callable[[Room], None]) -> None:
        self.room = room
        self.notify = notify
        self.edits = saved.edits
        self.last_edit = saved.last_edit
        self._lines = saved.lines
        self._lines_stale = True
        self._lines_next = 0.0  # monotonic time before which lines are not counted again
        self._recount: asyncio.TimerHandle | None = None
        self._save: asyncio.TimerHandle | None = None
        self.hands: dict[str, str] = {}
        for name, value in room.help.items():
            if valid_hand(name, value):
                self.hands[name] = value
        room.code.observe(self._on_code)
        room.help.observe(self._on_help)

    # -- following the document ---------------------------------------------------------

    def _on_code(self, _event: Any) -> None:
        self.edits += 1
        self.last_edit = utc_iso(time.time())
        self._lines_stale = True

    def _on_help(self, event: Any) -> None:
        for name, change in event.keys.items():
            self.hands.pop(name, None)
            if change.get("action") != "delete" and valid_hand(name, change.get("newValue")):
                self.hands[name] = change["newValue"]  # a raised hand goes to the end

    def changed(self, *, save: bool = True) -> None:
        """The room relayed edits (`save`: its figures may have changed, save them soon)
        or presence: tell the group now."""
        if save and self._save is None and not self.room.journal.closed:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # no loop (a script): figures are saved on unload
                pass
            else:
                self._save = loop.call_later(SAVE_AFTER, self.save)
        self.notify(self.room)

    # -- reading ------------------------------------------------------------------------

    def online(self) -> list[str]:
        """Names of those present (their presence's `user.name`), each once."""
        names: dict[str, None] = {}
        for state in self.room.awareness.states.values():
            user = state.get("user") if isinstance(state, dict) else None
            name = user.get("name") if isinstance(user, dict) else None
            if isinstance(name, str) and name:
                names[name] = None
                if len(names) >= MAX_NAMES_SHOWN:
                    break
        return list(names)

    def lines(self, *, force: bool = False) -> int:
        """The code's line count; while counting again is not yet allowed, the last count
        (the group hears of the new one once it is)."""
        if not self._lines_stale:
            return self._lines
        now = time.monotonic()
        if force or now >= self._lines_next:
            started = time.perf_counter()
            self._lines = count_lines(self.room.text)
            self._lines_stale = False
            self._lines_next = now + LINES_COST_FACTOR * (time.perf_counter() - started)
        elif self._recount is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return self._lines
            self._recount = loop.call_later(self._lines_next - now, self._recounted)
        return self._lines

    def _recounted(self) -> None:
        self._recount = None
        self.notify(self.room)

    def summary(self, *, force: bool = False) -> RoomSummary:
        hands = list(itertools.islice(self.hands, MAX_NAMES_SHOWN))
        return RoomSummary(self.lines(force=force), self.edits, self.last_edit, hands)

    # -- saving -------------------------------------------------------------------------

    def save(self) -> None:
        """Write the figures to the rooms table (through the writer, after the room's
        edits so far)."""
        if self._save is not None:
            self._save.cancel()
            self._save = None
        journal = self.room.journal
        if journal.closed:
            return
        room_id, summary = self.room.room_id, self.summary(force=True)
        journal.writer.submit(lambda store: store.save_summary(room_id, summary))

    def close(self) -> None:
        for handle in (self._save, self._recount):
            if handle is not None:
                handle.cancel()
        self._save = self._recount = None
