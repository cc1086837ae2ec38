"""`codecompanion` as a JupyterHub service: hub logins, hub groups, hub names.

A hub that starts the standalone server as a managed service says so in the environment
(`JUPYTERHUB_SERVICE_NAME`, `JUPYTERHUB_API_TOKEN`, ...; `standalone.started_by_hub`),
and the server then:

- listens where the hub's proxy sends the service (`JUPYTERHUB_SERVICE_URL`), under its
  prefix (`JUPYTERHUB_SERVICE_PREFIX`), with links on the hub's public URL;
- logs hub users in with JupyterHub's own OAuth for services (`JupyterHubIdentityProvider`,
  the one single-user servers use), so they need no other login;
- lets hub groups (or a hub scope) decide who may create, list and manage rooms
  (`HubAuthorizer`); guests with a room link still need no login;
- vouches for names (`HubNames`): a hub user creates, joins and shows presence under their
  hub name only, and nobody else may take a hub user's name.

A hub login counts only from this service's own origin: a room key works from any origin
(`auth.py`), but a page elsewhere that holds a key must not borrow a visitor's hub login
to put their name in a room.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from jupyter_server.auth import Authorizer, User
from jupyter_server.utils import url_path_join
from jupyterhub.singleuser.extension import JupyterHubIdentityProvider, JupyterHubUser
from tornado.httpclient import AsyncHTTPClient, HTTPClientError
from tornado.web import RequestHandler
from traitlets import Float, List, Unicode
from traitlets.config import Config

from .validation import InvalidInput

MANAGE_SCOPE = "custom:codecompanion:manage"
# Set while a visitor with a hub session is sent to log in, so a failed login cannot loop.
LOGIN_TRIED_COOKIE = "codecompanion-hub-login-tried"

NameRule = Callable[[str], "str | None"]
"""What is wrong with a presence name for one connection, or None."""


def hub_config(environ: Mapping[str, str] = os.environ) -> Config:
    """Defaults for a server a hub started (lowest priority: the command line wins)."""
    server: dict[str, Any] = {
        "base_url": environ.get("JUPYTERHUB_SERVICE_PREFIX") or "/",
        "identity_provider_class": HubIdentityProvider,
        "authorizer_class": HubAuthorizer,
        "allow_remote_access": True,  # the Host is the hub's public one
    }
    url = urlsplit(environ.get("JUPYTERHUB_SERVICE_URL", ""))
    if url.hostname:
        server["ip"] = url.hostname
    if url.port:
        server["port"] = url.port
        server["port_retries"] = 0  # the hub's proxy sends the service to this port only
    # Links start with the hub's public URL (CodeCompanionApp.public_url's default), and
    # the client address behind the hub's proxy is believed from loopback (trusted_proxies).
    return Config({"ServerApp": server, "CodeCompanionApp": {"open_creation": False}})


def hub_name(user: User | None) -> str | None:
    """The hub name of a logged-in hub user, else None."""
    return user.username if isinstance(user, JupyterHubUser) else None


def same_origin(handler: RequestHandler) -> bool:
    """Whether the request comes from a page of this host (or from no page at all)."""
    origin = handler.request.headers.get("Origin")
    if origin is None:
        return True
    return urlsplit(origin).netloc.lower() == handler.request.host.lower()


class HubNames:
    """The names of hub users, which only they may use in rooms.

    Learnt from every hub user who comes to the service, and, when the service's hub role
    grants `list:users` and `read:users:name`, from the hub's user list (refreshed every
    `refresh_interval` seconds). Without those scopes, a guest could still take the name of
    a hub user who has never used the service."""

    def __init__(self, api_url: str, api_token: str, refresh_interval: float, log: Any) -> None:
        self.api_url = api_url
        self.api_token = api_token
        self.refresh_interval = refresh_interval
        self.log = log
        self.known: set[str] = set()
        self._listed_at = float("-inf")
        self._listing: asyncio.Future[None] | None = None
        self._warned = False

    def remember(self, name: str) -> None:
        self.known.add(name.casefold())

    def taken(self, name: str) -> bool:
        return name.strip().casefold() in self.known

    async def refresh(self) -> None:
        """Re-read the hub's users if the list is stale (one request at a time)."""
        if time.monotonic() - self._listed_at < self.refresh_interval:
            return
        if self._listing is None or self._listing.done():
            self._listing = asyncio.ensure_future(self._list_users())
        await asyncio.shield(self._listing)

    async def _list_users(self) -> None:
        client = AsyncHTTPClient()
        headers = {"Authorization": f"token {self.api_token}"}
        names: set[str] = set()
        offset, limit = 0, 200
        try:
            while True:
                url = url_path_join(self.api_url, f"users?offset={offset}&limit={limit}")
                response = await client.fetch(url, headers=headers, request_timeout=10)
                page = json.loads(response.body)
                names.update(user["name"].casefold() for user in page if "name" in user)
                if len(page) < limit:
                    break
                offset += limit
        except (HTTPClientError, OSError, ValueError, KeyError, TypeError) as e:
            if not self._warned:
                self._warned = True
                self.log.warning(
                    "Cannot list the hub's users (%s): guests may take the names of hub "
                    "users who have not used this service yet. Give the service a role with "
                    "the scopes list:users and read:users:name.",
                    e,
                )
        else:
            self.known |= names
        self._listed_at = time.monotonic()


class HubIdentityProvider(JupyterHubIdentityProvider):
    """JupyterHub's identity provider for single-user servers, here for a service: OAuth
    with the hub, whose users come back with their name, groups and scopes."""

    names_refresh_interval = Float(
        60.0,
        config=True,
        help="Seconds between two readings of the hub's user names (which guests may not take).",
    )

    @property
    def names(self) -> HubNames:
        if not hasattr(self, "_names"):
            auth = self.hub_auth
            self._names = HubNames(
                auth.api_url, auth.api_token, self.names_refresh_interval, self.log
            )
        return self._names

    async def get_user(self, handler: RequestHandler) -> User | None:  # type: ignore[override]
        user = await super().get_user(handler)
        if user is None:
            return None
        if not getattr(handler, "_token_authenticated", False) and not same_origin(handler):
            return None  # a cookie sent along by a page elsewhere lends no name
        self.names.remember(user.username)
        return user

    async def name_for(self, user: User | None, requested: str) -> str:
        """The name a caller creates or joins a room under: a hub user's own name
        (whatever they asked for); for a guest, the name asked for, if no hub user has it."""
        own = hub_name(user)
        if own is not None:
            return own
        await self.names.refresh()
        if self.names.taken(requested):
            raise InvalidInput(
                f"'name' {requested!r} is a JupyterHub user's name: log in to the hub "
                "to use it, or choose another"
            )
        return requested

    async def presence_rule(self, user: User | None) -> NameRule:
        """How a connection's presence names are checked: a hub user shows only their own
        name, a guest none of the hub users' names."""
        own = hub_name(user)
        if own is not None:
            return lambda name: None if name == own else f"you are signed in as {own!r}"
        names = self.names
        await names.refresh()
        return lambda name: f"{name!r} is a JupyterHub user's name" if names.taken(name) else None

    def page_config(self, handler: Any) -> dict[str, Any]:
        """What the pages need: the hub name to use (no name is asked), and whether this
        user may create rooms."""
        user = handler.current_user
        name = hub_name(user)
        if name is None:
            return {"hubUser": ""}
        may_create = getattr(handler.authorizer, "may_create", None)
        return {"hubUser": name, "canCreate": bool(may_create is None or may_create(user))}

    def login_first(self, handler: RequestHandler) -> bool:
        """Send an anonymous visitor who has a hub session in this browser to the hub's
        login (which then asks nothing) before a page; True if sent. Once a minute at
        most, so a login that fails cannot loop; guests, without a session, are not sent."""
        if handler.current_user is not None or handler.get_cookie(LOGIN_TRIED_COOKIE):
            return False
        if not handler.get_cookie("jupyterhub-session-id"):
            return False
        path = self.hub_auth.base_url
        handler.set_cookie(LOGIN_TRIED_COOKIE, "1", path=path, expires_days=1 / 1440, httponly=True)
        handler.redirect(handler.get_login_url())
        return True


class HubAuthorizer(Authorizer):
    """Hub groups and scopes decide who may do what with rooms.

    Managers (a group in `manager_groups`, or the scope `custom:codecompanion:manage`) may
    do everything: create, list, open by id, change and delete every room, and use the rest
    of the server's API. Members of `creator_groups` may create rooms. Everyone else who
    logs in, like every guest, needs a room's link to open it.
    """

    manager_groups = List(
        Unicode(),
        ["teachers"],
        config=True,
        help="Hub groups whose members may create, list and manage every room.",
    )
    creator_groups = List(
        Unicode(),
        [],
        config=True,
        help="Hub groups whose members may create rooms (managers always may); '*': every "
        "hub user who may use the service.",
    )

    def is_manager(self, user: User) -> bool:
        model = getattr(user, "hub_user", None) or {}
        groups = set(model.get("groups") or ())
        return bool(groups & set(self.manager_groups)) or MANAGE_SCOPE in (
            model.get("scopes") or ()
        )

    def may_create(self, user: User) -> bool:
        model = getattr(user, "hub_user", None) or {}
        groups = set(model.get("groups") or ())
        creators = set(self.creator_groups)
        return self.is_manager(user) or "*" in creators or bool(groups & creators)

    def is_authorized(self, handler: Any, user: User, action: str, resource: str) -> bool:
        from .auth import AUTH_RESOURCE  # auth imports the room manager, which is heavy

        if resource == AUTH_RESOURCE and getattr(handler, "room_action", None) == "create":
            return self.may_create(user)
        return self.is_manager(user)


__all__ = [
    "HubAuthorizer",
    "HubIdentityProvider",
    "HubNames",
    "hub_config",
    "hub_name",
]
