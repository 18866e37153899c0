"""Per-head statistics (Clark et al. 2019) on hand-made attention with known answers, and padded batches
against one text at a time."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from conftest import CORPUS, tiny_albert_config

from albert_widget import AttentionResult, capture
from albert_widget.analysis import STATISTICS, HeadStats, head_stats

TOKENS = ["[CLS]", "▁a", "▁b", ".", "[SEP]"]
N = len(TOKENS)


def _heads():
    prev = np.zeros((N, N))
    prev[0, 0] = 1.0  # the first token has no previous token: it looks at itself
    for i in range(1, N):
        prev[i, i - 1] = 1.0
    sep = np.zeros((N, N))
    sep[:, N - 1] = 1.0
    uniform = np.full((N, N), 1.0 / N)
    return prev, sep, uniform


def _hand_result():
    prev, sep, uniform = _heads()
    att = np.stack([np.stack([prev, sep, uniform]), np.stack([uniform, prev, sep])]).astype(np.float32)
    return AttentionResult.from_attention(att, TOKENS)


# Expected per head for (previous-token head, [SEP] head, uniform head), worked out by hand over the 5 rows:
EXPECTED = {
    "to_cls": [2 / 5, 0.0, 1 / 5],  # prev: rows 0 and 1 look at [CLS]
    "to_sep": [0.0, 1.0, 1 / 5],
    "to_punct": [1 / 5, 0.0, 1 / 5],  # prev: row 4 looks at "."
    "to_self": [1 / 5, 1 / 5, 1 / 5],  # prev: row 0; sep: row 4
    "to_prev": [4 / 5, 0.0, 4 / 25],  # uniform: rows 1..4 give 1/5 each
    "to_next": [0.0, 1 / 5, 4 / 25],  # sep: row 3 -> 4
    "entropy": [0.0, 0.0, np.log(5)],  # uniform: log N
    "distance": [4 / 5, (4 + 3 + 2 + 1 + 0) / 5, (10 + 7 + 6 + 7 + 10) / 25],
}


def test_head_stats_known_answers():
    stats = head_stats([_hand_result()], progress=False)
    assert isinstance(stats, HeadStats) and stats.num_examples == 1 and stats.num_tokens == N
    for name, (p, s, u) in EXPECTED.items():
        got = getattr(stats, name)
        assert got.shape == (2, 3)
        np.testing.assert_allclose(got[0], [p, s, u], atol=1e-6, err_msg=name)
        np.testing.assert_allclose(got[1], [u, p, s], atol=1e-6, err_msg=name)
    assert stats.uniform_entropy == pytest.approx(np.log(5))


def test_jensen_shannon_between_heads_known_answers():
    stats = head_stats([_hand_result()], progress=False)
    js, dist = stats.js_divergence, stats.js_distance
    assert js.shape == dist.shape == (6, 6)  # index l·H + h
    np.testing.assert_allclose(js, js.T)
    np.testing.assert_allclose(np.diag(js), 0.0)
    # The previous-token and [SEP] heads never share a key in any row: JS = log 2 in every row.
    assert js[0, 1] == pytest.approx(np.log(2), abs=1e-6)
    assert dist[0, 1] == pytest.approx(np.sqrt(np.log(2)), abs=1e-6)
    # A one-hot row against the uniform row: M = (0.6, 0.1, 0.1, 0.1, 0.1),
    # JS = H(M) - (H(one-hot) + H(uniform)) / 2 = (0.6·log(1/0.6) + 0.4·log 10) - log(5)/2 = 0.42281
    expected = 0.6 * np.log(1 / 0.6) + 0.4 * np.log(10) - np.log(5) / 2
    assert expected == pytest.approx(0.42281, abs=1e-5)
    assert js[1, 2] == pytest.approx(expected, abs=1e-6) and js[0, 2] == pytest.approx(expected, abs=1e-6)
    # Same head in two layers: distance 0.
    assert js[2, 3] == pytest.approx(0.0, abs=1e-7) and js[0, 4] == pytest.approx(0.0, abs=1e-7)


def test_jensen_shannon_in_chunks_gives_the_same(monkeypatch):
    from albert_widget.analysis.stats import _Accumulator

    whole = head_stats([_hand_result()], progress=False)
    monkeypatch.setattr(_Accumulator, "JS_CHUNK_ELEMENTS", 2 * N * N)  # two heads at a time
    chunked = head_stats([_hand_result()], progress=False)
    np.testing.assert_allclose(chunked.js_divergence, whole.js_divergence, atol=1e-12)
    np.testing.assert_allclose(chunked.js_distance, whole.js_distance, atol=1e-12)


def test_every_token_counts_once():
    """Averages run over all query tokens of the corpus, not over texts (Clark et al.)."""
    a = np.zeros((1, 1, 5, 5), dtype=np.float32)
    a[..., 0] = 1.0  # five rows on [CLS]
    b = np.zeros((1, 1, 3, 3), dtype=np.float32)
    b[..., 2] = 1.0  # three rows on [SEP]
    results = [
        AttentionResult.from_attention(a, ["[CLS]", "▁x", "▁,", "▁y", "[SEP]"]),
        AttentionResult.from_attention(b, ["[CLS]", "▁z", "[SEP]"]),
    ]
    stats = head_stats(results, progress=False, js=False)
    assert stats.to_cls[0, 0] == pytest.approx(5 / 8) and stats.to_sep[0, 0] == pytest.approx(3 / 8)
    assert stats.uniform_entropy == pytest.approx((5 * np.log(5) + 3 * np.log(3)) / 8)
    assert stats.js_divergence is None and stats.num_tokens == 8 and stats.num_examples == 2


def test_to_dataframe_and_missing_pandas(monkeypatch):
    stats = head_stats([_hand_result()], progress=False)
    df = stats.to_dataframe()
    assert list(df.columns) == ["layer", "head", *STATISTICS]
    assert len(df) == 6
    row = df[(df["layer"] == 1) & (df["head"] == 2)].iloc[0]
    assert row.to_sep == pytest.approx(1.0)
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match="needs pandas"):
        stats.to_dataframe()


TEXTS = CORPUS[:6] + [("A sentence pair has two segments.", "Each token knows its segment.")]


def _captures(model, tokenizer, texts):
    return [capture(model, tokenizer, *(t if isinstance(t, tuple) else (t,))) for t in texts]


def _assert_same(batched, single):
    for name in STATISTICS:
        np.testing.assert_allclose(getattr(batched, name), getattr(single, name), atol=1e-6, rtol=1e-6, err_msg=name)
    np.testing.assert_allclose(batched.js_divergence, single.js_divergence, atol=1e-6)
    np.testing.assert_allclose(batched.js_distance, single.js_distance, atol=1e-5)
    assert batched.num_tokens == single.num_tokens and batched.num_examples == single.num_examples
    assert batched.uniform_entropy == pytest.approx(single.uniform_entropy)


def test_padded_batches_equal_one_at_a_time_tiny_albert(albert_tokenizer):
    from transformers import AlbertModel

    torch.manual_seed(6)
    model = AlbertModel(tiny_albert_config(len(albert_tokenizer), initializer_range=0.2))
    model.eval()
    single = head_stats(_captures(model, albert_tokenizer, TEXTS), progress=False)
    model.train()
    batched = head_stats(model, albert_tokenizer, TEXTS, batch_size=3, device="cpu", progress=False)
    assert model.training and model.config._attn_implementation == "sdpa"  # restored
    _assert_same(batched, single)
    # The texts differ in length, so the batches really were padded, and the heads are not uniform.
    assert len({r.num_tokens for r in _captures(model, albert_tokenizer, TEXTS[:3])}) > 1
    assert batched.entropy.min() < batched.uniform_entropy - 0.1


def test_padded_batches_equal_one_at_a_time_minilm(minilm):
    model, tokenizer = minilm
    single = head_stats(_captures(model, tokenizer, TEXTS), progress=False)
    batched = head_stats(model, tokenizer, TEXTS, batch_size=4, progress=False)
    _assert_same(batched, single)
    one = head_stats(model, tokenizer, TEXTS, batch_size=1, progress=False)
    _assert_same(one, single)
    # Real attention: MiniLM's heads put much of their attention on [CLS] and [SEP].
    assert (batched.to_cls + batched.to_sep).max() > 0.5


def test_head_stats_rejects_bad_input(minilm):
    model, tokenizer = minilm
    with pytest.raises(TypeError, match="tokenizer"):
        head_stats(model, ["a text"])
    with pytest.raises(TypeError, match="AttentionResult"):
        head_stats([np.zeros((1, 1, 2, 2))])
    with pytest.raises(TypeError, match="list of strings"):
        head_stats(model, tokenizer, "one string")
    with pytest.raises(ValueError, match="empty"):
        head_stats(model, tokenizer, [])
