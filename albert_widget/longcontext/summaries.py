"""One streaming pass over a layer's attention: each row's log-sum-exp and per-head statistics.

The pass walks the queries in chunks of rows and only ever holds ``[H, rows, keys]`` of scores, never
the whole ``[H, N, N]`` (let alone every layer's). Each chunk only looks at the keys the rows can see
(causal: up to the last row; sliding window: from the first row's window), so the work is the
triangle, not the square.
"""

from __future__ import annotations

import math
from typing import Any

from .hooks import LayerParams

__all__ = ["DEFAULT_CHUNK_ELEMENTS", "DEFAULT_CHUNK_ELEMENTS_GPU", "ROW_STATS", "layer_pass", "scores", "visible"]

#: Per-row statistics, each ``[H, N]`` float32, in this order.
ROW_STATS = ("sink", "entropy", "previous", "self", "distance")

#: Scores held at once in a chunk (float32 elements) on a CPU: 32 MB buffers. Fewer, larger chunks
#: beat cache-sized ones once the per-operation overhead counts (two busy cores: ~25 operations a
#: chunk, each a parallel region).
DEFAULT_CHUNK_ELEMENTS = 1 << 23
#: On a GPU: ~0.5 GB per buffer, so a 32k-token layer is a hundred-odd chunks, not thousands of
#: kernel launches.
DEFAULT_CHUNK_ELEMENTS_GPU = 1 << 27

_BLOCK = 64  # keys per block of the top-k prefilter
_NO_SHIFT = 60.0  # |row max| below this: exp(s) directly (exp(60) ~ 1e26, N * that still fits float32)


def scores(q: Any, k: Any, params: LayerParams) -> Any:
    """Logits ``[..., R, C]`` of float32 queries ``[..., R, d]`` against keys ``[..., C, d]``, the way
    eager attention computes them: ``(q @ k^T) * scaling``, then soft-capping if the layer has it."""
    import torch

    # The scaling folded into the product (alpha): one pass fewer over the scores than (q @ k^T) * scaling.
    zero = torch.zeros((), dtype=q.dtype, device=q.device)
    if q.dim() == 2:
        s = torch.addmm(zero, q, k.transpose(-1, -2), beta=0, alpha=params.scaling)
    else:
        s = torch.baddbmm(zero, q, k.transpose(-1, -2), beta=0, alpha=params.scaling)
    if params.softcap is not None:
        s.div_(params.softcap).tanh_().mul_(params.softcap)
    return s


def visible(rows: Any, cols: Any, sliding_window: int | None) -> Any:
    """bool ``[R, C]``: may query ``rows[i]`` see key ``cols[j]`` (causal, within the window)."""
    ok = cols[None, :] <= rows[:, None]
    if sliding_window is not None:
        # transformers' sliding_window_overlay: kv_idx > q_idx - sliding_window
        ok &= cols[None, :] > rows[:, None] - sliding_window
    return ok


def layer_pass(
    q: Any, k: Any, params: LayerParams, *, top_k: int = 4, num_sink_tokens: int = 1, chunk_elements: int | None = None
) -> dict[str, Any]:
    """Row log-sum-exp and statistics of one layer.

    ``q``: ``[H, N, d]``, ``k``: ``[KV, N, d]`` (any float dtype, any device; math in float32).
    Returns float32 tensors on ``q``'s device: ``lse`` ``[H, N]`` (with the sink logit when the layer
    has one), ``sink``/``entropy``/``previous``/``self``/``distance`` ``[H, N]`` (weight on the first
    ``num_sink_tokens`` keys, entropy in nats, weight on key ``i-1``, weight on key ``i``,
    ``sum_j w_ij (i - j)``), and ``topk_index`` int64 / ``topk_weight`` ``[H, N, top_k]`` (the
    heaviest keys of each row, heaviest first; ``-1`` / 0 where a row sees fewer keys).
    """
    import torch

    heads, n, d = q.shape
    kv = k.shape[0]
    if heads % kv:
        raise ValueError(f"{heads} query heads cannot share {kv} key heads")
    group = heads // kv
    device = q.device
    if chunk_elements is None:
        chunk_elements = DEFAULT_CHUNK_ELEMENTS if device.type == "cpu" else DEFAULT_CHUNK_ELEMENTS_GPU
    f32 = torch.float32
    qf, kf = q.to(f32), k.to(f32)
    window = params.sliding_window
    sinks = torch.tensor(params.sinks, dtype=f32, device=device)[:, None] if params.sinks is not None else None

    out = {"lse": torch.empty((heads, n), dtype=f32, device=device)}
    for name in ROW_STATS:
        out[name] = torch.empty((heads, n), dtype=f32, device=device)
    kk = max(0, int(top_k))
    out["topk_index"] = torch.full((heads, n, kk), -1, dtype=torch.int64, device=device)
    out["topk_weight"] = torch.zeros((heads, n, kk), dtype=f32, device=device)

    rows_per_chunk = max(1, min(n, chunk_elements // max(1, heads * (min(n, window) if window else n))))
    a = 0
    while a < n:
        b = min(n, a + rows_per_chunk)
        r = b - a
        c0 = max(0, a - window + 1) if window is not None else 0
        c = b - c0
        rows = torch.arange(a, b, device=device)
        cols = torch.arange(c0, b, device=device)
        # [KV, G*r, d] @ [KV, d, c]: each key head once for the query heads sharing it.
        qc = qf[:, a:b].reshape(kv, group * r, d)
        s = scores(qc, kf[:, c0:b], params).view(heads, r, c)
        # Only two column blocks can hold hidden keys: the last r (the causal triangle) and, with a
        # window, the first r (keys that left the window); elsewhere every key is visible.
        blocks = [(max(0, c - r), c)]
        if window is not None:
            blocks.insert(0, (0, min(r, c)))
        masks = [visible(rows, cols[lo:hi], window) for lo, hi in blocks]
        for (lo, hi), m in zip(blocks, masks):
            s[:, :, lo:hi].masked_fill_(~m, -math.inf)

        # Maxima of 64-key blocks: the row maximum (for a stable exp) and the top-k candidates.
        # The k heaviest keys lie in the k blocks with the largest maxima, so top-k only sorts
        # those blocks (and the ragged tail) instead of whole rows.
        full = (c // _BLOCK) * _BLOCK
        parts = []
        if full:
            bmax = s[:, :, :full].view(heads, r, full // _BLOCK, _BLOCK).amax(-1)
            parts.append(bmax.amax(-1))
        if full < c:
            parts.append(s[:, :, full:].amax(-1))
        rowmax = parts[0] if len(parts) == 1 else torch.maximum(parts[0], parts[1])
        if kk:
            cand = []
            if full:
                nb = min(kk, full // _BLOCK)
                best = torch.topk(bmax, nb, dim=-1).indices  # [H, r, nb]
                cand.append((best[..., None] * _BLOCK + torch.arange(_BLOCK, device=device)).flatten(-2))
            if full < c:
                cand.append(torch.arange(full, c, device=device).expand(heads, r, c - full))
            cand_idx = cand[0] if len(cand) == 1 else torch.cat(cand, dim=-1)
            take = min(kk, c)
            top_s, pos = torch.topk(s.gather(-1, cand_idx), take, dim=-1)
            top_j = cand_idx.gather(-1, pos)

        # exp needs no shift while every row maximum is moderate (no overflow, the row's largest
        # weight far from underflow): one pass fewer. Otherwise subtract the row maxima first.
        shift = not bool((rowmax.abs() < _NO_SHIFT).all())
        if shift:
            s.sub_(rowmax[:, :, None])
        e = torch.exp(s)
        z = e.sum(-1)
        base = rowmax if shift else torch.zeros_like(rowmax)
        if sinks is not None:
            total_z = z + torch.exp(sinks.expand(heads, r) - base)
        else:
            total_z = z
        log_z = torch.log(total_z)
        lse = base + log_z
        out["lse"][:, a:b] = lse
        inv = 1.0 / total_z
        for (lo, hi), m in zip(blocks, masks):
            s[:, :, lo:hi].masked_fill_(~m, 0.0)  # 0 * log 0 = 0 in the entropy
        # entropy = -sum_j p_j log p_j with p_j = e_j / Z and log p_j = s_j - log Z (s shifted or not)
        weighted = (e * s).sum(-1)
        out["entropy"][:, a:b] = log_z * (z * inv) - weighted * inv
        first = max(0, min(num_sink_tokens, b) - c0)
        out["sink"][:, a:b] = e[:, :, :first].sum(-1) * inv if first > 0 else 0.0
        for name, offset in (("previous", 1), ("self", 0)):
            idx = rows - offset - c0
            ok = idx >= 0
            got = e.gather(-1, idx.clamp(min=0)[None, :, None].expand(heads, r, 1)).squeeze(-1)
            out[name][:, a:b] = got * inv * ok
        # sum_j w_ij (i - j) = i * sum_j w_ij - sum_j w_ij j (the row sum is 1 unless a sink logit
        # takes its share)
        out["distance"][:, a:b] = rows.to(f32) * (z * inv) - (e @ cols.to(f32)) * inv
        if kk:
            seen = visible(rows, cols, window).sum(-1)  # keys each row sees
            keep = torch.arange(take, device=device)[None, :] < seen[:, None]
            # exp(s - lse), as block() computes every weight
            out["topk_weight"][:, a:b, :take] = torch.where(keep, torch.exp(top_s - lse[:, :, None]), 0.0)
            out["topk_index"][:, a:b, :take] = torch.where(keep, top_j + c0, -1)
        del s, e
        a = b
    return out
