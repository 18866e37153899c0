// @ts-check
// The page's tiles of a compact capture: asked for through the widget's store (keyed, shared with
// every view of the widget, one request each), kept decoded (a step back is drawn at once), and
// cancelled when the view has moved on before they arrived. The viewport maths is viewport.js.

import { decode } from "./codec.js";
import { isAbort } from "./protocol.js";

const MAX_BYTES = 96 * 1024 * 1024; // decoded tiles kept (float32), least recently used dropped first

/**
 * @typedef {object} TileData
 * @property {Float32Array} data  [out_rows, out_cols]
 * @property {number} scaleMax  the largest weight of the heads anywhere (kernel's summaries), or NaN
 * @property {Map<string, any>} images  colourised copies (by colour range and theme), made by the view
 */

/**
 * @param {{ store: any, onArrive: () => void }} options
 *   store: the widget's store (store.js); onArrive: redraw (a tile arrived or failed)
 */
export function createTileFetcher({ store, onArrive }) {
  /** @type {Map<string, TileData>} */
  const cache = new Map();
  /** @type {Map<string, AbortController>} */
  let flying = new Map();
  /** @type {Map<string, AbortController>} */
  let ahead = new Map(); // prefetches: what is one step away (the next head or layer)
  /** @type {Map<string, string>} */
  const failures = new Map();
  let bytes = 0;
  let revision = store.revision;
  let served = 0;

  function sameRevision() {
    if (store.revision === revision) return;
    revision = store.revision;
    for (const c of flying.values()) c.abort();
    for (const c of ahead.values()) c.abort();
    flying = new Map();
    ahead = new Map();
    cache.clear();
    failures.clear();
    bytes = 0;
  }

  /** The tile when it is here (counts as a use), else undefined. @param {string} key */
  function get(key) {
    sameRevision();
    const hit = cache.get(key);
    if (hit) {
      cache.delete(key);
      cache.set(key, hit);
    }
    return hit;
  }

  /** Whether the tile is here, without counting as a use. @param {string} key */
  function has(key) {
    sameRevision();
    return cache.has(key);
  }

  function put(/** @type {string} */ key, /** @type {TileData} */ tile) {
    cache.set(key, tile);
    bytes += tile.data.byteLength;
    for (const [k, t] of cache) {
      if (bytes <= MAX_BYTES || cache.size <= 1) break;
      cache.delete(k);
      bytes -= t.data.byteLength;
    }
  }

  /** Send one tile request; it settles into the cache (or the failures) and calls onArrive. */
  function send(/** @type {string} */ key, /** @type {Record<string, unknown>} */ params) {
    const c = new AbortController();
    const asked = revision;
    store.ask("tile", params, { signal: c.signal }).then(
      (/** @type {import("./contract").Reply} */ reply) => {
        if (flying.get(key) === c) flying.delete(key);
        if (ahead.get(key) === c) ahead.delete(key);
        if (asked !== store.revision) return;
        const content = reply.content;
        const data = decode({ dtype: content.dtype, shape: content.shape, scale: content.scale }, reply.buffers[0]);
        served += 1;
        put(key, { data, scaleMax: typeof content.scale_max === "number" ? content.scale_max : Number.NaN, images: new Map() });
        onArrive();
      },
      (/** @type {any} */ err) => {
        if (flying.get(key) === c) flying.delete(key);
        if (ahead.get(key) === c) ahead.delete(key);
        if (isAbort(err) || (err && err.stale) || asked !== store.revision) return;
        failures.set(key, err && err.message ? err.message : String(err));
        onArrive();
      },
    );
    return c;
  }

  /**
   * Ask for these tiles (those not here yet); tiles asked for earlier and not in this list are
   * cancelled (the view moved on), unless a prefetch asked for them.
   * @param {{ key: string, params: Record<string, unknown> }[]} wanted
   */
  function want(wanted) {
    sameRevision();
    /** @type {Map<string, AbortController>} */
    const next = new Map();
    for (const { key, params } of wanted) {
      if (cache.has(key) || failures.has(key)) continue;
      let controller = flying.get(key) || ahead.get(key); // a prefetch now on screen: kept
      ahead.delete(key);
      if (!controller) controller = send(key, params);
      next.set(key, controller);
    }
    for (const [key, c] of flying) if (!next.has(key)) c.abort();
    flying = next;
  }

  /**
   * Tiles one step away (the next head or layer at this viewport), asked for in the background once
   * the view on screen is complete; a new list cancels the prefetches not in it.
   * @param {{ key: string, params: Record<string, unknown> }[]} wanted
   */
  function prefetch(wanted) {
    sameRevision();
    /** @type {Map<string, AbortController>} */
    const next = new Map();
    for (const { key, params } of wanted) {
      if (cache.has(key) || failures.has(key) || flying.has(key)) continue;
      next.set(key, ahead.get(key) || send(key, params));
    }
    for (const [key, c] of ahead) if (!next.has(key)) c.abort();
    ahead = next;
  }

  return {
    get,
    has,
    want,
    prefetch,
    /** Why a tile failed (this revision), or undefined. @param {string} key */
    failure: (key) => failures.get(key),
    /** Tiles on their way. */
    get inFlight() {
      return flying.size;
    },
    /** Tiles that arrived so far. */
    get served() {
      return served;
    },
    /** Tiles kept. */
    get size() {
      return cache.size;
    },
    dispose() {
      for (const c of flying.values()) c.abort();
      for (const c of ahead.values()) c.abort();
      flying = new Map();
      ahead = new Map();
    },
  };
}
