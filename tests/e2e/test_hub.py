"""A class on a real JupyterHub: the extension on every single-user server, the widget in
each user's own JupyterLab, a logged-out browser with the link.

JupyterHub (this venv's), configurable-http-proxy (js/node_modules), DummyAuthenticator and
SimpleLocalProcessSpawner, all on loopback ports (hub_harness.py). The teacher creates a room
in her notebook with `CodeRoom()` (her hub name is the default), a student joins it from her
own notebook on her own server, a guest opens the link; with the teacher's browser closed
and only the others typing, the teacher's server still counts as active. A student who joins
while the room's server is stopped is told so, and joins once it runs again.
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
    ana.page.wait_for_selector(".cc-room[data-waiting=true] .cc-error", timeout=30_000)
    assert ana.page.inner_text(".cc-room .cc-error").strip() == WAITING
    assert "key is wrong" not in ana.page.inner_text(".cc-room")
    wait_until(
        lambda: kernel_json(ana, "[room.status, room.error]") == ["connecting", WAITING],
        20,
        message="the kernel hears that the server is not running",
    )
    shot(ana.page, "waiting-for-the-teachers-server")

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
