"""Per-head attention statistics (Clark, Khandelwal, Levy & Manning, "What Does BERT Look At? An
Analysis of BERT's Attention", BlackboxNLP 2019)."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from ..extras import require
from ..result import AttentionResult
from ._common import (
    CLS_NAMES,
    SEP_NAMES,
    check_model,
    collate,
    eager_eval,
    forward_kwargs,
    is_punct,
    length_batches,
    pick_device,
    progress_bar,
    split_texts,
    tokenize_each,
)
from .engines import check_engine, run_shards
from .partial import Partial
from .shards import DEFAULT_SHARD_SIZE, ShardTask, check_batch_size, plan_shards, task_config

__all__ = ["STATISTICS", "HeadStats", "head_stats"]

#: The per-head statistics of :class:`HeadStats`, each a float64 ``[L, H]`` array.
STATISTICS = ("to_cls", "to_sep", "to_punct", "to_self", "to_prev", "to_next", "entropy", "distance")


@dataclass(frozen=True, eq=False)
class HeadStats:
    """Per-layer, per-head attention statistics, averaged over every (non-padding) query token of the
    corpus: each token of each text counts once, as in Clark et al.

    ``to_cls``, ``to_sep``, ``to_punct`` (``.`` and ``,``), ``to_self``, ``to_prev``, ``to_next``
    (float64 ``[L, H]``): mean attention a token puts on those keys (``α_i,i-1`` is 0 for the first
    token, ``α_i,i+1`` for the last). ``entropy``: mean of ``-Σ_j α_ij log α_ij`` (nats).
    ``distance``: mean of ``Σ_j α_ij |i - j|`` (tokens). ``uniform_entropy``: the mean entropy a uniform
    head would have (mean of ``log n`` over tokens, ``n`` = its text's length), a baseline.

    ``js_divergence`` (float64 ``[L·H, L·H]``, index ``l·H + h``): mean over query tokens of the
    Jensen-Shannon divergence (nats, at most ``log 2``) between two heads' attention distributions;
    Clark et al.'s head distance is the same sum over tokens instead of the mean. ``js_distance``: mean
    over query tokens of its square root, the Jensen-Shannon distance (a metric per token). ``None`` when
    computed with ``js=False``.
    """

    to_cls: np.ndarray
    to_sep: np.ndarray
    to_punct: np.ndarray
    to_self: np.ndarray
    to_prev: np.ndarray
    to_next: np.ndarray
    entropy: np.ndarray
    distance: np.ndarray
    js_divergence: np.ndarray | None
    js_distance: np.ndarray | None
    uniform_entropy: float
    num_examples: int
    num_tokens: int

    @property
    def num_layers(self) -> int:
        return int(self.to_cls.shape[0])

    @property
    def num_heads(self) -> int:
        return int(self.to_cls.shape[1])

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def to_dataframe(self):
        """One row per (layer, head) with a column per statistic: a ``pandas.DataFrame``."""
        try:
            import pandas as pd
        except ImportError as exc:
            raise ImportError("HeadStats.to_dataframe() needs pandas, which is not installed: pip install pandas") from exc
        layers, heads = np.meshgrid(np.arange(self.num_layers), np.arange(self.num_heads), indexing="ij")
        data = {"layer": layers.ravel(), "head": heads.ravel()}
        for name in STATISTICS:
            data[name] = getattr(self, name).ravel()
        return pd.DataFrame(data)

    def __repr__(self) -> str:
        return (
            f"HeadStats(layers={self.num_layers}, heads={self.num_heads}, examples={self.num_examples}, "
            f"tokens={self.num_tokens}, js={'yes' if self.js_divergence is not None else 'no'})"
        )


class _Accumulator:
    """Sums of every statistic over query rows (float64, on the attention's device); padding rows and
    columns are masked out."""

    #: Largest temporary of the Jensen-Shannon loop, in elements (64 MiB of float32).
    JS_CHUNK_ELEMENTS = 1 << 24

    def __init__(self, num_layers: int, num_heads: int, js: bool):
        self.shape = (num_layers, num_heads)
        self.js = js
        self.sums: dict[str, Any] | None = None
        self.js_div = self.js_dist = None
        self.rows = 0
        self.examples = 0
        self.log_n = 0.0

    def _allocate(self, device) -> None:
        torch = require("torch")

        num_layers, num_heads = self.shape
        self.sums = {name: torch.zeros(num_layers, num_heads, dtype=torch.float64, device=device) for name in STATISTICS}
        if self.js:
            k = num_layers * num_heads
            self.js_div = torch.zeros(k, k, dtype=torch.float64, device=device)
            self.js_dist = torch.zeros(k, k, dtype=torch.float64, device=device)

    def add(self, att, valid, cls, sep, punct) -> None:
        """``att`` ``[B, L, H, N, N]``; ``valid``, ``cls``, ``sep``, ``punct`` bool ``[B, N]`` (keys that are
        real tokens / [CLS] / [SEP] / punctuation), all on one device."""
        torch = require("torch")

        b, num_layers, num_heads, n, _ = att.shape
        if (num_layers, num_heads) != self.shape:
            raise ValueError(f"got attention with {num_layers} layers x {num_heads} heads, expected {self.shape[0]} x {self.shape[1]}")
        if self.sums is None:
            self._allocate(att.device)
        if att.dtype != torch.float64:
            att = att.float()  # float16/bfloat16 models: sum in float32 at least; float64 models stay exact
        v = valid.to(att.dtype)
        att = att * v[:, None, None, None, :]  # padding keys never count
        w = v[:, None, None, :]  # padding queries never count

        def total(per_row, weights=w):
            return (per_row * weights).sum(dim=(0, 3)).double()

        def to_keys(mask):
            return (att * mask.to(att.dtype)[:, None, None, None, :]).sum(-1)

        s = self.sums
        s["to_cls"] += total(to_keys(cls))
        s["to_sep"] += total(to_keys(sep))
        s["to_punct"] += total(to_keys(punct))
        s["to_self"] += total(att.diagonal(dim1=-2, dim2=-1))
        if n > 1:
            s["to_prev"] += total(att.diagonal(offset=-1, dim1=-2, dim2=-1), w[..., 1:])  # (i, i-1), i >= 1
            s["to_next"] += total(att.diagonal(offset=1, dim1=-2, dim2=-1), w[..., :-1])  # (i, i+1), i < n-1
        entropy = -torch.special.xlogy(att, att).sum(-1)  # [B, L, H, N]
        s["entropy"] += total(entropy)
        pos = torch.arange(n, device=att.device, dtype=att.dtype)
        s["distance"] += total((att * (pos[:, None] - pos[None, :]).abs()).sum(-1))

        if self.js:
            k = num_layers * num_heads
            p = att.reshape(b, k, n, n)
            hp = entropy.reshape(b, k, n)
            rows = v[:, None, :]
            chunk = max(1, self.JS_CHUNK_ELEMENTS // (b * n * n))
            for a in range(k):  # head a against heads a..k-1: JS = H((P+Q)/2) - (H(P) + H(Q))/2 per row
                for c0 in range(a, k, chunk):
                    c1 = min(k, c0 + chunk)
                    m = p[:, a : a + 1] + p[:, c0:c1]
                    m.mul_(0.5)
                    h_m = (m * m.clamp(min=1e-30).log_()).sum(-1).neg_()  # 0·log 0 = 0
                    jsd = (h_m - 0.5 * (hp[:, a : a + 1] + hp[:, c0:c1])).clamp_(min=0)
                    self.js_div[a, c0:c1] += (jsd * rows).sum(dim=(0, 2)).double()
                    self.js_dist[a, c0:c1] += (jsd.sqrt() * rows).sum(dim=(0, 2)).double()

        lengths = valid.sum(-1).double()
        self.rows += int(lengths.sum())
        self.examples += b
        self.log_n += float((lengths * torch.log(lengths.clamp(min=1))).sum())

    def sums_and_counts(self) -> tuple[dict[str, np.ndarray], dict[str, float]]:
        """The float64 sums (numpy, ``[L, H]`` per statistic, ``[L·H, L·H]`` upper triangles of the
        Jensen-Shannon sums) and the counts: what a :class:`~.partial.Partial` holds."""
        if self.sums is None:
            raise ValueError("no tokens to average over")
        sums = {name: value.cpu().numpy() for name, value in self.sums.items()}
        if self.js:
            sums["js_divergence"] = self.js_div.cpu().numpy()
            sums["js_distance"] = self.js_dist.cpu().numpy()
        return sums, {"tokens": self.rows, "examples": self.examples, "log_n": self.log_n}

    def result(self) -> HeadStats:
        return stats_from_sums(*self.sums_and_counts())


def stats_from_sums(sums: dict[str, np.ndarray], counts: dict[str, float]) -> HeadStats:
    """:class:`HeadStats` from corpus sums and counts (one process's, or merged partials'): every sum
    divided by the number of query tokens; the Jensen-Shannon upper triangles mirrored."""
    rows = counts["tokens"]
    if rows == 0:
        raise ValueError("no tokens to average over")
    js_div = js_dist = None
    if "js_divergence" in sums:
        js_div = _symmetric(sums["js_divergence"] / rows)
        js_dist = _symmetric(sums["js_distance"] / rows)
    return HeadStats(
        **{name: sums[name] / rows for name in STATISTICS},
        js_divergence=js_div,
        js_distance=js_dist,
        uniform_entropy=counts["log_n"] / rows,
        num_examples=int(counts["examples"]),
        num_tokens=int(rows),
    )


def stats_from_partial(partial: Partial) -> HeadStats:
    """:class:`HeadStats` of a (merged) ``head_stats`` partial."""
    if partial.kind != "head_stats":
        raise ValueError(f"expected a head_stats partial, got {partial.kind}")
    return stats_from_sums(partial.sums, partial.counts)


def _symmetric(upper: np.ndarray) -> np.ndarray:
    a = np.triu(upper) + np.triu(upper, 1).T
    np.fill_diagonal(a, 0.0)
    return a


def head_stats(
    model_or_results: Any,
    *args: Any,
    tokenizer: Any = None,
    texts: Any = None,
    batch_size: int = 16,
    device: Any = None,
    progress: bool = True,
    js: bool = True,
    engine: str | None = None,
    shard_size: int = DEFAULT_SHARD_SIZE,
    checkpoint: str | os.PathLike | None = None,
    client: Any = None,
    num_workers: int | None = None,
) -> HeadStats:
    """Clark et al.'s statistics of every head over a corpus.

    Either ``head_stats(results)`` with a list of :class:`~albert_widget.AttentionResult` (from
    :func:`~albert_widget.capture`; [CLS]/[SEP] are special tokens named ``[CLS]``/``<s>`` and
    ``[SEP]``/``</s>``), or ``head_stats(model, tokenizer, texts)`` (the order of every analysis; the
    older ``head_stats(model, texts, tokenizer=tokenizer)`` still works) with ``texts`` a list or
    iterable of strings or ``(text, text_pair)`` tuples, or files the workers read
    (:func:`~albert_widget.analysis.corpus_files`: Parquet, JSON lines).

    The corpus is cut into shards of ``shard_size`` texts; each shard gives float64 sums and counts
    (a :class:`~albert_widget.analysis.partial.Partial`), merged exactly at the end, so every
    ``engine`` gives the same answer:

    * ``None``: this process. The model runs in padded batches of ``batch_size`` texts of similar length
      (inside a shard; eager attention and eval mode, both restored; no gradients) on ``device``
      (default: the GPU when available; the model is moved back afterwards). A tqdm bar when ``progress``.
    * ``"ray"``: Ray Data over the shards, one model replica per worker (``num_workers`` actors; one
      GPU each when the cluster has GPUs). ``"dask"``: ``dask.distributed``, the ``client`` given or a
      local cluster of ``num_workers`` processes. Extras: ``pip install "albert_widget[ray]"`` /
      ``"albert_widget[dask]"``.

    ``checkpoint``: a folder (every worker must be able to write to it) where each finished shard is
    saved; a rerun with the same corpus and settings loads those and computes only the rest.

    Padding rows and columns never count, so batched statistics equal one-at-a-time statistics.
    ``js=False`` skips the ``[L·H, L·H]`` Jensen-Shannon matrices, which cost ``O(B·(L·H)²·N²)`` per
    batch (about as much as the model itself for MiniLM on short sentences). Memory: a batch holds its
    attention twice, ``2·B·L·H·N²`` floats; lower ``batch_size`` for long texts.

    Measured (all-MiniLM-L6-v2, 1,000 template sentences of ~17 tokens, Jensen-Shannon included): about
    4-5 s on 2 CPU cores of an otherwise idle machine, 2.4 s on 16 cores, 2.1 s on an H200 GPU with
    ``batch_size=16`` and 0.7 s with ``batch_size=64``.

    Returns
    -------
    HeadStats
        float64 ``[L, H]`` arrays per statistic (see :class:`HeadStats`), ``.to_dataframe()``.
    """
    require("torch")  # a clear error naming the extra, before anything else
    tokenizer, texts = _tokenizer_and_texts(args, tokenizer, texts)
    if texts is None and tokenizer is None:
        results = model_or_results
        if isinstance(results, AttentionResult):
            results = [results]
        results = list(results) if isinstance(results, (list, tuple)) else None
        if not results or not all(isinstance(r, AttentionResult) for r in results):
            raise TypeError(
                "head_stats() takes a list of AttentionResult, or a model, its tokenizer and texts: head_stats(model, tokenizer, texts)"
            )
        return _from_results(results, device, progress, js)
    if tokenizer is None:
        raise TypeError("head_stats(model, tokenizer, texts) needs the model's tokenizer")
    if texts is None:
        raise TypeError("head_stats(model, tokenizer, texts) needs texts")
    model = model_or_results
    check_model(model, tokenizer)
    check_engine(engine)
    check_batch_size(batch_size)
    options = {"batch_size": batch_size, "js": bool(js)}
    task = ShardTask("head_stats", stats_of_texts, model, tokenizer, options, task_config(model, **options), device)
    partial = run_shards(
        task,
        plan_shards(texts, shard_size),
        engine=engine,
        checkpoint=checkpoint,
        progress=progress,
        client=client,
        num_workers=num_workers,
    )
    return stats_from_partial(partial)


def _tokenizer_and_texts(args: tuple, tokenizer: Any, texts: Any) -> tuple[Any, Any]:
    """``(tokenizer, texts)`` from ``head_stats(model, tokenizer, texts)``, ``head_stats(model, texts,
    tokenizer=...)`` (the older order) or keywords. A tokenizer is callable; texts are not."""
    if len(args) > 2:
        raise TypeError(f"head_stats() takes (model, tokenizer, texts), got {1 + len(args)} positional arguments")
    if len(args) == 2:
        if tokenizer is not None or texts is not None:
            raise TypeError("head_stats(model, tokenizer, texts): tokenizer and texts given twice")
        return args[0], args[1]
    if len(args) == 1:
        (arg,) = args
        if tokenizer is not None and texts is not None:
            raise TypeError("head_stats(model, tokenizer, texts): tokenizer and texts given twice")
        if tokenizer is not None:
            return tokenizer, arg  # head_stats(model, texts, tokenizer=tokenizer)
        if texts is not None or callable(arg):
            return arg, texts
        return None, arg
    return tokenizer, texts


def stats_of_texts(
    model: Any, tokenizer: Any, texts: list, labels: Any, first: int, device: Any, on_batch: Any = None, *, batch_size: int, js: bool
) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """The shard computation of :func:`head_stats` (every engine runs this): ``texts`` (strings or
    pairs) through ``model`` (already on ``device``) in padded length-sorted batches -> ``(sums,
    counts)``: float64 ``[L, H]`` sums per statistic over query tokens, ``[L·H, L·H]`` Jensen-Shannon
    sums (upper triangles), and ``tokens``, ``examples``, ``log_n`` (``Σ n log n`` over texts).
    ``labels`` and ``first`` are unused (the statistics need neither)."""
    import torch

    firsts, seconds = split_texts(texts)
    items = tokenize_each(model, tokenizer, firsts, seconds)
    batches = length_batches([len(it["input_ids"]) for it in items], batch_size)
    pad_id = getattr(tokenizer, "pad_token_id", None)
    cls_id = getattr(tokenizer, "cls_token_id", None)
    sep_id = getattr(tokenizer, "sep_token_id", None)
    punct_ids = sorted({int(i) for t, i in tokenizer.get_vocab().items() if is_punct(t)})
    acc = None
    with eager_eval(model), torch.no_grad():
        punct_tensor = torch.tensor(punct_ids, dtype=torch.long, device=device)
        for rows in batches:
            enc = collate([items[i] for i in rows], pad_id)
            outputs = model(**forward_kwargs(model, enc, device), output_attentions=True, return_dict=True)
            attentions = tuple(getattr(outputs, "attentions", None) or ())
            if not attentions:
                raise ValueError("the model returned no attention; it needs eager attention (output_attentions=True)")
            att = torch.stack(attentions, dim=1)  # [B, L, H, N, N]
            del outputs, attentions
            ids = enc["input_ids"].to(device)
            valid = enc["attention_mask"].to(device).bool()
            cls = (ids == cls_id) & valid if cls_id is not None else torch.zeros_like(valid)
            sep = (ids == sep_id) & valid if sep_id is not None else torch.zeros_like(valid)
            punct = torch.isin(ids, punct_tensor) & valid
            if acc is None:
                acc = _Accumulator(int(att.shape[1]), int(att.shape[2]), js)
            acc.add(att, valid, cls, sep, punct)
            if on_batch is not None:
                on_batch(len(rows))
    return acc.sums_and_counts()


def _from_results(results: list[AttentionResult], device: Any, progress: bool, js: bool) -> HeadStats:
    torch = require("torch")

    dev = pick_device(None, device)
    first = results[0]
    acc = _Accumulator(first.num_layers, first.num_heads, js)
    bar = progress_bar(len(results), progress, "head stats")
    try:
        for r in results:
            tokens = r.tokens
            special = np.asarray(r.special_tokens_mask, dtype=bool)
            cls = special & np.array([t in CLS_NAMES for t in tokens], dtype=bool)
            sep = special & np.array([t in SEP_NAMES for t in tokens], dtype=bool)
            punct = np.array([is_punct(t) for t in tokens], dtype=bool)

            def tensor(a):
                return torch.as_tensor(np.asarray(a)[None], device=dev)

            att = torch.tensor(np.asarray(r.attention, dtype=np.float32), device=dev)[None]
            acc.add(att, tensor(np.ones(r.num_tokens, dtype=bool)), tensor(cls), tensor(sep), tensor(punct))
            bar.update(1)
    finally:
        bar.close()
    return acc.result()
