"""Invite by link: the standalone room page and the landing page, in real Chromium.

Guests here have no Jupyter login at all: a fresh browser context that only ever opens the
room link (its `?key=` is their only credential). Notebook users are logged into the lab.
"""

from __future__ import annotations

import json
import re
from typing import Any

from e2e_harness import (
    ARTIFACTS_DIR,
    Guests,
    LabServer,
    NotebookPage,
    editor_text,
    join_as,
    wait_until,
)

CONNECTED = ".cc-status[data-status=connected]"
SHOTS = "e2e/room-page"

HOSTILE_NAME = '<img src=x onerror="window.__pwned=1"><b>Eve</b>'


def type_at_end(page: Any, text: str, index: int = 0) -> None:
    page.locator(".cc-room .cm-content").nth(index).click()
    page.keyboard.press("Control+End")
    page.keyboard.type(text)


def kernel_json(person: NotebookPage, expression: str) -> Any:
    return json.loads(person.execute_in_kernel(f"import json; print(json.dumps({expression}))"))


def create_room(lab: LabServer, name: str = "Teacher", language: str = "python") -> dict:
    status, room = lab.request(
        "POST", "codecompanion/api/rooms", {"name": name, "programmingLanguage": language}
    )
    assert status == 201, room
    assert room["access"] == "edit", room
    assert set(room["links"]) >= {"edit", "view"}, room["links"]
    return room


def room_content(lab: LabServer, room_id: str) -> str:
    status, text = lab.request("GET", f"codecompanion/api/rooms/{room_id}/content")
    assert status == 200, text
    return text


def shoot(page: Any, name: str) -> None:
    target = ARTIFACTS_DIR / SHOTS / f"{name}.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(target))


def test_guest_with_edit_link_co_edits_with_notebook_users(
    lab: LabServer, user, guests: Guests
) -> None:
    room = create_room(lab, "Teacher", "python")
    room_id, edit_link, view_link = room["roomId"], room["links"]["edit"], room["links"]["view"]

    # A guest with only the edit link: a page of its own, a name prompt, then the editor.
    gia = guests("gia")
    gia.goto(edit_link)
    assert gia.title() == f"Room {room_id} · Code Companion"
    cookies = [c["name"] for c in gia.context.cookies()]
    assert not any(name.startswith("username-") for name in cookies), "no Jupyter login"
    name_input = gia.locator(".cc-name-input")
    name_input.wait_for()
    shoot(gia, "01-guest-asked-for-name")
    name_input.fill("Gia")
    name_input.press("Enter")
    gia.wait_for_selector(CONNECTED)
    assert gia.locator(".cc-badge").is_hidden(), "an edit link is not view-only"
    type_at_end(gia, "total = 40 + 2")
    wait_until(lambda: room_content(lab, room_id) == "total = 40 + 2", 20, message="stored")

    # A notebook user joins by room id (Jupyter login); a second widget joins by the view link
    # through another origin (localhost instead of 127.0.0.1): the key, no cookies, CORS.
    cross_origin_view = view_link.replace("127.0.0.1", "localhost")
    assert cross_origin_view != view_link
    notebook = lab.write_notebook(
        "invite.ipynb",
        [
            "from codecompanion_ext import CodeRoom\n"
            f'room = CodeRoom.join({room_id!r}, name="Nora")\nroom',
            f'watcher = CodeRoom.join({cross_origin_view!r}, name="Wes")\nwatcher',
        ],
    )
    nora = user("nora").open_notebook(notebook)
    nora.run_cell(0)
    nora.page.locator(".cc-room").nth(0).locator(CONNECTED).wait_for(timeout=30_000)
    wait_until(lambda: editor_text(nora.page, 0) == "total = 40 + 2", 15, message="Nora sees")
    nora.page.wait_for_selector(".cc-online .cc-name:has-text('Gia')")
    nora.page.wait_for_selector(".cc-participants .cc-name:has-text('Gia')")
    gia.wait_for_selector(".cc-online .cc-name:has-text('Nora')")
    # The widget's link is the edit link the server hands out, its view link too.
    assert kernel_json(nora, "[room.link, room.view_link, room.access]") == [
        edit_link,
        view_link,
        "edit",
    ]

    # Nora types; the guest sees it.
    type_at_end(nora.page, "\nprint(total)", 0)
    wait_until(
        lambda: editor_text(gia) == "total = 40 + 2\nprint(total)", 15, message="Gia sees Nora"
    )

    nora.run_cell(1)
    watcher = nora.page.locator(".cc-room").nth(1)
    watcher.locator(CONNECTED).wait_for(timeout=30_000)
    assert watcher.locator(".cc-badge").is_visible()
    assert watcher.locator(".cc-language").is_disabled()
    wait_until(
        lambda: (
            kernel_json(nora, "[watcher.access, watcher.key != '', watcher.room_id]")
            == ["view", True, room_id]
        ),
        20,
        message="the watcher widget joined view-only with the link's key",
    )
    assert kernel_json(nora, "watcher.link") == view_link.replace("127.0.0.1", "localhost")
    # A view-only widget cannot change the room from the kernel either.
    nora.execute_in_kernel('watcher.code = "hacked"')
    wait_until(
        lambda: kernel_json(nora, "watcher.code") == "total = 40 + 2\nprint(total)",
        20,
        message="the watcher's code assignment is put back",
    )
    assert room_content(lab, room_id) == "total = 40 + 2\nprint(total)"
    gia.wait_for_selector(".cc-online .cc-name:has-text('Wes')")
    nora.screenshot(f"{SHOTS}/02-notebook-sees-guest.png")
    shoot(gia, "03-guest-sees-notebook-user")


def test_view_link_guest_watches_live_and_cannot_type(lab: LabServer, guests: Guests) -> None:
    room = create_room(lab, "Teacher", "javascript")
    room_id = room["roomId"]
    editor = guests("editor")
    join_as(editor, room["links"]["edit"], "Ed")
    type_at_end(editor, "let a = 1;")

    viewer = guests("viewer", color_scheme="dark")
    join_as(viewer, room["links"]["view"], HOSTILE_NAME)
    badge = viewer.locator(".cc-badge")
    assert badge.is_visible() and badge.inner_text() == "View only"
    assert viewer.locator(".cc-language").is_disabled()
    assert viewer.input_value(".cc-language") == "javascript"
    assert viewer.locator(".cc-copy-view").is_hidden(), "a viewer gets no other link"
    wait_until(lambda: editor_text(viewer) == "let a = 1;", 15, message="viewer sees the text")

    # Live: the editor types, the viewer sees it.
    type_at_end(editor, "\nlet b = 2;")
    wait_until(lambda: editor_text(viewer) == "let a = 1;\nlet b = 2;", 10, message="live edit")

    # The viewer types: nothing changes, here or anywhere.
    type_at_end(viewer, "BROKEN")
    viewer.keyboard.press("Enter")
    viewer.keyboard.press("Backspace")
    assert editor_text(viewer) == "let a = 1;\nlet b = 2;"
    type_at_end(editor, "\n// marker")  # after the viewer's keys, in every peer's order
    wait_until(lambda: "// marker" in (editor_text(viewer) or ""), 10, message="marker")
    for page in (editor, viewer):
        assert editor_text(page) == "let a = 1;\nlet b = 2;\n// marker"
    assert room_content(lab, room_id) == "let a = 1;\nlet b = 2;\n// marker"

    # (d) A name holding HTML is text everywhere: no element, no script ran.
    editor.wait_for_selector(".cc-online .cc-name:has-text('<b>Eve</b>')")
    for page in (editor, viewer):
        page.wait_for_selector(".cc-participants .cc-name:has-text('<b>Eve</b>')")
        names = page.locator(".cc-participants .cc-name").all_inner_texts()
        assert HOSTILE_NAME in names, names
        # (CodeMirror's own <img class="cm-widgetBuffer"> around cursors is no name.)
        assert page.locator(".cc-people b, .cc-people img, .cm-ySelectionInfo *").count() == 0
        assert page.locator(".cc-room img:not(.cm-widgetBuffer)").count() == 0
        assert page.evaluate("() => window.__pwned") is None
    _, record = lab.request("GET", f"codecompanion/api/rooms/{room_id}")
    assert record["participants"] == ["Teacher", "Ed", HOSTILE_NAME]
    shoot(viewer, "04-view-only-dark")
    shoot(editor, "05-editor-sees-viewer")


def test_room_page_errors_and_rotated_links(lab: LabServer, guests: Guests) -> None:
    room = create_room(lab)
    room_id = room["roomId"]
    page = guests("guest")

    page.goto(lab.url("codecompanion/rooms/noSuchRoom123?key=whatever"))
    error = page.locator(".cc-error:visible")
    error.wait_for()
    assert re.search(r"does not exist|not valid|does not open", error.inner_text()), (
        error.inner_text()
    )
    assert page.locator(".cc-name-input").count() == 0

    page.goto(lab.url(f"codecompanion/rooms/{room_id}?key=wrong-key"))
    page.locator(".cc-error:visible").wait_for()
    assert "does not open the room" in page.locator(".cc-error").inner_text()
    shoot(page, "06-bad-key")

    page.goto(lab.url(f"codecompanion/rooms/{room_id}"))  # no key, no login
    page.locator(".cc-error:visible").wait_for()
    assert "full link" in page.locator(".cc-error").inner_text()

    # The name is remembered for next time, and shown prefilled.
    join_as(page, room["links"]["edit"], "Remy")
    page.goto(room["links"]["view"])
    name_input = page.locator(".cc-name-input")
    name_input.wait_for()
    assert name_input.input_value() == "Remy"
    name_input.press("Enter")
    page.wait_for_selector(CONNECTED)

    # New links: the open page is told its link stopped working.
    status, rotated = lab.request("POST", f"codecompanion/api/rooms/{room_id}/keys")
    assert status == 200, rotated
    assert rotated["links"]["view"] != room["links"]["view"]
    page.locator(".cc-error:visible").wait_for(timeout=15_000)
    assert "no longer opens" in page.locator(".cc-error").inner_text()
    shoot(page, "07-rotated-link")
    page.goto(room["links"]["view"])
    page.locator(".cc-error:visible").wait_for()
    assert "does not open the room" in page.locator(".cc-error").inner_text()
    join_as(page, rotated["links"]["view"], "Remy")


def test_landing_page_creates_and_joins_rooms(lab: LabServer, guests: Guests) -> None:
    # A Jupyter user (logged in with the token, then by cookie) creates a room.
    host = guests("host", permissions=["clipboard-read", "clipboard-write"])
    host.goto(lab.url(f"codecompanion/?token={lab.token}"))
    host.goto(lab.url("codecompanion/"))
    assert host.title() == "Code Companion"
    host.locator(".cc-create-name").fill("Hana")
    host.select_option(".cc-create-language", "rust")
    shoot(host, "08-landing-logged-in")
    host.locator(".cc-create button[type=submit]").click()
    host.wait_for_url(re.compile(r"/codecompanion/rooms/[A-Za-z0-9_-]+\?key="))
    host.wait_for_selector(CONNECTED)  # the creator is not asked for a name again
    room_id = re.search(r"/rooms/([A-Za-z0-9_-]+)", host.url)[1]
    _, room = lab.request("GET", f"codecompanion/api/rooms/{room_id}")
    assert (room["owner"], room["participants"], room["programmingLanguage"]) == (
        "Hana",
        ["Hana"],
        "rust",
    )
    assert host.url == room["links"]["edit"]
    assert host.input_value(".cc-language") == "rust"
    host.locator(".cc-copy").click()
    assert host.evaluate("() => navigator.clipboard.readText()") == room["links"]["edit"]
    host.locator(".cc-copy-view").click()
    assert host.evaluate("() => navigator.clipboard.readText()") == room["links"]["view"]

    # Landing page, join: a bare id that does not exist.
    host.goto(lab.url("codecompanion/"))
    host.locator(".cc-join-link").fill("noSuchRoom123")
    host.locator(".cc-join-room button[type=submit]").click()
    alert = host.locator(".cc-join-room .cc-error:visible")
    alert.wait_for()
    assert "Room not found" in alert.inner_text()

    # A guest: no create form, only a login hint; joining needs the full link.
    guest = guests("guest")
    guest.goto(lab.url("codecompanion/"))
    guest.locator(".cc-create .cc-note").wait_for()
    assert guest.locator(".cc-create-name").count() == 0
    guest.locator(".cc-join-link").fill("not a link at all")
    guest.locator(".cc-join-room button[type=submit]").click()
    guest_alert = guest.locator(".cc-join-room .cc-error:visible")
    guest_alert.wait_for()
    assert "neither a room link" in guest_alert.inner_text()
    guest.locator(".cc-join-link").fill(room_id)
    guest.locator(".cc-join-room button[type=submit]").click()
    wait_until(lambda: "full link" in guest_alert.inner_text(), 10, message="needs full link")
    shoot(guest, "09-landing-guest")
    guest.locator(".cc-join-link").fill(f"  {room['links']['view']}  ")
    guest.locator(".cc-join-room button[type=submit]").click()
    guest.wait_for_url(room["links"]["view"])
    guest.locator(".cc-name-input").fill("Gus")
    guest.locator(".cc-name-input").press("Enter")
    guest.wait_for_selector(CONNECTED)
    assert guest.locator(".cc-badge").is_visible()
    host.goto(room["links"]["edit"])
    host.locator(".cc-name-input").press("Enter")  # prefilled with Hana
    host.wait_for_selector(CONNECTED)
    host.wait_for_selector(".cc-online .cc-name:has-text('Gus')")
    shoot(host, "10-host-room")
