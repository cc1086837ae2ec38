"""Checks on what clients send: names, languages and JSON bodies.

Each check raises `InvalidInput` with a sentence a person can act on; handlers
turn it into a 400 response.
"""

from __future__ import annotations

import json
import unicodedata
from typing import Any

MAX_NAME_LENGTH = 64

# Language ids (Monaco's, as in the original Code Companion) and the file extension
# used when a room's code is downloaded.
LANGUAGES: dict[str, str] = {
    "python": "py",
    "javascript": "js",
    "typescript": "ts",
    "java": "java",
    "c": "c",
    "cpp": "cpp",
    "csharp": "cs",
    "go": "go",
    "rust": "rs",
    "sql": "sql",
    "r": "r",
    "julia": "jl",
    "kotlin": "kt",
    "php": "php",
    "ruby": "rb",
    "shell": "sh",
    "html": "html",
    "css": "css",
    "json": "json",
    "yaml": "yaml",
    "markdown": "md",
    "plaintext": "txt",
}
DEFAULT_LANGUAGE = "python"


class InvalidInput(ValueError):
    """A request carries a value the API cannot accept; the message says which and why."""


def parse_json_object(body: bytes, max_size: int) -> dict[str, Any]:
    if len(body) > max_size:
        raise InvalidInput(f"request body is larger than {max_size} bytes")
    if not body.strip():
        return {}
    try:
        value = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InvalidInput(f"request body is not valid JSON: {e}") from None
    if not isinstance(value, dict):
        raise InvalidInput("request body must be a JSON object")
    return value


# Zero-width (non-)joiners belong inside emoji sequences and words of several scripts
# (Persian, Indic): allowed between two non-ASCII characters, where they cannot make one
# plain-ASCII name pass for another.
JOINERS = frozenset("\u200c\u200d")


def _visible(ch: str | None) -> bool:
    return ch is not None and not ch.isspace() and unicodedata.category(ch)[0] != "C"


def name_problem(name: str) -> str | None:
    """What makes `name` unfit to show as someone's name, or None.

    Control characters, lone surrogates, and Unicode format characters (category Cf:
    bidi overrides and isolates, zero-width spaces, the BOM, soft hyphens): invisible,
    they let one name pass for another or reorder the text around it. Joiners pass
    between two visible non-ASCII characters (`JOINERS`)."""
    categories = {unicodedata.category(ch) for ch in name}
    if categories & {"Cc", "Cs"}:
        return "must not contain control characters"
    for index, ch in enumerate(name):
        if unicodedata.category(ch) != "Cf":
            continue
        before = name[index - 1] if index else None
        after = name[index + 1] if index + 1 < len(name) else None
        if ch in JOINERS and all(_visible(c) and not c.isascii() for c in (before, after)):
            continue
        return (
            "must not contain invisible formatting characters "
            "(bidi controls, zero-width characters)"
        )
    return None


def check_name(value: Any, field: str = "name") -> str:
    """A display name: trimmed, 1 to 64 characters, nothing invisible (`name_problem`)."""
    if not isinstance(value, str):
        raise InvalidInput(f"'{field}' must be a string")
    name = value.strip()
    if not name:
        raise InvalidInput(f"'{field}' must not be empty")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidInput(f"'{field}' must be at most {MAX_NAME_LENGTH} characters")
    problem = name_problem(name)
    if problem:
        raise InvalidInput(f"'{field}' {problem}")
    return name


def check_language(value: Any, field: str = "programmingLanguage") -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"'{field}' must be a string")
    language = value.strip().lower()
    if language not in LANGUAGES:
        raise InvalidInput(f"'{field}' must be one of: {', '.join(LANGUAGES)}")
    return language


def is_language(value: Any) -> bool:
    return isinstance(value, str) and value in LANGUAGES


def check_only_fields(body: dict[str, Any], allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise InvalidInput(
            f"unknown field(s) {', '.join(map(repr, unknown))}; expected {', '.join(allowed)}"
        )
