// Per-render data store: decoded attention layers of the current revision.
//
// The page asks Python for layers with {type: "request", revision, layers}; Python answers with
// {type: "layers", revision, layers, dtype, shape, scale? | scales?} and one buffer per layer
// (uint8: `scales` holds one scale per layer; a single `scale` applies to all of them). Messages reach
// every view of the widget, so a store keeps whatever arrives for its current revision, requested
// by it or not, and ignores any other revision.

import { decode } from "./codec.js";

const DEFAULT_MAX_BYTES = 256 * 1024 * 1024;

/** The layers next to `layer` that exist (layer - 1, layer + 1). */
export function neighbours(layer, numLayers) {
  const out = [];
  if (layer - 1 >= 0 && layer - 1 < numLayers) out.push(layer - 1);
  if (layer + 1 >= 0 && layer + 1 < numLayers) out.push(layer + 1);
  return out;
}

function isLayerIndex(l) {
  return Number.isInteger(l) && l >= 0;
}

/**
 * @param {object} options
 * @param {(content: object) => void} options.send  sends a message to Python (model.send)
 * @param {(layers: number[], revision: number) => void} [options.onData]  called after layers arrive
 * @param {(message: string) => void} [options.onError]  called on an error message or a bad payload
 * @param {number} [options.revision]  initial revision
 * @param {number} [options.maxBytes]  cache budget; least recently used layers beyond it are dropped
 * @param {number} [options.pendingTimeoutMs]  a request unanswered this long may be sent again
 * @param {number} [options.retryAfterMs]  a layer whose request failed is not asked again before this
 * @param {() => number} [options.now]  clock (ms), injectable for tests
 */
export function createStore({
  send,
  onData = () => {},
  onError = () => {},
  revision = 0,
  maxBytes = DEFAULT_MAX_BYTES,
  pendingTimeoutMs = 15000,
  retryAfterMs = 3000,
  now = () => Date.now(),
} = {}) {
  if (typeof send !== "function") throw new TypeError("createStore needs a send function");
  let current = revision;
  const cache = new Map(); // layer -> { data: Float32Array, shape, bytes }  (Map order = LRU order)
  const pending = new Map(); // layer -> time requested
  const failed = new Map(); // layer -> time failed
  let bytes = 0;
  let focusLayer = null;
  let focusCount = 0;

  function clear() {
    cache.clear();
    pending.clear();
    failed.clear();
    bytes = 0;
  }

  function evict() {
    for (const [layer, entry] of cache) {
      if (bytes <= maxBytes || cache.size <= 1) break;
      if (layer === focusLayer) continue;
      cache.delete(layer);
      bytes -= entry.bytes;
    }
  }

  function isPending(layer) {
    const since = pending.get(layer);
    if (since === undefined) return false;
    if (now() - since >= pendingTimeoutMs) {
      pending.delete(layer);
      return false;
    }
    return true;
  }

  function recentlyFailed(layer) {
    const at = failed.get(layer);
    if (at === undefined) return false;
    if (now() - at >= retryAfterMs) {
      failed.delete(layer);
      return false;
    }
    return true;
  }

  /** Request the layers that are neither cached nor pending. Returns the layers requested. */
  function need(layers) {
    const wanted = [];
    for (const l of layers) {
      if (!isLayerIndex(l) || wanted.includes(l)) continue;
      if (cache.has(l) || isPending(l) || recentlyFailed(l)) continue;
      wanted.push(l);
    }
    if (wanted.length === 0) return wanted;
    const t = now();
    for (const l of wanted) pending.set(l, t);
    send({ type: "request", revision: current, layers: wanted });
    return wanted;
  }

  function prefetchFocusNeighbours() {
    if (focusLayer !== null && cache.has(focusLayer)) need(neighbours(focusLayer, focusCount));
  }

  /** The layer on screen: request it if missing; once it is here, prefetch layer ± 1. */
  function focus(layer, numLayers) {
    focusLayer = isLayerIndex(layer) ? layer : null;
    focusCount = numLayers;
    if (focusLayer === null || focusLayer >= numLayers) return;
    need([focusLayer]);
    prefetchFocusNeighbours();
  }

  function setRevision(r) {
    if (r === current) return false;
    current = r;
    clear();
    return true;
  }

  function get(layer) {
    const entry = cache.get(layer);
    if (entry === undefined) return undefined;
    cache.delete(layer); // most recently used goes last
    cache.set(layer, entry);
    return { data: entry.data, shape: entry.shape };
  }

  function handleLayers(msg, buffers) {
    if (msg.revision !== current) return;
    const layers = Array.isArray(msg.layers) ? msg.layers : [];
    const arrived = [];
    const list = buffers || [];
    layers.forEach((layer, k) => {
      if (!isLayerIndex(layer)) return;
      pending.delete(layer);
      if (k >= list.length) {
        failed.set(layer, now());
        onError(`attention of layer ${layer} arrived without its buffer`);
        return;
      }
      let data;
      try {
        // uint8 scale: one per layer in `scales`, or one for all in `scale`.
        const scale = Array.isArray(msg.scales) ? msg.scales[k] : msg.scale;
        data = decode({ dtype: msg.dtype, shape: msg.shape, scale }, list[k]);
      } catch (err) {
        failed.set(layer, now());
        onError(`could not decode layer ${layer}: ${err.message}`);
        return;
      }
      const old = cache.get(layer);
      if (old !== undefined) {
        bytes -= old.bytes;
        cache.delete(layer);
      }
      const entry = { data, shape: msg.shape.slice(), bytes: data.byteLength };
      cache.set(layer, entry);
      bytes += entry.bytes;
      failed.delete(layer);
      arrived.push(layer);
    });
    evict();
    if (arrived.length > 0) {
      if (focusLayer !== null && arrived.includes(focusLayer)) prefetchFocusNeighbours();
      onData(arrived, current);
    }
  }

  /** Feed a msg:custom message. Returns true when the store consumed it. */
  function handleMessage(msg, buffers) {
    if (msg === null || typeof msg !== "object") return false;
    if (msg.type === "layers") {
      handleLayers(msg, buffers);
      return true;
    }
    if (msg.type === "error") {
      // A failed handler: whatever was pending will not come; allow a later retry.
      const t = now();
      for (const l of pending.keys()) failed.set(l, t);
      pending.clear();
      onError(String(msg.message ?? "error"));
      return true;
    }
    return false;
  }

  return {
    get revision() {
      return current;
    },
    get bytes() {
      return bytes;
    },
    get size() {
      return cache.size;
    },
    setRevision,
    need,
    focus,
    get,
    has: (layer) => cache.has(layer),
    isPending,
    handleMessage,
    clear,
  };
}
