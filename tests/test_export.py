"""Export a room (its code and its full Yjs state) and import it as a new room."""

from __future__ import annotations

import copy

import pytest
from yclient import eventually


async def test_export_then_import_gives_an_identical_new_room(room_factory, yclient, api):
    room = await room_factory("Ana", "julia")
    await api("POST", "rooms", room["roomId"], "participants", body={"name": "Bob"})
    client = await yclient(room["roomId"]).sync()
    client.append('println("héllo")\n')
    client.delete(0, 2)
    client.append("# ✓ end\n")
    await eventually(lambda: len(client.text) > 10)

    async def exported():
        status, data = await api("GET", "rooms", room["roomId"], "export")
        assert status == 200
        return data

    data = await exported()
    while data["code"] != client.text:  # the last edit may still be on its way
        data = await exported()
    assert data["format"] == "codecompanion-room" and data["participants"] == ["Ana", "Bob"]

    status, imported = await api("POST", "rooms", "import", body=data)
    assert status == 201
    assert imported["roomId"] != room["roomId"]
    assert imported["participants"] == ["Ana", "Bob"]
    assert imported["programmingLanguage"] == "julia"
    _, text = await api("GET", "rooms", imported["roomId"], "content")
    assert text == client.text
    copy_client = await yclient(imported["roomId"]).sync()
    assert copy_client.text == client.text and copy_client.language == "julia"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(format="zip"), "not a codecompanion-room export"),
        (lambda d: d.update(state="***"), "must be base64"),
        (lambda d: d.update(state="AAECAw=="), "not a valid Yjs document"),
        (lambda d: d.update(code="tampered"), "does not match"),
        (lambda d: d.update(owner="<" * 100), "at most 64"),
        (lambda d: d.update(participants="Ana"), "list of names"),
    ],
)
async def test_bad_imports_are_refused_and_create_nothing(room_factory, api, change, message):
    room = await room_factory()
    _, data = await api("GET", "rooms", room["roomId"], "export")
    bad = copy.deepcopy(data)
    change(bad)
    status, error = await api("POST", "rooms", "import", body=bad)
    assert status == 400 and message in error["error"]
    _, listing = await api("GET", "rooms")
    assert listing["total"] == 1


async def test_export_and_import_need_a_jupyter_login(room_factory, jp_fetch):
    room = await room_factory()
    key = room["links"]["edit"].split("key=")[1]
    for method, path, body in [
        ("GET", (room["roomId"], "export"), None),
        ("POST", ("import",), "{}"),
    ]:
        response = await jp_fetch(
            "codecompanion",
            "api",
            "rooms",
            *path,
            method=method,
            body=body,
            params={"key": key},
            headers={"Authorization": ""},
            raise_error=False,
        )
        assert response.code == 403
