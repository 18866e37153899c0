// Per-render data store: decoded attention layers of the current revision.
//
// The page asks Python for layers with {type: "request", revision, layers}; Python answers with
// {type: "layers", revision, layers, dtype, shape, scale? | scales?} and one buffer per layer
// (uint8: `scales` holds one scale per layer; a single `scale` applies to all of them). Messages reach
// every view of the widget, so a store keeps whatever arrives for its current revision, requested
// by it or not, and ignores any other revision.

import { decode } from "./codec.js";
import { drawingEncoding, perHeadLayer, prefetchPlan, headList, rowKey } from "./prefetch.js";

const DEFAULT_MAX_BYTES = 256 * 1024 * 1024;
const MAX_ROWS = 4096; // exact rows kept (tooltip), oldest dropped first

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
 * @param {(layer: number) => void} [options.onRow]  called when an exact row arrives
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
  onRow = () => {},
} = {}) {
  if (typeof send !== "function") throw new TypeError("createStore needs a send function");
  let current = revision;
  const cache = new Map(); // layer -> { data: Float32Array, shape, bytes }  (Map order = LRU order)
  const pending = new Map(); // layer -> time requested
  const failed = new Map(); // layer -> time failed
  let bytes = 0;
  let focusLayer = null;
  let focusCount = 0;
  // Big layers travel head by head (prefetch.js): entries may then be partial ({ present, missing }).
  let dims = null; // { numHeads, rows, cols, dtype, perHead } of the current input, from focus()
  let queue = []; // background requests not sent yet: [{ layer, heads }]
  let inFlight = null; // the background request sent and not answered: { keys, since }
  const rows = new Map(); // rowKey -> Float32Array: exact float32 rows (tooltip)
  const rowsPending = new Map(); // rowKey -> time asked

  function clear() {
    cache.clear();
    pending.clear();
    failed.clear();
    bytes = 0;
    queue = [];
    inFlight = null;
    rows.clear();
    rowsPending.clear();
  }

  const headKey = (layer, head) => `${layer}:${head}`;
  const complete = (entry) => entry !== undefined && entry.missing === 0;
  const withDtype = (msg) => (dims ? { ...msg, dtype: dims.dtype } : msg);

  function evict() {
    // Big layers held head by head get a smaller budget: a 64-head layer at 512 tokens is a 64 MiB
    // array even with one head in it, so keep about two of them (the page's heap stays small).
    const budget = dims && dims.perHead ? dims.budget : maxBytes;
    for (const [layer, entry] of cache) {
      if (bytes <= budget || cache.size <= 1) break;
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
      if (complete(cache.get(l)) || isPending(l) || recentlyFailed(l)) continue;
      wanted.push(l);
    }
    if (wanted.length === 0) return wanted;
    const t = now();
    for (const l of wanted) pending.set(l, t);
    send(withDtype({ type: "request", revision: current, layers: wanted }));
    return wanted;
  }

  /** Heads of `layer` neither here nor on their way (a pending whole-layer request covers all). */
  function missingHeads(layer, heads) {
    if (isPending(layer) || recentlyFailed(layer)) return [];
    const entry = cache.get(layer);
    return heads.filter((h) => !(entry && entry.present[h]) && !isPending(headKey(layer, h)) && !recentlyFailed(headKey(layer, h)));
  }

  /** Request some heads of one layer (big layers). Returns the pending keys it added. */
  function needHeads(layer, heads) {
    if (!isLayerIndex(layer)) return [];
    const want = missingHeads(layer, heads);
    if (want.length === 0) return [];
    const t = now();
    const keys = want.map((h) => headKey(layer, h));
    for (const k of keys) pending.set(k, t);
    send(withDtype({ type: "request", revision: current, layers: [layer], heads: want }));
    return keys;
  }

  /** Background requests go one at a time, so that moving on can still drop the queued ones. */
  function pump() {
    if (inFlight && inFlight.keys.some((k) => isPending(k))) return;
    inFlight = null;
    while (queue.length > 0) {
      const { layer, heads } = queue.shift();
      const keys = needHeads(layer, heads);
      if (keys.length > 0) {
        inFlight = { keys };
        return;
      }
    }
  }

  function prefetchFocusNeighbours() {
    if (dims && dims.perHead) return;
    if (focusLayer !== null && complete(cache.get(focusLayer))) need(neighbours(focusLayer, focusCount));
  }

  /**
   * The layer on screen: request it if missing; once it is here, prefetch what one slider step
   * reaches. `want` = { heads, numHeads, rows, cols }: the heads drawn and the input's shape. With
   * it, the encoding follows the size (prefetch.js) and big layers travel head by head, the heads on
   * screen first, then their neighbours in the background (each focus replaces that queue).
   * Without it, whole layers, and layer ± 1 prefetched.
   */
  function focus(layer, numLayers, want = null) {
    focusLayer = isLayerIndex(layer) ? layer : null;
    focusCount = numLayers;
    if (want) {
      const dtype = drawingEncoding(Math.max(want.rows, want.cols));
      const layerF32 = want.numHeads * want.rows * want.cols * 4;
      dims = {
        numHeads: want.numHeads, rows: want.rows, cols: want.cols, dtype, layerF32,
        perHead: perHeadLayer(want.numHeads, want.rows, want.cols, dtype),
        budget: Math.min(maxBytes, Math.max(2 * layerF32, maxBytes / 2)),
      };
    }
    if (focusLayer === null || focusLayer >= numLayers) return;
    if (!dims || !dims.perHead) {
      need([focusLayer]);
      prefetchFocusNeighbours();
      return;
    }
    const picked = headList(want ? want.heads : [], dims.numHeads);
    const shown = picked.length > 0 ? picked : [0];
    needHeads(focusLayer, shown);
    const entry = cache.get(focusLayer);
    const here = shown.every((h) => entry && entry.present[h]);
    queue = here ? prefetchPlan({ layer: focusLayer, heads: shown, numLayers, numHeads: dims.numHeads }) : [];
    // When three layers do not fit the budget, only the next layer is prefetched (not the previous).
    if (3 * dims.layerF32 > dims.budget) queue = queue.filter((q) => q.layer !== focusLayer - 1);
    pump();
  }

  function setRevision(r) {
    if (r === current) return false;
    current = r;
    clear();
    return true;
  }

  /** The layer's data when complete, or when `heads` (a list) are here; undefined otherwise. */
  function get(layer, heads = null) {
    const entry = cache.get(layer);
    if (entry === undefined) return undefined;
    if (Array.isArray(heads) ? !heads.every((h) => entry.present[h]) : entry.missing > 0) return undefined;
    cache.delete(layer); // most recently used goes last
    cache.set(layer, entry);
    return { data: entry.data, shape: entry.shape, exact: entry.exact };
  }

  function handleLayers(msg, buffers) {
    if (msg.revision !== current) return;
    const layers = Array.isArray(msg.layers) ? msg.layers : [];
    const subset = Array.isArray(msg.heads) ? msg.heads : null; // only these heads of each layer
    const arrived = [];
    const list = buffers || [];
    layers.forEach((layer, k) => {
      if (!isLayerIndex(layer)) return;
      const keys = subset ? subset.map((h) => headKey(layer, h)) : [layer];
      for (const key of keys) pending.delete(key);
      const fail = (message) => {
        const t = now();
        for (const key of keys) failed.set(key, t);
        onError(message);
      };
      if (k >= list.length) {
        fail(`attention of layer ${layer} arrived without its buffer`);
        return;
      }
      let data;
      try {
        // uint8 scale: one per layer in `scales`, or one for all in `scale`.
        const scale = Array.isArray(msg.scales) ? msg.scales[k] : msg.scale;
        data = decode({ dtype: msg.dtype, shape: msg.shape, scale }, list[k]);
      } catch (err) {
        fail(`could not decode layer ${layer}: ${err.message}`);
        return;
      }
      const exact = msg.dtype === "float32";
      let entry = cache.get(layer);
      if (entry !== undefined) cache.delete(layer);
      if (subset) {
        const [, R, C] = msg.shape;
        const H = Number.isInteger(msg.num_heads) ? msg.num_heads : dims ? dims.numHeads : Math.max(...subset) + 1;
        if (entry === undefined || entry.shape[0] !== H || entry.shape[1] !== R || entry.shape[2] !== C) {
          if (entry !== undefined) bytes -= entry.bytes;
          entry = { data: new Float32Array(H * R * C), shape: [H, R, C], bytes: H * R * C * 4, present: new Uint8Array(H), missing: H, exact };
          bytes += entry.bytes;
        }
        const size = R * C;
        subset.forEach((h, i) => {
          if (!(Number.isInteger(h) && h >= 0 && h < H)) return;
          entry.data.set(data.subarray(i * size, (i + 1) * size), h * size);
          if (!entry.present[h]) {
            entry.present[h] = 1;
            entry.missing -= 1;
          }
        });
        entry.exact = entry.exact && exact;
      } else {
        if (entry !== undefined) bytes -= entry.bytes;
        entry = { data, shape: msg.shape.slice(), bytes: data.byteLength, present: new Uint8Array(msg.shape[0]).fill(1), missing: 0, exact };
        bytes += entry.bytes;
      }
      cache.set(layer, entry);
      for (const key of keys) failed.delete(key);
      arrived.push(layer);
    });
    evict();
    if (arrived.length > 0) {
      if (focusLayer !== null && arrived.includes(focusLayer)) prefetchFocusNeighbours();
      onData(arrived, current);
    }
    pump();
  }

  /**
   * The exact float32 row `row` of one head (reduce "none") or of the mean/max over `heads` of a
   * layer, for a number shown when the drawn data is float16. Undefined until it arrives (asked once).
   */
  function exactRow(layer, heads, reduce, row) {
    const key = rowKey(layer, heads, reduce, row);
    const hit = rows.get(key);
    if (hit !== undefined) return hit;
    const since = rowsPending.get(key);
    if (since === undefined || now() - since >= pendingTimeoutMs) {
      rowsPending.set(key, now());
      send({ type: "row", revision: current, layer, row, heads: heads.slice(), reduce });
    }
    return undefined;
  }

  function handleRow(msg, buffers) {
    if (msg.revision !== current) return;
    const key = rowKey(msg.layer, Array.isArray(msg.heads) ? msg.heads : [], msg.reduce, msg.row);
    rowsPending.delete(key);
    try {
      rows.set(key, decode({ dtype: msg.dtype, shape: msg.shape }, (buffers || [])[0]));
    } catch (err) {
      onError(`could not decode an exact row: ${err.message}`);
      return;
    }
    if (rows.size > MAX_ROWS) rows.delete(rows.keys().next().value);
    onRow(msg.layer);
  }

  /** Feed a msg:custom message. Returns true when the store consumed it. */
  function handleMessage(msg, buffers) {
    if (msg === null || typeof msg !== "object") return false;
    if (msg.type === "layers") {
      handleLayers(msg, buffers);
      return true;
    }
    if (msg.type === "row") {
      handleRow(msg, buffers);
      return true;
    }
    if (msg.type === "error") {
      // A failed handler: whatever was pending will not come; allow a later retry.
      const t = now();
      for (const l of pending.keys()) failed.set(l, t);
      pending.clear();
      rowsPending.clear();
      inFlight = null;
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
    has: (layer) => complete(cache.get(layer)),
    isPending,
    handleMessage,
    clear,
    needHeads,
    exactRow,
    /** Background requests queued and not sent yet (prefetch). */
    get queued() {
      return queue.map((q) => ({ layer: q.layer, heads: q.heads.slice() }));
    },
    /** The encoding asked for ("float32" until focus() knows the input's size). */
    get dtype() {
      return dims ? dims.dtype : "float32";
    },
  };
}
