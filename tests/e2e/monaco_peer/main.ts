// A peer on the original Code Companion's editor stack, for test_monaco_peer.py: Monaco bound
// to the room's `code` text with y-monaco, synced by y-websocket 1.x, its language following
// the room's `meta.language`, presence `user: {name, color}`. It joins the way the original
// app did: the REST join (`POST rooms/{roomId}/participants`), then the room's WebSocket,
// with the link's key and from another origin than the room server's.
//
// index.html?server=http://host:port/&room=ROOM_ID&key=KEY&name=NAME&color=%23rrggbb
import * as monaco from "monaco-editor/esm/vs/editor/editor.api.js";
import "monaco-editor/esm/vs/features/register.all.js";
import "monaco-editor/esm/vs/languages/definitions/register.all.js";
import { MonacoBinding } from "y-monaco";
import { WebsocketProvider } from "y-websocket-v1";
import * as Y from "yjs";

declare global {
  interface Window {
    MonacoEnvironment?: { getWorker(workerId: string, label: string): Worker };
    __peer?: Record<string, unknown>;
  }
}

// Only the editor worker: this page loads Monaco's grammars (syntax colours), not the
// TypeScript, JSON, CSS and HTML language services that would want workers of their own.
window.MonacoEnvironment = {
  getWorker: () => new Worker(new URL("./editor.worker.js", import.meta.url)),
};

const query = new URLSearchParams(window.location.search);
const server = required("server").replace(/\/?$/, "/");
const roomId = required("room");
const key = required("key");
const name = required("name");
const color = query.get("color") || "#d81b60";

const statusNode = byId("status");
const languageNode = byId("language");
const onlineNode = byId("online");
const participantsNode = byId("participants");

function required(param: string): string {
  const value = query.get(param);
  if (!value) throw new Error(`missing ?${param}=`);
  return value;
}

function byId(id: string): HTMLElement {
  const node = document.getElementById(id);
  if (!node) throw new Error(`no #${id}`);
  return node;
}

function showList(node: HTMLElement, names: string[]): void {
  node.replaceChildren(
    ...names.map((who) => {
      const item = document.createElement("li");
      item.textContent = who;
      return item;
    }),
  );
}

async function join(): Promise<{ programmingLanguage: string; participants: string[] }> {
  const url = `${server}codecompanion/api/rooms/${encodeURIComponent(roomId)}/participants`;
  const response = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-Room-Key": key },
    body: JSON.stringify({ name }),
  });
  const body = await response.json();
  if (!response.ok) throw new Error(`join: ${response.status} ${body.error ?? ""}`);
  return body;
}

async function main(): Promise<void> {
  const room = await join();
  const doc = new Y.Doc();
  const code = doc.getText("code");
  const meta = doc.getMap<unknown>("meta");
  const participants = doc.getArray<string>("participants");
  const provider = new WebsocketProvider(
    `${server.replace(/^http/, "ws")}codecompanion/ws`,
    roomId,
    doc,
    { params: { key }, disableBc: true },
  );
  provider.awareness.setLocalStateField("user", { name, color });

  const editor = monaco.editor.create(byId("editor"), {
    value: "",
    language: room.programmingLanguage,
    automaticLayout: true,
    minimap: { enabled: false },
  });
  const model = editor.getModel();
  if (!model) throw new Error("Monaco made no model");
  const binding = new MonacoBinding(code, model, new Set([editor]), provider.awareness);

  // The room's language is `meta.language`; until the document has synced, the REST answer's.
  const followLanguage = () => {
    const language = meta.get("language");
    const id = typeof language === "string" ? language : room.programmingLanguage;
    if (model.getLanguageId() !== id) monaco.editor.setModelLanguage(model, id);
    languageNode.textContent = model.getLanguageId();
  };
  meta.observe(followLanguage);
  followLanguage();

  const showStatus = () => {
    const status = provider.wsconnected && provider.synced ? "connected" : "connecting";
    statusNode.dataset.status = status;
    statusNode.textContent = status;
  };
  provider.on("status", showStatus);
  provider.on("sync", showStatus);
  showStatus();

  // Who is here (presence names) and who ever joined (the server's list).
  const remoteCarets = document.createElement("style");
  document.head.append(remoteCarets);
  const showOnline = () => {
    const names = new Set<string>();
    const rules: string[] = [];
    provider.awareness.getStates().forEach((state, clientId) => {
      const user = (state as { user?: { name?: unknown; color?: unknown } }).user;
      if (typeof user?.name === "string" && user.name) names.add(user.name);
      const hex = typeof user?.color === "string" && /^#[0-9a-f]{6}$/i.test(user.color);
      if (hex && clientId !== doc.clientID) {
        // y-monaco marks remote selections with these classes; the app colours them.
        rules.push(
          `.yRemoteSelection-${clientId} { background-color: ${user.color}40; }`,
          `.yRemoteSelectionHead-${clientId} { border-left: 2px solid ${user.color}; }`,
        );
      }
    });
    showList(onlineNode, [...names].sort((a, b) => a.localeCompare(b)));
    remoteCarets.textContent = rules.join("\n");
  };
  provider.awareness.on("change", showOnline);
  showOnline();
  const showParticipants = () => {
    const names = participants.toArray();
    showList(participantsNode, names.length ? names : room.participants);
  };
  participants.observe(showParticipants);
  showParticipants();

  window.__peer = { monaco, doc, provider, editor, model, binding };
  document.body.dataset.ready = "true";
}

main().catch((error: unknown) => {
  console.error("monaco peer:", error);
  statusNode.dataset.status = "error";
  statusNode.textContent = String(error);
});
