"""Figures for papers: the matrix, head and model views as SVG, PDF, PNG (and PGF with LaTeX).

Two entry points:

- :func:`figure` builds a :class:`matplotlib.figure.Figure` (never through ``pyplot``: no global
  figure list, no GUI backend) for users who want to change it before saving;
- :func:`save_figure` builds and writes one file, or writes a figure that :func:`figure` built,
  with the deterministic settings below.

Publication styling: the figure is exactly one column (``width="single"``, 3.3 in) or two columns
(``"double"``, 6.9 in) wide; labels are 7 pt (``font_size``); colour maps default to viridis (any
matplotlib colour map name or object is accepted); PDF fonts are embedded as TrueType (Type 42);
SVG text stays text (``svg.fonttype="none"``), escaped by matplotlib's XML writer.

Deterministic: the same input gives the same bytes (a fixed ``svg.hashsalt``, no dates, no
Creator/Producer/Software entries that would change with the matplotlib version).

Token text is untrusted: it is drawn as plain text (``text.parse_math=False``, ``text.usetex=False``),
control characters are shown as ``\\xNN`` escapes, and for PGF every TeX special character is escaped.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import shutil
import unicodedata
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from os import PathLike
from typing import Any

import numpy as np

from ..names import FIGURE_VIEWS, REDUCTIONS
from ..result import AttentionResult, as_attention_array, validate_tokens
from ..viewplan import Shown, shown_view
from ..words import BPE_SPACE, SP_SPACE, strip_marker

__all__ = [
    "FIGURE_FORMATS",
    "FIGURE_PALETTE",
    "HEAD_PALETTE",
    "HEAD_PALETTE_DARK",
    "HEAD_REDUCE",
    "VIEWS",
    "WIDTHS",
    "figure",
    "latex_escape",
    "prettify_token",
    "save_figure",
]

#: The views a figure draws, and the head reductions (names.py holds every name the package shares).
VIEWS = FIGURE_VIEWS
FIGURE_FORMATS = ("svg", "pdf", "png", "pgf")
HEAD_REDUCE = REDUCTIONS
#: Column widths in inches of a typical two-column paper (ACL, NeurIPS, IEEE are all within 0.1 in).
WIDTHS = {"single": 3.3, "double": 6.9}
#: Head colours by head index, the page's (js/src/draw/colour.js HEAD_PALETTE, HEAD_PALETTE_DARK;
#: tests/test_palette.py checks they are the same lists): each light colour at least 3:1 against white,
#: each dark one at least 3:1 against a dark theme's background, all 12 apart (CIEDE2000) also under a
#: protanopia or deuteranopia simulation. Figures are drawn on white: they use HEAD_PALETTE.
HEAD_PALETTE = (
    "#0072B2",
    "#789600",
    "#871E3C",
    "#009687",
    "#874B0F",
    "#3C00E1",
    "#C35A78",
    "#783C78",
    "#A55A4B",
    "#7887E1",
    "#C30FA5",
    "#B4784B",
)
HEAD_PALETTE_DARK = (
    "#5BA6EA",
    "#B0CC47",
    "#C1546B",
    "#58CDBC",
    "#C17C40",
    "#8B54FB",
    "#FE8FAC",
    "#AE6EAD",
    "#DF8D7C",
    "#BBBFF8",
    "#F667D6",
    "#EFAC7D",
)
#: The former name of :data:`HEAD_PALETTE`.
FIGURE_PALETTE = HEAD_PALETTE


def head_colour(head: int) -> str:
    """The colour of head ``head`` on the page and in figures (cycling through :data:`HEAD_PALETTE`)."""
    return HEAD_PALETTE[head % len(HEAD_PALETTE)]


REDUCED_COLOUR = "#333333"  # lines of a mean/max over heads
MASK_COLOUR = "#969696"  # cells under the causal mask (js/src/views/mask.js MASK_RGB)
SEGMENT_COLOUR = "white"  # the line between sentence A and B in the matrix
#: Pair filters as the figure's title names them (js/src/filters.js PAIR_LABELS).
PAIR_TITLES = {"aa": "A \u2192 A", "ab": "A \u2192 B", "ba": "B \u2192 A", "bb": "B \u2192 B"}
#: Views of the widget that have no figure (yet), with what to do instead.
NO_FIGURE_VIEWS = {
    "neuron": "the neuron view's figure needs the model's query and key vectors: save it from the widget "
    "(AttentionWidget.save with view='neuron'), or save the matrix or head view (view='matrix' or view='head')",
    "explain": "the explain view's figure needs its method's arrays (and, for norm and relevancy, the model): save it from "
    "the widget (AttentionWidget.save with view='explain') or build it with albert_widget.export.explain_figure.explain_figure",
}
OUTLINE_COLOUR = "#D55E00"  # the selected head in the model view (vermillion: shows on all of viridis)
SPECIAL_COLOUR = "#6b6b6b"  # labels of [CLS], [SEP], <s> ...
AXIS_TEXT_COLOUR = "#444444"
DEFAULT_FONT_SIZE = 7.0
MAX_HEIGHT_IN = 9.0  # a page of text; taller figures shrink their rows
MAX_LABEL_CHARS = 20
#: Head view lines lighter than this are invisible (alpha rounds to 0 in 8 bits): never drawn.
MIN_LINE_WEIGHT = 1 / 256
#: The model view draws every cell as a vector quad up to this many cells, else one image.
MAX_VECTOR_CELLS = 100_000
_HASH_SALT = "albert_widget"
_PT = 1 / 72  # inches per point

# --- token text ------------------------------------------------------------------------------------

BLANK = "\u2423"  # ␣
NEWLINE = "\u23ce"  # ⏎
TAB = "\u21e5"  # ⇥
_BPE_NEWLINE = "\u010a"  # Ċ byte-level BPE newline
# Bidirectional overrides/isolates would reorder the text around them: show them escaped.
_BIDI = set(range(0x202A, 0x202F)) | set(range(0x2066, 0x206A)) | {0x200E, 0x200F, 0x061C}


def prettify_token(token: str) -> str:
    """The text a paper would show for a raw tokenizer piece (same rules as the page's tokens.js).

    ``"▁the"`` and ``"Ġthe"`` -> ``"the"`` (word-start markers), ``"##ing"`` -> ``"ing"``,
    ``"Ċ"``/newline -> ``"⏎"``, tab -> ``"⇥"``, empty or whitespace-only -> ``"␣"``.
    """
    text = strip_marker("" if token is None else str(token))
    text = text.replace(SP_SPACE, " ").replace(BPE_SPACE, " ").replace(_BPE_NEWLINE, NEWLINE)
    text = text.replace("\r\n", NEWLINE).replace("\n", NEWLINE).replace("\r", NEWLINE).replace("\t", TAB)
    return BLANK if not text.strip() else text


def _visible(text: str) -> str:
    """Make every character printable on one line: control characters, lone surrogates and bidi
    controls become ``\\xNN``/``\\uNNNN`` escapes (XML 1.0 forbids most of them anyway)."""
    text = text.replace("\r\n", NEWLINE).replace("\n", NEWLINE).replace("\r", NEWLINE).replace("\t", TAB)
    out = []
    for ch in text:
        code = ord(ch)
        category = unicodedata.category(ch)
        if category == "Cc":
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        elif category == "Cs" or code in _BIDI or code in (0xFFFE, 0xFFFF):
            out.append(f"\\u{code:04x}")
        else:
            out.append(ch)
    text = "".join(out)
    return BLANK if not text.strip() else text


_LATEX_SPECIALS = {
    "\\": r"\textbackslash{}",
    "{": r"\{",
    "}": r"\}",
    "$": r"\$",
    "&": r"\&",
    "#": r"\#",
    "^": r"\textasciicircum{}",
    "_": r"\_",
    "~": r"\textasciitilde{}",
    "%": r"\%",
}


def latex_escape(text: str) -> str:
    """Escape TeX's special characters so that ``text`` is typeset literally (used for PGF)."""
    return "".join(_LATEX_SPECIALS.get(ch, ch) for ch in text)


def _labels(tokens: Sequence[str], prettify: bool, max_chars: int, escape: Callable[[str], str] | None) -> list[str]:
    out = []
    for token in tokens:
        text = _visible(prettify_token(token) if prettify else str(token))
        if len(text) > max_chars:
            text = text[: max_chars - 1] + "\u2026"
        out.append(escape(text) if escape else text)
    return out


def _measured_labels(tokens: Sequence[str], o: _Options, max_chars: int, measure: _Measure, size: float) -> tuple[list[str], float]:
    """The labels of raw ``tokens`` (at most ``max_chars`` characters each) and the widest one's width in points."""
    labels = _labels(tokens, o.prettify_tokens, max_chars, o.escape)
    return labels, measure.width(labels, size)


# --- options ---------------------------------------------------------------------------------------


@dataclass
class _Options:
    view: str
    layer: int
    head: int
    heads: list[int]
    head_reduce: str
    cmap: Any
    width: float
    dpi: float
    threshold: float
    title: str | None
    colorbar_label: str
    prettify_tokens: bool
    font_size: float
    vmax: float | None
    layers: list[int] | None
    head_colors: list[Any] | None
    max_label_chars: int = MAX_LABEL_CHARS
    escape: Callable[[str], str] | None = None
    #: The page's filters (attention_kind, pair_filter, word_level, hide_special, layer_reduce).
    filters: dict[str, Any] = field(default_factory=dict)


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def _check_index(name: str, value: Any, count: int, what: str) -> int:
    if not _is_int(value):
        raise ValueError(f"{name} must be an int between 0 and {count - 1}, got {value!r}")
    if not 0 <= int(value) < count:
        raise ValueError(f"{name} {int(value)} is out of range: the attention has {count} {what} (valid {name}: 0 to {count - 1})")
    return int(value)


def _check_index_list(name: str, values: Any, count: int, what: str) -> list[int]:
    if values is None:
        return []
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise ValueError(f"{name} must be a list of ints between 0 and {count - 1}, got {values!r}")
    out: list[int] = []
    for v in values:
        i = _check_index(name[:-1] if name.endswith("s") else name, v, count, what)
        if i not in out:
            out.append(i)
    return out


def resolve_cmap(cmap: Any):
    """A matplotlib Colormap from a name or a Colormap; ValueError naming good choices otherwise."""
    import matplotlib
    from matplotlib.colors import Colormap

    if isinstance(cmap, Colormap):
        return cmap
    if isinstance(cmap, str):
        try:
            return matplotlib.colormaps[cmap]
        except KeyError:
            pass
    raise ValueError(
        f"unknown colour map {cmap!r}: expected a matplotlib colour map name (colour-blind safe: 'viridis', "
        "'cividis', 'magma', 'inferno', 'plasma', 'Greys') or a matplotlib.colors.Colormap"
    )


def resolve_width(width: Any) -> float:
    if isinstance(width, str):
        if width in WIDTHS:
            return WIDTHS[width]
        raise ValueError(f"unknown width {width!r}: expected 'single' (3.3 in), 'double' (6.9 in) or inches as a number")
    if _is_number(width) and math.isfinite(width) and 1.0 <= float(width) <= 20.0:
        return float(width)
    raise ValueError(f"width must be 'single', 'double' or a number of inches between 1 and 20, got {width!r}")


def _options(result: AttentionResult, **kw: Any) -> _Options:
    view = kw["view"]
    if view in NO_FIGURE_VIEWS:
        raise ValueError(NO_FIGURE_VIEWS[view])
    if view not in VIEWS:
        raise ValueError(f"unknown view {view!r}: expected one of {', '.join(map(repr, VIEWS))}")
    filters = kw.get("filters") or {}
    kind = filters.get("attention_kind", "encoder") if view != "model" else "encoder"
    if kind not in result.kinds:
        raise ValueError(f"attention_kind {kind!r} is not in this capture: it has {', '.join(map(repr, result.kinds))}")
    L, H = result.attention_of(kind).shape[:2]
    layer = _check_index("layer", kw["layer"], L, f"{kind} layers" if kind != "encoder" else "layers")
    head = _check_index("head", kw["head"], H, "heads")
    heads = _check_index_list("heads", kw["heads"], H, "heads")
    layers = _check_index_list("layers", kw["layers"], L, "layers") or None  # None or [] = all layers
    reduce = kw["head_reduce"]
    if reduce not in HEAD_REDUCE:
        raise ValueError(f"unknown head_reduce {reduce!r}: expected one of {', '.join(map(repr, HEAD_REDUCE))}")
    dpi = kw["dpi"]
    if not (_is_number(dpi) and math.isfinite(dpi) and 10 <= dpi <= 2400):
        raise ValueError(f"dpi must be a number between 10 and 2400, got {dpi!r}")
    threshold = kw["threshold"]
    if not (_is_number(threshold) and 0.0 <= float(threshold) <= 1.0):
        raise ValueError(f"threshold must be a number between 0 and 1, got {threshold!r}")
    font_size = kw["font_size"]
    if font_size is None:
        font_size = DEFAULT_FONT_SIZE
    elif not (_is_number(font_size) and 3 <= float(font_size) <= 30):
        raise ValueError(f"font_size must be a number of points between 3 and 30, got {font_size!r}")
    vmax = kw["vmax"]
    if vmax is not None and not (_is_number(vmax) and math.isfinite(vmax) and vmax > 0):
        raise ValueError(f"vmax must be a positive number or None (the largest weight shown), got {vmax!r}")
    title = kw["title"]
    if title is not None and not isinstance(title, str):
        raise ValueError(f"title must be a string ('' for none) or None (automatic), got {type(title).__name__}")
    label = kw["colorbar_label"]
    if not isinstance(label, str):
        raise ValueError(f"colorbar_label must be a string, got {type(label).__name__}")
    colors = kw["head_colors"]
    if colors is not None:
        from matplotlib.colors import is_color_like

        colors = list(colors)
        bad = [c for c in colors if not is_color_like(c)]
        if bad or not colors:
            raise ValueError(f"head_colors must be a non-empty list of matplotlib colours, got {kw['head_colors']!r}")
    max_chars = kw["max_label_chars"]
    if not (_is_int(max_chars) and 4 <= max_chars <= 200):
        raise ValueError(f"max_label_chars must be an int between 4 and 200, got {max_chars!r}")
    return _Options(
        view=view,
        layer=layer,
        head=head,
        heads=heads,
        head_reduce=reduce,
        cmap=resolve_cmap(kw["cmap"]),
        width=resolve_width(kw["width"]),
        dpi=float(dpi),
        threshold=float(threshold),
        title=title,
        colorbar_label=label,
        prettify_tokens=bool(kw["prettify_tokens"]),
        font_size=float(font_size),
        vmax=None if vmax is None else float(vmax),
        layers=layers,
        head_colors=colors,
        max_label_chars=int(max_chars),
        filters=dict(filters),
    )


def _as_result(source: Any, tokens: Sequence[str] | None, sentence_b_start: int | None) -> AttentionResult:
    if isinstance(source, AttentionResult):
        if tokens is not None:
            validate_tokens(tokens, source.num_tokens)
            return AttentionResult(
                tokens=tuple(tokens),
                attention=source.attention,
                token_type_ids=source.token_type_ids,
                special_tokens_mask=source.special_tokens_mask,
                sentence_b_start=source.sentence_b_start,
                num_truncated=source.num_truncated,
                info=source.info,
                text=source.text,
                text_pair=source.text_pair,
            )
        return source
    if tokens is None:
        raise ValueError(
            "raw attention needs tokens=[...] (one string per row of the attention); "
            "or pass the AttentionResult that albert_widget.capture() returns"
        )
    ndim = getattr(source, "ndim", None)
    if ndim in (2, 3) and not isinstance(source, (tuple, list)):
        source = as_attention_array(source[None, None] if ndim == 2 else source[None])
    return AttentionResult.from_attention(source, tokens, sentence_b_start)


# --- style -----------------------------------------------------------------------------------------


#: Fonts with CJK and other scripts DejaVu Sans lacks; used as fallbacks only when installed.
_FALLBACK_FONTS = (
    "Noto Sans CJK JP",
    "Noto Sans CJK SC",
    "Source Han Sans",
    "WenQuanYi Zen Hei",
    "Droid Sans Fallback",
    "Noto Sans",
    "Arial Unicode MS",
)


def _fallback_fonts() -> list[str]:
    from matplotlib import font_manager

    installed = {font.name for font in font_manager.fontManager.ttflist}
    return [name for name in _FALLBACK_FONTS if name in installed]


@contextlib.contextmanager
def _style(font_size: float, rc: dict | None) -> Iterator[None]:
    """matplotlib defaults (not the user's style) + publication and determinism settings + ``rc``."""
    import matplotlib

    with matplotlib.rc_context():
        matplotlib.rcdefaults()
        matplotlib.rcParams.update(
            {
                "svg.hashsalt": _HASH_SALT,
                "svg.fonttype": "none",
                "pdf.fonttype": 42,
                "ps.fonttype": 42,
                "text.usetex": False,
                "text.parse_math": False,
                "font.size": font_size,
                "axes.linewidth": 0.4,
                "xtick.major.width": 0.4,
                "ytick.major.width": 0.4,
                "xtick.major.size": 1.5,
                "ytick.major.size": 1.5,
                "xtick.major.pad": 1.5,
                "ytick.major.pad": 1.5,
                "savefig.facecolor": "white",
                "savefig.edgecolor": "white",
                "pgf.rcfonts": False,
                "font.sans-serif": ["DejaVu Sans", *_fallback_fonts()],
            }
        )
        if rc:
            matplotlib.rcParams.update(rc)
            # Token text must never be interpreted, whatever the caller's rc says.
            matplotlib.rcParams["text.usetex"] = False
            matplotlib.rcParams["text.parse_math"] = False
        yield


class _Measure:
    """Text extents in points with the current rcParams (Agg renderer at 72 dpi)."""

    def __init__(self) -> None:
        from matplotlib.backends.backend_agg import RendererAgg

        self._renderer = RendererAgg(1, 1, 72)

    def width(self, texts: Sequence[str], size: float) -> float:
        from matplotlib.font_manager import FontProperties

        prop = FontProperties(size=size)
        widest = 0.0
        for t in texts:
            if t:
                w, _, _ = self._renderer.get_text_width_height_descent(t, prop, ismath=False)
                widest = max(widest, w)
        return widest


def _snap(inches: float, dpi: float) -> float:
    """Inches that give a whole number of pixels at ``dpi`` (matplotlib truncates the pixel size)."""
    return (round(inches * dpi) + 1e-3) / dpi


def _new_figure(width: float, height: float, dpi: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(_snap(width, dpi), _snap(height, dpi)), dpi=dpi, facecolor="white")


def _colour_range(values: np.ndarray, vmax: float | None) -> tuple[float, float]:
    """Like the page: from min(0, lowest) to the largest value (or ``vmax``)."""
    lo = min(0.0, float(values.min()))
    hi = float(values.max()) if vmax is None else vmax
    return lo, hi if hi > lo else lo + 1.0


def _reduced(a: np.ndarray, o: _Options) -> tuple[np.ndarray, str]:
    """The [R, C] matrix the matrix view shows of a shown layer ``a`` [H, R, C], and its description
    (``matrixSeries`` in js/src/reduce.js: the focused head, or the mean/max over ``heads``, sorted;
    every head when none is chosen)."""
    if o.head_reduce == "none":
        return a[o.head], f"head {_own(o, 'head', o.head)}"
    heads = sorted(o.heads) or list(range(a.shape[0]))
    stack = a[heads]
    matrix = stack.mean(axis=0) if o.head_reduce == "mean" else stack.max(axis=0)
    which = f"{len(heads)} heads" if not o.heads else ("heads " + ", ".join(str(_own(o, "head", h)) for h in heads))
    return matrix.astype(np.float32), f"{o.head_reduce} over {which}"


def _own(o: _Options, what: str, index: int) -> int:
    """The model's own number of layer / head ``index`` (bertviz's include_layers / include_heads:
    the page state's ``info["layer_numbers"]`` / ``["head_numbers"]``, js/src/numbering.js)."""
    numbers = o.filters.get(f"{what}_numbers")
    return int(numbers[index]) if numbers and 0 <= index < len(numbers) else int(index)


def _view_title(o: _Options, shown: Shown, what: str) -> str:
    """ "Layer 2, head 3" (or "Mean of 6 layers, head 3"), and a second line naming the page's filters
    that shape the figure (attention kind, pair filter, words, hidden special tokens)."""
    layer = shown.layer_label if shown.layer_reduce in ("mean", "max") else f"layer {_own(o, 'layer', shown.layer)}"
    first = f"{layer[0].upper()}{layer[1:]}, {what}"
    notes = []
    if shown.kind != "encoder":
        notes.append(f"{shown.kind} attention")
    if shown.plan.pair != "all":
        notes.append(f"sentence {PAIR_TITLES[shown.plan.pair]}")
    if o.filters.get("word_level"):
        notes.append("words")
    if o.filters.get("hide_special"):
        notes.append("special tokens hidden, rows renormalised")
    return first + ("\n" + "; ".join(notes) if notes else "")


def _fit_title(title: str, width_in: float, size: float, measure: _Measure) -> str:
    """``title`` with its "; "-separated notes moved to lines of their own where a line would be wider
    than the figure."""
    lines: list[str] = []
    for line in title.split("\n"):
        parts = line.split("; ")
        current = parts[0]
        for part in parts[1:]:
            if measure.width([f"{current}; {part}"], size) * _PT > width_in - 4 * _PT:
                lines.append(current + ";")
                current = part
            else:
                current = f"{current}; {part}"
        lines.append(current)
    return "\n".join(lines)


def _shown(result: AttentionResult, o: _Options) -> Shown:
    """The filtered layer the head and matrix views draw (albert_widget.viewplan, the page's filters.js)."""
    return shown_view(result, {**o.filters, "layer": o.layer, "prettify_tokens": o.prettify_tokens})


def _add_title(fig, text: str, x_in: float, top_in: float, size: float, width_in: float, height_in: float) -> None:
    fig.text(x_in / width_in, 1 - top_in / height_in, text, ha="center", va="top", fontsize=size, color="black")


def _title_height(title: str | None, size: float) -> float:
    if not title:
        return 0.0
    return (title.count("\n") + 1) * size * 1.25 * _PT + 4 * _PT


def _label_step(pitch_pt: float, size: float, spacing: float) -> int:
    """Show every k-th label so that labels never overlap."""
    need = size * spacing
    return 1 if pitch_pt >= need else math.ceil(need / pitch_pt)


def _colourbar_ticks(lo: float, hi: float) -> tuple[list[float], list[str]]:
    """Tick values in [lo, hi] and their labels with just enough decimals."""
    from matplotlib.ticker import MaxNLocator

    span = hi - lo
    ticks = [float(t) for t in MaxNLocator(nbins=5).tick_values(lo, hi) if lo - 1e-9 * span <= t <= hi + 1e-9 * span]
    step = ticks[1] - ticks[0] if len(ticks) > 1 else span
    decimals = 0
    while decimals < 8 and abs(step * 10**decimals - round(step * 10**decimals)) > 1e-6 * max(1.0, step * 10**decimals):
        decimals += 1
    labels = [f"{t:.{decimals}f}" for t in ticks]
    return ticks, ["0" if float(label) == 0 else label for label in labels]


_BAR_GAP = 0.08  # inches between the plot and its colour bar
_BAR_WIDTH = 0.09  # inches


def _colourbar_width(measure: _Measure, o: _Options, lo: float, hi: float) -> float:
    """Inches to the right of the plot that the colour bar, its ticks and label take."""
    _, labels = _colourbar_ticks(lo, hi)
    label = (o.font_size * 1.25 + 3) if o.colorbar_label else 0
    return _BAR_GAP + _BAR_WIDTH + (1.5 + 1.5 + measure.width(labels, o.font_size - 1) + 3 + label + 2) * _PT


def _add_colourbar(fig, image, o: _Options, lo: float, hi: float, right_in: float, bottom_in: float, height_in: float) -> None:
    """The colour bar of ``image`` beside the plot whose right edge is at ``right_in`` (inches from the
    figure's left), as tall as the plot: ticks of :func:`_colourbar_ticks`, the options' label."""
    W, H = o.width, fig.get_size_inches()[1]  # the views lay out on the nominal width
    cax = fig.add_axes(((right_in + _BAR_GAP) / W, bottom_in / H, _BAR_WIDTH / W, height_in / H), label="colorbar")
    cb = fig.colorbar(image, cax=cax)
    ticks, labels = _colourbar_ticks(lo, hi)
    cb.set_ticks(ticks, labels=labels)
    cb.outline.set_linewidth(0.4)
    cb.ax.tick_params(labelsize=o.font_size - 1, length=1.5, width=0.4, pad=1.5)
    if o.colorbar_label:
        cb.set_label(o.colorbar_label, fontsize=o.font_size, color=AXIS_TEXT_COLOUR, labelpad=3)


# --- views -----------------------------------------------------------------------------------------


def _segment_start(segments: Sequence[int]) -> int | None:
    """Index of the first token of sentence B on an axis when both sentences are on it, else None."""
    for i, s in enumerate(segments):
        if s == 1:
            return i if i > 0 else None
    return None


def _draw_mask(ax, mask: np.ndarray, cell_pt: float) -> None:
    """The causal mask as on the page: masked cells grey (drawn by the image's "bad" colour) and, when
    cells are large enough, a white diagonal hatch over each run of masked cells."""
    from matplotlib.patches import Rectangle

    if cell_pt < 4:
        return
    for i, row in enumerate(mask):
        j = 0
        while j < len(row):
            if not row[j]:
                j += 1
                continue
            k = j
            while k < len(row) and row[k]:
                k += 1
            ax.add_patch(
                Rectangle((j - 0.5, i - 0.5), k - j, 1, fill=False, hatch="////", edgecolor="white", linewidth=0, alpha=0.7, label="masked")
            )
            j = k


def _matrix_figure(result: AttentionResult, o: _Options):
    from matplotlib.ticker import FixedLocator

    shown = _shown(result, o)
    plan = shown.plan
    matrix, what = _reduced(shown.attention, o)
    R, C = matrix.shape
    n = max(R, C, 1)
    measure = _Measure()
    title = o.title if o.title is not None else _fit_title(_view_title(o, shown, what), o.width, o.font_size + 1, measure)
    lo, hi = _colour_range(matrix if matrix.size else np.zeros(1), o.vmax)
    W = o.width
    right = _colourbar_width(measure, o, lo, hi)
    axis_label = o.font_size * 1.25 + 3  # "query"/"key" + pad, points
    top = max(_title_height(title, o.font_size + 1), o.font_size * 0.7 * _PT) + 2 * _PT
    size = o.font_size
    max_chars = o.max_label_chars
    for _ in range(6):
        row_labels, row_w = _measured_labels(plan.row_raw, o, max_chars, measure, size)
        col_labels, col_w = _measured_labels(plan.col_raw, o, max_chars, measure, size)
        label_w = max(row_w, col_w)
        margin = (2 + axis_label + label_w + 1.5 + 1.5) * _PT  # edge, axis label, tick labels, pad, tick
        side = W - margin - right - 2 * _PT
        if side < 0.45 * W and max_chars > min(8, o.max_label_chars):
            max_chars = max(8, max_chars - 4)
            continue
        pitch = side / _PT / n
        fitted = max(4.5, min(o.font_size, pitch / 1.15))
        if abs(fitted - size) < 0.05:
            break
        size = fitted
    pitch = side / n  # inches per cell, the same on both axes
    step = _label_step(pitch / _PT, size, 1.1)
    plot_w, plot_h = C * pitch, R * pitch
    height = top + plot_h + margin
    fig = _new_figure(W, height, o.dpi)
    H = fig.get_size_inches()[1]
    ax = fig.add_axes((margin / W, margin / H, plot_w / W, plot_h / H), label="matrix")
    cmap = o.cmap.with_extremes(bad=MASK_COLOUR)
    shown_matrix = np.ma.masked_array(matrix, mask=shown.mask) if shown.mask is not None else matrix
    image = ax.imshow(shown_matrix, cmap=cmap, vmin=lo, vmax=hi, interpolation="none", aspect="auto")
    rows_shown, cols_shown = list(range(0, R, step)), list(range(0, C, step))
    ax.xaxis.set_major_locator(FixedLocator(cols_shown))
    ax.yaxis.set_major_locator(FixedLocator(rows_shown))
    ax.set_xticklabels([col_labels[j] for j in cols_shown], rotation=90, fontsize=size)
    ax.set_yticklabels([row_labels[i] for i in rows_shown], fontsize=size)
    for shown_idx, axis_labels, special in (
        (cols_shown, ax.get_xticklabels(), plan.col_special),
        (rows_shown, ax.get_yticklabels(), plan.row_special),
    ):
        for i, text in zip(shown_idx, axis_labels):
            if special[i]:
                text.set_color(SPECIAL_COLOUR)
    ax.set_xlabel(
        "key" + (f" (every {step}th token labelled)" if step > 1 else ""), fontsize=o.font_size, color=AXIS_TEXT_COLOUR, labelpad=3
    )
    ax.set_ylabel("query", fontsize=o.font_size, color=AXIS_TEXT_COLOUR, labelpad=3)
    b_row, b_col = _segment_start(plan.row_segments), _segment_start(plan.col_segments)
    if b_row is not None:
        ax.axhline(b_row - 0.5, color=SEGMENT_COLOUR, linewidth=0.6)
    if b_col is not None:
        ax.axvline(b_col - 0.5, color=SEGMENT_COLOUR, linewidth=0.6)
    if shown.mask is not None:
        _draw_mask(ax, shown.mask, pitch / _PT)
    _add_colourbar(fig, image, o, lo, hi, margin + plot_w, margin, plot_h)
    if title:
        # over the plot, or over the figure when it is wider than the plot
        wide = measure.width(title.split("\n"), o.font_size + 1) * _PT > plot_w
        _add_title(fig, title, W / 2 if wide else margin + plot_w / 2, 2 * _PT, o.font_size + 1, W, H)
    return fig


def _head_series(a: np.ndarray, o: _Options) -> tuple[list[tuple[str, np.ndarray, Any]], str]:
    """The head view's series of a shown layer ``a`` [H, R, C]: (name, [R, C] matrix, colour) each,
    as on the page (``headSeries`` in js/src/reduce.js): the mean/max over heads in the reduced
    colour, or every chosen head (sorted; the focused head when none) in its palette colour."""
    if o.head_reduce != "none":
        matrix, what = _reduced(a, o)
        colour = o.head_colors[0] if o.head_colors else REDUCED_COLOUR
        return [(what, matrix, colour)], what
    heads = sorted(o.heads) or [o.head]
    series = []
    for k, h in enumerate(heads):
        colour = o.head_colors[k % len(o.head_colors)] if o.head_colors else head_colour(h)
        series.append((f"head {_own(o, 'head', h)}", a[h], colour))
    what = f"head {_own(o, 'head', heads[0])}" if len(heads) == 1 else "heads " + ", ".join(str(_own(o, "head", h)) for h in heads)
    return series, what


def _head_figure(result: AttentionResult, o: _Options):
    from matplotlib.collections import LineCollection
    from matplotlib.colors import to_rgba
    from matplotlib.lines import Line2D

    shown = _shown(result, o)
    plan = shown.plan
    R, C = len(plan.row_raw), len(plan.col_raw)
    n = max(R, C, 1)
    series, what = _head_series(shown.attention, o)
    measure = _Measure()
    title = o.title if o.title is not None else _fit_title(_view_title(o, shown, what), o.width, o.font_size + 1, measure)
    W = o.width
    size = o.font_size
    legend = len(series) > 1
    # Legend: as many columns as fit the width.
    legend_h = 0.0
    ncol = 1
    if legend:
        entry = max(measure.width([name for name, _, _ in series], size) + 2.6 * size, 1)
        ncol = max(1, min(len(series), int((W / _PT - 8) // entry)))
        rows = math.ceil(len(series) / ncol)
        legend_h = (rows * size * 1.75 + 3) * _PT
    top = _title_height(title, o.font_size + 1) + legend_h + 4 * _PT
    bottom = 3 * _PT
    pitch = size * 1.5
    if top + bottom + n * pitch * _PT > MAX_HEIGHT_IN:
        pitch = (MAX_HEIGHT_IN - top - bottom) / _PT / n
        size = max(4.0, min(size, pitch / 1.3))
    step = _label_step(pitch, size, 1.25)
    max_chars = o.max_label_chars
    while True:
        row_labels, row_w = _measured_labels(plan.row_raw, o, max_chars, measure, size)
        col_labels, col_w = _measured_labels(plan.col_raw, o, max_chars, measure, size)
        label_w = max(row_w, col_w) * _PT
        gap = 3 * _PT
        if W - 2 * (label_w + gap + 2 * _PT) >= 0.45 * W or max_chars <= min(6, o.max_label_chars):
            break
        max_chars -= 3
    rows_h = n * pitch * _PT
    fig = _new_figure(W, top + rows_h + bottom, o.dpi)
    H = fig.get_size_inches()[1]
    ax = fig.add_axes((0, bottom / H, 1, rows_h / H), label="head")
    ax.set_xlim(0, W)
    ax.set_ylim(n - 0.5, -0.5)
    ax.axis("off")
    x_left = 2 * _PT + label_w
    x_right = W - 2 * _PT - label_w
    for labels, special, x, ha in ((row_labels, plan.row_special, x_left, "right"), (col_labels, plan.col_special, x_right, "left")):
        for i in range(0, len(labels), step):
            ax.text(x, i, labels[i], ha=ha, va="center", fontsize=size, color=SPECIAL_COLOUR if special[i] else "black")
    x0, x1 = x_left + gap, x_right - gap
    line_width = 0.9 if n <= 40 else 0.6
    for name, matrix, colour in series:
        m = np.asarray(matrix, dtype=np.float64)
        keep = m >= max(o.threshold, MIN_LINE_WEIGHT)
        rows_i, cols_j = np.nonzero(keep)
        weights = m[rows_i, cols_j]
        order = np.argsort(weights, kind="stable")  # strongest drawn last, on top
        rows_i, cols_j, weights = rows_i[order], cols_j[order], weights[order]
        segments = np.empty((len(weights), 2, 2))
        segments[:, 0, 0], segments[:, 0, 1] = x0, rows_i
        segments[:, 1, 0], segments[:, 1, 1] = x1, cols_j
        rgba = np.tile(to_rgba(colour), (len(weights), 1))
        rgba[:, 3] = np.clip(weights, 0.0, 1.0)
        lines = LineCollection(segments, colors=rgba, linewidths=line_width, capstyle="butt", label=name)
        ax.add_collection(lines)
    if title:
        _add_title(fig, title, W / 2, 2 * _PT, o.font_size + 1, W, H)
    if legend:
        handles = [Line2D([], [], color=colour, linewidth=1.6) for _, _, colour in series]
        fig.legend(
            handles,
            [name for name, _, _ in series],
            loc="upper center",
            ncol=ncol,
            frameon=False,
            fontsize=size,
            handlelength=1.2,
            handletextpad=0.4,
            columnspacing=1.0,
            borderpad=0,
            borderaxespad=0,
            bbox_to_anchor=(0.5, 1 - (_title_height(title, o.font_size + 1) + 2 * _PT) / H),
            bbox_transform=fig.transFigure,
        )
    return fig


def _downsample(matrix: np.ndarray, size: int) -> np.ndarray:
    """Block means of an [N, N] matrix down to at most ``size`` x ``size`` (N when N <= size)."""
    n = matrix.shape[-1]
    if n <= size:
        return matrix
    factor = math.ceil(n / size)
    m = math.ceil(n / factor)
    padded = np.full((m * factor, m * factor), np.nan, dtype=np.float64)
    padded[:n, :n] = matrix
    return np.nanmean(padded.reshape(m, factor, m, factor), axis=(1, 3))


def model_mosaic(attention: np.ndarray, layers: Sequence[int], heads: Sequence[int], cell_px: int, gap_px: int):
    """The model view's one image: every chosen head's [N, N] matrix (block-averaged to at most
    ``cell_px`` square) in a grid, rows = layers, columns = heads, NaN gaps of ``gap_px`` between."""
    first = _downsample(attention[layers[0], heads[0]], cell_px)
    r = first.shape[0]
    mosaic = np.full((len(layers) * (r + gap_px) - gap_px, len(heads) * (r + gap_px) - gap_px), np.nan)
    for i, layer in enumerate(layers):
        for j, head in enumerate(heads):
            y, x = i * (r + gap_px), j * (r + gap_px)
            mosaic[y : y + r, x : x + r] = _downsample(attention[layer, head], cell_px)
    return mosaic, r


def _model_figure(result: AttentionResult, o: _Options):
    from matplotlib.patches import Rectangle

    layers = o.layers or list(range(result.num_layers))
    heads = o.heads or list(range(result.num_heads))
    _L, Hn = len(layers), len(heads)
    if o.title is not None:
        title = o.title
    else:
        title = f"{result.num_layers} layers \u00d7 {result.num_heads} heads"
        if o.layer in layers and o.head in heads:
            title += f"; outlined: layer {_own(o, 'layer', o.layer)}, head {_own(o, 'head', o.head)}"
        groups = result.info.num_hidden_groups
        if groups and groups < result.num_layers:
            title += f"\nall layers share {groups} set{'s' if groups > 1 else ''} of weights"
    measure = _Measure()
    W = o.width
    size = o.font_size
    small = size - 1
    n = result.num_tokens
    row_w = measure.width([str(layer) for layer in layers], small) * _PT
    left = (2 + size * 1.25 + 2) * _PT + row_w + 2 * _PT
    title_h = _title_height(title, size + 1)
    top = title_h + (size * 1.25 + small * 1.2 + 4) * _PT
    bottom = 3 * _PT
    # Colour bar room: measured on the raw range (the shown block means lie within it).
    lo_raw, hi_raw = _colour_range(result.attention[np.ix_(layers, heads)], o.vmax)
    right = _colourbar_width(measure, o, lo_raw, hi_raw)
    available = W - left - right - 2 * _PT
    nominal_gap = 0.03
    nominal_cell = (available - (Hn - 1) * nominal_gap) / Hn
    cell_px = int(min(n, max(8, min(128, math.ceil(nominal_cell * o.dpi)))))
    resolution = _downsample(np.zeros((n, n)), cell_px).shape[0]
    gap_px = max(1, round(resolution * nominal_gap / nominal_cell))
    mosaic, r = model_mosaic(result.attention, layers, heads, cell_px, gap_px)
    unit = available / mosaic.shape[1]  # inches per mosaic pixel
    if top + bottom + mosaic.shape[0] * unit > MAX_HEIGHT_IN:
        unit = (MAX_HEIGHT_IN - top - bottom) / mosaic.shape[0]
    grid_w, grid_h = mosaic.shape[1] * unit, mosaic.shape[0] * unit
    cell, step = r * unit, (r + gap_px) * unit
    lo, hi = _colour_range(mosaic[np.isfinite(mosaic)], o.vmax)
    fig = _new_figure(W, top + grid_h + bottom, o.dpi)
    H = fig.get_size_inches()[1]
    ax = fig.add_axes((left / W, bottom / H, grid_w / W, grid_h / H), label="model")
    cmap = o.cmap.with_extremes(bad=(1.0, 1.0, 1.0, 0.0))
    rows_px, cols_px = mosaic.shape
    if np.isfinite(mosaic).sum() <= MAX_VECTOR_CELLS:
        # one vector quad per cell: sharp at any zoom in PDF/SVG (an image would be smoothed by viewers)
        image = ax.pcolormesh(
            np.arange(cols_px + 1) - 0.5,
            np.arange(rows_px + 1) - 0.5,
            np.ma.masked_invalid(mosaic),
            cmap=cmap,
            vmin=lo,
            vmax=hi,
            shading="flat",
            edgecolors="face",
            linewidth=0.1,
        )
        ax.set_xlim(-0.5, cols_px - 0.5)
        ax.set_ylim(rows_px - 0.5, -0.5)
    else:  # long inputs: one image, each thumbnail at about its printed resolution (cell_px above)
        image = ax.imshow(mosaic, cmap=cmap, vmin=lo, vmax=hi, interpolation="none", aspect="auto")
    ax.axis("off")
    if o.layer in layers and o.head in heads:
        y0, x0 = layers.index(o.layer) * (r + gap_px), heads.index(o.head) * (r + gap_px)
        ax.add_patch(
            Rectangle((x0 - 0.5, y0 - 0.5), r, r, fill=False, edgecolor=OUTLINE_COLOUR, linewidth=1.4, clip_on=False, label="selected")
        )
    row_step = _label_step(step / _PT, small, 1.2)
    col_step = _label_step(step / _PT, measure.width([str(h) for h in heads], small) + 2, 1.0)
    for i, layer in enumerate(layers):
        if i % row_step == 0:
            y = bottom + grid_h - i * step - cell / 2
            fig.text((left - 2 * _PT) / W, y / H, str(_own(o, "layer", layer)), ha="right", va="center", fontsize=small)
    label_y = bottom + grid_h + 2 * _PT
    for j, head in enumerate(heads):
        if j % col_step == 0:
            fig.text((left + j * step + cell / 2) / W, label_y / H, str(_own(o, "head", head)), ha="center", va="bottom", fontsize=small)
    fig.text(
        (left + grid_w / 2) / W,
        (label_y + small * 1.2 * _PT + 1 * _PT) / H,
        "head",
        ha="center",
        va="bottom",
        fontsize=size,
        color=AXIS_TEXT_COLOUR,
    )
    fig.text(2 * _PT / W, (bottom + grid_h / 2) / H, "layer", ha="left", va="center", rotation=90, fontsize=size, color=AXIS_TEXT_COLOUR)
    _add_colourbar(fig, image, o, lo, hi, left + grid_w, bottom, grid_h)
    if title:
        _add_title(fig, title, W / 2, 2 * _PT, size + 1, W, H)
    return fig


_BUILDERS = {"matrix": _matrix_figure, "head": _head_figure, "model": _model_figure}


# --- public API ------------------------------------------------------------------------------------


def _build(source: Any, tokens: Any, sentence_b_start: Any, escape: Callable[[str], str] | None, kw: dict):
    result = _as_result(source, tokens, sentence_b_start)
    o = _options(result, **kw)
    o.escape = escape
    return _BUILDERS[o.view](result, o), o


#: The options of figure() and save_figure() with their defaults.
_DEFAULTS: dict[str, Any] = dict(
    view="matrix",
    layer=0,
    head=0,
    heads=None,
    head_reduce="none",
    cmap="viridis",
    width="single",
    dpi=300,
    threshold=0.0,
    title=None,
    colorbar_label="attention weight",
    prettify_tokens=True,
    font_size=None,
    vmax=None,
    layers=None,
    head_colors=None,
    max_label_chars=MAX_LABEL_CHARS,
)


#: The options a page's state (``AttentionWidget.widget_state()``) sets, and the page's filters.
STATE_OPTIONS = ("view", "layer", "head", "heads", "head_reduce", "threshold", "prettify_tokens")
STATE_FILTERS = ("attention_kind", "pair_filter", "word_level", "hide_special", "layer_reduce")


def _chosen_options(arguments: dict[str, Any]) -> dict[str, Any]:
    """The view options out of :func:`figure`'s or :func:`save_figure`'s ``locals()`` (the names of
    ``_DEFAULTS``): both signatures list every option (for ``help()`` and editors), this reads them
    without a third list. ``dpi=None`` (save_figure's default) means 300. With ``state`` (the page's
    state as plain data) the view, layer, head(s), reduction, threshold, prettify and the filters
    come from it; giving one of those as a keyword as well is a TypeError."""
    kw = {name: arguments[name] for name in _DEFAULTS}
    if kw["dpi"] is None:
        kw["dpi"] = _DEFAULTS["dpi"]
    state = arguments.get("state")
    kw["filters"] = {}
    if state is not None:
        twice = sorted(k for k in STATE_OPTIONS if _differs(kw[k], _DEFAULTS[k]))
        if twice:
            raise TypeError(f"{', '.join(twice)} given both in state and as keywords: change the state instead")
        for name in STATE_OPTIONS:
            if name in state:
                kw[name] = list(state[name]) if name == "heads" else state[name]
        kw["filters"] = {k: state[k] for k in STATE_FILTERS if k in state}
        info = state.get("info") or {}
        kw["filters"].update({k: list(info[k]) for k in ("layer_numbers", "head_numbers") if info.get(k)})
    return kw


def figure(
    result_or_attention: Any,
    *,
    tokens: Sequence[str] | None = None,
    sentence_b_start: int | None = None,
    state: Mapping[str, Any] | None = None,
    view: str = "matrix",
    layer: int = 0,
    head: int = 0,
    heads: Sequence[int] | None = None,
    head_reduce: str = "none",
    cmap: Any = "viridis",
    width: str | float = "single",
    dpi: float = 300,
    threshold: float = 0.0,
    title: str | None = None,
    colorbar_label: str = "attention weight",
    prettify_tokens: bool = True,
    font_size: float | None = None,
    vmax: float | None = None,
    layers: Sequence[int] | None = None,
    head_colors: Sequence[Any] | None = None,
    max_label_chars: int = MAX_LABEL_CHARS,
    rc: dict | None = None,
):
    """Build a publication figure of one view as a :class:`matplotlib.figure.Figure`.

    ``result_or_attention``: an :class:`~albert_widget.AttentionResult`, or raw attention
    (``[L, H, N, N]``, a tuple of per-layer ``[1, H, N, N]`` tensors, ``[H, N, N]`` or ``[N, N]``)
    together with ``tokens`` (and optionally ``sentence_b_start``).

    Views:

    - ``"matrix"``: heatmap of ``attention[layer, head]`` (rows = queries, columns = keys) with token
      labels on both axes and a labelled colour bar; ``head_reduce="mean"``/``"max"`` shows the mean/max
      over ``heads`` (all heads when empty).
    - ``"head"``: bertviz-style: tokens in two columns, a line from query ``i`` (left) to key ``j``
      (right) whose opacity is the weight; lines below ``threshold`` (and below 1/256, which would be
      invisible) are left out. ``heads`` overlays several heads, each in the page's colour of its
      index (``HEAD_PALETTE``, or ``head_colors`` in the order given) with a legend.
    - ``"model"``: a grid of small heatmaps, rows = layers, columns = heads (``layers``/``heads``
      restrict them), one shared colour scale, the head ``(layer, head)`` outlined; all in one image,
      each matrix block-averaged down to about the cell's size in pixels at ``dpi`` (at most 128).

    ``width``: ``"single"`` (3.3 in), ``"double"`` (6.9 in) or inches; the height follows from the
    content. ``font_size``: token labels in points (default 7; long inputs shrink it, then show every
    k-th label). ``max_label_chars``: longer labels end in "…" (shortened further when they would
    squeeze the plot below 45% of the width). ``vmax``: top of the colour scale (default: the largest
    weight shown). ``rc``: extra matplotlib rcParams (e.g. ``{"font.family": "serif"}``). Layers and
    heads count from 0.

    ``state``: the page's state as plain data (``AttentionWidget.widget_state()``): the figure is the
    view that page shows, with its ``attention_kind`` (encoder / decoder / cross), ``pair_filter``,
    ``word_level``, ``hide_special`` (rows renormalised), ``layer_reduce``, heads in the page's colours,
    ``threshold``, ``prettify_tokens`` and a causal model's masked cells grey and hatched
    (:mod:`albert_widget.viewplan` mirrors the page's filters).

    Save it with :func:`save_figure` (deterministic bytes, fonts embedded) rather than
    ``fig.savefig``. Raises ``ValueError`` saying what was expected for bad arguments.
    """
    kw = _chosen_options(locals())
    with _style(DEFAULT_FONT_SIZE if not _is_number(font_size) else float(font_size), rc):
        fig, _ = _build(result_or_attention, tokens, sentence_b_start, None, kw)
    return fig


def _format_of(path: str, format: str | None) -> str:
    if format is not None:
        fmt = str(format).lower().lstrip(".")
    else:
        fmt = os.path.splitext(path)[1].lower().lstrip(".")
    if fmt not in FIGURE_FORMATS:
        shown = f"format {format!r}" if format is not None else f"extension {os.path.splitext(path)[1] or '(none)'!r}"
        raise ValueError(f"unknown {shown} for {path!r}: expected one of {', '.join('.' + f for f in FIGURE_FORMATS)}")
    return fmt


def _latex_available() -> str | None:
    import matplotlib

    texsystem = matplotlib.rcParams["pgf.texsystem"]
    return texsystem if shutil.which(texsystem) else None


_METADATA = {
    "svg": {"Date": None, "Creator": None},
    "pdf": {"CreationDate": None, "Creator": None, "Producer": None},
    "png": {"Software": None},
    "pgf": None,
}


def _render(fig, fmt: str, dpi: float) -> bytes:
    buffer = io.BytesIO()
    options: dict[str, Any] = {"format": fmt, "dpi": dpi, "facecolor": "white"}
    if _METADATA[fmt] is not None:
        options["metadata"] = _METADATA[fmt]
    fig.savefig(buffer, **options)
    return buffer.getvalue()


def _differs(value: Any, default: Any) -> bool:
    if value is default:
        return False
    try:
        return bool(value != default)
    except (TypeError, ValueError):  # arrays
        return True


def figure_bytes(
    result_or_attention: Any,
    fmt: str,
    *,
    tokens: Sequence[str] | None = None,
    sentence_b_start: int | None = None,
    rc: dict | None = None,
    **kw: Any,
) -> bytes:
    """The file :func:`save_figure` writes, as bytes: ``fmt`` is ``"svg"``, ``"pdf"``, ``"png"`` or
    ``"pgf"``; keywords are those of :func:`figure` (the rest keep their defaults)."""
    kw = {**_DEFAULTS, **kw}
    font_size = kw["font_size"]
    with _style(DEFAULT_FONT_SIZE if not _is_number(font_size) else float(font_size), rc):
        escape = latex_escape if fmt == "pgf" else None
        fig, o = _build(result_or_attention, tokens, sentence_b_start, escape, kw)
        return _render(fig, fmt, o.dpi)


def save_figure(
    result_or_attention: Any,
    path: str | PathLike,
    *,
    tokens: Sequence[str] | None = None,
    sentence_b_start: int | None = None,
    state: Mapping[str, Any] | None = None,
    view: str = "matrix",
    layer: int = 0,
    head: int = 0,
    heads: Sequence[int] | None = None,
    head_reduce: str = "none",
    cmap: Any = "viridis",
    width: str | float = "single",
    dpi: float | None = None,
    threshold: float = 0.0,
    title: str | None = None,
    colorbar_label: str = "attention weight",
    prettify_tokens: bool = True,
    font_size: float | None = None,
    vmax: float | None = None,
    layers: Sequence[int] | None = None,
    head_colors: Sequence[Any] | None = None,
    max_label_chars: int = MAX_LABEL_CHARS,
    rc: dict | None = None,
    format: str | None = None,
) -> int:
    """Write one view as ``.svg``, ``.pdf``, ``.png`` or ``.pgf`` and return the number of bytes written.

    The keyword arguments are those of :func:`figure` (``dpi`` defaults to 300). The format comes from
    the extension (or ``format``). ``result_or_attention`` may also be a Figure that :func:`figure`
    built and the caller changed: it is written as it is (only ``dpi`` and ``rc`` apply).

    The same input gives the same bytes (no dates, no software versions, a fixed SVG hash salt). PDF
    fonts are embedded as TrueType (Type 42); SVG text stays text; PNG is ``width * dpi`` pixels wide.
    PGF needs LaTeX (``pgf.texsystem``, xelatex by default) on the PATH: without it a
    ``RuntimeError`` says so; token labels are TeX-escaped there. Nothing is written on error.
    """
    kw = _chosen_options(locals())  # first: locals() is then the arguments alone
    from matplotlib.figure import Figure

    path = os.fspath(path)
    fmt = _format_of(path, format)
    if fmt == "pgf" and _latex_available() is None:
        import matplotlib

        raise RuntimeError(
            f"writing .pgf needs LaTeX: {matplotlib.rcParams['pgf.texsystem']!r} was not found on the PATH; "
            "write .pdf or .svg instead (both embed the text), or install a TeX distribution"
        )
    if isinstance(result_or_attention, Figure):
        changed = sorted(k for k, v in kw.items() if k in _DEFAULTS and k != "dpi" and _differs(v, _DEFAULTS[k]))
        if changed or tokens is not None or sentence_b_start is not None or state is not None:
            raise TypeError(f"a ready Figure is saved as it is; only dpi and rc apply, not {changed or ['tokens']}")
        with _style(DEFAULT_FONT_SIZE, rc):
            data = _render(result_or_attention, fmt, result_or_attention.dpi if dpi is None else dpi)
    else:
        data = figure_bytes(result_or_attention, fmt, tokens=tokens, sentence_b_start=sentence_b_start, rc=rc, **kw)
    with open(path, "wb") as f:
        f.write(data)
    return len(data)
