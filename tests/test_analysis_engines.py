"""The corpus analyses on a local Ray cluster and a local Dask cluster (2 small workers each): the same
answer as one process to 1e-9, and a worker killed mid-run loses no finished shard."""

from __future__ import annotations

import os
import signal
import sys

import numpy as np
import pytest
import torch
from conftest import CORPUS, tiny_albert_config
from test_analysis_partial import assert_same_stats

from albert_widget.analysis import corpus_files, corpus_summaries, head_importance, head_stats
from albert_widget.tiny import random_llama, train_bpe_tokenizer

TEXTS = [f"{CORPUS[i % len(CORPUS)]} Number {i}." for i in range(30)] + [("A pair of sentences.", "The second one.")]
SHARD = 4  # 8 shards
TOL = 1e-9


class KillingTokenizer:
    """A tokenizer that logs every text it encodes (``pid<TAB>text``, one file per run) and, while the
    ``marker`` file exists, kills its own worker process (SIGKILL, no clean-up) on the ``poison`` text;
    it deletes the marker first, so it kills once."""

    def __init__(self, inner, log, marker=None, poison=None):
        self.inner, self.log, self.marker, self.poison = inner, log, marker, poison

    def __call__(self, text, *args, **kwargs):
        with open(self.log, "a", encoding="utf-8") as f:
            f.write(f"{os.getpid()}\t{text}\n")
        if text == self.poison and self.marker and os.path.exists(self.marker):
            os.unlink(self.marker)
            os.kill(os.getpid(), signal.SIGKILL)
        return self.inner(text, *args, **kwargs)

    def __getattr__(self, name):
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)


def logged(path):
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\n").split("\t", 1)[1] for line in f]


def _by_value():
    """Workers cannot import this test module: send its classes by value."""
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    try:
        import ray.cloudpickle

        ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    except ImportError:  # pragma: no cover
        pass


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    from conftest import train_albert_tokenizer
    from transformers import AlbertForSequenceClassification, AlbertModel

    tokenizer = train_albert_tokenizer(str(tmp_path_factory.mktemp("spm")))
    torch.manual_seed(21)
    base = AlbertModel(tiny_albert_config(len(tokenizer), initializer_range=0.2)).eval()  # float32, as users run it
    torch.manual_seed(22)
    classifier = (
        AlbertForSequenceClassification(tiny_albert_config(len(tokenizer), num_hidden_layers=3, num_labels=3, initializer_range=0.2))
        .double()
        .eval()
    )
    labels = [i % 3 for i in range(len(TEXTS))]
    return {
        "tokenizer": tokenizer,
        "base": base,
        "classifier": classifier,
        "labels": labels,
        "stats": head_stats(base, tokenizer, TEXTS, shard_size=SHARD, progress=False),
        "importance": head_importance(classifier, tokenizer, TEXTS, labels, shard_size=SHARD, normalize=False),
    }


LONG_TEXTS = [" ".join(CORPUS[j % len(CORPUS)] for j in range(i, i + 2 + i % 3)) for i in range(7)]
SUMMARY_FIELDS = ("sink", "entropy", "previous_token", "self_weight", "mean_distance")


@pytest.fixture(scope="module")
def llama():
    """A small Llama-style decoder and the one-process corpus summaries of LONG_TEXTS (shards of 2)."""
    tokenizer = train_bpe_tokenizer()
    model = random_llama(len(tokenizer), seed=5)
    return model, tokenizer, corpus_summaries(model, tokenizer, LONG_TEXTS, shard_size=2, progress=False)


def assert_same_summaries(got, want):
    assert (got.num_texts, got.num_rows) == (want.num_texts, want.num_rows)
    for name in SUMMARY_FIELDS:
        np.testing.assert_allclose(getattr(got, name), getattr(want, name), rtol=0, atol=TOL, err_msg=name)


def _shard_texts():
    return [TEXTS[i : i + SHARD] for i in range(0, len(TEXTS), SHARD)]


def _first(text):
    return text if isinstance(text, str) else text[0]


# -- Ray --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ray_cluster():
    import ray  # installed with the test extra: a missing engine fails here, it is not skipped

    from albert_widget.analysis.engines import init_ray

    _by_value()
    init_ray(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        yield ray
    finally:
        ray.shutdown()


def test_ray_stats_equal_one_process(ray_cluster, models, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    tok = models["tokenizer"]
    # The workers read the corpus themselves from a Parquet file (single sentences only in this file).
    singles = TEXTS[:-1]
    pq.write_table(pa.table({"text": singles}), tmp_path / "corpus.parquet", row_group_size=7)
    got = head_stats(
        models["base"], tok, corpus_files(tmp_path / "corpus.parquet"), engine="ray", num_workers=2, shard_size=SHARD, progress=False
    )
    assert_same_stats(got, head_stats(models["base"], tok, singles, shard_size=SHARD, progress=False))


def test_ray_importance_equals_one_process(ray_cluster, models):
    tok = models["tokenizer"]
    imp = head_importance(
        models["classifier"], tok, TEXTS, models["labels"], engine="ray", num_workers=2, shard_size=SHARD, normalize=False
    )
    np.testing.assert_allclose(imp, models["importance"], rtol=0, atol=TOL)


def test_ray_corpus_summaries_equal_one_process(ray_cluster, llama):
    model, tokenizer, want = llama
    got = corpus_summaries(model, tokenizer, LONG_TEXTS, engine="ray", shard_size=2, progress=False, num_workers=2)
    assert_same_summaries(got, want)


def test_ray_worker_killed_mid_run_loses_no_finished_shard(ray_cluster, models, tmp_path):
    tok, folder = models["tokenizer"], tmp_path / "ckpt"
    marker = tmp_path / "kill-once"
    marker.touch()
    poison = _first(TEXTS[22])  # shard 5
    first = KillingTokenizer(tok, str(tmp_path / "run1.log"), str(marker), poison)
    # Ray restarts the dead actor and retries its shard; the finished shards stay done.
    got = head_stats(models["base"], first, TEXTS, engine="ray", num_workers=2, shard_size=SHARD, checkpoint=folder, progress=False)
    assert not marker.exists()  # a worker really was killed
    assert_same_stats(got, models["stats"])
    run1 = logged(tmp_path / "run1.log")
    assert run1.count(poison) == 2  # once in the killed worker, once on retry
    assert len(os.listdir(folder)) == len(_shard_texts())
    # Rerun: every shard is on disk, nothing is computed.
    again = head_stats(
        models["base"],
        KillingTokenizer(tok, str(tmp_path / "run2.log")),
        TEXTS,
        engine="ray",
        shard_size=SHARD,
        checkpoint=folder,
        progress=False,
    )
    assert logged(tmp_path / "run2.log") == []
    assert_same_stats(again, models["stats"])


# -- Dask -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dask_client():
    import dask
    from distributed import Client, LocalCluster

    _by_value()
    # No retries: a killed worker fails the run, so that the rerun has something to resume.
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0")
        client = Client(cluster)
        try:
            yield client
        finally:
            client.close()
            cluster.close()


def test_dask_stats_equal_one_process(dask_client, models):
    tok = models["tokenizer"]
    got = head_stats(models["base"], tok, iter(TEXTS), engine="dask", client=dask_client, shard_size=SHARD, progress=False)
    assert_same_stats(got, models["stats"])


def test_dask_importance_equals_one_process(dask_client, models):
    tok = models["tokenizer"]
    imp = head_importance(
        models["classifier"], tok, TEXTS, models["labels"], engine="dask", client=dask_client, shard_size=SHARD, normalize=False
    )
    np.testing.assert_allclose(imp, models["importance"], rtol=0, atol=TOL)


def test_dask_corpus_summaries_equal_one_process(dask_client, llama):
    model, tokenizer, want = llama
    got = corpus_summaries(model, tokenizer, iter(LONG_TEXTS), engine="dask", client=dask_client, shard_size=2, progress=False)
    assert_same_summaries(got, want)


def _wait_idle(client, timeout=60.0):
    import time

    end = time.monotonic() + timeout
    while any(client.processing().values()):
        assert time.monotonic() < end, "the Dask workers did not go idle"
        time.sleep(0.2)


def test_dask_worker_killed_mid_run_then_rerun_resumes(dask_client, models, tmp_path):
    from distributed import KilledWorker

    tok, folder = models["tokenizer"], tmp_path / "ckpt"
    marker = tmp_path / "kill-once"
    marker.touch()
    poison = _first(TEXTS[22])  # shard 5
    with pytest.raises(KilledWorker):
        head_stats(
            models["base"],
            KillingTokenizer(tok, str(tmp_path / "run1.log"), str(marker), poison),
            TEXTS,
            engine="dask",
            client=dask_client,
            shard_size=SHARD,
            checkpoint=folder,
            progress=False,
        )
    assert not marker.exists()
    _wait_idle(dask_client)  # the other worker may still be finishing a shard of the failed run
    saved = {f: os.stat(folder / f).st_mtime_ns for f in os.listdir(folder)}
    assert saved and len(saved) < len(_shard_texts())  # some shards finished, the killed one did not

    got = head_stats(
        models["base"],
        KillingTokenizer(tok, str(tmp_path / "run2.log")),
        TEXTS,
        engine="dask",
        client=dask_client,
        shard_size=SHARD,
        checkpoint=folder,
        progress=False,
    )
    assert_same_stats(got, models["stats"])
    # The rerun computed exactly the shards that were not saved, and left the saved ones alone.
    done = {int(f.split("-")[1]) for f in saved}
    run2 = logged(tmp_path / "run2.log")
    expected = [_first(t) for i, shard in enumerate(_shard_texts()) if i not in done for t in shard]
    assert sorted(run2) == sorted(expected) and poison in run2
    assert all(os.stat(folder / f).st_mtime_ns == t for f, t in saved.items())
    assert len(os.listdir(folder)) == len(_shard_texts())
