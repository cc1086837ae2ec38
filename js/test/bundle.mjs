// Import real js/src modules under Node: `contents` (an entry of exports) bundled by esbuild
// with what they use, written to a file (so an error names a line rather than the whole
// bundle), imported, then removed. Shared by the scripts tests/test_*.py run, as is
// SilentWebSocket (a WebSocket that never opens).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

import * as esbuild from "esbuild";

export async function importBundled(contents, name) {
  const built = await esbuild.build({
    stdin: { contents, resolveDir: new URL("..", import.meta.url).pathname, loader: "ts" },
    bundle: true,
    format: "esm",
    loader: { ".css": "empty" }, // a module's stylesheet means nothing under Node
    write: false,
    logLevel: "silent",
  });
  const dir = mkdtempSync(join(tmpdir(), `cc-${name}-`));
  const bundle = join(dir, `${name}.mjs`);
  writeFileSync(bundle, built.outputFiles[0].text);
  try {
    return await import(pathToFileURL(bundle).href);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A WebSocket that never opens, for sessions that should connect to nothing: it only
 * records the URLs it was created with (`SilentWebSocket.urls`). */
export class SilentWebSocket {
  static CONNECTING = 0;
  static OPEN = 1;
  static CLOSING = 2;
  static CLOSED = 3;
  static urls = [];
  readyState = 0;
  binaryType = "arraybuffer";
  constructor(url) {
    SilentWebSocket.urls.push(String(url));
  }
  send() {}
  close() {}
}
