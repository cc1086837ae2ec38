"""The headless client, `codecompanion_ext.client.RoomClient`, against real servers.

Peers on the other side are a pycrdt YClient (tests/yclient.py) and the npm y-websocket
provider under Node (js/test/client-peer.mjs); the standalone tests run `codecompanion`
as a process, to restart it under the client and to call the blocking wrapper from a
thread whose loop is running, as in a kernel.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from yclient import eventually

from codecompanion_ext import client as client_module
from codecompanion_ext.client import RoomClient, RoomError, color_for, connect
from codecompanion_ext.close_codes import CloseCode
from codecompanion_ext.testing import StandaloneServerProcess, free_port

JS = Path(__file__).resolve().parent.parent / "js"


def edit_key(room: dict) -> str:
    return parse_qs(urlsplit(room["links"]["edit"]).query)["key"][0]


async def node_peer(ws_base: str, room: dict, name: str) -> asyncio.subprocess.Process:
    node = shutil.which("node")
    assert node, "Node.js 18+ is required"
    assert (JS / "node_modules" / "y-websocket").is_dir(), "run `cd js && npm ci`"
    return await asyncio.create_subprocess_exec(
        node,
        str(JS / "test" / "client-peer.mjs"),
        ws_base,
        room["roomId"],
        edit_key(room),
        name,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=JS,
    )


async def ask(proc: asyncio.subprocess.Process, command: dict | None = None) -> dict:
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    if command is not None:
        proc.stdin.write((json.dumps(command) + "\n").encode())
        await proc.stdin.drain()
    line = await asyncio.wait_for(proc.stdout.readline(), 30)
    if not line:
        raise AssertionError(f"node peer exited: {(await proc.stderr.read()).decode()}")
    return json.loads(line)


@pytest.fixture
def ws_base(jp_http_port: int, jp_base_url: str) -> str:
    return f"ws://127.0.0.1:{jp_http_port}{jp_base_url}codecompanion/ws"


async def test_joining_by_link_lists_the_name_and_shows_it_online(room_factory, api, yclient):
    room = await room_factory("Ana")
    watcher = await yclient(room["roomId"]).sync()
    watcher.set_presence({"user": {"name": "Ana"}})
    async with RoomClient(room["links"]["edit"], name="Grader") as client:
        assert client.connected and client.access == "edit"
        _, record = await api("GET", "rooms", room["roomId"])
        assert record["participants"] == ["Ana", "Grader"]
        await eventually(lambda: client.participants == ["Ana", "Grader"], what="doc's list")
        await eventually(lambda: watcher.peer_names == {"Grader"}, what="the client's presence")
        (state,) = [s for s in watcher.awareness.states.values() if s.get("user", {}).get("name")
                    == "Grader"]  # fmt: skip
        assert state["user"]["color"] == color_for("Grader")
        await eventually(lambda: client.online == ["Ana", "Grader"], what="Ana online")
        assert client.language == "python"
    await eventually(lambda: watcher.peer_names == set(), what="the client leaving presence")


async def test_joining_with_a_jupyter_token_and_refusals(
    room_factory, jp_http_port, jp_base_url, jp_serverapp
):
    room = await room_factory("Ana", "rust")
    server = f"http://127.0.0.1:{jp_http_port}{jp_base_url}"
    token = jp_serverapp.identity_provider.token
    async with RoomClient(server, room["roomId"], token=token, name="Bot") as client:
        assert client.language == "rust" and "Bot" in client.participants
    created = await RoomClient.create(server, name="Bot", language="go", token=token)
    async with created:
        assert created.language == "go" and created.participants == ["Bot"]
    with pytest.raises(PermissionError):
        await RoomClient(server, room["roomId"], token="wrong", name="Bot").connect()
    with pytest.raises(RoomError) as unknown:
        await RoomClient(server, "NoSuchRoom", token=token, name="Bot").connect()
    assert unknown.value.code == 404
    with pytest.raises(ValueError):
        RoomClient(room["roomId"])  # a bare id names no server
    nobody = f"http://127.0.0.1:{free_port()}/codecompanion/rooms/{room['roomId']}?key=k"
    with pytest.raises(ConnectionError):
        await RoomClient(nobody, name="Bot").connect()


async def test_text_converges_both_ways_with_an_npm_y_websocket_peer(room_factory, ws_base, api):
    room = await room_factory("Ana")
    async with RoomClient(room["links"]["edit"], name="Grader") as client:
        node = await node_peer(ws_base, room, "node-peer")
        try:
            assert (await ask(node))["event"] == "synced"
            # Python indexes count characters; pycrdt's count UTF-8 bytes, Yjs's UTF-16.
            client.set_code("s = 'héllo 😀'\n")
            client.insert(len("s = 'héllo 😀"), "!")
            expected = "s = 'héllo 😀!'\n"
            assert client.code == expected
            assert (await ask(node, {"cmd": "waitText", "text": expected}))["text"] == expected
            await ask(node, {"cmd": "insert", "index": 0, "text": "# node\n"})
            both = "# node\n" + expected
            assert await client.wait_for(lambda code: code == both, timeout=10) == both
            client.delete(0, len("# node\n"))
            assert (await ask(node, {"cmd": "waitText", "text": expected}))["text"] == expected
            names = await ask(node, {"cmd": "waitName", "name": "Grader"})
            assert names["names"] == ["Grader", "node-peer"]
            await eventually(lambda: client.online == ["Grader", "node-peer"], what="node online")
            await client.saved()
            assert await api("GET", "rooms", room["roomId"], "content") == (200, expected)
        finally:
            if node.returncode is None:
                node.kill()
            await node.wait()


async def test_set_code_is_one_edit_of_only_the_part_that_differs(room_factory, yclient):
    room = await room_factory("Ana")
    offline = await yclient(room["roomId"]).sync()
    watcher = await yclient(room["roomId"]).sync()
    async with RoomClient(room["links"]["edit"], name="Grader") as client:
        client.set_code("abcdef")
        await eventually(lambda: offline.text == watcher.text == "abcdef")
        await offline.close()
        offline.insert(1, "!")  # concurrently, inside the part set_code keeps
        seen: list[str] = []
        watcher.doc.observe(lambda event: seen.append(event.update))
        frames = len(watcher.received)
        client.set_code("abcXef")
        await eventually(lambda: watcher.text == "abcXef", what="the replacement")
        assert len(seen) == 1 and len(watcher.received) == frames + 1  # one update, one frame
        await offline.sync()
        merged = "a!bcXef"  # a whole-text replacement would have moved the "!"
        await eventually(lambda: offline.text == merged == watcher.text, what="the merge")
        assert await client.wait_for(lambda code: code == merged, timeout=10) == merged


async def test_wait_for_times_out_and_on_change_reports_every_change(room_factory, yclient):
    room = await room_factory("Ana")
    peer = await yclient(room["roomId"]).sync()
    async with RoomClient(room["links"]["edit"], name="Grader") as client:
        with pytest.raises(TimeoutError):
            await client.wait_for(lambda code: "never" in code, timeout=0.2)
        changes: list[str] = []
        unsubscribe = client.on_change(changes.append)
        client.set_code("local\n")
        assert changes == ["local\n"]  # local changes are reported at once
        await eventually(lambda: peer.text == "local\n", what="the peer getting it")
        peer.append("remote\n")
        await client.wait_for(lambda code: "remote" in code, timeout=10)
        assert changes == ["local\n", "local\nremote\n"]
        unsubscribe()
        client.insert(0, "#")
        assert changes == ["local\n", "local\nremote\n"]


async def test_saved_waits_for_the_servers_acknowledgement(room_factory, api):
    room = await room_factory("Ana")
    async with RoomClient(room["links"]["edit"], name="Grader") as client:
        await client.saved()  # nothing to save
        client.set_code("print(1)\nprint(2)\n")
        assert client.unsaved
        await client.saved(timeout=10)
        assert not client.unsaved
        assert await api("GET", "rooms", room["roomId"], "content") == (200, client.code)
        client.delete(0, len("print(1)\n"))  # a deletion alone: no new clock, still tracked
        assert client.unsaved
        await client.saved(timeout=10)
        assert await api("GET", "rooms", room["roomId"], "content") == (200, "print(2)\n")


async def test_a_deleted_room_ends_the_client_with_a_clear_error(room_factory, api):
    room = await room_factory("Ana")
    async with RoomClient(room["links"]["edit"], name="Grader") as client:
        waiting = asyncio.ensure_future(client.wait_for(lambda code: "never" in code, timeout=30))
        assert await api("DELETE", "rooms", room["roomId"]) == (204, "")
        with pytest.raises(RoomError) as ended:
            await asyncio.wait_for(waiting, 10)
        assert ended.value.code == CloseCode.ROOM_DELETED
        assert "room deleted" in str(ended.value)
        assert client.status == "error" and client.error is ended.value
        with pytest.raises(RoomError):
            client.set_code("too late")


async def test_new_links_end_a_client_that_joined_by_an_old_one(room_factory, api):
    room = await room_factory("Ana")
    async with RoomClient(room["links"]["edit"], name="Grader") as client:
        status, _ = await api("POST", "rooms", room["roomId"], "keys")
        assert status == 200
        with pytest.raises(RoomError) as ended:
            await client.wait_for(lambda code: "never" in code, timeout=10)
        assert ended.value.code == CloseCode.KEY_ROTATED


async def test_presence_is_renewed_so_peers_keep_the_name_online(
    room_factory, yclient, monkeypatch
):
    """y-websocket peers forget a presence not renewed for 30 s (here: renewed each 50 ms)."""
    monkeypatch.setattr(client_module, "PRESENCE_RENEWAL", 0.05)
    room = await room_factory("Ana")
    watcher = await yclient(room["roomId"]).sync()
    async with RoomClient(room["links"]["edit"], name="Grader") as client:
        mine = client.doc.client_id

        def clocks() -> set[int]:
            return {c for update in watcher.awareness_updates for i, c, _ in update if i == mine}

        await eventually(lambda: len(clocks()) >= 3, what="renewed presence")
        assert watcher.peer_names == {"Grader"}


async def test_a_view_link_cannot_edit(room_factory):
    room = await room_factory("Ana")
    async with RoomClient(room["links"]["view"], name="Viewer") as client:
        assert client.access == "view"
        with pytest.raises(PermissionError):
            client.set_code("no")


# -- against the standalone server process --------------------------------------------------


@pytest.fixture(scope="module")
def standalone(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("standalone")
    server = StandaloneServerProcess(workdir, [f"--db={workdir / 'rooms.db'}"])
    server.start()
    yield server
    server.stop()


def create_room(server: StandaloneServerProcess, name: str = "Ana") -> dict:
    status, room = server.api("POST", "rooms", body={"name": name})
    assert status == 201, room
    return room


async def stored(server: StandaloneServerProcess, room: dict) -> tuple[int, object]:
    headers = {"X-Room-Key": edit_key(room)}
    return await server.aapi("GET", "rooms", room["roomId"], "content", headers=headers)


@pytest.mark.slow
async def test_edits_made_while_the_server_restarts_are_kept(standalone):
    room = create_room(standalone)
    async with RoomClient(room["links"]["edit"], name="Grader") as client:
        client.set_code("before\n")
        await client.saved()
        await asyncio.to_thread(standalone.kill)
        await eventually(lambda: client.status == "reconnecting", what="the client noticing")
        client.insert(len(client.code), "while down\n")
        client.delete(0, 1)
        assert client.unsaved
        await asyncio.to_thread(standalone.start)
        await client.wait_connected(timeout=30)
        await client.saved(timeout=30)
        assert client.code == "efore\nwhile down\n"
        assert await stored(standalone, room) == (200, client.code)
        assert "Grader" in client.online


@pytest.mark.slow
async def test_the_blocking_client_works_beside_a_running_loop(standalone):
    """A kernel's main thread runs a loop: `connect` must not need (or block on) it."""
    asyncio.get_running_loop()  # this thread's loop runs, as a kernel's does
    room = create_room(standalone)
    with connect(room["links"]["edit"], name="Script") as script:
        assert "Script" in script.participants
        seen: list[str] = []
        script.on_change(seen.append)
        with connect(room["links"]["edit"], name="Other") as other:
            other.set_code("x = 1\n")
            assert script.wait_for(lambda code: code == "x = 1\n", timeout=10) == "x = 1\n"
            assert seen == ["x = 1\n"]
            script.insert(0, "# graded\n")
            other.wait_for(lambda code: code.startswith("# graded"), timeout=10)
            assert sorted(script.online) == ["Other", "Script"]
            script.saved(timeout=10)
        with pytest.raises(TimeoutError):
            script.wait_for(lambda code: "never" in code, timeout=0.2)
    assert await stored(standalone, room) == (200, "# graded\nx = 1\n")
    assert script.status == "closed"
