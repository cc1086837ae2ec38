"""Property: whatever peers do, they end with the same text, and so does the stored room.

Hypothesis draws scenarios for a few pycrdt peers on real WebSockets: inserts, deletes
and replacements at any position, disconnects, edits made while offline, reconnects
that carry them, and server restarts (SIGKILL, or a graceful stop) on the same
database. At the end every peer reconnects; all of them, and the room's stored content,
must hold the text obtained by merging every edit anyone made.

One server serves every example (each in a fresh room): starting it costs seconds.
CI runs a small sample; `CC_LONG=1` runs thousands of bigger examples (docs/testing.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, example, given, note, settings
from hypothesis import strategies as st
from pycrdt import Awareness, Doc, Map, Text
from yclient import YClient, eventually

from codecompanion_ext.testing import JupyterServerProcess as ServerProcess

pytestmark = pytest.mark.slow  # drawn scenarios against a server process


@dataclass(frozen=True)
class Profile:
    examples: int
    max_clients: int
    max_steps: int
    restart_odds: int  # one example in this many may restart the server...
    max_restarts: int  # ...this many times at most


LONG = os.environ.get("CC_LONG") == "1"
PROFILE = (
    Profile(
        examples=int(os.environ.get("CC_EXAMPLES", "2000")),
        max_clients=5,
        max_steps=60,
        restart_odds=4,
        max_restarts=2,
    )
    if LONG
    else Profile(examples=15, max_clients=3, max_steps=25, restart_odds=5, max_restarts=1)
)
QUERY_AWARENESS = b"\x03"  # y-websocket: "send me the awareness states"; always answered
FIRST_CLIENT_ID = 1_000
ALPHABET = "abxyz \n"  # ASCII: pycrdt's Text indexes UTF-8 bytes (a test of pycrdt, not ours)

SERVER_ARGS = (
    # A room per example: far beyond the per-address creation limit.
    "--CodeCompanionApp.rooms_per_minute_per_address=0",
    # Unload a room as soon as its last peer leaves, and compact every few updates, so
    # examples also go through unloading, reloading and compacting the stored history.
    "--CodeCompanionApp.room_unload_delay=0",
    "--CodeCompanionApp.compact_after=4",
)


# -- steps ------------------------------------------------------------------------------
# Positions are taken modulo the peer's text length when applied, so every step stays
# valid however Hypothesis shrinks the steps before it.


@dataclass(frozen=True)
class Insert:
    client: int
    at: int
    text: str


@dataclass(frozen=True)
class Delete:
    client: int
    at: int
    length: int


@dataclass(frozen=True)
class Replace:
    """A deletion and an insertion in one transaction (as assigning `CodeRoom.code` does)."""

    client: int
    at: int
    length: int
    text: str


@dataclass(frozen=True)
class Disconnect:
    client: int


@dataclass(frozen=True)
class Connect:
    """Reconnect (if offline), carrying the edits made offline in the sync exchange."""

    client: int


@dataclass(frozen=True)
class Settle:
    """Let everything in flight land; then the connected peers and the server must agree."""


@dataclass(frozen=True)
class Restart:
    kill: bool  # SIGKILL; else SIGTERM, a graceful stop
    settled: bool  # let everything in flight land first; then the restart must lose nothing


Step = Insert | Delete | Replace | Disconnect | Connect | Settle | Restart


@dataclass(frozen=True)
class Scenario:
    online: tuple[bool, ...]  # per client: connected before the first step?
    steps: tuple[Step, ...]

    def __repr__(self) -> str:
        steps = "".join(f"\n    {step!r}," for step in self.steps)
        return f"Scenario(online={self.online!r}, steps=({steps}\n))"


@st.composite
def scenarios(draw: st.DrawFn, profile: Profile = PROFILE) -> Scenario:
    clients = draw(st.integers(2, profile.max_clients))
    client = st.integers(0, clients - 1)
    at = st.integers(0, 1_000)
    text = st.text(ALPHABET, min_size=1, max_size=4)
    length = st.integers(1, 6)
    step = st.one_of(
        st.builds(Insert, client, at, text),
        st.builds(Delete, client, at, length),
        st.builds(Replace, client, at, length, text),
        st.builds(Disconnect, client),
        st.builds(Connect, client),
        st.just(Settle()),
    )
    steps: list[Step] = draw(st.lists(step, max_size=profile.max_steps))
    # Restarts cost seconds each: drawn apart, so that their number stays bounded.
    restarts = []
    if draw(st.sampled_from([False] * (profile.restart_odds - 1) + [True])):
        restart = st.builds(Restart, st.booleans(), st.booleans())
        restarts = draw(
            st.lists(
                st.tuples(st.integers(0, len(steps)), restart),
                min_size=1,
                max_size=profile.max_restarts,
            )
        )
    for index, restart_step in sorted(restarts, key=lambda pair: pair[0], reverse=True):
        steps.insert(index, restart_step)
    online = draw(st.lists(st.booleans(), min_size=clients, max_size=clients))
    return Scenario(tuple(online), tuple(steps))


# -- running a scenario ---------------------------------------------------------------------


def peer(url: str, headers: dict[str, str], client_id: int) -> YClient:
    """A YClient with a fixed Yjs client id: concurrent inserts at one spot are ordered
    by client id, so an example replays the same way."""
    client = YClient(url, headers=headers, name=f"peer-{client_id}")
    client.doc = Doc(client_id=client_id)
    client.code = client.doc.get("code", type=Text)
    client.meta = client.doc.get("meta", type=Map)
    client.awareness = Awareness(client.doc)
    client.awareness.set_local_state(None)
    return client


async def barrier(client: YClient) -> None:
    """Return once the server has handled every message `client` sent before this call,
    and `client` has received every message the server sent it before answering: both
    ends handle one connection's messages in order, and the server answers a
    query-awareness with an awareness message (our peers publish no awareness, so every
    awareness message they receive is such an answer)."""
    answers = len(client.awareness_updates)
    client.send_raw(QUERY_AWARENESS)
    await eventually(
        lambda: len(client.awareness_updates) > answers or client.closed.is_set(),
        what=f"{client.name}'s query-awareness answer",
    )
    assert not client.closed.is_set(), (
        f"the server closed {client.name}'s connection: {client.close_code} {client.close_reason}"
    )


def merged(updates: list[bytes]) -> str:
    """The text every peer must end with: all edits anyone made, merged."""
    doc: Doc = Doc()
    text = doc.get("code", type=Text)
    for update in updates:
        doc.apply_update(update)
    return str(text)


class Run:
    def __init__(self, server: ServerProcess, room_id: str, clients: int) -> None:
        self.server = server
        self.room_id = room_id
        url = f"{server.ws_base}/{room_id}"
        self.clients = [peer(url, server.headers, FIRST_CLIENT_ID + i) for i in range(clients)]
        self.updates: list[bytes] = []  # every edit made, by anyone, online or not

    async def content(self) -> str:
        status, body = await self.server.aapi("GET", "rooms", self.room_id, "content")
        assert status == 200, (status, body)
        assert isinstance(body, str)
        return body

    async def agree(self, clients: list[YClient], expected: str | None = None) -> str:
        """Let everything in flight land, then check that `clients` and the server's copy
        hold one text (`expected`, if given); return it.

        No waiting for the texts to match, which would make a failing example wait out a
        timeout (and shrinking take hours): two rounds of query-awareness round trips
        prove that nothing is in flight any more, and then they must match.
        """
        await asyncio.gather(*map(barrier, clients))  # the server has handled all they sent
        await asyncio.gather(*map(barrier, clients))  # they have received all it relayed
        stored = await self.content()
        texts = {client.name: client.text for client in clients}
        target = stored if expected is None else expected
        assert all(text == target for text in texts.values()) and stored == target, (
            f"after every message landed: expected {target!r}, peers hold {texts!r},"
            f" the server {stored!r}"
        )
        return stored

    def edit(self, index: int, at: int, length: int, text: str) -> None:
        """Replace `length` characters at `at` (both clamped to the text) by `text`."""
        client = self.clients[index]
        code = client.code
        start = at % (len(code) + 1)
        length = min(length, len(code) - start)
        if not length and not text:
            return

        def change() -> None:
            with client.doc.transaction():
                if length:
                    del code[start : start + length]
                if text:
                    code.insert(start, text)

        self.updates.append(client.edit(change))

    async def step(self, step: Step) -> None:
        match step:
            case Insert(client, at, text):
                self.edit(client, at, 0, text)
            case Delete(client, at, length):
                self.edit(client, at, length, "")
            case Replace(client, at, length, text):
                self.edit(client, at, length, text)
            case Disconnect(client):
                if self.clients[client].connected:
                    await self.clients[client].close()
            case Connect(client):
                if not self.clients[client].connected:
                    await self.clients[client].sync()
            case Settle():
                await self.agree([client for client in self.clients if client.connected])
            case Restart(kill, settled):
                await self.restart(kill, settled)

    async def restart(self, kill: bool, settled: bool) -> None:
        expected = None
        if settled:
            expected = await self.agree([client for client in self.clients if client.connected])
        await asyncio.to_thread(self.server.kill if kill else self.server.stop)
        for client in self.clients:
            if client.ws is not None:
                await asyncio.wait_for(client.closed.wait(), 10)
        await asyncio.to_thread(self.server.start)
        if expected is not None:
            assert await self.content() == expected, "the restart lost an edit the server had"

    async def finish(self) -> None:
        for client in self.clients:
            if not client.connected:
                await client.sync()
        expected = merged(self.updates)
        await self.agree(self.clients, expected)
        for client in self.clients:
            await client.close()
        # With everyone gone the room unloads at once, so this normally reads it back from
        # the database (or else from memory, which must hold the same).
        assert await self.content() == expected

    def state(self) -> str:
        return ", ".join(
            f"{c.name}{'' if c.connected else ' (offline)'}: {c.text!r}" for c in self.clients
        )

    async def close(self) -> None:
        for client in self.clients:
            if client.connected:
                with contextlib.suppress(Exception):
                    await client.close()


async def play(server: ServerProcess, scenario: Scenario) -> None:
    if server.proc is None or server.proc.poll() is not None:  # an earlier example failed
        await asyncio.to_thread(server.start)
    status, room = await server.aapi("POST", "rooms", body={"name": "Ana"})
    assert status == 201, room
    assert isinstance(room, dict)
    run = Run(server, room["roomId"], len(scenario.online))
    event(f"restarts: {sum(isinstance(step, Restart) for step in scenario.steps)}")
    try:
        for client, online in zip(run.clients, scenario.online, strict=True):
            if online:
                await client.sync()
        for step in scenario.steps:
            await run.step(step)
            note(f"{step!r} -> {run.state()}")
        await run.finish()
    finally:
        await run.close()


# -- the test -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    workdir: Path = tmp_path_factory.mktemp("convergence")
    process = ServerProcess(workdir, SERVER_ARGS)
    yield process.start()
    process.stop()


@pytest.mark.timeout(0 if LONG else 300)
@settings(
    max_examples=PROFILE.examples,
    deadline=None,
    # The function-scoped fixtures (the event loop, pytest-jupyter's environment) are
    # meant to be shared by every example; each example uses a room of its own.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    print_blob=True,
)
@given(scenario=scenarios())
# Always run, so that every run restarts the server both ways at least once.
@example(
    scenario=Scenario(
        online=(True, True, False),
        steps=(
            Insert(0, 0, "abc"),
            Insert(2, 0, "xy"),  # offline from the start
            Settle(),
            Delete(1, 1, 1),
            Insert(1, 0, "d"),
            Restart(kill=True, settled=True),
            Connect(1),
            Insert(1, 0, "def"),
            Insert(0, 5, "z"),  # offline, after the kill
            Restart(kill=True, settled=False),  # with an edit in flight
            Connect(2),
            Connect(0),
            Replace(2, 1, 2, "q"),
        ),
    )
)
@example(
    scenario=Scenario(
        online=(True, True),
        steps=(
            Insert(0, 0, "hello"),
            Settle(),
            Replace(1, 1, 3, "ipp"),
            Disconnect(0),
            Insert(0, 0, ">"),
            Restart(kill=False, settled=True),
            Connect(1),
            Delete(1, 0, 1),
        ),
    )
)
def test_peers_and_stored_room_converge(
    server: ServerProcess, jp_asyncio_loop: asyncio.AbstractEventLoop, scenario: Scenario
) -> None:
    jp_asyncio_loop.run_until_complete(play(server, scenario))
