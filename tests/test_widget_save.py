"""widget.save(): the figure of what the widget shows, written headless."""

import xml.etree.ElementTree as ET

import numpy as np
import pytest
from matplotlib.colors import to_hex

from albert_widget import AttentionWidget, figure, save_figure
from albert_widget.export.figures import HEAD_PALETTE, MASK_COLOUR
from albert_widget.viewplan import apply_plan, causal_mask, kind_axes, view_plan


def test_save_uses_the_widget_state_and_matches_save_figure(tiny_albert, tmp_path):
    model, tokenizer = tiny_albert
    widget = AttentionWidget(model, tokenizer, "The cat sat on the mat.")
    widget.layer, widget.head, widget.view = 2, 1, "matrix"
    n = widget.save(tmp_path / "w.svg")
    direct = save_figure(widget.result, tmp_path / "d.svg", view="matrix", layer=2, head=1)
    assert n == direct > 0
    assert (tmp_path / "w.svg").read_bytes() == (tmp_path / "d.svg").read_bytes()
    ET.parse(tmp_path / "w.svg")  # well-formed XML
    # explicit arguments override the widget's state
    widget.save(tmp_path / "o.svg", layer=0, head=0)
    save_figure(widget.result, tmp_path / "o2.svg", view="matrix", layer=0, head=0)
    assert (tmp_path / "o.svg").read_bytes() == (tmp_path / "o2.svg").read_bytes()


def test_save_before_any_text_says_so(tiny_albert, tmp_path):
    model, tokenizer = tiny_albert
    widget = AttentionWidget(model, tokenizer)
    with pytest.raises(ValueError, match="nothing to save"):
        widget.save(tmp_path / "x.svg")


# --- the saved figure is the view the page shows ----------------------------------------------------


def matrix_of(fig):
    """(the [R, C] values, row labels, column labels, masked cells or None) of a matrix figure."""
    ax = next(a for a in fig.axes if a.get_label() == "matrix")
    array = ax.images[0].get_array()
    mask = np.ma.getmaskarray(array)
    rows = [t.get_text() for t in ax.get_yticklabels()]
    cols = [t.get_text() for t in ax.get_xticklabels()]
    return np.ma.getdata(array), rows, cols, (mask if mask.any() else None)


def head_lines(fig):
    """{(colour hex, label): number of lines} of a head figure."""
    ax = next(a for a in fig.axes if a.get_label() == "head")
    return {(to_hex(c.get_colors()[0], keep_alpha=False), c.get_label()): len(c.get_segments()) for c in ax.collections}


def test_cross_and_decoder_attention_are_saved_as_shown(tiny_bart, tmp_path):
    model, tokenizer = tiny_bart
    w = AttentionWidget(model, tokenizer, "The cat sat on the mat.", "She sees the small elephant.")
    result = w.result
    w.view, w.attention_kind, w.layer, w.head = "matrix", "cross", 2, 1
    values, rows, cols, _ = matrix_of(figure(result, state=w.widget_state()))
    np.testing.assert_array_equal(values, result.cross_attention[2, 1])
    assert len(rows) == len(result.decoder_tokens)
    assert len(cols) == len(result.tokens)
    w.save(tmp_path / "cross.svg")
    text = (tmp_path / "cross.svg").read_text()
    assert "Layer 2, head 1" in text
    assert "cross attention" in text
    w.attention_kind = "decoder"  # layer 2 exists in the decoder (3 layers), not in the encoder (2)
    values, rows, cols, mask = matrix_of(figure(result, state=w.widget_state()))
    np.testing.assert_array_equal(values, result.decoder_attention[2, 1])
    m = len(result.decoder_tokens)
    np.testing.assert_array_equal(mask, np.triu(np.ones((m, m), bool), 1))  # the causal mask, drawn masked
    assert w.save(tmp_path / "decoder.pdf") > 0


def test_pair_filter_words_and_hidden_specials_are_saved(minilm, tmp_path):
    model, tokenizer = minilm
    w = AttentionWidget(model, tokenizer, "The tokenization worked.", "Unbelievable results!")
    result = w.result
    w.view, w.layer, w.head = "matrix", 1, 2
    w.pair_filter, w.word_level, w.hide_special = "ab", True, True
    values, rows, cols, _ = matrix_of(figure(result, state=w.widget_state()))
    rows_axis, cols_axis = kind_axes(result, "encoder")
    plan = view_plan(rows_axis, cols_axis, pair_filter="ab", word_level=True, hide_special=True)
    np.testing.assert_allclose(values, apply_plan(result.attention[1, 2], plan), rtol=1e-6)
    assert "tokenization" in rows
    assert "unbelievable" in cols
    assert "[CLS]" not in rows + cols
    assert "[SEP]" not in rows + cols
    assert "results" not in rows
    assert "the" not in cols
    w.save(tmp_path / "ab.svg")
    text = (tmp_path / "ab.svg").read_text()
    assert "tokenization" in text
    assert "##" not in text
    assert "[CLS]" not in text
    assert "A \u2192 B" in text


def test_layer_reduce_and_head_colours_and_threshold(tiny_albert, tmp_path):
    model, tokenizer = tiny_albert
    w = AttentionWidget(model, tokenizer, "The cat sat on the mat.")
    result = w.result
    w.view, w.layer_reduce, w.head_reduce = "matrix", "max", "mean"
    values, _, _, _ = matrix_of(figure(result, state=w.widget_state()))
    np.testing.assert_allclose(values, result.attention.max(axis=0).mean(axis=0), rtol=1e-6)
    assert "Max of 4 layers, mean over 4 heads" in figure(result, state=w.widget_state()).texts[0].get_text()
    threshold = round(float(np.median(result.attention[1, [0, 3]])), 3)
    w.view, w.layer_reduce, w.head_reduce, w.layer, w.heads, w.threshold = "head", "none", "none", 1, [3, 0], threshold
    lines = head_lines(figure(result, state=w.widget_state()))
    for h in (0, 3):
        count = int((result.attention[1, h] >= threshold).sum())
        assert 0 < count < result.num_tokens**2
        assert lines[(HEAD_PALETTE[h].lower(), f"head {h}")] == count  # the page's colour of head h, by index
    assert w.save(tmp_path / "heads.png") > 0


def test_causal_mask_is_drawn_masked_not_as_zeros(tiny_gpt2):
    model, tokenizer = tiny_gpt2
    w = AttentionWidget(model, tokenizer, "one two three four")
    w.view = "matrix"
    fig = figure(w.result, state=w.widget_state())
    _, _, _, mask = matrix_of(fig)
    n = w.result.num_tokens
    np.testing.assert_array_equal(mask, np.triu(np.ones((n, n), bool), 1))
    image = next(a for a in fig.axes if a.get_label() == "matrix").images[0]
    assert to_hex(image.cmap.get_bad()) == MASK_COLOUR
    assert any(p.get_label() == "masked" and p.get_hatch() for p in fig.axes[0].patches)
    plan = view_plan(*kind_axes(w.result, "encoder"), causal=True)
    np.testing.assert_array_equal(causal_mask(plan), mask)


def test_raw_tokens_when_prettify_is_off(tiny_albert):
    model, tokenizer = tiny_albert
    w = AttentionWidget(model, tokenizer, "The cat sat.")
    w.view, w.prettify_tokens = "matrix", False
    _, rows, _, _ = matrix_of(figure(w.result, state=w.widget_state()))
    assert rows == list(w.result.tokens)


def test_state_and_keyword_twice_is_an_error(tiny_albert, tmp_path):
    model, tokenizer = tiny_albert
    w = AttentionWidget(model, tokenizer, "The cat sat.")
    with pytest.raises(TypeError, match="layer given both in state and as keywords"):
        figure(w.result, state=w.widget_state(), layer=1)


def test_neuron_view_saves_its_own_figure(tiny_albert, tmp_path):
    from albert_widget.export.neuron_figure import default_query, neuron_figure
    from albert_widget.neuron import neuron_row, query_key_vectors

    model, tokenizer = tiny_albert
    w = AttentionWidget(model, tokenizer, "The cat sat on the mat.")
    w.view, w.layer, w.head = "neuron", 2, 1
    result = w.result
    query = default_query(result.special_tokens_mask)
    assert query == 1  # [CLS] is special: the page opens on the first word
    n = w.save(tmp_path / "neuron.svg")
    text = (tmp_path / "neuron.svg").read_text()
    assert n == len(text.encode())
    assert f"Layer 2, head 1, query {query}" in text
    matrix = tmp_path / "matrix.svg"
    save_figure(result, matrix, state={**w.widget_state(), "view": "matrix"})
    assert matrix.read_bytes() != (tmp_path / "neuron.svg").read_bytes()  # not the matrix figure
    qk = query_key_vectors(model, tokenizer, result.text, layer=2)
    fig = neuron_figure(neuron_row(qk, 1, 3), result.tokens, result.special_tokens_mask, layer=2, head=1, query=3, scaling=qk.scaling)
    panels = {ax.get_label(): ax.images[0].get_array() for ax in fig.axes}
    np.testing.assert_allclose(np.ma.getdata(panels["softmax"])[:, 0], result.attention[2, 1, 3], atol=1e-6)
    np.testing.assert_allclose(np.ma.getdata(panels["q*k"]), qk.k[1] * qk.q[1, 3][None, :], rtol=1e-6)
    assert w.save(tmp_path / "neuron.pdf", query=3) > 0


def test_neuron_view_of_cross_attention_says_why_not(tiny_bart, tmp_path):
    model, tokenizer = tiny_bart
    w = AttentionWidget(model, tokenizer, "The cat sat.", "She sees it.")
    w.view, w.attention_kind = "neuron", "cross"
    with pytest.raises(ValueError, match="encoder"):
        w.save(tmp_path / "x.svg")


def test_included_layers_and_heads_are_saved_with_the_models_own_numbers(tmp_path):
    """bertviz's include_layers / include_heads: the saved figure numbers layers and heads as the page's
    sliders do (info["layer_numbers"] / ["head_numbers"]), not by their index in the capture."""
    from albert_widget import AttentionResult
    from albert_widget.compat import make_widget

    rng = np.random.default_rng(3)
    a = rng.random((2, 2, 4, 4)).astype(np.float32)
    a /= a.sum(-1, keepdims=True)
    result = AttentionResult.from_attention(a, ["[CLS]", "a", "b", "[SEP]"])
    w = make_widget(result, {"view": "matrix", "layer": 1, "head": 1}, {"layer_numbers": [5, 7], "head_numbers": [1, 3]})

    def texts(view, **kw):
        path = tmp_path / f"{view}.svg"
        w.save(path, view=view, **kw)
        return [t.text or "" for t in ET.parse(path).iter("{http://www.w3.org/2000/svg}text")]

    assert any(t.startswith("Layer 7, head 3") for t in texts("matrix"))
    assert any("heads 1, 3" in t for t in texts("head", heads=[0, 1]))
    model = texts("model", layer=0, head=0)
    assert any("outlined: layer 5, head 1" in t for t in model)
    assert {"5", "7", "1", "3"} <= set(model)
