"""Sub-word pieces -> words, and token-level attention -> word-level attention.

The same rules as the page's ``js/src/tokens.js`` (``wordGroups``, ``wordRaw``) and
``js/src/filters.js`` (``mergeToWords``); tests check that both give the same groups.

Which pieces start a word:

- WordPiece (BERT, MiniLM): a piece that is not a ``##`` continuation starts a word
  (used when any piece of the list is a ``##`` continuation);
- SentencePiece (ALBERT, T5: ``▁``) and byte-level BPE (GPT-2, RoBERTa, BART: ``Ġ``): a piece that
  begins with the marker starts a word (used when any piece carries a marker);
- otherwise every piece is a word of its own.

Whatever the scheme, the first token, a special token ([CLS], [SEP], <s>, ...), the token after a
special token and the first token of a new segment (sentence B) always start a word, so special
tokens stay words of their own and no word spans two sentences.

Attention TO a word is the sum over its pieces (columns); attention FROM a word is the mean over its
pieces (rows). Rows that summed to 1 still sum to 1 (Clark et al., 2019).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "BPE_SPACE",
    "SP_SPACE",
    "is_continuation",
    "is_word_start",
    "looks_special",
    "merge_to_words",
    "strip_marker",
    "word_groups",
    "word_members",
    "word_tokens",
]

SP_SPACE = "\u2581"  # ▁ SentencePiece word start
BPE_SPACE = "\u0120"  # Ġ byte-level BPE word start

_SPECIAL_NAMES = frozenset({"[CLS]", "[SEP]", "[PAD]", "[MASK]", "[UNK]", "<s>", "</s>", "<pad>", "<unk>", "<mask>", "<|endoftext|>"})
_SPECIAL_PATTERN = re.compile(r"^(\[[A-Z][A-Z0-9_]*\]|<\|[A-Za-z0-9_]+\|>|<extra_id_[0-9]+>)$")


def looks_special(token: str) -> bool:
    """Whether a token looks like a special token ([CLS], </s>, <|endoftext|>, <extra_id_0>, ...).

    Used only when no special-token mask is given (the same test as ``looksSpecial`` in tokens.js);
    the one such test of the package (:meth:`AttentionResult.from_attention` uses it too).
    """
    return token in _SPECIAL_NAMES or bool(_SPECIAL_PATTERN.match(token))


def strip_marker(token: str) -> str:
    """A piece without its word marker: ``"▁the"``/``"Ġthe"`` -> ``"the"``, ``"##ing"`` -> ``"ing"``.

    One marker at most, the word-start one first (``"▁##"`` -> ``"##"``); ``"##"`` alone is a token, not
    a marker, and stays. The one marker-stripping rule of the package (word display, figure labels,
    punctuation in the head statistics), as ``prettify`` in tokens.js.
    """
    if is_word_start(token):
        return token[1:]
    if is_continuation(token):
        return token[2:]
    return token


def is_word_start(token: str) -> bool:
    """A SentencePiece ``▁`` or byte-level BPE ``Ġ`` piece: it begins a new word."""
    return token.startswith((SP_SPACE, BPE_SPACE))


def is_continuation(token: str) -> bool:
    """A WordPiece ``##`` piece (``##`` alone is a token of its own, not a continuation)."""
    return not is_word_start(token) and token.startswith("##") and len(token) > 2


def word_groups(
    tokens: Sequence[str],
    special: Sequence[bool] | None = None,
    segments: Sequence[int] | None = None,
) -> list[int]:
    """The word index of every token: ``[0, 1, 1, 2, ...]`` (non-decreasing, starting at 0).

    ``special`` is the special-token mask (guessed from the token text when ``None``);
    ``segments`` the token types (0 = sentence A, 1 = sentence B).
    """
    tokens = [str(t) for t in tokens]
    n = len(tokens)
    if special is None or len(special) != n:
        special = [looks_special(t) for t in tokens]
    if segments is None or len(segments) != n:
        segments = [0] * n
    word_piece = any(is_continuation(t) for t in tokens)
    marked = any(is_word_start(t) for t in tokens)
    groups: list[int] = []
    word = -1
    for i, token in enumerate(tokens):
        if i == 0 or special[i] or special[i - 1] or segments[i] != segments[i - 1]:
            starts = True
        elif word_piece:
            starts = not is_continuation(token)
        elif marked:
            starts = is_word_start(token)
        else:
            starts = True
        if starts:
            word += 1
        groups.append(word)
    return groups


def word_members(groups: Sequence[int]) -> list[list[int]]:
    """For every word, the indices of its tokens."""
    count = (max(groups) + 1) if len(groups) else 0
    members: list[list[int]] = [[] for _ in range(count)]
    for i, g in enumerate(groups):
        if not isinstance(g, (int, np.integer)) or g < 0:
            raise ValueError(f"word group of token {i} must be a non-negative int, got {g!r}")
        members[int(g)].append(i)
    if any(not m for m in members):
        raise ValueError("word groups must number the words 0, 1, 2, ... without gaps")
    return members


def word_tokens(tokens: Sequence[str], groups: Sequence[int]) -> list[str]:
    """Each word as one raw token: its first piece followed by the others, ``##`` stripped.

    ``["▁foot", "ball"]`` -> ``"▁football"``, ``["foot", "##ball"]`` -> ``"football"``,
    ``["Ġwor", "ld"]`` -> ``"Ġworld"`` (the display rules of a single piece then apply to the word).
    """
    out = []
    for members in word_members(groups):
        first, *rest = (str(tokens[i]) for i in members)
        out.append(first + "".join(strip_marker(t) if is_continuation(t) else t for t in rest))
    return out


def merge_to_words(attention: Any, groups: Sequence[int], col_groups: Sequence[int] | None = None) -> np.ndarray:
    """Token-level attention ``[..., R, C]`` -> word-level attention ``[..., W_rows, W_cols]``.

    ``out[..., I, J] = mean over query pieces i of I of ( sum over key pieces j of J of a[..., i, j] )``.
    ``groups`` numbers the rows' words, ``col_groups`` the columns' (default: ``groups``, for square
    self-attention; give the encoder's groups for cross attention, whose rows are decoder tokens).
    Returns float32, computed in float64.
    """
    a = np.asarray(attention, dtype=np.float64)
    if a.ndim < 2:
        raise ValueError(f"attention must have at least 2 dimensions [..., rows, columns], got shape {a.shape}")
    if col_groups is None:
        col_groups = groups
    rows, cols = a.shape[-2:]
    if len(groups) != rows or len(col_groups) != cols:
        raise ValueError(f"attention is {rows} x {cols} tokens but got {len(groups)} row groups and {len(col_groups)} column groups")
    row_members = word_members(groups)
    col_members = word_members(col_groups)
    mean_rows = np.zeros((len(row_members), rows))
    for w, members in enumerate(row_members):
        mean_rows[w, members] = 1.0 / len(members)
    sum_cols = np.zeros((cols, len(col_members)))
    for w, members in enumerate(col_members):
        sum_cols[members, w] = 1.0
    return np.ascontiguousarray((mean_rows @ a @ sum_cols).astype(np.float32))
