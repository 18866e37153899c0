"""Compare figures for papers: the difference matrix and the head-matching grid as SVG, PDF or PNG.

Same publication and determinism settings as :mod:`albert_widget.export.figures` (its style, its
renderer, its token text rules): the same input gives the same bytes, SVG text stays text.
"""

from __future__ import annotations

import math
import os
from os import PathLike
from typing import TYPE_CHECKING, Any

import numpy as np

from ..analysis.compare import best_matches
from ..export.figures import (
    AXIS_TEXT_COLOUR,
    DEFAULT_FONT_SIZE,
    _format_of,
    _new_figure,
    _render,
    _style,
    _visible,
    prettify_token,
    resolve_width,
)

if TYPE_CHECKING:
    from .widget import CompareWidget

__all__ = ["COMPARE_FIGURES", "compare_figure", "compare_html", "save_compare_figure"]

COMPARE_FIGURES = ("difference", "match")
ONE_SIDED_COLOUR = "#969696"  # cells of a word on one side only (as the page's mask grey)
_PT = 1 / 72


def _slot_labels(widget: CompareWidget) -> list[str]:
    """Slot labels: the left side's word, a one-sided word marked "(left only)" / "(right only)"."""
    out = []
    for slot in widget.aligned.slots:
        text = " ".join(prettify_token(piece) for piece in slot.label.split(" "))
        out.append(_visible(text if slot.side == "both" else f"{text} ({slot.side} only)"))
    return out


def _difference_figure(widget: CompareWidget, width: float, dpi: float, font_size: float):
    from matplotlib import colormaps

    parts = widget.difference()
    delta = parts["delta"]
    finite = np.abs(delta[np.isfinite(delta)])
    m = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    labels = _slot_labels(widget)
    n = len(labels)
    # tick labels (about 0.55 em a character) + the axis label and pads
    margin = min(0.45 * width, (max(len(s) for s in labels) * 0.55 * font_size + font_size * 1.25 + 10) * _PT)
    bar = 0.9
    side = width - margin - bar
    note_h = 3 * font_size * _PT
    height = 0.35 + side + margin + note_h
    fig = _new_figure(width, height, dpi)
    ax = fig.add_axes((margin / width, (margin + note_h) / height, side / width, side / height), label="difference")
    cmap = colormaps["RdBu_r"].with_extremes(bad=ONE_SIDED_COLOUR)
    image = ax.imshow(np.ma.masked_invalid(delta), cmap=cmap, vmin=-m, vmax=m, interpolation="none", aspect="auto")
    step = max(1, math.ceil(font_size * 1.1 / (side / _PT / max(n, 1))))
    shown = list(range(0, n, step))
    ax.set_xticks(shown, [labels[i] for i in shown], rotation=90, fontsize=font_size)
    ax.set_yticks(shown, [labels[i] for i in shown], fontsize=font_size)
    ax.set_xlabel("key", fontsize=font_size, color=AXIS_TEXT_COLOUR)
    ax.set_ylabel("query", fontsize=font_size, color=AXIS_TEXT_COLOUR)
    cax = fig.add_axes(((margin + side + 0.08) / width, (margin + note_h) / height, 0.09 / width, side / height), label="colorbar")
    cb = fig.colorbar(image, cax=cax)
    cb.set_ticks([-m, 0.0, m], labels=[f"\u2212{m:.3g}", "0", f"+{m:.3g}"])
    cb.ax.tick_params(labelsize=font_size - 1)
    cb.set_label("Δ = right − left", fontsize=font_size)
    w = widget
    fig.text(
        0.5,
        1 - 0.05 / height,
        f"Δ attention: right L{w.right_layer} H{w.right_head} − left L{w.left_layer} H{w.left_head}",
        ha="center",
        va="top",
        fontsize=font_size + 1,
    )
    fig.text(0.01, 0.01, _visible(widget.aligned.note()), ha="left", va="bottom", fontsize=font_size - 1, color=AXIS_TEXT_COLOUR, wrap=True)
    return fig


def _match_figure(widget: CompareWidget, width: float, dpi: float, font_size: float, side: str):
    d = widget.divergence()
    if side == "right":
        d = d.transpose(2, 3, 0, 1)
    best, value = best_matches(d)
    layers, heads = value.shape
    similarity = 1.0 - value / math.log(2)
    low = float(similarity.min()) if similarity.min() < 1 else 0.0  # as the page: the shown range, up to 1
    margin = 0.45
    cell = (width - margin - 0.9) / heads
    height = 0.4 + layers * cell + margin
    fig = _new_figure(width, height, dpi)
    ax = fig.add_axes((margin / width, margin / height, heads * cell / width, layers * cell / height), label="match")
    image = ax.imshow(similarity, cmap="viridis", vmin=low, vmax=1.0, interpolation="none", aspect="auto")
    text_size = max(3.5, min(font_size - 1, cell / _PT / 4.2))
    for la in range(layers):
        for ha in range(heads):
            colour = "black" if (similarity[la, ha] - low) / (1 - low or 1) > 0.55 else "white"
            ax.text(ha, la, f"{best[la, ha, 0]}·{best[la, ha, 1]}", ha="center", va="center", fontsize=text_size, color=colour)
    ax.set_xticks(range(heads), [str(h) for h in range(heads)], fontsize=font_size - 1)
    ax.set_yticks(range(layers), [str(la) for la in range(layers)], fontsize=font_size - 1)
    ax.set_xlabel(f"{side} head", fontsize=font_size, color=AXIS_TEXT_COLOUR)
    ax.set_ylabel(f"{side} layer", fontsize=font_size, color=AXIS_TEXT_COLOUR)
    cax = fig.add_axes(((margin + heads * cell + 0.08) / width, margin / height, 0.09 / width, layers * cell / height), label="colorbar")
    cb = fig.colorbar(image, cax=cax)
    cb.ax.tick_params(labelsize=font_size - 1)
    cb.set_label("similarity 1 − JSD / ln 2", fontsize=font_size)
    other = "left" if side == "right" else "right"
    fig.text(
        0.5,
        1 - 0.05 / height,
        f"Closest {other} head (layer·head) of each {side} head, by JSD",
        ha="center",
        va="top",
        fontsize=font_size + 1,
    )
    return fig


def compare_figure(
    widget: CompareWidget,
    *,
    view: str = "difference",
    side: str = "left",
    width: Any = "single",
    dpi: float = 300,
    font_size: float = DEFAULT_FONT_SIZE,
):
    """A :class:`matplotlib.figure.Figure` of the difference (of the heads the widget shows) or of the
    head-matching grid (``side``'s heads, each with its closest head on the other side)."""
    if view not in COMPARE_FIGURES:
        raise ValueError(f"view must be one of {', '.join(COMPARE_FIGURES)}, got {view!r}")
    if side not in ("left", "right"):
        raise ValueError(f"side must be 'left' or 'right', got {side!r}")
    w = resolve_width(width)
    if view == "difference":
        return _difference_figure(widget, w, dpi, font_size)
    return _match_figure(widget, w, dpi, font_size, side)


def save_compare_figure(
    widget: CompareWidget,
    path: str | PathLike,
    *,
    view: str = "difference",
    side: str = "left",
    width: Any = "double",
    dpi: float = 300,
    font_size: float = DEFAULT_FONT_SIZE,
    rc: dict | None = None,
) -> int:
    """Write :func:`compare_figure` as ``.svg``, ``.pdf`` or ``.png`` (deterministic bytes); returns
    the number of bytes written."""
    path = os.fspath(path)
    fmt = _format_of(path, None)
    if fmt == "pgf":
        raise ValueError("compare figures are written as .svg, .pdf or .png")
    with _style(font_size, rc):
        fig = compare_figure(widget, view=view, side=side, width=width, dpi=dpi, font_size=font_size)
        data = _render(fig, fmt, dpi)
    with open(path, "wb") as f:
        f.write(data)
    return len(data)


def _svg_text(widget: CompareWidget, **options: Any) -> str:
    """One compare figure as SVG text, without the XML prologue (for inlining in HTML)."""
    with _style(options.get("font_size", DEFAULT_FONT_SIZE), None):
        data = _render(compare_figure(widget, **options), "svg", options.get("dpi", 300)).decode("utf-8")
    return data[data.index("<svg") :]


def compare_html(widget: CompareWidget, *, title: str | None = None) -> str:
    """One offline HTML page: the two sides' labels, the alignment note, the difference figure of the
    heads shown and both head-matching grids, as inline vector SVG (text stays text). No script runs in
    it (its Content-Security-Policy allows none) and nothing loads from anywhere; token text is escaped
    by the SVG writer, labels by :func:`html.escape`."""
    import html

    esc = html.escape
    heading = title if title is not None else "Attention comparison"
    figures = [
        ("Difference", _svg_text(widget, view="difference", width="double")),
        ("Head matching: left heads", _svg_text(widget, view="match", side="left", width="double")),
        ("Head matching: right heads", _svg_text(widget, view="match", side="right", width="double")),
    ]
    csp = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
    body = "\n".join(f"<section><h2>{esc(name)}</h2>\n{svg}</section>" for name, svg in figures)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">\n'
        f"<title>{esc(heading)}</title>\n"
        "<style>body{font:14px system-ui,sans-serif;margin:24px;max-width:1000px}svg{max-width:100%;height:auto}"
        "p{color:#555}</style>\n</head>\n<body>\n"
        f"<h1>{esc(heading)}</h1>\n<p>left: {esc(widget.left_label)}<br>right: {esc(widget.right_label)}</p>\n"
        f"<p>{esc(widget.aligned.note())}</p>\n{body}\n</body>\n</html>\n"
    )
