// Compare page, pure parts: slots and their labels, the one-sided mask, the diverging scale, token
// counterparts for hover sync, the head-matching cells. No DOM here (node tests import it).

import { displayToken } from "../tokens.js";

export const COMPARE_VIEWS = ["side", "difference", "match"];
export const SIDE_VIEWS = ["matrix", "head"];
const LN2 = Math.log(2);

/** Label infos of the slots ({ side, left, right }) for the views' token elements: the left side's
 * text where it has one; `side` says whether the word is on both sides, the left only or the right only. */
export function slotInfos(slots) {
  return slots.map((slot) => {
    const raw = slot.left ?? slot.right ?? "";
    const info = displayToken(String(raw).split(" ")[0]);
    const text = String(raw)
      .split(" ")
      .map((piece) => displayToken(piece).text)
      .join(" ");
    return { raw, ...info, text, special: false, segment: 0, side: slot.side };
  });
}

/** Uint8Array [S * S]: 1 where the row's or the column's word is on one side only (no Δ there). */
export function oneSidedMask(slots) {
  const s = slots.length;
  const mask = new Uint8Array(s * s);
  for (let i = 0; i < s; i++) {
    for (let j = 0; j < s; j++) {
      if (slots[i].side !== "both" || slots[j].side !== "both") mask[i * s + j] = 1;
    }
  }
  return mask;
}

/** Ticks of a diverging scale [-m, m]: its ends and 0, with labels (signed, 3 significant digits). */
export function divergingTicks(lo, hi) {
  return [lo, 0, hi].map((v) => ({ value: v, label: formatSigned(v, 3) }));
}

/** A signed number: "+0.0123", "−0.0456" (minus sign), "0"; `digits` significant digits. */
export function formatSigned(v, digits = 6) {
  if (!Number.isFinite(v)) return String(v);
  if (v === 0) return "0";
  const text = Math.abs(v).toPrecision(digits);
  return `${v > 0 ? "+" : "\u2212"}${text}`;
}

/** The difference tooltip: `query → key: Δ +0.0123 (left 0.1, right 0.1123)`, or why there is none. */
export function deltaText(rowLabel, colLabel, delta, left, right, rowSide, colSide) {
  const head = `${rowLabel} → ${colLabel}: `;
  const oneSided = [rowSide, colSide].find((s) => s !== "both");
  if (oneSided) return `${head}only on the ${oneSided} side (no difference)`;
  return `${head}Δ ${formatSigned(delta)} (left ${left.toPrecision(6)}, right ${right.toPrecision(6)})`;
}

/** Token `index` of one side -> the first token of the other side in the same aligned unit, or -1. */
export function counterpart(units, otherUnits, index) {
  const unit = units[index];
  if (unit === undefined || unit < 0) return -1;
  return otherUnits.indexOf(unit);
}

/** Sync of layer and head is allowed when both sides have the same [layers, heads]. */
export function syncAllowed(leftShape, rightShape) {
  return leftShape.length === 2 && rightShape.length === 2 && leftShape[0] === rightShape[0] && leftShape[1] === rightShape[1];
}

/**
 * The head-matching grid of one side: for each of its heads (layers x heads) the closest head of
 * the other side and how similar: similarity = 1 - JSD / ln 2 (1 = the same distribution).
 * best: Int32Array [L * H * 2] (layer, head); values: [L * H] divergences.
 */
export function matchCells(layers, heads, best, values) {
  const cells = [];
  for (let l = 0; l < layers; l++) {
    for (let h = 0; h < heads; h++) {
      const k = l * heads + h;
      const value = values[k];
      cells.push({ layer: l, head: h, matchLayer: best[2 * k], matchHead: best[2 * k + 1], divergence: value, similarity: 1 - value / LN2 });
    }
  }
  return cells;
}

/** The colour range of the similarities shown: [lowest, 1] (so that near-identical heads still
 * differ in colour), [0, 1] when every one is 1. */
export function similarityRange(cells) {
  let lo = 1;
  for (const c of cells) if (Number.isFinite(c.similarity) && c.similarity < lo) lo = c.similarity;
  return lo < 1 ? [lo, 1] : [0, 1];
}

/** The `count` heads whose attention changed most between the sides (same layer and head), from
 * the per-head divergences `sameHead` ([L * H], layer-major): [{ layer, head, divergence }]. */
export function mostChanged(sameHead, heads, count = 5) {
  return Array.from(sameHead, (divergence, k) => ({ layer: Math.floor(k / heads), head: k % heads, divergence }))
    .sort((a, b) => b.divergence - a.divergence || a.layer - b.layer || a.head - b.head)
    .slice(0, count);
}
