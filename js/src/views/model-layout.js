// Model view, pure parts: grid layout, hit testing, thumbnail size requests, ALBERT weight-sharing
// groups and the thumbnail payload. No DOM here (node tests import it).

import { asBytes, decode, shapeSize } from "../codec.js";

export const MIN_THUMB = 8;
export const MAX_THUMB = 48;
export const DEFAULT_WIDTH = 900;
/** Thumbnail resolutions the page asks Python for (the smallest one at least as fine as drawn). */
export const REQUEST_SIZES = [16, 24, 32, 48];

/** Gap (CSS px) between thumbnails of a given size. */
export function gapFor(thumb) {
  return thumb >= 24 ? 4 : 2;
}

/**
 * Thumbnail grid of numLayers rows x numHeads columns fitted into `width` CSS px.
 * @returns {{ rows, cols, thumb, gap, pitch, width, height }}
 */
export function gridLayout({ numLayers, numHeads, width = DEFAULT_WIDTH, minThumb = MIN_THUMB, maxThumb = MAX_THUMB }) {
  const rows = Math.max(0, numLayers | 0);
  const cols = Math.max(0, numHeads | 0);
  const avail = Number.isFinite(width) && width > 0 ? width : DEFAULT_WIDTH;
  let thumb = maxThumb;
  if (cols > 0) {
    // thumb * cols + gap * (cols - 1) <= avail, with the gap depending on the thumb.
    for (thumb = maxThumb; thumb > minThumb; thumb--) {
      if (thumb * cols + gapFor(thumb) * (cols - 1) <= avail) break;
    }
  }
  const gap = gapFor(thumb);
  const pitch = thumb + gap;
  return {
    rows,
    cols,
    thumb,
    gap,
    pitch,
    width: cols > 0 ? cols * pitch - gap : 0,
    height: rows > 0 ? rows * pitch - gap : 0,
  };
}

/** Top-left corner (CSS px) of thumbnail (layer, head). */
export function thumbOrigin(layer, head, layout) {
  return { x: head * layout.pitch, y: layer * layout.pitch };
}

/** The thumbnail under (x, y) CSS px, gaps included (they belong to the thumbnail above-left); null outside. */
export function thumbAt(x, y, layout) {
  if (!layout || layout.rows === 0 || layout.cols === 0) return null;
  if (!(x >= 0 && y >= 0 && x < layout.width && y < layout.height)) return null;
  const head = Math.min(layout.cols - 1, Math.floor(x / layout.pitch));
  const layer = Math.min(layout.rows - 1, Math.floor(y / layout.pitch));
  return { layer, head };
}

/** The resolution to ask for: the smallest of REQUEST_SIZES at least thumb * dpr (else the largest). */
export function requestSize(thumb, dpr = 1) {
  const want = Math.ceil(Math.max(1, thumb) * (dpr > 0 && Number.isFinite(dpr) ? dpr : 1));
  for (const s of REQUEST_SIZES) if (s >= want) return s;
  return REQUEST_SIZES[REQUEST_SIZES.length - 1];
}

/** Runs of consecutive layers that run the same weight group: [{ group, start, end }] (end inclusive). */
export function groupRuns(groups) {
  const runs = [];
  if (!Array.isArray(groups)) return runs;
  groups.forEach((g, l) => {
    const last = runs[runs.length - 1];
    if (last && last.group === g && last.end === l - 1) last.end = l;
    else runs.push({ group: g, start: l, end: l });
  });
  return runs;
}

/** True when some layers share weights (ALBERT): fewer distinct groups than layers. */
export function sharesWeights(groups, numLayers) {
  if (!Array.isArray(groups) || groups.length === 0 || groups.length !== numLayers) return false;
  if (!groups.every((g) => Number.isInteger(g))) return false;
  return new Set(groups).size < groups.length;
}

/** "12 layers share 1 set of weights" (or "... 2 sets of weights"); "" without sharing. */
export function sharingCaption(groups, numLayers) {
  if (!sharesWeights(groups, numLayers)) return "";
  const sets = new Set(groups).size;
  return `${numLayers} layers share ${sets} set${sets === 1 ? "" : "s"} of weights`;
}

/** What one thumbnail holds, for the caption. */
export function resolutionCaption(n, size, downsampled) {
  if (!(n > 0)) return "";
  return downsampled ? `${n} tokens averaged into ${size} × ${size} blocks per thumbnail` : `${n} × ${n} tokens per thumbnail`;
}

/**
 * The thumbnails of a `thumbnails` reply as normalised bytes: { size, count, shape, bytes } where
 * bytes[k * size * size + ...] is thumbnail k (= layer * H + head) scaled to its own maximum
 * (0..255). uint8 payloads are used as they are; float16/float32 ones are decoded and normalised.
 */
export function thumbnailBytes(msg, buffer) {
  const shape = msg && msg.shape;
  if (!Array.isArray(shape) || shape.length !== 4) throw new TypeError("thumbnails need a shape [L, H, s, s]");
  const [L, H, s, s2] = shape;
  if (s !== s2) throw new TypeError(`thumbnails must be square, got ${s} x ${s2}`);
  const total = shapeSize(shape);
  const count = L * H;
  const per = s * s;
  if (msg.dtype === "uint8") {
    const { buffer: ab, byteOffset, byteLength } = asBytes(buffer);
    if (byteLength !== total) throw new RangeError(`thumbnails: expected ${total} bytes, got ${byteLength}`);
    return { size: s, count, shape: shape.slice(), bytes: new Uint8Array(ab, byteOffset, byteLength) };
  }
  const values = decode({ dtype: msg.dtype, shape }, buffer);
  const bytes = new Uint8Array(total);
  for (let k = 0; k < count; k++) {
    let hi = 0;
    for (let i = 0; i < per; i++) hi = Math.max(hi, values[k * per + i]);
    const scale = hi > 0 ? 255 / hi : 0;
    for (let i = 0; i < per; i++) bytes[k * per + i] = Math.round(Math.min(1, Math.max(0, (values[k * per + i] * scale) / 255)) * 255);
  }
  return { size: s, count, shape: shape.slice(), bytes };
}
