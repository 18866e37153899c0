// Neuron view: how one head turns vectors into weights, softmax(q·kᵀ/√d), for one query token.
// Python hooks the real model's attention modules and sends, for (layer, head, query i), the query
// vector q_i, every key vector k_j, the scores q_i·k_j/√d and the softmax row (the captured attention).
// Drawn left to right: key token | k_j cells (q_i above them) | q_i ⊙ k_j cells | score bar | weight bar.

import "./neuron.css";
import { clearChildren, h, listenerSet, sameArray } from "../dom.js";
import { clearCanvas, sizeCanvas } from "../draw/canvas.js";
import { numbering } from "../numbering.js";
import { tokenElement, tokenInfos } from "./labels.js";
import {
  DIVERGING_STOPS,
  defaultQuery,
  divergingCss,
  elementwise,
  formatNumber,
  maxAbs,
  neuronKey,
  parseNeuronReply,
  ROW_HEIGHT,
  scalingLabel,
  vectorBudget,
  vectorCell,
} from "./neuron-math.js";

const MAX_REPLIES = 64;
const SCORE_WIDTH = 90;
const WEIGHT_WIDTH = 110;
const POSITIVE = "#d6604d";
const NEGATIVE = "#4393c3";

/**
 * @param {{ doc?: Document, onDraw?: () => void, send?: (content) => void, requestDraw?: () => void }} options
 * @returns {{ el, update(props): {state, text?}, handleMessage(msg, buffers): boolean, destroy() }}
 * props: { tokens, special, segments, layer, head, revision, info, theme }
 */
export function createNeuronView({ doc = document, onDraw = () => {}, send = () => {}, requestDraw = () => {}, model = null } = {}) {
  const title = h(doc, "div", { cls: "aw-neuron-title" });
  const formula = h(doc, "div", { cls: "aw-neuron-formula" });
  const strip = h(doc, "div", { cls: "aw-neuron-queries", attrs: { role: "group", "aria-label": "Query token" } });
  const stripWrap = h(doc, "div", { cls: "aw-neuron-strip" }, [h(doc, "span", { cls: "aw-field-label", text: "Query token:" }), strip]);

  const qCanvas = h(doc, "canvas", { cls: "aw-neuron-q-canvas" });
  const kCanvas = h(doc, "canvas", { cls: "aw-neuron-k-canvas" });
  const pCanvas = h(doc, "canvas", { cls: "aw-neuron-p-canvas" });
  const sCanvas = h(doc, "canvas", { cls: "aw-neuron-s-canvas" });
  const wCanvas = h(doc, "canvas", { cls: "aw-neuron-w-canvas" });
  const keys = h(doc, "div", { cls: "aw-neuron-keys", attrs: { "aria-label": "keys" } });
  const scoreNums = h(doc, "div", { cls: "aw-neuron-nums aw-neuron-scores" });
  const weightNums = h(doc, "div", { cls: "aw-neuron-nums aw-neuron-weights" });
  const qLabel = h(doc, "div", { cls: "aw-neuron-qlabel" });
  const kHead = h(doc, "div", { cls: "aw-neuron-head aw-neuron-head-vec" });
  const pHead = h(doc, "div", { cls: "aw-neuron-head aw-neuron-head-vec", text: "q ⊙ kⱼ (element-wise)" });
  const sHead = h(doc, "div", { cls: "aw-neuron-head" });
  const wHead = h(doc, "div", { cls: "aw-neuron-head", text: "softmax = attention" });
  const pNote = h(doc, "div", { cls: "aw-neuron-note", text: "sum of a row → score" });
  const sNote = h(doc, "div", { cls: "aw-neuron-note" });
  const wNote = h(doc, "div", { cls: "aw-neuron-note", text: "eˢ / Σ eˢ, sums to 1" });
  const body = h(doc, "div", { cls: "aw-neuron-body" }, [
    h(doc, "div", { cls: "aw-neuron-head aw-neuron-head-keys", text: "key j" }),
    kHead,
    pHead,
    sHead,
    wHead,
    qLabel,
    h(doc, "div", { cls: "aw-neuron-qcell" }, [qCanvas]),
    pNote,
    sNote,
    wNote,
    keys,
    kCanvas,
    pCanvas,
    h(doc, "div", { cls: "aw-neuron-bars" }, [sCanvas, scoreNums]),
    h(doc, "div", { cls: "aw-neuron-bars" }, [wCanvas, weightNums]),
  ]);
  const legendVec = h(doc, "span", { cls: "aw-neuron-legend-text" });
  const legendProd = h(doc, "span", { cls: "aw-neuron-legend-text" });
  const ramp = () => h(doc, "span", { cls: "aw-neuron-ramp", style: { background: `linear-gradient(to right, ${DIVERGING_STOPS.join(", ")})` } });
  const legend = h(doc, "div", { cls: "aw-neuron-legend" }, [
    h(doc, "span", { cls: "aw-neuron-legend-item" }, [h(doc, "span", { text: "q, k:" }), ramp(), legendVec]),
    h(doc, "span", { cls: "aw-neuron-legend-item" }, [h(doc, "span", { text: "q ⊙ k:" }), ramp(), legendProd]),
  ]);
  const el = h(doc, "div", { cls: "aw-view-neuron" }, [title, formula, stripWrap, body, legend]);
  el.hidden = true; // shown by the host once it has drawn

  let chosen = null; // query picked by a click (kept across heads and layers; the neuron_query trait)
  let adopted = null; // the head view's locked/hovered token last taken as the query
  let revision = null;
  let tokensShown = null;
  let specialShown = null;
  let stripEls = [];
  let keyEls = [];
  let infos = [];
  let props = null;
  let current = null; // the reply drawn
  let product = null;
  let cw = 1; // vector cell width of the last draw
  let shownFigure = null; // what figure() gives the SVG / PNG download
  const replies = new Map(); // neuronKey -> parsed reply (insertion order = LRU order)

  function request(rev, layer, head, query) {
    send({ type: "neuron", revision: rev, layer, head, query });
  }

  function remember(key, reply) {
    replies.delete(key);
    replies.set(key, reply);
    while (replies.size > MAX_REPLIES) replies.delete(replies.keys().next().value);
  }

  function buildTokens(tokens, special, segments) {
    if (sameArray(tokens, tokensShown) && sameArray(special, specialShown)) return;
    tokensShown = tokens.slice();
    specialShown = special.slice();
    infos = tokenInfos(tokens, special, segments);
    clearChildren(strip);
    clearChildren(keys);
    clearChildren(scoreNums);
    clearChildren(weightNums);
    stripEls = infos.map((info, i) => {
      const t = tokenElement(doc, info, i, "aw-neuron-qtok");
      t.setAttribute("role", "button");
      t.setAttribute("tabindex", "0");
      return strip.appendChild(t);
    });
    keyEls = infos.map((info, j) => keys.appendChild(tokenElement(doc, info, j, "aw-neuron-key")));
    for (let j = 0; j < infos.length; j++) {
      scoreNums.appendChild(h(doc, "div", { cls: "aw-neuron-score", dataset: { key: j } }));
      weightNums.appendChild(h(doc, "div", { cls: "aw-neuron-weight", dataset: { key: j } }));
    }
  }

  function drawCells(ctx, values, rows, d, cw, m) {
    const gap = cw >= 6 ? 1 : 0;
    for (let j = 0; j < rows; j++) {
      for (let c = 0; c < d; c++) {
        ctx.fillStyle = divergingCss(values[j * d + c], m);
        ctx.fillRect(c * cw, j * ROW_HEIGHT + 1, cw - gap, ROW_HEIGHT - 2);
      }
    }
  }

  function draw(r, theme) {
    const { n, d, q, keys: K, scores, softmax: weights, masked } = r;
    const maskedSet = new Set(masked);
    const host = el.parentElement;
    cw = vectorCell(d, vectorBudget(host ? host.clientWidth : 0));
    const vw = cw * d;
    const bodyH = n * ROW_HEIGHT;
    el.style.setProperty("--aw-neuron-vw", `${vw}px`);
    el.style.setProperty("--aw-neuron-row", `${ROW_HEIGHT}px`);
    el.style.setProperty("--aw-neuron-sw", `${SCORE_WIDTH}px`);
    el.style.setProperty("--aw-neuron-ww", `${WEIGHT_WIDTH}px`);

    product = elementwise(q, K, n, d);
    const mv = maxAbs(q, K);
    const mp = maxAbs(product);

    let { ctx } = sizeCanvas(qCanvas, vw, ROW_HEIGHT);
    clearCanvas(ctx);
    drawCells(ctx, q, 1, d, cw, mv);

    ({ ctx } = sizeCanvas(kCanvas, vw, bodyH));
    clearCanvas(ctx);
    drawCells(ctx, K, n, d, cw, mv);

    ({ ctx } = sizeCanvas(pCanvas, vw, bodyH));
    clearCanvas(ctx);
    drawCells(ctx, product, n, d, cw, mp);

    // Scores: bars from a zero line, symmetric scale over the unmasked keys.
    const visible = Array.from(scores).filter((_, j) => !maskedSet.has(j));
    const ms = maxAbs(visible) || 1;
    const mid = SCORE_WIDTH / 2;
    ({ ctx } = sizeCanvas(sCanvas, SCORE_WIDTH, bodyH));
    clearCanvas(ctx);
    ctx.fillStyle = theme.border;
    ctx.fillRect(mid - 0.5, 0, 1, bodyH);
    for (let j = 0; j < n; j++) {
      if (maskedSet.has(j)) continue;
      const w = (scores[j] / ms) * (mid - 2);
      ctx.fillStyle = scores[j] >= 0 ? POSITIVE : NEGATIVE;
      ctx.fillRect(w >= 0 ? mid : mid + w, j * ROW_HEIGHT + 3, Math.abs(w), ROW_HEIGHT - 6);
    }

    // Weights: bars on an absolute 0..1 scale (a row sums to 1).
    ({ ctx } = sizeCanvas(wCanvas, WEIGHT_WIDTH, bodyH));
    clearCanvas(ctx);
    ctx.fillStyle = theme.surfaceAlt;
    for (let j = 0; j < n; j++) ctx.fillRect(0, j * ROW_HEIGHT + 3, WEIGHT_WIDTH, ROW_HEIGHT - 6);
    ctx.fillStyle = theme.accent;
    for (let j = 0; j < n; j++) ctx.fillRect(0, j * ROW_HEIGHT + 3, Math.max(0, weights[j]) * WEIGHT_WIDTH, ROW_HEIGHT - 6);

    let top = 0;
    for (let j = 1; j < n; j++) if (weights[j] > weights[top]) top = j;
    for (let j = 0; j < n; j++) {
      const s = scoreNums.children[j];
      const w = weightNums.children[j];
      s.textContent = maskedSet.has(j) ? "masked" : formatNumber(scores[j]);
      s.dataset.value = String(scores[j]);
      w.textContent = weights[j].toFixed(4);
      w.dataset.value = String(weights[j]);
      w.classList.toggle("aw-neuron-top", j === top);
      keyEls[j].classList.toggle("aw-neuron-masked", maskedSet.has(j));
      keyEls[j].classList.toggle("aw-neuron-top", j === top);
    }

    const label = scalingLabel(r.scaling, d);
    kHead.textContent = `kⱼ: key vectors (d = ${d})`;
    sHead.textContent = `score q·kⱼ ${label}`;
    sNote.textContent = label === "/ √d" ? `√d = ${formatNumber(Math.sqrt(d))}` : "scaled dot product";
    legendVec.textContent = `−${formatNumber(mv)} … 0 … +${formatNumber(mv)}`;
    legendProd.textContent = `−${formatNumber(mp)} … 0 … +${formatNumber(mp)}`;
    el.dataset.softmax = JSON.stringify(Array.from(weights));
  }

  function update(next) {
    props = next;
    const { tokens = [], special = [], segments = [], layer, head, theme } = next;
    const names = numbering(next.info);
    if (next.revision !== revision) {
      revision = next.revision;
      replies.clear();
    }
    const unavailable = next.info && Array.isArray(next.info.unavailable_views) ? next.info.unavailable_views : [];
    if (unavailable.includes("neuron")) {
      // A static page (HTML export) has no model to hook: say so instead of waiting for a reply.
      return {
        state: "unavailable",
        text: "neuron view needs a model whose attention modules can be hooked: this page holds only the attention, not the model",
      };
    }
    const n = tokens.length;
    const trait = model ? model.get("neuron_query") : null;
    chosen = Number.isInteger(trait) && trait >= 0 && trait < n ? trait : chosen;
    // Open on the token the user locked or hovered in the head view (index.js focusToken).
    if (Number.isInteger(next.focusToken) && next.focusToken !== adopted) {
      adopted = next.focusToken;
      setChosen(next.focusToken);
    }
    const query = defaultQuery(chosen, n, special);
    const key = neuronKey(revision, layer, head, query);
    const r = replies.get(key);
    if (!r) {
      request(revision, layer, head, query);
      return { state: "loading", text: `Loading the query and key vectors of layer ${names.layer(layer)}, head ${names.head(head)}…` };
    }
    remember(key, r);
    if (r.error) return { state: "unavailable", text: r.error };
    if (r.n !== n) return { state: "mismatch", text: `The neuron data has ${r.n} tokens, the widget ${n}.` };

    buildTokens(tokens, special, segments);
    current = r;
    draw(r, theme);
    stripEls.forEach((t, i) => {
      t.classList.toggle("aw-neuron-is-query", i === query);
      t.setAttribute("aria-pressed", i === query ? "true" : "false");
    });
    keyEls.forEach((t, j) => {
      t.classList.toggle("aw-neuron-is-query", j === query);
    });
    const qText = infos[query] ? infos[query].text : "";
    title.textContent = `Layer ${names.layer(layer)} · head ${names.head(head)} · query token ${query} “${qText}”: how its attention row is made`;
    formula.textContent =
      `attention(${query} → j) = softmax over j of ( q${sub(query)} · kⱼ ${scalingLabel(r.scaling, r.d)} ): ` +
      "multiply q with each key element by element, add the products up, scale, then softmax.";
    qLabel.textContent = `q${sub(query)}`;
    qLabel.title = `query vector of token ${query} “${qText}”`;
    el.dataset.layer = String(layer);
    el.dataset.head = String(head);
    el.dataset.query = String(query);
    shownFigure = { reply: r, infos, query, layer, head, names, theme, fileTag: `layer${names.layer(layer)}-head${names.head(head)}-query${query}` };
    el.dataset.n = String(n);
    el.dataset.d = String(r.d);
    onDraw();
    return { state: "ready" };
  }

  function handleMessage(msg, buffers) {
    if (!msg || msg.type !== "neuron") return false;
    if (msg.revision !== revision) return true;
    const key = neuronKey(msg.revision, msg.layer, msg.head, msg.query);
    let parsed;
    try {
      parsed = parseNeuronReply(msg, buffers);
    } catch (err) {
      parsed = { error: `Could not read the neuron data: ${err.message}` };
    }
    remember(key, parsed);
    requestDraw();
    return true;
  }

  function pick(event) {
    const t = event.target.closest ? event.target.closest(".aw-token") : null;
    if (!t || !el.contains(t)) return;
    const i = Number(t.dataset.index);
    if (!Number.isInteger(i) || i === chosen) return;
    setChosen(i);
    requestDraw();
  }
  /** The query token: kept here and in the neuron_query trait (what w.save() draws). */
  function setChosen(i) {
    chosen = i;
    if (model && model.get("neuron_query") !== i) {
      model.set("neuron_query", i);
      model.save_changes();
    }
  }
  function onKey(event) {
    if (event.key !== "Enter" && event.key !== " ") return;
    if (!event.target.classList || !event.target.classList.contains("aw-neuron-qtok")) return;
    event.preventDefault();
    pick(event);
  }
  function onHover(event) {
    if (!current) return;
    const canvas = event.target;
    const rect = canvas.getBoundingClientRect();
    const d = current.d;
    const c = Math.floor((event.clientX - rect.left) / cw);
    const j = Math.floor((event.clientY - rect.top) / ROW_HEIGHT);
    if (c < 0 || c >= d || j < 0 || j >= current.n) return;
    const isProduct = canvas === pCanvas;
    const v = isProduct ? product[j * d + c] : current.keys[j * d + c];
    canvas.title = isProduct
      ? `q[${c}] × k${sub(j)}[${c}] = ${formatNumber(current.q[c])} × ${formatNumber(current.keys[j * d + c])} = ${formatNumber(v)}`
      : `k${sub(j)}[${c}] = ${formatNumber(v)}`;
  }

  const events = listenerSet();
  events.on(strip, "click", pick);
  events.on(strip, "keydown", onKey);
  events.on(keys, "click", pick);
  events.on(kCanvas, "mousemove", onHover);
  events.on(pCanvas, "mousemove", onHover);

  function destroy() {
    events.clear();
    el.remove();
  }

  /** What the SVG / PNG download draws (draw/svg-views.js neuronViewSvg), or null. */
  function figure() {
    return el.hidden ? null : shownFigure;
  }

  return { el, figure, update, handleMessage, redraw: () => props && update(props), destroy, selfFed: true };
}

const SUBSCRIPTS = "₀₁₂₃₄₅₆₇₈₉";
/** i as subscript digits (q₁₂). */
function sub(i) {
  return String(i)
    .split("")
    .map((c) => SUBSCRIPTS[Number(c)] ?? c)
    .join("");
}
