// Print, as JSON, how many edits js/src/saved.ts counts as unsaved after each step of some
// scenarios, with real Yjs documents standing for the browser and the server
// (tests/test_save_tracker.py checks them). The real module under Node, bundled by esbuild.
import { importBundled } from "./bundle.mjs";

const front = await importBundled(
  `
    export * from "./src/saved.ts";
    export * as Y from "yjs";
    export * as encoding from "lib0/encoding";
    export * as sync from "y-protocols/sync";
  `,
  "save-tracker",
);
const { SaveTracker, Y, encoding, sync } = front;

/** A browser's document with its tracker, recording each update it makes. */
function browser(clientID) {
  const doc = new Y.Doc();
  doc.clientID = clientID;
  const updates = [];
  doc.on("update", (update, origin) => {
    if (origin !== "server") updates.push(update);
  });
  let reports = 0;
  const tracker = new SaveTracker(doc, () => (reports += 1));
  return { doc, text: doc.getText("code"), updates, tracker, reports: () => reports };
}

/** The server's document once it applied `updates`. */
function server(...updates) {
  const doc = new Y.Doc();
  for (const update of updates) Y.applyUpdate(doc, update);
  return doc;
}

/** A y-websocket sync message (type 0), as the provider's handler gets it. */
function message(write) {
  const encoder = encoding.createEncoder();
  encoding.writeVarUint(encoder, 0);
  write(encoder);
  return encoding.toUint8Array(encoder);
}

const results = {};

{
  // Each edit is saved once its own bytes come back; others' edits confirm nothing.
  const ana = browser(1);
  const bob = browser(2);
  ana.text.insert(0, "hello");
  ana.text.insert(5, " world");
  bob.text.insert(0, "bob");
  const steps = [ana.tracker.unsaved];
  ana.tracker.confirmUpdate(bob.updates[0]);
  Y.applyUpdate(ana.doc, bob.updates[0], "server");
  steps.push(ana.tracker.unsaved);
  ana.tracker.confirmUpdate(ana.updates[0]);
  steps.push(ana.tracker.unsaved);
  ana.tracker.confirmUpdate(ana.updates[1]);
  steps.push(ana.tracker.unsaved);
  results.echo = { steps, reports: ana.reports() };
}

{
  // A state vector confirms inserts, never deletes; a full update (its delete set) does.
  const ana = browser(1);
  ana.text.insert(0, "hello world");
  const saved = server(ana.updates[0]);
  ana.tracker.confirmUpdate(ana.updates[0]);
  ana.text.delete(0, 6);
  const steps = [ana.tracker.unsaved];
  ana.tracker.confirmState(Y.decodeStateVector(Y.encodeStateVector(saved)));
  steps.push(ana.tracker.unsaved);
  const withDelete = server(...ana.updates);
  ana.tracker.confirmState(Y.decodeStateVector(Y.encodeStateVector(withDelete)));
  steps.push(ana.tracker.unsaved);
  ana.tracker.confirmUpdate(Y.encodeStateAsUpdate(saved));
  steps.push(ana.tracker.unsaved);
  ana.tracker.confirmUpdate(Y.encodeStateAsUpdate(withDelete));
  steps.push(ana.tracker.unsaved);
  results.deletes = steps;
}

{
  // Merged with others' edits, in one message; a merge of only some of them.
  const ana = browser(1);
  const bob = browser(2);
  ana.text.insert(0, "abcdef");
  ana.text.insert(6, "ghi");
  ana.text.delete(1, 2);
  ana.text.insert(0, ">");
  bob.text.insert(0, "bob");
  const steps = [ana.tracker.unsaved];
  ana.tracker.confirmUpdate(Y.mergeUpdates([ana.updates[0], bob.updates[0], ana.updates[1]]));
  steps.push(ana.tracker.unsaved);
  ana.tracker.confirmUpdate(Y.mergeUpdates([ana.updates[2], ana.updates[3]]));
  steps.push(ana.tracker.unsaved);
  results.merged = steps;
}

{
  // A restarted server that lost the edit: its greeting and sync answer confirm nothing;
  // once the browser sends the edit again and it comes back, it is saved.
  const ana = browser(1);
  ana.text.insert(0, "kept");
  const before = server(ana.updates[0]);
  ana.tracker.confirmUpdate(ana.updates[0]);
  ana.text.insert(4, " lost");
  const steps = [ana.tracker.unsaved];
  const restarted = before; // the server's disk holds only "kept"
  ana.tracker.readSyncMessage(message((e) => sync.writeSyncStep1(e, restarted)), 1);
  steps.push(ana.tracker.unsaved);
  const answer = message((e) => sync.writeSyncStep2(e, restarted, Y.encodeStateVector(ana.doc)));
  ana.tracker.readSyncMessage(answer, 1);
  steps.push(ana.tracker.unsaved);
  const resent = Y.encodeStateAsUpdate(ana.doc, Y.encodeStateVector(restarted));
  Y.applyUpdate(restarted, resent);
  ana.tracker.readSyncMessage(message((e) => sync.writeUpdate(e, resent)), 1);
  steps.push(ana.tracker.unsaved);
  results.restarted = { steps, text: restarted.getText("code").toString() };
}

{
  // A greeting from a server that has it all confirms the inserts (after a reconnect).
  const ana = browser(1);
  ana.text.insert(0, "one");
  ana.text.insert(3, "two");
  const steps = [ana.tracker.unsaved];
  const full = server(...ana.updates);
  ana.tracker.readSyncMessage(message((e) => sync.writeSyncStep1(e, full)), 1);
  steps.push(ana.tracker.unsaved);
  results.greeting = steps;
}

{
  // Remote edits and empty transactions are not counted; garbage throws, counting nothing.
  const ana = browser(1);
  const bob = browser(2);
  bob.text.insert(0, "remote");
  Y.applyUpdate(ana.doc, bob.updates[0], "server");
  ana.doc.transact(() => {});
  const counted = ana.tracker.unsaved;
  ana.text.insert(0, "x");
  let threw = false;
  try {
    ana.tracker.readSyncMessage(new Uint8Array([0, 2, 9, 1, 2]), 1);
  } catch {
    threw = true;
  }
  results.untracked = { counted, afterGarbage: ana.tracker.unsaved, threw };
}

process.stdout.write(JSON.stringify(results) + "\n");
