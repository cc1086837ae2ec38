// The newest y-websocket provider (3.1, Yjs 14 line) as a room peer: it reports a local
// edit as synced ("green") only once the server sends that edit back.
//
// usage: node acks-peer.mjs <serverUrl> <roomId> <key> <edits>
// Prints one JSON line per step: {"event": "synced"}, then after typing `edits` edits one
// at a time, each awaited to turn green: {"event": "acknowledged", "ms": [...], "text": ...},
// or {"event": "stuck", "status": ...} if one stays unconfirmed for 10 s.
import * as Y from "yjs";
import { WebsocketProvider } from "y-websocket-acks";
import WebSocket from "ws";

const [serverUrl, roomId, key, edits] = process.argv.slice(2);
const emit = (message) => process.stdout.write(JSON.stringify(message) + "\n");

const doc = new Y.Doc();
const provider = new WebsocketProvider(serverUrl, roomId, doc, {
  WebSocketPolyfill: WebSocket,
  params: { key },
  disableBc: true,
});
provider.awareness.setLocalStateField("user", { name: "y-websocket 3.1" });

const until = (predicate, timeoutMs) =>
  new Promise((resolve) => {
    const deadline = Date.now() + timeoutMs;
    const poll = () => {
      if (predicate()) resolve(true);
      else if (Date.now() > deadline) resolve(false);
      else setTimeout(poll, 2);
    };
    poll();
  });

if (!(await until(() => provider.synced, 20000))) {
  emit({ event: "stuck", status: provider.syncStatus });
  process.exit(1);
}
emit({ event: "synced" });

const text = doc.getText("code");
const ms = [];
for (let n = 0; n < Number(edits); n++) {
  const started = performance.now();
  text.insert(text.length, `[3.1:${n}]`);
  if (provider.syncStatus.localUpdatesSynced) {
    emit({ event: "stuck", status: "an edit counted as synced before it was sent" });
    process.exit(1);
  }
  const green = await until(() => provider.syncStatus.status === "green", 10000);
  if (!green) {
    emit({ event: "stuck", status: provider.syncStatus });
    process.exit(1);
  }
  ms.push(performance.now() - started);
}
emit({ event: "acknowledged", ms, text: text.toString() });
provider.destroy();
process.exit(0);
