// SVG writers of the model, neuron and explain views (the page's "SVG" / "PNG" buttons). Pure, like
// svg.js: each takes what its view last drew (the view's figure()) and returns { svg, width, height }.
// Every figure names what it shows inside it (a title: the layer and head in the model's own numbers,
// "all layers and heads", or the method), not only in the file name. Cells are <rect>s (runs of one
// colour merged), never an embedded bitmap; token text goes through escapeXml (tokenText).

import { EXPLAIN_METHODS, rangeNumbers, STAT_LABELS } from "../views/explain-math.js";
import { DIVERGING_STOPS, divergingRgb, formatNumber, scalingLabel, vectorCell } from "../views/neuron-math.js";
import { lutIndex, VIRIDIS_STOPS, viridisLut } from "./colour.js";
import { attrs, document_, escapeXml, fit, hex2, measurer, num, paint, themeOf, tokenText } from "./svg.js";

const PAD = 8;
const TITLE_FONT = 13;
const CAPTION_FONT = 11;

function lutHex(lut, k) {
  const o = k * 4;
  return `#${hex2(lut[o])}${hex2(lut[o + 1])}${hex2(lut[o + 2])}`;
}

/** Text line (muted or not) at (x, y) in the sans font. */
function line(text, x, y, size, theme, { muted = false, bold = false, anchor = "start" } = {}) {
  const a = {
    x: num(x),
    y: num(y),
    "text-anchor": anchor,
    "dominant-baseline": "central",
    "font-size": num(size),
    "font-family": theme.fontFamily,
    "font-weight": bold ? "600" : undefined,
    ...paint("fill", muted ? theme.muted : theme.foreground),
  };
  return `<text${attrs(a)}>${escapeXml(text)}</text>\n`;
}

/**
 * Cells of a rows x cols grid of colour keys as <rect> runs: key(i, j) -> a colour string (equal
 * strings in a row are merged). Returns { body, rects }.
 */
function cellRuns(rows, cols, key, x0, y0, cw, ch, gap = 0) {
  let body = "";
  let rects = 0;
  for (let i = 0; i < rows; i++) {
    let j = 0;
    while (j < cols) {
      const fill = key(i, j);
      let end = j + 1;
      if (gap === 0) while (end < cols && key(i, end) === fill) end++;
      if (fill) {
        body += `<rect x="${num(x0 + j * cw)}" y="${num(y0 + i * ch)}" width="${num((end - j) * cw - gap)}" height="${num(ch - gap)}" fill="${fill}"/>\n`;
        rects++;
      }
      j = end;
    }
  }
  return { body, rects };
}

/** A horizontal colour bar: lo text, ramp (a gradient of `stops`), hi text; returns { body, width }. */
function colourBar(id, stops, loText, hiText, x, y, theme, width) {
  const minW = width(loText, CAPTION_FONT, { mono: false });
  const rampX = x + minW + 6;
  const grad = stops.map((c, k) => `<stop offset="${num(k / (stops.length - 1))}" stop-color="${c}"/>`).join("");
  let body = `<defs><linearGradient id="${id}" x1="0" y1="0" x2="1" y2="0">${grad}</linearGradient></defs>\n`;
  body += `<g class="aw-colourbar">\n`;
  body += line(loText, x, y + 7, CAPTION_FONT, theme, { muted: true });
  body += `<rect${attrs({ x: num(rampX + 0.5), y: num(y + 1.5), width: 160, height: 10, fill: `url(#${id})`, ...paint("stroke", theme.border) })}/>\n`;
  body += line(hiText, rampX + 167, y + 7, CAPTION_FONT, theme, { muted: true });
  body += "</g>\n";
  return { body, width: rampX + 167 + width(hiText, CAPTION_FONT, { mono: false }) - x };
}

// --- model view ------------------------------------------------------------------------------------

/**
 * SVG of the model view: every layer x head thumbnail (its own 0..max scale, as the page colours
 * it), layer and head numbers, the focused head outlined.
 * props: { thumbs: { shape: [L, H, s, s], size, bytes: Uint8Array }, thumb, gap, layer, head,
 *          names: { layer(i), head(h) }, caption, theme, measure? }
 * Returns { svg, width, height, rects }, or null without thumbnails.
 */
export function modelViewSvg(props) {
  if (!props || !props.thumbs) return null;
  const theme = themeOf(props.theme);
  const width = measurer(props.measure);
  const { thumbs, layer, head, names, caption = "" } = props;
  const [L, H] = thumbs.shape;
  const s = thumbs.size;
  const thumb = Math.max(props.thumb || 24, s); // at least one unit per thumbnail cell
  const gap = props.gap ?? 4;
  const pitch = thumb + gap;
  const lut = viridisLut();
  const layerLabels = Array.from({ length: L }, (_, l) => `layer ${names.layer(l)}`);
  const labelsW = Math.max(...layerLabels.map((t) => width(t, CAPTION_FONT, { mono: false }))) + 10;
  const title = `model view: all layers and heads · outlined: layer ${names.layer(layer)}, head ${names.head(head)}`;
  const titleY = PAD + 8;
  const captionY = titleY + 18;
  const headsY = captionY + 18;
  const plotX = PAD + labelsW;
  const plotY = headsY + 10;
  const plotW = H * pitch - gap;
  const plotH = L * pitch - gap;

  let body = line(title, PAD, titleY, TITLE_FONT, theme, { bold: true });
  body += line(caption, PAD, captionY, CAPTION_FONT, theme, { muted: true });
  body += line("head →", plotX - 6, headsY, CAPTION_FONT, theme, { muted: true, anchor: "end" });
  let labels = "";
  for (let hd = 0; hd < H; hd++)
    labels += line(String(names.head(hd)), plotX + hd * pitch + thumb / 2, headsY, CAPTION_FONT, theme, { muted: hd !== head, anchor: "middle" });
  for (let l = 0; l < L; l++)
    labels += line(layerLabels[l], plotX - 6, plotY + l * pitch + thumb / 2, CAPTION_FONT, theme, { muted: l !== layer, anchor: "end" });
  body += `<g class="aw-model-labels">\n${labels}</g>\n`;

  const per = s * s;
  const cell = thumb / s;
  let cells = "";
  let rects = 0;
  for (let l = 0; l < L; l++) {
    for (let hd = 0; hd < H; hd++) {
      const k = l * H + hd;
      const key = (i, j) => lutHex(lut, lutIndex(thumbs.bytes[k * per + i * s + j], 0, 255));
      const out = cellRuns(s, s, key, plotX + hd * pitch, plotY + l * pitch, cell, cell);
      cells += `<g data-layer="${l}" data-head="${hd}">\n${out.body}</g>\n`;
      rects += out.rects;
    }
  }
  body += `<g class="aw-cells" shape-rendering="crispEdges">\n${cells}</g>\n`;
  const ox = plotX + head * pitch;
  const oy = plotY + layer * pitch;
  body += `<rect${attrs({ class: "aw-model-outline", x: num(ox - 1.5), y: num(oy - 1.5), width: num(thumb + 3), height: num(thumb + 3), fill: "none", "stroke-width": 2, stroke: "#D55E00" })}/>\n`;
  const bar = colourBar("aw-viridis-model", VIRIDIS_STOPS, "0", "each thumbnail's maximum", plotX, plotY + plotH + 8, theme, width);
  body += bar.body;
  const totalWidth = Math.max(
    plotX + plotW + PAD,
    PAD + width(title, TITLE_FONT, { mono: false, bold: true }) + PAD,
    PAD + width(caption, CAPTION_FONT, { mono: false }) + PAD,
    plotX + bar.width + PAD,
  );
  const totalHeight = plotY + plotH + 8 + 14 + PAD;
  return { svg: document_(totalWidth, totalHeight, title, body, theme), width: totalWidth, height: totalHeight, rects };
}

// --- neuron view -----------------------------------------------------------------------------------

const NEURON_ROW = 16;
const SCORE_W = 90;
const WEIGHT_W = 110;
const POSITIVE = "#d6604d";
const NEGATIVE = "#4393c3";

function divergingHex(v, m) {
  const [r, g, b] = divergingRgb(v, m);
  return `#${hex2(r)}${hex2(g)}${hex2(b)}`;
}

function maxAbsOf(...arrays) {
  let m = 0;
  for (const a of arrays) for (const v of a) if (Number.isFinite(v) && Math.abs(v) > m) m = Math.abs(v);
  return m;
}

/**
 * SVG of the neuron view: q above the keys' cells, q ⊙ k, the score and softmax bars with their
 * numbers (as the page writes them), for one layer, head and query token.
 * props: { reply: { n, d, q, keys, scores, softmax, masked, scaling }, infos, query, layer, head,
 *          names, theme, measure? }
 * Returns { svg, width, height, rects }.
 */
export function neuronViewSvg(props) {
  if (!props || !props.reply) return null;
  const theme = themeOf(props.theme);
  const width = measurer(props.measure);
  const { reply: r, infos, query, layer, head, names } = props;
  const { n, d, q, keys: K, scores, softmax: weights } = r;
  const masked = new Set(r.masked || []);
  const product = new Float32Array(n * d);
  for (let j = 0; j < n; j++) for (let c = 0; c < d; c++) product[j * d + c] = q[c] * K[j * d + c];
  const cw = vectorCell(d);
  const vw = cw * d;
  const mv = maxAbsOf(q, K) || 1;
  const mp = maxAbsOf(product) || 1;
  const qText = infos[query] ? infos[query].text : "";
  const title = `neuron view: layer ${names.layer(layer)}, head ${names.head(head)}, query token ${query} “${qText}”`;
  const label = scalingLabel(r.scaling, d);
  const formula = `attention(${query} → j) = softmax over j of (q · kⱼ ${label}): multiply q with each key element by element, add the products up, scale, then softmax`;
  const labelFont = 12;
  const keyW = Math.min(160, Math.max(70, ...infos.map((info) => width(info.text, labelFont) + (info.continuation ? width("·", labelFont) : 0)))) + 10;

  const titleY = PAD + 8;
  const formulaY = titleY + 18;
  const headY = formulaY + 22;
  const qY = headY + 14;
  const rowsY = qY + NEURON_ROW + 8;
  const x0 = PAD + keyW;
  const xP = x0 + vw + 16;
  const xS = xP + vw + 16;
  const xW = xS + SCORE_W + 62; // room for the score's number (formatNumber: up to 8 characters)
  const rightEdge = xW + WEIGHT_W + 50;

  let body = line(title, PAD, titleY, TITLE_FONT, theme, { bold: true });
  body += line(formula, PAD, formulaY, CAPTION_FONT, theme, { muted: true });
  const heads = [
    ["key j", PAD + keyW - 6, "end"],
    [`kⱼ: key vectors (d = ${d})`, x0, "start"],
    ["q ⊙ kⱼ (element-wise)", xP, "start"],
    [`score q·kⱼ ${label}`, xS, "start"],
    ["softmax = attention", xW, "start"],
  ];
  for (const [text, x, anchor] of heads) body += line(text, x, headY, CAPTION_FONT, theme, { bold: true, anchor });
  body += line(`q (token ${query})`, x0 - 6, qY + NEURON_ROW / 2, CAPTION_FONT, theme, { muted: true, anchor: "end" });

  const gap = cw >= 6 ? 1 : 0;
  let rects = 0;
  const qCells = cellRuns(1, d, (_, c) => divergingHex(q[c], mv), x0, qY, cw, NEURON_ROW, gap);
  const kCells = cellRuns(n, d, (j, c) => divergingHex(K[j * d + c], mv), x0, rowsY, cw, NEURON_ROW, gap);
  const pCells = cellRuns(n, d, (j, c) => divergingHex(product[j * d + c], mp), xP, rowsY, cw, NEURON_ROW, gap);
  rects += qCells.rects + kCells.rects + pCells.rects;
  body += `<g class="aw-cells" shape-rendering="crispEdges">\n${qCells.body}${kCells.body}${pCells.body}</g>\n`;

  const visible = Array.from(scores).filter((_, j) => !masked.has(j));
  const ms = maxAbsOf(visible) || 1;
  const mid = xS + SCORE_W / 2;
  let bars = `<rect${attrs({ x: num(mid - 0.5), y: num(rowsY), width: 1, height: num(n * NEURON_ROW), ...paint("fill", theme.border) })}/>\n`;
  let top = 0;
  for (let j = 1; j < n; j++) if (weights[j] > weights[top]) top = j;
  let labels = "";
  let numbers = "";
  for (let j = 0; j < n; j++) {
    const y = rowsY + j * NEURON_ROW;
    const info = infos[j];
    labels += tokenText(
      info,
      fit(info.text, keyW - 10, (t) => width(t, labelFont)),
      PAD + keyW - 6,
      y + NEURON_ROW / 2,
      labelFont,
      "end",
      theme,
      { bold: j === query || j === top, index: j },
    );
    if (!masked.has(j)) {
      const w = (scores[j] / ms) * (SCORE_W / 2 - 2);
      bars += `<rect x="${num(w >= 0 ? mid : mid + w)}" y="${num(y + 3)}" width="${num(Math.abs(w))}" height="${NEURON_ROW - 6}" fill="${scores[j] >= 0 ? POSITIVE : NEGATIVE}"/>\n`;
    }
    bars += `<rect${attrs({ x: num(xW), y: num(y + 3), width: WEIGHT_W, height: NEURON_ROW - 6, ...paint("fill", theme.surfaceAlt) })}/>\n`;
    bars += `<rect${attrs({ x: num(xW), y: num(y + 3), width: num(Math.max(0, weights[j]) * WEIGHT_W), height: NEURON_ROW - 6, ...paint("fill", theme.accent) })}/>\n`;
    numbers += line(masked.has(j) ? "masked" : formatNumber(scores[j]), xS + SCORE_W + 4, y + NEURON_ROW / 2, CAPTION_FONT, theme, { muted: masked.has(j) });
    numbers += line(weights[j].toFixed(4), xW + WEIGHT_W + 4, y + NEURON_ROW / 2, CAPTION_FONT, theme, { bold: j === top });
  }
  body += `<g class="aw-neuron-bars">\n${bars}</g>\n`;
  body += `<g class="aw-key-labels"${attrs({ "font-family": theme.codeFontFamily, "xml:space": "preserve" })}>\n${labels}</g>\n`;
  body += `<g class="aw-neuron-numbers">\n${numbers}</g>\n`;

  const legendY = rowsY + n * NEURON_ROW + 10;
  const vec = colourBar("aw-diverging-qk", DIVERGING_STOPS, `q, k: −${formatNumber(mv)}`, `+${formatNumber(mv)}`, PAD, legendY, theme, width);
  const prod = colourBar(
    "aw-diverging-qxk",
    DIVERGING_STOPS,
    `q ⊙ k: −${formatNumber(mp)}`,
    `+${formatNumber(mp)}`,
    PAD + vec.width + 24,
    legendY,
    theme,
    width,
  );
  body += vec.body + prod.body;
  const totalWidth = Math.max(
    rightEdge + PAD,
    PAD + width(title, TITLE_FONT, { mono: false, bold: true }) + PAD,
    PAD + width(formula, CAPTION_FONT, { mono: false }) + PAD,
    PAD + vec.width + 24 + prod.width + PAD,
  );
  const totalHeight = legendY + 14 + PAD;
  return { svg: document_(totalWidth, totalHeight, title, body, theme), width: totalWidth, height: totalHeight, rects };
}

// --- explain view ----------------------------------------------------------------------------------

const METHOD_LABELS = Object.fromEntries(EXPLAIN_METHODS);

/**
 * SVG of the explain view: the method's map (rows: top positions or queries, columns: input tokens or
 * keys; relevancy: one row) on the page's colour scale (viridis from min(0, lo) to hi), its colour
 * bar, and the head-summary grids (one per statistic, layers x heads, each on its own scale).
 * props: { method, scope, note, corner, data, shape, lo, hi, infos, cell, stats?: { first, statistics,
 *          numLayers, numHeads, grids }, names, theme, measure? }
 * Returns { svg, width, height, rects }.
 */
export function explainViewSvg(props) {
  if (!props || !props.data || !props.shape) return null;
  const theme = themeOf(props.theme);
  const width = measurer(props.measure);
  const { method, scope, note = "", corner = "", data, shape, lo, hi, infos, stats, names } = props;
  const asRow = shape.length === 1;
  const n = infos.length;
  const nr = asRow ? 1 : n;
  const cell = props.cell || 14;
  const labelFont = Math.min(12, Math.max(9, cell - 2));
  const lut = viridisLut();
  const title = `explain view: ${METHOD_LABELS[method] || method} · ${scope}`;
  const fitted = (info, room) => fit(info.text, room - (info.continuation ? width("·", labelFont) : 0), (t) => width(t, labelFont, { italic: info.special }));
  const longest = Math.max(20, ...infos.map((info) => width(info.text, labelFont, { italic: info.special }) + (info.continuation ? width("·", labelFont) : 0)));
  // the corner caption in two lines ("top position ↓" / "input token →"), never cut at the left edge
  const cornerLines = corner ? corner.split(/\s{2,}/) : [];
  const cornerW = Math.max(0, ...cornerLines.map((t) => width(t, 10, { mono: false })));
  const labelsW = Math.max(cornerW + 8, Math.min(160, (asRow ? width("relevance", labelFont, { mono: false }) : longest) + 12));
  const labelsH = Math.min(160, longest + 12);

  const titleY = PAD + 8;
  const noteY = titleY + 18;
  const plotX = PAD + labelsW;
  const plotY = noteY + 14 + labelsH;
  const plotW = n * cell;
  const plotH = nr * cell;

  let body = line(title, PAD, titleY, TITLE_FONT, theme, { bold: true });
  body += line(note, PAD, noteY, CAPTION_FONT, theme, { muted: true });
  cornerLines.forEach((t, k) => {
    body += line(t, plotX - 6, plotY - 6 - (cornerLines.length - 1 - k) * 12, 10, theme, { muted: true, anchor: "end" });
  });
  const cells = cellRuns(nr, n, (i, j) => lutHex(lut, lutIndex(data[i * n + j], lo, hi)), plotX, plotY, cell, cell);
  body += `<g class="aw-cells" shape-rendering="crispEdges">\n${cells.body}</g>\n`;
  let rowsG = "";
  let colsG = "";
  if (asRow) rowsG += line("relevance", plotX - 6, plotY + cell / 2, labelFont, theme, { muted: true, anchor: "end" });
  else {
    infos.forEach((info, i) => {
      rowsG += tokenText(info, fitted(info, labelsW - 8), plotX - 6, plotY + i * cell + cell / 2, labelFont, "end", theme, { index: i });
    });
  }
  infos.forEach((info, j) => {
    const t = tokenText(info, fitted(info, labelsH - 8), 0, 0, labelFont, "start", theme, { index: j });
    colsG += t.replace("<text", `<text transform="translate(${num(plotX + j * cell + cell / 2)} ${num(plotY - 6)}) rotate(-90)"`);
  });
  body += `<g class="aw-row-labels"${attrs({ "font-family": theme.codeFontFamily, "xml:space": "preserve" })}>\n${rowsG}</g>\n`;
  body += `<g class="aw-col-labels"${attrs({ "font-family": theme.codeFontFamily, "xml:space": "preserve" })}>\n${colsG}</g>\n`;
  const bar = colourBar("aw-viridis-explain", VIRIDIS_STOPS, ...rangeNumbers(lo, hi), plotX, plotY + plotH + 8, theme, width);
  body += bar.body;
  let bottom = plotY + plotH + 8 + 14;
  let right = Math.max(
    plotX + plotW,
    plotX + bar.width,
    PAD + width(title, TITLE_FONT, { mono: false, bold: true }),
    PAD + width(note, CAPTION_FONT, { mono: false }),
  );
  let rects = cells.rects;

  if (stats) {
    const { numLayers: L, numHeads: H, statistics, first } = stats;
    const order = [first, ...statistics.filter((s) => s !== first)];
    const headerY = bottom + 18;
    const axes = `Head summary (this input): rows are layers ${names.layer(0)}–${names.layer(L - 1)}, columns heads ${names.head(0)}–${names.head(H - 1)}; each grid on its own scale`;
    body += line(axes, PAD, headerY, CAPTION_FONT, theme, { bold: true });
    right = Math.max(right, PAD + width(axes, CAPTION_FONT, { mono: false, bold: true }));
    const maxRow = Math.max(right, 640);
    let x = PAD;
    let y = headerY + 14;
    let rowH = 0;
    order.forEach((name, k) => {
      const c = k === 0 ? 18 : 10;
      const values = stats.grids[name];
      let glo = Infinity;
      let ghi = -Infinity;
      for (const v of values) {
        if (!Number.isFinite(v)) continue;
        glo = Math.min(glo, v);
        ghi = Math.max(ghi, v);
      }
      if (glo === Infinity) [glo, ghi] = [0, 1];
      if (!(ghi > glo)) ghi = glo + 1;
      const label = STAT_LABELS[name] || name;
      const range = rangeNumbers(glo, ghi).join(" … ");
      const gw = Math.max(H * (c + 1), width(label, CAPTION_FONT, { mono: false, bold: true }), width(range, 10, { mono: false }));
      const gh = 14 + L * (c + 1) + 14;
      if (x > PAD && x + gw > maxRow) {
        x = PAD;
        y += rowH + 10;
        rowH = 0;
      }
      let g = line(label, x, y + 6, CAPTION_FONT, theme, { bold: true });
      const out = cellRuns(L, H, (l, hd) => lutHex(lut, lutIndex(values[l * H + hd], glo, ghi)), x, y + 14, c + 1, c + 1, 1);
      g += `<g shape-rendering="crispEdges">\n${out.body}</g>\n`;
      g += line(range, x, y + 14 + L * (c + 1) + 7, 10, theme, { muted: true });
      body += `<g class="aw-summary-grid" data-stat="${escapeXml(name)}">\n${g}</g>\n`;
      rects += out.rects;
      right = Math.max(right, x + gw);
      x += gw + 14;
      rowH = Math.max(rowH, gh);
    });
    bottom = y + rowH;
  }
  const totalWidth = right + PAD;
  const totalHeight = bottom + PAD;
  return { svg: document_(totalWidth, totalHeight, title, body, theme), width: totalWidth, height: totalHeight, rects };
}
