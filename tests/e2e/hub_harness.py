"""A real JupyterHub for end-to-end tests: the hub, configurable-http-proxy and one
single-user server per user, all on loopback ports of their own.

`HubProcess` starts `jupyterhub` (this venv's) with a config file it writes into its work
directory:

- `DummyAuthenticator` with one known password (`HubProcess.password`) for every user;
- `SimpleLocalProcessSpawner`: every user's server runs as this OS user, this venv's
  `jupyterhub-singleuser` by absolute path, with a home of its own under `homes/` (its
  notebooks, its Jupyter config and data dirs, and its own room database,
  `HubProcess.db_path(user)`), JupyterLab as the default page and `window.jupyterapp`
  exposed for `NotebookPage`;
- configurable-http-proxy from `js/node_modules/.bin` by absolute path (its `node` is the
  only program found on the PATH);
- an admin service token (`HubProcess.token`) for the REST API: `api("GET", "users/ana")`,
  `start_server("ana")`, `stop_server("ana")`;
- extra services, roles, groups and config lines for tests that need them
  (`services=`, `roles=`, `groups=`, `extra_config=`).

The hub's database, cookie secret, proxy pid file and logs stay in the work directory;
`stop()` takes the proxy and every single-user server (and their kernels) along.
`hub_user(browser, hub, name)` logs a browser into the hub, starts the user's server and
opens their JupyterLab: a `NotebookPage`, as in the rest of the e2e suite.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import textwrap
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote
from urllib.request import Request, urlopen

from e2e_harness import (
    _INIT_SCRIPT,
    ARTIFACTS_DIR,
    DEFAULT_TIMEOUT,
    KERNEL_TIMEOUT,
    REPO_ROOT,
    VIEWPORT,
    NotebookPage,
    wait_until,
    write_notebook,
)

from codecompanion_ext.testing import ServerProcess, free_port, venv_script

PROXY_COMMAND = REPO_ROOT / "js" / "node_modules" / ".bin" / "configurable-http-proxy"
ADMIN_SERVICE = "e2e-harness"
SPAWN_TIMEOUT = 120.0  # seconds: a single-user server and JupyterLab on a busy 2-core machine

# What every single-user server is started with, after `jupyterhub-singleuser`: the same
# JupyterLab settings as LabServer's (no news, no update check, `window.jupyterapp`).
SINGLEUSER_ARGS = (
    "--LabApp.expose_app_in_browser=True",
    "--LabApp.news_url=None",
    "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    "--LabApp.extension_manager=readonly",
)


class HubProcess(ServerProcess):
    """`jupyterhub` on a free loopback port (the proxy's public port, `port`), its own API
    port (`hub_port`) and proxy API port; see the module's docstring."""

    name = "jupyterhub"

    def __init__(
        self,
        workdir: Path,
        users: Iterable[str] = ("teacher", "ana", "ben"),
        admin_users: Iterable[str] = (),
        *,
        allow_all: bool = False,
        services: Sequence[dict[str, Any]] = (),
        roles: Sequence[dict[str, Any]] = (),
        groups: dict[str, dict[str, Any]] | None = None,
        extra_config: str = "",
        singleuser_args: Sequence[str] = (),
        singleuser_env: dict[str, str] | None = None,
    ) -> None:
        super().__init__(workdir)
        self.users = list(users)
        self.admin_users = list(admin_users)
        self.allow_all = allow_all
        self.services = list(services)
        self.roles = list(roles)
        self.groups = dict(groups or {})
        self.extra_config = extra_config
        self.singleuser_args = list(singleuser_args)
        # How often a single-user server tells the hub about its activity (300 s by
        # default): short, so a test can see the hub's record move.
        self.singleuser_env = {"JUPYTERHUB_ACTIVITY_INTERVAL": "5", **(singleuser_env or {})}
        self.hub_port = free_port()
        self.proxy_api_port = free_port()
        self.password = "e2e-" + secrets.token_hex(8)
        self.token = secrets.token_hex(32)
        self.proxy_token = secrets.token_hex(32)
        self.homes = self.workdir / "homes"
        self.homes.mkdir(parents=True, exist_ok=True)
        self.config_path = self.workdir / "jupyterhub_config.py"

    # -- configuration

    def db_path(self, user: str) -> Path:
        """The room database of `user`'s single-user server."""
        return self.home(user) / ".codecompanion" / "rooms.db"

    def home(self, user: str) -> Path:
        return self.homes / user

    def config(self) -> str:
        """The jupyterhub_config.py this hub runs with."""
        if not PROXY_COMMAND.exists():
            raise FileNotFoundError(f"no {PROXY_COMMAND}: run `cd js && npm ci`")
        args = [*SINGLEUSER_ARGS, *self.singleuser_args]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            args.insert(0, "--allow-root")
        services = [
            {"name": ADMIN_SERVICE, "api_token": self.token},
            *self.services,
        ]
        roles = [
            {
                "name": "e2e-harness-admin",
                "scopes": ["admin:users", "admin:servers", "access:servers", "read:users"],
                "services": [ADMIN_SERVICE],
            },
            *self.roles,
        ]
        values = {
            "HOMES": str(self.homes),
            "SINGLEUSER_ARGS": args,
            "SINGLEUSER_ENV": self.singleuser_env,
        }
        head = "\n".join(f"{name} = {value!r}" for name, value in values.items())
        body = f"""
        from pathlib import Path

        c = get_config()  # noqa: F821

        c.JupyterHub.ip = "127.0.0.1"
        c.JupyterHub.port = {self.port}
        c.JupyterHub.hub_ip = "127.0.0.1"
        c.JupyterHub.hub_port = {self.hub_port}
        c.JupyterHub.db_url = {f"sqlite:///{self.workdir / 'jupyterhub.sqlite'}"!r}
        c.JupyterHub.cookie_secret_file = {str(self.workdir / "jupyterhub_cookie_secret")!r}
        c.JupyterHub.pid_file = {str(self.workdir / "jupyterhub.pid")!r}
        c.JupyterHub.cleanup_servers = True
        c.JupyterHub.cleanup_proxy = True
        # The proxy's routes are checked and activity read from it every few seconds.
        c.JupyterHub.last_activity_interval = 5

        c.ConfigurableHTTPProxy.command = [{str(PROXY_COMMAND)!r}]
        c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{self.proxy_api_port}"
        c.ConfigurableHTTPProxy.auth_token = {self.proxy_token!r}
        c.ConfigurableHTTPProxy.pid_file = {str(self.workdir / "proxy.pid")!r}

        c.JupyterHub.authenticator_class = "dummy"
        c.DummyAuthenticator.password = {self.password!r}
        c.Authenticator.allowed_users = {set(self.users)!r}
        c.Authenticator.admin_users = {set(self.admin_users)!r}
        c.Authenticator.allow_all = {self.allow_all!r}

        c.JupyterHub.spawner_class = "simple"
        c.SimpleLocalProcessSpawner.home_dir_template = HOMES + "/{{username}}"
        c.Spawner.cmd = [{venv_script("jupyterhub-singleuser")!r}]
        c.Spawner.ip = "127.0.0.1"
        c.Spawner.default_url = "/lab"
        c.Spawner.start_timeout = {int(SPAWN_TIMEOUT)}
        c.Spawner.http_timeout = {int(SPAWN_TIMEOUT)}
        c.Spawner.environment = dict(SINGLEUSER_ENV)


        def pre_spawn_hook(spawner):
            # Each user's own JupyterLab settings and room database, in their home.
            home = Path(HOMES) / spawner.user.name
            labconfig = home / ".jupyter" / "labconfig"
            labconfig.mkdir(parents=True, exist_ok=True)
            (labconfig / "page_config.json").write_text(
                '{{"disabledExtensions": '
                '{{"@jupyterlab/apputils-extension:announcements": true}}}}'
            )
            spawner.args = [
                *SINGLEUSER_ARGS,
                "--CodeCompanionApp.db_path=" + str(home / ".codecompanion" / "rooms.db"),
            ]


        c.Spawner.pre_spawn_hook = pre_spawn_hook

        c.JupyterHub.services = {services!r}
        c.JupyterHub.load_roles = {roles!r}
        c.JupyterHub.load_groups = {self.groups!r}
        """
        return head + "\n" + textwrap.dedent(body) + "\n" + textwrap.dedent(self.extra_config)

    def command(self) -> list[str]:
        self.config_path.write_text(self.config())
        return [venv_script("jupyterhub"), "-f", str(self.config_path)]

    def environment(self) -> dict[str, str]:
        env = super().environment()
        # The proxy's script runs `node` from the PATH; everything else is named in full.
        env["CONFIGPROXY_AUTH_TOKEN"] = self.proxy_token
        env.pop("JUPYTERHUB_API_TOKEN", None)
        return env

    # -- addresses and the REST API

    def hub_url(self, path: str = "") -> str:
        return self.url(f"hub/{path.lstrip('/')}")

    def user_url(self, user: str, path: str = "") -> str:
        """`/user/<name>/<path>`, through the proxy."""
        return self.url(f"user/{quote(user)}/{path.lstrip('/')}")

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}

    def is_ready(self) -> bool:
        return self.request("GET", "hub/api/", timeout=5)[0] == 200

    def api(self, method: str, *path: str, body: object = None, **kwargs: Any) -> tuple[int, Any]:
        """The hub's REST API with the admin token: `api("GET", "users", "ana")`."""
        return self.request(method, "/".join(["hub/api", *path]), body, **kwargs)

    def user_model(self, user: str) -> dict[str, Any]:
        status, model = self.api("GET", "users", user)
        assert status == 200, (status, model)
        return model

    def server_model(self, user: str) -> dict[str, Any] | None:
        """The hub's record of `user`'s default server (None when it has none)."""
        return (self.user_model(user).get("servers") or {}).get("")

    def start_server(self, user: str, timeout: float = SPAWN_TIMEOUT) -> dict[str, Any]:
        """Start `user`'s server (creating the user if needed); wait until the hub says it is
        ready and it answers through the proxy. Returns the hub's record of it."""
        if self.api("GET", "users", user)[0] == 404:
            status, answer = self.api("POST", "users", user)
            assert status == 201, (status, answer)
        server = self.server_model(user)
        if not (server and server.get("ready")):
            status, answer = self.api("POST", "users", user, "server", timeout=timeout)
            assert status in (201, 202, 400), (status, answer)  # 400: already starting
        self.wait_until(
            lambda: (self.server_model(user) or {}).get("ready"),
            timeout,
            f"{user}'s server to be ready",
        )
        self.wait_until(
            lambda: self.request("GET", f"user/{quote(user)}/api/status", timeout=5)[0] == 200,
            timeout,
            f"{user}'s server to answer through the proxy",
        )
        return self.server_model(user) or {}

    def stop_server(self, user: str, timeout: float = 60.0) -> None:
        """Stop `user`'s server and wait until the hub says it is gone."""
        status, answer = self.api("DELETE", "users", user, "server", timeout=timeout)
        assert status in (202, 204, 400), (status, answer)
        self.wait_until(
            lambda: self.server_model(user) is None, timeout, f"{user}'s server to stop"
        )

    def proxy_routes(self) -> dict[str, Any]:
        """The proxy's routing table (its REST API): `{"/user/ana/": {"target": ...}}`."""
        request = Request(
            f"http://127.0.0.1:{self.proxy_api_port}/api/routes",
            headers={"Authorization": f"token {self.proxy_token}"},
        )
        with urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def server_direct_url(self, user: str, path: str = "") -> str:
        """`path` on `user`'s server at its own address, bypassing the proxy (so that the
        request is not seen as activity by the proxy)."""
        prefix = f"/user/{quote(user)}"
        routes = {route.rstrip("/"): spec for route, spec in self.proxy_routes().items()}
        target = routes[prefix]["target"].rstrip("/")
        return f"{target}{prefix}/{path.lstrip('/')}"

    def server_status(self, user: str) -> dict[str, Any]:
        """`/api/status` of `user`'s own server, asked directly (not through the proxy): its
        `last_activity` is the server's own view, which it reports to the hub. Jupyter does
        not count this request as activity."""
        request = Request(self.server_direct_url(user, "api/status"), headers=self.headers)
        with urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def write_notebook(
        self,
        user: str,
        path: str,
        cells: Sequence[str | dict[str, Any]],
        metadata: dict[str, Any] | None = None,
    ) -> str:
        """A notebook in `user`'s home (their server's root dir); see e2e_harness's."""
        return write_notebook(self.home(user), path, cells, metadata)

    def shutdown_kernels(self, user: str) -> None:
        """Shut down `user`'s sessions and kernels, if their server runs (tests must not
        leave kernels behind on 2 cores)."""
        if not self.running or not (self.server_model(user) or {}).get("ready"):
            return
        status, sessions = self.request("GET", f"user/{quote(user)}/api/sessions")
        for session in sessions if status == 200 else []:
            self.request("DELETE", f"user/{quote(user)}/api/sessions/{session['id']}", timeout=30)


class HubUserLab:
    """One hub user's JupyterLab, in the shape `NotebookPage` expects of a `LabServer`
    (`lab_url`, `root_dir`, `write_notebook`): the hub's proxy serves it at `/user/<name>/`,
    and the hub's login cookie, not a token, opens it."""

    def __init__(self, hub: HubProcess, user: str) -> None:
        self.hub = hub
        self.user = user
        self.root_dir = hub.home(user)

    def lab_url(self, workspace: str | None = None, token: bool = False) -> str:
        path = "lab" if workspace is None else f"lab/workspaces/{workspace}"
        return self.hub.user_url(self.user, path)

    def url(self, path: str = "") -> str:
        return self.hub.user_url(self.user, path)

    def write_notebook(
        self,
        path: str,
        cells: Sequence[str | dict[str, Any]],
        metadata: dict[str, Any] | None = None,
    ) -> str:
        return self.hub.write_notebook(self.user, path, cells, metadata)

    def shutdown_kernels(self) -> None:
        self.hub.shutdown_kernels(self.user)


def hub_login(page: Any, hub: HubProcess, user: str, next_path: str = "/hub/home") -> None:
    """Sign `page` into the hub with the login form (`next_path`: where to go after)."""
    page.goto(hub.hub_url(f"login?next={quote(next_path)}"), wait_until="domcontentloaded")
    page.fill("#username_input", user)
    page.fill("#password_input", hub.password)
    with page.expect_navigation(wait_until="domcontentloaded", timeout=SPAWN_TIMEOUT * 1000):
        page.click("#login_submit")


def hub_user(
    browser: Any, hub: HubProcess, user: str, timeout: float = DEFAULT_TIMEOUT
) -> NotebookPage:
    """A new browser context (one person) signed into the hub as `user`, with their server
    started and their JupyterLab open (a workspace of its own): a `NotebookPage`."""
    hub.start_server(user)
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(timeout * 1000)
    context.add_init_script(_INIT_SCRIPT)
    page = context.new_page()
    person = NotebookPage(HubUserLab(hub, user), context, page, user)
    try:
        lab = person.lab.lab_url(person.workspace)
        hub_login(page, hub, user, next_path=lab[len(hub.base) :])
        # The hub sends the browser on to the server, which signs it in with the hub (OAuth)
        # and shows JupyterLab.
        person.wait_for_app(KERNEL_TIMEOUT)
        wait_until(
            lambda: page.url.startswith(hub.user_url(user, "lab")),
            timeout,
            message=lambda: f"{user}'s JupyterLab (at {page.url})",
        )
    except Exception:
        context.close()
        raise
    return person


@contextlib.contextmanager
def running_hub(workdir: Path, log_name: str, **options: Any) -> Iterator[HubProcess]:
    """A started `HubProcess(workdir, **options)`, stopped afterwards (servers and proxy
    too), its log kept as test-artifacts/e2e/logs/<log_name>.hub.log."""
    hub = HubProcess(workdir, **options)
    try:
        hub.start(timeout=SPAWN_TIMEOUT)
        yield hub
    finally:
        hub.stop()
        logs = ARTIFACTS_DIR / "e2e" / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        (logs / f"{log_name}.hub.log").write_text(hub.log())


def page_config(page: Any) -> dict[str, Any]:
    """JupyterLab's page config (`#jupyter-config-data`) of an open page."""
    text = page.evaluate(
        "() => document.getElementById('jupyter-config-data')?.textContent || '{}'"
    )
    return json.loads(text)


__all__ = ["HubProcess", "HubUserLab", "hub_login", "hub_user", "page_config", "running_hub"]
