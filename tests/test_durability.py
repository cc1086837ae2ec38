"""Nothing the server relayed is ever lost: restarts, kill -9, and compaction."""

from __future__ import annotations

import asyncio
import random
import sqlite3
from pathlib import Path

import pytest
from pycrdt import Doc, Text, create_update_message
from yclient import YClient, eventually

from codecompanion_ext.keys import KeyMaker
from codecompanion_ext.room import Room
from codecompanion_ext.rooms import RoomManager, initial_state
from codecompanion_ext.store import SCHEMA_VERSION, RoomRecord, RoomStore, StoreError
from codecompanion_ext.testing import JupyterServerProcess as ServerProcess

pytestmark = pytest.mark.slow  # server processes, SIGKILL, 100,000 edits, lock timeouts


@pytest.fixture
def server(tmp_path: Path):
    process = ServerProcess(tmp_path)
    yield process.start()
    process.stop()


def client_for(server: ServerProcess, room_id: str) -> YClient:
    return YClient(f"{server.ws_base}/{room_id}", headers=server.headers)


async def create_room(server: ServerProcess) -> str:
    status, room = await server.aapi("POST", "rooms", body={"name": "Ana"})
    assert status == 201, room
    return room["roomId"]


async def test_graceful_restart_keeps_every_edit(server):
    room_id = await create_room(server)
    a = await client_for(server, room_id).sync()
    for i in range(300):
        a.append(f"{i};")
    expected = a.text

    async def stored():
        return (await server.aapi("GET", "rooms", room_id, "content"))[1]

    while await stored() != expected:
        await asyncio.sleep(0.01)
    await a.close()
    await asyncio.to_thread(server.stop)
    await asyncio.to_thread(server.start)
    assert await stored() == expected
    b = await client_for(server, room_id).sync()
    assert b.text == expected
    await b.close()


async def test_kill_9_mid_typing_loses_nothing_any_client_received(server):
    """SIGKILL while a peer types: whatever another peer got from the server is on disk,
    and what was typed during the outage merges in on reconnect. Repeated three times."""
    room_id = await create_room(server)
    typist = await client_for(server, room_id).sync()
    watcher = await client_for(server, room_id).sync()
    typed = 0

    for _ in range(3):
        stop = asyncio.Event()

        async def type_until_stopped(stop: asyncio.Event) -> None:
            nonlocal typed
            while not stop.is_set():
                typist.append(f"{typed % 10}")  # kept locally while the server is down
                typed += 1
                await asyncio.sleep(0)

        typing = asyncio.ensure_future(type_until_stopped(stop))
        seen_before = len(watcher.text)
        await eventually(lambda n=seen_before: len(watcher.text) >= n + 200, what="typing")
        await asyncio.to_thread(server.kill)
        await asyncio.wait_for(watcher.closed.wait(), 10)  # drains what was already sent
        received = watcher.text
        await asyncio.wait_for(typist.closed.wait(), 10)
        await asyncio.sleep(0.05)  # keep typing offline for a moment
        stop.set()
        await typing

        await asyncio.to_thread(server.start)
        _, restored = await server.aapi("GET", "rooms", room_id, "content")
        assert restored.startswith(received), "an edit a client had received was lost"
        assert typist.text.startswith(restored)

        await typist.sync()  # offline edits travel in the reconnect's sync step 2
        await watcher.sync()
        await eventually(lambda: watcher.text == typist.text, what="reconnected peers converge")
        assert len(typist.text) == typed

    _, final = await server.aapi("GET", "rooms", room_id, "content")
    assert final == typist.text
    await typist.close()
    await watcher.close()


async def test_patch_survives_kill_9(server):
    room_id = await create_room(server)
    status, _ = await server.aapi("PATCH", "rooms", room_id, body={"programmingLanguage": "go"})
    assert status == 200
    await asyncio.to_thread(server.kill)
    await asyncio.to_thread(server.start)
    _, room = await server.aapi("GET", "rooms", room_id)
    assert room["programmingLanguage"] == "go"
    client = await client_for(server, room_id).sync()
    assert client.language == "go"
    await client.close()


# -- compaction and the store, on real SQLite files ----------------------------------------


class NullLog:
    def warning(self, *args):
        pass

    error = info = warning


def keystrokes(count: int, seed: int = 1):
    """Yield the Yjs updates of someone typing: runs of characters at a cursor that
    sometimes jumps, with backspaces; each update is its transaction's own."""
    rng = random.Random(seed)
    doc: Doc = Doc()
    text = doc.get("code", type=Text)
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    cursor = 0
    for i in range(count):
        if rng.random() < 0.02:
            cursor = rng.randint(0, len(text))
        if cursor > 0 and rng.random() < 0.12:
            del text[cursor - 1]
            cursor -= 1
        else:
            text.insert(cursor, "\n" if i % 40 == 39 else chr(97 + i % 26))
            cursor += 1
        yield updates.pop()
    yield str(text)


def test_100000_small_edits_reload_identical_from_a_compact_history(tmp_path):
    store = RoomStore(tmp_path / "rooms.db")
    record = RoomRecord("room-1", "Ana", "2026-01-01T00:00:00.000Z", "python", ["Ana"])
    store.create_room(record, initial_state("python", "Ana"), ("edit-hash", "view-hash"))
    settings = {"compact_after": 1000, "max_awareness_state": 1024, "log": NullLog()}
    room = Room("room-1", store, store.load_updates("room-1"), **settings)
    *updates, expected = keystrokes(100_000)
    typist = _Sink()
    room.add_peer(typist)
    for update in updates:
        room.receive(typist, create_update_message(update))
    assert room.text == expected
    assert len(expected) > 50_000
    assert store.count_updates("room-1") <= 1001
    store.close()

    reopened = RoomStore(tmp_path / "rooms.db")
    reloaded = Room("room-1", reopened, reopened.load_updates("room-1"), **settings)
    assert reloaded.text == expected
    assert reloaded.language == "python"


class _Sink:
    def send(self, message: bytes) -> None:
        pass

    def close(self, code=None, reason=None) -> None:
        pass


async def test_unload_compacts_history_to_one_row(tmp_path):
    store = RoomStore(tmp_path / "rooms.db")
    keys = KeyMaker(b"s" * 32)
    manager = RoomManager(store, keys, log=NullLog(), unload_delay=0.01, compact_after=10_000)
    record = manager.create("Ana", "python")
    peer = _Sink()
    room = manager.connect(record.room_id, peer, can_edit=True, via_key=False)
    *updates, expected = keystrokes(50)
    for update in updates:
        room.receive(peer, create_update_message(update))
    # One transaction at the end of this loop iteration holds all of them.
    await eventually(lambda: store.count_updates(record.room_id) == 51)
    manager.disconnect(room, peer)
    await eventually(lambda: record.room_id not in manager.live)
    assert store.count_updates(record.room_id) == 1
    assert manager.content(record.room_id) == expected


def test_schema_is_versioned_and_newer_databases_are_refused(tmp_path):
    path = tmp_path / "rooms.db"
    RoomStore(path).close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match="newer than this codecompanion_ext"):
        RoomStore(path)


def test_corrupt_database_is_a_clear_error(tmp_path):
    path = tmp_path / "rooms.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="cannot open the room database"):
        RoomStore(path)


def test_server_with_a_corrupt_database_says_so_and_touches_nothing(tmp_path):
    path = tmp_path / "rooms.db"
    garbage = b"this is not a database" * 100
    path.write_bytes(garbage)
    process = ServerProcess(tmp_path, db_path=path).start()
    try:
        status, error = process.api("GET", "rooms")
        assert status == 503
        assert "cannot open the room database" in error["error"]
        assert "Code Companion rooms are unavailable" in process.log()
    finally:
        process.stop()
    assert path.read_bytes() == garbage


def test_locked_database_is_a_clear_error(tmp_path):
    path = tmp_path / "rooms.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE other (x)")
    holder.execute("BEGIN EXCLUSIVE")  # another program holds the file
    try:
        with pytest.raises(StoreError, match="database is locked"):
            RoomStore(path)
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_unwritable_location_is_a_clear_error(tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the database folder should be")
    with pytest.raises(StoreError, match="cannot open the room database"):
        RoomStore(blocker / "rooms.db")


def test_a_version_1_database_migrates_and_its_rooms_get_keys(tmp_path):
    import sqlite_utils

    from codecompanion_ext.store import MIGRATIONS

    path = tmp_path / "rooms.db"
    old = sqlite_utils.Database(path)
    MIGRATIONS[0](old)  # the schema as version 1 created it, before room keys
    old.execute("PRAGMA user_version = 1")
    old["rooms"].insert(
        {
            "room_id": "old-room",
            "owner": "Ana",
            "date_created": "2026-01-01T00:00:00.000Z",
            "programming_language": "go",
        }
    )
    old.conn.commit()
    old.close()

    store = RoomStore(path)
    assert store.schema_version == SCHEMA_VERSION
    record = store.get_room("old-room")
    assert (record.owner, record.programming_language, record.key_generation) == ("Ana", "go", 0)
    manager = RoomManager(store, KeyMaker(b"k" * 32), log=NullLog())
    keys = manager.room_keys(record)
    assert manager.key_access("old-room", keys["edit"]) == "edit"  # keys made on first use
    assert manager.key_access("old-room", keys["view"]) == "view"
    assert manager.key_access("old-room", "guess") is None


async def test_a_locked_database_during_a_request_is_a_503_and_loses_nothing(api, db_path):
    status, room = await api("POST", "rooms", body={"name": "Ana"})
    assert status == 201
    holder = sqlite3.connect(db_path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another program holds the file past busy_timeout
    try:
        status, error = await api("POST", "rooms", body={"name": "Bob"})
        assert status == 503, error
        assert error == {"error": "room storage is unavailable: database is locked", "status": 503}
        status, error = await api(
            "POST", "rooms", room["roomId"], "participants", body={"name": "C"}
        )
        assert status == 503 and "database is locked" in error["error"]
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    status, page = await api("GET", "rooms")
    assert status == 200 and [r["roomId"] for r in page["rooms"]] == [room["roomId"]]
    status, again = await api("POST", "rooms", room["roomId"], "participants", body={"name": "C"})
    assert status == 200 and again["participants"] == ["Ana", "C"]
