"""Room links: a key opens its room (edit or view) and nothing else on the server."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.websocket import websocket_connect
from yclient import YClient, eventually

from codecompanion_ext.room import VIEW_ONLY_MESSAGE

NO_LOGIN = {"Authorization": ""}


def key_of(link: str) -> str:
    return parse_qs(urlsplit(link).query)["key"][0]


@pytest.fixture
def guest_fetch(jp_fetch):
    """Call the room API as someone holding only a key: no token, no cookie."""

    async def call(method, *path, key=None, body=None, headers=None, params=None):
        params = dict(params or {})
        if key is not None:
            params["key"] = key
        if body is not None and not isinstance(body, (str, bytes)):
            body = json.dumps(body)
        if body is None and method in ("POST", "PATCH"):
            body = ""
        response = await jp_fetch(
            "codecompanion",
            "api",
            *path,
            method=method,
            body=body,
            params=params,
            headers={**NO_LOGIN, **(headers or {})},
            raise_error=False,
        )
        text = response.body.decode()
        payload = json.loads(text) if text.startswith("{") else text
        return response.code, payload, response.headers

    return call


@pytest.fixture
def guest(yclient):
    """A pycrdt peer that connects with a room key and no login."""

    def make(room_id: str, key: str, headers=None) -> YClient:
        client = yclient(room_id, headers={**NO_LOGIN, **(headers or {})})
        client.url += f"?key={key}"
        return client

    return make


async def test_links_carry_distinct_keys_of_128_bits_or_more(room_factory):
    room = await room_factory()
    edit, view = key_of(room["links"]["edit"]), key_of(room["links"]["view"])
    assert edit != view
    for key in (edit, view):
        assert re.fullmatch(r"[A-Za-z0-9_-]{22,}", key)  # >= 128 bits, URL-safe


async def test_keys_are_stored_only_as_hashes(room_factory, db_path):
    import sqlite3

    room = await room_factory()
    edit, view = key_of(room["links"]["edit"]), key_of(room["links"]["view"])
    dump = "\n".join(sqlite3.connect(db_path).iterdump())
    assert edit not in dump and view not in dump
    assert "edit_key_hash" in dump


async def test_edit_key_reads_joins_and_sees_both_links(room_factory, guest_fetch):
    room = await room_factory("Ana", "go")
    key = key_of(room["links"]["edit"])
    status, fetched, _ = await guest_fetch("GET", "rooms", room["roomId"], key=key)
    assert status == 200
    assert fetched["access"] == "edit"
    assert fetched["links"]["edit"] == room["links"]["edit"]
    assert fetched["links"]["view"] == room["links"]["view"]
    status, joined, _ = await guest_fetch(
        "POST", "rooms", room["roomId"], "participants", key=key, body={"name": "Guest"}
    )
    assert status == 200 and joined["participants"] == ["Ana", "Guest"]
    status, text, _ = await guest_fetch("GET", "rooms", room["roomId"], "content", key=key)
    assert (status, text) == (200, "")


async def test_view_key_sees_only_the_view_link(room_factory, guest_fetch):
    room = await room_factory()
    key = key_of(room["links"]["view"])
    status, fetched, _ = await guest_fetch(
        "GET", "rooms", room["roomId"], headers={"X-Room-Key": key}
    )
    assert status == 200
    assert fetched["access"] == "view"
    assert "edit" not in fetched["links"] and fetched["links"]["view"] == room["links"]["view"]
    status, joined, _ = await guest_fetch(
        "POST", "rooms", room["roomId"], "participants", key=key, body={"name": "Watcher"}
    )
    assert status == 200 and "Watcher" in joined["participants"]


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("PATCH", (), {"programmingLanguage": "rust"}),
        ("DELETE", (), None),
        ("POST", ("keys",), None),
    ],
)
async def test_keys_cannot_manage_a_room(room_factory, guest_fetch, method, suffix, body):
    room = await room_factory()
    key = key_of(room["links"]["edit"])
    status, error, _ = await guest_fetch(
        method, "rooms", room["roomId"], *suffix, key=key, body=body
    )
    assert status == 403
    assert "only opens its own room" in error["error"]


async def test_a_key_opens_no_other_room_and_lists_nothing(room_factory, guest_fetch):
    mine, other = await room_factory(), await room_factory()
    key = key_of(mine["links"]["edit"])
    status, _, _ = await guest_fetch("GET", "rooms", other["roomId"], key=key)
    assert status == 403
    status, _, _ = await guest_fetch("GET", "rooms", key=key)
    assert status == 403
    status, _, _ = await guest_fetch("POST", "rooms", key=key, body={"name": "x"})
    assert status == 403


async def test_wrong_or_missing_key_is_refused(room_factory, guest_fetch):
    room = await room_factory()
    status, error, _ = await guest_fetch("GET", "rooms", room["roomId"], key="not-a-key")
    assert status == 403 and "not valid" in error["error"]
    status, _, _ = await guest_fetch("GET", "rooms", room["roomId"])
    assert status == 403


@pytest.mark.parametrize(
    "open_creation",
    [
        pytest.param(False, id="jupyter"),
        pytest.param(True, id="open-creation", marks=pytest.mark.cc_config(open_creation=True)),
    ],
)
async def test_without_credentials_an_unknown_room_is_404_an_existing_one_403(
    room_factory, guest_fetch, api, extension, open_creation
):
    # Room ids are 128 random bits: telling whether one exists gives nothing away, and lets
    # the landing page say "Room not found" to people without a login (the original's flow).
    assert extension.open_creation is open_creation
    room = await room_factory()
    room_id = room["roomId"]
    for suffix in ((), ("content",)):
        status, error, _ = await guest_fetch("GET", "rooms", "noSuchRoom123", *suffix)
        assert (status, error) == (
            404,
            {"error": "room 'noSuchRoom123' does not exist", "status": 404},
        )
        status, error, _ = await guest_fetch("GET", "rooms", room_id, *suffix)
        assert status == 403 and "room link" in error["error"], error
        assert room["owner"] not in str(error) and room_id not in str(error)
    # Only reading says so: nothing else answers differently for an unknown room.
    for method, suffix, body in [
        ("POST", ("participants",), {"name": "Bob"}),
        ("PATCH", (), {"programmingLanguage": "rust"}),
        ("DELETE", (), None),
        ("POST", ("keys",), None),
        ("GET", ("export",), None),
    ]:
        for target in (room_id, "noSuchRoom123"):
            status, _, _ = await guest_fetch(method, "rooms", target, *suffix, body=body)
            assert status == 403, (method, target, suffix, status)
    # A deleted room is unknown too, also to its old link; the above never touched it.
    assert (await api("GET", "rooms", room_id))[1]["participants"] == [room["owner"]]
    assert (await api("DELETE", "rooms", room_id))[0] == 204
    status, _, _ = await guest_fetch("GET", "rooms", room_id)
    assert status == 404
    status, _, _ = await guest_fetch("GET", "rooms", room_id, key=key_of(room["links"]["edit"]))
    assert status == 404


async def test_key_calls_work_from_any_origin_cookie_calls_do_not(
    room_factory, guest_fetch, jp_fetch, browser_session
):
    room = await room_factory()
    key = key_of(room["links"]["edit"])
    evil = {"Origin": "http://elsewhere.example"}
    status, _, headers = await guest_fetch("GET", "rooms", room["roomId"], key=key, headers=evil)
    assert status == 200 and headers["Access-Control-Allow-Origin"] == "*"
    # Joining with a key needs no XSRF token, even cross-origin.
    status, _, headers = await guest_fetch(
        "POST", "rooms", room["roomId"], "participants", key=key, headers=evil, body={"name": "X"}
    )
    assert status == 200 and headers["Access-Control-Allow-Origin"] == "*"
    # The CORS preflight a browser sends first.
    preflight = await jp_fetch(
        "codecompanion",
        "api",
        "rooms",
        room["roomId"],
        "participants",
        method="OPTIONS",
        headers={**NO_LOGIN, **evil},
        raise_error=False,
    )
    assert preflight.code == 204
    assert "X-Room-Key" in preflight.headers["Access-Control-Allow-Headers"]
    # A logged-in browser's cookie from another origin: refused, and no CORS grant.
    cookie = {"Authorization": "", "Cookie": browser_session["cookie"], **evil}
    response = await jp_fetch(
        "codecompanion", "api", "rooms", room["roomId"], headers=cookie, raise_error=False
    )
    assert response.code in (403, 404)
    assert response.headers.get("Access-Control-Allow-Origin") in (None, "")


async def test_a_key_ignores_the_cookie_that_comes_with_it(
    room_factory, guest_fetch, browser_session
):
    """A page elsewhere that knows a key cannot borrow the visitor's Jupyter login with it."""
    mine, other = await room_factory(), await room_factory()
    key = key_of(mine["links"]["view"])
    cookie = {"Cookie": browser_session["cookie"]}
    status, _, _ = await guest_fetch("GET", "rooms", other["roomId"], key=key, headers=cookie)
    assert status == 403
    status, _, _ = await guest_fetch("DELETE", "rooms", mine["roomId"], key=key, headers=cookie)
    assert status == 403


# -- WebSockets with keys ----------------------------------------------------------------


async def test_edit_key_peer_edits_from_any_origin(room_factory, guest, yclient):
    room = await room_factory()
    owner = await yclient(room["roomId"]).sync()
    visitor = guest(room["roomId"], key_of(room["links"]["edit"]), {"Origin": "http://x.example"})
    await visitor.sync()
    visitor.append("from a guest")
    await eventually(lambda: owner.text == "from a guest")


async def test_view_key_peer_watches_but_cannot_edit(room_factory, guest, yclient, api):
    room = await room_factory()
    owner = await yclient(room["roomId"]).sync()
    owner.set_presence({"user": {"name": "Teacher"}})
    owner.append("print('lesson')\n")
    watcher = await guest(room["roomId"], key_of(room["links"]["view"])).sync()
    await eventually(lambda: watcher.text == "print('lesson')\n")
    await eventually(lambda: watcher.peer_names == {"Teacher"})
    watcher.set_presence({"user": {"name": "Student"}})
    await eventually(lambda: owner.peer_names == {"Student"})  # presence goes both ways

    watcher.append("student scribble")
    watcher.append("more scribble")
    owner.append("print('more')\n")
    # (The watcher's own scribbles stay in its local copy; where they sort is up to Yjs.)
    await eventually(lambda: "print('more')" in watcher.text, what="live edits")
    refusals = [m for m in watcher.received if m == VIEW_ONLY_MESSAGE]
    assert len(refusals) == 1  # told once
    _, stored = await api("GET", "rooms", room["roomId"], "content")
    assert stored == "print('lesson')\nprint('more')\n"
    assert "scribble" not in owner.text
    # Offline edits of a view peer do not get in through a reconnect's sync either.
    await watcher.close()
    watcher.append("sneaky")
    await watcher.sync()
    owner.append("# end\n")
    await eventually(lambda: watcher.received.count(VIEW_ONLY_MESSAGE) == 2)
    await eventually(lambda: owner.text.endswith("# end\n"))
    _, stored = await api("GET", "rooms", room["roomId"], "content")
    assert "sneaky" not in stored


async def test_bad_key_websocket_is_refused(room_factory, guest):
    room = await room_factory()
    with pytest.raises(HTTPClientError) as caught:
        await guest(room["roomId"], "wrong").connect()
    assert caught.value.code == 403


async def test_rotating_keys_closes_old_links_and_keeps_logged_in_peers(
    room_factory, guest, yclient, api, guest_fetch
):
    room = await room_factory()
    old_edit = key_of(room["links"]["edit"])
    owner = await yclient(room["roomId"]).sync()
    visitor = await guest(room["roomId"], old_edit).sync()
    status, rotated = await api("POST", "rooms", room["roomId"], "keys")
    assert status == 200
    new_edit = key_of(rotated["links"]["edit"])
    assert new_edit != old_edit
    await asyncio.wait_for(visitor.closed.wait(), 10)
    assert visitor.close_code == 4403
    assert owner.connected
    status, _, _ = await guest_fetch("GET", "rooms", room["roomId"], key=old_edit)
    assert status == 403
    with pytest.raises(HTTPClientError):
        await guest(room["roomId"], old_edit).connect()
    fresh = await guest(room["roomId"], new_edit).sync()
    fresh.append("new link works")
    await eventually(lambda: owner.text == "new link works")


@pytest.mark.cc_config(open_creation=True, creation_token="class-2026")
async def test_open_creation_with_a_creation_token(guest_fetch):
    status, error, _ = await guest_fetch("POST", "rooms", body={"name": "Teacher"})
    assert status == 403 and "log in" in error["error"]
    status, room, _ = await guest_fetch(
        "POST", "rooms", body={"name": "Teacher"}, headers={"X-Creation-Token": "class-2026"}
    )
    assert status == 201 and room["access"] == "edit" and "edit" in room["links"]
    # Creation being open does not open anything else.
    status, _, _ = await guest_fetch("GET", "rooms")
    assert status == 403


async def test_no_log_line_holds_a_room_key(guest_fetch, room_factory, caplog):
    """Tornado warns about an HTTP error with the request's whole URI: the key is hidden."""
    room = await room_factory()
    key = key_of(room["links"]["edit"])
    with caplog.at_level(logging.DEBUG):
        status, _, _ = await guest_fetch(
            "POST", "rooms", room["roomId"], "participants", key=key, body={"name": ""}
        )
        assert status == 400
        status, _, _ = await guest_fetch("GET", "rooms", "no-such-room", key=key)
        assert status == 404
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "400 POST" in logged and "key=[hidden]" in logged  # the warning is there...
    assert key not in logged  # ...without the key


async def test_no_log_line_holds_a_room_key_even_when_a_handler_fails(
    guest_fetch, guest, room_factory, extension, jp_fetch, monkeypatch, caplog
):
    """An uncaught exception is logged with the request (Tornado prints its whole URI) and
    a traceback: the key is hidden there too, even when the exception's message holds it."""
    import codecompanion_ext.pages as pages

    room = await room_factory()
    key = key_of(room["links"]["edit"])

    def fail(*args, **kwargs):
        raise RuntimeError(f"a bug that mentions the key {key}")

    monkeypatch.setattr(extension.rooms, "join", fail)
    monkeypatch.setattr(extension.rooms, "connect", fail)
    monkeypatch.setattr(pages, "render_page", fail)
    with caplog.at_level(logging.DEBUG):
        # REST, with the key in the query and in the header.
        status, _, _ = await guest_fetch(
            "POST", "rooms", room["roomId"], "participants", key=key, body={"name": "Bob"}
        )
        assert status == 500
        status, _, _ = await guest_fetch(
            "POST",
            "rooms",
            room["roomId"],
            "participants",
            body={"name": "Bob"},
            headers={"X-Room-Key": key},
        )
        assert status == 500
        # The room page.
        response = await jp_fetch(
            "codecompanion",
            "rooms",
            room["roomId"],
            params={"key": key},
            headers=NO_LOGIN,
            raise_error=False,
        )
        assert response.code == 500
        # The WebSocket: the server gives up on the connection after the upgrade.
        client = guest(room["roomId"], key)
        socket = await websocket_connect(HTTPRequest(client.url, headers=client.headers))
        assert await asyncio.wait_for(socket.read_message(), 10) is None  # closed
    logged = caplog.text
    assert logged.count("Uncaught exception") >= 4, logged  # every path was taken...
    assert "key=[hidden]" in logged and "a bug that mentions the key [hidden]" in logged
    assert key not in logged  # ...and none of them names the key
