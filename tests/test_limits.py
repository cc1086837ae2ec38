"""Limits and fairness: no client can hurt the room, other rooms, or the server."""

from __future__ import annotations

import asyncio
import json
import sqlite3

import pytest
from pycrdt import create_awareness_message
from yclient import eventually

from codecompanion_ext.limits import AddressLimiter, TokenBucket


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_throttles_then_cuts_off():
    clock = FakeClock()
    bucket = TokenBucket(rate=10, burst=5, max_behind=1.0, clock=clock)
    assert [bucket.take() for _ in range(5)] == [0.0] * 5  # the burst
    assert bucket.take() == pytest.approx(0.1)  # then wait for the next token
    waited = 0.0
    while (wait := bucket.take()) is not None:  # a sender that waits, then floods again
        waited += wait
        clock.now += wait
    assert waited == pytest.approx(1.0, abs=0.15)  # cut off after a second kept waiting
    clock.now += 10
    assert bucket.take() == 0.0  # a pause refills it, and the slate is clean


def test_address_limiter_counts_each_address_apart():
    clock = FakeClock()
    limiter = AddressLimiter(per_minute=2, clock=clock)
    assert [limiter.allow("a") for _ in range(3)] == [True, True, False]
    assert limiter.allow("b")
    clock.now += 30  # half a minute: one room's worth
    assert limiter.allow("a") and not limiter.allow("a")


async def test_awareness_cannot_speak_for_another_connection(room_factory, yclient):
    room = await room_factory()
    ana = await yclient(room["roomId"]).sync()
    mallory = await yclient(room["roomId"]).sync()
    watcher = await yclient(room["roomId"]).sync()
    ana.set_presence({"user": {"name": "Ana"}})
    await eventually(lambda: watcher.peer_names == {"Ana"})
    # Mallory forges Ana's client id with a newer clock, then tries to remove her.
    for state in ({"user": {"name": "Not Ana"}}, None):
        mallory.awareness._states[ana.doc.client_id] = state
        mallory.awareness._meta[ana.doc.client_id] = {"clock": 10_000, "lastUpdated": 0}
        forged = mallory.awareness.encode_awareness_update([ana.doc.client_id])
        mallory.send_raw(create_awareness_message(forged))
    mallory.set_presence({"user": {"name": "Mallory"}})
    await eventually(lambda: watcher.peer_names == {"Ana", "Mallory"})
    assert watcher.awareness.states[ana.doc.client_id]["user"]["name"] == "Ana"
    assert mallory.connected


async def test_css_in_a_presence_colour_is_refused(room_factory, yclient):
    room = await room_factory()
    client = await yclient(room["roomId"]).sync()
    client.set_presence({"user": {"name": "x", "color": "red;background:url(//evil/t)"}})
    await asyncio.wait_for(client.closed.wait(), 10)
    assert client.close_code == 1007 and "colour" in client.close_reason


@pytest.mark.cc_config(max_awareness_state_size=1024)
async def test_megabytes_of_presence_are_refused(room_factory, yclient):
    room = await room_factory()
    client = await yclient(room["roomId"]).sync()
    client.set_presence({"user": {"name": "x"}, "junk": "x" * 2_000_000})
    await asyncio.wait_for(client.closed.wait(), 10)
    assert client.close_code == 1007 and "larger than" in client.close_reason


@pytest.mark.slow
@pytest.mark.cc_config(messages_per_second=50, message_burst=20)
async def test_a_flood_is_cut_off_and_other_rooms_keep_syncing(room_factory, yclient):
    flooded, quiet = await room_factory(), await room_factory()
    flooder = await yclient(flooded["roomId"]).sync()
    a = await yclient(quiet["roomId"]).sync()
    b = await yclient(quiet["roomId"]).sync()
    for _ in range(2_000):
        flooder.send_raw(b"\x03")  # query-awareness: cheap to send, answered by the server
    a.append("still here")
    await eventually(lambda: b.text == "still here", what="the quiet room syncs")
    await asyncio.wait_for(flooder.closed.wait(), 20)
    assert flooder.close_code == 1008 and "too many messages" in flooder.close_reason
    # A burst within the limit is only slowed down, never cut off.
    polite = await yclient(flooded["roomId"]).sync()
    listener = await yclient(flooded["roomId"]).sync()
    for i in range(60):
        polite.append(str(i % 10))
    await eventually(lambda: len(listener.text) == 60, what="every throttled edit arrives")
    assert polite.connected


@pytest.mark.cc_config(max_document_size=20_000)
async def test_a_document_cannot_grow_past_its_limit(room_factory, yclient, db_path, api):
    room = await room_factory()
    writer = await yclient(room["roomId"]).sync()
    other = await yclient(room["roomId"]).sync()
    writer.append("small edit ")
    await eventually(lambda: other.text == "small edit ")
    writer.append("x" * 30_000)
    await asyncio.wait_for(writer.closed.wait(), 10)
    assert writer.close_code == 4413 and "exceed" in writer.close_reason
    _, stored = await api("GET", "rooms", room["roomId"], "content")
    assert stored == "small edit "
    other.append("room still works")
    await eventually(lambda: other.connected and "room still works" in other.text)
    with sqlite3.connect(db_path) as db:
        sizes = [len(d) for (d,) in db.execute("SELECT data FROM updates")]
    assert max(sizes) < 20_000


@pytest.mark.cc_config(max_document_size=20_000, compact_after=10_000)
async def test_a_refused_edit_at_the_limit_rewrites_nothing(room_factory, yclient, db_path):
    """Refusing costs no compaction: a peer resending an edit that does not fit must not
    make the server rewrite the room each time."""
    room = await room_factory()
    writer = await yclient(room["roomId"]).sync()
    for i in range(5):
        writer.append(f"edit {i} ")
    other = await yclient(room["roomId"]).sync()
    await eventually(lambda: other.text == writer.text and other.text.count("edit") == 5)

    def stored_rows() -> list[int]:
        with sqlite3.connect(db_path) as db:
            query = "SELECT id FROM updates WHERE room_id = ? ORDER BY id"
            return [row_id for (row_id,) in db.execute(query, (room["roomId"],))]

    before = stored_rows()
    assert len(before) > 1
    for _ in range(3):  # as a client that reconnects and resends would
        refused = await yclient(room["roomId"]).sync()
        refused.append("x" * 25_000)
        await asyncio.wait_for(refused.closed.wait(), 10)
        assert refused.close_code == 4413 and "this room is full" in refused.close_reason
    assert stored_rows() == before
    assert other.connected and other.text.count("edit") == 5


@pytest.mark.cc_config(max_rooms=2)
async def test_the_number_of_rooms_is_bounded(api):
    for _ in range(2):
        assert (await api("POST", "rooms", body={"name": "A"}))[0] == 201
    status, error = await api("POST", "rooms", body={"name": "A"})
    assert status == 503 and "limit of 2 rooms" in error["error"]


@pytest.mark.cc_config(rooms_per_minute_per_address=3)
async def test_room_creation_is_rate_limited_per_address(jp_fetch):
    statuses = []
    for _ in range(4):
        response = await jp_fetch(
            "codecompanion",
            "api",
            "rooms",
            method="POST",
            body=json.dumps({"name": "A"}),
            raise_error=False,
        )
        statuses.append(response.code)
    assert statuses == [201, 201, 201, 429]
    assert response.headers["Retry-After"] == "60"
    assert "too many rooms" in json.loads(response.body)["error"]


@pytest.mark.cc_config(max_peers_per_room=2)
async def test_a_full_room_turns_newcomers_away(room_factory, yclient):
    room = await room_factory()
    first = await yclient(room["roomId"]).sync()
    await yclient(room["roomId"]).sync()
    third = await yclient(room["roomId"]).connect()
    await asyncio.wait_for(third.closed.wait(), 10)
    assert third.close_code == 4429 and "2 connections" in third.close_reason
    assert first.connected
