// Neuron view, pure parts: vector-cell colour scaling, q ⊙ k, scores, softmax, the reply payload.

import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { hexToRgb } from "../src/draw/colour.js";
import {
  DIVERGING_STOPS,
  defaultQuery,
  divergingCss,
  divergingRgb,
  divergingT,
  dotScores,
  elementwise,
  FIXED_COLUMNS,
  formatNumber,
  MAX_CELL,
  MIN_CELL,
  MIN_VECTOR_WIDTH,
  maxAbs,
  neuronKey,
  parseNeuronReply,
  scalingLabel,
  softmax,
  VECTOR_WIDTH,
  vectorBudget,
  vectorCell,
} from "../src/views/neuron-math.js";

const here = path.dirname(fileURLToPath(import.meta.url));

test("vector cells: a symmetric scale around zero from the largest |value|", () => {
  assert.equal(maxAbs(new Float32Array([0.5, -2, 1])), 2);
  assert.equal(maxAbs([1, -3], [2.5]), 3);
  assert.equal(maxAbs([], null), 0);
  assert.equal(maxAbs([NaN, -Infinity, 0.25]), 0.25);
  assert.equal(divergingT(0, 2), 0.5);
  assert.equal(divergingT(2, 2), 1);
  assert.equal(divergingT(-2, 2), 0);
  assert.equal(divergingT(1, 2), 0.75);
  assert.equal(divergingT(5, 2), 1, "clamped");
  assert.equal(divergingT(1, 0), 0.5, "no scale: neutral");
  assert.equal(divergingT(NaN, 1), 0.5);
});

test("vector cells: negative blue, zero neutral, positive red, symmetric", () => {
  const stops = DIVERGING_STOPS.map(hexToRgb);
  assert.deepEqual(divergingRgb(-1, 1), stops[0]);
  assert.deepEqual(divergingRgb(0, 1), stops[3]);
  assert.deepEqual(divergingRgb(1, 1), stops[6]);
  const [rn, , bn] = divergingRgb(-0.6, 1);
  const [rp, , bp] = divergingRgb(0.6, 1);
  assert.ok(bn > rn, "negative is blue");
  assert.ok(rp > bp, "positive is red");
  // Same distance from zero: same distance from the neutral colour.
  const dist = (a, b) => Math.hypot(a[0] - b[0], a[1] - b[1], a[2] - b[2]);
  assert.ok(Math.abs(dist(divergingRgb(-0.5, 1), stops[3]) - dist(divergingRgb(0.5, 1), stops[3])) < 25);
  // The scale, not the raw value, decides: 1 on a scale of 2 is 2 on a scale of 4.
  assert.deepEqual(divergingRgb(1, 2), divergingRgb(2, 4));
  assert.match(divergingCss(0.3, 1), /^rgb\(\d+, \d+, \d+\)$/);
});

test("vector cell width follows the head dimension", () => {
  assert.equal(vectorCell(64), 4);
  assert.equal(vectorCell(32), 8);
  assert.equal(vectorCell(8), MAX_CELL);
  assert.equal(vectorCell(256), MIN_CELL);
  assert.equal(vectorCell(0), MAX_CELL);
  assert.equal(vectorCell(64, 192), 3, "a narrower view gets thinner cells");
  assert.equal(vectorCell(64, 10), MIN_CELL);
  assert.equal(vectorCell(64, NaN), 4);
});

test("the vector columns share what the fixed columns leave", () => {
  assert.equal(vectorBudget(0), VECTOR_WIDTH, "not laid out yet");
  assert.equal(vectorBudget(850), Math.floor((850 - FIXED_COLUMNS) / 2));
  assert.equal(vectorBudget(3000), VECTOR_WIDTH);
  assert.equal(vectorBudget(300), MIN_VECTOR_WIDTH);
  // JupyterLab's output area at a 1280 px window: two d = 64 vectors, bars and labels fit.
  const w = 850;
  assert.ok(2 * vectorCell(64, vectorBudget(w)) * 64 + FIXED_COLUMNS <= w);
});

test("q ⊙ k, scores and softmax", () => {
  const q = new Float32Array([1, 2]);
  const keys = new Float32Array([1, 0, 0, 1, 1, 1]);
  assert.deepEqual(Array.from(elementwise(q, keys, 3, 2)), [1, 0, 0, 2, 1, 2]);
  const s = dotScores(q, keys, 3, 2, 1 / Math.sqrt(2));
  assert.deepEqual(
    Array.from(s).map((v) => +v.toFixed(6)),
    [0.707107, 1.414214, 2.12132],
  );
  const p = softmax(s);
  assert.ok(Math.abs(p.reduce((a, b) => a + b, 0) - 1) < 1e-12);
  const e = Array.from(s).map(Math.exp);
  const z = e.reduce((a, b) => a + b, 0);
  e.forEach((v, j) => {
    assert.ok(Math.abs(v / z - p[j]) < 1e-12);
  });
  const m = softmax(s, [2]);
  assert.equal(m[2], 0);
  assert.ok(Math.abs(m[0] + m[1] - 1) < 1e-12);
  assert.deepEqual(Array.from(softmax([1, 2], [0, 1])), [0, 0]);
  assert.deepEqual(Array.from(softmax([1000, 1000])), [0.5, 0.5], "stable for large scores");
});

test("number labels", () => {
  assert.equal(formatNumber(0), "0");
  assert.equal(formatNumber(1.23456), "1.235");
  assert.equal(formatNumber(-0.5), "-0.5");
  assert.equal(formatNumber(1e-5), "1.00e-5");
  assert.equal(formatNumber(Infinity), "Infinity");
  assert.equal(scalingLabel(1 / 8, 64), "/ √d");
  assert.equal(scalingLabel(1 / 16, 64), "× 0.0625");
});

function bufferOf(arr) {
  return new DataView(new Float32Array(arr).buffer);
}

test("a neuron reply decodes into q, keys, scores and softmax", () => {
  const msg = {
    type: "neuron",
    revision: 3,
    layer: 1,
    head: 2,
    query: 0,
    d: 2,
    n: 3,
    scaling: 0.5,
    masked: [2],
    dtype: "float32",
    arrays: ["q", "keys", "scores", "softmax"],
    shapes: [[2], [3, 2], [3], [3]],
  };
  const r = parseNeuronReply(msg, [bufferOf([1, 2]), bufferOf([1, 0, 0, 1, 1, 1]), bufferOf([0.5, 1, 1.5]), bufferOf([0.4, 0.6, 0])]);
  assert.deepEqual([r.layer, r.head, r.query, r.d, r.n, r.scaling], [1, 2, 0, 2, 3, 0.5]);
  assert.deepEqual(r.masked, [2]);
  assert.deepEqual(Array.from(r.keys), [1, 0, 0, 1, 1, 1]);
  assert.ok(Math.abs(r.softmax[1] - 0.6) < 1e-7);
  assert.throws(() => parseNeuronReply(msg, [bufferOf([1, 2])]), /no keys buffer/);
  assert.throws(
    () => parseNeuronReply({ ...msg, shapes: [[2], [2, 2], [3], [3]] }, [bufferOf([1, 2]), bufferOf([1, 0, 0, 1]), bufferOf([0, 0, 0]), bufferOf([0, 0, 0])]),
    /shape/,
  );
  const err = parseNeuronReply(
    { type: "neuron", revision: 3, layer: 0, head: 0, query: 0, error: "neuron view needs a model whose attention modules can be hooked: x" },
    [],
  );
  assert.match(err.error, /can be hooked/);
  assert.throws(() => parseNeuronReply({ type: "layers" }, []), /not a neuron reply/);
});

test("the default query is the first ordinary token", () => {
  assert.equal(defaultQuery(null, 5, [true, false, false, false, true]), 1);
  assert.equal(defaultQuery(3, 5, [true]), 3);
  assert.equal(defaultQuery(7, 5, [true, false]), 1, "out of range after a new text");
  assert.equal(defaultQuery(null, 2, [true, true]), 0);
  assert.equal(defaultQuery(null, 0, []), 0);
  assert.equal(neuronKey(1, 2, 3, 4), "1:2:3:4");
});

test("the model and neuron view styles are scoped under .aw-root", () => {
  const dir = path.join(here, "..", "src", "views");
  const files = readdirSync(dir).filter((f) => f.endsWith(".css"));
  assert.ok(files.includes("model.css") && files.includes("neuron.css"));
  for (const f of files) {
    const body = readFileSync(path.join(dir, f), "utf8").replace(/\/\*[\s\S]*?\*\//g, "");
    const selectors = [...body.matchAll(/([^{}]+)\{/g)].flatMap((m) => m[1].split(",").map((s) => s.trim()));
    assert.ok(selectors.length > 5, f);
    for (const s of selectors) {
      assert.ok(s.startsWith(".aw-root"), `unscoped selector in ${f}: ${s}`);
      assert.ok(!/#[A-Za-z_-]/.test(s), `id selector in ${f}: ${s}`);
    }
  }
});

test("the model and neuron views use textContent only and load nothing", () => {
  for (const f of ["model.js", "neuron.js", "model-layout.js", "neuron-math.js"]) {
    const text = readFileSync(path.join(here, "..", "src", "views", f), "utf8");
    assert.ok(!/innerHTML|outerHTML|insertAdjacentHTML|document\.write/.test(text), f);
    assert.ok(!/https?:\/\/|\bfetch\(|XMLHttpRequest|import\(/.test(text), f);
  }
});
