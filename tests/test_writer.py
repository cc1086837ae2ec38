"""The writer: the one owner of the room database's writes, committing off the event loop.

Real SQLite files, a real event loop and the writer's real thread; peers are recorders.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3

from pycrdt import Awareness, Doc, Map, Text, create_awareness_message, create_update_message
from yclient import eventually, typed

from codecompanion_ext.keys import KeyMaker
from codecompanion_ext.room import Room
from codecompanion_ext.rooms import RoomManager
from codecompanion_ext.store import RoomStore


class Recorder:
    def __init__(self) -> None:
        self.received: list[bytes] = []

    def send(self, message: bytes) -> None:
        self.received.append(bytes(message))

    def close(self, code: int | None = None, reason: str | None = None) -> None:
        pass


def presence(client_id: int, name: str) -> bytes:
    awareness = Awareness(Doc(client_id=client_id))
    awareness.set_local_state({"user": {"name": name, "color": "#30bced"}})
    return create_awareness_message(awareness.encode_awareness_update([client_id]))


def stored(db_path, room_id: str) -> list[bytes]:
    with sqlite3.connect(db_path) as db:
        query = "SELECT data FROM updates WHERE room_id = ? ORDER BY id"
        return [data for (data,) in db.execute(query, (room_id,))]


def open_room(tmp_path, **settings):
    store = RoomStore(tmp_path / "rooms.db")
    manager = RoomManager(store, KeyMaker(b"w" * 32), log=logging.getLogger("test"), **settings)
    record = manager.create("Ana", "python")
    peers = [Recorder() for _ in range(3)]
    room = None
    for peer in peers:
        room = manager.connect(record.room_id, peer, can_edit=True, via_key=False)
        peer.received.clear()
    return manager, room, peers


async def test_the_loop_goes_on_while_a_commit_waits_and_the_edit_is_relayed_after_it(
    tmp_path,
):
    manager, room, (ana, bob, eve) = open_room(tmp_path)
    rows_before = len(stored(tmp_path / "rooms.db", room.room_id))
    holder = sqlite3.connect(tmp_path / "rooms.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # the writer's commit must wait for this lock
    try:
        edit = create_update_message(typed("saved first", 101))
        room.receive(ana, edit)
        # On the loop the room still works: presence comes and goes...
        room.receive(bob, presence(202, "Bob"))
        await eventually(lambda: eve.received, what="presence relayed while the commit waits")
        # ...but the edit is not relayed before its commit.
        assert edit not in eve.received and edit not in bob.received
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    await eventually(lambda: edit in eve.received, what="the edit relayed once committed")
    assert edit in bob.received
    assert len(stored(tmp_path / "rooms.db", room.room_id)) == rows_before + 1
    assert not room.failed
    manager.shutdown()


async def test_counters_match_the_store_after_compactions_in_mid_batch(tmp_path):
    manager, room, (ana, bob, _) = open_room(tmp_path, compact_after=7)
    for i in range(200):
        room.receive(ana if i % 2 else bob, create_update_message(typed(f"{i};", 1000 + i)))
        if i % 13 == 0:
            await asyncio.sleep(0)  # one loop turn: some batches commit while others pile up
    manager.writer.settle()
    rows = stored(tmp_path / "rooms.db", room.room_id)
    assert room.journal.rows == len(rows)
    assert room.journal.bytes == sum(map(len, rows))
    assert len(rows) <= 8
    doc = Doc()
    for update in rows:
        doc.apply_update(update)
    assert str(doc.get("code", type=Text)) == room.text
    assert sorted(room.text.split(";")[:-1], key=int) == [str(i) for i in range(200)]
    manager.shutdown()


async def test_a_language_change_reaches_the_rooms_table_in_order(tmp_path):
    manager, room, (ana, *_) = open_room(tmp_path)
    change = Doc(client_id=77)
    change.apply_update(room.doc.get_update())
    change.get("meta", type=Map)["language"] = "rust"
    room.receive(ana, create_update_message(change.get_update(room.doc.get_state())))
    await eventually(lambda: manager.get(room.room_id).programming_language == "rust")
    manager.shutdown()


def test_without_a_loop_each_update_is_stored_as_it_is_applied(tmp_path):
    """Scripts and sync code drive rooms without an event loop: nothing may wait for one."""
    store = RoomStore(tmp_path / "rooms.db")
    manager = RoomManager(store, KeyMaker(b"w" * 32), log=logging.getLogger("test"))
    room_id = manager.create("Ana", "python").room_id
    history = store.load_updates(room_id)
    room = Room(room_id, store, history, log=logging.getLogger("test"))
    ana, bob = Recorder(), Recorder()
    room.add_peer(ana)
    room.add_peer(bob)
    for i in range(3):
        room.receive(ana, create_update_message(typed(f"line {i}\n", 500 + i)))
    assert len(stored(tmp_path / "rooms.db", room_id)) == len(history) + 3
    assert len(bob.received) == 1 + 3  # its greeting, then each update once committed
