"""A class on a real JupyterHub: the extension on every single-user server, the widget in
each user's own JupyterLab, a logged-out browser with the link.

JupyterHub (this venv's), configurable-http-proxy (js/node_modules), DummyAuthenticator and
SimpleLocalProcessSpawner, all on loopback ports (hub_harness.py). The teacher creates a room
in her notebook with `CodeRoom()` (her hub name is the default), a student joins it from her
own notebook on her own server, a guest opens the link; with the teacher's browser closed
and only the others typing, the teacher's server still counts as active. A logged-out browser
on the teacher's landing page logs in through the hub and comes back signed in. A student
who joins while the room's server is stopped is told so (a notice, not an error), and joins
once it runs again.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import UserFactory
from e2e_harness import NotebookPage, join_as, wait_until
from e2e_harness import editor_text as text_on_page
from hub_harness import HubProcess, hub_user, page_config, running_hub
from test_code_room import CONNECTED, editor_text, kernel_json, type_in_editor

SHOTS = "e2e/hub"
WAITING = "The room's server is not running; retrying\u2026"
# How long students type, at most, before the teacher's server must have seen it as
# activity (the extension throttles its activity updates).
ACTIVITY_DEADLINE = 120.0


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubProcess]:
    with running_hub(
        tmp_path_factory.mktemp("hub"), "test_hub", users=("teacher", "ana"), admin_users=()
    ) as running:
        yield running


class HubUsers(UserFactory):
    """`user(name)`: a browser signed into the hub as `name`, in their own JupyterLab on
    their own server (started if need be). Every WebSocket URL a page opens is recorded."""

    def __init__(self, browser: Any, hub: HubProcess) -> None:
        self.browser = browser
        self.hub = hub
        self.users: list[NotebookPage] = []
        self.sockets: dict[str, list[str]] = {}

    def __call__(self, name: str | None = None) -> NotebookPage:
        assert name, "hub users have names"
        person = hub_user(self.browser, self.hub, name)
        urls = self.sockets.setdefault(name, [])
        person.page.on("websocket", lambda socket: urls.append(socket.url))
        self.users.append(person)
        return person

    def close(self) -> None:
        for person in self.users:
            try:
                person.context.close()
            except Exception as e:
                print(f"closing {person.name}'s browser context: {e}")
            self.hub.shutdown_kernels(person.name)
        self.users.clear()


@pytest.fixture
def user(browser: Any, hub: HubProcess) -> Iterator[HubUsers]:
    factory = HubUsers(browser, hub)
    try:
        yield factory
    finally:
        factory.close()


def room_sockets(urls: list[str]) -> list[str]:
    return [url for url in urls if "/codecompanion/ws/" in url]


def when(timestamp: str) -> datetime:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00"))


def shot(page: Any, name: str) -> Path:
    from e2e_harness import ARTIFACTS_DIR

    target = ARTIFACTS_DIR / SHOTS / f"{name}.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(target))
    return target


WAITING_LOOK = """() => {
  const style = (selector) => {
    const s = getComputedStyle(document.querySelector(selector));
    return { background: s.backgroundColor, color: s.color };
  };
  return { notice: style('.cc-room .cc-notice'), error: style('.cc-room .cc-error') };
}"""

# JupyterLab's dark theme is applied (its variables are back after the switch).
DARK_THEME_ON = """() => document.body.dataset.jpThemeLight === 'false' &&
  getComputedStyle(document.body).getPropertyValue('--jp-layout-color2').trim() !== ''"""


def rgba(css_color: str) -> list[float]:
    """The channels of an `rgb(...)` or `rgba(...)` colour, alpha last (1 if none)."""
    values = [float(v) for v in css_color[css_color.index("(") + 1 : -1].split(",")]
    return values if len(values) == 4 else [*values, 1.0]


def luminance(channels: list[float]) -> float:
    """Relative luminance (WCAG 2) of red, green, blue in 0-255."""
    linear = [c / 255 / 12.92 if c / 255 <= 0.03928 else ((c / 255 + 0.055) / 1.055) ** 2.4
              for c in channels[:3]]  # fmt: skip
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def waiting_look(page: Any) -> dict[str, Any]:
    """The computed colours of the waiting notice and of the (hidden) error box, and the
    notice's text contrast."""
    look = page.evaluate(WAITING_LOOK)
    background = rgba(look["notice"]["background"])
    assert background[3] == 1, look  # an opaque box of its own
    *text, alpha = rgba(look["notice"]["color"])  # JupyterLab's text is translucent
    seen = [alpha * t + (1 - alpha) * b for t, b in zip(text, background, strict=False)]
    light, dark = sorted((luminance(seen), luminance(background)), reverse=True)
    look["contrast"] = round((light + 0.05) / (dark + 0.05), 2)
    return look


def test_a_class_on_a_hub_teacher_student_and_guest_co_edit_and_the_room_keeps_it_active(
    hub: HubProcess, user: HubUsers, guests
) -> None:
    # The teacher creates a room in her notebook, on her own server: no name needed.
    teacher = user("teacher")
    config = page_config(teacher.page)
    print("teacher's page config has a token:", bool(config.get("token")))
    teacher_nb = hub.write_notebook(
        "teacher",
        "class.ipynb",
        ["from codecompanion_ext import CodeRoom\nroom = CodeRoom()\nroom"],
    )
    teacher.open_notebook(teacher_nb)
    teacher.run_cell(0)
    teacher.page.wait_for_selector(CONNECTED, timeout=60_000)
    link = wait_until(
        lambda: kernel_json(teacher, "room.link") or None, 30, message="room.link in her kernel"
    )
    assert link.startswith(hub.user_url("teacher", "codecompanion/rooms/")), link
    assert "?key=" in link
    assert kernel_json(teacher, "room.name") == "teacher"

    # A student joins from her own notebook on her own server, with the link.
    ana = user("ana")
    ana_nb = hub.write_notebook(
        "ana",
        "lesson.ipynb",
        [f"from codecompanion_ext import CodeRoom\nroom = CodeRoom.join({link!r})\nroom"],
    )
    ana.open_notebook(ana_nb)
    ana.run_cell(0)
    ana.page.wait_for_selector(CONNECTED, timeout=60_000)
    assert kernel_json(ana, "room.name") == "ana"

    type_in_editor(teacher, "def greet(name):", "\n", "return 'hi ' + name")
    wait_until(lambda: "return 'hi ' + name" in (editor_text(ana) or ""), 20, message="ana sees")
    type_in_editor(ana, "\n", "\n", "# ana: greet('class')")
    wait_until(
        lambda: "# ana: greet('class')" in (editor_text(teacher) or ""), 20, message="teacher sees"
    )
    for person, other in ((teacher, "ana"), (ana, "teacher")):
        person.page.wait_for_selector(f".cc-online .cc-name:text-is('{other}')", timeout=20_000)

    # A browser with no hub login opens the link: the room page on the teacher's server.
    guest = guests("guest")
    join_as(guest, link, "Gia")
    assert "/hub/login" not in guest.url, guest.url
    guest.locator(".cc-room .cm-content").click()
    guest.keyboard.press("Control+End")
    guest.keyboard.press("Enter")
    guest.keyboard.type("# Gia was here")
    for person in (teacher, ana):
        wait_until(
            lambda p=person: "# Gia was here" in (editor_text(p) or ""),
            20,
            message=f"{person.name} sees the guest's line",
        )
        person.page.wait_for_selector(".cc-online .cc-name:text-is('Gia')", timeout=20_000)
    assert editor_text(teacher) == editor_text(ana) == text_on_page(guest)
    shot(teacher.page, "teacher")
    shot(ana.page, "ana")
    shot(guest, "guest")

    # No Jupyter or hub token in the URL of any room socket: same origin, cookies suffice.
    for name, urls in user.sockets.items():
        sockets = room_sockets(urls)
        assert sockets, f"{name}'s page opened no room socket"
        assert all("token=" not in url for url in sockets), (name, sockets)
    print("room sockets:", {name: room_sockets(urls) for name, urls in user.sockets.items()})

    # The teacher closes her browser; only the students type. Her server must see the room's
    # traffic as activity (else a culler stops it mid-class), and tell the hub.
    teacher.context.close()
    user.users.remove(teacher)
    before = hub.server_status("teacher")["last_activity"]
    hub_before = hub.server_model("teacher")["last_activity"]
    started = time.monotonic()
    typed = 0

    def moved() -> bool:
        nonlocal typed
        typed += 1
        ana.page.keyboard.type("a" if typed % 2 else "")
        guest.keyboard.type("g")
        own = hub.server_status("teacher")["last_activity"]
        hub_view = (hub.server_model("teacher") or {}).get("last_activity")
        return when(own) > when(before) and bool(hub_view) and when(hub_view) > when(hub_before)

    ana.page.locator(".cc-room .cm-content").click()
    ana.page.keyboard.press("Control+End")
    guest.locator(".cc-room .cm-content").click()
    guest.keyboard.press("Control+End")
    try:
        wait_until(moved, ACTIVITY_DEADLINE, interval=1.0, message="the teacher's activity")
    finally:
        after = hub.server_status("teacher")["last_activity"]
        hub_after = (hub.server_model("teacher") or {}).get("last_activity")
        print(
            json.dumps(
                {
                    "seconds typing": round(time.monotonic() - started, 1),
                    "server's own last_activity": [before, after],
                    "hub's record": [hub_before, hub_after],
                }
            )
        )
    wait_until(
        lambda: (editor_text(ana) or "").endswith(text_on_page(guest).rsplit("\n", 1)[-1]),
        20,
        message="ana and the guest converge",
    )


def test_log_in_on_a_single_user_servers_landing_page_goes_through_the_hub_and_back(
    hub: HubProcess, guests
) -> None:
    """A browser with no hub login opens the landing page on the teacher's server: its "Log
    in" leads to the hub's login page (not to a `/user/teacher/login` the server lacks), and
    after logging in there the browser is back on the landing page, signed in."""
    hub.start_server("teacher")
    landing = hub.user_url("teacher", "codecompanion/")
    page = guests("visitor")
    documents: list[tuple[int, str]] = []

    def record(response: Any) -> None:
        if response.request.is_navigation_request():
            documents.append((response.status, response.url))

    page.on("response", record)
    page.goto(landing, wait_until="domcontentloaded")
    assert page.url == landing, page.url
    login = page.locator(".cc-create .cc-note a", has_text="Log in")
    login.wait_for()
    assert login.get_attribute("href") == "/user/teacher/codecompanion/login"
    assert page.locator(".cc-create-form").count() == 0
    shot(page, "landing-logged-out")

    with page.expect_navigation(url="**/hub/login?**", wait_until="domcontentloaded") as arrival:
        login.click()
    assert arrival.value.status == 200, (arrival.value.status, page.url)
    assert page.url.startswith(hub.hub_url("login?")), page.url
    assert not [status for status, _ in documents if status == 404], documents
    page.locator("#username_input").wait_for()
    shot(page, "hub-login-from-the-landing-page")

    page.fill("#username_input", "teacher")
    page.fill("#password_input", hub.password)
    page.click("#login_submit")
    page.wait_for_url(landing, timeout=60_000)
    # Signed in: the create form, not the note asking to log in.
    page.locator(".cc-create-form").wait_for()
    assert page.locator(".cc-create .cc-note").count() == 0
    assert not [status for status, _ in documents if status >= 400], documents
    print("navigations:", json.dumps(documents, indent=1))
    shot(page, "landing-signed-in")


def test_joining_while_the_rooms_server_is_stopped_waits_for_it_then_joins(
    hub: HubProcess, user: HubUsers
) -> None:
    """The teacher's server is stopped (culled, or she stopped it): a student's widget says
    so and tries again, instead of calling her link wrong; once it runs, she is in."""
    hub.start_server("teacher")
    status, room = hub.request("POST", "user/teacher/codecompanion/api/rooms", {"name": "teacher"})
    assert status == 201, (status, room)
    link = room["links"]["edit"]
    hub.stop_server("teacher")

    ana = user("ana")
    ana_nb = hub.write_notebook(
        "ana",
        "waiting.ipynb",
        [f"from codecompanion_ext import CodeRoom\nroom = CodeRoom.join({link!r})\nroom"],
    )
    ana.open_notebook(ana_nb)
    ana.run_cell(0)
    notice = ana.page.locator(".cc-room[data-waiting=true] .cc-notice")
    notice.wait_for(timeout=30_000)
    assert notice.inner_text().strip() == WAITING
    assert "key is wrong" not in ana.page.inner_text(".cc-room")
    wait_until(
        lambda: kernel_json(ana, "[room.status, room.error]") == ["connecting", WAITING],
        20,
        message="the kernel hears that the server is not running",
    )
    # Information, not an error: no alert, and not in the error box's colours.
    assert notice.get_attribute("role") == "status"
    assert ana.page.locator(".cc-room .cc-error").is_hidden()
    look = waiting_look(ana.page)
    print("waiting notice, light theme:", look)
    assert look["notice"]["background"] != look["error"]["background"], look
    assert look["notice"]["color"] != look["error"]["color"], look
    assert look["contrast"] >= 4.5, look
    shot(ana.page, "waiting-for-the-teachers-server")
    # Readable in JupyterLab's dark theme too.
    ana.command("apputils:change-theme", {"theme": "JupyterLab Dark"})
    try:
        wait_until(lambda: ana.page.evaluate(DARK_THEME_ON), 30, message="the dark theme")
        dark = waiting_look(ana.page)
        print("waiting notice, dark theme:", dark)
        assert dark["notice"]["background"] != dark["error"]["background"], dark
        assert dark["contrast"] >= 4.5, dark
        shot(ana.page, "waiting-for-the-teachers-server-dark")
    finally:
        ana.command("apputils:change-theme", {"theme": "JupyterLab Light"})

    hub.start_server("teacher")
    ana.page.wait_for_selector(CONNECTED, timeout=60_000)
    assert ana.page.locator(".cc-room[data-waiting]").count() == 0
    wait_until(
        lambda: (
            kernel_json(ana, "[room.status, room.error, room.room_id]")
            == ["connected", "", room["roomId"]]
        ),
        20,
        message="ana's kernel: connected",
    )
    type_in_editor(ana, "print('back')")
    wait_until(
        lambda: (
            "print('back')"
            in hub.request("GET", f"user/teacher/codecompanion/api/rooms/{room['roomId']}/content")[
                1
            ]
        ),
        20,
        message="the teacher's server has ana's edit",
    )
    shot(ana.page, "joined-once-it-runs")
