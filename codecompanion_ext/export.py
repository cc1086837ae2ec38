"""A room as one JSON document: its record, its code, and its full Yjs state.

An export can be archived, moved to another server, or graded offline; importing
it creates a new room (new id, new links) holding exactly that state.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from pycrdt import Doc, Text

from .store import RoomRecord
from .validation import InvalidInput, check_language, check_name

FORMAT = "codecompanion-room"
VERSION = 1


def export_room(record: RoomRecord, state: bytes, code: str) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "version": VERSION,
        "owner": record.owner,
        "dateCreated": record.date_created,
        "participants": record.participants,
        "programmingLanguage": record.programming_language,
        "code": code,
        "state": base64.b64encode(state).decode("ascii"),
    }


def read_export(data: dict[str, Any]) -> tuple[str, str, list[str], bytes]:
    """(owner, language, participants, Yjs state) of a valid export; InvalidInput otherwise."""
    if data.get("format") != FORMAT or data.get("version") != VERSION:
        raise InvalidInput(f"not a {FORMAT} export of version {VERSION}")
    owner = check_name(data.get("owner"), "owner")
    language = check_language(data.get("programmingLanguage"))
    participants = data.get("participants")
    if not isinstance(participants, list):
        raise InvalidInput("'participants' must be a list of names")
    names = [check_name(name, "participants") for name in participants]
    try:
        state = base64.b64decode(data.get("state", ""), validate=True)
    except (binascii.Error, TypeError, ValueError):
        raise InvalidInput("'state' must be base64") from None
    doc: Doc = Doc()
    try:
        doc.apply_update(state)
        text = str(doc.get("code", type=Text))
    except Exception:
        raise InvalidInput("'state' is not a valid Yjs document of a room") from None
    if text != data.get("code"):
        raise InvalidInput("'code' does not match the document in 'state'")
    return owner, language, names, state
