// SVG writer for the page's "SVG" / "PNG" buttons: the view on screen as vector graphics.
//
// Pure (no DOM): the caller passes what the view drew (the same props the view got) and,
// optionally, a text measurer. Head view: one <path> per alpha bucket and series, with
// stroke-opacity, exactly the buckets the canvas strokes. Matrix view: one <rect> per run of equal
// colours in a row (never an embedded bitmap), the colour bar as a linear gradient.
//
// Token text is untrusted: every string that reaches the document goes through escapeXml (text
// and attribute values alike); characters XML 1.0 forbids are replaced by U+FFFD.

import { linePlan } from "../lineselect.js";
import { seriesMatrix } from "../reduce.js";
import { CANVAS_WIDTH, rowHeight } from "../views/head.js";
import { tokenInfos } from "../views/labels.js";
import { bucketLines } from "../views/lines.js";
import { HATCH_SPACING, MASK_RGB, MIN_HATCH_CELL, maskRuns } from "../views/mask.js";
import { cellSize, colourRange, labelStep } from "../views/matrix.js";
import { headColour, lutIndex, VIRIDIS_STOPS, viridisLut } from "./colour.js";
import { explainViewSvg, modelViewSvg, neuronViewSvg } from "./svg-views.js";

// The SVG namespace is a name, not an address: nothing is ever loaded from it. Built from parts so
// that the source scan for network URLs (test/static.test.mjs) keeps meaning "no loads".
export const SVG_NS = ["http", "://www.w3.org/2000/svg"].join("");

const ENTITIES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
// eslint-disable-next-line no-control-regex
const XML_INVALID = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** Text safe inside an XML element or a double/single-quoted attribute. */
export function escapeXml(value) {
  return String(value ?? "")
    .replace(XML_INVALID, "\uFFFD")
    .replace(/[&<>"']/g, (c) => ENTITIES[c]);
}

/** A coordinate with at most 2 decimals, no trailing zeros. */
export function num(v) {
  const r = Math.round(v * 100) / 100;
  return Object.is(r, -0) ? "0" : String(r);
}

export function attrs(map) {
  let out = "";
  for (const [k, v] of Object.entries(map)) {
    if (v === undefined || v === null || v === false) continue;
    out += ` ${k}="${escapeXml(v)}"`;
  }
  return out;
}

export function hex2(v) {
  return Math.max(0, Math.min(255, Math.round(v)))
    .toString(16)
    .padStart(2, "0");
}

const NAMED = { white: [255, 255, 255], black: [0, 0, 0], transparent: [0, 0, 0, 0] };

/**
 * A CSS colour as { hex: "#rrggbb", opacity } for SVG presentation attributes (which some tools
 * outside browsers read only as hex). Understands #rgb[a], #rrggbb[aa], rgb()/rgba() (comma or
 * space syntax) and a few names; anything else gives `fallback`.
 */
export function svgColour(value, fallback = "#000000") {
  const s = String(value ?? "")
    .trim()
    .toLowerCase();
  let rgba = null;
  let m;
  if ((m = /^#([0-9a-f]{3,4}|[0-9a-f]{6}|[0-9a-f]{8})$/.exec(s))) {
    let h = m[1];
    if (h.length <= 4)
      h = h
        .split("")
        .map((c) => c + c)
        .join("");
    rgba = [0, 2, 4].map((i) => parseInt(h.slice(i, i + 2), 16));
    rgba.push(h.length === 8 ? parseInt(h.slice(6, 8), 16) / 255 : 1);
  } else if ((m = /^rgba?\(([^)]*)\)$/.exec(s))) {
    const parts = m[1].split(/[\s,/]+/).filter(Boolean);
    if (parts.length === 3 || parts.length === 4) {
      const channel = (p) => (p.endsWith("%") ? (parseFloat(p) * 255) / 100 : parseFloat(p));
      const alpha = parts.length === 4 ? (parts[3].endsWith("%") ? parseFloat(parts[3]) / 100 : parseFloat(parts[3])) : 1;
      rgba = [channel(parts[0]), channel(parts[1]), channel(parts[2]), alpha];
    }
  } else if (NAMED[s]) {
    rgba = [...NAMED[s]];
    if (rgba.length === 3) rgba.push(1);
  }
  if (!rgba || rgba.some((v) => !Number.isFinite(v))) {
    return s === String(fallback).toLowerCase() ? { hex: "#000000", opacity: 1 } : svgColour(fallback, "#000000");
  }
  return { hex: `#${hex2(rgba[0])}${hex2(rgba[1])}${hex2(rgba[2])}`, opacity: Math.max(0, Math.min(1, rgba[3])) };
}

/** An opacity with at most 4 decimals. */
function opacity(v) {
  return String(Math.round(Math.max(0, Math.min(1, v)) * 1e4) / 1e4);
}

/** fill / stroke attributes of a colour (opacity only when below 1). */
export function paint(kind, colour, alpha = 1) {
  const c = svgColour(colour);
  const o = c.opacity * alpha;
  return { [kind]: c.hex, [`${kind}-opacity`]: o < 1 ? opacity(o) : undefined };
}

/** Width estimate of text without a browser: monospace 0.6 em, proportional 0.55 em per character. */
export function estimateWidth(text, fontSize, mono = true) {
  return [...String(text)].length * fontSize * (mono ? 0.6 : 0.55);
}

export function measurer(measure) {
  return (text, fontSize, { mono = true, italic = false, bold = false } = {}) => {
    if (typeof measure === "function") {
      const w = measure(String(text), { fontSize, mono, italic, bold });
      if (Number.isFinite(w)) return w;
    }
    return estimateWidth(text, fontSize, mono);
  };
}

/** `text` cut with an ellipsis so that it fits `maxWidth` (CSS text-overflow: ellipsis). */
export function fit(text, maxWidth, width) {
  if (width(text) <= maxWidth) return text;
  const chars = [...text];
  let lo = 0;
  let hi = chars.length;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (width(chars.slice(0, mid).join("") + "…") <= maxWidth) lo = mid;
    else hi = mid - 1;
  }
  return chars.slice(0, lo).join("") + "…";
}

export function themeOf(theme = {}) {
  return {
    background: theme.background || "#ffffff",
    surfaceAlt: theme.surfaceAlt || "#eeeeee",
    foreground: theme.foreground || "rgba(0, 0, 0, 0.87)",
    muted: theme.muted || "rgba(0, 0, 0, 0.54)",
    border: theme.border || "#e0e0e0",
    fontFamily: theme.fontFamily || "system-ui, -apple-system, 'Segoe UI', sans-serif",
    codeFontFamily: theme.codeFontFamily || "monospace",
    segmentB: theme.segmentB || "#6a1b9a",
    accent: theme.accent || "#1976d2",
  };
}

export function document_(width, height, title, body, theme) {
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<svg${attrs({ xmlns: SVG_NS, version: "1.1", width: num(width), height: num(height), viewBox: `0 0 ${num(width)} ${num(height)}` })}>\n` +
    `<title>${escapeXml(title)}</title>\n` +
    `<desc>albert_widget attention view (vector export)</desc>\n` +
    `<rect${attrs({ x: 0, y: 0, width: num(width), height: num(height), ...paint("fill", theme.background) })}/>\n` +
    body +
    "</svg>\n"
  );
}

/**
 * One token label as <text>, styled like the page's .aw-token: special/blank muted, special italic,
 * "·" before a continuation piece, sentence B in its own colour (underlined in the head view).
 */
export function tokenText(info, text, x, y, fontSize, anchor, theme, { bold = false, underlineB = false, index = null } = {}) {
  const muted = info.special || info.blank;
  const colour = info.segment === 1 ? theme.segmentB : muted ? theme.muted : theme.foreground;
  const a = {
    x: num(x),
    y: num(y),
    "text-anchor": anchor,
    "dominant-baseline": "central",
    "font-size": num(fontSize),
    "font-style": info.special ? "italic" : undefined,
    "font-weight": bold ? "600" : undefined,
    "text-decoration": underlineB && info.segment === 1 ? "underline" : undefined,
    ...paint("fill", colour),
  };
  const dot = info.continuation ? `<tspan${attrs(paint("fill", theme.muted))}>·</tspan>` : "";
  // the raw token as a tooltip, as the page's label title has it (the label may be cut with "…")
  const tip = index === null ? "" : `<title>${escapeXml(`${index}: ${JSON.stringify(String(info.raw ?? ""))}`)}</title>`;
  return `<text${attrs(a)}>${tip}${dot}${escapeXml(text)}</text>\n`;
}

/** Row (query) and column (key) label infos of view props: the view's own lists when it has them. */
function labelInfos(props) {
  const { tokens = [], special = [], segments = [] } = props;
  const rows = props.rowInfos || tokenInfos(tokens, special, segments);
  return [rows, props.colInfos || rows];
}

/**
 * SVG of the head view.
 * props: { tokens, special, segments, data, shape, series, threshold, theme, rowInfos?, colInfos?,
 *          focus?, measure? }   (`focus` = { side: "left" | "right", index, locked? } as the view has it)
 * Returns { svg, width, height, lines }.
 */
export function headViewSvg(props) {
  const { data, shape, series = [], threshold = 0, focus = null } = props;
  const theme = themeOf(props.theme);
  const width = measurer(props.measure);
  const [infos, colInfos] = labelInfos(props);
  const n = infos.length;
  const nc = colInfos.length;
  const row = rowHeight(Math.max(n, nc));
  const font = Math.min(12, row - 2);
  const pad = 6;
  const dot = (info) => (info.continuation ? width("·", font) : 0);
  const labelWidth = (info) => width(info.text, font, { italic: info.special }) + dot(info);
  const colWidthOf = (list) => Math.min(200, Math.ceil(Math.max(0, ...list.map(labelWidth)) + 8));
  const leftWidth = colWidthOf(infos);
  const rightWidth = colWidthOf(colInfos);
  const fitted = (list, w) => list.map((info) => fit(info.text, w - 8 - dot(info), (t) => width(t, font, { italic: info.special })));
  const texts = { left: fitted(infos, leftWidth), right: fitted(colInfos, rightWidth) };

  const matrices = series.map((s) => ({
    series: s,
    colour: s.colourIndex >= 0 ? headColour(s.colourIndex, theme.background) : theme.foreground,
    matrix: seriesMatrix(data, shape, s),
  }));

  let body = "";
  // legend: swatch + label per series
  const legendFont = 11;
  let lx = pad;
  const ly = pad + 7;
  let legend = "";
  for (const { series: s, colour } of matrices) {
    legend += `<rect${attrs({ x: num(lx), y: num(ly - 5), width: 10, height: 10, rx: 2, ...paint("fill", colour) })}/>\n`;
    lx += 14;
    legend += `<text${attrs({ x: num(lx), y: num(ly), "dominant-baseline": "central", "font-size": legendFont, ...paint("fill", theme.muted) })}>${escapeXml(s.label)}</text>\n`;
    lx += width(s.label, legendFont, { mono: false }) + 12;
  }
  body += `<g class="aw-legend"${attrs({ "font-family": theme.fontFamily })}>\n${legend}</g>\n`;

  const top = pad + 14 + 4;
  const leftX = pad;
  const canvasX = leftX + leftWidth;
  const rightX = canvasX + CANVAS_WIDTH;
  const totalWidth = Math.max(rightX + rightWidth + pad, lx + pad);
  const totalHeight = top + Math.max(n, nc) * row + pad;
  const inRange = focus && Number.isInteger(focus.index) && focus.index >= 0 && focus.index < (focus.side === "left" ? n : nc);
  const f = inRange ? focus : null;

  // token shading by the focused token's weights (single series only, as on the page)
  let shade = "";
  if (f && matrices.length === 1) {
    const { matrix, colour } = matrices[0];
    const [otherX, otherW, count] = f.side === "left" ? [rightX, rightWidth, nc] : [leftX, leftWidth, n];
    for (let k = 0; k < count; k++) {
      const w = f.side === "left" ? matrix[f.index * nc + k] : matrix[k * nc + f.index];
      if (w > 0)
        shade += `<rect${attrs({ x: num(otherX), y: num(top + k * row), width: num(otherW), height: num(row), rx: 2, ...paint("fill", colour, Math.min(1, w)) })}/>\n`;
    }
  }
  if (shade) body += `<g class="aw-shade">\n${shade}</g>\n`;

  // lines: exactly the canvas buckets
  const x0 = canvasX + 2;
  const x1 = canvasX + CANVAS_WIDTH - 2;
  let lines = 0;
  let paths = "";
  // the same strongest-lines cap as the canvas at long inputs (lineselect.js)
  const plan = linePlan(
    matrices.map((m) => m.matrix),
    n,
    nc,
    { threshold, focus: f, rowPx: row },
  );
  let s = 0;
  for (const { colour, matrix } of matrices) {
    const { count, buckets } = bucketLines(matrix, n, { threshold, focus: f, cols: nc, cutoffs: plan.cutoffs[s++] });
    lines += count;
    for (const { alpha, pairs } of buckets) {
      const d = [];
      for (let p = 0; p < pairs.length; p += 2) {
        d.push(`M${num(x0)} ${num(top + pairs[p] * row + row / 2)}L${num(x1)} ${num(top + pairs[p + 1] * row + row / 2)}`);
      }
      const c = svgColour(colour);
      paths += `<path${attrs({ stroke: c.hex, "stroke-opacity": opacity(alpha * c.opacity), d: d.join("") })}/>\n`;
    }
  }
  body += `<g class="aw-lines"${attrs({ fill: "none", "stroke-width": f ? 2 : 1.25, "stroke-linecap": "round" })}>\n${paths}</g>\n`;

  // token columns
  let cols = "";
  for (const [side, list, bx, bw, x, anchor] of [
    ["left", infos, leftX, leftWidth, leftX + leftWidth - 4, "end"],
    ["right", colInfos, rightX, rightWidth, rightX + 4, "start"],
  ]) {
    let g = "";
    list.forEach((info, i) => {
      const focused = f && f.side === side && f.index === i;
      if (focused) {
        g += `<rect${attrs({ x: num(bx + 0.5), y: num(top + i * row + 0.5), width: num(bw - 1), height: num(row - 1), rx: 2, fill: "none", "stroke-width": f.locked ? 2 : 1, ...paint("stroke", theme.foreground) })}/>\n`;
      }
      g += tokenText(info, texts[side][i], x, top + i * row + row / 2, font, anchor, theme, { bold: focused, underlineB: true, index: i });
    });
    cols += `<g${attrs({ class: `aw-tokens-${side}`, "font-family": theme.codeFontFamily, "xml:space": "preserve" })}>\n${g}</g>\n`;
  }
  body += cols;

  const label = matrices.map((m) => m.series.label).join(", ");
  return { svg: document_(totalWidth, totalHeight, `head view: ${label}`, body, theme), width: totalWidth, height: totalHeight, lines };
}

export function formatRangeLabel(v) {
  return v === 0 ? "0" : Number(v.toPrecision(3)).toString();
}

/**
 * SVG of the matrix view: cells as <rect> (horizontal runs of one colour merged), labels as <text>,
 * masked (causal) cells grey and hatched as on the page, the colour bar as a gradient.
 * props: { tokens, special, segments, data, shape, series, theme, rowInfos?, colInfos?, mask?, measure? }
 * Returns { svg, width, height, rects }.
 */
export function matrixViewSvg(props) {
  const { data, shape, series } = props;
  const theme = themeOf(props.theme);
  const width = measurer(props.measure);
  const [infos, colInfos] = labelInfos(props);
  const n = infos.length;
  const nc = colInfos.length;
  const mask = props.mask && props.mask.length === n * nc ? props.mask : null;
  const cell = cellSize(Math.max(n, nc));
  const step = labelStep(cell);
  const labelFont = Math.min(12, Math.max(9, cell - 2));
  const pad = 6;
  const matrix = seriesMatrix(data, shape, series);
  const [lo, hi] = colourRange(matrix);
  const lut = viridisLut();
  const maskFill = `#${hex2(MASK_RGB[0])}${hex2(MASK_RGB[1])}${hex2(MASK_RGB[2])}`;

  const titleY = pad + 7;
  const gridTop = pad + 18;
  const labelsW = 120;
  const labelsH = 90;
  const plotX = pad + labelsW;
  const plotY = gridTop + labelsH;
  const plotW = nc * cell;
  const plotH = n * cell;

  let body = "";
  const title = `${series.label} · rows: queries · columns: keys${mask ? " · hatched: masked (future) keys" : ""}`;
  body += `<text${attrs({ x: pad, y: num(titleY), "dominant-baseline": "central", "font-size": 11, "font-family": theme.fontFamily, ...paint("fill", theme.muted) })}>${escapeXml(title)}</text>\n`;
  body += `<text${attrs({ x: num(plotX - 6), y: num(plotY - 4), "text-anchor": "end", "font-size": 10, "font-family": theme.fontFamily, ...paint("fill", theme.muted) })}>${escapeXml("query ↓  key →")}</text>\n`;

  // cells
  let rects = 0;
  let cells = "";
  // colour key of a cell: its LUT index, or -1 when masked
  const key = (i, j) => (mask && mask[i * nc + j] ? -1 : lutIndex(matrix[i * nc + j], lo, hi));
  for (let i = 0; i < n; i++) {
    let j = 0;
    while (j < nc) {
      const k = key(i, j);
      let end = j + 1;
      while (end < nc && key(i, end) === k) end++;
      const o = k * 4;
      const fill = k < 0 ? maskFill : `#${hex2(lut[o])}${hex2(lut[o + 1])}${hex2(lut[o + 2])}`;
      cells += `<rect x="${num(plotX + j * cell)}" y="${num(plotY + i * cell)}" width="${num((end - j) * cell)}" height="${num(cell)}" fill="${fill}"/>\n`;
      rects++;
      j = end;
    }
  }
  body += `<g class="aw-cells" shape-rendering="crispEdges">\n${cells}</g>\n`;
  if (mask && cell >= MIN_HATCH_CELL) {
    // the page's hatch: background-coloured diagonals at 0.7 opacity over the masked runs
    const bg = svgColour(theme.background, "#ffffff");
    let hatch = "";
    for (const [i, j0, j1] of maskRuns(mask, n, nc)) {
      hatch += `<rect x="${num(plotX + j0 * cell)}" y="${num(plotY + i * cell)}" width="${num((j1 - j0) * cell)}" height="${num(cell)}"/>\n`;
    }
    body +=
      `<defs><pattern id="aw-hatch" patternUnits="userSpaceOnUse" width="${HATCH_SPACING}" height="${HATCH_SPACING}" patternTransform="rotate(45)">` +
      `<line x1="0" y1="0" x2="0" y2="${HATCH_SPACING}" stroke="${bg.hex}" stroke-opacity="0.7" stroke-width="1"/></pattern></defs>\n`;
    body += `<g class="aw-mask" fill="url(#aw-hatch)">\n${hatch}</g>\n`;
  }

  // labels (every step-th, as on the page)
  const fitted = (info, room) => fit(info.text, room - (info.continuation ? width("·", labelFont) : 0), (t) => width(t, labelFont, { italic: info.special }));
  let rowsG = "";
  let colsG = "";
  infos.forEach((info, i) => {
    if (i % step !== 0) return;
    rowsG += tokenText(info, fitted(info, labelsW - 8), plotX - 6, plotY + i * cell + cell / 2, labelFont, "end", theme, { index: i });
  });
  colInfos.forEach((info, j) => {
    if (j % step !== 0) return;
    const cx = plotX + j * cell + cell / 2;
    const t = tokenText(info, fitted(info, labelsH - 8), 0, 0, labelFont, "start", theme, { index: j });
    colsG += t.replace("<text", `<text transform="translate(${num(cx)} ${num(plotY - 6)}) rotate(-90)"`);
  });
  body += `<g class="aw-row-labels"${attrs({ "font-family": theme.codeFontFamily, "xml:space": "preserve" })}>\n${rowsG}</g>\n`;
  body += `<g class="aw-col-labels"${attrs({ "font-family": theme.codeFontFamily, "xml:space": "preserve" })}>\n${colsG}</g>\n`;

  // colour bar
  const barY = plotY + plotH + 6;
  const minText = formatRangeLabel(lo);
  const maxText = formatRangeLabel(hi);
  const minW = width(minText, 11, { mono: false });
  const rampX = plotX + minW + 6;
  const stops = VIRIDIS_STOPS.map((c, k) => `<stop offset="${num(k / (VIRIDIS_STOPS.length - 1))}" stop-color="${c}"/>`).join("");
  body += `<defs><linearGradient id="aw-viridis" x1="0" y1="0" x2="1" y2="0">${stops}</linearGradient></defs>\n`;
  body += `<g class="aw-colourbar"${attrs({ "font-size": 11, "font-family": theme.fontFamily })}>\n`;
  body += `<text${attrs({ x: num(plotX), y: num(barY + 7), "dominant-baseline": "central", ...paint("fill", theme.muted) })}>${escapeXml(minText)}</text>\n`;
  body += `<rect${attrs({ x: num(rampX + 0.5), y: num(barY + 1.5), width: 160, height: 10, fill: "url(#aw-viridis)", ...paint("stroke", theme.border) })}/>\n`;
  body += `<text${attrs({ x: num(rampX + 161 + 6), y: num(barY + 7), "dominant-baseline": "central", ...paint("fill", theme.muted) })}>${escapeXml(maxText)}</text>\n`;
  body += "</g>\n";

  const totalWidth = Math.max(plotX + plotW + pad, rampX + 167 + width(maxText, 11, { mono: false }) + pad);
  const totalHeight = barY + 14 + pad;
  return { svg: document_(totalWidth, totalHeight, `matrix view: ${series.label}`, body, theme), width: totalWidth, height: totalHeight, rects };
}

/**
 * SVG of whatever view a snapshot holds: { view, props, focus? , measure?, names? }. The head and
 * matrix views' props are what they drew; the model, neuron and explain views' props come from
 * their figure() (draw/svg-views.js writes those).
 * Returns { svg, width, height } or null when there is nothing drawn.
 */
/** The views whose figure the page can write (viewSvg below); the others' download buttons are off. */
export const SVG_VIEWS = ["head", "matrix", "model", "neuron", "explain"];

export function viewSvg({ view, props, focus = null, measure, theme, layer = null, names = null }) {
  if (!props) return null;
  // the views whose snapshot props are a figure of their own (draw/svg-views.js)
  const writer = { model: modelViewSvg, neuron: neuronViewSvg, explain: explainViewSvg }[view];
  if (writer) return writer({ ...props, measure, theme: theme || props.theme });
  if (!props.data || !props.shape) return null;
  // The figure names its layer (the series labels name the heads), not only the file name: the
  // model's own number of it (include_layers), as the slider shows.
  const shown = names && Number.isInteger(layer) ? names.layer(layer) : layer;
  const p = { ...props, measure, theme: theme || props.theme, series: withLayer(props.series, shown) };
  if (view === "head") return headViewSvg({ ...p, focus });
  if (view === "matrix") return matrixViewSvg({ ...p, series: Array.isArray(p.series) ? p.series[0] : p.series });
  return null;
}

/** Series labels with the layer in front ("layer 3 · head 5"), unless a label names its layers already
 * ("mean of 6 layers · head 5") or the layer is unknown. */
export function withLayer(series, layer) {
  const one = (s) => (s && Number.isInteger(layer) && !/ layers · /.test(s.label) ? { ...s, label: `layer ${layer} · ${s.label}` } : s);
  return Array.isArray(series) ? series.map(one) : one(series);
}
