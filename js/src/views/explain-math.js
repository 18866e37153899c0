// Explain view and head-summary panel, pure parts: request keys, reply decoding, colour ranges,
// head ranking. No DOM here (node tests).

import { decode } from "../codec.js";
import { EXPLAIN_METHODS as METHOD_NAMES } from "../names.js";

const METHOD_LABELS = {
  rollout: "Rollout",
  flow: "Attention flow",
  relevancy: "Relevancy (gradient)",
  norm: "Norm-weighted attention",
};
/** [name, label] of each explain method, in the order of names.js. */
export const EXPLAIN_METHODS = METHOD_NAMES.map((name) => [name, METHOD_LABELS[name]]);

export const STAT_LABELS = {
  to_cls: "→ [CLS]",
  to_sep: "→ [SEP]",
  to_punct: "→ punctuation",
  to_self: "→ self",
  to_prev: "→ previous",
  to_next: "→ next",
  entropy: "entropy (nats)",
  distance: "distance (tokens)",
};

/** Whether a method's answer depends on the layer / head shown (only norm-weighted attention). */
export function perHead(method) {
  return method === "norm";
}

/**
 * What a method's map covers, in words, with the model's own layer and head numbers (names, from
 * numbering.js): "all layers and heads", "layer 5, head 3", "layer 5, mean over heads". Twin of
 * albert_widget/explain.py explain_scope.
 */
export function explainScope(method, layer, head, reduce, names) {
  if (!perHead(method)) return "all layers and heads";
  const l = `layer ${names ? names.layer(layer) : layer}`;
  return reduce === "mean" || reduce === "max" ? `${l}, ${reduce} over heads` : `${l}, head ${names ? names.head(head) : head}`;
}

/** Cache key of an explain request or reply. */
export function explainKey(revision, method, layer, head, reduce) {
  if (!perHead(method)) return `${revision}|${method}`;
  const r = reduce && reduce !== "none" ? reduce : "none";
  return r === "none" ? `${revision}|${method}|${layer}|${head}` : `${revision}|${method}|${layer}|${r}`;
}

/** The explain message the page sends. */
export function explainRequest(revision, method, layer, head, reduce) {
  return { type: "explain", revision, method, layer, head, reduce: reduce && reduce !== "none" ? reduce : "none" };
}

/** Decode an explain reply: { key, error } or { key, data: Float32Array, shape, note, row }. */
export function parseExplainReply(msg, buffers) {
  const key = explainKey(msg.revision, msg.method, msg.layer, msg.head, msg.reduce);
  if (msg.error) return { key, error: String(msg.error) };
  if (!buffers || !buffers.length) return { key, error: "the reply has no data" };
  const data = decode({ dtype: msg.dtype || "float32", shape: msg.shape }, buffers[0]);
  return { key, data, shape: msg.shape.slice(), note: String(msg.note || ""), row: msg.shape.length === 1 };
}

/** Decode a head_stats reply: { error } or { statistics, numLayers, numHeads, grids: {name: Float32Array} }. */
export function parseStatsReply(msg, buffers) {
  if (msg.error) return { error: String(msg.error) };
  const [s, L, H] = msg.shape;
  const all = decode({ dtype: msg.dtype || "float32", shape: msg.shape }, buffers[0]);
  const grids = {};
  msg.statistics.forEach((name, k) => {
    grids[name] = all.subarray(k * L * H, (k + 1) * L * H);
  });
  return { statistics: msg.statistics.slice(0, s), numLayers: L, numHeads: H, grids, uniformEntropy: msg.uniform_entropy };
}

/** [lo, hi] of values, never empty (hi > lo). */
export function range(values) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (!Number.isFinite(v)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (lo === Infinity) return [0, 1];
  if (!(hi > lo)) return [lo, lo + 1];
  return [lo, hi];
}

/** Heads sorted by one statistic, highest first: [{ layer, head, value }], at most `count`. */
export function topHeads(grid, numLayers, numHeads, count = 5, descending = true) {
  const list = [];
  for (let l = 0; l < numLayers; l++) for (let h = 0; h < numHeads; h++) list.push({ layer: l, head: h, value: grid[l * numHeads + h] });
  list.sort((a, b) => (descending ? b.value - a.value : a.value - b.value) || a.layer - b.layer || a.head - b.head);
  return list.slice(0, count);
}

/** The statistic chosen in the summary selector, or the first one. */
export function chosenStat(value, statistics) {
  return statistics.includes(value) ? value : statistics[0];
}

/** Short number for labels. */
/**
 * The two ends of a range written alike: with the decimals that give the larger end 3 significant
 * digits ("0.000 … 0.635", "0.002 … 0.262", "0.963 … 11.8"), so a caption never mixes
 * 3.57e-9 with 0.635. Ranges whose larger end is below 0.001 or from 999.5 up use shortNumber.
 * @returns {[string, string]}
 */
export function rangeNumbers(lo, hi) {
  const top = Math.max(Math.abs(lo), Math.abs(hi));
  if (!Number.isFinite(top) || top === 0 || top < 0.001 || top >= 999.5) return [shortNumber(lo), shortNumber(hi)];
  const decimals = Math.max(0, 2 - Math.floor(Math.log10(top)));
  const fixed = (v) => {
    const text = v.toFixed(decimals);
    return /^-0\.?0*$/.test(text) ? text.slice(1) : text; // no "-0.000"
  };
  return [fixed(lo), fixed(hi)];
}

export function shortNumber(v) {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a === 0) return "0";
  // one way for every number: 3 significant digits, plain from 0.001 to 999, else as 6.18e-6
  if (a < 0.001 || a >= 999.5) return v.toExponential(2);
  return v.toPrecision(3);
}
