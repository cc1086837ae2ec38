"""`CodeRoom`: the notebook editor for a Code Companion room (an anywidget).

The browser does the networking: it calls the room REST API with the page's own
Jupyter auth and XSRF token (or a room link's key), and joins the room's WebSocket. The
kernel sees the room through synced traits.

One exception: `CodeRoom(name=..., server=..., token=...)` creates its room from the
kernel, on the server it names, so the token never reaches the page (in VS Code, Colab or
marimo the page may be shared, and it has no login to that server anyway); the browser
then joins that room by its link, as `CodeRoom.join(link)` does.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import anywidget
import traitlets

from .remote_rooms import RoomLink, create_room, parse_room_link, server_base_url
from .validation import LANGUAGES, check_language, check_name

STATIC = Path(__file__).parent / "static"
__all__ = ["CodeRoom", "RoomLink", "hub_user_name", "parse_room_link"]


def hub_user_name() -> str:
    """The JupyterHub user this kernel runs for, as a room name: a hub sets
    `JUPYTERHUB_USER` for each single-user server, and its kernels inherit it. "" off a hub,
    or when the hub's name is not a valid room name (the widget then asks for one)."""
    user = os.environ.get("JUPYTERHUB_USER", "")
    try:
        return check_name(user) if user.strip() else ""
    except ValueError:
        return ""


class CodeRoom(anywidget.AnyWidget):
    """A live, shared code editor in a notebook.

    `CodeRoom(name="Ana", language="python")` creates a room on the Jupyter server
    that serves this notebook; `CodeRoom.join(link, name="Bob")` joins one, on any server.
    Once the widget is displayed and connected, `room.link` is the link to share and
    `room.code` is the shared text (assigning to it replaces the text for everyone).

    In notebooks that Jupyter does not serve (VS Code, Colab, marimo), name the room
    server: `CodeRoom(name="Ana", server="http://host:8765", token=...)` creates the room
    there from the kernel, with a Jupyter token of that server or the creation token of a
    standalone `codecompanion` server (none if it was started without one). The token stays
    in the kernel: the page only gets the room's link, which the widget joins like
    `CodeRoom.join(link)`, and `room.link` is set at once. An unreachable server raises
    `ConnectionError`; a wrong address, token or name raises `ValueError`.

    On JupyterHub, `name` defaults to your hub user name (an explicit one wins).
    """

    _esm = STATIC / "widget.js"
    _css = STATIC / "widget.css"

    room_id = traitlets.Unicode("", help="The room's id, set once created or joined.").tag(
        sync=True
    )
    link = traitlets.Unicode(
        "", help="The link that opens this room (with its edit key when you may edit)."
    ).tag(sync=True)
    view_link = traitlets.Unicode(
        "", help="A link that opens this room view-only, when the server has room keys."
    ).tag(sync=True)
    key = traitlets.Unicode("", help="The room key from a joined link, if any.").tag(sync=True)
    access = traitlets.Unicode("", help="What you may do in the room: edit or view.").tag(sync=True)
    name = traitlets.Unicode("", help="Your name in the room.").tag(sync=True)
    language = traitlets.Unicode("python", help="The room's language, for everyone.").tag(sync=True)
    participants = traitlets.List(traitlets.Unicode(), help="Everyone who joined.").tag(sync=True)
    online = traitlets.List(traitlets.Unicode(), help="Who is connected now.").tag(sync=True)
    status = traitlets.Unicode(
        "connecting", help="connecting, connected, reconnecting, offline or error."
    ).tag(sync=True)
    unsaved_edits = traitlets.Int(
        0, help="Your edits not yet on the server's disk (kept, and sent again on reconnecting)."
    ).tag(sync=True)
    saved = traitlets.Bool(
        True, help="Whether all your edits are on the server's disk (it sent each one back)."
    ).tag(sync=True)
    error = traitlets.Unicode("", help="Why the room cannot be used, if it cannot.").tag(sync=True)
    code = traitlets.Unicode("", help="The shared text.").tag(sync=True)
    hand_raised = traitlets.Bool(
        False, help="Whether your hand is raised in the room (set it to raise or lower it)."
    ).tag(sync=True)
    hands = traitlets.List(
        traitlets.Unicode(), help="Who has a hand raised in the room, oldest first."
    ).tag(sync=True)
    height = traitlets.Int(320, help="Editor height in pixels.").tag(sync=True)
    server_url = traitlets.Unicode(
        "", help="Base URL of the room's server, if not this one (set by join or server=)."
    ).tag(sync=True)
    _mode = traitlets.Unicode("create").tag(sync=True)

    def __init__(
        self,
        name: str = "",
        language: str = "python",
        *,
        server: str = "",
        token: str = "",
        **kwargs: Any,
    ) -> None:
        name = check_name(name) if name else hub_user_name()
        language = check_language(language)
        creating = kwargs.get("_mode", "create") == "create" and not kwargs.get("room_id")
        if creating and not server and kwargs.get("server_url"):
            server = kwargs.pop("server_url")  # what `server=` was once spelled
        if token and not server:
            raise ValueError(
                "token= goes with server=: CodeRoom(name=..., server='http://host:8765', "
                "token=...) creates the room there (on this notebook's own Jupyter server, "
                "the page's login creates it, without a token)"
            )
        if server:
            if not creating:
                raise ValueError("server= creates a room; join one with CodeRoom.join(link)")
            if not name:
                raise ValueError(
                    "creating a room on another server needs your name: "
                    "CodeRoom(name='Ana', server=..., token=...)"
                )
            room = create_room(server, name, language, token)
            language = room.get("programmingLanguage", language)
            kwargs.update(self._joining(room, server_base_url(server)))
        super().__init__(name=name, language=language, **kwargs)

    @staticmethod
    def _joining(room: dict[str, Any], base: str) -> dict[str, Any]:
        """Traits that make the widget join `room`, just created by the kernel, by its link."""
        links = room.get("links") or {}
        link = links.get("edit") or ""
        server_url, room_id, key = parse_room_link(link) if link else (base, room["roomId"], "")
        return {
            "room_id": room_id,
            "server_url": server_url,
            "key": key,
            "link": link,
            "view_link": links.get("view") or "",
            "access": room.get("access") or "edit",
            "participants": list(room.get("participants") or []),
            "_mode": "join",
        }

    @classmethod
    def join(cls, link_or_room_id: str, name: str = "", **kwargs: Any) -> CodeRoom:
        """Join an existing room by its link or id; without a name, your JupyterHub user name
        is used on a hub, and elsewhere the widget asks for one."""
        server_url, room_id, key = parse_room_link(link_or_room_id)
        return cls(
            name=name, room_id=room_id, server_url=server_url, key=key, _mode="join", **kwargs
        )

    @traitlets.validate("language")
    def _check_language(self, proposal: dict[str, Any]) -> str:
        language = proposal["value"]
        if language not in LANGUAGES:
            raise traitlets.TraitError(f"language must be one of: {', '.join(LANGUAGES)}")
        return language

    def raise_hand(self) -> None:
        """Flag "I need help" to everyone in the room (shown until you or a teacher lower it)."""
        self.hand_raised = True

    def lower_hand(self) -> None:
        """Take back your raised hand."""
        self.hand_raised = False

    def run(self) -> None:
        """Run the room's current code in this notebook's kernel (Python rooms only).

        The cell shows what the code prints, displays and raises, as if it were the cell's
        own code; nothing is returned, so no result object clutters the output."""
        if self.language != "python":
            raise ValueError(
                f"room.run() runs Python code, and this room's language is {self.language!r}"
            )
        from IPython import get_ipython

        shell = get_ipython()
        if shell is None:
            raise RuntimeError("room.run() needs an IPython kernel (run it in a notebook)")
        shell.run_cell(self.code)
