// Attention inlined in a standalone HTML page (written by albert_widget/export/html.py), decoded
// back into the buffers the widget's messages carry.
//
// Each layer is one <script type="application/octet-stream" data-aw-layer="l"> element whose text
// holds bytes, one character per byte (the WHATWG windows-1252 mapping: the file is written in that
// encoding, so a byte costs one byte on disk; written as UTF-8 the same characters still decode).
// Four bytes the HTML parser would alter or that would end the element (NUL, CR, "<") and the five
// bytes windows-1252 leaves undefined are written as ESC + a letter ("~A".."~I", ESC itself "~I").
// The bytes are the layer's little-endian values split into byte planes (all first bytes, then all
// second bytes, ...), each plane stored as one chunk, zlib-compressed or as it is (the writer keeps
// whichever is smaller: mantissa bytes are noise, exponent bytes compress).
//
// meta = { format, dtype: "float16" | "float32" | "uint8", shape: [L, H, N, N], layout: "byte-planes",
//          chunks: [per layer: [[method: "deflate" | "none", bytes], ...]],
//          kinds: { encoder | decoder | cross: { shape: [L, H, N, M], chunks } },
//          escape: 126, escaped: [0, 13, 60, 129, 141, 143, 144, 157, 126], error_bound }
// uint8: per layer, H*N float32 row scales (4 planes) followed by H*N*N bytes; value = byte/255*scale.

import { decode, shapeSize } from "./codec.js";
import { abortError, RequestError } from "./protocol.js";

// WHATWG windows-1252 characters of bytes 0x80..0x9F (undefined bytes map to the C1 control).
export const W1252_HIGH = [
  0x20ac, 0x0081, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021, 0x02c6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008d, 0x017d, 0x008f, 0x0090, 0x2018, 0x2019,
  0x201c, 0x201d, 0x2022, 0x2013, 0x2014, 0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0x009d, 0x017e, 0x0178,
];

let CHAR_TO_BYTE = null;

/** Code point -> byte of the windows-1252 mapping (-1 for a character it cannot hold). */
export function charToByte() {
  if (CHAR_TO_BYTE === null) {
    CHAR_TO_BYTE = new Int16Array(0x2123).fill(-1);
    for (let b = 0; b < 256; b++) if (b < 0x80 || b >= 0xa0) CHAR_TO_BYTE[b] = b;
    W1252_HIGH.forEach((c, k) => {
      CHAR_TO_BYTE[c] = 0x80 + k;
    });
  }
  return CHAR_TO_BYTE;
}

export const DEFAULT_ESCAPE = 0x7e;
export const DEFAULT_ESCAPED = [0x00, 0x0d, 0x3c, 0x81, 0x8d, 0x8f, 0x90, 0x9d, 0x7e];

/** The bytes held by an element's text (see the header): windows-1252 characters, escapes undone. */
export function textToBytes(text, { escape: marker = DEFAULT_ESCAPE, escaped = DEFAULT_ESCAPED } = {}) {
  const table = charToByte();
  const out = new Uint8Array(text.length);
  let o = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const b = c < table.length ? table[c] : -1;
    if (b < 0) throw new RangeError(`character U+${c.toString(16).padStart(4, "0")} at ${i} is not data`);
    if (b === marker) {
      const code = i + 1 < text.length ? text.charCodeAt(i + 1) - 0x41 : -1;
      if (!(code >= 0 && code < escaped.length)) throw new RangeError(`bad escape at ${i}`);
      out[o++] = escaped[code];
      i++;
    } else {
      out[o++] = b;
    }
  }
  return out.subarray(0, o);
}

/** Byte planes back to interleaved elements: plane k holds byte k of every `width`-byte element. */
export function unshuffle(planes, width) {
  if (width === 1) return planes;
  if (planes.length % width !== 0) throw new RangeError(`${planes.length} bytes are not ${width}-byte elements`);
  const count = planes.length / width;
  const out = new Uint8Array(planes.length);
  for (let k = 0; k < width; k++) {
    const base = k * count;
    for (let i = 0; i < count; i++) out[i * width + k] = planes[base + i];
  }
  return out;
}

/** zlib-inflate bytes with the browser's DecompressionStream. */
export async function inflate(bytes) {
  if (typeof globalThis.DecompressionStream !== "function") {
    throw new Error("this browser cannot decompress the page's data (DecompressionStream is missing)");
  }
  const stream = new Blob([bytes]).stream().pipeThrough(new globalThis.DecompressionStream("deflate"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

const WIDTH = { float16: 2, float32: 4, uint8: 1 };

/** The chunks of a layer's bytes, each inflated or kept, joined: the layer's byte planes. */
export async function unpackChunks(bytes, chunks) {
  const parts = [];
  let offset = 0;
  for (const [method, size] of chunks) {
    if (!Number.isInteger(size) || size < 0 || offset + size > bytes.length) throw new RangeError("the page's chunk table does not match its data");
    const chunk = bytes.subarray(offset, offset + size);
    offset += size;
    if (method === "deflate") parts.push(await inflate(chunk));
    else if (method === "none") parts.push(chunk);
    else throw new TypeError(`unknown chunk method ${JSON.stringify(method)}`);
  }
  if (offset !== bytes.length) throw new RangeError(`the layer holds ${bytes.length} bytes, its chunks ${offset}`);
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/**
 * Decode one layer's element text into { dtype, shape: [H, N, N], buffer } where buffer is what a
 * widget reply carries (little-endian float16/float32 bytes; uint8 is dequantised to float32).
 * `chunks`: the layer's chunk table (meta.chunks[l]); missing = one uncompressed chunk.
 */
export async function decodeLayer(text, meta, chunks = null) {
  const [, H, N, M] = meta.shape;
  const dtype = meta.dtype;
  const width = WIDTH[dtype];
  if (!width) throw new TypeError(`unknown dtype ${JSON.stringify(dtype)} in the page's data`);
  let bytes = textToBytes(text, meta);
  if (chunks) bytes = await unpackChunks(bytes, chunks);
  const size = shapeSize([H, N, M]);
  const shape = [H, N, M];
  if (dtype === "uint8") {
    const rows = H * N;
    if (bytes.length !== rows * 4 + size) throw new RangeError(`layer has ${bytes.length} bytes, expected ${rows * 4 + size}`);
    const scales = new Float32Array(unshuffle(bytes.subarray(0, rows * 4), 4).buffer);
    const q = bytes.subarray(rows * 4);
    const out = new Float32Array(size);
    for (let r = 0; r < rows; r++) {
      const f = scales[r] / 255;
      const base = r * M;
      for (let j = 0; j < M; j++) out[base + j] = q[base + j] * f;
    }
    return { dtype: "float32", shape, buffer: new Uint8Array(out.buffer) };
  }
  if (bytes.length !== size * width) throw new RangeError(`layer has ${bytes.length} bytes, expected ${size * width}`);
  return { dtype, shape, buffer: unshuffle(bytes, width) };
}

/**
 * A layer source over the page's elements: layers(indices) -> Promise<{ dtype, shape, buffers }>.
 * `readText(l)` returns the text of layer l's element. Decoding is lazy; a layer being decoded is
 * shared by concurrent requests; nothing is kept afterwards (the widget's store caches).
 * `kind`: which attention of meta.kinds (encoder by default; decoder / cross for BART/T5).
 */
export function createInlineSource(meta, readText, kind = "encoder") {
  const inFlight = new Map();
  const own = (meta.kinds && meta.kinds[kind]) || { shape: meta.shape, chunks: meta.chunks };
  const kindMeta = { ...meta, shape: own.shape, chunks: own.chunks };
  const numLayers = own.shape[0];
  function one(l) {
    if (!Number.isInteger(l) || l < 0 || l >= numLayers) return Promise.reject(new RangeError(`requested layer ${l} is not in 0..${numLayers - 1}`));
    if (!inFlight.has(l)) {
      const p = Promise.resolve()
        .then(() => decodeLayer(readText(l), kindMeta, kindMeta.chunks ? kindMeta.chunks[l] : null))
        .finally(() => inFlight.delete(l));
      inFlight.set(l, p);
    }
    return inFlight.get(l);
  }
  async function layers(indices) {
    const decoded = await Promise.all(indices.map(one));
    const dtypes = new Set(decoded.map((d) => d.dtype));
    if (dtypes.size > 1) throw new Error("layers decoded to different dtypes");
    return { dtype: decoded[0].dtype, shape: decoded[0].shape, buffers: decoded.map((d) => d.buffer) };
  }
  return { layers, layer: one, numLayers };
}

// ---- model-view thumbnails (the page's {type: "thumbnails"} request), as albert_widget/thumbnails.py

export const THUMB_MIN_SIZE = 4;
export const THUMB_MAX_SIZE = 256;

/** size + 1 block edges splitting n tokens: block b holds floor(b*n/size) .. floor((b+1)*n/size) - 1. */
export function blockEdges(n, size) {
  const edges = new Int32Array(size + 1);
  for (let b = 0; b <= size; b++) edges[b] = Math.floor((b * n) / size);
  return edges;
}

/** Block-average an [n, n] matrix to [s, s], s = min(size, n) (a copy when n <= size). */
export function downsample(matrix, n, size) {
  if (n <= size) return Float32Array.from(matrix.subarray(0, n * n));
  const e = blockEdges(n, size);
  const rowSums = new Float64Array(n * size); // [query, key block]
  for (let i = 0; i < n; i++) {
    for (let b = 0; b < size; b++) {
      let acc = 0;
      for (let j = e[b]; j < e[b + 1]; j++) acc += matrix[i * n + j];
      rowSums[i * size + b] = acc;
    }
  }
  const out = new Float32Array(size * size);
  for (let a = 0; a < size; a++) {
    const rows = e[a + 1] - e[a];
    for (let b = 0; b < size; b++) {
      let acc = 0;
      for (let i = e[a]; i < e[a + 1]; i++) acc += rowSums[i * size + b];
      out[a * size + b] = acc / (rows * (e[b + 1] - e[b]));
    }
  }
  return out;
}

/**
 * The reply to {type: "thumbnails", revision, size} from layers(indices) decoded to Float32Arrays:
 * { content, buffers } in the message format of thumbnails.reply_to_thumbnails (uint8, one scale per
 * thumbnail, l * H + h).
 */
export async function thumbnailReply(readLayer, content, { revision, numLayers, numHeads, numTokens }) {
  const size = content.size === undefined ? 48 : content.size;
  if (!Number.isInteger(size) || size < THUMB_MIN_SIZE || size > THUMB_MAX_SIZE) {
    throw new RangeError(`thumbnail size must be an int in ${THUMB_MIN_SIZE}..${THUMB_MAX_SIZE}, got ${JSON.stringify(size)}`);
  }
  const n = numTokens;
  const s = Math.min(size, n);
  const bytes = new Uint8Array(numLayers * numHeads * s * s);
  const scales = [];
  for (let l = 0; l < numLayers; l++) {
    const data = await readLayer(l);
    for (let h = 0; h < numHeads; h++) {
      const t = downsample(data.subarray(h * n * n, (h + 1) * n * n), n, size);
      let max = 0;
      for (let k = 0; k < t.length; k++) if (t[k] > max) max = t[k];
      const scale = max > 0 ? max : 1;
      scales.push(scale);
      const o = (l * numHeads + h) * s * s;
      for (let k = 0; k < t.length; k++) bytes[o + k] = Math.round(Math.min(1, Math.max(0, t[k] / scale)) * 255);
    }
  }
  return {
    content: {
      type: "thumbnails",
      revision,
      size: s,
      requested: size,
      n,
      downsampled: n > size,
      dtype: "uint8",
      shape: [numLayers, numHeads, s, s],
      scales,
    },
    buffers: [bytes],
  };
}

// ---- the page's data as a store source (store.js), in place of the kernel

/** Why a static page cannot answer some requests: there is no model in it. */
export const STATIC_REFUSALS = {
  set_text: "This is a static export: there is no model here to run on new text.",
  neuron: "The neuron view needs the model itself (query and key vectors); this static page holds only the attention.",
  explain: "The explain view needs the model; this static page holds only the attention.",
  head_stats: "Head statistics are computed by Python; this static page holds only the attention.",
  row: "This page holds the attention at the precision it was saved with; there is no exact row to fetch.",
  summaries: "Per-head statistics are computed by Python; this static page shows the thumbnails (Colour by: thumbnails).",
  topk: "Top-k keys are computed by Python for compact captures; this static page holds whole layers.",
};

/**
 * A source (contract.d.ts `Source`) over the data inlined in a standalone page: `layers` and
 * `thumbnails` are answered from it, in the kernel's reply format; everything else is refused with
 * the reason. `kinds`: one createInlineSource per attention kind.
 * @param {Record<string, ReturnType<typeof createInlineSource>>} kinds
 * @param {{ numTokens: number, numHeads: number }} shape  of the encoder's attention
 */
export function inlineSource(kinds, { numTokens, numHeads }) {
  const decodeLayer = (l) => kinds.encoder.layers([l]).then(({ dtype, shape, buffers }) => decode({ dtype, shape }, buffers[0]));
  async function answer(type, params) {
    if (type === "layers") {
      const kind = params.kind || "encoder";
      const src = kinds[kind];
      if (!src) throw new RequestError(`there is no ${JSON.stringify(kind)} attention; this page has ${Object.keys(kinds).join(", ")}`, { type });
      // Whole layers: the page holds every head anyway, so a request for some heads gets them all.
      const { dtype, shape, buffers } = await src.layers(params.layers);
      const content = { type, revision: params.revision, layers: params.layers, dtype, shape };
      if (kind !== "encoder") content.kind = kind;
      return { content, buffers: buffers.map((b) => new DataView(b.buffer, b.byteOffset, b.byteLength)) };
    }
    if (type === "thumbnails") {
      const out = await thumbnailReply(decodeLayer, params, {
        revision: params.revision,
        numLayers: kinds.encoder.numLayers,
        numHeads,
        numTokens,
      });
      return { content: out.content, buffers: out.buffers.map((b) => new DataView(b.buffer, b.byteOffset, b.byteLength)) };
    }
    throw new RequestError(STATIC_REFUSALS[type] || `unknown request type ${JSON.stringify(type)}`, { type });
  }
  return {
    request(type, params = {}, { signal } = {}) {
      if (signal && signal.aborted) return Promise.reject(abortError());
      return answer(type, params).catch((err) => {
        throw err instanceof RequestError ? err : new RequestError(err && err.message ? err.message : String(err), { type });
      });
    },
  };
}
