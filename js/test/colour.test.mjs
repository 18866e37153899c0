import assert from "node:assert/strict";
import { test } from "node:test";
import {
  buildLut,
  colourise,
  HEAD_PALETTE,
  HEAD_PALETTE_DARK,
  headColour,
  hexToRgb,
  isDarkColour,
  lutIndex,
  rgba,
  themeColours,
  VIRIDIS_STOPS,
  viridisLut,
} from "../src/draw/colour.js";

test("hexToRgb", () => {
  assert.deepEqual(hexToRgb("#440154"), [0x44, 0x01, 0x54]);
  assert.deepEqual(hexToRgb("#fff"), [255, 255, 255]);
  assert.throws(() => hexToRgb("red"));
  assert.equal(rgba("#ff0000", 0.5), "rgba(255, 0, 0, 0.5)");
});

test("viridis LUT: 256 RGBA entries from the first to the last stop", () => {
  const lut = viridisLut();
  assert.ok(lut instanceof Uint8ClampedArray);
  assert.equal(lut.length, 1024);
  assert.deepEqual([...lut.slice(0, 4)], [...hexToRgb(VIRIDIS_STOPS[0]), 255]);
  assert.deepEqual([...lut.slice(1020, 1024)], [...hexToRgb(VIRIDIS_STOPS.at(-1)), 255]);
  for (let i = 0; i < 256; i++) assert.equal(lut[i * 4 + 3], 255);
  // perceptual lightness rises: green channel is monotonic in viridis
  for (let i = 1; i < 256; i++) assert.ok(lut[i * 4 + 1] >= lut[(i - 1) * 4 + 1], `green at ${i}`);
  assert.equal(viridisLut(), lut, "built once");
});

test("buildLut interpolates linearly between stops", () => {
  const lut = buildLut(["#000000", "#ffffff"], 3);
  assert.deepEqual([...lut], [0, 0, 0, 255, 128, 128, 128, 255, 255, 255, 255, 255]);
});

test("lutIndex clamps and handles degenerate ranges", () => {
  assert.equal(lutIndex(0, 0, 1), 0);
  assert.equal(lutIndex(1, 0, 1), 255);
  assert.equal(lutIndex(0.5, 0, 1), 127);
  assert.equal(lutIndex(-1, 0, 1), 0);
  assert.equal(lutIndex(2, 0, 1), 255);
  assert.equal(lutIndex(NaN, 0, 1), 0);
  assert.equal(lutIndex(0.3, 0.3, 0.3), 0);
  assert.equal(lutIndex(0.5, 0.3, 0.3), 255);
});

test("colourise writes RGBA per value", () => {
  const lut = viridisLut();
  const px = colourise(new Float32Array([0, 1]), 0, 1, lut);
  assert.deepEqual([...px.slice(0, 4)], [...lut.slice(0, 4)]);
  assert.deepEqual([...px.slice(4, 8)], [...lut.slice(1020, 1024)]);
});

test("head palette: distinct colours, cycling past its length", () => {
  assert.equal(HEAD_PALETTE.length, 12);
  assert.equal(HEAD_PALETTE_DARK.length, 12);
  assert.equal(headColour(3, "#111111"), HEAD_PALETTE_DARK[3]);
  assert.equal(headColour(3, "rgb(33, 33, 33)"), HEAD_PALETTE_DARK[3]);
  assert.equal(headColour(3, "#ffffff"), HEAD_PALETTE[3]);
  assert.equal(isDarkColour("rgba(255, 255, 255, 0.87)"), false);
  assert.equal(isDarkColour("not a colour"), false);
  assert.equal(new Set(HEAD_PALETTE.map((c) => c.toLowerCase())).size, HEAD_PALETTE.length);
  assert.equal(headColour(0), HEAD_PALETTE[0]);
  assert.equal(headColour(HEAD_PALETTE.length), HEAD_PALETTE[0]);
  assert.equal(headColour(HEAD_PALETTE.length + 3), HEAD_PALETTE[3]);
  for (const c of HEAD_PALETTE) hexToRgb(c);
});

test("themeColours reads JupyterLab variables with light fallbacks", () => {
  const vars = { "--jp-layout-color0": " #111111 ", "--jp-ui-font-color1": "rgba(255, 255, 255, 1)" };
  const theme = themeColours({}, () => ({ getPropertyValue: (name) => vars[name] || "" }));
  assert.equal(theme.background, "#111111");
  assert.equal(theme.foreground, "rgba(255, 255, 255, 1)");
  assert.equal(theme.border, "#e0e0e0");
  const fallback = themeColours(null);
  assert.equal(fallback.background, "#ffffff");
  const broken = themeColours({}, () => {
    throw new Error("no DOM");
  });
  assert.equal(broken.foreground, "rgba(0, 0, 0, 0.87)");
});
