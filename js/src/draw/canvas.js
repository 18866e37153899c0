// Device-pixel-ratio aware canvas helpers.

// Chromium refuses canvases with a side above 32767 px; stay under it.
export const MAX_CANVAS_SIDE = 32000;

/** The ratio to use for a canvas of cssWidth x cssHeight so that no side exceeds the limit. */
export function canvasRatio(cssWidth, cssHeight, dpr = 1) {
  const want = dpr > 0 && Number.isFinite(dpr) ? dpr : 1;
  const longest = Math.max(cssWidth, cssHeight, 1);
  return Math.min(want, MAX_CANVAS_SIDE / longest);
}

/** A new canvas element with the given class. */
export function createCanvas(className, doc = document) {
  const canvas = doc.createElement("canvas");
  if (className) canvas.className = className;
  return canvas;
}

/**
 * Size a canvas to cssWidth x cssHeight CSS pixels, backing store scaled for devicePixelRatio,
 * and return its 2D context with a transform so that drawing is in CSS pixels.
 */
export function sizeCanvas(canvas, cssWidth, cssHeight, dpr = globalThis.devicePixelRatio || 1) {
  const w = Math.max(0, Math.round(cssWidth));
  const h = Math.max(0, Math.round(cssHeight));
  const ratio = canvasRatio(w, h, dpr);
  const pw = Math.max(1, Math.round(w * ratio));
  const ph = Math.max(1, Math.round(h * ratio));
  if (canvas.width !== pw) canvas.width = pw;
  if (canvas.height !== ph) canvas.height = ph;
  canvas.style.width = `${w}px`;
  canvas.style.height = `${h}px`;
  const ctx = canvas.getContext("2d");
  ctx.setTransform(pw / Math.max(w, 1), 0, 0, ph / Math.max(h, 1), 0, 0);
  return { ctx, width: w, height: h, ratio };
}

/** Clear the whole canvas whatever the current transform. */
export function clearCanvas(ctx) {
  const canvas = ctx.canvas;
  ctx.save();
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.restore();
}
