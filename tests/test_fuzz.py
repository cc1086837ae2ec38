"""Hostile input: fuzzed WebSocket frames and REST bodies never hurt the room or storage."""

from __future__ import annotations

import json
import random
import sqlite3

import pytest
from pycrdt import Doc, Text, create_update_message, write_var_uint
from yclient import eventually

# Close codes that mean "your message was refused"; 1011 (our bug) is not among them.
REFUSALS = {1003, 1007, 1008, 1009, 4413}


def valid_update(rng: random.Random) -> bytes:
    doc: Doc = Doc()
    text = doc.get("code", type=Text)
    text.insert(0, "".join(rng.choice("abc\n é✓") for _ in range(rng.randint(1, 30))))
    return doc.get_update()


def hostile_frame(rng: random.Random) -> bytes:
    kind = rng.randrange(7)
    if kind == 0:  # random bytes
        return rng.randbytes(rng.randint(0, 64))
    if kind == 1:  # valid framing around random bytes
        payload = rng.randbytes(rng.randint(0, 64))
        return bytes([0, rng.choice([1, 2])]) + write_var_uint(len(payload)) + payload
    if kind == 2:  # a length prefix that lies
        payload = rng.randbytes(rng.randint(1, 32))
        lie = len(payload) + rng.choice([-1, 1, 1000, 2**31])
        return bytes([0, 2]) + write_var_uint(max(lie, 0)) + payload
    if kind == 3:  # a truncated varint
        return bytes([rng.choice([0, 1])]) + b"\xff" * rng.randint(1, 12)
    if kind == 4:  # a valid update with bytes flipped
        update = bytearray(valid_update(rng))
        for _ in range(rng.randint(1, 4)):
            update[rng.randrange(len(update))] = rng.randrange(256)
        return create_update_message(bytes(update))
    if kind == 5:  # a valid update cut short
        update = valid_update(rng)
        return create_update_message(update[: rng.randrange(1, len(update))])
    payload = rng.randbytes(rng.randint(0, 40))  # awareness with random entries
    return bytes([1]) + write_var_uint(len(payload)) + payload


@pytest.mark.slow
async def test_fuzzed_frames_are_refused_and_the_room_survives(room_factory, yclient, db_path, api):
    rng = random.Random(2026)
    room = await room_factory()
    a = await yclient(room["roomId"]).sync()
    b = await yclient(room["roomId"]).sync()
    fuzzer = await yclient(room["roomId"]).sync()
    outcomes: dict[str, int] = {}
    for i in range(400):
        if not fuzzer.connected:
            outcomes[str(fuzzer.close_code)] = outcomes.get(str(fuzzer.close_code), 0) + 1
            assert fuzzer.close_code in REFUSALS, (fuzzer.close_code, fuzzer.close_reason)
            fuzzer = await yclient(room["roomId"]).sync()
        answers = len(fuzzer.received)
        fuzzer.send_raw(hostile_frame(rng))
        fuzzer.send_raw(b"\x03")  # query-awareness: its answer means the frame was handled
        await eventually(
            lambda n=answers, f=fuzzer: f.closed.is_set() or len(f.received) > n,
            what="the server to answer or refuse",
        )
        if i % 50 == 0:
            a.append(f"<{i}>")
            await eventually(lambda i=i: f"<{i}>" in b.text, what="the room keeps syncing")
    a.append("<end>")
    await eventually(lambda: a.text == b.text and "<end>" in b.text)
    assert sum(outcomes.values()) > 200, outcomes  # most hostile frames were refused
    with sqlite3.connect(db_path) as db:
        rows = [data for (data,) in db.execute("SELECT data FROM updates")]
    replay: Doc = Doc()
    for data in rows:
        replay.apply_update(data)  # every stored row is a valid update
    _, stored = await api("GET", "rooms", room["roomId"], "content")
    assert stored == a.text == str(replay.get("code", type=Text))


def hostile_value(rng: random.Random):
    choices = [
        None,
        True,
        rng.randint(-(2**70), 2**70),
        rng.random(),
        [],
        {"name": "x"},
        "",
        " \t ",
        "\x00\x07\x1b",
        "\ud800" if rng.random() < 0.5 else "\U0001f600" * 70,
        "'; DROP TABLE rooms; --",
        "<script>alert(1)</script>",
        "x" * rng.choice([64, 65, 10_000]),
        "é" * 64,
        "python",
        "PYTHON ",
    ]
    return rng.choice(choices)


async def test_fuzzed_rest_bodies_get_clear_json_errors(api, room_factory):
    rng = random.Random(7)
    room = await room_factory()
    for _ in range(300):
        body = {
            key: hostile_value(rng)
            for key in rng.sample(
                ["name", "programmingLanguage", "owner", "extra"], rng.randint(0, 3)
            )
        }
        route = rng.choice([("rooms",), ("rooms", room["roomId"], "participants")])
        try:
            raw = json.dumps(body)
        except (TypeError, ValueError):
            continue
        if rng.random() < 0.2:
            raw = raw[: rng.randrange(len(raw) + 1)]  # truncated JSON
        status, answer = await api("POST", *route, body=raw)
        assert status in (200, 201, 400, 429), (status, answer, raw)
        assert isinstance(answer, dict)
        if status == 400:
            assert answer["status"] == 400 and answer["error"], answer
    _, fetched = await api("GET", "rooms", room["roomId"])
    assert fetched["roomId"] == room["roomId"]  # the room is intact
