"""Aligning two captures for comparison: which tokens (or words) of one correspond to which of the other.

Pure functions, no widget. Three cases, one result (:class:`Alignment`):

- the same tokens (one tokenizer, one text; or two models sharing a tokenizer): token by token;
- different tokenizers on the same text (SentencePiece ``▁``, WordPiece ``##``, byte-level ``Ġ``): at
  word level (the word merge of :mod:`albert_widget.words`), words matched by their text; where the
  two split a stretch of text into different words (``don't`` against ``don ' t``) the stretch is
  cut at the character offsets both sides share and each piece between two shared offsets is one
  aligned unit;
- different texts: words matched by a longest-common-subsequence diff (:mod:`difflib`); a word on
  one side only is a deletion (left only) or an insertion (right only), kept in :attr:`Alignment.slots`
  for display, never silently dropped.

Special tokens align by role (``[CLS]`` with ``<s>``, ``[SEP]`` with ``</s>``), other words by their
text without word markers, case- and accent-folded (uncased tokenizers lowercase and strip accents).

The aligned attention of one side (:func:`aligned_attention`): rows = mean over a unit's query
tokens, columns = sum over a unit's key tokens (the word merge), keys of no unit dropped, every row
renormalised over the aligned keys.
"""

from __future__ import annotations

import difflib
import itertools
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..result import AttentionResult
from ..words import looks_special, strip_marker, word_groups, word_members, word_tokens

__all__ = ["Alignment", "Slot", "align", "align_tokens", "aligned_attention", "identity_alignment", "slot_matrix", "word_key"]

_SPECIAL_ROLES = {"[CLS]": "<cls>", "<s>": "<cls>", "[SEP]": "<sep>", "</s>": "<sep>", "<|endoftext|>": "<sep>"}


@dataclass(frozen=True)
class Slot:
    """One position of the compared sequence, in reading order.

    ``side``: ``"both"`` (aligned: ``unit`` is its index), ``"left"`` (left only, a deletion) or
    ``"right"`` (right only, an insertion; ``unit`` is -1 for both). ``left`` / ``right``: the raw text
    of the word (or token) on each side (``None`` on the side that lacks it); ``left_tokens`` /
    ``right_tokens``: the token indices it covers on each side.
    """

    side: str
    unit: int
    left: str | None
    right: str | None
    left_tokens: tuple[int, ...]
    right_tokens: tuple[int, ...]

    @property
    def label(self) -> str:
        """The raw text shown for the slot: the left side's where it has one."""
        return self.left if self.left is not None else str(self.right)


@dataclass(frozen=True)
class Alignment:
    """Which tokens of two captures correspond.

    ``level``: ``"token"`` (identical tokenizations) or ``"word"``. ``left_units`` int64 ``[N_left]``,
    ``right_units`` int64 ``[N_right]``: the aligned unit (0..num_units-1) of every token, -1 for a
    token on one side only. ``slots``: every unit once and every one-sided word once, in reading order.
    """

    level: str
    left_units: np.ndarray
    right_units: np.ndarray
    num_units: int
    slots: tuple[Slot, ...]

    @property
    def deleted(self) -> list[str]:
        """Words (or tokens) of the left side that the right side lacks."""
        return [s.label for s in self.slots if s.side == "left"]

    @property
    def inserted(self) -> list[str]:
        """Words (or tokens) of the right side that the left side lacks."""
        return [s.label for s in self.slots if s.side == "right"]

    @property
    def slot_units(self) -> np.ndarray:
        """int64 ``[S]``: the unit of every slot, -1 for a one-sided slot."""
        return np.array([s.unit for s in self.slots], dtype=np.int64)

    def note(self) -> str:
        """One sentence saying how the two sides were aligned, for the page and figures."""
        how = "token by token" if self.level == "token" else "word by word (pieces merged: rows mean, columns sum)"
        text = f"Aligned {how}: {self.num_units} aligned {'tokens' if self.level == 'token' else 'units'}"
        if self.deleted or self.inserted:
            text += f", {len(self.deleted)} on the left only, {len(self.inserted)} on the right only"
        return text + "; every row is renormalised over the aligned keys."

    def to_dict(self) -> dict[str, Any]:
        """Plain data for the page: level, note, and per slot side / unit / left / right labels."""
        return {
            "level": self.level,
            "num_units": self.num_units,
            "note": self.note(),
            "slots": [{"side": s.side, "unit": s.unit, "left": s.left, "right": s.right} for s in self.slots],
            "left_units": self.left_units.tolist(),
            "right_units": self.right_units.tolist(),
        }


def word_key(raw: str, special: bool) -> str:
    """What two words must share to align: the role of a special token, else the text without word
    markers, NFKD-folded without accents and case-folded."""
    if special:
        return _SPECIAL_ROLES.get(raw, raw)
    text = unicodedata.normalize("NFKD", strip_marker(raw))
    return "".join(c for c in text if not unicodedata.combining(c)).casefold().strip()


def identity_alignment(tokens: Sequence[str]) -> Alignment:
    """Token-by-token alignment of two identical tokenizations of ``N`` tokens."""
    n = len(tokens)
    units = np.arange(n, dtype=np.int64)
    slots = tuple(Slot("both", i, str(tok), str(tok), (i,), (i,)) for i, tok in enumerate(tokens))
    return Alignment("token", units, units.copy(), n, slots)


@dataclass(frozen=True)
class _Words:
    raw: list[str]  # word text as one raw token (word_tokens)
    keys: list[str]  # word_key of each word
    members: list[list[int]]  # token indices of each word


def _words(tokens: Sequence[str], special: Sequence[bool], segments: Sequence[int]) -> _Words:
    groups = word_groups(tokens, special, segments)
    members = word_members(groups)
    raw = word_tokens(tokens, groups)
    keys = [word_key(r, bool(special[m[0]])) for r, m in zip(raw, members)]
    return _Words(raw, keys, members)


def _shared_cuts(left_keys: Sequence[str], right_keys: Sequence[str]) -> list[tuple[list[int], list[int]]] | None:
    """Words of one stretch of text split differently on two sides -> groups of (left words, right
    words) between the character offsets both sides share; ``None`` when the texts differ."""
    if "".join(left_keys) != "".join(right_keys) or not "".join(left_keys):
        return None
    left_ends = list(itertools.accumulate(len(k) for k in left_keys))
    right_ends = list(itertools.accumulate(len(k) for k in right_keys))
    cuts = sorted(set(left_ends) & set(right_ends))
    out: list[tuple[list[int], list[int]]] = []
    li = ri = 0
    for cut in cuts:
        lw, rw = [], []
        while li < len(left_keys) and left_ends[li] <= cut:
            lw.append(li)
            li += 1
        while ri < len(right_keys) and right_ends[ri] <= cut:
            rw.append(ri)
            ri += 1
        if lw and rw:
            out.append((lw, rw))
        elif lw or rw:  # an empty word (a bare marker) joins the previous unit
            if not out:
                return None
            out[-1][0].extend(lw)
            out[-1][1].extend(rw)
    return out


def align_tokens(
    left_tokens: Sequence[str],
    right_tokens: Sequence[str],
    left_special: Sequence[bool] | None = None,
    right_special: Sequence[bool] | None = None,
    left_segments: Sequence[int] | None = None,
    right_segments: Sequence[int] | None = None,
) -> Alignment:
    """Align two token lists (see the module docstring). Special masks and segments as in
    :func:`albert_widget.words.word_groups` (guessed from the token text when ``None``)."""
    left_tokens = [str(t) for t in left_tokens]
    right_tokens = [str(t) for t in right_tokens]
    if left_tokens == right_tokens:
        return identity_alignment(left_tokens)
    ls = list(left_special) if left_special is not None else [looks_special(t) for t in left_tokens]
    rs = list(right_special) if right_special is not None else [looks_special(t) for t in right_tokens]
    lw = _words(left_tokens, ls, left_segments or [0] * len(left_tokens))
    rw = _words(right_tokens, rs, right_segments or [0] * len(right_tokens))
    left_units = np.full(len(left_tokens), -1, dtype=np.int64)
    right_units = np.full(len(right_tokens), -1, dtype=np.int64)
    slots: list[Slot] = []

    def both(lws: Sequence[int], rws: Sequence[int]) -> None:
        unit = sum(1 for s in slots if s.side == "both")
        lt = tuple(i for w in lws for i in lw.members[w])
        rt = tuple(i for w in rws for i in rw.members[w])
        left_units[list(lt)] = unit
        right_units[list(rt)] = unit
        slots.append(Slot("both", unit, " ".join(lw.raw[w] for w in lws), " ".join(rw.raw[w] for w in rws), lt, rt))

    def one_side(words: _Words, indices: range, side: str) -> None:
        for w in indices:
            tokens = tuple(words.members[w])
            label = words.raw[w]
            slots.append(
                Slot(
                    side,
                    -1,
                    label if side == "left" else None,
                    label if side == "right" else None,
                    tokens if side == "left" else (),
                    tokens if side == "right" else (),
                )
            )

    matcher = difflib.SequenceMatcher(None, lw.keys, rw.keys, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            for i, j in zip(range(i1, i2), range(j1, j2)):
                both([i], [j])
            continue
        groups = _shared_cuts(lw.keys[i1:i2], rw.keys[j1:j2]) if op == "replace" else None
        if groups is not None:
            for lws, rws in groups:
                both([i1 + w for w in lws], [j1 + w for w in rws])
            continue
        one_side(lw, range(i1, i2), "left")
        one_side(rw, range(j1, j2), "right")
    units = sum(1 for s in slots if s.side == "both")
    return Alignment("word", left_units, right_units, units, tuple(slots))


def align(left: AttentionResult, right: AttentionResult) -> Alignment:
    """Align two captures by their tokens, special-token masks and segments."""
    return align_tokens(
        left.tokens,
        right.tokens,
        left.special_tokens_mask.tolist(),
        right.special_tokens_mask.tolist(),
        left.token_type_ids.tolist(),
        right.token_type_ids.tolist(),
    )


def aligned_attention(attention: Any, units: Sequence[int], num_units: int) -> np.ndarray:
    """Attention ``[..., N, N]`` -> float64 ``[..., K, K]`` over the ``K = num_units`` aligned units.

    ``units`` (``[N]``): each token's unit, -1 for a token of no unit. Rows: mean over a unit's
    query tokens; columns: sum over a unit's key tokens; keys of no unit dropped; each row then
    renormalised to sum to 1 over the aligned keys (a row with no weight on them: uniform, 1/K).
    """
    units = np.asarray(units, dtype=np.int64)
    a = np.asarray(attention)
    n = units.shape[0]
    if a.shape[-1] != n or a.shape[-2] != n:
        raise ValueError(f"attention is {a.shape[-2]} x {a.shape[-1]} tokens but got {n} units")
    if num_units <= 0:
        raise ValueError("nothing aligned: the two sides share no token or word")
    keep = np.flatnonzero(units >= 0)
    order = keep[np.argsort(units[keep], kind="stable")]
    sorted_units = units[order]
    starts = np.flatnonzero(np.r_[True, sorted_units[1:] != sorted_units[:-1]])
    if not np.array_equal(sorted_units[starts], np.arange(num_units)):
        raise ValueError(f"units must number 0..{num_units - 1}, each with at least one token")
    if num_units == n and np.array_equal(order, np.arange(n)):  # token by token: nothing to merge
        merged = a.astype(np.float64)
    elif num_units == n:
        merged = a[..., order[:, None], order].astype(np.float64)
    else:
        counts = np.diff(np.r_[starts, len(order)])
        cols = np.add.reduceat(a[..., order].astype(np.float64), starts, axis=-1)  # sum over a unit's keys
        merged = np.add.reduceat(cols[..., order, :], starts, axis=-2) / counts[:, None]  # mean over its queries
    sums = merged.sum(axis=-1, keepdims=True)
    empty = sums[..., 0] <= 0
    merged /= np.where(sums > 0, sums, 1.0)
    merged[empty] = 1.0 / num_units
    return merged


def slot_matrix(matrix: np.ndarray, slot_units: Sequence[int]) -> np.ndarray:
    """Unit matrix ``[K, K]`` -> float32 ``[S, S]`` over the slots (:attr:`Alignment.slots`): the
    rows and columns of a one-sided slot (unit -1) are NaN, drawn as "not on this side"."""
    units = np.asarray(slot_units, dtype=np.int64)
    out = np.full((units.size, units.size), np.nan, dtype=np.float32)
    both = np.flatnonzero(units >= 0)
    out[np.ix_(both, both)] = np.asarray(matrix)[np.ix_(units[both], units[both])]
    return out
