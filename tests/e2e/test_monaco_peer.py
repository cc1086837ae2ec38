"""The original Code Companion's editor stack co-edits with ours, in real Chromium.

The original app's editor is Monaco bound to the room's `code` text with y-monaco and synced
by y-websocket 1.x. `monaco_peer/` is a page built on exactly those npm packages (bundled here
with esbuild from js/node_modules, served over loopback from another origin than the room
server, so it joins with the link's key alone): its language follows the room's
`meta.language`, and its presence is `user: {name, color}` plus y-monaco's `selection`.

Beside it, our room page (standalone server) and our notebook widget with the room page
(JupyterLab): text typed on either side appears on the other, a language change on our side
changes Monaco's model language, and each side shows the other's name; ours show the Monaco
user's caret and selection where they are, and Monaco ours (our editors publish y-monaco's
`selection` beside their own `cursor`); our Online dots are in each person's caret colour.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from e2e_harness import ARTIFACTS_DIR, Guests, LabServer, editor_text, join_as, wait_until
from standalone_room import DOT, SELECTED, create_room

from codecompanion_ext.testing import StandaloneServerProcess

PEER_SOURCES = Path(__file__).parent / "monaco_peer"
CONNECTED = ".cc-status[data-status=connected]"
SHOTS = ARTIFACTS_DIR / "e2e" / "monaco-peer"

MONA = "Mona (Monaco)"
MONA_COLOR = "#388e3c"
MONA_RGB = "rgb(56, 142, 60)"

# Where the caret labelled `name` is in the page's room editor: the text of its line before
# it, and its label's colour.
CARET = """(name) => {
  const info = Array.from(document.querySelectorAll('.cc-room .cm-ySelectionInfo'))
    .find((node) => node.textContent === name);
  if (!info) return null;
  const caret = info.closest('.cm-ySelectionCaret');
  const range = document.createRange();
  range.setStart(caret.closest('.cm-line'), 0);
  range.setEndBefore(caret);
  const before = range.cloneContents();
  before.querySelectorAll('.cm-ySelectionCaret').forEach((node) => node.remove());
  return { before: before.textContent, background: getComputedStyle(info).backgroundColor };
}"""
# The caret and selection y-monaco draws in the Monaco page for the peer named `name`: its
# decoration (`yRemoteSelection-<client>` on the selected range, with the caret as a
# `yRemoteSelectionHead-<client>` element before or after it), as the head's 1-based
# [line, column], the selected text, the text drawn before the head element in its line, the
# head's colour; and the colour that peer's presence gives.
MONACO_CARET = """(name) => {
  const { provider, model, doc } = window.__peer;
  let client = null;
  let color = null;
  provider.awareness.getStates().forEach((state, id) => {
    if (id !== doc.clientID && state.user && state.user.name === name) {
      client = id;
      color = state.user.color;
    }
  });
  if (client === null) return null;
  const decoration = model.getAllDecorations()
    .find((d) => (d.options.className || '').split(' ').includes(`yRemoteSelection-${client}`));
  const head = document.querySelector(`.monaco-editor .view-line .yRemoteSelectionHead-${client}`);
  if (!decoration || !head) return null;
  const { range, options } = decoration;
  const atEnd = Boolean(options.afterContentClassName);
  const before = document.createRange();
  before.setStart(head.closest('.view-line'), 0);
  before.setEndBefore(head);
  return {
    head: atEnd
      ? [range.endLineNumber, range.endColumn]
      : [range.startLineNumber, range.startColumn],
    selected: model.getValueInRange(range),
    before: before.toString().replace(/\u00a0/g, ' '),
    border: getComputedStyle(head).borderLeftColor,
    color,
  };
}"""


class _Files(SimpleHTTPRequestHandler):
    extensions_map: ClassVar[dict[str, str]] = {
        **SimpleHTTPRequestHandler.extensions_map,
        ".js": "text/javascript",
        ".css": "text/css",
        ".ttf": "font/ttf",
    }

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def monaco_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The Monaco peer, bundled from monaco_peer/ and served on a loopback port of its own:
    its base URL (another origin than any room server's)."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("Node.js is needed to bundle the Monaco peer (see README: Set up)")
    out = tmp_path_factory.mktemp("monaco-peer")
    build = subprocess.run(
        [node, str(PEER_SOURCES / "build.mjs"), str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert build.returncode == 0, f"esbuild failed:\n{build.stdout}\n{build.stderr}"
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Files, directory=str(out)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(10)


def open_monaco(page: Any, site: str, link: str, name: str = MONA, color: str = MONA_COLOR) -> None:
    """Open the Monaco peer on the room of `link` (a room page link with its key); wait
    until it has joined and synced."""
    parts = urlsplit(link)
    base_path, room_id = re.fullmatch(
        r"(.*/)codecompanion/rooms/([A-Za-z0-9_-]+)", parts.path
    ).groups()
    key = parse_qs(parts.query)["key"][0]
    server = f"{parts.scheme}://{parts.netloc}{base_path}"
    query = urlencode({"server": server, "room": room_id, "key": key, "name": name, "color": color})
    page.goto(f"{site}index.html?{query}", timeout=60_000)  # 10 MB of unminified Monaco
    page.wait_for_selector("#status[data-status=connected]", timeout=60_000)


def rgb(hex_color: str) -> str:
    """A "#rrggbb" colour as getComputedStyle gives it."""
    red, green, blue = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgb({red}, {green}, {blue})"


def monaco_caret(page: Any, name: str) -> dict[str, Any] | None:
    return page.evaluate(MONACO_CARET, name)


def wait_for_monaco_caret(page: Any, name: str, line: int, before: str, selected: str = "") -> None:
    """Wait until Monaco draws `name`'s caret on `line` after the text `before` (its head),
    with `selected` selected, in the colour of their presence."""
    expected = {"head": [line, len(before) + 1], "before": before, "selected": selected}

    def placed() -> bool:
        caret = monaco_caret(page, name) or {}
        return {key: caret.get(key) for key in expected} == expected

    wait_until(placed, 20, message=lambda: f"{name}'s caret in Monaco ({monaco_caret(page, name)})")
    caret = monaco_caret(page, name)
    assert caret["border"] == rgb(caret["color"]), caret


def monaco_text(page: Any) -> str:
    return page.evaluate("() => window.__peer.model.getValue()")


def monaco_language(page: Any) -> str:
    return page.evaluate("() => window.__peer.model.getLanguageId()")


def monaco_lines_on_screen(page: Any) -> str:
    """What Monaco draws: its view lines, top to bottom (it draws spaces as U+00A0)."""
    return page.evaluate(
        """() => Array.from(document.querySelectorAll('.monaco-editor .view-line'))
          .sort((a, b) => a.getBoundingClientRect().top - b.getBoundingClientRect().top)
          .map((line) => line.textContent.replace(/\\u00a0/g, ' ')).join('\\n')"""
    )


def type_in_monaco(page: Any, *keys: str) -> None:
    """Click into Monaco, go to the end of the text and type; "\\n" presses Enter."""
    page.locator(".monaco-editor .view-lines").click()
    page.keyboard.press("Control+End")
    for chunk in keys:
        if chunk == "\n":
            page.keyboard.press("Enter")
        else:
            page.keyboard.type(chunk)


def type_in_room(page: Any, text: str) -> None:
    page.locator(".cc-room .cm-content").first.click()
    page.keyboard.press("Control+End")
    page.keyboard.type(text)


def names(page: Any, selector: str) -> list[str]:
    return sorted(page.locator(selector).all_inner_texts())


def shoot(page: Any, name: str) -> Path:
    target = SHOTS / f"{name}.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(target))
    print(f"screenshot: {target}")
    return target


def console_problems(lines: list[str]) -> list[str]:
    """Errors and warnings of a page's console, and uncaught exceptions."""
    return [
        line for line in lines if line.startswith(("pageerror", "console.error", "console.warning"))
    ]


def test_monaco_peer_co_edits_with_the_room_page(
    room_server: StandaloneServerProcess, monaco_site: str, guests: Guests
) -> None:
    ana = guests("ana")
    room = create_room(ana, room_server, "Ana")
    type_in_room(ana, "total = 40 + 2")
    expected = "total = 40 + 2"
    wait_until(lambda: editor_text(ana) == expected, 10, message="Ana's own text")

    mona = guests("mona")
    open_monaco(mona, monaco_site, room["link"])
    assert urlsplit(mona.url).netloc != urlsplit(room["link"]).netloc, "another origin"
    wait_until(lambda: monaco_text(mona) == expected, 20, message="Monaco has Ana's text")
    assert monaco_language(mona) == "python"

    # Mona types in Monaco; Ana sees it, and Mona's caret at the end of her line.
    mona_line = "print(total)  # typed in Monaco"
    type_in_monaco(mona, "\n", mona_line)
    expected += "\n" + mona_line
    wait_until(lambda: monaco_text(mona) == expected, 10, message="Monaco took the keys")
    wait_until(
        lambda: editor_text(ana) == expected,
        20,
        message=lambda: f"Ana sees Mona's line (she has {editor_text(ana)!r})",
    )
    ana.wait_for_selector(f".cc-online .cc-name:text-is('{MONA}')")
    ana.wait_for_selector(f".cc-participants .cc-name:text-is('{MONA}')")
    wait_until(
        lambda: (ana.evaluate(CARET, MONA) or {}).get("before") == mona_line,
        20,
        message=lambda: f"Mona's caret after her line ({ana.evaluate(CARET, MONA)})",
    )
    assert ana.evaluate(CARET, MONA)["background"] == MONA_RGB, "in her colour"
    # Her Online dot is in that colour too (the one her presence gives, not her name's).
    assert ana.evaluate(DOT, MONA) == MONA_RGB

    # She selects a word (right to left): Ana sees it highlighted, the caret at its start.
    mona.keyboard.press("Control+Shift+ArrowLeft")
    wait_until(
        lambda: ana.evaluate(SELECTED) == "Monaco",
        20,
        message=lambda: f"Mona's selection ({ana.evaluate(SELECTED)!r})",
    )
    assert ana.evaluate(CARET, MONA)["before"] == "print(total)  # typed in "

    # Mona's selection collapses to her caret (else y-monaco stretches it over what is added
    # at the end of the text). Ana types; Monaco shows it.
    mona.keyboard.press("ArrowLeft")
    type_in_room(ana, "\nprint('from the room page')")
    expected += "\nprint('from the room page')"
    wait_until(lambda: editor_text(ana) == expected, 10, message="Ana's line")
    wait_until(
        lambda: monaco_text(mona) == expected,
        20,
        message=lambda: f"Monaco has Ana's line (it has {monaco_text(mona)!r})",
    )
    wait_until(
        lambda: "print('from the room page')" in monaco_lines_on_screen(mona),
        20,
        message="Monaco draws Ana's line",
    )
    # Monaco draws Ana's caret after her line (y-monaco reads the `selection` our editors
    # publish), in her colour, which is her Online dot's on her page.
    wait_for_monaco_caret(mona, "Ana", 3, "print('from the room page')")
    assert monaco_caret(mona, "Ana")["border"] == ana.evaluate(DOT, "Ana")
    shoot(mona, "monaco-peer-shows-room-page-caret")
    # She selects her line (right to left): Monaco highlights it, her caret at its start.
    ana.keyboard.press("Shift+Home")
    wait_for_monaco_caret(mona, "Ana", 3, "", selected="print('from the room page')")
    shoot(mona, "monaco-peer-shows-room-page-selection")

    # Names: Monaco's side lists Ana online and as a participant.
    mona.wait_for_selector("#online li:text-is('Ana')")
    assert names(mona, "#online li") == sorted(["Ana", MONA])
    wait_until(
        lambda: mona.locator("#participants li").all_inner_texts() == ["Ana", MONA],
        20,
        message="Monaco's participants list",
    )

    # The language menu of the room page changes Monaco's model language (and its colours).
    ana.select_option(".cc-language", "rust")
    wait_until(
        lambda: monaco_language(mona) == "rust",
        20,
        message=lambda: f"Monaco in Rust (it is in {monaco_language(mona)})",
    )
    mona.wait_for_selector("#language:text-is('rust')")
    ana.select_option(".cc-language", "javascript")
    wait_until(lambda: monaco_language(mona) == "javascript", 20, message="then JavaScript")

    # Both sides converge, and the server stored the same.
    status, stored = room_server.request(
        "GET",
        f"codecompanion/api/rooms/{room['roomId']}/content?key={room['link'].split('key=')[1]}",
    )
    assert (status, stored) == (200, expected)
    assert editor_text(ana) == monaco_text(mona) == expected
    assert ana.input_value(".cc-language") == "javascript"
    shoot(ana, "room-page-with-monaco-peer")
    shoot(mona, "monaco-peer-with-room-page")

    assert console_problems(guests.console["mona"]) == [], guests.console["mona"]
    assert console_problems(guests.console["ana"]) == [], guests.console["ana"]


def test_monaco_peer_co_edits_with_the_widget_and_the_room_page(
    lab: LabServer, user, guests: Guests, monaco_site: str
) -> None:
    status, room = lab.request(
        "POST", "codecompanion/api/rooms", {"name": "Teacher", "programmingLanguage": "python"}
    )
    assert status == 201, room
    room_id, link = room["roomId"], room["links"]["edit"]

    gia = guests("gia")
    join_as(gia, link, "Gia")
    notebook = lab.write_notebook(
        "monaco.ipynb",
        [
            "from codecompanion_ext import CodeRoom\n"
            f'room = CodeRoom.join({room_id!r}, name="Nora")\nroom'
        ],
    )
    nora = user("nora").open_notebook(notebook)
    nora.run_cell(0)
    nora.page.wait_for_selector(CONNECTED, timeout=60_000)
    mona = guests("mona")
    open_monaco(mona, monaco_site, link)

    def texts() -> list[Any]:
        return [monaco_text(mona), editor_text(nora.page), editor_text(gia)]

    def converged(expected: str, what: str) -> None:
        wait_until(
            lambda: texts() == [expected] * 3,
            30,
            message=lambda: f"{what}: Monaco, widget and page have {expected!r} ({texts()})",
        )

    # Mona types in Monaco: the widget and the room page show it, her caret after it.
    mona_line = "total = 40 + 2  # Monaco"
    type_in_monaco(mona, mona_line)
    converged(mona_line, "Monaco's line")
    for page in (nora.page, gia):
        wait_until(
            lambda page=page: (page.evaluate(CARET, MONA) or {}).get("before") == mona_line,
            20,
            message=lambda page=page: f"Mona's caret ({page.evaluate(CARET, MONA)})",
        )
        assert page.evaluate(CARET, MONA)["background"] == MONA_RGB
        assert page.evaluate(DOT, MONA) == MONA_RGB, "her Online dot in her caret's colour"
    # ... and the kernel has it too.
    nora.wait_for_kernel_value("print(room.code)", mona_line, 30)

    # The widget types, then the room page: Monaco shows both.
    type_in_room(nora.page, "\nprint(total)  # widget")
    expected = mona_line + "\nprint(total)  # widget"
    converged(expected, "the widget's line")
    type_in_room(gia, "\n# room page")
    expected += "\n# room page"
    converged(expected, "the room page's line")
    wait_until(lambda: "# room page" in monaco_lines_on_screen(mona), 20, message="Monaco draws it")
    # Monaco draws the widget user's caret and the room page user's, each after their line.
    wait_for_monaco_caret(mona, "Nora", 2, "print(total)  # widget")
    wait_for_monaco_caret(mona, "Gia", 3, "# room page")

    # The widget's language menu changes Monaco's model language (and the room page's menu).
    nora.page.select_option(".cc-room .cc-language", "go")
    wait_until(
        lambda: monaco_language(mona) == "go",
        30,
        message=lambda: f"Monaco in Go (it is in {monaco_language(mona)})",
    )
    wait_until(lambda: gia.input_value(".cc-language") == "go", 20, message="the page in Go")
    nora.wait_for_kernel_value("print(room.language)", "go", 30)

    # Names: everyone sees everyone, online and as participants.
    for page in (nora.page, gia):
        page.wait_for_selector(f".cc-online .cc-name:text-is('{MONA}')")
        page.wait_for_selector(f".cc-participants .cc-name:text-is('{MONA}')")
    wait_until(
        lambda: names(mona, "#online li") == sorted(["Gia", MONA, "Nora"]),
        20,
        message=lambda: f"Monaco's online list ({names(mona, '#online li')})",
    )
    participants = ["Teacher", "Gia", "Nora", MONA]
    wait_until(
        lambda: mona.locator("#participants li").all_inner_texts() == participants,
        20,
        message=lambda: (
            f"Monaco's participants ({mona.locator('#participants li').all_inner_texts()})"
        ),
    )
    assert (
        lab.request("GET", f"codecompanion/api/rooms/{room_id}")[1]["participants"] == participants
    )

    assert lab.request("GET", f"codecompanion/api/rooms/{room_id}/content") == (200, expected)
    nora.wait_for_kernel_value("print(room.code)", expected, 30)
    nora.screenshot("e2e/monaco-peer/widget-with-monaco-peer.png")
    shoot(gia, "room-page-with-widget-and-monaco-peer")
    shoot(mona, "monaco-peer-with-widget-and-room-page")

    assert console_problems(guests.console["mona"]) == [], guests.console["mona"]
    assert console_problems(guests.console["gia"]) == [], guests.console["gia"]
