"""The room registry: creates rooms, loads live ones on demand, and unloads idle ones.

REST and WebSocket handlers reach rooms only through `RoomManager`, so a
room's stored record and its live document never disagree. It reads the store
directly (WAL readers see the last commit) and writes only through the `Writer`;
a room leaves memory only once its writes are committed, so a room loaded from
the store is never missing one.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from datetime import datetime, timezone

from pycrdt import Array, Doc, Map

from . import defaults
from .close_codes import CloseCode
from .keys import KeyKind, KeyMaker, matches
from .room import Peer, Room
from .store import RoomRecord, RoomStore
from .writer import Writer

COMPACT_AFTER_LOAD_DELAY = 2.0  # seconds


class RoomNotFound(LookupError):
    def __init__(self, room_id: str) -> None:
        super().__init__(f"room {room_id!r} does not exist")


class RoomFull(RuntimeError):
    pass


class RoomLimit(RuntimeError):
    """The server holds as many rooms as it is configured to."""


class ParticipantLimit(RuntimeError):
    """A room already lists as many participants as it may."""


def new_room_id() -> str:
    """128 random bits, URL-safe: unguessable, so a room id alone reveals nothing."""
    return secrets.token_urlsafe(16)


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def initial_state(language: str, owner: str) -> bytes:
    """The first update of every room: its language and its owner as first participant."""
    doc: Doc = Doc()
    doc.get("meta", type=Map)["language"] = language
    doc.get("participants", type=Array).append(owner)
    return doc.get_update()


class RoomManager:
    """Creates, finds, loads and unloads rooms."""

    def __init__(
        self,
        store: RoomStore,
        keys: KeyMaker,
        *,
        log: logging.Logger,
        unload_delay: float = defaults.UNLOAD_DELAY,
        compact_after: int = defaults.COMPACT_AFTER,
        max_peers_per_room: int = defaults.MAX_PEERS_PER_ROOM,
        max_awareness_state: int = defaults.MAX_AWARENESS_STATE,
        max_document_size: int = defaults.MAX_DOCUMENT_SIZE,
        max_update_ms: float = defaults.MAX_UPDATE_MS,
        room_cpu_share: float = defaults.ROOM_CPU_SHARE,
        max_rooms: int = defaults.MAX_ROOMS,
        max_participants_per_room: int = defaults.MAX_PARTICIPANTS_PER_ROOM,
        max_presence_client_ids: int = defaults.MAX_PRESENCE_CLIENT_IDS,
        max_room_presence: int = defaults.MAX_ROOM_PRESENCE,
        max_send_backlog: int = defaults.MAX_SEND_BACKLOG,
        max_room_send_backlog: int = defaults.MAX_ROOM_SEND_BACKLOG,
        on_edit: Callable[[], None] | None = None,
    ) -> None:
        """`on_edit` is called whenever a room relays edits (the server's activity)."""
        self.store = store
        self.keys = keys
        self.log = log
        self.unload_delay = unload_delay
        self.compact_after = compact_after
        self.max_peers_per_room = max_peers_per_room
        self.max_awareness_state = max_awareness_state
        self.max_document_size = max_document_size
        self.max_update_ms = max_update_ms
        self.room_cpu_share = room_cpu_share
        self.max_rooms = max_rooms
        self.max_participants_per_room = max_participants_per_room
        self.max_presence_client_ids = max_presence_client_ids
        self.max_room_presence = max_room_presence
        self.max_send_backlog = max_send_backlog
        self.max_room_send_backlog = max_room_send_backlog
        self.on_edit = on_edit
        # Told (group id, room id) when a room of a group may show its dashboard something
        # new (set by groups.GroupManager).
        self.on_summary: Callable[[str, str], None] | None = None
        self.live: dict[str, Room] = {}
        self.writer = Writer(store, log=log)
        self._unload_timers: dict[str, asyncio.TimerHandle] = {}

    # -- records ----------------------------------------------------------------------

    def create(self, owner: str, language: str, initial: bytes | None = None) -> RoomRecord:
        """A new room; `initial` is its first document state (default: empty code)."""
        if self.max_rooms and self.store.count_rooms() >= self.max_rooms:
            raise RoomLimit(f"this server already holds its limit of {self.max_rooms} rooms")
        record = RoomRecord(new_room_id(), owner, utc_now(), language, participants=[owner])
        hashes = self.keys.digests(record.room_id, record.key_generation)
        first = initial if initial is not None else initial_state(language, owner)
        self.writer.run(lambda store: store.create_room(record, first, hashes))
        return record

    def get(self, room_id: str) -> RoomRecord:
        record = self.store.get_room(room_id)
        if record is None:
            raise RoomNotFound(room_id)
        return record

    def list(self, offset: int, limit: int) -> tuple[list[RoomRecord], int]:
        return self.store.list_rooms(offset, limit)

    def join(self, room_id: str, name: str) -> RoomRecord:
        """Add a name to the room (a name already there keeps its place, whatever the cap)."""
        self._require(room_id)
        joined_at = utc_now()
        limit = self.max_participants_per_room

        def add(store: RoomStore) -> bool:
            added = store.add_participant(room_id, name, joined_at)
            if added and limit and store.count_participants(room_id) > limit:
                raise ParticipantLimit(  # rolls the insert back
                    f"this room already has its limit of {limit} participants"
                )
            return added

        if self.writer.run(add):
            self._open(room_id).add_participant(name)
        return self.get(room_id)

    def set_language(self, room_id: str, language: str) -> RoomRecord:
        """Write the language into the room's document; peers and the record follow it."""
        self._open(room_id).set_language(language)
        return self.get(room_id)

    def export(self, room_id: str) -> tuple[RoomRecord, bytes, str]:
        """The room's record, its whole Yjs state and its code."""
        room = self._open(room_id)
        state, text = self.writer.read(lambda: (room.doc.get_update(), room.text))
        return self.get(room_id), state, text

    def import_room(
        self, owner: str, language: str, participants: list[str], state: bytes
    ) -> RoomRecord:
        """A new room holding an exported state (its own id and links)."""
        limit = self.max_participants_per_room
        if limit and len({owner, *participants}) > limit:
            raise ParticipantLimit(f"a room may have at most {limit} participants")
        record = self.create(owner, language, initial=state)
        joined_at = utc_now()

        def add_participants(store: RoomStore) -> None:
            for name in participants:
                store.add_participant(record.room_id, name, joined_at)

        self.writer.run(add_participants)
        return self.get(record.room_id)

    def content(self, room_id: str) -> str:
        room = self._open(room_id)
        return self.writer.read(lambda: room.text)  # show only what is saved

    def delete(self, room_id: str) -> None:
        record = self.get(room_id)
        self.put_out(room_id)
        self.writer.run(lambda store: store.delete_room(room_id))
        if record.group_id is not None and self.on_summary is not None:
            self.on_summary(record.group_id, room_id)  # its dashboard shows it gone

    def put_out(self, room_id: str) -> None:
        """Before a room's deletion: close its peers (4410), write nothing more of it."""
        room = self.live.pop(room_id, None)
        self._cancel_unload(room_id)
        if room is not None:
            room.journal.closed = True  # nothing more of it is written
            room.close(CloseCode.ROOM_DELETED, "this room was deleted")
            if room.tracker is not None:
                room.tracker.close()

    # -- capability keys ------------------------------------------------------------------

    def key_access(self, room_id: str, key: str) -> KeyKind | None:
        """What a presented key allows in this room: "edit", "view", or nothing."""
        state = self.store.key_hashes(room_id)
        if state is None:
            return None
        generation, edit_hash, view_hash = state
        if edit_hash is None:  # a room from before keys existed: give it its first keys
            hashes = self.keys.digests(room_id, generation)
            self.writer.run(lambda store: store.set_key_hashes(room_id, generation, hashes))
            edit_hash, view_hash = hashes
        if matches(key, edit_hash):
            return "edit"
        if matches(key, view_hash):
            return "view"
        return None

    def room_keys(self, record: RoomRecord) -> dict[KeyKind, str]:
        return {
            kind: self.keys.key(record.room_id, kind, record.key_generation)
            for kind in ("edit", "view")
        }

    def rotate_keys(self, room_id: str) -> RoomRecord:
        """New links for the room; the old ones stop working and their sockets close."""
        record = self.get(room_id)
        generation = record.key_generation + 1
        hashes = self.keys.digests(room_id, generation)
        self.writer.run(lambda store: store.set_key_hashes(room_id, generation, hashes))
        room = self.live.get(room_id)
        if room is not None:
            room.close_key_peers(CloseCode.KEY_ROTATED, "the room's links were changed")
        return self.get(room_id)

    def exists(self, room_id: str) -> bool:
        return room_id in self.live or self.store.room_exists(room_id)

    def _require(self, room_id: str) -> None:
        if not self.exists(room_id):
            raise RoomNotFound(room_id)

    # -- live rooms ---------------------------------------------------------------------

    def connect(self, room_id: str, peer: Peer, *, can_edit: bool, via_key: bool) -> Room:
        """Add a connection to a room, loading the room if it is not in memory."""
        room = self._open(room_id)
        if len(room.peers) >= self.max_peers_per_room:
            raise RoomFull(f"this room already has {self.max_peers_per_room} connections")
        room.add_peer(peer, can_edit=can_edit, via_key=via_key)
        return room

    def disconnect(self, room: Room, peer: Peer) -> None:
        room.remove_peer(peer)
        if room.failed:
            self._drop(room)
        elif not room.peers:
            self._schedule_unload(room)

    def _open(self, room_id: str) -> Room:
        room = self.live.get(room_id)
        if room is not None and room.failed:
            self._drop(room)
            room = None
        if room is None:
            room = self._load(room_id)
            self.live[room_id] = room
        self._cancel_unload(room_id)
        if not room.peers:
            self._schedule_unload(room)
        return room

    def _load(self, room_id: str) -> Room:
        self._require(room_id)
        history = self.store.load_updates(room_id)
        record = self.get(room_id)
        group_id = record.group_id
        on_summary = None
        if group_id is not None:

            def on_summary(room: Room) -> None:
                if self.on_summary is not None:
                    self.on_summary(group_id, room.room_id)

        room = Room(
            room_id,
            self.store,
            history,
            compact_after=self.compact_after,
            max_awareness_state=self.max_awareness_state,
            max_document_size=self.max_document_size,
            max_update_ms=self.max_update_ms,
            cpu_share=self.room_cpu_share,
            max_presence_client_ids=self.max_presence_client_ids,
            max_room_presence=self.max_room_presence,
            max_send_backlog=self.max_send_backlog,
            max_room_send_backlog=self.max_room_send_backlog,
            log=self.log,
            writer=self.writer,
            record=record,
            on_edit=self.on_edit,
            on_summary=on_summary,
            summary=self.store.room_summary(room_id) if group_id is not None else None,
        )
        if room.journal.rows > 1:
            self._compact_later(room)
        return room

    def _compact_later(self, room: Room) -> None:
        """Compact a reloaded history (after a crash it is not one row) once the newcomer
        that loaded the room has its document: rewriting it first would keep them waiting."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop (a script or a test): compact now
            room.compact()
            return

        def compact() -> None:
            if self.live.get(room.room_id) is room and not room.failed:
                room.compact()

        loop.call_later(COMPACT_AFTER_LOAD_DELAY, compact)

    def _schedule_unload(self, room: Room) -> None:
        self._cancel_unload(room.room_id)
        loop = asyncio.get_running_loop()
        handle = loop.call_later(self.unload_delay, self._unload_if_idle, room.room_id)
        self._unload_timers[room.room_id] = handle

    def _cancel_unload(self, room_id: str) -> None:
        handle = self._unload_timers.pop(room_id, None)
        if handle is not None:
            handle.cancel()

    def _unload_if_idle(self, room_id: str) -> None:
        self._unload_timers.pop(room_id, None)
        room = self.live.get(room_id)
        if room is not None and not room.peers:
            self._unload(room)

    def _unload(self, room: Room) -> None:
        """Compact the history (so the next load is one row), then free the memory once
        that and every other write of the room is committed, unless someone came back."""
        if room.failed:
            self._drop(room)
            return
        if room.tracker is not None:
            room.tracker.save()  # what the group's dashboard shows while it is unloaded
        room.compact()
        room.journal.then(lambda: None if room.peers else self._drop(room))

    def _drop(self, room: Room) -> None:
        if self.live.get(room.room_id) is room:
            del self.live[room.room_id]
            self._cancel_unload(room.room_id)
            if room.tracker is not None:
                room.tracker.close()

    def shutdown(self) -> None:
        """Disconnect everyone and leave every room compacted on disk."""
        for room in list(self.live.values()):
            room.close(CloseCode.GOING_AWAY, "the server is shutting down")
            self._unload(room)
        self.writer.close()
