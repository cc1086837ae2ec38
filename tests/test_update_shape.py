"""Reading an update's shape before applying it: exact on what Yjs sends, bounded on the rest."""

from __future__ import annotations

import random

import pytest
from pycrdt import Array, Doc, Map, Text, merge_updates

from codecompanion_ext.protocol import ProtocolError
from codecompanion_ext.room import decode_state
from codecompanion_ext.update_shape import TooFragmented, read_shape


def random_updates(seed: int, count: int = 400) -> list[bytes]:
    """Updates of random edits to the shared types a room holds (text, map, array)."""
    rng = random.Random(seed)
    updates: list[bytes] = []
    doc = Doc()
    doc.observe(lambda event: updates.append(event.update))
    code, meta, names = (
        doc.get(n, type=t) for n, t in (("code", Text), ("meta", Map), ("participants", Array))
    )
    for _ in range(count):
        roll = rng.random()
        if roll < 0.5:
            code.insert(rng.randint(0, len(code)), rng.choice(["a", "bc", "\n", "x" * 300]))
        elif roll < 0.7 and len(code) > 3:
            start = rng.randint(0, len(code) - 2)
            del code[start : start + rng.randint(1, 2)]
        elif roll < 0.8:
            meta["language"] = rng.choice(["python", "rust"])
            meta["nested"] = {"a": [1, 2.5, {"b": None}], "c": True, "d": "é"}
        elif roll < 0.9:
            names.append(rng.choice(["Ana", 3, b"\x00\x01", {"k": "v"}]))
        else:
            names.append(Array([Array([1]), Map({"q": Text("zz")})]))
    return updates


@pytest.mark.parametrize("seed", range(3))
def test_the_shape_matches_what_pycrdt_integrates(seed):
    updates = random_updates(seed)
    doc = Doc()
    for update in [*updates, merge_updates(*updates)]:
        shape = read_shape(update, max_pieces=10**9)
        before = decode_state(doc.get_state())
        for client, start in shape.starts.items():
            assert start <= before.get(client, 0)  # in order: nothing is missing
        doc.apply_update(update)
        after = decode_state(doc.get_state())
        for client, end in shape.ends.items():
            assert after[client] == max(end, before.get(client, 0))
        for client, needed in shape.needs.items():
            assert needed <= after[client]
    snapshot = doc.get_update()
    shape = read_shape(snapshot, max_pieces=10**9)
    assert shape.ends == decode_state(doc.get_state())
    assert shape.structs > 0 and shape.delete_ranges > 0


def test_reading_stops_at_the_budget():
    doc = Doc()
    text = doc.get("code", type=Text)
    updates: list[bytes] = []
    doc.observe(lambda event: updates.append(event.update))
    text.insert(0, "x" * 1000)
    with doc.transaction():
        for index in range(998, -1, -2):
            del text[index]
    deletion = updates[-1]
    # 500 ranges and the section of their one client
    assert read_shape(deletion, max_pieces=501).delete_ranges == 500
    with pytest.raises(TooFragmented):
        read_shape(deletion, max_pieces=500)


@pytest.mark.parametrize(
    "update, why",
    [
        (b"\x01\x01\x05\x00\x04\x01\x04code\x09abc", "truncated"),  # a string cut short
        (b"\x00\x00\x00", "bytes after its end"),
        (b"\x01\x01\x05\x00\x07\x01\x04code\x07", "shared type of kind 7"),  # a weak link
        (b"\x01\x01\x05\x00\x1f\x01\x04code", "unknown kind 31"),
        (b"\x00\x01\x05\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", "truncated"),
    ],
)
def test_malformed_updates_are_refused(update, why):
    with pytest.raises(ProtocolError, match=why):
        read_shape(update, max_pieces=1000)
