"""Arrays <-> binary buffers for the page, and replies to the page's data requests.

Pure functions: no widget, no kernel. The widget calls :func:`reply_to_request` and sends what it
returns; tests call it directly.

Encodings (``dtype`` in the message):

- ``float32``: exact; what is read (tooltips, exports).
- ``float16``: relative error <= 2**-11 (about 4.9e-4) for values in [6e-5, 1]; absolute error <= 2**-25
  below that.
- ``uint8``: value = byte / 255 * scale; absolute error <= scale / 510.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .names import ENCODINGS

__all__ = ["ENCODINGS", "decode_array", "encode_array", "encoding_error_bound", "reply_to_request"]


def encode_array(array: np.ndarray, dtype: str = "float32") -> tuple[dict[str, Any], memoryview]:
    """Encode ``array`` (any shape) as ``(meta, buffer)``; ``meta`` has dtype, shape (and scale)."""
    if dtype not in ENCODINGS:
        raise ValueError(f"unknown encoding {dtype!r}; expected one of {ENCODINGS}")
    a = np.asarray(array, dtype=np.float32)
    meta: dict[str, Any] = {"dtype": dtype, "shape": list(a.shape)}
    if dtype == "float32":
        out = np.ascontiguousarray(a, dtype="<f4")
    elif dtype == "float16":
        out = np.ascontiguousarray(a, dtype="<f2")
    else:
        scale = float(a.max()) if a.size else 1.0
        scale = scale if scale > 0 else 1.0
        meta["scale"] = scale
        out = np.ascontiguousarray(np.rint(np.clip(a / scale, 0.0, 1.0) * 255.0).astype(np.uint8))
    # Flat bytes; memoryview.cast("B") refuses arrays with a zero in their shape.
    return meta, memoryview(out.reshape(-1).view(np.uint8))


def decode_array(meta: dict[str, Any], buffer: bytes | memoryview) -> np.ndarray:
    """Inverse of :func:`encode_array` (float32 result); used by tests and the HTML export check."""
    dtype = meta["dtype"]
    shape = tuple(meta["shape"])
    if dtype == "float32":
        return np.frombuffer(buffer, dtype="<f4").reshape(shape).astype(np.float32)
    if dtype == "float16":
        return np.frombuffer(buffer, dtype="<f2").reshape(shape).astype(np.float32)
    if dtype == "uint8":
        return (np.frombuffer(buffer, dtype=np.uint8).reshape(shape).astype(np.float32) / 255.0) * float(meta["scale"])
    raise ValueError(f"unknown encoding {dtype!r}; expected one of {ENCODINGS}")


def encoding_error_bound(dtype: str, scale: float = 1.0) -> float:
    """Largest absolute error of an encoding for values in [0, scale] (scale <= 1 for float16)."""
    return {"float32": 0.0, "float16": 2.0**-11, "uint8": scale / 510.0}[dtype]


def _indices(values: Any, size: int, what: str, example: str) -> list[int]:
    """Distinct indices in ``0..size-1``, in the order asked; a clear error for anything else."""
    if not isinstance(values, list) or not values:
        raise ValueError(f"a request must list the {what}s it wants, e.g. {example}")
    out: list[int] = []
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < size:
            raise ValueError(f"requested {what} {value!r} is not in 0..{size - 1}")
        if value not in out:
            out.append(value)
    return out


def _layers_from(content: dict[str, Any], num_layers: int) -> list[int]:
    return _indices(content.get("layers"), num_layers, "layer", "{'layers': [0]}")


def _attention_for(attention: np.ndarray | Mapping[str, np.ndarray], content: dict[str, Any]) -> tuple[np.ndarray, str | None]:
    """The array a request's ``kind`` ("encoder" when absent, "decoder", "cross") asks for."""
    kind = content.get("kind")
    if kind is not None and not isinstance(kind, str):
        raise ValueError(f"a request's kind must be a string, got {kind!r}")
    if isinstance(attention, Mapping):
        key = kind or "encoder"
        if key not in attention:
            raise ValueError(f"there is no {key!r} attention; this input has {', '.join(map(repr, attention))}")
        return attention[key], kind
    if kind not in (None, "encoder"):
        raise ValueError(f"there is no {kind!r} attention; this input has only the encoder's")
    return attention, kind


def reply_to_request(
    attention: np.ndarray | Mapping[str, np.ndarray], revision: int, content: dict[str, Any], dtype: str = "float32"
) -> tuple[dict[str, Any] | None, list[memoryview]]:
    """Answer ``{"type": "request", "revision": r, "layers": [...]}`` with the layers' attention.

    Returns ``(content, buffers)`` with one buffer per layer (``[H, N, N]`` each); ``revision`` is
    echoed (the request queue, :mod:`albert_widget.protocol`, refuses any other revision first).

    ``attention`` may be one array or a mapping ``{"encoder": ..., "decoder": ..., "cross": ...}``
    (:attr:`AttentionResult.attentions`); the request's optional ``kind`` picks the array and is
    echoed in the reply (cross attention is ``[H, M, N]`` per layer: decoder x encoder tokens).
    """
    attention, kind = _attention_for(attention, content)
    layers = _layers_from(content, attention.shape[0])
    # Optional: only some heads of each layer (big layers, see encodings.py), and the page's encoding.
    heads = heads_from(content, attention.shape[1])
    dtype = dtype_from(content, dtype)
    metas_buffers = [encode_array(attention[layer] if heads is None else attention[layer][heads], dtype) for layer in layers]
    meta = dict(metas_buffers[0][0])
    meta.pop("scale", None)
    reply = {"type": "layers", "revision": revision, "layers": layers, **meta}
    if heads is not None:
        reply["heads"] = heads
        reply["num_heads"] = int(attention.shape[1])
    if kind is not None:
        reply["kind"] = kind
    if dtype == "uint8":
        reply["scales"] = [m["scale"] for m, _ in metas_buffers]
    return reply, [b for _, b in metas_buffers]


def heads_from(content: dict[str, Any], num_heads: int) -> list[int] | None:
    """The request's ``heads`` (distinct, in the order asked), or ``None`` for every head."""
    heads = content.get("heads")
    return None if heads is None else _indices(heads, num_heads, "head", "{'heads': [0]}")


def dtype_from(content: dict[str, Any], default: str = "float32") -> str:
    """The encoding a request asks for (``dtype``), or ``default``."""
    dtype = content.get("dtype", default)
    if dtype not in ENCODINGS:
        raise ValueError(f"a request's dtype must be one of {ENCODINGS}, got {dtype!r}")
    return dtype
