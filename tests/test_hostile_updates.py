"""Document updates shaped to cost the server, sent by a peer holding an edit link.

Against a real Jupyter server process: while the attack runs, a thread times an
unrelated request (`/api/status`) and another room keeps typing; afterwards the
attacker must be closed, and the attacked room must reload intact after a restart.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Iterator

import pytest
from pycrdt import Array, Doc, Encoder, Text, create_update_message
from tornado.httpclient import HTTPRequest
from tornado.websocket import WebSocketClosedError, websocket_connect
from yclient import YClient, eventually, eventually_async

from codecompanion_ext.testing import JupyterServerProcess

BLOCK = 1_000_000  # characters of the one insert the attack then fragments
ATTACKER = 4242  # the attacker's Yjs client id
CHUNK = 100  # delete ranges per update: few enough to be accepted


def delete_ranges(client: int, clocks: range) -> bytes:
    """An update that deletes one character at each clock: nothing but a delete set."""
    encoder = Encoder()
    encoder.write_var_uint(0)  # no structs
    encoder.write_var_uint(1)  # one client in the delete set
    encoder.write_var_uint(client)
    encoder.write_var_uint(len(clocks))
    for clock in clocks:
        encoder.write_var_uint(clock)
        encoder.write_var_uint(1)
    return encoder.to_bytes()


def one_block(length: int) -> bytes:
    doc = Doc(client_id=ATTACKER)
    doc.get("code", type=Text).insert(0, "x" * length)
    return doc.get_update()


class Prober:
    """Times `/api/status` every 20 ms from a thread of its own."""

    def __init__(self, server: JupyterServerProcess) -> None:
        self.server = server
        self.latencies: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.perf_counter()
            status, _ = self.server.request("GET", "api/status", timeout=60)
            assert status == 200
            self.latencies.append(time.perf_counter() - started)
            self._stop.wait(0.02)

    def __enter__(self) -> Prober:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(60)

    @property
    def p99(self) -> float:
        ordered = sorted(self.latencies)
        return ordered[int(0.99 * (len(ordered) - 1))]


@pytest.fixture
def server(tmp_path) -> Iterator[JupyterServerProcess]:
    server = JupyterServerProcess(tmp_path).start()
    try:
        yield server
    finally:
        server.stop()


async def typing_elsewhere(
    server: JupyterServerProcess, stop: asyncio.Event, started: asyncio.Event
) -> list[float]:
    """Type into another room until `stop`; how long each keystroke took to reach a
    second peer there."""
    _, room = await server.aapi("POST", "rooms", body={"name": "bystander"})
    url = f"{server.ws_base}/{room['roomId']}"
    typist = await YClient(url, headers=server.headers).sync()
    watcher = await YClient(url, headers=server.headers).sync()
    lags = []
    try:
        while not stop.is_set():
            began = time.perf_counter()
            typist.append("k")
            await eventually(
                lambda expected=typist.text: watcher.text == expected,
                timeout=30,
                what="a keystroke",
            )
            lags.append(time.perf_counter() - began)
            started.set()
            await asyncio.sleep(0.05)
    finally:
        await typist.close()
        await watcher.close()
    return lags


@pytest.mark.slow
async def test_fragmenting_a_large_block_cannot_freeze_the_server(server):
    _, room = await server.aapi("POST", "rooms", body={"name": "attacker"})
    url = f"{server.ws_base}/{room['roomId']}"
    attacker = await YClient(url, headers=server.headers).sync()
    attacker.send_raw(create_update_message(one_block(BLOCK)))
    await eventually(
        lambda: server.api("GET", "rooms", room["roomId"], "content")[1] == "x" * BLOCK,
        what="the large insert to be stored",
    )
    stop = asyncio.Event()
    started = asyncio.Event()
    elsewhere = asyncio.ensure_future(typing_elsewhere(server, stop, started))
    await asyncio.wait_for(started.wait(), 30)
    with Prober(server) as prober:
        # 1. Every other character in one update: refused before it is applied.
        attacker.send_raw(create_update_message(delete_ranges(ATTACKER, range(0, BLOCK, 2))))
        await asyncio.wait_for(attacker.closed.wait(), 30)
        assert attacker.close_code == 1007
        assert "too many pieces" in (attacker.close_reason or "")

        # 2. The same in updates just small enough, sent as fast as the server reads them.
        ws = await websocket_connect(HTTPRequest(url, headers=server.headers))
        for start in range(0, BLOCK, 2 * CHUNK):
            clocks = range(start, start + 2 * CHUNK, 2)
            message = create_update_message(delete_ranges(ATTACKER, clocks))
            try:
                await asyncio.wait_for(ws.write_message(message, binary=True), 30)
            except WebSocketClosedError:
                break
            if ws.close_code is not None:
                break
        while await asyncio.wait_for(ws.read_message(), 30) is not None:
            pass  # the server's greeting, then its close
        stop.set()
        lags = await elsewhere
    # Cut off for the loop time it used, or refused once the blocks it made add up.
    assert (ws.close_code, ws.close_reason.split(":")[0]) in {
        (1008, "these edits cost the server too much work"),
        (1007, "the document update has too many pieces (inserts, deleted ranges or values)"),
    }, (ws.close_code, ws.close_reason)
    assert len(prober.latencies) > 50
    assert prober.p99 < 0.2, f"p99 of /api/status was {prober.p99 * 1e3:.0f} ms"
    assert lags and max(lags) < 1.0, f"slowest keystroke in another room: {max(lags):.2f} s"

    # 3. An update that builds on edits the server lacks (pycrdt would keep it pending,
    # out of every snapshot): refused, so nothing relayed can be missing after a restart.
    orphan = YClient(url, headers=server.headers)
    await orphan.sync()
    source = Doc(client_id=ATTACKER + 1)
    source.get("code", type=Text).insert(0, "lost")
    state = source.get_state()
    source.get("code", type=Text).insert(4, " and found")
    orphan.send_raw(create_update_message(source.get_update(state)))
    await asyncio.wait_for(orphan.closed.wait(), 30)
    assert orphan.close_code == 1007

    # The room holds what was accepted, and reloads the same after a restart.
    _, before = await server.aapi("GET", "rooms", room["roomId"], "content")
    assert "found" not in before
    assert 0 < len(before) <= BLOCK
    server.restart()
    _, after = await server.aapi("GET", "rooms", room["roomId"], "content")
    assert after == before


def stored_text(db_path, room_id: str) -> str:
    """The room's code as a restarted server would load it from the database."""
    doc = Doc()
    code = doc.get("code", type=Text)
    with sqlite3.connect(db_path) as db:
        for (update,) in db.execute("SELECT data FROM updates WHERE room_id = ?", (room_id,)):
            doc.apply_update(update)
    return str(code)


async def test_an_update_that_builds_on_unknown_edits_is_refused_not_kept_pending(
    room_factory, yclient, db_path
):
    """pycrdt would keep such an update aside, out of every snapshot: relayed, then lost
    at the next compaction. The server refuses it instead, so nothing relayed is ever
    missing from storage."""
    room = await room_factory()
    attacker = await yclient(room["roomId"]).sync()
    bystander = await yclient(room["roomId"]).sync()
    source = Doc(client_id=777)
    text = source.get("code", type=Text)
    updates: list[bytes] = []
    source.observe(lambda event: updates.append(event.update))
    text.insert(0, "hello")
    text.insert(5, " world")
    del text[0:2]
    first, second, deletion = updates

    for orphan in (second, deletion):  # each builds on `first`, which the server lacks
        attacker.send_raw(create_update_message(orphan))
        await asyncio.wait_for(attacker.closed.wait(), 10)
        assert attacker.close_code == 1007
        assert "edits the server does not have" in attacker.close_reason
        await attacker.connect()

    attacker.send_raw(create_update_message(first))
    await eventually(lambda: bystander.text == "hello", what="the first edit")
    attacker.send_raw(create_update_message(second))
    await eventually(lambda: bystander.text == "hello world", what="the second edit")
    assert attacker.connected
    assert stored_text(db_path, room["roomId"]) == "hello world"


async def test_nesting_shared_types_is_bounded_per_room(room_factory, yclient, api):
    """Code rooms need no nested Y types; yrs deletes nested types recursively, so a peer
    nesting tens of thousands deep and deleting them would overflow the server's stack."""
    room = await room_factory()
    attacker = await yclient(room["roomId"]).sync()
    bystander = await yclient(room["roomId"]).sync()
    doc = Doc(client_id=99)
    attacker.send_raw(create_update_message(doc.get_update()))
    nest = doc.get("nest", type=Array)
    for _ in range(900):  # within the bound: accepted
        inner: Array = Array()
        nest.append(inner)
        nest = inner
    attacker.send_raw(create_update_message(doc.get_update()))
    state = doc.get_state()
    for _ in range(200):  # past it
        inner = Array()
        nest.append(inner)
        nest = inner
    attacker.send_raw(create_update_message(doc.get_update(state)))
    await asyncio.wait_for(attacker.closed.wait(), 10)
    assert attacker.close_code == 1007
    assert "too many shared types" in attacker.close_reason
    bystander.append("still editing")
    await eventually_async(
        lambda: api("GET", "rooms", room["roomId"], "content"), (200, "still editing")
    )
