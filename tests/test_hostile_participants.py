"""The parts of a room's document the server owns: participants and the language.

An edit key may write anything into the document, `participants` and `meta` included,
and an applied update cannot be taken back. The rooms table stays the record; after
every update that touches those parts, the server puts them back in shape with an edit
of its own, so joining keeps working and the REST API and editors agree, also after a
restart. And the participant list itself is bounded: a cap per room, and joins per
address per minute.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from pycrdt import Array, Doc, Map
from yclient import YClient, eventually, eventually_async

from codecompanion_ext.rooms import utc_now
from codecompanion_ext.store import RoomStore
from codecompanion_ext.testing import JupyterServerProcess

NO_LOGIN = {"Authorization": ""}
DEPTH = 500  # within the nested types a room accepts (deeper is refused at the door)
STORED_DEPTH = 1500  # as an earlier version could have stored it


def key_of(link: str) -> str:
    return parse_qs(urlsplit(link).query)["key"][0]


def entries(doc: Doc) -> list[Any]:
    """The document's participants one element at a time (`to_py()` would recurse): names
    as they are, anything else by its type's name."""
    participants = doc.get("participants", type=Array)
    values = [participants[i] for i in range(len(participants))]
    return [value if isinstance(value, str) else type(value).__name__ for value in values]


def nest(participants: Array, depth: int) -> None:
    """Append Y.Arrays nested `depth` deep to `participants`, in one transaction."""
    assert participants.doc is not None
    with participants.doc.transaction():
        inner: Array = Array()
        participants.append(inner)
        for _ in range(depth - 1):
            deeper: Array = Array()
            inner.append(deeper)
            inner = deeper


def nested_attack(doc: Doc, depth: int = STORED_DEPTH) -> bytes:
    """The update of nesting Y.Arrays `depth` deep inside `doc`'s participants."""
    updates: list[bytes] = []
    subscription = doc.observe(lambda event: updates.append(event.update))
    try:
        nest(doc.get("participants", type=Array), depth)
    finally:
        doc.unobserve(subscription)
    (update,) = updates
    return update


@pytest.fixture
def editor(yclient):
    """A pycrdt peer holding only a room's edit link (no login)."""

    def make(room: dict[str, Any]) -> YClient:
        client = yclient(room["roomId"], headers=dict(NO_LOGIN))
        client.url += f"?key={key_of(room['links']['edit'])}"
        return client

    return make


@pytest.fixture
def join(jp_fetch):
    """Join a room as a guest with its edit link: (status, JSON answer, headers)."""

    async def call(room: dict[str, Any], name: str) -> tuple[int, Any, Any]:
        response = await jp_fetch(
            "codecompanion",
            "api",
            "rooms",
            room["roomId"],
            "participants",
            method="POST",
            body=json.dumps({"name": name}),
            params={"key": key_of(room["links"]["edit"])},
            headers=NO_LOGIN,
            raise_error=False,
        )
        return response.code, json.loads(response.body), response.headers

    return call


def server_entries(extension: Any, room_id: str) -> list[Any]:
    return entries(extension.rooms.live[room_id].doc)


async def test_nesting_in_participants_breaks_no_join(
    room_factory, editor, yclient, join, api, extension
):
    room = await room_factory("Ana")
    room_id = room["roomId"]
    attacker = await editor(room).sync()
    watcher = await yclient(room_id).sync()
    attacker.edit(lambda: nest(attacker.doc.get("participants", type=Array), DEPTH))
    # The server's repair reaches everyone, the attacker included.
    await eventually(lambda: entries(attacker.doc) == ["Ana"], what="the nesting removed")
    await eventually(lambda: entries(watcher.doc) == ["Ana"], what="the watcher repaired")
    assert server_entries(extension, room_id) == ["Ana"]

    for name in ("Bob", "Cy", "Bob"):  # a second join keeps one entry
        status, joined, _ = await join(room, name)
        assert status == 200, joined
    assert joined["participants"] == ["Ana", "Bob", "Cy"]
    await eventually(lambda: entries(watcher.doc) == ["Ana", "Bob", "Cy"], what="joins shown")
    assert server_entries(extension, room_id) == ["Ana", "Bob", "Cy"]
    newcomer = await yclient(room_id).sync()
    assert entries(newcomer.doc) == ["Ana", "Bob", "Cy"]
    assert (await api("GET", "rooms", room_id))[1]["participants"] == ["Ana", "Bob", "Cy"]


async def test_names_and_values_a_peer_writes_into_participants_are_put_back(
    room_factory, editor, yclient, join, extension
):
    room = await room_factory("Ana")
    room_id = room["roomId"]
    assert (await join(room, "Bob"))[0] == 200
    attacker = await editor(room).sync()
    watcher = await yclient(room_id).sync()
    participants = attacker.doc.get("participants", type=Array)

    def vandalise() -> None:
        with attacker.doc.transaction():
            del participants[0]  # "Ana" goes
            participants.append("Mallory")  # a name that never joined
            participants.extend([42, None, {"name": "Eve"}, [[["x"]]]])
            participants.append(Map({"name": "Eve"}))

    attacker.edit(vandalise)
    await eventually(lambda: entries(attacker.doc) == ["Ana", "Bob"], what="the list restored")
    await eventually(lambda: entries(watcher.doc) == ["Ana", "Bob"], what="the watcher restored")
    assert server_entries(extension, room_id) == ["Ana", "Bob"]
    status, joined, _ = await join(room, "Cy")
    assert status == 200 and joined["participants"] == ["Ana", "Bob", "Cy"]
    await eventually(lambda: entries(watcher.doc) == ["Ana", "Bob", "Cy"], what="Cy shown")


async def test_an_invalid_language_in_the_document_is_repaired(room_factory, editor, yclient, api):
    room = await room_factory("Ana", "python")
    room_id = room["roomId"]
    attacker = await editor(room).sync()
    watcher = await yclient(room_id).sync()

    async def stored_language() -> str:
        return (await api("GET", "rooms", room_id))[1]["programmingLanguage"]

    for invalid in ("<script>", "Python ", 42, None, ["python"]):
        attacker.edit(lambda value=invalid: attacker.meta.__setitem__("language", value))
        # The attacker's own document held the invalid value: it flips back only when the
        # server's repair arrives.
        await eventually(lambda: attacker.language == "python", what=f"{invalid!r} repaired")
        assert watcher.language == "python"
        assert await stored_language() == "python"
    attacker.edit(lambda: attacker.meta.__setitem__("language", Map({"deep": Array([1])})))
    await eventually(lambda: attacker.language == "python", what="a Y.Map repaired")

    # A known language chosen in an editor (as the language menu does) is the room's now.
    attacker.edit(lambda: attacker.meta.__setitem__("language", "rust"))
    await eventually(lambda: watcher.language == "rust", what="rust relayed")
    await eventually_async(stored_language, "rust")
    # And one that is then invalid goes back to that one.
    attacker.edit(lambda: attacker.meta.__setitem__("language", "cobol"))
    await eventually(lambda: attacker.language == "rust", what="cobol repaired to rust")
    # The REST API still changes it for everyone.
    status, patched = await api("PATCH", "rooms", room_id, body={"programmingLanguage": "go"})
    assert status == 200 and patched["programmingLanguage"] == "go"
    await eventually(lambda: attacker.language == "go" and watcher.language == "go")


@pytest.mark.cc_config(max_participants_per_room=3)
async def test_the_participants_of_a_room_are_capped(room_factory, join, api, yclient, extension):
    room = await room_factory("Ana")
    room_id = room["roomId"]
    watcher = await yclient(room_id).sync()
    assert [(await join(room, name))[0] for name in ("Bob", "Cy")] == [200, 200]
    status, error, _ = await join(room, "Dee")
    assert status == 409, error
    assert error["status"] == 409 and "limit of 3 participants" in error["error"]
    # Someone already listed joins again (a reload of the page): that still works.
    for name in ("Ana", "Cy"):
        status, again, _ = await join(room, name)
        assert status == 200 and again["participants"] == ["Ana", "Bob", "Cy"]
    assert (await api("GET", "rooms", room_id))[1]["participants"] == ["Ana", "Bob", "Cy"]
    await eventually(lambda: entries(watcher.doc) == ["Ana", "Bob", "Cy"], what="doc agrees")
    assert server_entries(extension, room_id) == ["Ana", "Bob", "Cy"]
    # An import cannot bring more names than the cap either.
    status, export = await api("GET", "rooms", room_id, "export")
    assert status == 200
    export["participants"].append("Dee")
    status, error = await api("POST", "rooms", "import", body=export)
    assert status == 409 and "at most 3 participants" in error["error"], error


@pytest.mark.cc_config(joins_per_minute_per_address=3)
async def test_joins_are_rate_limited_per_address(room_factory, join, api):
    room = await room_factory("Ana")
    answers = [await join(room, name) for name in ("Bob", "Cy", "Dee", "Eve")]
    assert [status for status, _, _ in answers] == [200, 200, 200, 429]
    _, error, headers = answers[-1]
    assert headers["Retry-After"] == "60"
    assert error["status"] == 429 and "too many joins" in error["error"]
    participants = (await api("GET", "rooms", room["roomId"]))[1]["participants"]
    assert participants == ["Ana", "Bob", "Cy", "Dee"]


# -- after a restart -------------------------------------------------------------------------


def stored_room(server: JupyterServerProcess, room_id: str) -> dict[str, Any]:
    status, room = server.api("GET", "rooms", room_id)
    assert status == 200, room
    return room


async def doc_entries(server: JupyterServerProcess, room_id: str) -> tuple[list[Any], Any]:
    """The participants and language a newcomer gets."""
    client = await YClient(f"{server.ws_base}/{room_id}", headers=server.headers).sync()
    try:
        return entries(client.doc), client.language
    finally:
        await client.close()


@pytest.mark.slow
async def test_joins_and_the_document_agree_after_a_restart(tmp_path):
    server = JupyterServerProcess(tmp_path).start()
    try:
        status, room = await server.aapi("POST", "rooms", body={"name": "Ana"})
        assert status == 201, room
        room_id = room["roomId"]
        key = key_of(room["links"]["edit"])
        attacker = await YClient(f"{server.ws_base}/{room_id}?key={key}").sync()
        attacker.edit(lambda: nest(attacker.doc.get("participants", type=Array), DEPTH))
        await eventually(lambda: entries(attacker.doc) == ["Ana"], what="the nesting removed")
        await attacker.close()
        status, joined = await server.aapi(
            "POST", "rooms", room_id, "participants", body={"name": "Bob"}
        )
        assert status == 200, joined

        # A crash keeps the history as it was written (not compacted): replayed on start.
        await asyncio.to_thread(server.kill)
        await asyncio.to_thread(server.start)
        status, joined = await server.aapi(
            "POST", "rooms", room_id, "participants", body={"name": "Cy"}
        )
        assert status == 200 and joined["participants"] == ["Ana", "Bob", "Cy"], joined
        assert await doc_entries(server, room_id) == (["Ana", "Bob", "Cy"], "python")

        # What an earlier version could leave behind: the nesting and an invalid language
        # stored without repair, and a name in the rooms table that the document lacks (its
        # join answered 500 after the insert).
        await asyncio.to_thread(server.stop)
        scribbler = Doc()
        scribbler.get("meta", type=Map)["language"] = "klingon"
        store = RoomStore(server.db_path)
        store.append_update(room_id, nested_attack(Doc()))
        store.append_update(room_id, scribbler.get_update())
        store.add_participant(room_id, "Dee", utc_now())
        store.close()
        await asyncio.to_thread(server.start)
        assert stored_room(server, room_id)["participants"] == ["Ana", "Bob", "Cy", "Dee"]
        status, joined = await server.aapi(
            "POST", "rooms", room_id, "participants", body={"name": "Eve"}
        )
        assert status == 200, joined
        names = ["Ana", "Bob", "Cy", "Dee", "Eve"]
        assert joined["participants"] == names
        assert await doc_entries(server, room_id) == (names, "python")
        assert stored_room(server, room_id)["programmingLanguage"] == "python"
        # The repair is stored: once more, after a graceful stop (a compacted history).
        await asyncio.to_thread(server.stop)
        await asyncio.to_thread(server.start)
        assert await doc_entries(server, room_id) == (names, "python")
        with sqlite3.connect(server.db_path) as db:
            (rows,) = db.execute("SELECT count(*) FROM updates WHERE room_id = ?", (room_id,))
        assert rows == (1,)
    finally:
        server.stop()
