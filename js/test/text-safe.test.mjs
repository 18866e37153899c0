// A host that drops binary buffers: the requester notices a reply without its buffers, asks again
// for base64 text (and for every later request), decodes the chunks and says so once.
import assert from "node:assert/strict";
import { test } from "node:test";
import { buffersDropped, createRequester, fromBase64 } from "../src/protocol.js";

const b64 = (bytes) => Buffer.from(bytes).toString("base64");

test("fromBase64 joins chunks into one DataView", () => {
  const view = fromBase64([b64([1, 2, 3]), b64([4, 5]), ""]);
  assert.deepEqual([...new Uint8Array(view.buffer)], [1, 2, 3, 4, 5]);
});

test("buffersDropped compares buffers_expected with what arrived", () => {
  assert.equal(buffersDropped({ buffers_expected: 2 }, [new DataView(new ArrayBuffer(1))]), true);
  assert.equal(buffersDropped({ buffers_expected: 1 }, [new DataView(new ArrayBuffer(1))]), false);
  assert.equal(buffersDropped({}, []), false);
  assert.equal(buffersDropped({ buffers_expected: 1, b64: [[""]] }, []), false);
});

test("a reply without its buffers switches the requester to base64, once, transparently", async () => {
  const sent = [];
  let notices = 0;
  const r = createRequester((m) => sent.push(m), { onTextSafe: () => (notices += 1) });
  const p = r.request("layers", { revision: 1, layers: [0] });
  assert.equal(sent[0].encoding, undefined);
  // the host dropped the buffer: the same request goes out again, asking for text
  r.receive({ id: sent[0].id, type: "layers", layers: [0], buffers_expected: 1 }, []);
  assert.equal(notices, 1);
  assert.equal(r.textSafe, true);
  assert.equal(sent.length, 2);
  assert.equal(sent[1].encoding, "base64");
  assert.equal(sent[1].type, "layers");
  assert.deepEqual(sent[1].layers, [0]);
  assert.notEqual(sent[1].id, sent[0].id);
  const floats = new Float32Array([0.25, 0.75]);
  const bytes = new Uint8Array(floats.buffer);
  r.receive({ id: sent[1].id, type: "layers", layers: [0], buffers_expected: 1, b64: [[b64(bytes.slice(0, 3)), b64(bytes.slice(3))]] }, []);
  const reply = await p;
  assert.equal("b64" in reply.content, false);
  assert.equal(reply.buffers.length, 1);
  assert.equal(reply.buffers[0].getFloat32(4, true), 0.75);
  // later requests ask for text at once; no second notice
  r.request("thumbnails", { revision: 1, size: 8 }).catch(() => {});
  assert.equal(sent[2].encoding, "base64");
  assert.equal(notices, 1);
});

test("cancelling a request that was re-sent cancels the new id", async () => {
  const sent = [];
  const r = createRequester((m) => sent.push(m));
  const controller = new AbortController();
  const p = r.request("layers", { revision: 1, layers: [2] }, { signal: controller.signal });
  r.receive({ id: sent[0].id, type: "layers", buffers_expected: 1 }, []);
  controller.abort();
  await assert.rejects(p, (err) => err.name === "AbortError");
  assert.deepEqual(sent[2], { type: "cancel", id: sent[1].id });
  assert.equal(r.pending, 0);
});
