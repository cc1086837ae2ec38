"""Other peers' presence, as the editor's remote cursors read it (js/src/remotePresence.ts).

Runs the real module under Node (js/test/remote-presence.mjs bundles it with esbuild and the
Yjs it uses) on a document of "hello world\\nsecond line" typed by client 1001, with an item of
another type (`meta.language`) by client 2002:

- this extension's own presence (y-codemirror.next: `cursor` of relative-position objects,
  published with the same range as y-monaco's `selection`),
  CodeMirror 5's (y-codemirror: `cursor` of JSON strings) and Monaco's (y-monaco:
  `selection` of objects) all become a named, coloured cursor at the right indexes;
- every malformed state (not an object, missing or wrongly typed fields, garbage JSON,
  positions into unknown clients or items, into another type or another root) becomes no
  cursor at all, without throwing, and without creating a root type in the document.
"""

from __future__ import annotations

from functools import cache

from node_script import run_node_script

ANA = {"name": "Ana", "color": "#d32f2f", "colorLight": "#d32f2f33"}
CLEO = {"name": "Cleo", "color": "#1976d2", "colorLight": None}
MONA = {"name": "Mona", "color": "#388e3c", "colorLight": None}
NOBODY = {"name": "Anonymous", "color": None, "colorLight": None}
TEXT = "hello world\nsecond line"


@cache
def answer() -> dict:
    return run_node_script("remote-presence.mjs")


def at(person: dict, anchor: int, head: int | None = None) -> dict:
    return {**person, "anchor": anchor, "head": anchor if head is None else head}


def test_own_codemirror5_and_monaco_presence_become_named_cursors():
    seen = answer()
    assert seen["text"] == TEXT
    expected = {
        # y-codemirror.next (ours): relative positions as JSON objects, as sent on the wire...
        "ours": at(ANA, 3, 8),
        # ...as our editors publish it: with the same range as y-monaco's `selection`.
        "oursAsPublished": at(ANA, 3, 8),
        # ...or in Yjs's compact JSON, null fields left out.
        "oursCompact": at(ANA, 3, 8),
        "oursBackwards": at(ANA, 15, 2),
        "oursAssocBefore": at(ANA, 5),
        "oursEndOfText": at(ANA, len(TEXT)),  # {tname: "code", assoc: 0}: the text's end
        "oursStartOfText": at(ANA, 0),  # {tname: "code", assoc: -1}: its start
        # y-codemirror (CodeMirror 5): each end a JSON string of a relative position.
        "codemirror5": at(CLEO, 12, 18),
        "codemirror5Caret": at(CLEO, 4),
        # y-monaco: `selection: {anchor, head}`.
        "monaco": at(MONA, 6, 11),
        "monacoNoUser": at(NOBODY, 1),
        # `cursor` first; `selection` when `cursor` places nothing.
        "cursorWinsOverSelection": at(ANA, 2),
        "badCursorThenSelection": at(ANA, 9),
        "nullCursorThenSelection": at(ANA, 9),
        # The person: a name and hex colours, or "Anonymous" and the name's own colour.
        "userNotAnObject": at(NOBODY, 1),
        "userArray": at(NOBODY, 1),
        "userFieldsWrongTypes": at(NOBODY, 1),
        "userColourNotHex": at({**NOBODY, "name": "Ana"}, 1),
        "userEmptyName": at({**NOBODY, "color": "#abc"}, 1),
        "extraFieldsIgnored": at(ANA, 4),
    }
    assert seen["results"]["wellFormed"] == expected


def test_malformed_presence_is_no_cursor_and_never_throws():
    results = answer()["results"]
    malformed = results["malformed"]
    assert len(malformed) >= 50
    for group in ("malformed", "malformedAfterJson"):
        placed = {name: value for name, value in results[group].items() if value is not None}
        assert placed == {}, f"{group}: these became cursors (or threw): {placed}"
    # Every kind the module must refuse was tried.
    for name in [
        "string",
        "number",
        "null",
        "array",
        "headMissing",
        "endsNumbers",
        "garbageJson",
        "doubleEncoded",
        "itemClientString",
        "itemClockNegative",
        "itemClockFraction",
        "itemUnknownClient",
        "itemUnknownClientInCm5",
        "itemClockBeyondEnd",
        "oneEndUnknown",
        "itemOfAnotherType",
        "typeIdNotAType",
        "tnameOtherRoot",
        "tnameUnknownRoot",
        "tnameProto",
        "assocString",
        "selectionUnknownItems",
    ]:
        assert name in malformed, name


def test_a_position_naming_another_root_creates_nothing():
    # Yjs's Doc.get would create a root type of any name a peer's position gives.
    assert answer()["roots"] == ["code", "meta"]
