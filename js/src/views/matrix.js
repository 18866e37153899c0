// Matrix view: the [N, N] attention of the focused head (or the mean/max over heads) as a heatmap.
// Rows are queries (labels on the left), columns are keys (rotated labels on top).

import { clearChildren, h } from "../dom.js";
import { clearCanvas, sizeCanvas } from "../draw/canvas.js";
import { colourise, VIRIDIS_STOPS, viridisLut } from "../draw/colour.js";
import { seriesMatrix, valueRange } from "../reduce.js";
import { labelTracker, markSegmentStart, segmentStart, tokenElement } from "./labels.js";
import { hatchMask, paintMask } from "./mask.js";

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

/**
 * @param {{ doc?: Document, onDraw?: () => void, onHover?: (cell: { i: number, j: number } | null) => void }} options
 * @returns {{ el: HTMLElement, update(props): void, destroy(): void }}
 * props: { tokens, special, segments, data, shape, series, theme }
 * onHover hears the cell under the pointer (or null); highlight(cell) shows one from outside.
 */
export function createMatrixView({ doc = document, onDraw = () => {}, onHover = () => {} } = {}) {
  const title = h(doc, "div", { cls: "aw-matrix-title" });
  const { cols, rows, canvas, grid } = matrixGrid(doc);
  const barMin = h(doc, "span", { cls: "aw-colourbar-min" });
  const barMax = h(doc, "span", { cls: "aw-colourbar-max" });
  const bar = h(doc, "span", { cls: "aw-colourbar-ramp", style: { background: `linear-gradient(to right, ${VIRIDIS_STOPS.join(", ")})` } });
  const colourbar = h(doc, "div", { cls: "aw-colourbar" }, [barMin, bar, barMax]);
  const tooltip = h(doc, "div", { cls: "aw-tooltip", attrs: { role: "tooltip" } });
  tooltip.hidden = true;
  const el = h(doc, "div", { cls: "aw-view-matrix" }, [title, grid, colourbar, tooltip]);
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
  let cell = 24;
  let hot = null;

  function buildLabels() {
    const next = labels.next(props);
    if (!next) return;
    clearChildren(rows);
    clearChildren(cols);
    infos = next.rows;
    colInfos = next.cols;
    n = infos.length;
    nc = colInfos.length;
    const sized = sizeGrid(el, n, nc);
    cell = sized.cell;
    const { step, shift } = sized;
    rowEls = infos.map((info, i) => {
      const t = tokenElement(doc, info, i, "aw-row-label aw-query");
      t.style.top = `${i * cell + shift}px`;
      if (i % step !== 0) t.classList.add("aw-label-skip");
      return rows.appendChild(t);
    });
    colEls = colInfos.map((info, j) => {
      const t = tokenElement(doc, info, j, "aw-col-label aw-key");
      t.style.left = `${j * cell + shift}px`;
      if (j % step !== 0) t.classList.add("aw-label-skip");
      return cols.appendChild(t);
    });
    markSegmentStart(rowEls, infos);
    markSegmentStart(colEls, colInfos);
    hideTooltip();
  }

  function draw() {
    const width = nc * cell;
    const height = n * cell;
    const { ctx } = sizeCanvas(canvas, width, height);
    clearCanvas(ctx);
    const [lo, hi] = colourRange(matrix);
    if (n > 0 && nc > 0) {
      offscreen.width = nc;
      offscreen.height = n;
      const octx = offscreen.getContext("2d");
      const image = octx.createImageData(nc, n);
      colourise(matrix, lo, hi, viridisLut(), image.data);
      if (mask) paintMask(image.data, mask, props.theme);
      octx.putImageData(image, 0, 0);
      ctx.imageSmoothingEnabled = false;
      ctx.drawImage(offscreen, 0, 0, width, height);
      if (mask) hatchMask(ctx, mask, n, nc, cell, props.theme);
      // the line between sentence A and sentence B, on both axes
      const rowStart = segmentStart(infos);
      const colStart = segmentStart(colInfos);
      ctx.strokeStyle = props.theme && props.theme.background ? props.theme.background : "#ffffff";
      ctx.lineWidth = 2;
      ctx.beginPath();
      if (rowStart > 0) {
        ctx.moveTo(0, rowStart * cell);
        ctx.lineTo(width, rowStart * cell);
      }
      if (colStart > 0) {
        ctx.moveTo(colStart * cell, 0);
        ctx.lineTo(colStart * cell, height);
      }
      ctx.stroke();
      el.dataset.segStart = `${rowStart},${colStart}`;
    }
    el.dataset.masked = String(mask ? mask.reduce((a, b) => a + b, 0) : 0);
    barMin.textContent = formatRangeLabel(lo);
    barMax.textContent = formatRangeLabel(hi);
    el.dataset.min = String(lo);
    el.dataset.max = String(hi);
    onDraw();
  }

  function update(next) {
    props = next;
    buildLabels();
    matrix = seriesMatrix(next.data, next.shape, next.series);
    mask = next.mask || null;
    const step = labelStep(cell);
    title.textContent = `${next.series.label} · rows: queries · columns: keys${mask ? " · hatched: masked (future) keys" : ""}${labelNote(step)}`;
    el.dataset.labelStep = String(step);
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

  function showCell(i, j, x, y) {
    if (!matrix || i >= n || j >= nc) return hideTooltip();
    setHot({ i, j, x, y });
    const drawn = matrix[i * nc + j];
    // props.exactValue: the exact float32 number when the drawn data is float16 (undefined while it
    // is on its way from Python: the drawn value is shown as approximate until then).
    const exact = props && props.exactValue ? props.exactValue(i, j) : drawn;
    const value = exact === undefined ? drawn : exact;
    const masked = Boolean(mask && mask[i * nc + j]);
    tooltip.textContent = `${infos[i].text} → ${colInfos[j].text}: ${masked ? "masked (future token)" : `${exact === undefined ? "≈ " : ""}${formatValue(value)}`}`;
    tooltip.dataset.masked = masked ? "true" : "false";
    tooltip.dataset.exact = exact === undefined ? "false" : "true";
    tooltip.dataset.query = String(i);
    tooltip.dataset.key = String(j);
    tooltip.dataset.value = String(value);
    tooltip.hidden = false;
    tooltip.style.left = `${x + 14}px`;
    tooltip.style.top = `${y + 14}px`;
  }

  function hideTooltip() {
    setHot(null);
    tooltip.hidden = true;
  }

  function onMove(event) {
    const rect = canvas.getBoundingClientRect();
    const hit = cellAt(event.clientX - rect.left, event.clientY - rect.top, rect.width, nc, rect.height, n);
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

  /** Show cell { i, j } (its labels and tooltip) as if hovered, or nothing (null). */
  function highlight(target) {
    if (!target) return hideTooltip();
    showCell(target.i, target.j, (target.j + 0.5) * cell, (target.i + 0.5) * cell);
  }

  canvas.addEventListener("mousemove", onMove);
  canvas.addEventListener("mouseleave", onLeave);

  function destroy() {
    canvas.removeEventListener("mousemove", onMove);
    canvas.removeEventListener("mouseleave", onLeave);
    el.remove();
  }

  return { el, update, redraw: () => props && draw(), destroy, highlight };
}

function formatRangeLabel(v) {
  return v === 0 ? "0" : Number(v.toPrecision(3)).toString();
}
