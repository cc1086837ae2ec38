"""The widget's front end on a JupyterHub: what it makes of a hub answering for a room server
that is not running, and which WebSocket parameters it sends.

Runs js/src/api.ts and js/src/widget.ts themselves under Node (js/test/hub-answers.mjs bundles
them with esbuild) with a scripted `fetch`; tests/e2e/test_hub.py does the same on a real hub.
"""

from __future__ import annotations

import pytest
from node_script import run_node_script

WAITING = "The room's server is not running; retrying\u2026"


@pytest.fixture(scope="module")
def seen() -> dict:
    return run_node_script("hub-answers.mjs")


@pytest.mark.parametrize(
    "answer",
    ["hub424", "hub503Legacy", "loginRedirect", "spawnPending", "xsrfMissing", "proxyError"],
)
def test_a_hub_answering_for_a_stopped_server_is_told_apart(seen, answer):
    """A 424, the hub's login or spawn-pending page after a redirect, its 403 "'_xsrf'
    argument missing" (a POST with a room key), a proxy's error page: not "its key is wrong"."""
    outcome = seen["classified"][answer]
    assert outcome["code"] == "server-not-running", outcome
    assert outcome["message"].startswith("The room's server is not running"), outcome
    assert "key is wrong" not in outcome["message"]


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ("ownBadKey", "its key is wrong or has been replaced"),
        ("ownStorage", "room storage is unavailable"),
        ("notCodeCompanion", "did not answer like a Code Companion server"),
        ("noExtension", "does not have the Code Companion extension"),
    ],
)
def test_the_room_servers_own_refusals_keep_their_meaning(seen, answer, message):
    outcome = seen["classified"][answer]
    assert outcome["code"] != "server-not-running", outcome
    assert message in outcome["message"], outcome


def test_the_widget_says_the_server_is_not_running_retries_and_joins_once_it_runs(seen):
    widget = seen["widget"]
    # Redirected to the hub's login, then a 424, then the room: three tries, ~1 s + 2 s apart.
    assert widget["tries"] == 3
    assert 2.5 <= widget["seconds"] < 15, widget
    assert widget["history"][0] == {"status": "connecting", "error": WAITING}
    assert all(step["status"] != "error" for step in widget["history"]), widget["history"]
    assert widget["final"]["error"] == ""
    assert widget["final"]["link"].endswith("?key=k1")
    assert seen["waitingText"] == WAITING
    # Doubling from 1 s, never more than 15 s apart.
    assert seen["delays"] == [1000, 2000, 4000, 8000, 15000, 15000, 15000]


def test_a_final_refusal_is_not_retried(seen):
    refused = seen["refused"]
    assert refused["status"] == "error"
    assert "its key is wrong" in refused["error"]
    assert refused["tries"] == 1


def test_the_token_goes_in_a_websocket_url_only_to_another_origin(seen):
    """Same origin: the page's cookies authenticate the socket, as JupyterLab's own do; a
    token in the URL would be written to every access log on the way."""
    assert seen["params"] == {
        "sameOrigin": {},
        "otherOrigin": {"token": "secret"},
        "withKey": {"key": "k1"},
    }
    assert all("token=" not in url for url in seen["widget"]["websocketUrls"])
