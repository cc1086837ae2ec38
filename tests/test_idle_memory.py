"""What an idle peer keeps on the server: no timer of its own, nothing of its handshake.

The benchmark's idle workload measures the memory; these tests pin the behaviour behind
it. One `KeepAlive` timer pings every connection of the loop, a slot of them at each tick,
and must keep Jupyter's keep-alive rules: a ping every interval, and a peer whose last
pong is three intervals old dropped (not sooner), its presence cleared.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import time
import weakref

import pytest
from tornado.ioloop import IOLoop, PeriodicCallback
from yclient import YClient, eventually, stop_answering_pings

from codecompanion_ext.testing import JupyterServerProcess as ServerProcess
from codecompanion_ext.websocket import KeepAlive

INTERVAL = 0.5  # seconds
TICK = 0.1  # so 5 slots, as 30 s has 30


@pytest.fixture
def short_ticks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(KeepAlive, "TICK", TICK)


def record_pings(client: YClient) -> list[float]:
    """The times the client's socket answers a ping (Tornado answers it, then tells us)."""
    times: list[float] = []
    assert client.ws is not None
    client.ws.on_ping = lambda _data: times.append(time.monotonic())  # type: ignore[method-assign]
    return times


@pytest.mark.cc_config(ping_interval=INTERVAL)
async def test_one_timer_pings_each_peer_once_an_interval(short_ticks, room_factory, yclient):
    room = await room_factory()
    timers_before = sum(isinstance(o, PeriodicCallback) for o in gc.get_objects())
    peers, pings, opened = [], [], []
    for _ in range(6):  # arriving over more than an interval: they fall into several slots
        peer = await yclient(room["roomId"]).sync()
        opened.append(time.monotonic())
        pings.append(record_pings(peer))
        peers.append(peer)
        await asyncio.sleep(0.11)
    # One keep-alive timer for all of them, none of their own.
    timers = sum(isinstance(o, PeriodicCallback) for o in gc.get_objects())
    assert timers - timers_before <= 1
    assert [key[1] for key in KeepAlive._running if key[0] is IOLoop.current()] == [1e3 * INTERVAL]
    await eventually(lambda: all(len(p) >= 4 for p in pings), timeout=15, what="pings")
    for times, start in zip(pings, opened, strict=True):
        # The first ping about an interval after opening (at most a tick early), then one
        # every interval; a loaded machine may delay a tick, never advance it.
        assert INTERVAL - TICK - 0.1 <= times[0] - start <= INTERVAL + 0.5, times[0] - start
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert all(INTERVAL - 0.2 <= gap <= INTERVAL + 0.5 for gap in gaps), gaps
    # Spread over the interval: peers who came at different times are pinged at different
    # ticks, not all at the same one.
    slots = round(INTERVAL / TICK)
    assert len({round(times[0] % INTERVAL / TICK) % slots for times in pings}) >= 3
    for peer in peers:
        assert peer.connected
        await peer.close()
    # The last one gone, the timer stops and is forgotten.
    await eventually(
        lambda: not any(key[0] is IOLoop.current() for key in KeepAlive._running),
        what="the keep-alive timer to stop",
    )


@pytest.mark.cc_config(ping_interval=INTERVAL)
async def test_a_silent_peer_is_dropped_and_the_others_stay(short_ticks, room_factory, yclient):
    room = await room_factory()
    watcher = await yclient(room["roomId"]).sync()
    await asyncio.sleep(0.2)  # another slot
    ghost = await yclient(room["roomId"]).sync()
    ghost.set_presence({"user": {"name": "Ghost"}})
    await asyncio.sleep(0.2)
    other = await yclient(room["roomId"]).sync()
    await eventually(lambda: watcher.peer_names == {"Ghost"})
    stop_answering_pings(ghost)
    silent_since = time.monotonic()
    await eventually(lambda: watcher.peer_names == set(), what="the ghost's presence cleared")
    silent_for = time.monotonic() - silent_since
    await asyncio.wait_for(ghost.closed.wait(), 10)
    # Its last pong came at most an interval before it went silent; it is dropped once that
    # pong is three intervals old, at its next ping.
    assert 2 * INTERVAL <= silent_for <= 5 * INTERVAL + 1, silent_for
    await asyncio.sleep(4 * INTERVAL)  # the live peers keep answering and stay
    assert watcher.connected and other.connected


async def test_an_open_connection_keeps_nothing_of_its_handshake(room_factory, yclient, extension):
    room = await room_factory()
    a = await yclient(room["roomId"]).sync()
    b = await yclient(room["roomId"]).sync()
    for handler in extension.rooms.live[room["roomId"]].peers:
        request = handler.request
        assert request.connection is None and request.server_connection is None
        assert not request.query_arguments and "_cookies" not in vars(request)
        assert handler.ui is None
        assert handler.path_kwargs == handler.open_kwargs == {"room_id": room["roomId"]}
        assert handler.ping_callback is None  # the shared KeepAlive pings it
        assert request.method == "GET" and request.path.endswith(room["roomId"])  # for logs
    a.append("still a working connection")
    await eventually(lambda: b.text == "still a working connection")


@pytest.mark.slow
async def test_a_server_process_drops_a_silent_peer_pinged_from_a_slot(tmp_path):
    """In a real server process, with its real one-second ticks: an interval of 2 s has two
    slots, and a peer that stops answering pings is still dropped after three intervals."""
    interval = 2.0
    server = ServerProcess(tmp_path, [f"--CodeCompanionApp.ping_interval={interval}"])
    await asyncio.to_thread(server.start)
    try:
        _, room = await server.aapi("POST", "rooms", body={"name": "Ana"})
        url = f"{server.ws_base}/{room['roomId']}"
        watcher = await YClient(url, headers=server.headers).sync()
        await asyncio.sleep(1.1)  # the next slot
        ghost = await YClient(url, headers=server.headers).sync()
        ghost.set_presence({"user": {"name": "Ghost"}})
        await eventually(lambda: watcher.peer_names == {"Ghost"})
        pings = record_pings(watcher)
        stop_answering_pings(ghost)
        silent_since = time.monotonic()
        await eventually(lambda: watcher.peer_names == set(), timeout=30, what="ghost dropped")
        silent_for = time.monotonic() - silent_since
        await asyncio.wait_for(ghost.closed.wait(), 10)
        assert 2 * interval <= silent_for <= 5 * interval + 1, silent_for
        assert watcher.connected and len(pings) >= 2  # pinged meanwhile, and answering
        await watcher.close()
    finally:
        await asyncio.to_thread(server.stop)
    log = server.log()
    assert "WebSocket ping timeout after" in log
    assert "websocket_ping_timeout" not in log, log


@pytest.mark.cc_config(ping_interval=INTERVAL)
async def test_a_closed_connection_leaves_nothing_behind(room_factory, yclient, extension):
    room = await room_factory()
    stay = await yclient(room["roomId"]).sync()  # keeps the room and its keep-alive running
    leaving = [await yclient(room["roomId"]).sync() for _ in range(3)]
    handlers = [
        weakref.ref(handler)
        for handler in extension.rooms.live[room["roomId"]].peers
        if handler.ws_connection is not None
    ]
    assert len(handlers) == 4
    for client in leaving:
        await client.close()
    await eventually(lambda: len(extension.rooms.live[room["roomId"]].peers) == 1)

    def released() -> bool:
        gc.collect()
        return sum(ref() is not None for ref in handlers) == 1  # only the one still connected

    await eventually(released, what="the closed connections' handlers to be freed")
    assert stay.connected
