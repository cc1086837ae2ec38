// The standalone pages served by codecompanion_ext/pages.py: the room page
// ({base}codecompanion/rooms/{roomId}?key=KEY) and the landing page ({base}codecompanion/).
// Same RoomView, RoomSession and binding as the notebook widget. Every user-supplied string
// is text.
import {
  type Access,
  type Room,
  RoomApi,
  RoomError,
  type Server,
  errorText,
  parseRoomLink,
  serverAt,
} from "./api";
import { bindSession } from "./binding";
import { element } from "./dom";
import { LANGUAGES } from "./languages";
import { RoomSession } from "./session";
import { RoomView } from "./view";

interface PageConfig {
  baseUrl: string;
  page: "room" | "landing";
  roomId?: string;
  loggedIn: boolean;
  openCreation: boolean;
  creationTokenRequired: boolean;
  /** Where "Log in" goes: the server's own route into whatever login it has (on
   * JupyterHub, the hub's), which leads back to this page. */
  loginUrl?: string;
  /** On a JupyterHub service: the signed-in hub user's name, which the server makes theirs
   * in every room (so it is not asked), and whether they may create rooms there. */
  hubUser?: string;
  canCreate?: boolean;
}

const NAME_KEY = "codecompanion.name";
/** Set by the landing page for the room it just created: its creator is not asked again. */
const CREATED_KEY = (roomId: string) => `codecompanion.created.${roomId}`;

function readConfig(): PageConfig {
  const node = document.getElementById("codecompanion-page-config");
  const config = JSON.parse(node?.textContent || "{}");
  return {
    baseUrl: "/",
    page: "landing",
    loggedIn: false,
    openCreation: false,
    creationTokenRequired: false,
    ...config,
  };
}

function storage(kind: "local" | "session"): Storage | undefined {
  try {
    return kind === "local" ? window.localStorage : window.sessionStorage;
  } catch {
    return undefined; // storage disabled (privacy settings, sandboxed frames)
  }
}

function savedName(): string {
  return storage("local")?.getItem(NAME_KEY) || "";
}

function saveName(name: string): void {
  storage("local")?.setItem(NAME_KEY, name);
}

function pageHeader(server: Server): HTMLElement {
  const header = element("header", "cc-page-header");
  const home = element("a", "cc-brand", "Code Companion");
  home.href = `${server.baseUrl}codecompanion/`;
  home.title = "Create or join another room";
  header.append(home, element("span", "cc-page-subtitle", "Shared code room"));
  return header;
}

// ------------------------------------------------------------------------------- room page

async function roomPage(config: PageConfig, server: Server, main: HTMLElement): Promise<void> {
  const params = new URLSearchParams(window.location.search);
  const key = params.get("key") || "";
  const lastSegment = window.location.pathname.replace(/\/$/, "").split("/").pop() || "";
  const roomId = config.roomId || decodeURIComponent(lastSegment);
  const api = new RoomApi(server, { key: key || undefined });
  const view = new RoomView(main);
  view.setRoom(roomId, "");
  document.title = `Room ${roomId} · Code Companion`;

  let room: Room;
  try {
    room = await api.get(roomId);
  } catch (error) {
    view.showError(errorText(error), false);
    return;
  }
  const access: Access = room.access === "view" ? "view" : "edit";
  view.setAccess(access);
  view.setLanguage(room.programmingLanguage);
  view.setParticipants(room.participants);
  const opened = window.location.href;
  const link = (access === "edit" ? room.links.edit : room.links.view) || opened;
  view.setRoom(roomId, link, access === "edit" ? room.links.view || "" : "");

  // Who is this? The creator coming from the landing page was asked already.
  const created = storage("session")?.getItem(CREATED_KEY(roomId)) || "";
  storage("session")?.removeItem(CREATED_KEY(roomId));
  let name = config.hubUser || created;
  for (;;) {
    if (!name) name = await view.askName(savedName());
    try {
      room = await api.join(roomId, name);
      name = room.joinedAs || name; // a hub service records the signed-in user's own name
      break;
    } catch (error) {
      view.showError(errorText(error), false);
      if (!(error instanceof RoomError) || error.status !== 400) return;
      name = ""; // an invalid name: ask again, the error stays above the prompt
    }
  }
  if (!config.hubUser) saveName(name);
  view.clearError();

  const session = new RoomSession({
    websocketUrl: api.websocketUrl,
    params: api.websocketParams,
    room,
    name,
  });
  const { editor } = bindSession(session, view);
  if (access === "edit") editor.focus();
}

// ---------------------------------------------------------------------------- landing page

function field(label: string, control: HTMLElement): HTMLLabelElement {
  const node = element("label", "cc-field");
  node.append(element("span", "cc-field-label", label), control);
  return node;
}

function alertBox(): HTMLDivElement {
  const box = element("div", "cc-error");
  box.setAttribute("role", "alert");
  box.hidden = true;
  return box;
}

function showAlert(box: HTMLElement, text: string): void {
  box.textContent = text;
  box.hidden = !text;
}

function createSection(config: PageConfig, server: Server): HTMLElement {
  const section = element("section", "cc-card cc-create");
  section.append(element("h2", "", "Create a room"));
  const canCreate = config.canCreate ?? (config.loggedIn || config.openCreation);
  if (config.hubUser && !canCreate) {
    const note = "Your hub account cannot create rooms here: ask for a room's link.";
    section.append(element("p", "cc-note", note));
    return section;
  }
  if (!canCreate) {
    const why = "Creating rooms on this server needs you to log in (to Jupyter, or to the hub). ";
    const note = element("p", "cc-note", why);
    const login = element("a", "", "Log in");
    const next = encodeURIComponent(window.location.pathname);
    login.href = config.loginUrl ?? `${server.baseUrl}login?next=${next}`;
    note.append(login);
    section.append(note);
    return section;
  }
  const form = element("form", "cc-create-form");
  const name = element("input", "cc-create-name");
  name.required = true;
  name.maxLength = 64;
  name.placeholder = "e.g. Ada";
  name.setAttribute("autocomplete", "nickname");
  name.value = config.hubUser || savedName();
  name.readOnly = Boolean(config.hubUser); // the server uses the hub name anyway
  const language = element("select", "cc-create-language");
  for (const [id, info] of LANGUAGES) {
    const option = element("option", "", info.label);
    option.value = id;
    language.append(option);
  }
  language.value = "python";
  form.append(field("Your name", name), field("Language", language));
  let token: HTMLInputElement | undefined;
  if (config.creationTokenRequired && !config.loggedIn) {
    token = element("input", "cc-create-token");
    token.type = "password";
    token.required = true;
    token.autocomplete = "off";
    form.append(field("Creation code", token));
  }
  const submit = element("button", "cc-primary", "Create room");
  submit.type = "submit";
  const alert = alertBox();
  form.append(submit);
  section.append(form, alert);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const who = name.value.trim();
    if (!who) return;
    submit.disabled = true;
    showAlert(alert, "");
    try {
      const api = new RoomApi(server, { creationToken: token?.value || undefined });
      const room = await api.create(who, language.value);
      saveName(who);
      storage("session")?.setItem(CREATED_KEY(room.roomId), who);
      window.location.assign(room.links.edit || api.roomLink(room.roomId));
    } catch (error) {
      const wrongCode = token && error instanceof RoomError && error.status === 403;
      showAlert(alert, wrongCode ? "That creation code is not right." : errorText(error));
      submit.disabled = false;
    }
  });
  return section;
}

function joinSection(config: PageConfig, server: Server): HTMLElement {
  const section = element("section", "cc-card cc-join-room");
  section.append(element("h2", "", "Join a room"));
  const form = element("form", "cc-join-form");
  const input = element("input", "cc-join-link");
  input.required = true;
  input.placeholder = "Room link or room id";
  input.autocomplete = "off";
  input.spellcheck = false;
  const submit = element("button", "cc-primary", "Join");
  submit.type = "submit";
  const alert = alertBox();
  form.append(field("Room link or id", input), submit);
  section.append(form, alert);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    showAlert(alert, "");
    const parsed = parseRoomLink(input.value);
    if (!parsed) {
      showAlert(alert, "That is neither a room link (…/codecompanion/rooms/…) nor a room id.");
      return;
    }
    const target = parsed.baseUrl ? serverAt(parsed.baseUrl) : server;
    const api = new RoomApi(target, { key: parsed.key || undefined });
    submit.disabled = true;
    try {
      await api.get(parsed.roomId);
    } catch (error) {
      submit.disabled = false;
      if (error instanceof RoomError && error.code === "room-not-found") {
        showAlert(alert, "Room not found. Check the link or room id.");
      } else if (error instanceof RoomError && error.status === 403 && !parsed.key) {
        // The room exists (an unknown one is a 404), but its id is not its key. On the
        // standalone server nobody logs in: only the link can open it.
        const orLogin = config.openCreation ? "" : ", or log into this Jupyter server";
        showAlert(
          alert,
          "This room exists, but its id alone does not open it. " +
            `Paste the room's full link (the one with ?key=…)${orLogin}.`,
        );
      } else {
        showAlert(alert, errorText(error));
      }
      return;
    }
    window.location.assign(api.roomLink(parsed.roomId));
  });
  return section;
}

function landingPage(config: PageConfig, server: Server, main: HTMLElement): void {
  document.title = "Code Companion";
  const intro = element("div", "cc-intro");
  intro.append(
    element("h1", "", "Code Companion"),
    element(
      "p",
      "",
      "Write code together, live: create a room, share its link, " +
        "and everyone who opens it co-edits the same code.",
    ),
  );
  const cards = element("div", "cc-cards");
  cards.append(createSection(config, server), joinSection(config, server));
  main.append(intro, cards);
}

// ---------------------------------------------------------------------------------- start

function start(): void {
  const config = readConfig();
  const server: Server = { baseUrl: new URL(config.baseUrl || "/", window.location.origin).href };
  const main = element("main", `cc-page-main cc-page-${config.page}`);
  if (config.page === "room") document.body.append(pageHeader(server));
  document.body.append(main);
  if (config.page === "room") {
    roomPage(config, server, main).catch((error) => {
      const box = alertBox();
      main.prepend(box);
      showAlert(box, errorText(error));
    });
  } else {
    landingPage(config, server, main);
  }
}

start();
