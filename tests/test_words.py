"""Word level: sub-word pieces -> words (albert_widget/words.py) against a hand-computed example, and
the page's twin (js/src/tokens.js wordGroups, js/src/filters.js mergeToWords) on the same token lists
of real tokenizers: ALBERT SentencePiece (▁), MiniLM WordPiece (##), GPT-2-style byte-level BPE (Ġ)."""

from __future__ import annotations

import json
import pathlib
import shutil
import subprocess

import numpy as np
import pytest

from albert_widget.words import looks_special, merge_to_words, strip_marker, word_groups, word_members, word_tokens

REPO = pathlib.Path(__file__).resolve().parents[1]

# [CLS] ▁play ing [SEP]: "play" + "ing" make one word.
HAND_TOKENS = ["[CLS]", "\u2581play", "ing", "[SEP]"]
HAND_ATTENTION = np.array(
    [
        [0.40, 0.30, 0.20, 0.10],
        [0.10, 0.50, 0.20, 0.20],
        [0.30, 0.10, 0.40, 0.20],
        [0.25, 0.25, 0.25, 0.25],
    ],
    dtype=np.float32,
)
# TO a word = sum over its pieces (columns 1 and 2 add up); FROM a word = mean over its pieces
# (rows 1 and 2: [0.1, 0.7, 0.2] and [0.3, 0.5, 0.2] average to [0.2, 0.6, 0.2]).
HAND_EXPECTED = np.array(
    [
        [0.40, 0.50, 0.10],
        [0.20, 0.60, 0.20],
        [0.25, 0.50, 0.25],
    ],
    dtype=np.float32,
)


def test_hand_computed_example():
    groups = word_groups(HAND_TOKENS)
    assert groups == [0, 1, 1, 2]
    assert word_tokens(HAND_TOKENS, groups) == ["[CLS]", "\u2581playing", "[SEP]"]
    merged = merge_to_words(HAND_ATTENTION, groups)
    np.testing.assert_allclose(merged, HAND_EXPECTED, atol=1e-7)
    np.testing.assert_allclose(merged.sum(axis=-1), 1.0, atol=1e-6)  # rows still sum to 1
    assert merged.dtype == np.float32


def test_rows_still_sum_to_one_for_every_layer_and_head():
    rng = np.random.default_rng(0)
    tokens = ["[CLS]", "play", "##ing", "foot", "##ball", "is", "fun", "[SEP]"]
    a = rng.random((3, 4, 8, 8))
    a /= a.sum(-1, keepdims=True)
    merged = merge_to_words(a, word_groups(tokens))
    assert merged.shape == (3, 4, 6, 6)
    np.testing.assert_allclose(merged.sum(-1), 1.0, atol=1e-6)
    # "playing" (pieces 1, 2) -> "football" (pieces 3, 4): mean over query pieces of the key pieces' sum.
    expected = (a[..., 1, 3] + a[..., 1, 4] + a[..., 2, 3] + a[..., 2, 4]) / 2
    np.testing.assert_allclose(merged[..., 1, 2], expected, rtol=1e-6)


def test_word_groups_of_the_three_schemes():
    sp = ["[CLS]", "\u2581the", "\u2581un", "believ", "able", "\u2581cat", ".", "[SEP]"]
    assert word_groups(sp) == [0, 1, 2, 2, 2, 3, 3, 4]
    wp = ["[CLS]", "the", "un", "##believ", "##able", "cat", ".", "[SEP]"]
    assert word_groups(wp) == [0, 1, 2, 2, 2, 3, 4, 5]
    bpe = ["Hello", "\u0120wor", "ld", "!", "\u0120again"]
    assert word_groups(bpe) == [0, 1, 1, 1, 2]
    assert word_tokens(bpe, word_groups(bpe)) == ["Hello", "\u0120world!", "\u0120again"]
    assert word_tokens(wp, word_groups(wp))[2] == "unbelievable"


def test_special_tokens_and_segments_start_words():
    # [SEP] is its own word even in a ▁ scheme where it has no marker, and sentence B starts anew.
    tokens = ["[CLS]", "\u2581a", "b", "[SEP]", "c", "\u2581d", "[SEP]"]
    assert word_groups(tokens) == [0, 1, 1, 2, 3, 4, 5]
    # A given mask wins over the guess; a segment change starts a word without any special token.
    assert word_groups(["\u2581x", "y", "z"], special=[False, False, False], segments=[0, 0, 1]) == [0, 0, 1]
    assert word_groups(["<s>", "x", "</s>"], special=[False, False, False]) == [0, 1, 2]  # no markers: each piece
    assert word_groups([]) == []
    assert looks_special("<|endoftext|>") and looks_special("[MASK]") and looks_special("<extra_id_3>")
    assert not looks_special("<b>") and not looks_special("cat") and not looks_special("[cat]")


SPECIAL_LOOKING = ["[CLS]", "[SEP]", "</s>", "<s>", "<mask>", "<extra_id_0>", "<|endoftext|>", "[MASK]"]
PLAIN = ["cat", "\u2581the", "##ing", "<b>", "[cat]", "<", "##"]


def test_one_special_token_guess_for_words_results_and_compat():
    """words.looks_special is the only guess: AttentionResult.from_attention (no mask given) and the
    word grouping agree on every token, <mask> and <extra_id_0> included."""
    from albert_widget import AttentionResult

    tokens = SPECIAL_LOOKING + PLAIN
    n = len(tokens)
    result = AttentionResult.from_attention(np.full((1, 1, n, n), 1.0 / n, dtype=np.float32), tokens)
    expected = [t in SPECIAL_LOOKING for t in tokens]
    assert [looks_special(t) for t in tokens] == expected
    assert result.special_tokens_mask.tolist() == expected


def test_one_marker_rule_for_words_figures_and_statistics():
    """words.strip_marker takes off one marker (▁, Ġ or ##); figure labels and the head statistics'
    punctuation test use it."""
    from albert_widget.analysis._common import is_punct
    from albert_widget.export import prettify_token

    cases = {
        "\u2581the": "the",
        "\u0120the": "the",
        "##ing": "ing",
        "##": "##",
        "the": "the",
        "\u2581##x": "##x",
        "\u2581": "",
        "[CLS]": "[CLS]",
    }
    for token, stripped in cases.items():
        assert strip_marker(token) == stripped, token
        if stripped.strip():
            assert prettify_token(token) == stripped, token
    assert is_punct("\u2581.") and is_punct("\u0120,") and is_punct("##,") and not is_punct("##")


def test_odd_tokens():
    # "##" alone is not a continuation; an empty token is a piece like any other.
    assert word_groups(["a", "##", "##b", ""]) == [0, 1, 1, 2]
    assert word_groups(["\u2581", "(", "\u2581x"]) == [0, 0, 1]
    assert word_tokens(["\u2581", "(", "\u2581x"], [0, 0, 1]) == ["\u2581(", "\u2581x"]


def test_cross_attention_merges_rows_and_columns_by_their_own_groups():
    dec = ["</s>", "\u0120Sie", "ht"]  # 2 words
    enc = ["<s>", "\u0120She", "\u0120se", "es", "</s>"]  # 4 words
    rng = np.random.default_rng(1)
    a = rng.random((2, 3, 5))
    a /= a.sum(-1, keepdims=True)
    merged = merge_to_words(a, word_groups(dec), word_groups(enc))
    assert merged.shape == (2, 2, 4)
    np.testing.assert_allclose(merged.sum(-1), 1.0, atol=1e-6)
    np.testing.assert_allclose(merged[:, 1, 2], (a[:, 1, 2] + a[:, 1, 3] + a[:, 2, 2] + a[:, 2, 3]) / 2, rtol=1e-6)


def test_bad_groups():
    with pytest.raises(ValueError, match="row groups"):
        merge_to_words(np.eye(3), [0, 1])
    with pytest.raises(ValueError, match="without gaps"):
        word_members([0, 2])
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        merge_to_words(np.ones(3), [0, 1, 2])


# --------------------------------------------------------------------------------------------
# Python and the page agree
# --------------------------------------------------------------------------------------------
NODE_SCRIPT = """
import { wordGroups, wordRaw, wordMembers } from "%(tokens)s";
import { mergeToWords } from "%(filters)s";
let input = "";
process.stdin.on("data", (d) => (input += d));
process.stdin.on("end", () => {
  const cases = JSON.parse(input);
  const out = cases.map(({ tokens, special, segments, matrix }) => {
    const groups = wordGroups(tokens, special, segments);
    const words = wordMembers(groups).map((m) => wordRaw(tokens, m));
    const merged = matrix ? Array.from(mergeToWords(Float32Array.from(matrix.flat()), groups)) : null;
    return { groups, words, merged };
  });
  process.stdout.write(JSON.stringify(out));
});
"""


def run_js(cases: list[dict]) -> list[dict]:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is needed to compare with the page's word grouping (js/src/tokens.js)")
    script = NODE_SCRIPT % {
        "tokens": (REPO / "js" / "src" / "tokens.js").as_uri(),
        "filters": (REPO / "js" / "src" / "filters.js").as_uri(),
    }
    proc = subprocess.run([node, "--input-type=module", "-e", script], input=json.dumps(cases), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


SENTENCES = [
    ("Tokenization of unbelievably long words, e.g. antidisestablishmentarianism!", None),
    ("The cat sat on the mat.", "It was tired, wasn't it?"),
    ("  spaces   and\ttabs\nnewlines ", None),
]


def _cases(tokenizer, pair_capable=True):
    cases = []
    for text, pair in SENTENCES:
        if pair is not None and not pair_capable:
            continue
        enc = tokenizer(text, pair, return_special_tokens_mask=True, return_token_type_ids=True)
        tokens = tokenizer.convert_ids_to_tokens(enc["input_ids"])
        special = [bool(s) for s in enc["special_tokens_mask"]]
        segments = [int(s) for s in enc.get("token_type_ids") or [0] * len(tokens)]
        cases.append({"tokens": tokens, "special": special, "segments": segments})
        cases.append({"tokens": tokens, "special": None, "segments": None})  # the mask guessed from the text
    return cases


def test_python_and_js_agree_on_real_tokenizers(albert_tokenizer, minilm, bpe_tokenizer):
    cases = _cases(albert_tokenizer) + _cases(minilm[1]) + _cases(bpe_tokenizer, pair_capable=False)
    # Each scheme is really there (otherwise this test would compare trivial groupings).
    flat = [t for c in cases for t in c["tokens"]]
    assert any(t.startswith("\u2581") for t in flat) and any(t.startswith("##") for t in flat)
    assert any(t.startswith("\u0120") for t in flat)
    hostile = ["", " ", "##", "\u2581", "\U0001f600", "\u05e9\u05dc\u05d5\u05dd", "<img src=x onerror=alert(1)>", "[SEP]", "##x"]
    cases.append({"tokens": hostile, "special": None, "segments": None})
    js = run_js(cases)
    assert sum(max(g["groups"]) + 1 < len(c["tokens"]) for c, g in zip(cases, js)) >= 8  # pieces were merged
    for case, got in zip(cases, js):
        groups = word_groups(case["tokens"], case["special"], case["segments"])
        assert got["groups"] == groups, case["tokens"]
        assert got["words"] == word_tokens(case["tokens"], groups), case["tokens"]


def test_python_and_js_agree_on_merged_numbers():
    rng = np.random.default_rng(2)
    cases = []
    for tokens in (HAND_TOKENS, ["[CLS]", "un", "##believ", "##able", "cat", "[SEP]"], ["<s>", "\u0120wor", "ld", "\u0120!", "</s>"]):
        n = len(tokens)
        m = rng.random((n, n)).astype(np.float32)
        m /= m.sum(-1, keepdims=True)
        cases.append({"tokens": tokens, "special": None, "segments": None, "matrix": m.tolist()})
    cases.append({"tokens": HAND_TOKENS, "special": None, "segments": None, "matrix": HAND_ATTENTION.tolist()})
    js = run_js(cases)
    for case, got in zip(cases, js):
        groups = word_groups(case["tokens"])
        py = merge_to_words(np.array(case["matrix"], dtype=np.float32), groups)
        np.testing.assert_allclose(np.array(got["merged"], dtype=np.float32).reshape(py.shape), py, atol=1e-6)
    np.testing.assert_allclose(np.array(js[-1]["merged"]).reshape(3, 3), HAND_EXPECTED, atol=1e-6)
