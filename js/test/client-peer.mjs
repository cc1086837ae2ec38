// One npm y-websocket peer for tests/test_client.py: the headless Python client and an
// unmodified Yjs provider edit one room.
//
// usage: node client-peer.mjs <serverUrl> <roomId> <key> <name>
// Prints {"event": "synced", "text": ...} once synced, then answers one JSON line per
// command read on stdin:
//   {"cmd": "insert", "index": I, "text": T}   -> {"event": "inserted", "text": ...}
//   {"cmd": "waitText", "text": T}             -> {"event": "text", "text": ...} (T, or what it has after 20 s)
//   {"cmd": "waitName", "name": N}             -> {"event": "names", "names": [...]} (N among them, or after 20 s)
//   {"cmd": "exit"}
import * as Y from "yjs";
import { WebsocketProvider } from "y-websocket";
import WebSocket from "ws";
import readline from "node:readline";

const [serverUrl, roomId, key, name] = process.argv.slice(2);
const emit = (message) => process.stdout.write(JSON.stringify(message) + "\n");

const doc = new Y.Doc();
const text = doc.getText("code");
const provider = new WebsocketProvider(serverUrl, roomId, doc, {
  WebSocketPolyfill: WebSocket,
  params: { key },
  disableBc: true,
});
provider.awareness.setLocalStateField("user", { name });

const names = () =>
  [...provider.awareness.getStates().values()].map((state) => state.user?.name).filter(Boolean).sort();

// Resolves once `predicate` holds after some change (or now), or after 20 s regardless.
const until = (predicate) =>
  new Promise((resolve) => {
    const check = () => {
      if (!predicate()) return;
      clearTimeout(timer);
      text.unobserve(check);
      provider.awareness.off("change", check);
      resolve();
    };
    const timer = setTimeout(() => {
      predicate = () => true;
      check();
    }, 20000);
    text.observe(check);
    provider.awareness.on("change", check);
    check();
  });

await new Promise((resolve) => {
  if (provider.synced) resolve();
  provider.on("sync", (synced) => synced && resolve());
});
emit({ event: "synced", text: text.toString() });

for await (const line of readline.createInterface({ input: process.stdin })) {
  const command = JSON.parse(line);
  if (command.cmd === "insert") {
    text.insert(command.index, command.text);
    emit({ event: "inserted", text: text.toString() });
  } else if (command.cmd === "waitText") {
    await until(() => text.toString() === command.text);
    emit({ event: "text", text: text.toString() });
  } else if (command.cmd === "waitName") {
    await until(() => names().includes(command.name));
    emit({ event: "names", names: names() });
  } else if (command.cmd === "exit") {
    provider.destroy();
    process.exit(0);
  }
}
