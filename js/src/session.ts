// One person's live connection to a room: a Yjs document synced by the unmodified
// y-websocket provider, shown in a CodeMirror 6 editor bound by y-codemirror.next.
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
import { Compartment, EditorState } from "@codemirror/state";
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
import { WebsocketProvider } from "y-websocket";
import * as Y from "yjs";

import { colorFor } from "./colors";
import { remoteCursors } from "./cursors";
import { LANGUAGES, languageSupport } from "./languages";
import { editorTheme, highlightStyle, isDarkPage, watchPageTheme } from "./theme";

export type ConnectionStatus = "connecting" | "connected" | "reconnecting" | "offline";

export interface SessionEvents {
  status(status: ConnectionStatus, unsentEdits: number): void;
  online(names: string[]): void;
  participants(names: string[]): void;
  code(text: string): void;
  language(id: string): void;
  /** The server ended the session for good (room deleted or unknown). */
  ended(reason: string): void;
}

export interface SessionOptions {
  websocketUrl: string;
  roomId: string;
  name: string;
  parent: HTMLElement;
  events: SessionEvents;
  params?: Record<string, string>;
  readOnly?: boolean;
}

// Close codes after which reconnecting cannot help.
const FINAL_CLOSE_CODES: Record<number, string> = {
  4404: "This room does not exist.",
  4410: "This room was deleted.",
  4403: "This link no longer opens the room.",
};

const LOCAL_ORIGIN = "codecompanion-local";

export class RoomSession {
  readonly doc = new Y.Doc();
  readonly text = this.doc.getText("code");
  readonly meta = this.doc.getMap<unknown>("meta");
  readonly participants = this.doc.getArray<string>("participants");
  readonly provider: WebsocketProvider;
  readonly view: EditorView;
  private readonly languageSlot = new Compartment();
  private readonly themeSlot = new Compartment();
  private unsentEdits = 0;
  private destroyed = false;
  private everSynced = false;
  private stopWatchingTheme: () => void;
  private readonly onNetworkChange = () => this.reportStatus();

  constructor(private readonly options: SessionOptions) {
    const { events } = options;
    this.provider = new WebsocketProvider(options.websocketUrl, options.roomId, this.doc, {
      params: options.params ?? {},
      disableBc: true,
    });
    const { color, light } = colorFor(options.name);
    this.provider.awareness.setLocalStateField("user", { name: options.name, color, colorLight: light });

    const undoManager = new Y.UndoManager(this.text);
    this.view = new EditorView({
      parent: options.parent,
      state: EditorState.create({
        doc: this.text.toString(),
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
          // Text sync and undo from y-codemirror; other people's cursors from ./cursors.
          yCollab(this.text, null, { undoManager }),
          remoteCursors(this.text, this.provider.awareness),
          this.languageSlot.of(languageSupport(this.language)),
          this.themeSlot.of(editorTheme(isDarkPage())),
          EditorState.readOnly.of(Boolean(options.readOnly)),
          EditorView.editable.of(!options.readOnly),
        ],
      }),
    });
    this.stopWatchingTheme = watchPageTheme((dark) =>
      this.view.dispatch({ effects: this.themeSlot.reconfigure(editorTheme(dark)) }),
    );

    this.provider.on("status", () => this.reportStatus());
    this.provider.on("sync", (synced: boolean) => {
      if (synced) {
        this.everSynced = true;
        this.unsentEdits = 0;
      }
      this.reportStatus();
    });
    this.provider.on("connection-close", (event: CloseEvent | null) => {
      const reason = event ? FINAL_CLOSE_CODES[event.code] : undefined;
      if (reason) {
        this.provider.disconnect();
        events.ended(reason);
      }
    });
    this.doc.on("update", (_update: Uint8Array, origin: unknown) => {
      if (origin !== this.provider && !this.isLive) {
        this.unsentEdits += 1;
        this.reportStatus();
      }
    });
    window.addEventListener("online", this.onNetworkChange);
    window.addEventListener("offline", this.onNetworkChange);

    this.text.observe(() => events.code(this.text.toString()));
    this.meta.observe(() => {
      const language = this.language;
      // Not from inside the Yjs transaction: a sync that brings both the language and the
      // text calls this observer before y-codemirror has put the text into the editor, and
      // an editor update then would place remote cursors past its end (crashing that plugin).
      queueMicrotask(() => {
        if (this.destroyed || language !== this.language) return;
        this.view.dispatch({ effects: this.languageSlot.reconfigure(languageSupport(language)) });
      });
      events.language(language);
    });
    this.participants.observe(() => events.participants(this.participants.toArray()));
    this.provider.awareness.on("change", () => events.online(this.onlineNames()));
    events.online(this.onlineNames());
    this.reportStatus();
  }

  get language(): string {
    const language = this.meta.get("language");
    return typeof language === "string" && language in LANGUAGES ? language : "plaintext";
  }

  /** Change the room's language for everyone. */
  setLanguage(id: string): void {
    if (id in LANGUAGES && this.meta.get("language") !== id) this.meta.set("language", id);
  }

  /** Replace the whole text as one edit, touching only the part that differs. */
  replaceCode(next: string): void {
    const current = this.text.toString();
    if (current === next) return;
    let start = 0;
    while (start < current.length && start < next.length && current[start] === next[start]) start++;
    let end = 0;
    while (
      end < current.length - start &&
      end < next.length - start &&
      current[current.length - 1 - end] === next[next.length - 1 - end]
    ) {
      end++;
    }
    this.doc.transact(() => {
      this.text.delete(start, current.length - start - end);
      this.text.insert(start, next.slice(start, next.length - end));
    }, LOCAL_ORIGIN);
  }

  focus(): void {
    this.view.focus();
  }

  destroy(): void {
    this.destroyed = true;
    window.removeEventListener("online", this.onNetworkChange);
    window.removeEventListener("offline", this.onNetworkChange);
    this.stopWatchingTheme();
    this.provider.destroy();
    this.view.destroy();
    this.doc.destroy();
  }

  private get isLive(): boolean {
    return this.provider.wsconnected && this.provider.synced;
  }

  private onlineNames(): string[] {
    const names = new Set<string>();
    for (const state of this.provider.awareness.getStates().values()) {
      const name = (state as { user?: { name?: unknown } }).user?.name;
      if (typeof name === "string" && name) names.add(name);
    }
    return [...names].sort((a, b) => a.localeCompare(b));
  }

  private reportStatus(): void {
    let status: ConnectionStatus;
    if (this.isLive) status = "connected";
    else if (!navigator.onLine) status = "offline";
    else status = this.everSynced ? "reconnecting" : "connecting";
    this.options.events.status(status, this.unsentEdits);
  }
}
