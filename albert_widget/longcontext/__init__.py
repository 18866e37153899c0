"""Long-context attention: compact captures (queries, keys, row log-sum-exp) with weights recomputed
exactly on demand, streaming per-head summaries, generation, and a memory guard."""

from .budget import DEFAULT_MEMORY_BUDGET, CaptureCost, CompactTooLargeError, attention_shape, estimate, plan
from .compact import CompactAttention, HeadSummaries
from .engine import capture_compact, compact_from_ids
from .generate import capture_generate
from .hooks import LayerParams, UnsupportedModelError

__all__ = [
    "DEFAULT_MEMORY_BUDGET",
    "CaptureCost",
    "CompactAttention",
    "CompactTooLargeError",
    "HeadSummaries",
    "LayerParams",
    "UnsupportedModelError",
    "attention_shape",
    "capture_compact",
    "capture_generate",
    "compact_from_ids",
    "estimate",
    "plan",
]
