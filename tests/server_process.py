"""A Jupyter server with the extension in its own process, to kill and restart in tests."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.error import HTTPError, URLError
from urllib.request import Request, urlopen


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerProcess:
    """`jupyter server` on loopback with a token, a room database and a log file."""

    def __init__(self, workdir: Path, db_path: Path, extra_args: tuple[str, ...] = ()) -> None:
        self.workdir = workdir
        self.db_path = db_path
        self.extra_args = extra_args
        self.port = free_port()
        self.token = "test-token-" + os.urandom(8).hex()
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_base(self) -> str:
        return f"ws://127.0.0.1:{self.port}/codecompanion/ws"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}

    def start(self, timeout: float = 60.0, ready_status: int = 200) -> ServerProcess:
        self.starts += 1
        env = {
            **os.environ,
            "JUPYTER_CONFIG_DIR": str(self.workdir / "config"),
            "JUPYTER_DATA_DIR": str(self.workdir / "data"),
            "JUPYTER_RUNTIME_DIR": str(self.workdir / "runtime"),
        }
        log = open(self.workdir / f"server-{self.starts}.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jupyter_server",
                "--no-browser",
                "--ip=127.0.0.1",
                f"--port={self.port}",
                "--port-retries=0",
                f"--IdentityProvider.token={self.token}",
                f"--ServerApp.root_dir={self.workdir}",
                "--ServerApp.allow_root=True",
                "--ServerApp.jpserver_extensions=codecompanion_ext=True",
                f"--CodeCompanionApp.db_path={self.db_path}",
                *self.extra_args,
            ],
            cwd=self.workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            try:
                status, _ = self.request("GET", "rooms")
                if status == ready_status:
                    return self
            except (URLError, ConnectionError, OSError):
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"server did not answer within {timeout}s:\n{self.log()}")
            time.sleep(0.05)

    def log(self) -> str:
        return (self.workdir / f"server-{self.starts}.log").read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL: no shutdown hook, no flush, no goodbye."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(30)

    def request(self, method: str, *path: str, body: object = None) -> tuple[int, object]:
        url = "/".join([self.base, "codecompanion/api", *path])
        data = None if body is None else json.dumps(body).encode()
        request = Request(url, data=data, method=method, headers=self.headers)
        try:
            with urlopen(request, timeout=10) as response:
                return response.status, _decode(response.read(), response.headers)
        except HTTPError as e:
            return e.code, _decode(e.read(), e.headers)

    async def arequest(self, method: str, *path: str, body: object = None) -> tuple[int, object]:
        return await asyncio.to_thread(self.request, method, *path, body=body)


def _decode(body: bytes, headers: object) -> object:
    content_type = headers.get("Content-Type", "")  # type: ignore[attr-defined]
    text = body.decode("utf-8")
    return json.loads(text) if content_type.startswith("application/json") else text
