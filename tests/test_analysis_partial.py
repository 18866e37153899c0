"""Corpus analyses as mergeable partial results over shards, in one process: any split gives the same
answer, partials save and load, a checkpoint folder resumes, files read like lists, and a missing
engine extra is named. The engines themselves: test_analysis_engines.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from conftest import CORPUS, tiny_albert_config

from albert_widget.analysis import STATISTICS, Partial, corpus_files, head_importance, head_stats, merge_partials
from albert_widget.analysis.shards import plan_shards

TEXTS = [f"{CORPUS[i % len(CORPUS)]} Number {i}." for i in range(23)] + [("A pair of sentences.", "The second one.")]
TOL = 1e-9


@pytest.fixture
def albert64(albert_tokenizer):
    """A tiny ALBERT in float64: different batchings agree to rounding of float64, far below 1e-9."""
    from transformers import AlbertModel

    torch.manual_seed(11)
    return AlbertModel(tiny_albert_config(len(albert_tokenizer), initializer_range=0.2)).double().eval()


class CountingTokenizer:
    """A tokenizer that records every text it is asked to encode (to see which shards ran)."""

    def __init__(self, inner):
        self.inner = inner
        self.seen: list = []

    def __call__(self, text, *args, **kwargs):
        self.seen.append(text)
        return self.inner(text, *args, **kwargs)

    def __getattr__(self, name):
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)


def assert_same_stats(a, b, tol=TOL):
    for name in STATISTICS:
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=0, atol=tol, err_msg=name)
    np.testing.assert_allclose(a.js_divergence, b.js_divergence, rtol=0, atol=tol)
    np.testing.assert_allclose(a.js_distance, b.js_distance, rtol=0, atol=tol)
    assert (a.num_tokens, a.num_examples) == (b.num_tokens, b.num_examples)
    assert a.uniform_entropy == pytest.approx(b.uniform_entropy, abs=tol)


def test_any_split_gives_the_same_statistics(albert64, albert_tokenizer):
    whole = head_stats(albert64, albert_tokenizer, TEXTS, shard_size=1000, progress=False)
    for shard_size in (1, 5, 7):
        assert_same_stats(head_stats(albert64, albert_tokenizer, TEXTS, shard_size=shard_size, progress=False), whole)
    # An iterable is read shard by shard and gives the same.
    assert_same_stats(head_stats(albert64, albert_tokenizer, iter(TEXTS), shard_size=5, progress=False), whole)
    assert whole.num_examples == len(TEXTS) and whole.js_divergence.shape == (16, 16)


def test_any_split_gives_the_same_importance(albert_tokenizer):
    from transformers import AlbertForMaskedLM

    torch.manual_seed(4)
    model = AlbertForMaskedLM(tiny_albert_config(len(albert_tokenizer), num_hidden_layers=3, initializer_range=0.2)).double().eval()
    whole = head_importance(model, albert_tokenizer, TEXTS, normalize=False, shard_size=1000)
    for shard_size in (1, 6):
        split = head_importance(model, albert_tokenizer, TEXTS, normalize=False, shard_size=shard_size)
        np.testing.assert_allclose(split, whole, rtol=0, atol=TOL)
    normed = head_importance(model, albert_tokenizer, TEXTS, shard_size=6)
    np.testing.assert_allclose(normed, whole / np.linalg.norm(whole, axis=1, keepdims=True), atol=TOL)


def test_partials_merge_exactly_and_round_trip_through_files(tmp_path):
    rng = np.random.default_rng(0)
    parts = [Partial("head_stats", {"js": True}, (i,), {"a": rng.random((2, 3))}, {"tokens": i + 1, "log_n": 0.5 * i}) for i in range(4)]
    for p in parts:
        p.save(tmp_path / f"{p.shards[0]}.npz")
    loaded = [Partial.load(tmp_path / f"{i}.npz") for i in (3, 1, 0, 2)]  # any order: merged in shard order
    total = merge_partials(loaded)
    assert total.shards == (0, 1, 2, 3) and total.counts == {"tokens": 10, "log_n": 3.0}
    np.testing.assert_array_equal(total.sums["a"], ((parts[0].sums["a"] + parts[1].sums["a"]) + parts[2].sums["a"]) + parts[3].sums["a"])
    assert Partial.from_bytes(total.to_bytes()).sums["a"].tobytes() == total.sums["a"].tobytes()
    assert not [f for f in os.listdir(tmp_path) if not f.endswith(".npz")]  # no temporary files left
    with pytest.raises(ValueError, match="count them twice"):
        parts[0].merge(parts[0])
    with pytest.raises(ValueError, match="different settings"):
        parts[0].merge(Partial("head_stats", {"js": False}, (9,), {"a": np.zeros((2, 3))}, {"tokens": 1, "log_n": 0.0}))
    with pytest.raises(ValueError, match="head_importance"):
        parts[0].merge(Partial("head_importance", {"js": True}, (9,), {"a": np.zeros((2, 3))}, {"tokens": 1, "log_n": 0.0}))


def test_checkpoint_resumes_from_the_finished_shards(albert64, albert_tokenizer, tmp_path):
    folder = tmp_path / "ckpt"
    full = head_stats(albert64, albert_tokenizer, TEXTS, shard_size=5, checkpoint=folder, progress=False)
    files = sorted(os.listdir(folder))
    assert len(files) == 5 and all(f.startswith("head_stats-") for f in files)
    # The saved partials merge into the same answer.
    from albert_widget.analysis.stats import stats_from_partial

    assert_same_stats(stats_from_partial(merge_partials(Partial.load(folder / f) for f in files)), full)

    # A run that stopped after some shards: two are missing. The rerun computes those two only.
    os.unlink(folder / files[1])
    os.unlink(folder / files[4])
    before = {f: os.stat(folder / f).st_mtime_ns for f in files if (folder / f).exists()}
    counting = CountingTokenizer(albert_tokenizer)
    resumed = head_stats(albert64, counting, TEXTS, shard_size=5, checkpoint=folder, progress=False)
    assert_same_stats(resumed, full)
    assert counting.seen == [*TEXTS[5:10], *TEXTS[20:23], TEXTS[23][0]]
    assert all(os.stat(folder / f).st_mtime_ns == t for f, t in before.items())

    # Nothing left to do: nothing is computed.
    counting.seen.clear()
    assert_same_stats(head_stats(albert64, counting, TEXTS, shard_size=5, checkpoint=folder, progress=False), full)
    assert counting.seen == []
    # Other settings in the same folder are refused, not mixed in.
    with pytest.raises(ValueError, match="other settings"):
        head_stats(albert64, albert_tokenizer, TEXTS, shard_size=5, checkpoint=folder, progress=False, js=False)


def test_texts_in_parquet_and_json_lines_files(albert64, albert_tokenizer, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    singles = [t for t in TEXTS if isinstance(t, str)]
    pq.write_table(pa.table({"text": singles[:13]}), tmp_path / "a.parquet", row_group_size=4)
    with open(tmp_path / "b.jsonl", "w", encoding="utf-8") as f:
        for t in singles[13:]:
            f.write(json.dumps({"sentence": t, "other": 1}) + "\n\n")
    expected = head_stats(albert64, albert_tokenizer, singles, shard_size=1000, progress=False)
    # Shards do not cross files, so use one file per corpus to compare with the list, then both.
    got_a = head_stats(albert64, albert_tokenizer, corpus_files(tmp_path / "a.parquet"), shard_size=5, progress=False)
    assert_same_stats(got_a, head_stats(albert64, albert_tokenizer, singles[:13], shard_size=5, progress=False))
    both = [corpus_files(tmp_path / "a.parquet"), corpus_files(tmp_path / "b.jsonl", column="sentence")]
    from albert_widget.analysis.shards import Shard

    shards = [s for files in both for s in plan_shards(files, 3)]
    assert [s.size for s in shards] == [3, 3, 3, 3, 1, 3, 3, 3, 1]
    loaded = [t for s in shards for t in s.load()[0]]
    assert loaded == singles and all(isinstance(s, Shard) for s in shards)
    got_b = head_stats(albert64, albert_tokenizer, both[1], shard_size=3, progress=False)
    assert got_a.num_examples + got_b.num_examples == expected.num_examples
    # A pathlib.Path is a file; a plain string is a text.
    assert_same_stats(head_stats(albert64, albert_tokenizer, tmp_path / "a.parquet", shard_size=5, progress=False), got_a)
    with pytest.raises(KeyError, match="no column 'text'"):
        head_stats(albert64, albert_tokenizer, tmp_path / "b.jsonl", progress=False)


def test_argument_orders(albert64, albert_tokenizer):
    texts = TEXTS[:4]
    new = head_stats(albert64, albert_tokenizer, texts, progress=False, js=False)
    for old in (
        head_stats(albert64, texts, tokenizer=albert_tokenizer, progress=False, js=False),
        head_stats(albert64, texts=texts, tokenizer=albert_tokenizer, progress=False, js=False),
        head_stats(albert64, albert_tokenizer, texts=texts, progress=False, js=False),
    ):
        np.testing.assert_array_equal(old.to_cls, new.to_cls)
    with pytest.raises(TypeError, match="tokenizer"):
        head_stats(albert64, texts)
    with pytest.raises(TypeError, match="needs texts"):
        head_stats(albert64, albert_tokenizer)
    with pytest.raises(TypeError, match="given twice"):
        head_stats(albert64, albert_tokenizer, texts, tokenizer=albert_tokenizer)
    with pytest.raises(ValueError, match="engine must be"):
        head_stats(albert64, albert_tokenizer, texts, engine="spark")
    with pytest.raises(ValueError, match="shard_size"):
        head_stats(albert64, albert_tokenizer, texts, shard_size=0)


_MISSING = textwrap.dedent(
    """
    import sys
    sys.modules[{module!r}] = None  # as if the extra were not installed: importing it raises ImportError
    import torch
    from transformers import BertConfig, BertModel
    from albert_widget.analysis import head_stats

    class Tok:
        def __call__(self, *a, **k):
            raise AssertionError("nothing may run before the engine is checked")

    model = BertModel(BertConfig(vocab_size=20, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                                 intermediate_size=8))
    try:
        head_stats(model, Tok(), ["a text"], engine={engine!r})
    except ImportError as exc:
        print("ERROR:", exc)
    """
)


@pytest.mark.parametrize("engine, module", [("ray", "ray"), ("dask", "distributed")])
def test_missing_engine_names_the_extra(engine, module):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in [os.getcwd(), *sys.path] if p)}
    out = subprocess.run(
        [sys.executable, "-c", _MISSING.format(module=module, engine=engine)], capture_output=True, text=True, env=env, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert f'pip install "albert_widget[{engine}]"' in out.stdout, out.stdout
