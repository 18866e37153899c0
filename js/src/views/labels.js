// Token label elements shared by the views. Token text is untrusted: textContent only.

import { h, sameArray } from "../dom.js";
import { displayToken } from "../tokens.js";

/** Display info of every token: [{ raw, text, wordStart, continuation, blank, special, segment }]. */
export function tokenInfos(tokens, special = [], segments = []) {
  return tokens.map((raw, i) => ({ raw, ...displayToken(raw), special: Boolean(special[i]), segment: segments[i] ?? 0 }));
}

/** One token label: class aw-token, data-index, text via textContent, raw token in the title. */
export function tokenElement(doc, info, index, extraClass = "") {
  let cls = "aw-token";
  if (extraClass) cls += ` ${extraClass}`;
  if (info.special) cls += " aw-special";
  if (info.wordStart) cls += " aw-word-start";
  if (info.continuation) cls += " aw-cont";
  if (info.blank) cls += " aw-blank";
  if (info.segment === 1) cls += " aw-seg-b";
  const el = h(doc, "div", { cls, text: info.text, dataset: { index } });
  el.title = `${index}: ${JSON.stringify(String(info.raw ?? ""))}`;
  return el;
}

/**
 * What labels a view shows: `next(props)` returns null when the labels on screen still fit the
 * props (same tokens, special mask, segments and labelKey), else the row and column infos to build
 * (rowInfos/colInfos after filters, or one per token on both axes).
 */
export function labelTracker() {
  let shown = null; // { key, tokens, special, segments }
  return {
    next({ tokens, special = [], segments = [], labelKey = null, rowInfos = null, colInfos = null }) {
      if (shown && shown.key === labelKey && sameArray(tokens, shown.tokens) && sameArray(special, shown.special) && sameArray(segments, shown.segments)) {
        return null;
      }
      shown = { key: labelKey, tokens: tokens.slice(), special: special.slice(), segments: segments.slice() };
      const rows = rowInfos || tokenInfos(tokens, special, segments);
      return { rows, cols: colInfos || rows };
    },
  };
}

/** Index of the first token of sentence B when sentence A comes before it on this axis, else -1. */
export function segmentStart(infos) {
  for (let i = 1; i < infos.length; i++) if (infos[i].segment === 1 && infos[i - 1].segment !== 1) return i;
  return -1;
}

/** Mark the first token of sentence B (class aw-seg-start: a line above it, styles.css). */
export function markSegmentStart(elements, infos) {
  const start = segmentStart(infos);
  if (start >= 0) elements[start].classList.add("aw-seg-start");
  return start;
}
