// Print, as JSON, what the widget's front end (js/src/api.ts, js/src/widget.ts) makes of a
// JupyterHub answering for a room server that is not running, and which WebSocket
// parameters it sends (tests/test_hub_front_end.py checks them). Runs the real modules under
// Node, bundled by esbuild, with a scripted `fetch` and a WebSocket that never opens.
import { importBundled, SilentWebSocket } from "./bundle.mjs";

globalThis.WebSocket = SilentWebSocket;
const PAGE = new URL("http://hub.test/user/ana/lab/tree/ana.ipynb");
globalThis.window = {
  location: PAGE,
  addEventListener() {},
  removeEventListener() {},
  setTimeout: (...args) => setTimeout(...args),
};
// Just enough of a document for CodeMirror's module-level browser checks: the widget
// here never renders (no view is shown), it only creates, joins and connects.
globalThis.document = {
  cookie: "_xsrf=abc",
  getElementById: () => null,
  body: { dataset: {}, style: {} },
  documentElement: { style: {} },
};
if (!("navigator" in globalThis)) globalThis.navigator = { onLine: true, userAgent: "node" };

const front = await importBundled(
  `
    export * from "./src/api.ts";
    export { default as widget, SERVER_NOT_RUNNING_TEXT, retryDelayMs } from "./src/widget.ts";
  `,
  "hub-answers",
);

// -- fetch, scripted: each call takes the next answer
const calls = [];
let script = [];
globalThis.fetch = async (url, init) => {
  calls.push({ url: String(url), method: init.method, credentials: init.credentials });
  const next = script.shift();
  if (!next) throw new TypeError("no scripted answer");
  return next();
};

function answer({ status = 200, json, text = "", redirectedTo = "", type } = {}) {
  const isJson = json !== undefined;
  const headers = new Map([["content-type", type ?? (isJson ? "application/json" : "text/html")]]);
  return () => ({
    ok: status >= 200 && status < 300,
    status,
    statusText: `status ${status}`,
    redirected: Boolean(redirectedTo),
    url: redirectedTo || "http://hub.test/whatever",
    headers: { get: (name) => headers.get(name.toLowerCase()) ?? null },
    json: async () => json,
    text: async () => text,
  });
}

const ROOM = {
  roomId: "q5WkT0b0yR1m8Jc2xVn3aw",
  owner: "teacher",
  dateCreated: "",
  participants: ["teacher", "ana"],
  programmingLanguage: "python",
  access: "edit",
  links: {
    edit: "http://hub.test/user/teacher/codecompanion/rooms/q5WkT0b0yR1m8Jc2xVn3aw?key=k1",
  },
};

// What a hub (or a proxy in front of it) answers while the teacher's server is stopped,
// and answers that are the room server's own.
const CASES = {
  hub424: answer({ status: 424, json: { message: "JupyterHub server no longer running at …" } }),
  hub503Legacy: answer({ status: 503, json: { message: "JupyterHub server no longer running" } }),
  loginRedirect: answer({
    status: 200,
    text: "<html>Sign in</html>",
    redirectedTo: "http://hub.test/hub/login?next=%2Fuser%2Fteacher%2F",
  }),
  spawnPending: answer({
    status: 200,
    text: "<html>Your server is starting up</html>",
    redirectedTo: "http://hub.test/hub/spawn-pending/teacher",
  }),
  xsrfMissing: answer({ status: 403, text: "<html>403 : '_xsrf' argument missing from POST</html>" }),
  proxyError: answer({ status: 503, text: "<html>Service Unavailable</html>" }),
  ownBadKey: answer({ status: 403, json: { error: "this room link is not valid", status: 403 } }),
  ownStorage: answer({ status: 503, json: { error: "room storage is unavailable", status: 503 } }),
  notCodeCompanion: answer({ status: 200, text: "<html>some other site</html>" }),
  noExtension: answer({ status: 404, text: "<html>404</html>" }),
  ownRoom: answer({ status: 200, json: ROOM }),
};

const classified = {};
for (const [name, respond] of Object.entries(CASES)) {
  script = [respond];
  const api = new front.RoomApi(front.serverAt("http://hub.test/user/teacher/"), { key: "k1" });
  try {
    await api.join(ROOM.roomId, "ana");
    classified[name] = { ok: true };
  } catch (error) {
    classified[name] = { code: error.code, message: error.message, status: error.status };
  }
}

// -- WebSocket parameters: a token only ever goes to another origin
const sameOrigin = new front.RoomApi({ baseUrl: "http://hub.test/user/ana/", token: "secret" });
const otherOrigin = new front.RoomApi({ baseUrl: "http://other.test/", token: "secret" });
const withKey = new front.RoomApi({ baseUrl: "http://hub.test/user/teacher/", token: "secret" }, {
  key: "k1",
});
const params = {
  sameOrigin: sameOrigin.websocketParams,
  otherOrigin: otherOrigin.websocketParams,
  withKey: withKey.websocketParams,
};

// -- the widget: a hub answers twice that the server is not running, then it runs
function fakeModel(traits) {
  const values = { ...traits };
  const history = [];
  return {
    values,
    history,
    get: (name) => values[name],
    set: (name, value) => {
      values[name] = value;
    },
    save_changes: () => history.push({ status: values.status, error: values.error }),
    on() {},
    off() {},
  };
}
calls.length = 0;
script = [CASES.loginRedirect, CASES.hub424, CASES.ownRoom];
const model = fakeModel({
  room_id: ROOM.roomId,
  link: "",
  view_link: "",
  key: "k1",
  access: "",
  name: "ana",
  language: "python",
  participants: [],
  online: [],
  status: "connecting",
  unsaved_edits: 0,
  saved: true,
  error: "",
  code: "",
  height: 320,
  server_url: "http://hub.test/user/teacher/",
  _mode: "join",
});
const started = Date.now();
const { initialize } = front.widget();
const close = initialize({ model });
const deadline = Date.now() + 20_000;
while (!model.values.link && Date.now() < deadline) {
  await new Promise((resolve) => setTimeout(resolve, 20));
}
const widget = {
  history: model.history,
  final: { status: model.values.status, error: model.values.error, link: model.values.link },
  tries: calls.length,
  seconds: (Date.now() - started) / 1000,
  websocketUrls: SilentWebSocket.urls,
};
close();

// -- and one that is refused for good is not retried
calls.length = 0;
script = [CASES.ownBadKey];
const refused = fakeModel({ ...model.values, link: "", error: "", status: "connecting" });
const closeRefused = front.widget().initialize({ model: refused });
while (!refused.values.error && Date.now() < deadline) {
  await new Promise((resolve) => setTimeout(resolve, 20));
}
await new Promise((resolve) => setTimeout(resolve, 1500)); // a retry would have come by now
closeRefused();

process.stdout.write(
  JSON.stringify({
    classified,
    params,
    widget,
    refused: { status: refused.values.status, error: refused.values.error, tries: calls.length },
    waitingText: front.SERVER_NOT_RUNNING_TEXT,
    delays: [0, 1, 2, 3, 4, 5, 10].map(front.retryDelayMs),
  }),
);
process.exit(0);
