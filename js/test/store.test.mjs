import { test } from "node:test";
import assert from "node:assert/strict";
import { createStore, neighbours } from "../src/store.js";

const H = 2;
const N = 3;
const SHAPE = [H, N, N];

function layerBuffer(layer, offset = 0) {
  const values = Float32Array.from({ length: H * N * N }, (_, i) => layer + i / 100);
  const bytes = new Uint8Array(values.buffer);
  const buf = new ArrayBuffer(bytes.length + offset);
  new Uint8Array(buf).set(bytes, offset);
  return new DataView(buf, offset, bytes.length);
}

function reply(revision, layers, offset = 0) {
  return [{ type: "layers", revision, layers, dtype: "float32", shape: SHAPE }, layers.map((l) => layerBuffer(l, offset))];
}

function setup(options = {}) {
  const sent = [];
  const data = [];
  const errors = [];
  let clock = 0;
  const store = createStore({
    send: (m) => sent.push(m),
    onData: (layers, revision) => data.push({ layers, revision }),
    onError: (m) => errors.push(m),
    now: () => clock,
    ...options,
  });
  return { store, sent, data, errors, tick: (ms) => (clock += ms) };
}

test("neighbours stay in range", () => {
  assert.deepEqual(neighbours(0, 12), [1]);
  assert.deepEqual(neighbours(5, 12), [4, 6]);
  assert.deepEqual(neighbours(11, 12), [10]);
  assert.deepEqual(neighbours(0, 1), []);
});

test("needs a send function", () => {
  assert.throws(() => createStore({}), TypeError);
});

test("need requests only missing, non-pending layers, in one message", () => {
  const { store, sent } = setup({ revision: 4 });
  assert.deepEqual(store.need([2, 3, 3, -1, 1.5]), [2, 3]);
  assert.deepEqual(sent, [{ type: "request", revision: 4, layers: [2, 3] }]);
  assert.deepEqual(store.need([2, 3]), []);
  assert.equal(sent.length, 1);
  assert.ok(store.isPending(2));
  store.handleMessage(...reply(4, [2]));
  assert.ok(!store.isPending(2));
  assert.deepEqual(store.need([2, 3, 4]), [4]);
  assert.deepEqual(sent[1], { type: "request", revision: 4, layers: [4] });
});

test("layers message is decoded and cached; onData fires", () => {
  const { store, data } = setup({ revision: 1 });
  store.need([0]);
  assert.equal(store.handleMessage(...reply(1, [0], 1)), true); // unaligned buffer
  assert.ok(store.has(0));
  const entry = store.get(0);
  assert.deepEqual(entry.shape, SHAPE);
  assert.equal(entry.data.length, H * N * N);
  assert.ok(Math.abs(entry.data[5] - 0.05) < 1e-6);
  assert.deepEqual(data, [{ layers: [0], revision: 1 }]);
});

test("messages for another revision are ignored", () => {
  const { store, data } = setup({ revision: 2 });
  store.need([0]);
  store.handleMessage(...reply(1, [0]));
  store.handleMessage(...reply(3, [0]));
  assert.ok(!store.has(0));
  assert.ok(store.isPending(0));
  assert.equal(data.length, 0);
});

test("unrequested layers of the current revision are kept (another view asked)", () => {
  const { store } = setup({ revision: 0 });
  store.handleMessage(...reply(0, [5, 6]));
  assert.ok(store.has(5) && store.has(6));
});

test("revision change clears cache and pending and requests again", () => {
  const { store, sent } = setup({ revision: 0 });
  store.need([0, 1]);
  store.handleMessage(...reply(0, [0]));
  assert.equal(store.setRevision(0), false);
  assert.equal(store.setRevision(1), true);
  assert.equal(store.revision, 1);
  assert.ok(!store.has(0));
  assert.ok(!store.isPending(1));
  assert.equal(store.bytes, 0);
  store.need([0, 1]);
  assert.deepEqual(sent.at(-1), { type: "request", revision: 1, layers: [0, 1] });
  // a late reply for the old revision does not land
  store.handleMessage(...reply(0, [0]));
  assert.ok(!store.has(0));
});

test("focus requests the layer, then prefetches its neighbours when it arrives", () => {
  const { store, sent } = setup({ revision: 7 });
  store.focus(3, 12);
  assert.deepEqual(sent, [{ type: "request", revision: 7, layers: [3] }]);
  store.handleMessage(...reply(7, [3]));
  assert.deepEqual(sent[1], { type: "request", revision: 7, layers: [2, 4] });
  store.focus(3, 12); // nothing more to ask
  assert.equal(sent.length, 2);
  store.handleMessage(...reply(7, [2, 4]));
  store.focus(4, 12); // cached: prefetch 5 (3 is cached)
  assert.deepEqual(sent[2], { type: "request", revision: 7, layers: [5] });
});

test("focus at the edges and out of range", () => {
  const { store, sent } = setup({ revision: 0 });
  store.focus(0, 1);
  store.handleMessage(...reply(0, [0]));
  assert.deepEqual(sent, [{ type: "request", revision: 0, layers: [0] }]);
  store.focus(5, 1);
  assert.equal(sent.length, 1);
});

test("a pending request times out and can be sent again", () => {
  const { store, sent, tick } = setup({ pendingTimeoutMs: 1000 });
  store.need([1]);
  tick(999);
  store.need([1]);
  assert.equal(sent.length, 1);
  tick(1);
  store.need([1]);
  assert.equal(sent.length, 2);
});

test("an error message clears pending, reports it, and allows a retry later", () => {
  const { store, sent, errors, tick } = setup({ retryAfterMs: 500 });
  store.need([1, 2]);
  assert.equal(store.handleMessage({ type: "error", message: "boom" }, []), true);
  assert.deepEqual(errors, ["boom"]);
  assert.ok(!store.isPending(1));
  store.need([1]);
  assert.equal(sent.length, 1, "no immediate re-request after a failure");
  tick(500);
  store.need([1]);
  assert.equal(sent.length, 2);
});

test("missing buffers and undecodable payloads are reported, not thrown", () => {
  const { store, errors } = setup();
  store.need([0, 1]);
  store.handleMessage({ type: "layers", revision: 0, layers: [0, 1], dtype: "float32", shape: SHAPE }, [layerBuffer(0)]);
  assert.ok(store.has(0));
  assert.ok(!store.has(1));
  assert.match(errors[0], /layer 1/);
  store.handleMessage({ type: "layers", revision: 0, layers: [2], dtype: "float32", shape: SHAPE }, [new DataView(new ArrayBuffer(4))]);
  assert.ok(!store.has(2));
  assert.match(errors[1], /decode layer 2/);
});

test("other messages are not consumed", () => {
  const { store } = setup();
  assert.equal(store.handleMessage({ type: "something" }, []), false);
  assert.equal(store.handleMessage(null, []), false);
});

test("least recently used layers are evicted beyond maxBytes, never the focused one", () => {
  const bytesPerLayer = H * N * N * 4;
  const { store } = setup({ maxBytes: bytesPerLayer * 2 });
  store.focus(0, 10);
  store.handleMessage(...reply(0, [0]));
  store.handleMessage(...reply(0, [1, 2]));
  assert.equal(store.size, 2);
  assert.ok(store.has(0), "focused layer kept");
  assert.ok(!store.has(1), "oldest non-focused layer dropped");
  assert.ok(store.has(2));
  assert.equal(store.bytes, bytesPerLayer * 2);
});

test("a re-sent layer replaces the cached one without double counting", () => {
  const { store } = setup();
  store.handleMessage(...reply(0, [0]));
  store.handleMessage(...reply(0, [0]));
  assert.equal(store.size, 1);
  assert.equal(store.bytes, H * N * N * 4);
});

test("uint8 layers use their per-layer scale from `scales` (or one `scale` for all)", () => {
  const { store } = setup();
  const bytes = (v) => new DataView(new Uint8Array(H * N * N).fill(v).buffer);
  store.handleMessage({ type: "layers", revision: 0, layers: [0, 1], dtype: "uint8", shape: SHAPE, scales: [0.5, 1] }, [bytes(255), bytes(51)]);
  assert.equal(store.get(0).data[0], 0.5);
  assert.ok(Math.abs(store.get(1).data[0] - 0.2) < 1e-6);
  store.handleMessage({ type: "layers", revision: 0, layers: [2], dtype: "uint8", shape: SHAPE, scale: 0.25 }, [bytes(255)]);
  assert.equal(store.get(2).data[0], 0.25);
});
