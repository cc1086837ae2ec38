"""Follow mode's logic (js/src/follow.ts), under Node.

js/test/follow.mjs bundles the real module with Yjs and y-protocols' Awareness and plays a
room of 200 lines: Ana (local) follows Bob, who has two connections, among Carol, a
CodeMirror 5 peer, a Monaco peer and malformed presence; every step's callbacks (`reveal`
an index, `changed` whom we follow and why) are printed and checked here:

- following shows the followed caret at once, then every time it moves, never when it does
  not (same caret, a colour change, someone else moving);
- of a person's connections, the one that moved last is followed; a caret shifted by someone
  else's edit is revealed where it is now, but does not count as a move;
- clicking the name again, `stop()` (what typing does), and the person leaving end it; the
  user's own edits never scroll;
- CodeMirror 5 and Monaco carets are followed too; malformed presence neither throws nor
  scrolls; nobody offline and the user themselves cannot be followed.
"""

from __future__ import annotations

from functools import cache

from node_script import run_node_script


@cache
def answer() -> dict:
    return run_node_script("follow.mjs")


def steps() -> dict[str, dict]:
    results = answer()["results"]
    errors = {name: step["error"] for name, step in results.items() if step["error"]}
    assert errors == {}, errors
    return results


def line(n: int) -> int:
    return answer()["lines"][str(n)]


def events(name: str) -> list[dict]:
    return steps()[name]["events"]


def reveal(index: int) -> dict:
    return {"reveal": index}


def test_following_reveals_the_caret_now_and_whenever_it_moves():
    assert events("bobAtLine180BeforeFollowing") == []
    assert events("followBob") == [{"changed": "Bob", "why": None}, reveal(line(180))]
    assert events("bobMovesToLine5") == [reveal(line(5))]
    # Not a move: the same caret again, a colour change, someone else's caret.
    assert events("bobSameCaretAgain") == []
    assert events("bobChangesOnlyHisColour") == []
    assert events("carolMoves") == []
    assert steps()["carolMoves"]["following"] == "Bob"


def test_of_several_connections_the_one_that_moved_last_is_followed():
    assert events("bobsOtherTabMoves") == [reveal(line(150))]
    assert events("bobsFirstTabMovesAgain") == [reveal(line(20))]
    assert events("bobsOtherTabMovesLast") == [reveal(line(160))]
    assert events("bobsFirstTabMovesLast") == [reveal(line(21))]
    # Carol types 3 lines (6 characters) at the top: both of Bob's carets shift, and the
    # one shown is still the one that moved last (the first tab), where it is now.
    assert events("textInsertedAboveBob") == [reveal(line(21) + 6)]
    # The user's own edits never scroll them (typing ends following, in the editor).
    assert events("anaTypesAboveBob") == []


def test_clicking_again_stopping_and_leaving_end_following():
    assert events("clickBobAgain") == [{"changed": None, "why": "stopped"}]
    assert events("bobMovesWhileNotFollowed") == []
    # Following again shows where he is now (line 40, after 6 + 2 inserted characters).
    assert events("toggleBobOn") == [{"changed": "Bob", "why": None}, reveal(line(40) + 8)]
    assert events("stopAsTypingDoes") == [{"changed": None, "why": "stopped"}]
    assert events("bobMovesAfterStop") == []
    assert steps()["bobMovesAfterStop"]["following"] is None
    # One connection of two leaving changes nothing; the last one leaving ends it.
    assert events("followBobAgain")[0] == {"changed": "Bob", "why": None}
    assert events("bobsOtherTabLeaves") == []
    assert events("bobLeaves") == [{"changed": None, "why": "left"}]
    assert events("monaLeaves") == [{"changed": None, "why": "left"}]
    # After destroy nothing is reported, whatever moves.
    assert events("followCarolThenDestroy") == [
        {"changed": "Carol", "why": None},
        reveal(line(100)),
    ]
    assert steps()["followCarolThenDestroy"]["following"] is None


def test_nobody_offline_and_not_oneself():
    assert events("followNobodyOnline") == []
    assert events("followSelf") == []
    assert steps()["followSelf"]["following"] is None


def test_other_editors_carets_are_followed_and_malformed_presence_is_ignored():
    # CodeMirror 5 (ends as JSON strings) at 30, Monaco (`selection`) with its head at 70,
    # in their documents, which lack the 8 characters inserted since: 38 and 78 here.
    assert events("followCleo") == [{"changed": "Cleo", "why": None}]
    assert events("cleoMovesCm5") == [reveal(38)]
    assert events("monaMovesMonaco") == [reveal(78)]
    assert events("monaMalformed") == []
    assert steps()["monaMalformed"]["following"] == "Mona"
    # No position a peer sent made a root type in the document.
    assert answer()["roots"] == ["code"]
