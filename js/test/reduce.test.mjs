import assert from "node:assert/strict";
import { test } from "node:test";
import { clampIndex, headSeries, matrixSeries, reduceHeads, reductionHeads, seriesMatrix, validHeads, valueRange } from "../src/reduce.js";

// H = 3 heads, N = 2
const SHAPE = [3, 2, 2];
const DATA = new Float32Array([
  0.1,
  0.9,
  0.6,
  0.4, // head 0
  0.5,
  0.5,
  0.2,
  0.8, // head 1
  0.3,
  0.7,
  1.0,
  0.0, // head 2
]);

const close = (a, b) => a.every((v, i) => Math.abs(v - b[i]) < 1e-6);

test("validHeads / clampIndex / reductionHeads", () => {
  assert.deepEqual(validHeads([2, 0, 2, 5, -1, 1.5, "1"], 3), [0, 2]);
  assert.deepEqual(validHeads(null, 3), []);
  assert.equal(clampIndex(7, 3), 2);
  assert.equal(clampIndex(-2, 3), 0);
  assert.equal(clampIndex(1, 0), 0);
  assert.equal(clampIndex(undefined, 4), 0);
  assert.deepEqual(reductionHeads([], 3), [0, 1, 2]);
  assert.deepEqual(reductionHeads([2, 1], 3), [1, 2]);
});

test("mean over heads", () => {
  const out = reduceHeads(DATA, SHAPE, [0, 1, 2], "mean");
  assert.ok(close(out, [0.3, 0.7, 0.6, 0.4]), String(out));
  assert.ok(close(reduceHeads(DATA, SHAPE, [0, 2], "mean"), [0.2, 0.8, 0.8, 0.2]));
});

test("max over heads", () => {
  assert.ok(close(reduceHeads(DATA, SHAPE, [0, 1, 2], "max"), [0.5, 0.9, 1.0, 0.8]));
  assert.ok(close(reduceHeads(DATA, SHAPE, [1], "max"), [0.5, 0.5, 0.2, 0.8]));
});

test("reduction returns a new array and leaves the data alone", () => {
  const copy = DATA.slice();
  const out = reduceHeads(DATA, SHAPE, [0], "none");
  assert.ok(close(out, [0.1, 0.9, 0.6, 0.4]));
  out[0] = 42;
  assert.deepEqual(DATA, copy);
  assert.deepEqual([...reduceHeads(DATA, SHAPE, [], "mean")], [0, 0, 0, 0]);
});

test("headSeries: single head, head list, reductions", () => {
  assert.deepEqual(
    headSeries({ head: 1, heads: [], headReduce: "none", numHeads: 3 }).map((s) => s.heads),
    [[1]],
  );
  const many = headSeries({ head: 1, heads: [2, 0], headReduce: "none", numHeads: 3 });
  assert.deepEqual(
    many.map((s) => s.heads),
    [[0], [2]],
  );
  assert.deepEqual(
    many.map((s) => s.colourIndex),
    [0, 2],
  );
  const mean = headSeries({ head: 1, heads: [], headReduce: "mean", numHeads: 3 });
  assert.equal(mean.length, 1);
  assert.deepEqual(mean[0].heads, [0, 1, 2]);
  assert.equal(mean[0].reduced, "mean");
  assert.equal(mean[0].colourIndex, -1);
  assert.deepEqual(headSeries({ head: 0, heads: [1, 2], headReduce: "max", numHeads: 3 })[0].heads, [1, 2]);
  assert.deepEqual(headSeries({ head: 0, heads: [], headReduce: "none", numHeads: 0 }), []);
  assert.deepEqual(headSeries({ head: 9, heads: [], headReduce: "bogus", numHeads: 3 })[0].heads, [2]);
});

test("matrixSeries: focused head unless reduced", () => {
  assert.deepEqual(matrixSeries({ head: 2, heads: [0, 1], headReduce: "none", numHeads: 3 }).heads, [2]);
  assert.equal(matrixSeries({ head: 2, heads: [0, 1], headReduce: "max", numHeads: 3 }).reduced, "max");
  assert.equal(matrixSeries({ head: 0, heads: [], headReduce: "none", numHeads: 0 }), null);
});

test("seriesMatrix", () => {
  const single = seriesMatrix(DATA, SHAPE, matrixSeries({ head: 2, heads: [], headReduce: "none", numHeads: 3 }));
  assert.ok(close(single, [0.3, 0.7, 1.0, 0.0]));
  const mean = seriesMatrix(DATA, SHAPE, matrixSeries({ head: 2, heads: [], headReduce: "mean", numHeads: 3 }));
  assert.ok(close(mean, [0.3, 0.7, 0.6, 0.4]));
});

test("valueRange skips NaN", () => {
  assert.deepEqual(
    valueRange(new Float32Array([0.5, NaN, 0.1, 0.9])).map((v) => Math.round(v * 10) / 10),
    [0.1, 0.9],
  );
  assert.deepEqual(valueRange(new Float32Array(0)), [0, 0]);
});
