// Glue between index.js and the explorer's pure functions (filters.js): one layer store per attention
// kind (encoder / decoder / cross), mean/max over layers, the filter plan, token search marks.
// index.js calls load() and prepare() from its draw(); route() from its message handler.

import { createStore } from "./store.js";
import {
  exploreState, currentKind, kindAxes, kindShape, isCausal, viewPlan, applyPlan, causalMask, createLayerReducer,
  allLayersBytes, layerReduceLabel, searchMatches, markMatches, LAYER_REDUCE_MAX_BYTES,
} from "./filters.js";

/**
 * @param {{ model, store, schedule: () => void, onError?: (message: string) => void }} options
 *   store: the encoder's store (index.js's own); stores of the other kinds are made here and send
 *   their requests with a `kind` field.
 */
export function createExplorer({ model, store, schedule, onError = () => {} }) {
  const get = (name) => model.get(name);
  const stores = { encoder: store };
  const reducers = {};

  function storeFor(kind) {
    if (!stores[kind]) {
      stores[kind] = createStore({
        send: (content) => model.send({ ...content, kind }),
        revision: get("revision"),
        onData: () => schedule(),
        onError,
      });
    }
    return stores[kind];
  }

  function reducerFor(kind) {
    if (!reducers[kind]) reducers[kind] = createLayerReducer();
    return reducers[kind];
  }

  /** Feed a message: replies for decoder / cross layers go to their store. True when consumed. */
  function route(msg, buffers) {
    if (!msg || typeof msg !== "object") return false;
    if (msg.type === "layers" && typeof msg.kind === "string" && msg.kind !== "encoder") {
      if (stores[msg.kind]) stores[msg.kind].handleMessage(msg, buffers);
      return true;
    }
    if (msg.type === "error") {
      for (const [kind, s] of Object.entries(stores)) if (kind !== "encoder") s.handleMessage(msg, buffers);
    }
    return false; // the encoder's store (index.js) takes errors and encoder layers
  }

  /** Whether any layer of a layer reduction arrived (index.js redraws then). */
  function wantsEveryLayer() {
    return exploreState(get).layerReduce !== "none";
  }

  /**
   * The data of the layer (or of the layer reduction) to draw.
   * Returns { state: "ready", entry, kind, numLayers, numHeads, axes } or { state, text } with state
   * "loading" / "unavailable" / "mismatch".
   */
  function load(layer, numLayersTrait, numHeadsTrait, onScreen = null) {
    // onScreen: the heads the view draws; big layers then travel head by head (store.js, prefetch.js).
    const kind = currentKind(get("attention_kind"), get("kinds"));
    const [numLayers, numHeads] = kindShape(kind, get("info"), numLayersTrait, numHeadsTrait);
    const axes = kindAxes(kind, get);
    const rows = axes.rows.tokens.length;
    const cols = axes.cols.tokens.length;
    if (rows === 0 || cols === 0 || numLayers === 0) {
      return { state: "empty", text: `No ${kind} attention to show.` };
    }
    const st = storeFor(kind);
    const revision = get("revision");
    st.setRevision(revision);
    const l = Math.min(Math.max(0, layer), numLayers - 1);
    const { layerReduce } = exploreState(get);
    const heads = Array.isArray(onScreen) && layerReduce === "none" ? onScreen : null;
    st.focus(l, numLayers, heads ? { heads, numHeads, rows, cols } : null);
    let entry;
    if (layerReduce !== "none") {
      const bytes = allLayersBytes(numLayers, [numHeads, rows, cols]);
      if (bytes > LAYER_REDUCE_MAX_BYTES) {
        return {
          state: "unavailable",
          text: `The ${layerReduce} over layers needs all ${numLayers} layers in the page (${Math.round(bytes / 2 ** 20)} MiB, more than ${Math.round(LAYER_REDUCE_MAX_BYTES / 2 ** 20)} MiB): use a shorter text.`,
        };
      }
      entry = reducerFor(kind).get(st, numLayers, layerReduce, `${revision}`);
      if (!entry) return { state: "loading", text: `Loading all ${numLayers} layers for the ${layerReduce} over layers…` };
    } else {
      entry = st.get(l, heads);
      if (!entry) return { state: "loading", text: `Loading layer ${l}…` };
    }
    const [H, N, M] = entry.shape;
    if (H !== numHeads || N !== rows || M !== cols) {
      return {
        state: "mismatch",
        text: `Attention shape [${entry.shape.join(", ")}] does not match ${numHeads} heads × ${rows} × ${cols} tokens.`,
      };
    }
    return { state: "ready", entry, kind, numLayers, numHeads, axes };
  }

  /**
   * What the head and matrix views get: the filtered [H, R, C] data, row/column labels, the causal
   * mask, a label prefix for the series, and the attributes of the root.
   */
  function prepare(loaded) {
    const { entry, kind, axes, numLayers } = loaded;
    const state = exploreState(get);
    const causal = isCausal(kind, get("info"));
    const plan = viewPlan({ rows: axes.rows, cols: axes.cols, square: axes.square, ...state, causal });
    const shown = applyPlan(entry.data, entry.shape, plan);
    const mask = causalMask(plan, entry.shape[1], entry.shape[2]);
    const rowMatches = searchMatches(plan.rowInfos, state.search);
    const colMatches = searchMatches(plan.colInfos, state.search);
    const prefix = layerReduceLabel(state.layerReduce, numLayers);
    return {
      props: {
        data: shown.data,
        shape: shown.shape,
        rowInfos: plan.rowInfos,
        colInfos: plan.colInfos,
        labelKey: plan.key,
        mask,
      },
      prefix,
      rowMatches,
      colMatches,
      attrs: {
        ntokens: plan.rowInfos.length,
        ncols: plan.colInfos.length,
        kind,
        pairFilter: plan.pair,
        wordLevel: state.wordLevel,
        hideSpecial: state.hideSpecial,
        layerReduce: state.layerReduce,
        matches: rowMatches.filter(Boolean).length + colMatches.filter(Boolean).length,
      },
    };
  }

  /** Prefix the series labels with the layer reduction ("mean of 6 layers · head 3"). */
  function label(series, prefix) {
    if (!prefix) return series;
    const one = (s) => (s ? { ...s, label: `${prefix} · ${s.label}` } : s);
    return Array.isArray(series) ? series.map(one) : one(series);
  }

  /** Mark the tokens that match the search in a view; returns the count. */
  function mark(viewEl, prepared) {
    return markMatches(viewEl, prepared.rowMatches, prepared.colMatches);
  }

  return { route, load, prepare, label, mark, storeFor, wantsEveryLayer };
}
