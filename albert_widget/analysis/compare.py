"""How different two captures' heads are: the Jensen-Shannon divergence between every head of one and
every head of the other, on the tokens (or words) the two share (:mod:`albert_widget.compare.align`)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..compare.align import Alignment, align, aligned_attention, identity_alignment
from ..result import AttentionResult

__all__ = ["aligned_pair", "best_matches", "head_divergence"]

# Bytes of float32 scratch per block of the pairwise pass (two buffers): big enough that numpy's
# per-call cost vanishes, small enough to stay in cache.
_BLOCK_BYTES = 4 << 20


def _attention(x: Any) -> np.ndarray:
    a = x.attention if isinstance(x, AttentionResult) else np.asarray(x)
    if a.ndim != 4 or a.shape[-1] != a.shape[-2]:
        raise ValueError(f"attention must be [layers, heads, N, N], got shape {a.shape}")
    return a


def aligned_pair(a: Any, b: Any, alignment: Alignment | None = None) -> tuple[np.ndarray, np.ndarray, Alignment]:
    """Both sides on their aligned units: float64 ``[La, Ha, K, K]``, ``[Lb, Hb, K, K]`` and the
    alignment. ``a``/``b``: :class:`AttentionResult` (aligned by :func:`align` unless ``alignment``
    is given) or arrays ``[L, H, N, N]`` of the same ``N`` (token by token)."""
    att_a, att_b = _attention(a), _attention(b)
    if alignment is None:
        if isinstance(a, AttentionResult) and isinstance(b, AttentionResult):
            alignment = align(a, b)
        elif att_a.shape[-1] == att_b.shape[-1]:
            alignment = identity_alignment([str(i) for i in range(att_a.shape[-1])])
        else:
            raise ValueError(f"arrays of {att_a.shape[-1]} and {att_b.shape[-1]} tokens: pass AttentionResults or an alignment")
    k = alignment.num_units
    return aligned_attention(att_a, alignment.left_units, k), aligned_attention(att_b, alignment.right_units, k), alignment


def _sum_xlogx(p: np.ndarray) -> np.ndarray:
    """``Σ_j p_j log p_j`` over the last axis (0 log 0 = 0), float64."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0).sum(axis=-1)


def head_divergence(a: Any, b: Any, alignment: Alignment | None = None) -> np.ndarray:
    """float64 ``[La, Ha, Lb, Hb]``: the Jensen-Shannon divergence (natural log, 0..log 2) between
    head ``(la, ha)`` of ``a`` and head ``(lb, hb)`` of ``b``, averaged over the query positions
    aligned in both; each row restricted to the aligned keys and renormalised.

    ``a``/``b``: :class:`AttentionResult` (aligned token by token when their tokens are identical,
    else by words; see :mod:`albert_widget.compare.align`) or arrays ``[L, H, N, N]`` of the same
    ``N``. ``alignment``: use this one instead.

    With ``s = p + q`` and ``m = s / 2``: ``JSD(p, q) = H(m) - (H(p) + H(q)) / 2
    = Σ s/2 log 2 - ½ Σ s log s + ½ Σ p log p + ½ Σ q log q``. Only ``Σ s log s`` couples the two
    heads; it is computed for every pair in float32 blocks (one ``log`` per element, one float32 dot
    product per pair: absolute error about 1e-6 at 128 tokens); everything else in float64.
    """
    pa, pb, _ = aligned_pair(a, b, alignment)
    la, ha, k, _ = pa.shape
    lb, hb = pb.shape[:2]
    p = pa.reshape(la * ha, k, k)
    q = pb.reshape(lb * hb, k, k)
    # Per head: mean over rows of Σ p log p, and of the row sums (1 after renormalising).
    plogp = _sum_xlogx(p).mean(axis=-1)
    qlogq = _sum_xlogx(q).mean(axis=-1)
    psum = p.sum(axis=-1)  # [A, K]
    qsum = q.sum(axis=-1)  # [B, K]
    slogs = _pairwise_slogs(p.astype(np.float32), q.astype(np.float32))  # [A, B], mean over rows
    mass = (psum.mean(axis=-1)[:, None] + qsum.mean(axis=-1)[None, :]) / 2  # mean over rows of Σ m
    out = mass * math.log(2) - 0.5 * slogs + 0.5 * (plogp[:, None] + qlogq[None, :])
    np.maximum(out, 0.0, out=out)  # rounding can leave -1e-8 for identical heads
    return out.reshape(la, ha, lb, hb)


def _pairwise_slogs(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """float64 ``[A, B]``: mean over rows i of ``Σ_j s log s`` with ``s = p[a, i] + q[b, i]``
    (float32 ``[A, K, K]`` and ``[B, K, K]``)."""
    a_count, k, _ = p.shape
    b_count = q.shape[0]
    out = np.empty((a_count, b_count), dtype=np.float64)
    chunk = max(1, _BLOCK_BYTES // (2 * 4 * k * k))
    buf = np.empty((min(chunk, b_count), k, k), dtype=np.float32)
    logs = np.empty_like(buf)
    # m = 0 only where both p and q are 0 (masked keys): those cells must give 0 log 0 = 0.
    zeros = bool((p <= 0).any() and (q <= 0).any())
    for i in range(a_count):
        for start in range(0, b_count, chunk):
            stop = min(start + chunk, b_count)
            s, lg = buf[: stop - start], logs[: stop - start]
            np.add(q[start:stop], p[i], out=s)
            if zeros:
                np.maximum(s, np.float32(np.finfo(np.float32).tiny), out=lg)
                np.log(lg, out=lg)
            else:
                np.log(s, out=lg)
            n = stop - start  # Σ over rows and keys at once: one float32 dot product per pair
            out[i, start:stop] = (s.reshape(n, 1, k * k) @ lg.reshape(n, k * k, 1)).ravel() / k
    return out


def best_matches(divergence: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For every head of ``a``, the closest head of ``b``: from ``[La, Ha, Lb, Hb]`` divergences to
    int64 ``[La, Ha, 2]`` (its layer and head in ``b``) and float64 ``[La, Ha]`` (the divergence).
    Ties go to the lowest (layer, head). For ``b``'s heads, transpose: ``divergence.transpose(2, 3, 0, 1)``."""
    d = np.asarray(divergence, dtype=np.float64)
    la, ha, lb, hb = d.shape
    flat = d.reshape(la, ha, lb * hb)
    index = flat.argmin(axis=-1)
    return np.stack(np.divmod(index, hb), axis=-1).astype(np.int64), np.take_along_axis(flat, index[..., None], -1)[..., 0]
