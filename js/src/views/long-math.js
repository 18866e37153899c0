// Pure parts of the views for long inputs (row view, model view by statistic, top-k head view):
// downsampling a row for display, its heaviest keys, label placement without overlap, the per-head
// statistics reply, and the token columns of the top-k head view. No DOM here (node tests).

import { decode } from "../codec.js";
import { HEAD_STATISTICS } from "../names.js";

/** What each statistic is, for the legend and hover (albert_widget/head_summaries.py defines them). */
export const STATISTIC_LABELS = {
  thumbnails: "thumbnails",
  sink: "sink: weight on the first token",
  entropy: "entropy (nats)",
  previous_token: "weight on the previous token",
  self_weight: "weight on the token itself",
  mean_distance: "mean distance (tokens)",
};

/**
 * Max-downsample a row for a plot `bins` wide: bin b holds keys [floor(b n / bins), floor((b+1) n / bins)).
 * Returns { max: Float32Array(bins), arg: Int32Array(bins) } (arg: the heaviest key of the bin, the
 * first on ties; -1 for an empty bin). With n <= bins every key gets its own bin (bins = n).
 * @param {ArrayLike<number>} values @param {number} bins
 */
export function downsampleMax(values, bins) {
  const n = values.length;
  const b = Math.max(1, Math.min(n, Math.floor(bins)));
  const max = new Float32Array(b);
  const arg = new Int32Array(b).fill(-1);
  for (let k = 0; k < b; k++) {
    const lo = Math.floor((k * n) / b);
    const hi = Math.floor(((k + 1) * n) / b);
    let best = -Infinity;
    let at = -1;
    for (let j = lo; j < hi; j++) {
      if (values[j] > best) {
        best = values[j];
        at = j;
      }
    }
    max[k] = at < 0 ? 0 : best;
    arg[k] = at;
  }
  return { max, arg };
}

/** The bin (0..bins-1) under x in a plot `width` px wide; -1 outside. */
export function binAt(x, width, bins) {
  if (!(x >= 0 && x < width) || bins <= 0) return -1;
  return Math.min(bins - 1, Math.floor((x / width) * bins));
}

/** The x (px) of the centre of key j's bin. */
export function keyX(j, n, width, bins) {
  const b = Math.min(bins - 1, Math.floor((j * bins) / n));
  return ((b + 0.5) * width) / bins;
}

/**
 * The k heaviest keys of a row, heaviest first (the lower index first on ties), weights > 0 only.
 * @param {ArrayLike<number>} values @param {number} k
 * @returns {{ index: number, value: number }[]}
 */
export function topKeys(values, k) {
  const out = [];
  for (let j = 0; j < values.length; j++) {
    const v = values[j];
    if (!(v > 0)) continue;
    if (out.length === k && v <= out[k - 1].value) continue;
    let p = out.length;
    while (p > 0 && out[p - 1].value < v) p--;
    out.splice(p, 0, { index: j, value: v });
    if (out.length > k) out.pop();
  }
  return out;
}

/**
 * Place labels centred on their x in lanes without overlap, in priority order (the first in the list
 * first): each label goes to the first lane where it clears the labels already there by `gap` px,
 * clamped into [0, total]; a label no lane takes is dropped.
 * @param {{ x: number, width: number }[]} items @param {number} total @param {number} [lanes] @param {number} [gap]
 * @returns {({ left: number, lane: number } | null)[]}  per item, in the order given
 */
export function layoutLabels(items, total, lanes = 2, gap = 6) {
  const taken = Array.from({ length: lanes }, () => /** @type {[number, number][]} */ ([]));
  return items.map(({ x, width }) => {
    const left = Math.max(0, Math.min(total - width, x - width / 2));
    const right = left + width;
    for (let lane = 0; lane < lanes; lane++) {
      if (taken[lane].every(([a, b]) => right + gap <= a || left >= b + gap)) {
        taken[lane].push([left, right]);
        return { left, lane };
      }
    }
    return null;
  });
}

/**
 * A `summaries` reply as { statistics, numLayers, numHeads, grids: { name: Float32Array(L*H) } }.
 * @param {Record<string, unknown>} msg @param {DataView} buffer
 */
export function parseSummaries(msg, buffer) {
  const shape = /** @type {number[]} */ (msg.shape);
  const names = /** @type {string[]} */ (msg.statistics);
  if (!Array.isArray(shape) || shape.length !== 3 || !Array.isArray(names) || names.length !== shape[0]) {
    throw new TypeError("summaries need a shape [statistics, L, H] and one name per statistic");
  }
  const values = decode({ dtype: /** @type {any} */ (msg.dtype), shape }, buffer);
  const [, L, H] = shape;
  /** @type {Record<string, Float32Array>} */
  const grids = {};
  names.forEach((name, s) => {
    grids[name] = values.subarray(s * L * H, (s + 1) * L * H);
  });
  for (const name of HEAD_STATISTICS) if (!grids[name]) throw new TypeError(`summaries lack the statistic ${name}`);
  return { statistics: names, numLayers: L, numHeads: H, grids };
}

/** Short exact-enough text of a statistic's value (6 significant digits). */
export function statText(value) {
  return Number.isFinite(value) ? String(Number(value.toPrecision(6))) : "–";
}

/**
 * The window of queries the top-k head view shows: [start, end) of `size` rows within n tokens,
 * around `start` asked (clamped).
 */
export function queryWindow(start, size, n) {
  const w = Math.max(1, Math.min(n, Math.floor(size)));
  const a = Math.max(0, Math.min(n - w, Math.floor(Number.isFinite(start) ? start : n - w)));
  return { start: a, end: a + w };
}

/**
 * The key column of the top-k head view for queries [start, end): the window's own tokens, and
 * above them every key outside the window that a shown query's top-k names, in token order, with
 * a gap row wherever tokens are skipped.
 * @param {Int32Array} index  [S, N, k] key indices (-1: none) of S series
 * @param {number} n @param {number} k @param {number} start @param {number} end
 * @returns {{ rows: ({ key: number } | { gap: number })[], rowOf: Map<number, number> }}
 */
export function keyColumn(index, n, k, start, end) {
  const series = index.length / (n * k);
  const outside = new Set();
  for (let s = 0; s < series; s++) {
    for (let i = start; i < end; i++) {
      for (let t = 0; t < k; t++) {
        const j = index[(s * n + i) * k + t];
        if (j >= 0 && (j < start || j >= end)) outside.add(j);
      }
    }
  }
  const keys = [...outside].sort((a, b) => a - b);
  /** @type {({ key: number } | { gap: number })[]} */
  const rows = [];
  const rowOf = new Map();
  let next = 0; // the token after the last row
  const push = (j) => {
    if (j > next) rows.push({ gap: j - next });
    rowOf.set(j, rows.length);
    rows.push({ key: j });
    next = j + 1;
  };
  for (const j of keys.filter((j) => j < start)) push(j);
  for (let j = start; j < end; j++) push(j);
  for (const j of keys.filter((j) => j >= end)) push(j);
  if (next < n && keys.some((j) => j >= end)) rows.push({ gap: n - next });
  return { rows, rowOf };
}

/**
 * The lines of the top-k head view: for each series s, query i in [start, end) and rank t with a key,
 * { s, i, j, w } (w: the weight). Their count is what the view says it draws.
 * @param {Int32Array} index @param {Float32Array} weight  [S, N, k]
 */
export function topkLines(index, weight, n, k, start, end) {
  const series = index.length / (n * k);
  const out = [];
  for (let s = 0; s < series; s++) {
    for (let i = start; i < end; i++) {
      for (let t = 0; t < k; t++) {
        const o = (s * n + i) * k + t;
        if (index[o] >= 0) out.push({ s, i, j: index[o], w: weight[o] });
      }
    }
  }
  return out;
}
