// Pure parts of the long-input views: downsampling, top keys, label layout, summaries, top-k columns.

import assert from "node:assert/strict";
import { test } from "node:test";
import { binAt, downsampleMax, keyColumn, keyX, layoutLabels, parseSummaries, queryWindow, statText, topKeys, topkLines } from "../src/views/long-math.js";

test("max-downsampling keeps every bin's heaviest key and its exact value", () => {
  const n = 32768;
  const values = new Float32Array(n);
  for (let j = 0; j < n; j++) values[j] = ((j * 7919) % 1000) / 1e6;
  values[12345] = 0.75;
  values[0] = 0.125;
  const bins = 900;
  const { max, arg } = downsampleMax(values, bins);
  assert.equal(max.length, bins);
  let covered = 0;
  for (let b = 0; b < bins; b++) {
    const lo = Math.floor((b * n) / bins);
    const hi = Math.floor(((b + 1) * n) / bins);
    covered += hi - lo;
    let best = -1;
    let at = -1;
    for (let j = lo; j < hi; j++) if (values[j] > best) [best, at] = [values[j], j];
    assert.equal(arg[b], at);
    assert.equal(max[b], values[at]);
  }
  assert.equal(covered, n); // every key in exactly one bin
  const b = binAt(keyX(12345, n, 860, bins), 860, bins);
  assert.equal(arg[b], 12345);
  assert.equal(max[b], values[12345]);
  // fewer keys than pixels: one bin per key
  const small = downsampleMax(Float32Array.from([0.2, 0.5, 0.3]), 900);
  assert.deepEqual([...small.arg], [0, 1, 2]);
  assert.equal(binAt(-1, 10, 3), -1);
  assert.equal(binAt(10, 10, 3), -1);
});

test("top keys: heaviest first, ties by index, zeros left out", () => {
  const v = Float32Array.from([0.1, 0.4, 0, 0.4, 0.05, 0.05]);
  assert.deepEqual(
    topKeys(v, 3).map((t) => t.index),
    [1, 3, 0],
  );
  assert.equal(topKeys(v, 10).length, 5);
  assert.equal(topKeys(new Float32Array(4), 3).length, 0);
});

test("labels: no two in one lane overlap, the heaviest placed first, the rest dropped", () => {
  const items = [50, 52, 54, 300, 56, 302].map((x) => ({ x, width: 40 }));
  const placed = layoutLabels(items, 400, 2, 6);
  assert.deepEqual(placed[0], { left: 30, lane: 0 });
  assert.equal(placed[1].lane, 1);
  assert.equal(placed[2], null); // two lanes near x=50 are taken
  assert.equal(placed[3].lane, 0);
  for (const lane of [0, 1]) {
    const spans = placed.filter((p) => p && p.lane === lane).map((p) => [p.left, p.left + 40]);
    for (const [a, b] of spans) for (const [c, d] of spans) if (a !== c) assert.ok(b + 6 <= c || a >= d + 6);
  }
  assert.equal(layoutLabels([{ x: 398, width: 40 }], 400)[0].left, 360); // clamped inside
});

test("summaries reply: one grid per statistic", () => {
  const L = 2;
  const H = 3;
  const data = new Float32Array(5 * L * H).map((_, i) => i / 10);
  const msg = { dtype: "float32", shape: [5, L, H], statistics: ["sink", "entropy", "previous_token", "self_weight", "mean_distance"] };
  const out = parseSummaries(msg, new DataView(data.buffer));
  assert.equal(out.numLayers, 2);
  assert.equal(out.grids.entropy[0], data[6]);
  assert.equal(out.grids.mean_distance[5], data[29]);
  assert.throws(() => parseSummaries({ ...msg, statistics: ["sink"] }, new DataView(data.buffer)), /one name per statistic/);
  assert.equal(statText(0.123456789), "0.123457");
});

test("top-k key column: window tokens plus the earlier keys named, gaps where tokens are skipped", () => {
  const n = 100;
  const k = 2;
  const index = new Int32Array(n * k).fill(-1);
  // query i names key 0 and key i - 1
  for (let i = 0; i < n; i++) {
    index[i * k] = 0;
    if (i > 0) index[i * k + 1] = i - 1;
  }
  const weight = Float32Array.from(index, (j) => (j >= 0 ? 0.5 : 0));
  const { rows, rowOf } = keyColumn(index, n, k, 50, 60);
  assert.deepEqual(rows.slice(0, 3), [{ key: 0 }, { gap: 48 }, { key: 49 }]);
  assert.equal(rowOf.get(50), 3);
  assert.equal(rows.length, 3 + 10);
  const lines = topkLines(index, weight, n, k, 50, 60);
  assert.equal(lines.length, 20); // 10 queries x top 2
  assert.ok(lines.every((l) => rowOf.has(l.j)));
  assert.deepEqual(queryWindow(null, 48, 100), { start: 52, end: 100 });
  assert.deepEqual(queryWindow(-5, 48, 30), { start: 0, end: 30 });
});
