"""REST handlers: parse the request, ask the room manager, write JSON. Nothing else."""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable
from typing import Any

from jupyter_server.auth.decorator import allow_unauthenticated
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado import web

from .auth import KEY_HEADER, Access, Action, CreationPolicy, RoomAccessMixin
from .export import export_room, read_export
from .forwarded import TrustedProxies, client_address, link_origin
from .limits import AddressLimiter
from .rooms import ParticipantLimit, RoomLimit, RoomManager, RoomNotFound
from .store import RoomRecord, StoreError
from .validation import (
    DEFAULT_LANGUAGE,
    LANGUAGES,
    InvalidInput,
    check_language,
    check_name,
    check_only_fields,
    parse_json_object,
)

MAX_BODY_SIZE = 64 * 1024
MAX_PAGE_SIZE = 200
MAX_IMPORT_SIZE = 96 * 1024 * 1024

Method = Callable[..., Awaitable[None]]


def room_api(action: Action) -> Callable[[Method], Method]:
    """Authorize the caller (Jupyter login or room key) and turn domain errors into JSON."""

    def decorate(method: Method) -> Method:
        @allow_unauthenticated  # authorization is ours: a room key stands in for a login
        @functools.wraps(method)
        async def wrapper(self: RoomApiHandler, *args: Any, **kwargs: Any) -> None:
            try:
                self.access = await self.authorize(action, kwargs.get("room_id"))
                await method(self, *args, **kwargs)
            except InvalidInput as e:
                raise web.HTTPError(400, "%s", e) from None
            except RoomNotFound as e:
                raise web.HTTPError(404, "%s", e) from None
            except RoomLimit as e:
                raise web.HTTPError(503, "%s", e) from None
            except ParticipantLimit as e:
                raise web.HTTPError(409, "%s", e) from None
            except StoreError as e:
                self.log.error("room storage failed: %s", e)
                raise web.HTTPError(503, "room storage is unavailable: %s", e) from None

        return wrapper

    return decorate


class RoomApiHandler(RoomAccessMixin, APIHandler):
    """Base of the REST handlers: JSON errors of the form {"error", "status"}."""

    access: Access

    def initialize(
        self,
        rooms: RoomManager,
        page_size: int,
        creation: CreationPolicy,
        public_url: str,
        creation_limiter: AddressLimiter,
        join_limiter: AddressLimiter,
        trusted_proxies: TrustedProxies,
    ) -> None:
        self.rooms = rooms
        self.trusted_proxies = trusted_proxies
        self.creation_limiter = creation_limiter
        self.join_limiter = join_limiter
        self.page_size = page_size
        self.creation = creation
        self.public_url = public_url

    # A key-carrying request holds no ambient authority (its cookies are ignored), so it may
    # come from any origin and needs no XSRF token; everything else keeps Jupyter's checks.

    def check_origin(self, origin_to_satisfy_tornado: str = "") -> bool:
        return self.room_key() is not None or super().check_origin(origin_to_satisfy_tornado)

    def check_xsrf_cookie(self) -> None:
        if self.room_key() is None and not self.creating_without_login():
            super().check_xsrf_cookie()

    def creating_without_login(self) -> bool:
        """Open creation borrows no login, so cross-site forgery of it gains nothing."""
        return False

    def set_cors_headers(self) -> None:
        if self.room_key() is not None:
            self._allow_any_origin()
        else:
            super().set_cors_headers()

    def _allow_any_origin(self) -> None:
        self.set_header("Access-Control-Allow-Origin", "*")
        self.set_header("Access-Control-Allow-Headers", f"Content-Type, {KEY_HEADER}")
        self.set_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
        self.set_header("Access-Control-Max-Age", "600")

    @allow_unauthenticated
    def options(self, *args: Any, **kwargs: Any) -> None:
        """CORS preflight: key-carrying calls may come from any origin."""
        self._allow_any_origin()
        self.set_status(204)
        self.finish()

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        error = self._reason
        exc_info = kwargs.get("exc_info")
        exception = exc_info[1] if exc_info else None
        if isinstance(exception, web.HTTPError) and exception.log_message:
            error = exception.log_message % exception.args
        elif status_code >= 500:
            error = "internal server error"
        if self.room_key() is not None:
            self._allow_any_origin()
        if status_code == 429:
            self.set_header("Retry-After", "60")
        self.finish(json.dumps({"error": error, "status": status_code}))

    def json_body(self, allowed: tuple[str, ...]) -> dict[str, Any]:
        body = parse_json_object(self.request.body, MAX_BODY_SIZE)
        check_only_fields(body, allowed)
        return body

    def room_json(self, room: RoomRecord, access: Access | None = None) -> dict[str, Any]:
        access = access or self.access
        api = url_path_join(self.base_url, "codecompanion/api/rooms", room.room_id)
        page = (self.public_url or link_origin(self.request, self.trusted_proxies)) + url_path_join(
            self.base_url, "codecompanion/rooms", room.room_id
        )
        keys = self.rooms.room_keys(room)
        visible = ("edit", "view") if access.can_edit else ("view",)
        group = {} if room.group_id is None else {"name": room.name, "groupId": room.group_id}
        return {
            **group,
            "roomId": room.room_id,
            "owner": room.owner,
            "dateCreated": room.date_created,
            "participants": room.participants,
            "programmingLanguage": room.programming_language,
            "access": "edit" if access.can_edit else "view",
            "links": {
                "self": api,
                "participants": url_path_join(api, "participants"),
                "content": url_path_join(api, "content"),
                "websocket": url_path_join(self.base_url, "codecompanion/ws", room.room_id),
                **{kind: f"{page}?key={keys[kind]}" for kind in visible},
            },
        }

    def client_address(self) -> str:
        """Whom rate limits count: the client, behind a trusted proxy too."""
        return client_address(self.request, self.trusted_proxies)

    def write_room(self, room: RoomRecord, status: int = 200, joined_as: str = "") -> None:
        """`joined_as`: the name a create or join was made under (a hub service puts the
        hub user's own name in place of the one asked for; the client shows that one)."""
        self.set_status(status)
        answer = self.room_json(room)
        if joined_as:
            answer["joinedAs"] = joined_as
        self.finish(json.dumps(answer))

    def page_argument(self, name: str, default: int, maximum: int) -> int:
        raw = self.get_query_argument(name, str(default))
        # ASCII digits only (str.isdigit accepts '²', which int() refuses), and few of them.
        if not (raw.isascii() and raw.isdigit() and len(raw) <= 9) or not 1 <= int(raw) <= maximum:
            raise InvalidInput(f"'{name}' must be an integer from 1 to {maximum}")
        return int(raw)


class RoomsHandler(RoomApiHandler):
    """/codecompanion/api/rooms: list and create."""

    def creating_without_login(self) -> bool:
        return self.request.method == "POST" and self.creation.open

    @room_api("list")
    async def get(self) -> None:
        page = self.page_argument("page", 1, 10**9)
        per_page = self.page_argument("perPage", self.page_size, MAX_PAGE_SIZE)
        rooms, total = self.rooms.list((page - 1) * per_page, per_page)
        self.finish(
            json.dumps(
                {
                    "rooms": [self.room_json(room) for room in rooms],
                    "page": page,
                    "perPage": per_page,
                    "total": total,
                }
            )
        )

    @room_api("create")
    async def post(self) -> None:
        body = self.json_body(("name", "programmingLanguage"))
        owner = await self.room_name(check_name(body.get("name")))
        language = check_language(body.get("programmingLanguage", DEFAULT_LANGUAGE))
        if not self.creation_limiter.allow(self.client_address()):
            raise web.HTTPError(
                429, "too many rooms created from this address: try again in a minute"
            )
        room = self.rooms.create(owner, language)
        self.set_header("Location", self.room_json(room)["links"]["self"])
        self.write_room(room, status=201, joined_as=owner)


class RoomHandler(RoomApiHandler):
    """/codecompanion/api/rooms/{roomId}: read, change the language, delete."""

    @room_api("read")
    async def get(self, room_id: str) -> None:
        self.write_room(self.rooms.get(room_id))

    @room_api("manage")
    async def patch(self, room_id: str) -> None:
        body = self.json_body(("programmingLanguage",))
        if "programmingLanguage" not in body:
            raise InvalidInput("'programmingLanguage' is required")
        language = check_language(body["programmingLanguage"])
        self.write_room(self.rooms.set_language(room_id, language))

    @room_api("manage")
    async def delete(self, room_id: str) -> None:
        self.rooms.delete(room_id)
        self.set_status(204)
        self.finish()


class ParticipantsHandler(RoomApiHandler):
    """/codecompanion/api/rooms/{roomId}/participants: join a room by name."""

    @room_api("join")
    async def post(self, room_id: str) -> None:
        body = self.json_body(("name",))
        name = await self.room_name(check_name(body.get("name")))
        if not self.join_limiter.allow(self.client_address()):
            raise web.HTTPError(429, "too many joins from this address: try again in a minute")
        self.write_room(self.rooms.join(room_id, name), joined_as=name)


class KeysHandler(RoomApiHandler):
    """/codecompanion/api/rooms/{roomId}/keys: new links; the old ones stop working."""

    @room_api("manage")
    async def post(self, room_id: str) -> None:
        self.write_room(self.rooms.rotate_keys(room_id))


class ContentHandler(RoomApiHandler):
    """/codecompanion/api/rooms/{roomId}/content: the room's code as plain text."""

    @room_api("read")
    async def get(self, room_id: str) -> None:
        room = self.rooms.get(room_id)
        text = self.rooms.content(room_id)
        extension = LANGUAGES.get(room.programming_language, "txt")
        disposition = "attachment" if self.get_query_argument("download", "") else "inline"
        self.set_header(
            "Content-Disposition", f'{disposition}; filename="{room.room_id}.{extension}"'
        )
        self.finish(text.encode("utf-8"), set_content_type="text/plain; charset=UTF-8")


class ExportHandler(RoomApiHandler):
    """/codecompanion/api/rooms/{roomId}/export: the room, its code and its full Yjs state."""

    @room_api("manage")
    async def get(self, room_id: str) -> None:
        record, state, code = self.rooms.export(room_id)
        self.set_header("Content-Disposition", f'attachment; filename="{room_id}.json"')
        self.finish(json.dumps(export_room(record, state, code)))


class ImportHandler(RoomApiHandler):
    """/codecompanion/api/rooms/import: a new room from an export."""

    @room_api("manage")
    async def post(self) -> None:
        body = parse_json_object(self.request.body, MAX_IMPORT_SIZE)
        owner, language, participants, state = read_export(body)
        self.write_room(self.rooms.import_room(owner, language, participants, state), 201)


class UnavailableHandler(RoomApiHandler):
    """Every room route while the room database cannot be used: 503 and the reason."""

    def initialize(self, error: str) -> None:  # type: ignore[override]
        self.error = error

    async def prepare(self) -> None:
        await super().prepare()
        if self.current_user is None:
            raise web.HTTPError(403, "authentication required")
        raise web.HTTPError(503, "%s", self.error)
