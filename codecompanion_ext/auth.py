"""Who may do what with a room: the single place every room handler asks.

Two kinds of callers:

- people logged into the Jupyter server (token or cookie), whom the server's
  authorizer allows on the ``codecompanion`` resource: everything;
- holders of a room link, whose key opens that one room and nothing else: read
  it, join it, connect to it (edit key: edit; view key: watch).

A request that carries a key is judged by the key alone; its cookies are
ignored, so a key can be used from any origin without lending anyone the
Jupyter login (no cross-site request forgery or WebSocket hijacking).
"""

from __future__ import annotations

import hmac
import re
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Literal
from urllib.parse import parse_qs, urlsplit

from jupyter_core.utils import ensure_async
from tornado.log import app_log
from tornado.web import HTTPError

from .rooms import RoomManager

AUTH_RESOURCE = "codecompanion"
KEY_HEADER = "X-Room-Key"
KEY_ARGUMENT = "key"
CREATION_TOKEN_HEADER = "X-Creation-Token"

Action = Literal["read", "join", "connect", "create", "list", "manage"]
# What a room key may be used for; everything else needs a Jupyter login.
KEY_ACTIONS: frozenset[Action] = frozenset({"read", "join", "connect"})
# The Jupyter authorizer's verb for each action.
JUPYTER_VERBS: dict[Action, str] = {
    "read": "read",
    "list": "read",
    "join": "write",
    "connect": "write",
    "create": "write",
    "manage": "write",
}


@dataclass(frozen=True)
class Access:
    can_edit: bool
    via_key: bool


@dataclass(frozen=True)
class CreationPolicy:
    """Whether people without a Jupyter login may create rooms (the standalone server)."""

    open: bool = False
    token: str = ""


SECRET_ARGUMENT = re.compile(r"([?&](?:key|token)=)[^&#\s'\"]*", re.IGNORECASE)
SECRET_HEADERS = (KEY_HEADER, CREATION_TOKEN_HEADER)
# Shorter values are blanked only as `key=` or `token=` arguments: blanking every
# occurrence of a short wrong key would blank line numbers too.
MIN_LITERAL_SECRET = 8


def without_secrets(text: str) -> str:
    """`text` with the values of `key=` and `token=` arguments blanked."""
    return SECRET_ARGUMENT.sub(r"\1[hidden]", text)


class SecretsStayOutOfLogs:
    """No log line may hold a room key or a token: Tornado's warning for an HTTP error
    prints the request's whole URI, query string included, and its log of an uncaught
    exception the whole request (`repr`) and a traceback."""

    def _request_summary(self) -> str:
        return without_secrets(super()._request_summary())  # type: ignore[misc]

    def log_exception(
        self,
        typ: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if isinstance(value, HTTPError):  # one warning line, through `_request_summary`
            super().log_exception(typ, value, tb)  # type: ignore[misc]
            return
        request = self.request  # type: ignore[attr-defined]
        app_log.error(
            "Uncaught exception %s\n%s\n%s",
            self._request_summary(),
            self._hide_secrets(repr(request)),
            self._hide_secrets("".join(traceback.format_exception(typ, value, tb)).rstrip()),
        )

    def _hide_secrets(self, text: str) -> str:
        """`text` without the secrets this request carries, wherever they appear (an
        exception's message may quote one)."""
        request = self.request  # type: ignore[attr-defined]
        secrets = [request.headers.get(name, "") for name in SECRET_HEADERS]
        secrets.append(request.headers.get("Authorization", "").partition(" ")[2].strip())
        for name, values in parse_qs(urlsplit(request.uri or "").query).items():
            if name.lower() in ("key", "token"):
                secrets += values
        for secret in sorted(secrets, key=len, reverse=True):
            if len(secret) >= MIN_LITERAL_SECRET:
                text = text.replace(secret, "[hidden]")
        return without_secrets(text)


class RoomAccessMixin(SecretsStayOutOfLogs):
    """Mixed into every room handler (REST and WebSocket)."""

    auth_resource = AUTH_RESOURCE
    rooms: RoomManager
    creation: CreationPolicy
    room_action: Action | None = None

    def room_key(self) -> str | None:
        request = self.request  # type: ignore[attr-defined]
        key = (
            request.headers.get(KEY_HEADER) or request.query_arguments.get(KEY_ARGUMENT, [b""])[-1]
        )
        return (key.decode("utf-8", "replace") if isinstance(key, bytes) else key) or None

    async def authorize(self, action: Action, room_id: str | None = None) -> Access:
        """The caller's access for `action`, or HTTP 403 saying why not."""
        key = self.room_key()
        if key is not None:
            if room_id is None or action not in KEY_ACTIONS:
                raise HTTPError(403, "a room link only opens its own room")
            kind = self.rooms.key_access(room_id, key)
            if kind is None:
                self._say_if_unknown(action, room_id)
                raise HTTPError(403, "this room link is not valid (it may have been changed)")
            return Access(can_edit=kind == "edit", via_key=True)
        if action == "create" and self._may_create_without_login():
            return Access(can_edit=True, via_key=False)
        user = self.current_user  # type: ignore[attr-defined]
        if user is None:
            self._say_if_unknown(action, room_id)
            raise HTTPError(403, "log in to Jupyter or use a room link")
        self.room_action = action  # for authorizers that tell actions apart (hub.py's)
        allowed = await ensure_async(
            self.authorizer.is_authorized(self, user, JUPYTER_VERBS[action], AUTH_RESOURCE)  # type: ignore[attr-defined]
        )
        if not allowed:
            raise HTTPError(403, f"not allowed to {action} rooms")
        return Access(can_edit=True, via_key=False)

    async def room_name(self, requested: str) -> str:
        """The name to create or join a room under: the one asked for, unless the identity
        provider vouches for names (a hub service's gives a hub user their hub name)."""
        name_for = getattr(self.identity_provider, "name_for", None)  # type: ignore[attr-defined]
        if name_for is None:
            return requested
        return await name_for(self.current_user, requested)  # type: ignore[attr-defined]

    async def presence_rule(self) -> Callable[[str], str | None] | None:
        """What is wrong with a presence name of this connection (None: any valid name)."""
        rule = getattr(self.identity_provider, "presence_rule", None)  # type: ignore[attr-defined]
        return None if rule is None else await rule(self.current_user)  # type: ignore[attr-defined]

    def _say_if_unknown(self, action: Action, room_id: str | None) -> None:
        """404 for reading an unknown room, whoever asks. Whether a room exists is no secret
        (ids are 128 random bits, and opening one needs its key or a login); saying so lets
        a page answer "Room not found" rather than "you may not"."""
        if action == "read" and room_id is not None and not self.rooms.exists(room_id):
            raise HTTPError(404, f"room {room_id!r} does not exist")

    def _may_create_without_login(self) -> bool:
        if not self.creation.open:
            return False
        if not self.creation.token:
            return True
        presented = self.request.headers.get(CREATION_TOKEN_HEADER, "")  # type: ignore[attr-defined]
        return hmac.compare_digest(presented.encode(), self.creation.token.encode())
