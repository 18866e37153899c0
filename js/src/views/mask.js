// The causal mask of a decoder drawn as such: masked cells (keys after the query) get a neutral grey,
// not the colour of a zero weight, and a diagonal hatch when cells are large enough to show one.

/** Neutral grey of masked cells (viridis has no grey, so it never reads as a weight). */
export const MASK_RGB = [150, 150, 150];
export const HATCH_SPACING = 6;
export const MIN_HATCH_CELL = 4;

/** Paint the masked cells of an RGBA pixel buffer (one pixel per cell) in MASK_RGB. */
export function paintMask(pixels, mask) {
  for (let k = 0; k < mask.length; k++) {
    if (!mask[k]) continue;
    const o = k * 4;
    pixels[o] = MASK_RGB[0];
    pixels[o + 1] = MASK_RGB[1];
    pixels[o + 2] = MASK_RGB[2];
    pixels[o + 3] = 255;
  }
  return pixels;
}

/** Runs of masked cells per row: [[row, j0, j1), ...]. */
export function maskRuns(mask, rows, cols) {
  const runs = [];
  for (let i = 0; i < rows; i++) {
    let j = 0;
    while (j < cols) {
      if (!mask[i * cols + j]) {
        j++;
        continue;
      }
      const start = j;
      while (j < cols && mask[i * cols + j]) j++;
      runs.push([i, start, j]);
    }
  }
  return runs;
}

/** Diagonal hatch over the masked cells of a heatmap drawn with `cell` CSS px per cell. */
export function hatchMask(ctx, mask, rows, cols, cell, theme = {}) {
  if (cell < MIN_HATCH_CELL) return;
  const rects = maskRuns(mask, rows, cols).map(([i, j0, j1]) => [j0 * cell, i * cell, (j1 - j0) * cell, cell]);
  hatchRects(ctx, rects, cols * cell, rows * cell, theme);
}

/** Diagonal hatch over `rects` ([x, y, w, h] in px) of a plot of width x height px. */
export function hatchRects(ctx, rects, width, height, theme = {}) {
  if (!rects.length) return;
  ctx.save();
  ctx.beginPath();
  for (const [x, y, w, hh] of rects) ctx.rect(x, y, w, hh);
  ctx.clip();
  ctx.strokeStyle = theme.background || "#ffffff";
  ctx.globalAlpha = 0.7;
  ctx.lineWidth = 1;
  ctx.beginPath();
  for (let d = -height; d < width; d += HATCH_SPACING) {
    ctx.moveTo(d, height);
    ctx.lineTo(d + height, 0);
  }
  ctx.stroke();
  ctx.restore();
}
