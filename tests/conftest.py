"""Fixtures: a real Jupyter server (jupyter_server's pytest plugin) with the extension on."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from traitlets.config import Config
from yclient import YClient

pytest_plugins = ["pytest_jupyter.jupyter_server"]

Api = Callable[..., Awaitable[tuple[int, Any]]]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "cc_config(**settings): CodeCompanionApp settings for this test's server"
    )
    config.addinivalue_line(
        "markers", "jupyter_config(**sections): more traitlets config for this test's server"
    )


E2E_DIR = Path(__file__).parent / "e2e"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every browser test is `e2e` (the fast loop leaves them out)."""
    for item in items:
        if E2E_DIR in item.path.parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "rooms.db"


@pytest.fixture
def jp_server_config(db_path: Path, request: pytest.FixtureRequest) -> Config:
    marker = request.node.get_closest_marker("cc_config")
    settings = dict(marker.kwargs) if marker else {}
    config = Config(
        {
            "ServerApp": {"jpserver_extensions": {"codecompanion_ext": True}},
            "CodeCompanionApp": {"db_path": str(db_path), **settings},
        }
    )
    extra = request.node.get_closest_marker("jupyter_config")
    if extra:
        config.merge(Config(extra.kwargs))
    return config


@pytest.fixture
def extension(jp_serverapp: Any) -> Any:
    """The running CodeCompanionApp, to look at its rooms from a test."""
    return jp_serverapp.extension_manager.extension_apps["codecompanion_ext"].copy().pop()


@pytest.fixture
def api(jp_fetch: Any) -> Api:
    """Call the room API; returns (status, parsed JSON or text) and never raises on 4xx."""

    async def call(method: str, *path: str, body: Any = None, **kwargs: Any) -> tuple[int, Any]:
        if body is not None and not isinstance(body, (str, bytes)):
            body = json.dumps(body)
        if body is None and method in ("POST", "PATCH"):
            body = ""
        response = await jp_fetch(
            "codecompanion", "api", *path, method=method, body=body, raise_error=False, **kwargs
        )
        text = response.body.decode("utf-8")
        if response.headers.get("Content-Type", "").startswith("application/json"):
            return response.code, json.loads(text)
        return response.code, text

    return call


@pytest.fixture
def room_factory(api: Api) -> Callable[..., Awaitable[dict[str, Any]]]:
    async def create(name: str = "Ana", language: str = "python") -> dict[str, Any]:
        status, room = await api(
            "POST", "rooms", body={"name": name, "programmingLanguage": language}
        )
        assert status == 201, room
        return room

    return create


@pytest.fixture
def ws_url(jp_http_port: int, jp_base_url: str) -> Callable[[str], str]:
    return lambda room_id: f"ws://127.0.0.1:{jp_http_port}{jp_base_url}codecompanion/ws/{room_id}"


@pytest.fixture
def yclient(
    jp_serverapp: Any,
    http_server: Any,
    ws_url: Callable[[str], str],
    jp_auth_header: dict[str, str],
    jp_asyncio_loop: Any,
) -> Iterator[Callable[..., YClient]]:
    """Make pycrdt peers of a room (authenticated with the server's token)."""
    clients: list[YClient] = []

    def make(room_id: str, name: str = "py", headers: dict[str, str] | None = None) -> YClient:
        client = YClient(ws_url(room_id), headers=jp_auth_header if headers is None else headers)
        client.name = name
        clients.append(client)
        return client

    yield make
    for client in clients:
        if client.connected:
            jp_asyncio_loop.run_until_complete(client.close())


@pytest.fixture
def browser_session(jp_fetch: Any, jp_serverapp: Any, jp_asyncio_loop: Any) -> dict[str, str]:
    """Log in as a browser does (token once, then cookies): {"cookie", "xsrf"}."""

    async def login() -> dict[str, str]:
        cookies: dict[str, str] = {}
        # The login form sets the _xsrf cookie; logging in with the token sets the session.
        for params in ({}, {"token": jp_serverapp.identity_provider.token}):
            response = await jp_fetch(
                "login",
                params=params,
                follow_redirects=False,
                raise_error=False,
                headers={"Authorization": ""},
            )
            for header in response.headers.get_list("Set-Cookie"):
                name, value = header.split(";", 1)[0].split("=", 1)
                cookies[name] = value
        assert "_xsrf" in cookies and len(cookies) == 2, cookies
        cookie = "; ".join(f"{name}={value}" for name, value in cookies.items())
        return {"cookie": cookie, "xsrf": cookies["_xsrf"]}

    return jp_asyncio_loop.run_until_complete(login())
