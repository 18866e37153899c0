import assert from "node:assert/strict";
import { test } from "node:test";
import { bucketAlpha, bucketLines, bucketOf } from "../src/views/lines.js";

const m = new Float32Array([0.9, 0.1, 0.0, 0.5, 0.25, 0.25, 1.0, 0.0, 0.02]);

function allPairs(result) {
  const out = [];
  for (const b of result.buckets) for (let p = 0; p < b.pairs.length; p += 2) out.push([b.pairs[p], b.pairs[p + 1], b.bucket]);
  return out.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
}

test("bucketOf and bucketAlpha", () => {
  assert.equal(bucketOf(0.01), 0);
  assert.equal(bucketOf(0.0625), 1);
  assert.equal(bucketOf(1), 15);
  assert.equal(bucketOf(1.5), 15);
  assert.equal(bucketAlpha(0), 1 / 32);
  assert.equal(bucketAlpha(15), 31 / 32);
});

test("all positive weights are drawn at threshold 0, zeros skipped", () => {
  const r = bucketLines(m, 3);
  assert.equal(r.count, 7);
  assert.deepEqual(
    allPairs(r).map(([i, j]) => [i, j]),
    [
      [0, 0],
      [0, 1],
      [1, 0],
      [1, 1],
      [1, 2],
      [2, 0],
      [2, 2],
    ],
  );
  // buckets are non-empty and in increasing alpha
  for (let k = 1; k < r.buckets.length; k++) assert.ok(r.buckets[k].alpha > r.buckets[k - 1].alpha);
  for (const b of r.buckets) assert.ok(b.pairs.length > 0);
});

test("weights are put in the bucket of their value", () => {
  const byPair = new Map(allPairs(bucketLines(m, 3)).map(([i, j, b]) => [`${i},${j}`, b]));
  assert.equal(byPair.get("0,0"), bucketOf(0.9));
  assert.equal(byPair.get("2,0"), 15);
  assert.equal(byPair.get("2,2"), 0);
  assert.equal(byPair.get("1,1"), 4);
});

test("threshold hides weaker lines (weight >= threshold kept)", () => {
  const r = bucketLines(m, 3, { threshold: 0.25 });
  assert.deepEqual(
    allPairs(r).map(([i, j]) => [i, j]),
    [
      [0, 0],
      [1, 0],
      [1, 1],
      [1, 2],
      [2, 0],
    ],
  );
  assert.equal(bucketLines(m, 3, { threshold: 1 }).count, 1);
});

test("focus on a query row or a key column", () => {
  const left = bucketLines(m, 3, { focus: { side: "left", index: 1 } });
  assert.deepEqual(
    allPairs(left).map(([i, j]) => [i, j]),
    [
      [1, 0],
      [1, 1],
      [1, 2],
    ],
  );
  const right = bucketLines(m, 3, { focus: { side: "right", index: 0 } });
  assert.deepEqual(
    allPairs(right).map(([i, j]) => [i, j]),
    [
      [0, 0],
      [1, 0],
      [2, 0],
    ],
  );
  const outside = bucketLines(m, 3, { focus: { side: "left", index: 9 } });
  assert.equal(outside.count, 7, "an invalid focus is ignored");
});

test("bucket count is configurable; NaN never drawn", () => {
  const r = bucketLines(new Float32Array([NaN, 0.5, 0.49, 1]), 2, { buckets: 2 });
  assert.equal(r.count, 3);
  assert.deepEqual(
    r.buckets.map((b) => b.bucket),
    [0, 1],
  );
  assert.deepEqual([...r.buckets[0].pairs], [1, 0]);
  assert.deepEqual([...r.buckets[1].pairs], [0, 1, 1, 1]);
});

test("empty matrix", () => {
  assert.deepEqual(bucketLines(new Float32Array(0), 0), { count: 0, buckets: [] });
});
