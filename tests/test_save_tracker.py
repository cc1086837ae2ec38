"""When the editor may say "Saved": js/src/saved.ts, the real module under Node.

js/test/save-tracker.mjs plays the server with real Yjs documents and prints how many of a
browser's edits are unsaved after each step. An edit is saved only once everything it
inserted and deleted has come back from the server: its own bytes echoed, a merge with
others' edits, or a greeting (state vector) that counts its inserts. A state vector never
confirms a delete, a restarted server that lost an edit confirms nothing until the edit is
sent again, and remote or empty transactions are never counted.
"""

from __future__ import annotations

from functools import cache

from node_script import run_node_script


@cache
def steps() -> dict:
    return run_node_script("save-tracker.mjs")


def test_an_edit_is_saved_when_its_own_bytes_come_back_and_only_then():
    # Two edits pending; Bob's edit confirms nothing; each echo confirms its own edit.
    assert steps()["echo"] == {"steps": [2, 2, 1, 0], "reports": 4}


def test_a_state_vector_never_confirms_a_delete_but_the_delete_set_does():
    # A delete-only edit: two state vectors and an update without it leave it unsaved.
    assert steps()["deletes"] == [1, 1, 1, 1, 0]


def test_merged_relays_confirm_exactly_the_edits_they_hold():
    assert steps()["merged"] == [4, 2, 0]


def test_a_restarted_server_that_lost_an_edit_confirms_it_only_once_it_is_resent():
    seen = steps()["restarted"]
    assert seen["steps"] == [1, 1, 1, 0]
    assert seen["text"] == "kept lost"


def test_a_greeting_that_counts_the_inserts_confirms_them():
    assert steps()["greeting"] == [2, 0]


def test_remote_and_empty_transactions_are_not_edits_and_garbage_confirms_nothing():
    assert steps()["untracked"] == {"counted": 0, "afterGarbage": 1, "threw": True}
