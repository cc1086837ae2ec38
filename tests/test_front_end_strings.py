"""Strings from peers and name prompts, as the front end treats them.

Runs js/src/session.ts and js/src/languages.ts themselves under Node (js/test/peer-strings.mjs
bundles them with esbuild): a room language is whatever a peer writes into the document's
`meta.language`, and a plain object would take "constructor" for one of its keys.
"""

from __future__ import annotations

import json

from node_script import run_node_script

from codecompanion_ext.validation import LANGUAGES, name_problem

PROTOTYPE_NAMES = [
    "constructor",
    "toString",
    "__proto__",
    "hasOwnProperty",
    "valueOf",
    "isPrototypeOf",
    "__defineGetter__",
]
EMOJI_NAME = "\U0001f469\u200d\U0001f4bb Dev"
NAMES = [
    "Ana",
    "A\u200bna",
    "A\u200dna",
    "\u202eAna",
    "\u2067Ana\u2069",
    "\ufeffAna",
    "Ana\x07",
    "\u200b",
    EMOJI_NAME,
]


def run(ids: list[str], names: list[str]) -> dict:
    return run_node_script("peer-strings.mjs", json.dumps(ids), json.dumps(names))


def test_a_language_named_like_an_object_member_is_plain_text_everywhere():
    answer = run([*PROTOTYPE_NAMES, "rust"], [])
    assert answer["known"] == list(LANGUAGES)  # the server's list, in its order
    outcome = dict(answer["languages"])
    assert set(outcome) == {*PROTOTYPE_NAMES, "rust"}
    for id in PROTOTYPE_NAMES:
        seen = outcome[id]
        # From the REST API, from a peer's edit of meta.language, or picked: never a language.
        assert seen["listed"] == seen["fromPeer"] == "plaintext", (id, seen)
        assert seen["picked"] is None, (id, seen)  # not written into the room for everyone
        assert seen["support"] == seen["sessionSupport"] == {"ok": True, "value": True}, id
    rust = outcome["rust"]
    assert (rust["listed"], rust["fromPeer"], rust["picked"]) == ("rust", "rust", "rust")


def test_the_presence_name_never_holds_what_the_server_refuses():
    """The server closes a connection whose presence name has an invisible character; a name
    it never checked (a widget opening a room by id) is shown without them instead."""
    presence = dict(run([], NAMES)["presence"])
    assert set(presence) == set(NAMES)
    for given, shown in presence.items():
        assert shown, given
        assert name_problem(shown) is None, given
    assert presence["A\u200bna"] == presence["\u202eAna"] == "Ana"
    assert presence["\u200b"] == "Guest"
    assert presence[EMOJI_NAME] == EMOJI_NAME  # its joiner kept: the server accepts it
