"""The standalone pages: the landing page and the room page, open without a Jupyter login.

Both are one small HTML shell around the same front end as the notebook editor
(`static/page.js`, `static/widget.css`). Whoever opens them needs nothing but the
link: the room page authenticates with the room key in its URL (`?key=...`), the
landing page with the Jupyter login or, in standalone mode, nothing. The pages render
no user-supplied string: the front end reads the room id and key and writes every
name as text.
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path
from typing import Any, ClassVar

from jupyter_server.auth.decorator import allow_unauthenticated
from jupyter_server.base.handlers import FileFindHandler, JupyterHandler
from jupyter_server.extension.handler import ExtensionHandlerMixin
from jupyter_server.utils import url_path_join

from .auth import SecretsStayOutOfLogs

STATIC = Path(__file__).parent / "static"

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<meta name="color-scheme" content="light dark">
<title>{title}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{static}widget.css">
<script type="application/json" id="codecompanion-page-config">{config}</script>
<script type="module" src="{static}page.js"></script>
</head>
<body class="cc-page">
<noscript>Code Companion needs JavaScript to show this page.</noscript>
</body>
</html>
"""


def script_json(value: Any) -> str:
    """JSON safe inside a <script> element: no `</script>`, `<!--` or `]]>` can appear."""
    text = json.dumps(value, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_page(base_url: str, title: str, config: dict[str, Any]) -> str:
    static = url_path_join(base_url, "codecompanion/static/")
    return PAGE.format(
        title=escape(title),
        static=escape(static, quote=True),
        config=script_json({"baseUrl": base_url, **config}),
    )


class PageHandler(SecretsStayOutOfLogs, ExtensionHandlerMixin, JupyterHandler):
    """Serves one HTML shell; sets the `_xsrf` cookie the page's POSTs send back."""

    page: ClassVar[str] = ""
    title: ClassVar[str] = "Code Companion"

    def page_config(self) -> dict[str, Any]:
        app = self.settings.get("codecompanion_ext")
        return {
            "page": self.page,
            "loggedIn": self.current_user is not None,
            "openCreation": bool(getattr(app, "open_creation", False)),
            "creationTokenRequired": bool(getattr(app, "creation_token", "")),
        }

    def write_page(self, config: dict[str, Any], title: str) -> None:
        self.xsrf_token  # noqa: B018 (reading it sets the _xsrf cookie)
        # The room page's URL holds its key: never send it on as a Referer.
        self.set_header("Referrer-Policy", "no-referrer")
        self.set_header("Cache-Control", "no-store")
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        self.finish(render_page(self.base_url, title, config))


class LandingPageHandler(PageHandler):
    """{base_url}codecompanion/: create a room, or join one by link or id."""

    page = "landing"

    @allow_unauthenticated
    def get(self) -> None:
        self.write_page(self.page_config(), "Code Companion")


class RoomPageHandler(PageHandler):
    """{base_url}codecompanion/rooms/{roomId}?key=KEY: the room in a page of its own."""

    page = "room"

    @allow_unauthenticated
    def get(self, room_id: str) -> None:
        self.write_page({**self.page_config(), "roomId": room_id}, "Code Companion room")


class StaticHandler(FileFindHandler):
    """The front-end bundle, for pages opened without a Jupyter login."""

    # FileFindHandler caches path lookups per class: keep ours apart from Jupyter's own.
    _static_paths: ClassVar[dict[str, str]] = {}  # type: ignore[misc]


def page_handlers(room_id_pattern: str) -> list[tuple[str, type, dict[str, Any]]]:
    """The routes of the pages, for CodeCompanionApp.initialize_handlers."""
    return [
        (r"/codecompanion/?", LandingPageHandler, {}),
        (rf"/codecompanion/rooms/{room_id_pattern}/?", RoomPageHandler, {}),
        (r"/codecompanion/static/(.*)", StaticHandler, {"path": str(STATIC)}),
    ]
