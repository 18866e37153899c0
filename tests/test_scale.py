"""Scale: head-by-head replies, encodings chosen per use with their error bounds, exact rows for the
tooltip, float16 capture, memory held and freed by a widget, and the too-large guard in the page."""

from __future__ import annotations

import gc
import importlib
import re
import tracemalloc
import weakref
from pathlib import Path

import numpy as np
import pytest
from conftest import CORPUS, tiny_albert_config
from page_messages import page_message

from albert_widget import AttentionWidget, capture
from albert_widget.encodings import (
    EXACT_MAX_TOKENS,
    HEAD_CHUNK_BYTES,
    drawing_encoding,
    layer_bytes,
    per_head,
    reply_to_row,
)
from albert_widget.transport import decode_array, encoding_error_bound, reply_to_request

ROOT = Path(__file__).resolve().parents[1]
capture_module = importlib.import_module("albert_widget.capture")  # the module, not the function


def softmax_attention(layers=3, heads=4, n=40, seed=0):
    rng = np.random.default_rng(seed)
    scores = rng.normal(scale=3.0, size=(layers, heads, n, n)).astype(np.float32)
    e = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


# -- the policy, and its JavaScript twin --------------------------------------------------------------
def test_policy_matches_the_page():
    source = (ROOT / "js" / "src" / "prefetch.js").read_text()
    assert int(re.search(r"EXACT_MAX_TOKENS = (\d+);", source).group(1)) == EXACT_MAX_TOKENS
    chunk = re.search(r"HEAD_CHUNK_BYTES = ([\d *]+);", source).group(1)
    assert eval(chunk) == HEAD_CHUNK_BYTES
    assert drawing_encoding(20) == drawing_encoding(128) == "float32"
    assert drawing_encoding(129) == drawing_encoding(512) == "float16"
    assert layer_bytes(64, 512, 512, "float32") == 64 * 2**20
    assert per_head(12, 512) and per_head(64, 512) and not per_head(12, 128) and not per_head(12, 20)
    with pytest.raises(ValueError):
        layer_bytes(1, 1, 1, "float64")


# -- head-by-head replies --------------------------------------------------------------------------------
def test_request_for_some_heads_sends_only_those():
    attention = softmax_attention()
    reply, buffers = reply_to_request(attention, 5, {"revision": 5, "layers": [2], "heads": [3, 1, 3], "dtype": "float16"})
    assert reply["heads"] == [3, 1] and reply["num_heads"] == 4
    assert reply["shape"] == [2, 40, 40] and reply["dtype"] == "float16"
    assert len(buffers) == 1 and buffers[0].nbytes == 2 * 40 * 40 * 2
    got = decode_array(reply, buffers[0])
    np.testing.assert_allclose(got, attention[2][[3, 1]], atol=encoding_error_bound("float16"))


def test_request_without_heads_or_dtype_is_unchanged():
    attention = softmax_attention()
    reply, buffers = reply_to_request(attention, 1, {"revision": 1, "layers": [0, 1]})
    assert "heads" not in reply and reply["dtype"] == "float32" and reply["shape"] == [4, 40, 40]
    assert np.array_equal(decode_array(reply, buffers[1]), attention[1])


@pytest.mark.parametrize("bad", [{"heads": []}, {"heads": [4]}, {"heads": [-1]}, {"heads": [True]}, {"heads": "0"}, {"dtype": "float64"}])
def test_bad_head_requests_say_what_was_expected(bad):
    with pytest.raises(ValueError, match="head|dtype"):
        reply_to_request(softmax_attention(), 0, {"revision": 0, "layers": [0], **bad})


@pytest.mark.parametrize("dtype", ["float16", "uint8"])
def test_encoding_error_bound_holds_on_real_attention(minilm, dtype):
    model, tokenizer = minilm
    attention = capture(model, tokenizer, " ".join(CORPUS)).attention
    reply, buffers = reply_to_request(attention, 0, {"revision": 0, "layers": list(range(attention.shape[0])), "dtype": dtype})
    scales = reply.get("scales", [1.0] * attention.shape[0])
    for layer, buffer in enumerate(buffers):
        meta = {**reply, "shape": reply["shape"], "scale": scales[layer]}
        got = decode_array(meta, buffer)
        error = np.abs(got - attention[layer])
        assert error.max() <= encoding_error_bound(dtype, scales[layer]), (dtype, layer, error.max())
        if dtype == "float16":  # and relative to the weight for normal numbers
            normal = attention[layer] >= 2.0**-14
            assert (error[normal] <= 2.0**-11 * attention[layer][normal]).all()


# -- exact rows (the tooltip when the page draws from float16) ---------------------------------------------
def test_exact_row_of_one_head_is_the_float32_row():
    attention = softmax_attention()
    reply, (buffer,) = reply_to_row(attention, 2, {"revision": 2, "layer": 1, "row": 7, "heads": [3]})
    assert reply["type"] == "row" and reply["dtype"] == "float32" and reply["shape"] == [40]
    assert np.array_equal(decode_array(reply, buffer), attention[1, 3, 7])


def test_exact_row_of_a_reduction():
    attention = softmax_attention()
    for reduce, expected in (("mean", attention[0, [0, 2], 5].mean(axis=0)), ("max", attention[0, [0, 2], 5].max(axis=0))):
        reply, (buffer,) = reply_to_row(attention, 0, {"revision": 0, "layer": 0, "row": 5, "heads": [0, 2], "reduce": reduce})
        np.testing.assert_allclose(decode_array(reply, buffer), expected, rtol=1e-6)
        assert reply["reduce"] == reduce


def test_exact_row_rejects_bad_requests_and_old_revisions():
    attention = softmax_attention()
    for bad in ({"layer": 3}, {"row": 40}, {"heads": [0, 1]}, {"reduce": "sum"}, {"heads": None}):
        content = {"revision": 0, "layer": 0, "row": 0, "heads": [0], **bad}
        with pytest.raises(ValueError):
            reply_to_row(attention, 0, content)


def test_widget_answers_head_and_row_requests(monkeypatch):
    attention = softmax_attention(n=10)
    widget = AttentionWidget.from_attention(attention, [f"t{i}" for i in range(10)])
    sent = []
    monkeypatch.setattr(widget, "send", lambda content, buffers=None: sent.append((content, buffers)))
    r = widget.revision
    page_message(widget, {"type": "layers", "revision": r, "layers": [1], "heads": [2], "dtype": "float16"})
    page_message(widget, {"type": "row", "revision": r, "layer": 1, "row": 4, "heads": [2], "reduce": "none"})
    (layers, _layer_buffers), (row, row_buffers) = sent
    assert layers["type"] == "layers" and layers["heads"] == [2] and layers["shape"] == [1, 10, 10]
    assert row["type"] == "row" and np.array_equal(decode_array(row, row_buffers[0]), attention[1, 2, 4])
    assert widget.bytes_sent == sum(len(__import__("json").dumps(c)) + sum(memoryview(b).nbytes for b in bs) for c, bs in sent)
    assert widget.error == ""


# -- capture -----------------------------------------------------------------------------------------------
def test_float16_capture_halves_memory_within_the_bound(tiny_albert):
    model, tokenizer = tiny_albert
    exact = capture(model, tokenizer, CORPUS[0])
    half = capture(model, tokenizer, CORPUS[0], dtype="float16")
    assert exact.attention.dtype == np.float32 and half.attention.dtype == np.float16
    assert half.attention.nbytes * 2 == exact.attention.nbytes
    error = np.abs(half.attention.astype(np.float32) - exact.attention)
    assert error.max() <= encoding_error_bound("float16")
    assert not half.attention.flags.writeable
    with pytest.raises(ValueError, match="dtype"):
        capture(model, tokenizer, CORPUS[0], dtype="bfloat16")


def test_capture_still_refuses_non_finite_attention(tiny_albert):
    import torch

    model, tokenizer = tiny_albert
    with torch.no_grad():
        model.encoder.albert_layer_groups[0].albert_layers[0].attention.query.weight.fill_(float("nan"))
    with pytest.raises(ValueError, match="NaN or inf"):
        capture(model, tokenizer, CORPUS[0])


# The GPU capture path (device placement, one move to the host, float16 models widened) is checked
# on a lent GPU machine by benchmarks/gpu_check.py, not here: this suite runs where there is no GPU,
# and a test that skips itself everywhere it runs proves nothing.


# -- memory ------------------------------------------------------------------------------------------------
@pytest.fixture
def long_albert(albert_tokenizer):
    """A tiny ALBERT that takes 512 tokens (4 layers x 8 heads): 32 MiB of float32 attention."""
    import torch
    from transformers import AlbertModel

    torch.manual_seed(0)
    config = tiny_albert_config(len(albert_tokenizer), num_attention_heads=8, max_position_embeddings=512)
    return AlbertModel(config).eval(), albert_tokenizer


LONG_TEXT = " ".join(CORPUS * 12)


def test_widget_holds_no_second_copy(long_albert):
    model, tokenizer = long_albert
    capture(model, tokenizer, CORPUS[0])  # warm up (lazy imports, caches)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        widget = AttentionWidget(model, tokenizer, LONG_TEXT, max_length=512)
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    attention = widget.attention
    assert attention.shape == (4, 8, 512, 512)
    assert held <= 1.2 * attention.nbytes, f"widget holds {held / attention.nbytes:.2f}x its attention"
    widget.close()


def test_close_and_rerun_free_the_last_run(long_albert):
    model, tokenizer = long_albert
    widget = AttentionWidget(model, tokenizer, LONG_TEXT, max_length=512)
    first = weakref.ref(widget.attention)
    widget.text = CORPUS[1]  # re-running replaces the capture
    gc.collect()
    assert first() is None, "the previous run's attention is still held"
    second = weakref.ref(widget.attention)
    widget.close()
    gc.collect()
    assert widget.result is None and widget.attention is None
    assert second() is None, "a closed widget still holds its attention"


# -- the too-large guard, typed in the page ----------------------------------------------------------------
def test_too_large_input_typed_in_the_page_is_shown_there(tiny_albert, monkeypatch):
    model, tokenizer = tiny_albert
    widget = AttentionWidget(model, tokenizer, CORPUS[0])
    revision, tokens = widget.revision, list(widget.tokens)
    sent = []
    monkeypatch.setattr(widget, "send", lambda content, buffers=None: sent.append(content))
    monkeypatch.setattr(capture_module, "MAX_ATTENTION_BYTES", 4 * 4 * 20 * 20 * 4)  # 20 tokens at most
    page_message(widget, {"type": "set_text", "text": " ".join(CORPUS[:4]), "text_pair": None})
    assert "would need" in widget.error and "limit" in widget.error
    assert sent and sent[-1]["type"] == "set_text" and "would need" in sent[-1]["error"]
    assert widget.revision == revision and list(widget.tokens) == tokens, "the last good state stays"
    with pytest.raises(capture_module.AttentionTooLargeError):
        widget.text = " ".join(CORPUS[:4])
    assert "would need" in widget.error
    page_message(widget, {"type": "set_text", "text": "The cat sat.", "text_pair": None})
    assert widget.error == "" and widget.revision == revision + 1


# -- attention straight into the result (fastcapture.py) ------------------------------------------------
def _with_output_attentions(model, tokenizer, text):
    import torch

    enc = tokenizer(text, return_tensors="pt")
    inputs = {k: enc[k] for k in ("input_ids", "attention_mask") if k in enc}
    previous = model.config._attn_implementation
    model.set_attn_implementation("eager")
    try:
        with torch.no_grad():
            out = model(**inputs, output_attentions=True)
    finally:
        model.set_attn_implementation(previous)
    return np.stack([a[0].numpy() for a in out.attentions]), inputs


@pytest.mark.parametrize("fixture", ["tiny_albert", "minilm", "tiny_gpt2"])
def test_hooks_take_every_layer_bit_for_bit(fixture, request):
    import torch

    from albert_widget.capture import eager_attention
    from albert_widget.fastcapture import attention_by_hooks, recorded_attention_modules

    model, tokenizer = request.getfixturevalue(fixture)
    expected, inputs = _with_output_attentions(model, tokenizer, "The cat sat on the mat.")
    assert recorded_attention_modules(model), "the model says where its attention comes from"
    with eager_attention(model), torch.no_grad():
        got = attention_by_hooks(model, lambda: model(**inputs), expected.shape, np.float32)
    assert got is not None and got.dtype == np.float32
    assert np.array_equal(got, expected)


def test_without_recorders_the_capture_asks_the_model(tiny_albert, monkeypatch):
    from albert_widget import fastcapture

    model, tokenizer = tiny_albert
    fast = capture(model, tokenizer, CORPUS[3])
    monkeypatch.setattr(fastcapture, "recorded_attention_modules", lambda model: [])
    monkeypatch.setattr(capture_module, "attention_by_hooks", fastcapture.attention_by_hooks)
    slow = capture(model, tokenizer, CORPUS[3])
    assert np.array_equal(fast.attention, slow.attention)


def test_hooks_give_up_on_a_surprising_shape(tiny_albert):
    import torch

    from albert_widget.capture import eager_attention
    from albert_widget.fastcapture import attention_by_hooks

    model, tokenizer = tiny_albert
    expected, inputs = _with_output_attentions(model, tokenizer, CORPUS[0])
    L, H, N, _ = expected.shape
    with eager_attention(model), torch.no_grad():
        assert attention_by_hooks(model, lambda: model(**inputs), (L, H + 1, N, N), np.float32) is None
        assert attention_by_hooks(model, lambda: model(**inputs), (L - 1, H, N, N), np.float32) is None
