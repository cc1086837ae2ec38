// Import real js/src modules under Node: `contents` (an entry of exports) bundled by esbuild
// with what they use, written to a file (so an error names a line rather than the whole
// bundle), imported, then removed. Shared by the scripts tests/test_*.py run.
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
