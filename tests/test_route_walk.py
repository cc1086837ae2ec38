"""Walk every route the server exposes: a room key alone opens nothing but its own room.

The walk reads the live server's handler list, so a route added later (by Jupyter, by
another extension or by us) is covered without changing this test.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.simple_httpclient import HTTPStreamClosedError
from tornado.websocket import WebSocketHandler, websocket_connect

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
CLOSED = 599
NO_LOGIN = {"Authorization": ""}
# Sample values for the routes' named groups; an unknown group makes the walk fail loudly.
SAMPLES = {
    "room_id": "OTHER_ROOM",
    "group_id": "SOME_GROUP",
    "kernel_id": "00000000-0000-0000-0000-000000000000",
    "session_id": "00000000-0000-0000-0000-000000000000",
    "path": "/notebook.ipynb",
    "checkpoint_id": "checkpoint",
    "section_name": "notebook",
    "kernel_name": "python3",
    "format": "html",
    "action": "restart",
}


def handler_routes(router: Any) -> Iterator[tuple[str, type]]:
    """(regex, handler class) for every rule, descending into nested routers."""
    for rule in router.rules:
        if hasattr(rule.target, "rules"):
            yield from handler_routes(rule.target)
        elif isinstance(rule.target, type):
            yield rule.matcher.regex.pattern, rule.target


def top_level_groups(pattern: str) -> Iterator[tuple[int, int]]:
    """(start, end) of each outermost parenthesised group, skipping escaped characters."""
    depth, start, i = 0, 0, 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            i += 2
            continue
        if char == "(":
            if depth == 0:
                start = i
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                yield start, i + 1
        i += 1


def sample_path(pattern: str, other_room: str) -> str:
    """A concrete path the route's regex matches, with room B for any room id."""

    def fill(group: str) -> str:
        named = re.match(r"\(\?P<(\w+)>", group)
        if named:
            name = named[1]
            if name not in SAMPLES:
                raise AssertionError(f"no sample value for group {name!r} in {pattern}")
            return other_room if name == "room_id" else SAMPLES[name]
        first = group[1:-1].split("|")[0]
        return first.replace("\\", "") if re.fullmatch(r"[\w\\.]+", first) else "x"

    path, last = "", 0
    for start, end in top_level_groups(pattern):
        path += pattern[last:start] + fill(pattern[start:end])
        last = end
    path += pattern[last:]
    path = path.rstrip("$").replace(".*", "x").replace("/?", "/").replace("\\", "")
    path = path if path.startswith("/") else "/" + path  # the catch-all 404 route
    assert re.fullmatch(pattern, path), f"sample {path!r} does not match {pattern!r}"
    return path


@pytest.fixture
def walk(jp_serverapp, http_server_client, room_factory, jp_asyncio_loop):
    """Every (path, handler) of the running server, with room A's keys and room B's id."""
    room_a = jp_asyncio_loop.run_until_complete(room_factory("Ana"))
    room_b = jp_asyncio_loop.run_until_complete(room_factory("Bo"))
    keys = [parse_qs(urlsplit(room_a["links"][k]).query)["key"][0] for k in ("edit", "view")]
    routes = sorted(set(handler_routes(jp_serverapp.web_app.default_router)))
    routes += sorted(set(handler_routes(jp_serverapp.web_app.wildcard_router)))
    paths = [(sample_path(pattern, room_b["roomId"]), handler) for pattern, handler in routes]
    return paths, keys


async def _status(client, path: str, method: str, headers: dict[str, str], key: str | None) -> int:
    query = f"?key={key}" if key else ""
    body = b"{}" if method in ("POST", "PUT", "PATCH") else None
    try:
        response = await client.fetch(
            path + query,
            method=method,
            body=body,
            headers={**NO_LOGIN, **headers},
            raise_error=False,
            follow_redirects=False,
            allow_nonstandard_methods=True,
        )
    except HTTPStreamClosedError:
        return CLOSED  # the server hung up (with or without a key: compared like a status)
    return response.code


async def _assert_key_opens_nothing(walk, http_server_client, jp_http_port) -> int:
    paths, keys = walk
    checked = 0
    for path, handler in paths:
        for key in keys:
            for method in METHODS:
                alone = await _status(http_server_client, path, method, {}, None)
                query_key = await _status(http_server_client, path, method, {}, key)
                header_key = await _status(
                    http_server_client, path, method, {"X-Room-Key": key}, None
                )
                for with_key in (query_key, header_key):
                    # 405: the route has no such method, whoever asks.
                    assert with_key == alone or with_key in (401, 403, 405), (
                        f"{method} {path} ({handler.__name__}): {with_key} with a room key, "
                        f"{alone} without"
                    )
                checked += 1
            if issubclass(handler, WebSocketHandler):
                url = f"ws://127.0.0.1:{jp_http_port}{path}?key={key}"
                with pytest.raises(HTTPClientError) as refused:
                    await websocket_connect(HTTPRequest(url, headers=NO_LOGIN))
                # 302 is Jupyter sending an unknown visitor to its login page.
                assert refused.value.code in (302, 401, 403, 404), f"WebSocket {path}"
    return checked


@pytest.mark.slow
async def test_route_walk_a_room_key_opens_nothing_else(walk, http_server_client, jp_http_port):
    paths, _ = walk
    names = {handler.__name__ for _, handler in paths}
    # The walk really covers Jupyter's code-running routes and our own room routes.
    assert {"MainKernelHandler", "SessionRootHandler", "ContentsHandler"} <= names
    assert {"RoomHandler", "RoomWebSocketHandler", "ContentHandler", "KeysHandler"} <= names
    checked = await _assert_key_opens_nothing(walk, http_server_client, jp_http_port)
    assert checked >= 5 * 2 * 40


@pytest.mark.slow
@pytest.mark.jupyter_config(ServerApp={"allow_unauthenticated_access": False})
async def test_route_walk_with_unauthenticated_access_disallowed(
    walk, http_server_client, jp_http_port
):
    await _assert_key_opens_nothing(walk, http_server_client, jp_http_port)


UNKNOWN_ROOM = "noSuchRoom123"
# The routes whose answer may tell an unknown room from an existing one: reading it.
READ_HANDLERS = {"RoomHandler", "ContentHandler"}


@pytest.mark.parametrize(
    "allow_unauthenticated",
    [
        pytest.param(True, id="default"),
        pytest.param(
            False,
            id="unauthenticated-access-disallowed",
            marks=pytest.mark.jupyter_config(ServerApp={"allow_unauthenticated_access": False}),
        ),
    ],
)
@pytest.mark.slow
async def test_route_walk_no_credential_opens_no_room_route(
    walk, jp_serverapp, http_server_client, jp_http_port, allow_unauthenticated
):
    """Without a key or a login, every room route of an existing room refuses (401/403), and
    one of an unknown room says 404 only where reading it would: nothing answers 2xx."""
    assert jp_serverapp.allow_unauthenticated_access is allow_unauthenticated
    paths, _ = walk
    room_b = next(p for p, h in paths if h.__name__ == "RoomHandler").rstrip("/").rsplit("/", 1)[-1]
    ours = [
        (pattern, handler)
        for pattern, handler in handler_routes(jp_serverapp.web_app.default_router)
        if handler.__module__
        in (
            "codecompanion_ext.handlers",
            "codecompanion_ext.websocket",
            "codecompanion_ext.group_handlers",
        )
    ]
    assert {h.__name__ for _, h in ours} >= {"RoomsHandler", "RoomHandler", "ContentHandler"}
    checked = 0
    for pattern, handler in ours:
        for room in (room_b, UNKNOWN_ROOM):
            path = sample_path(pattern, room)
            for method in METHODS:
                status = await _status(http_server_client, path, method, {}, None)
                unknown_read = (
                    room == UNKNOWN_ROOM and method == "GET" and handler.__name__ in READ_HANDLERS
                )
                expected = (404,) if unknown_read else (401, 403, 405)
                assert status in expected, f"{method} {path} ({handler.__name__}): {status}"
                checked += 1
            if issubclass(handler, WebSocketHandler):
                url = f"ws://127.0.0.1:{jp_http_port}{path}"
                with pytest.raises(HTTPClientError) as refused:
                    await websocket_connect(HTTPRequest(url, headers=NO_LOGIN))
                assert refused.value.code in (401, 403), f"WebSocket {path}"
    assert checked >= 2 * len(METHODS) * 6
