"""One list of close codes: the server's, the browser's copy, and the README agree."""

from __future__ import annotations

import re
from pathlib import Path

from codecompanion_ext.close_codes import FINAL, CloseCode

ROOT = Path(__file__).resolve().parent.parent


def test_the_typescript_copy_matches_the_python_list():
    source = (ROOT / "js" / "src" / "closeCodes.ts").read_text()
    block = source.split("export const CloseCode = {", 1)[1].split("}", 1)[0]
    typescript = {name: int(code) for name, code in re.findall(r"(\w+): (\d+),", block)}
    assert typescript == {code.name: code.value for code in CloseCode}

    final = source.split("FINAL_CLOSE_CODES", 1)[1]
    assert set(re.findall(r"\[CloseCode\.(\w+)\]", final)) == {code.name for code in FINAL}


def test_the_readme_documents_every_code():
    readme = (ROOT / "README.md").read_text()
    documented = set(map(int, re.findall(r"`(\d{4})`", readme.split("Close codes:", 1)[1])))
    assert {code.value for code in CloseCode} <= documented
