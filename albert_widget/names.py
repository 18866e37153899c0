"""The names the widget, the page, the figures and the HTML export agree on, written once.

The page's twin is ``js/src/names.js``; ``tests/test_names.py`` checks that the two lists match.
"""

from __future__ import annotations

__all__ = [
    "ATTENTION_FORMS",
    "ATTENTION_KINDS",
    "COLOUR_SCALES",
    "COMPACT_VIEWS",
    "DISPLAY_MODES",
    "ENCODINGS",
    "EXPLAIN_METHODS",
    "FIGURE_VIEWS",
    "HEAD_STATISTICS",
    "MODEL_COLOURINGS",
    "PAIR_FILTERS",
    "REDUCTIONS",
    "STATIC_VIEWS",
    "VIEWS",
]

#: Every view of the widget: two token columns with lines, heatmap, every layer x head as a
#: thumbnail, query/key detail of one head, explainability maps, one query's row over the context.
VIEWS = ("head", "matrix", "model", "neuron", "explain", "row")
#: Views :func:`albert_widget.export.save_figure` draws.
FIGURE_VIEWS = ("matrix", "head", "model")
#: Views a standalone HTML page can show without a model in the loop.
STATIC_VIEWS = ("head", "matrix", "model")
#: Mean or max over heads (``head_reduce``), over layers (``layer_reduce``), or neither.
REDUCTIONS = ("none", "mean", "max")
#: Query rows of one sentence -> key columns of the other (``"ab"``: A's rows, B's columns).
PAIR_FILTERS = ("all", "aa", "ab", "ba", "bb")
#: The attention arrays of an input: encoder self-attention (also decoder-only models), and
#: the decoder's self- and cross-attention of encoder-decoder models.
ATTENTION_KINDS = ("encoder", "decoder", "cross")
#: ``"auto"`` follows JupyterLab's theme.
DISPLAY_MODES = ("auto", "light", "dark")
#: Methods of the explain view (:mod:`albert_widget.explain`).
EXPLAIN_METHODS = ("rollout", "flow", "relevancy", "norm")
#: How attention travels to the page (:mod:`albert_widget.transport`).
ENCODINGS = ("float32", "float16", "uint8")
#: Per-head statistics of the model view (albert_widget/head_summaries.py has their definitions):
#: weight on the first token(s), row entropy (nats), weight on the previous token, on the token
#: itself, mean attention distance (tokens).
HEAD_STATISTICS = ("sink", "entropy", "previous_token", "self_weight", "mean_distance")
#: What colours the model view: each head's attention as a thumbnail, or one statistic per head.
MODEL_COLOURINGS = ("thumbnails", *HEAD_STATISTICS)
#: How the widget holds a capture: the whole ``[L, H, N, N]`` array, or queries, keys and row
#: log-sum-exp from which any tile is recomputed exactly (:class:`albert_widget.longcontext.CompactAttention`).
ATTENTION_FORMS = ("dense", "compact")
#: Views that draw a compact capture (they ask for tiles or summaries, never whole ``[H, N, N]`` layers).
COMPACT_VIEWS = ("head", "matrix", "model", "row")
#: The matrix view's colour scale for a compact capture: ``"linear"`` (the weight over [0, the head's
#: largest]), ``"log"`` (log10 of the weight over a fixed range, so that weights far below the
#: attention sink still differ), ``"auto"`` (log for a compact capture). A dense capture's matrix,
#: on the page and in saved figures, is always linear.
COLOUR_SCALES = ("auto", "linear", "log")
