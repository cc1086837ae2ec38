"""The Jupyter server extension: settings, storage, and the room routes."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

from jupyter_core.paths import jupyter_data_dir
from jupyter_server._tz import utcnow
from jupyter_server.extension.application import ExtensionApp
from traitlets import Bool, Enum, Float, Int, List, TraitError, Unicode, default, validate

from . import defaults
from .activity import ActivityReport
from .auth import CreationPolicy
from .forwarded import LOOPBACK, TrustedProxies, check_entries
from .group_handlers import GroupHandler, GroupLiveHandler, GroupsHandler
from .groups import GroupManager
from .handlers import (
    ContentHandler,
    ExportHandler,
    ImportHandler,
    KeysHandler,
    ParticipantsHandler,
    RoomHandler,
    RoomsHandler,
    UnavailableHandler,
)
from .keys import KeyMaker, load_or_create_secret
from .limits import AddressLimiter
from .pages import check_frame_ancestors, page_handlers
from .rooms import RoomManager
from .store import RoomStore, StoreError
from .websocket import RoomWebSocketHandler

ROOM_ID = r"(?P<room_id>[A-Za-z0-9_-]{1,64})"
GROUP_ID = r"(?P<group_id>[A-Za-z0-9_-]{1,64})"


class CodeCompanionApp(ExtensionApp):
    """Collaborative code rooms: REST API, y-websocket rooms and SQLite storage."""

    name = "codecompanion_ext"
    load_other_extensions = True

    db_path = Unicode(
        config=True,
        help="SQLite file holding rooms and their history (created if missing).",
    )
    synchronous = Enum(
        ["NORMAL", "FULL", "EXTRA"],
        default_value="NORMAL",
        config=True,
        help=(
            "SQLite synchronous mode. NORMAL (with WAL) keeps every relayed edit through a "
            "crash of the server process; FULL also through power loss, at an fsync per write."
        ),
    )
    room_unload_delay = Float(
        defaults.UNLOAD_DELAY,
        config=True,
        help="Seconds a room with nobody connected stays in memory.",
    )
    compact_after = Int(
        defaults.COMPACT_AFTER,
        config=True,
        help="Stored updates after which a room's history is merged into one snapshot.",
    )
    max_message_size = Int(
        16 * 1024 * 1024, config=True, help="Largest WebSocket message accepted, in bytes."
    )
    max_peers_per_room = Int(
        defaults.MAX_PEERS_PER_ROOM, config=True, help="Connections one room accepts at once."
    )
    max_awareness_state_size = Int(
        defaults.MAX_AWARENESS_STATE,
        config=True,
        help="Largest presence state (cursor, name) of one client, in bytes; the states one "
        "connection speaks for may not total more.",
    )
    max_presence_client_ids = Int(
        defaults.MAX_PRESENCE_CLIENT_IDS,
        config=True,
        help="Presence client ids one connection may speak for over its life (a y-websocket "
        "client has one; a reload reconnects anew); one more closes it (1008).",
    )
    max_room_presence_size = Int(
        defaults.MAX_ROOM_PRESENCE,
        config=True,
        help="Bytes of presence state one room holds for all its clients (every newcomer is "
        "sent it); presence past it closes its sender (1008).",
    )
    max_send_backlog = Int(
        defaults.MAX_SEND_BACKLOG,
        config=True,
        help="Bytes queued for one connection that it has not read yet; past it the "
        "connection is closed (1008) and reconnects. Leave room for a greeting of "
        "max_document_size plus a message of max_message_size.",
    )
    max_room_send_backlog = Int(
        defaults.MAX_ROOM_SEND_BACKLOG,
        config=True,
        help="Bytes queued for a room's connections together that they have not read yet (a "
        "frame sent to many counts once); past it the slowest readers are dropped.",
    )
    rooms_page_size = Int(
        50, config=True, help="Rooms (and groups) per page of GET /codecompanion/api/rooms."
    )
    max_rooms_per_group = Int(
        defaults.MAX_ROOMS_PER_GROUP,
        config=True,
        help="Rooms one group may have (names in the roster of POST /codecompanion/api/groups).",
    )
    max_starter_code_size = Int(
        defaults.MAX_STARTER_CODE_SIZE,
        config=True,
        help="Bytes of a group's starter code (UTF-8), at most half of max_document_size.",
    )
    max_document_size = Int(
        defaults.MAX_DOCUMENT_SIZE,
        config=True,
        help="Largest a room's stored document may grow, in bytes; bigger edits are refused.",
    )
    max_update_ms = Float(
        defaults.MAX_UPDATE_MS,
        config=True,
        help="Estimated worst-case event-loop time one document update may cost, in ms; "
        "updates with more pieces (inserts, deleted ranges) than that allows are refused.",
    )
    room_cpu_share = Float(
        defaults.ROOM_CPU_SHARE,
        config=True,
        help="Share of one core the document updates of a room, and of one connection, may "
        "use on average; past it the sender is slowed, and cut off once 5 seconds behind.",
    )
    max_rooms = Int(
        defaults.MAX_ROOMS, config=True, help="Rooms this server holds at most (0: no limit)."
    )
    messages_per_second = Float(
        200.0,
        config=True,
        help="Sustained WebSocket messages per connection; beyond it the sender is slowed, "
        "and cut off once 5 seconds behind.",
    )
    message_burst = Int(400, config=True, help="Messages a connection may send at once.")
    ping_interval = Float(
        30.0,
        config=True,
        help="Seconds between WebSocket pings; a peer silent for three is disconnected.",
    )
    rooms_per_minute_per_address = Int(
        30, config=True, help="Rooms one client address may create per minute (0: no limit)."
    )
    max_participants_per_room = Int(
        defaults.MAX_PARTICIPANTS_PER_ROOM,
        config=True,
        help="Names one room lists at most; joining with a new name beyond it is refused "
        "(409), with a name already listed it still succeeds (0: no limit).",
    )
    joins_per_minute_per_address = Int(
        defaults.JOINS_PER_MINUTE_PER_ADDRESS,
        config=True,
        help="Joins one client address may make per minute (0: no limit).",
    )
    open_creation = Bool(
        False,
        config=True,
        help="Let people without a Jupyter login create rooms (the standalone server does).",
    )
    creation_token = Unicode(
        "",
        config=True,
        help="With open_creation, require this token (header X-Creation-Token) to create rooms.",
    )
    public_url = Unicode(
        config=True,
        help="Scheme and host that room links start with, such as https://hub.example.org "
        "(default: on JupyterHub, the hub's public_url if it has one; else the scheme and "
        "host each request came to, as a trusted proxy forwarded them).",
    )
    trusted_proxies = List(
        Unicode(),
        default_value=list(LOOPBACK),
        config=True,
        help="Addresses or networks (CIDR) of reverse proxies whose X-Forwarded-Proto, "
        "X-Forwarded-Host and X-Forwarded-For are believed (the first scheme and host, as "
        "the browser used them; the last client address not a proxy's); '*' for every peer, "
        "which ServerApp.trust_xheaders (set by jupyterhub-singleuser) implies.",
    )
    frame_ancestors = Unicode(
        "'self'",
        config=True,
        help="Who may show room pages in a frame (CSP frame-ancestors sources, separated by "
        "spaces), e.g. \"'self' https://lms.example.edu\" for a learning platform.",
    )
    activity_interval = Float(
        defaults.ACTIVITY_INTERVAL,
        config=True,
        help="Edits relayed in rooms count as this server's activity (its last_activity, "
        "which JupyterHub's idle culler reads), reported at most once per this many "
        "seconds; 0: room traffic is never activity. Presence alone never counts.",
    )
    link_secret_path = Unicode(
        config=True,
        help="File holding the secret room keys are derived from (default: beside db_path).",
    )

    @default("public_url")
    def _default_public_url(self) -> str:
        """JupyterHub tells a server its public URL when the hub is configured with one."""
        hub = urlsplit(os.environ.get("JUPYTERHUB_PUBLIC_URL", ""))
        return f"{hub.scheme}://{hub.netloc}" if hub.scheme and hub.netloc else ""

    @validate("trusted_proxies")
    def _check_trusted_proxies(self, proposal: dict) -> list[str]:
        try:
            return check_entries(proposal["value"])
        except ValueError as e:
            raise TraitError(f"trusted_proxies: {e}") from None

    @validate("frame_ancestors")
    def _check_frame_ancestors(self, proposal: dict) -> str:
        try:
            return check_frame_ancestors(proposal["value"])
        except ValueError as e:
            raise TraitError(f"frame_ancestors: {e}") from None

    @default("link_secret_path")
    def _default_link_secret_path(self) -> str:
        return str(Path(self.db_path).with_suffix(".secret"))

    @default("db_path")
    def _default_db_path(self) -> str:
        return str(Path(jupyter_data_dir()) / "codecompanion" / "rooms.db")

    storage_error: str | None = None

    def initialize_settings(self) -> None:
        try:
            self.store = RoomStore(self.db_path, self.synchronous)
            secret = load_or_create_secret(Path(self.link_secret_path))
        except (StoreError, OSError, ValueError) as e:
            # Keep Jupyter running, and let every room request say what is wrong.
            self.storage_error = str(e)
            self.log.error("Code Companion rooms are unavailable: %s", e)
            return
        self.rooms = RoomManager(
            self.store,
            KeyMaker(secret),
            log=self.log,
            unload_delay=self.room_unload_delay,
            compact_after=self.compact_after,
            max_peers_per_room=self.max_peers_per_room,
            max_awareness_state=self.max_awareness_state_size,
            max_document_size=self.max_document_size,
            max_update_ms=self.max_update_ms,
            room_cpu_share=self.room_cpu_share,
            max_rooms=self.max_rooms,
            max_participants_per_room=self.max_participants_per_room,
            max_presence_client_ids=self.max_presence_client_ids,
            max_room_presence=self.max_room_presence_size,
            max_send_backlog=self.max_send_backlog,
            max_room_send_backlog=self.max_room_send_backlog,
            on_edit=self._activity_report(),
        )
        self.groups = GroupManager(
            self.rooms,
            log=self.log,
            max_rooms_per_group=self.max_rooms_per_group,
            max_starter_code_size=self.max_starter_code_size,
        )
        self.log.info("Code Companion rooms are stored in %s", self.db_path)

    def _activity_report(self) -> ActivityReport | None:
        """What rooms call as they relay edits: jupyter_server's `last_activity` reads every
        setting named `*_last_activity`, and jupyterhub-singleuser reports it to the hub."""
        if self.activity_interval <= 0:
            return None
        settings = self.serverapp.web_app.settings

        def report() -> None:
            settings["codecompanion_last_activity"] = utcnow()

        return ActivityReport(self.activity_interval, report)

    def _trusted_proxies(self) -> TrustedProxies:
        everyone = ["*"] if getattr(self.serverapp, "trust_xheaders", False) else []
        return TrustedProxies([*self.trusted_proxies, *everyone])

    def initialize_handlers(self) -> None:
        if self.storage_error is not None:
            unavailable = {"error": f"room storage is unavailable: {self.storage_error}"}
            self.handlers.append((r"/codecompanion/.*", UnavailableHandler, unavailable))
            return
        creation = CreationPolicy(open=self.open_creation, token=self.creation_token)
        api = {
            "rooms": self.rooms,
            "page_size": self.rooms_page_size,
            "creation": creation,
            "public_url": self.public_url.rstrip("/"),
            "creation_limiter": AddressLimiter(self.rooms_per_minute_per_address),
            "join_limiter": AddressLimiter(self.joins_per_minute_per_address),
            "trusted_proxies": self._trusted_proxies(),
        }
        live = {
            "groups": self.groups,
            "rooms": self.rooms,
            "creation": creation,
            "public_url": api["public_url"],
            "trusted_proxies": api["trusted_proxies"],
        }
        ws = {
            "rooms": self.rooms,
            "max_message_size": self.max_message_size,
            "creation": creation,
            "messages_per_second": self.messages_per_second,
            "message_burst": self.message_burst,
            "ping_interval": self.ping_interval,
        }
        self.handlers.extend(
            [
                (r"/codecompanion/api/rooms/?", RoomsHandler, api),
                (r"/codecompanion/api/rooms/import/?", ImportHandler, api),
                (rf"/codecompanion/api/rooms/{ROOM_ID}/?", RoomHandler, api),
                (rf"/codecompanion/api/rooms/{ROOM_ID}/participants/?", ParticipantsHandler, api),
                (rf"/codecompanion/api/rooms/{ROOM_ID}/content/?", ContentHandler, api),
                (rf"/codecompanion/api/rooms/{ROOM_ID}/keys/?", KeysHandler, api),
                (rf"/codecompanion/api/rooms/{ROOM_ID}/export/?", ExportHandler, api),
                (rf"/codecompanion/ws/{ROOM_ID}/?", RoomWebSocketHandler, ws),
                (r"/codecompanion/api/groups/?", GroupsHandler, {"groups": self.groups, **api}),
                (
                    rf"/codecompanion/api/groups/{GROUP_ID}/?",
                    GroupHandler,
                    {"groups": self.groups, **api},
                ),
                (rf"/codecompanion/api/groups/{GROUP_ID}/live/?", GroupLiveHandler, live),
                *page_handlers(ROOM_ID, self.frame_ancestors),
            ]
        )

    async def stop_extension(self) -> None:
        if self.storage_error is None:
            self.rooms.shutdown()
            self.store.close()
