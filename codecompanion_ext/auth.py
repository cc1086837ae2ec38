"""Who may use a room: the single place every room handler asks.

Today a room is open to anyone the Jupyter server authenticates (token or
cookie) and its authorizer allows on the ``codecompanion`` resource. Per-room
keys (guest and view-only links) belong here too, so no handler decides alone.
"""

from __future__ import annotations

from typing import Literal

from jupyter_core.utils import ensure_async
from tornado.web import HTTPError

AUTH_RESOURCE = "codecompanion"
Action = Literal["read", "write"]


class RoomAccessMixin:
    """Mixed into every room handler (REST and WebSocket)."""

    auth_resource = AUTH_RESOURCE

    async def authorize_room(self, action: Action) -> None:
        """Raise 403 unless the current request may `action` rooms."""
        user = self.current_user  # type: ignore[attr-defined]
        if user is None:
            raise HTTPError(403, "authentication required")
        allowed = await ensure_async(
            self.authorizer.is_authorized(self, user, action, AUTH_RESOURCE)  # type: ignore[attr-defined]
        )
        if not allowed:
            raise HTTPError(403, f"not allowed to {action} rooms")
