// Source-level guarantees: scoped CSS, no innerHTML, no network loads, contract class names present.

import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const src = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "src");

function files(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name);
    return statSync(p).isDirectory() ? files(p) : [p];
  });
}

const all = files(src);
const js = all.filter((p) => p.endsWith(".js")).map((p) => [p, readFileSync(p, "utf8")]);
const css = readFileSync(path.join(src, "styles.css"), "utf8");

test("every CSS selector is scoped under .aw-root and no ids are used", () => {
  const body = css.replace(/\/\*[\s\S]*?\*\//g, "");
  const selectors = [...body.matchAll(/([^{}]+)\{/g)].flatMap((m) => m[1].split(",").map((s) => s.trim()));
  assert.ok(selectors.length > 20);
  for (const s of selectors) {
    assert.ok(s.startsWith(".aw-root"), `unscoped selector: ${s}`);
    assert.ok(!/#[A-Za-z_-]/.test(s), `id selector: ${s}`);
  }
});

test("no innerHTML / outerHTML / insertAdjacentHTML / document.write in the sources", () => {
  for (const [p, text] of js) assert.ok(!/innerHTML|outerHTML|insertAdjacentHTML|document\.write/.test(text), p);
});

test("no network loads in the sources", () => {
  for (const [p, text] of [...js, ["styles.css", css]]) {
    assert.ok(!/https?:\/\//.test(text), `URL in ${p}`);
    const code = text.replace(/\/\*[\s\S]*?\*\//g, ""); // JSDoc type imports are no loads
    assert.ok(!/\bfetch\(|XMLHttpRequest|import\(|@import/.test(code), `network API in ${p}`);
  }
});

test("no element ids are set", () => {
  for (const [p, text] of js) assert.ok(!/\.id\s*=|setAttribute\(\s*["']id["']/.test(text), p);
});

test("the class names of the contract with the browser tests are present", () => {
  const everything = js.map(([, t]) => t).join("\n");
  for (const name of [
    "aw-root",
    "aw-view-head",
    "aw-view-matrix",
    "aw-token",
    "aw-matrix-canvas",
    "aw-head-canvas",
    "aw-tooltip",
    "aw-error",
    "aw-notice",
    "aw-layer",
    "aw-head",
    "aw-text",
    "aw-text-pair",
    "aw-run",
    "aw-view-btn",
  ]) {
    assert.ok(new RegExp(`["' ]${name}["' ]`).test(everything), name);
  }
});
