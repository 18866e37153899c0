"""Which encoding the page gets for what, and exact rows for the numbers it shows.

The page chooses (``js/src/prefetch.js`` holds the twin of these rules) and Python obeys:

- **Drawing** (head lines, heatmaps): ``float32`` up to :data:`EXACT_MAX_TOKENS` tokens, so every
  number the page shows is exact; ``float16`` above that (half the bytes; a weight ``w`` in [0, 1]
  arrives as ``w'`` with ``|w - w'| <= 2**-11 * max(w, 2**-14)``, see
  :func:`albert_widget.transport.encoding_error_bound`). ``uint8`` (``byte / 255 * scale``, absolute
  error ``<= scale / 510``) is available to any caller that asks for it.
- **Reading** (the matrix tooltip): when the drawn data is not float32, the page asks for the exact
  float32 row under the pointer with ``{"type": "row", ...}`` (:func:`reply_to_row`): 4·N bytes.
- **Granularity**: a layer whose encoded size is above :data:`HEAD_CHUNK_BYTES` travels head by head
  (``{"type": "request", "layers": [l], "heads": [...]}``): a 64-head layer at 512 tokens is 67 MB in
  float32, one of its heads 0.5 MB in float16.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .names import ENCODINGS, REDUCTIONS
from .transport import _attention_for, encode_array, heads_from

__all__ = ["EXACT_MAX_TOKENS", "HEAD_CHUNK_BYTES", "drawing_encoding", "layer_bytes", "per_head", "reply_to_row"]

#: Up to this many tokens the page draws from float32 (exact); above it from float16.
EXACT_MAX_TOKENS = 128
#: A layer whose encoded attention is larger than this is requested head by head.
HEAD_CHUNK_BYTES = 4 * 1024 * 1024

_WIDTH = {"float32": 4, "float16": 2, "uint8": 1}


def drawing_encoding(num_tokens: int) -> str:
    """The encoding the page asks for to draw an input of ``num_tokens`` tokens."""
    return "float32" if num_tokens <= EXACT_MAX_TOKENS else "float16"


def layer_bytes(num_heads: int, rows: int, cols: int, dtype: str) -> int:
    """Bytes of one layer ``[H, rows, cols]`` in an encoding."""
    if dtype not in ENCODINGS:
        raise ValueError(f"unknown encoding {dtype!r}; expected one of {ENCODINGS}")
    return num_heads * rows * cols * _WIDTH[dtype]


def per_head(num_heads: int, num_tokens: int, dtype: str | None = None) -> bool:
    """Whether the page requests the layers of this shape head by head."""
    dtype = dtype or drawing_encoding(num_tokens)
    return layer_bytes(num_heads, num_tokens, num_tokens, dtype) > HEAD_CHUNK_BYTES


def reply_to_row(attention: Any, revision: int, content: dict[str, Any]) -> tuple[dict[str, Any] | None, list[memoryview]]:
    """Answer ``{"type": "row", "revision", "layer", "row", "heads": [...], "reduce": "none"|"mean"|"max"}``
    with the exact float32 row (``[N]`` keys) of one head, or the mean/max over ``heads``.

    (The request queue, :mod:`albert_widget.protocol`, has already refused another revision; a
    compact capture's rows: :func:`albert_widget.tiles.reply_to_compact_row`.)
    """
    array, kind = _attention_for(attention, content)
    layer, row, heads, reduce = _row_fields(content, array.shape[0], array.shape[1], array.shape[2])
    rows = array[layer][heads, row]  # [len(heads), N] float32 (a copy of a few rows)
    if reduce == "max":
        values = rows.max(axis=0)
    elif reduce == "mean" or len(heads) > 1:
        values = rows.mean(axis=0, dtype=np.float32)
    else:
        values = rows[0]
    meta, buffer = encode_array(values, "float32")
    reply = {"type": "row", "revision": revision, "layer": layer, "row": row, "heads": heads, "reduce": reduce, **meta}
    if kind is not None:
        reply["kind"] = kind
    return reply, [buffer]


def _row_fields(content: dict[str, Any], num_layers: int, num_heads: int, num_rows: int) -> tuple[int, int, list[int], str]:
    """The checked ``layer``, ``row``, ``heads`` and ``reduce`` of a row request."""
    layer, row = content.get("layer"), content.get("row")
    for name, value, size in (("layer", layer, num_layers), ("row", row, num_rows)):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < size:
            raise ValueError(f"a row request's {name} must be in 0..{size - 1}, got {value!r}")
    heads = heads_from(content, num_heads)
    if heads is None:
        raise ValueError("a row request must list its heads, e.g. {'heads': [0]}")
    reduce = content.get("reduce", "none")
    if reduce not in REDUCTIONS:
        raise ValueError(f"a row request's reduce must be one of {REDUCTIONS}, got {reduce!r}")
    if reduce == "none" and len(heads) != 1:
        raise ValueError("a row request without a reduction takes exactly one head")
    return layer, row, heads, reduce
