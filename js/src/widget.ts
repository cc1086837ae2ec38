// The anywidget front end of codecompanion_ext.CodeRoom: create or join a room, then co-edit it.
import "./style.css";

import { type Access, type Room, RoomApi, RoomError, errorText, pageServer, serverAt } from "./api";
import { RoomSession } from "./session";
import { RoomView } from "./view";

interface Model {
  get(name: string): any;
  set(name: string, value: unknown): void;
  save_changes(): void;
  on(event: string, callback: () => void): void;
  off(event: string, callback: () => void): void;
}

const CODE_SYNC_DELAY_MS = 100;

function render({ model, el }: { model: Model; el: HTMLElement }): () => void {
  let session: RoomSession | undefined;
  let access: Access = "edit";
  let disposed = false;
  let codeTimer = 0;
  const view = new RoomView(el, (id) => session?.setLanguage(id));

  const update = (changes: Record<string, unknown>) => {
    for (const [name, value] of Object.entries(changes)) model.set(name, value);
    model.save_changes();
  };
  const fail = (error: unknown) => {
    const message = errorText(error);
    view.showError(message, session !== undefined);
    update({ status: "error", error: message });
  };
  const pushCode = () => {
    codeTimer = 0;
    if (session) update({ code: session.text.toString() });
  };

  const onHeight = () => view.setHeight(model.get("height"));
  // A view-only peer cannot change the room: the kernel's assignments are put back, once
  // the kernel's message is handled (a change made while it is applied would not be sent).
  const putBack = (name: string, value: () => string) =>
    setTimeout(() => {
      if (!disposed && model.get(name) !== value()) update({ [name]: value() });
    }, 0);
  const onLanguage = () => {
    if (!session) return;
    const current = session;
    if (access === "view") putBack("language", () => current.language);
    else session.setLanguage(model.get("language"));
  };
  const onCode = () => {
    const code = model.get("code");
    if (session && typeof code === "string" && code !== session.text.toString()) {
      const current = session;
      if (access === "view") putBack("code", () => current.text.toString());
      else session.replaceCode(code);
    }
  };
  model.on("change:height", onHeight);
  model.on("change:language", onLanguage);
  model.on("change:code", onCode);
  onHeight();

  async function start(): Promise<void> {
    const serverUrl: string = model.get("server_url");
    const server = serverUrl ? serverAt(serverUrl) : pageServer();
    const api = new RoomApi(server, { key: model.get("key") || undefined });
    let name: string = model.get("name");
    if (!name) {
      name = await view.askName();
      update({ name });
    }
    let room: Room;
    if (model.get("_mode") === "join") {
      room = await api.join(model.get("room_id"), name);
    } else if (model.get("room_id")) {
      room = await api.get(model.get("room_id"));
    } else {
      room = await api.create(name, model.get("language"));
    }
    if (disposed) return;
    access = room.access === "view" ? "view" : "edit";
    const link = room.links.edit || room.links.view || api.roomLink(room.roomId);
    const viewLink = room.links.view || "";
    update({
      room_id: room.roomId,
      link,
      view_link: viewLink,
      access,
      participants: room.participants,
      language: room.programmingLanguage,
      error: "",
    });
    view.setRoom(room.roomId, link, viewLink);
    view.setAccess(access);
    view.setParticipants(room.participants);
    view.setLanguage(room.programmingLanguage);
    session = new RoomSession({
      websocketUrl: api.websocketUrl,
      roomId: room.roomId,
      name,
      parent: view.editorHost,
      params: api.websocketParams,
      readOnly: access === "view",
      events: {
        status: (status, unsent) => {
          view.setStatus(status, unsent);
          update({ status, unsent_edits: unsent });
        },
        online: (names) => {
          view.setOnline(names);
          update({ online: names });
        },
        participants: (names) => {
          view.setParticipants(names);
          update({ participants: names });
        },
        language: (id) => {
          view.setLanguage(id);
          update({ language: id });
        },
        code: () => {
          if (!codeTimer) codeTimer = window.setTimeout(pushCode, CODE_SYNC_DELAY_MS);
        },
        ended: (reason) => fail(new RoomError(reason)),
      },
    });
  }

  start().catch(fail);

  return () => {
    disposed = true;
    model.off("change:height", onHeight);
    model.off("change:language", onLanguage);
    model.off("change:code", onCode);
    if (codeTimer) {
      clearTimeout(codeTimer);
      pushCode();
    }
    session?.destroy();
  };
}

export default { render };
