"""The widget holds compact captures: a decoder LLM's input over the widget's budget shows as a
CompactAttention (attention_form "compact"); the page gets exact tiles and rows through the real
request path, whole layers are refused with a reason, and exports that need them say what to use."""

from __future__ import annotations

import numpy as np
import pytest
from page_messages import page_message

from albert_widget import AttentionWidget
from albert_widget.forward import AttentionTooLargeError
from albert_widget.longcontext import CompactAttention
from albert_widget.result import AttentionResult
from albert_widget.tiny import random_llama
from albert_widget.transport import decode_array

TOL = 1e-6
TEXT = " ".join(["The quick brown fox jumps over the lazy dog."] * 12)


def _llama(vocab: int):
    """3 layers, 8 query heads sharing 2 key/value heads, head size 8 (seed 0)."""
    return random_llama(vocab, seed=0, max_position_embeddings=1024)


@pytest.fixture(scope="module")
def llama(bpe_tokenizer):
    return _llama(len(bpe_tokenizer)), bpe_tokenizer


@pytest.fixture
def widget(llama):
    model, tokenizer = llama
    return AttentionWidget(model, tokenizer, TEXT, memory_budget=2_000_000)


def replies(widget):
    out = []
    widget.send = lambda content, buffers=None: out.append((content, list(buffers or [])))
    return out


def test_over_the_budget_the_widget_holds_the_compact_capture(widget, llama):
    model, tokenizer = llama
    assert isinstance(widget.result, CompactAttention)
    assert widget.attention_form == "compact" and widget.view == "matrix"
    n = widget.result.num_tokens
    assert widget.tokens == list(widget.result.tokens) and (widget.num_layers, widget.num_heads) == (3, 8)
    assert widget.info["prompt_length"] == n and widget.info["num_kv_heads"] == 2 and widget.info["is_causal"]
    assert (
        widget.trait_metadata("attention_form", "sync")
        and widget.traits()["attention_form"].help
        and widget.traits()["attention_form"].read_only
    )
    # A short text on the same widget is dense again (and keeps the view chosen)
    widget.text = "hello world"
    assert isinstance(widget.result, AttentionResult) and widget.attention_form == "dense" and widget.view == "matrix"
    widget.view = "neuron"
    widget.text = TEXT  # back over the budget: the neuron view needs whole layers, so the matrix shows
    assert widget.attention_form == "compact" and widget.view == "matrix"
    widget.text = "hello world"
    widget.view = "head"
    widget.text = TEXT  # the head view of a compact capture draws each query's top-k keys: it stays
    assert widget.attention_form == "compact" and widget.view == "head"
    # Under the default budget the same text is dense
    assert AttentionWidget(model, tokenizer, TEXT).attention_form == "dense"


def test_views_that_need_whole_layers_are_refused(widget):
    with pytest.raises(ValueError, match="the neuron view needs whole"):
        widget.view = "neuron"
    assert widget.view == "matrix"
    with pytest.raises(AttentionTooLargeError, match="this result is compact"):
        _ = widget.attention


def test_tiles_and_rows_through_the_request_path_are_exact(widget):
    result = widget.result
    n = result.num_tokens
    sent = replies(widget)
    page_message(
        widget,
        {
            "type": "tile",
            "revision": widget.revision,
            "layer": 2,
            "head": 5,
            "row0": 0,
            "row1": n,
            "col0": 0,
            "col1": n,
            "out_rows": n,
            "out_cols": n,
        },
    )
    content, buffers = sent[-1]
    assert "error" not in content and content["buffers_expected"] == 1
    assert np.abs(decode_array(content, buffers[0]) - result.block(2, 5)).max() <= TOL
    # zoomed out: 5 x 5 cells, the max of each
    page_message(
        widget,
        {
            "type": "tile",
            "revision": widget.revision,
            "layer": 1,
            "head": 0,
            "row0": 10,
            "row1": 60,
            "col0": 0,
            "col1": 50,
            "out_rows": 5,
            "out_cols": 5,
        },
    )
    content, buffers = sent[-1]
    block = result.block(1, 0, slice(10, 60), slice(0, 50))
    assert np.abs(decode_array(content, buffers[0]) - block.reshape(5, 10, 5, 10).max(axis=(1, 3))).max() <= TOL
    page_message(widget, {"type": "row", "revision": widget.revision, "layer": 1, "row": 40, "heads": [1, 2], "reduce": "mean"})
    content, buffers = sent[-1]
    assert np.abs(decode_array(content, buffers[0]) - (result.row(1, 1, 40) + result.row(1, 2, 40)) / 2).max() <= TOL
    assert widget.requests_served == {"tile": 2, "row": 1}


@pytest.mark.parametrize("kind", ["layers", "thumbnails", "neuron", "explain", "head_stats"])
def test_whole_layer_requests_are_refused_with_a_reason(widget, kind):
    fields = {
        "layers": {"layers": [0]},
        "thumbnails": {"size": 32},
        "neuron": {"layer": 0, "head": 0, "query": 1},
        "explain": {"method": "rollout"},
        "head_stats": {},
    }[kind]
    sent = replies(widget)
    page_message(widget, {"type": kind, "revision": widget.revision, **fields})
    ((content, buffers),) = sent
    assert buffers == [] and "compact capture" in content["error"] and "'tile'" in content["error"]


def test_exports_say_what_to_use(widget, tmp_path):
    for call in (lambda: widget.save(str(tmp_path / "a.svg")), lambda: widget.to_html()):
        with pytest.raises(ValueError, match=r"compact capture .*to_npz\(path\)"):
            call()
    state = widget.widget_state()  # plain data still describes the page
    assert state["attention_form"] == "compact" and state["view"] == "matrix"
    assert widget._snapshot == {}  # no layer to keep for a notebook reopened without its kernel
    bundle = widget._repr_mimebundle_()
    data = bundle[0] if isinstance(bundle, tuple) else bundle
    assert "image/png" not in data  # no fallback figure of a layer it does not hold


def test_from_result_and_from_attention_take_a_compact_capture(widget, tmp_path):
    path = tmp_path / "long.npz"
    widget.result.to_npz(path)
    loaded = CompactAttention.from_npz(path)
    shown = AttentionWidget.from_result(loaded, layer=1)
    assert shown.attention_form == "compact" and shown.view == "matrix" and shown.layer == 1 and not shown.info["editable"]
    assert AttentionWidget.from_attention(loaded).result is loaded
    with pytest.raises(ValueError, match="carries its own tokens"):
        AttentionWidget.from_attention(loaded, ["x"])
    with pytest.raises(TypeError, match="AttentionResult or a CompactAttention"):
        AttentionWidget(result="nope")
    sent = replies(shown)
    page_message(
        shown,
        {
            "type": "tile",
            "revision": shown.revision,
            "layer": 0,
            "heads": [0, 3],
            "head_reduce": "max",
            "row0": 0,
            "row1": 40,
            "col0": 0,
            "col1": 40,
            "out_rows": 40,
            "out_cols": 40,
        },
    )
    content, buffers = sent[-1]
    expected = np.maximum(loaded.block(0, 0, slice(0, 40), slice(0, 40)), loaded.block(0, 3, slice(0, 40), slice(0, 40)))
    assert np.abs(decode_array(content, buffers[0]) - expected).max() <= TOL


def test_generated_tokens_are_marked(llama):
    from albert_widget.longcontext import capture_generate

    model, tokenizer = llama
    generated = capture_generate(model, tokenizer, "The quick brown fox", max_new_tokens=6)
    w = AttentionWidget.from_result(generated)
    assert w.info["prompt_length"] == generated.prompt_length < generated.num_tokens


def test_dense_widgets_answer_tiles_too():
    rng = np.random.default_rng(0)
    attention = rng.random((2, 3, 20, 20), dtype=np.float32)
    w = AttentionWidget.from_attention(attention, [f"t{i}" for i in range(20)])
    assert w.attention_form == "dense" and w.view == "head"
    sent = replies(w)
    page_message(
        w,
        {
            "type": "tile",
            "revision": w.revision,
            "layer": 1,
            "head": 2,
            "row0": 0,
            "row1": 20,
            "col0": 0,
            "col1": 20,
            "out_rows": 4,
            "out_cols": 10,
            "reduce": "mean",
        },
    )
    content, buffers = sent[-1]
    assert np.abs(decode_array(content, buffers[0]) - attention[1, 2].reshape(4, 5, 10, 2).mean(axis=(1, 3))).max() <= TOL
