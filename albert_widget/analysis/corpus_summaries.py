"""The long-context per-head summaries over a corpus of long texts, as mergeable partial results.

A compact capture (:func:`albert_widget.longcontext.capture_compact`) gives each row's statistics of
one text (sink, entropy, previous, self, distance; :data:`~albert_widget.longcontext.summaries.ROW_STATS`).
Over a corpus the question is "which heads are sink heads, previous-token heads, ... across all these
documents": the mean of each statistic over every row (query token) of every text. Here that mean is
taken as float64 sums and a row count per shard (:class:`~.partial.Partial`), merged exactly, so one
process, Ray and Dask give the same answer and a stopped run resumes from its checkpoint.

Texts run one at a time (no padding: a long document fills the model alone), on the model's own
attention path; queries and keys are never kept, only one layer's streaming chunk at a time.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from ..extras import require
from ._common import check_model
from .engines import check_engine, run_shards
from .partial import Partial
from .shards import ShardTask, plan_shards, task_config

__all__ = ["CorpusSummaries", "corpus_summaries", "summaries_from_partial", "summaries_of_texts"]

#: Statistic names of the result, in the order of ``longcontext.summaries.ROW_STATS``.
_FIELDS = {"sink": "sink", "entropy": "entropy", "previous": "previous_token", "self": "self_weight", "distance": "mean_distance"}


@dataclass(frozen=True)
class CorpusSummaries:
    """Per-layer, per-head means over every counted row (query token) of every text of a corpus.

    float64 ``[L, H]``: ``sink`` (weight on the first ``num_sink_tokens`` tokens), ``entropy`` (nats),
    ``previous_token`` (weight on the token before), ``self_weight`` (on the token itself),
    ``mean_distance`` (``Σ_j w_ij (i - j)``, tokens back). Rows ``start:`` of each text count (the first
    rows have little to choose from); ``num_rows`` of them over ``num_texts`` texts.
    """

    sink: np.ndarray
    entropy: np.ndarray
    previous_token: np.ndarray
    self_weight: np.ndarray
    mean_distance: np.ndarray
    num_texts: int
    num_rows: int

    @property
    def num_layers(self) -> int:
        return int(self.sink.shape[0])

    @property
    def num_heads(self) -> int:
        return int(self.sink.shape[1])

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def to_dataframe(self):
        """One row per (layer, head), one column per statistic (needs pandas)."""
        import pandas as pd

        L, H = self.sink.shape
        data: dict[str, Any] = {"layer": np.repeat(np.arange(L), H), "head": np.tile(np.arange(H), L)}
        for name in _FIELDS.values():
            data[name] = getattr(self, name).reshape(-1)
        return pd.DataFrame(data)

    def __repr__(self) -> str:
        return f"CorpusSummaries({self.num_layers} layers x {self.num_heads} heads over {self.num_rows} rows of {self.num_texts} texts)"


def summaries_of_texts(
    model: Any,
    tokenizer: Any,
    texts: list,
    labels: Any,
    first: int,
    device: Any,
    on_batch: Any = None,
    *,
    start: int,
    num_sink_tokens: int,
    max_length: int | None,
) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """The shard computation of :func:`corpus_summaries` (every engine runs this): each text through
    ``model`` (already on ``device``), alone -> ``(sums, counts)``: float64 ``[L, H]`` sums of each row
    statistic over rows ``start:`` of every text, and ``rows`` / ``texts`` counts. A text of at most
    ``start`` tokens adds nothing but its count. ``labels``/``first`` are unused."""
    from ..forward import model_max_length, validate_text
    from ..longcontext.engine import row_statistics, tokenize
    from ..longcontext.summaries import ROW_STATS

    limit = model_max_length(model, tokenizer)
    if max_length is not None:
        limit = max_length if limit is None else min(limit, max_length)
    sums: dict[str, np.ndarray] = {}
    rows = 0
    for text in texts:
        if isinstance(text, tuple):
            raise ValueError("corpus_summaries takes single texts (a decoder reads one sequence), not (text, text_pair) pairs")
        validate_text(text, "text")
        ids, _tokens, _special, _dropped = tokenize(tokenizer, text, limit)
        stats = row_statistics(model, ids.to(device), num_sink_tokens=num_sink_tokens)
        for name in ROW_STATS:
            part = stats[name][:, :, start:].sum(axis=-1, dtype=np.float64)
            sums[name] = part if name not in sums else sums[name] + part
        rows += max(0, int(ids.shape[1]) - start)
        if on_batch is not None:
            on_batch(1)
    return sums, {"rows": rows, "texts": len(texts)}


def summaries_from_partial(partial: Partial) -> CorpusSummaries:
    """The means of a merged :class:`Partial` of kind ``"corpus_summaries"``."""
    if partial.kind != "corpus_summaries":
        raise ValueError(f"expected a corpus_summaries partial, got {partial.kind}")
    rows = int(partial.counts["rows"])
    if rows == 0:
        raise ValueError("no row was counted: every text is at most `start` tokens long")
    means = {field: partial.sums[name] / rows for name, field in _FIELDS.items()}
    return CorpusSummaries(**means, num_texts=int(partial.counts["texts"]), num_rows=rows)


def corpus_summaries(
    model: Any,
    tokenizer: Any,
    texts: Any,
    *,
    start: int = 1,
    num_sink_tokens: int = 1,
    max_length: int | None = None,
    device: Any = None,
    progress: bool = True,
    engine: str | None = None,
    shard_size: int = 64,
    checkpoint: str | os.PathLike | None = None,
    client: Any = None,
    num_workers: int | None = None,
) -> CorpusSummaries:
    """The long-context per-head summaries of a decoder LLM (Llama-, Mistral-, Qwen2-, Gemma-, GPT-2-,
    GPT-NeoX-style; see :mod:`albert_widget.longcontext`) over a corpus: for every layer and head, the
    mean over all query tokens of all texts of its sink weight, entropy, previous-token and self
    weight and mean distance, computed exactly in a streaming pass (never an ``[N, N]`` of all heads).

    ``texts``: a list or iterable of strings, or files (:func:`~albert_widget.analysis.corpus_files`).
    ``start``: rows counted per text start here (default 1: the first token can only attend to itself).
    ``num_sink_tokens``: how many first tokens count as the sink. ``max_length``: tokens kept per text.
    ``engine`` / ``shard_size`` / ``checkpoint`` / ``client`` / ``num_workers``: as for
    :func:`~albert_widget.analysis.head_stats` (shards of ``shard_size`` texts, merged as float64 sums,
    so every engine gives the same answer; a rerun resumes from the saved shards).

    Returns
    -------
    CorpusSummaries
        float64 ``[L, H]`` means per statistic, ``.to_dataframe()``.
    """
    require("torch")
    check_model(model, tokenizer)
    check_engine(engine)
    for name, value, low in (("start", start, 0), ("num_sink_tokens", num_sink_tokens, 1)):
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    if max_length is not None and (not isinstance(max_length, int) or isinstance(max_length, bool) or max_length < 1):
        raise ValueError(f"max_length must be a positive int or None, got {max_length!r}")
    options = {"start": start, "num_sink_tokens": num_sink_tokens, "max_length": max_length}
    task = ShardTask("corpus_summaries", summaries_of_texts, model, tokenizer, options, task_config(model, **options), device)
    partial = run_shards(
        task,
        plan_shards(texts, shard_size),
        engine=engine,
        checkpoint=checkpoint,
        progress=progress,
        client=client,
        num_workers=num_workers,
    )
    return summaries_from_partial(partial)
