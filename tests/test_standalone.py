"""`codecompanion`, the standalone room server: real processes, as a teacher runs it."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import time
from http.client import HTTPConnection
from pathlib import Path
from urllib.parse import parse_qs, urlsplit
from urllib.request import urlopen

import pytest
from tornado.web import HTTPError as TornadoHTTPError
from yclient import YClient, eventually

import codecompanion_ext.standalone as standalone
from codecompanion_ext.standalone import NoContentsManager, NoKernelManager
from codecompanion_ext.testing import BANNER, StandaloneServerProcess, descendants, venv_script

pytestmark = pytest.mark.slow  # each test starts `codecompanion` processes


def edit_key(room: dict) -> str:
    return parse_qs(urlsplit(room["links"]["edit"]).query)["key"][0]


def room_client(server: StandaloneServerProcess, room: dict, name: str = "py") -> YClient:
    """A pycrdt peer that joins with the room link's key, as a student's page does."""
    url = f"ws://127.0.0.1:{server.port}/codecompanion/ws/{room['roomId']}?key={edit_key(room)}"
    return YClient(url, name=name)


async def stored_text(server: StandaloneServerProcess, room: dict) -> object:
    path = f"codecompanion/api/rooms/{room['roomId']}/content"
    status, text = await server.arequest("GET", path, headers={"X-Room-Key": edit_key(room)})
    assert status == 200, text
    return text


@pytest.fixture
def servers():
    started: list[StandaloneServerProcess] = []
    yield started
    for server in started:
        if server.proc is not None:
            server.stop()


# -- rooms without a login, kept across a clean stop --------------------------------------


async def test_open_rooms_survive_sigterm_and_restart(tmp_path, servers):
    db = tmp_path / "class.db"
    server = StandaloneServerProcess(tmp_path, [f"--db={db}"])
    servers.append(server)
    await asyncio.to_thread(server.start)
    landing = f"http://127.0.0.1:{server.port}/codecompanion/"
    assert landing in server.stdout()
    assert str(db) in server.stdout()

    status, room = await server.arequest("POST", "codecompanion/api/rooms", {"name": "Teacher"})
    assert status == 201, room  # no Jupyter login, no cookie, no XSRF token
    for page in (landing, room["links"]["edit"]):  # what students open, without a login
        with urlopen(page, timeout=10) as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/html")
    a = await room_client(server, room, "Ana").sync()
    b = await room_client(server, room, "Bob").sync()
    for i in range(200):
        (a if i % 2 else b).append(f"{i};")
    await eventually(lambda: a.text == b.text and len(a.text) > 600, what="peers converge")
    expected = a.text
    assert await stored_text(server, room) == expected
    await a.close()
    await b.close()

    assert await asyncio.to_thread(server.stop) == 0, server.output()
    await asyncio.to_thread(server.start)
    c = await room_client(server, room).sync()
    assert c.text == expected
    await c.close()


async def test_creation_token_guards_creating_rooms(tmp_path, servers):
    server = StandaloneServerProcess(
        tmp_path, [f"--db={tmp_path / 'rooms.db'}", "--creation-token=s3cret"]
    )
    servers.append(server)
    await asyncio.to_thread(server.start)
    assert "creating a room needs the creation token" in server.stdout()
    assert "s3cret" not in server.output()
    body = {"name": "Ana"}
    for headers in ({}, {"X-Creation-Token": "wrong"}):
        status, error = await server.arequest("POST", "codecompanion/api/rooms", body, headers)
        assert status == 403, error
    status, room = await server.arequest(
        "POST", "codecompanion/api/rooms", body, {"X-Creation-Token": "s3cret"}
    )
    assert status == 201, room
    client = await room_client(server, room).sync()
    await client.close()


async def test_reads_its_own_config_file_not_jupyter_servers(tmp_path, servers):
    config = tmp_path / "config"
    config.mkdir()
    (config / "jupyter_codecompanion_config.py").write_text(
        'c.CodeCompanionApp.creation_token = "own"\n'
    )
    (config / "jupyter_server_config.py").write_text(
        'c.CodeCompanionApp.creation_token = "jupyter"\n'
        'c.ServerApp.jpserver_extensions = {"jupyterlab": True}\n'
    )
    server = StandaloneServerProcess(tmp_path, [f"--db={tmp_path / 'rooms.db'}"])
    servers.append(server)
    await asyncio.to_thread(server.start)
    for token, expected in (("jupyter", 403), ("own", 201)):
        status, answer = await server.arequest(
            "POST", "codecompanion/api/rooms", {"name": "Ana"}, {"X-Creation-Token": token}
        )
        assert status == expected, answer
    assert (await server.arequest("GET", "lab"))[0] == 404


# -- slow clients are cut off ------------------------------------------------------------


def seconds_until_closed(
    sock: socket.socket, limit: float, since: float | None = None
) -> float | None:
    """How long after `since` (default: now) the server closes `sock` (end of stream or
    reset), reading and ignoring whatever it sends meanwhile; None if it is still open
    `limit` seconds after `since`."""
    started = time.monotonic() if since is None else since
    sock.settimeout(0.1)
    while time.monotonic() - started < limit:
        try:
            if not sock.recv(65536):
                return time.monotonic() - started
        except TimeoutError:
            continue
        except ConnectionResetError:
            return time.monotonic() - started
    return None


def test_a_partial_request_head_or_body_is_dropped_within_seconds(tmp_path, servers):
    """Tornado alone waits an hour for a request's head and forever for its body."""
    server = StandaloneServerProcess(
        tmp_path, [f"--db={tmp_path / 'rooms.db'}", "--CodeCompanionServer.body_timeout=2"]
    )
    servers.append(server)
    server.start()
    header_timeout = standalone.CodeCompanionServer.header_timeout.default_value
    assert header_timeout <= 10  # the default: a few seconds
    body_timeout = 2
    stalls = {  # what each client sends before it stalls, and how soon it must be cut off
        "half a request body": (
            b"POST /codecompanion/api/rooms HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b'Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"name": ',
            body_timeout,
        ),
        "nothing at all": (b"", header_timeout),
        "half a request head": (
            b"GET /codecompanion/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slo",
            header_timeout,
        ),
        "a WebSocket upgrade without its last line": (
            b"GET /codecompanion/ws/abc HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n",
            header_timeout,
        ),
    }
    sockets = {what: socket.create_connection(("127.0.0.1", server.port), 5) for what in stalls}
    since = time.monotonic()
    try:
        for what, (sent, _) in stalls.items():
            sockets[what].sendall(sent)
        for what, (_, timeout) in stalls.items():  # the shortest timeout first
            took = seconds_until_closed(sockets[what], timeout + 5, since)
            assert took is not None, f"{what}: still open after {timeout + 5} s"
            assert took < timeout + 2, (what, took)
    finally:
        for sock in sockets.values():
            sock.close()
    # Whoever sends a whole request in time is served as ever.
    status, room = server.request("POST", "codecompanion/api/rooms", {"name": "Ana"})
    assert status == 201, room


def test_a_websocket_stalled_inside_a_frame_is_dropped_by_the_keep_alive(tmp_path, servers):
    """A peer stuck halfway through a frame cannot answer a ping (a pong is a frame of its
    own): the keep-alive drops it once its last pong is 3 intervals old, at the next ping
    (at most 4 intervals), and Tornado then waits 5 s for the closing handshake."""
    interval = 1
    server = StandaloneServerProcess(
        tmp_path, [f"--db={tmp_path / 'rooms.db'}", f"--CodeCompanionApp.ping_interval={interval}"]
    )
    servers.append(server)
    server.start()
    status, room = server.request("POST", "codecompanion/api/rooms", {"name": "Ana"})
    assert status == 201, room
    path = f"/codecompanion/ws/{room['roomId']}?key={edit_key(room)}"
    with socket.create_connection(("127.0.0.1", server.port), 5) as sock:
        sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n".encode()
        )
        answer = b""
        while b"\r\n\r\n" not in answer:
            answer += sock.recv(4096)
        assert answer.startswith(b"HTTP/1.1 101"), answer
        # A masked binary frame announcing 1000 bytes, and 10 of them.
        sock.sendall(b"\x82\xfe\x03\xe8" + b"mask" + b"0123456789")
        bound = 4 * interval + 5
        took = seconds_until_closed(sock, bound + 5)
    assert took is not None, f"still open after {bound + 5} s"
    assert took < bound + 1.5, took
    assert "ping timeout" in server.output()


# -- no way to run code --------------------------------------------------------------------


def test_no_kernels_sessions_terminals_or_files_even_with_the_token(tmp_path, servers):
    (tmp_path / "secret.txt").write_text("not for students")
    server = StandaloneServerProcess(tmp_path, [f"--db={tmp_path / 'rooms.db'}"])
    servers.append(server)
    server.start()
    token = server.jupyter_token()
    assert token not in server.output(), "the Jupyter token was printed"
    auth = {"Authorization": f"token {token}"}
    assert server.request("GET", "api/status", headers=auth)[0] == 200  # the token is real

    kernel = {"name": "python3"}
    session = {"path": "a.ipynb", "type": "notebook", "kernel": kernel}
    for method, path, body in [
        ("POST", "api/kernels", kernel),
        ("GET", "api/kernels", None),
        ("POST", "api/sessions", session),
        ("GET", "api/kernelspecs", None),
        ("POST", "api/terminals", {}),
        ("GET", "api/terminals", None),
        ("GET", "api/contents/secret.txt", None),
    ]:
        status, answer = server.request(method, path, body, auth)
        assert status == 404, (method, path, answer)
        assert "runs no code" in answer["message"]
    status, page = server.request("GET", "files/secret.txt", headers=auth)
    assert status == 404 and "not for students" not in page
    assert descendants(server.proc.pid) == []
    assert server.request("GET", "lab", headers=auth)[0] == 404  # no other extension either

    rooms = server.request("GET", "codecompanion/api/rooms", headers=auth)
    assert rooms[0] == 200  # the token still manages rooms
    assert server.request("GET", "codecompanion/api/rooms")[0] == 403


async def test_kernel_and_contents_managers_refuse_whoever_asks():
    manager = NoKernelManager()
    with pytest.raises(TornadoHTTPError) as refused:
        await manager.start_kernel(kernel_name="python3")
    assert refused.value.status_code == 403
    assert manager.list_kernel_ids() == []
    assert NoContentsManager().get_extra_handlers() == []


def test_given_token_is_used_and_not_printed(tmp_path, servers):
    server = StandaloneServerProcess(
        tmp_path, [f"--db={tmp_path / 'rooms.db'}", "--IdentityProvider.token=t0k"]
    )
    servers.append(server)
    server.start()
    assert server.jupyter_token() == "t0k"
    assert "t0k" not in server.output()
    assert server.request("GET", "api/status", headers={"Authorization": "token t0k"})[0] == 200


# -- the command itself --------------------------------------------------------------------


def test_installed_script_and_help(tmp_path, servers):
    script = venv_script("codecompanion")  # beside this interpreter, as pip installs it
    result = subprocess.run([script, "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    for option in ("--ip", "--port", "--db", "--creation-token", "--dev"):
        assert re.search(rf"^{option}\b", result.stdout, flags=re.M), option

    server = StandaloneServerProcess(tmp_path, [f"--db={tmp_path / 'rooms.db'}"])
    servers.append(server)
    server.start()
    assert f"http://127.0.0.1:{server.port}/codecompanion/" in server.stdout()
    connection = HTTPConnection("127.0.0.1", server.port, timeout=10)
    connection.request("GET", "/")
    response = connection.getresponse()
    assert response.status == 302
    assert response.getheader("Location").startswith("/codecompanion/")
    connection.close()
    assert server.stop() == 0
    # It has no kernels, so it says nothing of stopping or shutting them down.
    assert "kernel" not in server.output().lower(), server.output()


def test_unusable_database_exits_with_the_reason(tmp_path):
    db = tmp_path / "rooms.db"
    db.write_bytes(b"this is not a database" * 100)
    env = {
        **os.environ,
        **{f"JUPYTER_{d.upper()}_DIR": str(tmp_path / d) for d in ("config", "data", "runtime")},
    }
    result = subprocess.run(
        [venv_script("codecompanion"), f"--db={db}", "--port=0"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert result.returncode == 1
    assert "Code Companion cannot serve rooms" in result.stderr
    assert "cannot open the room database" in result.stderr


async def test_dev_restarts_on_a_code_change_and_keeps_rooms(tmp_path, servers):
    server = StandaloneServerProcess(tmp_path, [f"--db={tmp_path / 'rooms.db'}", "--dev"])
    servers.append(server)
    await asyncio.to_thread(server.start)
    status, room = await server.arequest("POST", "codecompanion/api/rooms", {"name": "Ana"})
    assert status == 201, room
    client = await room_client(server, room).sync()
    client.append("before the reload")
    while await stored_text(server, room) != "before the reload":
        await asyncio.sleep(0.01)

    # Save the file, as an editor does, until the watcher (it polls mtimes) notices.
    source = Path(standalone.__file__)
    deadline = time.monotonic() + 30
    while server.stdout().count(BANNER) < 2:
        assert time.monotonic() < deadline, server.output()
        os.utime(source)
        await asyncio.sleep(0.2)
    await asyncio.to_thread(server.wait_ready, 60.0, 2)
    await asyncio.wait_for(client.closed.wait(), 10)  # the old process is gone
    again = await room_client(server, room).sync()
    assert again.text == "before the reload"
    await again.close()
