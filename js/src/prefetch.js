// What the page asks Python for, in which encoding and in which order (pure; store.js sends it).
// The twin of albert_widget/encodings.py.
//
// - Encoding: float32 up to EXACT_MAX_TOKENS tokens (every number shown is exact), float16 above
//   (half the bytes; |w - w'| <= 2^-11 * max(w, 2^-14) for w in [0, 1]). Where a float16 number is
//   shown (the matrix tooltip), the page asks for the exact float32 row ({type: "row"}).
// - Granularity: a layer bigger than HEAD_CHUNK_BYTES (encoded) travels head by head: what is on
//   screen first, then the heads and layers one slider step away, one request at a time; a move
//   drops the queued ones (only the one in flight still arrives).

export const EXACT_MAX_TOKENS = 128;
export const HEAD_CHUNK_BYTES = 4 * 1024 * 1024;
const WIDTH = { float32: 4, float16: 2, uint8: 1 };

/** The encoding the page draws from for an input of n tokens (rows x cols: the larger side). */
export function drawingEncoding(n) {
  return n <= EXACT_MAX_TOKENS ? "float32" : "float16";
}

/** Bytes of one layer [H, rows, cols] in an encoding. */
export function layerBytes(numHeads, rows, cols, dtype) {
  const w = WIDTH[dtype];
  if (w === undefined) throw new TypeError(`unknown encoding ${JSON.stringify(dtype)}`);
  return numHeads * rows * cols * w;
}

/** Whether layers of this shape are requested head by head. */
export function perHeadLayer(numHeads, rows, cols, dtype = drawingEncoding(Math.max(rows, cols))) {
  return layerBytes(numHeads, rows, cols, dtype) > HEAD_CHUNK_BYTES;
}

/** Distinct valid head indices of a list, in order. */
export function headList(heads, numHeads) {
  const out = [];
  for (const h of Array.isArray(heads) ? heads : []) {
    if (Number.isInteger(h) && h >= 0 && h < numHeads && !out.includes(h)) out.push(h);
  }
  return out;
}

/**
 * What to fetch in the background once the heads on screen are here, most likely next first:
 * the next and previous head of the layer (one head-slider step), then the same heads in the next
 * and previous layer (one layer-slider step). Returns [{ layer, heads }].
 */
export function prefetchPlan({ layer, heads, numLayers, numHeads }) {
  const shown = headList(heads, numHeads);
  if (shown.length === 0 || !(layer >= 0 && layer < numLayers)) return [];
  const out = [];
  const hi = Math.max(...shown);
  const lo = Math.min(...shown);
  if (hi + 1 < numHeads) out.push({ layer, heads: [hi + 1] });
  if (lo - 1 >= 0) out.push({ layer, heads: [lo - 1] });
  if (layer + 1 < numLayers) out.push({ layer: layer + 1, heads: shown });
  if (layer - 1 >= 0) out.push({ layer: layer - 1, heads: shown });
  return out;
}

/** Heads of a head-view / matrix-view state that must be in the page to draw it. */
export function headsOnScreen(seriesList) {
  const out = [];
  for (const s of seriesList || []) {
    if (!s) continue;
    for (const h of s.heads || []) if (!out.includes(h)) out.push(h);
  }
  return out.sort((a, b) => a - b);
}
