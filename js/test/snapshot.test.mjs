// The saved snapshot answers a request for its layer only when no kernel has answered anything.
import assert from "node:assert/strict";
import { test } from "node:test";
import { snapshotReply, withSnapshot } from "../src/snapshot.js";

const snap = {
  revision: 3,
  kind: "encoder",
  layer: 2,
  dtype: "uint8",
  shape: [1, 2, 2],
  scale: 0.5,
  data: new DataView(new Uint8Array([0, 255, 51, 102]).buffer),
};

test("snapshotReply answers exactly its layer, revision and kind", () => {
  const reply = snapshotReply(snap, { revision: 3, layers: [2], dtype: "float32" });
  assert.deepEqual(reply.content.layers, [2]);
  assert.deepEqual(reply.content.scales, [0.5]);
  assert.equal(reply.buffers[0].getUint8(1), 255);
  assert.equal(snapshotReply(snap, { revision: 4, layers: [2] }), null);
  assert.equal(snapshotReply(snap, { revision: 3, layers: [1] }), null);
  assert.equal(snapshotReply(snap, { revision: 3, layers: [2], kind: "cross" }), null);
  assert.equal(snapshotReply(snap, { revision: 3, layers: [2], heads: [0] }), null);
  assert.equal(snapshotReply({}, { revision: 3, layers: [2] }), null);
});

function silentKernel() {
  return { replies: 0, request: () => new Promise(() => {}) };
}

test("with no kernel the snapshot answers after the wait, and says so", async () => {
  let said = 0;
  const source = withSnapshot(silentKernel(), { get: () => snap }, { wait: 5, onSnapshot: () => (said += 1) });
  const reply = await source.request("layers", { revision: 3, layers: [2] });
  assert.equal(reply.content.dtype, "uint8");
  assert.equal(said, 1);
});

test("a kernel that answers wins; a kernel that answered before keeps the snapshot out", async () => {
  const live = { content: { dtype: "float32" }, buffers: [] };
  const answering = { replies: 0, request: () => Promise.resolve(live) };
  const source = withSnapshot(answering, { get: () => snap }, { wait: 5 });
  assert.equal(await source.request("layers", { revision: 3, layers: [2] }), live);
  let said = 0;
  const slow = { replies: 1, request: () => new Promise((resolve) => setTimeout(() => resolve(live), 30)) };
  const other = withSnapshot(slow, { get: () => snap }, { wait: 5, onSnapshot: () => (said += 1) });
  assert.equal(await other.request("layers", { revision: 3, layers: [2] }), live);
  assert.equal(said, 0);
});
