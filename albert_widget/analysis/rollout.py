"""Attention rollout (Abnar & Zuidema, "Quantifying Attention Flow in Transformers", ACL 2020)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._common import attention_float64

__all__ = ["reduce_heads", "residual_attention", "rollout"]

HEAD_REDUCTIONS = ("mean", "max", "min")


def reduce_heads(attention: Any, head_reduce: str = "mean") -> np.ndarray:
    """Combine the heads of every layer: ``[L, H, N, N]`` -> ``[L, N, N]`` (float64) by ``mean``,
    ``max`` or ``min`` over ``H``."""
    a = attention_float64(attention)
    if head_reduce == "mean":
        return a.mean(axis=1)
    if head_reduce == "max":
        return a.max(axis=1)
    if head_reduce == "min":
        return a.min(axis=1)
    raise ValueError(f"head_reduce must be one of {HEAD_REDUCTIONS}, got {head_reduce!r}")


def residual_attention(attention: Any, *, residual: bool = True, head_reduce: str = "mean") -> np.ndarray:
    """The per-layer matrices rollout and flow chain: ``[L, H, N, N]`` -> ``[L, N, N]`` (float64).

    ``Ã_l = 0.5·Ā_l + 0.5·I`` when ``residual`` (the skip connection carries half of each token's
    information), else ``Ã_l = Ā_l``; then every row is normalised to sum to 1 (max/min reductions
    do not keep rows stochastic). A row that is all zeros stays zero.
    """
    reduced = reduce_heads(attention, head_reduce)
    n = reduced.shape[-1]
    if residual:
        reduced = 0.5 * reduced + 0.5 * np.eye(n)[None]
    sums = reduced.sum(axis=-1, keepdims=True)
    return np.divide(reduced, sums, out=np.zeros_like(reduced), where=sums > 0)


def rollout(attention: Any, *, residual: bool = True, head_reduce: str = "mean") -> np.ndarray:
    """Attention rollout: how much each input token feeds each position at the top.

    Parameters
    ----------
    attention
        ``[L, H, N, N]`` attention (numpy or torch, rows = queries, columns = keys), a tuple of per-layer
        ``[1, H, N, N]`` tensors as ``outputs.attentions``, or an :class:`~albert_widget.AttentionResult`.
    residual
        Add the identity for the skip connection: ``Ã_l = 0.5·Ā_l + 0.5·I``, rows normalised.
    head_reduce
        ``"mean"`` (the paper), ``"max"`` or ``"min"`` over the heads of a layer.

    Returns
    -------
    numpy.ndarray, float64 ``[N, N]``
        ``R = Ã_L ··· Ã_2 · Ã_1`` (``Ã_1`` is the first layer). ``R[i, j]`` is the share of input token
        ``j`` in position ``i`` of the last layer; every row sums to 1.
    """
    mats = residual_attention(attention, residual=residual, head_reduce=head_reduce)
    result = np.eye(mats.shape[-1])
    for layer in mats:  # bottom to top: R <- Ã_l · R
        result = layer @ result
    return result
