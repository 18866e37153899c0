// Neuron view, pure parts: the reply payload, q ⊙ k, scores, softmax, diverging colours for vector
// cells and the sizes of the drawing. No DOM here (node tests import it).

import { decode } from "../codec.js";
import { DIVERGING_STOPS } from "../draw/colour.js";

export { DIVERGING_STOPS };

const DIVERGING_RGB = DIVERGING_STOPS.map((hex) => [1, 3, 5].map((k) => parseInt(hex.slice(k, k + 2), 16)));

export const ROW_HEIGHT = 16;
export const VECTOR_WIDTH = 256;
export const MIN_VECTOR_WIDTH = 96;
/** Width of everything but the two vector columns: key labels, score and weight bars with numbers, gaps. */
export const FIXED_COLUMNS = 460;
export const MIN_CELL = 3;
export const MAX_CELL = 12;
/** Cache key of one neuron reply. */
export function neuronKey(revision, layer, head, query) {
  return `${revision}:${layer}:${head}:${query}`;
}

/** Largest |v| of one or more arrays (0 when all are empty; NaN and ±inf are skipped). */
export function maxAbs(...arrays) {
  let m = 0;
  for (const a of arrays) {
    if (!a) continue;
    for (let i = 0; i < a.length; i++) {
      const v = Math.abs(a[i]);
      if (Number.isFinite(v) && v > m) m = v;
    }
  }
  return m;
}

/** Position of v in [-m, m] as t in [0, 1] (0.5 = zero); m <= 0 gives 0.5. */
export function divergingT(v, m) {
  if (!(m > 0) || !Number.isFinite(v)) return 0.5;
  return Math.min(1, Math.max(0, 0.5 + v / (2 * m)));
}

/** [r, g, b] (0..255) of v on a diverging blue-grey-red scale symmetric around 0 with |v| <= m. */
export function divergingRgb(v, m) {
  const t = divergingT(v, m);
  const pos = t * (DIVERGING_RGB.length - 1);
  const k = Math.min(Math.floor(pos), DIVERGING_RGB.length - 2);
  const f = pos - k;
  const a = DIVERGING_RGB[k];
  const b = DIVERGING_RGB[k + 1];
  return [0, 1, 2].map((c) => Math.round(a[c] + (b[c] - a[c]) * f));
}

/** "rgb(r, g, b)" of divergingRgb. */
export function divergingCss(v, m) {
  const [r, g, b] = divergingRgb(v, m);
  return `rgb(${r}, ${g}, ${b})`;
}

/** Width (CSS px) of one vector cell for head dimension d when a vector may take `budget` px. */
export function vectorCell(d, budget = VECTOR_WIDTH) {
  if (!(d > 0)) return MAX_CELL;
  const room = Number.isFinite(budget) && budget > 0 ? budget : VECTOR_WIDTH;
  return Math.max(MIN_CELL, Math.min(MAX_CELL, Math.floor(room / d)));
}

/** Room (CSS px) for each of the two vector columns in a view `width` px wide (fixed columns take the rest). */
export function vectorBudget(width, fixed = FIXED_COLUMNS) {
  if (!(width > 0)) return VECTOR_WIDTH;
  return Math.max(MIN_VECTOR_WIDTH, Math.min(VECTOR_WIDTH, Math.floor((width - fixed) / 2)));
}

/** q ⊙ k_j for every key: Float32Array [N, d] (row j = q * keys[j]). */
export function elementwise(q, keys, n, d) {
  const out = new Float32Array(n * d);
  for (let j = 0; j < n; j++) for (let c = 0; c < d; c++) out[j * d + c] = q[c] * keys[j * d + c];
  return out;
}

/** q · k_j * scaling for every key (float64 sums): Float64Array [N]. */
export function dotScores(q, keys, n, d, scaling) {
  const out = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    let s = 0;
    for (let c = 0; c < d; c++) s += q[c] * keys[j * d + c];
    out[j] = s * scaling;
  }
  return out;
}

/** Softmax of scores with the keys in `masked` left out (weight 0): Float64Array. */
export function softmax(scores, masked = []) {
  const skip = new Set(masked);
  const n = scores.length;
  let hi = -Infinity;
  for (let j = 0; j < n; j++) if (!skip.has(j) && scores[j] > hi) hi = scores[j];
  const out = new Float64Array(n);
  if (hi === -Infinity) return out;
  let sum = 0;
  for (let j = 0; j < n; j++) {
    if (skip.has(j)) continue;
    out[j] = Math.exp(scores[j] - hi);
    sum += out[j];
  }
  for (let j = 0; j < n; j++) out[j] /= sum;
  return out;
}

/** A number for a cell label: 4 significant digits, "0" for zero. */
export function formatNumber(v) {
  if (!Number.isFinite(v)) return String(v);
  if (v === 0) return "0";
  const a = Math.abs(v);
  return a >= 1e-3 && a < 1e4 ? Number(v.toPrecision(4)).toString() : v.toExponential(2);
}

/** "/ √d" when scaling is 1/√d, otherwise "× scaling". */
export function scalingLabel(scaling, d) {
  return Math.abs(scaling - 1 / Math.sqrt(d)) < 1e-6 * Math.max(1, scaling) ? "/ √d" : `× ${formatNumber(scaling)}`;
}

/**
 * Decode a `neuron` reply: { layer, head, query, d, n, scaling, masked, q, keys, scores, softmax }
 * (Float32Arrays), or { error } when Python said the vectors cannot be had. Throws on a malformed payload.
 */
export function parseNeuronReply(msg, buffers) {
  if (!msg || msg.type !== "neuron") throw new TypeError("not a neuron reply");
  const base = { revision: msg.revision, layer: msg.layer, head: msg.head, query: msg.query };
  if (msg.error) return { ...base, error: String(msg.error) };
  const names = Array.isArray(msg.arrays) ? msg.arrays : ["q", "keys", "scores", "softmax"];
  const shapes = Array.isArray(msg.shapes) ? msg.shapes : null;
  const d = msg.d | 0;
  const n = msg.n | 0;
  const expected = { q: [d], keys: [n, d], scores: [n], softmax: [n] };
  const out = { ...base, d, n, scaling: Number(msg.scaling), masked: Array.isArray(msg.masked) ? msg.masked.slice() : [] };
  const list = buffers || [];
  for (const name of ["q", "keys", "scores", "softmax"]) {
    const k = names.indexOf(name);
    if (k < 0 || k >= list.length) throw new RangeError(`neuron reply has no ${name} buffer`);
    const shape = shapes ? shapes[k] : expected[name];
    if (JSON.stringify(shape) !== JSON.stringify(expected[name]))
      throw new RangeError(`neuron ${name} has shape ${JSON.stringify(shape)}, expected ${JSON.stringify(expected[name])}`);
    out[name] = decode({ dtype: msg.dtype || "float32", shape }, list[k]);
  }
  return out;
}

/** The query shown for n tokens: the chosen one when valid, else the first non-special token (else 0). */
export function defaultQuery(chosen, n, special = []) {
  if (Number.isInteger(chosen) && chosen >= 0 && chosen < n) return chosen;
  for (let i = 0; i < n; i++) if (!special[i]) return i;
  return 0;
}
