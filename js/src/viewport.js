// @ts-check
// The matrix view's viewport, as pure functions: which part of the [rows, cols] token grid the plot
// shows (zoom around a point, pan by pixels, clamped to the grid), the token under a pixel, which
// labels fit, and which tiles of which downsampling level a compact capture's page asks the kernel
// for (albert_widget/tiles.py answers them). No DOM here: js/test/viewport.test.js runs it in node.

/**
 * @typedef {object} Viewport  the plot shows rows [r0, r0 + rows / zoom) and cols [c0, c0 + cols / zoom)
 * @property {number} r0  first row shown (a token index, may be fractional)
 * @property {number} c0  first column shown
 * @property {number} zoom  1 = the whole grid; at most maxZoom(...)
 */

/**
 * @typedef {object} Dims  the grid and the plot it is drawn into
 * @property {number} rows  tokens on the query axis
 * @property {number} cols  tokens on the key axis
 * @property {number} width  plot width (CSS px)
 * @property {number} height  plot height (CSS px)
 */

/** At full zoom a token gets at least this many CSS px: every label fits and hover is one cell. */
export const FULL_CELL_PX = 16;
/** Labels are never closer than this (CSS px); only every k-th token is labelled below it. */
export const MIN_LABEL_PX = 10;
/** Cells per side of one tile (the kernel's work per tile is bounded: tileFor shrinks it). */
export const TILE_CELLS = 256;
/** The most weights one tile may cost (albert_widget/tiles.py MAX_TILE_CELLS). */
export const MAX_TILE_CELLS = 2 ** 26;
/** One wheel notch (deltaY 100) zooms by this factor. */
export const WHEEL_STEP = 1.25;

/** The whole grid. @returns {Viewport} */
export const fullViewport = () => ({ r0: 0, c0: 0, zoom: 1 });

/** The largest zoom: a token gets FULL_CELL_PX on both axes (at least 1: never smaller than the grid). */
export function maxZoom(/** @type {Dims} */ dims) {
  return Math.max(1, (FULL_CELL_PX * dims.cols) / dims.width, (FULL_CELL_PX * dims.rows) / dims.height);
}

/** Keep the viewport inside the grid and its zoom within [1, maxZoom]. @param {Viewport} vp @param {Dims} dims */
export function clampViewport(vp, dims) {
  const zoom = Math.min(maxZoom(dims), Math.max(1, Number.isFinite(vp.zoom) ? vp.zoom : 1));
  const spanR = dims.rows / zoom;
  const spanC = dims.cols / zoom;
  const r0 = Math.min(dims.rows - spanR, Math.max(0, Number.isFinite(vp.r0) ? vp.r0 : 0));
  const c0 = Math.min(dims.cols - spanC, Math.max(0, Number.isFinite(vp.c0) ? vp.c0 : 0));
  return { r0, c0, zoom };
}

/** What the plot shows: rows [r0, r1), cols [c0, c1) (fractional) and the px of one token on each axis. */
export function visible(/** @type {Viewport} */ vp, /** @type {Dims} */ dims) {
  const spanR = dims.rows / vp.zoom;
  const spanC = dims.cols / vp.zoom;
  return { r0: vp.r0, r1: vp.r0 + spanR, c0: vp.c0, c1: vp.c0 + spanC, rowPx: dims.height / spanR, colPx: dims.width / spanC };
}

/**
 * Zoom by `factor` around the plot point (x, y) (CSS px): the token under it stays under it.
 * @param {Viewport} vp @param {number} factor @param {number} x @param {number} y @param {Dims} dims
 */
export function zoomAt(vp, factor, x, y, dims) {
  const before = visible(vp, dims);
  const row = before.r0 + y / before.rowPx;
  const col = before.c0 + x / before.colPx;
  const zoom = Math.min(maxZoom(dims), Math.max(1, vp.zoom * factor));
  const spanR = dims.rows / zoom;
  const spanC = dims.cols / zoom;
  return clampViewport({ zoom, r0: row - (y / dims.height) * spanR, c0: col - (x / dims.width) * spanC }, dims);
}

/** Move the grid with the pointer by (dx, dy) CSS px (dragging right shows columns further left). */
export function panBy(/** @type {Viewport} */ vp, /** @type {number} */ dx, /** @type {number} */ dy, /** @type {Dims} */ dims) {
  const v = visible(vp, dims);
  return clampViewport({ zoom: vp.zoom, r0: vp.r0 - dy / v.rowPx, c0: vp.c0 - dx / v.colPx }, dims);
}

/** The wheel's zoom factor for a deltaY (CSS px; one notch is about 100): up zooms in. */
export function wheelFactor(/** @type {number} */ deltaY) {
  return WHEEL_STEP ** -Math.max(-5, Math.min(5, deltaY / 100));
}

/** The token cell { i, j } under plot point (x, y), or null outside the plot. */
export function cellAtPoint(/** @type {Viewport} */ vp, /** @type {Dims} */ dims, /** @type {number} */ x, /** @type {number} */ y) {
  if (!(x >= 0 && y >= 0 && x < dims.width && y < dims.height)) return null;
  const v = visible(vp, dims);
  const i = Math.min(dims.rows - 1, Math.floor(v.r0 + y / v.rowPx));
  const j = Math.min(dims.cols - 1, Math.floor(v.c0 + x / v.colPx));
  return { i, j };
}

/** Plot px of a token edge: rows -> y, cols -> x. */
export function rowToY(/** @type {Viewport} */ vp, /** @type {Dims} */ dims, /** @type {number} */ row) {
  const v = visible(vp, dims);
  return (row - v.r0) * v.rowPx;
}
export function colToX(/** @type {Viewport} */ vp, /** @type {Dims} */ dims, /** @type {number} */ col) {
  const v = visible(vp, dims);
  return (col - v.c0) * v.colPx;
}

/**
 * The labels that fit on an axis showing tokens [start, end) at `cellPx` each: every step-th token
 * (step = 1 when a token is at least MIN_LABEL_PX), the multiples of step that are visible.
 * @param {number} start @param {number} end @param {number} count  tokens on the axis @param {number} cellPx
 */
export function labelsOnAxis(start, end, count, cellPx) {
  const step = labelStepFor(cellPx);
  const first = Math.ceil(Math.max(0, Math.floor(start)) / step) * step;
  const last = Math.min(count, Math.ceil(end));
  const indices = [];
  for (let i = first; i < last; i += step) indices.push(i);
  return { step, indices };
}

/** Every step-th label, step a power of 2 (labels stay on the same tokens while zooming). */
export function labelStepFor(/** @type {number} */ cellPx) {
  if (!(cellPx > 0)) return 1;
  let step = 1;
  while (step * cellPx < MIN_LABEL_PX) step *= 2;
  return step;
}

/** Tokens per tile cell at this view: the smallest power of 2 that keeps cells >= 1 CSS px (1 at full resolution). */
export function tileLevel(/** @type {Viewport} */ vp, /** @type {Dims} */ dims) {
  const v = visible(vp, dims);
  const perPx = Math.max(1 / v.rowPx, 1 / v.colPx);
  let s = 1;
  while (s < perPx) s *= 2;
  return s;
}

/** Token edge k of `out` cells over [start, stop) (twin of albert_widget/tiles.py cell_edges). */
export function cellEdge(/** @type {number} */ start, /** @type {number} */ stop, /** @type {number} */ out, /** @type {number} */ k) {
  return start + Math.floor((k * (stop - start)) / out);
}

/**
 * @typedef {object} TileSpec  one tile request's region and cells (albert_widget/tiles.py)
 * @property {number} row0 @property {number} row1 @property {number} col0 @property {number} col1
 * @property {number} out_rows @property {number} out_cols
 * @property {number} level  tokens per cell (the last tile of an axis may have fewer)
 * @property {boolean} masked  every key in it is after every query in it (causal): 0, not asked for
 */

/** Tokens per tile side at a level: TILE_CELLS cells, fewer when heads x side^2 would pass the kernel's limit. */
export function tileSide(/** @type {number} */ level, /** @type {number} */ heads = 1, limit = MAX_TILE_CELLS) {
  let cells = TILE_CELLS;
  while (cells > 1 && (cells * level) ** 2 * Math.max(1, heads) > limit) cells /= 2;
  return cells * level;
}

/**
 * The tiles that cover the viewport at its level, on a fixed grid (so panning reuses them and a step
 * back finds them cached), in order from the centre out.
 * @param {Viewport} vp @param {Dims} dims
 * @param {{ heads?: number, causal?: boolean, level?: number, limit?: number }} [options]
 * @returns {TileSpec[]}
 */
export function tilesFor(vp, dims, { heads = 1, causal = false, level = tileLevel(vp, dims), limit = MAX_TILE_CELLS } = {}) {
  const v = visible(vp, dims);
  const side = tileSide(level, heads, limit);
  const out = [];
  const ti0 = Math.floor(Math.max(0, v.r0) / side);
  const ti1 = Math.ceil(Math.min(dims.rows, v.r1) / side);
  const tj0 = Math.floor(Math.max(0, v.c0) / side);
  const tj1 = Math.ceil(Math.min(dims.cols, v.c1) / side);
  for (let ti = ti0; ti < ti1; ti++) {
    for (let tj = tj0; tj < tj1; tj++) {
      const row0 = ti * side;
      const col0 = tj * side;
      const row1 = Math.min(dims.rows, row0 + side);
      const col1 = Math.min(dims.cols, col0 + side);
      out.push({
        row0,
        row1,
        col0,
        col1,
        out_rows: Math.ceil((row1 - row0) / level),
        out_cols: Math.ceil((col1 - col0) / level),
        level,
        masked: causal && col0 >= row1,
      });
    }
  }
  const mr = (v.r0 + v.r1) / 2;
  const mc = (v.c0 + v.c1) / 2;
  const dist = (/** @type {TileSpec} */ t) => Math.abs((t.row0 + t.row1) / 2 - mr) + Math.abs((t.col0 + t.col1) / 2 - mc);
  return out.sort((a, b) => dist(a) - dist(b));
}

/** A key for a tile of a head (or heads) of a layer: the page's cache and its requests use it. */
export function tileKey(/** @type {TileSpec} */ t, /** @type {string} */ series) {
  return `${series}|${t.row0}:${t.row1}:${t.out_rows}|${t.col0}:${t.col1}:${t.out_cols}`;
}

/** The cell of `out` cells over [start, stop) that holds token i (cellEdge(k) <= i < cellEdge(k + 1)). */
export function cellIndex(/** @type {number} */ start, /** @type {number} */ stop, /** @type {number} */ out, /** @type {number} */ i) {
  return Math.floor(((i - start + 1) * out - 1) / (stop - start));
}
