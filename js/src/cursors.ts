// Other people's cursors and selections in the editor, with name labels that show while
// that person is active (their cursor or their text changed in the last ACTIVE_MS) or while
// the pointer is on their caret, then fade (as in VS Code Live Share).
//
// It takes the place of y-codemirror.next's yRemoteSelections (whose labels carry no
// activity and put the peer's colour into a style unchecked) and keeps its DOM and class
// names: .cm-ySelection, .cm-yLineSelection, .cm-ySelectionCaret (with data-active),
// .cm-ySelectionCaretDot and .cm-ySelectionInfo. Styles are in style.css.
//
// It shows the peers of other editors too: ./remotePresence reads CodeMirror 5's
// (y-codemirror) and Monaco's (y-monaco) presence as well as ours, and turns anything
// malformed into "no cursor". Nothing a peer sends may throw out of this plugin: CodeMirror
// would disable it for the rest of the session. Its own cursor is published in
// y-codemirror.next's format (`cursor`), and the same range as y-monaco's `selection`, so
// Monaco peers draw it too (localCursor).
import { Annotation, type EditorState, type Extension, type Range } from "@codemirror/state";
import {
  Decoration,
  type DecorationSet,
  EditorView,
  ViewPlugin,
  type ViewUpdate,
  WidgetType,
} from "@codemirror/view";
import * as Y from "yjs";

import { labelColors } from "./colors";
import { readRelativePosition, remoteSelection } from "./remotePresence";

/** How long a label stays after that person's last change (then it fades out). */
export const ACTIVE_MS = 2500;

const refresh = Annotation.define<null>();

interface AwarenessChange {
  added: number[];
  updated: number[];
  removed: number[];
}

/** This editor's own presence: y-codemirror.next's format (other editors show it). */
interface LocalState {
  cursor?: { anchor?: unknown; head?: unknown } | null;
  selection?: { anchor?: unknown; head?: unknown } | null;
}

type CursorRange = { anchor: Y.RelativePosition; head: Y.RelativePosition };

/**
 * The presence fields of this editor's cursor (null: none): y-codemirror.next's `cursor`,
 * which our editors read first, and the same range as y-monaco's `selection`, the only one
 * Monaco peers draw. Set together, in one awareness update.
 */
export function localCursor(range: CursorRange | null): {
  cursor: CursorRange | null;
  selection: CursorRange | null;
} {
  return { cursor: range, selection: range };
}

/** Whether a published `{anchor, head}` is the range given. */
function publishes(published: LocalState["cursor"], range: CursorRange): boolean {
  return (
    Y.compareRelativePositions(readRelativePosition(published?.anchor), range.anchor) &&
    Y.compareRelativePositions(readRelativePosition(published?.head), range.head)
  );
}

/** Say once per kind of failure what went wrong, rather than on every keystroke. */
const warned = new Set<string>();
function warnOnce(what: string, error: unknown): void {
  if (warned.has(what)) return;
  warned.add(what);
  console.warn(`Code Companion: ignored ${what}:`, error);
}

class CaretWidget extends WidgetType {
  constructor(
    readonly name: string,
    readonly background: string,
    readonly text: string,
    readonly active: boolean,
    readonly firstLine: boolean,
  ) {
    super();
  }

  eq(other: CaretWidget): boolean {
    return (
      other.name === this.name &&
      other.background === this.background &&
      other.text === this.text &&
      other.active === this.active &&
      other.firstLine === this.firstLine
    );
  }

  toDOM(): HTMLElement {
    const caret = document.createElement("span");
    caret.className = "cm-ySelectionCaret";
    const dot = document.createElement("div");
    dot.className = "cm-ySelectionCaretDot";
    const info = document.createElement("div");
    info.className = "cm-ySelectionInfo";
    caret.append("\u2060", dot, "\u2060", info, "\u2060");
    this.updateDOM(caret);
    return caret;
  }

  /** Same caret, new state: changed in place, so the label's fade is a CSS transition. */
  updateDOM(caret: HTMLElement): boolean {
    const info = caret.querySelector<HTMLElement>(".cm-ySelectionInfo");
    if (!info) return false;
    caret.style.borderColor = this.background;
    caret.style.backgroundColor = this.background;
    caret.toggleAttribute("data-active", this.active);
    caret.toggleAttribute("data-first-line", this.firstLine);
    info.textContent = this.name;
    info.style.backgroundColor = this.background;
    info.style.color = this.text;
    return true;
  }

  get estimatedHeight(): number {
    return -1;
  }

  ignoreEvent(): boolean {
    return true;
  }
}

/** The selection tint: the peer's `colorLight` if it is a hex colour, else its colour at 20%. */
function tint(light: unknown, background: string): string {
  if (typeof light === "string" && /^#(?:[0-9a-f]{3,4}|[0-9a-f]{6}|[0-9a-f]{8})$/i.test(light)) {
    return light;
  }
  return background.length === 7 ? `${background}33` : background;
}

/** What the plugin uses of an Awareness (an editor may hand it a filtered view of one). */
export interface Presence {
  getStates(): Map<number, unknown>;
  getLocalState(): unknown;
  /** Replace this peer's whole presence state (one awareness update). */
  setLocalState(state: Record<string, unknown>): void;
  on(event: "change", handler: (change: AwarenessChange) => void): void;
  off(event: "change", handler: (change: AwarenessChange) => void): void;
}

export function remoteCursors(ytext: Y.Text, awareness: Presence): Extension {
  const doc = ytext.doc as Y.Doc;

  class RemoteCursors {
    decorations: DecorationSet = Decoration.none;
    /** Client id -> when its cursor or text last changed (performance.now()). */
    private readonly lastActive = new Map<number, number>();
    private timer = 0;
    private destroyed = false;

    constructor(private readonly view: EditorView) {
      awareness.on("change", this.onAwareness);
      doc.on("afterTransaction", this.onTransaction);
    }

    private readonly onAwareness = ({ added, updated, removed }: AwarenessChange) => {
      const others = [...added, ...updated].filter((id) => id !== doc.clientID);
      for (const id of others) this.lastActive.set(id, performance.now());
      for (const id of removed) this.lastActive.delete(id);
      if (others.length || removed.some((id) => id !== doc.clientID)) this.redraw();
    };

    /** A remote transaction that inserted text makes its author active. */
    private readonly onTransaction = (transaction: Y.Transaction) => {
      if (transaction.local) return;
      let changed = false;
      transaction.afterState.forEach((clock, client) => {
        if (client !== doc.clientID && clock > (transaction.beforeState.get(client) ?? 0)) {
          this.lastActive.set(client, performance.now());
          changed = true;
        }
      });
      if (changed) this.redraw();
    };

    /** Recompute the decorations (not from inside an editor update). */
    private redraw(): void {
      if (this.destroyed) return;
      // The editor may be mid-update (a Yjs transaction applied by the sync plugin).
      queueMicrotask(() => {
        if (!this.destroyed) this.view.dispatch({ annotations: refresh.of(null) });
      });
    }

    private isActive(client: number, now: number): boolean {
      const since = this.lastActive.get(client);
      return since !== undefined && now - since < ACTIVE_MS;
    }

    /** Wake up when the next active label is due to fade. */
    private scheduleFade(now: number): void {
      clearTimeout(this.timer);
      let next = Infinity;
      for (const since of this.lastActive.values()) {
        if (now - since < ACTIVE_MS) next = Math.min(next, since + ACTIVE_MS - now);
      }
      if (next !== Infinity) this.timer = window.setTimeout(() => this.redraw(), next + 20);
    }

    update(update: ViewUpdate): void {
      // Nothing may throw out of here: CodeMirror would turn this plugin off for good (no
      // remote cursors, and this editor's own cursor no longer published).
      try {
        this.publishLocalCursor(update);
      } catch (error) {
        warnOnce("publishing this editor's cursor", error);
      }
      const { state } = update.view;
      const now = performance.now();
      const decorations: Range<Decoration>[] = [];
      awareness.getStates().forEach((raw, client) => {
        if (client === doc.clientID) return;
        try {
          // Only whole: a peer whose decorations fail halfway adds none of them.
          decorations.push(...this.peerDecorations(state, raw, client, now));
        } catch (error) {
          warnOnce(`the cursor of peer ${client}`, error);
        }
      });
      try {
        this.decorations = Decoration.set(decorations, true);
      } catch (error) {
        warnOnce("the remote cursors", error);
        this.decorations = Decoration.none;
      }
      this.scheduleFade(now);
    }

    /** One peer's caret and selection; none unless its presence places them in this text. */
    private peerDecorations(
      state: EditorState,
      raw: unknown,
      client: number,
      now: number,
    ): Range<Decoration>[] {
      // Any binding's presence, checked field by field (./remotePresence).
      const remote = remoteSelection(raw, ytext);
      if (remote === null) return [];
      const decorations: Range<Decoration>[] = [];
      const length = state.doc.length;
      // The text may be ahead of the editor while a sync is being applied.
      const anchorAt = Math.min(remote.anchorIndex, length);
      const headAt = Math.min(remote.headIndex, length);
      const { name } = remote;
      const { background, text } = labelColors(remote.color, name);
      const light = tint(remote.colorLight, background);
      const mark = Decoration.mark({
        attributes: { style: `background-color: ${light}` },
        class: "cm-ySelection",
      });
      const start = Math.min(anchorAt, headAt);
      const end = Math.max(anchorAt, headAt);
      const startLine = state.doc.lineAt(start);
      const endLine = state.doc.lineAt(end);
      if (start < end) {
        if (startLine.number === endLine.number) {
          decorations.push(mark.range(start, end));
        } else {
          if (start < startLine.to) decorations.push(mark.range(start, startLine.to));
          if (endLine.from < end) decorations.push(mark.range(endLine.from, end));
          for (let i = startLine.number + 1; i < endLine.number; i++) {
            const line = Decoration.line({
              attributes: { style: `background-color: ${light}`, class: "cm-yLineSelection" },
            });
            decorations.push(line.range(state.doc.line(i).from));
          }
        }
      }
      const widget = new CaretWidget(
        name,
        background,
        text,
        this.isActive(client, now),
        state.doc.lineAt(headAt).number === 1,
      );
      // The local cursor is drawn outside the remote selection.
      const side = headAt - anchorAt > 0 ? -1 : 1;
      decorations.push(Decoration.widget({ side, widget }).range(headAt));
      return decorations;
    }

    /** Tell the others where this editor's cursor is (what yRemoteSelections also did). */
    private publishLocalCursor(update: ViewUpdate): void {
      const local = awareness.getLocalState() as LocalState | null;
      if (local == null) return;
      const hasFocus = update.view.hasFocus && update.view.dom.ownerDocument.hasFocus();
      const selection = hasFocus ? update.state.selection.main : null;
      if (selection != null) {
        const range = {
          anchor: Y.createRelativePositionFromTypeIndex(ytext, selection.anchor),
          head: Y.createRelativePositionFromTypeIndex(ytext, selection.head),
        };
        if (!publishes(local.cursor, range) || !publishes(local.selection, range)) {
          awareness.setLocalState({ ...local, ...localCursor(range) });
        }
      } else if ((local.cursor != null || local.selection != null) && hasFocus) {
        awareness.setLocalState({ ...local, ...localCursor(null) });
      }
    }

    destroy(): void {
      this.destroyed = true;
      clearTimeout(this.timer);
      awareness.off("change", this.onAwareness);
      doc.off("afterTransaction", this.onTransaction);
    }
  }

  return ViewPlugin.fromClass(RemoteCursors, { decorations: (plugin) => plugin.decorations });
}
