"""Room groups: a roster's rooms made in one call, their summaries, and the live dashboard."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime, timezone
from urllib.parse import parse_qs, urlsplit

import pytest
from pycrdt import Map
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.websocket import websocket_connect
from yclient import YClient, eventually, eventually_async

STARTER = "def solve(x):\n    ..."
ROSTER = ["Ana", "Bob", "Cleo"]
EDITS = 60


def key_of(link: str) -> str:
    return parse_qs(urlsplit(link).query)["key"][0]


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


async def create_group(api, roster=ROSTER, **extra):
    body = {
        "name": "Lab 3",
        "rooms": roster,
        "programmingLanguage": "python",
        "starterCode": STARTER,
        **extra,
    }
    status, group = await api("POST", "groups", body=body)
    assert status == 201, group
    return group


@pytest.fixture
def student(ws_url, jp_asyncio_loop):
    """A pycrdt peer that opens a room with its link's key (no Jupyter login)."""
    made: list[YClient] = []

    def make(room: dict, kind: str = "edit") -> YClient:
        url = f"{ws_url(room['roomId'])}?key={key_of(room['links'][kind])}"
        client = YClient(url, headers={"Authorization": ""})
        made.append(client)
        return client

    yield make
    for client in made:
        if client.connected:
            jp_asyncio_loop.run_until_complete(client.close())


@pytest.fixture
def live(jp_http_port, jp_base_url, jp_auth_header):
    """Open a group's live summary stream; read JSON messages with a deadline."""
    sockets = []

    async def connect(group_id: str, headers=None):
        url = f"ws://127.0.0.1:{jp_http_port}{jp_base_url}codecompanion/api/groups/{group_id}/live"
        request = HTTPRequest(url, headers=jp_auth_header if headers is None else headers)
        ws = await websocket_connect(request)
        sockets.append(ws)
        return ws

    yield connect
    for ws in sockets:
        ws.close()


async def next_message(ws, timeout: float = 5.0):
    message = await asyncio.wait_for(ws.read_message(), timeout)
    assert message is not None, f"closed: {ws.close_code} {ws.close_reason}"
    return json.loads(message)


async def summary(api, group_id: str, name: str) -> dict:
    status, group = await api("GET", "groups", group_id)
    assert status == 200, group
    return next(room for room in group["rooms"] if room["name"] == name)


async def test_a_groups_rooms_hold_the_starter_code_once_however_many_open_them(
    api, student, jp_base_url
):
    group = await create_group(api)
    assert set(group) >= {"groupId", "name", "rooms", "programmingLanguage", "dateCreated"}
    assert group["name"] == "Lab 3" and group["roomCount"] == 3
    assert [room["name"] for room in group["rooms"]] == ROSTER
    for room in group["rooms"]:
        assert set(room) == {"roomId", "name", "links"}
        assert set(room["links"]) == {"edit", "view"}
        # Two clients open the room at the same moment: the starter code is the room's.
        first, second = student(room), student(room)
        await asyncio.gather(first.sync(), second.sync())
        assert first.text == second.text == STARTER
        third = await student(room).sync()
        assert third.text == STARTER
        status, text = await api("GET", "rooms", room["roomId"], "content")
        assert (status, text) == (200, STARTER)
        # The link opens the room, named after the student, owned by the creator.
        status, fetched = await api(
            "GET", "rooms", room["roomId"], headers={"X-Room-Key": key_of(room["links"]["edit"])}
        )
        assert status == 200, fetched
        assert fetched["name"] == room["name"] and fetched["groupId"] == group["groupId"]
        assert fetched["participants"] == [fetched["owner"]]
        assert fetched["programmingLanguage"] == "python"
    ids = {room["roomId"] for room in group["rooms"]}
    assert len(ids) == 3


async def test_the_summary_shows_presence_edits_and_raised_hands(api, student):
    group = await create_group(api)
    room = group["rooms"][0]
    before = await summary(api, group["groupId"], "Ana")
    assert before == {
        "roomId": room["roomId"],
        "name": "Ana",
        "links": room["links"],
        "online": [],
        "lines": 2,
        "lastEdit": None,
        "edits": 0,
        "handRaised": False,
        "hands": [],
    }
    ana = await student(room).sync()
    ana.set_presence({"user": {"name": "Ana", "color": "#123456"}})

    async def online():
        return (await summary(api, group["groupId"], "Ana"))["online"]

    await eventually_async(online, ["Ana"])
    ana.append("\n\nprint(solve(1))\n")

    async def figures():
        got = await summary(api, group["groupId"], "Ana")
        return got["lines"], got["edits"]

    await eventually_async(figures, (5, 1))
    after = await summary(api, group["groupId"], "Ana")
    edited = datetime.fromisoformat(after["lastEdit"].replace("Z", "+00:00"))
    assert abs(datetime.now(timezone.utc) - edited).total_seconds() < 60
    # Raising a hand: the room's `help` map, from the student's own edit link.
    ana.edit(lambda: ana.doc.get("help", type=Map).__setitem__("Ana", now_iso()))

    async def hands():
        got = await summary(api, group["groupId"], "Ana")
        return got["handRaised"], got["hands"]

    await eventually_async(hands, (True, ["Ana"]))
    ana.edit(lambda: ana.doc.get("help", type=Map).__delitem__("Ana"))
    await eventually_async(hands, (False, []))
    assert (await summary(api, group["groupId"], "Ana"))["edits"] == 1  # hands are no edits
    assert ana.connected  # the server accepted the map from an edit peer, and kept it
    # The other rooms are untouched.
    other = await summary(api, group["groupId"], "Bob")
    assert (other["online"], other["edits"], other["handRaised"]) == ([], 0, False)


async def test_a_view_link_cannot_raise_a_hand(api, student):
    group = await create_group(api)
    room = group["rooms"][1]
    viewer = await student(room, "view").sync()
    viewer.edit(lambda: viewer.doc.get("help", type=Map).__setitem__("Bob", now_iso()))
    editor = await student(room).sync()  # a round trip after the viewer's update
    await editor.sync()
    got = await summary(api, group["groupId"], "Bob")
    assert got["handRaised"] is False and got["hands"] == []


@pytest.mark.cc_config(room_unload_delay=0)
async def test_an_unloaded_room_is_summarised_from_what_it_saved(api, student, extension):
    group = await create_group(api)
    room = group["rooms"][2]
    cleo = await student(room).sync()
    cleo.append("\nx = 1")
    cleo.edit(lambda: cleo.doc.get("help", type=Map).__setitem__("Cleo", now_iso()))

    async def figures():
        got = await summary(api, group["groupId"], "Cleo")
        return got["edits"], got["handRaised"]

    await eventually_async(figures, (1, True))
    assert room["roomId"] in extension.rooms.live
    live_figures = await summary(api, group["groupId"], "Cleo")
    await cleo.close()
    await eventually(lambda: room["roomId"] not in extension.rooms.live, what="unload")
    saved = await summary(api, group["groupId"], "Cleo")
    assert room["roomId"] not in extension.rooms.live  # summarising loads no room
    assert saved["online"] == []
    assert saved["lines"] == 3 and saved["edits"] == 1
    assert saved["handRaised"] is True and saved["hands"] == ["Cleo"]
    assert saved["lastEdit"] == live_figures["lastEdit"] is not None


async def test_groups_are_listed_newest_first_and_deleting_one_deletes_its_rooms(
    api, student, live
):
    first = await create_group(api, ["Ana"])
    second = await create_group(api, ["Bob", "Cleo"], name="Lab 4")
    status, listing = await api("GET", "groups")
    assert status == 200
    assert listing["total"] == 2
    assert [g["groupId"] for g in listing["groups"]] == [second["groupId"], first["groupId"]]
    assert [g["roomCount"] for g in listing["groups"]] == [2, 1]
    room = second["rooms"][0]
    peer = await student(room).sync()
    dashboard = await live(second["groupId"])
    assert (await next_message(dashboard))["type"] == "summary"
    status, body = await api("DELETE", "groups", second["groupId"])
    assert (status, body) == (204, "")
    await asyncio.wait_for(peer.closed.wait(), 5)
    assert peer.close_code == 4410
    assert await asyncio.wait_for(dashboard.read_message(), 5) is None
    assert dashboard.close_code == 4410
    for gone in second["rooms"]:
        key = key_of(gone["links"]["edit"])
        status, _ = await api("GET", "rooms", gone["roomId"], headers={"X-Room-Key": key})
        assert status == 404
        status, _ = await api("GET", "rooms", gone["roomId"])
        assert status == 404
    assert (await api("GET", "groups", second["groupId"]))[0] == 404
    assert (await api("DELETE", "groups", second["groupId"]))[0] == 404
    status, listing = await api("GET", "groups")
    assert [g["groupId"] for g in listing["groups"]] == [first["groupId"]]
    status, _ = await api("GET", "rooms", first["rooms"][0]["roomId"])
    assert status == 200  # another group's rooms stay


async def test_a_room_link_opens_no_group_route(api, live):
    group = await create_group(api)
    key = key_of(group["rooms"][0]["links"]["edit"])
    no_login = {"Authorization": ""}
    for credentials in ({"X-Room-Key": key}, {}):
        headers = {**no_login, **credentials}
        for method, path in [
            ("GET", ("groups",)),
            ("POST", ("groups",)),
            ("GET", ("groups", group["groupId"])),
            ("DELETE", ("groups", group["groupId"])),
        ]:
            body = {"name": "x", "rooms": ["y"]} if method == "POST" else None
            status, error = await api(method, *path, body=body, headers=headers)
            assert status == 403, (method, path, credentials, error)
        with pytest.raises(HTTPClientError) as refused:
            await live(group["groupId"], headers={**headers, "X-Room-Key": key})
        assert refused.value.code == 403
    assert (await api("GET", "groups", group["groupId"]))[0] == 200  # still there


@pytest.mark.cc_config(max_rooms_per_group=3, max_starter_code_size=16)
@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"rooms": "Ana"}, "'rooms' must be a list of names"),
        ({"rooms": []}, "at least one room"),
        ({"rooms": ["Ana", "Bob", "Cleo", "Dan"]}, "at most 3 rooms"),
        ({"rooms": ["Ana", " ana "]}, "names 'ana' twice"),
        ({"rooms": ["Ana", 5]}, "'rooms[1]' must be a string"),
        ({"rooms": ["Ana", "B\u202eob"]}, "'rooms[1]' must not contain invisible"),
        ({"rooms": ["x" * 65]}, "'rooms[0]' must be at most 64 characters"),
        ({"name": ""}, "'name' must not be empty"),
        ({"name": None}, "'name' must be a string"),
        ({"starterCode": "x" * 17}, "at most 16 bytes"),
        ({"starterCode": "é" * 9}, "at most 16 bytes"),
        ({"starterCode": ["x"]}, "'starterCode' must be a string"),
        ({"starterCode": "\ud800"}, "lone surrogates"),
        ({"programmingLanguage": "cobol"}, "must be one of"),
        ({"teacher": "me"}, "unknown field(s) 'teacher'"),
    ],
)
async def test_bad_group_requests_are_refused_and_create_nothing(api, change, message):
    body = {"name": "Lab", "rooms": ["Ana"], "starterCode": "x = 1", **change}
    status, error = await api("POST", "groups", body=body)
    assert status == 400, error
    assert message in error["error"]
    assert (await api("GET", "groups"))[1]["total"] == 0
    assert (await api("GET", "rooms"))[1]["total"] == 0


async def test_the_live_stream_sends_the_summary_then_coalesced_changes(api, student, live):
    group = await create_group(api)
    dashboard = await live(group["groupId"])
    first = await next_message(dashboard)
    assert first["type"] == "summary" and first["groupId"] == group["groupId"]
    assert [room["name"] for room in first["rooms"]] == ROSTER
    assert all(room["edits"] == 0 and room["online"] == [] for room in first["rooms"])
    bob_room = group["rooms"][1]
    bob = await student(bob_room).sync()
    bob.set_presence({"user": {"name": "Bob"}})
    bob.append("\n# hi")

    async def until(predicate):
        deadline = time.monotonic() + 5
        while True:
            message = await next_message(dashboard, max(0.01, deadline - time.monotonic()))
            assert message["type"] == "changes"
            assert {room["roomId"] for room in message["rooms"]} == {bob_room["roomId"]}
            (room,) = message["rooms"]
            if predicate(room):
                return room

    room = await until(lambda r: r["edits"] == 1 and r["online"] == ["Bob"])
    assert room["lines"] == 3 and room["lastEdit"] is not None
    bob.edit(lambda: bob.doc.get("help", type=Map).__setitem__("Bob", now_iso()))
    await until(lambda r: r["handRaised"] and r["hands"] == ["Bob"])
    # Many edits, each relayed on its own (the next is sent once the server echoed the
    # last): a few messages, the last with every edit counted.
    started = time.monotonic()
    messages = 0
    for i in range(EDITS):
        echoes = len(bob.received)
        bob.append(f"\n{i}")
        await eventually(lambda n=echoes: len(bob.received) > n, what="the echo")

    def counted(r):
        nonlocal messages
        messages += 1
        return r["edits"] == 1 + EDITS

    await until(counted)
    elapsed = time.monotonic() - started
    assert messages <= 2 + elapsed / 0.25, (messages, elapsed)
    assert messages < 50


@pytest.mark.cc_config(rooms_per_minute_per_address=2, max_rooms=5)
async def test_a_group_is_one_creation_and_its_rooms_count_toward_max_rooms(api):
    body = {"name": "Lab", "starterCode": ""}
    status, _ = await api("POST", "groups", body={**body, "rooms": ["A", "B", "C"]})
    assert status == 201
    status, error = await api("POST", "groups", body={**body, "rooms": ["D", "E", "F"]})
    assert status == 503 and "limit of 5 rooms" in error["error"]
    status, error = await api("POST", "groups", body={**body, "rooms": ["G"]})
    assert status == 429, error  # the third creation of this minute, whatever its size
    assert (await api("GET", "rooms"))[1]["total"] == 3
