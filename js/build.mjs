// Bundle the front end with esbuild into the Python package (run by `npm run build`,
// which hatch-jupyter-builder calls during `pip install`).
import * as esbuild from "esbuild";

const watch = process.argv.includes("--watch");
const options = {
  // widget: the anywidget notebook editor (its CSS, widget.css, serves the pages too);
  // page: the standalone room and landing pages (codecompanion_ext/pages.py).
  entryPoints: { widget: "src/widget.ts", page: "src/page.ts" },
  outdir: "../codecompanion_ext/static",
  bundle: true,
  format: "esm",
  target: "es2020",
  minify: !watch,
  sourcemap: watch ? "inline" : false,
  logLevel: "info",
};

if (watch) {
  await (await esbuild.context(options)).watch();
} else {
  await esbuild.build(options);
}
