"""Follow mode and raised hands (issue 15, items 4 and 5), in real Chromium.

On the standalone server's room page: Ana (light theme) and Bob (dark theme) share a room of
200 lines. Ana clicks Bob's name in the Online list and her editor scrolls to his caret, at
line 200 and then at line 5; once she types, it no longer does. Bob raises his hand: Ana sees
✋ next to his name and "Bob needs help", a pycrdt peer sees the room's `help` map hold his
name and an ISO 8601 UTC time, and Ana clears it, which puts Bob's button back. Following
also ends when the name is clicked again, or when the person leaves.

In JupyterLab: the notebook widget's "Raise hand" shows in the kernel (`room.hands`,
`room.hand_raised`), and `room.lower_hand()` lowers it, in the light and the dark theme.
Screenshots in test-artifacts/e2e/follow/.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.request import urlopen

from e2e_harness import ARTIFACTS_DIR, Guests, LabServer, join_as, wait_until
from peer_loop import PeerLoop
from pycrdt import Map
from standalone_room import create_room

from codecompanion_ext.testing import StandaloneServerProcess

SHOTS = ARTIFACTS_DIR / "e2e" / "follow"
LINES = "\n".join(f"line_{n} = {n}" for n in range(1, 201))
RAISE = "\u270b Raise hand"

# Whether line `n`'s number is drawn inside the editor's scroller (CodeMirror draws only the
# lines near its viewport, so a far line is not drawn at all).
LINE_VISIBLE = """([n]) => {
  const scroller = document.querySelector('.cc-room .cm-scroller');
  const box = scroller.getBoundingClientRect();
  for (const cell of document.querySelectorAll('.cc-room .cm-lineNumbers .cm-gutterElement')) {
    if (cell.textContent !== String(n)) continue;
    const r = cell.getBoundingClientRect();
    return r.height > 0 && r.top >= box.top - 1 && r.bottom <= box.bottom + 1;
  }
  return false;
}"""


def shoot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def line_visible(page: Any, n: int) -> bool:
    return bool(page.evaluate(LINE_VISIBLE, [n]))


def scroll_top(page: Any) -> float:
    return float(page.evaluate("document.querySelector('.cc-room .cm-scroller').scrollTop"))


def name_button(page: Any, name: str) -> Any:
    return page.locator(f".cc-online button.cc-follow:text-is({name!r})")


def following(page: Any) -> str | None:
    """Whom the page shows as followed: its pressed name, checked against the hint."""
    pressed = page.locator(".cc-online button.cc-follow[aria-pressed=true]")
    hint = page.locator(".cc-follow-hint")
    if pressed.count() == 0:
        return None if hint.is_hidden() else "hint without a pressed name"
    name = pressed.inner_text()
    text = hint.inner_text() if hint.is_visible() else ""
    return name if text == f"Following {name} · click to stop" else f"hint says {text!r}"


def help_map(peers: PeerLoop, client: Any) -> dict[str, Any]:
    return peers.call(lambda: dict(client.doc.get("help", type=Map).to_py() or {}))


def test_follow_a_caret_then_raise_and_clear_a_hand(
    room_server: StandaloneServerProcess, guests: Guests, peers: PeerLoop
) -> None:
    ana = guests("ana", color_scheme="light")
    room = create_room(ana, room_server, "Ana")
    witness = peers.join(room["websocket"], "witness")  # no presence: not online
    ana.locator(".cm-content").click()
    ana.keyboard.insert_text(LINES)
    ana.keyboard.press("Control+Home")
    # (The editors draw only the lines near their viewport: the peer reads the whole text.)
    wait_until(lambda: peers.call(lambda: witness.text) == LINES, 20, message="200 lines")

    bob = guests("bob", color_scheme="dark")
    join_as(bob, room["link"], "Bob")
    wait_until(lambda: line_visible(bob, 20), 20, message="Bob has the text")
    # Others' names are buttons (keyboard accessible, not pressed); one's own is not.
    name_button(ana, "Bob").wait_for()
    assert name_button(ana, "Bob").get_attribute("aria-pressed") == "false"
    assert ana.locator(".cc-online button.cc-follow:text-is('Ana')").count() == 0
    assert ana.locator(".cc-online span.cc-name:text-is('Ana')").count() == 1
    assert line_visible(ana, 1) and not line_visible(ana, 200)
    # The editor scrolls inside its box (it does not grow to the text's height).
    assert ana.evaluate(
        "(s => s.scrollHeight > s.clientHeight + 1000)(document.querySelector('.cm-scroller'))"
    )

    # Bob goes to the end (line 200); Ana follows him and her view goes there.
    bob.locator(".cm-content").click()
    bob.keyboard.press("Control+End")
    name_button(ana, "Bob").click()
    wait_until(lambda: line_visible(ana, 200), 15, message="Ana's view at Bob's line 200")
    wait_until(lambda: following(ana) == "Bob", 5, message=lambda: f"shown: {following(ana)}")
    assert not line_visible(ana, 1)
    # Only the editor scrolled, not the page around it.
    assert ana.evaluate("window.scrollY") == 0
    shoot(ana, "01-ana-follows-bob-light")

    # Bob goes to line 5: her view follows.
    bob.keyboard.press("Control+Home")
    for _ in range(4):
        bob.keyboard.press("ArrowDown")
    wait_until(
        lambda: line_visible(ana, 5) and not line_visible(ana, 200),
        15,
        message="Ana's view at Bob's line 5",
    )
    assert following(ana) == "Bob"

    # Ana types (her editor focused without a click): following stops.
    ana.locator(".cm-content").focus()
    ana.keyboard.type("# Ana was here\n")
    wait_until(lambda: following(ana) is None, 10, message=lambda: f"shown: {following(ana)}")
    assert name_button(ana, "Bob").get_attribute("aria-pressed") == "false"
    top = scroll_top(ana)

    # Bob goes to the end again, then raises his hand (sent after his caret): once Ana sees
    # the hand, his caret has reached her too, and her view stayed where it was.
    bob.locator(".cm-content").click()
    bob.keyboard.press("Control+End")
    hand = bob.locator(".cc-toolbar button.cc-hand")
    assert hand.inner_text() == RAISE and hand.get_attribute("aria-pressed") == "false"
    hand.click()
    wait_until(lambda: hand.inner_text() == "Lower hand", 10, message="Bob's button says Lower")
    assert hand.get_attribute("aria-pressed") == "true"
    ana.locator(".cc-hands .cc-hand-badge[data-name=Bob]").wait_for()
    assert ana.locator(".cc-hands").text_content().startswith("\u270b Bob needs help")
    assert ana.locator(".cc-online .cc-person:has(.cc-name:text-is('Bob')) .cc-hand-mark").count()
    assert ana.locator(
        ".cc-participants .cc-person:has(.cc-name:text-is('Bob')) .cc-hand-mark"
    ).count()
    assert ana.locator(".cc-person:has(.cc-name:text-is('Ana')) .cc-hand-mark").count() == 0
    assert not line_visible(ana, 200) and scroll_top(ana) == top, "not following any more"
    assert bob.locator(".cc-hands").text_content().startswith("\u270b You asked for help")
    shoot(ana, "02-ana-sees-bob-raise-his-hand-light")
    shoot(bob, "03-bob-raised-his-hand-dark")

    # In the room document: help = {"Bob": ISO 8601 UTC time}, as a pycrdt peer sees it.
    entry = wait_until(lambda: help_map(peers, witness).get("Bob"), 10, message="help.Bob")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", entry), entry
    raised = datetime.fromisoformat(entry.replace("Z", "+00:00"))
    assert abs(datetime.now(timezone.utc) - raised) < timedelta(minutes=5)
    assert set(help_map(peers, witness)) == {"Bob"}

    # Ana (edit access: a teacher's role here) clears it; Bob's button is back.
    ana.locator(".cc-hand-badge[data-name=Bob] button.cc-hand-clear").click()
    wait_until(lambda: hand.inner_text() == RAISE, 10, message="Bob's button back to Raise")
    assert hand.get_attribute("aria-pressed") == "false"
    assert ana.locator(".cc-hands").is_hidden() and bob.locator(".cc-hands").is_hidden()
    assert ana.locator(".cc-hand-mark").count() == 0
    wait_until(lambda: help_map(peers, witness) == {}, 10, message="help map empty")

    # By keyboard: Ana follows Bob again (Enter on his name), then clicks it to stop.
    name_button(ana, "Bob").focus()
    ana.keyboard.press("Enter")
    wait_until(lambda: line_visible(ana, 200), 15, message="Ana's view at Bob's caret again")
    assert following(ana) == "Bob"
    name_button(ana, "Bob").click()
    wait_until(lambda: following(ana) is None, 10, message="clicking again stops")

    # Bob follows Ana (dark theme), for the screenshot; then Ana follows Bob, and he leaves.
    name_button(bob, "Ana").click()
    wait_until(lambda: following(bob) == "Ana", 10, message="Bob follows Ana")
    shoot(bob, "04-bob-follows-ana-dark")
    name_button(ana, "Bob").click()
    wait_until(lambda: following(ana) == "Bob", 10, message="Ana follows Bob")
    bob.goto("about:blank")  # leaves: the page's socket closes, the server clears his presence
    wait_until(lambda: following(ana) is None, 20, message="Bob left: following ended")
    assert name_button(ana, "Bob").count() == 0


def test_a_view_only_peer_has_no_hand_button_and_sees_hands(
    room_server: StandaloneServerProcess, guests: Guests
) -> None:
    ana = guests("ana")
    room = create_room(ana, room_server, "Ana")
    key = room["link"].split("?key=")[1]
    with urlopen(room_server.url(f"codecompanion/api/rooms/{room['roomId']}?key={key}")) as r:
        view_link = json.load(r)["links"]["view"]
    assert view_link and view_link != room["link"]
    watcher = guests("watcher", color_scheme="dark")
    join_as(watcher, view_link, "Wes")
    assert watcher.locator(".cc-badge").is_visible()  # view only
    assert watcher.locator("button.cc-hand").is_hidden()
    ana.locator("button.cc-hand").click()
    watcher.locator(".cc-hand-badge[data-name=Ana]").wait_for()
    assert watcher.locator(".cc-hand-clear").count() == 0, "view-only: no Clear"
    # Ana's own hand, in her banner: lowering it from there works too.
    ana.locator(".cc-hand-badge[data-name=Ana] .cc-hand-clear").click()
    wait_until(lambda: watcher.locator(".cc-hands").is_hidden(), 10, message="lowered")
    assert ana.locator("button.cc-hand").inner_text() == RAISE


def test_raising_a_hand_in_the_notebook_widget_shows_in_the_kernel(
    lab: LabServer, user: Any
) -> None:
    notebook = lab.write_notebook(
        "hands.ipynb",
        ['from codecompanion_ext import CodeRoom\nroom = CodeRoom(name="Nora")\nroom'],
    )
    nora = user("nora").open_notebook(notebook)
    nora.run_cell(0)
    widget = nora.page.locator(".cc-room").first
    widget.locator(".cc-status[data-status=connected]").wait_for(timeout=30_000)
    hand = widget.locator("button.cc-hand")
    assert hand.inner_text() == RAISE
    hand.click()
    nora.wait_for_kernel_value("print(room.hands, room.hand_raised)", "['Nora'] True", 20)
    widget.locator(".cc-hand-badge[data-name=Nora]").wait_for()
    nora.screenshot("e2e/follow/05-widget-hand-raised-light.png")
    nora.command("apputils:change-theme", {"theme": "JupyterLab Dark"})
    nora.page.wait_for_selector("body[data-jp-theme-light=false]", state="attached")
    nora.page.wait_for_selector("#jupyterlab-splash", state="detached")  # the theme's splash
    nora.screenshot("e2e/follow/06-widget-hand-raised-dark.png")
    # From the kernel: lower it, then raise it again.
    nora.execute_in_kernel("room.lower_hand()")
    wait_until(lambda: hand.inner_text() == RAISE, 20, message="lowered from the kernel")
    nora.wait_for_kernel_value("print(room.hands, room.hand_raised)", "[] False", 20)
    nora.execute_in_kernel("room.raise_hand()")
    wait_until(lambda: hand.inner_text() == "Lower hand", 20, message="raised from the kernel")
    nora.command("apputils:change-theme", {"theme": "JupyterLab Light"})
