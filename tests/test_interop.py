"""Interop: the unmodified npm `yjs` + `y-websocket` packages under Node join a room."""

from __future__ import annotations

import asyncio
import json
import random
import shutil
from collections import Counter
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from yclient import eventually

JS = Path(__file__).resolve().parent.parent / "js"
PEER_SCRIPT = JS / "test" / "interop-peer.mjs"


async def start_node_peers(server_url: str, room_id: str, token: str, count: int):
    node = shutil.which("node")
    assert node, "Node.js 18+ is required for the interop test"
    assert (JS / "node_modules" / "y-websocket").is_dir(), (
        "npm packages missing: run `cd js && npm ci` (the README's test command does)"
    )
    return await asyncio.create_subprocess_exec(
        node,
        str(PEER_SCRIPT),
        server_url,
        room_id,
        token,
        str(count),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=JS,
    )


async def ask(proc, command: dict | None = None) -> dict:
    if command is not None:
        proc.stdin.write((json.dumps(command) + "\n").encode())
        await proc.stdin.drain()
    line = await asyncio.wait_for(proc.stdout.readline(), 30)
    if not line:
        stderr = await proc.stderr.read()
        raise AssertionError(f"node peer exited: {stderr.decode()}")
    return json.loads(line)


async def test_two_node_providers_and_a_pycrdt_client_converge(
    room_factory, yclient, api, jp_http_port, jp_base_url, jp_serverapp
):
    room = await room_factory("Ana", "typescript")
    py = await yclient(room["roomId"]).sync()
    py.set_presence({"user": {"name": "pycrdt"}})
    py.append("// start\n")

    server_url = f"ws://127.0.0.1:{jp_http_port}{jp_base_url}codecompanion/ws"
    token = jp_serverapp.identity_provider.token
    node = await start_node_peers(server_url, room["roomId"], token, 2)
    try:
        synced = await ask(node)
        assert synced["event"] == "synced"
        assert synced["language"] == "typescript"

        # Everyone types at once: two Node providers and the pycrdt client.
        count = 60
        node.stdin.write(b'{"cmd": "type", "count": %d}\n' % count)
        await node.stdin.drain()
        rng = random.Random(3)
        for n in range(count):
            py.insert(rng.randint(0, len(py.text)), f"[py:{n}]")
            await asyncio.sleep(0)
        assert (await ask(node))["event"] == "typed"

        inserted = "// start\n" + "".join(
            f"[{who}:{n}]" for who in ("n0", "n1", "py") for n in range(count)
        )
        await eventually(lambda: len(py.text) == len(inserted), what="pycrdt peer sees all")
        final = await ask(node, {"cmd": "wait", "length": len(inserted)})
        assert final["texts"] == [py.text, py.text]
        assert Counter(py.text) == Counter(inserted)  # nothing lost, nothing doubled
        _, stored = await api("GET", "rooms", room["roomId"], "content")
        assert stored == py.text
        # Presence crosses implementations both ways.
        assert final["names"][0] == ["node-0", "node-1", "pycrdt"]
        await eventually(lambda: py.peer_names == {"node-0", "node-1"})
    finally:
        if node.returncode is None:
            node.stdin.write(b'{"cmd": "exit"}\n')
            await asyncio.wait_for(node.wait(), 10)


async def test_the_newest_y_websocket_client_sees_each_edit_acknowledged(
    room_factory, yclient, jp_http_port, jp_base_url
):
    """y-websocket 3.1 turns green only once the server sends an edit back (after saving)."""
    room = await room_factory("Ana")
    key = parse_qs(urlsplit(room["links"]["edit"]).query)["key"][0]
    server_url = f"ws://127.0.0.1:{jp_http_port}{jp_base_url}codecompanion/ws"
    watcher = await yclient(room["roomId"]).sync()
    edits = 5
    node = await asyncio.create_subprocess_exec(
        shutil.which("node") or "node",
        str(JS / "test" / "acks-peer.mjs"),
        server_url,
        room["roomId"],
        key,
        str(edits),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=JS,
    )
    try:
        assert (await ask(node))["event"] == "synced"
        done = await ask(node)
        assert done["event"] == "acknowledged", done
        assert len(done["ms"]) == edits
        expected = "".join(f"[3.1:{n}]" for n in range(edits))
        assert done["text"] == expected
        await eventually(lambda: watcher.text == expected, what="the edits relayed to others")
    finally:
        if node.returncode is None:
            node.kill()
        await node.wait()
