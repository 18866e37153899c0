// The widget's data store (src/store.js) over the request protocol (src/protocol.js), against an
// in-memory kernel that answers like albert_widget/protocol.py: one reply per request, by id.

import assert from "node:assert/strict";
import { test } from "node:test";
import { createRequester, isAbort, RequestError } from "../src/protocol.js";
import { createStore, layerKey } from "../src/store.js";

const N = 4;
const H = 3;
const L = 5;
const value = (layer, head, i, j) => (layer * 1000 + head * 100 + i * 10 + j) / 10000;

/** A kernel: requests are queued and answered when `flush()` runs, so tests see what is in flight. */
function fakeKernel({ revision = 1, fail = () => null } = {}) {
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
  function answer(msg) {
    const reason = fail(msg);
    if (reason) return [{ id: msg.id, type: msg.type, error: reason }, []];
    if ("revision" in msg && msg.revision !== revision) return [{ id: msg.id, type: msg.type, error: "gone", stale: true }, []];
    if (msg.type === "layers") {
      const heads = msg.heads || Array.from({ length: H }, (_, h) => h);
      const bufs = msg.layers.map((l) => {
        const f = new Float32Array(heads.length * N * N);
        heads.forEach((h, k) => {
          for (let i = 0; i < N; i++) for (let j = 0; j < N; j++) f[k * N * N + i * N + j] = value(l, h, i, j);
        });
        return new DataView(f.buffer);
      });
      const reply = { id: msg.id, type: "layers", revision, layers: msg.layers, dtype: "float32", shape: [heads.length, N, N] };
      if (msg.heads) Object.assign(reply, { heads: msg.heads, num_heads: H });
      return [reply, bufs];
    }
    if (msg.type === "row") {
      const f = new Float32Array(N).map((_, j) => value(msg.layer, msg.heads[0], msg.row, j));
      return [{ id: msg.id, type: "row", revision, dtype: "float32", shape: [N] }, [new DataView(f.buffer)]];
    }
    return [{ id: msg.id, type: msg.type, revision, echo: msg }, []];
  }
  return {
    source: { request: requester.request },
    seen,
    cancelled,
    get queued() {
      return queue.length;
    },
    setRevision(r) {
      revision = r;
    },
    async flush() {
      while (queue.length) requester.receive(...answer(queue.shift()));
      await new Promise((r) => setTimeout(r, 0));
    },
  };
}

test("requests carry a page-unique id and a type; replies settle their own promise", async () => {
  const sent = [];
  const a = createRequester((m) => sent.push(m));
  const b = createRequester(() => {});
  const p1 = a.request("thumbnails", { revision: 1, size: 16 });
  const p2 = a.request("thumbnails", { revision: 1, size: 24 });
  b.request("thumbnails", { revision: 1, size: 16 }).catch(() => {});
  assert.equal(sent.length, 2);
  assert.notEqual(sent[0].id, sent[1].id);
  assert.equal(sent[0].type, "thumbnails");
  assert.equal(sent[0].size, 16);
  // another page's reply (same counter, other prefix) settles nothing here
  assert.equal(a.receive({ id: sent[0].id.replace(/^[^:]+/, "other"), type: "thumbnails" }, []), true);
  assert.equal(a.pending, 2);
  a.receive({ id: sent[1].id, type: "thumbnails", size: 24 }, []);
  a.receive({ id: sent[0].id, type: "thumbnails", error: "bad size" }, []);
  assert.equal((await p2).content.size, 24);
  await assert.rejects(p1, (err) => err instanceof RequestError && err.message === "bad size");
  assert.equal(a.receive({ type: "something else" }, []), false);
});

test("aborting a request sends a cancel with its id and rejects with AbortError", async () => {
  const sent = [];
  const r = createRequester((m) => sent.push(m));
  const controller = new AbortController();
  const p = r.request("layers", { revision: 1, layers: [0] }, { signal: controller.signal });
  controller.abort();
  await assert.rejects(p, (err) => isAbort(err));
  assert.deepEqual(sent[1], { type: "cancel", id: sent[0].id });
  assert.equal(r.pending, 0);
  // a late reply to it is harmless
  assert.equal(r.receive({ id: sent[0].id, type: "layers" }, []), true);
});

test("two consumers of one store make exactly one request per layer", async () => {
  const kernel = fakeKernel();
  const store = createStore(kernel.source, { revision: 1 });
  let notified = 0;
  store.subscribe(() => (notified += 1));
  const views = [store.layer({ layer: 2 }), store.layer({ layer: 2 }), store.layer({ layer: 3 })];
  assert.equal(kernel.seen.length, 2);
  await kernel.flush();
  const [a, b, c] = await Promise.all(views);
  assert.equal(a, b);
  assert.equal(a.data[1 * N * N + 2 * N + 3], Math.fround(value(2, 1, 2, 3)));
  assert.equal(c.shape.join(), [H, N, N].join());
  assert.ok(store.peek("encoder", 2));
  assert.equal(notified, 2);
  // asked again: from the cache, no request
  await store.layer({ layer: 2 });
  assert.equal(kernel.seen.length, 2);
  assert.deepEqual(
    kernel.seen.map((m) => m.layers[0]),
    [2, 3],
  );
});

test("a failing request rejects only its own promise, and is not sent again for that input", async () => {
  const kernel = fakeKernel({ fail: (m) => (m.type === "layers" && m.layers[0] === 4 ? "requested layer 4 is not in 0..3" : null) });
  const store = createStore(kernel.source, { revision: 1 });
  const bad = store.layer({ layer: 4 });
  bad.catch(() => {}); // awaited below
  const good = store.layer({ layer: 1 });
  const thumbs = store.ask("thumbnails", { size: 16 });
  await kernel.flush();
  await assert.rejects(bad, /not in 0..3/);
  assert.equal((await good).shape[0], H);
  assert.equal((await thumbs).content.echo.size, 16);
  assert.match(String(store.layerFailure({ layer: 4 }).message), /not in 0..3/);
  await assert.rejects(store.layer({ layer: 4 }), /not in 0..3/);
  assert.equal(kernel.seen.filter((m) => m.layers && m.layers[0] === 4).length, 1);
  // a new input forgets it
  store.setRevision(2);
  assert.equal(store.layerFailure({ layer: 4 }), undefined);
});

test("aborting every waiter cancels the request; one waiter left keeps it", async () => {
  const kernel = fakeKernel();
  const store = createStore(kernel.source, { revision: 1 });
  const c1 = new AbortController();
  const c2 = new AbortController();
  const p1 = store.layer({ layer: 0 }, { signal: c1.signal });
  const p2 = store.layer({ layer: 0 }, { signal: c2.signal });
  c1.abort();
  await assert.rejects(p1, isAbort);
  assert.equal(kernel.cancelled.length, 0, "the other waiter still wants it");
  c2.abort();
  await assert.rejects(p2, isAbort);
  assert.equal(kernel.cancelled.length, 1);
  assert.equal(kernel.queued, 0, "the kernel dropped it before running it");
  assert.equal(store.layerFailure({ layer: 0 }), undefined, "a cancel is no failure");
  // asked again later: a new request
  const again = store.layer({ layer: 0 });
  await kernel.flush();
  assert.ok(await again);
  assert.equal(kernel.seen.length, 2);
});

test("a new revision cancels what is in flight and clears the cache", async () => {
  const kernel = fakeKernel();
  const store = createStore(kernel.source, { revision: 1 });
  await Promise.all([store.layer({ layer: 0 }), kernel.flush()]);
  const pending = store.layer({ layer: 1 });
  assert.equal(store.setRevision(2), true);
  assert.equal(store.setRevision(2), false);
  await assert.rejects(pending, isAbort);
  assert.equal(store.size, 0);
  assert.equal(store.peek("encoder", 0), undefined);
  kernel.setRevision(2);
  const next = store.layer({ layer: 0 });
  assert.equal(kernel.seen.at(-1).revision, 2);
  await kernel.flush();
  assert.ok(await next);
});

test("big layers: heads arrive into a layer-sized array; peek needs the heads asked", async () => {
  const kernel = fakeKernel();
  const store = createStore(kernel.source, { revision: 1 });
  const p = store.layer({ layer: 1, heads: [2], dtype: "float16" });
  assert.deepEqual(kernel.seen[0].heads, [2]);
  assert.equal(kernel.seen[0].dtype, "float16");
  await kernel.flush();
  const entry = await p;
  assert.equal(entry.shape.join(), [H, N, N].join());
  assert.equal(entry.missing, H - 1);
  assert.ok(store.peek("encoder", 1, [2]));
  assert.equal(store.peek("encoder", 1, [0, 2]), undefined);
  assert.equal(store.peek("encoder", 1), undefined, "not the whole layer yet");
  // the next ask requests only what is missing
  const q = store.layer({ layer: 1, heads: [0, 2], dtype: "float16" });
  assert.deepEqual(kernel.seen[1].heads, [0]);
  await kernel.flush();
  const both = await q;
  assert.equal(both.data[2 * N * N + 5], Math.fround(value(1, 2, 1, 1)));
  assert.equal(both.data[0 * N * N + 5], Math.fround(value(1, 0, 1, 1)));
  assert.equal(store.bytes, H * N * N * 4, "counted once");
});

test("other kinds (decoder, cross) are their own layers in the same store", async () => {
  const kernel = fakeKernel();
  const store = createStore(kernel.source, { revision: 1 });
  const p = store.layer({ kind: "cross", layer: 0 });
  assert.equal(kernel.seen[0].kind, "cross");
  await kernel.flush();
  await p;
  assert.ok(store.peek("cross", 0));
  assert.equal(store.peek("encoder", 0), undefined);
  assert.equal(layerKey("cross", 0), "cross|0");
});

test("exact rows: asked once, kept, keyed by heads and reduction", async () => {
  const kernel = fakeKernel();
  const store = createStore(kernel.source, { revision: 1 });
  assert.equal(store.exactRow("encoder", 0, [1], "none", 2), undefined);
  assert.equal(store.exactRow("encoder", 0, [1], "none", 2), undefined);
  assert.equal(kernel.seen.length, 1);
  await kernel.flush();
  const row = store.exactRow("encoder", 0, [1], "none", 2);
  assert.equal(row[3], Math.fround(value(0, 1, 2, 3)));
  assert.equal(store.exactRow("encoder", 0, [1, 2], "mean", 2), undefined);
  assert.equal(kernel.seen.length, 2);
});

test("least recently used layers go when the budget is full; the one in use stays", async () => {
  const kernel = fakeKernel();
  const layerBytes = H * N * N * 4;
  const store = createStore(kernel.source, { revision: 1, maxBytes: 2 * layerBytes });
  for (let l = 0; l < L; l++) {
    const p = store.layer({ layer: l });
    await kernel.flush();
    await p;
  }
  assert.ok(store.bytes <= 2 * layerBytes);
  assert.ok(store.peek("encoder", L - 1));
  assert.equal(store.peek("encoder", 0), undefined);
});

test("set_text-like requests go through send(): never kept, never shared", async () => {
  const kernel = fakeKernel();
  const store = createStore(kernel.source, { revision: 1 });
  const a = store.send("set_text", { text: "a" });
  const b = store.send("set_text", { text: "a" });
  assert.equal(kernel.seen.length, 2);
  await kernel.flush();
  await Promise.all([a, b]);
});

test("a reply that cannot be read fails its request, is remembered and reported", async () => {
  const sent = [];
  const requester = createRequester((m) => sent.push(m));
  const store = createStore({ request: requester.request }, { revision: 1 });
  let notified = 0;
  store.subscribe(() => (notified += 1));
  const p = store.layer({ layer: 0 });
  p.catch(() => {});
  requester.receive({ id: sent[0].id, type: "layers", revision: 1, layers: [0], dtype: "float32", shape: [H, N, N] }, []); // no buffer
  await assert.rejects(p, /arrived without its buffer/);
  assert.match(String(store.layerFailure({ layer: 0 }).message), /without its buffer/);
  assert.equal(notified, 1, "the views are told, so they show the failure instead of waiting");
  await assert.rejects(store.layer({ layer: 0 }), /without its buffer/);
  assert.equal(sent.length, 1, "not sent again for this input");
});

test("has() checks presence without counting as a use (prefetch cannot evict what is drawn)", async () => {
  const kernel = fakeKernel();
  const layerBytes = H * N * N * 4;
  const store = createStore(kernel.source, { revision: 1, maxBytes: 2 * layerBytes });
  for (const l of [0, 1]) {
    const p = store.layer({ layer: l });
    await kernel.flush();
    await p;
  }
  assert.ok(store.peek("encoder", 1)); // drawn now
  assert.equal(store.has("encoder", 0), true); // a prefetch check
  const p = store.layer({ layer: 2 });
  await kernel.flush();
  await p;
  assert.ok(store.peek("encoder", 1), "the layer drawn stays");
  assert.equal(store.has("encoder", 0), false);
});

test("what just arrived is never evicted by its own arrival: the heads asked for resolve", async () => {
  const kernel = fakeKernel();
  const layerBytes = H * N * N * 4;
  const store = createStore(kernel.source, { revision: 1, maxBytes: layerBytes });
  const first = store.layer({ layer: 0, heads: [0] });
  await kernel.flush();
  await first;
  const both = store.layer({ layer: 0, heads: [0, 1] }); // asks for head 1 only
  assert.deepEqual(kernel.seen.at(-1).heads, [1]);
  const other = store.layer({ layer: 1 }); // evicts layer 0's partial entry when it lands first
  await kernel.flush();
  await other;
  await kernel.flush();
  const entry = await both;
  assert.ok(entry.present[0] && entry.present[1]);
});

test("an already-aborted signal sends nothing", async () => {
  const kernel = fakeKernel();
  const store = createStore(kernel.source, { revision: 1 });
  const c = new AbortController();
  c.abort();
  await assert.rejects(store.layer({ layer: 0 }, { signal: c.signal }), isAbort);
  await assert.rejects(store.ask("thumbnails", { size: 8 }, { signal: c.signal }), isAbort);
  assert.equal(kernel.seen.length, 0);
});

test("a cancel that cannot be sent (closed comm) still settles the request", async () => {
  let closed = false;
  const r = createRequester((m) => {
    if (closed) throw new Error("Cannot send on a closed comm");
    return m;
  });
  const c = new AbortController();
  const p = r.request("layers", { revision: 1, layers: [0] }, { signal: c.signal });
  closed = true;
  c.abort();
  await assert.rejects(p, isAbort);
  assert.equal(r.pending, 0);
});
