"""The CodeRoom Python API: traits, validation, links, run(). The browser side is in tests/e2e."""

from __future__ import annotations

import pytest
import traitlets

import codecompanion_ext
from codecompanion_ext.widget import STATIC, CodeRoom, parse_room_link


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
