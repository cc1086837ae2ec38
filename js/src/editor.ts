// A CodeMirror 6 editor on a session's shared text, bound by y-codemirror.next. A session
// may show in several editors at once (a widget displayed twice): they share its document,
// its presence (one peer) and its undo history.
import { autocompletion, closeBrackets, closeBracketsKeymap } from "@codemirror/autocomplete";
import { defaultKeymap, indentWithTab } from "@codemirror/commands";
import {
  bracketMatching,
  foldGutter,
  indentOnInput,
  indentUnit,
  syntaxHighlighting,
} from "@codemirror/language";
import { highlightSelectionMatches, searchKeymap } from "@codemirror/search";
import { Compartment, EditorState, type Transaction } from "@codemirror/state";
import {
  EditorView,
  crosshairCursor,
  drawSelection,
  dropCursor,
  highlightActiveLine,
  highlightActiveLineGutter,
  highlightSpecialChars,
  keymap,
  lineNumbers,
  rectangularSelection,
} from "@codemirror/view";
import { yCollab, yUndoManagerKeymap } from "y-codemirror.next";

import { type Presence, localCursor, remoteCursors } from "./cursors";
import { languageSupport } from "./languages";
import type { RoomSession } from "./session";
import { editorTheme, highlightStyle, isDarkPage, watchPageTheme } from "./theme";

type AwarenessHandler = Parameters<RoomSession["awareness"]["on"]>[1];

/** What ends follow mode: the user's own typing, deleting, pasting, or a click in the text. */
function isUserAction(transaction: Transaction): boolean {
  return ["input", "delete", "select.pointer"].some((event) => transaction.isUserEvent(event));
}

/** Per session, the editor that publishes the user's cursor: the one last typed in. */
const cursorPublishers = new WeakMap<RoomSession, RoomEditor>();

export class RoomEditor {
  readonly view: EditorView;
  private readonly languageSlot = new Compartment();
  private readonly themeSlot = new Compartment();
  private destroyed = false;
  private readonly stopWatchingTheme: () => void;
  private readonly stopFollowingLanguage: () => void;
  /** Called when this editor's user types, deletes, pastes or clicks into the text (follow
   * mode ends then: follow.ts). */
  onUserAction: () => void = () => undefined;

  constructor(
    private readonly session: RoomSession,
    parent: HTMLElement,
  ) {
    const { readOnly } = session;
    this.view = new EditorView({
      parent,
      state: EditorState.create({
        doc: session.text.toString(),
        extensions: [
          lineNumbers(),
          highlightActiveLineGutter(),
          highlightSpecialChars(),
          foldGutter(),
          drawSelection(),
          dropCursor(),
          EditorState.allowMultipleSelections.of(true),
          indentOnInput(),
          indentUnit.of("    "),
          syntaxHighlighting(highlightStyle),
          bracketMatching(),
          closeBrackets(),
          autocompletion({ activateOnTyping: false }),
          rectangularSelection(),
          crosshairCursor(),
          highlightActiveLine(),
          highlightSelectionMatches(),
          keymap.of([
            ...closeBracketsKeymap,
            ...yUndoManagerKeymap,
            ...defaultKeymap,
            ...searchKeymap,
            indentWithTab,
          ]),
          // Text sync and undo from y-codemirror; everyone's cursors from ./cursors.
          yCollab(session.text, null, { undoManager: session.undoManager }),
          remoteCursors(session.text, this.presence()),
          this.languageSlot.of(languageSupport(session.language)),
          this.themeSlot.of(editorTheme(isDarkPage())),
          EditorState.readOnly.of(readOnly),
          EditorView.editable.of(!readOnly),
          EditorView.updateListener.of((update) => {
            if (update.transactions.some(isUserAction)) this.onUserAction();
          }),
        ],
      }),
    });
    this.stopWatchingTheme = watchPageTheme((dark) =>
      this.view.dispatch({ effects: this.themeSlot.reconfigure(editorTheme(dark)) }),
    );
    this.stopFollowingLanguage = session.subscribe({
      language: (language) =>
        // Not from inside the Yjs transaction: a sync that brings both the language and the
        // text calls this before y-codemirror has put the text into the editor, and an editor
        // update then would place remote cursors past its end (crashing that plugin).
        queueMicrotask(() => {
          if (this.destroyed || language !== session.language) return;
          this.view.dispatch({ effects: this.languageSlot.reconfigure(languageSupport(language)) });
        }),
    });
  }

  /**
   * Bring `index` of the text into view (a followed caret): nothing if it is comfortably
   * visible already, else its line goes to the middle. Only this editor's own scroller moves
   * (EditorView.scrollIntoView would scroll the page or the notebook around it as well). Not
   * from inside an editor update: later, and only if `still()` says it is still wanted then.
   */
  reveal(index: number, still: () => boolean = () => true): void {
    queueMicrotask(() => {
      if (this.destroyed || !still()) return;
      const { view } = this;
      const scroller = view.scrollDOM;
      const at = Math.max(0, Math.min(index, view.state.doc.length));
      const height = scroller.clientHeight;
      const margin = Math.min(40, height / 4);
      // Line heights are known (or estimated, for lines not drawn) in document coordinates.
      const line = view.lineBlockAt(at);
      const top = line.top + view.documentTop - scroller.getBoundingClientRect().top;
      if (top < margin || top + line.height > height - margin) {
        scroller.scrollTop += top - (height - line.height) / 2;
      }
      const caret = view.coordsAtPos(at);
      if (caret) {
        const box = scroller.getBoundingClientRect();
        const gutters = view.dom.querySelector(".cm-gutters")?.getBoundingClientRect().width ?? 0;
        if (caret.left < box.left + gutters + 8 || caret.right > box.right - 8) {
          scroller.scrollLeft += caret.left - (box.left + gutters + (box.width - gutters) / 2);
        }
      }
    });
  }

  focus(): void {
    this.view.focus();
  }

  destroy(): void {
    this.destroyed = true;
    this.stopFollowingLanguage();
    this.stopWatchingTheme();
    this.view.destroy();
    if (cursorPublishers.get(this.session) === this) {
      // Nobody types here any more: others stop seeing a cursor in it (in any format).
      cursorPublishers.delete(this.session);
      const { awareness } = this.session;
      const local = awareness.getLocalState();
      if (local !== null) awareness.setLocalState({ ...local, ...localCursor(null) });
    }
  }

  /**
   * The session's awareness as the cursors plugin sees it from this editor: everyone's
   * presence as it is, but the user's own cursor written only from the editor last typed in.
   * The plugin writes the cursor (cursors.ts localCursor: `cursor` and `selection`, the only
   * presence it writes) from every editor that updates, so with two editors on one awareness
   * an idle one could move or clear the cursor others see.
   */
  private presence(): Presence {
    const { awareness } = this.session;
    const presence = {
      getStates: () => awareness.getStates(),
      getLocalState: () => awareness.getLocalState(),
      on: (event: "change", handler: AwarenessHandler) => awareness.on(event, handler),
      off: (event: "change", handler: AwarenessHandler) => awareness.off(event, handler),
      setLocalState: (state: Record<string, unknown>) => {
        // The plugin runs inside view updates, so this.view exists by then.
        if (this.view.hasFocus) cursorPublishers.set(this.session, this);
        if (cursorPublishers.get(this.session) !== this) return;
        awareness.setLocalState(state);
      },
    };
    return presence;
  }
}
