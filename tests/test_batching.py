"""Batching on the hot path keeps the promises: committed before relayed, nothing lost.

Updates that arrive in one event-loop iteration share one transaction (committed on the
writer's thread) and reach each peer as one message; presence changes of one iteration
reach each peer as one message.
"""

from __future__ import annotations

import asyncio
import logging

from pycrdt import (
    Awareness,
    Doc,
    Text,
    YSyncMessageType,
    create_awareness_message,
    create_update_message,
)
from yclient import eventually, typed

from codecompanion_ext.keys import KeyMaker
from codecompanion_ext.protocol import parse_message
from codecompanion_ext.room import decode_state
from codecompanion_ext.rooms import RoomManager
from codecompanion_ext.store import RoomStore


class RecordingPeer:
    """A connection that records what it is sent, and how many rows were stored by then."""

    def __init__(self, store: RoomStore, room_id: str) -> None:
        self.store = store
        self.room_id = room_id
        self.received: list[tuple[bytes, int]] = []

    def send(self, message: bytes) -> None:
        self.received.append((message, self.store.count_updates(self.room_id)))

    def close(self, code: int | None = None, reason: str | None = None) -> None:
        pass


async def next_iteration() -> None:
    await asyncio.sleep(0)
    await asyncio.sleep(0)


def new_manager(tmp_path) -> RoomManager:
    store = RoomStore(tmp_path / "rooms.db")
    return RoomManager(store, KeyMaker(b"k" * 32), log=logging.getLogger("test"))


def setup(tmp_path, manager: RoomManager | None = None):
    """A room with three recording peers (in `manager`, or a new one)."""
    manager = manager or new_manager(tmp_path)
    store = manager.store
    record = manager.create("Ana", "python")
    peers = [RecordingPeer(store, record.room_id) for _ in range(3)]
    room = None
    for peer in peers:
        room = manager.connect(record.room_id, peer, can_edit=True, via_key=False)
        peer.received.clear()  # the greeting
    return store, room, peers


async def test_updates_of_one_iteration_are_committed_together_then_relayed_as_one(tmp_path):
    store, room, (ana, bob, eve) = setup(tmp_path)
    rows_before = store.count_updates(room.room_id)
    room.receive(ana, create_update_message(typed("ana", 101)))
    room.receive(bob, create_update_message(typed("bob", 202)))
    assert eve.received == []  # nothing relayed before it is committed
    await eventually(lambda: eve.received, what="the batch relayed")
    await next_iteration()

    assert store.count_updates(room.room_id) == rows_before + 2
    for peer in (ana, bob, eve):
        assert len(peer.received) == 1, "one message per peer for the whole batch"
        message, rows_when_sent = peer.received[0]
        assert rows_when_sent == rows_before + 2, "relayed only after the commit"
        doc = Doc()
        doc.apply_update(parse_message(message).payload)
        assert sorted(str(doc.get("code", type=Text))[i : i + 3] for i in (0, 3)) == [
            "ana",
            "bob",
        ]


async def test_a_lone_update_is_relayed_as_received_and_acknowledged_to_its_sender(tmp_path):
    store, room, (ana, bob, eve) = setup(tmp_path)
    rows_before = store.count_updates(room.room_id)
    message = create_update_message(typed("solo", 303))
    room.receive(ana, message)
    assert ana.received == []  # not acknowledged before it is on disk
    await eventually(lambda: ana.received and bob.received and eve.received, what="the relay")
    await next_iteration()
    # Everyone, the sender included, gets the bytes sent, once, after the commit: for the
    # sender that is the acknowledgement that its edit is saved.
    for peer in (ana, bob, eve):
        assert peer.received == [(message, rows_before + 1)]


async def test_a_newcomer_hears_the_state_vector_once_what_it_counts_is_on_disk(tmp_path):
    store, room, (ana, *_) = setup(tmp_path)
    room.receive(ana, create_update_message(typed("draft", 404)))
    late = RecordingPeer(store, room.room_id)
    rows_before = store.count_updates(room.room_id)
    room.add_peer(late)
    assert late.received == []  # the state vector counts the edit in flight
    await eventually(lambda: late.received, what="the greeting")
    greeting, rows_when_sent = late.received[0]
    assert rows_when_sent == rows_before + 1
    state = parse_message(greeting)
    assert state.sync_type == YSyncMessageType.SYNC_STEP1
    assert 404 in decode_state(state.payload)


async def test_presence_changes_of_one_iteration_reach_each_peer_as_one_message(tmp_path):
    _, room, (ana, bob, eve) = setup(tmp_path)
    for peer, client_id, name in ((ana, 101, "Ana"), (bob, 202, "Bob")):
        awareness = Awareness(Doc(client_id=client_id))
        awareness.set_local_state({"user": {"name": name, "color": "#30bced"}})
        update = awareness.encode_awareness_update([client_id])
        room.receive(peer, create_awareness_message(update))
    await next_iteration()

    assert len(eve.received) == 1
    seen = Awareness(Doc())
    seen.apply_awareness_update(parse_message(eve.received[0][0]).payload, "test")
    names = {s["user"]["name"] for c, s in seen.states.items() if c != seen.client_id}
    assert names == {"Ana", "Bob"}
    # Each sender still hears the other's presence.
    assert len(ana.received) == 1 and len(bob.received) == 1


async def test_deleting_a_room_with_an_update_in_the_batch_fails_no_other_room(tmp_path):
    manager = new_manager(tmp_path)
    store, doomed, (ana, *_) = setup(tmp_path, manager)
    _, other, (olga, oscar, _) = setup(tmp_path, manager)
    doomed.receive(ana, create_update_message(typed("gone", 101)))
    other.receive(olga, create_update_message(typed("kept", 202)))
    manager.delete(doomed.room_id)
    await eventually(lambda: oscar.received, what="the other room's update relayed")
    await next_iteration()

    assert not other.failed
    assert len(oscar.received) == 1
    reloaded = Doc()
    for update in store.load_updates(other.room_id):
        reloaded.apply_update(update)
    assert str(reloaded.get("code", type=Text)) == "kept"


async def test_a_peer_whose_key_was_rotated_is_out_of_the_room_at_once(tmp_path):
    manager = new_manager(tmp_path)
    store = manager.store
    record = manager.create("Ana", "python")
    insider = RecordingPeer(store, record.room_id)
    holder = RecordingPeer(store, record.room_id)
    room = manager.connect(record.room_id, insider, can_edit=True, via_key=False)
    manager.connect(record.room_id, holder, can_edit=True, via_key=True)
    rows = store.count_updates(record.room_id)
    manager.rotate_keys(record.room_id)
    # Its close handshake is still under way; what it sends now must not count.
    room.receive(holder, create_update_message(typed("too late", 303)))
    room.receive(insider, create_update_message(typed("in time", 404)))
    await eventually(lambda: store.count_updates(record.room_id) == rows + 1)
    assert room.text == "in time"
    assert holder not in room.peers
