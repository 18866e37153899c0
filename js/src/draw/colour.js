// Colour maps: viridis lookup table, a diverging map centred on 0, a categorical palette for heads,
// theme colours.

// matplotlib viridis sampled at i/9, i = 0..9; the table interpolates linearly between them.
export const VIRIDIS_STOPS = ["#440154", "#482878", "#3e4989", "#31688e", "#26828e", "#1f9e89", "#35b779", "#6ece58", "#b5de2b", "#fde725"];

// ColorBrewer RdBu (reversed): negative = blue, 0 = light grey, positive = red.
export const DIVERGING_STOPS = ["#2166ac", "#67a9cf", "#d1e5f0", "#f7f7f7", "#fddbc7", "#ef8a62", "#b2182b"];

// Head colours: 12 categorical colours by head index (cycling above 12), one variant for light
// backgrounds (each at least 3:1 against white) and one for dark ones (at least 3:1 against #212121),
// head h the same hue in both. Chosen so that any two stay apart (CIEDE2000) also as readers with
// protanopia or deuteranopia see them; tests/test_palette.py checks contrast, distances and that
// albert_widget/export/figures.py HEAD_PALETTE / HEAD_PALETTE_DARK are these lists.
export const HEAD_PALETTE = [
  "#0072B2",
  "#789600",
  "#871E3C",
  "#009687",
  "#874B0F",
  "#3C00E1",
  "#C35A78",
  "#783C78",
  "#A55A4B",
  "#7887E1",
  "#C30FA5",
  "#B4784B",
];
export const HEAD_PALETTE_DARK = [
  "#5BA6EA",
  "#B0CC47",
  "#C1546B",
  "#58CDBC",
  "#C17C40",
  "#8B54FB",
  "#FE8FAC",
  "#AE6EAD",
  "#DF8D7C",
  "#BBBFF8",
  "#F667D6",
  "#EFAC7D",
];

/** "#rgb" / "#rrggbb" -> [r, g, b] (0..255). */
export function hexToRgb(hex) {
  let h = String(hex).trim().replace(/^#/, "");
  if (h.length === 3)
    h = h
      .split("")
      .map((c) => c + c)
      .join("");
  if (!/^[0-9a-fA-F]{6}$/.test(h)) throw new TypeError(`not a hex colour: ${hex}`);
  return [parseInt(h.slice(0, 2), 16), parseInt(h.slice(2, 4), 16), parseInt(h.slice(4, 6), 16)];
}

/** A 256-entry RGBA table (Uint8ClampedArray of 1024) interpolated through the given stops. */
export function buildLut(stops, size = 256) {
  const rgb = stops.map(hexToRgb);
  const lut = new Uint8ClampedArray(size * 4);
  const segments = rgb.length - 1;
  for (let i = 0; i < size; i++) {
    const t = size === 1 ? 0 : i / (size - 1);
    const pos = t * segments;
    const k = Math.min(Math.floor(pos), segments - 1);
    const f = pos - k;
    const a = rgb[k];
    const b = rgb[Math.min(k + 1, segments)];
    lut[i * 4] = Math.round(a[0] + (b[0] - a[0]) * f);
    lut[i * 4 + 1] = Math.round(a[1] + (b[1] - a[1]) * f);
    lut[i * 4 + 2] = Math.round(a[2] + (b[2] - a[2]) * f);
    lut[i * 4 + 3] = 255;
  }
  return lut;
}

let VIRIDIS = null;

/** The viridis LUT (built once). */
export function viridisLut() {
  if (VIRIDIS === null) VIRIDIS = buildLut(VIRIDIS_STOPS, 256);
  return VIRIDIS;
}

let DIVERGING = null;

/** The diverging LUT (built once): index 0 = -m, 127.5 = 0, 255 = +m. */
export function divergingLut() {
  if (DIVERGING === null) DIVERGING = buildLut(DIVERGING_STOPS, 256);
  return DIVERGING;
}

/** The symmetric range [-m, m] of a diverging scale: m = largest finite |v| (1 when there is none). */
export function divergingRange(values) {
  let m = 0;
  for (let i = 0; i < values.length; i++) {
    const v = Math.abs(values[i]);
    if (Number.isFinite(v) && v > m) m = v;
  }
  return m > 0 ? [-m, m] : [-1, 1];
}

/** LUT index (0..255) of a value in [lo, hi]; NaN maps to 0. */
export function lutIndex(value, lo, hi) {
  if (!(hi > lo)) return value > lo ? 255 : 0;
  const t = (value - lo) / (hi - lo);
  if (!(t > 0)) return 0;
  if (t >= 1) return 255;
  return Math.floor(t * 255.999);
}

/** Fill an RGBA pixel buffer (length 4 * values.length) from values through a LUT. */
export function colourise(values, lo, hi, lut, out = new Uint8ClampedArray(values.length * 4)) {
  for (let i = 0; i < values.length; i++) {
    const k = lutIndex(values[i], lo, hi) * 4;
    const o = i * 4;
    out[o] = lut[k];
    out[o + 1] = lut[k + 1];
    out[o + 2] = lut[k + 2];
    out[o + 3] = lut[k + 3];
  }
  return out;
}

/** Whether a CSS colour ("#rgb", "#rrggbb", "rgb(...)", "rgba(...)") is dark (relative luminance < 0.2). */
export function isDarkColour(css) {
  const text = String(css ?? "").trim();
  let rgb = null;
  const m = /^rgba?\(\s*([\d.]+)[\s,]+([\d.]+)[\s,]+([\d.]+)/i.exec(text);
  if (m) rgb = [Number(m[1]), Number(m[2]), Number(m[3])];
  else if (/^#([0-9a-f]{3}|[0-9a-f]{6})$/i.test(text)) rgb = hexToRgb(text);
  if (!rgb) return false;
  const lin = rgb.map((c) => {
    const v = c / 255;
    return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2] < 0.2;
}

/** The colour of head h (cycling when there are more heads than colours) on `background`: the dark
 * variant on a dark background, else the light one. */
export function headColour(h, background = "#ffffff") {
  const palette = isDarkColour(background) ? HEAD_PALETTE_DARK : HEAD_PALETTE;
  const n = palette.length;
  return palette[((h % n) + n) % n];
}

/** "rgba(r, g, b, a)" of a hex colour. */
export function rgba(hex, alpha) {
  const [r, g, b] = hexToRgb(hex);
  return `rgba(${r}, ${g}, ${b}, ${alpha})`;
}

export const THEME_FALLBACKS = {
  background: ["--jp-layout-color0", "#ffffff"],
  surface: ["--jp-layout-color1", "#ffffff"],
  surfaceAlt: ["--jp-layout-color2", "#eeeeee"],
  foreground: ["--jp-ui-font-color1", "rgba(0, 0, 0, 0.87)"],
  muted: ["--jp-ui-font-color2", "rgba(0, 0, 0, 0.54)"],
  border: ["--jp-border-color2", "#e0e0e0"],
  accent: ["--jp-brand-color1", "#1976d2"],
  error: ["--jp-error-color1", "#d32f2f"],
  fontFamily: ["--jp-ui-font-family", "system-ui, -apple-system, 'Segoe UI', sans-serif"],
  codeFontFamily: ["--jp-code-font-family", "monospace"],
};

/**
 * JupyterLab theme colours seen from element `el`, with light fallbacks outside JupyterLab.
 * `getStyle(el)` defaults to getComputedStyle; injectable for tests.
 */
export function themeColours(el, getStyle = (e) => globalThis.getComputedStyle(e)) {
  let style = null;
  try {
    style = el ? getStyle(el) : null;
  } catch {
    style = null;
  }
  const out = {};
  for (const [key, [variable, fallback]] of Object.entries(THEME_FALLBACKS)) {
    const value = style ? String(style.getPropertyValue(variable) || "").trim() : "";
    out[key] = value || fallback;
  }
  return out;
}
