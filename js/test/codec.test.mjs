import assert from "node:assert/strict";
import { test } from "node:test";
import { bytesPerElement, decode, halfToFloat, layerSlice, shapeSize } from "../src/codec.js";

function f32Bytes(values) {
  return new Uint8Array(new Float32Array(values).buffer);
}

/** A DataView over `bytes` placed at `offset` inside a larger buffer. */
function viewAt(bytes, offset) {
  const buf = new ArrayBuffer(bytes.length + offset + 3);
  new Uint8Array(buf).set(bytes, offset);
  return new DataView(buf, offset, bytes.length);
}

test("shapeSize and bytesPerElement", () => {
  assert.equal(shapeSize([2, 3, 3]), 18);
  assert.equal(shapeSize([]), 1);
  assert.throws(() => shapeSize([2, -1]));
  assert.throws(() => shapeSize("2"));
  assert.equal(bytesPerElement("float16"), 2);
  assert.throws(() => bytesPerElement("int64"), /unsupported dtype/);
});

test("float32 aligned DataView decodes", () => {
  const values = [0, 0.25, 1, -3.5];
  const out = decode({ dtype: "float32", shape: [1, 2, 2] }, viewAt(f32Bytes(values), 8));
  assert.ok(out instanceof Float32Array);
  assert.deepEqual([...out], values);
});

test("float32 unaligned DataView is copied and decodes", () => {
  const values = [0.5, 0.125, 0.375, 1e-7];
  for (const offset of [1, 2, 3, 5]) {
    const out = decode({ dtype: "float32", shape: [1, 2, 2] }, viewAt(f32Bytes(values), offset));
    assert.deepEqual([...out], [...new Float32Array(values)]);
  }
});

test("ArrayBuffer and typed arrays are accepted", () => {
  const bytes = f32Bytes([1, 2, 3, 4]);
  assert.deepEqual([...decode({ dtype: "float32", shape: [4] }, bytes.buffer)], [1, 2, 3, 4]);
  assert.deepEqual([...decode({ dtype: "float32", shape: [4] }, bytes)], [1, 2, 3, 4]);
});

test("short buffers and bad meta are rejected", () => {
  assert.throws(() => decode({ dtype: "float32", shape: [1, 2, 2] }, new DataView(new ArrayBuffer(15))), RangeError);
  assert.throws(() => decode({ dtype: "float64", shape: [1] }, new DataView(new ArrayBuffer(8))), /unsupported/);
  assert.throws(() => decode(null, new DataView(new ArrayBuffer(8))));
  assert.throws(() => decode({ dtype: "uint8", shape: [1] }, "abc"));
});

test("halfToFloat: known bit patterns", () => {
  assert.equal(halfToFloat(0x0000), 0);
  assert.ok(Object.is(halfToFloat(0x8000), -0));
  assert.equal(halfToFloat(0x3c00), 1);
  assert.equal(halfToFloat(0xc000), -2);
  assert.equal(halfToFloat(0x3800), 0.5);
  assert.equal(halfToFloat(0x7bff), 65504);
  assert.equal(halfToFloat(0x0001), 2 ** -24); // smallest subnormal
  assert.equal(halfToFloat(0x03ff), 1023 * 2 ** -24); // largest subnormal
  assert.equal(halfToFloat(0x0400), 2 ** -14); // smallest normal
  assert.equal(halfToFloat(0x7c00), Infinity);
  assert.equal(halfToFloat(0xfc00), -Infinity);
  assert.ok(Number.isNaN(halfToFloat(0x7e00)));
  assert.ok(Math.abs(halfToFloat(0x3555) - 1 / 3) < 1e-3);
});

test("float16 little-endian decode, aligned and unaligned", () => {
  const halves = [0x3c00, 0x3800, 0x0000, 0x3555, 0xc000, 0x0001];
  const bytes = new Uint8Array(halves.length * 2);
  halves.forEach((v, i) => {
    bytes[2 * i] = v & 0xff; // little-endian
    bytes[2 * i + 1] = v >> 8;
  });
  for (const offset of [0, 1, 2, 3]) {
    const out = decode({ dtype: "float16", shape: [6] }, viewAt(bytes, offset));
    assert.deepEqual(
      [...out],
      halves.map((h) => Math.fround(halfToFloat(h))),
    );
  }
});

test("uint8 decode: byte / 255 * scale, scale defaults to 1", () => {
  const bytes = new Uint8Array([0, 51, 255, 128]);
  const plain = decode({ dtype: "uint8", shape: [4] }, viewAt(bytes, 3));
  assert.deepEqual([...plain], [0, 0.2, 1, 128 / 255].map(Math.fround));
  const scaled = decode({ dtype: "uint8", shape: [4], scale: 0.5 }, viewAt(bytes, 0));
  assert.deepEqual([...scaled], [0, 0.1, 0.5, 64 / 255].map(Math.fround));
  const nullScale = decode({ dtype: "uint8", shape: [4], scale: null }, bytes);
  assert.deepEqual([...nullScale], [...plain]);
});

test("decode ignores trailing bytes beyond the shape", () => {
  const out = decode({ dtype: "float32", shape: [2] }, f32Bytes([1, 2, 3]));
  assert.equal(out.length, 2);
});

test("layerSlice returns the [N, N] block of a head without copying", () => {
  const H = 3;
  const N = 2;
  const data = Float32Array.from({ length: H * N * N }, (_, i) => i);
  const s = layerSlice(data, [H, N, N], 1);
  assert.deepEqual([...s], [4, 5, 6, 7]);
  assert.equal(s.buffer, data.buffer);
  assert.throws(() => layerSlice(data, [H, N, N], 3), RangeError);
  assert.throws(() => layerSlice(data, [H, N, N], -1), RangeError);
  assert.throws(() => layerSlice(data, [N, N], 0), TypeError);
});
