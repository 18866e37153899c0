"""albert_widget.head_view / model_view against bertviz 1.4.1 itself: same signatures, same errors,
and the same numbers reach the page (bertviz: the JSON its html_action='return' page embeds;
albert_widget: the binary replies the widget sends to the page's requests, decoded)."""

from __future__ import annotations

import inspect
import json

import numpy as np
import pytest
import torch
from page_messages import page_message

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


def shown(fn, *args, **kwargs) -> AttentionWidget:
    """Call ``fn`` (head_view, model_view, neuron_view.show) as a notebook cell would; it must return
    ``None`` and display exactly one widget, which is returned."""
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output
    from ipywidgets.widgets.widget import _instances

    InteractiveShell.instance()  # a shell, so that display() publishes rich output to capture
    with capture_output() as cap:
        assert fn(*args, **kwargs) is None
    views = [
        o.data["application/vnd.jupyter.widget-view+json"] for o in cap.outputs if "application/vnd.jupyter.widget-view+json" in o.data
    ]
    assert len(views) == 1, cap.outputs
    widget = _instances[views[0]["model_id"]]
    assert isinstance(widget, AttentionWidget)
    return widget


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
    widget = shown(albert_widget.head_view, attention, tokens)
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
    widget = shown(albert_widget.head_view, attention, tokens)
    np.testing.assert_array_equal(page_layers(widget), as_f32(theirs["attention"][0]["attn"]))


def test_sentence_pair_filters_same_as_bertviz():
    attention = softmax_attention(2, 3, 8, seed=1)
    tokens = ["[CLS]", "a", "b", "c", "[SEP]", "d", "e", "[SEP]"]
    theirs = bertviz_params(bertviz.head_view(attention, tokens, sentence_b_start=5, html_action="return"))
    widget = shown(albert_widget.head_view, attention, tokens, sentence_b_start=5)
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
    kwargs = dict(encoder_attention=enc, decoder_attention=dec, cross_attention=cross, encoder_tokens=enc_tokens, decoder_tokens=dec_tokens)
    theirs = bertviz_params(bertviz.head_view(**kwargs, html_action="return"))
    widget = shown(albert_widget.head_view, **kwargs)
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
    theirs = bertviz_params(bertviz.model_view(attention, tokens, include_layers=[1, 3], include_heads=[0, 2, 5], html_action="return"))
    widget = shown(albert_widget.model_view, attention, tokens, include_layers=[1, 3], include_heads=[0, 2, 5])
    assert widget.view == "model"
    assert (widget.num_layers, widget.num_heads) == (2, 3)
    assert widget.display_mode == "dark" and theirs["display_mode"] == "dark"
    np.testing.assert_array_equal(page_layers(widget), as_f32(theirs["attention"][0]["attn"]))
    light = shown(albert_widget.model_view, attention, tokens, display_mode="light")
    assert light.display_mode == "light" and light.num_layers == 4


def test_layer_heads_include_layers_and_prettify():
    attention = softmax_attention(4, 3, 4, seed=6)
    tokens = ["[CLS]", "▁hi", "there", "[SEP]"]
    widget = shown(albert_widget.head_view, attention, tokens, layer=3, heads=[2, 0], include_layers=[0, 3])
    assert widget.num_layers == 2 and widget.layer == 1  # model layer 3 is the second included layer
    assert widget.heads == [0, 2]
    np.testing.assert_array_equal(page_layers(widget)[1], attention[3][0].numpy())
    assert widget.prettify_tokens is True
    assert shown(albert_widget.head_view, attention, tokens, prettify_tokens=False).prettify_tokens is False


def test_numpy_arrays_are_accepted():
    attention = softmax_attention(2, 2, 4, seed=7)
    tokens = ["a", "b", "c", "d"]
    stacked = np.stack([a.numpy() for a in attention])  # [L, 1, H, N, N]
    per_layer = tuple(a.numpy() for a in attention)  # [1, H, N, N] each
    squeezed = stacked[:, 0]  # [L, H, N, N]
    expected = squeezed.astype(np.float32)
    for value in (stacked, per_layer, squeezed):
        np.testing.assert_array_equal(page_layers(shown(albert_widget.head_view, value, tokens)), expected)


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


# --------------------------------------------------------------------------------------------
# display as bertviz does, model numbering, cross attention alone, clear errors
# --------------------------------------------------------------------------------------------
def test_view_displays_itself_from_a_helper_function_and_a_loop():
    attention = softmax_attention(2, 2, 4, seed=9)
    tokens = ["[CLS]", "a", "b", "[SEP]"]

    def helper():  # not the cell's last line, not returned: bertviz shows it anyway, and so do we
        albert_widget.head_view(attention, tokens)

    widget = shown(helper)
    assert widget.view == "head" and widget.num_layers == 2

    def loop():
        for layer in (0, 1):
            albert_widget.model_view(attention, tokens, include_layers=[layer])

    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    InteractiveShell.instance()
    with capture_output() as cap:
        loop()
    assert sum("application/vnd.jupyter.widget-view+json" in o.data for o in cap.outputs) == 2


def test_included_layers_and_heads_keep_the_models_numbers():
    from albert_widget.export.html import read_html

    attention = softmax_attention(4, 6, 5, seed=5)
    tokens = ["[CLS]", "x", "y", "z", "[SEP]"]
    widget = shown(albert_widget.model_view, attention, tokens, include_layers=[1, 3], include_heads=[0, 2, 5])
    assert widget.info["layer_numbers"] == [1, 3] and widget.info["head_numbers"] == [0, 2, 5]
    head = shown(albert_widget.head_view, attention, tokens, layer=3, include_layers=[2, 3])
    assert head.info["layer_numbers"] == [2, 3] and "head_numbers" not in head.info and head.layer == 1
    everything = shown(albert_widget.model_view, attention, tokens)
    assert "layer_numbers" not in everything.info and "head_numbers" not in everything.info
    page = albert_widget.model_view(attention, tokens, include_layers=[1, 3], include_heads=[0, 2, 5], html_action="return")
    info = read_html(page.data)[0]["info"]
    assert info["layer_numbers"] == [1, 3] and info["head_numbers"] == [0, 2, 5]
    assert read_html(widget.to_html())[0]["info"]["layer_numbers"] == [1, 3]  # the widget's own export keeps them


def test_cross_attention_alone_is_shown_on_the_cross_selector():
    from albert_widget.compat import CROSS_ONLY_NOTICE
    from albert_widget.export.html import read_html

    cross = softmax_attention(2, 3, 4, 5, seed=10)
    enc = ["<s>", "a", "b", "c", "</s>"]
    dec = ["<s>", "x", "y", "</s>"]
    widget = shown(albert_widget.head_view, cross_attention=cross, encoder_tokens=enc, decoder_tokens=dec)
    assert widget.attention_kind == "cross" and widget.notice == CROSS_ONLY_NOTICE
    assert list(widget.kinds) == ["encoder", "cross"]
    np.testing.assert_array_equal(page_layers(widget, "cross"), np.stack([a[0].numpy() for a in cross]))
    page = albert_widget.head_view(cross_attention=cross, encoder_tokens=enc, decoder_tokens=dec, html_action="return")
    state, _, decoded = read_html(page.data, kind="cross")
    assert state["attention_kind"] == "cross" and state["notice"] == CROSS_ONLY_NOTICE
    np.testing.assert_allclose(decoded, np.stack([a[0].numpy() for a in cross]), rtol=2.0**-11, atol=2.0**-25)


def test_empty_attention_names_the_likely_cause(minilm):
    model, tokenizer = minilm
    inputs = tokenizer("The cat sat.", return_tensors="pt")
    with torch.no_grad():
        outputs = model(**inputs, output_attentions=True)
    tokens = tokenizer.convert_ids_to_tokens(inputs["input_ids"][0])
    for fn in (albert_widget.head_view, albert_widget.model_view):
        with pytest.raises(ValueError, match=r"outputs\[-1\] is the empty cross_attentions.*outputs\.attentions"):
            fn((), tokens, html_action="return")
    assert shown(albert_widget.head_view, outputs.attentions, tokens).num_layers == 6


def test_complex_attention_is_refused():
    attention = tuple(a.to(torch.complex64) for a in softmax_attention(1, 1, 2))
    with pytest.raises(TypeError, match="complex dtype"):
        albert_widget.head_view(attention, ["a", "b"], html_action="return")
    with pytest.raises(TypeError, match="complex dtype"):
        albert_widget.model_view(np.full((1, 1, 2, 2), 0.5j), ["a", "b"], html_action="return")


# --------------------------------------------------------------------------------------------
# neuron_view.show: bertviz's third entry point on ordinary Hugging Face models
# --------------------------------------------------------------------------------------------
def test_neuron_view_signature_is_bertviz_signature():
    from bertviz import neuron_view as theirs

    from albert_widget import neuron_view

    ours_params = inspect.signature(neuron_view.show).parameters
    their_params = inspect.signature(theirs.show).parameters
    assert list(ours_params) == list(their_params)
    assert [p.default for p in ours_params.values()] == [p.default for p in their_params.values()]


def test_neuron_view_on_bert_family_with_a_pair(minilm):
    from albert_widget import neuron_view

    model, tokenizer = minilm
    widget = shown(neuron_view.show, model, "bert", tokenizer, "The cat sat on the mat.", "It was tired.", layer=2, head=5)
    assert widget.view == "neuron" and (widget.layer, widget.head) == (2, 5)
    assert widget.display_mode == "dark" and widget.result.sentence_b_start is not None
    sent = []
    widget.send = lambda content, buffers=None: sent.append((content, buffers))
    page_message(widget, {"type": "neuron", "revision": widget.revision, "layer": 2, "head": 5, "query": 3})
    reply, buffers = sent[0]
    assert "error" not in reply, reply
    softmax = np.frombuffer(buffers[-1], dtype="<f4")
    np.testing.assert_allclose(softmax, widget.attention[2, 5, 3], atol=1e-6)


def test_neuron_view_on_albert_and_gpt2(tiny_albert, tiny_gpt2):
    from albert_widget import neuron_view

    model, tokenizer = tiny_albert
    widget = shown(neuron_view.show, model, "albert", tokenizer, "the cat sat", "it was tired", display_mode="light")
    assert widget.view == "neuron" and widget.display_mode == "light"
    gpt2, bpe = tiny_gpt2
    assert shown(neuron_view.show, gpt2, "gpt2", bpe, "the cat sat on the mat").view == "neuron"
    with pytest.raises(ValueError, match="does not take sentence pairs"):
        neuron_view.show(gpt2, "gpt2", bpe, "the cat", "sat")
    with pytest.raises(ValueError, match="model_type 'bert' does not match the model, whose config says 'gpt2'"):
        neuron_view.show(gpt2, "bert", bpe, "the cat")
    with pytest.raises(ValueError, match="layer must be an int from 0 to"):
        neuron_view.show(model, "albert", tokenizer, "the cat", layer=99)
    with pytest.raises(ValueError, match="empty"):
        neuron_view.show(model, "albert", tokenizer, "")


def test_neuron_view_return_is_a_page_that_says_it_shows_the_head_view(minilm):
    from IPython.display import HTML

    from albert_widget import neuron_view
    from albert_widget.export.html import read_html

    model, tokenizer = minilm
    page = neuron_view.show(model, "bert", tokenizer, "The cat sat.", layer=1, head=3, html_action="return")
    assert isinstance(page, HTML)
    state = read_html(page.data)[0]
    assert state["view"] == "head" and (state["layer"], state["head"]) == (1, 3)
    assert state["notice"] == neuron_view.STATIC_NEURON_NOTICE and "neuron view needs the model" in state["notice"]
