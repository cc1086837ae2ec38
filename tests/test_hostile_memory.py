"""Memory with only a view key: presence, its queries and slow readers stay bounded.

Each test attacks a real server process as a stranger holding a room's view link would,
over raw WebSockets that read only when told to, and reads the server's resident memory
(VmRSS). The server runs with glibc's mmap threshold fixed, so large buffers go back to
the system once freed and RSS follows what the server holds, not what the allocator
keeps for later.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import struct
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from pycrdt import Doc, Encoder, create_awareness_message, create_sync_message
from tornado.util import _websocket_mask
from yclient import YClient, eventually

from codecompanion_ext import defaults
from codecompanion_ext.testing import JupyterServerProcess

pytestmark = pytest.mark.slow  # each test starts a server process and moves megabytes

MiB = 1024 * 1024
CLOSE = 0x8


def rss(pid: int) -> int:
    """The resident memory of process `pid`, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for process {pid}")


def awareness(*entries: tuple[int, int, Any]) -> bytes:
    """An awareness message of (client id, clock, state) entries."""
    encoder = Encoder()
    encoder.write_var_uint(len(entries))
    for client_id, clock, state in entries:
        encoder.write_var_uint(client_id)
        encoder.write_var_uint(clock)
        encoder.write_var_string(json.dumps(state))
    return create_awareness_message(encoder.to_bytes())


def presence(name: str, size: int) -> dict[str, Any]:
    """A presence state whose JSON is `size` bytes."""
    state = {"user": {"name": name}, "pad": ""}
    state["pad"] = "x" * (size - len(json.dumps(state)))
    return state


def step1_claiming(client_id: int) -> bytes:
    """Sync step 1 of a peer claiming one edit of an unknown client: the server must
    answer with the whole document, computed for it alone."""
    vector = Encoder()
    for number in (1, client_id, 1):
        vector.write_var_uint(number)
    state = vector.to_bytes()
    message = Encoder()
    for number in (0, 0, len(state)):
        message.write_var_uint(number)
    return message.to_bytes() + state


class RawPeer:
    """A WebSocket client that reads nothing until told to, with a tiny receive buffer:
    what the server sends it piles up in the server."""

    def __init__(self, url: str) -> None:
        self.url = url

    async def open(self) -> RawPeer:
        parts = urlsplit(self.url)
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (parts.hostname, parts.port))
        self.reader, self.writer = await asyncio.open_connection(sock=sock, limit=4096)
        request = (
            f"GET {parts.path}?{parts.query} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        self.writer.write(request.encode())
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), 10)
        assert head.startswith(b"HTTP/1.1 101 "), head
        return self

    def send(self, payload: bytes) -> None:
        """One masked binary frame, as clients send."""
        mask = os.urandom(4)
        length = len(payload)
        if length < 126:
            header = struct.pack("!BB", 0x82, 0x80 | length)
        elif length <= 0xFFFF:
            header = struct.pack("!BBH", 0x82, 0x80 | 126, length)
        else:
            header = struct.pack("!BBQ", 0x82, 0x80 | 127, length)
        self.writer.write(header + mask + _websocket_mask(mask, payload))

    async def read_frame(self) -> tuple[int, bytes]:
        """(opcode, payload) of the next frame from the server."""
        first, second = await self.reader.readexactly(2)
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", await self.reader.readexactly(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", await self.reader.readexactly(8))
        return first & 0x0F, await self.reader.readexactly(length)

    async def close_code(self, timeout: float = 20) -> tuple[int | None, str]:
        """Read on to the server's close frame: its code and reason; (None, "") if the
        connection was dropped without one."""

        async def read() -> tuple[int | None, str]:
            try:
                while True:
                    opcode, payload = await self.read_frame()
                    if opcode == CLOSE:
                        return struct.unpack("!H", payload[:2])[0], payload[2:].decode()
            except (asyncio.IncompleteReadError, ConnectionError):
                return None, ""

        return await asyncio.wait_for(read(), timeout)

    def drop(self) -> None:
        self.writer.transport.abort()


class Server:
    """A server process and one room in it: an editor's URL and a view link's."""

    def __init__(self, process: JupyterServerProcess, room: dict[str, Any]) -> None:
        self.process = process
        self.base = f"{process.ws_base}/{room['roomId']}"
        self.view = f"{self.base}?{urlsplit(room['links']['view']).query}"

    @property
    def rss(self) -> int:
        assert self.process.proc is not None
        return rss(self.process.proc.pid)

    def editor(self, name: str = "Ana") -> YClient:
        client = YClient(self.base, headers=self.process.headers, name=name)
        client.max_message_size = 128 * MiB
        return client

    async def attacker(self) -> RawPeer:
        return await RawPeer(self.view).open()

    async def presence_greeting(self) -> int:
        """Bytes of the presence a newcomer is sent (after the server's sync step 1)."""
        peer = await self.attacker()
        try:
            for _ in range(2):
                _opcode, payload = await asyncio.wait_for(peer.read_frame(), 20)
                if payload[:1] == b"\x01":
                    return len(payload)
            raise AssertionError("no presence in the greeting")
        finally:
            peer.drop()


class Growth:
    """How much the server's RSS grows from now on: now, and at its peak (sampled every
    20 ms, so a burst between samples may be missed; a hold of memory is not)."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.before = server.rss
        self.peak = 0
        self._sampler = asyncio.ensure_future(self._sample())

    async def _sample(self) -> None:
        while True:
            self.peak = max(self.peak, self.now)
            await asyncio.sleep(0.02)

    @property
    def now(self) -> int:
        return self.server.rss - self.before

    def stop(self) -> int:
        """Stop sampling; the peak growth, in bytes."""
        self._sampler.cancel()
        self.peak = max(self.peak, self.now)
        return self.peak


StartServer = Callable[..., Awaitable[Server]]


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[StartServer]:
    """Start a server process with CodeCompanionApp settings, and a room in it."""
    processes: list[JupyterServerProcess] = []

    async def start(**settings: Any) -> Server:
        args = [f"--CodeCompanionApp.{name}={value}" for name, value in settings.items()]
        env = {"MALLOC_MMAP_THRESHOLD_": str(128 * 1024)}
        process = JupyterServerProcess(tmp_path / f"server{len(processes)}", args, env)
        processes.append(process)
        await asyncio.to_thread(process.start)
        status, room = await process.aapi("POST", "rooms", body={"name": "Ana"})
        assert status == 201, room
        return Server(process, room)

    yield start
    for process in processes:
        process.stop()


async def document_of(server: Server, pieces: int, size: int) -> tuple[YClient, YClient]:
    """An editor that typed `pieces` edits of `size` characters, and a reader that holds
    them all."""
    editor = await server.editor().sync()
    for _ in range(pieces):
        editor.append("d" * size)
    reader = await server.editor("Reader").sync()
    await eventually(
        lambda: len(reader.text) == pieces * size, timeout=60, what="the whole document"
    )
    return editor, reader


async def still_syncs(server: Server, editor: YClient, text: str) -> None:
    """The room goes on: an edit reaches a newcomer and the editor stays connected."""
    editor.append(text)
    newcomer = await server.editor("Newcomer").sync()
    await eventually(lambda: newcomer.text.endswith(text), what="a newcomer gets the edit")
    assert editor.connected
    await newcomer.close()


# -- presence -------------------------------------------------------------------------


async def test_one_connection_speaks_for_a_few_presence_client_ids(start_server):
    """Ten messages claiming 250 client ids of 64 KB each (160 MB of presence) cost what
    reading them costs, for a moment: the first is refused and closes its sender."""
    server = await start_server()
    editor = await server.editor().sync()
    editor.set_presence({"user": {"name": "Ana"}})
    growth = Growth(server)
    attacker = await server.attacker()
    for message in range(10):
        ids = range(message * 250, (message + 1) * 250)
        attacker.send(awareness(*((i, 1, presence(f"n{i}", 64_000)) for i in ids)))
    code, reason = await attacker.close_code()
    assert code == 1008 and f"at most {defaults.MAX_PRESENCE_CLIENT_IDS}" in reason, reason
    # Reading a 16 MiB message costs a few times that, for a moment; nothing is kept.
    await eventually(lambda: growth.now < 32 * MiB, what=f"memory freed ({growth.now / MiB})")
    assert growth.stop() < 6 * 16 * MiB, growth.peak / MiB
    assert await server.presence_greeting() < 1024  # only Ana
    await still_syncs(server, editor, "still here")


async def test_presence_is_bounded_per_connection_and_per_room(start_server):
    """A connection may speak for a few client ids whose states together fit in
    `max_awareness_state_size`; the room holds `max_room_presence_size` bytes in all,
    which bounds what every newcomer is sent."""
    server = await start_server()
    editor = await server.editor().sync()
    editor.set_presence({"user": {"name": "Ana"}})

    four = await server.attacker()  # four ids are allowed...
    four.send(awareness(*((100 + i, 1, presence(f"tab{i}", 1_000)) for i in range(4))))
    await eventually(lambda: len(editor.awareness.states) == 5, what="four presences")
    four.send(awareness((104, 1, presence("tab4", 1_000))))  # ...a fifth is not
    assert (await four.close_code())[0] == 1008

    heavy = await server.attacker()  # two states of 40 KB: over 64 KiB together
    heavy.send(awareness((200, 1, presence("a", 40_000)), (201, 1, presence("b", 40_000))))
    code, reason = await heavy.close_code()
    assert code == 1008 and "total at most" in reason, reason

    growth = Growth(server)
    fillers = [await server.attacker() for _ in range(17)]
    for number, filler in enumerate(fillers):  # 16 fit in the room's 1 MiB, the 17th not
        filler.send(awareness((1_000 + number, 1, presence(f"f{number}", 64_000))))
        if number < 16:  # one at a time: each is its own connection, in no set order
            await eventually(
                lambda count=number + 2: len(editor.awareness.states) == count,
                what=f"presence {number}",
            )
    code, reason = await fillers[-1].close_code()
    assert code == 1008 and "presence is full" in reason, reason
    await eventually(lambda: len(editor.awareness.states) == 17, what="sixteen presences")
    greeting = await server.presence_greeting()
    assert 16 * 64_000 < greeting <= defaults.MAX_ROOM_PRESENCE + 4096, greeting
    assert growth.stop() < 32 * MiB, growth.peak / MiB
    await still_syncs(server, editor, "room full of presence, still syncing")


async def test_query_awareness_is_answered_from_one_shared_message(start_server):
    """400 one-byte queries for a room's 1 MiB of presence, from a socket that never
    reads: one encoded message shared by every answer, and the reader cut off once
    `max_send_backlog` waits for it."""
    server = await start_server()
    editor = await server.editor().sync()
    editor.set_presence({"user": {"name": "Ana"}})
    fillers = [await server.attacker() for _ in range(15)]
    for number, filler in enumerate(fillers):
        filler.send(awareness((1_000 + number, 1, presence(f"f{number}", 64_000))))
    attacker = await server.attacker()
    attacker.send(awareness((666, 1, {"user": {"name": "Mallory"}})))
    await eventually(lambda: "Mallory" in editor.peer_names and len(editor.peer_names) == 16)
    growth = Growth(server)
    for _ in range(400):
        attacker.send(b"\x03")
    await eventually(lambda: "Mallory" not in editor.peer_names, what="the reader cut off")
    code, reason = await attacker.close_code()
    assert code == 1008 and "too slow" in reason, reason
    assert growth.stop() < 16 * MiB, growth.peak / MiB  # unshared, 400 answers: 400 MiB
    await still_syncs(server, editor, "queries answered")


# -- slow readers ---------------------------------------------------------------------

BACKLOG = 8 * MiB


async def test_a_peer_that_stops_reading_is_closed_and_the_room_goes_on(start_server):
    """Ten view peers stop reading while an editor pastes 4 MB sixteen times: each is
    closed once `max_send_backlog` waits for it, the room is not; the editor and a
    reading peer get every edit."""
    server = await start_server(max_send_backlog=BACKLOG, max_room_send_backlog=2 * BACKLOG)
    editor = await server.editor().sync()
    reader = await server.editor("Reader").sync()
    stalled = [await server.attacker() for _ in range(10)]
    for number, peer in enumerate(stalled):
        peer.send(awareness((1_000 + number, 1, {"user": {"name": f"s{number}"}})))
    await eventually(lambda: len(reader.peer_names) == 10, what="the stalled peers' presence")
    growth = Growth(server)
    paste = "x" * 4_000_000
    for _ in range(16):  # pasted, then deleted: the document stays small
        editor.append(paste)
        await eventually(lambda: len(reader.text) == len(paste), timeout=30, what="the paste")
        editor.delete(0, len(paste))
        await eventually(lambda: reader.text == "", timeout=30, what="the delete")
    await eventually(lambda: not reader.peer_names, what="the stalled peers closed")
    codes = [await peer.close_code(timeout=30) for peer in stalled[:3]]
    assert all(code == 1008 and "too slow" in reason for code, reason in codes), codes
    # 64 MB of relays for ten peers: one shared frame each, and at most BACKLOG of them
    # kept until the peers were closed; receiving a 4 MB paste costs a few times that.
    assert growth.stop() < BACKLOG + 40 * MiB, growth.peak / MiB
    assert reader.connected and editor.connected
    await still_syncs(server, editor, "after the stall")


async def test_sync_answers_stay_within_the_room_backlog(start_server):
    """Twelve view peers that never read each ask four times for a 24 MB document, with
    state vectors that defeat sharing: 1.1 GB of answers. A peer may have
    `max_send_backlog` waiting, the room `max_room_send_backlog`; past them the slowest
    are closed, and a newcomer still gets the whole document."""
    server = await start_server()
    editor, reader = await document_of(server, pieces=2, size=12_000_000)
    attackers = [await server.attacker() for _ in range(12)]
    for number, attacker in enumerate(attackers):
        attacker.send(awareness((1_000 + number, 1, {"user": {"name": f"a{number}"}})))
    await eventually(lambda: len(reader.peer_names) == 12, what="the attackers' presence")
    growth = Growth(server)
    for number, attacker in enumerate(attackers):
        for ask in range(5):  # five answers are more than `max_send_backlog`
            attacker.send(step1_claiming(10_000 + 10 * number + ask))
    await eventually(lambda: not reader.peer_names, timeout=60, what="every attacker closed")
    for attacker in attackers:
        code, _reason = await attacker.close_code()
        assert code in (1008, None)  # closed, or dropped at once to free the room's memory
    # An answer is encoded then framed (two copies), and one more may be refused.
    peak = growth.stop()
    assert peak < defaults.MAX_ROOM_SEND_BACKLOG + 3 * 24 * MiB + 16 * MiB, peak / MiB
    await still_syncs(server, editor, "answered")


async def test_a_newcomer_gets_a_whole_64_mb_room_while_others_stall(start_server):
    """A room at `max_document_size` fits in a newcomer's backlog; stalled newcomers asking
    for it too share one encoded answer."""
    server = await start_server()
    editor, reader = await document_of(server, pieces=4, size=16_000_000)
    await reader.close()
    growth = Growth(server)
    stalled = [await server.attacker() for _ in range(5)]
    for peer in stalled:
        peer.send(create_sync_message(Doc()))
    newcomer = server.editor("Newcomer")
    await newcomer.connect()
    await asyncio.wait_for(newcomer.synced.wait(), 60)
    assert len(newcomer.text) == 64_000_000
    # Six answers of 64 MB: one shared, plus the encoding it came from.
    assert growth.stop() < 3 * 64 * MiB + 32 * MiB, growth.peak / MiB
    for peer in stalled:
        peer.drop()
    await still_syncs(server, editor, "still")
