"""The standalone pages: the landing page and the room page, open without a Jupyter login.

Both are one small HTML shell around the same front end as the notebook editor
(`static/page.js`, `static/widget.css`). Whoever opens them needs nothing but the
link: the room page authenticates with the room key in its URL (`?key=...`), the
landing page with the Jupyter login or, in standalone mode, nothing. The pages render
no user-supplied string: the front end reads the room id and key and writes every
name as text.

A room page may be shown in a learning platform's frame when the admin lists it in
`frame_ancestors` (CSP); every other page keeps Jupyter's `frame-ancestors 'self'`.
"""

from __future__ import annotations

import json
import re
from html import escape
from pathlib import Path
from typing import Any, ClassVar

from jupyter_server.auth.decorator import allow_unauthenticated
from jupyter_server.base.handlers import FileFindHandler, JupyterHandler
from jupyter_server.extension.handler import ExtensionHandlerMixin
from jupyter_server.utils import url_path_join
from tornado import web

from .auth import SecretsStayOutOfLogs

STATIC = Path(__file__).parent / "static"

# One CSP frame-ancestors source: 'self', a scheme (`https:`), or [scheme://]host[:port][/path]
# with an optional `*.` wildcard. Nothing else, so no other directive can be slipped in.
FRAME_SOURCE = re.compile(
    r"'self'|[A-Za-z][A-Za-z0-9+.-]*:"
    r"|(?:[A-Za-z][A-Za-z0-9+.-]*://)?(?:\*|(?:\*\.)?[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*)"
    r"(?::(?:\d{1,5}|\*))?(?:/[A-Za-z0-9._~!$&()*+=:@%/-]*)?"
)


def check_frame_ancestors(value: str) -> str:
    """`value` if it is a CSP frame-ancestors source list; else ValueError saying why."""
    sources = value.split(" ")
    if value.strip() == "'none'":
        return "'none'"
    bad = [source for source in sources if source and not FRAME_SOURCE.fullmatch(source)]
    if bad or not value.strip():
        raise ValueError(
            f"{bad[0] if bad else value!r} is not a frame-ancestors source: use 'self', 'none' "
            "(alone), https: or [https://]host[:port], separated by spaces"
        )
    return " ".join(source for source in sources if source)


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
            "loginUrl": url_path_join(self.base_url, "codecompanion/login"),
            **self._identity_hook("page_config", {}),
        }

    def _identity_hook(self, name: str, default: Any, **kwargs: Any) -> Any:
        """What the identity provider adds, if it has `name` (a hub service's does: hub.py):
        the signed-in hub user's name and rights, or a login before the page."""
        hook = getattr(self.identity_provider, name, None)
        return default if hook is None else hook(self, **kwargs)

    def logs_in_first(self) -> bool:
        """Sent to log in before the page (a hub user, whom the hub logs in silently)."""
        return bool(self._identity_hook("login_first", False))

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
        if not self.logs_in_first():
            self.write_page(self.page_config(), "Code Companion")


class RoomPageHandler(PageHandler):
    """{base_url}codecompanion/rooms/{roomId}?key=KEY: the room in a page of its own."""

    page = "room"

    def initialize(self, name: str, frame_ancestors: str = "'self'") -> None:
        self.frame_ancestors = frame_ancestors
        super().initialize(name)

    def framed_policy(self) -> str:
        """Jupyter's policy, with the frame ancestors the admin allows room pages. (Set in
        `get`: Tornado sets the default headers before `initialize` gives the setting.)"""
        policy = self.content_security_policy
        directive = f"frame-ancestors {self.frame_ancestors}"
        if re.search(r"(^|;)\s*frame-ancestors\b", policy):
            return re.sub(
                r"(^|;)(\s*)frame-ancestors[^;]*", lambda m: m[1] + m[2] + directive, policy
            )
        return f"{policy}; {directive}"

    @allow_unauthenticated
    def get(self, room_id: str) -> None:
        if self.logs_in_first():
            return
        self.set_header("Content-Security-Policy", self.framed_policy())
        self.write_page({**self.page_config(), "roomId": room_id}, "Code Companion room")


class LoginHandler(SecretsStayOutOfLogs, ExtensionHandlerMixin, JupyterHandler):
    """{base_url}codecompanion/login: the landing page's "Log in". Jupyter's own login flow
    (its login page; on JupyterHub, the hub's OAuth, whose `/login` a single-user server
    lacks) leads back here, and here to the landing page."""

    @web.authenticated
    def get(self) -> None:
        self.redirect(url_path_join(self.base_url, "codecompanion/"))


class StaticHandler(FileFindHandler):
    """The front-end bundle, for pages opened without a Jupyter login."""

    # FileFindHandler caches path lookups per class: keep ours apart from Jupyter's own.
    _static_paths: ClassVar[dict[str, str]] = {}  # type: ignore[misc]


def page_handlers(
    room_id_pattern: str, frame_ancestors: str = "'self'"
) -> list[tuple[str, type, dict[str, Any]]]:
    """The routes of the pages, for CodeCompanionApp.initialize_handlers."""
    room = {"frame_ancestors": frame_ancestors}
    return [
        (r"/codecompanion/?", LandingPageHandler, {}),
        (r"/codecompanion/login/?", LoginHandler, {}),
        (rf"/codecompanion/rooms/{room_id_pattern}/?", RoomPageHandler, room),
        (r"/codecompanion/static/(.*)", StaticHandler, {"path": str(STATIC)}),
    ]
