// Yjs peers for the interop test: the unmodified npm `yjs` and `y-websocket` packages under Node.
//
// usage: node interop-peer.mjs <serverUrl> <roomId> <token> <peerCount>
// Reads one JSON command per line on stdin and answers one JSON line on stdout:
//   {"cmd": "type", "count": N}  each peer inserts N tagged tokens at random places -> {"event": "typed"}
//   {"cmd": "wait", "length": L} waits until every peer's text has L characters   -> {"event": "texts", ...}
//   {"cmd": "exit"}
import * as Y from "yjs";
import { WebsocketProvider } from "y-websocket";
import WebSocket from "ws";
import readline from "node:readline";

const [serverUrl, roomId, token, peerCount] = process.argv.slice(2);

const peers = Array.from({ length: Number(peerCount) }, (_, i) => {
  const doc = new Y.Doc();
  const provider = new WebsocketProvider(serverUrl, roomId, doc, {
    WebSocketPolyfill: WebSocket,
    params: { token },
    disableBc: true,
  });
  provider.awareness.setLocalStateField("user", { name: `node-${i}` });
  return { doc, provider, text: doc.getText("code"), meta: doc.getMap("meta") };
});

const emit = (message) => process.stdout.write(JSON.stringify(message) + "\n");

const until = (predicate, timeoutMs = 20000) =>
  new Promise((resolve, reject) => {
    const deadline = Date.now() + timeoutMs;
    const poll = () => {
      if (predicate()) resolve();
      else if (Date.now() > deadline) reject(new Error("timed out"));
      else setTimeout(poll, 5);
    };
    poll();
  });

const presentNames = (provider) =>
  [...provider.awareness.getStates().values()]
    .map((state) => state.user?.name)
    .filter(Boolean)
    .sort();

await until(() => peers.every((p) => p.provider.synced));
emit({ event: "synced", texts: peers.map((p) => p.text.toString()), language: peers[0].meta.get("language") });

for await (const line of readline.createInterface({ input: process.stdin })) {
  const command = JSON.parse(line);
  if (command.cmd === "type") {
    for (let n = 0; n < command.count; n++) {
      peers.forEach((p, i) => {
        p.text.insert(Math.floor(Math.random() * (p.text.length + 1)), `[n${i}:${n}]`);
      });
      await new Promise((resolve) => setImmediate(resolve));
    }
    emit({ event: "typed" });
  } else if (command.cmd === "wait") {
    try {
      await until(() => peers.every((p) => p.text.length === command.length));
    } catch {
      // report what we have; the test shows the difference
    }
    emit({
      event: "texts",
      texts: peers.map((p) => p.text.toString()),
      names: peers.map((p) => presentNames(p.provider)),
    });
  } else if (command.cmd === "exit") {
    peers.forEach((p) => p.provider.destroy());
    process.exit(0);
  }
}
