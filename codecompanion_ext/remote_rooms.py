"""Creating a room on a named room server from Python (a kernel or a script).

Used by `CodeRoom(name=..., server=..., token=...)` where the page has no login to that
server (VS Code, Colab, marimo): the kernel creates the room with its token over HTTP, so
the token never reaches the page. Only the standard library: kernels have no use for the
server's own modules.
"""

from __future__ import annotations

import json
import re
from http.client import HTTPException
from typing import Any, NamedTuple
from urllib.error import HTTPError, URLError
from urllib.parse import parse_qs, urlsplit
from urllib.request import HTTPRedirectHandler, Request, build_opener

from .validation import check_language, check_name

# The standalone server's creation-token header (auth.CREATION_TOKEN_HEADER; not imported,
# as the kernel has no use for the server's modules).
CREATION_TOKEN_HEADER = "X-Creation-Token"
CREATE_TIMEOUT = 20.0
"""Seconds the kernel waits for a room server to answer `CodeRoom(server=...)`."""


def server_base_url(server: str) -> str:
    """The base URL, ending in "/", of the room server at `server`: `http(s)://host[:port]`,
    with the server's base path if it has one. Its landing page or one of its room links
    (…/codecompanion/…) names the same server."""
    parts = urlsplit(server.strip())
    try:
        usable = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:  # a port that is no number, or past 65535
        usable = False
    if not usable:
        raise ValueError(
            f"server must be the room server's address, such as http://host:8765, not {server!r}"
        )
    path = parts.path
    inside = re.search(r"(?:^|/)codecompanion(?:/|$)", path)
    if inside:
        path = path[: inside.start()]
    return f"{parts.scheme}://{parts.netloc}{path.rstrip('/')}/"


ROOM_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
# A room link: {server}{base_url}codecompanion/rooms/{roomId} (or the ws/api forms).
ROOM_PATH = re.compile(r"^(?P<base>.*?/)codecompanion/(?:rooms|ws|api/rooms)/(?P<room>[^/?#]+)")


class RoomLink(NamedTuple):
    server: str
    """Base URL of the room's server ("" for a bare id or a path on this server)."""
    room_id: str
    key: str
    """The room key in the link's query (?key=...), "" if none."""


def parse_room_link(link_or_room_id: str) -> RoomLink:
    """Split a room link into (server base URL or "", room id, key or "").

    A bare id has neither server nor key."""
    text = link_or_room_id.strip()
    if ROOM_ID.fullmatch(text):
        return RoomLink("", text, "")
    parts = urlsplit(text)
    match = ROOM_PATH.match(parts.path)
    if not match or not ROOM_ID.fullmatch(match["room"]):
        raise ValueError(
            f"{link_or_room_id!r} is neither a room id nor a Code Companion room link "
            "(…/codecompanion/rooms/<roomId>)"
        )
    server = f"{parts.scheme}://{parts.netloc}{match['base']}" if parts.netloc else ""
    key = parse_qs(parts.query).get("key", [""])[0]
    return RoomLink(server, match["room"], key)


class _NoRedirects(HTTPRedirectHandler):
    """A redirect is reported, not followed: urllib would resend the token to wherever it
    points, and turn the POST into a GET."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _json_or_none(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def create_room(
    server: str,
    name: str,
    language: str = "python",
    token: str = "",
    timeout: float = CREATE_TIMEOUT,
) -> dict[str, Any]:
    """Create a room on the Code Companion server at `server`, from this process (the
    kernel), and return it as the REST API does: its id, and its links with their keys.

    `token` is a Jupyter token of that server, or the creation token of a standalone
    `codecompanion` server (`--creation-token`): it goes in the header of each, and the
    server judges. A standalone server without a creation token needs none. Errors say
    what to change: `ValueError` for a wrong address, token or name, `ConnectionError` when
    the server cannot be reached or cannot create a room now."""
    base = server_base_url(server)
    name = check_name(name)
    language = check_language(language)
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if token:
        headers["Authorization"] = f"token {token}"
        headers[CREATION_TOKEN_HEADER] = token
    request = Request(
        f"{base}codecompanion/api/rooms",
        data=json.dumps({"name": name, "programmingLanguage": language}).encode(),
        headers=headers,
        method="POST",
    )
    location = ""
    try:
        with build_opener(_NoRedirects).open(request, timeout=timeout) as response:
            status, payload = response.status, _json_or_none(response.read())
    except HTTPError as e:
        with e:
            status, payload = e.code, _json_or_none(e.read())
            location = e.headers.get("Location", "")
    except (URLError, OSError, HTTPException) as e:
        reason = str(getattr(e, "reason", None) or e) or type(e).__name__
        raise ConnectionError(f"Cannot reach the room server at {base}: {reason}") from None
    except ValueError as e:  # http.client.InvalidURL: a bad port, say
        raise ValueError(f"server {server!r} is not a usable address: {e}") from None

    error = payload.get("error") if isinstance(payload, dict) else None
    if status == 201 and isinstance(payload, dict) and isinstance(payload.get("roomId"), str):
        return payload
    if 300 <= status < 400:
        raise ValueError(
            f"The room server at {base} redirects to {location or 'another address'}: "
            "pass that address as server="
        )
    if status in (401, 403) and token:
        raise ValueError(
            f"The room server at {base} refused the token (HTTP {status}): give a Jupyter "
            "token of that server, or the creation token it was started with "
            "(codecompanion --creation-token ...)."
        )
    if status in (401, 403):
        raise ValueError(
            f"The room server at {base} needs a token to create rooms: pass token=, a Jupyter "
            "token of that server or the creation token it was started with "
            "(codecompanion --creation-token ...)."
        )
    if not error:
        raise ValueError(
            f"There is no Code Companion room server at {base} (it answered HTTP {status}): "
            "check the address, and that the server runs `codecompanion` or the extension."
        )
    if status == 400:
        raise ValueError(f"The room server at {base} cannot create this room: {error}.")
    raise ConnectionError(
        f"The room server at {base} cannot create a room now: {error} (HTTP {status})."
    )
