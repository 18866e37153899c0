// The standalone page's local trait model (src/local-model.js) and its data source (src/inline-data.js).

import assert from "node:assert/strict";
import { test } from "node:test";
import { deflateSync } from "node:zlib";
import { decode, halfToFloat } from "../src/codec.js";
import {
  blockEdges,
  charToByte,
  createInlineSource,
  DEFAULT_ESCAPE,
  DEFAULT_ESCAPED,
  decodeLayer,
  downsample,
  inlineSource,
  STATIC_REFUSALS,
  textToBytes,
  thumbnailReply,
  unshuffle,
  W1252_HIGH,
} from "../src/inline-data.js";
import { createLocalModel, sameValue } from "../src/local-model.js";
import { createStore } from "../src/store.js";

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

// ---- the local model and the inline source ---------------------------------------------------------
function standIn(extra = {}) {
  const H = 2;
  const N = 4;
  const data = [softmaxLayer(H, N, 1), softmaxLayer(H, N, 2), softmaxLayer(H, N, 3)];
  const encoder = {
    numLayers: 3,
    async layers(ls) {
      for (const l of ls) if (!(l >= 0 && l < 3)) throw new RangeError(`requested layer ${l} is not in 0..2`);
      return { dtype: "float32", shape: [H, N, N], buffers: ls.map((l) => new Uint8Array(data[l].buffer.slice(0))) };
    },
  };
  const model = createLocalModel({ num_layers: 3, num_heads: H, tokens: ["a", "b", "c", "d"], layer: 0, heads: [], revision: 1, ...extra });
  const source = inlineSource({ encoder }, { numTokens: N, numHeads: H });
  return { model, source, data, H, N };
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
  model.on("change:heads", (_m, v) => seen.push(["heads", v]));
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

test("the inline source answers layers in the kernel's reply format, through the same store", async () => {
  const { source, data, H, N } = standIn();
  const reply = await source.request("layers", { revision: 1, layers: [2], dtype: "float16" });
  assert.deepEqual(reply.content, { type: "layers", revision: 1, layers: [2], dtype: "float32", shape: [H, N, N] });
  assert.ok(reply.buffers.every((b) => b instanceof DataView));
  assert.deepEqual(decode({ dtype: "float32", shape: [H, N, N] }, reply.buffers[0]), data[2]);
  const store = createStore(source, { revision: 1 });
  const entry = await store.layer({ layer: 1, heads: [1] });
  assert.deepEqual(entry.data, data[1], "a request for some heads gets the whole layer here");
  assert.ok(store.peek("encoder", 1));
});

test("the inline source refuses what needs a model, and bad layers, with the reason", async () => {
  const { source } = standIn();
  await assert.rejects(source.request("layers", { revision: 1, layers: [7] }), /layer 7 is not in 0\.\.2/);
  await assert.rejects(source.request("set_text", { text: "x" }), (err) => err.message === STATIC_REFUSALS.set_text);
  await assert.rejects(source.request("neuron", { revision: 1, layer: 0, head: 0, query: 0 }), (err) => err.message === STATIC_REFUSALS.neuron);
  await assert.rejects(source.request("layers", { revision: 1, layers: [0], kind: "decoder" }), /no "decoder" attention/);
  await assert.rejects(source.request("bogus", {}), /unknown request type "bogus"/);
  const thumbs = await source.request("thumbnails", { revision: 1, size: 16 });
  assert.equal(thumbs.content.type, "thumbnails");
  assert.deepEqual(thumbs.content.shape, [3, 2, 4, 4]);
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
  await assert.rejects(
    thumbnailReply(async (l) => layers[l], { size: 2 }, { revision: 3, numLayers: L, numHeads: H, numTokens: N }),
    /4\.\.256/,
  );
});
