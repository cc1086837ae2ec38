"""End-to-end harness: real JupyterLab in a subprocess, driven by Playwright in real Chromium.

The fixtures in conftest.py build on the classes here:

- `LabServer`: `python -m jupyterlab` on a free loopback port, with a known token, its own
  config/data/runtime dirs, a temporary notebook root and its own room database. It can be
  SIGKILLed and started again on the same port and database.
- `NotebookPage`: one browser page logged into that lab (one "person"), with helpers to open a
  notebook, run cells, wait for output, run code in the notebook's kernel and take screenshots.
- `PlaywrightLoop`: keeps the sync Playwright API from breaking the asyncio tests of the suite.

Nothing here sleeps for a fixed time: every wait is on an event or a poll with a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import secrets
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar
from urllib.error import URLError
from urllib.parse import quote

from codecompanion_ext.testing import JupyterServerProcess

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS_DIR = REPO_ROOT / "test-artifacts"

CHROMIUM_PATH = os.environ.get("CC_E2E_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
VIEWPORT = {"width": 1280, "height": 900}

DEFAULT_TIMEOUT = 30.0  # seconds, for UI waits
KERNEL_TIMEOUT = 90.0  # seconds, for a kernel to start on a busy 2-core machine

KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

T = TypeVar("T")


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def wait_until(
    probe: Callable[[], T | None],
    timeout: float = DEFAULT_TIMEOUT,
    interval: float = 0.05,
    message: str | Callable[[], str] = "condition",
) -> T:
    """Call `probe` until it returns something truthy, and return that; fail at the deadline.

    Exceptions from `probe` count as "not yet"; the last one is chained to the timeout error.
    """
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            result = probe()
            if result:
                return result
        except Exception as e:
            last_error = e
        if time.monotonic() >= deadline:
            text = message() if callable(message) else message
            raise TimeoutError(f"timed out after {timeout:.1f}s waiting for {text}") from last_error
        time.sleep(interval)


class KernelExecutionError(AssertionError):
    """Code run with `NotebookPage.execute_in_kernel` raised in the kernel."""

    def __init__(self, ename: str, evalue: str, traceback: str, output: str) -> None:
        super().__init__(f"{ename}: {evalue}\n{traceback}")
        self.ename = ename
        self.evalue = evalue
        self.traceback = traceback
        self.output = output


# --------------------------------------------------------------------------- asyncio vs. Playwright


class PlaywrightLoop:
    """Sync Playwright leaves its event loop marked as *running* in the main thread between calls.

    (See `wait_for_future` in playwright/_impl/_greenlets.py.) A coroutine test of the rest of the
    suite, run by pytest-jupyter's `pytest_pyfunc_call`, would then fail with "Cannot run the
    event loop while another loop is running" whenever a session-scoped browser is alive. So
    Playwright's loop is only marked running inside `active()`: around e2e tests (an autouse
    fixture) and around the setup and teardown of the session fixtures. Outside, it is parked.
    """

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        previous = asyncio._get_running_loop()
        if self._loop is not None and not self._loop.is_closed():
            asyncio._set_running_loop(self._loop)
        try:
            yield
        finally:
            current = asyncio._get_running_loop()
            if current is not None and current is not previous:
                self._loop = current  # Playwright's, started or still in use in the block
            elif current is None:
                self._loop = None  # Playwright stopped in the block
            asyncio._set_running_loop(previous)


# --------------------------------------------------------------------------- the lab server


class LabServer(JupyterServerProcess):
    """`python -m jupyterlab`, isolated from the user's Jupyter dirs (the shared harness's
    `JupyterServerProcess`, so it can be SIGKILLed and started again on the same port and
    database).

    The system and sys.prefix Jupyter config and data paths stay visible, so installed lab
    extensions (ipywidgets, anywidget) and the `codecompanion_ext` server extension load. The
    per-user dirs (JUPYTER_CONFIG_DIR/DATA_DIR/RUNTIME_DIR, IPYTHONDIR) are fresh, so no user
    setting or saved workspace leaks in.
    """

    name = "lab"
    module = "jupyterlab"
    app_args: tuple[str, ...] = (
        "--LabApp.expose_app_in_browser=True",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",
    )

    def __init__(self, workdir: Path, extra_args: Sequence[str] = ()) -> None:
        lab_args = (*self.app_args, *extra_args)
        super().__init__(workdir, lab_args, root_dir=workdir / "notebooks")
        # The "get official Jupyter news?" toast would cover part of every screenshot.
        labconfig = workdir / "config" / "labconfig"
        labconfig.mkdir(parents=True, exist_ok=True)
        (labconfig / "page_config.json").write_text(
            json.dumps(
                {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}
            )
        )

    @property
    def base_url(self) -> str:
        return self.base

    def lab_url(self, workspace: str | None = None, token: bool = False) -> str:
        """/lab, or /lab/workspaces/<workspace>; with the token in the query if asked."""
        path = "lab" if workspace is None else f"lab/workspaces/{workspace}"
        return self.url(f"{path}?token={self.token}" if token else path)

    def shutdown_kernels(self) -> None:
        """Shut down every session and kernel: tests must not share kernels (2 cores)."""
        if not self.running:
            return
        with contextlib.suppress(URLError, OSError):
            status, sessions = self.request("GET", "api/sessions")
            for session in sessions if status == 200 else []:
                self.request("DELETE", f"api/sessions/{session['id']}", timeout=30)
            status, kernels = self.request("GET", "api/kernels")
            for kernel in kernels if status == 200 else []:
                self.request("DELETE", f"api/kernels/{kernel['id']}", timeout=30)

    # -- notebooks

    def write_notebook(
        self,
        path: str,
        cells: Sequence[str | dict[str, Any]],
        metadata: dict[str, Any] | None = None,
    ) -> str:
        """Write a notebook under the root dir and return its path relative to it (what
        `open_notebook` takes); see `write_notebook`."""
        return write_notebook(self.root_dir, path, cells, metadata)


def write_notebook(
    root_dir: Path,
    path: str,
    cells: Sequence[str | dict[str, Any]],
    metadata: dict[str, Any] | None = None,
) -> str:
    """Write a notebook under `root_dir` and return its path relative to it. A str is a code
    cell's source; a dict is a whole nbformat cell (e.g. `{"cell_type": "markdown", "source":
    "# Title"}`). The python3 kernelspec is always set, so opening it never asks which kernel
    to use."""
    nb_cells = []
    for cell in cells:
        if isinstance(cell, str):
            cell = {"cell_type": "code", "source": cell}
        cell = {"metadata": {}, **cell}
        if cell["cell_type"] == "code":
            cell = {"outputs": [], "execution_count": None, **cell}
        nb_cells.append(cell)
    notebook = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {
            "kernelspec": dict(KERNELSPEC),
            "language_info": {"name": "python"},
            **(metadata or {}),
        },
        "cells": [{"id": f"cell-{i}", **cell} for i, cell in enumerate(nb_cells)],
    }
    target = Path(root_dir) / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(notebook, indent=1))
    return Path(path).as_posix()


class Notebook7Server(LabServer):
    """`python -m notebook`: Jupyter Notebook 7 (one document per browser page, at
    /notebooks/<path>; the file browser at /tree) with everything else as in `LabServer`.
    Its pages are `Notebook7Page`s."""

    name = "notebook7"
    module = "notebook"
    app_args = ("--JupyterNotebookApp.expose_app_in_browser=True",)

    def tree_url(self, token: bool = False) -> str:
        return self.url(f"tree?token={self.token}" if token else "tree")

    def notebook_url(self, path: str) -> str:
        return self.url(f"notebooks/{quote(Path(path).as_posix())}")


# --------------------------------------------------------------------------- the browser side

# Installed in every page before JupyterLab's own scripts: small helpers over `window.jupyterapp`.
_INIT_SCRIPT = r"""
(() => {
  const notebooks = () => {
    const app = window.jupyterapp;
    if (!app || !app.shell) return [];
    return Array.from(app.shell.widgets('main')).filter(
      w => w.context && w.content && w.sessionContext && w.content.widgets !== undefined);
  };
  const panel = path => {
    const found = notebooks().find(w => w.context.path === path);
    if (!found) throw new Error(`notebook ${path} is not open`);
    return found;
  };
  const cell = (path, index) => {
    const c = panel(path).content.widgets[index];
    if (!c) throw new Error(`notebook ${path} has no cell ${index}`);
    return c;
  };
  const withTimeout = (promise, ms, what) => {
    let timer;
    const late = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
    });
    return Promise.race([promise, late]).finally(() => clearTimeout(timer));
  };
  window.__e2e = {
    panel,
    cell,
    withTimeout,
    async open(path, ms) {
      const app = window.jupyterapp;
      const w = await withTimeout(
        app.commands.execute('docmanager:open', { path, factory: 'Notebook' }), ms, `open ${path}`);
      await withTimeout(w.context.ready, ms, `load ${path}`);
      app.shell.activateById(w.id);
    },
    kernelReady(path) {
      let p;
      try { p = panel(path); } catch (e) { return false; }
      const kernel = p.sessionContext.session && p.sessionContext.session.kernel;
      return !!kernel && p.context.isReady && kernel.status === 'idle'
        && kernel.connectionStatus === 'connected';
    },
    kernelState(path) {
      try {
        const p = panel(path);
        const kernel = p.sessionContext.session && p.sessionContext.session.kernel;
        return kernel ? `${kernel.status}/${kernel.connectionStatus}` : 'no kernel';
      } catch (e) { return String(e.message); }
    },
    outputText(path, index) {
      const nodes = cell(path, index).node.querySelectorAll('.jp-OutputArea-output');
      return Array.from(nodes, n => n.textContent).join('\n');
    },
    dialogText() {
      const dialog = document.querySelector('.jp-Dialog');
      return dialog ? dialog.innerText : null;
    },
    async run(path, index, wait) {
      const app = window.jupyterapp;
      const p = panel(path);
      app.shell.activateById(p.id);
      const nb = p.content;
      if (index === null) {
        const done = app.commands.execute('notebook:run-all-cells');
        return wait ? await done : null;
      }
      cell(path, index);
      nb.activeCellIndex = index;
      nb.deselectAll();
      nb.mode = 'command';
      const done = app.commands.execute('notebook:run-cell');
      return wait ? await done : null;
    },
    async execute(path, code, timeoutMs) {
      const kernel = panel(path).sessionContext.session.kernel;
      const future = kernel.requestExecute(
        { code, silent: false, store_history: false, allow_stdin: false, stop_on_error: false });
      let output = '';
      let error = null;
      future.onIOPub = msg => {
        const c = msg.content;
        switch (msg.header.msg_type) {
          case 'stream': output += c.text; break;
          case 'execute_result':
          case 'display_data':
            if (c.data && c.data['text/plain'] !== undefined) output += c.data['text/plain'] + '\n';
            break;
          case 'error':
            error = { ename: c.ename, evalue: c.evalue, traceback: c.traceback.join('\n') };
            break;
        }
      };
      const reply = await withTimeout(future.done, timeoutMs, 'kernel execute_request');
      if (!error && reply.content.status !== 'ok') {
        error = { ename: reply.content.ename || reply.content.status,
                  evalue: reply.content.evalue || '', traceback: '' };
      }
      return { output, error };
    },
  };
})();
"""


class NotebookPage:
    """One person's browser page in the lab: a Playwright context of its own (own cookies),
    logged in with the token. `page` and `context` are the raw Playwright objects.

    Notebook methods act on the notebook last opened with `open_notebook`, or on `path=`.
    """

    def __init__(self, lab: LabServer, context: Any, page: Any, name: str) -> None:
        self.lab = lab
        self.context = context
        self.page = page
        self.name = name
        self.path: str | None = None
        # A workspace of its own: JupyterLab saves the open tabs of a workspace on the server and
        # reopens them on the next load, so with the shared "default" workspace a page would
        # reopen (and start kernels for) the notebooks of earlier tests and other users.
        self.workspace = f"e2e-{re.sub(r'[^A-Za-z0-9-]', '-', name)}-{secrets.token_hex(4)}"
        self.console: list[str] = []
        page.on("console", lambda m: self._note(f"console.{m.type}: {m.text}"))
        page.on("pageerror", lambda e: self._note(f"pageerror: {e}"))

    def _note(self, line: str) -> None:
        self.console.append(line)
        del self.console[:-300]

    def __repr__(self) -> str:
        return f"<NotebookPage {self.name} {self.path or '(no notebook)'}>"

    # -- lab

    def login(self, timeout: float = DEFAULT_TIMEOUT * 2) -> NotebookPage:
        """Open /lab/workspaces/<own>?token=... (sets the auth cookie); wait until JupyterLab is
        restored."""
        url = self.lab.lab_url(self.workspace, token=True)
        self.page.goto(url, wait_until="domcontentloaded", timeout=timeout * 1000)
        self.wait_for_app(timeout)
        return self

    def reload(self, timeout: float = DEFAULT_TIMEOUT * 2) -> NotebookPage:
        """Reload the page (e.g. after `lab.restart()`) and wait for JupyterLab again; reopens
        the current notebook."""
        url = self.lab.lab_url(self.workspace)
        self.page.goto(url, wait_until="domcontentloaded", timeout=timeout * 1000)
        self.wait_for_app(timeout)
        if self.path is not None:
            self.open_notebook(self.path)
        return self

    def wait_for_app(self, timeout: float = DEFAULT_TIMEOUT * 2) -> None:
        self.page.wait_for_function(
            "() => !!(window.jupyterapp && window.__e2e)", timeout=timeout * 1000
        )
        self.page.evaluate(
            "ms => window.__e2e.withTimeout(window.jupyterapp.restored, ms, 'lab restore')"
            ".then(() => null)",
            int(timeout * 1000),
        )

    def command(self, command_id: str, args: dict[str, Any] | None = None) -> Any:
        """Run a JupyterLab command (`app.commands.execute`) and return its JSON-able result."""
        return self.page.evaluate(
            "async ([id, args]) => { const r = await window.jupyterapp.commands.execute(id, args);"
            " try { return JSON.parse(JSON.stringify(r ?? null)); } catch (e) { return null; } }",
            [command_id, args or {}],
        )

    # -- notebooks

    def open_notebook(self, path: str, timeout: float = KERNEL_TIMEOUT) -> NotebookPage:
        """Open a notebook (path relative to the lab's root dir) and wait until its kernel is
        idle and connected and its cells are on screen."""
        self.page.evaluate(
            "([p, ms]) => window.__e2e.open(p, ms).then(() => null)", [path, int(timeout * 1000)]
        )
        return self.wait_for_kernel(path, timeout)

    def wait_for_kernel(self, path: str, timeout: float = KERNEL_TIMEOUT) -> NotebookPage:
        """Wait until the open notebook `path` has an idle, connected kernel and its cells are
        on screen; it becomes the current notebook."""
        self.path = path
        try:
            self.page.wait_for_function(
                "path => window.__e2e.kernelReady(path)",
                arg=path,
                timeout=timeout * 1000,
                polling=50,
            )
        except Exception as e:
            state = self.page.evaluate("p => window.__e2e.kernelState(p)", path)
            dialog = self.page.evaluate("() => window.__e2e.dialogText()")
            raise AssertionError(
                f"kernel of {path} not idle after {timeout}s (state: {state}; dialog: {dialog!r};"
                f" {str(e).splitlines()[0]})"
            ) from None
        panel_id = self.page.evaluate("p => window.__e2e.panel(p).id", path)
        self.page.locator(f"[id='{panel_id}'] .jp-Notebook").wait_for(state="visible")
        return self

    def _path(self, path: str | None) -> str:
        path = path or self.path
        assert path, "open a notebook first"
        return path

    def run_cell(self, index: int, *, wait: bool = False, path: str | None = None) -> None:
        """Run cell `index` through the UI's "run cell" command. With `wait`, return once it
        finished executing; else as soon as it is queued."""
        self.page.evaluate(
            "([p, i, w]) => window.__e2e.run(p, i, w).then(() => null)",
            [self._path(path), index, wait],
        )

    def run_all(self, *, wait: bool = False, path: str | None = None) -> None:
        """Run all cells ("run all cells" command)."""
        self.page.evaluate(
            "([p, w]) => window.__e2e.run(p, null, w).then(() => null)", [self._path(path), wait]
        )

    def cell_output(self, index: int, *, path: str | None = None) -> str:
        """The text of cell `index`'s outputs as shown in the page."""
        return self.page.evaluate(
            "([p, i]) => window.__e2e.outputText(p, i)", [self._path(path), index]
        )

    def wait_for_output(
        self, index: int, text: str, timeout: float = DEFAULT_TIMEOUT, *, path: str | None = None
    ) -> str:
        """Wait until cell `index`'s output shows `text`; return the whole output text."""
        path = self._path(path)
        try:
            self.page.wait_for_function(
                """([p, i, t]) => {
                    try { return window.__e2e.outputText(p, i).includes(t); }
                    catch (e) { return false; }
                }""",
                arg=[path, index, text],
                timeout=timeout * 1000,
                polling=50,
            )
        except Exception:
            try:
                actual = self.cell_output(index, path=path)
            except Exception as inner:
                actual = f"<unavailable: {inner}>"
            raise AssertionError(
                f"cell {index} of {path}: {text!r} not in output after {timeout}s; "
                f"output is {actual!r}"
            ) from None
        return self.cell_output(index, path=path)

    def execute_in_kernel(
        self, code: str, timeout: float = DEFAULT_TIMEOUT, *, path: str | None = None
    ) -> str:
        """Run `code` in the notebook's kernel (not in a cell: nothing shows in the notebook) and
        return its text output: stdout/stderr, plus the text/plain of results and displays.
        Raises KernelExecutionError if the code raised."""
        result = self.page.evaluate(
            "([p, c, t]) => window.__e2e.execute(p, c, t)",
            [self._path(path), code, int(timeout * 1000)],
        )
        error = result["error"]
        if error:
            raise KernelExecutionError(
                error["ename"], error["evalue"], strip_ansi(error["traceback"]), result["output"]
            )
        return result["output"]

    def wait_for_kernel_value(
        self,
        code: str,
        expected: str | Callable[[str], bool],
        timeout: float = DEFAULT_TIMEOUT,
        *,
        path: str | None = None,
    ) -> str:
        """Poll `execute_in_kernel(code)` until its stripped output equals `expected` (or
        `expected(output)` is true); return the output."""
        last: list[str] = []

        def probe() -> str | None:
            out = self.execute_in_kernel(code, timeout=min(timeout, DEFAULT_TIMEOUT), path=path)
            last[:] = [out]
            ok = expected(out) if callable(expected) else out.strip() == expected
            return out if ok else None

        return wait_until(
            probe,
            timeout,
            message=lambda: f"{code!r} to give {expected!r} (last: {last[0] if last else None!r})",
        )

    # -- artifacts

    def screenshot(self, name: str, full_page: bool = False) -> Path:
        """Save a PNG under test-artifacts/ (a relative name may hold sub-folders)."""
        target = Path(name) if Path(name).is_absolute() else ARTIFACTS_DIR / name
        if not target.suffix:
            target = target.with_suffix(".png")
        target.parent.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(target), full_page=full_page)
        return target


class Notebook7Page(NotebookPage):
    """One person's page in Jupyter Notebook 7: `login` opens /tree, and `open_notebook`
    loads /notebooks/<path> in this page (Notebook 7 shows one document per page). The
    rest (cells, kernel, screenshots) works as in JupyterLab: Notebook 7 is built on its
    components, and its `window.jupyterapp` has the same commands and shell API."""

    lab: Notebook7Server

    def login(self, timeout: float = DEFAULT_TIMEOUT * 2) -> NotebookPage:
        self.page.goto(
            self.lab.tree_url(token=True), wait_until="domcontentloaded", timeout=timeout * 1000
        )
        self.wait_for_app(timeout)
        return self

    def reload(self, timeout: float = DEFAULT_TIMEOUT * 2) -> NotebookPage:
        if self.path is None:
            return self.login(timeout)
        return self.open_notebook(self.path, max(timeout, KERNEL_TIMEOUT))

    def open_notebook(self, path: str, timeout: float = KERNEL_TIMEOUT) -> NotebookPage:
        self.page.goto(
            self.lab.notebook_url(path), wait_until="domcontentloaded", timeout=timeout * 1000
        )
        self.wait_for_app(timeout)
        return self.wait_for_kernel(path, timeout)


def serving(server: LabServer, log_name: str) -> Iterator[LabServer]:
    """Start `server`, yield it, stop it and keep its log in test-artifacts/e2e/logs/."""
    try:
        server.start()
        yield server
    finally:
        server.stop()
        logs = ARTIFACTS_DIR / "e2e" / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        (logs / f"{log_name}.server.log").write_text(server.log())


def new_user(
    browser: Any, lab: LabServer, name: str, timeout: float = DEFAULT_TIMEOUT
) -> NotebookPage:
    """A new browser context (one person), logged into the lab (or into Notebook 7, for a
    `Notebook7Server`)."""
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(timeout * 1000)
    context.add_init_script(_INIT_SCRIPT)
    page = context.new_page()
    page_class = Notebook7Page if isinstance(lab, Notebook7Server) else NotebookPage
    user = page_class(lab, context, page, name)
    try:
        user.login()
    except Exception:
        context.close()
        raise
    return user


# ------------------------------------------------------------------------- shared page helpers

# The text of the `index`-th room editor on a page as people see it: every line, without the
# remote cursors' name labels.
EDITOR_TEXT = """(index) => {
  const content = document.querySelectorAll('.cc-room .cm-content')[index];
  if (!content) return null;
  return Array.from(content.querySelectorAll('.cm-line')).map((line) => {
    const copy = line.cloneNode(true);
    copy.querySelectorAll('.cm-ySelectionCaret').forEach((caret) => caret.remove());
    return copy.textContent;
  }).join('\\n');
}"""


def editor_text(page: Any, index: int = 0) -> str | None:
    return page.evaluate(EDITOR_TEXT, index)


def join_as(page: Any, link: str, name: str) -> None:
    """Open a room link in a page, answer the name prompt, wait until connected."""
    page.goto(link)
    name_input = page.locator(".cc-name-input")
    name_input.wait_for()
    name_input.fill(name)
    name_input.press("Enter")
    page.wait_for_selector(".cc-status[data-status=connected]")


class Guests:
    """People with a browser and a link, and no Jupyter login (fresh contexts, no token):
    `guests("gia")`, `guests("phone", viewport={"width": 400, "height": 760})`, or any other
    Playwright context option. On closing, each page's last screenshot goes to
    `test-artifacts/e2e/guests/last/` and its console is printed."""

    def __init__(self, browser: Any, test: str) -> None:
        self.browser = browser
        self.test = re.sub(r"[^A-Za-z0-9_.-]+", "_", test)[:80]
        self.pages: dict[str, Any] = {}
        self.console: dict[str, list[str]] = {}

    def __call__(self, who: str, **context_options: Any) -> Any:
        context = self.browser.new_context(**{"viewport": VIEWPORT, **context_options})
        context.set_default_timeout(30_000)
        page = context.new_page()
        lines = self.console.setdefault(who, [])
        page.on("console", lambda m: lines.append(f"console.{m.type}: {m.text}"))
        page.on("pageerror", lambda e: lines.append(f"pageerror: {e}"))
        self.pages[who] = page
        return page

    def close(self) -> None:
        for who, page in self.pages.items():
            try:
                shot = ARTIFACTS_DIR / "e2e" / "guests" / "last" / f"{self.test}-{who}.png"
                shot.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(shot))
            except Exception as e:
                print(f"no final screenshot of {who}: {e}")
            print(f"--- browser console of {who}:\n" + "\n".join(self.console[who][-40:]))
            page.context.close()
