"""Run one of js/test/*.mjs under Node and read the JSON it prints.

Those scripts bundle the front end's real modules (js/src/) with esbuild, so they need Node
and the npm packages (`cd js && npm ci`).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

JS = Path(__file__).resolve().parent.parent / "js"


def run_node_script(name: str, *args: str, timeout: float = 120) -> Any:
    """Run js/test/`name` (e.g. "follow.mjs") from js/ with `args`; its stdout, parsed."""
    node = shutil.which("node")
    assert node, "Node.js 18+ is required (the front end is built with it)"
    assert (JS / "node_modules" / "esbuild").is_dir(), "run `cd js && npm ci` first"
    result = subprocess.run(
        [node, str(JS / "test" / name), *args],
        cwd=JS,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)
