// Print, as JSON, the name-label colours js/src/colors.ts gives every palette colour and a
// few others (tests/test_label_colors.py checks their contrast).
import * as esbuild from "esbuild";

const built = await esbuild.build({
  entryPoints: [new URL("../src/colors.ts", import.meta.url).pathname],
  bundle: true,
  format: "esm",
  write: false,
  logLevel: "silent",
});
const source = built.outputFiles[0].text;
const colors = await import(`data:text/javascript;base64,${Buffer.from(source).toString("base64")}`);

const others = JSON.parse(process.argv[2] || "[]");
const labels = [...colors.PALETTE, ...others].map((color) => ({
  color,
  ...colors.labelColors(color, "Ana"),
}));
console.log(JSON.stringify({ palette: colors.PALETTE, name: colors.colorFor("Ana").color, labels }));
