"""corpus_summaries: a decoder LLM's long-context per-head summaries over a corpus, as mergeable float64
sums. Checked against the compact captures of each text (the streaming pass the widget uses), for any
split into shards, and resumed from a checkpoint without recomputing finished shards."""

from __future__ import annotations

import numpy as np
import pytest

from albert_widget.analysis import CorpusSummaries, corpus_summaries
from albert_widget.longcontext import capture_compact
from albert_widget.tiny import CORPUS, random_llama, train_bpe_tokenizer

TEXTS = [" ".join(CORPUS[i % len(CORPUS)] for i in range(k, k + 3 + k % 4)) for k in range(9)]
FIELDS = {"sink": "sink", "entropy": "entropy", "previous": "previous_token", "self": "self_weight", "distance": "mean_distance"}


@pytest.fixture(scope="module")
def llama():
    tokenizer = train_bpe_tokenizer()
    return random_llama(len(tokenizer), seed=3), tokenizer


def _reference(model, tokenizer, texts, start, num_sink_tokens=1):
    """Per-head means over rows start: of every text, from each text's compact capture (float64 sums)."""
    sums, rows = {}, 0
    for text in texts:
        result = capture_compact(model, tokenizer, text, num_sink_tokens=num_sink_tokens)
        for name in FIELDS:
            part = result.summaries.rows[name][:, :, start:].astype(np.float64).sum(-1)
            sums[name] = sums.get(name, 0) + part
        rows += max(0, result.num_tokens - start)
    return {field: sums[name] / rows for name, field in FIELDS.items()}, rows


def test_equals_the_compact_captures_of_each_text(llama):
    model, tokenizer = llama
    got = corpus_summaries(model, tokenizer, TEXTS, start=1, progress=False)
    want, rows = _reference(model, tokenizer, TEXTS, start=1)
    assert isinstance(got, CorpusSummaries)
    assert (got.num_layers, got.num_heads, got.num_texts, got.num_rows) == (3, 8, len(TEXTS), rows)
    for field, value in want.items():
        np.testing.assert_allclose(getattr(got, field), value, rtol=0, atol=1e-12, err_msg=field)
    # real structure, not zeros: every row's weights sum to 1, so sink + rest <= 1, entropy > 0
    assert (got.entropy > 0).all() and (got.sink > 0).all() and (got.sink <= 1).all()
    frame = got.to_dataframe()
    assert list(frame.columns) == ["layer", "head", *FIELDS.values()] and len(frame) == 24


def test_any_split_gives_the_same_answer(llama):
    model, tokenizer = llama
    whole = corpus_summaries(model, tokenizer, TEXTS, shard_size=len(TEXTS), progress=False, num_sink_tokens=2, start=3)
    for size in (1, 2, 4):
        split = corpus_summaries(model, tokenizer, iter(TEXTS), shard_size=size, progress=False, num_sink_tokens=2, start=3)
        assert split.num_rows == whole.num_rows
        for field in FIELDS.values():
            np.testing.assert_allclose(
                getattr(split, field), getattr(whole, field), rtol=0, atol=1e-12, err_msg=f"{field}, shards of {size}"
            )


class CountingTokenizer:
    """The tokenizer, counting the texts it is asked to encode."""

    def __init__(self, inner):
        self.inner, self.calls = inner, 0

    def __call__(self, text, *args, **kwargs):
        self.calls += 1
        return self.inner(text, *args, **kwargs)

    def __getattr__(self, name):
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)


def test_rerun_resumes_from_the_checkpoint(llama, tmp_path):
    model, tokenizer = llama
    first = corpus_summaries(model, tokenizer, TEXTS[:6], shard_size=3, checkpoint=tmp_path, progress=False)
    assert len(list(tmp_path.glob("corpus_summaries-*.npz"))) == 2
    counting = CountingTokenizer(tokenizer)
    again = corpus_summaries(model, counting, TEXTS, shard_size=3, checkpoint=tmp_path, progress=False)
    assert counting.calls == 3  # only the third shard ran
    want = corpus_summaries(model, tokenizer, TEXTS, shard_size=3, progress=False)
    assert first.num_texts == 6 and again.num_texts == len(TEXTS)
    for field in FIELDS.values():
        np.testing.assert_array_equal(getattr(again, field), getattr(want, field))
    with pytest.raises(ValueError, match="other settings"):
        corpus_summaries(model, tokenizer, TEXTS, shard_size=3, checkpoint=tmp_path, progress=False, start=2)


def test_bad_input_is_refused_with_what_was_expected(llama):
    model, tokenizer = llama
    with pytest.raises(ValueError, match="single texts"):
        corpus_summaries(model, tokenizer, [("a sentence", "a pair")], progress=False)
    with pytest.raises(ValueError, match="start must be an int >= 0"):
        corpus_summaries(model, tokenizer, TEXTS, start=-1, progress=False)
    with pytest.raises(ValueError, match="num_sink_tokens must be an int >= 1"):
        corpus_summaries(model, tokenizer, TEXTS, num_sink_tokens=0, progress=False)
    with pytest.raises(ValueError, match="empty"):
        corpus_summaries(model, tokenizer, [], progress=False)
    with pytest.raises(ValueError, match="no row was counted"):
        corpus_summaries(model, tokenizer, ["the cat"], start=500, progress=False)
