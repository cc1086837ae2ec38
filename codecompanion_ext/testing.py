"""Real servers in subprocesses, for the test suite and the benchmarks: one harness.

Each server gets a free loopback port, Jupyter directories of its own under a work
directory (no user configuration leaks in), a stdout and a stderr file per start, a
readiness poll with a deadline, and stop/kill that take its child processes (kernels)
along. Python programs run with this interpreter and scripts come from beside it, never
from the PATH: a `codecompanion` or `jupyter` from another environment must not answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.request import Request, urlopen

BANNER = "Code Companion rooms are open at:"
"""What the standalone server prints once it serves rooms."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def venv_script(name: str) -> str:
    """The console script `name` installed beside this interpreter (its venv's bin)."""
    script = Path(sys.executable).with_name(name)
    if not script.exists():
        raise FileNotFoundError(f"no {name} beside {sys.executable}: run pip install -e . there")
    return str(script)


def descendants(pid: int) -> list[int]:
    """Pids of every process below `pid` (kernels are started in sessions of their own, so
    they would outlive a killed server)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # "pid (comm) state ppid ...": comm may hold spaces and parens.
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
    found: list[int] = []
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        children = [child for child, ppid in parents.items() if ppid == parent]
        found.extend(children)
        frontier.extend(children)
    return found


def _signal_all(pids: Sequence[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def decode_body(body: bytes, headers: Any) -> Any:
    """A response body: parsed JSON when it says it is JSON, else text."""
    text = body.decode("utf-8", errors="replace")
    if headers.get("Content-Type", "").startswith("application/json"):
        return json.loads(text)
    return text


class ServerProcess:
    """A server in a subprocess on `port`; subclasses say how to start it and when it is up."""

    name = "server"

    def __init__(
        self, workdir: Path, args: Sequence[str] = (), env: dict[str, str] | None = None
    ) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.args = tuple(args)
        self.extra_env = dict(env or {})
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    # -- what subclasses define

    def command(self) -> list[str]:
        raise NotImplementedError

    def is_ready(self) -> bool:
        """Whether the server answers (called until it does); default: the port accepts."""
        with socket.create_connection(("127.0.0.1", self.port), 0.5):
            return True

    def environment(self) -> dict[str, str]:
        env = {
            **os.environ,
            **{
                f"JUPYTER_{kind.upper()}_DIR": str(self.workdir / kind)
                for kind in ("config", "data", "runtime")
            },
            "IPYTHONDIR": str(self.workdir / "ipython"),
            "PYTHONUNBUFFERED": "1",
            **self.extra_env,
        }
        env.pop("JUPYTER_TOKEN", None)
        return env

    # -- addresses

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str = "") -> str:
        return f"{self.base}/{path.lstrip('/')}"

    # -- lifecycle

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = 90.0) -> ServerProcess:
        """Start (on the same port every time) and wait until `is_ready`."""
        assert not self.running, "already running"
        self.starts += 1
        with (
            open(self._output_path("out"), "wb") as out,
            open(self._output_path("err"), "wb") as err,
        ):
            self.proc = subprocess.Popen(
                self.command(),
                cwd=self.workdir,
                env=self.environment(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
            )
        self.wait_until(self.is_ready, timeout, "the server to answer")
        return self

    def wait_until(self, ready: Callable[[], bool], timeout: float, what: str) -> None:
        """Poll `ready` (exceptions count as "not yet") until true; fail if the process
        exits or the deadline passes, with its output."""
        deadline = time.monotonic() + timeout
        while True:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.proc.returncode}:\n{self.output()}"
                )
            with contextlib.suppress(URLError, OSError, ValueError):
                if ready():
                    return
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(
                    f"timed out after {timeout}s waiting for {what}:\n{self.output()}"
                )
            time.sleep(0.05)

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM (a graceful stop), SIGKILL if it hangs; returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            children = descendants(self.proc.pid)
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(30)
            _signal_all([pid for pid in children if Path(f"/proc/{pid}").exists()], signal.SIGKILL)
        return self.proc.returncode

    def kill(self, children: bool = True) -> None:
        """SIGKILL: no shutdown hook, no flush, no goodbye (its children too, unless told)."""
        if self.proc is None:
            return
        orphans = descendants(self.proc.pid) if children and self.running else []
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)
        _signal_all(orphans, signal.SIGKILL)

    def restart(self, timeout: float = 90.0) -> ServerProcess:
        """Crash and come back: SIGKILL, then start on the same port."""
        self.kill()
        return self.start(timeout)

    # -- output

    def _output_path(self, stream: str, start: int | None = None) -> Path:
        return self.workdir / f"{self.name}-{start or self.starts}.{stream}.txt"

    def _read(self, stream: str, start: int | None = None) -> str:
        path = self._output_path(stream, start)
        return path.read_text(errors="replace") if path.exists() else ""

    def stdout(self) -> str:
        """What the current (last) start printed to stdout."""
        return self._read("out")

    def output(self) -> str:
        """stdout, then stderr (Jupyter's log), of the current start."""
        return self._read("out") + self._read("err")

    def log(self) -> str:
        """The output of every start so far, in order."""
        return "".join(
            f"===== start #{n} on port {self.port} =====\n"
            + self._read("out", n)
            + self._read("err", n)
            for n in range(1, self.starts + 1)
        )

    def log_tail(self, lines: int = 150) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    # -- HTTP

    @property
    def headers(self) -> dict[str, str]:
        """Headers every request carries (a token, for servers that have one)."""
        return {}

    def request(
        self,
        method: str,
        path: str,
        body: object = None,
        headers: dict[str, str] | None = None,
        timeout: float = 10.0,
    ) -> tuple[int, Any]:
        """(status, parsed JSON or text) of `path` under the server's root; never raises
        on an HTTP error status."""
        data = None if body is None else json.dumps(body).encode()
        all_headers = {**self.headers, **(headers or {})}
        if data is not None:
            all_headers["Content-Type"] = "application/json"
        request = Request(self.url(path), data=data, method=method, headers=all_headers)
        try:
            with urlopen(request, timeout=timeout) as response:
                return response.status, decode_body(response.read(), response.headers)
        except HTTPError as e:
            return e.code, decode_body(e.read(), e.headers)

    async def arequest(self, *args: Any, **kwargs: Any) -> tuple[int, Any]:
        return await asyncio.to_thread(self.request, *args, **kwargs)

    def api(self, method: str, *path: str, body: object = None, **kwargs: Any) -> tuple[int, Any]:
        """The room REST API: `api("GET", "rooms", room_id, "content")`."""
        return self.request(method, "/".join(["codecompanion/api", *path]), body, **kwargs)

    async def aapi(self, method: str, *path: str, **kwargs: Any) -> tuple[int, Any]:
        return await asyncio.to_thread(self.api, method, *path, **kwargs)

    @property
    def ws_base(self) -> str:
        """The serverUrl of a y-websocket provider: rooms are at `{ws_base}/{roomId}`."""
        return f"ws://127.0.0.1:{self.port}/codecompanion/ws"


class JupyterServerProcess(ServerProcess):
    """A Jupyter application (`python -m jupyter_server` by default) with the extension on,
    a known token, the work directory as its root, and its own room database."""

    name = "jupyter"
    module = "jupyter_server"

    def __init__(
        self,
        workdir: Path,
        args: Sequence[str] = (),
        env: dict[str, str] | None = None,
        db_path: Path | None = None,
        root_dir: Path | None = None,
    ) -> None:
        super().__init__(workdir, args, env)
        self.db_path = Path(db_path or self.workdir / "rooms.db")
        self.root_dir = Path(root_dir or self.workdir)
        self.root_dir.mkdir(parents=True, exist_ok=True)
        self.token = secrets.token_hex(16)

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            self.module,
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={self.port}",
            "--port-retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root_dir}",
            "--ServerApp.allow_root=True",
            "--ServerApp.jpserver_extensions=codecompanion_ext=True",
            f"--CodeCompanionApp.db_path={self.db_path}",
            *self.args,
        ]

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}

    def is_ready(self) -> bool:
        return self.request("GET", "api/status", timeout=5)[0] == 200


class StandaloneServerProcess(ServerProcess):
    """The `codecompanion` command, as a teacher runs it (args such as `--db=...`)."""

    name = "codecompanion"

    def command(self) -> list[str]:
        return [
            venv_script("codecompanion"),
            "--ip=127.0.0.1",
            f"--port={self.port}",
            "--port-retries=0",
            *self.args,
        ]

    def is_ready(self, banners: int = 1) -> bool:
        """Its banner is printed (`banners` times: `--dev` prints one per reload) and it
        answers."""
        return self.stdout().count(BANNER) >= banners and self.request("GET", "api")[0] == 200

    def wait_ready(self, timeout: float = 60.0, banners: int = 1) -> None:
        self.wait_until(lambda: self.is_ready(banners), timeout, f"banner #{banners}")

    def jupyter_token(self) -> str:
        """The random Jupyter token it never prints (from its server info file)."""
        assert self.proc is not None
        info = self.workdir / "runtime" / f"jpserver-{self.proc.pid}.json"
        return json.loads(info.read_text())["token"]
