// The room REST API as the browser calls it: the page's own Jupyter auth, cookie and XSRF token.

export interface Room {
  roomId: string;
  owner: string;
  dateCreated: string;
  participants: string[];
  programmingLanguage: string;
  links: Record<string, string>;
}

export class RoomError extends Error {
  constructor(message: string, readonly status = 0) {
    super(message);
  }
}

export interface Server {
  /** Absolute base URL of the Jupyter server, ending in "/". */
  baseUrl: string;
  /** A Jupyter token, when the page has one (otherwise the cookie authenticates). */
  token?: string;
}

/** The Jupyter server that served this page (JupyterLab or Notebook 7). */
export function pageServer(): Server {
  const element = document.getElementById("jupyter-config-data");
  const config = element ? JSON.parse(element.textContent || "{}") : {};
  const baseUrl = new URL(config.baseUrl || "/", window.location.origin).href;
  return { baseUrl, token: config.token || undefined };
}

/** A server given by URL (a room link may point at another Jupyter server). */
export function serverAt(url: string): Server {
  return { baseUrl: new URL(url, window.location.href).href.replace(/\/?$/, "/") };
}

function cookie(name: string): string | undefined {
  const match = document.cookie.match(new RegExp(`(?:^|; )${name}=([^;]*)`));
  return match ? decodeURIComponent(match[1]) : undefined;
}

export class RoomApi {
  constructor(readonly server: Server) {}

  get apiUrl(): string {
    return `${this.server.baseUrl}codecompanion/api/`;
  }

  /** ws(s)://host/base/codecompanion/ws, the serverUrl a y-websocket provider takes. */
  get websocketUrl(): string {
    return `${this.server.baseUrl.replace(/^http/, "ws")}codecompanion/ws`;
  }

  /** The link people open to join a room. */
  roomLink(roomId: string): string {
    return `${this.server.baseUrl}codecompanion/rooms/${encodeURIComponent(roomId)}`;
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
    const headers: Record<string, string> = { "Content-Type": "application/json" };
    const xsrf = cookie("_xsrf");
    if (xsrf) headers["X-XSRFToken"] = xsrf;
    if (this.server.token) headers.Authorization = `token ${this.server.token}`;
    let response: Response;
    try {
      response = await fetch(this.apiUrl + path, {
        method,
        headers,
        credentials: "same-origin",
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (error) {
      throw new RoomError(`Cannot reach the Jupyter server at ${this.server.baseUrl} (${error}).`);
    }
    const isJson = (response.headers.get("Content-Type") || "").includes("application/json");
    const payload = isJson ? await response.json() : null;
    if (response.ok) return payload as T;
    if (response.status === 404 && !isJson) {
      throw new RoomError(
        "This Jupyter server does not have the Code Companion extension " +
          "(pip install codecompanion_ext, then restart the server).",
        404,
      );
    }
    if (response.status === 404) {
      throw new RoomError("This room does not exist (check the link or room id).", 404);
    }
    const reason = payload?.error || response.statusText;
    throw new RoomError(`The server refused: ${reason} (HTTP ${response.status}).`, response.status);
  }
}
