"""Group routes: create, list, summarise and delete groups of rooms, and follow one live.

Thin, as the room handlers are: parse, authorize, ask the `GroupManager`, write JSON.
Only those who may list rooms (a Jupyter login; on a hub service, a manager) may use
them; a room key opens its own room, never a group.
"""

from __future__ import annotations

import json
from asyncio import Future
from typing import Any

from jupyter_server.auth.decorator import allow_unauthenticated
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from jupyter_server.utils import url_path_join
from tornado.web import HTTPError
from tornado.websocket import WebSocketClosedError, WebSocketHandler, WebSocketProtocol13

from .auth import CreationPolicy, RoomAccessMixin
from .forwarded import TrustedProxies, link_origin
from .groups import GroupManager, GroupNotFound, check_roster, check_starter_code
from .handlers import MAX_PAGE_SIZE, RoomApiHandler, room_api
from .rooms import RoomManager
from .store import GroupRecord, RoomRecord, StoreError
from .validation import (
    DEFAULT_LANGUAGE,
    InvalidInput,
    check_language,
    check_name,
    check_only_fields,
    parse_json_object,
)

GROUP_FIELDS = ("name", "rooms", "programmingLanguage", "starterCode", "owner")
MAX_LIVE_MESSAGE = 4096  # a dashboard has nothing to say; a bigger frame closes it (1009)


def room_links(handler: Any, record: RoomRecord) -> dict[str, str]:
    """The edit and view links of a room, as the room API gives them."""
    origin = handler.public_url or link_origin(handler.request, handler.trusted_proxies)
    page = origin + url_path_join(handler.base_url, "codecompanion/rooms", record.room_id)
    keys = handler.rooms.room_keys(record)
    return {kind: f"{page}?key={keys[kind]}" for kind in ("edit", "view")}


def group_json(handler: Any, group: GroupRecord) -> dict[str, Any]:
    api = url_path_join(handler.base_url, "codecompanion/api/groups", group.group_id)
    return {
        "groupId": group.group_id,
        "name": group.name,
        "dateCreated": group.date_created,
        "programmingLanguage": group.programming_language,
        "roomCount": group.room_count,
        "links": {"self": api, "live": url_path_join(api, "live")},
    }


def summary_json(
    handler: Any, groups: GroupManager, group_id: str, seen: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The group with every room's summary and links (`seen`: gets each room's summary)."""
    group = groups.get(group_id)
    rooms = []
    for record, summary in groups.rooms_of(group_id):
        if seen is not None:
            seen[record.room_id] = summary
        rooms.append({"name": record.name, **summary, "links": room_links(handler, record)})
    return {**group_json(handler, group), "rooms": rooms}


class GroupApiHandler(RoomApiHandler):
    def initialize(self, groups: GroupManager, **api: Any) -> None:  # type: ignore[override]
        super().initialize(**api)
        self.groups = groups


class GroupsHandler(GroupApiHandler):
    """/codecompanion/api/groups: list and create."""

    @room_api("list")
    async def get(self) -> None:
        page = self.page_argument("page", 1, 10**9)
        per_page = self.page_argument("perPage", self.page_size, MAX_PAGE_SIZE)
        groups, total = self.groups.list((page - 1) * per_page, per_page)
        answer = {
            "groups": [group_json(self, group) for group in groups],
            "page": page,
            "perPage": per_page,
            "total": total,
        }
        self.finish(json.dumps(answer))

    @room_api("manage")
    async def post(self) -> None:
        body = parse_json_object(self.request.body, self.groups.max_request_size)
        check_only_fields(body, GROUP_FIELDS)
        name = check_name(body.get("name"))
        roster = check_roster(body.get("rooms"), self.groups.max_rooms_per_group)
        language = check_language(body.get("programmingLanguage", DEFAULT_LANGUAGE))
        starter = check_starter_code(body.get("starterCode", ""), self.groups.max_starter_code_size)
        owner = await self.room_name(check_name(body.get("owner", self._user_name()), "owner"))
        if not self.creation_limiter.allow(self.client_address()):  # a group is one creation
            raise HTTPError(429, "too many rooms created from this address: try again in a minute")
        group, records = await self.groups.create(name, language, owner, roster, starter)
        answer = group_json(self, group)
        answer["rooms"] = [
            {"roomId": record.room_id, "name": record.name, "links": room_links(self, record)}
            for record in records
        ]
        self.set_status(201)
        self.set_header("Location", answer["links"]["self"])
        self.finish(json.dumps(answer))

    def _user_name(self) -> str:
        """The creator's name, the owner of each room, unless the body gives one."""
        user = self.current_user
        for name in (getattr(user, "display_name", ""), getattr(user, "name", "")):
            try:
                return check_name(name)
            except InvalidInput:
                continue
        return "Teacher"


class GroupHandler(GroupApiHandler):
    """/codecompanion/api/groups/{groupId}: every room's summary; delete."""

    @room_api("list")
    async def get(self, group_id: str) -> None:
        self.finish(json.dumps(summary_json(self, self.groups, group_id)))

    @room_api("manage")
    async def delete(self, group_id: str) -> None:
        await self.groups.delete(group_id)
        self.set_status(204)
        self.finish()


class GroupLiveHandler(WebSocketMixin, WebSocketHandler, RoomAccessMixin, JupyterHandler):
    """/codecompanion/api/groups/{groupId}/live: a dashboard following a group. Text
    frames of JSON: `{"type": "summary", ...}` (GET groups/{groupId}'s answer) first, then
    `{"type": "changes", "rooms": [summaries]}`, at most 4 a second."""

    def initialize(
        self,
        groups: GroupManager,
        rooms: RoomManager,
        creation: CreationPolicy,
        public_url: str,
        trusted_proxies: TrustedProxies,
    ) -> None:
        self.groups = groups
        self.rooms = rooms
        self.creation = creation
        self.public_url = public_url
        self.trusted_proxies = trusted_proxies
        self.group_id: str | None = None
        self._writing: Future[None] | None = None

    @property
    def max_message_size(self) -> int:  # type: ignore[override]
        return MAX_LIVE_MESSAGE

    def get_websocket_protocol(self) -> Any:
        protocol = super().get_websocket_protocol()
        if isinstance(protocol, WebSocketProtocol13):  # WebSocketMixin's pings are the ones
            protocol.params.ping_interval = None
            protocol.params.ping_timeout = None
        return protocol

    def set_default_headers(self) -> None:
        """JupyterHandler's page headers mean nothing on a WebSocket upgrade."""

    async def prepare(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        checked = super().prepare(*args, **kwargs)
        if checked is not None:
            await checked
        if self._finished or self.request.method != "GET":
            return
        try:
            await self.authorize("list")
            self.groups.get(self.path_kwargs["group_id"])
        except GroupNotFound as e:
            raise HTTPError(404, "%s", e) from None
        except StoreError as e:
            self.log.error("room storage failed: %s", e)
            raise HTTPError(503, "room storage is unavailable") from None

    get = allow_unauthenticated(WebSocketHandler.get)

    def open(self, group_id: str, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        super().open()
        seen: dict[str, Any] = {}
        try:
            summary = summary_json(self, self.groups, group_id, seen)
        except GroupNotFound:
            self.close(4404, "this group does not exist")
            return
        except StoreError:
            self.close(1011, "room storage is unavailable")
            return
        self.group_id = group_id
        self.groups.watch(group_id, self, seen)
        self.send_text(json.dumps({"type": "summary", **summary}))

    def on_message(self, message: str | bytes) -> None:
        """A dashboard only listens."""

    def on_close(self) -> None:
        if self.group_id is not None:
            self.groups.unwatch(self.group_id, self)
            self.group_id = None

    # -- the group feed's Watcher ---------------------------------------------------

    def ready(self) -> bool:
        return self._writing is None or self._writing.done()

    def send_text(self, text: str) -> None:
        try:
            self._writing = self.write_message(text)
        except WebSocketClosedError:
            return
        self._writing.add_done_callback(self._written)

    def _written(self, future: Future[None]) -> None:
        if not future.cancelled():
            future.exception()  # a closed socket's write: on_close says goodbye
        if self.group_id is not None:
            self.groups.ready_again(self.group_id)

    def close_group(self, code: int, reason: str) -> None:
        self.group_id = None  # the feed is gone already
        self.close(code, reason)
