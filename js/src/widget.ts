// The anywidget front end of codecompanion_ext.CodeRoom. A CodeRoom creates or joins its
// room once, in `initialize`: one REST call, one connection, one peer, traits sent to the
// kernel once. Every view of the widget (it may be displayed twice) shows that one session.
import "./style.css";

import type { AnyModel, AnyWidget, Initialize, Render } from "@anywidget/types";

import {
  type Room,
  RoomApi,
  RoomError,
  SERVER_NOT_RUNNING,
  errorText,
  pageServer,
  serverAt,
} from "./api";
import { type SessionBinding, bindSession } from "./binding";
import { RoomSession } from "./session";
import { RoomView } from "./view";

/** The synced traits of codecompanion_ext.CodeRoom. */
interface CodeRoomTraits {
  room_id: string;
  link: string;
  view_link: string;
  key: string;
  access: string;
  name: string;
  language: string;
  participants: string[];
  online: string[];
  status: string;
  unsaved_edits: number;
  saved: boolean;
  error: string;
  code: string;
  hand_raised: boolean;
  hands: string[];
  height: number;
  server_url: string;
  _mode: string;
}

type Model = AnyModel<CodeRoomTraits>;

const CODE_SYNC_DELAY_MS = 100;

/** What the widget says while the room's server is not running (on a JupyterHub). */
export const SERVER_NOT_RUNNING_TEXT = "The room's server is not running; retrying…";
/** Waits between tries while it is not: doubling from 1 s, then every 15 s until it runs
 * (a teacher's server stopped or culled on a hub, started again), or the widget closes. */
export function retryDelayMs(attempt: number): number {
  return Math.min(1000 * 2 ** attempt, 15_000);
}

/** A CodeRoom's one connection to its room, shared by all its views. */
class WidgetRoom {
  session?: RoomSession;
  /** What the views' copy buttons copy. */
  link = "";
  viewLink = "";
  /** Why the room cannot be used before there is a session; "" otherwise. */
  error = "";
  /** Why the room is not open yet while the widget tries again; "" otherwise. */
  waiting = "";
  /** No name was given: every view asks for one, and the first answer counts. */
  needsName = false;
  private answer: (name: string) => void = () => undefined;
  private readonly views = new Set<() => void>();
  private closed = false;
  private codeTimer = 0;
  private stopPublishing = () => {};

  constructor(private readonly model: Model) {
    model.on("change:language", this.onLanguage);
    model.on("change:code", this.onCode);
    model.on("change:hand_raised", this.onHand);
    this.start().catch((error) => this.fail(errorText(error)));
  }

  /** Call `update` whenever the room's state changes (views redraw); returns the way to stop. */
  watch(update: () => void): () => void {
    this.views.add(update);
    return () => this.views.delete(update);
  }

  answerName(name: string): void {
    this.answer(name);
  }

  close(): void {
    this.closed = true;
    this.model.off("change:language", this.onLanguage);
    this.model.off("change:code", this.onCode);
    this.model.off("change:hand_raised", this.onHand);
    // The model is going away: a pending code update has nobody left to reach.
    clearTimeout(this.codeTimer);
    this.stopPublishing();
    this.session?.destroy();
    this.views.clear();
  }

  private async start(): Promise<void> {
    const { model } = this;
    const serverUrl = model.get("server_url");
    const api = new RoomApi(serverUrl ? serverAt(serverUrl) : pageServer(), {
      key: model.get("key") || undefined,
    });
    let name = model.get("name");
    if (!name) {
      name = await new Promise<string>((resolve) => {
        this.answer = resolve;
        this.needsName = true;
        this.changed();
      });
      this.needsName = false;
      this.changed();
      if (this.closed) return;
      this.publish({ name });
    }
    const roomId = model.get("room_id");
    const mode = model.get("_mode");
    const room = await this.untilServerRuns(() => {
      if (mode === "join") return api.join(roomId, name);
      if (roomId) return api.get(roomId);
      return api.create(name, model.get("language"));
    });
    if (this.closed || !room) return;

    // Created on another origin: the room's own key opens its socket (and reopens the room
    // when the page is reloaded), as with a link.
    const roomApi = api.forRoom(room);
    if (roomApi !== api) this.publish({ key: roomApi.options.key });
    // The server may have recorded another name (a hub service's signed-in user): use it,
    // or the room would refuse our presence.
    if (room.joinedAs && room.joinedAs !== name) {
      name = room.joinedAs;
      this.publish({ name });
    }
    const session = new RoomSession({
      websocketUrl: roomApi.websocketUrl,
      params: roomApi.websocketParams,
      room,
      name,
    });
    this.session = session;
    this.link = room.links.edit || room.links.view || roomApi.roomLink(room.roomId);
    this.viewLink = room.links.view || "";
    this.publish({
      room_id: room.roomId,
      link: this.link,
      view_link: this.viewLink,
      access: session.access,
      participants: session.participants,
      language: session.language,
      online: session.online,
      status: session.status,
      unsaved_edits: session.unsaved,
      saved: session.unsaved === 0,
      hands: session.hands.map((hand) => hand.name),
      hand_raised: session.handRaised,
      error: "",
    });
    this.stopPublishing = session.subscribe({
      status: (status, unsaved) =>
        this.publish({ status, unsaved_edits: unsaved, saved: unsaved === 0 }),
      online: (names) => this.publish({ online: names }),
      participants: (names) => this.publish({ participants: names }),
      language: (id) => this.publish({ language: id }),
      hands: (hands) =>
        this.publish({ hands: hands.map((hand) => hand.name), hand_raised: session.handRaised }),
      code: () => {
        if (!this.codeTimer) this.codeTimer = window.setTimeout(this.pushCode, CODE_SYNC_DELAY_MS);
      },
      ended: (reason) => this.publish({ status: "error", error: reason }),
    });
    this.changed();
  }

  /** `call`'s answer; while a JupyterHub says that the room's server is not running, say so
   * and try again (`retryDelayMs`). Undefined once the widget is closed. */
  private async untilServerRuns(call: () => Promise<Room>): Promise<Room | undefined> {
    for (let attempt = 0; !this.closed; attempt++) {
      try {
        const room = await call();
        if (this.waiting) {
          this.waiting = "";
          this.publish({ status: "connecting", error: "" });
          this.changed();
        }
        return room;
      } catch (error) {
        if (!(error instanceof RoomError) || error.code !== SERVER_NOT_RUNNING) throw error;
        if (!this.waiting) {
          this.waiting = SERVER_NOT_RUNNING_TEXT;
          this.publish({ status: "connecting", error: SERVER_NOT_RUNNING_TEXT });
          this.changed();
        }
        await new Promise((resolve) => setTimeout(resolve, retryDelayMs(attempt)));
      }
    }
    return undefined;
  }

  private fail(message: string): void {
    if (this.closed) return;
    this.error = message;
    this.waiting = ""; // a final answer after waiting: the error alone
    this.publish({ status: "error", error: message });
    this.changed();
  }

  private changed(): void {
    for (const update of [...this.views]) update();
  }

  /** Set traits and send them to the kernel. */
  private publish(changes: Partial<CodeRoomTraits>): void {
    for (const name of Object.keys(changes) as (keyof CodeRoomTraits)[]) {
      this.model.set(name, changes[name] as CodeRoomTraits[typeof name]);
    }
    this.model.save_changes();
  }

  private readonly pushCode = () => {
    this.codeTimer = 0;
    if (this.session) this.publish({ code: this.session.text.toString() });
  };

  // A view-only peer cannot change the room: the kernel's assignments are put back, once
  // the kernel's message is handled (a change made while it is applied would not be sent).
  private putBack<K extends "language" | "code" | "hand_raised">(
    name: K,
    value: () => CodeRoomTraits[K],
  ): void {
    setTimeout(() => {
      if (!this.closed && this.model.get(name) !== value()) this.publish({ [name]: value() });
    }, 0);
  }

  private readonly onLanguage = () => {
    const { session } = this;
    if (!session) return;
    if (session.readOnly) this.putBack("language", () => session.language);
    else session.setLanguage(this.model.get("language"));
  };

  /** `room.hand_raised = True` (or `room.raise_hand()`) in the kernel raises this hand. */
  private readonly onHand = () => {
    const { session } = this;
    if (!session) return;
    const raise = Boolean(this.model.get("hand_raised"));
    if (session.readOnly) this.putBack("hand_raised", () => session.handRaised);
    else if (raise) session.raiseHand();
    else session.lowerHand();
  };

  private readonly onCode = () => {
    const { session } = this;
    const code = this.model.get("code");
    if (!session || typeof code !== "string" || code === session.text.toString()) return;
    if (session.readOnly) this.putBack("code", () => session.text.toString());
    else session.replaceCode(code);
  };
}

/** One view of the widget: the room's chrome and an editor, on the widget's shared room. */
function showRoom(room: WidgetRoom, model: Model, el: HTMLElement): () => void {
  const view = new RoomView(el);
  const onHeight = () => view.setHeight(model.get("height"));
  model.on("change:height", onHeight);
  onHeight();

  let binding: SessionBinding | undefined;
  let prompt: AbortController | undefined;
  const update = () => {
    if (room.needsName && !prompt) {
      prompt = new AbortController();
      void view.askName("", prompt.signal).then((name) => room.answerName(name));
    } else if (!room.needsName && prompt) {
      prompt.abort(); // answered, here or in another view
      prompt = undefined;
    }
    if (room.waiting) view.showWaiting(room.waiting);
    else view.waitingOver();
    if (room.session && !binding) {
      view.setRoom(room.session.roomId, room.link, room.viewLink);
      binding = bindSession(room.session, view);
    }
    if (room.error) view.showError(room.error, false);
  };
  const stopWatching = room.watch(update);
  update();

  return () => {
    stopWatching();
    prompt?.abort();
    binding?.unbind();
    model.off("change:height", onHeight);
  };
}

// anywidget calls this once per widget instance (AFM: `initialize` and `render` share the
// closure for the widget's lifetime), so each CodeRoom gets exactly one WidgetRoom.
const widget: AnyWidget<CodeRoomTraits> = () => {
  let room: WidgetRoom | undefined;
  const initialize: Initialize<CodeRoomTraits> = ({ model }) => {
    const current = new WidgetRoom(model);
    room = current;
    return () => current.close();
  };
  const render: Render<CodeRoomTraits> = ({ model, el }) => {
    if (!room) throw new Error("CodeRoom: render before initialize (anywidget >= 0.9 needed)");
    return showRoom(room, model, el);
  };
  return { initialize, render };
};

export default widget;
