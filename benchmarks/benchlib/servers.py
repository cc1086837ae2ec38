"""The three servers under test, each started on loopback as its users would run it.

- ours: the `codecompanion` standalone room server, persisting every update to SQLite;
  `ours@<rev>` variants run it as it was at an earlier git revision (`run.py --compare`);
- pycrdt-websocket: the engine of JupyterLab's real-time collaboration, as ASGI on uvicorn;
- the y-websocket reference server (`@y/websocket-server`), in memory, the bar to clear.

Each hands out WebSocket URLs for fresh rooms, and reports the CPU time and resident
memory of its process, read from /proc by psutil.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import urllib.request
import uuid
from pathlib import Path

import psutil
from pycrdt import Doc, Text

from codecompanion_ext.testing import ServerProcess, venv_script

BENCHMARKS = Path(__file__).resolve().parent.parent
ROOT = BENCHMARKS.parent
NODE_MODULES = BENCHMARKS / "node_modules"
PACKAGE = "codecompanion_ext"


class Server(ServerProcess):
    """A server process under test (the tests' harness); subclasses say how to start it
    and name its rooms."""

    name = ""
    label = ""
    persists = False

    def __init__(self, workdir: Path, persist: bool = False) -> None:
        super().__init__(workdir)

    def start(self, timeout: float = 60.0) -> Server:
        super().start(timeout)
        assert self.proc is not None
        self.ps = psutil.Process(self.proc.pid)
        return self

    def stop(self, timeout: float = 120.0) -> int | None:  # a store may still be writing
        return super().stop(timeout)

    def restart(self, timeout: float = 60.0) -> Server:
        """A graceful restart: what a store wrote must be there again."""
        self.stop()
        return self.start(timeout)

    def cpu_seconds(self) -> float:
        times = self.ps.cpu_times()
        return times.user + times.system

    def rss(self) -> int:
        return self.ps.memory_info().rss

    def new_rooms(self, count: int) -> list[str]:
        """WebSocket URLs of `count` fresh, empty rooms."""
        return [self.room_url(f"bench-{uuid.uuid4().hex[:12]}") for _ in range(count)]

    def room_url(self, room_name: str) -> str:
        return f"ws://127.0.0.1:{self.port}/{room_name}"

    def stored_text_hashes(self, room_urls: list[str]) -> list[str] | None:
        """SHA-256 of each room's text as stored on disk (None: this server stores nothing)."""
        return None


class Ours(Server):
    name = "ours"
    label = "Code Companion (SQLite)"
    persists = True
    extra_args: tuple[str, ...] = ()  # e.g. --CodeCompanionApp.synchronous=FULL

    def command(self) -> list[str]:
        return [venv_script("codecompanion"), *self.arguments()]

    def arguments(self) -> list[str]:
        return [
            "--ip=127.0.0.1",
            f"--port={self.port}",
            f"--db={self.workdir / 'ours.db'}",
            # The runner creates hundreds of rooms from one address in a minute.
            "--CodeCompanionApp.rooms_per_minute_per_address=0",
            "--ServerApp.log_level=WARN",
            *self.extra_args,
        ]

    def new_rooms(self, count: int) -> list[str]:
        urls = []
        for _ in range(count):
            request = urllib.request.Request(
                f"http://127.0.0.1:{self.port}/codecompanion/api/rooms",
                data=json.dumps({"name": "bench", "programmingLanguage": "python"}).encode(),
                headers={"Content-Type": "application/json"},
                method="POST",
            )
            with urllib.request.urlopen(request, timeout=30) as response:
                room = json.load(response)
            key = room["links"]["edit"].split("?key=", 1)[1]
            urls.append(f"ws://127.0.0.1:{self.port}/codecompanion/ws/{room['roomId']}?key={key}")
        return urls

    def stored_text_hashes(self, room_urls: list[str]) -> list[str] | None:
        database = self.workdir / "ours.db"
        hashes = []
        with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as conn:
            for url in room_urls:
                room_id = url.split("/codecompanion/ws/", 1)[1].split("?", 1)[0]
                doc = Doc()
                text = doc.get("code", type=Text)
                query = "SELECT data FROM updates WHERE room_id = ? ORDER BY id"
                for (update,) in conn.execute(query, (room_id,)):
                    doc.apply_update(update)
                hashes.append(hashlib.sha256(str(text).encode()).hexdigest())
        return hashes


class OursAt(Ours):
    """Our server as it was at an earlier git revision: that revision's package, exported
    by `git archive`, run with this interpreter and the same arguments as `Ours`.

    `revision()` makes a subclass per revision; `check_import()` proves that the process
    imports the export and not the editable install of the working tree.
    """

    commit = ""  # the full hash
    requested = ""  # the revision as given (HEAD~3, a tag, a hash)
    source = Path()  # the directory holding the exported package

    # The `codecompanion` console script, run from whichever package comes first on the path.
    LAUNCH = "import sys; from codecompanion_ext.standalone import main; sys.exit(main())"
    PROBE = "import codecompanion_ext.standalone as s; print(s.__file__)"

    def __init__(self, workdir: Path, persist: bool = False) -> None:
        super().__init__(workdir, persist)
        path = [str(self.source), *filter(None, [os.environ.get("PYTHONPATH")])]
        self.extra_env = {"PYTHONPATH": os.pathsep.join(path)}

    def command(self) -> list[str]:
        return [sys.executable, "-c", self.LAUNCH, *self.arguments()]

    @classmethod
    def revision(cls, rev: str, into: Path) -> type[OursAt]:
        """The server class `ours@<short rev>`: exports `rev`'s package under `into`."""
        commit = git("rev-parse", "--verify", f"{rev}^{{commit}}")
        short = git("rev-parse", "--short", commit)
        source = into / short
        source.mkdir(parents=True)
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", commit, PACKAGE], capture_output=True
        )
        if archive.returncode != 0:
            raise RuntimeError(f"git archive {short} {PACKAGE} failed: {archive.stderr.decode()}")
        subprocess.run(["tar", "-x", "-C", str(source)], input=archive.stdout, check=True)
        if not (source / PACKAGE / "standalone.py").exists():
            raise RuntimeError(f"{rev} ({short}) has no {PACKAGE}/standalone.py to run")
        # The built front end (static/) is not in git. Rooms never load it, but importing
        # the widget module needs its files: lend the working tree's build, if there is one.
        static = source / PACKAGE / "static"
        if not static.exists():
            built = ROOT / PACKAGE / "static"
            if built.is_dir():
                shutil.copytree(built, static)
            else:
                static.mkdir()
        return type(
            f"OursAt_{short}",
            (cls,),
            {
                "name": f"ours@{short}",
                "label": f"Code Companion at {short}",
                "commit": commit,
                "requested": rev,
                "source": source,
            },
        )

    def check_import(self) -> Path:
        """Where this server's process imports the package from, with its very environment;
        fails unless that is the export."""
        probe = subprocess.run(
            [sys.executable, "-c", self.PROBE],
            cwd=self.workdir,
            env=self.environment(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        expected = (self.source / PACKAGE / "standalone.py").resolve()
        found = Path(probe.stdout.strip()).resolve() if probe.returncode == 0 else None
        if found != expected:
            raise RuntimeError(
                f"{self.name} would not run its export: {PACKAGE}.standalone comes from"
                f" {found or 'nowhere'} instead of {expected}\n{probe.stderr[-2000:]}"
            )
        return found


def git(*args: str) -> str:
    """A git command in the repository's root; its output, stripped."""
    run = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True)
    if run.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed: {run.stderr.strip()}")
    return run.stdout.strip()


class PycrdtWebsocket(Server):
    name = "pycrdt-websocket"
    label = "pycrdt-websocket (uvicorn)"

    def __init__(self, workdir: Path, persist: bool = False) -> None:
        super().__init__(workdir)
        self.persists = persist  # SQLiteYStore

    def command(self) -> list[str]:
        script = BENCHMARKS / "servers" / "pycrdt_websocket_server.py"
        args = [sys.executable, str(script), "--port", str(self.port)]
        if self.persists:
            args += ["--store", str(self.workdir / "pycrdt-websocket.db")]
        return args


class YWebsocketServer(Server):
    name = "y-websocket"
    label = "y-websocket server (Node)"

    def __init__(self, workdir: Path, persist: bool = False) -> None:
        super().__init__(workdir)
        self.persists = persist  # YPERSISTENCE (LevelDB)

    def command(self) -> list[str]:
        script = NODE_MODULES / "@y" / "websocket-server" / "src" / "server.js"
        self.extra_env = {"HOST": "127.0.0.1", "PORT": str(self.port)}
        if self.persists:
            self.extra_env["YPERSISTENCE"] = str(self.workdir / "y-websocket-leveldb")
        return ["node", str(script)]


SERVERS = {cls.name: cls for cls in (Ours, PycrdtWebsocket, YWebsocketServer)}
