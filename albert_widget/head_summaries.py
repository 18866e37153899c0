"""Per-head statistics and each query's top-k keys, for dense and compact results alike.

The model view colours every layer x head by one statistic (:data:`albert_widget.names.HEAD_STATISTICS`)
and the head view of a long input draws each query's top-k keys. A compact result
(:class:`~albert_widget.longcontext.CompactAttention`) has both from its capture's streaming pass
(``result.summaries``); a dense :class:`~albert_widget.result.AttentionResult` gets them here, from its
``[L, H, N, N]`` attention, by the same definitions (row ``i`` of a head, weights ``w_ij``):

- ``sink``: ``sum_{j < num_sink_tokens} w_ij``, the weight on the first token(s);
- ``entropy``: ``-sum_j w_ij log w_ij`` in nats;
- ``previous_token``: ``w_{i,i-1}`` (0 for the first row);
- ``self_weight``: ``w_ii``;
- ``mean_distance``: ``sum_j w_ij |i - j|`` in tokens (a causal head only looks back, where this is the
  compact pass's ``sum_j w_ij (i - j)``);

each averaged over the rows ``start:`` (float64 sums, float32 out). Pure functions plus the two
replies the widget sends; no widget here.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .names import HEAD_STATISTICS
from .transport import _indices, encode_array

__all__ = [
    "MAX_TOP_K",
    "SummarySource",
    "dense_row_statistics",
    "dense_top_k",
    "head_statistics",
    "is_compact",
    "reply_to_summaries",
    "reply_to_top_k",
    "top_k",
]

#: The most keys per query a ``topk`` request may ask for.
MAX_TOP_K = 32
#: HEAD_STATISTICS name -> the compact pass's row statistic (longcontext/summaries.py ROW_STATS).
_ROW_NAME = {"sink": "sink", "entropy": "entropy", "previous_token": "previous", "self_weight": "self", "mean_distance": "distance"}
_ROW_CHUNK = 1 << 22  # weights held at once when top-k keys come from a compact result's blocks


def is_compact(result: Any) -> bool:
    """True for a :class:`~albert_widget.longcontext.CompactAttention` (weights on demand)."""
    return bool(getattr(result, "is_compact", False))


def dense_row_statistics(attention: np.ndarray, num_sink_tokens: int = 1) -> dict[str, np.ndarray]:
    """float32 ``[L, H, N]`` per statistic of :data:`HEAD_STATISTICS` from float32 ``[L, H, N, N]``
    attention (rows = queries), computed in float64 one layer at a time."""
    a = np.asarray(attention)
    if a.ndim != 4 or a.shape[2] != a.shape[3]:
        raise ValueError(f"attention must be [layers, heads, N, N], got {a.shape}")
    L, H, n, _ = a.shape
    i = np.arange(n)
    dist = np.abs(i[:, None] - i[None, :]).astype(np.float64)
    out = {name: np.zeros((L, H, n), dtype=np.float32) for name in HEAD_STATISTICS}
    for layer in range(L):
        w = a[layer].astype(np.float64)  # [H, N, N]
        logw = np.log(np.where(w > 0, w, 1.0))
        out["sink"][layer] = w[..., : max(0, num_sink_tokens)].sum(-1)
        out["entropy"][layer] = -(w * logw).sum(-1)
        out["previous_token"][layer, :, 1:] = w[:, i[1:], i[:-1]]
        out["self_weight"][layer] = w[:, i, i]
        out["mean_distance"][layer] = (w * dist).sum(-1)
    return out


def head_statistics(result: Any, start: int = 0) -> np.ndarray:
    """float32 ``[S, L, H]``: every statistic of :data:`HEAD_STATISTICS` (in that order) per head,
    the mean over rows ``start:``; from ``result.summaries`` for a compact result, from the encoder
    attention for a dense one."""
    if is_compact(result):
        s = result.summaries
        return np.stack([s.per_head(_ROW_NAME[name], start) for name in HEAD_STATISTICS])
    rows = dense_row_statistics(result.attention)
    n = rows["sink"].shape[-1]
    if not 0 <= start < n:
        raise ValueError(f"no rows from {start} on (there are {n})")
    return np.stack([rows[name][:, :, start:].mean(axis=-1, dtype=np.float64).astype(np.float32) for name in HEAD_STATISTICS])


def dense_top_k(weights: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``(index int32, weight float32)`` ``[..., N, k]`` of float32 ``[..., N, C]`` rows: the ``k``
    heaviest keys of each row, heaviest first; keys of weight 0 (masked) are ``-1`` / 0."""
    w = np.asarray(weights, dtype=np.float32)
    k = min(k, w.shape[-1])
    part = np.argpartition(-w, k - 1, axis=-1)[..., :k] if k < w.shape[-1] else np.broadcast_to(np.arange(w.shape[-1]), w.shape)
    vals = np.take_along_axis(w, part, axis=-1)
    order = np.argsort(-vals, axis=-1, kind="stable")
    idx = np.take_along_axis(part, order, axis=-1)
    vals = np.take_along_axis(vals, order, axis=-1)
    keep = vals > 0
    return np.where(keep, idx, -1).astype(np.int32), np.where(keep, vals, 0).astype(np.float32)


def _compact_top_k(result: Any, layer: int, head: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    stored_i, stored_w = result.summaries.topk_index, result.summaries.topk_weight
    if k <= stored_i.shape[-1]:  # the capture kept them (exact, float32)
        return np.array(stored_i[layer, head, :, :k], dtype=np.int32), np.array(stored_w[layer, head, :, :k], dtype=np.float32)
    n = result.num_tokens
    index = np.full((n, k), -1, dtype=np.int32)
    weight = np.zeros((n, k), dtype=np.float32)
    rows = max(1, _ROW_CHUNK // max(1, n))
    import torch

    for a in range(0, n, rows):
        b = min(n, a + rows)
        block = torch.from_numpy(result.block(layer, head, slice(a, b), slice(0, b)))  # causal: row i sees keys <= i < b
        take = min(k, b)
        top_w, top_i = torch.topk(block, take, dim=-1)  # sorted, heaviest first
        keep = top_w > 0  # keys a row cannot see weigh 0: none
        index[a:b, :take] = torch.where(keep, top_i, -1).numpy()
        weight[a:b, :take] = torch.where(keep, top_w, 0.0).numpy()
    return index, weight


def top_k(result: Any, layer: int, heads: list[int], k: int) -> tuple[np.ndarray, np.ndarray]:
    """``(index int32, weight float32)`` ``[len(heads), N, k]``: each query's ``k`` heaviest keys in
    ``heads`` of ``layer``, heaviest first (``-1`` / 0 where a row sees fewer keys). Exact: a compact
    result's capture top-k when it kept ``k`` keys, otherwise its blocks in chunks of rows."""
    if is_compact(result):
        pairs = [_compact_top_k(result, layer, h, k) for h in heads]
    else:
        pairs = [dense_top_k(result.attention[layer, h], k) for h in heads]
    return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])


def _shape(result: Any) -> tuple[int, int, int]:
    return int(result.num_layers), int(result.num_heads), int(result.num_tokens)


def _int_field(content: dict[str, Any], name: str, lo: int, hi: int, what: str) -> int:
    value = content.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ValueError(f"a {what} request's {name} must be an int in {lo}..{hi}, got {value!r}")
    return value


class SummarySource:
    """The widget's per-revision cache of :func:`head_statistics` (a dense input computes them once)."""

    def __init__(self) -> None:
        self._key: tuple[int, int] | None = None
        self._value: np.ndarray | None = None

    def statistics(self, result: Any, revision: int, start: int = 0) -> np.ndarray:
        if self._key != (revision, start) or self._value is None:
            self._value = head_statistics(result, start)
            self._key = (revision, start)
        return self._value


def reply_to_summaries(
    result: Any, revision: int, content: dict[str, Any], cache: SummarySource | None = None
) -> tuple[dict[str, Any], list[memoryview]]:
    """Answer ``{"type": "summaries", "revision", "start"?}``: float32 ``[S, L, H]`` (one buffer) of
    :data:`HEAD_STATISTICS`, with ``statistics`` (their names, in order) and ``form``."""
    n = int(result.num_tokens)
    start = _int_field(content, "start", 0, n - 1, "summaries") if content.get("start") is not None else 0
    values = (cache or SummarySource()).statistics(result, revision, start)
    meta, buffer = encode_array(values, "float32")
    sinks = result.summaries.num_sink_tokens if is_compact(result) else 1
    reply = {
        "type": "summaries",
        "revision": revision,
        "statistics": list(HEAD_STATISTICS),
        "start": start,
        "num_sink_tokens": int(sinks),
        "form": "compact" if is_compact(result) else "dense",
        **meta,
    }
    return reply, [buffer]


def reply_to_top_k(result: Any, revision: int, content: dict[str, Any]) -> tuple[dict[str, Any], list[memoryview]]:
    """Answer ``{"type": "topk", "revision", "layer", "heads": [...], "k"}``: each query's ``k``
    heaviest keys per head, ``shape`` ``[len(heads), N, k]``, two buffers: int32 key indices (-1: none)
    and their float32 weights."""
    L, H, _ = _shape(result)
    layer = _int_field(content, "layer", 0, L - 1, "topk")
    k = _int_field(content, "k", 1, MAX_TOP_K, "topk")
    heads = _indices(content.get("heads"), H, "head", "{'heads': [0]}")
    index, weight = top_k(result, layer, heads, k)
    buffers = [memoryview(np.ascontiguousarray(index, dtype="<i4").reshape(-1).view(np.uint8)), encode_array(weight, "float32")[1]]
    reply = {"type": "topk", "revision": revision, "layer": layer, "heads": heads, "k": k, "shape": list(index.shape)}
    return reply, buffers
