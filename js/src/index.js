// anywidget entry point: wires the model to the controls, the data store and the views.

import "./styles.css";
import { h } from "./dom.js";
import { createStore } from "./store.js";
import { createControls, setTrait } from "./controls.js";
import { createHeadView } from "./views/head.js";
import { createMatrixView } from "./views/matrix.js";
import { createModelView } from "./views/model.js";
import { createNeuronView } from "./views/neuron.js";
import { createExplainView } from "./views/explain.js";
import { themeColours } from "./draw/colour.js";
import { headSeries, matrixSeries, clampIndex } from "./reduce.js";
import { keyAction, isFormTarget } from "./keys.js";
import { headsOnScreen } from "./prefetch.js";
import { createExporter } from "./export.js";
import { createExplorer } from "./explore.js";
import { createExploreControls } from "./explore-controls.js";

// Traits whose change only needs the controls and the views brought up to date.
const TRAITS = [
  "tokens", "segments", "special", "num_layers", "num_heads", "layer", "head", "heads",
  "head_reduce", "view", "threshold", "info", "notice",
  // explorer: pair filter, words, layer reduction, token controls, encoder-decoder kinds
  "pair_filter", "word_level", "layer_reduce", "hide_special", "token_search", "attention_kind", "kinds",
  "decoder_tokens", "decoder_special", "prettify_tokens", "display_mode", "explain_method",
];
// Traits whose change ends a pending "Run".
const RUN_DONE = ["text", "text_pair", "error"];

const BUSY_TIMEOUT_MS = 20000;
const LOADING_RETRY_MS = 16000;
const FRAME_FALLBACK_MS = 100;

const VIEW_FACTORIES = { head: createHeadView, matrix: createMatrixView, model: createModelView, neuron: createNeuronView, explain: createExplainView };
// Views that ask Python for their own data (thumbnails, neuron vectors) instead of the layer store.
const SELF_FED = new Set(["model", "neuron", "explain"]);
// Where a click on a model-view thumbnail goes: the detail view used last.
const DETAIL_VIEWS = new Set(["head", "matrix", "neuron"]);

/**
 * One pending draw at a time: on the next animation frame, or after FRAME_FALLBACK_MS when frames
 * are throttled (hidden tab, offscreen iframe), whichever comes first.
 */
function frameScheduler() {
  const g = globalThis;
  const raf = typeof g.requestAnimationFrame === "function" ? g.requestAnimationFrame.bind(g) : null;
  const caf = typeof g.cancelAnimationFrame === "function" ? g.cancelAnimationFrame.bind(g) : null;
  return {
    request(cb) {
      const handle = { frame: 0, timer: 0 };
      const run = () => {
        if (handle.frame && caf) caf(handle.frame);
        clearTimeout(handle.timer);
        handle.frame = 0;
        handle.timer = 0;
        cb();
      };
      if (raf) handle.frame = raf(run);
      handle.timer = setTimeout(run, raf ? FRAME_FALLBACK_MS : 0);
      return handle;
    },
    cancel(handle) {
      if (!handle) return;
      if (handle.frame && caf) caf(handle.frame);
      clearTimeout(handle.timer);
    },
  };
}

function render({ model, el }) {
  const doc = el.ownerDocument || document;
  const frames = frameScheduler();
  const root = h(doc, "div", {
    cls: "aw-root",
    attrs: { tabindex: "0", "data-lm-suppress-shortcuts": "true", "aria-label": "Attention explorer" },
    dataset: { drawn: 0, lines: 0 },
  });
  const status = h(doc, "div", { cls: "aw-status", attrs: { role: "status" } });
  const viewArea = h(doc, "div", { cls: "aw-view-area" });

  let disposed = false;
  let frame = null;
  let retryTimer = 0;
  let busyTimer = 0;
  let drawn = 0;
  let drawnAttrs = null;
  let lastDetail = DETAIL_VIEWS.has(String(model.get("view"))) ? String(model.get("view")) : "head";
  const views = {};
  const modelListeners = [];
  const domListeners = [];

  const listen = (event, fn) => {
    model.on(event, fn);
    modelListeners.push([event, fn]);
  };
  const listenDom = (target, type, fn, options) => {
    target.addEventListener(type, fn, options);
    domListeners.push([target, type, fn, options]);
  };

  function schedule() {
    if (disposed || frame) return;
    frame = frames.request(() => {
      frame = null;
      draw();
    });
  }

  function setBusy(busy) {
    clearTimeout(busyTimer);
    busyTimer = 0;
    root.classList.toggle("aw-busy", busy);
    root.setAttribute("aria-busy", busy ? "true" : "false");
    controls.setBusy(busy);
    if (busy) busyTimer = setTimeout(() => setBusy(false), BUSY_TIMEOUT_MS);
  }

  const store = createStore({
    send: (content) => model.send(content),
    revision: model.get("revision"),
    // Redraw only when what arrived is the layer on screen and it is not drawn yet (prefetched
    // neighbours and replies to another view's request cost nothing).
    onData: (layers) => {
      const layer = clampIndex(model.get("layer"), Math.max(0, model.get("num_layers") | 0));
      if (!layers.includes(layer) && !explorer.wantsEveryLayer()) return;
      const shown = root.dataset.state === "ready" && drawnAttrs && drawnAttrs.layer === layer && drawnAttrs.revision === model.get("revision");
      if (!shown) schedule();
    },
    onError: (message) => {
      controls.setMessageError(message);
      setBusy(false);
      schedule();
    },
    onRow: () => schedule(), // an exact row for the matrix tooltip
  });

  const controls = createControls({
    model,
    doc,
    onRun: (message) => {
      setBusy(true);
      model.send(message);
    },
    onSave: (kind) => saveView(kind),
  });

  const explorer = createExplorer({
    model,
    store,
    schedule,
    onError: (message) => {
      controls.setMessageError(message);
      schedule();
    },
  });
  const exploreControls = createExploreControls({ model, doc, root });

  root.append(controls.el, exploreControls.el, status, viewArea);
  el.appendChild(root);

  // SVG / PNG export of the view on screen (toolbar buttons; root.awExportSvg() for tests and
  // scripts). Only the head and matrix views have a vector writer.
  const EXPORTABLE = new Set(["head", "matrix"]);
  const drawnProps = {};
  function snapshot() {
    const view = root.dataset.view;
    const impl = views[view];
    if (root.dataset.state !== "ready" || !EXPORTABLE.has(view) || !impl || impl.el.hidden || !drawnProps[view]) return null;
    const focus = typeof impl.focus === "function" ? impl.focus() : null;
    return { view, layer: Number(root.dataset.layer), head: Number(root.dataset.head), props: drawnProps[view], focus };
  }
  const exporter = createExporter({ doc, root, snapshot });
  function saveView(kind) {
    exporter.save(kind).then(
      (what) => {
        root.dataset.saved = what;
      },
      (err) => controls.setMessageError(`Could not save the ${String(kind).toUpperCase()}: ${err && err.message ? err.message : err}`),
    );
  }
  root.awExportSvg = () => {
    const out = exporter.svg();
    return out ? out.svg : null;
  };
  root.awExportPng = (scale) => exporter.png(scale);

  /** Called by a view after each completed canvas draw. */
  function onDraw() {
    if (drawnAttrs) for (const [k, v] of Object.entries(drawnAttrs)) root.dataset[k] = String(v);
    const lines = views.head && !views.head.el.hidden ? views.head.el.dataset.lines : "0";
    root.dataset.lines = lines;
    controls.setCanSave(snapshot() !== null);
    drawn += 1;
    root.dataset.drawn = String(drawn);
  }

  function getView(name) {
    if (!views[name]) {
      views[name] = VIEW_FACTORIES[name]({ doc, onDraw, model, send: (content) => model.send(content), requestDraw: schedule, lastDetail: () => lastDetail });
      // Keep what each view was last given: the SVG/PNG export writes exactly that.
      const update = views[name].update;
      views[name].update = (next) => {
        drawnProps[name] = next;
        return update(next);
      };
      viewArea.appendChild(views[name].el);
    }
    return views[name];
  }

  function showOnly(name) {
    for (const [key, v] of Object.entries(views)) v.el.hidden = key !== name;
  }

  function setStatus(text, state) {
    status.textContent = text;
    status.hidden = text === "";
    root.dataset.state = state;
    root.classList.toggle("aw-is-loading", state === "loading");
    root.dataset.loading = state === "loading" ? "true" : "false";
  }

  /** A draw that shows a message instead of a view still counts as a completed draw. */
  function completeWithout(attrs, text, state) {
    showOnly(null);
    setStatus(text, state);
    drawnAttrs = attrs;
    onDraw();
  }

  function draw() {
    if (disposed) return;
    clearTimeout(retryTimer);
    retryTimer = 0;
    const tokens = model.get("tokens") || [];
    const n = tokens.length;
    const numLayers = Math.max(0, model.get("num_layers") | 0);
    const numHeads = Math.max(0, model.get("num_heads") | 0);
    const layer = clampIndex(model.get("layer"), numLayers);
    const head = clampIndex(model.get("head"), numHeads);
    const view = String(model.get("view") || "head");
    const revision = model.get("revision");
    store.setRevision(revision);
    const attrs = { layer, head, view, revision, ntokens: n };

    if (!VIEW_FACTORIES[view]) {
      completeWithout(attrs, `The "${view}" view is not available in this version.`, "unavailable");
      return;
    }
    if (n === 0 || numLayers === 0 || numHeads === 0) {
      completeWithout(attrs, "No attention to show yet.", "empty");
      return;
    }
    if (DETAIL_VIEWS.has(view)) lastDetail = view;

    if (SELF_FED.has(view)) {
      const impl = getView(view);
      drawnAttrs = attrs;
      const out = impl.update({
        tokens, special: model.get("special") || [], segments: model.get("segments") || [], layer, head,
        numLayers, numHeads, revision, info: model.get("info") || {}, theme: themeColours(root),
      }) || { state: "ready" };
      if (out.state === "ready") {
        setStatus("", "ready");
        showOnly(view);
      } else if (out.state === "loading") {
        setStatus(out.text || "Loading…", "loading");
        retryTimer = setTimeout(schedule, LOADING_RETRY_MS);
      } else {
        completeWithout(attrs, out.text || "", out.state);
      }
      return;
    }

    // The layer of the attention kind shown (encoder / decoder / cross), or the mean/max over layers;
    // big layers travel head by head, the heads on screen first (prefetch.js).
    const drawStart = performance.now();
    const screen = { head, heads: model.get("heads") || [], headReduce: model.get("head_reduce") || "none", numHeads };
    const onScreen = headsOnScreen(view === "matrix" ? [matrixSeries(screen)] : headSeries(screen));
    const loaded = explorer.load(layer, numLayers, numHeads, onScreen);
    if (loaded.state === "loading") {
      setStatus(loaded.text, "loading");
      // A request that got no answer may be sent again once the store's pending timeout passes.
      retryTimer = setTimeout(schedule, LOADING_RETRY_MS);
      return;
    }
    if (loaded.state !== "ready") {
      completeWithout(attrs, loaded.text, loaded.state);
      return;
    }

    setStatus("", "ready");
    // Pair filter, hidden special tokens, word level, causal mask, search (filters.js).
    const prepared = explorer.prepare(loaded);
    Object.assign(attrs, prepared.attrs);
    const state = { head, heads: model.get("heads") || [], headReduce: model.get("head_reduce") || "none", numHeads: loaded.numHeads };
    const props = {
      tokens,
      special: model.get("special") || [],
      segments: model.get("segments") || [],
      ...prepared.props,
      theme: themeColours(root),
      threshold: Number(model.get("threshold")) || 0,
    };
    const impl = getView(view);
    showOnly(view);
    drawnAttrs = attrs;
    if (view === "head") impl.update({ ...props, series: explorer.label(headSeries(state), prepared.prefix) });
    else impl.update({ ...props, series: explorer.label(matrixSeries(state), prepared.prefix), exactValue: exactValueOf(loaded, prepared, state, layer) });
    explorer.mark(impl.el, prepared);
    root.dataset.drawMs = (performance.now() - drawStart).toFixed(2); // for the benchmark
  }

  /**
   * The matrix tooltip's number, exact: drawn float32 data is exact already; drawn float16 data gets
   * its exact float32 row from Python on hover (undefined until it arrives). Null when the numbers
   * shown are computed in the page (filters, word level, layer reductions, decoder/cross attention).
   */
  function exactValueOf(loaded, prepared, state, layer) {
    if (loaded.entry.exact || loaded.kind !== "encoder" || prepared.prefix || prepared.props.data !== loaded.entry.data) return null;
    const series = matrixSeries(state);
    if (!series) return null;
    return (i, j) => {
      const row = store.exactRow(layer, series.heads, series.reduced || "none", i);
      return row ? row[j] : undefined;
    };
  }

  const onTraits = () => {
    controls.sync();
    exploreControls.sync();
    schedule();
  };
  const onRevision = () => {
    store.setRevision(model.get("revision"));
    controls.setMessageError("");
    setBusy(false);
    onTraits();
  };
  const onRunDone = () => {
    setBusy(false);
    onTraits();
  };
  const onMessage = (msg, buffers) => {
    if (explorer.route(msg, buffers)) return; // decoder / cross layers
    if (store.handleMessage(msg, buffers)) return;
    for (const v of Object.values(views)) if (v.handleMessage && v.handleMessage(msg, buffers)) return;
  };

  listen("change:revision", onRevision);
  for (const name of TRAITS) listen(`change:${name}`, onTraits);
  for (const name of RUN_DONE) listen(`change:${name}`, onRunDone);
  listen("msg:custom", onMessage);

  // Keyboard: arrows move head (left/right) and layer (up/down) when the focus is not in a form field.
  listenDom(root, "keydown", (event) => {
    if (event.altKey || event.ctrlKey || event.metaKey || isFormTarget(event.target)) return;
    const action = keyAction(event.key, {
      layer: model.get("layer"),
      head: model.get("head"),
      numLayers: model.get("num_layers") | 0,
      numHeads: model.get("num_heads") | 0,
    });
    if (!action) return;
    event.preventDefault();
    event.stopPropagation();
    if (action.changed) setTrait(model, action.name, action.value);
  });
  // JupyterLab's command-mode shortcuts match the focused element itself; mark every element that
  // takes focus inside the widget so that Lumino leaves its keys alone.
  listenDom(root, "focusin", (event) => {
    const t = event.target;
    if (t && t.setAttribute && !t.hasAttribute("data-lm-suppress-shortcuts")) t.setAttribute("data-lm-suppress-shortcuts", "true");
  });

  // Follow JupyterLab theme switches (canvas colours are read at draw time).
  let observer = null;
  if (typeof globalThis.MutationObserver === "function" && doc.body) {
    observer = new globalThis.MutationObserver(() => schedule());
    observer.observe(doc.body, { attributes: true, attributeFilter: ["data-jp-theme-light", "data-jp-theme-name"] });
  }

  setStatus("", "init");
  schedule();

  return () => {
    disposed = true;
    frames.cancel(frame);
    frame = null;
    clearTimeout(retryTimer);
    clearTimeout(busyTimer);
    for (const [event, fn] of modelListeners) model.off(event, fn);
    modelListeners.length = 0;
    for (const [target, type, fn, options] of domListeners) target.removeEventListener(type, fn, options);
    domListeners.length = 0;
    if (observer) observer.disconnect();
    for (const v of Object.values(views)) v.destroy();
    controls.destroy();
    exporter.destroy();
    delete root.awExportSvg;
    delete root.awExportPng;
    exploreControls.destroy();
    root.remove();
  };
}

export default { render };
