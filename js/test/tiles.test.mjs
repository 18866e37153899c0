// The page's tiles of a compact capture (src/tiles.js) through the real store and request protocol,
// against an in-memory kernel that answers `tile` like albert_widget/tiles.py (max of each cell).

import assert from "node:assert/strict";
import { test } from "node:test";
import { createRequester } from "../src/protocol.js";
import { createStore } from "../src/store.js";
import { createTileFetcher } from "../src/tiles.js";
import { cellEdge } from "../src/viewport.js";

const weight = (i, j) => (j > i ? 0 : ((i * 31 + j * 7) % 97) / 97);

function kernel() {
  const queue = [];
  const seen = [];
  const cancelled = [];
  const requester = createRequester((msg) => {
    if (msg.type === "cancel") {
      cancelled.push(msg.id);
      const k = queue.findIndex((m) => m.id === msg.id);
      if (k >= 0) queue.splice(k, 1);
      return;
    }
    seen.push(msg);
    queue.push(msg);
  });
  function one(m) {
    const out = new Float32Array(m.out_rows * m.out_cols);
    for (let a = 0; a < m.out_rows; a++)
      for (let b = 0; b < m.out_cols; b++) {
        let v = 0;
        for (let i = cellEdge(m.row0, m.row1, m.out_rows, a); i < cellEdge(m.row0, m.row1, m.out_rows, a + 1); i++)
          for (let j = cellEdge(m.col0, m.col1, m.out_cols, b); j < cellEdge(m.col0, m.col1, m.out_cols, b + 1); j++) v = Math.max(v, weight(i, j));
        out[a * m.out_cols + b] = v;
      }
    return out;
  }
  // a `tiles` request: one buffer per region, as albert_widget/tiles.py reply_to_tiles
  function answer(m) {
    const regions = m.tiles.map(([row0, row1, col0, col1, out_rows, out_cols]) => ({ row0, row1, col0, col1, out_rows, out_cols }));
    const metas = regions.map((r) => ({ ...r, dtype: "float32", shape: [r.out_rows, r.out_cols] }));
    return [{ id: m.id, type: m.type, revision: m.revision, tiles: metas, scale_max: 1 }, regions.map((r) => new DataView(one(r).buffer))];
  }
  return {
    source: { request: requester.request },
    seen,
    cancelled,
    async flush() {
      while (queue.length) requester.receive(...answer(queue.shift()));
      await new Promise((r) => setTimeout(r, 0));
    },
  };
}

const tile = (row0, col0, size = 8, out = 4) => ({
  key: `s|${row0}|${col0}|${out}`,
  params: { layer: 0, head: 0, row0, row1: row0 + size, col0, col1: col0 + size, out_rows: out, out_cols: out, reduce: "max" },
});

test("tiles are asked for once, kept decoded, and shared", async () => {
  const k = kernel();
  const store = createStore(k.source, { revision: 1 });
  let arrived = 0;
  const fetcher = createTileFetcher({ store, onArrive: () => arrived++ });
  fetcher.want([tile(0, 0), tile(8, 0)]);
  fetcher.want([tile(0, 0), tile(8, 0)]); // asked again before the reply: no second request
  assert.equal(k.seen.length, 1); // both in one request
  assert.equal(k.seen[0].type, "tiles");
  assert.deepEqual(k.seen[0].tiles, [
    [0, 8, 0, 8, 4, 4],
    [8, 16, 0, 8, 4, 4],
  ]);
  assert.equal(k.seen[0].revision, 1);
  assert.equal(fetcher.inFlight, 2);
  await k.flush();
  assert.equal(arrived, 1); // one redraw for the step
  assert.equal(fetcher.inFlight, 0);
  const t = fetcher.get(tile(8, 0).key);
  assert.equal(t.data.length, 16);
  assert.equal(t.data[0], Math.fround(Math.max(weight(8, 0), weight(8, 1), weight(9, 0), weight(9, 1)))); // float32 on the wire
  assert.equal(t.scaleMax, 1);
  fetcher.want([tile(0, 0)]); // cached: a step back costs nothing
  assert.equal(k.seen.length, 1);
  assert.equal(fetcher.get(tile(0, 0).key).data[5], Math.fround(Math.max(weight(2, 2), weight(2, 3), weight(3, 2), weight(3, 3))));
});

test("tiles of different series travel in separate requests; a step keeps the request of a tile still wanted", async () => {
  const k = kernel();
  const store = createStore(k.source, { revision: 1 });
  const fetcher = createTileFetcher({ store, onArrive: () => {} });
  const other = { ...tile(0, 0), key: "t|0|0|4", params: { ...tile(0, 0).params, head: 1 } };
  fetcher.want([tile(0, 0), tile(0, 8), other]);
  assert.equal(k.seen.length, 2);
  assert.deepEqual(
    k.seen.map((m) => [m.head, m.tiles.length]),
    [
      [0, 2],
      [1, 1],
    ],
  );
  fetcher.want([tile(0, 8), tile(16, 16)]); // one tile of the first request is still on screen: it stays
  assert.deepEqual(k.cancelled, [k.seen[1].id]);
  assert.equal(k.seen.length, 3);
  await k.flush();
  assert.equal(fetcher.has(tile(0, 8).key) && fetcher.has(tile(16, 16).key) && fetcher.has(tile(0, 0).key), true);
  assert.equal(fetcher.has(other.key), false);
});

test("tiles the view no longer needs are cancelled before the kernel runs them", async () => {
  const k = kernel();
  const store = createStore(k.source, { revision: 1 });
  const fetcher = createTileFetcher({ store, onArrive: () => {} });
  fetcher.want([tile(0, 0), tile(0, 8)]);
  fetcher.want([tile(16, 16)]); // moved on
  assert.equal(k.cancelled.length, 1); // the one request of both
  await k.flush();
  assert.equal(fetcher.has(tile(0, 0).key), false);
  assert.equal(fetcher.has(tile(16, 16).key), true);
});

test("prefetches run in the background, one tile a request, kept when the view reaches them, cancelled when not", async () => {
  const k = kernel();
  const store = createStore(k.source, { revision: 1 });
  const fetcher = createTileFetcher({ store, onArrive: () => {} });
  const otherHead = (t) => ({ key: `h1|${t.key}`, params: { ...t.params, head: 1 } });
  fetcher.prefetch([tile(0, 0), tile(8, 8)]);
  fetcher.prefetch([tile(0, 0), tile(8, 8), otherHead(tile(0, 0))]); // the same again, and one more
  assert.equal(k.seen.length, 3);
  assert.deepEqual(
    k.seen.map((m) => m.tiles.length),
    [1, 1, 1],
  );
  fetcher.want([tile(0, 0)]); // the user stepped there: the prefetch becomes the view's request
  fetcher.prefetch([]); // and the other prefetches are dropped
  assert.equal(k.seen.length, 3);
  assert.deepEqual(k.cancelled, [k.seen[1].id, k.seen[2].id]);
  await k.flush();
  assert.equal(fetcher.has(tile(0, 0).key), true);
  assert.equal(fetcher.has(tile(8, 8).key), false);
  assert.equal(fetcher.has(otherHead(tile(0, 0)).key), false);
});

test("a failed request fails each of its tiles, and only those", async () => {
  const store = createStore({ request: (type) => Promise.reject(new Error(`no ${type} here`)) }, { revision: 1 });
  let arrived = 0;
  const fetcher = createTileFetcher({ store, onArrive: () => arrived++ });
  fetcher.want([tile(0, 0), tile(0, 8)]);
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(fetcher.failure(tile(0, 0).key), "no tiles here");
  assert.equal(fetcher.failure(tile(0, 8).key), "no tiles here");
  assert.equal(fetcher.failure(tile(8, 8).key), undefined);
  assert.equal(arrived, 1);
});

test("a new revision drops every tile", async () => {
  const k = kernel();
  const store = createStore(k.source, { revision: 1 });
  const fetcher = createTileFetcher({ store, onArrive: () => {} });
  fetcher.want([tile(0, 0)]);
  await k.flush();
  assert.equal(fetcher.size, 1);
  store.setRevision(2);
  assert.equal(fetcher.has(tile(0, 0).key), false);
  fetcher.want([tile(0, 0)]);
  assert.equal(k.seen.at(-1).revision, 2);
});
