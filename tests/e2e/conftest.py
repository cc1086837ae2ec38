"""Fixtures for end-to-end tests: real JupyterLab, real headless Chromium, Playwright (sync API).

    def test_something(lab, user):
        path = lab.write_notebook("a.ipynb", ["x = 1", "print(x)"])
        alice = user("alice").open_notebook(path)
        alice.run_all()
        alice.wait_for_output(1, "1")

E2E tests are plain `def` tests (not `async def`). See e2e_harness.py for the classes.
"""

from __future__ import annotations

import importlib
import inspect
import os
import re
from collections.abc import Iterator
from typing import Any

import pytest
from e2e_harness import (
    ARTIFACTS_DIR,
    CHROMIUM_ARGS,
    CHROMIUM_PATH,
    Guests,
    LabServer,
    NotebookPage,
    PlaywrightLoop,
    new_user,
    serving,
)
from peer_loop import PeerLoop
from standalone_room import running_server

from codecompanion_ext.testing import StandaloneServerProcess

_LOOP = PlaywrightLoop()


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")[:120]


@pytest.fixture(scope="module")
def lab(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[LabServer]:
    """A JupyterLab server for this module's tests (see LabServer): `base_url`, `token`,
    `root_dir`, `db_path`, `log()`, `write_notebook(path, cells)`, `request(method, path)`,
    `kill()`, `start()`, `restart()`."""
    yield from serving(LabServer(tmp_path_factory.mktemp("lab")), _slug(request.node.name))


def _missing_browser_stack() -> str | None:
    try:
        importlib.import_module("playwright.sync_api")
    except ImportError:
        return "the playwright package is missing: pip install playwright"
    if not os.access(CHROMIUM_PATH, os.X_OK):
        return f"no Chromium at {CHROMIUM_PATH}: apt-get install chromium (or set CC_E2E_CHROMIUM)"
    return None


@pytest.fixture(scope="session")
def _playwright() -> Iterator[Any]:
    missing = _missing_browser_stack()
    if missing:
        # Never skip: a missing browser is a missing install step (the README's test command
        # installs both).
        pytest.fail(missing, pytrace=False)
    from playwright.sync_api import sync_playwright

    with _LOOP.active():
        pw = sync_playwright().start()
    try:
        yield pw
    finally:
        with _LOOP.active():
            pw.stop()


@pytest.fixture(scope="session")
def browser(_playwright: Any) -> Iterator[Any]:
    """Headless Debian Chromium (Playwright cannot download its own browsers here)."""
    with _LOOP.active():
        chromium = _playwright.chromium.launch(executable_path=CHROMIUM_PATH, args=CHROMIUM_ARGS)
    try:
        yield chromium
    finally:
        with _LOOP.active():
            chromium.close()


@pytest.fixture(autouse=True)
def _playwright_loop(request: pytest.FixtureRequest) -> Iterator[None]:
    """Mark Playwright's loop as running only while an e2e test runs (see PlaywrightLoop)."""
    if inspect.iscoroutinefunction(request.function):
        pytest.fail("e2e tests use the sync Playwright API: write them as plain `def` tests")
    with _LOOP.active():
        yield


class UserFactory:
    """`user(name=None)`: a new person (browser context, own cookies), logged into the lab."""

    def __init__(self, browser: Any, lab: LabServer) -> None:
        self.browser = browser
        self.lab = lab
        self.users: list[NotebookPage] = []

    def __call__(self, name: str | None = None) -> NotebookPage:
        person = new_user(self.browser, self.lab, name or f"user{len(self.users) + 1}")
        self.users.append(person)
        return person

    def close(self) -> None:
        for person in self.users:
            try:
                person.context.close()
            except Exception as e:
                print(f"closing {person.name}'s browser context: {e}")
        self.users.clear()
        self.lab.shutdown_kernels()


@pytest.fixture
def user(browser: Any, lab: LabServer) -> Iterator[UserFactory]:
    factory = UserFactory(browser, lab)
    try:
        yield factory
    finally:
        factory.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """On failure: screenshot every open page, and attach browser consoles and the server log."""
    outcome = yield
    report = outcome.get_result()
    if not report.failed:
        return
    funcargs = getattr(item, "funcargs", {})
    factory = funcargs.get("user")
    if isinstance(factory, UserFactory):
        for person in factory.users:
            shot = ARTIFACTS_DIR / "e2e" / "failures" / f"{_slug(item.nodeid)}-{person.name}.png"
            try:
                person.screenshot(str(shot))
                note = f"screenshot: {shot}"
            except Exception as e:
                note = f"no screenshot: {e}"
            console = "\n".join(person.console[-80:])
            report.sections.append((f"browser {person.name} ({report.when})", f"{note}\n{console}"))
    server = funcargs.get("lab")
    if isinstance(server, LabServer):
        report.sections.append((f"jupyter server log, tail ({report.when})", server.log_tail()))
    hub = funcargs.get("hub")
    if hasattr(hub, "log_tail"):  # a HubProcess (hub_harness.py): hub, proxy and servers
        report.sections.append((f"jupyterhub log, tail ({report.when})", hub.log_tail(250)))


@pytest.fixture
def guests(browser: Any, request: pytest.FixtureRequest) -> Iterator[Guests]:
    """A factory of people with no login: `guests(who, **context_options) -> Page`."""
    factory = Guests(browser, request.node.name)
    try:
        yield factory
    finally:
        factory.close()


@pytest.fixture(scope="module")
def room_server(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[StandaloneServerProcess]:
    """A standalone room server on its own database, for this module's tests (a module may
    define its own, e.g. with other options)."""
    yield from running_server(tmp_path_factory.mktemp(f"{request.module.__name__}-server"))


@pytest.fixture
def peers() -> Iterator[PeerLoop]:
    """pycrdt peers on a loop of their own (see PeerLoop), closed after the test."""
    loop = PeerLoop()
    try:
        yield loop
    finally:
        loop.close()
