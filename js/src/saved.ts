// Which of this person's edits are on the server's disk. The server sends every edit back
// to its sender once it is committed, answers sync requests only with committed edits, and
// greets with the state vector of what it has committed (codecompanion_ext/room.py). So an
// edit is saved once everything it inserted and deleted has come back from the server,
// whichever message brought it: never earlier, whatever was lost on the way.
import * as decoding from "lib0/decoding";
import * as Y from "yjs";

/** Per client, sorted disjoint [start, end) clock ranges. */
type Ranges = Map<number, Array<[number, number]>>;

interface Edit {
  inserts: Ranges;
  deletes: Ranges;
}

const SYNC_STEP1 = 0;
const SYNC_STEP2 = 1;
const SYNC_UPDATE = 2;

function isEmpty(ranges: Ranges): boolean {
  return ranges.size === 0;
}

/** Remove `[start, end)` of `client` from `ranges`, in place. */
function subtract(ranges: Ranges, client: number, start: number, end: number): void {
  const own = ranges.get(client);
  if (!own) return;
  const left: Array<[number, number]> = [];
  for (const [from, to] of own) {
    if (to <= start || from >= end) {
      left.push([from, to]);
      continue;
    }
    if (from < start) left.push([from, start]);
    if (to > end) left.push([end, to]);
  }
  if (left.length) ranges.set(client, left);
  else ranges.delete(client);
}

function deleteRanges(ds: { clients: Map<number, Array<{ clock: number; len: number }>> }): Ranges {
  const ranges: Ranges = new Map();
  for (const [client, items] of ds.clients) {
    if (items.length) ranges.set(client, items.map(({ clock, len }) => [clock, clock + len]));
  }
  return ranges;
}

export class SaveTracker {
  private pending: Edit[] = [];

  /** Follows `doc`'s local edits; `changed` is called whenever the count of unsaved changes. */
  constructor(doc: Y.Doc, private readonly changed: () => void) {
    doc.on("afterTransaction", (transaction: Y.Transaction) => {
      if (transaction.local) this.track(transaction);
    });
  }

  /** Local edits (transactions) not yet known to be on the server's disk. */
  get unsaved(): number {
    return this.pending.length;
  }

  /** Read a y-websocket sync message from the server (without consuming it). */
  readSyncMessage(message: Uint8Array, position: number): void {
    if (!this.pending.length) return;
    const decoder = decoding.createDecoder(message);
    decoder.pos = position;
    const type = decoding.readVarUint(decoder);
    const payload = decoding.readVarUint8Array(decoder);
    if (type === SYNC_STEP1) this.confirmState(Y.decodeStateVector(payload));
    else if (type === SYNC_STEP2 || type === SYNC_UPDATE) this.confirmUpdate(payload);
  }

  /** The server's state vector: every insert it counts is saved. */
  confirmState(stateVector: Map<number, number>): void {
    this.settle((edit) => {
      for (const [client, clock] of stateVector) subtract(edit.inserts, client, 0, clock);
    });
  }

  /** An update the server sent: what it inserts and deletes is saved. */
  confirmUpdate(update: Uint8Array): void {
    const { structs, ds } = Y.decodeUpdate(update);
    const deleted = deleteRanges(ds);
    this.settle((edit) => {
      for (const struct of structs) {
        if (struct instanceof Y.Skip) continue;
        const { client, clock } = struct.id;
        subtract(edit.inserts, client, clock, clock + struct.length);
      }
      for (const [client, ranges] of deleted) {
        for (const [start, end] of ranges) subtract(edit.deletes, client, start, end);
      }
    });
  }

  private track(transaction: Y.Transaction): void {
    const inserts: Ranges = new Map();
    for (const [client, end] of transaction.afterState) {
      const start = transaction.beforeState.get(client) ?? 0;
      if (end > start) inserts.set(client, [[start, end]]);
    }
    const deletes = deleteRanges(transaction.deleteSet);
    if (isEmpty(inserts) && isEmpty(deletes)) return;
    this.pending.push({ inserts, deletes });
    this.changed();
  }

  private settle(confirm: (edit: Edit) => void): void {
    const before = this.pending.length;
    for (const edit of this.pending) confirm(edit);
    this.pending = this.pending.filter((edit) => !isEmpty(edit.inserts) || !isEmpty(edit.deletes));
    if (this.pending.length !== before) this.changed();
  }
}
