// Glue between index.js and the explorer's pure functions (filters.js): which layer (or layers) of
// which attention kind (encoder / decoder / cross) to draw, mean/max over layers, the filter plan,
// token search marks. Data comes from the widget's one store (store.js); index.js calls load() and
// prepare() from its draw().

import {
  allLayersBytes,
  applyPlan,
  causalMask,
  createLayerReducer,
  currentKind,
  exploreState,
  isCausal,
  kindAxes,
  kindShape,
  LAYER_REDUCE_MAX_BYTES,
  layerReduceLabel,
  markMatches,
  searchMatches,
  viewPlan,
} from "./filters.js";
import { drawingEncoding, perHeadLayer, prefetchPlan } from "./prefetch.js";
import { isAbort } from "./protocol.js";

/**
 * @param {{ model, store, schedule: () => void }} options
 *   store: the widget's store; schedule: redraw (called when what load() waits for arrives, and
 *   when it fails: load() then reports the failure).
 */
export function createExplorer({ model, store, schedule }) {
  const get = (name) => model.get(name);
  const reducers = {};
  let prefetch = null; // AbortController of the background requests for the layer on screen
  let prefetchFor = "";
  let focus = null; // AbortController of the requests for what is on screen: a move cancels them
  let focusFor = "";
  let stalePrefetch = null;

  /** The signal for requests of what is on screen now; moving elsewhere cancels the old ones. */
  function focusSignal(tag) {
    if (tag !== focusFor || !focus) {
      if (focus) focus.abort();
      focus = new AbortController();
      focusFor = tag;
      asked.clear();
      // What was prefetched around the old focus is no longer one step away: cancelled once the new
      // focus has asked for its own data (which may be one of those prefetches, then kept).
      stalePrefetch = prefetch;
      prefetch = null;
      prefetchFor = "";
    }
    return focus.signal;
  }

  function dropStalePrefetch() {
    if (stalePrefetch) stalePrefetch.abort();
    stalePrefetch = null;
  }

  function reducerFor(kind) {
    if (!reducers[kind]) reducers[kind] = createLayerReducer();
    return reducers[kind];
  }

  /** Ask for `ask` (once per focus); redraw when it arrives (or fails). */
  const asked = new Set();
  function want(ask, signal) {
    const key = `${ask.kind}|${ask.layer}|${ask.heads ? ask.heads.join(",") : "*"}|${ask.dtype}`;
    if (asked.has(key)) return;
    asked.add(key);
    store
      .layer(ask, { signal })
      .then(schedule, (err) => {
        if (!isAbort(err)) schedule();
      })
      .finally(() => asked.delete(key)); // settled: a later draw may ask again (the store dedupes)
  }

  /** Whether any layer of a layer reduction arrived (index.js redraws then). */
  function wantsEveryLayer() {
    return exploreState(get).layerReduce !== "none";
  }

  /** The background requests one slider step away; a new focus cancels the previous ones. */
  function prefetchAround(kind, layer, heads, numLayers, numHeads, dtype) {
    const tag = `${store.revision}|${kind}|${layer}|${heads ? heads.join(",") : "*"}|${dtype}`;
    if (tag === prefetchFor) return;
    if (prefetch) prefetch.abort();
    prefetch = new AbortController();
    prefetchFor = tag;
    const plan = heads
      ? prefetchPlan({ layer, heads, numLayers, numHeads })
      : [layer + 1, layer - 1].filter((l) => l >= 0 && l < numLayers).map((l) => ({ layer: l, heads: null }));
    for (const p of plan) {
      if (store.has(kind, p.layer, p.heads) || store.layerFailure({ kind, layer: p.layer, heads: p.heads, dtype })) continue;
      store.layer({ kind, layer: p.layer, heads: p.heads, dtype }, { signal: prefetch.signal }).catch(() => {});
    }
  }

  function failed(err) {
    dropStalePrefetch();
    const message = err && err.message ? err.message : String(err);
    return { state: "failed", text: `Could not load the attention: ${message}` };
  }

  /**
   * The data of the layer (or of the layer reduction) to draw.
   * Returns { state: "ready", entry, kind, numLayers, numHeads, axes } or { state, text } with state
   * "loading" / "unavailable" / "mismatch" / "failed" / "empty".
   * onScreen: the heads the view draws; big layers then travel head by head (prefetch.js).
   */
  function load(layer, numLayersTrait, numHeadsTrait, onScreen = null) {
    const kind = currentKind(get("attention_kind"), get("kinds"));
    const [numLayers, numHeads] = kindShape(kind, get("info"), numLayersTrait, numHeadsTrait);
    const axes = kindAxes(kind, get);
    const rows = axes.rows.tokens.length;
    const cols = axes.cols.tokens.length;
    if (rows === 0 || cols === 0 || numLayers === 0) {
      return { state: "empty", text: `No ${kind} attention to show.` };
    }
    const revision = get("revision");
    store.setRevision(revision);
    const l = Math.min(Math.max(0, layer), numLayers - 1);
    const { layerReduce } = exploreState(get);
    const dtype = drawingEncoding(Math.max(rows, cols));
    const byHead = layerReduce === "none" && Array.isArray(onScreen) && perHeadLayer(numHeads, rows, cols, dtype);
    const heads = byHead ? (onScreen.length > 0 ? onScreen : [0]) : null;
    const signal = focusSignal(`${revision}|${kind}|${layerReduce === "none" ? l : layerReduce}|${heads ? heads.join(",") : "*"}|${dtype}`);
    let entry;
    if (layerReduce !== "none") {
      const bytes = allLayersBytes(numLayers, [numHeads, rows, cols]);
      if (bytes > LAYER_REDUCE_MAX_BYTES) {
        return {
          state: "unavailable",
          text: `The ${layerReduce} over layers needs all ${numLayers} layers in the page (${Math.round(bytes / 2 ** 20)} MiB, more than ${Math.round(LAYER_REDUCE_MAX_BYTES / 2 ** 20)} MiB): use a shorter text.`,
        };
      }
      const entries = [];
      for (let k = 0; k < numLayers; k++) {
        const ask = { kind, layer: k, heads: null, dtype };
        const here = store.peek(kind, k, null);
        if (here) {
          entries.push(here);
          continue;
        }
        const err = store.layerFailure(ask);
        if (err) return failed(err);
        want(ask, signal);
      }
      dropStalePrefetch();
      if (entries.length < numLayers) return { state: "loading", text: `Loading all ${numLayers} layers for the ${layerReduce} over layers…` };
      entry = { ...reducerFor(kind).get(entries, layerReduce, `${revision}`), exact: false };
    } else {
      const ask = { kind, layer: l, heads, dtype };
      entry = store.peek(kind, l, heads);
      if (!entry) {
        const err = store.layerFailure(ask);
        if (err) return failed(err);
        want(ask, signal);
        dropStalePrefetch();
        return { state: "loading", text: `Loading layer ${l}…` };
      }
      dropStalePrefetch();
      prefetchAround(kind, l, heads, numLayers, numHeads, dtype);
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

  /** Cancel the background requests (the view goes away). */
  function dispose() {
    dropStalePrefetch();
    if (focus) focus.abort();
    focus = null;
    focusFor = "";
    if (prefetch) prefetch.abort();
    prefetch = null;
    prefetchFor = "";
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

  return { load, prepare, label, mark, wantsEveryLayer, dispose };
}
