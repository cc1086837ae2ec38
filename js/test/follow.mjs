// Print, as JSON, what js/src/follow.ts's Follower does (tests/test_follow.py checks it): the
// real module under Node, bundled by esbuild with Yjs and y-protocols' Awareness. Ana is the
// local peer; Bob (two connections), Carol, a CodeMirror 5 peer, a Monaco peer and a peer with
// malformed presence are remote Awareness instances whose updates reach Ana's as they would
// over the wire (encodeAwarenessUpdate / applyAwarenessUpdate).
import { importBundled } from "./bundle.mjs";

const front = await importBundled(
  `
    export { Follower } from "./src/follow.ts";
    export * as Y from "yjs";
    export * as awarenessProtocol from "y-protocols/awareness";
  `,
  "follow",
);
const { Follower, Y, awarenessProtocol } = front;
const { Awareness, encodeAwarenessUpdate, applyAwarenessUpdate, removeAwarenessStates } =
  awarenessProtocol;

// 200 lines: "line 1\n" ... "line 200\n", typed by client 1001.
const LINES = Array.from({ length: 200 }, (_, i) => `line ${i + 1}\n`).join("");
const writer = new Y.Doc();
writer.clientID = 1001;
writer.getText("code").insert(0, LINES);

function peerDoc(clientID) {
  const doc = new Y.Doc();
  doc.clientID = clientID;
  Y.applyUpdate(doc, Y.encodeStateAsUpdate(writer));
  return doc;
}

const ana = peerDoc(1);
const anaText = ana.getText("code");
const anaPresence = new Awareness(ana);
anaPresence.setLocalState({ user: { name: "Ana", color: "#d32f2f" } });

/** Where line `n` starts in the text. */
const lineStart = (n) => LINES.split("\n").slice(0, n - 1).join("\n").length + (n > 1 ? 1 : 0);

class Peer {
  constructor(clientID, name) {
    this.doc = peerDoc(clientID);
    this.text = this.doc.getText("code");
    this.awareness = new Awareness(this.doc);
    this.awareness.setLocalState({ user: { name, color: "#1976d2" } });
    this.send();
  }
  /** This peer's presence, as Ana's awareness receives it. */
  send() {
    const update = encodeAwarenessUpdate(this.awareness, [this.doc.clientID]);
    applyAwarenessUpdate(anaPresence, update, "remote");
  }
  rel(index) {
    return JSON.parse(JSON.stringify(Y.createRelativePositionFromTypeIndex(this.text, index)));
  }
  /** Our own format (y-codemirror.next), as editor.ts/cursors.ts publish it. */
  caretAt(index) {
    const range = { anchor: this.rel(index), head: this.rel(index) };
    this.awareness.setLocalStateField("cursor", range);
    this.awareness.setLocalStateField("selection", range);
    this.send();
  }
  set(field, value) {
    this.awareness.setLocalStateField(field, value);
    this.send();
  }
  leave() {
    removeAwarenessStates(this.awareness, [this.doc.clientID], "left");
    const update = encodeAwarenessUpdate(this.awareness, [this.doc.clientID]);
    applyAwarenessUpdate(anaPresence, update, "remote");
  }
}

const log = [];
let follower = new Follower(anaPresence, anaText, ana.clientID, {
  reveal: (index) => log.push({ reveal: index }),
  changed: (name, why) => log.push({ changed: name, why }),
});

const results = {};
/** Run `step`, and record what the follower did during it. */
function step(label, action) {
  log.length = 0;
  let error = null;
  try {
    action();
  } catch (e) {
    error = String(e && e.stack ? e.stack : e);
  }
  results[label] = { events: [...log], following: follower.following, error };
}

const bob = new Peer(2, "Bob");
const bobTab = new Peer(3, "Bob");
const carol = new Peer(4, "Carol");

step("bobAtLine180BeforeFollowing", () => bob.caretAt(lineStart(180)));
step("followBob", () => follower.follow("Bob"));
step("bobMovesToLine5", () => bob.caretAt(lineStart(5)));
step("bobSameCaretAgain", () => bob.caretAt(lineStart(5)));
step("bobChangesOnlyHisColour", () => bob.set("user", { name: "Bob", color: "#388e3c" }));
step("carolMoves", () => carol.caretAt(lineStart(100)));
step("bobsOtherTabMoves", () => bobTab.caretAt(lineStart(150)));
step("bobsFirstTabMovesAgain", () => bob.caretAt(lineStart(20)));
step("bobsOtherTabMovesLast", () => bobTab.caretAt(lineStart(160)));
step("bobsFirstTabMovesLast", () => bob.caretAt(lineStart(21)));
step("textInsertedAboveBob", () => {
  // Carol types 3 lines at the top: Bob's caret (before line 20) shifts down by their length.
  carol.text.insert(0, "a\nb\nc\n");
  Y.applyUpdate(ana, Y.encodeStateAsUpdate(carol.doc, Y.encodeStateVector(ana)));
});
step("anaTypesAboveBob", () => anaText.insert(0, "x\n"));
step("clickBobAgain", () => follower.toggle("Bob"));
step("bobMovesWhileNotFollowed", () => bob.caretAt(lineStart(40)));
step("toggleBobOn", () => follower.toggle("Bob"));
step("stopAsTypingDoes", () => follower.stop());
step("bobMovesAfterStop", () => bob.caretAt(lineStart(60)));
step("followNobodyOnline", () => follower.follow("Zed"));
step("followSelf", () => follower.follow("Ana"));

// A CodeMirror 5 peer (y-codemirror: each end a JSON string) and a Monaco peer (`selection`).
const cleo = new Peer(5, "Cleo");
const mona = new Peer(6, "Mona");
step("followCleo", () => follower.follow("Cleo"));
step("cleoMovesCm5", () => {
  const end = JSON.stringify(Y.createRelativePositionFromTypeIndex(cleo.text, 30));
  cleo.set("cursor", { anchor: end, head: end });
});
step("followMona", () => follower.follow("Mona"));
step("monaMovesMonaco", () => mona.set("selection", { anchor: mona.rel(50), head: mona.rel(70) }));

// Malformed presence from the followed person: no caret, nothing thrown, no scroll.
step("monaMalformed", () => {
  for (const bad of [
    "cursor",
    12,
    { anchor: "{not json", head: "}{" },
    { anchor: { item: { client: 424242, clock: 3 } }, head: { item: { client: 424242, clock: 3 } } },
    { anchor: { tname: "__proto__" }, head: { tname: "__proto__" } },
  ]) {
    mona.set("selection", bad);
    mona.set("cursor", bad);
  }
});
step("monaLeaves", () => mona.leave());

// Bob leaves in both tabs while followed: following ends, "left".
step("followBobAgain", () => follower.follow("Bob"));
step("bobsOtherTabLeaves", () => bobTab.leave());
step("bobLeaves", () => bob.leave());

// After destroy, nothing more is reported.
step("followCarolThenDestroy", () => {
  follower.follow("Carol");
  follower.destroy();
  carol.caretAt(lineStart(2));
});

console.log(
  JSON.stringify({
    lines: Object.fromEntries([5, 20, 21, 40, 100, 150, 160, 180].map((n) => [n, lineStart(n)])),
    roots: [...ana.share.keys()].sort(),
    results,
  }),
);
// Awareness instances keep a timer each (their outdated-state check).
for (const peer of [bob, bobTab, carol, cleo, mona]) peer.awareness.destroy();
anaPresence.destroy();
