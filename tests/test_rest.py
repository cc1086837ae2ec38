"""Every REST route and its error paths, against a real Jupyter server."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from yclient import eventually_async

ROOM_FIELDS = {
    "roomId",
    "owner",
    "dateCreated",
    "participants",
    "programmingLanguage",
    "links",
    "access",
}


async def test_create_room_returns_the_room(api, jp_base_url):
    status, room = await api(
        "POST", "rooms", body={"name": "  Ana ", "programmingLanguage": "rust"}
    )
    assert status == 201
    assert set(room) == ROOM_FIELDS | {"joinedAs"}
    assert room["owner"] == room["joinedAs"] == "Ana"
    assert room["participants"] == ["Ana"]
    assert room["programmingLanguage"] == "rust"
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", room["roomId"])  # 128 random bits, URL-safe
    created = datetime.fromisoformat(room["dateCreated"].replace("Z", "+00:00"))
    assert created.tzinfo is not None and created.utcoffset() == timedelta(0)
    assert abs(datetime.now(timezone.utc) - created) < timedelta(minutes=1)
    assert room["links"]["self"] == f"{jp_base_url}codecompanion/api/rooms/{room['roomId']}"
    assert room["links"]["websocket"] == f"{jp_base_url}codecompanion/ws/{room['roomId']}"
    assert room["access"] == "edit"
    page = f"{jp_base_url}codecompanion/rooms/{room['roomId']}?key="
    assert page in room["links"]["edit"] and page in room["links"]["view"]
    assert room["links"]["edit"] != room["links"]["view"]


async def test_language_defaults_to_python_and_room_ids_differ(api):
    _, first = await api("POST", "rooms", body={"name": "Ana"})
    _, second = await api("POST", "rooms", body={"name": "Ana"})
    assert first["programmingLanguage"] == "python"
    assert first["roomId"] != second["roomId"]


async def test_get_room(api, room_factory):
    room = await room_factory("Ana", "go")
    status, fetched = await api("GET", "rooms", room["roomId"])
    assert status == 200
    assert fetched == {field: value for field, value in room.items() if field != "joinedAs"}


async def test_get_missing_room_is_404_json(api):
    status, error = await api("GET", "rooms", "doesNotExist123")
    assert status == 404
    assert error == {"error": "room 'doesNotExist123' does not exist", "status": 404}


async def test_join_adds_participant_once_in_join_order(api, room_factory):
    room = await room_factory("Ana")
    room_id = room["roomId"]
    for name in ["Bob", "Cy", " Bob ", "Ana"]:
        status, joined = await api("POST", "rooms", room_id, "participants", body={"name": name})
        assert status == 200
        assert joined["joinedAs"] == name.strip()
    assert joined["participants"] == ["Ana", "Bob", "Cy"]
    _, fetched = await api("GET", "rooms", room_id)
    assert "joinedAs" not in fetched  # only an answer to creating or joining says who
    assert fetched["participants"] == ["Ana", "Bob", "Cy"]


async def test_join_missing_room_is_404(api):
    status, error = await api("POST", "rooms", "nope", "participants", body={"name": "Bob"})
    assert status == 404
    assert error["status"] == 404


async def test_patch_language(api, room_factory):
    room = await room_factory("Ana", "python")
    status, patched = await api(
        "PATCH", "rooms", room["roomId"], body={"programmingLanguage": "rust"}
    )
    assert status == 200
    assert patched["programmingLanguage"] == "rust"
    _, fetched = await api("GET", "rooms", room["roomId"])
    assert fetched["programmingLanguage"] == "rust"


async def test_patch_missing_room_is_404(api):
    status, _ = await api("PATCH", "rooms", "nope", body={"programmingLanguage": "rust"})
    assert status == 404


async def test_list_rooms_newest_first_and_paginated(api, room_factory):
    created = [(await room_factory(f"owner{i}"))["roomId"] for i in range(5)]
    status, page1 = await api("GET", "rooms", params={"perPage": 2})
    assert status == 200
    assert page1["total"] == 5 and page1["page"] == 1 and page1["perPage"] == 2
    _, page2 = await api("GET", "rooms", params={"perPage": 2, "page": 2})
    _, page3 = await api("GET", "rooms", params={"perPage": 2, "page": 3})
    listed = [r["roomId"] for page in (page1, page2, page3) for r in page["rooms"]]
    assert listed == list(reversed(created))
    assert page3["rooms"][0]["participants"] == ["owner0"]


@pytest.mark.parametrize(
    "params",
    [{"page": "0"}, {"page": "x"}, {"page": "²"}, {"page": "9" * 5000}, {"perPage": "1000"}],
)
async def test_list_rooms_rejects_bad_paging(api, params):
    status, error = await api("GET", "rooms", params=params)
    assert status == 400
    assert "must be an integer" in error["error"]


async def test_delete_room(api, room_factory):
    room = await room_factory()
    status, body = await api("DELETE", "rooms", room["roomId"])
    assert status == 204 and body == ""
    status, _ = await api("GET", "rooms", room["roomId"])
    assert status == 404
    status, _ = await api("DELETE", "rooms", room["roomId"])
    assert status == 404


async def test_content_is_plain_text(api, room_factory, yclient, jp_fetch):
    room = await room_factory("Ana", "rust")
    client = await yclient(room["roomId"]).sync()
    client.append("fn main() {}\n// ünïcode ✓\n")

    async def content():
        status, text = await api("GET", "rooms", room["roomId"], "content")
        assert status == 200
        return text

    await eventually_async(content, "fn main() {}\n// ünïcode ✓\n")
    response = await jp_fetch(
        "codecompanion", "api", "rooms", room["roomId"], "content", params={"download": "1"}
    )
    assert response.headers["Content-Type"].startswith("text/plain")
    disposition = response.headers["Content-Disposition"]
    assert disposition == f'attachment; filename="{room["roomId"]}.rs"'


async def test_content_of_missing_room_is_404(api):
    status, _ = await api("GET", "rooms", "nope", "content")
    assert status == 404


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ({"programmingLanguage": "python"}, "'name' must be a string"),
        ({"name": 5}, "'name' must be a string"),
        ({"name": "   "}, "'name' must not be empty"),
        ({"name": "x" * 65}, "at most 64 characters"),
        ({"name": "a\x00b"}, "control characters"),
        ({"name": "Ana", "programmingLanguage": "cobol"}, "must be one of"),
        ({"name": "Ana", "programmingLanguage": ["python"]}, "must be a string"),
        ({"name": "Ana", "admin": True}, "unknown field(s) 'admin'"),
        ("\xff\xfe", "not valid JSON"),
    ],
)
async def test_create_rejects_bad_input(api, body, message):
    status, error = await api("POST", "rooms", body=body)
    assert status == 400
    assert error["status"] == 400
    assert message in error["error"]
    assert "Traceback" not in str(error)


async def test_name_of_64_characters_is_accepted(api):
    status, room = await api("POST", "rooms", body={"name": "é" * 64})
    assert status == 201
    assert room["owner"] == "é" * 64


@pytest.mark.parametrize(
    "name",
    [
        "Ana\u202eevil",  # right-to-left override: "Anaevil" shows as "Analive"
        "\u2067Ana\u2069",  # right-to-left isolate
        "A\u200bna",  # zero-width space: "Ana" twice, as two people
        "An\u200da",  # zero-width joiner between ASCII letters: "Ana" twice
        "\u200d\U0001f469",  # a joiner joining nothing
        "\ufeffAna",  # byte order mark
        "An\u00ada",  # soft hyphen
    ],
)
async def test_names_with_invisible_formatting_characters_are_refused(api, room_factory, name):
    status, error = await api("POST", "rooms", body={"name": name})
    assert status == 400, error
    assert "invisible formatting characters" in error["error"]
    room = await room_factory()
    path = ("rooms", room["roomId"], "participants")
    status, error = await api("POST", *path, body={"name": name})
    assert status == 400, error
    assert "'name' must not contain invisible formatting characters" in error["error"]
    _, fetched = await api("GET", "rooms", room["roomId"])
    assert fetched["participants"] == ["Ana"]


async def test_joiners_inside_emoji_and_words_are_part_of_a_name(api, room_factory):
    """Emoji sequences and Persian or Indic words need zero-width (non-)joiners."""
    room = await room_factory()
    names = ["\U0001f469\u200d\U0001f4bb Dev", "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"]
    for name in names:
        status, joined = await api(
            "POST", "rooms", room["roomId"], "participants", body={"name": name}
        )
        assert status == 200, joined
    assert joined["participants"] == ["Ana", *names]


async def test_html_and_sql_in_names_are_stored_as_given(api, room_factory):
    room = await room_factory("<b>Ana</b>")
    name = "Robert'); DROP TABLE rooms;--"
    status, joined = await api("POST", "rooms", room["roomId"], "participants", body={"name": name})
    assert status == 200
    assert joined["participants"] == ["<b>Ana</b>", name]
    status, _ = await api("GET", "rooms")
    assert status == 200


async def test_bad_patch_bodies(api, room_factory):
    room = await room_factory()
    for body, message in [
        ({}, "'programmingLanguage' is required"),
        ({"programmingLanguage": "klingon"}, "must be one of"),
        ({"programmingLanguage": "rust", "owner": "me"}, "unknown field(s) 'owner'"),
    ]:
        status, error = await api("PATCH", "rooms", room["roomId"], body=body)
        assert (status, message in error["error"]) == (400, True), error


async def test_oversized_body_is_rejected(api):
    status, error = await api("POST", "rooms", body='{"name": "' + "x" * 70_000 + '"}')
    assert status == 400
    assert "larger than" in error["error"]
