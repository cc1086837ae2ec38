"""The standalone pages (landing, room) and their static files, served without a Jupyter login.

Their front end is tested in real Chromium in tests/e2e/test_room_page.py.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from codecompanion_ext.pages import render_page, script_json

NO_LOGIN = {"Authorization": ""}  # overrides the token jp_fetch would send
CONFIG = re.compile(
    r'<script type="application/json" id="codecompanion-page-config">(.*?)</script>', re.S
)


async def fetch(jp_fetch: Any, *path: str, login: bool = False, **kwargs: Any) -> Any:
    headers = {} if login else dict(NO_LOGIN)
    return await jp_fetch(*path, headers=headers, raise_error=False, **kwargs)


def page_config(html: str) -> dict[str, Any]:
    match = CONFIG.search(html)
    assert match, html
    return json.loads(match[1])


async def test_landing_page_needs_no_login_and_sets_the_xsrf_cookie(jp_fetch, jp_base_url):
    response = await fetch(jp_fetch, "codecompanion/")
    assert response.code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assert "_xsrf=" in response.headers.get("Set-Cookie", "")
    html = response.body.decode()
    assert "<title>Code Companion</title>" in html
    assert f'src="{jp_base_url}codecompanion/static/page.js"' in html
    assert f'href="{jp_base_url}codecompanion/static/widget.css"' in html
    assert page_config(html) == {
        "baseUrl": jp_base_url,
        "page": "landing",
        "loggedIn": False,
        "openCreation": False,
        "creationTokenRequired": False,
        "loginUrl": f"{jp_base_url}codecompanion/login",
    }
    assert (await fetch(jp_fetch, "codecompanion")).code == 200


async def test_landing_page_knows_a_logged_in_user(jp_fetch):
    response = await fetch(jp_fetch, "codecompanion/", login=True)
    assert page_config(response.body.decode())["loggedIn"] is True


@pytest.mark.cc_config(open_creation=True, creation_token="s3cret")
async def test_landing_page_says_how_rooms_are_created(jp_fetch):
    html = (await fetch(jp_fetch, "codecompanion/")).body.decode()
    config = page_config(html)
    assert (config["openCreation"], config["creationTokenRequired"]) == (True, True)
    assert "s3cret" not in html


async def test_room_page_needs_no_login_and_keeps_its_key_private(jp_fetch, jp_base_url):
    response = await fetch(jp_fetch, "codecompanion/rooms/abc-DEF_1", params={"key": "k"})
    assert response.code == 200
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-store"
    html = response.body.decode()
    assert '<meta name="referrer" content="no-referrer">' in html
    config = page_config(html)
    assert (config["page"], config["roomId"], config["baseUrl"]) == (
        "room",
        "abc-DEF_1",
        jp_base_url,
    )
    assert "k" not in config.values(), "the key stays in the URL, never in the page"


async def test_room_page_needs_a_valid_room_id(jp_fetch):
    response = await fetch(jp_fetch, "codecompanion/rooms/not%20an%20id")
    assert response.code == 404


async def test_front_end_bundle_is_served_without_login(jp_fetch):
    script = await fetch(jp_fetch, "codecompanion/static/page.js")
    assert script.code == 200
    assert "javascript" in script.headers["Content-Type"]
    style = await fetch(jp_fetch, "codecompanion/static/widget.css")
    assert style.code == 200 and b".cc-room" in style.body
    assert (await fetch(jp_fetch, "codecompanion/static/missing.js")).code == 404
    assert (await fetch(jp_fetch, "codecompanion/static/..%2Fpages.py")).code in (403, 404)


def test_page_config_cannot_break_out_of_its_script_element():
    evil = '/x/</script><script>alert(1)</script><!--&"'
    html = render_page(evil, "A <title>", {"page": "room"})
    assert "</script><script>alert" not in html
    assert "<title>A &lt;title&gt;</title>" in html
    assert page_config(html)["baseUrl"] == evil
    assert json.loads(script_json({"a": "</script>&<!--"})) == {"a": "</script>&<!--"}
