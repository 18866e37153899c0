// Head view of a compact capture (long inputs): it cannot draw N² lines, so it draws each query's
// top-k keys ({type: "topk"}: int32 key indices + float32 weights per head, computed exactly in
// Python), for a window of queries at a time. Left: the window's queries; right: the same tokens
// as keys, and above them the earlier keys those queries' top-k name (skipped tokens shown as a gap
// row). One line per (query, rank, head), its opacity the weight, in the head's colour. The window
// moves with its slider or the buttons; the caption says what is shown. Hovering a query shows only
// its lines and lists its keys with their weights; a click locks it and makes it the row view's query.

import "./long.css";
import { clearChildren, h, listenerSet } from "../dom.js";
import { clearCanvas, sizeCanvas } from "../draw/canvas.js";
import { headColour } from "../draw/colour.js";
import { headSeries } from "../reduce.js";
import { displayText } from "../tokens.js";
import { keyColumn, queryWindow, statText, topkLines } from "./long-math.js";

export const WINDOW = 48;
export const K_CHOICES = [1, 2, 4, 8, 16];
const ROW = 18;
const CANVAS_WIDTH = 220;

/**
 * @param {{ doc?: Document, onDraw?: () => void, model?: any, send?: (content: any) => void, requestDraw?: () => void }} options
 * props: { tokens, layer, head, numHeads, revision, theme }
 */
export function createTopkHeadView({ doc = document, onDraw = () => {}, model = null, send = () => {}, requestDraw = () => {} } = {}) {
  const slider = h(doc, "input", { cls: "aw-topk-window", attrs: { type: "range", min: 0, max: 0, step: 1, "aria-label": "First query shown" } });
  const prev = h(doc, "button", { cls: "aw-button aw-topk-prev", text: "‹", attrs: { type: "button", title: "earlier queries" } });
  const nextBtn = h(doc, "button", { cls: "aw-button aw-topk-next", text: "›", attrs: { type: "button", title: "later queries" } });
  const kSelect = h(doc, "select", { cls: "aw-topk-k", attrs: { "aria-label": "Keys per query" } });
  for (const k of K_CHOICES) kSelect.appendChild(h(doc, "option", { text: `top ${k}`, attrs: { value: k } }));
  kSelect.value = "4";
  const bar = h(doc, "div", { cls: "aw-topk-bar" }, [h(doc, "span", { cls: "aw-field-label", text: "Queries" }), prev, slider, nextBtn, kSelect]);
  const caption = h(doc, "div", { cls: "aw-topk-caption aw-long-caption", attrs: { role: "note" } });
  const legend = h(doc, "div", { cls: "aw-head-legend" });
  const left = h(doc, "div", { cls: "aw-topk-col aw-topk-left", attrs: { "aria-label": "queries" } });
  const right = h(doc, "div", { cls: "aw-topk-col aw-topk-right", attrs: { "aria-label": "keys" } });
  const canvas = h(doc, "canvas", { cls: "aw-topk-canvas", attrs: { "aria-hidden": "true" } });
  const readout = h(doc, "div", { cls: "aw-topk-readout", attrs: { "aria-live": "polite" } });
  const body = h(doc, "div", { cls: "aw-topk-body" }, [left, canvas, right]);
  const el = h(doc, "div", { cls: "aw-view-head aw-view-topk", dataset: { lines: 0 } }, [bar, caption, legend, readout, body]);
  el.hidden = true;

  let props = null;
  let revision = null;
  let start = null; // first query of the window (null: the last window)
  let data = null; // { key, index, weight, n, k, heads }
  let failure = "";
  let focus = -1; // hovered or locked query, -1 for none
  let locked = false; // a click locks the focus (and makes the query the row view's, row_query)
  let scrolledTo = ""; // the window the key column was last scrolled to

  const kOf = () => Number(kSelect.value) || 4;
  const seriesOf = () => {
    const heads = model ? model.get("heads") || [] : [];
    // a reduction over heads has no top-k of its own: the heads themselves are drawn
    return headSeries({ head: props.head, heads, headReduce: "none", numHeads: props.numHeads });
  };
  const keyOf = (layer, heads, k) => JSON.stringify([layer, heads, k]);

  function update(next) {
    props = next;
    if (next.revision !== revision) {
      revision = next.revision;
      data = null;
      failure = "";
      start = null;
      focus = -1;
    }
    const heads = seriesOf().map((s) => s.heads[0]);
    const k = kOf();
    const key = keyOf(next.layer, heads, k);
    if (failure && failure.startsWith(key)) return { state: "unavailable", text: failure.slice(key.length + 1) };
    if (!data || data.key !== key) {
      send({ type: "topk", revision, layer: next.layer, heads, k });
      if (!data) return { state: "loading", text: `Loading the top ${k} keys of every query…` };
    }
    draw();
    return { state: "ready" };
  }

  function draw() {
    const { tokens, theme, layer } = props;
    const n = tokens.length;
    const { index, weight, k, heads } = data;
    const win = queryWindow(start === null ? n : start, WINDOW, n);
    slider.max = String(Math.max(0, n - WINDOW));
    slider.value = String(win.start);
    const { rows, rowOf } = keyColumn(index, n, k, win.start, win.end);
    clearChildren(left);
    clearChildren(right);
    for (let i = win.start; i < win.end; i++) {
      left.appendChild(
        h(doc, "div", {
          cls: `aw-token aw-query${locked && focus === i ? " aw-token-focus aw-token-locked" : ""}`,
          text: displayText(tokens[i]),
          dataset: { index: i },
          attrs: { title: `${i}: ${JSON.stringify(String(tokens[i]))}` },
        }),
      );
    }
    for (const r of rows) {
      if ("gap" in r) right.appendChild(h(doc, "div", { cls: "aw-token aw-topk-gap", text: `… ${r.gap.toLocaleString("en-US")} tokens …` }));
      else
        right.appendChild(
          h(doc, "div", {
            cls: "aw-token aw-key",
            text: displayText(tokens[r.key]),
            dataset: { index: r.key },
            attrs: { title: `${r.key}: ${JSON.stringify(String(tokens[r.key]))}` },
          }),
        );
    }
    // queries sit level with their own key row
    const offset = rowOf.get(win.start) || 0;
    left.style.paddingTop = `${offset * ROW}px`;
    const height = Math.max(offset + (win.end - win.start), rows.length) * ROW;
    const { ctx, width } = sizeCanvas(canvas, CANVAS_WIDTH, height);
    clearCanvas(ctx);
    const lines = topkLines(index, weight, n, k, win.start, win.end);
    // Opacity: the weight relative to the heaviest line shown (long-context weights are small).
    let top = 0;
    for (const l of lines) top = Math.max(top, l.w);
    const colours = heads.map((hd) => headColour(hd, theme.background));
    ctx.lineCap = "round";
    let drawn = 0;
    for (const { s, i, j, w } of lines) {
      const r = rowOf.get(j);
      if (r === undefined) continue;
      const mine = focus < 0 || focus === i;
      ctx.globalAlpha = Math.max(0.06, Math.min(1, w / (top || 1))) * (mine ? 1 : 0.15);
      ctx.strokeStyle = colours[s];
      ctx.lineWidth = focus === i ? 2 : 1;
      ctx.beginPath();
      ctx.moveTo(2, (offset + i - win.start) * ROW + ROW / 2);
      ctx.lineTo(width - 2, r * ROW + ROW / 2);
      ctx.stroke();
      drawn += 1;
    }
    ctx.globalAlpha = 1;
    clearChildren(legend);
    heads.forEach((hd, s) => {
      const swatch = h(doc, "span", { cls: "aw-swatch", style: { "background-color": colours[s] } });
      legend.appendChild(h(doc, "span", { cls: "aw-legend-item" }, [swatch, h(doc, "span", { text: `head ${hd}` })]));
    });
    const outside = rows.filter((r) => "key" in r && (r.key < win.start || r.key >= win.end)).length;
    caption.textContent = [
      `Queries ${win.start.toLocaleString("en-US")}–${(win.end - 1).toLocaleString("en-US")} of ${n.toLocaleString("en-US")}`,
      `each with its top ${k} keys in layer ${layer} (exact weights; a long input's head view draws no more)`,
      `${drawn.toLocaleString("en-US")} lines, opacity = weight / the heaviest shown (${statText(top)})`,
      outside ? `${outside} earlier keys they name are listed above the window` : "",
      model && model.get("head_reduce") !== "none" ? "a mean or max over heads has no top-k keys of its own: each head is drawn" : "",
    ]
      .filter(Boolean)
      .join(" · ");
    // Bring the window's queries into the scroll box when the window moved (not on hover redraws).
    const at = `${revision}|${win.start}`;
    if (at !== scrolledTo) {
      scrolledTo = at;
      body.scrollTop = Math.max(0, (offset - 2) * ROW);
    }
    el.dataset.lines = String(drawn);
    el.dataset.k = String(k);
    el.dataset.windowStart = String(win.start);
    el.dataset.windowEnd = String(win.end);
    el.dataset.heads = heads.join(",");
    el.dataset.layer = String(layer);
    onDraw();
  }

  function handleMessage(msg, buffers) {
    if (!msg || msg.type !== "topk") return false;
    if (msg.revision !== undefined && msg.revision !== revision) return true;
    const key = keyOf(msg.layer, msg.heads, msg.k);
    if (typeof msg.error === "string") {
      failure = `${key}|Could not get the top keys: ${msg.error}`;
    } else {
      try {
        const shape = /** @type {number[]} */ (msg.shape);
        const [S, n, k] = shape;
        const [bi, bw] = buffers || [];
        if (!bi || !bw || bi.byteLength !== S * n * k * 4 || bw.byteLength !== S * n * k * 4) throw new Error(`expected two buffers of ${S * n * k} values`);
        const index = new Int32Array(bi.buffer.slice(bi.byteOffset, bi.byteOffset + bi.byteLength));
        const weight = new Float32Array(bw.buffer.slice(bw.byteOffset, bw.byteOffset + bw.byteLength));
        data = { key, index, weight, n, k, heads: msg.heads };
        failure = "";
      } catch (err) {
        failure = `${key}|Could not read the top keys: ${err.message}`;
      }
    }
    requestDraw();
    return true;
  }

  function move(to) {
    if (!props) return;
    start = Math.max(0, Math.min(props.tokens.length - WINDOW, to));
    focus = -1;
    locked = false;
    if (data) draw();
  }

  function onOver(event) {
    const t = event.target && event.target.closest ? event.target.closest(".aw-query") : null;
    if (!t || !data || locked) return;
    show(Number(t.dataset.index));
  }

  function show(i) {
    if (i === focus) return;
    focus = i;
    const { index, weight, n, k, heads } = data;
    const parts = [];
    heads.forEach((hd, s) => {
      for (let r = 0; r < k; r++) {
        const o = (s * n + i) * k + r;
        if (index[o] >= 0) parts.push(`${heads.length > 1 ? `h${hd} ` : ""}#${index[o]} “${displayText(props.tokens[index[o]])}” ${statText(weight[o])}`);
      }
    });
    readout.textContent = `query ${i} “${displayText(props.tokens[i])}” → ${parts.join(", ")}`;
    readout.dataset.query = String(i);
    draw();
  }

  function onClick(event) {
    const t = event.target && event.target.closest ? event.target.closest(".aw-query") : null;
    if (!t || !data) return;
    const i = Number(t.dataset.index);
    if (locked && focus === i) {
      locked = false;
      el.dataset.locked = "";
      draw();
      return;
    }
    locked = false;
    show(i);
    locked = true;
    el.dataset.locked = String(i);
    draw();
    if (model && model.get("row_query") !== i) {
      model.set("row_query", i);
      model.save_changes();
    }
  }

  function onLeave() {
    if (focus < 0 || locked) return;
    focus = -1;
    readout.textContent = "";
    delete readout.dataset.query;
    if (data) draw();
  }

  const events = listenerSet();
  events.on(slider, "input", () => move(Number(slider.value)));
  events.on(prev, "click", () => move(Number(slider.value) - WINDOW));
  events.on(nextBtn, "click", () => move(Number(slider.value) + WINDOW));
  events.on(kSelect, "change", () => requestDraw());
  events.on(left, "mouseover", onOver);
  events.on(left, "mouseleave", onLeave);
  events.on(left, "click", onClick);

  function destroy() {
    events.clear();
    el.remove();
  }

  return { el, update, handleMessage, redraw: () => props && update(props), destroy, selfFed: true, setWindow: move };
}
