"""`codecompanion` as a JupyterHub service, in real Chromium: a teacher signed into the hub
opens the service, is logged in by the hub's OAuth without being asked anything, and
creates a room under their hub name; a student's notebook on the same hub joins it by its
link and co-edits. Screenshots: test-artifacts/e2e/hub-service/.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from e2e_harness import ARTIFACTS_DIR, KERNEL_TIMEOUT, VIEWPORT, editor_text, wait_until
from hub_harness import HubProcess, hub_login, hub_user
from hub_service import PREFIX, start_hub

SHOTS = ARTIFACTS_DIR / "e2e" / "hub-service"
CONNECTED = ".cc-status[data-status=connected]"


def shoot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubProcess]:
    hub = start_hub(tmp_path_factory.mktemp("hub-e2e"))
    try:
        yield hub
    finally:
        hub.shutdown_kernels("ana")
        hub.stop()


def page_config(page: Any) -> dict[str, Any]:
    text = page.evaluate(
        "() => document.getElementById('codecompanion-page-config')?.textContent || '{}'"
    )
    return json.loads(text)


def test_a_teacher_creates_a_room_on_the_service_and_a_students_notebook_joins(
    hub: HubProcess, browser: Any
) -> None:
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(60_000)
    teacher = context.new_page()
    try:
        # Signed into the hub, the teacher opens the service: the hub's OAuth logs them in.
        hub_login(teacher, hub, "teacher", next_path=f"/{PREFIX}")
        landing = hub.url(PREFIX + "codecompanion/")
        wait_until(lambda: teacher.url.startswith(landing), 60, message=lambda: teacher.url)
        name = teacher.locator(".cc-create-name")
        name.wait_for()
        assert page_config(teacher)["hubUser"] == "teacher"
        assert name.input_value() == "teacher" and name.evaluate("n => n.readOnly")
        shoot(teacher, "landing-signed-in-teacher")

        teacher.locator(".cc-create button[type=submit]").click()
        teacher.wait_for_url(lambda url: "/codecompanion/rooms/" in url and "key=" in url)
        teacher.wait_for_selector(CONNECTED)  # no name asked: the hub name is theirs
        link = teacher.url
        assert link.startswith(hub.url(PREFIX + "codecompanion/rooms/")), link
        teacher.locator(".cc-participants:has-text('teacher')").wait_for()
        shoot(teacher, "room-created-by-teacher")

        # A student's notebook on the same hub joins by the link, in their own JupyterLab.
        ana = hub_user(browser, hub, "ana")
        path = ana.lab.write_notebook(
            "join.ipynb",
            [
                "from codecompanion_ext import CodeRoom\n"
                f"room = CodeRoom.join({link!r}, name='Ana L.')\nroom"
            ],
        )
        ana.open_notebook(path)
        ana.run_cell(0)
        ana.page.wait_for_selector(CONNECTED, timeout=KERNEL_TIMEOUT * 1000)
        editor = teacher.locator(".cc-room .cm-content")
        editor.click()
        teacher.keyboard.type("print('hello class')")
        wait_until(
            lambda: "hello class" in (editor_text(ana.page) or ""),
            20,
            message=lambda: f"ana's editor: {editor_text(ana.page)!r}",
        )
        teacher.locator(".cc-participants:has-text('Ana L.')").wait_for()
        shoot(ana.page, "student-notebook-joined")
        shoot(teacher, "room-with-student")
    finally:
        context.close()
