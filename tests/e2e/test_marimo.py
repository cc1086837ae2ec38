"""CodeRoom in a notebook host that is not Jupyter: marimo (`marimo run`, the app view) in
headless Chromium.

The marimo page has no Jupyter login anywhere, so the room lives on a standalone
`codecompanion` server: the marimo kernel creates it there with the server's creation token
(`CodeRoom(name=..., server=..., token=...)`, the token never reaching the page), or the
widget joins one by its link (`CodeRoom.join(link)`), and people in JupyterLab or on the
room page co-edit with it.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from e2e_harness import ARTIFACTS_DIR, LabServer, editor_text, join_as, wait_until

from codecompanion_ext.testing import ServerProcess, StandaloneServerProcess, venv_script

CREATION_TOKEN = "marimo-e2e-creation-token-5d1c"
TOKEN_VARIABLE = "CC_E2E_CREATION_TOKEN"
CONNECTED = ".cc-status[data-status=connected]"
SHOTS = ARTIFACTS_DIR / "e2e" / "marimo"

# The text of a room editor element as people see it (lines, without cursor name labels).
# Locators reach into marimo's shadow roots, where `document.querySelectorAll` does not.
EDITOR_ELEMENT_TEXT = """(content) => Array.from(content.querySelectorAll('.cm-line'), (line) => {
  const copy = line.cloneNode(true);
  copy.querySelectorAll('.cm-ySelectionCaret').forEach((caret) => caret.remove());
  return copy.textContent;
}).join('\\n')"""


class MarimoApp(ServerProcess):
    """`marimo run notebook.py` on a loopback port: the notebook as an app, no token, no
    browser, no sandbox, marimo's own config and caches under the work directory."""

    name = "marimo"

    def __init__(self, workdir: Path, notebook: str, env: dict[str, str]) -> None:
        super().__init__(workdir, env=env)
        self.notebook = self.workdir / "notebook.py"
        self.notebook.write_text(notebook)

    def command(self) -> list[str]:
        return [
            venv_script("marimo"),
            "run",
            str(self.notebook),
            "--headless",
            "--host=127.0.0.1",
            f"--port={self.port}",
            "--no-token",
            "--no-sandbox",
        ]

    def environment(self) -> dict[str, str]:
        return {
            **super().environment(),
            **{
                f"XDG_{kind}_HOME": str(self.workdir / kind.lower())
                for kind in ("CONFIG", "CACHE", "STATE", "DATA")
            },
            "MARIMO_SKIP_UPDATE_CHECK": "1",
        }

    def is_ready(self) -> bool:
        return self.request("GET", "", timeout=5)[0] == 200


def marimo_notebook(*cells: str) -> str:
    """A marimo notebook file: each cell is `def _(<inputs>):` + body + `return <outputs>`,
    given as (signature line, body) text blocks."""
    parts = ["import marimo\n\napp = marimo.App()\n"]
    for cell in cells:
        parts.append("\n@app.cell\n" + textwrap.dedent(cell).strip() + "\n")
    parts.append('\nif __name__ == "__main__":\n    app.run()\n')
    return "\n".join(parts)


# Shows what the marimo kernel knows of a CodeRoom, as JSON (it re-runs when a trait changes).
KERNEL_VIEW_CELL = """
def _(editor, mo):
    import html
    import json

    seen = {k: editor.value[k] for k in ("status", "online", "code", "link", "error")}
    shown = html.escape(json.dumps(seen))
    mo.Html(f'<pre class="kernel-view" style="white-space: pre-wrap">{shown}</pre>')
    return
"""


@pytest.fixture(scope="module")
def room_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StandaloneServerProcess]:
    """A standalone room server that creates rooms only with its creation token."""
    workdir = tmp_path_factory.mktemp("rooms")
    server = StandaloneServerProcess(
        workdir, [f"--db={workdir / 'rooms.db'}", f"--creation-token={CREATION_TOKEN}"]
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()
        logs = ARTIFACTS_DIR / "e2e" / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        (logs / "test_marimo.room-server.log").write_text(server.log())


@pytest.fixture
def marimo(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Any]:
    """`marimo(notebook_text) -> MarimoApp`, started; stopped after the test."""
    apps: list[MarimoApp] = []

    def start(notebook: str) -> MarimoApp:
        app = MarimoApp(tmp_path / f"marimo{len(apps)}", notebook, {TOKEN_VARIABLE: CREATION_TOKEN})
        apps.append(app)
        return app.start()

    yield start
    for app in apps:
        app.stop()
        logs = ARTIFACTS_DIR / "e2e" / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        (logs / f"{request.node.name}.{app.workdir.name}.log").write_text(app.log())


class Traffic:
    """What a page received (HTTP bodies and WebSocket frames) and which requests left the
    loopback interface (refused: marimo and the rooms must work offline)."""

    def __init__(self, page: Any) -> None:
        self.responses: list[Any] = []
        self.frames: list[str] = []
        self.outside: list[str] = []
        page.context.route("**/*", self._route)
        page.on("response", lambda response: self.responses.append(response))
        page.on("websocket", self._websocket)

    def _route(self, route: Any) -> None:
        host = urlsplit(route.request.url).hostname
        if host in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            self.outside.append(route.request.url)
            route.abort()

    def _websocket(self, socket: Any) -> None:
        def keep(payload: str | bytes) -> None:
            self.frames.append(
                payload if isinstance(payload, str) else payload.decode("utf-8", "replace")
            )

        socket.on("framereceived", keep)

    def holds(self, secret: str) -> list[str]:
        """Where `secret` showed up in what the page received."""
        found = [f"websocket frame: {frame[:200]}" for frame in self.frames if secret in frame]
        for response in self.responses:
            try:
                body = response.body()
            except Exception:  # a redirect, or a body the page no longer holds
                continue
            if secret.encode() in body:
                found.append(f"response {response.url}")
            if secret in response.url:
                found.append(f"url {response.url}")
        return found


def link_key(link: str) -> dict[str, str]:
    """Headers that open the room of `link` (its key), as a guest's REST calls do."""
    return {"X-Room-Key": parse_qs(urlsplit(link).query)["key"][0]}


def shoot(page: Any, name: str) -> Path:
    target = SHOTS / f"{name}.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(target))
    return target


def room_text(room: Any) -> str:
    return room.locator(".cm-content").evaluate(EDITOR_ELEMENT_TEXT)


def online(room: Any) -> set[str]:
    return set(room.locator(".cc-online .cc-name").all_inner_texts())


def kernel_view(page: Any, index: int = 0) -> dict[str, Any]:
    return json.loads(page.locator(".kernel-view").nth(index).inner_text())


def type_at_end(page: Any, room: Any, text: str) -> None:
    room.locator(".cm-content").click()
    page.keyboard.press("Control+End")
    page.keyboard.type(text)


def test_marimo_creates_a_room_on_a_standalone_server_and_a_lab_user_co_edits(
    room_server: StandaloneServerProcess, marimo, guests, lab: LabServer, user
) -> None:
    app = marimo(
        marimo_notebook(
            f"""
            def _():
                import os

                import marimo as mo

                from codecompanion_ext import CodeRoom

                room = CodeRoom(
                    name="Mia", server={room_server.base!r}, token=os.environ[{TOKEN_VARIABLE!r}]
                )
                editor = mo.ui.anywidget(room)
                editor
                return editor, mo
            """,
            KERNEL_VIEW_CELL,
        )
    )
    mia = guests("mia")
    traffic = Traffic(mia)
    mia.goto(app.url())
    mia.wait_for_selector(CONNECTED, timeout=60_000)
    mia_room = mia.locator(".cc-room")

    # The room is on the standalone server, owned by Mia, and the marimo kernel has its link.
    status, listing = room_server.api(
        "GET", "rooms", headers={"Authorization": f"token {room_server.jupyter_token()}"}
    )
    assert status == 200
    [room] = [r for r in listing["rooms"] if r["owner"] == "Mia"]
    link = room["links"]["edit"]
    assert link.startswith(room_server.base)
    wait_until(lambda: kernel_view(mia)["link"] == link, 30, message="the link in marimo's kernel")

    # A JupyterLab user joins by the link, and they co-edit.
    notebook = lab.write_notebook(
        "from-marimo.ipynb",
        [
            f"from codecompanion_ext import CodeRoom\nroom = CodeRoom.join({link!r}, name='Leo')",
            "room",
        ],
    )
    leo = user("leo").open_notebook(notebook)
    leo.run_all()
    leo.page.wait_for_selector(CONNECTED, timeout=60_000)
    leo_room = leo.page.locator(".cc-room")

    type_at_end(mia, mia_room, "print('typed in marimo')")
    wait_until(
        lambda: editor_text(leo.page) == "print('typed in marimo')", 30, message="Mia's line in Lab"
    )
    type_at_end(leo.page, leo_room, "\nprint('typed in lab')")
    both = "print('typed in marimo')\nprint('typed in lab')"
    wait_until(lambda: room_text(mia_room) == both, 30, message="Leo's line in marimo")
    wait_until(lambda: online(mia_room) == {"Mia", "Leo"}, 30, message="both online in marimo")
    wait_until(lambda: online(leo_room) == {"Mia", "Leo"}, 30, message="both online in Lab")

    # Both kernels see the shared code; so does the server.
    wait_until(lambda: kernel_view(mia)["code"] == both, 30, message="the code in marimo's kernel")
    leo.wait_for_kernel_value("print(room.code)", both)
    content = room_server.api("GET", "rooms", room["roomId"], "content", headers=link_key(link))
    assert content == (200, both)
    _, record = room_server.api("GET", "rooms", room["roomId"], headers=link_key(link))
    assert record["participants"] == ["Mia", "Leo"]
    assert kernel_view(mia)["status"] == "connected"

    shoot(mia, "create-marimo")
    leo.screenshot("e2e/marimo/create-lab.png")
    # The creation token stayed in the marimo kernel; marimo needed nothing from outside.
    assert traffic.holds(CREATION_TOKEN) == []
    assert traffic.holds(link_key(link)["X-Room-Key"]), "the check must see what the page got"
    assert traffic.outside == []


def test_marimo_joins_a_room_by_its_link_and_says_where_it_cannot_create_one(
    room_server: StandaloneServerProcess, marimo, guests
) -> None:
    status, room = room_server.api(
        "POST",
        "rooms",
        body={"name": "Teacher", "programmingLanguage": "python"},
        headers={"X-Creation-Token": CREATION_TOKEN},
    )
    assert status == 201
    link = room["links"]["edit"]
    app = marimo(
        marimo_notebook(
            f"""
            def _():
                import marimo as mo

                from codecompanion_ext import CodeRoom

                joined = CodeRoom.join({link!r}, name="Mo")
                editor = mo.ui.anywidget(joined)
                editor
                return CodeRoom, editor, mo
            """,
            KERNEL_VIEW_CELL,
            # No server named: there is no Jupyter server behind a marimo page to create on.
            """
            def _(CodeRoom, mo):
                here = mo.ui.anywidget(CodeRoom(name="Ana"))
                here
                return (here,)
            """,
            """
            def _(here, mo):
                import html as html_
                import json as json_

                mo.Html(
                    '<pre class="kernel-view" style="white-space: pre-wrap">'
                    + html_.escape(json_.dumps({k: here.value[k] for k in ("status", "error")}))
                    + "</pre>"
                )
                return
            """,
        )
    )
    mo_page = guests("mo")
    traffic = Traffic(mo_page)
    mo_page.goto(app.url())
    mo_page.wait_for_selector(CONNECTED, timeout=60_000)
    rooms = mo_page.locator(".cc-room")
    joined, here = rooms.nth(0), rooms.nth(1)

    # A guest on the room page co-edits with the marimo user.
    gus = guests("gus")
    join_as(gus, link, "Gus")
    type_at_end(mo_page, joined, "x = 'from marimo'")
    wait_until(
        lambda: editor_text(gus) == "x = 'from marimo'", 30, message="marimo's line on the page"
    )
    gus.locator(".cc-room .cm-content").click()
    gus.keyboard.press("Control+End")
    gus.keyboard.type("\ny = 'from the room page'")
    both = "x = 'from marimo'\ny = 'from the room page'"
    wait_until(lambda: room_text(joined) == both, 30, message="the page's line in marimo")
    wait_until(lambda: online(joined) == {"Mo", "Gus"}, 30, message="both online in marimo")
    wait_until(lambda: kernel_view(mo_page)["code"] == both, 30, message="code in the kernel")
    content = room_server.api("GET", "rooms", room["roomId"], "content", headers=link_key(link))
    assert content == (200, both)
    _, record = room_server.api("GET", "rooms", room["roomId"], headers=link_key(link))
    assert record["participants"] == ["Teacher", "Mo", "Gus"]

    # CodeRoom(name=...) with no server: a clear error, not "Connecting…" forever.
    here.locator(".cc-status[data-status=error]").wait_for()
    assert "not served by Jupyter" in here.locator(".cc-error").inner_text()
    wait_until(
        lambda: "server=" in kernel_view(mo_page, 1)["error"], 30, message="the error in the kernel"
    )
    assert kernel_view(mo_page, 1)["status"] == "error"

    shoot(mo_page, "join-marimo")
    shoot(gus, "join-room-page")
    assert traffic.outside == []


def test_a_room_the_page_creates_on_another_origin_is_opened_with_its_new_key(
    tmp_path: Path, marimo, guests
) -> None:
    """A widget told only a server URL (`server_url`, as `CodeRoom(server_url=...)` once did)
    creates the room from the page, on that server's origin: its socket must carry the new
    room's edit key, or the server refuses it (403) and the widget says "Connecting…"
    forever."""
    open_server = StandaloneServerProcess(
        tmp_path / "open", [f"--db={tmp_path / 'open.db'}", "--ServerApp.allow_origin=*"]
    )
    open_server.start()
    try:
        app = marimo(
            marimo_notebook(
                f"""
                def _():
                    import marimo as mo

                    from codecompanion_ext import CodeRoom

                    room = CodeRoom(name="Eve")
                    room.server_url = {open_server.base + "/"!r}
                    editor = mo.ui.anywidget(room)
                    editor
                    return editor, mo
                """,
                KERNEL_VIEW_CELL,
            )
        )
        eve = guests("eve")
        eve.goto(app.url())
        eve.wait_for_selector(CONNECTED, timeout=60_000)
        status, listing = open_server.api(
            "GET", "rooms", headers={"Authorization": f"token {open_server.jupyter_token()}"}
        )
        assert status == 200
        [room] = listing["rooms"]
        assert room["owner"] == "Eve"
        link = room["links"]["edit"]
        wait_until(lambda: kernel_view(eve)["link"] == link, 30, message="the link in the kernel")
        type_at_end(eve, eve.locator(".cc-room"), "made = 'by the page'")
        wait_until(
            lambda: (
                open_server.api("GET", "rooms", room["roomId"], "content", headers=link_key(link))
                == (200, "made = 'by the page'")
            ),
            30,
            message="the edit stored on the server",
        )
        shoot(eve, "page-created")
    finally:
        open_server.stop()
