// The matrix view's viewport maths (viewport.js): zoom around a point, pan, clamping, the cell under
// a pixel, label thinning, and which tiles of which level cover a view.

import assert from "node:assert/strict";
import { test } from "node:test";
import {
  cellAtPoint,
  cellEdge,
  cellIndex,
  clampViewport,
  FULL_CELL_PX,
  fullViewport,
  labelStepFor,
  labelsOnAxis,
  MAX_TILE_CELLS,
  maxZoom,
  panBy,
  tileKey,
  tileLevel,
  tileSide,
  tilesFor,
  visible,
  wheelFactor,
  zoomAt,
} from "../src/viewport.js";

const D = { rows: 4096, cols: 4096, width: 512, height: 512 };

test("zooming keeps the token under the pointer under it", () => {
  const vp = zoomAt(fullViewport(), 4, 128, 384, D);
  assert.equal(vp.zoom, 4);
  const before = cellAtPoint(fullViewport(), D, 128, 384);
  const after = cellAtPoint(vp, D, 128, 384);
  assert.deepEqual(after, before);
  // and again, deeper: still the same token
  const deeper = zoomAt(vp, 8, 128, 384, D);
  assert.deepEqual(cellAtPoint(deeper, D, 128, 384), before);
  // zooming out all the way is the whole grid
  assert.deepEqual(zoomAt(deeper, 1e-9, 10, 10, D), fullViewport());
});

test("zoom stops where a token gets FULL_CELL_PX, and never below 1", () => {
  assert.equal(maxZoom(D), (FULL_CELL_PX * 4096) / 512);
  const vp = zoomAt(fullViewport(), 1e9, 0, 0, D);
  assert.equal(vp.zoom, maxZoom(D));
  assert.equal(visible(vp, D).rowPx, FULL_CELL_PX);
  assert.equal(maxZoom({ rows: 10, cols: 10, width: 280, height: 280 }), 1); // small inputs fit already
  assert.equal(clampViewport({ r0: -5, c0: 9e9, zoom: 0.5 }, D).zoom, 1);
});

test("panning moves with the pointer and stays inside the grid", () => {
  const vp = zoomAt(fullViewport(), 8, 256, 256, D); // 512 tokens shown, 1 px each
  const moved = panBy(vp, 100, -50, D);
  assert.equal(moved.c0, vp.c0 - 100);
  assert.equal(moved.r0, vp.r0 + 50);
  const edge = panBy(vp, 1e6, 1e6, D);
  assert.equal(edge.c0, 0);
  assert.equal(edge.r0, 0);
  const far = panBy(vp, -1e6, -1e6, D);
  assert.equal(far.r0, 4096 - 512);
  assert.deepEqual(panBy(fullViewport(), 50, 50, D), fullViewport()); // nothing to pan at zoom 1
});

test("the cell under a pixel, and nothing outside the plot", () => {
  assert.deepEqual(cellAtPoint(fullViewport(), D, 0, 0), { i: 0, j: 0 });
  assert.deepEqual(cellAtPoint(fullViewport(), D, 511.9, 0.1), { i: 0, j: 4095 });
  assert.equal(cellAtPoint(fullViewport(), D, 512, 0), null);
  assert.equal(cellAtPoint(fullViewport(), D, -1, 3), null);
  const vp = { r0: 100, c0: 200, zoom: 128 }; // 32 tokens of 16 px
  assert.deepEqual(cellAtPoint(vp, D, 17, 33), { i: 102, j: 201 });
});

test("wheel: up zooms in, down zooms out, bounded per event", () => {
  assert.ok(wheelFactor(-100) > 1 && wheelFactor(100) < 1);
  assert.equal(wheelFactor(-100) * wheelFactor(100), 1);
  assert.equal(wheelFactor(-1e6), wheelFactor(-500));
});

test("labels: every token once it has MIN_LABEL_PX, else every 2^k-th (the same tokens as one zooms)", () => {
  assert.equal(labelStepFor(16), 1);
  assert.equal(labelStepFor(10), 1);
  assert.equal(labelStepFor(9.9), 2);
  assert.equal(labelStepFor(1), 16);
  assert.equal(labelStepFor(0.125), 128);
  const { step, indices } = labelsOnAxis(10.5, 40.2, 4096, 4);
  assert.equal(step, 4);
  assert.deepEqual(indices, [12, 16, 20, 24, 28, 32, 36, 40]);
  assert.deepEqual(labelsOnAxis(0, 5, 5, 20).indices, [0, 1, 2, 3, 4]);
  assert.deepEqual(labelsOnAxis(4090, 4100, 4096, 20).indices, [4090, 4091, 4092, 4093, 4094, 4095]);
});

test("tile level: tokens per cell, a power of 2 keeping cells >= 1 px; 1 when zoomed in", () => {
  assert.equal(tileLevel(fullViewport(), D), 8);
  assert.equal(tileLevel(fullViewport(), { rows: 32768, cols: 32768, width: 560, height: 560 }), 64);
  assert.equal(tileLevel({ r0: 0, c0: 0, zoom: 8 }, D), 1);
  assert.equal(tileLevel({ r0: 0, c0: 0, zoom: 3 }, D), 4);
});

test("cell edges and the cell of a token are twins of albert_widget/tiles.py", () => {
  // tiles.py: cell_edges(10, 17, 3) == [10, 12, 14, 17]
  assert.deepEqual(
    [0, 1, 2, 3].map((k) => cellEdge(10, 17, 3, k)),
    [10, 12, 14, 17],
  );
  for (const [start, stop, out] of [
    [0, 4096, 512],
    [10, 17, 3],
    [0, 9, 2],
    [100, 164, 64],
    [7, 1000, 13],
  ]) {
    for (let i = start; i < stop; i++) {
      const a = cellIndex(start, stop, out, i);
      assert.ok(cellEdge(start, stop, out, a) <= i && i < cellEdge(start, stop, out, a + 1), `${start}..${stop}/${out}: ${i}`);
    }
  }
});

test("tiles cover the view on a fixed grid, centre first; wholly masked ones are marked", () => {
  const all = tilesFor(fullViewport(), D, { causal: true });
  assert.equal(all.length, 4); // 256 cells of 8 tokens: 2048 tokens a side
  const covered = new Set(all.map((t) => `${t.row0},${t.col0}`));
  assert.deepEqual([...covered].sort(), ["0,0", "0,2048", "2048,0", "2048,2048"]);
  const masked = all.filter((t) => t.masked);
  assert.deepEqual(
    masked.map((t) => [t.row0, t.col0]),
    [[0, 2048]],
  );
  for (const t of all) assert.equal(t.out_rows, 256);
  // zoomed in: tiles of one token per cell, only those on screen, the same ones after a small pan
  const vp = zoomAt(fullViewport(), 16, 300, 200, D);
  const tiles = tilesFor(vp, D, {});
  const v = visible(vp, D);
  assert.ok(tiles.every((t) => t.level === 1 && t.out_rows === t.row1 - t.row0));
  for (const i of [Math.floor(v.r0), Math.ceil(v.r1) - 1])
    for (const j of [Math.floor(v.c0), Math.ceil(v.c1) - 1]) assert.ok(tiles.some((t) => t.row0 <= i && i < t.row1 && t.col0 <= j && j < t.col1));
  const keys = new Set(tiles.map((t) => tileKey(t, "s")));
  const panned = tilesFor(panBy(vp, 3, 3, D), D, {});
  assert.ok(panned.every((t) => keys.has(tileKey(t, "s"))) || panned.length >= tiles.length);
  // the last tile of an axis is cut at N
  const odd = tilesFor(fullViewport(), { rows: 1000, cols: 1000, width: 560, height: 560 }, {});
  assert.ok(odd.every((t) => t.row1 <= 1000 && t.out_rows === Math.ceil((t.row1 - t.row0) / t.level)));
});

test("a tile never costs the kernel more than its limit, heads included", () => {
  assert.equal(tileSide(1, 1), 256);
  assert.equal(tileSide(64, 1), 8192);
  assert.ok(tileSide(64, 32) ** 2 * 32 <= MAX_TILE_CELLS);
  for (const t of tilesFor(fullViewport(), { rows: 32768, cols: 32768, width: 560, height: 560 }, { heads: 8 }))
    assert.ok((t.row1 - t.row0) * (t.col1 - t.col0) * 8 <= MAX_TILE_CELLS);
});
