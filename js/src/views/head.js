// bertviz-style head view: queries (left column) -> keys (right column), one line per weight,
// its opacity the weight; several heads overlaid in their palette colours.

import { clearChildren, h } from "../dom.js";
import { clearCanvas, sizeCanvas } from "../draw/canvas.js";
import { headColour } from "../draw/colour.js";
import { capNote, linePlan } from "../lineselect.js";
import { seriesMatrix } from "../reduce.js";
import { labelTracker, markSegmentStart, tokenElement } from "./labels.js";
import { bucketLines } from "./lines.js";

export const CANVAS_WIDTH = 180;

/** Row height (CSS px) for n tokens: 20, smaller for very long inputs so the canvas stays drawable. */
export function rowHeight(n) {
  if (n <= 0) return 20;
  return Math.max(6, Math.min(20, Math.floor(30000 / n)));
}

/** Colour of a series: its head's palette colour (for the theme's background), or the theme foreground for a reduction. */
export function seriesColour(series, theme) {
  return series.colourIndex >= 0 ? headColour(series.colourIndex, theme.background) : theme.foreground;
}

/** A CSS colour at the given opacity (0..1), for any CSS colour syntax. */
export function withAlpha(colour, alpha) {
  const pct = Math.round(Math.min(1, Math.max(0, alpha)) * 1000) / 10;
  return `color-mix(in srgb, ${colour} ${pct}%, transparent)`;
}

/**
 * @param {{ doc?: Document, onDraw?: () => void, onFocus?: (focus: object | null) => void }} options
 * @returns {{ el: HTMLElement, update(props): void, destroy(): void }}
 * props: { tokens, special, segments, data, shape, series, threshold, theme }
 * onFocus hears the user's hover and lock ({ side, index, locked } or null); setFocus(focus) sets
 * them from outside (another view kept in step) without calling onFocus.
 */
export function createHeadView({ doc = document, onDraw = () => {}, onFocus = () => {} } = {}) {
  const left = h(doc, "div", { cls: "aw-head-col aw-head-left", attrs: { "aria-label": "queries" } });
  const right = h(doc, "div", { cls: "aw-head-col aw-head-right", attrs: { "aria-label": "keys" } });
  const canvas = h(doc, "canvas", { cls: "aw-head-canvas", attrs: { "aria-hidden": "true" } });
  const legend = h(doc, "div", { cls: "aw-head-legend" });
  // Says so when only the strongest lines of each token are drawn (long inputs, lineselect.js).
  const note = h(doc, "div", { cls: "aw-head-note", attrs: { role: "note" }, style: { "font-size": "11px", opacity: "0.8", margin: "2px 0 4px" } });
  note.hidden = true;
  const body = h(doc, "div", { cls: "aw-head-body" }, [left, canvas, right]);
  const el = h(doc, "div", { cls: "aw-view-head", dataset: { lines: 0 } }, [legend, note, body]);

  let props = null;
  const labels = labelTracker();
  let leftEls = [];
  let rightEls = [];
  let hover = null; // { side, index }
  let locked = null; // { side, index }
  let matrices = []; // [{ series, colour, matrix }]

  const focus = () => locked || hover;

  function buildTokens() {
    const next = labels.next(props);
    if (!next) return;
    hover = null;
    locked = null;
    clearChildren(left);
    clearChildren(right);
    // rows = queries, columns = keys (they differ for cross attention and pair filters)
    const infos = next.rows;
    const colInfos = next.cols;
    const row = rowHeight(Math.max(infos.length, colInfos.length));
    el.style.setProperty("--aw-row", `${row}px`);
    leftEls = infos.map((info, i) => left.appendChild(tokenElement(doc, info, i, "aw-query")));
    rightEls = colInfos.map((info, i) => right.appendChild(tokenElement(doc, info, i, "aw-key")));
    for (const t of leftEls) t.dataset.side = "left";
    for (const t of rightEls) t.dataset.side = "right";
    el.dataset.segStart = String(markSegmentStart(leftEls, infos));
    markSegmentStart(rightEls, colInfos);
  }

  function buildLegend() {
    clearChildren(legend);
    for (const { series, colour } of matrices) {
      const swatch = h(doc, "span", { cls: "aw-swatch", style: { "background-color": colour } });
      legend.appendChild(h(doc, "span", { cls: "aw-legend-item" }, [swatch, h(doc, "span", { text: series.label })]));
    }
  }

  function markTokens() {
    const f = focus();
    for (const list of [leftEls, rightEls]) {
      for (const t of list) {
        t.classList.remove("aw-token-focus", "aw-token-locked");
        t.style.removeProperty("background-color");
      }
    }
    if (!f) return;
    const own = f.side === "left" ? leftEls : rightEls;
    const other = f.side === "left" ? rightEls : leftEls;
    const t = own[f.index];
    if (t) {
      t.classList.add("aw-token-focus");
      if (locked) t.classList.add("aw-token-locked");
    }
    // With a single series, shade the other column by the weights of the focused token.
    if (matrices.length === 1) {
      const { matrix, colour } = matrices[0];
      const cols = rightEls.length;
      const count = f.side === "left" ? cols : leftEls.length;
      for (let k = 0; k < count; k++) {
        const w = f.side === "left" ? matrix[f.index * cols + k] : matrix[k * cols + f.index];
        if (w > 0 && other[k]) other[k].style.setProperty("background-color", withAlpha(colour, w));
      }
    }
  }

  function draw() {
    if (!props) return;
    const n = leftEls.length;
    const cols = rightEls.length;
    const row = rowHeight(Math.max(n, cols));
    const { ctx, width } = sizeCanvas(canvas, CANVAS_WIDTH, Math.max(n, cols) * row);
    clearCanvas(ctx);
    const x0 = 2;
    const x1 = width - 2;
    const f = focus();
    ctx.lineWidth = f ? 2 : 1; // 1 px: Skia's hairline path, 8x faster to rasterise than 1.25 px (lineselect.js)
    ctx.lineCap = "round";
    let count = 0;
    const plan = linePlan(
      matrices.map((m) => m.matrix),
      n,
      cols,
      { threshold: props.threshold, focus: f, rowPx: row },
    );
    let s = 0;
    for (const { colour, matrix } of matrices) {
      const { count: c, buckets } = bucketLines(matrix, n, { threshold: props.threshold, focus: f, cols, cutoffs: plan.cutoffs[s++] });
      count += c;
      ctx.strokeStyle = colour;
      for (const { alpha, pairs } of buckets) {
        ctx.globalAlpha = alpha;
        ctx.beginPath();
        for (let p = 0; p < pairs.length; p += 2) {
          ctx.moveTo(x0, pairs[p] * row + row / 2);
          ctx.lineTo(x1, pairs[p + 1] * row + row / 2);
        }
        ctx.stroke();
      }
    }
    ctx.globalAlpha = 1;
    if (!f) {
      note.textContent = capNote(plan, count);
      note.hidden = !plan.capped;
      el.dataset.capped = String(plan.capped);
    }
    el.dataset.lines = String(count);
    el.classList.toggle("aw-has-focus", Boolean(f));
    markTokens();
    onDraw();
  }

  function update(next) {
    props = next;
    buildTokens();
    matrices = next.series.map((series) => ({
      series,
      colour: seriesColour(series, next.theme),
      matrix: seriesMatrix(next.data, next.shape, series),
    }));
    buildLegend();
    draw();
  }

  function tokenTarget(event) {
    const t = event.target && event.target.closest ? event.target.closest(".aw-token") : null;
    if (!t || !el.contains(t)) return null;
    return { side: t.dataset.side, index: Number(t.dataset.index) };
  }

  function onOver(event) {
    const t = tokenTarget(event);
    if (!t || locked) return;
    if (hover && hover.side === t.side && hover.index === t.index) return;
    hover = t;
    draw();
    onFocus(focusState());
  }

  function onLeave() {
    if (!hover) return;
    hover = null;
    if (!locked) draw();
    onFocus(focusState());
  }

  function onClick(event) {
    const t = tokenTarget(event);
    if (!t) return;
    if (locked && locked.side === t.side && locked.index === t.index) {
      locked = null;
      hover = t;
    } else {
      locked = t;
    }
    draw();
    onFocus(focusState());
  }

  function setFocus(f) {
    hover = f && !f.locked ? { side: f.side, index: f.index } : null;
    locked = f && f.locked ? { side: f.side, index: f.index } : null;
    if (props) draw();
  }

  for (const col of [left, right]) {
    col.addEventListener("mouseover", onOver);
    col.addEventListener("mouseleave", onLeave);
    col.addEventListener("click", onClick);
  }

  function destroy() {
    for (const col of [left, right]) {
      col.removeEventListener("mouseover", onOver);
      col.removeEventListener("mouseleave", onLeave);
      col.removeEventListener("click", onClick);
    }
    el.remove();
  }

  // focus(): the hovered or locked token ({ side, index, locked }) for the SVG export, or null.
  const focusState = () => (focus() ? { ...focus(), locked: Boolean(locked) } : null);
  return { el, update, redraw: draw, destroy, focus: focusState, setFocus };
}
