"""The explain view as a vector figure: the chosen method's map as the page shows it (rollout, flow,
norm-weighted attention ``[N, N]``: rows = top positions or queries, columns = input tokens or keys;
relevancy: one row ``[N]``), on the page's colour scale (viridis from ``min(0, lowest)`` to the
highest value, js/src/views/explain.js), its colour bar, and the head-summary grids (one per
statistic, layers x heads, each on its own scale from its lowest to its highest value, the chosen
statistic first and larger, js/src/views/summary.js).

Values come from :mod:`albert_widget.explain` (the one place that computes what the view shows):
:func:`~albert_widget.explain.explain_view` and :func:`~albert_widget.explain.head_stats_array`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..explain import ExplainSource, explain_scope, explain_view, head_stats_array
from ..result import AttentionResult
from .figures import (
    AXIS_TEXT_COLOUR,
    DEFAULT_FONT_SIZE,
    SPECIAL_COLOUR,
    _labels,
    _Measure,
    _new_figure,
    _style,
    resolve_cmap,
    resolve_width,
)

__all__ = ["METHOD_TITLES", "STAT_LABELS", "explain_figure", "explain_figure_of_state", "short_number"]

_PT = 1 / 72

#: The methods as the page's selector names them (js/src/views/explain-math.js METHOD_LABELS).
METHOD_TITLES = {
    "rollout": "Rollout",
    "flow": "Attention flow",
    "relevancy": "Relevancy (gradient)",
    "norm": "Norm-weighted attention",
}
#: The statistics as the head-summary panel names them (js/src/views/explain-math.js STAT_LABELS).
STAT_LABELS = {
    "to_cls": "\u2192 [CLS]",
    "to_sep": "\u2192 [SEP]",
    "to_punct": "\u2192 punctuation",
    "to_self": "\u2192 self",
    "to_prev": "\u2192 previous",
    "to_next": "\u2192 next",
    "entropy": "entropy (nats)",
    "distance": "distance (tokens)",
}
#: The corner caption of a square map (the page's explain view).
CORNERS = {"norm": "query \u2193  key \u2192"}
DEFAULT_CORNER = "top position \u2193  input token \u2192"


def range_numbers(lo: float, hi: float) -> tuple[str, str]:
    """The two ends of a range written alike, the page's ``rangeNumbers``: the decimals that give the
    larger end 3 significant digits (``0.000 … 0.635``); below 0.001 or from 999.5 up,
    :func:`short_number` for both."""
    lo, hi = float(lo), float(hi)
    top = max(abs(lo), abs(hi))
    if not np.isfinite(top) or top == 0 or top < 0.001 or top >= 999.5:
        return short_number(lo), short_number(hi)
    decimals = max(0, 2 - int(np.floor(np.log10(top))))

    def fixed(v: float) -> str:
        text = f"{v:.{decimals}f}"
        return text[1:] if text.startswith("-") and float(text) == 0 else text  # no "-0.000"

    return fixed(lo), fixed(hi)


def short_number(v: float) -> str:
    """One way for every number, the page's ``shortNumber`` (js/src/views/explain-math.js): 3
    significant digits, plain from 0.001 to 999 (``0.500``, ``12.3``), else ``6.18e-6`` / ``1.23e+3``
    (JavaScript's toPrecision(3) / toExponential(2))."""
    v = float(v)
    if not np.isfinite(v):
        return str(v)
    a = abs(v)
    if a == 0:
        return "0"
    if a < 0.001 or a >= 999.5:
        mantissa, exponent = f"{v:.2e}".split("e")
        e = int(exponent)
        return f"{mantissa}e{'+' if e >= 0 else '-'}{abs(e)}"
    return f"{v:#.3g}".rstrip(".")


def _range(values: np.ndarray) -> tuple[float, float]:
    """``[lo, hi]`` of the finite values, never empty (hi > lo): the page's ``range``."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return 0.0, 1.0
    lo, hi = float(finite.min()), float(finite.max())
    return (lo, hi) if hi > lo else (lo, lo + 1.0)


def explain_figure(
    values: np.ndarray,
    tokens: Sequence[str],
    special: Sequence[bool],
    *,
    method: str,
    note: str,
    scope: str,
    stats: np.ndarray | None = None,
    statistics: Sequence[str] = tuple(STAT_LABELS),
    first_stat: str | None = None,
    layer_numbers: Sequence[int] | None = None,
    head_numbers: Sequence[int] | None = None,
    prettify_tokens: bool = True,
    width: str | float = "double",
    dpi: float = 300,
    cmap: Any = "viridis",
    font_size: float | None = None,
    rc: dict | None = None,
):
    """A :class:`matplotlib.figure.Figure` of the explain view. ``values``: float ``[N, N]`` or ``[N]``
    (what :func:`~albert_widget.explain.explain_view` returns), ``tokens``/``special`` the N input
    tokens; ``stats``: float ``[S, L, H]`` of :func:`~albert_widget.explain.head_stats_array` in the
    order of ``statistics`` (None: no grids). ``scope`` names what the map covers
    (:func:`~albert_widget.explain.explain_scope`)."""
    size = DEFAULT_FONT_SIZE if font_size is None else float(font_size)
    values = np.asarray(values, dtype=np.float64)
    n = len(tokens)
    if values.shape not in ((n, n), (n,)):
        raise ValueError(f"values must be [N, N] or [N] for N = {n} tokens, got {values.shape}")
    if method not in METHOD_TITLES:
        raise ValueError(f"method must be one of {', '.join(METHOD_TITLES)}, got {method!r}")
    with _style(size, rc):
        return _draw(
            values,
            list(tokens),
            [bool(s) for s in special],
            method,
            note,
            scope,
            stats,
            list(statistics),
            first_stat,
            layer_numbers,
            head_numbers,
            prettify_tokens,
            resolve_width(width),
            float(dpi),
            resolve_cmap(cmap),
            size,
        )


def _draw(
    values, tokens, special, method, note, scope, stats, statistics, first, layer_numbers, head_numbers, prettify, W, dpi, cmap, size
):
    measure = _Measure()
    labels = _labels(tokens, prettify, 20, None)
    n = len(tokens)
    as_row = values.ndim == 1
    matrix = values[None, :] if as_row else values
    lo0, hi = _range(matrix)
    lo = min(0.0, lo0)  # the page's scale: from min(0, lowest) to the highest value
    title = f"{METHOD_TITLES[method]} \u00b7 {scope}"
    label_w = (measure.width(labels, size) + 4) * _PT
    corner = CORNERS.get(method, DEFAULT_CORNER).split("  ")  # two lines: it must fit above the row labels
    row_w = label_w if not as_row else (measure.width(["relevance"], size) + 4) * _PT
    if not as_row:
        row_w = max(row_w, (measure.width(corner, size - 1) + 6) * _PT)
    line_h = size * 1.35 * _PT
    title_h = line_h * 2.4
    top = title_h + label_w + 0.05
    # cells: as wide as the figure allows, at most 0.2 in, at least one label line tall
    cell = min(0.2, (W - row_w - 0.2) / n)
    cell = max(cell, min(0.2, size * 1.05 * _PT))
    plot_w = cell * n
    plot_h = cell * matrix.shape[0]
    bar_h = 0.08 + line_h * 1.6
    grids_h = 0.0
    layout: list[tuple[str, float, float, float, float]] = []
    if stats is not None:
        _, L, H = stats.shape
        order = ([first] if first in statistics else []) + [s for s in statistics if s != first]
        x, y, row_h = 0.0, 0.0, 0.0
        for k, name in enumerate(order):
            c = (0.13 if k == 0 else 0.07) * max(0.6, min(1.0, 12 / max(H, 1)))
            gw = max(H * c, (measure.width([STAT_LABELS.get(name, name)], size) + 2) * _PT)
            gh = line_h + L * c + line_h
            if x > 0 and x + gw > W - 0.2:
                x, y, row_h = 0.0, y + row_h + 0.12, 0.0
            layout.append((name, x, y, c, gh))
            x += gw + 0.18
            row_h = max(row_h, gh)
        grids_h = line_h * 1.8 + y + row_h + 0.05
    height = top + plot_h + bar_h + grids_h + 0.1
    fig = _new_figure(W, height, dpi)
    Hh = fig.get_size_inches()[1]

    def axes(x, y_top, w, h, label):
        ax = fig.add_axes((x / W, (Hh - y_top - h) / Hh, w / W, h / Hh), label=label)
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_linewidth(0.4)
        return ax

    fig.text(0.1 / W, 1 - 0.05 / Hh, title, ha="left", va="top", fontsize=size + 2, fontweight="bold")
    fig.text(0.1 / W, 1 - (0.05 + line_h * 1.3) / Hh, note, ha="left", va="top", fontsize=size - 0.5, color=AXIS_TEXT_COLOUR)
    x0 = 0.1 + row_w
    ax = axes(x0, top, plot_w, plot_h, "explain")
    image = ax.imshow(matrix, cmap=cmap, vmin=lo, vmax=hi if hi > lo else lo + 1, aspect="auto", interpolation="none")
    ax.set_xticks(range(n), labels, rotation=90, fontsize=size)
    ax.xaxis.tick_top()
    if as_row:
        ax.set_yticks([0], ["relevance"], fontsize=size)
    else:
        ax.set_yticks(range(n), labels, fontsize=size)
        fig.text(
            (x0 - 0.03) / W, 1 - (top - 0.03) / Hh, "\n".join(corner), ha="right", va="bottom", fontsize=size - 1, color=AXIS_TEXT_COLOUR
        )
    for ticks in (ax.get_xticklabels(), ax.get_yticklabels() if not as_row else []):
        for t, is_special in zip(ticks, special, strict=False):
            if is_special:
                t.set_color(SPECIAL_COLOUR)
                t.set_fontstyle("italic")
    # colour bar: lowest value, ramp, highest value, as the page writes them
    bar_y = top + plot_h + 0.08
    lo_text, hi_text = range_numbers(lo, hi)
    lo_w = (measure.width([lo_text], size) + 3) * _PT
    cax = axes(x0 + lo_w, bar_y, min(1.6, W - x0 - lo_w - 0.8), line_h, "colorbar")
    cax.imshow(np.linspace(0, 1, 256)[None, :], cmap=cmap, aspect="auto", interpolation="none")
    bar_mid = 1 - (bar_y + line_h / 2) / Hh
    fig.text(x0 / W, bar_mid, lo_text, ha="left", va="center", fontsize=size, color=AXIS_TEXT_COLOUR)
    right = x0 + lo_w + min(1.6, W - x0 - lo_w - 0.8) + 3 * _PT
    fig.text(right / W, bar_mid, hi_text, ha="left", va="center", fontsize=size, color=AXIS_TEXT_COLOUR)
    fig.texts[-1].set_gid("explain-max")
    fig.texts[-2].set_gid("explain-min")
    image.set_gid("explain-map")

    if stats is not None:
        _, L, H = stats.shape

        def own(numbers, i):
            return int(numbers[i]) if numbers is not None and 0 <= i < len(numbers) else i

        y0 = bar_y + line_h + 0.12
        caption = (
            f"Head summary (this input): rows are layers {own(layer_numbers, 0)}\u2013{own(layer_numbers, L - 1)}, "
            f"columns heads {own(head_numbers, 0)}\u2013{own(head_numbers, H - 1)}; each grid on its own scale"
        )
        fig.text(0.1 / W, 1 - y0 / Hh, caption, ha="left", va="top", fontsize=size, fontweight="bold")
        y0 += line_h * 1.8
        for name, gx, gy, c, _gh in layout:
            grid = np.asarray(stats[statistics.index(name)], dtype=np.float64)
            glo, ghi = _range(grid)
            gax = axes(0.1 + gx, y0 + gy + line_h, H * c, L * c, f"stat:{name}")
            gax.imshow(grid, cmap=cmap, vmin=glo, vmax=ghi, aspect="auto", interpolation="none").set_gid(f"stat-{name}")
            fig.text(
                (0.1 + gx) / W,
                1 - (y0 + gy + line_h * 0.9) / Hh,
                STAT_LABELS.get(name, name),
                ha="left",
                va="bottom",
                fontsize=size,
                fontweight="bold",
            )
            fig.text(
                (0.1 + gx) / W,
                1 - (y0 + gy + line_h + L * c + 0.03) / Hh,
                "{} \u2026 {}".format(*range_numbers(glo, ghi)),
                ha="left",
                va="top",
                fontsize=size - 1,
                color=AXIS_TEXT_COLOUR,
            )
    return fig


def explain_figure_of_state(
    result: AttentionResult,
    state: Mapping[str, Any],
    *,
    model: Any = None,
    tokenizer: Any = None,
    source: ExplainSource | None = None,
    summary: bool = True,
    **options: Any,
):
    """The explain view of a page's state (``AttentionWidget.widget_state()``): its
    ``explain_method``, layer, head and ``head_reduce`` (norm), the model's own layer and head numbers
    (``info["layer_numbers"]``/``["head_numbers"]``) and, with ``summary``, the head-summary grids.
    ``source``: the widget's cache of explain arrays (the same numbers the page got)."""
    from ..analysis import STATISTICS

    method = state.get("explain_method", "rollout")
    layer, head = int(state.get("layer", 0)), int(state.get("head", 0))
    reduce = state.get("head_reduce", "none") or "none"
    source = source or ExplainSource()
    values, note = explain_view(result, method, layer, head, reduce, model, tokenizer, source)
    info = state.get("info") or {}
    layers, heads = info.get("layer_numbers"), info.get("head_numbers")
    stats = None
    if summary:
        arr, _extra = source.get("head_stats", lambda: _stats(result))
        stats = arr
    return explain_figure(
        values,
        result.tokens,
        [bool(s) for s in result.special_tokens_mask],
        method=method,
        note=note,
        scope=explain_scope(method, layer, head, reduce, layers, heads),
        stats=stats,
        statistics=STATISTICS,
        first_stat=options.pop("first_stat", None) or STATISTICS[0],
        layer_numbers=layers,
        head_numbers=heads,
        prettify_tokens=bool(state.get("prettify_tokens", True)),
        **options,
    )


def _stats(result: AttentionResult) -> tuple[np.ndarray, str]:
    arr, uniform = head_stats_array(result)
    return arr, repr(uniform)
