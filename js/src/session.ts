// One person's live connection to a room: a Yjs document synced by the unmodified
// y-websocket provider. One session is one peer, however many editors show it
// (editor.ts); anything may follow its state with `subscribe` (binding.ts does for a RoomView).
import { WebsocketProvider } from "y-websocket";
import * as Y from "yjs";

import type { Access, Room } from "./api";
import { FINAL_CLOSE_CODES } from "./closeCodes";
import { colorFor, personColor } from "./colors";
import { isLanguage } from "./languages";
import { SaveTracker } from "./saved";

export type ConnectionStatus = "connecting" | "connected" | "reconnecting" | "offline";

/** Someone connected now, and the colour their caret is drawn in (./cursors). */
export interface OnlinePerson {
  name: string;
  color: string;
}

/** Someone who raised their hand: their name, and when (an ISO 8601 UTC time, as written). */
export interface RaisedHand {
  name: string;
  since: string;
}

export interface SessionEvents {
  /** The connection, and how many of our edits are not yet on the server's disk. */
  status(status: ConnectionStatus, unsavedEdits: number): void;
  online(names: string[]): void;
  /** The same people, each with their caret's colour (for the Online list's dots). */
  onlinePeople(people: OnlinePerson[]): void;
  participants(names: string[]): void;
  code(text: string): void;
  language(id: string): void;
  /** Raised hands (the room's `help` map), oldest first. */
  hands(hands: RaisedHand[]): void;
  /** The server ended the session for good (room deleted or unknown, link replaced). */
  ended(reason: string): void;
}

export interface SessionOptions {
  websocketUrl: string;
  /** Query parameters of the WebSocket (the room key, or a Jupyter token). */
  params?: Record<string, string>;
  /** The room as the REST API gave it on joining: its id, our access, and what to show
   * until the document has synced. */
  room: Room;
  name: string;
}

const LOCAL_ORIGIN = "codecompanion-local";
/** y-websocket's message type for sync messages. */
const MESSAGE_SYNC = 0;
/** Control, format (bidi, zero-width) and lone surrogate characters: the server closes a
 * connection whose presence name holds one (codecompanion_ext/validation.py), except a
 * zero-width (non-)joiner between two visible non-ASCII characters (emoji, Persian). */
const INVISIBLE = /[\p{Cc}\p{Cf}\p{Cs}]/u;
const JOINERS = new Set(["\u200c", "\u200d"]);
const VISIBLE_NON_ASCII = /^[^\p{C}\s\x00-\x7f]$/u;

export function visibleName(name: string): string {
  const chars = Array.from(name);
  return chars
    .filter((ch, i) =>
      JOINERS.has(ch)
        ? VISIBLE_NON_ASCII.test(chars[i - 1] ?? "") && VISIBLE_NON_ASCII.test(chars[i + 1] ?? "")
        : !INVISIBLE.test(ch),
    )
    .join("");
}

export class RoomSession {
  readonly doc = new Y.Doc();
  readonly text = this.doc.getText("code");
  readonly provider: WebsocketProvider;
  /** This person's own edits, from any of their editors: one history, so each editor can
   * undo what was typed in another (y-codemirror tracks every editor that uses it). */
  readonly undoManager = new Y.UndoManager(this.text);
  readonly roomId: string;
  readonly access: Access;
  /** This person's name as others see it (their presence's `user.name`). */
  readonly name: string;
  private readonly meta = this.doc.getMap<unknown>("meta");
  private readonly participantList = this.doc.getArray<string>("participants");
  /** Raised hands: name -> ISO 8601 UTC time it was raised; lowering deletes the key.
   * Anything else a peer writes there (a number, a map) counts as no hand. */
  private readonly help = this.doc.getMap<unknown>("help");
  private readonly listeners = new Set<Partial<SessionEvents>>();
  private readonly saves: SaveTracker;
  private everSynced = false;
  private endReason = "";
  private readonly onNetworkChange = () => this.reportStatus();

  constructor(private readonly options: SessionOptions) {
    const { room } = options;
    this.roomId = room.roomId;
    this.access = room.access === "view" ? "view" : "edit";
    this.provider = new WebsocketProvider(options.websocketUrl, room.roomId, this.doc, {
      params: options.params ?? {},
      disableBc: true,
    });
    this.saves = new SaveTracker(this.doc, () => this.reportStatus());
    this.watchSyncMessages();
    // Names the server accepted have none; one it never saw (a widget that opens a room by
    // id asks for a name but joins nothing) must not get this connection closed.
    const name = visibleName(options.name) || "Guest";
    this.name = name;
    const { color, light } = colorFor(name);
    this.awareness.setLocalStateField("user", { name, color, colorLight: light });

    this.provider.on("status", () => this.reportStatus());
    this.provider.on("sync", (synced: boolean) => {
      if (synced) this.everSynced = true;
      this.reportStatus();
    });
    this.provider.on("connection-close", (event: CloseEvent | null) => {
      const reason = event ? FINAL_CLOSE_CODES[event.code] : undefined;
      if (reason && !this.endReason) {
        this.endReason = reason;
        this.provider.disconnect();
        this.emit("ended", reason);
      }
    });
    window.addEventListener("online", this.onNetworkChange);
    window.addEventListener("offline", this.onNetworkChange);

    this.text.observe(() => this.emit("code", this.text.toString()));
    this.meta.observe(() => this.emit("language", this.language));
    this.participantList.observe(() => this.emit("participants", this.participants));
    this.help.observe(() => this.emit("hands", this.hands));
    this.awareness.on("change", () => {
      const people = this.onlinePeople;
      this.emit("online", people.map((person) => person.name));
      this.emit("onlinePeople", people);
    });
  }

  get awareness(): WebsocketProvider["awareness"] {
    return this.provider.awareness;
  }

  get readOnly(): boolean {
    return this.access === "view";
  }

  get language(): string {
    const language = this.meta.get("language") ?? this.options.room.programmingLanguage;
    return isLanguage(language) ? language : "plaintext";
  }

  /** Everyone who ever joined, in join order. */
  get participants(): string[] {
    const names = this.participantList.toArray();
    return names.length ? names : this.options.room.participants;
  }

  /** Who is connected now (by name, sorted). */
  get online(): string[] {
    return this.onlinePeople.map((person) => person.name);
  }

  /**
   * Who is connected now, sorted by name, each in their caret's colour: the `user.color`
   * their presence gives if it is a hex colour, else their name's (colors.ts personColor).
   * A name connected more than once takes the colour of its lowest client id, which is the
   * same in every peer's view.
   */
  get onlinePeople(): OnlinePerson[] {
    const people = new Map<string, { client: number; color: unknown }>();
    for (const [client, state] of this.awareness.getStates()) {
      const user = (state as { user?: { name?: unknown; color?: unknown } } | null)?.user;
      const name = user?.name;
      if (typeof name !== "string" || !name) continue;
      const seen = people.get(name);
      if (seen === undefined || client < seen.client) {
        people.set(name, { client, color: user?.color });
      }
    }
    return [...people]
      .map(([name, { color }]) => ({ name, color: personColor(color, name) }))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Who raised a hand, oldest first (then by name): entries whose value is a string. */
  get hands(): RaisedHand[] {
    const hands: RaisedHand[] = [];
    for (const [name, since] of this.help.entries()) {
      if (typeof since === "string" && name !== "") hands.push({ name, since });
    }
    return hands.sort((a, b) =>
      a.since === b.since ? a.name.localeCompare(b.name) : a.since < b.since ? -1 : 1,
    );
  }

  /** Whether this person's hand is raised. */
  get handRaised(): boolean {
    return typeof this.help.get(this.name) === "string";
  }

  /** Flag "I need help" for everyone in the room (a view-only peer cannot). */
  raiseHand(): void {
    if (this.readOnly || this.handRaised) return;
    this.help.set(this.name, new Date().toISOString());
  }

  lowerHand(): void {
    this.clearHand(this.name);
  }

  /** Lower anyone's hand (a teacher clearing it): anyone who may edit may. */
  clearHand(name: string): void {
    if (this.readOnly || !this.help.has(name)) return;
    this.help.delete(name);
  }

  get status(): ConnectionStatus {
    if (this.isLive) return "connected";
    if (!navigator.onLine) return "offline";
    return this.everSynced ? "reconnecting" : "connecting";
  }

  /** Our edits not yet on the server's disk: kept, and sent again on reconnecting. */
  get unsaved(): number {
    return this.saves.unsaved;
  }

  /** Why the server ended the session for good; "" while it has not. */
  get ended(): string {
    return this.endReason;
  }

  /** Call `listener`'s methods on every change from now on; returns the way to stop. */
  subscribe(listener: Partial<SessionEvents>): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Change the room's language for everyone (a view-only peer cannot). */
  setLanguage(id: string): void {
    if (this.readOnly || !isLanguage(id) || this.meta.get("language") === id) return;
    this.meta.set("language", id);
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

  destroy(): void {
    this.listeners.clear();
    window.removeEventListener("online", this.onNetworkChange);
    window.removeEventListener("offline", this.onNetworkChange);
    this.undoManager.destroy();
    this.provider.destroy();
    this.doc.destroy();
  }

  private get isLive(): boolean {
    return this.provider.wsconnected && this.provider.synced;
  }

  private emit<E extends keyof SessionEvents>(
    event: E,
    ...args: Parameters<SessionEvents[E]>
  ): void {
    for (const listener of [...this.listeners]) {
      const handler = listener[event] as ((...values: unknown[]) => void) | undefined;
      handler?.(...args);
    }
  }

  private reportStatus(): void {
    // Once ended, the session stays ended: no later close or retry may say otherwise.
    if (!this.endReason) this.emit("status", this.status, this.saves.unsaved);
  }

  /** Let the save tracker read each sync message the server sends, before the provider
   * applies it (y-websocket keeps its message handlers per provider, for such uses). */
  private watchSyncMessages(): void {
    type Handler = (
      encoder: unknown,
      decoder: { arr: Uint8Array; pos: number },
      ...rest: unknown[]
    ) => void;
    const handlers = (this.provider as unknown as { messageHandlers: Handler[] }).messageHandlers;
    const applySync = handlers[MESSAGE_SYNC];
    handlers[MESSAGE_SYNC] = (encoder, decoder, ...rest) => {
      try {
        this.saves.readSyncMessage(decoder.arr, decoder.pos);
      } catch {
        // Not a valid sync message: the provider's own handler reports it.
      }
      applySync(encoder, decoder, ...rest);
    };
  }
}
