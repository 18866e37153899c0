"""The picture a notebook keeps for readers that run no widget JavaScript.

A widget's display bundle holds ``application/vnd.jupyter.widget-view+json`` (JupyterLab, Notebook 7
and VS Code draw the live widget from it) and ``text/plain``. Repository hosts' notebook previews,
nbviewer and ``nbconvert --to html/markdown/pdf`` show none of that; they show the first image they
find. :func:`fallback_png` draws the view the user chose as a small PNG for them: the same figure as
``w.save`` (:mod:`.figures`), 4.5 in wide at 80 dpi (360 px), reduced to a 32-colour palette, so that
it adds tens of KiB to a notebook, not hundreds. No script, no CDN: an ``<img>`` in every renderer.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

from ..names import FIGURE_VIEWS
from ..result import AttentionResult
from .figures import figure_bytes

__all__ = ["FALLBACK_COLOURS", "FALLBACK_DPI", "FALLBACK_WIDTH", "HEAD_MIN_THRESHOLD", "fallback_options", "fallback_png"]

FALLBACK_WIDTH = 4.5  # inches
FALLBACK_DPI = 80
FALLBACK_COLOURS = 32
#: The head view's faintest line in the picture: fainter lines barely show at 360 px and
#: would cost most of the bytes at long inputs.
HEAD_MIN_THRESHOLD = 0.1


def fallback_options(choices: Mapping[str, Any], num_heads: int) -> dict[str, Any]:
    """The widget's choices (``view``, ``layer``, ``head``, ``heads``, ``head_reduce``, ``threshold``)
    -> keyword arguments of :func:`.figures.figure`. Views without a figure (neuron, explain) are
    shown as the matrix of the same layer and head."""
    view = choices.get("view", "matrix")
    view = view if view in FIGURE_VIEWS else "matrix"
    heads = [h for h in choices.get("heads") or [] if 0 <= h < num_heads] or None
    reduce = choices.get("head_reduce", "none")
    threshold = float(choices.get("threshold", 0.0))
    return {
        "view": view,
        "layer": int(choices.get("layer", 0)),
        "head": int(choices.get("head", 0)),
        "heads": heads if view == "head" or reduce != "none" else None,
        "head_reduce": reduce if view != "model" else "none",
        "threshold": max(threshold, HEAD_MIN_THRESHOLD) if view == "head" else threshold,
        "width": FALLBACK_WIDTH,
        "dpi": FALLBACK_DPI,
    }


def fallback_png(result: AttentionResult, choices: Mapping[str, Any]) -> bytes:
    """PNG bytes (palette, ``FALLBACK_COLOURS`` colours, 360 px wide) of the view ``choices`` name."""
    from PIL import Image  # a dependency of matplotlib

    png = figure_bytes(result, "png", **fallback_options(choices, result.num_heads))
    # No dithering: it would scatter noise over flat areas and lines, which compresses badly.
    rgb = Image.open(io.BytesIO(png)).convert("RGB")
    image = rgb.quantize(FALLBACK_COLOURS, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    out = io.BytesIO()
    image.save(out, format="png", optimize=True)
    return out.getvalue()
