"""albert_widget.head_view / model_view against bertviz 1.4.1 itself: same signatures, same errors,
and the same numbers reach the page (bertviz: the JSON its html_action='return' page embeds;
albert_widget: the binary replies the widget sends to the page's requests, decoded)."""

from __future__ import annotations

import inspect
import json
import sys

import numpy as np
import pytest
from page_messages import page_message
import torch

import albert_widget
from albert_widget import AttentionWidget
from albert_widget.transport import decode_array

bertviz = pytest.importorskip("bertviz")


def softmax_attention(layers, heads, rows, cols=None, seed=0):
    """A tuple of per-layer [1, H, rows, cols] torch tensors whose rows sum to 1 (what
    outputs.attentions holds)."""
    cols = rows if cols is None else cols
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.softmax(torch.randn(1, heads, rows, cols, generator=g) * 2, dim=-1) for _ in range(layers))


def bertviz_params(html) -> dict:
    """The params bertviz embeds in its page (``const params = {...}; // HACK ...``)."""
    text = html.data if hasattr(html, "data") else str(html)
    start = text.index("const params = ") + len("const params = ")
    end = text.index("; // HACK", start)
    return json.loads(text[start:end])


def page_layers(widget: AttentionWidget, kind: str | None = None) -> np.ndarray:
    """Every layer as the page receives it: the widget's answer to the page's request message."""
    sent = []
    widget.send = lambda content, buffers=None: sent.append((content, buffers))
    content = {"type": "layers", "revision": widget.revision, "layers": list(range(widget.num_layers))}
    if kind is not None:
        content["kind"] = kind
    page_message(widget, content)
    assert len(sent) == 1, sent
    reply, buffers = sent[0]
    assert reply["type"] == "layers", reply
    assert reply.get("kind", "encoder") == (kind or "encoder")
    meta = {"dtype": reply["dtype"], "shape": reply["shape"]}
    return np.stack([decode_array(meta, b) for b in buffers])


def as_f32(nested) -> np.ndarray:
    return np.asarray(nested, dtype=np.float64).astype(np.float32)


# --------------------------------------------------------------------------------------------
# signatures
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["head_view", "model_view"])
def test_signature_is_bertviz_signature(name):
    ours = inspect.signature(getattr(albert_widget, name))
    theirs = inspect.signature(getattr(bertviz, name))
    assert [(p.name, p.default, p.kind) for p in ours.parameters.values()] == [
        (p.name, p.default, p.kind) for p in theirs.parameters.values()
    ]


# --------------------------------------------------------------------------------------------
# the same numbers reach the page
# --------------------------------------------------------------------------------------------
def test_head_view_same_numbers_as_bertviz():
    attention = softmax_attention(3, 4, 7)
    tokens = ["[CLS]", "the", "cat", "sat", "on", "it", "[SEP]"]
    theirs = bertviz_params(bertviz.head_view(attention, tokens, html_action="return"))
    widget = albert_widget.head_view(attention, tokens)
    assert isinstance(widget, AttentionWidget)
    assert widget.view == "head" and widget.tokens == tokens
    ours = page_layers(widget)
    np.testing.assert_array_equal(ours, as_f32(theirs["attention"][0]["attn"]))
    # bertviz shows every head by default: so does the widget.
    assert theirs["heads"] is None and widget.heads == [0, 1, 2, 3]


def test_real_model_attention_same_as_bertviz(minilm):
    model, tokenizer = minilm
    previous = model.config._attn_implementation
    model.set_attn_implementation("eager")
    try:
        inputs = tokenizer("The cat sat on the mat.", return_tensors="pt")
        with torch.no_grad():
            attention = model(**inputs, output_attentions=True).attentions
    finally:
        model.set_attn_implementation(previous)
    tokens = tokenizer.convert_ids_to_tokens(inputs["input_ids"][0])
    theirs = bertviz_params(bertviz.head_view(attention, tokens, html_action="return"))
    widget = albert_widget.head_view(attention, tokens)
    np.testing.assert_array_equal(page_layers(widget), as_f32(theirs["attention"][0]["attn"]))


def test_sentence_pair_filters_same_as_bertviz():
    attention = softmax_attention(2, 3, 8, seed=1)
    tokens = ["[CLS]", "a", "b", "c", "[SEP]", "d", "e", "[SEP]"]
    theirs = bertviz_params(bertviz.head_view(attention, tokens, sentence_b_start=5, html_action="return"))
    widget = albert_widget.head_view(attention, tokens, sentence_b_start=5)
    assert widget.segments == [0] * 5 + [1] * 3
    assert widget.info["sentence_b_start"] == 5
    ours = page_layers(widget)
    # The page's pair filter keeps the query rows of one segment and the key columns of the other
    # (js/src/filters.js viewPlan; tested there): the same slices as bertviz's filters.
    seg = np.array(widget.segments)
    names = {
        "All": (None, None),
        "Sentence A -> Sentence A": (0, 0),
        "Sentence B -> Sentence B": (1, 1),
        "Sentence A -> Sentence B": (0, 1),
        "Sentence B -> Sentence A": (1, 0),
    }
    assert [d["name"] for d in theirs["attention"]] == list(names)
    for entry in theirs["attention"]:
        rows, cols = names[entry["name"]]
        got = ours
        if rows is not None:
            got = ours[:, :, seg == rows][:, :, :, seg == cols]
        np.testing.assert_array_equal(got, as_f32(entry["attn"]), err_msg=entry["name"])
        left = [t for t, s in zip(tokens, seg) if rows is None or s == rows]
        assert entry["left_text"] == left


def test_encoder_decoder_same_as_bertviz():
    enc = softmax_attention(2, 4, 6, seed=2)
    dec = softmax_attention(2, 4, 5, seed=3)
    cross = softmax_attention(2, 4, 5, 6, seed=4)
    enc_tokens = ["<s>", "ĠShe", "Ġsees", "Ġthe", "Ġcat", "</s>"]
    dec_tokens = ["</s>", "<s>", "ĠSie", "Ġsieht", "Ġdie"]
    kwargs = dict(encoder_attention=enc, decoder_attention=dec, cross_attention=cross,
                  encoder_tokens=enc_tokens, decoder_tokens=dec_tokens)
    theirs = bertviz_params(bertviz.head_view(**kwargs, html_action="return"))
    widget = albert_widget.head_view(**kwargs)
    assert widget.kinds == ["encoder", "decoder", "cross"]
    assert widget.tokens == enc_tokens and widget.decoder_tokens == dec_tokens
    by_name = {d["name"]: d for d in theirs["attention"]}
    for kind, name in (("encoder", "Encoder"), ("decoder", "Decoder"), ("cross", "Cross")):
        np.testing.assert_array_equal(page_layers(widget, kind), as_f32(by_name[name]["attn"]), err_msg=kind)
    # The cross matrix is decoder x encoder tokens (rows = the decoder's queries).
    assert page_layers(widget, "cross").shape == (2, 4, 5, 6)
    assert by_name["Cross"]["left_text"] == [t.replace("Ġ", " ") for t in dec_tokens]
    # Switching the kind in Python sets the shape the page reads.
    widget.attention_kind = "cross"
    assert (widget.num_layers, widget.num_heads) == (2, 4)


def test_model_view_same_numbers_as_bertviz_with_include_layers_and_heads():
    attention = softmax_attention(4, 6, 5, seed=5)
    tokens = ["[CLS]", "x", "y", "z", "[SEP]"]
    theirs = bertviz_params(
        bertviz.model_view(attention, tokens, include_layers=[1, 3], include_heads=[0, 2, 5], html_action="return")
    )
    widget = albert_widget.model_view(attention, tokens, include_layers=[1, 3], include_heads=[0, 2, 5])
    assert widget.view == "model"
    assert (widget.num_layers, widget.num_heads) == (2, 3)
    assert widget.display_mode == "dark" and theirs["display_mode"] == "dark"
    np.testing.assert_array_equal(page_layers(widget), as_f32(theirs["attention"][0]["attn"]))
    light = albert_widget.model_view(attention, tokens, display_mode="light")
    assert light.display_mode == "light" and light.num_layers == 4


def test_layer_heads_include_layers_and_prettify():
    attention = softmax_attention(4, 3, 4, seed=6)
    tokens = ["[CLS]", "▁hi", "there", "[SEP]"]
    widget = albert_widget.head_view(attention, tokens, layer=3, heads=[2, 0], include_layers=[0, 3])
    assert widget.num_layers == 2 and widget.layer == 1  # model layer 3 is the second included layer
    assert widget.heads == [0, 2]
    np.testing.assert_array_equal(page_layers(widget)[1], attention[3][0].numpy())
    assert widget.prettify_tokens is True
    assert albert_widget.head_view(attention, tokens, prettify_tokens=False).prettify_tokens is False


def test_numpy_arrays_are_accepted():
    attention = softmax_attention(2, 2, 4, seed=7)
    tokens = ["a", "b", "c", "d"]
    stacked = np.stack([a.numpy() for a in attention])  # [L, 1, H, N, N]
    per_layer = tuple(a.numpy() for a in attention)  # [1, H, N, N] each
    squeezed = stacked[:, 0]  # [L, H, N, N]
    expected = squeezed.astype(np.float32)
    for value in (stacked, per_layer, squeezed):
        np.testing.assert_array_equal(page_layers(albert_widget.head_view(value, tokens)), expected)


# --------------------------------------------------------------------------------------------
# errors: the messages bertviz gives
# --------------------------------------------------------------------------------------------
def _error(fn, **kwargs) -> str:
    with pytest.raises(ValueError) as info:
        fn(**kwargs)
    return str(info.value)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(attention=softmax_attention(1, 2, 3)),
        dict(attention=softmax_attention(1, 2, 3), tokens=["a", "b", "c"], decoder_tokens=["x"]),
        dict(),
        dict(attention=softmax_attention(2, 2, 3), tokens=["a", "b", "c"], layer=1, include_layers=[0]),
        dict(attention=softmax_attention(1, 2, 3), tokens=["a", "b", "c"], html_action="show"),
        dict(attention=softmax_attention(1, 2, 3), tokens=["a", "b"]),
        dict(encoder_attention=softmax_attention(1, 2, 3)),
        dict(cross_attention=softmax_attention(1, 2, 2, 3), encoder_tokens=["a", "b", "c"]),
    ],
)
def test_errors_are_bertviz_errors(kwargs):
    kwargs.setdefault("html_action", "return")
    theirs = _error(bertviz.head_view, **kwargs)
    ours = _error(albert_widget.head_view, **kwargs)
    assert ours == theirs


# --------------------------------------------------------------------------------------------
# html_action='return'
# --------------------------------------------------------------------------------------------
def test_html_action_return_is_a_self_contained_page():
    from IPython.display import HTML

    attention = softmax_attention(2, 2, 5, seed=8)
    tokens = ["[CLS]", "<b>x</b>", "y", "z", "[SEP]"]
    html = albert_widget.head_view(attention, tokens, html_action="return")
    assert isinstance(html, HTML)
    assert "https://" not in html.data and "http://" not in html.data  # nothing from a CDN
    from albert_widget.export.html import read_html

    state, _meta, decoded = read_html(html.data)
    assert state["tokens"] == tokens and state["view"] == "head"
    expected = np.stack([a[0].numpy() for a in attention])
    np.testing.assert_allclose(decoded, expected, rtol=2.0**-11, atol=2.0**-25)  # the exporter's float16 bound
    model_html = albert_widget.model_view(attention, tokens, html_action="return")
    assert read_html(model_html.data)[0]["view"] == "model"


def test_html_action_return_without_the_exporter(monkeypatch):
    monkeypatch.setitem(sys.modules, "albert_widget.export.html", None)  # as if not written yet
    with pytest.raises(NotImplementedError, match="albert_widget.export.html"):
        albert_widget.head_view(softmax_attention(1, 1, 2), ["a", "b"], html_action="return")
