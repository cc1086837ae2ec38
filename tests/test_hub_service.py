"""`codecompanion` as a JupyterHub managed service: a real hub, its proxy, hub tokens.

One hub (DummyAuthenticator, configurable-http-proxy) runs the service for the whole
module; a `teachers` group holds `teacher`; `ana` and `ben` are students. Requests go
through the hub's proxy, as browsers' do.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from yclient import YClient, eventually

sys.path.insert(0, str(Path(__file__).parent / "e2e"))
from hub_harness import HubProcess
from hub_service import PREFIX, USERS, start_hub

pytestmark = pytest.mark.slow  # a hub, its proxy and the service

LIMIT = 5  # rooms per minute per client address


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubProcess]:
    limit = f"--CodeCompanionApp.rooms_per_minute_per_address={LIMIT}"
    hub = start_hub(tmp_path_factory.mktemp("hub"), limit)
    try:
        yield hub
    finally:
        hub.stop()


@pytest.fixture(scope="module")
def tokens(hub: HubProcess) -> dict[str, str]:
    """An API token of each hub user (as a script or a notebook's kernel would hold)."""
    made = {}
    for user in USERS:
        if hub.api("GET", "users", user)[0] == 404:
            assert hub.api("POST", "users", user)[0] == 201
        status, answer = hub.api("POST", "users", user, "tokens", body={"note": "test"})
        assert status == 201, answer
        made[user] = answer["token"]
    return made


def api(hub: HubProcess, method: str, *path: str, token: str = "", **kwargs: Any) -> tuple:
    """The service's room API through the hub's proxy, as `token`'s owner (or nobody)."""
    headers = {"Authorization": f"token {token}"} if token else {}
    headers.update(kwargs.pop("headers", {}))
    return hub.request(
        method, PREFIX + "/".join(["codecompanion/api", *path]), headers=headers, **kwargs
    )


def key_of(room: dict, kind: str = "edit") -> str:
    return parse_qs(urlsplit(room["links"][kind]).query)["key"][0]


def test_the_service_answers_under_its_prefix_with_links_on_the_hub(hub, tokens):
    status, page = hub.request("GET", PREFIX + "codecompanion/")
    assert status == 200 and "codecompanion-page-config" in page, page
    assert '"hubUser":""' in page  # nobody signed in: a guest's page
    status, room = api(hub, "POST", "rooms", token=tokens["teacher"], body={"name": "Forged"})
    assert status == 201, room
    assert room["owner"] == room["joinedAs"] == "teacher"  # the hub name, whatever was asked
    assert room["links"]["edit"].startswith(f"{hub.base}/{PREFIX}codecompanion/rooms/")
    assert room["links"]["websocket"].startswith(f"/{PREFIX}codecompanion/ws/")


def test_teachers_manage_rooms_and_students_do_not(hub, tokens):
    status, room = api(hub, "POST", "rooms", token=tokens["teacher"], body={"name": "x"})
    assert status == 201, room
    room_id = room["roomId"]
    for student in ("ana", "ben"):
        token = tokens[student]
        assert api(hub, "POST", "rooms", token=token, body={"name": student})[0] == 403
        assert api(hub, "GET", "rooms", token=token)[0] == 403
        assert api(hub, "GET", "rooms", room_id, token=token)[0] == 403  # its id is no link
        assert api(hub, "DELETE", "rooms", room_id, token=token)[0] == 403
        assert api(hub, "POST", "rooms", room_id, "keys", token=token)[0] == 403
        assert hub.request("POST", PREFIX + "api/shutdown", headers=auth(token))[0] == 403
    status, listing = api(hub, "GET", "rooms", token=tokens["teacher"])
    assert status == 200 and room_id in {r["roomId"] for r in listing["rooms"]}
    assert api(hub, "DELETE", "rooms", room_id, token=tokens["teacher"])[0] == 204
    assert api(hub, "GET", "rooms", room_id, token=tokens["teacher"])[0] == 404
    # Without any login: nothing but the room API's own refusals.
    assert api(hub, "GET", "rooms")[0] == 403
    assert api(hub, "POST", "rooms", body={"name": "Guest"})[0] == 403


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"token {token}"}


def test_names_of_hub_users_are_theirs_alone(hub, tokens):
    status, room = api(hub, "POST", "rooms", token=tokens["teacher"], body={"name": "T"})
    assert status == 201, room
    path = ("rooms", room["roomId"], "participants")
    key = {"X-Room-Key": key_of(room)}
    # A guest with the link joins under a name of their own, never under a hub user's.
    assert api(hub, "GET", "rooms", room["roomId"], headers=key)[0] == 200
    status, joined = api(hub, "POST", *path, headers=key, body={"name": "Gus"})
    assert status == 200 and "Gus" in joined["participants"], joined
    for taken in ("teacher", "Teacher", " ana"):
        status, error = api(hub, "POST", *path, headers=key, body={"name": taken})
        assert status == 400 and "JupyterHub user's name" in error["error"], error
    # A hub user with the link joins under their hub name, whatever they ask for.
    ana = tokens["ana"]
    status, joined = api(hub, "POST", *path, token=ana, headers=key, body={"name": "teacher"})
    assert status == 200, joined
    assert joined["joinedAs"] == "ana"  # the client shows this name (widget.ts, page.ts)
    assert joined["participants"] == ["teacher", "Gus", "ana"]


async def test_presence_names_of_hub_users_cannot_be_forged(hub, tokens):
    status, room = await asyncio.to_thread(
        api, hub, "POST", "rooms", token=tokens["teacher"], body={"name": "T"}
    )
    assert status == 201, room
    ws = f"ws://127.0.0.1:{hub.port}/{PREFIX}codecompanion/ws/{room['roomId']}?key={key_of(room)}"
    teacher = await YClient(ws, headers=auth(tokens["teacher"]), name="teacher").sync()
    guest = await YClient(ws, name="Gus").sync()
    ana = await YClient(ws, headers=auth(tokens["ana"]), name="ana").sync()
    for client in (teacher, guest, ana):
        client.set_presence({"user": {"name": client.name}})
    guest.append("print('hi')\n")
    await eventually(lambda: "print" in teacher.text, what="the guest's edit reaches the teacher")
    await asyncio.sleep(0.3)
    assert teacher.close_code is None and guest.close_code is None and ana.close_code is None

    impostor = await YClient(ws, name="teacher").sync()  # a guest calling itself teacher
    impostor.set_presence({"user": {"name": "teacher"}})
    await eventually(lambda: impostor.close_code == 1008, what="the impostor is closed")
    assert "JupyterHub user's name" in (impostor.close_reason or "")
    ana.set_presence({"user": {"name": "teacher"}})  # a hub user showing another's name
    await eventually(lambda: ana.close_code == 1008, what="ana is closed")
    assert "signed in as 'ana'" in (ana.close_reason or "")
    for client in (teacher, guest, ana, impostor):
        await client.close()


def test_the_creation_limit_counts_each_client_behind_the_hubs_proxy(hub, tokens):
    """The proxy on loopback is trusted: X-Forwarded-For (which it appends to) tells the
    clients apart, so one class does not share one address's limit."""
    token = tokens["teacher"]

    def create(client: str) -> int:
        headers = {"X-Forwarded-For": client}
        return api(hub, "POST", "rooms", token=token, headers=headers, body={"name": "T"})[0]

    assert [create("10.1.0.1") for _ in range(LIMIT + 1)] == [201] * LIMIT + [429]
    assert create("10.1.0.2") == 201
