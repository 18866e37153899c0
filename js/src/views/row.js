// Row view: one query token's attention over the whole context (layer, head or head reduction),
// as bars over every key. The row arrives exact (float32) from Python ({type: "row"}: dense rows or
// a compact capture's recomputed one); the plot is max-downsampled to its width, so a 32,768-token
// row stays readable, and the hover shows the exact weight of the heaviest key under the pointer.
// The heaviest keys are named above the plot (where they fit) and listed with their exact weights.
// The query: the slider or number box, a click on a bar or a listed key (follow attention back), or
// the token locked or hovered in the head view (index.js focusToken); kept in the row_query trait.

import "./long.css";
import { decode } from "../codec.js";
import { clearChildren, h, listenerSet } from "../dom.js";
import { clearCanvas, sizeCanvas } from "../draw/canvas.js";
import { headColour } from "../draw/colour.js";
import { clampIndex, matrixSeries } from "../reduce.js";
import { displayText } from "../tokens.js";
import { binAt, downsampleMax, keyX, layoutLabels, statText, topKeys } from "./long-math.js";

const PLOT_HEIGHT = 150;
const LABEL_LANES = 2;
const LANE_HEIGHT = 16;
const TOP_KEYS = 10;
const DEFAULT_WIDTH = 860;

/**
 * @param {{ doc?: Document, onDraw?: () => void, model?: any, send?: (content: any) => void, requestDraw?: () => void }} options
 * props: { tokens, layer, head, numLayers, numHeads, revision, theme, focusToken }
 */
export function createRowView({ doc = document, onDraw = () => {}, model = null, send = () => {}, requestDraw = () => {} } = {}) {
  const slider = h(doc, "input", { cls: "aw-row-query", attrs: { type: "range", min: 0, max: 0, step: 1, "aria-label": "Query token" } });
  const number = h(doc, "input", { cls: "aw-row-query-number", attrs: { type: "number", min: 0, step: 1, "aria-label": "Query token index" } });
  const queryText = h(doc, "span", { cls: "aw-row-query-token" });
  const bar = h(doc, "div", { cls: "aw-row-bar" }, [h(doc, "span", { cls: "aw-field-label", text: "Query" }), slider, number, queryText]);
  const caption = h(doc, "div", { cls: "aw-row-caption aw-long-caption" });
  const labels = h(doc, "div", { cls: "aw-row-labels", attrs: { "aria-hidden": "true" } });
  const canvas = h(doc, "canvas", { cls: "aw-row-canvas", attrs: { role: "img" } });
  const readout = h(doc, "div", { cls: "aw-row-readout", attrs: { "aria-live": "polite" } });
  const plot = h(doc, "div", { cls: "aw-row-plot" }, [labels, canvas]);
  const list = h(doc, "ol", { cls: "aw-row-top", attrs: { "aria-label": "Heaviest keys" } });
  const message = h(doc, "div", { cls: "aw-row-message" });
  const el = h(doc, "div", { cls: "aw-view-row" }, [
    bar,
    caption,
    plot,
    readout,
    h(doc, "div", { cls: "aw-row-top-title", text: "Heaviest keys (exact weights; click one to make it the query)" }),
    list,
    message,
  ]);
  el.hidden = true;

  let props = null;
  let revision = null;
  let adopted = null; // the focus token last taken from the head view
  /** @type {{ key: string, values: Float32Array, query: number } | null} */
  let row = null;
  let failure = "";
  let plotState = null; // { width, bins, max, arg, n }

  const queryOf = (n) => {
    const q = model ? Number(model.get("row_query")) : -1;
    return Number.isInteger(q) && q >= 0 && q < n ? q : n - 1;
  };

  function setQuery(i) {
    if (!model || !props) return;
    const n = props.tokens.length;
    const q = clampIndex(i, n);
    if (model.get("row_query") === q) return;
    model.set("row_query", q);
    model.save_changes();
    requestDraw();
  }

  function series() {
    const heads = model ? model.get("heads") || [] : [];
    const headReduce = model ? model.get("head_reduce") || "none" : "none";
    return matrixSeries({ head: props.head, heads, headReduce, numHeads: props.numHeads });
  }

  const keyOf = (layer, q, s) => JSON.stringify([layer, q, s.heads, s.reduced || "none"]);

  function update(next) {
    props = next;
    const { tokens, layer, revision: rev } = next;
    const n = tokens.length;
    if (rev !== revision) {
      revision = rev;
      row = null;
      failure = "";
    }
    if (Number.isInteger(next.focusToken) && next.focusToken !== adopted) {
      adopted = next.focusToken;
      if (model && model.get("row_query") !== next.focusToken) {
        model.set("row_query", next.focusToken);
        model.save_changes();
      }
    }
    const q = queryOf(n);
    const s = series();
    if (!s) return { state: "empty", text: "No heads to show." };
    const key = keyOf(layer, q, s);
    if (failure && failure.startsWith(key)) return { state: "unavailable", text: failure.slice(key.length + 1) };
    if (!row || row.key !== key) {
      send({ type: "row", revision, layer, row: q, heads: s.heads.slice(), reduce: s.reduced || "none" });
      if (!row) return { state: "loading", text: `Loading the attention of token ${q}…` };
      // meanwhile the previous row stays on screen, and says so
    }
    draw(q, s, row.key !== key);
    return { state: "ready" };
  }

  function draw(q, s, stale) {
    const { tokens, theme, layer } = props;
    const n = tokens.length;
    const values = row.values;
    slider.max = String(Math.max(0, n - 1));
    slider.value = String(q);
    number.max = String(Math.max(0, n - 1));
    if (doc.activeElement !== number) number.value = String(q);
    queryText.textContent = `“${displayText(tokens[q])}”`;

    const host = el.parentElement;
    const width = Math.max(200, (host && host.clientWidth ? host.clientWidth : DEFAULT_WIDTH) - 24);
    const dpr = globalThis.devicePixelRatio || 1;
    const bins = Math.min(values.length, Math.floor(width * dpr));
    const { max, arg } = downsampleMax(values, bins);
    plotState = { width, bins, max, arg, n: values.length };
    let hi = 0;
    for (let b = 0; b < bins; b++) hi = Math.max(hi, max[b]);
    const { ctx } = sizeCanvas(canvas, width, PLOT_HEIGHT);
    clearCanvas(ctx);
    const colour = s.reduced ? theme.foreground : headColour(s.heads[0], theme.background);
    // keys after the query, which a causal model cannot see: a faint band
    const qx = keyX(row.query, values.length, width, bins);
    if (props.info && props.info.is_causal) {
      ctx.fillStyle = theme.surfaceAlt;
      ctx.globalAlpha = 0.5;
      ctx.fillRect(qx, 0, width - qx, PLOT_HEIGHT);
      ctx.globalAlpha = 1;
    }
    ctx.fillStyle = colour;
    const bw = width / bins;
    for (let b = 0; b < bins; b++) {
      if (!(max[b] > 0)) continue;
      const hgt = Math.max(1, (max[b] / (hi || 1)) * (PLOT_HEIGHT - 2));
      ctx.fillRect(b * bw, PLOT_HEIGHT - hgt, Math.max(bw, 1 / dpr), hgt);
    }
    ctx.strokeStyle = theme.accent;
    ctx.lineWidth = 1;
    ctx.beginPath();
    ctx.moveTo(qx, 0);
    ctx.lineTo(qx, PLOT_HEIGHT);
    ctx.stroke();

    const top = topKeys(values, TOP_KEYS);
    // a tick over each named key, under its label
    ctx.fillStyle = theme.accent;
    for (const { index } of top) ctx.fillRect(keyX(index, values.length, width, bins) - 1, 0, 2, 6);
    // labels of the top keys above the plot, heaviest first, where they fit
    clearChildren(labels);
    labels.style.height = `${LABEL_LANES * LANE_HEIGHT}px`;
    const texts = top.map(({ index, value }) => `${displayText(tokens[index])} ${statText(value)}`);
    const placed = layoutLabels(
      top.map(({ index }, r) => ({ x: keyX(index, values.length, width, bins), width: Math.min(160, 7 * texts[r].length + 8) })),
      width,
      LABEL_LANES,
    );
    top.forEach(({ index, value }, r) => {
      const p = placed[r];
      if (!p) return;
      const label = h(doc, "span", { cls: "aw-row-label", text: texts[r], dataset: { key: index, value: String(value) } });
      label.style.left = `${p.left}px`;
      label.style.top = `${(LABEL_LANES - 1 - p.lane) * LANE_HEIGHT}px`;
      label.style.maxWidth = "160px";
      labels.appendChild(label);
    });
    clearChildren(list);
    for (const { index, value } of top) {
      list.appendChild(
        h(doc, "li", { cls: "aw-row-top-key", dataset: { key: index, value: String(value) }, attrs: { title: `make token ${index} the query` } }, [
          h(doc, "span", { cls: "aw-row-top-index", text: `#${index}` }),
          h(doc, "span", { cls: "aw-row-top-token", text: displayText(tokens[index]) }),
          h(doc, "span", { cls: "aw-row-top-value", text: statText(value) }),
        ]),
      );
    }
    const what = s.reduced ? `${s.reduced} of heads ${s.heads.join(", ")}` : `head ${s.heads[0]}`;
    const per = values.length / bins;
    caption.textContent = [
      stale
        ? `Loading token ${q}… (showing token ${row.query})`
        : `Layer ${layer}, ${what}: token ${q} attends to ${values.length.toLocaleString("en-US")} keys`,
      per > 1
        ? `each bar is the maximum of ${per < 10 ? per.toFixed(1) : Math.round(per)} keys; hover for the exact weight`
        : "one bar per key; hover for the exact weight",
      `bars scaled to the row's maximum ${statText(hi)}`,
    ].join(" · ");
    canvas.setAttribute("aria-label", `Attention of token ${q} over ${values.length} keys`);
    el.dataset.query = String(row.query); // the query whose row is drawn
    el.dataset.stale = stale ? "true" : "false";
    el.dataset.layer = String(layer);
    el.dataset.heads = s.heads.join(",");
    el.dataset.reduce = s.reduced || "none";
    el.dataset.bins = String(bins);
    el.dataset.keys = String(values.length);
    el.dataset.top = String(top.length);
    message.textContent = "";
    onDraw();
  }

  function handleMessage(msg, buffers) {
    if (!msg || msg.type !== "row") return false;
    if (msg.revision !== undefined && msg.revision !== revision) return true;
    const s = props ? series() : null;
    const key = JSON.stringify([msg.layer, msg.row, msg.heads, msg.reduce || "none"]);
    if (typeof msg.error === "string") {
      failure = `${key}|Could not get this row: ${msg.error}`;
      if (!s || keyOf(props.layer, queryOf(props.tokens.length), s) === key) row = null;
    } else {
      try {
        row = { key, values: decode({ dtype: msg.dtype, shape: msg.shape }, (buffers || [])[0]), query: Number(msg.row) };
        failure = "";
      } catch (err) {
        failure = `${key}|Could not read the row: ${err.message}`;
      }
    }
    requestDraw();
    return true;
  }

  function hovered(event) {
    if (!plotState) return null;
    const rect = canvas.getBoundingClientRect();
    const b = binAt(event.clientX - rect.left, rect.width, plotState.bins);
    if (b < 0 || plotState.arg[b] < 0) return null;
    const j = plotState.arg[b];
    return { key: j, value: row.values[j] };
  }

  function onMove(event) {
    const hit = hovered(event);
    if (!hit) return onLeave();
    const token = props.tokens[hit.key];
    readout.textContent = `key ${hit.key} “${displayText(token)}”: ${Number(hit.value.toPrecision(9))}${plotState.n > plotState.bins ? " (the heaviest key under the pointer)" : ""}`;
    readout.dataset.key = String(hit.key);
    readout.dataset.value = String(hit.value);
    canvas.title = "click: make this key the query";
  }

  function onLeave() {
    readout.textContent = "";
    delete readout.dataset.key;
    delete readout.dataset.value;
  }

  const events = listenerSet();
  events.on(canvas, "mousemove", onMove);
  events.on(canvas, "mouseleave", onLeave);
  events.on(canvas, "click", (event) => {
    const hit = hovered(event);
    if (hit) setQuery(hit.key);
  });
  events.on(slider, "input", () => setQuery(Number(slider.value)));
  events.on(number, "change", () => setQuery(Number(number.value)));
  events.on(list, "click", (event) => {
    const li = event.target && event.target.closest ? event.target.closest(".aw-row-top-key") : null;
    if (li) setQuery(Number(li.dataset.key));
  });

  function destroy() {
    events.clear();
    el.remove();
  }

  return { el, update, handleMessage, redraw: () => props && update(props), destroy, selfFed: true };
}
