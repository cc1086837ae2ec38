"""The project's own promises: CI runs the README's test command, and the code is ruff clean."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FAST = "not e2e and not slow and not bench"
"""The fast development loop: `pytest -m "not e2e and not slow and not bench"`."""


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


DOCUMENTS = ["README.md", "docs/testing.md", "benchmarks/README.md", "tests/e2e/README.md"]
SYSTEM_COMMANDS = {"python3", "npm", "bash", "cd", "apt-get", "sudo", "node", "env"}
VENV_BIN = Path(sys.executable).parent


def documented_commands() -> list[tuple[str, str]]:
    """(document, command) for every command in a bash block, and every inline code span
    that starts with the name of a program the venv has, followed by arguments."""
    found = []
    for name in DOCUMENTS:
        text = (ROOT / name).read_text()
        for block in re.findall(r"```bash\n(.+?)```", text, flags=re.S):
            for line in block.splitlines():
                line = line.split("  #", 1)[0].strip()
                found += [(name, part) for part in re.split(r"&&|;|\|\|", line) if part.strip()]
        prose = re.sub(r"```.+?```", "", text, flags=re.S)
        for span in re.findall(r"`([^`\n]+)`", prose):
            words = span.split()
            if len(words) > 1 and (VENV_BIN / words[0]).exists() and words[0] != "python3":
                found.append((name, span))
    return found


def test_every_documented_command_runs_as_written_after_the_set_up():
    """A command the docs show must not depend on an activated venv or a PATH entry: the
    set-up installs into .venv/bin, so that is where its programs are named."""
    commands = documented_commands()
    assert len(commands) >= 15, commands
    for document, command in commands:
        words = command.strip(" ()").split()
        while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):
            words.pop(0)  # environment assignments
        program = words[0]
        if program.startswith(".venv/bin/"):
            assert (VENV_BIN / program.removeprefix(".venv/bin/")).exists(), (document, command)
        else:
            assert program in SYSTEM_COMMANDS, f"{document}: {command!r} needs .venv/bin/"


@pytest.mark.slow
def test_the_front_end_typechecks():
    """tsc --noEmit over js/src: esbuild bundles without checking types."""
    tsc = ROOT / "js" / "node_modules" / "typescript" / "bin" / "tsc"
    result = subprocess.run(
        ["node", str(tsc), "--noEmit", "-p", str(ROOT / "js")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_the_tests_run_nothing_from_the_path_outside_the_venv(tmp_path):
    """The fast suite passes with a decoy, first on the PATH, for every program the venv
    has (a `codecompanion` or `jupyter` from another clone once made a test pass): the
    tests start Python with this interpreter and scripts from beside it, and use the PATH
    only for system tools (node)."""
    decoys = tmp_path / "decoys"
    decoys.mkdir()
    for program in VENV_BIN.iterdir():
        decoy = decoys / program.name
        decoy.write_text(f"#!/bin/sh\necho 'decoy {program.name} ran from the PATH' >&2\nexit 97\n")
        decoy.chmod(0o755)
    path = [str(decoys)] + [
        entry for entry in os.environ["PATH"].split(os.pathsep) if Path(entry) != VENV_BIN
    ]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "-m", FAST],
        cwd=ROOT,
        env={**os.environ, "PATH": os.pathsep.join(path)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    assert "decoy" not in result.stdout + result.stderr
    assert " passed" in result.stdout
