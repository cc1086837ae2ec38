"""Remote cursors' name labels are readable in every person's colour (WCAG AA, >= 4.5:1).

Runs js/src/colors.ts itself under Node (bundled by esbuild) and checks its answers with an
independent contrast computation.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

JS = Path(__file__).resolve().parent.parent / "js"
SCRIPT = JS / "test" / "label-colors.mjs"
# Colours other clients might announce: light, mid-grey (the hardest), and not colours at all.
OTHERS = ["#30bced", "#ffff00", "#777", "#767676", "#000000", "#FFFFFF"]
NOT_COLOURS = ["red; background-image: url(//evil.example/x)", "", "#12345", "rgb(1,2,3)"]


def luminance(hex_colour: str) -> float:
    value = hex_colour.lstrip("#")
    if len(value) == 3:
        value = "".join(c * 2 for c in value)
    channels = [int(value[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    light, dark = sorted((luminance(a), luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def label_colours() -> dict:
    node = shutil.which("node")
    assert node, "Node.js 18+ is required (the front end is built with it)"
    assert (JS / "node_modules" / "esbuild").is_dir(), "run `cd js && npm ci` first"
    result = subprocess.run(
        [node, str(SCRIPT), json.dumps(OTHERS + NOT_COLOURS)],
        cwd=JS,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_every_label_colour_has_at_least_4_5_to_1_contrast():
    answer = label_colours()
    palette = answer["palette"]
    assert len(palette) >= 8 and all(re.fullmatch(r"#[0-9a-f]{6}", c) for c in palette)
    labels = {label["color"]: label for label in answer["labels"]}
    for colour in palette + OTHERS:
        label = labels[colour]
        assert label["background"] == colour
        assert label["text"] in ("#ffffff", "#000000"), label
        ratio = contrast(label["background"], label["text"])
        assert ratio >= 4.5, f"{colour}: {label['text']} on it is only {ratio:.2f}:1"


def test_a_label_never_takes_a_colour_that_is_not_one():
    # The colour comes from another peer's presence and ends up in a style attribute.
    answer = label_colours()
    labels = {label["color"]: label for label in answer["labels"]}
    for junk in NOT_COLOURS:
        label = labels[junk]
        assert label["background"] == answer["name"], label  # the name's own colour
        assert contrast(label["background"], label["text"]) >= 4.5
