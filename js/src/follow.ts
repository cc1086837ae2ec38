// Follow mode: keep another person's caret in view while they move it. The one way data goes:
// presence (the session's awareness) -> this follower -> the editor (`reveal`, which scrolls)
// and the view (`changed`, which shows whom we follow). The view's name buttons call
// `toggle`; the editor calls `stop` when its user types or clicks into the text.
//
// A caret is read through ./remotePresence, so a CodeMirror 5 or Monaco peer is followed as
// well as ours. A person connected more than once (two tabs) is followed in the connection
// whose caret moved last. Following ends when they leave (no connection of theirs is left).
import type * as Y from "yjs";

import { remoteSelection } from "./remotePresence";

interface PresenceChange {
  added: number[];
  updated: number[];
  removed: number[];
}

/** What the follower reads of an Awareness (y-protocols'; a test may hand it a stand-in). */
export interface FollowPresence {
  getStates(): Map<number, unknown>;
  on(event: "change", handler: (change: PresenceChange) => void): void;
  off(event: "change", handler: (change: PresenceChange) => void): void;
}

export interface FollowCallbacks {
  /** Bring this index of the text into view (the followed caret moved there). */
  reveal(index: number): void;
  /** Whom we follow now: a name, or null when following stopped (and why). */
  changed(name: string | null, why: FollowEnd | null): void;
}

export type FollowEnd = "stopped" | "left";

/** The presence's plain `user.name`, or null (the Online list shows only such names). */
function nameOf(state: unknown): string | null {
  const user = (state as { user?: { name?: unknown } } | null)?.user;
  const name = user?.name;
  return typeof name === "string" && name !== "" ? name : null;
}

export class Follower {
  private target: string | null = null;
  /** Client id -> where its caret's head was last seen (an index into the text). */
  private readonly heads = new Map<number, number>();
  /** Client id -> when its caret last moved (a counter: later moves are larger). */
  private readonly moves = new Map<number, number>();
  private tick = 0;
  private lastRevealed: number | null = null;

  constructor(
    private readonly presence: FollowPresence,
    private readonly ytext: Y.Text,
    /** Our own client id: never followed. */
    private readonly localClient: number,
    private readonly callbacks: FollowCallbacks,
  ) {
    for (const [client, state] of presence.getStates()) this.see(client, state);
    presence.on("change", this.onChange);
    ytext.observe(this.onText);
  }

  /** The name followed now, or null. */
  get following(): string | null {
    return this.target;
  }

  /** Follow `name` (another person online); their caret comes into view at once if known. */
  follow(name: string): void {
    if (!this.isOnline(name)) return;
    if (this.target !== name) {
      this.target = name;
      this.lastRevealed = null;
      this.callbacks.changed(name, null);
    }
    this.revealTarget(true);
  }

  /** Follow `name`, or stop if we follow them already (their name clicked again). */
  toggle(name: string): void {
    if (this.target === name) this.stop();
    else this.follow(name);
  }

  stop(why: FollowEnd = "stopped"): void {
    if (this.target === null) return;
    this.target = null;
    this.lastRevealed = null;
    this.callbacks.changed(null, why);
  }

  destroy(): void {
    this.presence.off("change", this.onChange);
    this.ytext.unobserve(this.onText);
    this.target = null;
  }

  /** Note where `client`'s caret is; true if it moved (or appeared). A caret `shifted` by
   * someone's edit is where it is now, but did not move: it is not "the one that moved last". */
  private see(client: number, state: unknown, shifted = false): boolean {
    if (client === this.localClient) return false;
    let head: number | null = null;
    try {
      head = remoteSelection(state, this.ytext)?.headIndex ?? null;
    } catch {
      head = null; // anything a peer sends is no caret rather than an error
    }
    if (head === null) {
      this.heads.delete(client);
      return false;
    }
    if (this.heads.get(client) === head) return false;
    this.heads.set(client, head);
    if (!shifted || !this.moves.has(client)) this.moves.set(client, ++this.tick);
    return true;
  }

  private readonly onChange = ({ added, updated, removed }: PresenceChange) => {
    const states = this.presence.getStates();
    let targetMoved = false;
    for (const client of [...added, ...updated]) {
      const state = states.get(client);
      if (this.see(client, state) && this.target !== null && nameOf(state) === this.target) {
        targetMoved = true;
      }
    }
    for (const client of removed) {
      this.heads.delete(client);
      this.moves.delete(client);
    }
    if (this.target === null) return;
    if (!this.isOnline(this.target)) this.stop("left");
    else if (targetMoved) this.revealTarget(false);
  };

  /** Someone else's edit: the carets' indexes may have shifted with it. (Our own typing
   * ends following: the editor says so.) */
  private readonly onText = (_event: Y.YTextEvent, transaction: Y.Transaction) => {
    if (this.target === null || transaction.local) return;
    const states = this.presence.getStates();
    for (const [client, state] of states) {
      if (nameOf(state) === this.target) this.see(client, state, true);
    }
    this.revealTarget(false);
  };

  /** The followed person's connection whose caret moved last, and where that caret is. */
  private targetHead(): number | null {
    let best: number | null = null;
    let bestMove = -1;
    for (const [client, state] of this.presence.getStates()) {
      if (client === this.localClient || nameOf(state) !== this.target) continue;
      const head = this.heads.get(client);
      const move = this.moves.get(client) ?? -1;
      if (head !== undefined && move > bestMove) {
        best = head;
        bestMove = move;
      }
    }
    return best;
  }

  private revealTarget(always: boolean): void {
    const head = this.targetHead();
    if (head === null || (!always && head === this.lastRevealed)) return;
    this.lastRevealed = head;
    this.callbacks.reveal(head);
  }

  private isOnline(name: string): boolean {
    for (const [client, state] of this.presence.getStates()) {
      if (client !== this.localClient && nameOf(state) === name) return true;
    }
    return false;
  }
}
