// Binary codec: (meta, buffer) -> Float32Array.
//
// meta = { dtype: "float32" | "float16" | "uint8", shape: [H, N, N], scale? }
// Buffers are little-endian, C order. They arrive from anywidget as DataView, but ArrayBuffer and
// typed arrays are accepted too. A DataView may start at a byteOffset that is not a multiple of the
// element size: then the bytes are copied before a typed view is made over them.

const BYTES = { float32: 4, float16: 2, uint8: 1 };

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Number of elements of a shape (1 for []). Throws on a malformed shape. */
export function shapeSize(shape) {
  if (!Array.isArray(shape)) throw new TypeError("shape must be an array");
  let n = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new TypeError(`bad dimension ${d} in shape`);
    n *= d;
  }
  return n;
}

/** Bytes per element of a dtype; throws for an unknown dtype. */
export function bytesPerElement(dtype) {
  const b = BYTES[dtype];
  if (b === undefined) throw new TypeError(`unsupported dtype ${JSON.stringify(dtype)}`);
  return b;
}

/** Any buffer-ish value as { buffer, byteOffset, byteLength }. */
export function asBytes(data) {
  if (data instanceof ArrayBuffer) return { buffer: data, byteOffset: 0, byteLength: data.byteLength };
  if (ArrayBuffer.isView(data)) return { buffer: data.buffer, byteOffset: data.byteOffset, byteLength: data.byteLength };
  throw new TypeError("expected a DataView, ArrayBuffer or typed array");
}

/** A fresh ArrayBuffer copy of the bytes (aligned at 0). */
function copyBytes({ buffer, byteOffset, byteLength }) {
  return buffer.slice(byteOffset, byteOffset + byteLength);
}

let HALF_TABLE = null;

/** Lookup table: all 65536 IEEE 754 half-precision bit patterns as float32. Built once. */
function halfTable() {
  if (HALF_TABLE === null) {
    HALF_TABLE = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) HALF_TABLE[h] = halfToFloat(h);
  }
  return HALF_TABLE;
}

/** One IEEE 754 binary16 bit pattern (0..65535) as a JS number. */
export function halfToFloat(h) {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24; // zero / subnormal
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/**
 * Decode one buffer into a Float32Array of shapeSize(meta.shape) values.
 * float32 aligned buffers are viewed without copy; everything else is copied.
 */
export function decode(meta, data) {
  if (meta === null || typeof meta !== "object") throw new TypeError("meta must be an object");
  const { dtype, shape } = meta;
  const size = shapeSize(shape);
  const width = bytesPerElement(dtype);
  const bytes = asBytes(data);
  if (bytes.byteLength < size * width) {
    throw new RangeError(`buffer has ${bytes.byteLength} bytes, ${dtype} ${JSON.stringify(shape)} needs ${size * width}`);
  }
  const used = { ...bytes, byteLength: size * width };

  if (dtype === "float32") {
    if (!LITTLE_ENDIAN) {
      const dv = new DataView(used.buffer, used.byteOffset, used.byteLength);
      const out = new Float32Array(size);
      for (let i = 0; i < size; i++) out[i] = dv.getFloat32(i * 4, true);
      return out;
    }
    if (used.byteOffset % 4 === 0) return new Float32Array(used.buffer, used.byteOffset, size);
    return new Float32Array(copyBytes(used));
  }

  if (dtype === "float16") {
    const table = halfTable();
    const out = new Float32Array(size);
    if (LITTLE_ENDIAN && used.byteOffset % 2 === 0) {
      const u16 = new Uint16Array(used.buffer, used.byteOffset, size);
      for (let i = 0; i < size; i++) out[i] = table[u16[i]];
    } else {
      const dv = new DataView(used.buffer, used.byteOffset, used.byteLength);
      for (let i = 0; i < size; i++) out[i] = table[dv.getUint16(i * 2, true)];
    }
    return out;
  }

  // uint8: value = byte / 255 * scale
  const scale = meta.scale === undefined || meta.scale === null ? 1 : Number(meta.scale);
  const factor = scale / 255;
  const u8 = new Uint8Array(used.buffer, used.byteOffset, size);
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) out[i] = u8[i] * factor;
  return out;
}

/** The [N, N] subarray (no copy) of head `head` in an [H, N, N] array. */
export function layerSlice(array, shape, head) {
  if (!Array.isArray(shape) || shape.length !== 3) throw new TypeError("shape must be [H, N, N]");
  const [H, N, M] = shape;
  if (!Number.isInteger(head) || head < 0 || head >= H) throw new RangeError(`head ${head} out of range 0..${H - 1}`);
  const stride = N * M;
  return array.subarray(head * stride, (head + 1) * stride);
}
