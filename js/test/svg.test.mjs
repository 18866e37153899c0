// SVG writer (src/draw/svg.js): vector output, escaped token text, the page's colours and buckets.

import assert from "node:assert/strict";
import { test } from "node:test";
import { headColour, lutIndex, viridisLut } from "../src/draw/colour.js";
import { escapeXml, headViewSvg, matrixViewSvg, SVG_NS, svgColour, viewSvg, withLayer } from "../src/draw/svg.js";
import { numbering } from "../src/numbering.js";
import { tokenInfos } from "../src/views/labels.js";
import { bucketLines } from "../src/views/lines.js";
import { MASK_RGB } from "../src/views/mask.js";
import { cellSize } from "../src/views/matrix.js";

const HOSTILE = [
  '<img src=x onerror="window.__pwned=1">',
  "</script><script>window.__pwned=1</script>",
  '"><svg onload="window.__pwned=1">',
  "a & b ' c",
  "bad\u0001control\uFFFEend",
  "lone\uD800surrogate",
  "emoji \u{1F600} ok",
];
const TOKENS = ["[CLS]", "▁the", ...HOSTILE, "##ing", "[SEP]"];
const ALLOWED_TAGS = new Set(["svg", "title", "desc", "rect", "g", "path", "text", "tspan", "defs", "linearGradient", "stop", "pattern", "line"]);

function attention(n, heads = 2, seed = 1) {
  const data = new Float32Array(heads * n * n);
  let s = seed;
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < n; i++) {
      let sum = 0;
      for (let j = 0; j < n; j++) {
        s = (s * 16807) % 2147483647;
        const v = Math.exp((s / 2147483647 - 0.5) * 6);
        data[(h * n + i) * n + j] = v;
        sum += v;
      }
      for (let j = 0; j < n; j++) data[(h * n + i) * n + j] /= sum;
    }
  }
  return data;
}

function props(tokens = TOKENS, heads = 2) {
  const n = tokens.length;
  return {
    tokens,
    special: tokens.map((t) => t === "[CLS]" || t === "[SEP]"),
    segments: tokens.map((_, i) => (i > n / 2 ? 1 : 0)),
    data: attention(n, heads),
    shape: [heads, n, n],
    threshold: 0,
  };
}

const head = (h) => ({ key: `head:${h}`, label: `head ${h}`, heads: [h], colourIndex: h, reduced: null });

/**
 * A strict scan of the writer's XML: the document is a sequence of tags (double-quoted attributes,
 * no "<" or '"' inside values) and text without "<"; returns the tags and the text.
 */
function scan(svg) {
  const body = svg.replace(/^<\?xml[^>]*\?>\s*/, "");
  const tags = [];
  const texts = [];
  let rest = body;
  const tagRe = /^<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/;
  while (rest.length) {
    const lt = rest.indexOf("<");
    if (lt === -1) {
      texts.push(rest);
      break;
    }
    if (lt > 0) texts.push(rest.slice(0, lt));
    rest = rest.slice(lt);
    const m = tagRe.exec(rest);
    assert.ok(m, `not a well-formed tag at: ${rest.slice(0, 80)}`);
    const attrs = [...m[3].matchAll(/([\w:-]+)="([^"]*)"/g)].map((a) => [a[1], a[2]]);
    tags.push({ close: m[1] === "/", name: m[2], attrs, selfClosing: m[4] === "/" });
    rest = rest.slice(m[0].length);
  }
  for (const t of texts) assert.ok(!t.includes(">") && !t.includes("<"), `raw bracket in text: ${t}`);
  return { tags, texts };
}

function unescapeXml(s) {
  return s
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, "&");
}

function assertSafe(svg) {
  const { tags, texts } = scan(svg);
  for (const t of tags) {
    assert.ok(ALLOWED_TAGS.has(t.name), `unexpected element <${t.name}>`);
    for (const [name, value] of t.attrs) {
      assert.ok(!/^on/i.test(name), `event attribute ${name}`);
      assert.ok(!/href$/i.test(name), `link attribute ${name}`);
      assert.ok(!/javascript:/i.test(value), `script URL in ${name}`);
    }
  }
  return { tags, texts };
}

test("escapeXml escapes markup and drops characters XML 1.0 forbids", () => {
  assert.equal(escapeXml(`<a href="x">&'</a>`), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;");
  assert.equal(escapeXml("a\u0000b\u0008c\u000Bd\u001Fe\uFFFEf"), "a\uFFFDb\uFFFDc\uFFFDd\uFFFDe\uFFFDf");
  assert.equal(escapeXml("x\uD800y"), "x\uFFFDy");
  assert.equal(escapeXml("x\uDC00y"), "x\uFFFDy");
  assert.equal(escapeXml("\u{1F600}\t\n"), "\u{1F600}\t\n"); // valid pair and allowed whitespace kept
  assert.equal(escapeXml(null), "");
});

test("svgColour turns CSS colours into hex + opacity", () => {
  assert.deepEqual(svgColour("#E69F00"), { hex: "#e69f00", opacity: 1 });
  assert.deepEqual(svgColour("#fff"), { hex: "#ffffff", opacity: 1 });
  assert.deepEqual(svgColour("rgba(0, 0, 0, 0.87)"), { hex: "#000000", opacity: 0.87 });
  assert.deepEqual(svgColour("rgb(255 128 0 / 50%)"), { hex: "#ff8000", opacity: 0.5 });
  assert.deepEqual(svgColour("white"), { hex: "#ffffff", opacity: 1 });
  assert.deepEqual(svgColour("color-mix(in srgb, red 10%, blue)", "#123456"), { hex: "#123456", opacity: 1 });
});

test("head view: a vector document with one path per alpha bucket, lines as the canvas draws them", () => {
  const p = props();
  const series = [head(0)];
  const out = headViewSvg({ ...p, series });
  assert.ok(out.svg.startsWith('<?xml version="1.0" encoding="UTF-8"?>'));
  assert.ok(out.svg.includes(`xmlns="${SVG_NS}"`));
  const { tags } = assertSafe(out.svg);
  assert.ok(!tags.some((t) => t.name === "image" || t.name === "foreignObject"));
  const n = p.tokens.length;
  const expected = bucketLines(p.data.subarray(0, n * n), n, { threshold: 0 });
  assert.equal(out.lines, expected.count);
  const paths = tags.filter((t) => t.name === "path");
  assert.equal(paths.length, expected.buckets.length);
  let moves = 0;
  for (const [k, path] of paths.entries()) {
    const a = Object.fromEntries(path.attrs);
    assert.equal(a.stroke, headColour(0).toLowerCase());
    assert.equal(Number(a["stroke-opacity"]), Math.round(expected.buckets[k].alpha * 1e4) / 1e4);
    moves += (a.d.match(/M/g) || []).length;
  }
  assert.equal(moves, expected.count);
});

test("head view: token text is present literally (escaped), left and right", () => {
  const out = headViewSvg({ ...props(), series: [head(1)] });
  const { tags, texts } = assertSafe(out.svg);
  const shown = texts.map(unescapeXml);
  for (const tok of ['<img src=x onerror="window.__pwned=1">', '"><svg onload="window.__pwned=1">', "a & b ' c"]) {
    // long tokens are cut with an ellipsis like the page; the start is always there
    const prefix = tok.slice(0, 12);
    assert.equal(shown.filter((s) => s.startsWith(prefix)).length, 2, tok);
  }
  assert.ok(shown.includes("emoji \u{1F600} ok"));
  assert.ok(shown.includes("bad\uFFFDcontrol\uFFFDend"));
  assert.ok(!out.svg.includes("<img") && !out.svg.includes("<script") && !out.svg.includes("<svg onload"));
  assert.equal(tags.filter((t) => t.name === "text" && !t.close).length, 2 * TOKENS.length + 1); // + legend
});

test("head view: several heads overlay in their palette colours; a focus keeps one row and shades", () => {
  const p = props(TOKENS, 6);
  const out = headViewSvg({ ...p, series: [head(2), head(5)], focus: { side: "left", index: 3 } });
  const { tags } = assertSafe(out.svg);
  const strokes = new Set(tags.filter((t) => t.name === "path").map((t) => Object.fromEntries(t.attrs).stroke));
  assert.deepEqual([...strokes].sort(), [headColour(2), headColour(5)].map((c) => c.toLowerCase()).sort());
  const n = p.tokens.length;
  assert.equal(out.lines, 2 * n); // one query row, every key, two heads
  const single = headViewSvg({ ...p, series: [head(2)], focus: { side: "right", index: 0, locked: true } });
  assert.ok(single.svg.includes('class="aw-shade"'));
  assert.ok(single.svg.includes('stroke-width="2"'));
});

test("head view: a reduction is drawn in the theme foreground; the threshold hides weak lines", () => {
  const p = props();
  const reduced = { key: "mean:0,1", label: "mean of all heads", heads: [0, 1], colourIndex: -1, reduced: "mean" };
  const out = headViewSvg({ ...p, series: [reduced], theme: { foreground: "#102030" }, threshold: 0.2 });
  const { tags } = assertSafe(out.svg);
  for (const t of tags.filter((x) => x.name === "path")) assert.equal(Object.fromEntries(t.attrs).stroke, "#102030");
  const all = headViewSvg({ ...p, series: [reduced] });
  assert.ok(out.lines < all.lines);
});

test("matrix view: rects cover every cell in the viridis colour of its value, no bitmap", () => {
  const p = props();
  const out = matrixViewSvg({ ...p, series: head(1) });
  const { tags } = assertSafe(out.svg);
  assert.ok(!tags.some((t) => t.name === "image"));
  const n = p.tokens.length;
  const cell = cellSize(n);
  const cells = tags
    .filter((t) => t.name === "rect" && !t.attrs.some(([k]) => k === "rx"))
    .map((t) => Object.fromEntries(t.attrs))
    .filter((a) => a.height === String(cell) && /^#[0-9a-f]{6}$/.test(a.fill));
  assert.equal(cells.length, out.rects);
  const m = p.data.subarray(n * n, 2 * n * n);
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of m) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  lo = Math.min(0, lo);
  const lut = viridisLut();
  const x0 = Math.min(...cells.map((a) => Number(a.x)));
  const y0 = Math.min(...cells.map((a) => Number(a.y)));
  let covered = 0;
  for (const a of cells) {
    const i = (Number(a.y) - y0) / cell;
    const j0 = (Number(a.x) - x0) / cell;
    const w = Number(a.width) / cell;
    for (let j = j0; j < j0 + w; j++) {
      const k = lutIndex(m[i * n + j], lo, hi) * 4;
      const hex = "#" + [lut[k], lut[k + 1], lut[k + 2]].map((v) => v.toString(16).padStart(2, "0")).join("");
      assert.equal(a.fill, hex, `cell ${i},${j}`);
      covered++;
    }
  }
  assert.equal(covered, n * n);
  assert.ok(out.svg.includes("<linearGradient"));
});

test("matrix view: rectangular props and a causal mask, grey and hatched like the page", () => {
  const n = 6;
  const tokens = ["a", "b", "c", "d", "e", "f"];
  const base = props(tokens, 1);
  const mask = new Uint8Array(n * n);
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) mask[i * n + j] = 1;
  const out = matrixViewSvg({ ...base, series: head(0), mask });
  assertSafe(out.svg);
  const grey = "#" + MASK_RGB.map((v) => v.toString(16).padStart(2, "0")).join("");
  assert.ok(out.svg.includes(`fill="${grey}"`));
  assert.ok(out.svg.includes('fill="url(#aw-hatch)"'));
  assert.ok(out.svg.includes("hatched: masked"));

  // 3 query rows x 6 key columns (a pair filter): labels from rowInfos / colInfos
  const rowInfos = tokens.slice(0, 3).map((t) => ({ raw: t, text: t.toUpperCase(), special: false, segment: 0 }));
  const colInfos = tokens.map((t) => ({ raw: t, text: `k-${t}`, special: false, segment: 0 }));
  const rect = matrixViewSvg({ tokens, data: new Float32Array(18).fill(1 / 6), shape: [1, 3, 6], series: head(0), rowInfos, colInfos });
  const { texts } = assertSafe(rect.svg);
  assert.ok(texts.includes("A") && texts.includes("k-f") && !texts.includes("D"));
  assert.equal(rect.rects, 3); // one merged run per row (all values equal)
});

test("viewSvg dispatches on the view and refuses what it cannot draw", () => {
  const p = props();
  assert.equal(viewSvg({ view: "model", props: p }), null); // no thumbnails: nothing to draw
  assert.equal(viewSvg({ view: "nope", props: p }), null);
  assert.equal(viewSvg({ view: "head", props: null }), null);
  assert.ok(viewSvg({ view: "head", props: { ...p, series: [head(0)] } }).svg.includes("<path"));
  assert.ok(viewSvg({ view: "matrix", props: { ...p, series: head(0) } }).svg.includes("<rect"));
});

test("a downloaded figure names its layer and head inside the figure", () => {
  const p = props();
  const matrix = viewSvg({ view: "matrix", layer: 3, props: { ...p, series: head(1) } }).svg;
  assert.ok(matrix.includes("layer 3 · head 1"));
  const lines = viewSvg({ view: "head", layer: 3, props: { ...p, series: [head(0), head(1)] } }).svg;
  assert.ok(lines.includes("layer 3 · head 0") && lines.includes("layer 3 · head 1"));
  assert.deepEqual(withLayer({ label: "mean of 6 layers · head 2" }, 3), { label: "mean of 6 layers · head 2" });
});

// --- model, neuron and explain views (src/draw/svg-views.js) ---------------------------------------

const RENUMBERED = numbering({ layer_numbers: [5, 7], head_numbers: [2, 9, 11] });

function textsOf(svg) {
  return assertSafe(svg)
    .texts.map((t) => unescapeXml(t).trim())
    .filter(Boolean);
}

test("model view SVG: every thumbnail as cells, the model's own numbers, the outlined head in the title", () => {
  const L = 2;
  const H = 3;
  const s = 4;
  const bytes = new Uint8Array(L * H * s * s).map((_, i) => (i * 37) % 256);
  const out = viewSvg({
    view: "model",
    props: { thumbs: { shape: [L, H, s, s], size: s, bytes }, thumb: 16, gap: 4, layer: 1, head: 2, names: RENUMBERED, caption: "2 layers × 3 heads" },
  });
  const texts = textsOf(out.svg);
  assert.ok(texts.includes("model view: all layers and heads · outlined: layer 7, head 11"), texts.slice(0, 3));
  assert.ok(texts.includes("layer 5") && texts.includes("layer 7") && texts.includes("9"));
  assert.ok(!out.svg.includes("<image"));
  // the cell colours are the page's: each byte through the LUT (0..255 = the thumbnail's own scale)
  const lut = viridisLut();
  const hex = (k) => `#${[0, 1, 2].map((c) => lut[k * 4 + c].toString(16).padStart(2, "0")).join("")}`;
  const g = out.svg.split('<g data-layer="1" data-head="2">')[1].split("</g>")[0];
  const first = (L * H - 1) * s * s;
  assert.ok(g.includes(`fill="${hex(lutIndex(bytes[first], 0, 255))}"`));
  assert.equal(viewSvg({ view: "model", props: {} }), null);
});

test("neuron view SVG: title with layer, head and query, escaped key tokens, the page's numbers", () => {
  const tokens = ["[CLS]", HOSTILE[0], HOSTILE[3], "[SEP]"];
  const infos = tokenInfos(tokens, [true, false, false, true], [0, 0, 0, 0]);
  const n = 4;
  const d = 3;
  const q = Float32Array.from([0.5, -1, 2]);
  const keys = Float32Array.from({ length: n * d }, (_, i) => Math.sin(i));
  const scores = Float32Array.from({ length: n }, (_, j) => keys.slice(j * d, j * d + d).reduce((a, v, c) => a + v * q[c], 0) / Math.sqrt(d));
  const e = scores.map(Math.exp);
  const total = e.reduce((a, b) => a + b, 0);
  const softmax = e.map((v) => v / total);
  const reply = { n, d, q, keys, scores, softmax, masked: [], scaling: 1 / Math.sqrt(d) };
  const out = viewSvg({ view: "neuron", props: { reply, infos, query: 1, layer: 0, head: 1, names: RENUMBERED } });
  const texts = textsOf(out.svg);
  assert.ok(texts[0].startsWith("neuron view: layer 5, head 9, query token 1 “"), texts[0]);
  // the raw token in each label's tooltip (the label itself may be cut with "…"), escaped in the file
  assert.ok(texts.includes(`1: ${JSON.stringify(HOSTILE[0])}`) && texts.includes(`2: ${JSON.stringify(HOSTILE[3])}`), texts);
  for (const w of softmax) assert.ok(texts.includes(w.toFixed(4)), w);
  assert.ok(!out.svg.includes("onerror=") || out.svg.includes("onerror=&quot;"));
});

test("explain view SVG: the method and its scope in the title, the map's cells on the page's scale, the head grids", () => {
  const tokens = ["[CLS]", "▁the", HOSTILE[1], "[SEP]"];
  const infos = tokenInfos(tokens, [true, false, false, true], [0, 0, 0, 0]);
  const n = 4;
  const data = Float32Array.from({ length: n * n }, (_, i) => (i % 5) / 10);
  const grids = { entropy: Float32Array.from([1, 2, 3, 4, 5, 6]), to_cls: Float32Array.from([0, 0.1, 0.2, 0.3, 0.4, 0.5]) };
  const stats = { first: "to_cls", statistics: ["to_cls", "entropy"], numLayers: 2, numHeads: 3, grids };
  const base = {
    method: "rollout",
    scope: "all layers and heads",
    note: "attention rollout",
    data,
    shape: [n, n],
    lo: 0,
    hi: 0.4,
    infos,
    cell: 14,
    names: RENUMBERED,
  };
  const out = viewSvg({ view: "explain", props: { ...base, stats } });
  const texts = textsOf(out.svg);
  assert.equal(texts[0], "explain view: Rollout · all layers and heads");
  assert.ok(texts.includes(`2: ${JSON.stringify(HOSTILE[1])}`));
  assert.ok(texts.some((t) => t.includes("rows are layers 5–7, columns heads 2–11")));
  assert.ok(texts.includes("→ [CLS]") && texts.includes("entropy (nats)") && texts.includes("1.00 … 6.00"));
  const lut = viridisLut();
  const hex = (k) => `#${[0, 1, 2].map((c) => lut[k * 4 + c].toString(16).padStart(2, "0")).join("")}`;
  const cells = out.svg.split('<g class="aw-cells"')[1].split("</g>")[0];
  for (let j = 0; j < n; j++) assert.ok(cells.includes(`fill="${hex(lutIndex(data[j], 0, 0.4))}"`), j);
  const row = viewSvg({ view: "explain", props: { ...base, method: "norm", scope: "layer 7, head 11", shape: [n], data: data.subarray(0, n) } });
  assert.equal(textsOf(row.svg)[0], "explain view: Norm-weighted attention · layer 7, head 11");
  assert.equal(viewSvg({ view: "explain", props: { method: "rollout" } }), null);
});
