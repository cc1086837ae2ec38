"""A notebook on one Jupyter server joins a room that lives on another, by its link alone."""

from __future__ import annotations

import json

import pytest
from e2e_harness import LabServer, wait_until

from codecompanion_ext.testing import JupyterServerProcess as ServerProcess

CONNECTED = ".cc-status[data-status=connected]"


@pytest.fixture
def other_server(tmp_path):
    (tmp_path / "other").mkdir()
    server = ServerProcess(tmp_path / "other").start()
    yield server
    server.stop()


def test_notebook_joins_a_room_on_another_server_by_link(
    lab: LabServer, user, other_server: ServerProcess
) -> None:
    status, room = other_server.api(
        "POST", "rooms", body={"name": "Teacher", "programmingLanguage": "python"}
    )
    assert status == 201
    link = room["links"]["edit"]
    assert link.startswith(other_server.base)  # not the lab's origin: cross-origin calls
    notebook = lab.write_notebook(
        "remote.ipynb",
        [
            "from codecompanion_ext import CodeRoom\n"
            f'room = CodeRoom.join({link!r}, name="Kim")\nroom'
        ],
    )
    kim = user("kim").open_notebook(notebook)
    kim.run_cell(0)
    kim.page.wait_for_selector(CONNECTED, timeout=30_000)
    kim.page.locator(".cc-room .cm-content").click()
    kim.page.keyboard.type("print('typed from another server')")

    def remote_content() -> bool:
        _, text = other_server.api("GET", "rooms", room["roomId"], "content")
        return text == "print('typed from another server')"

    wait_until(remote_content, 20, message="the edit stored on the other server")
    _, record = other_server.api("GET", "rooms", room["roomId"])
    assert record["participants"] == ["Teacher", "Kim"]
    access = json.loads(kim.execute_in_kernel("import json; print(json.dumps(room.access))"))
    assert access == "edit"
    kim.screenshot("e2e/cross-server.png")
