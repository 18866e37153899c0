// Which heads a view shows, and the reduction of several heads to one [N, N] matrix.

import { layerSlice } from "./codec.js";

export { REDUCTIONS as REDUCE_MODES } from "./names.js";

/** Valid, sorted, de-duplicated head indices of `heads` for a layer with `numHeads` heads. */
export function validHeads(heads, numHeads) {
  const out = new Set();
  for (const h of Array.isArray(heads) ? heads : []) {
    if (Number.isInteger(h) && h >= 0 && h < numHeads) out.add(h);
  }
  return [...out].sort((a, b) => a - b);
}

/** Clamp an integer into 0..count-1 (0 when count is 0). */
export function clampIndex(value, count) {
  const v = Number.isFinite(value) ? Math.trunc(value) : 0;
  if (count <= 0) return 0;
  return Math.min(Math.max(v, 0), count - 1);
}

/** The heads a reduction runs over: the `heads` list when it has any, otherwise every head. */
export function reductionHeads(heads, numHeads) {
  const list = validHeads(heads, numHeads);
  return list.length > 0 ? list : Array.from({ length: numHeads }, (_, h) => h);
}

/**
 * Mean or max over `heads` of an [H, N, N] array: a new Float32Array of N*N.
 * mode "none" with one head returns a copy of that head.
 */
export function reduceHeads(data, shape, heads, mode) {
  const [H, N, M] = shape;
  const list = validHeads(heads, H);
  const size = N * M;
  const out = new Float32Array(size);
  if (list.length === 0) return out;
  if (mode === "max") {
    out.set(layerSlice(data, shape, list[0]));
    for (let k = 1; k < list.length; k++) {
      const m = layerSlice(data, shape, list[k]);
      for (let i = 0; i < size; i++) if (m[i] > out[i]) out[i] = m[i];
    }
    return out;
  }
  if (mode === "mean" || list.length > 1) {
    for (const h of list) {
      const m = layerSlice(data, shape, h);
      for (let i = 0; i < size; i++) out[i] += m[i];
    }
    const inv = 1 / list.length;
    for (let i = 0; i < size; i++) out[i] *= inv;
    return out;
  }
  out.set(layerSlice(data, shape, list[0]));
  return out;
}

/**
 * The series drawn by the head view: [{ key, label, heads, colourIndex, reduced }].
 *  - head_reduce "mean"/"max": one series, the reduction over reductionHeads(heads)
 *  - otherwise one series per head of `heads`, or just `head` when `heads` is empty
 * Labels name the heads by `headName(index)` (the model's own numbers, numbering.js).
 */
export function headSeries({ head, heads, headReduce, numHeads, headName = (k) => k }) {
  if (numHeads <= 0) return [];
  if (headReduce === "mean" || headReduce === "max") {
    const over = reductionHeads(heads, numHeads);
    const label = over.length === numHeads ? `${headReduce} of all heads` : `${headReduce} of heads ${over.map(headName).join(", ")}`;
    return [{ key: `${headReduce}:${over.join(",")}`, label, heads: over, colourIndex: -1, reduced: headReduce }];
  }
  let list = validHeads(heads, numHeads);
  if (list.length === 0) list = [clampIndex(head, numHeads)];
  return list.map((h) => ({ key: `head:${h}`, label: `head ${headName(h)}`, heads: [h], colourIndex: h, reduced: null }));
}

/** The [N, N] matrix of a series (a view, no copy, for a single unreduced head). */
export function seriesMatrix(data, shape, series) {
  if (series.reduced) return reduceHeads(data, shape, series.heads, series.reduced);
  return layerSlice(data, shape, series.heads[0]);
}

/** The matrix view's series: the reduction when head_reduce is set, otherwise the focused head. */
export function matrixSeries({ head, heads, headReduce, numHeads, headName = (k) => k }) {
  if (headReduce === "mean" || headReduce === "max") return headSeries({ head, heads, headReduce, numHeads, headName })[0];
  if (numHeads <= 0) return null;
  const h = clampIndex(head, numHeads);
  return { key: `head:${h}`, label: `head ${headName(h)}`, heads: [h], colourIndex: h, reduced: null };
}

/** [min, max] of the finite values of an array ([0, 0] when none). */
export function valueRange(values) {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (lo === Infinity) return [0, 0];
  return [lo, hi];
}
