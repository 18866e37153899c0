"""The compact result of a long-context capture: queries, keys and row log-sum-exp, from which any
weight is recomputed exactly on demand, plus per-head summaries computed during the capture.

Every weight of a causal softmax attention is ``w_ij = exp(s_ij - lse_i)`` with
``s_ij = scaling * q_i . k_j`` (soft-capped where the model does so) over the keys row ``i`` may see,
so keeping each layer's post-rotary queries ``[H, N, d]`` and keys ``[KV, N, d]`` (O(L N d)) and each
row's log-sum-exp ``[L, H, N]`` answers any cell, row, tile or head in milliseconds, without the
``[L, H, N, N]`` array (22 layers x 32 heads at 4,096 tokens: 47 GB).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from os import PathLike
from typing import Any

import numpy as np

from ..result import ModelInfo
from .budget import format_bytes
from .hooks import LayerParams
from .summaries import ROW_STATS, scores, visible

__all__ = ["CompactAttention", "HeadSummaries"]

#: ``head()`` refuses an [N, N] larger than this unless given ``max_bytes``.
DEFAULT_HEAD_BYTES = 1024**3

_FORMAT = "albert_widget/compact-1"


def _readonly(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


@dataclass(frozen=True)
class HeadSummaries:
    """Per-head statistics from the capture's streaming pass (exact, float32).

    ``rows[name]`` is ``[L, H, N]`` for each name of :data:`ROW_STATS`: ``sink`` (weight on the first
    ``num_sink_tokens`` tokens), ``entropy`` (nats), ``previous`` (weight on the previous token),
    ``self`` (weight on the token itself), ``distance`` (``sum_j w_ij (i - j)``, in tokens).
    ``topk_index`` int32 / ``topk_weight`` float32 ``[L, H, N, k]``: each row's heaviest keys,
    heaviest first (``-1`` / 0 where a row sees fewer than ``k`` keys).
    """

    rows: dict[str, np.ndarray]
    topk_index: np.ndarray
    topk_weight: np.ndarray
    num_sink_tokens: int = 1

    def per_head(self, name: str, start: int = 0) -> np.ndarray:
        """float32 ``[L, H]``: the mean of row statistic ``name`` over rows ``start:`` (e.g. skip the
        first rows, which have little to choose from, or keep only generated tokens)."""
        if name not in self.rows:
            raise KeyError(f"no statistic {name!r}; there are {', '.join(ROW_STATS)}")
        rows = self.rows[name][:, :, start:]
        if rows.shape[-1] == 0:
            raise ValueError(f"no rows from {start} on")
        return rows.mean(axis=-1, dtype=np.float64).astype(np.float32)

    @property
    def sink(self) -> np.ndarray:
        """``[L, H]`` mean weight on the first ``num_sink_tokens`` tokens (attention sinks)."""
        return self.per_head("sink")

    @property
    def entropy(self) -> np.ndarray:
        """``[L, H]`` mean row entropy (nats)."""
        return self.per_head("entropy")

    @property
    def previous_token(self) -> np.ndarray:
        """``[L, H]`` mean weight on the previous token."""
        return self.per_head("previous")

    @property
    def self_weight(self) -> np.ndarray:
        """``[L, H]`` mean weight on the token itself."""
        return self.per_head("self")

    @property
    def mean_distance(self) -> np.ndarray:
        """``[L, H]`` mean attention distance (tokens back)."""
        return self.per_head("distance")

    def table(self, start: int = 0) -> list[dict[str, float]]:
        """One dict per (layer, head): the per-head means of every statistic."""
        means = {name: self.per_head(name, start) for name in ROW_STATS}
        L, H = means["sink"].shape
        return [{"layer": l, "head": h, **{name: float(means[name][l, h]) for name in ROW_STATS}} for l in range(L) for h in range(H)]


def _index(sel: Any, n: int, what: str) -> np.ndarray:
    """A slice, int or index array over ``n`` tokens as int64 indices (negatives count from the end)."""
    if isinstance(sel, slice):
        return np.arange(n, dtype=np.int64)[sel]
    arr = np.asarray(sel)
    if arr.dtype == bool:
        if arr.shape != (n,):
            raise ValueError(f"a boolean {what} mask must have {n} entries, got {arr.shape}")
        return np.flatnonzero(arr).astype(np.int64)
    if arr.ndim > 1 or not (arr.size == 0 or np.issubdtype(arr.dtype, np.integer)):
        raise TypeError(f"{what} must be a slice, an int or a 1-d array of ints, got {arr.dtype} {arr.shape}")
    arr = arr.reshape(-1).astype(np.int64)
    if arr.size and (arr.min() < -n or arr.max() >= n):
        raise IndexError(f"{what} index out of range for {n} tokens")
    return np.where(arr < 0, arr + n, arr)


@dataclass(frozen=True, eq=False)
class CompactAttention:
    """Attention of a long input kept as queries, keys and row log-sum-exp; weights on demand.

    ``queries[l]``: torch ``[H, N, d]``, ``keys[l]``: torch ``[KV, N, d]`` (post-rotary, as the model
    computed them; float32, or the model's bfloat16/float16 when it runs in those); ``lse``: float32
    ``[L, H, N]``; ``params[l]``: scaling, sliding window, soft-capping, sink logits of layer ``l``.
    Weights are recomputed in float32 and equal an eager forward pass to float32 rounding.
    """

    tokens: tuple[str, ...]
    input_ids: np.ndarray  # int64 [N]
    queries: tuple[Any, ...]
    keys: tuple[Any, ...]
    lse: np.ndarray
    params: tuple[LayerParams, ...]
    summaries: HeadSummaries
    generated: np.ndarray  # bool [N]: True for tokens the model generated (capture_generate)
    special_tokens_mask: np.ndarray  # bool [N]
    info: ModelInfo = field(default_factory=ModelInfo)
    text: str | None = None
    num_truncated: int = 0
    memory_budget: int | None = None

    def __post_init__(self) -> None:
        n, L = len(self.tokens), len(self.queries)
        if len(self.keys) != L or len(self.params) != L or self.lse.shape[:1] != (L,):
            raise ValueError("queries, keys, params and lse must have one entry per layer")
        for l, (q, k) in enumerate(zip(self.queries, self.keys)):
            if q.dim() != 3 or k.dim() != 3 or q.shape[1] != n or k.shape[1] != n or q.shape[2] != k.shape[2] or q.shape[0] % k.shape[0]:
                raise ValueError(f"layer {l}: queries {tuple(q.shape)} and keys {tuple(k.shape)} do not fit {n} tokens")
        if self.lse.shape != (L, self.queries[0].shape[0], n):
            raise ValueError(f"lse must be [{L}, heads, {n}], got {self.lse.shape}")
        for a in (self.input_ids, self.generated, self.special_tokens_mask):
            if a.shape != (n,):
                raise ValueError(f"per-token arrays must have {n} entries, got {a.shape}")
        for a in (
            self.input_ids,
            self.lse,
            self.generated,
            self.special_tokens_mask,
            self.summaries.topk_index,
            self.summaries.topk_weight,
            *self.summaries.rows.values(),
        ):
            if a.flags.writeable:
                _readonly(a)

    # -- shape -----------------------------------------------------------------------------------
    @property
    def num_layers(self) -> int:
        return len(self.queries)

    @property
    def num_heads(self) -> int:
        return int(self.queries[0].shape[0])

    @property
    def num_kv_heads(self) -> int:
        return int(self.keys[0].shape[0])

    @property
    def num_tokens(self) -> int:
        return len(self.tokens)

    @property
    def head_dim(self) -> int:
        return int(self.queries[0].shape[2])

    @property
    def prompt_length(self) -> int:
        """Tokens before the first generated one (all of them for a plain capture)."""
        hits = np.flatnonzero(self.generated)
        return int(hits[0]) if hits.size else self.num_tokens

    @property
    def nbytes(self) -> int:
        """Memory this result holds."""
        tensors = sum(t.numel() * t.element_size() for t in (*self.queries, *self.keys))
        arrays = self.lse.nbytes + self.summaries.topk_index.nbytes + self.summaries.topk_weight.nbytes
        return int(tensors + arrays + sum(a.nbytes for a in self.summaries.rows.values()))

    @property
    def is_compact(self) -> bool:
        return True

    # -- weights ---------------------------------------------------------------------------------
    def _check(self, layer: int, head: int) -> tuple[int, int]:
        for name, value, size in (("layer", layer, self.num_layers), ("head", head, self.num_heads)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not -size <= int(value) < size:
                raise IndexError(f"{name} must be an int in [0, {size}), got {value!r}")
        return int(layer) % self.num_layers, int(head) % self.num_heads

    def block(self, layer: int, head: int, rows: Any = slice(None), cols: Any = slice(None)) -> np.ndarray:
        """float32 ``[len(rows), len(cols)]``: weights of query tokens ``rows`` on key tokens ``cols``
        in ``head`` of ``layer``. ``rows``/``cols``: slices, ints, index arrays or boolean masks.
        Keys a query cannot see (later tokens, outside a sliding window) weigh 0."""
        return self._block(layer, head, rows, cols, log=False)

    def log_block(self, layer: int, head: int, rows: Any = slice(None), cols: Any = slice(None)) -> np.ndarray:
        """float32 ``[len(rows), len(cols)]``: the natural log of :meth:`block` (each score minus its
        row's log-sum-exp), ``-inf`` where a key is hidden. exp is monotonic, so the largest weight of
        a region is exp of the largest of these: a tile's max needs one exp per cell, not per weight."""
        return self._block(layer, head, rows, cols, log=True)

    def _block(self, layer: int, head: int, rows: Any, cols: Any, *, log: bool) -> np.ndarray:
        import torch

        layer, head = self._check(layer, head)
        n = self.num_tokens
        rows_np = _index(rows, n, "rows")
        ri = torch.from_numpy(rows_np)
        ci = torch.from_numpy(_index(cols, n, "cols"))
        params = self.params[layer]
        group = self.num_heads // self.num_kv_heads
        q = self.queries[layer][head].index_select(0, ri).float()
        k = self.keys[layer][head // group].index_select(0, ci).float()
        s = scores(q, k, params)
        lse = torch.from_numpy(self.lse[layer, head][rows_np])  # fancy indexing: a writable copy
        s.sub_(lse[:, None])
        if not log:
            s.exp_()
        # A block wholly on or below the causal diagonal (no window) hides nothing: no mask to build.
        if rows_np.size and ci.numel() and (params.sliding_window is not None or int(ci.max()) > int(rows_np.min())):
            s.masked_fill_(visible(ri, ci, params.sliding_window).logical_not_(), float("-inf") if log else 0.0)
        return s.numpy()

    def row(self, layer: int, head: int, index: int) -> np.ndarray:
        """float32 ``[N]``: the weights of query token ``index`` on every token."""
        return self.block(layer, head, [index])[0]

    def head(self, layer: int, head: int, *, max_bytes: int | None = None) -> np.ndarray:
        """float32 ``[N, N]``: one head's whole attention, when it fits ``max_bytes`` (default: the
        capture's memory budget, or 1 GiB)."""
        n = self.num_tokens
        limit = max_bytes if max_bytes is not None else (self.memory_budget or DEFAULT_HEAD_BYTES)
        if n * n * 4 > limit:
            raise MemoryError(
                f"one head at {n:,} tokens is {format_bytes(n * n * 4)}, over the limit of {format_bytes(limit)}; "
                "use block(layer, head, rows, cols) for a tile, or pass a larger max_bytes"
            )
        return self.block(layer, head)

    def layer_block(self, layer: int, rows: Any = slice(None), cols: Any = slice(None)) -> np.ndarray:
        """float32 ``[H, len(rows), len(cols)]``: :meth:`block` for every head of ``layer``."""
        return np.stack([self.block(layer, h, rows, cols) for h in range(self.num_heads)])

    @property
    def attention(self) -> np.ndarray:
        """Not available: a compact result never holds ``[L, H, N, N]``. Raises with the size it
        would need and what to use instead."""
        from ..forward import AttentionTooLargeError

        L, H, n = self.num_layers, self.num_heads, self.num_tokens
        need = L * H * n * n * 4
        raise AttentionTooLargeError(
            f"this result is compact: the full attention [{L}, {H}, {n}, {n}] would need {format_bytes(need)} "
            f"({need:,} bytes, float32). Use result.block(layer, head, rows, cols) for any tile, "
            f"result.row(layer, head, i), result.head(layer, head) ({format_bytes(n * n * 4)} each) or "
            "result.summaries (sink, entropy, previous_token, mean_distance, top-k keys)"
        )

    # -- files -----------------------------------------------------------------------------------
    def to_npz(self, path: str | PathLike) -> None:
        """Save everything to one ``.npz`` (queries/keys in their stored dtype; bfloat16 as its bits)."""
        import torch

        arrays: dict[str, np.ndarray] = {}
        dtype = str(self.queries[0].dtype).removeprefix("torch.")
        for l, (q, k) in enumerate(zip(self.queries, self.keys)):
            for name, t in ((f"q{l}", q), (f"k{l}", k)):
                t = t.detach().cpu().contiguous()
                arrays[name] = t.view(torch.int16).numpy() if t.dtype == torch.bfloat16 else t.numpy()
        for name, a in self.summaries.rows.items():
            arrays[f"row_{name}"] = a
        meta = {
            "format": _FORMAT,
            "tokens": list(self.tokens),
            "params": [p.to_dict() for p in self.params],
            "info": self.info.to_dict(),
            "text": self.text,
            "num_truncated": self.num_truncated,
            "memory_budget": self.memory_budget,
            "num_sink_tokens": self.summaries.num_sink_tokens,
            "dtype": dtype,
        }
        np.savez(
            path,
            lse=self.lse,
            input_ids=self.input_ids,
            generated=self.generated,
            special_tokens_mask=self.special_tokens_mask,
            topk_index=self.summaries.topk_index,
            topk_weight=self.summaries.topk_weight,
            meta=np.array(json.dumps(meta)),
            **arrays,
        )

    @classmethod
    def from_npz(cls, path: str | PathLike) -> CompactAttention:
        import torch

        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            if meta.get("format") != _FORMAT:
                raise ValueError(f"{path} is not a compact attention file ({meta.get('format')!r})")
            L = len(meta["params"])

            def tensor(name: str) -> Any:
                t = torch.from_numpy(np.array(data[name]))
                return t.view(torch.bfloat16) if meta["dtype"] == "bfloat16" else t

            params = tuple(
                LayerParams(
                    scaling=p["scaling"],
                    sliding_window=p["sliding_window"],
                    softcap=p["softcap"],
                    sinks=tuple(p["sinks"]) if p["sinks"] is not None else None,
                )
                for p in meta["params"]
            )
            summaries = HeadSummaries(
                rows={name: np.array(data[f"row_{name}"]) for name in ROW_STATS},
                topk_index=np.array(data["topk_index"]),
                topk_weight=np.array(data["topk_weight"]),
                num_sink_tokens=int(meta["num_sink_tokens"]),
            )
            return cls(
                tokens=tuple(meta["tokens"]),
                input_ids=np.array(data["input_ids"]),
                queries=tuple(tensor(f"q{l}") for l in range(L)),
                keys=tuple(tensor(f"k{l}") for l in range(L)),
                lse=np.array(data["lse"]),
                params=params,
                summaries=summaries,
                generated=np.array(data["generated"]),
                special_tokens_mask=np.array(data["special_tokens_mask"]),
                info=ModelInfo(**meta["info"]),
                text=meta["text"],
                num_truncated=meta["num_truncated"],
                memory_budget=meta["memory_budget"],
            )

    def __repr__(self) -> str:
        return (
            f"CompactAttention(model={self.info.model_type!r}, layers={self.num_layers}, heads={self.num_heads}, "
            f"kv_heads={self.num_kv_heads}, tokens={self.num_tokens}, generated={int(self.generated.sum())}, "
            f"holds={format_bytes(self.nbytes)})"
        )
