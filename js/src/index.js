// anywidget entry point: wires the model to the controls, the data store and the views.

import "./styles.css";
import { h } from "./dom.js";
import { createStore } from "./store.js";
import { createControls, setTrait } from "./controls.js";
import { createHeadView } from "./views/head.js";
import { createMatrixView } from "./views/matrix.js";
import { themeColours } from "./draw/colour.js";
import { headSeries, matrixSeries, clampIndex } from "./reduce.js";
import { keyAction, isFormTarget } from "./keys.js";

// Traits whose change only needs the controls and the views brought up to date.
const TRAITS = [
  "tokens", "segments", "special", "num_layers", "num_heads", "layer", "head", "heads",
  "head_reduce", "view", "threshold", "info", "notice",
];
// Traits whose change ends a pending "Run".
const RUN_DONE = ["text", "text_pair", "error"];

const BUSY_TIMEOUT_MS = 20000;
const LOADING_RETRY_MS = 16000;
const FRAME_FALLBACK_MS = 100;

const VIEW_FACTORIES = { head: createHeadView, matrix: createMatrixView };

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
      if (!layers.includes(layer)) return;
      const shown = root.dataset.state === "ready" && drawnAttrs && drawnAttrs.layer === layer && drawnAttrs.revision === model.get("revision");
      if (!shown) schedule();
    },
    onError: (message) => {
      controls.setMessageError(message);
      setBusy(false);
      schedule();
    },
  });

  const controls = createControls({
    model,
    doc,
    onRun: (message) => {
      setBusy(true);
      model.send(message);
    },
  });

  root.append(controls.el, status, viewArea);
  el.appendChild(root);

  /** Called by a view after each completed canvas draw. */
  function onDraw() {
    if (drawnAttrs) for (const [k, v] of Object.entries(drawnAttrs)) root.dataset[k] = String(v);
    const lines = views.head && !views.head.el.hidden ? views.head.el.dataset.lines : "0";
    root.dataset.lines = lines;
    drawn += 1;
    root.dataset.drawn = String(drawn);
  }

  function getView(name) {
    if (!views[name]) {
      views[name] = VIEW_FACTORIES[name]({ doc, onDraw });
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

    store.focus(layer, numLayers);
    const entry = store.get(layer);
    if (!entry) {
      setStatus(`Loading layer ${layer}…`, "loading");
      // A request that got no answer may be sent again once the store's pending timeout passes.
      retryTimer = setTimeout(schedule, LOADING_RETRY_MS);
      return;
    }
    const [H, N, M] = entry.shape;
    if (H !== numHeads || N !== n || M !== n) {
      completeWithout(attrs, `Attention shape [${entry.shape.join(", ")}] does not match ${numHeads} heads × ${n} tokens.`, "mismatch");
      return;
    }

    setStatus("", "ready");
    const state = { head, heads: model.get("heads") || [], headReduce: model.get("head_reduce") || "none", numHeads };
    const props = {
      tokens,
      special: model.get("special") || [],
      segments: model.get("segments") || [],
      data: entry.data,
      shape: entry.shape,
      theme: themeColours(root),
      threshold: Number(model.get("threshold")) || 0,
    };
    const impl = getView(view);
    showOnly(view);
    drawnAttrs = attrs;
    if (view === "head") impl.update({ ...props, series: headSeries(state) });
    else impl.update({ ...props, series: matrixSeries(state) });
  }

  const onTraits = () => {
    controls.sync();
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
    store.handleMessage(msg, buffers);
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
    root.remove();
  };
}

export default { render };
