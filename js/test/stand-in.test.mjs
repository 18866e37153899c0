// The standalone page's stand-in model (src/stand-in-model.js) and inline data (src/inline-data.js).
import { test } from "node:test";
import assert from "node:assert/strict";
import { deflateSync } from "node:zlib";
import { createStandInModel, sameValue, replyHeader, STATIC_MESSAGE } from "../src/stand-in-model.js";
import {
  textToBytes, unshuffle, decodeLayer, createInlineSource, charToByte, W1252_HIGH, DEFAULT_ESCAPE, DEFAULT_ESCAPED,
  blockEdges, downsample, thumbnailReply,
} from "../src/inline-data.js";
import { decode, halfToFloat } from "../src/codec.js";

// ---- a test-side writer, the mirror of albert_widget/export/html.py ---------------------------
function escapeBytes(bytes) {
  const out = [];
  for (const b of bytes) {
    const k = DEFAULT_ESCAPED.indexOf(b);
    if (k >= 0) out.push(DEFAULT_ESCAPE, 0x41 + k);
    else out.push(b);
  }
  return out;
}
function bytesToText(bytes) {
  return String.fromCharCode(...bytes.map((b) => (b >= 0x80 && b < 0xa0 ? W1252_HIGH[b - 0x80] : b)));
}
function planes(bytes, width) {
  const count = bytes.length / width;
  const out = new Uint8Array(bytes.length);
  for (let i = 0; i < count; i++) for (let k = 0; k < width; k++) out[k * count + i] = bytes[i * width + k];
  return out;
}
/** { text, chunks }: each plane a chunk, deflated (alternately, to mix methods) or kept. */
function element(bytes, width, compress) {
  const p = planes(bytes, width);
  const count = p.length / width;
  const payloads = [];
  const chunks = [];
  for (let k = 0; k < width; k++) {
    const plane = p.subarray(k * count, (k + 1) * count);
    const deflate = compress && k % 2 === 0;
    const payload = deflate ? new Uint8Array(deflateSync(plane)) : plane;
    payloads.push(...payload);
    chunks.push([deflate ? "deflate" : "none", payload.length]);
  }
  return { text: bytesToText(escapeBytes(payloads)), chunks };
}

const flush = () => new Promise((resolve) => setTimeout(resolve, 5));

function softmaxLayer(H, N, seed = 3) {
  const a = new Float32Array(H * N * N);
  let s = seed;
  for (let r = 0; r < H * N; r++) {
    let sum = 0;
    for (let j = 0; j < N; j++) {
      s = (s * 48271) % 2147483647;
      a[r * N + j] = Math.exp((s / 2147483647) * 4);
      sum += a[r * N + j];
    }
    for (let j = 0; j < N; j++) a[r * N + j] /= sum;
  }
  return a;
}

// ---- inline data --------------------------------------------------------------------------------
test("every byte value survives the windows-1252 text with escapes", () => {
  const all = Array.from({ length: 256 }, (_, b) => b);
  const text = bytesToText(escapeBytes([...all, ...all.reverse()]));
  for (const c of ["\u0000", "\r", "<", "\u0081", "\u008d", "\u008f", "\u0090", "\u009d"]) assert.ok(!text.includes(c), JSON.stringify(c));
  const back = textToBytes(text);
  assert.deepEqual(Array.from(back), [...Array.from({ length: 256 }, (_, b) => b), ...Array.from({ length: 256 }, (_, b) => 255 - b)]);
  assert.equal(charToByte()[0x20ac], 0x80);
  assert.throws(() => textToBytes("\u4e00"), /not data/);
  assert.throws(() => textToBytes("~Z"), /bad escape/);
});

test("a chunk table that does not match the data is refused", async () => {
  const { text, chunks } = element(new Uint8Array(8), 2, true);
  await assert.rejects(decodeLayer(text, { shape: [1, 1, 2, 2], dtype: "float16" }, [[chunks[0][0], chunks[0][1] + 1], chunks[1]]), RangeError);
  await assert.rejects(decodeLayer(text, { shape: [1, 1, 2, 2], dtype: "float16" }, [["zip", 1]]), /unknown chunk method|does not match/);
});

test("unshuffle undoes byte planes", () => {
  const raw = Uint8Array.from({ length: 24 }, (_, i) => i * 7);
  assert.deepEqual(unshuffle(planes(raw, 4), 4), raw);
  assert.deepEqual(unshuffle(planes(raw, 2), 2), raw);
  assert.throws(() => unshuffle(new Uint8Array(5), 2), RangeError);
});

test("a float16 layer decodes exactly to the bit patterns written (deflate and plain)", async () => {
  const H = 2;
  const N = 5;
  const halves = Uint16Array.from({ length: H * N * N }, (_, i) => (i * 2654435761) % 0x7c00);
  const bytes = new Uint8Array(halves.buffer);
  for (const compress of [true, false]) {
    const meta = { shape: [1, H, N, N], dtype: "float16" };
    const { text, chunks } = element(bytes, 2, compress);
    const out = await decodeLayer(text, meta, chunks);
    assert.equal(out.dtype, "float16");
    assert.deepEqual(out.shape, [H, N, N]);
    const values = decode({ dtype: "float16", shape: out.shape }, out.buffer);
    for (let i = 0; i < halves.length; i++) assert.equal(values[i], Math.fround(halfToFloat(halves[i])));
  }
});

test("float32 is exact; uint8 rows dequantise within max(row) / 510", async () => {
  const H = 2;
  const N = 7;
  const a = softmaxLayer(H, N);
  const e = element(new Uint8Array(a.buffer.slice(0)), 4, true);
  const f32 = await decodeLayer(e.text, { shape: [1, H, N, N], dtype: "float32" }, e.chunks);
  assert.deepEqual(decode({ dtype: "float32", shape: f32.shape }, f32.buffer), a);

  const rows = H * N;
  const scales = new Float32Array(rows);
  const q = new Uint8Array(rows * N);
  for (let r = 0; r < rows; r++) {
    scales[r] = Math.max(...a.subarray(r * N, (r + 1) * N));
    for (let j = 0; j < N; j++) q[r * N + j] = Math.round((a[r * N + j] / scales[r]) * 255);
  }
  const body = new Uint8Array(rows * 4 + rows * N);
  body.set(planes(new Uint8Array(scales.buffer), 4), 0);
  body.set(q, rows * 4);
  const packed = new Uint8Array(deflateSync(body));
  const text = bytesToText(escapeBytes(packed));
  const u8 = await decodeLayer(text, { shape: [1, H, N, N], dtype: "uint8" }, [["deflate", packed.length]]);
  assert.equal(u8.dtype, "float32");
  const back = decode({ dtype: "float32", shape: u8.shape }, u8.buffer);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < N; j++) assert.ok(Math.abs(back[r * N + j] - a[r * N + j]) <= scales[r] / 510 + 1e-7);
  }
});

test("the inline source decodes lazily, shares a decode in flight, and rejects bad layers", async () => {
  const H = 1;
  const N = 3;
  const layers = [softmaxLayer(H, N, 5), softmaxLayer(H, N, 9)];
  let reads = 0;
  const encoded = layers.map((a) => element(new Uint8Array(a.buffer.slice(0)), 4, true));
  const meta = { shape: [2, H, N, N], dtype: "float32", chunks: encoded.map((e) => e.chunks) };
  const src = createInlineSource(meta, (l) => {
    reads++;
    return encoded[l].text;
  });
  assert.equal(reads, 0);
  const [x, y] = await Promise.all([src.layers([1]), src.layers([1])]);
  assert.equal(reads, 1);
  assert.deepEqual(decode({ dtype: x.dtype, shape: x.shape }, x.buffers[0]), layers[1]);
  assert.equal(y.buffers.length, 1);
  await assert.rejects(src.layers([2]), /not in 0..1/);
});

// ---- the stand-in model ---------------------------------------------------------------------------
function standIn(extra = {}, options = {}) {
  const H = 2;
  const N = 4;
  const data = [softmaxLayer(H, N, 1), softmaxLayer(H, N, 2), softmaxLayer(H, N, 3)];
  const source = {
    async layers(ls) {
      return { dtype: "float32", shape: [H, N, N], buffers: ls.map((l) => new Uint8Array(data[l].buffer.slice(0))) };
    },
  };
  const model = createStandInModel({ num_layers: 3, num_heads: H, tokens: ["a", "b", "c", "d"], layer: 0, heads: [], revision: 1, ...extra }, { source, ...options });
  return { model, data, H, N };
}

test("sameValue compares JSON values deeply", () => {
  assert.ok(sameValue([1, [2, { a: 3 }]], [1, [2, { a: 3 }]]));
  assert.ok(!sameValue([1, 2], [1, 2, 3]));
  assert.ok(!sameValue({ a: 1 }, { b: 1 }));
  assert.ok(sameValue(NaN, NaN));
  assert.ok(!sameValue(null, {}));
});

test("set fires change:<name> and change once per real change, with (model, value)", () => {
  const { model } = standIn();
  const seen = [];
  model.on("change:layer", (m, v) => seen.push(["layer", m === model, v]));
  model.on("change:heads", (m, v) => seen.push(["heads", v]));
  model.on("change", () => seen.push(["change"]));
  model.set("layer", 2);
  model.set("layer", 2); // same value: nothing
  model.set("heads", []); // equal array: nothing
  model.set("heads", [1]);
  model.save_changes();
  assert.deepEqual(seen, [["layer", true, 2], ["change"], ["heads", [1]], ["change"]]);
  assert.equal(model.get("layer"), 2);
  assert.equal(model.saves, 1);
});

test("off removes by event and function, by event, or everything (render's cleanup)", () => {
  const { model } = standIn();
  const f = () => {};
  const g = () => {};
  model.on("change:layer", f);
  model.on("change:layer", g);
  model.on("change:head msg:custom", f);
  assert.equal(model.listenerCount(), 4);
  model.off("change:layer", f);
  assert.equal(model.listenerCount(), 3);
  model.off("change:head");
  assert.equal(model.listenerCount(), 2);
  model.off();
  assert.equal(model.listenerCount(), 0);
});

test("a request is answered like transport.reply_to_request, asynchronously", async () => {
  const { model, data, H, N } = standIn();
  const got = [];
  model.on("msg:custom", (msg, buffers) => got.push([msg, buffers]));
  model.send({ type: "request", revision: 1, layers: [2, 0, 2] });
  assert.equal(got.length, 0);
  await flush();
  assert.equal(got.length, 1);
  const [msg, buffers] = got[0];
  assert.deepEqual(msg, { type: "layers", revision: 1, layers: [2, 0], dtype: "float32", shape: [H, N, N] });
  assert.ok(buffers.every((b) => b instanceof DataView));
  assert.deepEqual(decode({ dtype: msg.dtype, shape: msg.shape }, buffers[0]), data[2]);
  assert.deepEqual(decode({ dtype: msg.dtype, shape: msg.shape }, buffers[1]), data[0]);
});

test("an old revision is ignored; bad layers and set_text get an error message", async () => {
  const { model } = standIn();
  const got = [];
  model.on("msg:custom", (msg) => got.push(msg));
  model.send({ type: "request", revision: 0, layers: [0] });
  model.send({ type: "request", revision: 1, layers: [7] });
  model.send({ type: "request", revision: 1, layers: [] });
  model.send({ type: "set_text", text: "x", text_pair: null });
  model.send({ type: "bogus" });
  await flush();
  assert.equal(got.length, 4);
  assert.ok(got.every((m) => m.type === "error"));
  assert.match(got[0].message, /layer 7 is not in 0\.\.2/);
  assert.match(got[1].message, /must list the layers/);
  assert.equal(got[2].message, STATIC_MESSAGE);
  assert.match(got[3].message, /unknown message type "bogus"/);
  assert.equal(replyHeader({ revision: 3, layers: [0] }, 4, 1), null);
});

test("a request's kind picks that attention's source and is echoed", async () => {
  const cross = new Float32Array(2 * 3 * 4).fill(0.25);
  const sources = {
    encoder: { numLayers: 3, layers: async (ls) => ({ dtype: "float32", shape: [2, 4, 4], buffers: ls.map(() => new Uint8Array(128)) }) },
    cross: { numLayers: 1, layers: async (ls) => ({ dtype: "float32", shape: [2, 3, 4], buffers: ls.map(() => new Uint8Array(cross.buffer.slice(0))) }) },
  };
  const model = createStandInModel({ num_layers: 3, revision: 1 }, { sources });
  const got = [];
  model.on("msg:custom", (msg, buffers) => got.push([msg, buffers]));
  model.send({ type: "request", revision: 1, layers: [0], kind: "cross" });
  model.send({ type: "request", revision: 1, layers: [2], kind: "cross" }); // cross has 1 layer
  model.send({ type: "request", revision: 1, layers: [0], kind: "decoder" });
  await flush();
  const ok = got.find(([m]) => m.type === "layers");
  assert.deepEqual(ok[0], { type: "layers", revision: 1, layers: [0], kind: "cross", dtype: "float32", shape: [2, 3, 4] });
  const errors = got.filter(([m]) => m.type === "error").map(([m]) => m.message);
  assert.ok(errors.some((e) => /layer 2 is not in 0\.\.0/.test(e)));
  assert.ok(errors.some((e) => /no "decoder" attention/.test(e)));
});

test("handlers answer other message types; unavailable ones say why", async () => {
  const { model } = standIn({}, {
    handlers: { ping: async (content) => ({ content: { type: "pong", n: content.n }, buffers: [new Uint8Array([1, 2])] }) },
    unavailable: { neuron: "needs the model" },
  });
  const got = [];
  model.on("msg:custom", (msg, buffers) => got.push([msg, buffers]));
  model.send({ type: "ping", n: 3 });
  model.send({ type: "neuron" });
  await flush();
  const pong = got.find(([m]) => m.type === "pong");
  assert.deepEqual(pong[0], { type: "pong", n: 3 });
  assert.ok(pong[1][0] instanceof DataView && pong[1][0].getUint8(1) === 2);
  assert.deepEqual(got.find(([m]) => m.type === "error")[0], { type: "error", message: "needs the model" });
});

test("one failing listener does not stop the others", () => {
  const { model } = standIn();
  const seen = [];
  const original = console.error;
  console.error = () => {};
  try {
    model.on("change:layer", () => {
      throw new Error("boom");
    });
    model.on("change:layer", () => seen.push("second"));
    model.set("layer", 1);
  } finally {
    console.error = original;
  }
  assert.deepEqual(seen, ["second"]);
});

// ---- thumbnails (model view) --------------------------------------------------------------------
test("blockEdges / downsample match albert_widget/thumbnails.py's block means", () => {
  assert.deepEqual(Array.from(blockEdges(10, 4)), [0, 2, 5, 7, 10]);
  const n = 5;
  const m = Float32Array.from({ length: n * n }, (_, k) => k);
  const d = downsample(m, n, 2); // blocks [0,2) [2,5)
  assert.equal(d.length, 4);
  const mean = (rows, cols) => {
    let s = 0;
    for (const i of rows) for (const j of cols) s += m[i * n + j];
    return s / (rows.length * cols.length);
  };
  assert.ok(Math.abs(d[0] - mean([0, 1], [0, 1])) < 1e-5);
  assert.ok(Math.abs(d[3] - mean([2, 3, 4], [2, 3, 4])) < 1e-5);
  assert.deepEqual(downsample(m, n, 8), m);
});

test("thumbnailReply: uint8 thumbnails with one scale each, in the Python message format", async () => {
  const L = 2;
  const H = 2;
  const N = 6;
  const layers = [softmaxLayer(H, N, 1), softmaxLayer(H, N, 2)];
  const out = await thumbnailReply(async (l) => layers[l], { size: 4 }, { revision: 3, numLayers: L, numHeads: H, numTokens: N });
  assert.deepEqual(out.content.shape, [L, H, 4, 4]);
  assert.equal(out.content.type, "thumbnails");
  assert.equal(out.content.downsampled, true);
  assert.equal(out.content.scales.length, L * H);
  const t = downsample(layers[1].subarray(N * N, 2 * N * N), N, 4);
  const k = 1 * H + 1;
  for (let c = 0; c < 16; c++) {
    assert.ok(Math.abs((out.buffers[0][k * 16 + c] / 255) * out.content.scales[k] - t[c]) <= out.content.scales[k] / 510 + 1e-7);
  }
  await assert.rejects(thumbnailReply(async (l) => layers[l], { size: 2 }, { revision: 3, numLayers: L, numHeads: H, numTokens: N }), /4\.\.256/);
});
