// @ts-check
// One data store per widget, shared by every view of it (two displays of one widget, a second tab
// of one page): decoded attention layers and other replies of the current revision, each asked for
// once. A request is a promise (protocol.js); the views await what they draw and abort what they
// no longer need. A request that fails rejects only its own promise, and is not sent again for
// this revision (an input error stays an error until the input changes).

import { decode } from "./codec.js";
import { abortError, isAbort } from "./protocol.js";

/** @typedef {import("./contract").Source} Source */
/** @typedef {import("./contract").Reply} Reply */
/** @typedef {import("./contract").Encoding} Encoding */

const DEFAULT_MAX_BYTES = 256 * 1024 * 1024;
const MAX_REPLIES = 256; // other replies kept (rows, thumbnails, neuron, explain), oldest dropped first

/**
 * @typedef {object} Entry  a layer in the page: float32 [H, rows, cols]; `present[h]` says which
 *   heads are filled in (big layers travel head by head)
 * @property {Float32Array} data
 * @property {number[]} shape
 * @property {Uint8Array} present
 * @property {number} missing
 * @property {boolean} exact  every head arrived as float32
 * @property {number} bytes
 */

/**
 * @typedef {object} LayerAsk
 * @property {string} [kind]  "encoder" (default), "decoder", "cross"
 * @property {number} layer
 * @property {number[] | null} [heads]  only these heads (null: the whole layer)
 * @property {Encoding} [dtype]
 */

/**
 * @typedef {object} Flight  one request on the wire, shared by everyone waiting for it
 * @property {Promise<any>} promise
 * @property {AbortController} controller
 * @property {number} holders  waiters that can still cancel; Infinity once one cannot
 * @property {string} key
 */

/** @param {string | undefined} kind @param {number} layer */
export const layerKey = (kind, layer) => `${kind || "encoder"}|${layer}`;

/**
 * @param {Source} source  where requests go (kernelSource or inlineSource)
 * @param {{ maxBytes?: number, revision?: number }} [options]
 */
export function createStore(source, { maxBytes = DEFAULT_MAX_BYTES, revision = 0 } = {}) {
  if (!source || typeof source.request !== "function") throw new TypeError("createStore needs a source with request()");
  let current = revision;
  /** @type {Map<string, Entry>} */
  const layers = new Map(); // Map order = least recently used first
  /** @type {Map<string, Flight>} */
  const flights = new Map();
  /** @type {Map<string, Reply>} */
  const replies = new Map();
  /** @type {Map<string, unknown>} */
  const failures = new Map(); // request key -> the error, for this revision
  /** @type {Set<() => void>} */
  const listeners = new Set();
  let bytes = 0;
  let sent = 0;
  let lastUsed = "";
  let note = ""; // one line about how the data travels (text-safe replies, a saved snapshot), shown by every view
  let noteKind = ""; // "text" (base64 replies) or "snapshot" (no kernel: the saved layer)

  function notify() {
    for (const fn of [...listeners]) fn();
  }

  /** A new input: drop every layer and reply, cancel every request. True when it changed. */
  function setRevision(/** @type {number} */ r) {
    if (r === current) return false;
    current = r;
    for (const f of flights.values()) f.controller.abort();
    flights.clear();
    layers.clear();
    replies.clear();
    failures.clear();
    bytes = 0;
    return true;
  }

  /**
   * Wait for a shared flight; aborting `signal` releases this waiter, and the request itself is
   * cancelled when no waiter is left.
   * @template T
   * @param {Flight} flight
   * @param {AbortSignal | undefined} signal
   * @returns {Promise<T>}
   */
  function hold(flight, signal) {
    if (!signal) {
      flight.holders = Infinity;
      return flight.promise;
    }
    flight.holders += 1;
    return new Promise((resolve, reject) => {
      const release = () => {
        flight.holders -= 1;
        if (flight.holders <= 0) {
          if (flights.get(flight.key) === flight) flights.delete(flight.key);
          flight.controller.abort();
        }
        reject(abortError());
      };
      if (signal.aborted) {
        release();
        return;
      }
      signal.addEventListener("abort", release, { once: true });
      flight.promise.then(
        (value) => {
          signal.removeEventListener("abort", release);
          resolve(value);
        },
        (err) => {
          signal.removeEventListener("abort", release);
          reject(err);
        },
      );
    });
  }

  /**
   * Send a request once per key; later askers share it. A failure is remembered for the revision.
   * @param {string} key
   * @param {import("./contract").RequestType} type
   * @param {Record<string, unknown>} params
   * @param {(reply: Reply) => any} onReply  runs once, when the reply arrives for the current revision
   * @param {AbortSignal | undefined} signal
   */
  function flight(key, type, params, onReply, signal) {
    if (failures.has(key)) return Promise.reject(failures.get(key));
    if (signal && signal.aborted) return Promise.reject(abortError());
    let f = flights.get(key);
    if (!f) {
      const controller = new AbortController();
      const asked = current;
      sent += 1;
      const promise = source
        .request(type, params, { signal: controller.signal })
        .then((reply) => {
          if (asked !== current) throw abortError();
          const out = onReply(reply); // may throw: a reply that cannot be read is this request's failure
          notify();
          return out;
        })
        .catch((err) => {
          if (asked === current && !controller.signal.aborted && !isAbort(err)) {
            failures.set(key, err);
            notify(); // every view drawing from it shows the failure
          }
          throw err;
        });
      const entry = { promise, controller, holders: 0, key };
      promise.then(
        () => flights.get(key) === entry && flights.delete(key),
        () => flights.get(key) === entry && flights.delete(key),
      );
      flights.set(key, entry);
      f = entry;
    }
    return hold(f, signal);
  }

  /** Drop least recently used layers beyond the budget; never the one drawn last nor those in `keep`. */
  function evict(/** @type {Set<string>} */ keep) {
    for (const [key, entry] of layers) {
      const budget = entry.missing > 0 || entry.present.length < entry.shape[0] ? Math.min(maxBytes, Math.max(2 * entry.bytes, maxBytes / 2)) : maxBytes;
      if (bytes <= budget || layers.size <= 1) break;
      if (key === lastUsed || keep.has(key)) continue;
      layers.delete(key);
      bytes -= entry.bytes;
    }
  }

  /**
   * Put a `layers` reply into the cache.
   * @param {Reply} reply
   * @param {string} kind
   */
  function ingest({ content: msg, buffers }, kind) {
    const list = Array.isArray(msg.layers) ? /** @type {number[]} */ (msg.layers) : [];
    const subset = Array.isArray(msg.heads) ? /** @type {number[]} */ (msg.heads) : null;
    const shape = /** @type {number[]} */ (msg.shape);
    const exact = msg.dtype === "float32";
    const arrived = new Set(list.map((layer) => layerKey(kind, layer)));
    list.forEach((layer, k) => {
      if (k >= buffers.length) throw new Error(`attention of layer ${layer} arrived without its buffer`);
      const scale = Array.isArray(msg.scales) ? msg.scales[k] : msg.scale;
      const data = decode({ dtype: msg.dtype, shape, scale }, buffers[k]);
      const key = layerKey(kind, layer);
      let entry = layers.get(key);
      if (entry !== undefined) layers.delete(key);
      if (subset) {
        const [, R, C] = shape;
        const H = Number(msg.num_heads);
        if (entry === undefined || entry.shape[0] !== H || entry.shape[1] !== R || entry.shape[2] !== C) {
          if (entry !== undefined) bytes -= entry.bytes;
          entry = { data: new Float32Array(H * R * C), shape: [H, R, C], present: new Uint8Array(H), missing: H, exact, bytes: H * R * C * 4 };
          bytes += entry.bytes;
        }
        const size = R * C;
        const e = entry;
        subset.forEach((h, i) => {
          e.data.set(data.subarray(i * size, (i + 1) * size), h * size);
          if (!e.present[h]) {
            e.present[h] = 1;
            e.missing -= 1;
          }
        });
        e.exact = e.exact && exact;
      } else {
        if (entry !== undefined) bytes -= entry.bytes;
        entry = { data, shape: shape.slice(), present: new Uint8Array(shape[0]).fill(1), missing: 0, exact, bytes: data.byteLength };
        bytes += entry.bytes;
      }
      layers.set(key, entry);
    });
    evict(arrived); // what just arrived was asked for: it stays
  }

  /**
   * Whether the layer (or the `heads` asked) is here, without counting as a use (prefetch checks).
   * @param {string} kind @param {number} layer @param {number[] | null} [heads]
   */
  function has(kind, layer, heads = null) {
    const entry = layers.get(layerKey(kind, layer));
    return entry !== undefined && (Array.isArray(heads) ? heads.every((h) => entry.present[h]) : entry.missing === 0);
  }

  /**
   * The layer's data when it is here (complete, or the `heads` asked are); undefined otherwise.
   * @param {string} kind @param {number} layer @param {number[] | null} [heads]
   * @returns {Entry | undefined}
   */
  function peek(kind, layer, heads = null) {
    const key = layerKey(kind, layer);
    const entry = layers.get(key);
    if (entry === undefined) return undefined;
    if (Array.isArray(heads) ? !heads.every((h) => entry.present[h]) : entry.missing > 0) return undefined;
    layers.delete(key); // most recently used goes last
    layers.set(key, entry);
    lastUsed = key;
    return entry;
  }

  /**
   * The request that fetches what is missing of a layer: its key and its fields.
   * @param {Required<LayerAsk>} ask
   */
  function layerRequest({ kind, layer: l, heads, dtype }) {
    const entry = layers.get(layerKey(kind, l));
    const missing = heads && entry ? heads.filter((h) => !entry.present[h]) : heads;
    /** @type {Record<string, unknown>} */
    const params = { revision: current, layers: [l], dtype };
    if (kind !== "encoder") params.kind = kind;
    if (missing) params.heads = missing;
    return { key: `layers|${kind}|${l}|${missing ? missing.join(",") : "*"}|${dtype}`, params };
  }

  /**
   * Why the request for this layer failed (for the current input), or undefined.
   * @param {LayerAsk} ask
   * @returns {unknown}
   */
  function layerFailure({ kind = "encoder", layer: l, heads = null, dtype = "float32" }) {
    return failures.get(layerRequest({ kind, layer: l, heads, dtype }).key);
  }

  /**
   * A layer (or some heads of it), from the cache or from the source.
   * @param {LayerAsk} ask
   * @param {{ signal?: AbortSignal }} [options]
   * @returns {Promise<Entry>}
   */
  function layer({ kind = "encoder", layer: l, heads = null, dtype = "float32" }, { signal } = {}) {
    const here = peek(kind, l, heads);
    if (here) return Promise.resolve(here);
    const once = () => {
      const { key, params } = layerRequest({ kind, layer: l, heads, dtype });
      return flight(key, "layers", params, (reply) => ingest(reply, kind), signal);
    };
    // Heads that arrived earlier may have been evicted meanwhile: then ask once more for what is missing.
    return once()
      .then(() => peek(kind, l, heads) || once().then(() => peek(kind, l, heads)))
      .then((out) => {
        if (!out) throw new Error(`layer ${l} could not be kept in the page's memory budget`);
        return out;
      });
  }

  /**
   * Any other request (row, thumbnails, neuron, explain, head_stats): one reply per distinct
   * request and revision, kept for later askers.
   * @param {import("./contract").RequestType} type
   * @param {Record<string, unknown>} params  without `revision` (the store adds the current one)
   * @param {{ signal?: AbortSignal }} [options]
   * @returns {Promise<Reply>}
   */
  function ask(type, params, { signal } = {}) {
    const key = `${type}|${JSON.stringify(params)}`;
    const hit = replies.get(key);
    if (hit) return Promise.resolve(hit);
    return flight(
      key,
      type,
      { ...params, revision: current },
      (reply) => {
        replies.set(key, reply);
        if (replies.size > MAX_REPLIES) replies.delete(/** @type {string} */ (replies.keys().next().value));
        return reply;
      },
      signal,
    );
  }

  /**
   * The exact float32 row of one head, or of the mean/max over `heads` (a matrix tooltip over
   * float16 data): the row when it is here; otherwise undefined, and it is asked for.
   * @param {string} kind @param {number} layer @param {number[]} heads @param {string} reduce @param {number} row
   * @returns {Float32Array | undefined}
   */
  function exactRow(kind, layer, heads, reduce, row) {
    /** @type {Record<string, unknown>} */
    const params = { layer, row, heads: heads.slice(), reduce };
    if (kind !== "encoder") params.kind = kind;
    const hit = replies.get(`row|${JSON.stringify(params)}`);
    if (hit) return decode({ dtype: hit.content.dtype, shape: hit.content.shape }, hit.buffers[0]);
    ask("row", params).catch(() => {}); // the tooltip shows the drawn value until (unless) it comes
    return undefined;
  }

  return {
    get revision() {
      return current;
    },
    /** Bytes of layer data held. */
    get bytes() {
      return bytes;
    },
    /** Layers held (complete or not). */
    get size() {
      return layers.size;
    },
    /** Requests sent to the source so far (each distinct request once). */
    get sent() {
      return sent;
    },
    /** Requests on the wire now. */
    get inFlight() {
      return flights.size;
    },
    setRevision,
    /** One line about the data's way here ("" for none), shown by every view of the widget. */
    get note() {
      return note;
    },
    /** What the note is about: "text", "snapshot" or "". */
    get noteKind() {
      return noteKind;
    },
    /** @param {string} text @param {string} [kind] */
    setNote(text, kind = "") {
      if (text === note && kind === noteKind) return;
      note = text;
      noteKind = kind;
      notify();
    },
    /**
     * A request that is neither kept nor shared (set_text: each one runs the model).
     * @param {import("./contract").RequestType} type @param {Record<string, unknown>} params
     * @param {{ signal?: AbortSignal }} [options]
     */
    send(type, params, { signal } = {}) {
      sent += 1;
      return source.request(type, params, { signal });
    },
    layer,
    layerFailure,
    has,
    peek,
    ask,
    exactRow,
    /** Call `fn` after any data arrives; returns the unsubscribe function. */
    subscribe(/** @type {() => void} */ fn) {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
    /** Forget a remembered failure, so that the next ask sends the request again. */
    forgetFailures() {
      failures.clear();
    },
  };
}
