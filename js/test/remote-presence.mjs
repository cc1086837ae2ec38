// Print, as JSON, what js/src/remotePresence.ts makes of presence states: this extension's
// own (y-codemirror.next's), CodeMirror 5's (y-codemirror), Monaco's (y-monaco) and malformed
// ones (tests/test_remote_presence.py checks them). Runs the real module under Node, bundled
// by esbuild with the Yjs it uses.
//
// The document: "hello world\nsecond line" typed by client 1001 into the text "code", and
// `meta.language` set by client 2002 (an item of another type).
import { importBundled } from "./bundle.mjs";

const front = await importBundled(
  `
    export * from "./src/remotePresence.ts";
    export * as Y from "yjs";
  `,
  "remote-presence",
);
const { Y } = front;

const TEXT = "hello world\nsecond line";
const writer = new Y.Doc();
writer.clientID = 1001;
writer.getText("code").insert(0, TEXT);
const other = new Y.Doc();
other.clientID = 2002;
other.getMap("meta").set("language", "python");
const doc = new Y.Doc();
Y.applyUpdate(doc, Y.encodeStateAsUpdate(writer));
Y.applyUpdate(doc, Y.encodeStateAsUpdate(other));
const ytext = doc.getText("code");

/** A relative position as it arrives over the wire: JSON.stringify of Yjs's object. */
const wire = (index, assoc = 0) =>
  JSON.parse(JSON.stringify(Y.createRelativePositionFromTypeIndex(ytext, index, assoc)));
/** y-codemirror (CodeMirror 5) sends each end as a string of that JSON. */
const cm5 = (index) => JSON.stringify(Y.createRelativePositionFromTypeIndex(ytext, index));
/** Yjs's compact JSON (relativePositionToJSON: no null fields). */
const compact = (index) =>
  Y.relativePositionToJSON(Y.createRelativePositionFromTypeIndex(ytext, index));
const item = (client, clock, assoc = 0) => ({ type: null, tname: null, item: { client, clock }, assoc });
const both = (anchor, head = anchor) => ({ anchor, head });
const ANA = { name: "Ana", color: "#d32f2f", colorLight: "#d32f2f33" };

const wellFormed = {
  ours: { user: ANA, cursor: both(wire(3), wire(8)) },
  oursAsPublished: { user: ANA, cursor: both(wire(3), wire(8)), selection: both(wire(3), wire(8)) },
  oursCompact: { user: ANA, cursor: both(compact(3), compact(8)) },
  oursBackwards: { user: ANA, cursor: both(wire(15), wire(2)) },
  oursAssocBefore: { user: ANA, cursor: both(wire(5, -1), wire(5, -1)) },
  oursEndOfText: { user: ANA, cursor: both({ type: null, tname: "code", item: null, assoc: 0 }) },
  oursStartOfText: { user: ANA, cursor: both({ tname: "code", assoc: -1 }) },
  codemirror5: { user: { name: "Cleo", color: "#1976d2" }, cursor: both(cm5(12), cm5(18)) },
  codemirror5Caret: { user: { name: "Cleo", color: "#1976d2" }, cursor: both(cm5(4)) },
  monaco: { user: { name: "Mona", color: "#388e3c" }, selection: both(wire(6), wire(11)) },
  monacoNoUser: { selection: both(wire(1), wire(1)) },
  cursorWinsOverSelection: { user: ANA, cursor: both(wire(2)), selection: both(wire(9)) },
  badCursorThenSelection: { user: ANA, cursor: both("{oops", "{oops"), selection: both(wire(9)) },
  nullCursorThenSelection: { user: ANA, cursor: null, selection: both(wire(9)) },
  userNotAnObject: { user: "Ana", cursor: both(wire(1)) },
  userArray: { user: ["Ana"], cursor: both(wire(1)) },
  userFieldsWrongTypes: { user: { name: 7, color: 12, colorLight: [] }, cursor: both(wire(1)) },
  userColourNotHex: {
    user: { name: "Ana", color: "red; background: url(x)", colorLight: "rgb(1,2,3)" },
    cursor: both(wire(1)),
  },
  userEmptyName: { user: { name: "", color: "#abc" }, cursor: both(wire(1)) },
  extraFieldsIgnored: { user: ANA, cursor: { ...both(wire(4)), extra: 1 }, whatever: [1, 2] },
};

const malformed = {
  null: null,
  undefined: undefined,
  string: "cursor",
  number: 42,
  boolean: true,
  array: [],
  arrayOfState: [{ cursor: both(wire(1)) }],
  empty: {},
  cursorNull: { cursor: null },
  cursorString: { cursor: JSON.stringify(both(wire(1))) },
  cursorNumber: { cursor: 3 },
  cursorArray: { cursor: [wire(1), wire(2)] },
  headMissing: { cursor: { anchor: wire(1) } },
  anchorMissing: { cursor: { head: wire(1) } },
  endsNull: { cursor: both(null) },
  endsNumbers: { cursor: both(5, 7) },
  endsBooleans: { cursor: both(true, false) },
  endsArrays: { cursor: both([1001, 3], [1001, 4]) },
  endsEmptyObjects: { cursor: both({}) },
  endsOnlyAssoc: { cursor: both({ assoc: 0 }) },
  garbageJson: { cursor: both("{not json", "}{") },
  emptyString: { cursor: both("") },
  jsonNull: { cursor: both("null") },
  jsonNumber: { cursor: both("12") },
  jsonArray: { cursor: both("[1001, 3]") },
  doubleEncoded: { cursor: both(JSON.stringify(cm5(3))) },
  itemString: { cursor: both({ item: "1001:3" }) },
  itemArray: { cursor: both({ item: [1001, 3] }) },
  itemClientString: { cursor: both({ item: { client: "1001", clock: 3 } }) },
  itemClockString: { cursor: both({ item: { client: 1001, clock: "3" } }) },
  itemClockMissing: { cursor: both({ item: { client: 1001 } }) },
  itemClientMissing: { cursor: both({ item: { clock: 3 } }) },
  itemClientNegative: { cursor: both(item(-1, 0)) },
  itemClockNegative: { cursor: both(item(1001, -1)) },
  itemClockFraction: { cursor: both(item(1001, 1.5)) },
  itemClientHuge: { cursor: both(item(1e300, 0)) },
  itemClockHuge: { cursor: both(item(1001, 2 ** 60)) },
  itemUnknownClient: { cursor: both(item(999999, 0)) },
  itemUnknownClientInCm5: { cursor: both(JSON.stringify(item(424242, 1))) },
  itemClockBeyondEnd: { cursor: both(item(1001, TEXT.length)) },
  oneEndUnknown: { cursor: both(wire(3), item(999999, 0)) },
  itemOfAnotherType: { cursor: both(item(2002, 0)) },
  typeIdNotAType: { cursor: both({ type: { client: 2002, clock: 0 }, assoc: 0 }) },
  typeIdUnknown: { cursor: both({ type: { client: 5, clock: 0 } }) },
  typeIdMalformed: { cursor: both({ type: { client: "x", clock: 0 }, tname: "code" }) },
  tnameNumber: { cursor: both({ tname: 5 }) },
  tnameOtherRoot: { cursor: both({ tname: "meta" }) },
  tnameUnknownRoot: { cursor: both({ tname: "nosuch" }) },
  tnameProto: { cursor: both({ tname: "__proto__" }) },
  tnameConstructor: { cursor: both({ tname: "constructor" }) },
  assocString: { cursor: both({ tname: "code", assoc: "0" }) },
  assocFraction: { cursor: both({ ...wire(2), assoc: 0.5 }) },
  selectionString: { selection: "anchor" },
  selectionEndsStrings: { selection: both("x", "y") },
  selectionUnknownItems: { selection: both(item(31337, 0), item(31337, 1)) },
  selectionOtherType: { selection: both(item(2002, 0)) },
};

function attempt(state) {
  try {
    const seen = front.remoteSelection(state, ytext);
    if (seen === null) return null;
    const { name, color, colorLight, anchorIndex, headIndex } = seen;
    return { name, color, colorLight, anchor: anchorIndex, head: headIndex };
  } catch (error) {
    return { threw: String(error?.stack ?? error) };
  }
}

const results = { wellFormed: {}, malformed: {} };
for (const [group, cases] of [
  ["wellFormed", wellFormed],
  ["malformed", malformed],
]) {
  for (const [name, state] of Object.entries(cases)) results[group][name] = attempt(state);
}
// The states as they would reach the editor after a JSON round trip (the wire), too.
results.malformedAfterJson = {};
for (const [name, state] of Object.entries(malformed)) {
  if (state === undefined) continue;
  results.malformedAfterJson[name] = attempt(JSON.parse(JSON.stringify(state)));
}
console.log(
  JSON.stringify({
    text: ytext.toString(),
    roots: [...doc.share.keys()].sort(),
    results,
  }),
);
