// The matrix view's colour scale: log10 of the weight over a fixed range (compact captures), linear
// over the caller's range otherwise; the legend's words and numbers.

import assert from "node:assert/strict";
import { test } from "node:test";
import { lutIndex, viridisLut } from "../src/draw/colour.js";
import {
  colouriseScaled,
  colourScale,
  formatScaleValue,
  LOG_FLOOR,
  LOG_TOP,
  logFloor,
  logTicks,
  resolveScale,
  scaleIndex,
  scaleLegend,
} from "../src/draw/colour-scale.js";
import { COLOUR_SCALES } from "../src/names.js";

test("auto is log for a compact capture; a dense capture is always linear", () => {
  assert.deepEqual(COLOUR_SCALES, ["auto", "linear", "log"]);
  assert.equal(resolveScale("auto", true), "log");
  assert.equal(resolveScale(undefined, true), "log");
  assert.equal(resolveScale("log", true), "log");
  assert.equal(resolveScale("linear", true), "linear");
  for (const choice of COLOUR_SCALES) assert.equal(resolveScale(choice, false), "linear");
});

test("the log floor is a decade at or below 1/n, at most 1e-4", () => {
  assert.equal(LOG_FLOOR, 1e-4);
  assert.equal(logFloor(20), 1e-4);
  assert.equal(logFloor(4096), 1e-4);
  assert.equal(logFloor(10000), 1e-4);
  assert.equal(logFloor(10001), 1e-5);
  assert.equal(logFloor(32768), 1e-5);
  assert.equal(logFloor(0), 1e-4);
});

test("the log scale is fixed by n alone; the linear one is the caller's range", () => {
  assert.deepEqual(colourScale("log", 0, 0.97, 4096), { name: "log", lo: 1e-4, hi: LOG_TOP });
  assert.deepEqual(colourScale("log", 0, 0.2, 4096), { name: "log", lo: 1e-4, hi: 1 });
  assert.deepEqual(colourScale("linear", 0, 0.97, 4096), { name: "linear", lo: 0, hi: 0.97 });
  assert.deepEqual(colourScale("linear", 0, 0, 4096), { name: "linear", lo: 0, hi: 1 });
});

test("log: each decade from the floor to 1 is a quarter of the colours (4 decades)", () => {
  const s = colourScale("log", 0, 1, 4096);
  assert.equal(scaleIndex(1, s), 255);
  assert.equal(scaleIndex(2, s), 255);
  assert.equal(scaleIndex(1e-4, s), 0);
  assert.equal(scaleIndex(5e-5, s), 0);
  assert.equal(scaleIndex(0, s), 0);
  assert.equal(scaleIndex(-1, s), 0);
  assert.equal(scaleIndex(Number.NaN, s), 0);
  assert.equal(scaleIndex(1e-3, s), Math.floor(0.25 * 255.999));
  assert.equal(scaleIndex(1e-2, s), Math.floor(0.5 * 255.999));
  assert.equal(scaleIndex(1e-1, s), Math.floor(0.75 * 255.999));
  // exact: the index of the log of the value, no table in between
  for (const v of [3e-4, 0.0123, 0.5]) assert.equal(scaleIndex(v, s), lutIndex(Math.log10(v), -4, 0));
});

test("weights that linear draws alike (under 1% of the top) log draws apart", () => {
  const lin = colourScale("linear", 0, 1, 4096);
  const log = colourScale("log", 0, 1, 4096);
  const weights = [2e-4, 1e-3, 4e-3];
  const linIdx = weights.map((w) => scaleIndex(w, lin));
  const logIdx = weights.map((w) => scaleIndex(w, log));
  assert.deepEqual(linIdx, [0, 0, 1]);
  assert.ok(logIdx[1] - logIdx[0] >= 40 && logIdx[2] - logIdx[1] >= 30, String(logIdx));
});

test("colouriseScaled writes the LUT colour of each value's index", () => {
  const lut = viridisLut();
  const s = colourScale("log", 0, 1, 100);
  const values = new Float32Array([0, 1e-3, 1]);
  const out = colouriseScaled(values, s, lut);
  assert.equal(out.length, 12);
  for (let i = 0; i < 3; i++) {
    const k = scaleIndex(values[i], s) * 4;
    assert.deepEqual([...out.subarray(i * 4, i * 4 + 4)], [lut[k], lut[k + 1], lut[k + 2], 255]);
  }
  // the same colours through the byte-by-byte path (a buffer that is not 4-byte aligned)
  const shifted = new Uint8ClampedArray(13);
  colouriseScaled(values, s, lut, shifted.subarray(1));
  assert.deepEqual([...shifted.subarray(1)], [...out]);
  const many = Float32Array.from({ length: 2000 }, (_, i) => 10 ** (-5 + (5 * i) / 1999));
  const fast = colouriseScaled(many, s, lut);
  for (let i = 0; i < many.length; i++) assert.equal(fast[i * 4], lut[scaleIndex(many[i], s) * 4]);
  // linear through the same path is colourise's
  const lin = colouriseScaled(values, colourScale("linear", 0, 1, 100), lut);
  assert.deepEqual([...lin.subarray(8, 12)], [...lut.subarray(255 * 4, 256 * 4)]);
});

test("the legend names the scale and its range", () => {
  assert.equal(formatScaleValue(1e-4), "10⁻⁴");
  assert.equal(formatScaleValue(1e-5), "10⁻⁵");
  assert.equal(formatScaleValue(1), "1");
  assert.equal(formatScaleValue(0), "0");
  assert.equal(formatScaleValue(0.973456), "0.973");
  assert.equal(scaleLegend(colourScale("log", 0, 1, 4096)), "log₁₀ of the weight, 10⁻⁴ … 1; smaller: lowest colour");
  assert.equal(scaleLegend(colourScale("log", 0, 1, 32768)), "log₁₀ of the weight, 10⁻⁵ … 1; smaller: lowest colour");
  assert.equal(scaleLegend(colourScale("linear", 0, 0.5, 4096)), "linear, 0 … 0.5");
  assert.deepEqual(logTicks(colourScale("log", 0, 1, 32768)), [1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1]);
});
