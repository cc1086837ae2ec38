"""Behind a reverse proxy or a hub: room links, rate-limited addresses, framing, logging in.

Requests really travel over HTTP from 127.0.0.1; a test that needs an untrusted peer
trusts some other network instead (`trusted_proxies`), so loopback is untrusted there.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from traitlets import TraitError

from codecompanion_ext.app import CodeCompanionApp

UNTRUSTED_LOOPBACK = pytest.mark.cc_config(trusted_proxies=["192.0.2.0/24"])
BEHIND_TLS = {"X-Forwarded-Proto": "https,http", "X-Forwarded-Host": "hub.example.org"}
NO_LOGIN = {"Authorization": ""}


async def create(api: Any, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    # A copy: jp_fetch adds its token to the dict it is given.
    return await api("POST", "rooms", body={"name": "Ana"}, headers=dict(headers or {}))


def page_links(room: dict[str, Any]) -> list[str]:
    return [room["links"]["edit"], room["links"]["view"]]


# -- room links ----------------------------------------------------------------------------


async def test_links_follow_the_first_forwarded_scheme_and_host_from_a_trusted_proxy(
    api, jp_base_url
):
    status, room = await create(api, BEHIND_TLS)
    assert status == 201, room
    for link in page_links(room):
        assert link.startswith(f"https://hub.example.org{jp_base_url}codecompanion/rooms/"), link
    # A room read later through the same proxy says the same.
    status, again = await api("GET", "rooms", room["roomId"], headers=dict(BEHIND_TLS))
    assert page_links(again) == page_links(room)


@UNTRUSTED_LOOPBACK
async def test_forwarded_headers_from_an_untrusted_peer_are_ignored(api, jp_http_port):
    status, room = await create(api, BEHIND_TLS)
    assert status == 201, room
    for link in page_links(room):
        assert urlsplit(link).scheme == "http"
        assert urlsplit(link).port == jp_http_port, link


async def test_forwarded_values_that_are_no_scheme_or_host_are_ignored(api, jp_http_port):
    for headers in (
        {"X-Forwarded-Proto": "javascript", "X-Forwarded-Host": "evil.example/path?"},
        {"X-Forwarded-Proto": " , https", "X-Forwarded-Host": "user@evil.example"},
        {"X-Forwarded-Host": 'evil.example"><script>'},
    ):
        status, room = await create(api, headers)
        assert status == 201, room
        for link in page_links(room):
            parts = urlsplit(link)
            assert (parts.scheme, parts.port) == ("http", jp_http_port), (headers, link)


@pytest.mark.cc_config(public_url="https://rooms.example.org/")
async def test_public_url_wins_over_any_forwarded_header(api, jp_base_url):
    status, room = await create(api, BEHIND_TLS)
    assert status == 201, room
    for link in page_links(room):
        assert link.startswith(f"https://rooms.example.org{jp_base_url}codecompanion/rooms/")


@pytest.mark.cc_config(trusted_proxies=["192.0.2.0/24"])
@pytest.mark.jupyter_config(ServerApp={"trust_xheaders": True})
async def test_jupyters_trust_xheaders_trusts_every_peer(api):
    """jupyterhub-singleuser sets it: its proxy may be in another container or pod."""
    status, room = await create(api, BEHIND_TLS)
    assert status == 201, room
    assert room["links"]["edit"].startswith("https://hub.example.org/")


def test_a_hubs_public_url_is_the_default(monkeypatch):
    monkeypatch.setenv("JUPYTERHUB_PUBLIC_URL", "https://hub.example.org/user/ana/")
    assert CodeCompanionApp().public_url == "https://hub.example.org"
    monkeypatch.setenv("JUPYTERHUB_PUBLIC_URL", "")
    assert CodeCompanionApp().public_url == ""
    monkeypatch.delenv("JUPYTERHUB_PUBLIC_URL")
    assert CodeCompanionApp().public_url == ""


# -- rate limits count the client, not the proxy -----------------------------------------------


@pytest.mark.cc_config(rooms_per_minute_per_address=1)
async def test_rate_limits_count_the_forwarded_client_behind_a_trusted_proxy(api):
    def client(address: str) -> dict[str, str]:
        return {"X-Forwarded-For": f"203.0.113.9, {address}"}  # the first hop is forgeable

    assert (await create(api, client("198.51.100.1")))[0] == 201
    assert (await create(api, client("198.51.100.1")))[0] == 429
    assert (await create(api, client("198.51.100.2")))[0] == 201
    # Another forged first hop changes nothing: the last one is what the proxy saw.
    forged = {"X-Forwarded-For": "203.0.113.10, 198.51.100.2"}
    assert (await create(api, forged))[0] == 429


@pytest.mark.cc_config(rooms_per_minute_per_address=1, trusted_proxies=["192.0.2.0/24"])
async def test_an_untrusted_peer_cannot_pick_its_rate_limited_address(api):
    assert (await create(api, {"X-Forwarded-For": "198.51.100.1"}))[0] == 201
    assert (await create(api, {"X-Forwarded-For": "198.51.100.2"}))[0] == 429


# -- settings are checked ------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "'self'; script-src *",
        "'self'\nscript-src *",
        "https://a.example, https://b.example",
        "'unsafe-inline'",
        "",
        "'none' https://a.example",
        'https://a.example"',
    ],
)
def test_frame_ancestors_must_be_a_source_list(value):
    with pytest.raises(TraitError, match="frame_ancestors"):
        CodeCompanionApp(frame_ancestors=value)


@pytest.mark.parametrize(
    "value",
    ["'self'", "'none'", "'self' https://lms.example.edu", "https://*.example.edu:443 https:"],
)
def test_frame_ancestors_accepts_sources(value):
    assert CodeCompanionApp(frame_ancestors=value).frame_ancestors == value


def test_trusted_proxies_must_be_addresses_or_networks():
    with pytest.raises(TraitError, match="trusted_proxies"):
        CodeCompanionApp(trusted_proxies=["proxy.example.org"])
    assert CodeCompanionApp(trusted_proxies=["10.0.0.0/8", "::1", "*"]).trusted_proxies


# -- framing the room page -------------------------------------------------------------------


def frame_ancestors(response: Any) -> str:
    policy = response.headers["Content-Security-Policy"]
    (directive,) = [d.strip() for d in policy.split(";") if "frame-ancestors" in d]
    return directive


async def test_pages_may_be_framed_only_by_the_server_itself_by_default(jp_fetch):
    for path in ("codecompanion/rooms/abc", "codecompanion/"):
        response = await jp_fetch(path, headers=dict(NO_LOGIN), raise_error=False)
        assert response.code == 200
        assert frame_ancestors(response) == "frame-ancestors 'self'"


@pytest.mark.cc_config(frame_ancestors="'self' https://lms.example.edu")
async def test_an_admin_lets_a_learning_platform_frame_room_pages(jp_fetch):
    room = await jp_fetch("codecompanion/rooms/abc", headers=dict(NO_LOGIN), raise_error=False)
    assert frame_ancestors(room) == "frame-ancestors 'self' https://lms.example.edu"
    assert "report-uri" in room.headers["Content-Security-Policy"]  # Jupyter's rest is kept
    landing = await jp_fetch("codecompanion/", headers=dict(NO_LOGIN), raise_error=False)
    assert frame_ancestors(landing) == "frame-ancestors 'self'"  # logged-in actions stay home


# -- logging in from the landing page ------------------------------------------------------------


async def test_log_in_goes_through_jupyters_login_and_back_to_the_landing_page(
    jp_fetch, jp_base_url
):
    response = await jp_fetch(
        "codecompanion/login", headers=dict(NO_LOGIN), follow_redirects=False, raise_error=False
    )
    assert response.code == 302
    location = urlsplit(response.headers["Location"])
    assert location.path == f"{jp_base_url}login"
    assert parse_qs(location.query)["next"] == [f"{jp_base_url}codecompanion/login"]

    response = await jp_fetch("codecompanion/login", follow_redirects=False, raise_error=False)
    assert response.code == 302
    assert response.headers["Location"] == f"{jp_base_url}codecompanion/"
