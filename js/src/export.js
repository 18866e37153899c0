// The toolbar's "SVG" and "PNG" buttons: the view on screen as a vector SVG (draw/svg.js) or that
// SVG rasterised through an <img> and a canvas, downloaded through a Blob URL and <a download>.
// Works the same in JupyterLab and in the standalone HTML page (no network, no server).

import { viewSvg } from "./draw/svg.js";

// A PNG is drawn at this many pixels per CSS pixel, less when that would pass these limits.
export const PNG_SCALE = 2;
export const PNG_MAX_SIDE = 16384;
export const PNG_MAX_AREA = 64 * 1024 * 1024;

/** Pixels per CSS pixel for a PNG of a width x height CSS px drawing. */
export function pngScale(width, height, wanted = PNG_SCALE) {
  const w = Math.max(1, width);
  const h = Math.max(1, height);
  return Math.max(0.05, Math.min(wanted, PNG_MAX_SIDE / w, PNG_MAX_SIDE / h, Math.sqrt(PNG_MAX_AREA / (w * h))));
}

/** A file name for a snapshot: attention-head-layer3-head5.svg (the model's own layer number),
 * attention-model-all.svg, attention-neuron-layer3-head5-query4.svg, attention-explain-rollout.svg */
export function exportName(snapshot, ext) {
  const part = (s) =>
    String(s)
      .replace(/[^A-Za-z0-9_.-]+/g, "-")
      .replace(/^-+|-+$/g, "");
  if (snapshot.props && snapshot.props.fileTag) return `attention-${part(snapshot.view)}-${part(snapshot.props.fileTag)}.${ext}`;
  const series = snapshot.props && snapshot.props.series;
  const first = Array.isArray(series) ? series : series ? [series] : [];
  const what =
    first
      .map((s) => part(s.key || s.label || ""))
      .filter(Boolean)
      .join("_") || "view";
  const layer = snapshot.names ? snapshot.names.layer(snapshot.layer ?? 0) : (snapshot.layer ?? 0);
  return `attention-${part(snapshot.view)}-layer${layer}-${what}.${ext}`;
}

/** Canvas-based text width (CSS px) in the given font families; null outside a browser. */
function canvasMeasure(doc, theme) {
  let ctx = null;
  try {
    ctx = doc.createElement("canvas").getContext("2d");
  } catch {
    ctx = null;
  }
  if (!ctx) return undefined;
  return (text, { fontSize, mono, italic, bold }) => {
    const family = mono ? theme.codeFontFamily || "monospace" : theme.fontFamily || "sans-serif";
    ctx.font = `${italic ? "italic " : ""}${bold ? "600 " : ""}${fontSize}px ${family}`;
    return ctx.measureText(text).width;
  };
}

/** Theme colours as the canvas resolves them (any CSS colour -> #rrggbb / rgba()). */
function resolveTheme(doc, root, theme) {
  let ctx = null;
  try {
    ctx = doc.createElement("canvas").getContext("2d");
  } catch {
    ctx = null;
  }
  if (!ctx || !theme) return theme;
  const out = { ...theme };
  // sentence-B token colour of the page's CSS (styles.css: .aw-seg-b)
  try {
    const v = String(globalThis.getComputedStyle(root).getPropertyValue("--jp-mirror-editor-variable-2-color") || "").trim();
    out.segmentB = v || "#6a1b9a";
  } catch {
    out.segmentB = "#6a1b9a";
  }
  for (const key of ["background", "surfaceAlt", "foreground", "muted", "border", "segmentB", "accent"]) {
    if (!theme[key]) continue;
    ctx.fillStyle = "#000000";
    ctx.fillStyle = theme[key];
    out[key] = String(ctx.fillStyle);
  }
  return out;
}

/**
 * @param {{ doc: Document, root: HTMLElement, snapshot: () => object | null }} options
 *   snapshot() returns { view, layer, head, props, focus } of the last completed draw, or null.
 */
export function createExporter({ doc, root, snapshot }) {
  const urls = new Set();

  function svg() {
    const snap = snapshot();
    if (!snap) return null;
    const theme = resolveTheme(doc, root, snap.props.theme);
    return viewSvg({ ...snap, theme, measure: canvasMeasure(doc, theme) });
  }

  async function png(scale = PNG_SCALE) {
    const out = svg();
    if (!out) return null;
    const s = pngScale(out.width, out.height, scale);
    const url = URL.createObjectURL(new Blob([out.svg], { type: "image/svg+xml" }));
    try {
      const img = new Image();
      img.src = url;
      await img.decode();
      const canvas = doc.createElement("canvas");
      canvas.width = Math.max(1, Math.round(out.width * s));
      canvas.height = Math.max(1, Math.round(out.height * s));
      canvas.getContext("2d").drawImage(img, 0, 0, canvas.width, canvas.height);
      const blob = await new Promise((resolve, reject) => {
        canvas.toBlob((b) => (b ? resolve(b) : reject(new Error("the browser could not encode the PNG"))), "image/png");
      });
      return { blob, width: canvas.width, height: canvas.height };
    } finally {
      URL.revokeObjectURL(url);
    }
  }

  function download(blob, name) {
    const url = URL.createObjectURL(blob);
    urls.add(url);
    const a = doc.createElement("a");
    a.href = url;
    a.download = name;
    a.hidden = true;
    root.appendChild(a);
    a.click();
    a.remove();
    // Revoking at once can cancel the download in some browsers.
    setTimeout(() => {
      URL.revokeObjectURL(url);
      urls.delete(url);
    }, 60000);
  }

  /** Download the current view; returns a short description for the status attribute. */
  async function save(kind) {
    const snap = snapshot();
    if (!snap) throw new Error("nothing is drawn yet");
    if (kind === "svg") {
      const out = svg();
      download(new Blob([out.svg], { type: "image/svg+xml" }), exportName(snap, "svg"));
      return `svg ${Math.round(out.width)}x${Math.round(out.height)}`;
    }
    if (kind === "png") {
      const out = await png();
      download(out.blob, exportName(snap, "png"));
      return `png ${out.width}x${out.height}`;
    }
    throw new TypeError(`unknown export ${JSON.stringify(kind)}`);
  }

  function destroy() {
    for (const url of urls) URL.revokeObjectURL(url);
    urls.clear();
  }

  return { svg, png, save, destroy };
}
