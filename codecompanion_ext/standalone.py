"""`codecompanion`: a Jupyter server that serves rooms and nothing that runs code.

A teacher starts it for a class; students open the printed link from a browser or
join its rooms from their own notebooks. It is jupyter_server with only this
extension, and with kernels, sessions, terminals and files taken out:

- their routes are not registered (`default_services`; Jupyter's own way to serve a
  subset), and `api/kernels`, `api/sessions`, ... answer a JSON 404 saying why;
- the kernel manager refuses to start a kernel and the contents manager serves no
  files, so no other extension can run code or read files through them either.

Anyone can create a room without a login (`CodeCompanionApp.open_creation`), or only
with `--creation-token`. Jupyter's own token still guards listing and deleting rooms;
it is random unless given, never printed (`jupyter server list` shows it).
"""

from __future__ import annotations

import gc
import json
import logging
import os
import socket
import sys
from pathlib import Path
from typing import Any

from jupyter_core.application import base_aliases, base_flags
from jupyter_core.paths import jupyter_data_dir
from jupyter_server.auth.identity import PasswordIdentityProvider
from jupyter_server.serverapp import ServerApp
from jupyter_server.serverapp import aliases as server_aliases
from jupyter_server.serverapp import flags as server_flags
from jupyter_server.services.contents.manager import AsyncContentsManager
from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager
from jupyter_server.utils import url_path_join
from tornado import autoreload, web
from traitlets import Float, default
from traitlets.config import Config

from ._version import __version__
from .app import CodeCompanionApp

EXTENSION = "codecompanion_ext"
NO_CODE = (
    "This is a Code Companion room server: it runs no code "
    "(no kernels, sessions, terminals or files), it only serves rooms."
)

# Set in the environment of a service a hub starts (JupyterHub.services).
HUB_SERVICE_ENV = ("JUPYTERHUB_SERVICE_NAME", "JUPYTERHUB_API_TOKEN")
GC_YOUNG_THRESHOLD = 10_000  # Python's default is 700 allocations
NETWORK_OPTIONS = ("ip", "port", "port-retries", "sock", "sock-mode", "keyfile", "certfile")
aliases = {
    **base_aliases,
    **{name: server_aliases[name] for name in NETWORK_OPTIONS},
    "db": "CodeCompanionApp.db_path",
    "creation-token": "CodeCompanionApp.creation_token",
}
flags = {
    **base_flags,
    "debug": server_flags["debug"],
    "dev": (
        {"ServerApp": {"autoreload": True}},
        "Restart the server when its code changes (for working on Code Companion).",
    ),
}


class NoKernelManager(AsyncMappingKernelManager):
    """A kernel manager that never starts a kernel, whoever asks."""

    async def start_kernel(self, *args: Any, **kwargs: Any) -> str:  # type: ignore[override]
        raise web.HTTPError(403, NO_CODE)


class NoContentsManager(AsyncContentsManager):
    """A contents manager with no files and no /files/ route."""

    def get_extra_handlers(self) -> list[Any]:
        return []

    async def dir_exists(self, path: str) -> bool:
        return path.strip("/") == ""

    def info_string(self) -> str:
        return "Serving Code Companion rooms only: no files, kernels or terminals."


class QuietTokenIdentityProvider(PasswordIdentityProvider):
    """A random Jupyter token, as usual, but never printed: the console may be on a projector.

    It only guards Jupyter's own routes (listing and deleting rooms); the server info
    file (`jupyter server list`) still has it.
    """

    @default("token")
    def _token_default(self) -> str:
        token = super()._token_default()
        self.token_generated = False  # printed as "token=..." like a configured one
        return token


class NoCodeHandler(web.RequestHandler):
    """`api/kernels`, `api/sessions`, ...: a JSON 404 that says why, for every method."""

    def check_xsrf_cookie(self) -> None:
        """Nothing here acts on a request, so there is nothing to forge."""

    def prepare(self) -> None:
        self.set_status(404)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"message": NO_CODE, "reason": "Not Found"}))


class CodeCompanionServer(ServerApp):
    """Serve Code Companion rooms (REST API, WebSocket, landing page) and nothing else."""

    name = "codecompanion"
    version = __version__
    description = (
        "Serve Code Companion rooms: a Jupyter server with only the Code Companion "
        "extension and no way to run code (no kernels, sessions, terminals or files). "
        "Anyone who can reach it can create a room unless --creation-token is set."
    )
    examples = (
        "codecompanion --ip 0.0.0.0 --port 8765 --db rooms.db\n"
        "codecompanion --ip 0.0.0.0 --db rooms.db --creation-token s3cret\n"
        "codecompanion --dev"
    )
    aliases = aliases  # type: ignore[assignment]
    flags = flags  # type: ignore[assignment]
    classes = [*ServerApp.classes, CodeCompanionApp]  # noqa: RUF012
    subcommands = {}  # type: ignore[assignment]  # noqa: RUF012
    default_services = ("api", "auth", "security", "shutdown")

    # Tornado waits an hour for a request's head and forever for its body: a client could
    # hold a connection (and its file descriptor) with a few bytes. Guests are strangers.
    header_timeout = Float(
        5.0,
        config=True,
        help="Seconds a connection may take to send a complete request head (line and "
        "headers), and may stay idle between two requests, before it is closed (0: no limit).",
    )
    body_timeout = Float(
        120.0,
        config=True,
        help="Seconds a request may take to send its body before its connection is closed "
        "(0: no limit).",
    )

    def __init__(self, **kwargs: Any) -> None:
        # Lowest priority: config files and the command line override these.
        # Its own database: a JupyterLab with the extension may run on this machine too,
        # and two processes must not serve the same rooms (each would hold its own copy).
        default_db = Path(jupyter_data_dir()) / "codecompanion" / "standalone-rooms.db"
        config = Config({"CodeCompanionApp": {"open_creation": True, "db_path": str(default_db)}})
        if started_by_hub():
            config.merge(hub_mode_config())
        config.merge(kwargs.pop("config", Config()))
        super().__init__(config=config, **kwargs)

    def _config_file_name_default(self) -> str:
        # Not jupyter_server_config: whatever it enables for JupyterLab stays out.
        return "jupyter_codecompanion_config"

    @default("jpserver_extensions")
    def _default_jpserver_extensions(self) -> dict[str, bool]:
        return {EXTENSION: True}

    @default("default_url")
    def _default_default_url(self) -> str:
        return "/codecompanion/"

    @default("allow_root")
    def _default_allow_root(self) -> bool:
        return True  # no code runs, so running as root lends nobody root

    @default("terminals_enabled")
    def _default_terminals_enabled(self) -> bool:
        return False

    @default("no_browser_open_file")
    def _default_no_browser_open_file(self) -> bool:
        return True

    @default("reraise_server_extension_failures")
    def _default_reraise_server_extension_failures(self) -> bool:
        return True  # rooms are all this server is for

    @default("kernel_manager_class")
    def _default_kernel_manager_class(self) -> type:
        return NoKernelManager

    @default("contents_manager_class")
    def _default_contents_manager_class(self) -> type:
        return NoContentsManager

    @default("identity_provider_class")
    def _default_identity_provider_class(self) -> type:
        return QuietTokenIdentityProvider

    def initialize(self, argv: list[str] | None = None, **kwargs: Any) -> None:  # type: ignore[override]
        # Only the extensions named in jpserver_extensions, never those found on disk.
        kwargs["find_extensions"] = False
        super().initialize(argv, **kwargs)
        if self._dispatching:
            return
        error = getattr(self.rooms_app, "storage_error", None)
        if error is not None:
            self.log.critical("Code Companion cannot serve rooms: %s", error)
            self.exit(1)

    @property
    def rooms_app(self) -> CodeCompanionApp | None:
        apps = self.extension_manager.extension_apps.get(EXTENSION, set())
        return next(iter(apps), None)

    def init_httpserver(self) -> None:
        super().init_httpserver()
        # Read by every connection accepted from now on (none is before the loop starts).
        params = self.http_server.conn_params
        params.header_timeout = self.header_timeout or None  # 0: no limit
        params.body_timeout = self.body_timeout or None

    def init_webapp(self) -> None:
        super().init_webapp()
        if started_by_hub():
            # As in a hub's single-user server: Tornado's own XSRF check would run before
            # the hub's login is known; Jupyter's (the hub's rules) runs once it is.
            self.web_app.settings["xsrf_cookies"] = False
        gone = r"/api/(?:kernels|kernelspecs|sessions|terminals|contents)(?:/.*)?"
        self.web_app.add_handlers(".*$", [(url_path_join(self.base_url, gone), NoCodeHandler)])
        if self.autoreload:
            # Also restart when a non-Python file of the package changes (pages, scripts).
            package = Path(__file__).parent
            for path in package.rglob("*"):
                if path.is_file() and path.suffix not in (".py", ".pyc"):
                    autoreload.watch(str(path))

    def landing_urls(self) -> list[str]:
        """The landing page, as others on the network can reach it."""
        path = url_path_join(self.base_url, "codecompanion/")
        public = self.rooms_app.public_url if self.rooms_app is not None else ""
        if started_by_hub() and public:
            return [public.rstrip("/") + path]  # students come through the hub
        urls = [self._get_urlparts(path=path, ip=host).geturl() for host in self._hosts()]
        return list(dict.fromkeys(urls))

    def _hosts(self) -> list[str | None]:
        if self.sock or self.ip not in ("", "0.0.0.0", "::"):
            return [None]  # the configured address
        hosts: list[str | None] = [socket.gethostname()]
        try:  # the address of the interface that routes outwards; sends nothing
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
                probe.connect(("192.0.2.1", 9))
                hosts.append(probe.getsockname()[0])
        except OSError:
            pass
        hosts.append("127.0.0.1")
        return hosts

    def running_server_info(self, kernel_count: bool = True) -> str:
        return "Code Companion rooms are served at " + " and ".join(self.landing_urls())

    def start_app(self) -> None:
        # jupyter_server logs "Use Control-C to stop this server and shut down all kernels";
        # there are none here, and our own banner says how to stop.
        kernel_talk = _DropMessages("Use Control-C to stop this server")
        self.log.addFilter(kernel_talk)
        try:
            super().start_app()
        finally:
            self.log.removeFilter(kernel_talk)
        rooms = self.rooms_app
        creation = "anyone who can open the page can create a room"
        if started_by_hub():
            creation = "creating rooms needs a hub login (HubAuthorizer's groups)"
        elif rooms is not None and not rooms.open_creation:
            creation = "creating a room needs a Jupyter login"
        elif rooms is not None and rooms.creation_token:
            creation = "creating a room needs the creation token"
        stored = Path(rooms.db_path).resolve() if rooms is not None else "?"
        lines = [
            "",
            "  Code Companion rooms are open at:",
            "",
            *(f"      {url}" for url in self.landing_urls()),
            "",
            f"  Share the link with your class; {creation}.",
            f"  Rooms are stored in {stored}. Stop with Control-C.",
            "",
        ]
        print("\n".join(lines), flush=True)
        settle_garbage_collector()

    async def cleanup_kernels(self) -> None:
        """There are never any (and no "Shutting down 0 kernels" to say)."""


class _DropMessages(logging.Filter):
    """Drops log records whose message starts with `prefix`."""

    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.prefix)


def started_by_hub() -> bool:
    """Whether a JupyterHub started this server as a managed service (see hub.py)."""
    return all(os.environ.get(name) for name in HUB_SERVICE_ENV)


def hub_mode_config() -> Config:
    """hub.py's defaults; it needs the `jupyterhub` package, which only a hub has."""
    try:
        from .hub import hub_config
    except ImportError as e:
        message = f"codecompanion runs as a JupyterHub service only with jupyterhub: {e}"
        raise SystemExit(message) from None
    return hub_config()


def settle_garbage_collector() -> None:
    """Keep full garbage collections from stalling every room for a moment.

    A full collection walks every object of the process, most of them Jupyter's, made
    at start-up and alive until exit; under load it paused all rooms for hundreds of
    milliseconds (see benchmarks/README.md). Freezing the start-up objects takes them
    out of every collection, and rarer young collections cost less in total.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])


def main(argv: list[str] | None = None) -> None:
    CodeCompanionServer.launch_instance(argv)


if __name__ == "__main__":
    sys.exit(main())
