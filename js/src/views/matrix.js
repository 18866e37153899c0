// Matrix view: the [N, N] attention of the focused head (or the mean/max over heads) as a heatmap.
// Rows are queries (labels on the left), columns are keys (rotated labels on top).

import { clearChildren, h } from "../dom.js";
import { clearCanvas, sizeCanvas } from "../draw/canvas.js";
import { colourise, VIRIDIS_STOPS, viridisLut } from "../draw/colour.js";
import { colouriseScaled, colourScale, formatScaleValue, resolveScale, scaleLegend } from "../draw/colour-scale.js";
import { seriesMatrix, valueRange } from "../reduce.js";
import {
  cellAtPoint,
  cellEdge,
  cellIndex,
  clampViewport,
  colToX,
  fullViewport,
  labelsOnAxis,
  maxZoom,
  panBy,
  rowToY,
  tileKey,
  tileLevel,
  tilesFor,
  visible,
  wheelFactor,
  zoomAt,
} from "../viewport.js";
import { labelTracker, markSegmentStart, segmentStart, tokenElement } from "./labels.js";
import { hatchMask, hatchRects, MASK_RGB, MIN_HATCH_CELL, paintMask } from "./mask.js";

export const TARGET_SIZE = 560;
export const MIN_LABEL_PX = 10;
export const LABEL_BOX_PX = 14;

/** Cell size (CSS px) for n tokens. */
export function cellSize(n) {
  if (n <= 0) return 24;
  return Math.max(2, Math.min(28, Math.floor(TARGET_SIZE / n)));
}

/** The title's note when only every step-th token is labelled ("" when every token is). */
export function labelNote(step) {
  return step > 1 ? ` · labels: every ${step}${ordinalSuffix(step)} token` : "";
}

/** "st", "nd", "rd" or "th" for a positive integer. */
export function ordinalSuffix(k) {
  const mod100 = k % 100;
  if (mod100 >= 11 && mod100 <= 13) return "th";
  return { 1: "st", 2: "nd", 3: "rd" }[k % 10] || "th";
}

/** Show every step-th label so that labels never overlap. */
export function labelStep(cell) {
  return Math.max(1, Math.ceil(MIN_LABEL_PX / cell));
}

/** The colour range of a matrix: [min(0, lowest), highest], never empty. */
export function colourRange(matrix) {
  const [lo, hi] = valueRange(matrix);
  const low = Math.min(0, lo);
  return [low, hi > low ? hi : low + 1];
}

/** "value" formatted for the tooltip: exact to 6 significant digits. */
export function formatValue(v) {
  if (!Number.isFinite(v)) return String(v);
  return v === 0 ? "0" : v.toPrecision(6);
}

/** Cell under a point at (x, y) CSS px in a plot of `size` px with n cells per side; null outside. */
export function cellAt(x, y, size, n, height = size, rows = n) {
  // height/rows: a rectangular plot (rows x n cells, size x height px); square by default.
  if (!(size > 0) || !(height > 0) || n <= 0 || rows <= 0 || x < 0 || y < 0 || x >= size || y >= height) return null;
  const i = Math.min(rows - 1, Math.floor((y / height) * rows));
  const j = Math.min(n - 1, Math.floor((x / size) * n));
  return { i, j };
}

/**
 * The heatmap's DOM skeleton, shared with the compare page's difference view: corner, rotated key
 * labels on top, query labels on the left, the canvas in its plot.
 */
export function matrixGrid(doc, canvasClass = "aw-matrix-canvas") {
  const corner = h(doc, "div", { cls: "aw-matrix-corner", text: "query ↓  key →" });
  const cols = h(doc, "div", { cls: "aw-matrix-cols", attrs: { "aria-label": "keys" } });
  const rows = h(doc, "div", { cls: "aw-matrix-rows", attrs: { "aria-label": "queries" } });
  const canvas = h(doc, "canvas", { cls: canvasClass });
  const plot = h(doc, "div", { cls: "aw-matrix-plot" }, [canvas]);
  const grid = h(doc, "div", { cls: "aw-matrix-grid" }, [corner, cols, rows, plot]);
  return { cols, rows, canvas, grid };
}

/**
 * Size a heatmap of n rows and nc columns: sets the CSS variables of `el` and returns the cell size,
 * the label step and the shift of a label box (at least LABEL_BOX_PX thick, centred on its cell, so
 * that text stays legible on small cells; only every step-th label is shown then, so boxes never overlap).
 */
export function sizeGrid(el, n, nc) {
  const cell = cellSize(Math.max(n, nc));
  const step = labelStep(cell);
  el.style.setProperty("--aw-cell", `${cell}px`);
  el.style.setProperty("--aw-plot", `${n * cell}px`);
  el.style.setProperty("--aw-plot-w", `${nc * cell}px`);
  el.style.setProperty("--aw-plot-h", `${n * cell}px`);
  const box = Math.max(cell, LABEL_BOX_PX);
  el.style.setProperty("--aw-label-box", `${box}px`);
  el.style.setProperty("--aw-label-font", `${Math.min(12, Math.max(9, cell - 2))}px`);
  return { cell, step, shift: (cell - box) / 2 };
}

/** Tiles up to this many levels coarser than the one shown are drawn under it while it arrives. */
const COARSER_LEVELS = 4;
const KEY_ZOOM = 1.5;

/**
 * @param {{ doc?: Document, onDraw?: () => void, onHover?: (cell: { i: number, j: number } | null) => void }} options
 * @returns {{ el: HTMLElement, update(props): void, destroy(): void }}
 * props: { tokens, special, segments, data, shape, series, theme, mask?, exactValue? } for data in the
 * page; a compact capture has no data in the page but props.tiled: { fetcher (tiles.js), layer, heads,
 * headReduce, causal, promptLength, reduce, colourScale }: the view asks for the tiles of the zoom level it
 * shows, coloured on a log scale unless colourScale (the colour_scale trait) is "linear".
 * Wheel zooms around the pointer, drag pans, "Reset zoom" (or the key 0) shows everything; + / - zoom.
 * onHover hears the cell under the pointer (or null); highlight(cell) shows one from outside.
 */
export function createMatrixView({ doc = document, onDraw = () => {}, onHover = () => {}, model = null } = {}) {
  const title = h(doc, "div", { cls: "aw-matrix-title" });
  const { cols, rows, canvas, grid } = matrixGrid(doc);
  canvas.tabIndex = 0;
  canvas.setAttribute("aria-label", "Attention matrix: wheel or + / − to zoom, drag to pan, 0 to reset");
  const reset = h(doc, "button", {
    cls: "aw-zoom-reset aw-button",
    text: "Reset zoom",
    attrs: { type: "button", title: "Show the whole matrix again (key 0)" },
  });
  const zoomNote = h(doc, "span", { cls: "aw-zoom-note" });
  const zoomBar = h(doc, "div", { cls: "aw-zoom-bar" }, [reset, zoomNote]);
  const barMin = h(doc, "span", { cls: "aw-colourbar-min" });
  const barMax = h(doc, "span", { cls: "aw-colourbar-max" });
  const bar = h(doc, "span", { cls: "aw-colourbar-ramp", style: { background: `linear-gradient(to right, ${VIRIDIS_STOPS.join(", ")})` } });
  // A compact capture's scale: a choice (it writes the colour_scale trait) and the words of the legend.
  const scaleSelect = h(doc, "select", { cls: "aw-colour-scale", attrs: { "aria-label": "Colour scale", title: "Colour scale of the matrix" } }, [
    h(doc, "option", { text: "log scale", attrs: { value: "log" } }),
    h(doc, "option", { text: "linear scale", attrs: { value: "linear" } }),
  ]);
  scaleSelect.hidden = true;
  const scaleNote = h(doc, "span", { cls: "aw-colourbar-scale" });
  const colourbar = h(doc, "div", { cls: "aw-colourbar" }, [scaleSelect, barMin, bar, barMax, scaleNote]);
  const tooltip = h(doc, "div", { cls: "aw-tooltip", attrs: { role: "tooltip" } });
  tooltip.hidden = true;
  const el = h(doc, "div", { cls: "aw-view-matrix" }, [title, zoomBar, grid, colourbar, tooltip]);
  const offscreen = doc.createElement("canvas");

  let props = null;
  let rowEls = [];
  let colEls = [];
  let infos = [];
  let matrix = null;
  let n = 0; // rows (queries)
  let nc = 0; // columns (keys): differs from n for cross attention and pair filters
  let colInfos = [];
  let mask = null; // Uint8Array rows x columns, 1 = masked by the causal mask
  const labels = labelTracker();
  let cell = 24; // CSS px of a token at zoom 1
  let width = 0; // plot CSS px
  let height = 0;
  let vp = fullViewport();
  let lo = 0;
  let hi = 1;
  let scale = colourScale("linear", 0, 1, 1); // a compact capture's colour scale (draw sets it)
  let coloured = false; // the offscreen image holds the colours of `matrix`
  let tiledSpecs = []; // tiles of the level on screen (compact)
  let level = 1;
  let hot = null;
  let drag = null;
  let labelStepShown = 1;

  const dims = () => ({ rows: n, cols: nc, width, height });
  const tiled = () => Boolean(props && props.tiled);

  function buildLabels() {
    const next = labels.next(props);
    if (!next) return false;
    clearChildren(rows);
    clearChildren(cols);
    infos = next.rows;
    colInfos = next.cols;
    n = infos.length;
    nc = colInfos.length;
    vp = fullViewport();
    if (tiled()) {
      // Up to 32,768 tokens: a plot of TARGET_SIZE px; labels are made for what is on screen only.
      cell = TARGET_SIZE / Math.max(n, nc, 1);
      width = nc * cell;
      height = n * cell;
      el.style.setProperty("--aw-plot", `${height}px`);
      el.style.setProperty("--aw-plot-w", `${width}px`);
      el.style.setProperty("--aw-plot-h", `${height}px`);
      rowEls = [];
      colEls = [];
    } else {
      const sized = sizeGrid(el, n, nc);
      cell = sized.cell;
      width = nc * cell;
      height = n * cell;
      rowEls = infos.map((info, i) => rows.appendChild(tokenElement(doc, info, i, "aw-row-label aw-query")));
      colEls = colInfos.map((info, j) => cols.appendChild(tokenElement(doc, info, j, "aw-col-label aw-key")));
      markSegmentStart(rowEls, infos);
      markSegmentStart(colEls, colInfos);
    }
    hideTooltip();
    return true;
  }

  /** Label positions for the viewport: every label that fits (every step-th token when they do not). */
  function placeLabels(v) {
    const zoomed = vp.zoom > 1 || tiled();
    el.classList.toggle("aw-zoomed", vp.zoom > 1); // labels beyond the plot are clipped once zoomed
    const px = Math.min(v.rowPx, v.colPx);
    const box = Math.max(px, LABEL_BOX_PX);
    const shift = (px - box) / 2;
    el.style.setProperty("--aw-label-box", `${box}px`);
    el.style.setProperty("--aw-label-font", `${Math.min(12, Math.max(9, px - 2))}px`);
    const promptLength = tiled() ? props.tiled.promptLength : -1;
    if (!tiled()) {
      const step = zoomed ? labelsOnAxis(v.r0, v.r1, n, px).step : labelStep(cell);
      labelStepShown = step;
      rowEls.forEach((t, i) => {
        t.style.top = `${(i - v.r0) * v.rowPx + shift}px`;
        t.classList.toggle("aw-label-skip", i % step !== 0 || i + 1 <= v.r0 || i >= v.r1);
      });
      colEls.forEach((t, j) => {
        t.style.left = `${(j - v.c0) * v.colPx + shift}px`;
        t.classList.toggle("aw-label-skip", j % step !== 0 || j + 1 <= v.c0 || j >= v.c1);
      });
      return;
    }
    // Compact: only the labels on screen exist.
    setHot(null);
    clearChildren(rows);
    clearChildren(cols);
    const onRows = labelsOnAxis(v.r0, v.r1, n, px);
    const onCols = labelsOnAxis(v.c0, v.c1, nc, px);
    labelStepShown = onRows.step;
    rowEls = [];
    colEls = [];
    for (const i of onRows.indices) {
      const t = tokenElement(doc, infos[i], i, `aw-row-label aw-query${i >= promptLength && promptLength >= 0 ? " aw-generated" : ""}`);
      t.style.top = `${(i - v.r0) * v.rowPx + shift}px`;
      rowEls[i] = rows.appendChild(t);
    }
    for (const j of onCols.indices) {
      const t = tokenElement(doc, colInfos[j], j, `aw-col-label aw-key${j >= promptLength && promptLength >= 0 ? " aw-generated" : ""}`);
      t.style.left = `${(j - v.c0) * v.colPx + shift}px`;
      colEls[j] = cols.appendChild(t);
    }
  }

  function drawDense(ctx, v) {
    if (!coloured) {
      offscreen.width = nc;
      offscreen.height = n;
      const octx = offscreen.getContext("2d");
      const image = octx.createImageData(nc, n);
      colourise(matrix, lo, hi, viridisLut(), image.data);
      if (mask) paintMask(image.data, mask, props.theme);
      octx.putImageData(image, 0, 0);
      coloured = true;
    }
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(offscreen, v.c0, v.r0, v.c1 - v.c0, v.r1 - v.r0, 0, 0, width, height);
    if (mask && v.colPx >= MIN_HATCH_CELL) {
      ctx.save();
      ctx.beginPath();
      ctx.rect(0, 0, width, height);
      ctx.clip();
      ctx.translate(-v.c0 * v.colPx, -v.r0 * v.rowPx);
      hatchMask(ctx, mask, n, nc, v.colPx, props.theme);
      ctx.restore();
    }
  }

  /** The colourised image of one tile (cells above the causal diagonal in the mask's grey). */
  function tileImage(spec, tile) {
    const key = `${scale.name}|${scale.lo}|${scale.hi}`;
    const hit = tile.images.get(key);
    if (hit) return hit;
    const image = doc.createElement("canvas");
    image.width = spec.out_cols;
    image.height = spec.out_rows;
    const ictx = image.getContext("2d");
    const pixels = ictx.createImageData(spec.out_cols, spec.out_rows);
    colouriseScaled(tile.data, scale, viridisLut(), pixels.data);
    if (props.tiled.causal) {
      for (let a = 0; a < spec.out_rows; a++) {
        const lastRow = cellEdge(spec.row0, spec.row1, spec.out_rows, a + 1) - 1;
        for (let b = spec.out_cols - 1; b >= 0; b--) {
          if (cellEdge(spec.col0, spec.col1, spec.out_cols, b) <= lastRow) break;
          const o = (a * spec.out_cols + b) * 4;
          pixels.data[o] = MASK_RGB[0];
          pixels.data[o + 1] = MASK_RGB[1];
          pixels.data[o + 2] = MASK_RGB[2];
          pixels.data[o + 3] = 255;
        }
      }
    }
    ictx.putImageData(pixels, 0, 0);
    tile.images.clear(); // one colour scale at a time
    tile.images.set(key, image);
    return image;
  }

  function tileParams(spec, t = props.tiled) {
    const params = {
      layer: t.layer,
      row0: spec.row0,
      row1: spec.row1,
      col0: spec.col0,
      col1: spec.col1,
      out_rows: spec.out_rows,
      out_cols: spec.out_cols,
      reduce: t.reduce,
    };
    if (t.heads.length === 1 && !t.headReduce) params.head = t.heads[0];
    else Object.assign(params, { heads: t.heads.slice(), head_reduce: t.headReduce || "mean" });
    return params;
  }

  const seriesKey = (t = props.tiled) => `${t.layer}|${t.heads.join(",")}|${t.headReduce || "none"}|${t.reduce}`;

  function drawTiles(ctx, v) {
    const t = props.tiled;
    const d = dims();
    const series = seriesKey();
    level = tileLevel(vp, d);
    const overview = tileLevel(fullViewport(), d);
    const options = { heads: t.heads.length, causal: t.causal };
    ctx.imageSmoothingEnabled = false;
    const place = (spec, image) => {
      const x = colToX(vp, d, spec.col0);
      const y = rowToY(vp, d, spec.row0);
      ctx.drawImage(image, x, y, (spec.col1 - spec.col0) * v.colPx, (spec.row1 - spec.row0) * v.rowPx);
    };
    tiledSpecs = tilesFor(vp, d, { ...options, level });
    const complete = tiledSpecs.every((spec) => spec.masked || t.fetcher.has(tileKey(spec, series)));
    // While tiles of this level are on their way, what is here of coarser levels is drawn under them
    // (a zoom step shows at once, then sharpens).
    for (let L = Math.min(overview, level * 2 ** COARSER_LEVELS); L > level && !complete; L /= 2) {
      for (const spec of tilesFor(vp, d, { ...options, level: L })) {
        const tile = spec.masked ? null : t.fetcher.get(tileKey(spec, series));
        if (tile) place(spec, tileImage(spec, tile));
      }
    }
    const missing = [];
    let failed = "";
    for (const spec of tiledSpecs) {
      const key = tileKey(spec, series);
      if (spec.masked) {
        ctx.fillStyle = `rgb(${MASK_RGB.join(",")})`;
        ctx.fillRect(colToX(vp, d, spec.col0), rowToY(vp, d, spec.row0), (spec.col1 - spec.col0) * v.colPx, (spec.row1 - spec.row0) * v.rowPx);
        continue;
      }
      const tile = t.fetcher.get(key);
      if (tile) place(spec, tileImage(spec, tile));
      else {
        missing.push({ key, params: tileParams(spec) });
        failed = failed || t.fetcher.failure(key) || "";
      }
    }
    t.fetcher.want(missing);
    // The view is complete: ask in the background for the same tiles of the next head or layer
    // (props.tiled.neighbours), so that a step there is drawn at once.
    const ahead = [];
    if (missing.length === 0) {
      for (const other of t.neighbours || []) {
        const s = { ...t, ...other };
        for (const spec of tilesFor(vp, d, { heads: s.heads.length, causal: t.causal, level })) {
          if (!spec.masked) ahead.push({ key: tileKey(spec, seriesKey(s)), params: tileParams(spec, s) });
        }
      }
    }
    t.fetcher.prefetch(ahead);
    el.dataset.tilesMissing = String(missing.length);
    el.dataset.tiles = String(tiledSpecs.length);
    el.dataset.level = String(level);
    el.dataset.tileError = failed;
    if (t.causal && level === 1 && v.colPx >= MIN_HATCH_CELL) {
      const rects = [];
      for (let i = Math.floor(v.r0); i < Math.min(n, Math.ceil(v.r1)); i++) {
        const x = colToX(vp, d, i + 1);
        if (x < width) rects.push([Math.max(0, x), rowToY(vp, d, i), width - Math.max(0, x), v.rowPx]);
      }
      hatchRects(ctx, rects, width, height, props.theme);
    }
  }

  /** The scale of a compact capture's colours: the largest weight of the heads shown, from any tile. */
  function tiledRange() {
    const t = props.tiled;
    const d = dims();
    for (const spec of tilesFor(fullViewport(), d, { heads: t.heads.length, causal: t.causal })) {
      const tile = spec.masked ? null : t.fetcher.get(tileKey(spec, seriesKey()));
      if (tile && Number.isFinite(tile.scaleMax) && tile.scaleMax > 0) return [0, tile.scaleMax];
    }
    for (const spec of tiledSpecs) {
      const tile = spec.masked ? null : t.fetcher.get(tileKey(spec, seriesKey()));
      if (tile && Number.isFinite(tile.scaleMax) && tile.scaleMax > 0) return [0, tile.scaleMax];
    }
    return [0, 1];
  }

  function drawLines(ctx, v) {
    const d = dims();
    ctx.save();
    ctx.beginPath();
    ctx.rect(0, 0, width, height);
    ctx.clip();
    // the line between sentence A and sentence B, on both axes
    const rowStart = segmentStart(infos);
    const colStart = segmentStart(colInfos);
    ctx.strokeStyle = props.theme && props.theme.background ? props.theme.background : "#ffffff";
    ctx.lineWidth = 2;
    ctx.beginPath();
    if (rowStart > 0) {
      ctx.moveTo(0, rowToY(vp, d, rowStart));
      ctx.lineTo(width, rowToY(vp, d, rowStart));
    }
    if (colStart > 0) {
      ctx.moveTo(colToX(vp, d, colStart), 0);
      ctx.lineTo(colToX(vp, d, colStart), height);
    }
    ctx.stroke();
    el.dataset.segStart = `${rowStart},${colStart}`;
    // where generation began (capture_generate): a dashed line on both axes
    const p = tiled() ? props.tiled.promptLength : -1;
    if (p > 0 && p < n) {
      ctx.strokeStyle = props.theme && props.theme.foreground ? props.theme.foreground : "#000000";
      ctx.setLineDash([4, 3]);
      ctx.lineWidth = 1.5;
      ctx.beginPath();
      ctx.moveTo(0, rowToY(vp, d, p));
      ctx.lineTo(width, rowToY(vp, d, p));
      ctx.moveTo(colToX(vp, d, p), 0);
      ctx.lineTo(colToX(vp, d, p), height);
      ctx.stroke();
    }
    el.dataset.promptLength = String(p);
    ctx.restore();
    void v;
  }

  function draw() {
    if (!props) return;
    vp = clampViewport(vp, dims());
    const v = visible(vp, dims());
    const { ctx } = sizeCanvas(canvas, width, height);
    clearCanvas(ctx);
    if (tiled()) {
      // Fixed per head and capture (the head's largest weight, or the log range): never what is on screen.
      [lo, hi] = tiledRange();
      scale = colourScale(resolveScale(props.tiled.colourScale, true), lo, hi, Math.max(n, nc));
    }
    if (n > 0 && nc > 0) {
      if (tiled()) drawTiles(ctx, v);
      else drawDense(ctx, v);
      drawLines(ctx, v);
    }
    placeLabels(v);
    const masked = tiled() ? props.tiled.causal : Boolean(mask);
    const lvl = tiled() && level > 1 ? ` · each cell: ${props.tiled.reduce} of ${level} × ${level} tokens` : "";
    const p = tiled() ? props.tiled.promptLength : n;
    const generated = p > 0 && p < n ? ` · generated tokens (italic) from ${p}, dashed line` : "";
    title.textContent = `${props.series.label} · rows: queries · columns: keys${masked ? " · hatched: masked (future) keys" : ""}${generated}${lvl}${labelNote(labelStepShown)}`;
    el.dataset.labelStep = String(labelStepShown);
    el.dataset.zoom = String(vp.zoom);
    el.dataset.r0 = String(vp.r0);
    el.dataset.c0 = String(vp.c0);
    el.dataset.maxZoom = String(maxZoom(dims()));
    const shownRows = `${Math.floor(v.r0)}–${Math.min(n, Math.ceil(v.r1)) - 1}`;
    const shownCols = `${Math.floor(v.c0)}–${Math.min(nc, Math.ceil(v.c1)) - 1}`;
    zoomNote.textContent = vp.zoom > 1 ? `zoom ×${vp.zoom.toPrecision(3)} · queries ${shownRows} · keys ${shownCols}` : "wheel: zoom · drag: pan";
    reset.disabled = vp.zoom <= 1;
    // A tile that failed (e.g. a kernel that is gone) is said once, beside the zoom controls.
    if (tiled() && el.dataset.tileError) zoomNote.textContent = `Could not load part of the matrix: ${el.dataset.tileError}`;
    zoomNote.classList.toggle("aw-error-text", Boolean(tiled() && el.dataset.tileError));
    if (!tiled()) el.dataset.masked = String(mask ? mask.reduce((a, b) => a + b, 0) : 0);
    if (tiled()) {
      barMin.textContent = formatScaleValue(scale.lo);
      barMax.textContent = formatScaleValue(scale.hi);
      scaleNote.textContent = scaleLegend(scale);
      scaleNote.title =
        scale.name === "log"
          ? `Colour: log10 of the weight from ${formatScaleValue(scale.lo)} to 1; smaller weights (and 0) take the lowest colour. Fixed for this capture: colours do not change while panning or zooming; hover shows the exact weight.`
          : "Colour: the weight from 0 to the largest weight of the heads shown (anywhere in the input); fixed while panning or zooming.";
      scaleSelect.value = scale.name;
      el.dataset.min = String(scale.lo);
      el.dataset.max = String(scale.hi);
      el.dataset.scale = scale.name;
    } else {
      barMin.textContent = formatRangeLabel(lo);
      barMax.textContent = formatRangeLabel(hi);
      scaleNote.textContent = "";
      el.dataset.min = String(lo);
      el.dataset.max = String(hi);
      el.dataset.scale = "linear";
    }
    scaleSelect.hidden = !tiled();
    onDraw();
  }

  function update(next) {
    props = next;
    const rebuilt = buildLabels();
    if (tiled()) {
      matrix = null;
      mask = null;
    } else {
      matrix = seriesMatrix(next.data, next.shape, next.series);
      mask = next.mask || null;
      [lo, hi] = colourRange(matrix);
      coloured = false;
    }
    void rebuilt;
    draw();
    if (hot) showCell(hot.i, hot.j, hot.x, hot.y);
  }

  function setHot(next) {
    if (hot) {
      rowEls[hot.i]?.classList.remove("aw-token-hover");
      colEls[hot.j]?.classList.remove("aw-token-hover");
    }
    hot = next;
    if (hot) {
      rowEls[hot.i]?.classList.add("aw-token-hover");
      colEls[hot.j]?.classList.add("aw-token-hover");
    }
  }

  /** A compact capture's value at token cell (i, j): from the tile on screen; null while it is on its way. */
  function tiledValue(i, j) {
    const t = props.tiled;
    for (const spec of tiledSpecs) {
      if (i < spec.row0 || i >= spec.row1 || j < spec.col0 || j >= spec.col1) continue;
      const a = cellIndex(spec.row0, spec.row1, spec.out_rows, i);
      const b = cellIndex(spec.col0, spec.col1, spec.out_cols, j);
      const rowsOf = [cellEdge(spec.row0, spec.row1, spec.out_rows, a), cellEdge(spec.row0, spec.row1, spec.out_rows, a + 1) - 1];
      const colsOf = [cellEdge(spec.col0, spec.col1, spec.out_cols, b), cellEdge(spec.col0, spec.col1, spec.out_cols, b + 1) - 1];
      if (spec.masked) return { value: 0, rowsOf, colsOf };
      const tile = t.fetcher.get(tileKey(spec, seriesKey()));
      return tile ? { value: tile.data[a * spec.out_cols + b], rowsOf, colsOf } : null;
    }
    return null;
  }

  function showCell(i, j, x, y) {
    if (!props || i >= n || j >= nc) return hideTooltip();
    setHot({ i, j, x, y });
    let text;
    let value;
    let exact;
    let masked;
    if (tiled()) {
      const got = tiledValue(i, j);
      const single = got && got.rowsOf[0] === got.rowsOf[1] && got.colsOf[0] === got.colsOf[1];
      masked = Boolean(props.tiled.causal && single && j > i);
      value = got ? got.value : undefined;
      exact = Boolean(single && got);
      if (!got) text = `${infos[i].text} → ${colInfos[j].text}: …`;
      else if (single) text = `${infos[i].text} → ${colInfos[j].text}: ${masked ? "masked (future token)" : formatValue(got.value)}`;
      else
        text = `queries ${got.rowsOf[0]}–${got.rowsOf[1]} → keys ${got.colsOf[0]}–${got.colsOf[1]}: ${props.tiled.reduce} ${formatValue(got.value)} (zoom in for single tokens)`;
      tooltip.dataset.cellRows = got ? got.rowsOf.join("-") : "";
      tooltip.dataset.cellCols = got ? got.colsOf.join("-") : "";
    } else {
      if (!matrix) return hideTooltip();
      const drawn = matrix[i * nc + j];
      // props.exactValue: the exact float32 number when the drawn data is float16 (undefined while it
      // is on its way from Python: the drawn value is shown as approximate until then).
      const ex = props.exactValue ? props.exactValue(i, j) : drawn;
      value = ex === undefined ? drawn : ex;
      exact = ex !== undefined;
      masked = Boolean(mask && mask[i * nc + j]);
      text = `${infos[i].text} → ${colInfos[j].text}: ${masked ? "masked (future token)" : `${exact ? "" : "≈ "}${formatValue(value)}`}`;
    }
    tooltip.textContent = text;
    tooltip.dataset.masked = masked ? "true" : "false";
    tooltip.dataset.exact = exact ? "true" : "false";
    tooltip.dataset.query = String(i);
    tooltip.dataset.key = String(j);
    tooltip.dataset.value = value === undefined ? "" : String(value);
    tooltip.hidden = false;
    tooltip.style.left = `${x + 14}px`;
    tooltip.style.top = `${y + 14}px`;
  }

  function hideTooltip() {
    setHot(null);
    tooltip.hidden = true;
  }

  /** Plot px of a pointer event (the canvas may be scaled by CSS). */
  function plotPoint(event) {
    const rect = canvas.getBoundingClientRect();
    return {
      x: ((event.clientX - rect.left) * width) / Math.max(rect.width, 1),
      y: ((event.clientY - rect.top) * height) / Math.max(rect.height, 1),
    };
  }

  function onMove(event) {
    if (drag) return;
    const { x, y } = plotPoint(event);
    const hit = props ? cellAtPoint(vp, dims(), x, y) : null;
    if (!hit) {
      hideTooltip();
      return onHover(null);
    }
    const host = el.getBoundingClientRect();
    showCell(hit.i, hit.j, event.clientX - host.left, event.clientY - host.top);
    onHover(hit);
  }

  function onLeave() {
    hideTooltip();
    onHover(null);
  }

  function setViewport(next) {
    const before = vp;
    vp = clampViewport(next, dims());
    if (before.zoom === vp.zoom && before.r0 === vp.r0 && before.c0 === vp.c0) return;
    hideTooltip();
    draw();
  }

  function onWheel(event) {
    if (!props || n === 0) return;
    event.preventDefault();
    const { x, y } = plotPoint(event);
    setViewport(zoomAt(vp, wheelFactor(event.deltaY), x, y, dims()));
  }

  const win = doc.defaultView || globalThis;
  function onDragMove(event) {
    if (!drag) return;
    const dx = ((event.clientX - drag.x) * width) / Math.max(drag.w, 1);
    const dy = ((event.clientY - drag.y) * height) / Math.max(drag.h, 1);
    setViewport(panBy(drag.vp, dx, dy, dims()));
  }
  function onDragEnd() {
    drag = null;
    el.classList.remove("aw-dragging");
    win.removeEventListener("mousemove", onDragMove);
    win.removeEventListener("mouseup", onDragEnd);
  }
  function onDown(event) {
    if (event.button !== 0 || !props || vp.zoom <= 1) return;
    event.preventDefault();
    const rect = canvas.getBoundingClientRect();
    drag = { x: event.clientX, y: event.clientY, vp, w: rect.width, h: rect.height };
    el.classList.add("aw-dragging");
    hideTooltip();
    win.addEventListener("mousemove", onDragMove);
    win.addEventListener("mouseup", onDragEnd);
  }

  function onKey(event) {
    if (!props || event.altKey || event.ctrlKey || event.metaKey) return;
    const centre = [width / 2, height / 2];
    let next = null;
    if (event.key === "+" || event.key === "=") next = zoomAt(vp, KEY_ZOOM, centre[0], centre[1], dims());
    else if (event.key === "-" || event.key === "_") next = zoomAt(vp, 1 / KEY_ZOOM, centre[0], centre[1], dims());
    else if (event.key === "0") next = fullViewport();
    if (!next) return;
    event.preventDefault();
    event.stopPropagation();
    setViewport(next);
  }

  const onReset = () => setViewport(fullViewport());

  /** Show cell { i, j } (its labels and tooltip) as if hovered, or nothing (null). */
  function highlight(target) {
    if (!target) return hideTooltip();
    const d = dims();
    const v = visible(vp, d);
    showCell(target.i, target.j, colToX(vp, d, target.j + 0.5) || (target.j + 0.5) * v.colPx, rowToY(vp, d, target.i + 0.5));
  }

  canvas.addEventListener("mousemove", onMove);
  canvas.addEventListener("mouseleave", onLeave);
  canvas.addEventListener("wheel", onWheel, { passive: false });
  canvas.addEventListener("mousedown", onDown);
  canvas.addEventListener("keydown", onKey);
  reset.addEventListener("click", onReset);
  const onScale = () => {
    if (!model) return;
    model.set("colour_scale", scaleSelect.value);
    model.save_changes();
  };
  scaleSelect.addEventListener("change", onScale);

  function destroy() {
    onDragEnd();
    canvas.removeEventListener("mousemove", onMove);
    canvas.removeEventListener("mouseleave", onLeave);
    canvas.removeEventListener("wheel", onWheel);
    canvas.removeEventListener("mousedown", onDown);
    canvas.removeEventListener("keydown", onKey);
    reset.removeEventListener("click", onReset);
    scaleSelect.removeEventListener("change", onScale);
    el.remove();
  }

  return {
    el,
    update,
    redraw: () => props && draw(),
    destroy,
    highlight,
    /** The viewport now ({ r0, c0, zoom }); setViewport moves it (tests, scripts). */
    viewport: () => ({ ...vp }),
    setViewport,
  };
}

function formatRangeLabel(v) {
  return v === 0 ? "0" : Number(v.toPrecision(3)).toString();
}
