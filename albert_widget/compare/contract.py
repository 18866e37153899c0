"""CompareWidget's page-kernel contract: the request types its page sends (same form and rules as
:data:`albert_widget.protocol.REQUESTS`; the page's twin is ``js/src/compare/contract.d.ts``).

- ``side``: one head of one side on its own tokens, float32 ``[N, N]``.
- ``difference``: Δ = right − left on the compared slots, and both sides' aligned rows, three
  float32 ``[S, S]`` buffers (NaN in the rows and columns of a word on one side only).
- ``matching``: the head divergence ``[La, Ha, Lb, Hb]`` (float32) and each side's closest heads.
"""

from __future__ import annotations

from ..protocol import Contract

__all__ = ["COMPARE_REQUESTS", "SIDES"]

SIDES = ("left", "right")
_INT = (int,)
_STR = (str,)
COMPARE_REQUESTS: Contract = {
    "side": {"revision": (_INT, True), "side": (_STR, True), "layer": (_INT, True), "head": (_INT, True)},
    "difference": {
        "revision": (_INT, True),
        "left_layer": (_INT, True),
        "left_head": (_INT, True),
        "right_layer": (_INT, True),
        "right_head": (_INT, True),
    },
    "matching": {"revision": (_INT, True)},
}
