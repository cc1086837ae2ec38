"""Room groups: a named set of rooms made in one call from a roster, and their dashboard.

A teacher creates a group from a list of names ("Lab 3": Ana, Bob, Cleo); each name gets a
room of its own, owned by the teacher, named after the student, holding the starter code.
Each room has its own links, so a student's link opens their room and nothing else.

The dashboard reads every room's summary (`room_summary`): from the live room when it is
loaded, else from the figures the room last saved in the rooms table (no room is loaded
to be summarised). A dashboard may also follow a group (`GroupFeed`): it gets the whole
summary, then the summaries of the rooms that changed, at most `FEED_INTERVAL` apart, and
never more than one message waiting unread per dashboard.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from pycrdt import Array, Doc, Map, Text

from . import defaults
from .room_summary import count_lines
from .rooms import RoomLimit, RoomManager, RoomNotFound, new_room_id, utc_now
from .store import GroupRecord, RoomRecord, RoomStore, RoomSummary
from .validation import InvalidInput, check_name

FEED_INTERVAL = 0.25  # seconds between two messages to a dashboard, at least
T = TypeVar("T")


class GroupNotFound(RoomNotFound):
    def __init__(self, group_id: str) -> None:
        LookupError.__init__(self, f"group {group_id!r} does not exist")


def check_roster(value: Any, max_rooms: int) -> list[str]:
    """The names of a group's rooms: 1 to `max_rooms` valid names, no two alike (ignoring
    case), in the order given."""
    if not isinstance(value, list):
        raise InvalidInput("'rooms' must be a list of names")
    if not value:
        raise InvalidInput("'rooms' must name at least one room")
    if len(value) > max_rooms:
        raise InvalidInput(f"'rooms' may name at most {max_rooms} rooms")
    names: list[str] = []
    seen: set[str] = set()
    for index, item in enumerate(value):
        name = check_name(item, f"rooms[{index}]")
        if name.casefold() in seen:
            raise InvalidInput(f"'rooms' names {name!r} twice: each room needs its own name")
        seen.add(name.casefold())
        names.append(name)
    return names


def check_starter_code(value: Any, max_bytes: int) -> str:
    if not isinstance(value, str):
        raise InvalidInput("'starterCode' must be a string")
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidInput("'starterCode' must be valid Unicode (no lone surrogates)") from None
    if size > max_bytes:
        raise InvalidInput(f"'starterCode' must be at most {max_bytes} bytes (UTF-8)")
    return value


def starter_state(language: str, owner: str, code: str) -> bytes:
    """The first update of each room of a group: its language, its owner as first
    participant and the starter code, made once by the server, so that every client gets
    the starter code from the room exactly once, however many open it at the same time."""
    doc: Doc = Doc()
    with doc.transaction():
        doc.get("meta", type=Map)["language"] = language
        doc.get("participants", type=Array).append(owner)
        if code:
            doc.get("code", type=Text).insert(0, code)
    return doc.get_update()


class Watcher(Protocol):
    """A dashboard following a group (the live WebSocket is one)."""

    def ready(self) -> bool:
        """Whether its last message has been written (then it may be sent another)."""

    def send_text(self, text: str) -> None: ...

    def close_group(self, code: int, reason: str) -> None: ...


class _Following:
    """What one dashboard has not heard about yet, and what it last heard of each room."""

    def __init__(self, seen: dict[str, dict[str, Any]]) -> None:
        self.pending: dict[str, None] = {}
        self.seen = seen


class GroupFeed:
    """The dashboards following one group, and the rooms each has not heard about yet."""

    def __init__(self, groups: GroupManager, group_id: str) -> None:
        self.groups = groups
        self.group_id = group_id
        self.watchers: dict[Watcher, _Following] = {}
        self._handle: asyncio.TimerHandle | None = None
        self._last = float("-inf")

    def changed(self, room_id: str) -> None:
        for following in self.watchers.values():
            following.pending[room_id] = None
        self.wake()

    def wake(self) -> None:
        """Send what is pending soon: not before `FEED_INTERVAL` after the last message."""
        if self._handle is not None or not self.watchers:
            return
        delay = max(0.0, self._last + FEED_INTERVAL - time.monotonic())
        self._handle = asyncio.get_running_loop().call_later(delay, self._flush)

    def _flush(self) -> None:
        """Send each dashboard that has read its last message the summaries of the rooms
        that changed since (those it has seen exactly so are left out)."""
        self._handle = None
        due = [(w, f) for w, f in self.watchers.items() if f.pending and w.ready()]
        if not due:
            return
        summaries: dict[str, dict[str, Any]] = {}
        sent = False
        for watcher, following in due:
            rooms = []
            for room_id in following.pending:
                summary = summaries.get(room_id)
                if summary is None:
                    summary = summaries[room_id] = self.groups.summary_of(self.group_id, room_id)
                if following.seen.get(room_id) != summary:
                    following.seen[room_id] = summary
                    rooms.append(summary)
            following.pending.clear()
            if rooms:
                watcher.send_text(json.dumps({"type": "changes", "rooms": rooms}))
                sent = True
        if sent:
            self._last = time.monotonic()


class GroupManager:
    """Creates, lists, summarises and deletes groups; feeds their dashboards."""

    def __init__(
        self,
        rooms: RoomManager,
        *,
        log: logging.Logger,
        max_rooms_per_group: int = defaults.MAX_ROOMS_PER_GROUP,
        max_starter_code_size: int = defaults.MAX_STARTER_CODE_SIZE,
    ) -> None:
        self.rooms = rooms
        self.store: RoomStore = rooms.store
        self.log = log
        self.max_rooms_per_group = max_rooms_per_group
        self.max_starter_code_size = min(max_starter_code_size, rooms.max_document_size // 2)
        # A creation request with the largest roster and starter code fits, whatever JSON
        # escapes they use (`\u0000`: 6 bytes a character).
        self.max_request_size = 6 * (max_rooms_per_group * 64 + self.max_starter_code_size) + 4096
        self.feeds: dict[str, GroupFeed] = {}
        rooms.on_summary = self._room_changed

    # -- records --------------------------------------------------------------------

    async def create(
        self, name: str, language: str, owner: str, roster: list[str], starter: str
    ) -> tuple[GroupRecord, list[RoomRecord]]:
        """A new group and a room for each name of the roster, in one transaction, written
        on the writer's thread (however many rooms, the loop goes on meanwhile)."""
        limit = self.rooms.max_rooms
        if limit and self.store.count_rooms() + len(roster) > limit:
            raise RoomLimit(f"this server would pass its limit of {limit} rooms")
        created = utc_now()
        group = GroupRecord(new_room_id(), name, created, language, len(roster))
        records = [
            RoomRecord(
                new_room_id(),
                owner,
                created,
                language,
                participants=[owner],
                group_id=group.group_id,
                name=student,
            )
            for student in roster
        ]
        rooms = [(r, self.rooms.keys.digests(r.room_id, r.key_generation)) for r in records]
        first, lines = starter_state(language, owner, starter), count_lines(starter)
        await self._write(lambda store: store.create_group(group, rooms, first, lines))
        return group, records

    def get(self, group_id: str) -> GroupRecord:
        group = self.store.get_group(group_id)
        if group is None:
            raise GroupNotFound(group_id)
        return group

    def list(self, offset: int, limit: int) -> tuple[list[GroupRecord], int]:
        return self.store.list_groups(offset, limit)

    def rooms_of(self, group_id: str) -> list[tuple[RoomRecord, dict[str, Any]]]:
        """The group's rooms in roster order, each with its summary."""
        self.get(group_id)
        return [
            (record, self._summary(record.room_id, saved))
            for record, saved in self.store.group_rooms(group_id)
        ]

    def summary_of(self, group_id: str, room_id: str) -> dict[str, Any]:
        """One room's summary now (`deleted` once it is gone from the group)."""
        room = self.rooms.live.get(room_id)
        if room is not None and room.tracker is not None and not room.failed:
            return self._summary(room_id, None)
        saved = self.store.room_summary(room_id)
        if saved is None:
            return {"roomId": room_id, "deleted": True}
        return self._summary(room_id, saved)

    def _summary(self, room_id: str, saved: RoomSummary | None) -> dict[str, Any]:
        room = self.rooms.live.get(room_id)
        online: list[str] = []
        if room is not None and room.tracker is not None and not room.failed:
            saved, online = room.tracker.summary(), room.tracker.online()
        saved = saved or RoomSummary()
        return {
            "roomId": room_id,
            "online": online,
            "lines": saved.lines,
            "lastEdit": saved.last_edit,
            "edits": saved.edits,
            "handRaised": bool(saved.hands),
            "hands": saved.hands,
        }

    async def delete(self, group_id: str) -> None:
        """Delete the group and its rooms: their peers are closed (4410), and so are the
        group's dashboards."""
        self.get(group_id)
        for record, _ in self.store.group_rooms(group_id):
            self.rooms.put_out(record.room_id)
        await self._write(lambda store: store.delete_group(group_id))
        feed = self.feeds.pop(group_id, None)
        for watcher in list(feed.watchers) if feed else ():
            watcher.close_group(4410, "this group was deleted")

    # -- dashboards -----------------------------------------------------------------

    def watch(self, group_id: str, watcher: Watcher, seen: dict[str, dict[str, Any]]) -> None:
        """Follow a group; `seen`: each room's summary as the dashboard was first sent it."""
        feed = self.feeds.get(group_id)
        if feed is None:
            feed = self.feeds[group_id] = GroupFeed(self, group_id)
        feed.watchers[watcher] = _Following(seen)

    def unwatch(self, group_id: str, watcher: Watcher) -> None:
        feed = self.feeds.get(group_id)
        if feed is not None:
            feed.watchers.pop(watcher, None)
            if not feed.watchers:
                del self.feeds[group_id]

    def ready_again(self, group_id: str) -> None:
        """A dashboard read its last message: send it what changed meanwhile."""
        feed = self.feeds.get(group_id)
        if feed is not None:
            feed.wake()

    def _room_changed(self, group_id: str, room_id: str) -> None:
        feed = self.feeds.get(group_id)
        if feed is not None:
            feed.changed(room_id)

    async def _write(self, write: Callable[[RoomStore], T]) -> T:
        """Commit `write` in the writer's next batch, on its thread; its result."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()

        def done(result: T) -> None:
            if not future.done():
                future.set_result(result)

        def failed(error: Exception) -> None:
            if not future.done():
                future.set_exception(error)

        self.rooms.writer.submit(write, done, failed)
        return await future
