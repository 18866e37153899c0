"""Memory arithmetic: what a capture would hold, decided and refused before anything runs."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from ..forward import AttentionTooLargeError

__all__ = [
    "DEFAULT_MEMORY_BUDGET",
    "CaptureCost",
    "CompactTooLargeError",
    "attention_shape",
    "available_memory",
    "estimate",
    "format_bytes",
    "plan",
]

#: Default ``memory_budget`` of a capture: the most the result may hold. Full float32 attention of
#: every layer and head is kept while it fits (e.g. 22 layers x 32 heads up to ~870 tokens), the
#: compact form (queries, keys, row log-sum-exp, summaries) above that.
DEFAULT_MEMORY_BUDGET = 2 * 1024**3


class CompactTooLargeError(AttentionTooLargeError):
    """Even the compact form of this request would not fit; nothing was run."""


def format_bytes(size: float) -> str:
    for unit, factor in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if size >= factor:
            return f"{size / factor:.1f} {unit}"
    return f"{int(size)} bytes"


@dataclass(frozen=True)
class AttentionShape:
    """Attention dimensions of a decoder model (read from its config)."""

    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int


def attention_shape(model_or_config: Any) -> AttentionShape:
    """Layers, query heads, key/value heads and head size from a model or its config (Llama-,
    Mistral-, Qwen2-, Gemma-, GPT-2- and GPT-NeoX-style names). Raises ``ValueError`` if unknown."""
    config = getattr(model_or_config, "config", model_or_config)
    if hasattr(config, "get_text_config"):
        config = config.get_text_config()
    layers = getattr(config, "num_hidden_layers", None) or getattr(config, "n_layer", None)
    heads = getattr(config, "num_attention_heads", None) or getattr(config, "n_head", None)
    hidden = getattr(config, "hidden_size", None) or getattr(config, "n_embd", None)
    if not (layers and heads):
        raise ValueError("cannot tell this model's number of layers and heads from its config")
    kv = getattr(config, "num_key_value_heads", None) or heads
    head_dim = getattr(config, "head_dim", None) or (hidden // heads if hidden else None)
    if not head_dim:
        raise ValueError("cannot tell this model's head size from its config")
    return AttentionShape(int(layers), int(heads), int(kv), int(head_dim))


@dataclass(frozen=True)
class CaptureCost:
    """Bytes one request would hold (``n`` tokens)."""

    n: int
    shape: AttentionShape
    dense_bytes: int  # float32 [L, H, N, N]
    compact_bytes: int  # queries + keys + row log-sum-exp + summaries
    head_bytes: int  # one float32 [N, N]
    working_bytes: int  # transient scores of the streaming pass

    def describe(self) -> str:
        s = self.shape
        return (
            f"{self.n:,} tokens through {s.num_layers} layers x {s.num_heads} heads ({s.num_kv_heads} key heads, head size "
            f"{s.head_dim}): full attention {format_bytes(self.dense_bytes)}, compact form "
            f"{format_bytes(self.compact_bytes)} (+{format_bytes(self.working_bytes)} while capturing), "
            f"one head [N, N] {format_bytes(self.head_bytes)}"
        )


def estimate(shape: AttentionShape, n: int, *, store_bytes: int = 4, top_k: int = 4, chunk_elements: int | None = None) -> CaptureCost:
    """What a capture of ``n`` tokens would hold. ``store_bytes``: bytes per stored query/key value
    (4 for float32, 2 for bfloat16/float16)."""
    from .summaries import DEFAULT_CHUNK_ELEMENTS, ROW_STATS

    L, H, KV, d = shape.num_layers, shape.num_heads, shape.num_kv_heads, shape.head_dim
    rows = L * H * n
    compact = (
        L * n * d * (H + KV) * store_bytes  # queries, keys (keys once per key head)
        + rows * 4 * (1 + len(ROW_STATS))  # lse + row statistics
        + rows * top_k * (4 + 4)  # top-k indices (int32) and weights
    )
    chunk = chunk_elements or DEFAULT_CHUNK_ELEMENTS
    working = 3 * 4 * max(chunk, H * n)  # scores, weights, a temporary
    return CaptureCost(
        n=n, shape=shape, dense_bytes=L * H * n * n * 4, compact_bytes=int(compact), head_bytes=n * n * 4, working_bytes=int(working)
    )


def available_memory() -> int | None:
    """Bytes the system can still give (``MemAvailable``), or ``None`` where unknown."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def plan(cost: CaptureCost, memory_budget: int | None = None, *, allow_dense: bool = True) -> str:
    """``"dense"`` when the full attention fits ``memory_budget`` (default
    :data:`DEFAULT_MEMORY_BUDGET`), else ``"compact"`` when the compact form fits; otherwise raise
    :class:`CompactTooLargeError` saying what the request would cost. The compact form must also fit
    in the memory the system has free right now."""
    budget = DEFAULT_MEMORY_BUDGET if memory_budget is None else int(memory_budget)
    if budget <= 0:
        raise ValueError(f"memory_budget must be a positive number of bytes, got {memory_budget!r}")
    if allow_dense and cost.dense_bytes <= budget:
        return "dense"
    need = cost.compact_bytes + cost.working_bytes
    if cost.compact_bytes > budget:
        raise CompactTooLargeError(
            f"this request would not fit the memory budget of {format_bytes(budget)}: {cost.describe()}. "
            "Use fewer tokens, or pass a larger memory_budget (bytes)"
        )
    free = available_memory()
    if free is not None and need > free:
        raise CompactTooLargeError(
            f"this request needs {format_bytes(need)} but the system has {format_bytes(free)} free: "
            f"{cost.describe()}. Use fewer tokens or free memory"
        )
    return "compact"
