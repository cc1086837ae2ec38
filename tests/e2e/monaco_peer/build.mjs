// Bundle the Monaco test peer (main.ts and Monaco's editor worker) into the folder given as
// the first argument, with the packages installed in js/node_modules:
//
//   node tests/e2e/monaco_peer/build.mjs /tmp/monaco-peer
//
// test_monaco_peer.py runs this once per test module and serves the folder over loopback.
import { copyFileSync, existsSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const js = path.resolve(here, "../../../js");
const modules = path.join(js, "node_modules");
const esbuild = await import(
  pathToFileURL(createRequire(path.join(js, "package.json")).resolve("esbuild")).href
);

const outdir = process.argv[2];
if (!outdir) throw new Error("usage: node build.mjs OUTDIR");

// monaco-editor 0.57's "exports" map sends "monaco-editor/esm/vs/x.js" to esm/vs/esm/vs/x.js,
// which does not exist; y-monaco imports that path. Map it, and ours, to the real file, so
// both share one copy of Monaco.
const monacoEsm = {
  name: "monaco-esm-paths",
  setup(build) {
    build.onResolve({ filter: /^monaco-editor\/esm\// }, (args) => {
      const file = path.join(modules, args.path);
      if (!existsSync(file)) return { errors: [{ text: `no such Monaco file: ${file}` }] };
      return { path: file };
    });
  },
};

const common = {
  bundle: true,
  target: "es2020",
  nodePaths: [modules],
  plugins: [monacoEsm],
  logLevel: "warning",
  // Nothing here is shipped: a readable bundle helps when a test fails.
  minify: false,
};

await Promise.all([
  esbuild.build({
    ...common,
    entryPoints: { main: path.join(here, "main.ts") },
    outdir,
    format: "esm",
    loader: { ".ttf": "file" },
  }),
  // Monaco computes diffs, links and word suggestions in this worker (main.ts hands it out).
  esbuild.build({
    ...common,
    entryPoints: {
      "editor.worker": path.join(modules, "monaco-editor/esm/vs/editor/editor.worker.js"),
    },
    outdir,
    format: "iife",
  }),
]);
copyFileSync(path.join(here, "index.html"), path.join(outdir, "index.html"));
