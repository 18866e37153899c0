// Bundles js/src into albert_widget/static/ (ESM for anywidget's _esm, CSS for _css).

import path from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const here = path.dirname(fileURLToPath(import.meta.url));
const outdir = path.join(here, "..", "albert_widget", "static");
const watch = process.argv.includes("--watch");

const options = {
  // standalone: the same widget plus an in-page stand-in model, inlined by the HTML export.
  // compare: CompareWidget's page (its own entry; it reuses the views and colour maps).
  entryPoints: {
    widget: path.join(here, "src", "index.js"),
    standalone: path.join(here, "src", "standalone.js"),
    compare: path.join(here, "src", "compare", "index.js"),
  },
  bundle: true,
  format: "esm",
  target: ["es2020"],
  minify: !watch,
  outdir,
  loader: { ".css": "css" },
  logLevel: "info",
};

if (watch) {
  const ctx = await esbuild.context(options);
  await ctx.watch();
} else {
  await esbuild.build(options);
}
