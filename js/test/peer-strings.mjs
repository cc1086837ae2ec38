// Print, as JSON, what js/src/session.ts and js/src/languages.ts make of strings a peer or a
// name prompt may supply: room languages that are names of Object.prototype's members, and
// presence names with invisible characters (tests/test_front_end_strings.py checks them).
// Runs the real modules under Node, bundled by esbuild, with a WebSocket that never opens.
import { importBundled, SilentWebSocket } from "./bundle.mjs";

// Just enough of a browser for a session: it connects to nothing.
globalThis.WebSocket = SilentWebSocket;
globalThis.window = { addEventListener() {}, removeEventListener() {} };
if (!("navigator" in globalThis)) globalThis.navigator = { onLine: true };

const front = await importBundled(
  `
    export * from "./src/languages.ts";
    export { RoomSession } from "./src/session.ts";
  `,
  "peer-strings",
);

function session(language, name = "Ana") {
  return new front.RoomSession({
    websocketUrl: "ws://127.0.0.1:9/codecompanion/ws",
    room: {
      roomId: "r",
      owner: "Ana",
      dateCreated: "",
      participants: [],
      programmingLanguage: language,
      access: "edit",
      links: {},
    },
    name,
  });
}

function attempt(run) {
  try {
    return { ok: true, value: run() };
  } catch (error) {
    return { ok: false, error: String(error) };
  }
}

const ids = JSON.parse(process.argv[2] || "[]");
const names = JSON.parse(process.argv[3] || "[]");
const languages = []; // [id, what became of it]: no plain object keyed by hostile ids
for (const id of ids) {
  // As the REST API says, then as a peer sets it in the document, then as picked here.
  const fromRoom = session(id);
  const listed = fromRoom.language;
  const peer = session("python");
  peer.doc.getMap("meta").set("language", id);
  const fromPeer = peer.language;
  const picker = session("rust");
  picker.setLanguage(id);
  languages.push([
    id,
    {
      listed,
      fromPeer,
      picked: picker.doc.getMap("meta").get("language") ?? null,
      // The editor's highlighting, for the id as given and as the session passes it on.
      support: attempt(() => front.languageSupport(id) !== undefined),
      sessionSupport: attempt(() => front.languageSupport(fromPeer) !== undefined),
    },
  ]);
  for (const s of [fromRoom, peer, picker]) s.destroy();
}
const presence = [];
for (const name of names) {
  const s = session("python", name);
  presence.push([name, s.awareness.getLocalState()?.user?.name ?? null]);
  s.destroy();
}
const known =
  front.LANGUAGES instanceof Map ? [...front.LANGUAGES.keys()] : Object.keys(front.LANGUAGES);
console.log(JSON.stringify({ known, languages, presence }));
process.exit(0); // y-websocket's retry timers would keep Node alive
