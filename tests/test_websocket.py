"""Rooms over real WebSockets with real pycrdt peers: sync, awareness, live metadata."""

from __future__ import annotations

import asyncio
import random
import sqlite3

import pytest
from pycrdt import (
    Decoder,
    Doc,
    Encoder,
    Text,
    create_awareness_message,
    create_update_message,
)
from tornado.httpclient import HTTPClientError
from yclient import eventually, eventually_async


async def test_two_clients_converge_after_concurrent_edits(room_factory, yclient):
    room = await room_factory()
    a = await yclient(room["roomId"]).sync()
    b = await yclient(room["roomId"]).sync()
    a.append("hello ")
    b.append("world ")
    await eventually(lambda: a.text == b.text and len(a.text) == 12, what="convergence")
    assert set(a.text.split()) == {"hello", "world"}


async def test_many_clients_converge_after_random_concurrent_edits(room_factory, yclient, api):
    room = await room_factory()
    clients = [await yclient(room["roomId"]).sync() for _ in range(4)]
    rng = random.Random(7)
    for step in range(200):
        client = rng.choice(clients)
        if client.text and rng.random() < 0.3:
            index = rng.randrange(len(client.text))
            client.delete(index, min(3, len(client.text) - index))
        else:
            client.insert(rng.randint(0, len(client.text)), f"<{step}>")
        if rng.random() < 0.2:
            await asyncio.sleep(0)  # let some messages cross, keep others concurrent
    await eventually(lambda: len({c.text for c in clients}) == 1, what="all peers equal")
    _, stored = await api("GET", "rooms", room["roomId"], "content")
    assert stored == clients[0].text


async def test_newcomer_receives_whole_document_and_presence(room_factory, yclient):
    room = await room_factory()
    a = await yclient(room["roomId"]).sync()
    b = await yclient(room["roomId"]).sync()
    a.set_presence({"user": {"name": "Ana"}})
    b.set_presence({"user": {"name": "Bob"}})
    a.append("def f():\n    return 1\n")
    await eventually(lambda: b.text == a.text and b.peer_names == {"Ana"})
    c = await yclient(room["roomId"]).sync()
    assert c.text == "def f():\n    return 1\n"
    await eventually(lambda: c.peer_names == {"Ana", "Bob"}, what="newcomer sees presence")


async def test_offline_edits_merge_on_reconnect(room_factory, yclient):
    room = await room_factory()
    a = await yclient(room["roomId"]).sync()
    b = await yclient(room["roomId"]).sync()
    a.append("shared ")
    await eventually(lambda: b.text == "shared ")
    await b.close()
    b.append("offline-b ")
    a.append("online-a ")
    await b.sync()
    await eventually(lambda: a.text == b.text and "offline-b" in a.text and "online-a" in b.text)


async def test_awareness_echo_is_not_relayed(room_factory, yclient):
    """y-websocket clients re-send what they receive; only news may be relayed."""
    room = await room_factory()
    a = await yclient(room["roomId"]).sync()
    b = await yclient(room["roomId"]).sync()
    a.set_presence({"user": {"name": "Ana"}, "cursor": 1})
    first_clock = a.awareness.meta[a.doc.client_id]["clock"]
    await eventually(lambda: b.peer_names == {"Ana"})
    a.send_awareness()  # the same clock again: an echo
    b.send_awareness()  # b has no state: its null entry is news to nobody
    a.set_presence({"user": {"name": "Ana"}, "cursor": 2})
    await eventually(lambda: b.awareness.states[a.doc.client_id].get("cursor") == 2)
    clocks_b_saw = [clock for update in b.awareness_updates for (cid, clock, _) in update]
    assert clocks_b_saw == [first_clock, first_clock + 1]  # the echo was not relayed
    # The sender never gets its own update back.
    assert all(cid != a.doc.client_id for u in a.awareness_updates for (cid, _, _) in u)


async def test_disconnect_clears_presence(room_factory, yclient):
    room = await room_factory()
    a = await yclient(room["roomId"]).sync()
    b = await yclient(room["roomId"]).sync()
    a.set_presence({"user": {"name": "Ana"}})
    await eventually(lambda: b.peer_names == {"Ana"})
    await a.close()
    await eventually(lambda: b.peer_names == set(), what="Ana's presence cleared")
    c = await yclient(room["roomId"]).sync()
    assert c.peer_names == set()


async def test_patch_reaches_connected_peers(room_factory, yclient, api):
    room = await room_factory("Ana", "python")
    a = await yclient(room["roomId"]).sync()
    assert a.language == "python"
    await api("PATCH", "rooms", room["roomId"], body={"programmingLanguage": "rust"})
    await eventually(lambda: a.language == "rust", what="language change")


async def test_language_change_from_a_client_reaches_peers_and_rooms_table(
    room_factory, yclient, api
):
    room = await room_factory("Ana", "python")
    a = await yclient(room["roomId"]).sync()
    b = await yclient(room["roomId"]).sync()
    a.edit(lambda: a.meta.__setitem__("language", "julia"))
    await eventually(lambda: b.language == "julia")

    async def stored_language():
        return (await api("GET", "rooms", room["roomId"]))[1]["programmingLanguage"]

    deadline = asyncio.get_running_loop().time() + 10
    while await stored_language() != "julia":
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.01)
    # An unknown language in the document is not mirrored into the rooms table: the server
    # puts the stored one back, for its sender too (tests/test_hostile_participants.py).
    a.edit(lambda: a.meta.__setitem__("language", "<script>"))
    await eventually(lambda: a.language == "julia", what="the language repaired")
    assert b.language == "julia"
    assert await stored_language() == "julia"


async def test_delete_disconnects_peers_with_a_reason(room_factory, yclient, api):
    room = await room_factory()
    a = await yclient(room["roomId"]).sync()
    await api("DELETE", "rooms", room["roomId"])
    await asyncio.wait_for(a.closed.wait(), 10)
    assert (a.close_code, a.close_reason) == (4410, "this room was deleted")


async def test_unknown_room_closes_with_4404(yclient):
    client = await yclient("noSuchRoom").connect()
    await asyncio.wait_for(client.closed.wait(), 10)
    assert client.close_code == 4404
    assert "does not exist" in client.close_reason


@pytest.mark.cc_config(room_unload_delay=0.05)
async def test_idle_room_unloads_and_reloads_intact(room_factory, yclient, extension):
    room = await room_factory()
    room_id = room["roomId"]
    a = await yclient(room_id).sync()
    a.append("kept across unload")
    await eventually(lambda: extension.rooms.live[room_id].text == "kept across unload")
    await a.close()
    await eventually(lambda: room_id not in extension.rooms.live, what="room unloaded")
    b = await yclient(room_id).sync()
    assert b.text == "kept across unload"


@pytest.mark.cc_config(compact_after=50)
async def test_history_is_compacted_while_people_type(room_factory, yclient, db_path, api):
    room = await room_factory()
    a = await yclient(room["roomId"]).sync()
    b = await yclient(room["roomId"]).sync()
    for i in range(500):
        (a if i % 2 else b).append(f"{i % 10}")
    await eventually(lambda: len(a.text) == len(b.text) == 500 and a.text == b.text)
    _, stored = await api("GET", "rooms", room["roomId"], "content")
    assert stored == a.text
    with sqlite3.connect(db_path) as db:
        (rows,) = db.execute(
            "SELECT count(*) FROM updates WHERE room_id = ?", (room["roomId"],)
        ).fetchone()
    assert rows <= 51


async def test_server_sends_nodelay_sockets(room_factory, yclient, extension):
    """TCP_NODELAY on the server side of every room socket (no 40 ms Nagle delay)."""
    import socket

    room = await room_factory()
    await yclient(room["roomId"]).sync()
    live = extension.rooms.live[room["roomId"]]
    (handler,) = live.peers
    sock = handler.ws_connection.stream.socket
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1


# -- authentication and origin ------------------------------------------------------------


async def test_websocket_requires_authentication(room_factory, yclient):
    room = await room_factory()
    client = yclient(room["roomId"], headers={})
    with pytest.raises(HTTPClientError) as caught:
        await client.connect()
    assert caught.value.code == 403


async def test_websocket_refuses_cross_origin_cookie_sessions(
    room_factory, yclient, browser_session, jp_http_port
):
    """A logged-in browser's cookie must not let another site open a room socket."""
    room = await room_factory()
    cookie = {"Cookie": browser_session["cookie"]}
    with pytest.raises(HTTPClientError) as caught:
        await yclient(room["roomId"], headers={**cookie, "Origin": "http://evil.example"}).connect()
    assert caught.value.code == 403
    same_origin = {**cookie, "Origin": f"http://127.0.0.1:{jp_http_port}"}
    client = await yclient(room["roomId"], headers=same_origin).sync()
    assert client.connected


async def test_rest_requires_authentication(jp_fetch):
    for method, body in [("GET", None), ("POST", '{"name": "x"}')]:
        response = await jp_fetch(
            "codecompanion",
            "api",
            "rooms",
            method=method,
            body=body,
            headers={"Authorization": ""},
            raise_error=False,
        )
        assert response.code == 403


async def test_cookie_auth_needs_xsrf_for_mutations(jp_fetch, browser_session):
    """A logged-in browser (cookie) must send the _xsrf token to change anything."""
    headers = {"Authorization": "", "Cookie": browser_session["cookie"]}
    read = await jp_fetch("codecompanion", "api", "rooms", headers=headers, raise_error=False)
    assert read.code == 200
    body = '{"name": "Ana"}'

    async def post(extra):
        response = await jp_fetch(
            "codecompanion",
            "api",
            "rooms",
            method="POST",
            body=body,
            headers={**headers, **extra},
            raise_error=False,
        )
        return response.code

    assert await post({}) == 403
    assert await post({"X-XSRFToken": "forged"}) == 403
    assert await post({"X-XSRFToken": browser_session["xsrf"]}) == 201


# -- bad input never hurts the room --------------------------------------------------------


def _valid_update(text: str) -> bytes:
    doc: Doc = Doc()
    doc.get("code", type=Text).insert(0, text)
    return doc.get_update()


def _presence(state_json: str) -> bytes:
    """An awareness message carrying one client's state, as given."""
    encoder = Encoder()
    for value in (1, 77, 1):  # one entry: client id 77, clock 1
        encoder.write_var_uint(value)
    encoder.write_var_string(state_json)
    return create_awareness_message(encoder.to_bytes())


def _misplaced_item_update() -> bytes:
    """A well-formed update that pycrdt starts applying, then stops at with a RuntimeError:
    client 9999 puts "ab" into a root of its own, then "evil" *inside* that "ab", which is
    a string, not a shared type. The first item is applied; the second is not."""
    encoder = Encoder()
    for value in (1, 2, 9999, 0):  # one client, two structs, client id 9999, from clock 0
        encoder.write_var_uint(value)
    encoder.write_var_uint(4)  # a string item, no origins: its parent follows
    encoder.write_var_uint(1)  # the parent is a root type, by name
    encoder.write_var_string("scratch")
    encoder.write_var_string("ab")
    encoder.write_var_uint(4)  # a string item, no origins
    encoder.write_var_uint(0)  # the parent is the item with this id: (9999, 0), "ab"
    for value in (9999, 0):
        encoder.write_var_uint(value)
    encoder.write_var_string("evil")
    encoder.write_var_uint(0)  # no deletions
    return encoder.to_bytes()


@pytest.mark.cc_config(max_message_size=64 * 1024)
@pytest.mark.parametrize(
    ("frame", "code", "reason"),
    [
        ("a text frame", 1003, "binary"),
        (b"", 1007, "truncated message type"),
        (b"\x00", 1007, "truncated sync message type"),
        (b"\x00\x02\x7fabc", 1007, "shorter than its length prefix"),
        (b"\x00\x02\x00trailing", 1007, "unexpected bytes"),
        (b"\x09\x00", 1007, "unsupported message type 9"),
        (b"\x00\x05\x00", 1007, "unknown sync message type 5"),
        (b"\xff" * 12 + b"\x01", 1007, "out of range"),
        (create_update_message(b"\x01\x02garbage"), 1007, "not a valid Yjs update"),
        (create_update_message(_misplaced_item_update()), 1007, "does not fit this document"),
        (b"\x00\x01" + create_update_message(_misplaced_item_update())[2:], 1007, "does not fit"),
        (b"\x00\x00\x03\xff\xff\xff", 1007, "invalid state vector"),
        (create_awareness_message(b"\x01\x05\x01\x03{x}"), 1007, "not valid JSON"),
        (create_awareness_message(b"\x01\x05\x01\x015"), 1007, "object or null"),
        (create_awareness_message(b"\x02\x05\x01\x02{}"), 1007, "truncated"),
        (_presence('{"user": {"name": "N", "x": NaN}}'), 1007, "not strict JSON (NaN)"),
        (_presence('{"a": -Infinity}'), 1007, "not strict JSON (-Infinity)"),
        (
            _presence('{"user": {"name": "Ana\\u202e"}}'),
            1007,
            "user.name must not contain invisible",
        ),
        (
            _presence('{"user": {"name": "\\ufeffAna"}}'),
            1007,
            "user.name must not contain invisible",
        ),
        (_presence('{"user": {"name": "Ana\\u0007"}}'), 1007, "user.name must not contain control"),
        (_presence('{"a": ' * 33 + "1" + "}" * 33), 1007, "nested too deeply"),
        (_presence("[" * 5000 + "]" * 5000), 1007, "nested too deeply"),
        (create_update_message(_valid_update("x" * 100_000)), 1009, None),
    ],
)
async def test_malformed_messages_close_only_the_sender(
    room_factory, yclient, db_path, api, caplog, frame, code, reason
):
    room = await room_factory()
    a = await yclient(room["roomId"]).sync()
    b = await yclient(room["roomId"]).sync()
    a.append("safe ")
    await eventually(lambda: b.text == "safe ")
    with sqlite3.connect(db_path) as db:
        before = db.execute("SELECT id, data FROM updates ORDER BY id").fetchall()

    bad = await yclient(room["roomId"]).sync()
    bad.ws.write_message(frame, binary=isinstance(frame, bytes))
    await asyncio.wait_for(bad.closed.wait(), 10)
    assert bad.close_code == code
    if reason:
        assert reason in bad.close_reason
    # A refusal, not a crash: no traceback in the server's log.
    assert "Traceback" not in caplog.text
    assert not [record for record in caplog.records if record.exc_info], caplog.text

    # The room keeps working for everyone else and storage holds only valid updates.
    b.append("still ")
    await eventually(lambda: a.text == "safe still ")
    with sqlite3.connect(db_path) as db:
        after = db.execute("SELECT id, data FROM updates ORDER BY id").fetchall()
    assert after[: len(before)] == before
    for _, data in after:
        Doc().apply_update(data)  # every stored row is a valid Yjs update
    _, stored = await api("GET", "rooms", room["roomId"], "content")
    assert stored == "safe still "


def _state_vector(doc: Doc) -> dict[int, int]:
    decoder = Decoder(doc.get_state())
    return dict(
        (decoder.read_var_uint(), decoder.read_var_uint()) for _ in range(decoder.read_var_uint())
    )


async def test_an_update_refused_midway_leaves_the_server_as_storage_has_it(
    room_factory, yclient, db_path
):
    """pycrdt applies an update's structs in order and stops at one it cannot place,
    keeping those before it. That part is stored and relayed like any edit: no peer is
    ever sent what storage lacks (a restart would take it back from them)."""
    room = await room_factory()
    a = await yclient(room["roomId"]).sync()
    a.append("safe ")
    bad = await yclient(room["roomId"]).sync()
    bad.send_raw(create_update_message(_misplaced_item_update()))
    await asyncio.wait_for(bad.closed.wait(), 10)
    assert bad.close_code == 1007

    def stored() -> Doc:
        replay: Doc = Doc()
        with sqlite3.connect(db_path) as db:
            for (data,) in db.execute("SELECT data FROM updates ORDER BY id"):
                replay.apply_update(data)
        return replay

    newcomer = await yclient(room["roomId"]).sync()  # sent the server's whole document
    assert str(newcomer.doc.get("scratch", type=Text)) == "ab"
    await eventually(
        lambda: _state_vector(stored()) == _state_vector(newcomer.doc),
        what="storage to hold all the server sent the newcomer",
    )
    assert str(stored().get("scratch", type=Text)) == "ab"
    assert str(stored().get("code", type=Text)) == "safe "
    await eventually(lambda: str(a.doc.get("scratch", type=Text)) == "ab", what="relayed")


# Found by fuzzing: one client's two structs, a deleted item in `participants`, then a GC
# block of length 0. pycrdt 0.14 panics ("attempt to divide by zero") while applying it,
# and the document it leaves behind panics again on every read.
PANICKING_UPDATE = bytes.fromhex("0102b5e6a2cbf4b2bf060001010c7061727469636970616e747301000000")


async def test_an_update_that_crashes_pycrdt_is_refused_and_the_room_reloads(
    room_factory, yclient, api, caplog
):
    """A panic inside pycrdt (pyo3's PanicException is no Exception) is a refusal, not a
    crash: the sender is closed with 1007, without a traceback. If the document was
    reached, it is unusable: the others are disconnected as after a storage failure
    (1011: they reconnect and resend), and the room reloads from storage."""
    room = await room_factory()
    a = await yclient(room["roomId"]).sync()
    a.append("safe ")
    bad = await yclient(room["roomId"]).sync()
    bad.send_raw(create_update_message(PANICKING_UPDATE))
    await asyncio.wait_for(bad.closed.wait(), 10)
    assert bad.close_code == 1007, bad.close_reason
    await eventually(lambda: a.connected or a.close_code is not None, what="a is told")
    assert a.connected or a.close_code == 1011
    newcomer = await yclient(room["roomId"]).sync()
    assert newcomer.text == "safe "
    newcomer.append("still ")
    await eventually_async(
        lambda: api("GET", "rooms", room["roomId"], "content"), (200, "safe still ")
    )
    assert "Traceback" not in caplog.text
    assert not [record for record in caplog.records if record.exc_info], caplog.text


async def test_joining_shows_the_new_participant_to_connected_peers(room_factory, yclient, api):
    from pycrdt import Array

    room = await room_factory("Ana")
    a = await yclient(room["roomId"]).sync()
    participants = a.doc.get("participants", type=Array)
    assert participants.to_py() == ["Ana"]
    await api("POST", "rooms", room["roomId"], "participants", body={"name": "Bob"})
    await api("POST", "rooms", room["roomId"], "participants", body={"name": "Bob"})
    await eventually(lambda: participants.to_py() == ["Ana", "Bob"], what="Bob listed")
    b = await yclient(room["roomId"]).sync()
    assert b.doc.get("participants", type=Array).to_py() == ["Ana", "Bob"]


async def test_relayed_frames_of_every_length_class_arrive_whole(room_factory, yclient):
    """A relayed message is framed once for all peers: 7-bit, 16-bit and 64-bit payload
    lengths (RFC 6455) must each reach every other peer intact."""
    room = await room_factory()
    typist = await yclient(room["roomId"]).sync()
    watchers = [await yclient(room["roomId"]).sync() for _ in range(2)]
    expected = ""
    for size in (1, 100, 1_000, 70_000):
        chunk = "".join(chr(97 + i % 26) for i in range(size))
        typist.append(chunk)
        expected += chunk
        await eventually(
            lambda text=expected: all(w.text == text for w in watchers),
            what=f"a {size}-character edit",
        )
    assert all(w.connected for w in watchers)
