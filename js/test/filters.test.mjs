// Explorer filters: pair filters, hidden special tokens (renormalised), word level, causal mask,
// layer reduction, search; plus the rectangular helpers of the views (lines, cellAt, mask runs).

import assert from "node:assert/strict";
import { test } from "node:test";
import {
  applyPlan,
  availableKinds,
  axisPlan,
  causalMask,
  createLayerReducer,
  currentKind,
  exploreState,
  hasPair,
  isCausal,
  kindAxes,
  kindShape,
  layerReduceLabel,
  mergeToWords,
  pairSegments,
  rawDisplay,
  reduceLayers,
  searchMatches,
  viewPlan,
} from "../src/filters.js";
import { BLANK, looksSpecial, wordGroups, wordMembers, wordRaw } from "../src/tokens.js";
import { bucketLines } from "../src/views/lines.js";
import { MASK_RGB, maskRuns, paintMask } from "../src/views/mask.js";
import { cellAt } from "../src/views/matrix.js";

const close = (a, b, eps = 1e-6) => {
  assert.equal(a.length, b.length, `length ${a.length} != ${b.length}`);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) <= eps, `[${i}] ${a[i]} != ${b[i]}`);
};
const rowSums = (data, rows, cols) => Array.from({ length: rows }, (_, i) => data.slice(i * cols, (i + 1) * cols).reduce((s, v) => s + v, 0));

// The hand-computed example of tests/test_words.py: [CLS] ▁play ing [SEP].
const HAND_TOKENS = ["[CLS]", "▁play", "ing", "[SEP]"];
const HAND = [0.4, 0.3, 0.2, 0.1, 0.1, 0.5, 0.2, 0.2, 0.3, 0.1, 0.4, 0.2, 0.25, 0.25, 0.25, 0.25];
const HAND_WORDS = [0.4, 0.5, 0.1, 0.2, 0.6, 0.2, 0.25, 0.5, 0.25];

const axis = (tokens, special = tokens.map(looksSpecial), segments = tokens.map(() => 0)) => ({ tokens, special, segments });

test("word level: the hand-computed example (TO = sum over pieces, FROM = mean)", () => {
  const groups = wordGroups(HAND_TOKENS);
  assert.deepEqual(groups, [0, 1, 1, 2]);
  close(mergeToWords(HAND, groups), HAND_WORDS);
  const plan = viewPlan({ rows: axis(HAND_TOKENS), cols: axis(HAND_TOKENS), wordLevel: true });
  assert.deepEqual(
    plan.rowInfos.map((x) => x.text),
    ["[CLS]", "playing", "[SEP]"],
  );
  assert.deepEqual(
    plan.rowInfos.map((x) => x.pieces),
    [1, 2, 1],
  );
  const two = new Float32Array([...HAND, ...HAND.map((_v, k) => (k % 4 === 0 ? 1 : 0))]); // 2 heads
  const { data, shape } = applyPlan(two, [2, 4, 4], plan);
  assert.deepEqual(shape, [2, 3, 3]);
  close(data.slice(0, 9), HAND_WORDS);
  close(data.slice(9), [1, 0, 0, 1, 0, 0, 1, 0, 0]);
  close(rowSums(data.slice(0, 9), 3, 3), [1, 1, 1]);
});

test("word groups: WordPiece, SentencePiece, BPE, segments, specials guessed", () => {
  assert.deepEqual(wordGroups(["[CLS]", "un", "##believ", "##able", "cat", "[SEP]"]), [0, 1, 1, 1, 2, 3]);
  assert.deepEqual(wordGroups(["Hello", "Ġwor", "ld", "!", "Ġagain"]), [0, 1, 1, 1, 2]);
  assert.deepEqual(wordGroups(["[CLS]", "▁a", "b", "[SEP]", "c", "▁d", "[SEP]"]), [0, 1, 1, 2, 3, 4, 5]);
  assert.deepEqual(wordGroups(["▁x", "y", "z"], [false, false, false], [0, 0, 1]), [0, 0, 1]);
  assert.deepEqual(wordMembers([0, 1, 1, 2]), [[0], [1, 2], [3]]);
  assert.equal(wordRaw(["un", "##believ", "##able"], [0, 1, 2]), "unbelievable");
  assert.equal(wordRaw(["▁", "("], [0, 1]), "▁(");
  assert.ok(looksSpecial("<|endoftext|>") && looksSpecial("<extra_id_0>") && !looksSpecial("<b>") && !looksSpecial("[x]"));
});

test("hide special: rows and columns go, every row is renormalised over what stays", () => {
  const plan = viewPlan({ rows: axis(HAND_TOKENS), cols: axis(HAND_TOKENS), hideSpecial: true });
  assert.deepEqual(
    plan.rowInfos.map((x) => x.raw),
    ["▁play", "ing"],
  );
  const { data, shape } = applyPlan(new Float32Array(HAND), [1, 4, 4], plan);
  assert.deepEqual(shape, [1, 2, 2]);
  // row "▁play": [0.5, 0.2] / 0.7; row "ing": [0.1, 0.4] / 0.5
  close(data, [0.5 / 0.7, 0.2 / 0.7, 0.2, 0.8]);
  close(rowSums(data, 2, 2), [1, 1]);
  // With word level too: one word "playing", all of its attention on itself.
  const both = viewPlan({ rows: axis(HAND_TOKENS), cols: axis(HAND_TOKENS), hideSpecial: true, wordLevel: true });
  const merged = applyPlan(new Float32Array(HAND), [1, 4, 4], both);
  assert.deepEqual(merged.shape, [1, 1, 1]);
  close(merged.data, [1]);
  // A row whose attention all went to hidden tokens stays zero (not NaN).
  const onlySpecial = new Float32Array([1, 0, 0, 0, 0.5, 0, 0, 0.5, 0.2, 0.3, 0.5, 0, 0, 0, 0, 1]);
  close(applyPlan(onlySpecial, [1, 4, 4], plan).data, [0, 0, 0.375, 0.625]);
});

test("pair filters keep query rows of one sentence and key columns of the other", () => {
  const tokens = ["[CLS]", "a", "b", "[SEP]", "c", "[SEP]"];
  const segments = [0, 0, 0, 0, 1, 1];
  const ax = axis(tokens, tokens.map(looksSpecial), segments);
  const n = tokens.length;
  const m = new Float32Array(n * n).map((_, k) => k); // value = i * n + j
  assert.equal(hasPair(segments), true);
  assert.equal(hasPair([0, 0]), false);
  assert.deepEqual(pairSegments("ba"), [1, 0]);
  assert.equal(pairSegments("all"), null);
  const expect = {
    aa: [
      [0, 1, 2, 3],
      [0, 1, 2, 3],
    ],
    ab: [
      [0, 1, 2, 3],
      [4, 5],
    ],
    ba: [
      [4, 5],
      [0, 1, 2, 3],
    ],
    bb: [
      [4, 5],
      [4, 5],
    ],
  };
  for (const [filter, [rows, cols]] of Object.entries(expect)) {
    const plan = viewPlan({ rows: ax, cols: ax, pairFilter: filter });
    const { data, shape } = applyPlan(m, [1, n, n], plan);
    assert.deepEqual(shape, [1, rows.length, cols.length], filter);
    assert.deepEqual(
      Array.from(data),
      rows.flatMap((i) => cols.map((j) => i * n + j)),
      filter,
    );
    assert.deepEqual(
      plan.rowInfos.map((x) => x.raw),
      rows.map((i) => tokens[i]),
    );
    assert.deepEqual(
      plan.colInfos.map((x) => x.raw),
      cols.map((j) => tokens[j]),
    );
    assert.equal(plan.pair, filter);
  }
  const all = viewPlan({ rows: ax, cols: ax, pairFilter: "all" });
  assert.equal(all.identity, true);
  assert.equal(applyPlan(m, [1, n, n], all).data, m); // no copy
  // No sentence B: the filter does nothing (and says so).
  const single = axis(["[CLS]", "a", "[SEP]"]);
  const ignored = viewPlan({ rows: single, cols: single, pairFilter: "ab" });
  assert.equal(ignored.identity, true);
  assert.equal(ignored.pair, "all");
});

test("cross attention: rectangular rows (decoder) x columns (encoder), words per side", () => {
  const dec = axis(["</s>", "ĠSie", "ht"]);
  const enc = axis(["<s>", "ĠShe", "Ġse", "es", "</s>"]);
  const R = 3;
  const C = 5;
  const m = new Float32Array(R * C).fill(0.2);
  const plan = viewPlan({ rows: dec, cols: enc, square: false, wordLevel: true, pairFilter: "ab" });
  const { data, shape } = applyPlan(m, [1, R, C], plan);
  assert.deepEqual(shape, [1, 2, 4]);
  assert.deepEqual(
    plan.colInfos.map((x) => x.text),
    ["<s>", "She", "sees", "</s>"],
  );
  close(data, [0.2, 0.2, 0.4, 0.2, 0.2, 0.2, 0.4, 0.2]);
  assert.equal(plan.pair, "all"); // pair filters only apply to one sentence pair's self-attention
});

test("causal mask follows the filters", () => {
  const tokens = ["a", "b", "c", "d"];
  const plan = viewPlan({ rows: axis(tokens), cols: axis(tokens), causal: true });
  assert.deepEqual(Array.from(causalMask(plan, 4, 4)), [0, 1, 1, 1, 0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 0, 0]);
  // Words [Ġa b] [Ġc d]: "ab" -> "cd" is masked (every key after every query), "cd" -> "ab" is not.
  const words = ["Ġa", "b", "Ġc", "d"];
  const wplan = viewPlan({ rows: axis(words), cols: axis(words), causal: true, wordLevel: true });
  assert.deepEqual(Array.from(causalMask(wplan, 4, 4)), [0, 1, 0, 0]);
  assert.equal(causalMask(viewPlan({ rows: axis(tokens), cols: axis(tokens) }), 4, 4), null);
  assert.equal(isCausal("decoder", {}), true);
  assert.equal(isCausal("cross", { is_causal: true }), false);
  assert.equal(isCausal("encoder", { is_causal: true }), true);
  assert.deepEqual(maskRuns(new Uint8Array([0, 1, 1, 0, 0, 1]), 2, 3), [
    [0, 1, 3],
    [1, 2, 3],
  ]);
  const px = paintMask(new Uint8ClampedArray(8), new Uint8Array([0, 1]));
  assert.deepEqual(Array.from(px.slice(4, 7)), MASK_RGB);
  assert.deepEqual(Array.from(px.slice(0, 4)), [0, 0, 0, 0]);
});

test("mean and max over layers", () => {
  const a = new Float32Array([0.1, 0.9, 0.5, 0.5]);
  const b = new Float32Array([0.3, 0.7, 0.0, 1.0]);
  close(reduceLayers([a, b], "mean"), [0.2, 0.8, 0.25, 0.75]);
  close(reduceLayers([a, b], "max"), [0.3, 0.9, 0.5, 1.0]);
  assert.equal(layerReduceLabel("mean", 6), "mean of 6 layers");
  assert.equal(layerReduceLabel("none", 6), "");
  // The reducer reduces the layers it is given, memoised until the arrays change.
  const reducer = createLayerReducer();
  const entries = [
    { data: a, shape: [1, 2, 2] },
    { data: b, shape: [1, 2, 2] },
  ];
  const first = reducer.get(entries, "mean", "r1");
  close(first.data, [0.2, 0.8, 0.25, 0.75]);
  assert.deepEqual(first.shape, [1, 2, 2]);
  assert.equal(reducer.get(entries.slice(), "mean", "r1"), first);
  close(reducer.get(entries, "max", "r1").data, [0.3, 0.9, 0.5, 1.0]);
  assert.notEqual(reducer.get([entries[0], { data: Float32Array.from(b), shape: [1, 2, 2] }], "mean", "r1"), first);
});

test("search matches shown text and raw token, case-insensitively", () => {
  const infos = axisPlan(axis(["[CLS]", "▁Cat", "s", "##cat", "dog"])).infos;
  assert.deepEqual(searchMatches(infos, "cat"), [false, true, false, true, false]);
  assert.deepEqual(searchMatches(infos, " ▁c "), [false, true, false, false, false]);
  assert.deepEqual(searchMatches(infos, ""), [false, false, false, false, false]);
  assert.deepEqual(searchMatches(infos, "[cls"), [true, false, false, false, false]);
});

test("odd tokens stay text; prettify off shows raw pieces", () => {
  const tokens = ["", " ", "😀", "שלום", "<img src=x onerror=alert(1)>", "▁x", "##y"];
  const pretty = axisPlan(axis(tokens)).infos.map((x) => x.text);
  assert.deepEqual(pretty, [BLANK, BLANK, "😀", "שלום", "<img src=x onerror=alert(1)>", "x", "y"]);
  const raw = axisPlan(axis(tokens), { prettify: false }).infos.map((x) => x.text);
  assert.deepEqual(raw, [BLANK, BLANK, "😀", "שלום", "<img src=x onerror=alert(1)>", "▁x", "##y"]);
  assert.equal(rawDisplay("a\nb"), "a⏎b");
  const words = axisPlan(axis(tokens), { wordLevel: true }).infos.map((x) => x.text);
  assert.ok(words.includes("xy") || words.includes("x"), words.join("|"));
});

test("kinds: axes, shapes and the state read from traits", () => {
  const traits = {
    tokens: ["<s>", "a", "</s>"],
    special: [true, false, true],
    segments: [0, 0, 0],
    decoder_tokens: ["</s>", "b"],
    decoder_special: [true, false],
    kinds: ["encoder", "decoder", "cross"],
    info: { kind_shapes: { encoder: [2, 4], decoder: [3, 2], cross: [3, 2] } },
  };
  const get = (k) => traits[k];
  const cross = kindAxes("cross", get);
  assert.deepEqual([cross.rows.tokens, cross.cols.tokens, cross.square], [["</s>", "b"], ["<s>", "a", "</s>"], false]);
  assert.deepEqual(kindAxes("decoder", get).rows.segments, [0, 0]);
  assert.deepEqual(kindShape("decoder", traits.info, 2, 4), [3, 2]);
  assert.deepEqual(kindShape("decoder", {}, 2, 4), [2, 4]);
  assert.deepEqual(availableKinds(undefined), ["encoder"]);
  assert.equal(currentKind("cross", ["encoder"]), "encoder");
  assert.equal(currentKind("cross", traits.kinds), "cross");
  assert.deepEqual(
    exploreState((k) => ({ pair_filter: "zz", layer_reduce: "max", word_level: 1, prettify_tokens: false })[k]),
    {
      pairFilter: "all",
      wordLevel: true,
      hideSpecial: false,
      layerReduce: "max",
      search: "",
      prettify: false,
    },
  );
});

test("rectangular helpers of the views", () => {
  // 2 x 3 matrix: lines from 2 queries to 3 keys.
  const m = new Float32Array([0.5, 0, 0.5, 0.1, 0.2, 0.7]);
  const { count, buckets } = bucketLines(m, 2, { cols: 3 });
  assert.equal(count, 5);
  const pairs = buckets.flatMap((b) => Array.from(b.pairs));
  assert.ok(pairs.length === 10 && Math.max(...pairs) === 2);
  assert.equal(bucketLines(m, 2, { cols: 3, focus: { side: "right", index: 2 } }).count, 2);
  assert.equal(bucketLines(m, 2, { cols: 3, focus: { side: "left", index: 1 } }).count, 3);
  // cellAt: a 300 x 100 px plot of 2 rows x 3 columns.
  assert.deepEqual(cellAt(250, 75, 300, 3, 100, 2), { i: 1, j: 2 });
  assert.equal(cellAt(250, 100, 300, 3, 100, 2), null);
  assert.deepEqual(cellAt(95, 12, 100, 10), { i: 1, j: 9 }); // square as before
});
