"""The standalone room server's pages in real Chromium: nobody here has a Jupyter login.

- the landing page's join form: "Room not found" for an unknown id, "paste the full link"
  for an existing room's bare id;
- remote cursor labels: readable (interface font, size, contrast), shown while that person
  is active or on hover, faded otherwise;
- the room page on a 400 px wide screen: header and toolbar wrap, every control reachable,
  the participants panel out of the editor's way.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from e2e_harness import Guests, join_as, wait_until
from standalone_room import create_room, running_server, shoot

from codecompanion_ext.testing import StandaloneServerProcess


@pytest.fixture(scope="module")
def room_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StandaloneServerProcess]:
    yield from running_server(tmp_path_factory.mktemp("standalone"))


def test_landing_page_join_says_not_found_or_asks_for_the_link(
    room_server: StandaloneServerProcess, guests: Guests
) -> None:
    host = guests("host")
    room = create_room(host, room_server, "Tess")

    student = guests("student")
    student.goto(room_server.url("codecompanion/"))
    field = student.locator(".cc-join-link")
    join = student.locator(".cc-join-room button[type=submit]")
    alert = student.locator(".cc-join-room .cc-error")

    # An id no room has: the original's "Room not found".
    field.fill("noSuchRoom123")
    join.click()
    wait_until(lambda: alert.is_visible() and "Room not found" in alert.inner_text(), 15)
    shoot(student, "landing-room-not-found")

    # An existing room's bare id: it exists, and only its full link opens it. Nobody logs
    # into this server, so the page does not suggest it.
    field.fill(room["roomId"])
    join.click()
    wait_until(lambda: "full link" in alert.inner_text(), 15, message="the full-link message")
    text = alert.inner_text()
    assert "This room exists" in text and "?key=" in text, text
    assert "log" not in text.lower() and "not found" not in text.lower(), text
    assert student.url == room_server.url("codecompanion/"), "the page stays put"
    shoot(student, "landing-paste-the-full-link")

    # The full link opens it.
    field.fill(room["link"])
    join.click()
    student.wait_for_url(room["link"])
    student.locator(".cc-name-input").wait_for()


# The name label of `name`'s cursor as the page shows it (null when there is none).
LABEL = """(name) => {
  const info = Array.from(document.querySelectorAll('.cc-room .cm-ySelectionInfo'))
    .find((node) => node.textContent === name);
  if (!info) return null;
  const style = getComputedStyle(info);
  const box = info.getBoundingClientRect();
  return {
    fontFamily: style.fontFamily,
    fontSize: parseFloat(style.fontSize),
    color: style.color,
    background: style.backgroundColor,
    opacity: parseFloat(style.opacity),
    uiFont: getComputedStyle(document.querySelector('.cc-toolbar')).fontFamily,
    width: box.width,
    height: box.height,
  };
}"""
# A name whose colour is the palette's orange, where white text would read worst (2.9:1).
ORANGE_NAME = "Bianca"


def rgb(css: str) -> tuple[int, int, int]:
    match = re.fullmatch(r"rgba?\((\d+), (\d+), (\d+)(?:, ([\d.]+))?\)", css)
    assert match and (match[4] is None or float(match[4]) == 1), f"an opaque colour: {css}"
    return int(match[1]), int(match[2]), int(match[3])


def contrast(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    def luminance(colour: tuple[int, int, int]) -> float:
        linear = [
            c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
            for c in (v / 255 for v in colour)
        ]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    light, dark = sorted((luminance(a), luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def label(page: Any, name: str) -> dict | None:
    return page.evaluate(LABEL, name)


def test_cursor_labels_are_readable_show_while_active_and_on_hover(
    room_server: StandaloneServerProcess, guests: Guests
) -> None:
    ana = guests("ana")
    room = create_room(ana, room_server, "Ana")
    ana.locator(".cc-room .cm-content").click()
    ana.keyboard.type("total = 40 + 2\nprint(total)\n\n# your turn:\n")

    bianca = guests("bianca")
    join_as(bianca, room["link"], ORANGE_NAME)
    bianca.locator(".cc-room .cm-content").click()
    bianca.keyboard.press("Control+End")

    # While Bianca types, Ana sees her label.
    def bianca_types_and_ana_sees_her_label() -> dict | None:
        bianca.keyboard.type("x")
        seen = label(ana, ORANGE_NAME)
        return seen if seen and seen["opacity"] == 1 else None

    seen = wait_until(bianca_types_and_ana_sees_her_label, 20, 0.1, "Bianca's label at Ana's")
    first_family = seen["fontFamily"].split(",")[0].strip().strip("\"'").lower()
    assert first_family not in ("serif", "times", "times new roman"), seen
    assert seen["fontFamily"] == seen["uiFont"], "the label is in the interface's font"
    assert seen["fontSize"] >= 11, seen
    ratio = contrast(rgb(seen["color"]), rgb(seen["background"]))
    assert ratio >= 4.5, f"label text {seen['color']} on {seen['background']}: {ratio:.2f}:1"
    assert seen["width"] > 20 and seen["height"] >= 14, seen
    shoot(ana, "cursor-label-while-typing")

    # Bianca stops: her label fades out (her caret stays).
    wait_until(
        lambda: label(ana, ORANGE_NAME)["opacity"] == 0,
        15,
        message=lambda: f"the label to fade: {label(ana, ORANGE_NAME)}",
    )
    caret = ana.locator(f".cm-ySelectionCaret:has(.cm-ySelectionInfo:text-is('{ORANGE_NAME}'))")
    assert caret.count() == 1
    shoot(ana, "cursor-label-faded")

    # Hovering her caret shows it again; moving away fades it.
    caret.hover()
    wait_until(lambda: label(ana, ORANGE_NAME)["opacity"] == 1, 10, message="label on hover")
    shoot(ana, "cursor-label-on-hover")
    ana.mouse.move(5, 5)
    wait_until(lambda: label(ana, ORANGE_NAME)["opacity"] == 0, 10, message="fade after hover")


# Where the room page's controls are at a given width, and what overflows.
LAYOUT = """() => {
  const box = (selector) => {
    const node = document.querySelector(selector);
    if (!node) return null;
    const r = node.getBoundingClientRect();
    return { left: r.left, right: r.right, top: r.top, bottom: r.bottom, width: r.width };
  };
  const toolbar = document.querySelector('.cc-toolbar');
  const tops = new Set(Array.from(toolbar.children)
    .filter((c) => c.getBoundingClientRect().width > 0)
    .map((c) => Math.round(c.getBoundingClientRect().top)));
  return {
    viewport: { width: window.innerWidth, height: window.innerHeight },
    scrollWidth: document.documentElement.scrollWidth,
    bodyScrollWidth: document.body.scrollWidth,
    toolbarRows: tops.size,
    toolbarOverflow: toolbar.scrollWidth - toolbar.clientWidth,
    header: box('.cc-page-header'),
    language: box('.cc-language'),
    copy: box('.cc-copy'),
    copyView: box('.cc-copy-view'),
    editor: box('.cc-editor'),
    people: box('.cc-people'),
    online: box('.cc-online'),
  };
}"""


def test_room_page_at_400_px_wraps_and_keeps_every_control_reachable(
    room_server: StandaloneServerProcess, guests: Guests
) -> None:
    phone = guests("phone", viewport={"width": 400, "height": 760})
    phone.context.grant_permissions(["clipboard-read", "clipboard-write"])
    room = create_room(phone, room_server, "Pia")
    friend = guests("friend")
    join_as(friend, room["link"], "Farid")
    phone.wait_for_selector(".cc-online .cc-name:has-text('Farid')")
    phone.locator(".cc-room .cm-content").click()
    phone.keyboard.type("for i in range(3):\nprint(i)")

    layout = phone.evaluate(LAYOUT)
    assert layout["viewport"]["width"] == 400, layout
    assert layout["scrollWidth"] <= 400 and layout["bodyScrollWidth"] <= 400, layout
    assert layout["toolbarOverflow"] <= 0 and layout["toolbarRows"] >= 2, "the toolbar wraps"
    assert layout["header"]["right"] <= 400, layout
    for control in ("language", "copy", "copyView"):
        box = layout[control]
        assert box is not None, control
        inside = box["left"] >= 0 and box["right"] <= 400 and box["top"] >= 0
        assert inside and box["bottom"] <= layout["viewport"]["height"], (control, box)
    assert layout["editor"]["width"] >= 300, layout
    # The people panel is out of the editor's way, its names still on screen.
    assert layout["people"]["top"] >= layout["editor"]["bottom"] - 1, layout
    assert layout["online"]["bottom"] <= layout["viewport"]["height"], layout
    shoot(phone, "room-page-400px")

    # Every control answers a real click (Playwright checks nothing covers it).
    phone.locator(".cc-copy").click()
    assert phone.evaluate("() => navigator.clipboard.readText()") == room["link"]
    phone.locator(".cc-copy-view").click()
    view_link = phone.evaluate("() => navigator.clipboard.readText()")
    assert view_link.startswith(room["link"].split("?")[0] + "?key=") and view_link != room["link"]
    phone.locator(".cc-language").click()
    phone.keyboard.press("Escape")
    phone.select_option(".cc-language", "rust")
    friend.wait_for_function("() => document.querySelector('.cc-language').value === 'rust'")
