"""Per-head statistics, top-k keys and rows of dense and compact captures, by the same definitions,
through the real request path (the widget's handler table and RequestQueue)."""

from __future__ import annotations

import re

import numpy as np
import pytest
from page_messages import page_message

from albert_widget import AttentionWidget, capture
from albert_widget.head_summaries import dense_row_statistics, dense_top_k, head_statistics, top_k
from albert_widget.longcontext import CompactAttention
from albert_widget.names import HEAD_STATISTICS
from albert_widget.result import AttentionResult
from albert_widget.tiny import random_llama
from albert_widget.transport import decode_array

TOL = 1e-6
TEXT = " ".join(["The quick brown fox jumps over the lazy dog while the cat sleeps."] * 14)


def _llama(vocab: int):
    """3 layers, 8 query heads sharing 2 key/value heads, head size 8 (seed 0)."""
    return random_llama(vocab, seed=0, max_position_embeddings=1024)


@pytest.fixture(scope="module")
def pair(bpe_tokenizer):
    """The same input captured dense and compact by one small random Llama."""
    model = _llama(len(bpe_tokenizer))
    dense = capture(model, bpe_tokenizer, TEXT)
    n = dense.num_tokens
    compact = capture(model, bpe_tokenizer, TEXT, memory_budget=3 * 8 * n * n * 4 - 1)
    assert isinstance(dense, AttentionResult) and isinstance(compact, CompactAttention) and n > 150
    return dense, compact


def _close(a, b, scale=None):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.abs(a - b).max()) <= TOL * (scale if scale is not None else max(1.0, float(np.abs(b).max())))


def test_dense_statistics_equal_the_compact_summaries(pair):
    dense, compact = pair
    rows = dense_row_statistics(dense.attention)
    names = {"sink": "sink", "entropy": "entropy", "previous_token": "previous", "self_weight": "self", "mean_distance": "distance"}
    for name in HEAD_STATISTICS:
        assert rows[name].shape == compact.summaries.rows[names[name]].shape
        assert _close(rows[name], compact.summaries.rows[names[name]]), name
    got, want = head_statistics(dense), head_statistics(compact)
    assert got.shape == want.shape == (len(HEAD_STATISTICS), 3, 8) and got.dtype == np.float32
    for s, name in enumerate(HEAD_STATISTICS):
        assert _close(got[s], want[s]), name
    # and they are the statistics the summaries' own properties give
    assert np.array_equal(want[HEAD_STATISTICS.index("previous_token")], compact.summaries.previous_token)
    assert np.array_equal(want[HEAD_STATISTICS.index("mean_distance")], compact.summaries.mean_distance)
    # skipping the first rows (little to choose from there)
    assert _close(head_statistics(dense, start=10), head_statistics(compact, start=10))


def test_statistics_by_brute_force_on_a_bidirectional_encoder():
    rng = np.random.default_rng(0)
    a = rng.random((2, 3, 7, 7)).astype(np.float32)
    a /= a.sum(-1, keepdims=True)
    rows = dense_row_statistics(a)
    for layer in range(2):
        for head in range(3):
            w = a[layer, head].astype(np.float64)
            for i in range(7):
                assert abs(rows["sink"][layer, head, i] - w[i, 0]) <= TOL
                assert abs(rows["entropy"][layer, head, i] + sum(x * np.log(x) for x in w[i])) <= TOL
                assert abs(rows["previous_token"][layer, head, i] - (w[i, i - 1] if i else 0)) <= TOL
                assert abs(rows["self_weight"][layer, head, i] - w[i, i]) <= TOL
                assert abs(rows["mean_distance"][layer, head, i] - sum(w[i, j] * abs(i - j) for j in range(7))) <= TOL
    with pytest.raises(ValueError, match=r"\[layers, heads, N, N\]"):
        dense_row_statistics(a[0])


@pytest.mark.parametrize("k", [1, 4, 9])
def test_top_k_of_dense_and_compact_agree_with_brute_force(pair, k):
    dense, compact = pair
    n = dense.num_tokens
    heads = [0, 5, 7]
    di, dw = top_k(dense, 1, heads, k)
    ci, cw = top_k(compact, 1, heads, k)  # k=9 > the capture's stored top-k: recomputed from blocks
    assert di.shape == ci.shape == (3, n, k) and di.dtype == ci.dtype == np.int32 and cw.dtype == np.float32
    want = -np.sort(-dense.attention[1][heads], axis=-1)[..., :k]
    want[..., np.arange(k)[None, :] > np.arange(n)[:, None]] = 0  # row i sees i + 1 keys
    assert float(np.abs(dw - want).max()) <= TOL and float(np.abs(cw - want).max()) <= TOL
    for idx, w in ((di, dw), (ci, cw)):
        valid = idx >= 0
        assert (valid == (w > 0)).all()
        picked = np.take_along_axis(dense.attention[1][heads], np.where(valid, idx, 0).astype(np.int64), axis=-1)
        assert float(np.abs(np.where(valid, picked, 0) - w).max()) <= TOL
    assert (ci[:, 0, 1:] == -1).all() and (ci[:, 0, 0] == 0).all()  # the first query sees one key


def test_dense_top_k_orders_heaviest_first():
    w = np.array([[0.1, 0.6, 0.0, 0.3]], np.float32)
    idx, val = dense_top_k(w, 3)
    assert idx.tolist() == [[1, 3, 0]] and np.allclose(val, [[0.6, 0.3, 0.1]])
    idx, val = dense_top_k(w, 4)
    assert idx.tolist() == [[1, 3, 0, -1]] and val[0, 3] == 0


def _replies(widget) -> list:
    out: list = []
    widget.send = lambda content, buffers=None: out.append((content, list(buffers or [])))
    return out


@pytest.fixture
def dense_widget(pair):
    return AttentionWidget(result=pair[0])


def test_summaries_request_sends_float32_statistics(dense_widget, pair):
    sent = _replies(dense_widget)
    page_message(dense_widget, {"type": "summaries", "revision": dense_widget.revision})
    (content, buffers) = sent[-1]
    assert "error" not in content and content["statistics"] == list(HEAD_STATISTICS) and content["form"] == "dense"
    assert content["buffers_expected"] == 1 and content["dtype"] == "float32" and content["shape"] == [5, 3, 8]
    values = decode_array(content, buffers[0])
    assert np.array_equal(values, head_statistics(pair[0]))
    assert _close(values, head_statistics(pair[1]))  # the compact capture's summaries, to float32 rounding


def _ask(widget, request):
    sent = _replies(widget)
    page_message(widget, {**request, "revision": widget.revision})
    content, buffers = sent[-1]
    assert "error" not in content, content
    return content, buffers


def _top(content, buffers):
    shape = content["shape"]
    return np.frombuffer(buffers[0], dtype="<i4").reshape(shape), np.frombuffer(buffers[1], dtype="<f4").reshape(shape)


def test_topk_and_row_requests_are_exact(dense_widget, pair):
    dense, compact = pair
    compact_widget = AttentionWidget.from_result(compact)
    assert compact_widget.attention_form == "compact"
    content, buffers = _ask(dense_widget, {"type": "topk", "layer": 2, "heads": [3, 1], "k": 4})
    assert content["shape"] == [2, dense.num_tokens, 4] and content["buffers_expected"] == 2 and content["heads"] == [3, 1]
    index, weight = _top(content, buffers)
    want_i, want_w = top_k(dense, 2, [3, 1], 4)
    assert np.array_equal(index, want_i) and np.array_equal(weight, want_w)
    # the compact widget answers the same request from its capture's top-k (k=4) or its blocks (k=6)
    for k in (4, 6):
        cindex, cweight = _top(*_ask(compact_widget, {"type": "topk", "layer": 2, "heads": [3, 1], "k": k}))
        _, dweight = top_k(dense, 2, [3, 1], k)
        assert cweight.shape == (2, dense.num_tokens, k) and float(np.abs(cweight - dweight).max()) <= TOL
        valid = cindex >= 0
        picked = np.take_along_axis(dense.attention[2][[3, 1]], np.where(valid, cindex, 0).astype(np.int64), axis=-1)
        assert float(np.abs(np.where(valid, picked, 0) - cweight).max()) <= TOL
    # summaries of the compact widget: its capture's own
    content, buffers = _ask(compact_widget, {"type": "summaries"})
    assert content["form"] == "compact" and np.array_equal(decode_array(content, buffers[0]), head_statistics(compact))
    # rows: both widgets' replies equal CompactAttention.row
    for widget in (dense_widget, compact_widget):
        for reduce, heads in (("none", [6]), ("mean", [0, 6, 7]), ("max", [0, 6, 7])):
            content, buffers = _ask(widget, {"type": "row", "layer": 1, "row": 100, "heads": heads, "reduce": reduce})
            rows = np.stack([compact.row(1, h, 100) for h in heads])
            want = rows[0] if reduce == "none" else rows.max(0) if reduce == "max" else rows.mean(0)
            got = decode_array(content, buffers[0])
            assert got.shape == (compact.num_tokens,) and float(np.abs(got - want).max()) <= TOL, (widget.attention_form, reduce)


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        ({"type": "topk", "layer": 3, "heads": [0], "k": 4}, r"layer must be an int in 0\.\.2"),
        ({"type": "topk", "layer": 0, "heads": [0], "k": 0}, r"k must be an int in 1\.\.32"),
        ({"type": "topk", "layer": 0, "heads": [0], "k": 33}, r"k must be an int in 1\.\.32"),
        ({"type": "topk", "layer": 0, "heads": [8], "k": 2}, r"head 8 is not in 0\.\.7"),
        ({"type": "topk", "layer": 0, "heads": [], "k": 2}, r"must list the heads"),
        ({"type": "topk", "layer": 0, "k": 2}, r"needs 'heads'"),
        ({"type": "topk", "layer": 0, "heads": [0], "k": "4"}, r"'k' must be int"),
        ({"type": "summaries", "start": 10_000}, r"start must be an int in 0\.\."),
        ({"type": "row", "layer": 0, "row": 10_000, "heads": [0]}, r"row must be in 0\.\."),
    ],
)
def test_bad_requests_get_clear_errors(dense_widget, request_, message):
    sent = _replies(dense_widget)
    page_message(dense_widget, {**request_, "revision": dense_widget.revision})
    content, buffers = sent[-1]
    assert buffers == [] and "error" in content
    assert re.search(message, content["error"]), content["error"]


def test_the_new_traits_have_help_and_check_their_values(dense_widget):
    assert dense_widget.model_statistic == "thumbnails" and dense_widget.row_query == -1
    dense_widget.model_statistic = "entropy"
    with pytest.raises(Exception, match="model_statistic must be one of"):
        dense_widget.model_statistic = "loudness"
    dense_widget.row_query = 5
    with pytest.raises(ValueError, match="row_query must be -1"):
        dense_widget.row_query = 10_000
    assert dense_widget.row_query == 5
    for name in ("model_statistic", "row_query"):
        assert dense_widget.traits()[name].help


def test_a_compact_widget_refuses_bad_top_k_requests_with_the_reason(pair):
    widget = AttentionWidget.from_result(pair[1])
    sent = _replies(widget)
    for request, message in (
        ({"type": "topk", "layer": 0, "heads": [0], "k": 40}, r"k must be an int in 1\.\.32"),
        ({"type": "topk", "layer": 0, "heads": [0, 9], "k": 4}, r"head 9 is not in 0\.\.7"),
        ({"type": "summaries", "start": -1}, r"start must be an int in 0\.\."),
    ):
        page_message(widget, {**request, "revision": widget.revision})
        content, buffers = sent[-1]
        assert buffers == [] and re.search(message, content["error"]), content
