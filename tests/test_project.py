"""The project's own promises: CI runs the README's test command, and the code is ruff clean."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def readme_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    setup = readme.split("## Set up", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", setup, flags=re.S)


def test_readme_has_exactly_two_setup_commands_and_ci_runs_the_test_one():
    commands = readme_commands()
    assert len(commands) == 2, commands
    run, test = commands
    assert "jupyter lab" in run
    assert "pytest" in test
    assert test in (ROOT / ".ci" / "run").read_text().splitlines()


def test_ruff_clean():
    for args in (["check"], ["format", "--check"]):
        result = subprocess.run(
            [sys.executable, "-m", "ruff", *args, "."], cwd=ROOT, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_every_promise_in_the_guarantees_names_a_test_that_exists():
    text = (ROOT / "docs" / "guarantees.md").read_text()
    references = re.findall(r"`(tests/[\w/]+\.py)::(test_\w+)`", text)
    assert len(references) >= 30
    for path, name in references:
        source = (ROOT / path).read_text()
        assert re.search(rf"^(?:async )?def {name}\(", source, re.M), f"{path}::{name} is gone"
    for line in text.splitlines():
        if line.startswith("| ") and not line.startswith(("| promise", "| credential", "| limit")):
            if set(line) <= set("|- "):
                continue
            assert "::test_" in line or "(tests" in line, f"a promise without a test: {line}"
