// @ts-check
// The matrix view's colour scale, as pure maths (js/test/colour-scale.test.mjs runs it in node).
// Attention over a long input is dominated by a few large weights (the attention sink holds ~1 of
// every row), so on a linear scale everything else is the bottom colour. The log scale colours
// log10 of the weight over a fixed range [floor, 1]: it never depends on what is on screen, so colours
// do not shift while panning or zooming, and a weight ten times another is one decade brighter.

import { lutIndex } from "./colour.js";

/** The top of the log scale: a weight is at most 1. */
export const LOG_TOP = 1;
/** The highest floor of the log scale; longer inputs get a lower one (logFloor). */
export const LOG_FLOOR = 1e-4;

/**
 * The scale a matrix is drawn with: "log" or "linear". `choice` is the colour_scale trait ("auto",
 * "linear", "log"); a dense capture's matrix is always linear (its saved figure is too).
 * @param {string | undefined} choice @param {boolean} compact
 */
export function resolveScale(choice, compact) {
  if (!compact) return "linear";
  return choice === "linear" ? "linear" : "log";
}

/**
 * The floor of the log scale for n tokens: a decade at or below the uniform weight 1/n (so a head that
 * spreads evenly is still above the bottom colour), at most LOG_FLOOR. 4,096 tokens: 1e-4; 32,768: 1e-5.
 * @param {number} n
 */
export function logFloor(n) {
  if (!(n > 0)) return LOG_FLOOR;
  return Math.min(LOG_FLOOR, powerOfTen(Math.floor(Math.log10(1 / n))));
}

/** 10^k exactly as written (10 ** -4 is 0.00009999999999999999 in floating point; "1e-4" parses to 1e-4). */
export const powerOfTen = (/** @type {number} */ k) => Number(`1e${k}`);

/**
 * @typedef {object} ColourScale
 * @property {"linear" | "log"} name
 * @property {number} lo  the value of the bottom colour (log: the floor; weights below it get it too)
 * @property {number} hi  the value of the top colour
 */

/**
 * The scale of a matrix: linear over [lo, hi] (the caller's range), or log over [logFloor(n), 1].
 * @param {string} name @param {number} lo @param {number} hi @param {number} n  tokens on the longer axis
 * @returns {ColourScale}
 */
export function colourScale(name, lo, hi, n) {
  if (name === "log") return { name: "log", lo: logFloor(n), hi: LOG_TOP };
  return { name: "linear", lo, hi: hi > lo ? hi : lo + 1 };
}

/** LUT index (0..255) of a weight on a scale; 0, negative and NaN weights take the bottom colour. */
export function scaleIndex(/** @type {number} */ value, /** @type {ColourScale} */ scale) {
  if (scale.name !== "log") return lutIndex(value, scale.lo, scale.hi);
  if (!(value > scale.lo)) return 0;
  return lutIndex(Math.log10(value), Math.log10(scale.lo), Math.log10(scale.hi));
}

/**
 * Fill an RGBA pixel buffer (length 4 * values.length) from values through a LUT on a scale.
 * @param {ArrayLike<number>} values @param {ColourScale} scale @param {Uint8ClampedArray} lut
 */
export function colouriseScaled(values, scale, lut, out = new Uint8ClampedArray(values.length * 4)) {
  // One 32-bit write per value (an RGBA entry of the LUT) when the buffers allow it: a zoom step's tiles
  // are coloured together once they arrive, so this is on the step's critical path.
  const aligned = out.byteOffset % 4 === 0 && lut.byteOffset % 4 === 0 && out.length >= values.length * 4;
  if (aligned) {
    const out32 = new Uint32Array(out.buffer, out.byteOffset, values.length);
    const lut32 = new Uint32Array(lut.buffer, lut.byteOffset, lut.length / 4);
    if (scale.name === "log") {
      // the index of log10 of the value, exact (no table between): scaleIndex inlined
      const floor = scale.lo;
      const a = Math.log10(scale.lo);
      const b = Math.log10(scale.hi);
      for (let i = 0; i < values.length; i++) {
        const v = values[i];
        out32[i] = lut32[v > floor ? lutIndex(Math.log10(v), a, b) : 0];
      }
    } else {
      for (let i = 0; i < values.length; i++) out32[i] = lut32[lutIndex(values[i], scale.lo, scale.hi)];
    }
    return out;
  }
  for (let i = 0; i < values.length; i++) {
    const k = scaleIndex(values[i], scale) * 4;
    const o = i * 4;
    out[o] = lut[k];
    out[o + 1] = lut[k + 1];
    out[o + 2] = lut[k + 2];
    out[o + 3] = lut[k + 3];
  }
  return out;
}

/** A number as the legend writes it: powers of ten as 10⁻⁴, others to 3 significant digits. */
export function formatScaleValue(/** @type {number} */ v) {
  if (v === 0) return "0";
  const e = Math.log10(Math.abs(v));
  if (Number.isInteger(e) && e < -2) return `10${superscript(e)}`;
  return Number(v.toPrecision(3)).toString();
}

function superscript(/** @type {number} */ k) {
  const digits = "⁰¹²³⁴⁵⁶⁷⁸⁹";
  return `${k < 0 ? "⁻" : ""}${String(Math.abs(k))
    .split("")
    .map((d) => digits[Number(d)])
    .join("")}`;
}

/** The legend's words for a scale (short: they sit on the colour bar's line), e.g. "log₁₀ of the weight, 10⁻⁴ … 1; smaller: lowest colour". */
export function scaleLegend(/** @type {ColourScale} */ scale) {
  if (scale.name === "log") return `log₁₀ of the weight, ${formatScaleValue(scale.lo)} … ${formatScaleValue(scale.hi)}; smaller: lowest colour`;
  return `linear, ${formatScaleValue(scale.lo)} … ${formatScaleValue(scale.hi)}`;
}

/** Tick values of a log scale: every power of ten from lo to hi. @param {ColourScale} scale */
export function logTicks(scale) {
  const ticks = [];
  for (let e = Math.round(Math.log10(scale.lo)); e <= Math.round(Math.log10(scale.hi)); e++) ticks.push(powerOfTen(e));
  return ticks;
}
