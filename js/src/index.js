// anywidget entry point: wires the model to the controls, the data store and the views.

import "./styles.css";
import { compactReason, createControls, setTrait } from "./controls.js";
import { h } from "./dom.js";
import { isDarkColour, themeColours } from "./draw/colour.js";
import { SVG_VIEWS } from "./draw/svg.js";
import { createExplorer } from "./explore.js";
import { createExploreControls } from "./explore-controls.js";
import { createExporter } from "./export.js";
import { isFormTarget, keyAction } from "./keys.js";
import { COMPACT_VIEWS } from "./names.js";
import { numbering } from "./numbering.js";
import { headsOnScreen } from "./prefetch.js";
import { isAbort, kernelSource, TEXT_SAFE_NOTICE } from "./protocol.js";
import { clampIndex, headSeries, matrixSeries } from "./reduce.js";
import { SNAPSHOT_NOTICE, withSnapshot } from "./snapshot.js";
import { createStore } from "./store.js";
import { createTileFetcher } from "./tiles.js";
import { createExplainView } from "./views/explain.js";
import { createHeadView } from "./views/head.js";
import { createMatrixView } from "./views/matrix.js";
import { createModelView } from "./views/model.js";
import { createNeuronView } from "./views/neuron.js";
import { createRowView } from "./views/row.js";
import { createTopkHeadView } from "./views/topk-head.js";

// Traits whose change only needs the controls and the views brought up to date.
const TRAITS = [
  "tokens",
  "segments",
  "special",
  "num_layers",
  "num_heads",
  "layer",
  "head",
  "heads",
  "head_reduce",
  "view",
  "threshold",
  "info",
  "notice",
  // explorer: pair filter, words, layer reduction, token controls, encoder-decoder kinds
  "pair_filter",
  "word_level",
  "layer_reduce",
  "hide_special",
  "token_search",
  "attention_kind",
  "kinds",
  "decoder_tokens",
  "decoder_special",
  "prettify_tokens",
  "display_mode",
  "explain_method",
  "neuron_query",
  "row_query",
  "model_statistic",
  "attention_form",
  "colour_scale",
];
// Traits a slider or a key moves: drawn at once when the data is here (onStep).
const STEP_TRAITS = new Set(["layer", "head", "heads"]);
// Traits whose change ends a pending "Run".
const RUN_DONE = ["text", "text_pair", "error"];

const FRAME_FALLBACK_MS = 100;

const VIEW_FACTORIES = { head: createHeadView, matrix: createMatrixView, model: createModelView, neuron: createNeuronView, explain: createExplainView };
// Long inputs: one query's row over the context; the head view of a compact capture (top-k lines).
Object.assign(VIEW_FACTORIES, { row: createRowView, topk: createTopkHeadView });
// Views that ask Python for their own data (thumbnails, neuron vectors) instead of the layer store.
const SELF_FED = new Set(["model", "neuron", "explain", "row", "topk"]);
// Where a click on a model-view thumbnail goes: the detail view used last.
const DETAIL_VIEWS = new Set(["head", "matrix", "neuron", "row"]);

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

/**
 * Draw the widget into `el`: controls, views, status. `store` is the widget's one data store
 * (shared by every rendering of the same widget); `model` holds the traits. Returns the cleanup.
 */
export function mount({ model, el, store }) {
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
    root.classList.toggle("aw-busy", busy);
    root.setAttribute("aria-busy", busy ? "true" : "false");
    controls.setBusy(busy);
  }

  // How the data travels, when it is worth a line (text-safe replies): the store's note.
  const note = h(doc, "div", { cls: "aw-transport-note", attrs: { role: "status" } });
  const showNote = () => {
    const text = typeof store.note === "string" ? store.note : "";
    if (note.textContent !== text) note.textContent = text;
    note.hidden = text === "";
    root.dataset.transport = store.noteKind || "binary";
  };
  // Every view of this widget draws from the same store: anything that arrives may be on screen.
  const unsubscribe = store.subscribe(() => {
    showNote();
    schedule();
  });

  // A view's own requests (thumbnails, neuron vectors, explain maps) go through the store; the
  // reply (or its error) is handed back to the view. One request per type and view is on its way:
  // the same one asked again waits for it, another one cancels it (the user moved on), and hiding
  // the view cancels them all.
  const viewRequests = {}; // view name -> Map(type -> { key, controller })
  const cancelViewRequests = (name) => {
    for (const { controller } of (viewRequests[name] || new Map()).values()) controller.abort();
    viewRequests[name] = new Map();
  };
  const requestFor = (name) => (content) => {
    const { type, revision, ...params } = content;
    store.setRevision(model.get("revision"));
    if (revision !== undefined && revision !== store.revision) return;
    const slots = viewRequests[name] || (viewRequests[name] = new Map());
    const key = JSON.stringify(params);
    const now = slots.get(type);
    if (now && now.key === key) return;
    if (now) now.controller.abort();
    const controller = new AbortController();
    slots.set(type, { key, controller });
    store
      .ask(type, params, { signal: controller.signal })
      .then(
        ({ content: reply, buffers }) => !disposed && views[name].handleMessage(reply, buffers),
        (err) => {
          if (disposed || isAbort(err) || (err && err.stale)) return;
          views[name].handleMessage({ ...content, error: err && err.message ? err.message : String(err) }, []);
        },
      )
      .finally(() => {
        if (slots.get(type) && slots.get(type).controller === controller) slots.delete(type);
      });
  };

  const controls = createControls({
    model,
    doc,
    onRun: (message) => {
      setBusy(true);
      const { type, ...params } = message;
      store.send(type, params).then(
        () => !disposed && setBusy(false),
        (err) => {
          if (disposed) return;
          setBusy(false);
          if (!isAbort(err)) controls.setMessageError(err && err.message ? err.message : String(err));
        },
      );
    },
    onSave: (kind) => saveView(kind),
  });

  const explorer = createExplorer({ model, store, schedule });
  // A compact capture's matrix: tiles of the zoom level on screen, asked for through the store.
  const tileFetcher = createTileFetcher({ store, onArrive: () => schedule() });
  const exploreControls = createExploreControls({ model, doc, root });

  root.append(controls.el, exploreControls.el, note, status, viewArea);
  showNote();
  el.appendChild(root);

  // SVG / PNG export of the view on screen (toolbar buttons; root.awExportSvg() for tests and
  // scripts). Head and matrix views: the props they drew; model, neuron and explain views: their
  // figure() (what they show now), written by draw/svg-views.js.
  const drawnProps = {};
  function snapshot() {
    const view = root.dataset.view;
    const impl = views[view];
    if (root.dataset.state !== "ready" || !impl || impl.el.hidden || !drawnProps[view]) return null;
    if (!SVG_VIEWS.includes(view) || model.get("attention_form") === "compact") return null; // see saveReason()
    const focus = typeof impl.focus === "function" ? impl.focus() : null;
    const names = numbering(model.get("info"));
    let props = drawnProps[view];
    if (typeof impl.figure === "function") {
      const shown = impl.figure();
      if (!shown) return null;
      props = { ...shown, names, theme: props.theme };
    }
    return { view, layer: Number(root.dataset.layer), head: Number(root.dataset.head), props, focus, names };
  }
  /** Why the view on screen cannot be downloaded (the buttons' tooltip when they are off). */
  function saveReason() {
    if (model.get("attention_form") === "compact") {
      return "A compact capture has no whole matrix in the page to write: save widget.result.block(...) or widget.result.to_npz(path) from Python";
    }
    const view = root.dataset.view;
    if (!SVG_VIEWS.includes(view)) {
      return `The ${view === "topk" ? "top-k head" : view} view has no figure to download yet; the ${SVG_VIEWS.join(", ")} views have`;
    }
    if (view === "model" && model.get("model_statistic") !== "thumbnails") return "The download writes the thumbnails: colour by thumbnails to save";
    return "";
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
  root.awStore = store; // the widget's data store, shared with its other views (tests, scripts)
  root.awTiles = tileFetcher; // a compact capture's tiles: how many, their round trips (benchmarks)

  /** Called by a view after each completed canvas draw. */
  function onDraw() {
    if (drawnAttrs) for (const [k, v] of Object.entries(drawnAttrs)) root.dataset[k] = String(v);
    const lines = views.head && !views.head.el.hidden ? views.head.el.dataset.lines : "0";
    root.dataset.lines = lines;
    controls.setCanSave(snapshot() !== null, saveReason());
    drawn += 1;
    root.dataset.drawn = String(drawn);
  }

  /**
   * The token the user locked or last hovered in the head view, as an index into the tokens (the
   * neuron view opens on it); null when there is none or the head view showed filtered tokens.
   */
  function focusToken(n) {
    const head = views.head;
    const shown = drawnProps.head;
    const f = head && typeof head.focus === "function" ? head.focus() : null;
    if (!f || !shown || !shown.rowInfos || !shown.colInfos) return null;
    const axis = f.side === "right" ? shown.colInfos : shown.rowInfos;
    if (axis.length !== n || root.dataset.kind === "cross") return null; // filtered or not the input's tokens
    return Number.isInteger(f.index) && f.index >= 0 && f.index < n ? f.index : null;
  }

  function getView(name) {
    if (!views[name]) {
      const send = requestFor(name);
      views[name] = VIEW_FACTORIES[name]({ doc, onDraw, model, send, requestDraw: schedule, lastDetail: () => lastDetail });
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
    for (const [key, v] of Object.entries(views)) {
      v.el.hidden = key !== name;
      if (key !== name) cancelViewRequests(key);
    }
    viewArea.dataset.view = name; // the explain view shows all of itself, without an inner scroll box
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
    // Head chips take the dark variant of their colours on a dark background (styles.css).
    root.classList.toggle("aw-dark-bg", isDarkColour(themeColours(root).background));
    const tokens = model.get("tokens") || [];
    const n = tokens.length;
    const numLayers = Math.max(0, model.get("num_layers") | 0);
    const numHeads = Math.max(0, model.get("num_heads") | 0);
    const layer = clampIndex(model.get("layer"), numLayers);
    const head = clampIndex(model.get("head"), numHeads);
    const asked = String(model.get("view") || "head");
    // A compact capture holds no [H, N, N] layer: its head view draws each query's top-k keys.
    const view = asked === "head" && model.get("attention_form") === "compact" ? "topk" : asked;
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
    if (DETAIL_VIEWS.has(asked)) lastDetail = asked;
    const form = String(model.get("attention_form") || "dense");
    root.dataset.form = form;
    if (form === "compact") {
      // Views that need whole layers are off; the row, model (statistics) and head (top-k) views
      // ask for their own data below, the matrix view draws tiles.
      if (!COMPACT_VIEWS.includes(asked)) {
        completeWithout(attrs, compactReason(asked, n), "unavailable");
        return;
      }
      if (!SELF_FED.has(view)) {
        drawCompact(attrs, tokens, layer, head, numHeads, numLayers);
        return;
      }
    }

    if (SELF_FED.has(view)) {
      const impl = getView(view);
      drawnAttrs = attrs;
      const out = impl.update({
        tokens,
        special: model.get("special") || [],
        segments: model.get("segments") || [],
        layer,
        head,
        numLayers,
        numHeads,
        revision,
        info: model.get("info") || {},
        theme: themeColours(root),
        focusToken: focusToken(n),
      }) || { state: "ready" };
      if (out.state === "ready") {
        setStatus("", "ready");
        showOnly(view);
        controls.setCanSave(snapshot() !== null, saveReason()); // the view's own onDraw ran before the root was ready
      } else if (out.state === "loading") {
        setStatus(out.text || "Loading…", "loading"); // the view redraws when its reply arrives
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
      setStatus(loaded.text, "loading"); // the store's notice of arrival redraws
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
    const names = numbering(model.get("info"));
    const state = { head, heads: model.get("heads") || [], headReduce: model.get("head_reduce") || "none", numHeads: loaded.numHeads, headName: names.head };
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
    root.dataset.drawMs = (performance.now() - drawStart).toFixed(2); // data-draw-ms: the last draw's cost (js/README.md)
  }

  /** The matrix view of a compact capture: no layer in the page, tiles of the zoom level shown. */
  function drawCompact(attrs, tokens, layer, head, numHeads, numLayers) {
    const drawStart = performance.now();
    const series = matrixSeries({ head, heads: model.get("heads") || [], headReduce: model.get("head_reduce") || "none", numHeads });
    const info = model.get("info") || {};
    const impl = getView("matrix");
    setStatus("", "ready");
    showOnly("matrix");
    drawnAttrs = attrs;
    impl.update({
      tokens,
      special: model.get("special") || [],
      segments: model.get("segments") || [],
      theme: themeColours(root),
      series,
      labelKey: "compact",
      tiled: {
        fetcher: tileFetcher,
        layer,
        heads: series.heads,
        headReduce: series.reduced,
        causal: info.is_causal !== false,
        promptLength: Number.isInteger(info.prompt_length) ? info.prompt_length : tokens.length,
        reduce: "max",
        colourScale: model.get("colour_scale") || "auto",
        // One step away (arrow keys): the next and previous head, then layer; prefetched once the view is complete.
        neighbours: series.reduced
          ? [layer + 1, layer - 1].filter((l) => l >= 0 && l < numLayers).map((l) => ({ layer: l }))
          : [
              ...[head + 1, head - 1].filter((x) => x >= 0 && x < numHeads).map((x) => ({ heads: [x] })),
              ...[layer + 1, layer - 1].filter((l) => l >= 0 && l < numLayers).map((l) => ({ layer: l })),
            ],
      },
    });
    root.dataset.drawMs = (performance.now() - drawStart).toFixed(2);
  }

  /**
   * The matrix tooltip's number, exact: drawn float32 data is exact already; drawn float16 data gets
   * its exact float32 row from Python on hover (undefined until it arrives). Null when the numbers
   * shown are computed in the page (filters, word level, layer reductions, decoder/cross attention).
   */
  function exactValueOf(loaded, prepared, state, layer) {
    if (loaded.entry.exact || loaded.kind !== "encoder" || prepared.prefix || prepared.props.data !== loaded.entry.data) return null;
    if ((model.get("info") || {}).static) return null; // a saved page holds what it holds: no exact rows to ask for
    const series = matrixSeries(state);
    if (!series) return null;
    return (i, j) => {
      const row = store.exactRow("encoder", layer, series.heads, series.reduced || "none", i);
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
  // A slider step whose data is already here is drawn on the input event itself, not a frame later.
  const onStep = () => {
    controls.sync();
    exploreControls.sync();
    if (!disposed && root.dataset.state === "ready" && drawnAttrs && !SELF_FED.has(String(model.get("view")))) {
      frames.cancel(frame);
      frame = null;
      draw();
    } else {
      schedule();
    }
  };
  const onRunDone = () => {
    setBusy(false);
    onTraits();
  };
  listen("change:revision", onRevision);
  for (const name of TRAITS) listen(`change:${name}`, STEP_TRAITS.has(name) ? onStep : onTraits);
  for (const name of RUN_DONE) listen(`change:${name}`, onRunDone);

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
    unsubscribe();
    explorer.dispose();
    tileFetcher.dispose();
    for (const [event, fn] of modelListeners) model.off(event, fn);
    modelListeners.length = 0;
    for (const [target, type, fn, options] of domListeners) target.removeEventListener(type, fn, options);
    domListeners.length = 0;
    if (observer) observer.disconnect();
    for (const name of Object.keys(views)) cancelViewRequests(name);
    for (const v of Object.values(views)) v.destroy();
    controls.destroy();
    exporter.destroy();
    delete root.awExportSvg;
    delete root.awExportPng;
    delete root.awStore;
    delete root.awTiles;
    exploreControls.destroy();
    root.remove();
  };
}

// One store per widget model, made in initialize and shared by every render of that model. anywidget
// hands initialize and each render their own proxy of the model, so the key is the widget's id
// (the `_widget_id` trait Python sets), not the proxy object.
const stores = new Map(); // widget id -> { store, dispose }

function storeOf(model) {
  const id = model.get("_widget_id");
  return id ? stores.get(id) : undefined;
}

function initialize({ model }) {
  const id = model.get("_widget_id");
  const source = kernelSource(model, { onTextSafe: () => store.setNote(TEXT_SAFE_NOTICE, "text") });
  const snapshot = withSnapshot(source, model, { onSnapshot: () => store.setNote(SNAPSHOT_NOTICE, "snapshot") });
  const store = createStore(snapshot, { revision: model.get("revision") });
  const entry = { store, dispose: () => source.dispose() };
  if (id) stores.set(id, entry);
  return () => {
    entry.dispose();
    if (id && stores.get(id) === entry) stores.delete(id);
  };
}

function render({ model, el }) {
  let entry = storeOf(model);
  let own = null;
  if (!entry) {
    // A host that does not call initialize: this rendering gets a store of its own.
    const source = kernelSource(model, { onTextSafe: () => store.setNote(TEXT_SAFE_NOTICE, "text") });
    const snapshot = withSnapshot(source, model, { onSnapshot: () => store.setNote(SNAPSHOT_NOTICE, "snapshot") });
    const store = createStore(snapshot, { revision: model.get("revision") });
    own = { store, dispose: () => source.dispose() };
    entry = own;
  }
  const cleanup = mount({ model, el, store: entry.store });
  return () => {
    cleanup();
    if (own) own.dispose();
  };
}

export default { initialize, render };
