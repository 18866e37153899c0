"""What the head and matrix views show of a capture, in Python: the twin of the page's ``js/src/filters.js``
(``viewPlan``, ``applyPlan``, ``causalMask``, ``reduceLayers``) so that a saved figure is the view on
screen. Pure functions on numpy arrays; :func:`shown_view` runs them all from the widget's plain state
(:func:`albert_widget.state.page_state`).

Order of the steps, for every head of an ``[H, R, C]`` layer (rows = queries, columns = keys):

1. hide special tokens: drop their rows and columns and renormalise every row over the columns that
   stay, so rows sum to 1 again (a row whose attention all went to hidden tokens stays 0);
2. word level: attention TO a word = sum over its pieces, FROM a word = mean over its pieces;
3. pair filter: the rows (queries) of one sentence and the columns (keys) of the other (a slice).

Before them, ``layer_reduce`` takes the mean or max over every layer of the attention kind shown.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .names import ATTENTION_KINDS, PAIR_FILTERS, REDUCTIONS
from .result import AttentionResult
from .words import word_groups, word_members, word_tokens

__all__ = ["Axis", "Plan", "Shown", "apply_plan", "axis_plan", "causal_mask", "kind_axes", "reduce_layers", "shown_view", "view_plan"]

_PAIRS = {"aa": (0, 0), "ab": (0, 1), "ba": (1, 0), "bb": (1, 1)}


@dataclass(frozen=True)
class Axis:
    """The tokens of one axis (rows or columns) as the page gets them: raw pieces, special mask,
    segments (0 = sentence A, 1 = B), all of length N."""

    tokens: tuple[str, ...]
    special: tuple[bool, ...]
    segments: tuple[int, ...]


@dataclass(frozen=True)
class Plan:
    """Which original rows/columns make each shown row/column (``members``), the raw text of each shown
    token (a word's pieces joined as the page joins them), whether it is special, its segment, and
    the original columns a row is renormalised over (``kept_cols``; None when nothing is hidden)."""

    row_members: tuple[tuple[int, ...], ...]
    col_members: tuple[tuple[int, ...], ...]
    row_raw: tuple[str, ...]
    col_raw: tuple[str, ...]
    row_special: tuple[bool, ...]
    col_special: tuple[bool, ...]
    row_segments: tuple[int, ...]
    col_segments: tuple[int, ...]
    kept_cols: tuple[bool, ...] | None
    causal: bool
    pair: str


def kind_axes(result: AttentionResult, kind: str) -> tuple[Axis, Axis]:
    """(rows, columns) of an attention kind: encoder = tokens x tokens, decoder = decoder tokens x
    decoder tokens, cross = decoder tokens x tokens (``kindAxes`` in filters.js)."""
    enc = Axis(tuple(result.tokens), tuple(bool(s) for s in result.special_tokens_mask), tuple(int(s) for s in result.token_type_ids))
    if kind == "encoder":
        return enc, enc
    dec_tokens = tuple(result.decoder_tokens or ())
    mask = result.decoder_special_tokens_mask
    dec = Axis(dec_tokens, tuple(bool(s) for s in mask) if mask is not None else (False,) * len(dec_tokens), (0,) * len(dec_tokens))
    return (dec, dec) if kind == "decoder" else (dec, enc)


def axis_plan(axis: Axis, *, word_level: bool, hide_special: bool, prettify: bool = True) -> tuple[list[list[int]], list[str], list[bool]]:
    """(members, raw text, kept) of one axis (``axisPlan`` in filters.js): the original indices of
    every shown token, its raw text (a word: its pieces joined, ``##`` dropped when ``prettify``), and
    for every original index whether it is shown."""
    n = len(axis.tokens)
    kept = [not (hide_special and axis.special[i]) for i in range(n)]
    if word_level:
        groups = word_members(word_groups(axis.tokens, axis.special, axis.segments)) if n else []
        members = [shown for shown in ([i for i in word if kept[i]] for word in groups) if shown]
        if prettify:
            raw = [word_tokens([axis.tokens[i] for i in m], [0] * len(m))[0] for m in members]
        else:
            raw = ["".join(str(axis.tokens[i]) for i in m) for m in members]
    else:
        members = [[i] for i in range(n) if kept[i]]
        raw = [str(axis.tokens[i]) for i in range(n) if kept[i]]
    return members, raw, kept


def _has_pair(segments: Sequence[int]) -> bool:
    return any(s == 1 for s in segments) and any(s != 1 for s in segments)


def view_plan(
    rows: Axis,
    cols: Axis,
    *,
    square: bool = True,
    pair_filter: str = "all",
    word_level: bool = False,
    hide_special: bool = False,
    causal: bool = False,
    prettify: bool = True,
) -> Plan:
    """The plan of one view (``viewPlan`` in filters.js). The pair filter applies to square
    (self-attention) views of a text pair only, as on the page."""
    opts = {"word_level": word_level, "hide_special": hide_special, "prettify": prettify}
    r_members, r_raw, _ = axis_plan(rows, **opts)
    c_members, c_raw, c_kept = axis_plan(cols, **opts)

    def first(members: list[list[int]], values: Sequence[Any]) -> list[Any]:
        return [values[m[0]] for m in members]

    r_special, c_special = first(r_members, rows.special), first(c_members, cols.special)
    r_seg = [1 if s == 1 else 0 for s in first(r_members, rows.segments)]
    c_seg = [1 if s == 1 else 0 for s in first(c_members, cols.segments)]
    pair = _PAIRS.get(pair_filter) if square and _has_pair(rows.segments) else None
    keep_r = [pair is None or s == pair[0] for s in r_seg]
    keep_c = [pair is None or s == pair[1] for s in c_seg]

    def pick(values: Sequence[Any], keep: Sequence[bool]) -> tuple[Any, ...]:
        return tuple(tuple(v) if isinstance(v, list) else v for v, k in zip(values, keep) if k)

    return Plan(
        row_members=pick(r_members, keep_r),
        col_members=pick(c_members, keep_c),
        row_raw=pick(r_raw, keep_r),
        col_raw=pick(c_raw, keep_c),
        row_special=pick(r_special, keep_r),
        col_special=pick(c_special, keep_c),
        row_segments=pick(r_seg, keep_r),
        col_segments=pick(c_seg, keep_c),
        kept_cols=tuple(c_kept) if hide_special else None,
        causal=bool(causal),
        pair=pair_filter if pair else "all",
    )


def _group(a: np.ndarray, members: Sequence[Sequence[int]], axis: int, mean: bool) -> np.ndarray:
    """``a`` with its ``axis`` regrouped: entry ``w`` is the mean (rows) or sum (columns) of the
    entries ``members[w]``. Gathers then adds runs (``np.add.reduceat``): O(size of ``a``), where a
    product with a grouping matrix would cost O(N³) at long inputs."""
    if all(len(m) == 1 for m in members):  # no words, at most a filter: a plain selection
        return np.take(a, [m[0] for m in members], axis=axis)
    shape = list(a.shape)
    if not members:
        shape[axis] = 0
        return np.zeros(shape)
    order = np.fromiter((i for m in members for i in m), dtype=np.intp)
    lengths = np.array([len(m) for m in members], dtype=np.intp)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    out = np.add.reduceat(np.take(a, order, axis=axis), starts, axis=axis)
    if mean:
        shape = [1] * a.ndim
        shape[axis] = len(members)
        out = out / lengths.reshape(shape)
    return out


def apply_plan(attention: Any, plan: Plan) -> np.ndarray:
    """``[..., R, C]`` attention -> ``[..., rows shown, columns shown]`` float32 (``applyPlan``):
    rows renormalised over the kept columns when special tokens are hidden, then word means (rows)
    and sums (columns), computed in float64."""
    a = np.asarray(attention, dtype=np.float64)
    if plan.kept_cols is not None:
        kept = np.asarray(plan.kept_cols, dtype=bool)
        total = a[..., kept].sum(axis=-1, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            a = np.where(total > 0, a / np.where(total > 0, total, 1.0), 0.0)
    a = _group(a, plan.row_members, a.ndim - 2, mean=True)
    a = _group(a, plan.col_members, a.ndim - 1, mean=False)
    return np.ascontiguousarray(a.astype(np.float32))


def causal_mask(plan: Plan) -> np.ndarray | None:
    """bool ``[rows shown, columns shown]``: True where every key of the column comes after every
    query of the row (weights a causal model cannot have); None when not causal or nothing is masked."""
    if not plan.causal:
        return None
    row_max = np.array([max(m) for m in plan.row_members])
    col_min = np.array([min(m) for m in plan.col_members])
    mask = col_min[None, :] > row_max[:, None]
    return mask if mask.any() else None


def reduce_layers(attention: Any, mode: str) -> np.ndarray:
    """Mean or max over the layers of ``[L, H, R, C]`` -> ``[H, R, C]`` float32 (``reduceLayers``)."""
    a = np.asarray(attention)
    if mode == "max":
        return np.asarray(a.max(axis=0), dtype=np.float32)
    return np.asarray(a.astype(np.float64).mean(axis=0), dtype=np.float32)


def is_causal(result: AttentionResult, kind: str) -> bool:
    """Whether a kind's matrices carry a causal mask (``isCausal``): decoder yes, cross no, encoder
    when the model is causal (GPT-2)."""
    if kind == "cross":
        return False
    return kind == "decoder" or bool(result.info.is_causal)


@dataclass(frozen=True)
class Shown:
    """What the head or matrix view draws: ``attention`` float32 ``[H, R, C]`` of the layer (or of the
    mean/max over layers) after the filters, the plan (labels, special marks, segments), the causal
    mask (bool ``[R, C]`` or None), the kind and layer shown, and ``layer_label`` ("layer 2",
    "mean of 6 layers")."""

    attention: np.ndarray
    plan: Plan
    mask: np.ndarray | None
    kind: str
    layer: int
    layer_reduce: str
    num_layers: int

    @property
    def layer_label(self) -> str:
        if self.layer_reduce in ("mean", "max"):
            return f"{self.layer_reduce} of {self.num_layers} layers"
        return f"layer {self.layer}"


def _choice(state: Mapping[str, Any], name: str, choices: Sequence[str], default: str) -> str:
    value = str(state.get(name, default))
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}: expected one of {', '.join(map(repr, choices))}")
    return value


def shown_view(result: AttentionResult, state: Mapping[str, Any]) -> Shown:
    """The filtered attention of the view a page with ``state`` (the widget's traits as plain data)
    shows: ``attention_kind``, ``layer`` (or ``layer_reduce``), ``pair_filter``, ``word_level``,
    ``hide_special``, ``prettify_tokens``. ValueError when the kind is not in the capture or the layer is out of range."""
    kind = _choice(state, "attention_kind", ATTENTION_KINDS, "encoder")
    if kind not in result.kinds:
        raise ValueError(f"attention_kind {kind!r} is not in this capture: it has {', '.join(map(repr, result.kinds))}")
    pair_filter = _choice(state, "pair_filter", PAIR_FILTERS, "all")
    layer_reduce = _choice(state, "layer_reduce", REDUCTIONS, "none")
    attention = result.attention_of(kind)
    num_layers = attention.shape[0]
    layer = state.get("layer", 0)
    if layer_reduce == "none":
        if not isinstance(layer, (int, np.integer)) or isinstance(layer, bool) or not 0 <= layer < num_layers:
            raise ValueError(
                f"layer {layer!r} is out of range: the {kind} attention has {num_layers} layers (valid layer: 0 to {num_layers - 1})"
            )
        data = attention[int(layer)]
    else:
        data = reduce_layers(attention, layer_reduce)
    rows, cols = kind_axes(result, kind)
    plan = view_plan(
        rows,
        cols,
        square=kind != "cross",
        pair_filter=pair_filter,
        word_level=bool(state.get("word_level", False)),
        hide_special=bool(state.get("hide_special", False)),
        causal=is_causal(result, kind),
        prettify=state.get("prettify_tokens", True) is not False,
    )
    return Shown(
        attention=apply_plan(data, plan),
        plan=plan,
        mask=causal_mask(plan),
        kind=kind,
        layer=int(layer) if layer_reduce == "none" else -1,
        layer_reduce=layer_reduce,
        num_layers=num_layers,
    )
