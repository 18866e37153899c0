// @ts-check
// The page's tiles of a compact capture: asked for through the widget's store (keyed, shared with
// every view of the widget), the tiles of one series asked at once in one `tiles` request (one
// message each way and one kernel turn for a zoom step), kept decoded (a step back is drawn at once),
// and cancelled when the view has moved on before they arrived. The viewport maths is viewport.js.

import { decode } from "./codec.js";
import { isAbort } from "./protocol.js";

const MAX_BYTES = 96 * 1024 * 1024; // decoded tiles kept (float32), least recently used dropped first
/** The most tiles one `tiles` request carries (albert_widget/tiles.py MAX_TILES_PER_REQUEST). */
export const MAX_BATCH = 32;

/**
 * @typedef {object} TileData
 * @property {Float32Array} data  [out_rows, out_cols]
 * @property {number} scaleMax  the largest weight of the heads anywhere (kernel's summaries), or NaN
 * @property {Map<string, any>} images  colourised copies (by colour range and theme), made by the view
 */

/** @typedef {{ controller: AbortController }} Batch  one `tiles` request: the tiles of one series asked together */

/**
 * @param {{ store: any, onArrive: () => void }} options
 *   store: the widget's store (store.js); onArrive: redraw (a tile arrived or failed)
 */
export function createTileFetcher({ store, onArrive }) {
  let maxBatch = MAX_BATCH;
  /** @type {Map<string, TileData>} */
  const cache = new Map();
  /** @type {Map<string, Batch>} */
  let flying = new Map(); // tile key -> the request it travels in
  /** @type {Map<string, Batch>} */
  let ahead = new Map(); // prefetches: what is one step away (the next head or layer)
  /** @type {Map<string, string>} */
  const failures = new Map();
  let bytes = 0;
  let revision = store.revision;
  let served = 0;
  /** @type {{ asked: number, arrived: number, decodeMs: number, bytes: number }[]} */
  const timings = []; // the last tiles' round trips (ms, performance.now()): where a step's time goes

  function sameRevision() {
    if (store.revision === revision) return;
    revision = store.revision;
    for (const b of new Set([...flying.values(), ...ahead.values()])) b.controller.abort();
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

  /**
   * Send the tiles of one series (same layer, heads, reductions) as one `tiles` request: one message
   * each way and one kernel turn for a whole zoom step; they settle into the cache (or the failures)
   * together and call onArrive once. Returns the batch: cancelled only when none of its tiles is wanted.
   * @param {{ key: string, params: Record<string, unknown> }[]} items
   */
  function sendBatch(items) {
    const batch = { controller: new AbortController() };
    const asked = revision;
    const t0 = performance.now();
    const { row0, row1, col0, col1, out_rows, out_cols, ...common } = items[0].params;
    void [row0, row1, col0, col1, out_rows, out_cols];
    const tiles = items.map(({ params: p }) => [p.row0, p.row1, p.col0, p.col1, p.out_rows, p.out_cols]);
    const settle = () => {
      for (const { key } of items) {
        if (flying.get(key) === batch) flying.delete(key);
        if (ahead.get(key) === batch) ahead.delete(key);
      }
    };
    store.ask("tiles", { ...common, tiles }, { signal: batch.controller.signal }).then(
      (/** @type {import("./contract").Reply} */ reply) => {
        settle();
        if (asked !== store.revision) return;
        const content = reply.content;
        const t1 = performance.now();
        const scaleMax = typeof content.scale_max === "number" ? content.scale_max : Number.NaN;
        const metas = /** @type {{ dtype: string, shape: number[], scale?: number[] }[]} */ (content.tiles);
        items.forEach(({ key }, i) => {
          const meta = metas[i];
          const data = decode({ dtype: meta.dtype, shape: meta.shape, scale: meta.scale }, reply.buffers[i]);
          put(key, { data, scaleMax, images: new Map() });
          served += 1;
        });
        const decodeMs = performance.now() - t1;
        for (const buffer of reply.buffers) timings.push({ asked: t0, arrived: t1, decodeMs: decodeMs / items.length, bytes: buffer.byteLength });
        while (timings.length > 500) timings.shift();
        onArrive();
      },
      (/** @type {any} */ err) => {
        settle();
        if (isAbort(err) || (err && err.stale) || asked !== store.revision) return;
        for (const { key } of items) failures.set(key, err && err.message ? err.message : String(err));
        onArrive();
      },
    );
    return batch;
  }

  /**
   * One batch per series of `items` (`size` tiles at most each), every tile's batch set in `into`.
   * @param {{ key: string, params: Record<string, unknown> }[]} items @param {Map<string, Batch>} into @param {number} size
   */
  function sendAll(items, into, size) {
    /** @type {Map<string, { key: string, params: Record<string, unknown> }[]>} */
    const groups = new Map();
    for (const item of items) {
      const { row0, row1, col0, col1, out_rows, out_cols, ...common } = item.params;
      void [row0, row1, col0, col1, out_rows, out_cols];
      const series = JSON.stringify(common);
      if (!groups.has(series)) groups.set(series, []);
      groups.get(series)?.push(item);
    }
    for (const group of groups.values()) {
      for (let i = 0; i < group.length; i += size) {
        const part = group.slice(i, i + size);
        const batch = sendBatch(part);
        for (const { key } of part) into.set(key, batch);
      }
    }
  }

  /** Cancel the batches in `before` that no tile wanted now (on screen or ahead) is waiting for. */
  function release(/** @type {Iterable<Batch>} */ before) {
    const live = new Set([...flying.values(), ...ahead.values()]);
    for (const batch of new Set(before)) if (!live.has(batch)) batch.controller.abort();
  }

  /**
   * Ask for these tiles (those not here yet); tiles asked for earlier and not in this list are
   * cancelled (the view moved on), unless a prefetch asked for them or a tile still wanted travels
   * in the same request.
   * @param {{ key: string, params: Record<string, unknown> }[]} wanted
   */
  function want(wanted) {
    sameRevision();
    const before = [...flying.values(), ...ahead.values()];
    /** @type {Map<string, Batch>} */
    const next = new Map();
    const fresh = [];
    for (const item of wanted) {
      const { key } = item;
      if (cache.has(key) || failures.has(key) || next.has(key)) continue;
      const batch = flying.get(key) || ahead.get(key); // a prefetch now on screen: kept
      ahead.delete(key);
      if (batch) next.set(key, batch);
      else fresh.push(item);
    }
    sendAll(fresh, next, maxBatch);
    flying = next;
    release(before);
  }

  /**
   * Tiles one step away (the next head or layer at this viewport), asked for in the background once
   * the view on screen is complete; a new list cancels the prefetches not in it.
   * @param {{ key: string, params: Record<string, unknown> }[]} wanted
   */
  function prefetch(wanted) {
    sameRevision();
    const before = [...ahead.values()];
    /** @type {Map<string, Batch>} */
    const next = new Map();
    const fresh = [];
    for (const item of wanted) {
      const { key } = item;
      if (cache.has(key) || failures.has(key) || flying.has(key) || next.has(key)) continue;
      const batch = ahead.get(key);
      if (batch) next.set(key, batch);
      else fresh.push(item);
    }
    // One tile a request: the kernel runs a request in one turn, so a cancel (the user moved on) can
    // only reach a prefetch between requests, and a step's own tiles must not wait behind many.
    sendAll(fresh, next, 1);
    ahead = next;
    release(before);
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
    /** Tiles per request (1..MAX_BATCH; 1 asks for each tile alone, as benchmarks compare). */
    get maxBatch() {
      return maxBatch;
    },
    set maxBatch(value) {
      maxBatch = Math.max(1, Math.min(MAX_BATCH, Math.floor(Number(value)) || 1));
    },
    /** The last tiles' round trips: { asked, arrived, decodeMs, bytes } (performance.now() ms). */
    get timings() {
      return timings.slice();
    },
    /** Tiles kept. */
    get size() {
      return cache.size;
    },
    dispose() {
      for (const b of new Set([...flying.values(), ...ahead.values()])) b.controller.abort();
      flying = new Map();
      ahead = new Map();
    },
  };
}
