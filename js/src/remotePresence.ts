// Where another peer's cursor is, from its presence (awareness state), whichever editor
// binding published it. Presence is whatever a peer chose to send: every field is checked
// before any of it reaches Yjs or the editor, and anything unexpected means "no cursor".
//
// The formats understood (a relative position is Yjs's, as JSON: `{type, tname, item, assoc}`
// where `type` and `item` are `{client, clock}` ids or null, and `tname` a root type's name):
// - y-codemirror.next (CodeMirror 6, and this extension's own): `cursor: {anchor, head}`,
//   relative positions as objects;
// - y-codemirror (CodeMirror 5): `cursor: {anchor, head}`, each a JSON string of one;
// - y-monaco: `selection: {anchor, head}`, relative positions as objects.
// All three put the person in `user: {name, color, colorLight?}`. `cursor` wins over
// `selection` when both hold a position (our editors publish both, the same range: cursors.ts).
import * as Y from "yjs";

import { parseHex } from "./colors";

/** A peer's cursor as its presence gives it, not yet placed in a document. */
export interface RemotePresence {
  /** Its `user.name`, or "Anonymous". */
  name: string;
  /** Its `user.color` if it is a hex colour ("#rgb" or "#rrggbb"), else null. */
  color: string | null;
  /** Its `user.colorLight` if it is a hex colour (3, 4, 6 or 8 digits), else null. */
  colorLight: string | null;
  anchor: Y.RelativePosition;
  head: Y.RelativePosition;
}

export const ANONYMOUS = "Anonymous";

const LIGHT_COLOR = /^#(?:[0-9a-f]{3,4}|[0-9a-f]{6}|[0-9a-f]{8})$/i;

type Plain = Record<string, unknown>;

/** A JSON object (not null, not an array, not a string). */
function isPlain(value: unknown): value is Plain {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isCount(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

/** A Yjs id `{client, clock}`; null when absent; undefined when malformed. */
function readId(value: unknown): Y.ID | null | undefined {
  if (value === undefined || value === null) return null;
  if (!isPlain(value) || !isCount(value.client) || !isCount(value.clock)) return undefined;
  return Y.createID(value.client, value.clock);
}

/**
 * A relative position from its JSON form (an object, or a string of JSON as y-codemirror
 * sends it), or null if it is not one.
 */
export function readRelativePosition(value: unknown): Y.RelativePosition | null {
  let json: unknown = value;
  if (typeof value === "string") {
    try {
      json = JSON.parse(value);
    } catch {
      return null;
    }
  }
  if (!isPlain(json)) return null;
  const item = readId(json.item);
  const type = readId(json.type);
  if (item === undefined || type === undefined) return null;
  const { tname, assoc } = json;
  if (tname !== undefined && tname !== null && typeof tname !== "string") return null;
  if (assoc !== undefined && assoc !== null && !Number.isSafeInteger(assoc)) return null;
  const name = typeof tname === "string" && tname !== "" ? tname : null;
  // With none of the three, Yjs has nothing to resolve it against (and throws).
  if (item === null && type === null && name === null) return null;
  return new Y.RelativePosition(type, name, item, typeof assoc === "number" ? assoc : 0);
}

/** Both ends of `{anchor, head}`, or null unless both are relative positions. */
function readRange(value: unknown): { anchor: Y.RelativePosition; head: Y.RelativePosition } | null {
  if (!isPlain(value)) return null;
  const anchor = readRelativePosition(value.anchor);
  const head = readRelativePosition(value.head);
  return anchor && head ? { anchor, head } : null;
}

/** What a peer's presence says about its cursor, in any known format; null if nothing. */
export function readPresence(state: unknown): RemotePresence | null {
  if (!isPlain(state)) return null;
  const range = readRange(state.cursor) ?? readRange(state.selection);
  if (range === null) return null;
  const user = isPlain(state.user) ? state.user : {};
  const { name, color, colorLight } = user;
  return {
    name: typeof name === "string" && name !== "" ? name : ANONYMOUS,
    color: typeof color === "string" && parseHex(color) ? color.trim() : null,
    colorLight: typeof colorLight === "string" && LIGHT_COLOR.test(colorLight) ? colorLight : null,
    ...range,
  };
}

/**
 * Where `position` is in `ytext` now, or null: a position into an item this document does
 * not have (yet), into another type, or naming another root type is none of this text's.
 */
export function indexIn(position: Y.RelativePosition, ytext: Y.Text): number | null {
  const doc = ytext.doc;
  if (!doc) return null;
  // Yjs would create a root type of any name it is given (Y.Doc.get): never on a peer's say.
  const target: unknown = ytext;
  if (position.item === null && position.tname !== null && doc.share.get(position.tname) !== target) {
    return null;
  }
  try {
    const absolute = Y.createAbsolutePositionFromRelativePosition(position, doc);
    if (absolute === null || absolute.type !== target) return null;
    return Number.isSafeInteger(absolute.index) && absolute.index >= 0 ? absolute.index : null;
  } catch {
    return null;
  }
}

/** A peer's selection as indexes into `ytext`, or null if its presence has none there. */
export function remoteSelection(
  state: unknown,
  ytext: Y.Text,
): (RemotePresence & { anchorIndex: number; headIndex: number }) | null {
  const presence = readPresence(state);
  if (presence === null) return null;
  const anchorIndex = indexIn(presence.anchor, ytext);
  const headIndex = indexIn(presence.head, ytext);
  if (anchorIndex === null || headIndex === null) return null;
  return { ...presence, anchorIndex, headIndex };
}
