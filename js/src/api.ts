// The room REST API as the browser calls it. Two ways in:
// - the page's own Jupyter login (cookie and XSRF token, or a token), same origin;
// - a room key from a link (?key=...): sent as X-Room-Key, from any origin (with cookies only
//   on the page's own origin, where a JupyterHub service tells hub users by them).

export type Access = "edit" | "view";

export interface Room {
  roomId: string;
  owner: string;
  dateCreated: string;
  participants: string[];
  programmingLanguage: string;
  /** What the requester may do; servers without room keys leave it out (that means edit). */
  access?: Access;
  links: Record<string, string | undefined>;
  /** On creating or joining: the name the server recorded, which is the one to show (a
   * JupyterHub service uses the signed-in hub user's own name whatever was asked). */
  joinedAs?: string;
}

export class RoomError extends Error {
  constructor(
    message: string,
    /** The HTTP status, or 0 when the server could not be reached. */
    readonly status = 0,
    /** "room-not-found" when the server has the extension and no such room;
     * SERVER_NOT_RUNNING when a JupyterHub answered for a server it does not run now. */
    readonly code = "",
  ) {
    super(message);
  }
}

/** The code of a RoomError that says the room's server is not running now (it is on a
 * JupyterHub that answered in its place): worth trying again later, unlike the others. */
export const SERVER_NOT_RUNNING = "server-not-running";

/** What to tell people when `error` stopped something: our own messages as they are. */
export function errorText(error: unknown): string {
  return error instanceof RoomError ? error.message : `Unexpected error: ${error}`;
}

export interface Server {
  /** Absolute base URL of the Jupyter server, ending in "/". */
  baseUrl: string;
  /** A Jupyter token, when the page has one (otherwise the cookie authenticates). */
  token?: string;
}

/** Why a widget cannot create a room on its page's server when Jupyter did not serve it. */
export const NOT_JUPYTER =
  "This notebook is not served by Jupyter (VS Code, Colab, marimo, ...), so it has no room " +
  'server of its own: create the room on one with CodeRoom(name="...", ' +
  'server="http://host:8765", token="..."), or join one with CodeRoom.join(link).';

/** The Jupyter server that served this page (JupyterLab, Notebook 7, or the classic
 * notebook's data-base-url); a RoomError when no Jupyter server did. */
export function pageServer(): Server {
  const element = document.getElementById("jupyter-config-data");
  const classicBase = document.body?.dataset.baseUrl;
  if (!element && classicBase === undefined) throw new RoomError(NOT_JUPYTER);
  const config = element ? JSON.parse(element.textContent || "{}") : {};
  const baseUrl = new URL(config.baseUrl || classicBase || "/", window.location.origin).href;
  return { baseUrl, token: config.token || undefined };
}

/** A server given by URL (a room link may point at another Jupyter server). */
export function serverAt(url: string): Server {
  return { baseUrl: new URL(url, window.location.href).href.replace(/\/?$/, "/") };
}

export interface RoomLink {
  /** Base URL of the server in the link, or "" for a bare room id. */
  baseUrl: string;
  roomId: string;
  key: string;
}

const ROOM_ID = /^[A-Za-z0-9_-]{1,64}$/;
const ROOM_PATH = /^(.*?\/)codecompanion\/(?:rooms|ws|api\/rooms)\/([^/?#]+)/;

/** Parse a room link ({server}{base}codecompanion/rooms/{id}?key=...) or a bare room id. */
export function parseRoomLink(text: string): RoomLink | null {
  const value = text.trim();
  if (ROOM_ID.test(value)) return { baseUrl: "", roomId: value, key: "" };
  let url: URL;
  try {
    url = new URL(value, window.location.href);
  } catch {
    return null;
  }
  const match = url.pathname.match(ROOM_PATH);
  if (!match || !ROOM_ID.test(match[2])) return null;
  return {
    baseUrl: `${url.origin}${match[1]}`,
    roomId: match[2],
    key: url.searchParams.get("key") || "",
  };
}

/**
 * Whether a JupyterHub answered in place of the room's server, because that server is not
 * running (stopped, culled, or not yet started): the hub's proxy sends its requests to the
 * hub then. The hub says so with a 424 ("server not running"; 503 with its legacy setting),
 * redirects to its login or spawn pages, refuses a POST for its own missing XSRF token, or
 * (while the proxy still has the route of a server that died) serves a 502-504 error page.
 * A Code Companion server answers every API call with JSON, and never like that.
 */
export function hubAnsweredForStoppedServer(
  response: Pick<Response, "status" | "redirected" | "url">,
  isJson: boolean,
  payload: unknown,
  text: string,
): boolean {
  const { status } = response;
  if (status < 300 && isJson && payload !== null) return false; // answered after all
  const fields = (payload ?? {}) as { error?: unknown; message?: unknown };
  const hubJson = isJson && typeof fields.message === "string" && fields.error === undefined;
  if (status === 424 || (status === 503 && hubJson)) return true;
  if (response.redirected) {
    try {
      if (new URL(response.url).pathname.includes("/hub/")) return true;
    } catch {
      // No URL to read: not the hub's redirect.
    }
  }
  if (isJson) return false;
  if (status === 403 && /xsrf/i.test(text)) return true;
  return status === 502 || status === 503 || status === 504;
}

function cookie(name: string): string | undefined {
  const match = document.cookie.match(new RegExp(`(?:^|; )${name}=([^;]*)`));
  return match ? decodeURIComponent(match[1]) : undefined;
}

export interface ApiOptions {
  /** The room key from a link: authenticates instead of the Jupyter login. */
  key?: string;
  /** Needed to create rooms on servers that ask for one (X-Creation-Token). */
  creationToken?: string;
}

export class RoomApi {
  constructor(
    readonly server: Server,
    readonly options: ApiOptions = {},
  ) {}

  get apiUrl(): string {
    return `${this.server.baseUrl}codecompanion/api/`;
  }

  /** ws(s)://host/base/codecompanion/ws, the serverUrl a y-websocket provider takes. */
  get websocketUrl(): string {
    return `${this.server.baseUrl.replace(/^http/, "ws")}codecompanion/ws`;
  }

  /** Query parameters of the room's WebSocket: the key, or else, on another origin only,
   * the page's token. A same-origin socket carries the page's cookies, which authenticate it
   * (as JupyterLab's own sockets do): a token in its URL would end up in access logs. */
  get websocketParams(): Record<string, string> {
    if (this.options.key) return { key: this.options.key };
    return this.server.token && this.crossOrigin ? { token: this.server.token } : {};
  }

  /** Whether the server is another origin than this page's (its cookies are not ours). */
  get crossOrigin(): boolean {
    return new URL(this.server.baseUrl).origin !== window.location.origin;
  }

  /** This API, for a room it created or opened: on another origin without a key, one that
   * carries the room's edit (or view) key from the links the server gave. There the
   * page's cookies are not sent, so the WebSocket would be refused without it. */
  forRoom(room: Room): RoomApi {
    if (this.options.key || !this.crossOrigin) return this;
    const key = [room.links.edit, room.links.view]
      .map((link) => (link ? parseRoomLink(link)?.key : ""))
      .find((found) => found);
    return key ? new RoomApi(this.server, { ...this.options, key }) : this;
  }

  /** The link people open to join a room (with the key, if any). */
  roomLink(roomId: string, key = this.options.key): string {
    const link = `${this.server.baseUrl}codecompanion/rooms/${encodeURIComponent(roomId)}`;
    return key ? `${link}?key=${encodeURIComponent(key)}` : link;
  }

  create(name: string, programmingLanguage: string): Promise<Room> {
    return this.request("POST", "rooms", { name, programmingLanguage });
  }

  get(roomId: string): Promise<Room> {
    return this.request("GET", `rooms/${encodeURIComponent(roomId)}`);
  }

  join(roomId: string, name: string): Promise<Room> {
    return this.request("POST", `rooms/${encodeURIComponent(roomId)}/participants`, { name });
  }

  private async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const { key, creationToken } = this.options;
    const headers: Record<string, string> = {};
    if (body !== undefined) headers["Content-Type"] = "application/json";
    // With a key, the key alone authorizes (other origins allow only credential-less
    // requests); the page's cookies go along on its own origin only, where a JupyterHub
    // service reads who is signed in, to vouch for their name. Without a key, the page's
    // Jupyter login authorizes.
    const withLogin = !key && !this.crossOrigin;
    if (key) headers["X-Room-Key"] = key;
    if (withLogin) {
      const xsrf = cookie("_xsrf");
      if (xsrf) headers["X-XSRFToken"] = xsrf;
      if (this.server.token) headers.Authorization = `token ${this.server.token}`;
    }
    if (creationToken) headers["X-Creation-Token"] = creationToken;
    let response: Response;
    try {
      response = await fetch(this.apiUrl + path, {
        method,
        headers,
        credentials: this.crossOrigin ? "omit" : "same-origin",
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (error) {
      throw new RoomError(`Cannot reach the Jupyter server at ${this.server.baseUrl} (${error}).`);
    }
    const isJson = (response.headers.get("Content-Type") || "").includes("application/json");
    let payload: any = null;
    let text = "";
    try {
      if (isJson) payload = await response.json();
      else text = await response.text();
    } catch {
      payload = null;
    }
    if (hubAnsweredForStoppedServer(response, isJson, payload, text)) {
      throw new RoomError(
        `The room's server is not running (${this.server.baseUrl}).`,
        response.status,
        SERVER_NOT_RUNNING,
      );
    }
    if (response.ok && payload !== null) return payload as T;
    if (response.ok) {
      throw new RoomError(
        `The server at ${this.server.baseUrl} did not answer like a Code Companion ` +
          "server (is this its address?).",
        response.status,
      );
    }
    const reason = payload?.error || response.statusText;
    if (response.status === 404 && !isJson) {
      throw new RoomError(
        "This Jupyter server does not have the Code Companion extension " +
          "(pip install codecompanion_ext, then restart the server).",
        404,
      );
    }
    if (response.status === 404) {
      throw new RoomError(
        "This room does not exist (check the link or room id).",
        404,
        "room-not-found",
      );
    }
    if (response.status === 403 && key) {
      throw new RoomError(
        "This link does not open the room: its key is wrong or has been replaced. " +
          "Ask for a new link.",
        403,
      );
    }
    if (response.status === 403 && path === "rooms" && method === "POST") {
      throw new RoomError(`You may not create rooms here: ${reason}.`, 403);
    }
    if (response.status === 403) {
      throw new RoomError(
        "Open this room with its full link (the one with ?key=…), " +
          "or log into this Jupyter server first.",
        403,
      );
    }
    throw new RoomError(`The server refused: ${reason} (HTTP ${response.status}).`, response.status);
  }
}
