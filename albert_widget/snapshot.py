"""The saved snapshot: the data of the layer on screen, kept in the widget's state.

A notebook saved with widget state (JupyterLab's "Save Widget State Automatically", nbclient's
``store_widget_state``) holds every synced trait. Reopened without the kernel that made the widget,
the page has its traits but nobody answers its requests; the ``_snapshot`` trait lets it still draw
the last layer the user looked at (head and matrix views, every head of that layer). The layer travels
as uint8 (one scale per layer, error <= scale / 510) in one binary buffer: 13 tokens x 12 heads is
2 KB, 128 tokens 192 KiB, 512 tokens 3 MiB.
"""

from __future__ import annotations

from typing import Any

from .result import AttentionResult
from .transport import encode_array

__all__ = ["SNAPSHOT_DELAY", "snapshot_of"]

#: Seconds the view must rest before the kernel refreshes the snapshot (a slider dragged across ten
#: layers sends one snapshot, not ten).
SNAPSHOT_DELAY = 1.0


def snapshot_of(result: AttentionResult, kind: str, layer: int, revision: int) -> dict[str, Any]:
    """``{revision, kind, layer, dtype: "uint8", shape [H, R, C], scale, data: bytes}`` of one layer
    of one attention kind (the reply the page would get to ``{"type": "layers", "layers": [layer]}``)."""
    attention = result.attention_of(kind if kind in result.kinds else "encoder")
    layer = min(max(int(layer), 0), attention.shape[0] - 1)
    meta, buffer = encode_array(attention[layer], "uint8")
    return {"revision": int(revision), "kind": kind, "layer": layer, **meta, "data": bytes(buffer)}
