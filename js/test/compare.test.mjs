// Compare page, pure parts: the diverging scale, one-sided slots, hover counterparts, matching cells.

import assert from "node:assert/strict";
import { test } from "node:test";
import {
  counterpart,
  deltaText,
  divergingTicks,
  formatSigned,
  matchCells,
  mostChanged,
  oneSidedMask,
  similarityRange,
  slotInfos,
  syncAllowed,
} from "../src/compare/logic.js";
import { buildLut, colourise, DIVERGING_STOPS, divergingLut, divergingRange, hexToRgb, lutIndex } from "../src/draw/colour.js";

test("the diverging scale is symmetric around 0 and 0 is its middle colour", () => {
  assert.deepEqual(divergingRange(Float32Array.from([0.1, -0.3, Number.NaN, 0.2])), [-0.30000001192092896, 0.30000001192092896]);
  assert.deepEqual(divergingRange(Float32Array.from([Number.NaN, 0])), [-1, 1]);
  const [lo, hi] = [-0.5, 0.5];
  const lut = divergingLut();
  assert.deepEqual(lut, buildLut(DIVERGING_STOPS, 256));
  const px = colourise(Float32Array.from([lo, 0, hi]), lo, hi, lut);
  assert.deepEqual([...px.slice(0, 3)], hexToRgb(DIVERGING_STOPS[0])); // most negative: blue end
  assert.deepEqual([...px.slice(8, 11)], hexToRgb(DIVERGING_STOPS[DIVERGING_STOPS.length - 1])); // red end
  // 0 sits in the middle of the table, on the light grey stop (between entries 127 and 128).
  assert.equal(lutIndex(0, lo, hi), 127);
  const mid = hexToRgb(DIVERGING_STOPS[3]);
  for (let c = 0; c < 3; c++) assert.ok(Math.abs(px[4 + c] - mid[c]) <= 2, `channel ${c}`);
  assert.deepEqual(
    divergingTicks(-0.123456, 0.123456).map((t) => t.label),
    ["\u22120.123", "0", "+0.123"],
  );
});

test("signed numbers and the difference tooltip", () => {
  assert.equal(formatSigned(0.0123456789), "+0.0123457");
  assert.equal(formatSigned(-2), "\u22122.00000");
  assert.equal(formatSigned(0), "0");
  assert.equal(deltaText("cat", "sat", 0.25, 0.25, 0.5, "both", "both"), "cat → sat: Δ +0.250000 (left 0.250000, right 0.500000)");
  assert.equal(deltaText("cat", "sat", Number.NaN, Number.NaN, Number.NaN, "left", "both"), "cat → sat: only on the left side (no difference)");
});

test("a word on one side only masks its row and column and keeps its side", () => {
  const slots = [
    { side: "both", unit: 0, left: "[CLS]", right: "[CLS]" },
    { side: "left", unit: -1, left: "cat", right: null },
    { side: "right", unit: -1, left: null, right: "\u0120dog" },
    { side: "both", unit: 1, left: "sat", right: "\u0120sat" },
  ];
  const mask = oneSidedMask(slots);
  assert.deepEqual([...mask], [0, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 0]);
  const infos = slotInfos(slots);
  assert.deepEqual(
    infos.map((i) => [i.text, i.side]),
    [
      ["[CLS]", "both"],
      ["cat", "left"],
      ["dog", "right"],
      ["sat", "both"],
    ],
  );
  assert.equal(slotInfos([{ side: "both", left: "don ' t", right: "\u2581don't" }])[0].text, "don ' t");
});

test("hover and lock follow the aligned token on the other side", () => {
  const left = [0, 1, 1, -1, 2];
  const right = [0, 1, 2, 2];
  assert.equal(counterpart(left, right, 2), 1);
  assert.equal(counterpart(left, right, 3), -1); // on the left only
  assert.equal(counterpart(right, left, 3), 4);
  assert.ok(syncAllowed([6, 12], [6, 12]));
  assert.ok(!syncAllowed([12, 12], [6, 12]));
});

test("matching cells: closest head and similarity 1 - JSD / ln 2", () => {
  const cells = matchCells(1, 2, Int32Array.from([3, 4, 0, 1]), [0, Math.log(2) / 2]);
  assert.deepEqual(cells[0], { layer: 0, head: 0, matchLayer: 3, matchHead: 4, divergence: 0, similarity: 1 });
  assert.equal(cells[1].matchHead, 1);
  assert.ok(Math.abs(cells[1].similarity - 0.5) < 1e-12);
});

test("similarity colours span the shown range; the heads that changed most come first", () => {
  assert.deepEqual(similarityRange([{ similarity: 0.9 }, { similarity: 0.97 }, { similarity: 1 }]), [0.9, 1]);
  assert.deepEqual(similarityRange([{ similarity: 1 }]), [0, 1]);
  const top = mostChanged([0.1, 0.5, 0.2, 0.5, 0], 2, 3);
  assert.deepEqual(top, [
    { layer: 0, head: 1, divergence: 0.5 },
    { layer: 1, head: 1, divergence: 0.5 },
    { layer: 1, head: 0, divergence: 0.2 },
  ]);
});
