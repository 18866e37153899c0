"""Model-view thumbnails: every layer's and head's attention, block-averaged in numpy before it travels.

The page never needs a thumbnail at full resolution: a 512-token input to a 12 x 12 model is 151 MB of
float32; its 48 x 48 thumbnails are 332 KB of uint8. Pure functions, no widget.

Message pair (see ``docs/DESIGN.md``):

- page -> Python: ``{"type": "thumbnails", "revision": r, "size": S}``
- Python -> page: ``{"type": "thumbnails", "revision": r, "size": s, "n": N, "downsampled": bool,
  "dtype": "uint8", "shape": [L, H, s, s], "scales": [L * H floats]}`` and ONE buffer, C order.
  ``s = min(S, N)``. Thumbnail ``k = l * H + h`` decodes as ``byte / 255 * scales[k]``; its scale is its
  own maximum, so ``byte / 255`` is the thumbnail normalised to its maximum (what the page draws).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "DEFAULT_SIZE",
    "MAX_SIZE",
    "MIN_SIZE",
    "block_edges",
    "decode_thumbnails",
    "downsample",
    "encode_thumbnails",
    "reply_to_thumbnails",
]

MIN_SIZE = 4
MAX_SIZE = 256
DEFAULT_SIZE = 48


def block_edges(n: int, size: int) -> np.ndarray:
    """``size + 1`` edges splitting ``n`` tokens into ``size`` contiguous, non-empty blocks:
    block ``b`` holds tokens ``floor(b * n / size) .. floor((b + 1) * n / size) - 1`` (``size <= n``)."""
    if not 0 < size <= n:
        raise ValueError(f"cannot split {n} tokens into {size} blocks")
    return (np.arange(size + 1, dtype=np.int64) * n) // size


def downsample(attention: np.ndarray, size: int) -> np.ndarray:
    """Block-average the last two axes (``[..., N, N]``) to ``[..., s, s]`` with ``s = min(size, N)``.

    Cell ``(a, b)`` is the mean of the attention of the queries in block ``a`` over the keys in block
    ``b`` (blocks from :func:`block_edges`). For ``N <= size`` the array comes back unchanged (float32).
    Accumulates in float64; returns a new C-contiguous float32 array.
    """
    a = np.asarray(attention)
    if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
        raise ValueError(f"attention must end in two equal axes [..., N, N], got shape {a.shape}")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"size must be a positive int, got {size!r}")
    n = a.shape[-1]
    if n <= size:
        return np.array(a, dtype=np.float32, order="C")
    edges = block_edges(n, int(size))
    starts = edges[:-1]
    counts = np.diff(edges).astype(np.float64)
    lead = a.shape[:-2]
    flat = a.reshape((-1, n, n))
    out = np.empty((flat.shape[0], len(starts), len(starts)), dtype=np.float32)
    norm = np.outer(counts, counts)
    for k in range(flat.shape[0]):  # one [N, N] at a time: float64 scratch stays small
        m = flat[k].astype(np.float64)
        m = np.add.reduceat(m, starts, axis=1)
        m = np.add.reduceat(m, starts, axis=0)
        out[k] = m / norm
    return out.reshape(lead + out.shape[1:])


def encode_thumbnails(thumbs: np.ndarray, dtype: str = "uint8") -> tuple[dict[str, Any], memoryview]:
    """``[L, H, s, s]`` -> ``(meta, buffer)``. ``uint8``: one scale per thumbnail (its maximum,
    1.0 for an all-zero one) in ``meta["scales"]`` (flat, ``l * H + h``); ``float16``/``float32``: raw."""
    a = np.asarray(thumbs, dtype=np.float32)
    if a.ndim != 4:
        raise ValueError(f"thumbnails must be [layers, heads, s, s], got shape {a.shape}")
    meta: dict[str, Any] = {"dtype": dtype, "shape": [int(d) for d in a.shape]}
    if dtype == "uint8":
        scales = a.reshape(a.shape[0] * a.shape[1], -1).max(axis=1) if a.size else np.ones(a.shape[0] * a.shape[1])
        scales = np.where(scales > 0, scales, 1.0).astype(np.float64)
        q = np.clip(a / scales.reshape(a.shape[0], a.shape[1], 1, 1).astype(np.float32), 0.0, 1.0)
        out = np.rint(q * 255.0).astype(np.uint8)
        meta["scales"] = [float(s) for s in scales]
    elif dtype == "float16":
        out = np.ascontiguousarray(a, dtype="<f2")
    elif dtype == "float32":
        out = np.ascontiguousarray(a, dtype="<f4")
    else:
        raise ValueError(f"unknown thumbnail encoding {dtype!r}; expected 'uint8', 'float16' or 'float32'")
    return meta, memoryview(np.ascontiguousarray(out).reshape(-1).view(np.uint8))


def decode_thumbnails(meta: dict[str, Any], buffer: bytes | memoryview) -> np.ndarray:
    """Inverse of :func:`encode_thumbnails` (float32 ``[L, H, s, s]``), for tests."""
    shape = tuple(meta["shape"])
    dtype = meta["dtype"]
    if dtype == "uint8":
        raw = np.frombuffer(buffer, dtype=np.uint8).reshape(shape).astype(np.float32) / 255.0
        scales = np.asarray(meta["scales"], dtype=np.float32).reshape(shape[0], shape[1], 1, 1)
        return raw * scales
    if dtype == "float16":
        return np.frombuffer(buffer, dtype="<f2").reshape(shape).astype(np.float32)
    if dtype == "float32":
        return np.frombuffer(buffer, dtype="<f4").reshape(shape).copy()
    raise ValueError(f"unknown thumbnail encoding {dtype!r}")


def _size_from(content: dict[str, Any]) -> int:
    size = content.get("size", DEFAULT_SIZE)
    if isinstance(size, bool) or not isinstance(size, int) or not MIN_SIZE <= size <= MAX_SIZE:
        raise ValueError(f"thumbnail size must be an int in {MIN_SIZE}..{MAX_SIZE}, got {size!r}")
    return size


def reply_to_thumbnails(
    attention: np.ndarray, revision: int, content: dict[str, Any], dtype: str = "uint8"
) -> tuple[dict[str, Any] | None, list[memoryview]]:
    """Answer ``{"type": "thumbnails", "revision": r, "size": S}``(the request queue refuses older revisions)."""
    size = _size_from(content)
    n = int(attention.shape[-1])
    thumbs = downsample(attention, size)
    meta, buffer = encode_thumbnails(thumbs, dtype)
    reply = {
        "type": "thumbnails",
        "revision": revision,
        "size": int(thumbs.shape[-1]),
        "requested": size,
        "n": n,
        "downsampled": n > size,
        **meta,
    }
    return reply, [buffer]
