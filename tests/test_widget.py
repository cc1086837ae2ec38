"""The CodeRoom Python API: traits, validation, links, run(), and creating a room on a named
server from the kernel. The browser side is in tests/e2e."""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
import traitlets

import codecompanion_ext
from codecompanion_ext.remote_rooms import server_base_url
from codecompanion_ext.testing import JupyterServerProcess, StandaloneServerProcess, free_port
from codecompanion_ext.widget import STATIC, CodeRoom, parse_room_link


@pytest.fixture(autouse=True)
def _not_on_a_hub(monkeypatch):
    """These tests run the same inside a JupyterHub (whose kernels have $JUPYTERHUB_USER)."""
    monkeypatch.delenv("JUPYTERHUB_USER", raising=False)


def test_on_a_hub_the_name_defaults_to_the_hub_user_and_an_explicit_one_wins(monkeypatch):
    monkeypatch.setenv("JUPYTERHUB_USER", "teacher")
    assert CodeRoom().name == "teacher"
    assert CodeRoom.join("q5WkT0b0yR1m8Jc2xVn3aw").name == "teacher"
    assert CodeRoom(name=" Ana ").name == "Ana"
    assert CodeRoom.join("q5WkT0b0yR1m8Jc2xVn3aw", name="Bob").name == "Bob"
    # A hub name that is no valid room name is not used: the widget asks instead.
    for unusable in ("x" * 65, "a\u202eb", "  "):
        monkeypatch.setenv("JUPYTERHUB_USER", unusable)
        assert CodeRoom().name == ""
    monkeypatch.delenv("JUPYTERHUB_USER")
    assert CodeRoom().name == ""  # off a hub, the widget asks for a name


def test_create_sets_name_language_and_create_mode():
    room = codecompanion_ext.CodeRoom(name="  Ana ", language="rust")
    assert (room.name, room.language, room._mode) == ("Ana", "rust", "create")
    assert room.room_id == "" and room.link == ""  # filled in by the browser once created
    assert room.status == "connecting"


def test_bundle_is_built_into_the_package():
    assert (STATIC / "widget.css").is_file()
    assert "render" in (STATIC / "widget.js").read_text()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"language": "cobol"}, "must be one of"),
        ({"name": "x" * 65}, "at most 64"),
        ({"name": "a\nb"}, "control characters"),
    ],
)
def test_bad_arguments_are_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        CodeRoom(**kwargs)


def test_language_is_validated_when_set_from_python():
    room = CodeRoom(name="Ana")
    room.language = "go"
    assert room.language == "go"
    with pytest.raises(traitlets.TraitError, match="must be one of"):
        room.language = "klingon"


@pytest.mark.parametrize(
    ("link", "server", "room_id", "key"),
    [
        ("q5WkT0b0yR1m8Jc2xVn3aw", "", "q5WkT0b0yR1m8Jc2xVn3aw", ""),
        (
            "http://localhost:8888/codecompanion/rooms/q5WkT0b0yR1m8Jc2xVn3aw",
            "http://localhost:8888/",
            "q5WkT0b0yR1m8Jc2xVn3aw",
            "",
        ),
        (
            "https://hub.example/user/ana/codecompanion/rooms/abc-DEF_1?key=secret",
            "https://hub.example/user/ana/",
            "abc-DEF_1",
            "secret",
        ),
        (
            "http://h/codecompanion/rooms/abc?x=1&key=k-_%2B1#frag",
            "http://h/",
            "abc",
            "k-_+1",
        ),
        ("ws://h:1/base/codecompanion/ws/abc", "ws://h:1/base/", "abc", ""),
        ("/codecompanion/rooms/abc?key=v", "", "abc", "v"),
    ],
)
def test_parse_room_link(link, server, room_id, key):
    parsed = parse_room_link(link)
    assert parsed == (server, room_id, key)
    assert (parsed.server, parsed.room_id, parsed.key) == (server, room_id, key)


@pytest.mark.parametrize(
    "bad", ["", "http://x/y", "room id with spaces", "http://x/codecompanion/rooms/"]
)
def test_parse_room_link_rejects_other_strings(bad):
    with pytest.raises(ValueError, match="neither a room id nor"):
        parse_room_link(bad)


def test_join_targets_the_linked_room_and_server():
    room = CodeRoom.join("http://other:9999/codecompanion/rooms/abc123", name="Bob")
    assert (room.room_id, room.server_url, room.name, room._mode, room.key) == (
        "abc123",
        "http://other:9999/",
        "Bob",
        "join",
        "",
    )


def test_join_keeps_the_key_of_the_link_for_the_browser():
    room = CodeRoom.join("http://other:9999/base/codecompanion/rooms/abc123?key=s3cr3t", "Bob")
    assert (room.room_id, room.server_url, room.key) == (
        "abc123",
        "http://other:9999/base/",
        "s3cr3t",
    )
    assert room.trait_metadata("key", "sync") is True
    assert room.access == "" and room.view_link == ""  # set by the browser once joined
    assert CodeRoom.join("abc123").name == ""  # the widget will ask for a name


def test_run_executes_the_room_code_in_this_kernel_and_shows_only_its_output():
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    shell = InteractiveShell.instance()
    shell.user_ns["room"] = room = CodeRoom(name="Ana")
    room.code = "answer_from_room = 40 + 2\nprint('the answer is', answer_from_room)"
    with capture_output() as shown:
        shell.run_cell("room.run()")
    assert shell.user_ns["answer_from_room"] == 42
    assert shown.stdout == "the answer is 42\n"  # no ExecutionResult(...) after it

    room.code = "1 / 0"
    with capture_output() as shown:
        shell.run_cell("room.run()")
    assert "ZeroDivisionError" in shown.stdout
    assert "ExecutionResult" not in shown.stdout


def test_run_refuses_other_languages():
    room = CodeRoom(name="Ana", language="rust")
    room.code = 'fn main() { println!("hi"); }'
    with pytest.raises(ValueError, match="runs Python code"):
        room.run()


# -- CodeRoom(name=..., server=..., token=...): the kernel creates the room on a named server


CREATION_TOKEN = "creation-token-for-widget-tests"


@pytest.fixture(scope="module")
def guarded_server(tmp_path_factory):
    """A standalone room server that creates rooms only with its creation token."""
    workdir = tmp_path_factory.mktemp("guarded")
    server = StandaloneServerProcess(
        workdir, [f"--db={workdir / 'rooms.db'}", f"--creation-token={CREATION_TOKEN}"]
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def jupyter_server(tmp_path_factory):
    server = JupyterServerProcess(tmp_path_factory.mktemp("jupyter")).start()
    yield server
    server.stop()


def without_chained_traceback(error: BaseException) -> bool:
    """Whether Python prints `error` alone, without urllib's exception above it."""
    return error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)


def stored_room(server, room: CodeRoom) -> dict:
    """The room as its server has it, read with the key the widget will use."""
    status, record = server.api("GET", "rooms", room.room_id, headers={"X-Room-Key": room.key})
    assert status == 200, record
    return record


@pytest.mark.slow
def test_kernel_creates_the_room_on_a_standalone_server_with_its_creation_token(guarded_server):
    room = CodeRoom(name="Ana", language="rust", server=guarded_server.base, token=CREATION_TOKEN)
    # The widget will join it by its link, as CodeRoom.join(link) does: the key, no token.
    assert room._mode == "join"
    assert room.server_url == guarded_server.base + "/"
    assert room.link == f"{guarded_server.base}/codecompanion/rooms/{room.room_id}?key={room.key}"
    assert parse_room_link(room.link) == (room.server_url, room.room_id, room.key)
    assert room.view_link.startswith(f"{guarded_server.base}/codecompanion/rooms/{room.room_id}?")
    assert (room.access, room.language, room.participants) == ("edit", "rust", ["Ana"])
    record = stored_room(guarded_server, room)
    assert (record["owner"], record["programmingLanguage"], record["access"]) == (
        "Ana",
        "rust",
        "edit",
    )
    # The token is in no synced trait: nothing of it reaches the page.
    assert CREATION_TOKEN not in json.dumps(room.get_state())


@pytest.mark.slow
def test_kernel_creates_the_room_with_a_jupyter_token_and_accepts_the_landing_page_url(
    jupyter_server, guarded_server
):
    room = CodeRoom(
        name="Bo", server=jupyter_server.url("codecompanion/"), token=jupyter_server.token
    )
    assert room.server_url == jupyter_server.base + "/"
    assert stored_room(jupyter_server, room)["participants"] == ["Bo"]
    # The standalone server's own Jupyter token creates rooms too.
    token = guarded_server.jupyter_token()
    room = CodeRoom(name="Cy", server=guarded_server.base, token=token)
    assert stored_room(guarded_server, room)["owner"] == "Cy"


@pytest.mark.slow
def test_server_url_is_the_old_spelling_of_server_and_gets_the_key(tmp_path):
    """`CodeRoom(server_url=...)` used to create the room in the page and open its socket
    without the new key (refused, "Connecting…" forever): now it is `server=`."""
    server = StandaloneServerProcess(tmp_path, [f"--db={tmp_path / 'open.db'}"]).start()
    try:
        room = CodeRoom(name="Di", server_url=server.base)  # open creation: no token needed
        assert (room._mode, room.server_url) == ("join", server.base + "/")
        assert room.key and f"?key={room.key}" in room.link
        assert stored_room(server, room)["owner"] == "Di"
    finally:
        server.stop()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("not-the-token", "refused the token"),
        ("", "needs a token to create rooms: pass token="),
    ],
)
def test_a_wrong_or_missing_token_is_a_clear_error(guarded_server, jupyter_server, token, message):
    for server in (guarded_server, jupyter_server):
        with pytest.raises(ValueError, match=message) as raised:
            CodeRoom(name="Refused", server=server.base, token=token)
        assert without_chained_traceback(raised.value)
    for server, jupyter_token in (
        (guarded_server, guarded_server.jupyter_token()),
        (jupyter_server, jupyter_server.token),
    ):
        status, listing = server.api(
            "GET", "rooms", headers={"Authorization": f"token {jupyter_token}"}
        )
        assert status == 200 and "Refused" not in {room["owner"] for room in listing["rooms"]}


@pytest.mark.slow
def test_a_server_without_code_companion_is_named_as_such(jupyter_server):
    with pytest.raises(ValueError, match=r"no Code Companion room server at \S+/elsewhere/ "):
        CodeRoom(name="Ana", server=jupyter_server.url("elsewhere"), token=jupyter_server.token)


def test_an_unreachable_server_is_a_connection_error():
    port = free_port()  # nobody listens there
    address = f"http://127.0.0.1:{port}"
    with pytest.raises(
        ConnectionError, match=re.escape(f"Cannot reach the room server at {address}/: ")
    ) as raised:
        CodeRoom(name="Ana", server=address, token="t")
    assert without_chained_traceback(raised.value)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"name": "Ana", "server": "ftp://host"}, ValueError, "room server's address"),
        ({"name": "Ana", "server": "http://host:99999"}, ValueError, "room server's address"),
        ({"name": "Ana", "server": "host:8765"}, ValueError, "room server's address"),
        ({"name": "Ana", "token": "t"}, ValueError, "token= goes with server="),
        ({"server": "http://127.0.0.1:1", "token": "t"}, ValueError, "needs your name"),
        ({"name": "a\nb", "server": "http://127.0.0.1:1"}, ValueError, "control characters"),
        (
            {"name": "Ana", "server": "http://127.0.0.1:1", "language": "cobol"},
            ValueError,
            "one of",
        ),
    ],
)
def test_arguments_are_checked_before_any_request(kwargs, error, message):
    with pytest.raises(error, match=message):
        CodeRoom(**kwargs)


@pytest.mark.parametrize(
    ("server", "base"),
    [
        ("http://host:8765", "http://host:8765/"),
        ("  https://hub.example/user/ana/  ", "https://hub.example/user/ana/"),
        ("http://host:8765/codecompanion/", "http://host:8765/"),
        ("http://h/base/codecompanion/rooms/abc?key=k", "http://h/base/"),
        ("http://h/mycodecompanion", "http://h/mycodecompanion/"),
    ],
)
def test_server_base_url(server, base):
    assert server_base_url(server) == base


def test_a_redirect_is_reported_and_the_token_not_sent_on():
    """urllib would follow a redirect with the token (and as a GET): it is an error instead."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            seen.append(f"{self.path} {self.headers.get('Authorization')}")
            self.send_response(307)
            self.send_header("Location", f"http://127.0.0.1:{self.server.server_port}/elsewhere/")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self):
            seen.append(f"GET {self.path}")
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with pytest.raises(
            ValueError, match=r"redirects to http://127\.0\.0\.1:\d+/elsewhere/: pass"
        ):
            CodeRoom(name="Ana", server=f"http://127.0.0.1:{server.server_port}", token="tok")
    finally:
        server.shutdown()
        server.server_close()
    assert seen == ["/codecompanion/api/rooms token tok"]


def test_hand_traits_are_synced_and_the_methods_set_them():
    room = CodeRoom(name="Ana")
    assert room.hand_raised is False and room.hands == []
    assert room.trait_metadata("hand_raised", "sync") is True
    assert room.trait_metadata("hands", "sync") is True
    room.raise_hand()
    assert room.hand_raised is True
    room.lower_hand()
    assert room.hand_raised is False
    with pytest.raises(traitlets.TraitError):
        room.hands = [1]
