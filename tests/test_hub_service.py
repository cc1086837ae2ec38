"""`codecompanion` as a JupyterHub managed service: a real hub, its proxy, hub tokens.

One hub (DummyAuthenticator, configurable-http-proxy) runs the service for the whole
module; a `teachers` group holds `teacher`; `cara`, in no group, holds the custom scope
`custom:codecompanion:manage` through a role; `ana` and `ben` are students. Requests go
through the hub's proxy, as browsers' do.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from collections.abc import Iterator
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit
from urllib.request import HTTPCookieProcessor, Request, build_opener

import pytest
from yclient import YClient, eventually

sys.path.insert(0, str(Path(__file__).parent / "e2e"))
from hub_harness import HubProcess
from hub_service import MANAGE_SCOPE, PREFIX, SERVICE, USERS, start_hub

pytestmark = pytest.mark.slow  # a hub, its proxy and the service

LIMIT = 10  # rooms per minute per client address (the tests before the last create 6)


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


def user_token(hub: HubProcess, user: str, scopes: list[str]) -> str:
    """A token of `user` limited to `scopes` (a default token inherits all of theirs)."""
    body = {"note": "test, limited", "scopes": scopes}
    status, answer = hub.api("POST", "users", user, "tokens", body=body)
    assert status == 201, answer
    return answer["token"]


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


def test_holders_of_the_custom_scope_manage_rooms_without_the_group(hub, tokens):
    """`cara` is in no manager group but holds `custom:codecompanion:manage` by a role: her
    hub token (which inherits her scopes) lists, opens, re-keys and deletes anyone's room;
    a student's still may not. A token whose scopes leave the custom scope out is hers but
    no manager's."""
    status, room = api(hub, "POST", "rooms", token=tokens["teacher"], body={"name": "x"})
    assert status == 201, room
    room_id = room["roomId"]
    cara = tokens["cara"]
    status, me = hub.request("GET", "hub/api/user", headers=auth(cara))
    assert status == 200 and MANAGE_SCOPE in me["scopes"], me  # what the service is told
    assert "teachers" not in me.get("groups", ["teachers"]), me

    status, listing = api(hub, "GET", "rooms", token=cara)
    assert status == 200 and room_id in {r["roomId"] for r in listing["rooms"]}, listing
    assert api(hub, "GET", "rooms", room_id, token=cara)[0] == 200  # by id, no link
    assert api(hub, "POST", "rooms", room_id, "keys", token=cara)[0] == 200
    status, own = api(hub, "POST", "rooms", token=cara, body={"name": "C"})
    assert status == 201 and own["owner"] == "cara", own
    assert api(hub, "DELETE", "rooms", room_id, token=cara)[0] == 204
    assert api(hub, "GET", "rooms", room_id, token=tokens["teacher"])[0] == 404
    for student in ("ana", "ben"):
        assert api(hub, "GET", "rooms", token=tokens[student])[0] == 403
        assert api(hub, "DELETE", "rooms", own["roomId"], token=tokens[student])[0] == 403

    # A token limited to using the service: cara, but no manager; with the scope, one.
    access = f"access:services!service={SERVICE}"
    limited = user_token(hub, "cara", [access])
    assert api(hub, "GET", "rooms", token=limited)[0] == 403
    status, joined = api(
        hub, "POST", "rooms", own["roomId"], "participants", token=limited,
        headers={"X-Room-Key": key_of(own)}, body={"name": "x"},
    )  # fmt: skip
    assert status == 200 and joined["joinedAs"] == "cara", joined  # still signed in as cara
    managing = user_token(hub, "cara", [access, MANAGE_SCOPE])
    assert api(hub, "GET", "rooms", token=managing)[0] == 200
    assert api(hub, "DELETE", "rooms", own["roomId"], token=managing)[0] == 204


def hub_login_session(hub: HubProcess, user: str) -> Any:
    """A cookie-keeping client (no browser) that logged in with the hub's login form and then
    opened the service's landing page, which the hub's OAuth signs it in to."""
    opener = build_opener(HTTPCookieProcessor(CookieJar()))
    with opener.open(hub.hub_url("login"), timeout=30) as response:
        form = response.read().decode()
    xsrf = re.search(r'name="_xsrf"\s+value="([^"]+)"', form)
    assert xsrf, form[:2000]
    landing = f"/{PREFIX}codecompanion/"
    body = urlencode({"username": user, "password": hub.password, "_xsrf": xsrf[1]})
    request = Request(hub.hub_url(f"login?next={quote(landing)}"), data=body.encode())
    with opener.open(request, timeout=60) as response:  # follows the OAuth redirects
        assert urlsplit(response.url).path == landing, response.url
        page = response.read().decode()
    config = re.search(r'id="codecompanion-page-config">([^<]*)<', page)
    assert config, page[:2000]
    opener.page_config = json.loads(config[1])
    return opener


def test_a_hub_login_carries_the_custom_scope_to_the_service(hub, tokens):
    """Through the hub's OAuth (a browser's way in), the custom scope reaches the service
    because its `oauth_client_allowed_scopes` lists it: cara may create and list rooms."""
    cara = hub_login_session(hub, "cara")
    assert cara.page_config["hubUser"] == "cara", cara.page_config
    assert cara.page_config["canCreate"] is True, cara.page_config
    with cara.open(hub.url(PREFIX + "codecompanion/api/rooms"), timeout=30) as response:
        assert response.status == 200
        assert "rooms" in json.loads(response.read())
    ana = hub_login_session(hub, "ana")
    assert (ana.page_config["hubUser"], ana.page_config["canCreate"]) == ("ana", False)


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
