// Scale: encodings chosen per size, head-by-head transfer with a cancellable prefetch queue, exact
// rows for the tooltip, and the head view's line cap at long inputs.

import assert from "node:assert/strict";
import { test } from "node:test";
import { decode } from "../src/codec.js";
import { capNote, countLines, kthLargest, linePlan, MAX_LINES, rowCutoffs } from "../src/lineselect.js";
import { drawingEncoding, EXACT_MAX_TOKENS, HEAD_CHUNK_BYTES, headList, headsOnScreen, layerBytes, perHeadLayer, prefetchPlan } from "../src/prefetch.js";
import { bucketLines } from "../src/views/lines.js";

// -- encodings ------------------------------------------------------------------------------------
test("the page draws from float32 up to 128 tokens, float16 above", () => {
  assert.equal(EXACT_MAX_TOKENS, 128);
  assert.equal(drawingEncoding(20), "float32");
  assert.equal(drawingEncoding(128), "float32");
  assert.equal(drawingEncoding(129), "float16");
  assert.equal(drawingEncoding(512), "float16");
});

test("layers above HEAD_CHUNK_BYTES travel head by head", () => {
  assert.equal(layerBytes(64, 512, 512, "float32"), 67108864); // 64 MiB: one xxlarge layer at 512
  assert.equal(layerBytes(12, 512, 512, "float16"), 6291456);
  assert.ok(perHeadLayer(12, 512, 512)); // albert-base at 512: 6 MiB in float16
  assert.ok(perHeadLayer(64, 512, 512));
  assert.ok(!perHeadLayer(12, 128, 128)); // 768 KiB in float32
  assert.ok(!perHeadLayer(12, 20, 20));
  assert.ok(layerBytes(1, 512, 512, "float16") < HEAD_CHUNK_BYTES);
  assert.throws(() => layerBytes(1, 2, 2, "float64"), TypeError);
});

/** float32 -> IEEE half bits, round to nearest even (test helper: what numpy's astype(float16) does). */
function toHalf(x) {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer)[0];
  const sign = (u >>> 16) & 0x8000;
  const exp = ((u >>> 23) & 0xff) - 127 + 15;
  let mant = u & 0x7fffff;
  if (exp >= 31) return sign | 0x7c00;
  if (exp <= 0) {
    if (exp < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - exp;
    let half = mant >> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && half & 1)) half++;
    return sign | half;
  }
  let half = (exp << 10) | (mant >> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++;
  return sign | half;
}

test("float16 drawing data stays within the stated error bound of the float32 weights", () => {
  // Softmax-like rows with weights from 1e-9 to 1.
  const values = new Float32Array(4096);
  let seed = 7;
  for (let i = 0; i < values.length; i++) {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    values[i] = (seed / 2 ** 31) ** 8;
  }
  values[0] = 1;
  values[1] = 0;
  values[2] = 6.1e-5;
  const halves = Uint16Array.from(values, toHalf);
  const decoded = decode({ dtype: "float16", shape: [values.length] }, halves.buffer);
  for (let i = 0; i < values.length; i++) {
    const w = values[i];
    const bound = 2 ** -11 * Math.max(w, 2 ** -14);
    assert.ok(Math.abs(decoded[i] - w) <= bound, `w=${w} got ${decoded[i]}`);
    assert.ok(Math.abs(decoded[i] - w) <= 2 ** -11); // absolute bound in [0, 1] (transport.encoding_error_bound)
  }
});

// -- what to fetch --------------------------------------------------------------------------------
test("heads on screen: the union of the series' heads, sorted", () => {
  assert.deepEqual(headsOnScreen([{ heads: [3] }]), [3]);
  assert.deepEqual(headsOnScreen([{ heads: [5] }, { heads: [1] }, { heads: [5] }]), [1, 5]);
  assert.deepEqual(headsOnScreen([null, { heads: [0, 1, 2] }]), [0, 1, 2]);
  assert.deepEqual(headsOnScreen([]), []);
  assert.deepEqual(headList([3, 3, -1, 99, 1.5, 2], 12), [3, 2]);
});

test("prefetch plan: one slider step away, heads first, then layers; stays in range", () => {
  assert.deepEqual(prefetchPlan({ layer: 5, heads: [3], numLayers: 12, numHeads: 12 }), [
    { layer: 5, heads: [4] },
    { layer: 5, heads: [2] },
    { layer: 6, heads: [3] },
    { layer: 4, heads: [3] },
  ]);
  assert.deepEqual(prefetchPlan({ layer: 0, heads: [0], numLayers: 12, numHeads: 64 }), [
    { layer: 0, heads: [1] },
    { layer: 1, heads: [0] },
  ]);
  assert.deepEqual(prefetchPlan({ layer: 11, heads: [63], numLayers: 12, numHeads: 64 }), [
    { layer: 11, heads: [62] },
    { layer: 10, heads: [63] },
  ]);
  assert.deepEqual(prefetchPlan({ layer: 0, heads: [], numLayers: 1, numHeads: 1 }), []);
  assert.deepEqual(prefetchPlan({ layer: 0, heads: [0], numLayers: 1, numHeads: 1 }), []);
});

test("kthLargest agrees with sorting", () => {
  let seed = 3;
  for (let trial = 0; trial < 50; trial++) {
    const len = 1 + ((trial * 37) % 300);
    const values = new Float32Array(len);
    for (let i = 0; i < len; i++) {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      values[i] = Math.round((seed / 2 ** 31) * 50) / 50; // ties on purpose
    }
    const sorted = Array.from(values).sort((a, b) => b - a);
    const k = 1 + (trial % len);
    assert.equal(kthLargest(Float32Array.from(values), len, k), sorted[k - 1]);
  }
});

function softmaxMatrix(n, seed = 1) {
  const m = new Float32Array(n * n);
  for (let i = 0; i < n; i++) {
    let sum = 0;
    for (let j = 0; j < n; j++) {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      const e = Math.exp(6 * (seed / 2 ** 31));
      m[i * n + j] = e;
      sum += e;
    }
    for (let j = 0; j < n; j++) m[i * n + j] /= sum;
  }
  return m;
}

test("rowCutoffs keeps the k strongest lines of each row", () => {
  const n = 64;
  const m = softmaxMatrix(n);
  const cut = rowCutoffs(m, n, n, 5);
  const { count, buckets } = bucketLines(m, n, { cutoffs: cut });
  assert.equal(count, 5 * n);
  const kept = new Map();
  for (const { pairs } of buckets) for (let p = 0; p < pairs.length; p += 2) kept.set(`${pairs[p]},${pairs[p + 1]}`, true);
  for (let i = 0; i < n; i++) {
    const row = Array.from(m.subarray(i * n, (i + 1) * n));
    const top = row
      .map((w, j) => [w, j])
      .sort((a, b) => b[0] - a[0])
      .slice(0, 5);
    for (const [, j] of top) assert.ok(kept.has(`${i},${j}`), `row ${i} keeps key ${j}`);
  }
  // With a threshold above most weights, rows keep only what passes it.
  const high = rowCutoffs(m, n, n, 5, 0.05);
  for (let i = 0; i < n; i++) assert.ok(high[i] >= 0.05);
});

test("linePlan caps only when more than MAX_LINES lines pass, and never on focus", () => {
  const n = 512;
  const m = softmaxMatrix(n, 11);
  const plan = linePlan([m], n, n);
  assert.equal(plan.total, n * n);
  assert.ok(plan.capped);
  assert.equal(plan.perRow, Math.floor(MAX_LINES / n));
  const { count } = bucketLines(m, n, { cutoffs: plan.cutoffs[0] });
  assert.ok(count <= MAX_LINES && count >= plan.perRow * n * 0.99, `drew ${count}`);
  assert.match(capNote(plan, count), /strongest lines of each token/);
  assert.ok(!linePlan([m], n, n, { focus: { side: "left", index: 3 } }).capped);
  assert.ok(!linePlan([m], n, n, { threshold: 0.02 }).capped || countLines(m, n, n, 0.02) > MAX_LINES);
  const small = softmaxMatrix(128, 5);
  const plain = linePlan([small], 128, 128);
  assert.ok(!plain.capped, "128 tokens: every line is drawn");
  assert.equal(capNote(plain, 10), "");
  // Several heads overlaid share the budget.
  const many = linePlan([m, m, m, m], n, n);
  assert.equal(many.perRow, Math.max(1, Math.floor(MAX_LINES / (n * 4))));
});

test("the line budget follows the canvas height: long inputs keep fewer, shorter canvases more", async () => {
  const { lineBudget, LINE_PIXELS } = await import("../src/lineselect.js");
  assert.equal(lineBudget(0), MAX_LINES);
  assert.ok(lineBudget(20 * 20) >= 20 * 20 * 12); // 20 tokens: every line of 12 heads overlaid
  assert.ok(lineBudget(64 * 20) >= 64 * 64); // 64 tokens: every line of one head
  const at512 = lineBudget(512 * 20);
  assert.ok(at512 >= 512 && at512 < 4096, `${at512}`);
  assert.ok(at512 * ((512 * 20) / 3 + 176) <= LINE_PIXELS * 1.0001);
  const n = 512;
  const plan = linePlan([softmaxMatrix(n, 2)], n, n, { rowPx: 20 });
  assert.ok(plan.capped && plan.perRow === Math.max(1, Math.floor(at512 / n)));
});
