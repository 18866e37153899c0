"""The neuron view as a vector figure: for one layer, head and query token ``i``, the query vector
``q_i`` [d], every key ``k_j`` [N, d], their elementwise products ``q_i ⊙ k_j`` [N, d], the scores
``q_i · k_j × scaling`` [N] and the softmax [N] (the attention row the page shows), side by side with
the key tokens as row labels, as the page's neuron view draws them.

Vectors and scores use a diverging colour map centred on 0 (blue negative, red positive, one scale per
panel, as the page's neuron-math.js divergingRgb); the softmax uses the figures' colour map.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .figures import (
    AXIS_TEXT_COLOUR,
    DEFAULT_FONT_SIZE,
    MASK_COLOUR,
    SPECIAL_COLOUR,
    _labels,
    _new_figure,
    _style,
    resolve_cmap,
    resolve_width,
)

__all__ = ["default_query", "neuron_figure"]

_PT = 1 / 72
DIVERGING = "RdBu_r"


def default_query(special: Sequence[bool]) -> int:
    """The query token the page's neuron view opens on when none was chosen: the first that is not
    special (``defaultQuery`` in js/src/views/neuron-math.js)."""
    return next((i for i, s in enumerate(special) if not s), 0)


def neuron_figure(
    row: dict[str, Any],
    tokens: Sequence[str],
    special: Sequence[bool],
    *,
    layer: int,
    head: int,
    query: int,
    scaling: float,
    width: str | float = "double",
    dpi: float = 300,
    cmap: Any = "viridis",
    prettify_tokens: bool = True,
    font_size: float | None = None,
    rc: dict | None = None,
):
    """A :class:`matplotlib.figure.Figure` of one neuron view. ``row`` is what
    :func:`albert_widget.neuron.neuron_row` returns (``q`` [d], ``keys`` [N, d], ``scores`` [N],
    ``softmax`` [N], ``masked`` key indices); ``tokens``/``special`` the N key tokens."""
    size = DEFAULT_FONT_SIZE if font_size is None else float(font_size)
    with _style(size, rc):
        return _draw(
            row,
            list(tokens),
            list(special),
            layer,
            head,
            query,
            scaling,
            resolve_width(width),
            float(dpi),
            resolve_cmap(cmap),
            prettify_tokens,
            size,
        )


def _draw(row, tokens, special, layer, head, query, scaling, W, dpi, cmap, prettify, size):
    from matplotlib.colors import TwoSlopeNorm

    q = np.asarray(row["q"], dtype=np.float64)
    keys = np.asarray(row["keys"], dtype=np.float64)
    scores = np.asarray(row["scores"], dtype=np.float64)
    weights = np.asarray(row["softmax"], dtype=np.float64)
    masked = {int(j) for j in row.get("masked", [])}
    n, d = keys.shape
    products = keys * q[None, :]
    labels = _labels(tokens, prettify, 16, None)
    title = f"Layer {layer}, head {head}, query {query} \u201c{_labels([tokens[query]], prettify, 16, None)[0]}\u201d"
    # Layout (inches): labels | k [n x d] | q ⊙ k [n x d] | score | softmax, q above k.
    label_w = max(len(t) for t in labels) * size * 0.55 * _PT + 4 * _PT
    gap = 0.12
    bar = 0.28
    grid_w = (W - label_w - 3 * gap - 2 * bar - 0.1) / 2
    cell = min(grid_w / d, 0.18)
    grid_w = cell * d
    row_h = max(cell, size * 1.3 * _PT)
    top = (size + 1) * 1.3 * _PT * 2 + 4 * _PT + row_h + 0.05 + size * 1.4 * _PT
    bottom = size * 1.5 * _PT + 0.2
    height = top + n * row_h + bottom
    fig = _new_figure(W, height, dpi)
    H = fig.get_size_inches()[1]

    def axes(x, y, w, h, label):
        ax = fig.add_axes((x / W, y / H, w / W, h / H), label=label)
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_linewidth(0.4)
        return ax

    def diverging(values):
        top_abs = float(np.max(np.abs(values))) if values.size else 1.0
        top_abs = top_abs if top_abs > 0 else 1.0
        return TwoSlopeNorm(vcenter=0.0, vmin=-top_abs, vmax=top_abs)

    x = label_w
    y0 = bottom
    grid_h = n * row_h
    panels = []
    ax_k = axes(x, y0, grid_w, grid_h, "k")
    ax_k.imshow(keys, cmap=DIVERGING, norm=diverging(keys), aspect="auto", interpolation="none")
    panels.append((ax_k, f"keys k\u2c7c (d = {d})"))
    ax_q = axes(x, y0 + grid_h + 0.05 + size * 1.4 * _PT, grid_w, row_h, "q")
    ax_q.imshow(q[None, :], cmap=DIVERGING, norm=diverging(q), aspect="auto", interpolation="none")
    ax_q.set_title(f"query q\u1d62 (token {query})", fontsize=size, pad=2, color=AXIS_TEXT_COLOUR)
    x += grid_w + gap
    ax_p = axes(x, y0, grid_w, grid_h, "q*k")
    ax_p.imshow(products, cmap=DIVERGING, norm=diverging(products), aspect="auto", interpolation="none")
    panels.append((ax_p, "q\u1d62 \u2299 k\u2c7c"))
    x += grid_w + gap
    ax_s = axes(x, y0, bar, grid_h, "scores")
    shown_scores = np.ma.masked_array(scores, mask=[j in masked for j in range(n)])[:, None]
    ax_s.imshow(shown_scores, cmap=_with_bad(DIVERGING), norm=diverging(scores[np.isfinite(scores)]), aspect="auto", interpolation="none")
    panels.append((ax_s, "score"))
    x += bar + gap
    ax_w = axes(x, y0, bar, grid_h, "softmax")
    shown_weights = np.ma.masked_array(weights, mask=[j in masked for j in range(n)])[:, None]
    ax_w.imshow(
        shown_weights,
        cmap=cmap.with_extremes(bad=MASK_COLOUR),
        vmin=0.0,
        vmax=max(float(weights.max()), 1e-9),
        aspect="auto",
        interpolation="none",
    )
    panels.append((ax_w, "softmax"))
    for ax, name in panels:
        ax.set_xlabel(name, fontsize=size, color=AXIS_TEXT_COLOUR, labelpad=2)
    max_score = float(np.max(np.abs(scores[np.isfinite(scores)]))) if np.isfinite(scores).any() else 1.0
    for j, text in enumerate(labels):
        y = y0 + grid_h - (j + 0.5) * row_h
        colour = SPECIAL_COLOUR if special[j] else ("black" if j != query else "#B00020")
        fig.text((label_w - 3 * _PT) / W, y / H, text, ha="right", va="center", fontsize=size, color=colour)
        if j in masked:
            continue
        # numbers in the cells: white on dark cells (strong scores, low softmax weights), else black
        strong = abs(scores[j]) > 0.6 * max_score
        ax_s.text(0, j, f"{scores[j]:.2f}", ha="center", va="center", fontsize=size - 1.5, color="white" if strong else "black")
        light = weights[j] > 0.5 * weights.max()
        ax_w.text(0, j, f"{weights[j]:.3f}", ha="center", va="center", fontsize=size - 1.5, color="black" if light else "white")
    scale = f"scores = q\u1d62\u00b7k\u2c7c \u00d7 {scaling:.4g}" + ("; grey: masked keys" if masked else "")
    fig.text(0.5, 1 - 2 * _PT / H, f"{title}\n{scale}", ha="center", va="top", fontsize=size + 1)
    return fig


def _with_bad(name: str):
    return resolve_cmap(name).with_extremes(bad=MASK_COLOUR)
