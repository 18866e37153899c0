// Model view, pure parts: grid layout, hit testing, request sizes, weight-sharing groups, payload.

import assert from "node:assert/strict";
import { test } from "node:test";
import {
  gapFor,
  gridLayout,
  groupRuns,
  MAX_THUMB,
  MIN_THUMB,
  REQUEST_SIZES,
  requestSize,
  resolutionCaption,
  sharesWeights,
  sharingCaption,
  thumbAt,
  thumbnailBytes,
  thumbOrigin,
} from "../src/views/model-layout.js";

test("grid layout fits the heads into the width, rows = layers, columns = heads", () => {
  const g = gridLayout({ numLayers: 12, numHeads: 12, width: 900 });
  assert.deepEqual([g.rows, g.cols], [12, 12]);
  assert.equal(g.thumb, MAX_THUMB); // 12 * 48 + 11 * 4 = 620 <= 900
  assert.equal(g.pitch, g.thumb + g.gap);
  assert.equal(g.width, 12 * g.pitch - g.gap);
  assert.equal(g.height, 12 * g.pitch - g.gap);

  const narrow = gridLayout({ numLayers: 12, numHeads: 12, width: 400 });
  assert.equal(narrow.thumb, 29); // 29 * 12 + 4 * 11 = 392 <= 400 < 30 * 12 + 44
  assert.ok(narrow.width <= 400);

  const many = gridLayout({ numLayers: 24, numHeads: 64, width: 500 });
  assert.equal(many.thumb, MIN_THUMB); // never below the minimum: the grid scrolls instead
  assert.equal(many.gap, gapFor(MIN_THUMB));
  assert.equal(many.width, 64 * many.pitch - many.gap);

  const none = gridLayout({ numLayers: 0, numHeads: 0 });
  assert.deepEqual([none.width, none.height], [0, 0]);
  const unknown = gridLayout({ numLayers: 2, numHeads: 3, width: 0 }); // not laid out yet
  assert.ok(unknown.thumb === MAX_THUMB);
});

test("a point maps to the thumbnail it is on; every thumbnail's origin maps back to it", () => {
  const g = gridLayout({ numLayers: 4, numHeads: 6, width: 300 });
  for (let l = 0; l < 4; l++) {
    for (let h = 0; h < 6; h++) {
      const { x, y } = thumbOrigin(l, h, g);
      assert.deepEqual(thumbAt(x, y, g), { layer: l, head: h });
      assert.deepEqual(thumbAt(x + g.thumb - 0.5, y + g.thumb - 0.5, g), { layer: l, head: h });
      assert.deepEqual(thumbAt(x + g.thumb / 2, y + g.thumb / 2, g), { layer: l, head: h });
    }
  }
  assert.equal(thumbAt(-1, 5, g), null);
  assert.equal(thumbAt(5, g.height, g), null);
  assert.equal(thumbAt(g.width, 5, g), null);
  assert.equal(thumbAt(1, 1, gridLayout({ numLayers: 0, numHeads: 0 })), null);
  assert.equal(thumbAt(1, 1, null), null);
});

test("the thumbnail resolution asked for follows the drawn size and device pixels", () => {
  assert.equal(requestSize(12, 1), 16);
  assert.equal(requestSize(16, 1), 16);
  assert.equal(requestSize(17, 1), 24);
  assert.equal(requestSize(40, 1), 48);
  assert.equal(requestSize(60, 1), 48); // capped: never more than 48 x 48 per thumbnail
  assert.equal(requestSize(20, 2), 48);
  assert.equal(requestSize(10, NaN), 16);
  assert.ok(REQUEST_SIZES.every((s, i) => i === 0 || s > REQUEST_SIZES[i - 1]));
});

test("ALBERT weight sharing: runs of layers per group and the caption", () => {
  const albert = Array(12).fill(0);
  assert.deepEqual(groupRuns(albert), [{ group: 0, start: 0, end: 11 }]);
  assert.ok(sharesWeights(albert, 12));
  assert.equal(sharingCaption(albert, 12), "12 layers share 1 set of weights");

  const two = [0, 0, 0, 1, 1, 1];
  assert.deepEqual(groupRuns(two), [
    { group: 0, start: 0, end: 2 },
    { group: 1, start: 3, end: 5 },
  ]);
  assert.equal(sharingCaption(two, 6), "6 layers share 2 sets of weights");

  const bert = [0, 1, 2, 3, 4, 5];
  assert.equal(groupRuns(bert).length, 6);
  assert.ok(!sharesWeights(bert, 6));
  assert.equal(sharingCaption(bert, 6), "");
  assert.equal(sharingCaption([0, 0], 3), ""); // does not match the layer count
  assert.equal(sharingCaption(undefined, 3), "");
  assert.deepEqual(groupRuns(null), []);
  assert.deepEqual(groupRuns([0, 1, 0]), [
    { group: 0, start: 0, end: 0 },
    { group: 1, start: 1, end: 1 },
    { group: 0, start: 2, end: 2 },
  ]);
});

test("resolution caption", () => {
  assert.equal(resolutionCaption(300, 48, true), "300 tokens averaged into 48 × 48 blocks per thumbnail");
  assert.equal(resolutionCaption(13, 13, false), "13 × 13 tokens per thumbnail");
  assert.equal(resolutionCaption(0, 0, false), "");
});

test("uint8 thumbnails are used as they come, at any byte offset", () => {
  const shape = [2, 3, 2, 2];
  const backing = new Uint8Array(1 + 24);
  for (let i = 0; i < 24; i++) backing[1 + i] = i * 10;
  const dv = new DataView(backing.buffer, 1, 24);
  const t = thumbnailBytes({ dtype: "uint8", shape, scales: Array(6).fill(0.5) }, dv);
  assert.equal(t.size, 2);
  assert.equal(t.count, 6);
  assert.deepEqual(Array.from(t.bytes.slice(0, 5)), [0, 10, 20, 30, 40]);
  assert.throws(() => thumbnailBytes({ dtype: "uint8", shape }, new Uint8Array(23)), /expected 24 bytes/);
  assert.throws(() => thumbnailBytes({ dtype: "uint8", shape: [1, 1, 2, 3] }, new Uint8Array(6)), /square/);
  assert.throws(() => thumbnailBytes({ dtype: "uint8", shape: [2, 2] }, new Uint8Array(4)), /shape/);
});

test("float thumbnails are normalised to their own maximum", () => {
  const values = new Float32Array([0, 0.25, 0.5, 0.125, /* second */ 0, 0, 0, 0]);
  const t = thumbnailBytes({ dtype: "float32", shape: [1, 2, 2, 2] }, values);
  assert.deepEqual(Array.from(t.bytes), [0, 128, 255, 64, 0, 0, 0, 0]);
});
