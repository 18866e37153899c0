// Explain view: rollout / attention flow / norm-weighted attention as an [N, N] heatmap (rows =
// positions at the top / queries, columns = input tokens / keys) and gradient relevancy as one heat
// row over the tokens; the head-summary panel (summary.js) below. Python computes the arrays
// (albert_widget/explain.py) on request: {type: "explain", revision, method, layer, head, reduce}.
// Token text goes through textContent only (labels.js).

import "./explain.css";
import { clearChildren, h, sameArray } from "../dom.js";
import { clearCanvas, sizeCanvas } from "../draw/canvas.js";
import { colourise, VIRIDIS_STOPS, viridisLut } from "../draw/colour.js";
import { numbering } from "../numbering.js";
import { EXPLAIN_METHODS, explainKey, explainRequest, explainScope, parseExplainReply, range, rangeNumbers } from "./explain-math.js";
import { tokenElement, tokenInfos } from "./labels.js";
import { cellSize, labelStep } from "./matrix.js";
import { createSummaryPanel } from "./summary.js";

const MAX_REPLIES = 48;
const LABEL_BOX_PX = 14;

/**
 * @returns {{ el, update(props): {state, text?}, handleMessage(msg, buffers): boolean, destroy() }}
 * props: { tokens, special, segments, layer, head, numLayers, numHeads, revision, info, theme }
 */
export function createExplainView({ doc = document, onDraw = () => {}, model = null, send = () => {}, requestDraw = () => {} } = {}) {
  const method = h(doc, "select", { cls: "aw-explain-method", attrs: { "aria-label": "Explanation method" } });
  for (const [value, label] of EXPLAIN_METHODS) method.appendChild(h(doc, "option", { text: label, attrs: { value } }));
  const note = h(doc, "div", { cls: "aw-explain-note" });
  const error = h(doc, "div", { cls: "aw-explain-error", attrs: { role: "alert" } });
  error.hidden = true;
  const corner = h(doc, "div", { cls: "aw-explain-corner" });
  const cols = h(doc, "div", { cls: "aw-explain-cols", attrs: { "aria-label": "input tokens" } });
  const rows = h(doc, "div", { cls: "aw-explain-rows", attrs: { "aria-label": "positions" } });
  const canvas = h(doc, "canvas", { cls: "aw-explain-canvas" });
  const grid = h(doc, "div", { cls: "aw-explain-grid" }, [corner, cols, rows, h(doc, "div", { cls: "aw-explain-plot" }, [canvas])]);
  const barMin = h(doc, "span", { cls: "aw-colourbar-min" });
  const barMax = h(doc, "span", { cls: "aw-colourbar-max" });
  const colourbar = h(doc, "div", { cls: "aw-colourbar" }, [
    barMin,
    h(doc, "span", { cls: "aw-colourbar-ramp", style: { background: `linear-gradient(to right, ${VIRIDIS_STOPS.join(", ")})` } }),
    barMax,
  ]);
  const figureEl = h(doc, "div", { cls: "aw-explain-figure" }, [grid, colourbar]);
  const summary = createSummaryPanel({ doc, model, send, requestDraw });
  const el = h(doc, "div", { cls: "aw-view-explain" }, [
    h(doc, "div", { cls: "aw-explain-bar" }, [h(doc, "span", { cls: "aw-field-label", text: "Explain" }), method, note]),
    error,
    figureEl,
    summary.el,
  ]);
  el.hidden = true;
  const offscreen = doc.createElement("canvas");

  const replies = new Map(); // key -> parsed reply (insertion order = LRU)
  let labelsKey = null;
  let drawnKey = null;
  let shown = null; // what the figure shows now (figure(): the SVG / PNG download)
  let labelInfos = null; // the labels built last, for fitMargins
  let fitted = "";

  const onMethod = () => {
    if (!model) return;
    model.set("explain_method", method.value);
    model.save_changes();
    requestDraw();
  };
  method.addEventListener("change", onMethod);

  function buildLabels(tokens, special, segments, asRow) {
    const key = JSON.stringify([tokens, special, segments, asRow]);
    if (key === labelsKey) return;
    labelsKey = key;
    clearChildren(rows);
    clearChildren(cols);
    const infos = tokenInfos(tokens, special, segments);
    const n = infos.length;
    const cell = asRow ? Math.max(cellSize(n), 18) : cellSize(n);
    const step = labelStep(cell);
    const box = Math.max(cell, LABEL_BOX_PX);
    const shift = (cell - box) / 2;
    el.style.setProperty("--aw-cell", `${cell}px`);
    el.style.setProperty("--aw-label-box", `${box}px`);
    el.style.setProperty("--aw-label-font", `${Math.min(12, Math.max(9, cell - 2))}px`);
    el.style.setProperty("--aw-plot-w", `${n * cell}px`);
    el.style.setProperty("--aw-plot-h", `${(asRow ? 1 : n) * cell}px`);
    labelInfos = { infos, asRow, font: Math.min(12, Math.max(9, cell - 2)) };
    infos.forEach((info, j) => {
      const t = tokenElement(doc, info, j, "aw-explain-col");
      t.style.left = `${j * cell + shift}px`;
      if (j % step !== 0) t.classList.add("aw-label-skip");
      cols.appendChild(t);
    });
    if (asRow) {
      const t = h(doc, "div", { cls: "aw-explain-rowname", text: "relevance" });
      t.style.top = "0px";
      rows.appendChild(t);
    } else {
      infos.forEach((info, i) => {
        const t = tokenElement(doc, info, i, "aw-explain-row");
        t.style.top = `${i * cell + shift}px`;
        if (i % step !== 0) t.classList.add("aw-label-skip");
        rows.appendChild(t);
      });
    }
    el.dataset.cell = String(cell);
  }

  /**
   * The label margins fit the longest label (no "[CL", "unbelievab…"), measured in the labels' own
   * font once the view is on the page (before, the computed font is not the stylesheet's).
   */
  function fitMargins() {
    if (!labelInfos || !el.isConnected) return;
    let family = "monospace";
    try {
      family = globalThis.getComputedStyle(cols.firstChild || cols).fontFamily || family;
    } catch {
      family = "monospace";
    }
    const key = `${labelsKey}|${family}`;
    if (key === fitted) return;
    fitted = key;
    const { infos, asRow, font } = labelInfos;
    const longest = labelWidth(infos, font, family);
    el.dataset.labelWidth = longest.toFixed(1);
    const rowsW = asRow ? labelWidth([{ text: "relevance" }], font, family) : longest;
    el.style.setProperty("--aw-explain-label-w", `${Math.ceil(Math.max(90, rowsW + 12))}px`);
    el.style.setProperty("--aw-explain-label-h", `${Math.ceil(Math.max(60, longest + 12))}px`);
  }

  /** Widest label text in CSS px at `font` px of `family` (italic specials, "·" before a continuation). */
  function labelWidth(infos, font, family) {
    let ctx = null;
    try {
      ctx = doc.createElement("canvas").getContext("2d");
    } catch {
      ctx = null;
    }
    let widest = 0;
    for (const info of infos) {
      const text = (info.continuation ? "·" : "") + String(info.text ?? "");
      let w = text.length * font * 0.62; // without a canvas: a monospace estimate
      if (ctx) {
        ctx.font = `${info.special ? "italic " : ""}${font}px ${family}`;
        w = ctx.measureText(text).width;
      }
      widest = Math.max(widest, w);
    }
    return widest;
  }

  function paint(reply, n) {
    const asRow = reply.row;
    const nr = asRow ? 1 : n;
    const cell = Number(el.dataset.cell) || cellSize(n);
    const { ctx } = sizeCanvas(canvas, n * cell, nr * cell);
    clearCanvas(ctx);
    const [lo0, hi] = range(reply.data);
    const lo = Math.min(0, lo0);
    offscreen.width = n;
    offscreen.height = nr;
    const octx = offscreen.getContext("2d");
    const image = octx.createImageData(n, nr);
    colourise(reply.data, lo, hi > lo ? hi : lo + 1, viridisLut(), image.data);
    octx.putImageData(image, 0, 0);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(offscreen, 0, 0, n * cell, nr * cell);
    [barMin.textContent, barMax.textContent] = rangeNumbers(lo, hi);
    el.dataset.lo = String(lo);
    el.dataset.hi = String(hi);
    let sum = 0;
    for (const v of reply.data) sum += v;
    el.dataset.sum = sum.toPrecision(8);
    el.dataset.shape = reply.shape.join("x");
    el.dataset.values = reply.row ? JSON.stringify(Array.from(reply.data, (v) => Number(v.toPrecision(6)))) : "";
  }

  function update(props) {
    const { tokens, special = [], segments = [], layer, head, revision } = props;
    const chosen = model ? String(model.get("explain_method") || "rollout") : "rollout";
    const reduce = model ? String(model.get("head_reduce") || "none") : "none";
    if (method.value !== chosen) method.value = chosen;
    summary.update({ revision, layer, head, info: props.info });
    const key = explainKey(revision, chosen, layer, head, reduce);
    const reply = replies.get(key);
    el.dataset.method = chosen;
    el.dataset.layer = String(layer);
    el.dataset.head = String(head);
    if (!reply) {
      shown = null;
      send(explainRequest(revision, chosen, layer, head, reduce)); // asked again: waits for the same request
      el.dataset.state = "loading";
      return { state: "loading", text: `Computing ${chosen}…` };
    }
    if (reply.error) {
      shown = null;
      error.textContent = reply.error;
      error.hidden = false;
      figureEl.hidden = true;
      note.textContent = "";
      el.dataset.state = "error";
      el.dataset.sum = "";
      el.dataset.shape = "";
    } else {
      error.hidden = true;
      error.textContent = "";
      figureEl.hidden = false;
      const names = numbering(props.info);
      const scope = explainScope(chosen, layer, head, reduce, names);
      note.textContent = `${reply.note} · ${scope}`;
      corner.textContent = reply.row ? "" : chosen === "norm" ? "query ↓  key →" : "top position ↓  input token →";
      buildLabels(tokens, special, segments, reply.row);
      if (drawnKey !== key || !sameArray(tokens, el._awTokens || [])) paint(reply, tokens.length);
      el._awTokens = tokens.slice();
      el.dataset.state = "ready";
      el.dataset.scope = scope;
      shown = {
        method: chosen,
        scope,
        note: reply.note,
        corner: corner.textContent,
        data: reply.data,
        shape: reply.shape,
        lo: Number(el.dataset.lo),
        hi: Number(el.dataset.hi),
        infos: tokenInfos(tokens, special, segments),
        cell: Number(el.dataset.cell),
        names,
        fileTag: perHeadTag(chosen, scope),
      };
    }
    drawnKey = key;
    el.hidden = false;
    fitMargins();
    onDraw();
    return { state: "ready" };
  }

  function handleMessage(msg, buffers) {
    if (!msg) return false;
    if (msg.type === "head_stats") return summary.handleMessage(msg, buffers);
    if (msg.type !== "explain") return false;
    let parsed;
    try {
      parsed = parseExplainReply(msg, buffers);
    } catch (err) {
      parsed = { key: explainKey(msg.revision, msg.method, msg.layer, msg.head, msg.reduce), error: String(err && err.message ? err.message : err) };
    }
    replies.delete(parsed.key);
    replies.set(parsed.key, parsed);
    while (replies.size > MAX_REPLIES) replies.delete(replies.keys().next().value);
    drawnKey = null;
    requestDraw();
    return true;
  }

  function destroy() {
    method.removeEventListener("change", onMethod);
    summary.destroy();
    replies.clear();
  }

  /** What the SVG / PNG download draws (draw/svg-views.js explainViewSvg), or null before a map is shown. */
  function figure() {
    if (!shown || el.hidden) return null;
    return { ...shown, stats: summary.figure() };
  }

  return { el, update, handleMessage, destroy, figure };
}

/** File-name part of an explain figure: the method, and its layer and head when it has one. */
function perHeadTag(method, scope) {
  return scope === "all layers and heads" ? method : `${method}-${scope.replace(/[^a-z0-9]+/gi, "-")}`;
}
