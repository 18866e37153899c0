// Explain view and head-summary panel, pure parts (explain-math.js).

import assert from "node:assert/strict";
import { test } from "node:test";
import {
  chosenStat,
  EXPLAIN_METHODS,
  explainKey,
  explainRequest,
  parseExplainReply,
  parseStatsReply,
  perHead,
  range,
  rangeNumbers,
  STAT_LABELS,
  shortNumber,
  topHeads,
} from "../src/views/explain-math.js";

const f32 = (values) => new DataView(new Float32Array(values).buffer);

test("methods: the four the Python side answers, only norm depends on layer and head", () => {
  assert.deepEqual(
    EXPLAIN_METHODS.map(([m]) => m),
    ["rollout", "flow", "relevancy", "norm"],
  );
  assert.equal(perHead("norm"), true);
  for (const m of ["rollout", "flow", "relevancy"]) assert.equal(perHead(m), false);
});

test("keys: request and reply agree; layer/head/reduce only matter for norm", () => {
  assert.equal(explainKey(3, "rollout", 1, 2, "none"), explainKey(3, "rollout", 5, 0, "mean"));
  assert.notEqual(explainKey(3, "rollout", 1, 2), explainKey(4, "rollout", 1, 2));
  assert.notEqual(explainKey(3, "norm", 1, 2, "none"), explainKey(3, "norm", 1, 3, "none"));
  assert.equal(explainKey(3, "norm", 1, 2, "mean"), explainKey(3, "norm", 1, 7, "mean"));
  assert.notEqual(explainKey(3, "norm", 1, 2, "mean"), explainKey(3, "norm", 1, 2, "max"));
  assert.equal(explainKey(3, "norm", 1, 2, undefined), explainKey(3, "norm", 1, 2, "none"));
  const req = explainRequest(3, "norm", 1, 2, undefined);
  assert.deepEqual(req, { type: "explain", revision: 3, method: "norm", layer: 1, head: 2, reduce: "none" });
  const reply = { ...req, dtype: "float32", shape: [2, 2], note: "n" };
  assert.equal(parseExplainReply(reply, [f32([1, 2, 3, 4])]).key, explainKey(3, "norm", 1, 2, "none"));
});

test("explain replies: matrix, row and error", () => {
  const m = parseExplainReply(
    { type: "explain", revision: 1, method: "rollout", layer: 0, head: 0, reduce: "none", dtype: "float32", shape: [2, 2], note: "x" },
    [f32([0.5, 0.5, 0.25, 0.75])],
  );
  assert.equal(m.row, false);
  assert.deepEqual(Array.from(m.data), [0.5, 0.5, 0.25, 0.75]);
  assert.deepEqual(m.shape, [2, 2]);
  const r = parseExplainReply({ type: "explain", revision: 1, method: "relevancy", layer: 0, head: 0, dtype: "float32", shape: [3], note: "y" }, [
    f32([1, 0, 2]),
  ]);
  assert.equal(r.row, true);
  assert.deepEqual(Array.from(r.data), [1, 0, 2]);
  const e = parseExplainReply({ type: "explain", revision: 1, method: "flow", layer: 0, head: 0, error: "too long" }, []);
  assert.equal(e.error, "too long");
  assert.equal(e.data, undefined);
  assert.equal(parseExplainReply({ type: "explain", revision: 1, method: "flow", shape: [1], dtype: "float32" }, []).error, "the reply has no data");
  assert.throws(() => parseExplainReply({ type: "explain", revision: 1, method: "flow", shape: [4], dtype: "float32" }, [f32([1])]), RangeError);
});

test("head_stats replies: one [L, H] grid per statistic, layer-major", () => {
  const stats = ["to_cls", "entropy"];
  const values = [0, 1, 2, 3, 4, 5, /* entropy */ 10, 11, 12, 13, 14, 15];
  const s = parseStatsReply({ type: "head_stats", revision: 1, statistics: stats, dtype: "float32", shape: [2, 2, 3], uniform_entropy: 1.5 }, [f32(values)]);
  assert.equal(s.numLayers, 2);
  assert.equal(s.numHeads, 3);
  assert.deepEqual(Array.from(s.grids.entropy), [10, 11, 12, 13, 14, 15]);
  assert.equal(s.grids.to_cls[1 * 3 + 2], 5); // layer 1, head 2
  assert.equal(s.uniformEntropy, 1.5);
  assert.deepEqual(parseStatsReply({ error: "no" }, []), { error: "no" });
  for (const name of ["to_cls", "to_sep", "to_punct", "to_self", "to_prev", "to_next", "entropy", "distance"]) assert.ok(STAT_LABELS[name]);
});

test("ranking heads by a statistic", () => {
  const grid = new Float32Array([0.1, 0.9, 0.5, 0.9]); // 2 layers x 2 heads
  assert.deepEqual(
    topHeads(grid, 2, 2, 2).map((r) => [r.layer, r.head]),
    [
      [0, 1],
      [1, 1],
    ],
  ); // ties: lower layer first
  assert.deepEqual(
    topHeads(grid, 2, 2, 1, false).map((r) => [r.layer, r.head, Number(r.value.toFixed(1))]),
    [[0, 0, 0.1]],
  );
  assert.equal(topHeads(grid, 2, 2, 10).length, 4);
  assert.equal(chosenStat("entropy", ["to_cls", "entropy"]), "entropy");
  assert.equal(chosenStat("bogus", ["to_cls", "entropy"]), "to_cls");
});

test("ranges and numbers", () => {
  assert.deepEqual(range([0.2, 0.8, NaN]), [0.2, 0.8]);
  assert.deepEqual(range([]), [0, 1]);
  assert.deepEqual(range([2, 2]), [2, 3]);
  assert.equal(shortNumber(0), "0");
  assert.equal(shortNumber(0.012345), "0.0123");
  assert.equal(shortNumber(2.5), "2.50");
  assert.equal(shortNumber(150.4), "150");
  assert.equal(shortNumber(0.00000618), "6.18e-6");
  assert.equal(shortNumber(6.81e-9), "6.81e-9");
  assert.equal(shortNumber(0.001), "0.00100");
  assert.equal(shortNumber(12345), "1.23e+4");
});

// The same table as tests/test_explain_figure.py (the Python twin, range_numbers).
export const RANGE_CASES = [
  [3.57e-9, 0.635, "0.000", "0.635"],
  [0.00235, 0.262, "0.002", "0.262"],
  [0.963, 11.8, "1.0", "11.8"],
  [0.00681, 3.06, "0.01", "3.06"],
  [-0.0001, 0.5, "0.000", "0.500"],
  [0, 0, "0", "0"],
  [1e-5, 4e-4, "1.00e-5", "4.00e-4"],
  [2, 1234, "2.00", "1.23e+3"],
];

test("rangeNumbers writes both ends of a range alike", () => {
  for (const [lo, hi, a, b] of RANGE_CASES) assert.deepEqual(rangeNumbers(lo, hi), [a, b], `${lo} … ${hi}`);
});
