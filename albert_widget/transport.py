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

from typing import Any, Iterable

import numpy as np

__all__ = ["encode_array", "decode_array", "reply_to_request", "ENCODINGS", "encoding_error_bound"]

ENCODINGS = ("float32", "float16", "uint8")


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


def _layers_from(content: dict[str, Any], num_layers: int) -> list[int]:
    layers = content.get("layers")
    if not isinstance(layers, list) or not layers:
        raise ValueError("a request must list the layers it wants, e.g. {'layers': [0]}")
    out: list[int] = []
    for layer in layers:
        if isinstance(layer, bool) or not isinstance(layer, int) or not 0 <= layer < num_layers:
            raise ValueError(f"requested layer {layer!r} is not in 0..{num_layers - 1}")
        if layer not in out:
            out.append(layer)
    return out


def reply_to_request(
    attention: np.ndarray, revision: int, content: dict[str, Any], dtype: str = "float32"
) -> tuple[dict[str, Any] | None, list[memoryview]]:
    """Answer ``{"type": "request", "revision": r, "layers": [...]}`` with the layers' attention.

    Returns ``(content, buffers)`` with one buffer per layer (``[H, N, N]`` each), or ``(None, [])``
    when the request is for an older revision (the page will ask again).
    """
    if content.get("revision") != revision:
        return None, []
    layers = _layers_from(content, attention.shape[0])
    metas_buffers = [encode_array(attention[layer], dtype) for layer in layers]
    meta = dict(metas_buffers[0][0])
    meta.pop("scale", None)
    reply = {"type": "layers", "revision": revision, "layers": layers, **meta}
    if dtype == "uint8":
        reply["scales"] = [m["scale"] for m, _ in metas_buffers]
    return reply, [b for _, b in metas_buffers]


def message_bytes(content: dict[str, Any], buffers: Iterable[memoryview]) -> int:
    """Bytes a message puts on the wire (JSON content + binary buffers), for accounting."""
    import json

    return len(json.dumps(content).encode()) + sum(memoryview(b).nbytes for b in buffers)
