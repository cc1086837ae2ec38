"""SQLite storage for rooms, participants and each room's Yjs update history.

One process owns the database. Every document update is committed before the
server relays it, so whatever a client has received from the server survives
a crash of the server process (WAL mode; see ``synchronous`` for power loss).
"""

from __future__ import annotations

import functools
import json
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import sqlite_utils

SCHEMA_VERSION = 3
SYNCHRONOUS_MODES = ("OFF", "NORMAL", "FULL", "EXTRA")
BLOB_CHUNK = 1024 * 1024  # bytes of a big snapshot written per step
APPEND_ROWS_PER_STATEMENT = 4096  # two parameters each, far below SQLite's limit


class StoreError(RuntimeError):
    """The room database cannot be opened, migrated, read or written."""


Method = TypeVar("Method", bound=Callable[..., Any])


def _storage_errors(method: Method) -> Method:
    """Raise SQLite's errors (locked, read-only, disk full) as StoreError: callers handle
    one storage error, and a request answers 503 instead of a 500."""

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except sqlite3.Error as e:
            raise StoreError(str(e)) from e

    return wrapper  # type: ignore[return-value]


@dataclass
class RoomRecord:
    """A room as stored: the fields of the original Code Companion API."""

    room_id: str
    owner: str
    date_created: str
    programming_language: str
    participants: list[str] = field(default_factory=list)
    key_generation: int = 0
    group_id: str | None = None  # the group it belongs to, if any (groups.py)
    name: str | None = None  # its name in that group (the roster's name)


@dataclass
class RoomSummary:
    """What a group's dashboard shows of a room while it is not loaded: the last figures
    the room saved (a loaded room has its own, live ones)."""

    lines: int = 0
    edits: int = 0
    last_edit: str | None = None
    hands: list[str] = field(default_factory=list)


@dataclass
class GroupRecord:
    group_id: str
    name: str
    date_created: str
    programming_language: str
    room_count: int = 0


def _create_v1(db: sqlite_utils.Database) -> None:
    db["rooms"].create(
        {"room_id": str, "owner": str, "date_created": str, "programming_language": str},
        pk="room_id",
    )
    db["rooms"].create_index(["date_created"])
    db["participants"].create(
        {"room_id": str, "name": str, "joined_at": str},
        pk=("room_id", "name"),
        foreign_keys=[("room_id", "rooms", "room_id")],
    )
    db["updates"].create(
        {"id": int, "room_id": str, "data": bytes},
        pk="id",
        foreign_keys=[("room_id", "rooms", "room_id")],
    )
    db["updates"].create_index(["room_id", "id"])


def _add_room_keys_v2(db: sqlite_utils.Database) -> None:
    """Capability keys: a generation (bumped on rotation) and the hashes of both keys."""
    db["rooms"].add_column("key_generation", int, not_null_default=0)
    db["rooms"].add_column("edit_key_hash", str)
    db["rooms"].add_column("view_key_hash", str)


def _add_groups_v3(db: sqlite_utils.Database) -> None:
    """Room groups (a roster's rooms, made in one call) and each room's dashboard figures."""
    db["groups"].create(
        {"group_id": str, "name": str, "date_created": str, "programming_language": str},
        pk="group_id",
    )
    db["groups"].create_index(["date_created"])
    db["rooms"].add_column("group_id", str)
    db["rooms"].add_column("name", str)
    db["rooms"].add_column("lines", int, not_null_default=0)
    db["rooms"].add_column("edits", int, not_null_default=0)
    db["rooms"].add_column("last_edit", str)
    db["rooms"].add_column("hands", str)  # JSON list of names, as last saved
    db["rooms"].create_index(["group_id"])


# MIGRATIONS[n] brings a database from schema version n to n + 1.
MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [
    _create_v1,
    _add_room_keys_v2,
    _add_groups_v3,
]
assert len(MIGRATIONS) == SCHEMA_VERSION


def _names(stored: str | None) -> list[str]:
    """A JSON list of names as `save_summary` wrote it (anything else: none)."""
    try:
        value = json.loads(stored) if stored else []
    except ValueError:
        return []
    return [name for name in value if isinstance(name, str)] if isinstance(value, list) else []


class RoomStore:
    """Rooms, participants and update history in one SQLite file."""

    def __init__(
        self, path: str | Path, synchronous: str = "NORMAL", *, any_thread: bool = False
    ) -> None:
        """Open (creating and migrating) the database. `any_thread`: the connection may be
        used from another thread than this one (one at a time: the writer's thread)."""
        self.path = Path(path)
        self.synchronous = synchronous.upper()
        if self.synchronous not in SYNCHRONOUS_MODES:
            raise StoreError(f"synchronous must be one of {', '.join(SYNCHRONOUS_MODES)}")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Autocommit: each statement outside `transaction()` commits on its own.
            self._conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=not any_thread
            )
            self._conn.execute("PRAGMA busy_timeout = 5000")
            mode = self._conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode.lower() != "wal":
                raise StoreError(f"cannot switch {self.path} to WAL mode (got {mode})")
            self._conn.execute(f"PRAGMA synchronous = {self.synchronous}")
            self._conn.execute("PRAGMA foreign_keys = ON")
            self.db = sqlite_utils.Database(self._conn)
            self._migrate()
        except (sqlite3.Error, OSError) as e:
            raise StoreError(f"cannot open the room database {self.path}: {e}") from e

    def close(self) -> None:
        self._conn.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Run the enclosed statements as one atomic, durable unit. Inside another
        transaction it joins that one: a writer's batch commits (or fails) whole."""
        if self._conn.in_transaction:
            yield
            return
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    @property
    def schema_version(self) -> int:
        return self._conn.execute("PRAGMA user_version").fetchone()[0]

    def _migrate(self) -> None:
        version = self.schema_version
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} has schema version {version}, newer than this "
                f"codecompanion_ext understands ({SCHEMA_VERSION}); upgrade the package"
            )
        for target in range(version + 1, SCHEMA_VERSION + 1):
            with self.transaction():
                MIGRATIONS[target - 1](self.db)
                self._conn.execute(f"PRAGMA user_version = {target}")

    # -- rooms and participants ------------------------------------------------

    @_storage_errors
    def create_room(
        self,
        room: RoomRecord,
        initial_update: bytes,
        key_hashes: tuple[str, str],
        lines: int = 0,
    ) -> None:
        """Store a new room, its owner as first participant, and its first document state
        (`lines`: how many lines of code it holds)."""
        with self.transaction():
            self.db["rooms"].insert(
                {
                    "room_id": room.room_id,
                    "owner": room.owner,
                    "date_created": room.date_created,
                    "programming_language": room.programming_language,
                    "key_generation": room.key_generation,
                    "edit_key_hash": key_hashes[0],
                    "view_key_hash": key_hashes[1],
                    "group_id": room.group_id,
                    "name": room.name,
                    "lines": lines,
                }
            )
            for name in room.participants:
                self._add_participant(room.room_id, name, room.date_created)
            self.append_update(room.room_id, initial_update)

    @_storage_errors
    def get_room(self, room_id: str) -> RoomRecord | None:
        row = self._conn.execute(
            "SELECT room_id, owner, date_created, programming_language, key_generation,"
            " group_id, name FROM rooms WHERE room_id = ?",
            (room_id,),
        ).fetchone()
        if row is None:
            return None
        return RoomRecord(
            *row[:4],
            participants=self.participants(room_id),
            key_generation=row[4],
            group_id=row[5],
            name=row[6],
        )

    @_storage_errors
    def count_rooms(self) -> int:
        return self._conn.execute("SELECT count(*) FROM rooms").fetchone()[0]

    @_storage_errors
    def room_exists(self, room_id: str) -> bool:
        query = "SELECT 1 FROM rooms WHERE room_id = ?"
        return self._conn.execute(query, (room_id,)).fetchone() is not None

    @_storage_errors
    def list_rooms(self, offset: int, limit: int) -> tuple[list[RoomRecord], int]:
        """Rooms newest first, one page of them, and the total count."""
        total = self.count_rooms()
        rows = self._conn.execute(
            "SELECT room_id, owner, date_created, programming_language, key_generation,"
            " group_id, name FROM rooms ORDER BY date_created DESC, rowid DESC LIMIT ? OFFSET ?",
            (limit, offset),
        ).fetchall()
        rooms = [
            RoomRecord(*row[:4], key_generation=row[4], group_id=row[5], name=row[6])
            for row in rows
        ]
        if rooms:
            by_id = {room.room_id: room for room in rooms}
            marks = ",".join("?" * len(by_id))
            for room_id, name in self._conn.execute(
                f"SELECT room_id, name FROM participants WHERE room_id IN ({marks}) ORDER BY rowid",
                list(by_id),
            ):
                by_id[room_id].participants.append(name)
        return rooms, total

    @_storage_errors
    def participants(self, room_id: str) -> list[str]:
        """Everyone who ever joined the room, in join order."""
        rows = self._conn.execute(
            "SELECT name FROM participants WHERE room_id = ? ORDER BY rowid", (room_id,)
        )
        return [name for (name,) in rows]

    @_storage_errors
    def count_participants(self, room_id: str) -> int:
        query = "SELECT count(*) FROM participants WHERE room_id = ?"
        return self._conn.execute(query, (room_id,)).fetchone()[0]

    @_storage_errors
    def add_participant(self, room_id: str, name: str, joined_at: str) -> bool:
        """Add a name to the room; a name already there keeps its place. True if added."""
        return self._add_participant(room_id, name, joined_at)

    def _add_participant(self, room_id: str, name: str, joined_at: str) -> bool:
        cursor = self._conn.execute(
            "INSERT OR IGNORE INTO participants (room_id, name, joined_at) VALUES (?, ?, ?)",
            (room_id, name, joined_at),
        )
        return cursor.rowcount == 1

    @_storage_errors
    def set_language(self, room_id: str, language: str) -> None:
        self._conn.execute(
            "UPDATE rooms SET programming_language = ? WHERE room_id = ?", (language, room_id)
        )

    @_storage_errors
    def key_hashes(self, room_id: str) -> tuple[int, str | None, str | None] | None:
        """(generation, edit key hash, view key hash), or None for an unknown room."""
        return self._conn.execute(
            "SELECT key_generation, edit_key_hash, view_key_hash FROM rooms WHERE room_id = ?",
            (room_id,),
        ).fetchone()

    @_storage_errors
    def set_key_hashes(self, room_id: str, generation: int, hashes: tuple[str, str]) -> None:
        self._conn.execute(
            "UPDATE rooms SET key_generation = ?, edit_key_hash = ?, view_key_hash = ?"
            " WHERE room_id = ?",
            (generation, *hashes, room_id),
        )

    @_storage_errors
    def delete_room(self, room_id: str) -> None:
        with self.transaction():
            for table in ("updates", "participants", "rooms"):
                self._conn.execute(f"DELETE FROM {table} WHERE room_id = ?", (room_id,))

    # -- groups ------------------------------------------------------------------

    @_storage_errors
    def create_group(
        self,
        group: GroupRecord,
        rooms: list[tuple[RoomRecord, tuple[str, str]]],
        initial_update: bytes,
        lines: int,
    ) -> None:
        """Store a group and its rooms (each with its key hashes), all starting with the
        same first document state, in one transaction."""
        with self.transaction():
            self._conn.execute(
                "INSERT INTO groups (group_id, name, date_created, programming_language)"
                " VALUES (?, ?, ?, ?)",
                (group.group_id, group.name, group.date_created, group.programming_language),
            )
            for room, hashes in rooms:
                self.create_room(room, initial_update, hashes, lines)

    @_storage_errors
    def get_group(self, group_id: str) -> GroupRecord | None:
        row = self._conn.execute(
            "SELECT group_id, name, date_created, programming_language,"
            " (SELECT count(*) FROM rooms WHERE rooms.group_id = groups.group_id)"
            " FROM groups WHERE group_id = ?",
            (group_id,),
        ).fetchone()
        return None if row is None else GroupRecord(*row)

    @_storage_errors
    def list_groups(self, offset: int, limit: int) -> tuple[list[GroupRecord], int]:
        """Groups newest first, one page of them, and the total count."""
        total = self._conn.execute("SELECT count(*) FROM groups").fetchone()[0]
        rows = self._conn.execute(
            "SELECT group_id, name, date_created, programming_language,"
            " (SELECT count(*) FROM rooms WHERE rooms.group_id = groups.group_id)"
            " FROM groups ORDER BY date_created DESC, rowid DESC LIMIT ? OFFSET ?",
            (limit, offset),
        ).fetchall()
        return [GroupRecord(*row) for row in rows], total

    @_storage_errors
    def group_rooms(self, group_id: str) -> list[tuple[RoomRecord, RoomSummary]]:
        """A group's rooms in roster order, each with its last saved summary."""
        rows = self._conn.execute(
            "SELECT room_id, owner, date_created, programming_language, key_generation,"
            " group_id, name, lines, edits, last_edit, hands"
            " FROM rooms WHERE group_id = ? ORDER BY rowid",
            (group_id,),
        ).fetchall()
        return [
            (
                RoomRecord(*row[:4], key_generation=row[4], group_id=row[5], name=row[6]),
                RoomSummary(row[7], row[8], row[9], _names(row[10])),
            )
            for row in rows
        ]

    @_storage_errors
    def save_summary(self, room_id: str, summary: RoomSummary) -> None:
        self._conn.execute(
            "UPDATE rooms SET lines = ?, edits = ?, last_edit = ?, hands = ? WHERE room_id = ?",
            (
                summary.lines,
                summary.edits,
                summary.last_edit,
                json.dumps(summary.hands),
                room_id,
            ),
        )

    @_storage_errors
    def room_summary(self, room_id: str) -> RoomSummary | None:
        row = self._conn.execute(
            "SELECT lines, edits, last_edit, hands FROM rooms WHERE room_id = ?", (room_id,)
        ).fetchone()
        return None if row is None else RoomSummary(row[0], row[1], row[2], _names(row[3]))

    @_storage_errors
    def delete_group(self, group_id: str) -> list[str]:
        """Delete a group and every room in it, atomically; the ids of those rooms."""
        with self.transaction():
            rooms = [
                room_id
                for (room_id,) in self._conn.execute(
                    "SELECT room_id FROM rooms WHERE group_id = ?", (group_id,)
                )
            ]
            for room_id in rooms:
                self.delete_room(room_id)
            self._conn.execute("DELETE FROM groups WHERE group_id = ?", (group_id,))
            return rooms

    # -- document history ------------------------------------------------------

    @_storage_errors
    def append_update(self, room_id: str, update: bytes) -> None:
        """Durably record one Yjs update (committed when this returns)."""
        self._conn.execute("INSERT INTO updates (room_id, data) VALUES (?, ?)", (room_id, update))

    @_storage_errors
    def append_updates(self, updates: list[tuple[str, bytes]]) -> None:
        """Durably record (room id, update) pairs, in order, atomically: one commit for all.

        Up to APPEND_ROWS_PER_STATEMENT of them go in one INSERT, which is one step of
        SQLite: on a writer thread each step is one wait for the GIL afterwards, so a
        statement per row would make a batch wait once per row."""
        if len(updates) <= APPEND_ROWS_PER_STATEMENT:
            self._insert_updates(updates)
            return
        with self.transaction():
            for start in range(0, len(updates), APPEND_ROWS_PER_STATEMENT):
                self._insert_updates(updates[start : start + APPEND_ROWS_PER_STATEMENT])

    def _insert_updates(self, updates: list[tuple[str, bytes]]) -> None:
        values = ", ".join(["(?, ?)"] * len(updates))
        parameters = [value for row in updates for value in row]
        self._conn.execute(f"INSERT INTO updates (room_id, data) VALUES {values}", parameters)

    @_storage_errors
    def write_batch(self, writes: list[Callable[[RoomStore], Any]]) -> list[Any]:
        """Run each write in order, all in one transaction (one commit for all of them);
        their results, in order."""
        with self.transaction():
            return [write(self) for write in writes]

    @_storage_errors
    def load_updates(self, room_id: str) -> list[bytes]:
        rows = self._conn.execute(
            "SELECT data FROM updates WHERE room_id = ? ORDER BY id", (room_id,)
        )
        return [data for (data,) in rows]

    @_storage_errors
    def count_updates(self, room_id: str) -> int:
        query = "SELECT count(*) FROM updates WHERE room_id = ?"
        return self._conn.execute(query, (room_id,)).fetchone()[0]

    @_storage_errors
    def replace_updates(self, room_id: str, snapshot: bytes) -> None:
        """Swap a room's whole history for one update holding the same state, atomically."""
        with self.transaction():
            self._conn.execute("DELETE FROM updates WHERE room_id = ?", (room_id,))
            if len(snapshot) <= BLOB_CHUNK:
                self.append_update(room_id, snapshot)
                return
            # Binding a parameter copies it holding the GIL (tens of ms for a big room);
            # written a chunk at a time, SQLite works without it and the loop goes on.
            cursor = self._conn.execute(
                "INSERT INTO updates (room_id, data) VALUES (?, zeroblob(?))",
                (room_id, len(snapshot)),
            )
            view = memoryview(snapshot)
            with self._conn.blobopen("updates", "data", cursor.lastrowid) as blob:
                for start in range(0, len(view), BLOB_CHUNK):
                    blob.write(view[start : start + BLOB_CHUNK])
