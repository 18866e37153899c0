"""albert_widget.viewplan against the page's js/src/filters.js (viewPlan, applyPlan, causalMask,
reduceLayers), run in node on the same tokens and attention: the same shown tokens, values, mask."""

from __future__ import annotations

import itertools
import json
import pathlib
import shutil
import subprocess

import numpy as np
import pytest

from albert_widget.viewplan import Axis, apply_plan, causal_mask, reduce_layers, view_plan

REPO = pathlib.Path(__file__).resolve().parents[1]

NODE_SCRIPT = """
import { applyPlan, causalMask, reduceLayers, viewPlan } from "%(filters)s";
let input = "";
process.stdin.on("data", (d) => (input += d));
process.stdin.on("end", () => {
  const { rows, cols, square, data, shape, layers, cases } = JSON.parse(input);
  const out = cases.map((opts) => {
    const plan = viewPlan({ rows, cols: square ? rows : cols, square, ...opts });
    const shown = applyPlan(Float32Array.from(data), shape, plan);
    const mask = causalMask(plan, shape[1], shape[2]);
    return {
      rowMembers: plan.rowMembers, colMembers: plan.colMembers,
      rowRaw: plan.rowInfos.map((x) => x.raw), colRaw: plan.colInfos.map((x) => x.raw),
      rowSpecial: plan.rowInfos.map((x) => x.special), rowSegments: plan.rowInfos.map((x) => x.segment),
      data: Array.from(shown.data), shape: shown.shape, mask: mask ? Array.from(mask) : null, pair: plan.pair,
    };
  });
  const reduced = ["mean", "max"].map((m) => Array.from(reduceLayers(layers.map((l) => Float32Array.from(l)), m)));
  process.stdout.write(JSON.stringify({ out, reduced }));
});
"""


def run_js(payload: dict) -> dict:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is needed to compare with the page's filters (js/src/filters.js)")
    script = NODE_SCRIPT % {"filters": (REPO / "js" / "src" / "filters.js").as_uri()}
    proc = subprocess.run(
        [node, "--input-type=module", "-e", script], input=json.dumps(payload), capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def softmax_rows(shape, seed):
    x = np.random.default_rng(seed).normal(size=shape) * 2
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


CASES = [
    {"pairFilter": p, "wordLevel": w, "hideSpecial": s, "causal": c, "prettify": pr}
    for p, w, s, c, pr in itertools.product(("all", "ab", "bb"), (False, True), (False, True), (False, True), (True, False))
]


def check(axis_rows: Axis, axis_cols: Axis, square: bool, seed: int) -> None:
    R, C = len(axis_rows.tokens), len(axis_cols.tokens)
    data = softmax_rows((2, R, C), seed)
    layers = softmax_rows((3, 2, R, C), seed + 1)
    as_js = lambda a: {"tokens": list(a.tokens), "special": list(a.special), "segments": list(a.segments)}  # noqa: E731
    js = run_js(
        {
            "rows": as_js(axis_rows),
            "cols": as_js(axis_cols),
            "square": square,
            "data": data.ravel().tolist(),
            "shape": [2, R, C],
            "layers": [layer.ravel().tolist() for layer in layers],
            "cases": CASES,
        }
    )
    for opts, want in zip(CASES, js["out"]):
        plan = view_plan(
            axis_rows,
            axis_cols,
            square=square,
            pair_filter=opts["pairFilter"],
            word_level=opts["wordLevel"],
            hide_special=opts["hideSpecial"],
            causal=opts["causal"],
            prettify=opts["prettify"],
        )
        assert [list(m) for m in plan.row_members] == want["rowMembers"], opts
        assert [list(m) for m in plan.col_members] == want["colMembers"], opts
        assert list(plan.row_raw) == want["rowRaw"], opts
        assert list(plan.col_raw) == want["colRaw"], opts
        assert list(plan.row_special) == want["rowSpecial"], opts
        assert list(plan.row_segments) == want["rowSegments"], opts
        assert plan.pair == want["pair"], opts
        shown = apply_plan(data, plan)
        assert list(shown.shape) == want["shape"], opts
        np.testing.assert_allclose(shown.ravel(), np.float32(want["data"]), rtol=1e-6, atol=1e-7, err_msg=str(opts))
        mask = causal_mask(plan)
        assert (None if mask is None else mask.astype(int).ravel().tolist()) == want["mask"], opts
    for mode, want in zip(("mean", "max"), js["reduced"]):
        np.testing.assert_allclose(reduce_layers(layers, mode).ravel(), np.float32(want), rtol=1e-6, atol=1e-7)


def test_plan_of_a_sentence_pair_matches_the_page(albert_tokenizer):
    enc = albert_tokenizer("The cat sat on the mat.", "It was tired.", return_special_tokens_mask=True, return_token_type_ids=True)
    axis = Axis(
        tuple(albert_tokenizer.convert_ids_to_tokens(enc["input_ids"])),
        tuple(bool(s) for s in enc["special_tokens_mask"]),
        tuple(int(s) for s in enc["token_type_ids"]),
    )
    check(axis, axis, True, seed=0)


def test_plan_of_cross_attention_matches_the_page():
    rows = Axis(("<s>", "Ġthe", "Ġcat", "s", "</s>"), (True, False, False, False, True), (0,) * 5)
    cols = Axis(("<s>", "Ġa", "Ġdog", "Ġbark", "ed", "!", "</s>"), (True,) + (False,) * 5 + (True,), (0,) * 7)
    check(rows, cols, False, seed=2)


def test_hide_special_renormalises_rows_and_words_sum_pieces():
    axis = Axis(("[CLS]", "foot", "##ball", "is", "[SEP]"), (True, False, False, False, True), (0,) * 5)
    a = np.array(
        [
            [0.2, 0.2, 0.2, 0.2, 0.2],
            [0.5, 0.1, 0.1, 0.1, 0.2],
            [0.0, 0.3, 0.3, 0.4, 0.0],
            [0.0, 0.0, 0.0, 0.0, 1.0],
            [0.1, 0.2, 0.3, 0.4, 0.0],
        ],
        dtype=np.float32,
    )
    plan = view_plan(axis, axis, hide_special=True, word_level=True)
    assert plan.row_raw == ("football", "is")
    assert plan.row_members == ((1, 2), (3,))
    shown = apply_plan(a, plan)
    # row "football" = mean of rows 1 and 2 renormalised over columns 1..3; "is" gave all to [SEP]: 0
    np.testing.assert_allclose(shown, [[(2 / 3 + 0.6) / 2, (1 / 3 + 0.4) / 2], [0.0, 0.0]], rtol=1e-6)
