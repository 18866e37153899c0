"""AttentionWidget, Python side (no browser): traits, validation, messages, state size, loading."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
import torch
from conftest import CORPUS
from page_messages import page_message, run_in_fresh_loop

from albert_widget import AttentionWidget, ModelLoadError, capture
from albert_widget.models import load_pretrained
from albert_widget.protocol import message_bytes
from albert_widget.transport import reply_to_request

TEXT = "The cat sat on the mat because it was tired."
OTHER = "A dog barked at the quick brown fox."
LONG = " ".join(CORPUS)


@pytest.fixture
def widget(tiny_albert):
    model, tokenizer = tiny_albert
    return AttentionWidget(model, tokenizer, TEXT)


def snapshot(w: AttentionWidget) -> dict:
    return {
        "text": w.text,
        "text_pair": w.text_pair,
        "tokens": list(w.tokens),
        "segments": list(w.segments),
        "special": list(w.special),
        "revision": w.revision,
        "result": w.result,
        "attention": w.attention,
        "num_layers": w.num_layers,
        "num_heads": w.num_heads,
        "info": dict(w.info),
    }


def request(w: AttentionWidget, layers, revision=None) -> dict:
    return {"type": "layers", "revision": w.revision if revision is None else revision, "layers": layers}


# -- traits ----------------------------------------------------------------------------------------


def test_traits_after_construction(widget, tiny_albert):
    model, tokenizer = tiny_albert
    expected = capture(model, tokenizer, TEXT)
    assert widget.text == TEXT and widget.text_pair is None
    assert widget.tokens == list(expected.tokens)
    assert widget.tokens[0] == "[CLS]" and any(t.startswith("▁") for t in widget.tokens)
    assert widget.segments == [0] * len(expected.tokens)
    assert widget.special == expected.special_tokens_mask.tolist()
    assert (widget.num_layers, widget.num_heads) == (4, 4)
    assert widget.revision == 1
    assert widget.error == "" and widget.notice == ""
    assert widget.attention is widget.result.attention
    assert np.array_equal(widget.attention, expected.attention)
    assert not widget.attention.flags.writeable
    assert widget.info["model_type"] == "albert"
    assert widget.info["layer_groups"] == [0, 0, 0, 0]
    assert widget.info["num_truncated"] == 0 and widget.info["editable"] is True
    assert (widget.layer, widget.head, widget.view, widget.head_reduce, widget.threshold) == (0, 0, "head", "none", 0.0)
    json.dumps(widget.info)  # JSON-safe


def test_new_text_bumps_revision_and_replaces_result(widget):
    first = widget.result
    widget.text = OTHER
    assert widget.revision == 2
    assert widget.text == OTHER
    assert widget.result is not first and widget.result.text == OTHER
    assert widget.tokens == list(widget.result.tokens) and widget.tokens != list(first.tokens)
    assert widget.attention is widget.result.attention
    assert widget.attention.shape[-1] == len(widget.tokens)
    widget.text = TEXT
    assert widget.revision == 3 and widget.tokens == list(first.tokens)
    assert np.array_equal(widget.attention, first.attention)


def test_text_pair_trait(widget):
    widget.text_pair = OTHER
    assert widget.revision == 2
    start = widget.result.sentence_b_start
    assert start is not None and widget.info["sentence_b_start"] == start
    assert widget.segments == [0] * start + [1] * (len(widget.tokens) - start)
    assert widget.result.text_pair == OTHER


@pytest.mark.parametrize("bad", ["", "   "])
def test_empty_text_keeps_last_state(widget, bad):
    before = snapshot(widget)
    with pytest.raises(ValueError, match="text is empty"):
        widget.text = bad
    assert "text is empty" in widget.error
    assert _same_snapshot(snapshot(widget), before)
    # The next good text clears the error.
    widget.text = OTHER
    assert widget.error == "" and widget.revision == before["revision"] + 1


def _same_snapshot(a: dict, b: dict) -> bool:
    return all((a[k] is b[k]) if k in ("result", "attention") else a[k] == b[k] for k in a)


def test_empty_pair_keeps_last_state(widget):
    before = snapshot(widget)
    with pytest.raises(ValueError, match="text_pair is empty"):
        widget.text_pair = ""
    assert "text_pair is empty" in widget.error
    assert _same_snapshot(snapshot(widget), before)


def test_set_input(widget):
    widget.set_input(TEXT, OTHER)
    assert widget.revision == 2
    assert (widget.text, widget.text_pair) == (TEXT, OTHER)
    assert widget.result.text_pair == OTHER and 1 in widget.segments
    before = snapshot(widget)
    with pytest.raises(ValueError, match="text_pair is empty"):
        widget.set_input(TEXT, "")
    with pytest.raises(TypeError, match="text must be a string"):
        widget.set_input(None)
    assert "text must be a string" in widget.error
    assert _same_snapshot(snapshot(widget), before)
    widget.set_input(OTHER)
    assert widget.text_pair is None and widget.revision == 3 and widget.error == ""


def test_truncation_notice(tiny_albert):
    model, tokenizer = tiny_albert
    w = AttentionWidget(model, tokenizer, LONG)
    dropped = len(tokenizer(LONG)["input_ids"]) - 64
    assert len(w.tokens) == 64
    assert w.info["num_truncated"] == dropped
    assert w.notice == f"Input truncated: {dropped} tokens dropped to fit the model's maximum of 64 tokens."
    w.text = TEXT
    assert w.notice == "" and w.info["num_truncated"] == 0
    small = AttentionWidget(model, tokenizer, TEXT, max_length=6)
    assert len(small.tokens) == 6 and small.info["max_length"] == 6


def test_layer_and_head_validation(widget):
    widget.layer = 3
    widget.head = 2
    assert (widget.layer, widget.head) == (3, 2)
    for name, bad in [("layer", 4), ("layer", -1), ("head", 4), ("head", -1)]:
        with pytest.raises(ValueError, match=f"{name} must be between 0 and 3, got {bad}"):
            setattr(widget, name, bad)
    with pytest.raises(TypeError, match="layer must be an int, got bool"):
        widget.layer = True
    assert (widget.layer, widget.head) == (3, 2)
    widget.heads = [3, 1, 3]
    assert widget.heads == [1, 3]
    with pytest.raises(ValueError, match="heads entry must be between 0 and 3, got 4"):
        widget.heads = [0, 4]
    assert widget.heads == [1, 3]


def test_view_reduce_threshold_validation(widget):
    widget.view = "matrix"
    widget.head_reduce = "mean"
    widget.threshold = 0.25
    assert (widget.view, widget.head_reduce, widget.threshold) == ("matrix", "mean", 0.25)
    with pytest.raises(ValueError, match="view must be one of 'head', 'matrix', 'model', 'neuron', 'explain', 'row', got 'table'"):
        widget.view = "table"
    with pytest.raises(ValueError, match="head_reduce must be one of 'none', 'mean', 'max', got 'sum'"):
        widget.head_reduce = "sum"
    for bad in (1.5, -0.01):
        with pytest.raises(ValueError, match="threshold must be between 0 and 1"):
            widget.threshold = bad
    assert (widget.view, widget.head_reduce, widget.threshold) == ("matrix", "mean", 0.25)
    widget.threshold = 1
    assert widget.threshold == 1.0


def test_constructor_options_and_errors(tiny_albert):
    model, tokenizer = tiny_albert
    w = AttentionWidget(model, tokenizer, TEXT, view="matrix", layer=2, head=3)
    assert (w.view, w.layer, w.head) == ("matrix", 2, 3)
    with pytest.raises(ValueError, match="layer must be between 0 and 3"):
        AttentionWidget(model, tokenizer, TEXT, layer=9)
    with pytest.raises(TypeError, match="needs a model and its tokenizer"):
        AttentionWidget()
    with pytest.raises(TypeError, match="model must be a transformers model, got str"):
        AttentionWidget("albert-base-v2", tokenizer, TEXT)
    with pytest.raises(ValueError, match="text must be a string|text is empty"):
        AttentionWidget(model, tokenizer, "   ")
    empty = AttentionWidget(model, tokenizer)
    assert empty.revision == 0 and empty.tokens == [] and empty.attention is None and empty.result is None
    assert empty.info == {"editable": True}
    empty.text = TEXT
    assert empty.revision == 1 and empty.tokens[0] == "[CLS]"


def test_layer_and_head_clamped_when_shape_shrinks(albert_tokenizer, tiny_albert):
    from conftest import tiny_albert_config
    from transformers import AlbertModel

    model, tokenizer = tiny_albert
    w = AttentionWidget(model, tokenizer, TEXT, layer=3, head=3)
    w.heads = [1, 3]
    small = AlbertModel(tiny_albert_config(len(albert_tokenizer), num_hidden_layers=2, num_attention_heads=2)).eval()
    w._install(capture(small, albert_tokenizer, OTHER))
    assert (w.num_layers, w.num_heads, w.layer, w.head, w.heads) == (2, 2, 1, 1, [1])


# -- from_attention --------------------------------------------------------------------------------

TOKENS = ["[CLS]", "▁the", "▁cat", "[SEP]", "▁it", "[SEP]"]


def softmax_attention(layers=3, heads=2, n=6, seed=0):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(layers, heads, n, n)) * 3
    e = np.exp(logits - logits.max(-1, keepdims=True))
    return (e / e.sum(-1, keepdims=True)).astype(np.float32)


def test_from_attention_numpy():
    attention = softmax_attention()
    w = AttentionWidget.from_attention(attention, TOKENS, sentence_b_start=4)
    assert w.tokens == TOKENS and (w.num_layers, w.num_heads) == (3, 2)
    assert np.array_equal(w.attention, attention)
    assert w.segments == [0, 0, 0, 0, 1, 1]
    assert w.special == [True, False, False, True, False, True]
    assert w.revision == 1 and w.info["editable"] is False and w.text == ""


def test_from_attention_torch_tuple():
    attention = softmax_attention(seed=1)
    layers = tuple(torch.from_numpy(a[None].copy()) for a in attention)
    w = AttentionWidget.from_attention(layers, TOKENS, view="matrix", layer=2)
    assert np.array_equal(w.attention, attention)
    assert (w.view, w.layer) == ("matrix", 2)
    with pytest.raises(ValueError, match="got 5 tokens but the attention is over 6"):
        AttentionWidget.from_attention(layers, TOKENS[:5])


def test_from_attention_widget_refuses_text():
    w = AttentionWidget.from_attention(softmax_attention(), TOKENS)
    before = snapshot(w)
    with pytest.raises(ValueError, match="no model to run on new text"):
        w.text = "new text"
    with pytest.raises(ValueError, match="no model"):
        w.text_pair = "pair"
    with pytest.raises(ValueError, match="no model"):
        w.set_input("new text")
    page_message(w, {"type": "set_text", "text": "typed", "text_pair": None})
    assert "no model" in w.error
    assert _same_snapshot(snapshot(w), before)
    # It still answers data requests.
    sent = w.bytes_sent
    page_message(w, request(w, [0]))
    assert w.bytes_sent - sent >= 2 * 6 * 6 * 4


# -- messages --------------------------------------------------------------------------------------


def replies(widget) -> list:
    """Record what the widget sends the page from now on: [(content, buffers)]."""
    out: list = []
    widget.send = lambda content, buffers=None: out.append((content, list(buffers or [])))
    return out


def test_request_message_sends_the_layer(widget):
    reply, buffers = reply_to_request(widget.attention, widget.revision, request(widget, [1]))
    layer_bytes = widget.num_heads * len(widget.tokens) ** 2 * 4
    assert len(buffers) == 1 and buffers[0].nbytes == layer_bytes
    assert np.array_equal(np.frombuffer(buffers[0], "<f4").reshape(reply["shape"]), widget.attention[1])
    assert widget.bytes_sent == 0
    sent = replies(widget)
    rid = page_message(widget, request(widget, [1]))
    assert sent[0][0] == {**reply, "id": rid, "type": "layers", "buffers_expected": 1}  # the page checks what arrived
    assert np.array_equal(np.frombuffer(sent[0][1][0], "<f4").reshape(reply["shape"]), widget.attention[1])
    assert widget.bytes_sent == message_bytes(sent[0][0], buffers) > layer_bytes
    assert widget.error == ""
    page_message(widget, request(widget, [0, 2, 3]))
    assert widget.bytes_sent > 4 * layer_bytes
    assert widget.requests_served == {"layers": 2}


def test_request_for_old_revision_fails_as_stale(widget):
    widget.text = OTHER
    sent = replies(widget)
    rid = page_message(widget, request(widget, [0], revision=widget.revision - 1))
    assert sent == [({"id": rid, "type": "layers", "error": "revision 1 is gone (the input is now at revision 2)", "stale": True}, [])]
    assert widget.error == ""


def test_bad_request_fails_only_itself(widget):
    before = snapshot(widget)
    sent = replies(widget)
    bad = page_message(widget, request(widget, [4]))
    good = page_message(widget, request(widget, [0]))
    assert sent[0] == ({"id": bad, "type": "layers", "error": "requested layer 4 is not in 0..3"}, [])
    assert sent[1][0]["id"] == good and "error" not in sent[1][0] and len(sent[1][1]) == 1
    assert widget.error == ""  # the widget is fine: only that request failed
    assert _same_snapshot(snapshot(widget), before)


def test_cancelled_request_is_dropped_before_it_runs(widget):
    """In a kernel, requests run one per event-loop turn, so a cancel read in between drops its request."""
    import asyncio

    sent = replies(widget)
    widget._requests._event_loop = asyncio.get_running_loop  # as in a kernel: the loop that reads the page

    async def page():
        first = page_message(widget, request(widget, [0]))
        second = page_message(widget, request(widget, [1]))
        page_message(widget, {"type": "cancel", "id": second})
        for _ in range(5):
            await asyncio.sleep(0)
        return first, second

    first, _second = run_in_fresh_loop(page)
    assert [c["id"] for c, _ in sent] == [first]
    assert widget._requests.cancelled == 1 and widget._requests.queued == 0


def test_set_text_message(widget):
    sent = replies(widget)
    rid = page_message(widget, {"type": "set_text", "text": OTHER, "text_pair": TEXT})
    assert widget.error == ""
    assert (widget.text, widget.text_pair, widget.revision) == (OTHER, TEXT, 2)
    assert sent == [({"id": rid, "type": "set_text", "revision": 2}, [])]
    assert widget.result.text == OTHER and widget.result.sentence_b_start is not None
    # An empty pair box means "no pair".
    page_message(widget, {"type": "set_text", "text": TEXT, "text_pair": ""})
    assert (widget.text, widget.text_pair, widget.revision) == (TEXT, None, 3)


@pytest.mark.parametrize(
    "content", [{"type": "set_text", "text": ""}, {"type": "set_text", "text": "  ", "text_pair": None}, {"type": "set_text"}]
)
def test_set_text_message_with_bad_text_keeps_state(widget, content):
    before = snapshot(widget)
    sent = replies(widget)
    rid = page_message(widget, content)
    assert "text" in widget.error and ("empty" in widget.error or "needs 'text'" in widget.error)
    assert sent[0][0] == {"id": rid, "type": "set_text", "error": widget.error}
    assert _same_snapshot(snapshot(widget), before)
    # A later request for the kept revision is still answered.
    page_message(widget, request(widget, [0]))
    assert widget.bytes_sent > 0 and "error" not in sent[-1][0]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ({"type": "bogus"}, "unknown request type 'bogus'"),
        ({}, "unknown request type None"),
        ({"type": "layers", "revision": True, "layers": [0]}, "'revision' must be int"),
        ({"type": "layers", "revision": 1}, "needs 'layers'"),
    ],
)
def test_malformed_request_gets_an_error_reply(widget, content, reason):
    before = snapshot(widget)
    sent = replies(widget)
    rid = page_message(widget, content)
    assert sent[0][0]["id"] == rid and reason in sent[0][0]["error"]
    assert widget.error == ""
    assert _same_snapshot(snapshot(widget), before)


@pytest.mark.parametrize("content", ["request", None, {"type": "layers", "revision": 1, "layers": [0]}])
def test_request_without_an_id_gets_an_error_reply(widget, content):
    sent = replies(widget)
    widget._on_page_message(widget, content, [])
    assert sent[0][0]["id"] is None and ("needs an id" in sent[0][0]["error"] or "JSON object" in sent[0][0]["error"])


# -- synced state ----------------------------------------------------------------------------------


def _walk(value, path=""):
    yield path, value
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _walk(v, f"{path}.{k}")
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            yield from _walk(v, f"{path}[{i}]")


def test_state_holds_no_attention(tiny_albert):
    model, tokenizer = tiny_albert
    w = AttentionWidget(model, tokenizer, LONG)
    attention_bytes = w.attention.nbytes
    assert attention_bytes == 4 * 4 * 64 * 64 * 4
    # _esm/_css hold the front-end bundle (fixed size, the same for every input): not data. The saved
    # snapshot holds the one layer on screen, uint8 (1/16 of this 4-layer float32 capture), for a
    # notebook reopened without its kernel; nothing else of the attention is in the state.
    full = w.get_state()
    assert len(full["_snapshot"]["data"]) == 4 * 64 * 64 == attention_bytes / 16
    state = {k: v for k, v in full.items() if k not in ("_esm", "_css", "_snapshot")}
    size = len(json.dumps(state))
    assert size < attention_bytes / 50, size
    floats = [path for path, v in _walk(state) if isinstance(v, float)]
    assert floats == [".threshold"]
    assert not [path for path, v in _walk(state) if isinstance(v, (bytes, bytearray, memoryview, np.ndarray))]
    for key in ("tokens", "segments", "special"):
        assert len(state[key]) == 64
    assert not any(isinstance(v, list) and len(v) > 64 for _, v in _walk(state))


# -- loading ---------------------------------------------------------------------------------------


@pytest.fixture
def saved_albert(tiny_albert, tmp_path):
    model, tokenizer = tiny_albert
    folder = tmp_path / "tiny-albert"
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


def test_from_pretrained_local_folder(saved_albert, tiny_albert):
    model, tokenizer = tiny_albert
    w = AttentionWidget.from_pretrained(saved_albert, TEXT, OTHER, view="matrix")
    expected = capture(model, tokenizer, TEXT, OTHER)
    assert w.tokens == list(expected.tokens)
    assert np.array_equal(w.attention, expected.attention)
    assert w.info["name_or_path"] == saved_albert and w.info["attn_implementation"] == "eager"
    assert w.view == "matrix" and w.text_pair == OTHER
    again = AttentionWidget.from_pretrained(saved_albert, TEXT, local_files_only=True)
    assert again.tokens == list(capture(model, tokenizer, TEXT).tokens)


def test_load_pretrained_local_folder(saved_albert):
    model, tokenizer = load_pretrained(saved_albert, local_files_only=True)
    assert model.config._attn_implementation == "eager" and not model.training
    assert type(model).__name__ == "AlbertModel"
    assert tokenizer.tokenize("The cat")[0] == "▁the"


@pytest.mark.parametrize("name", ["nonexistent-org/no-such-model-xyz", "/no/such/folder/anywhere"])
def test_missing_model_raises_model_load_error_quickly(name, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(ModelLoadError) as info:
        AttentionWidget.from_pretrained(name, TEXT)
    assert time.perf_counter() - start < 10
    assert isinstance(info.value, OSError)
    message = str(info.value)
    assert repr(name) in message
    assert "local folder" in message and "AttentionWidget.demo()" in message


@pytest.mark.parametrize("name", ["", "   ", None, 3])
def test_bad_model_name(name):
    with pytest.raises(TypeError, match="name_or_path must be"):
        load_pretrained(name)


def test_demo_widget():
    w = AttentionWidget.demo()
    assert (w.num_layers, w.num_heads) == (6, 12)
    assert w.info["model_type"] == "bert" and w.tokens[0] == "[CLS]"
    assert w.text == "The cat sat on the mat because it was tired."


def test_every_synced_trait_documents_itself():
    """The traits' help texts are the reference (README and DESIGN.md point at them)."""
    import anywidget

    base = set(anywidget.AnyWidget.class_trait_names(sync=True))
    missing = [n for n, tr in AttentionWidget.class_traits(sync=True).items() if n not in base and not tr.help]
    assert missing == []
    read_only = {n for n, tr in AttentionWidget.class_traits(sync=True).items() if tr.read_only}
    assert {"tokens", "segments", "special", "num_layers", "num_heads", "kinds", "revision", "info"} <= read_only


@pytest.mark.parametrize(
    ("text", "error"),
    [("", ValueError), ("   ", ValueError), (None, TypeError), ("\u200b\u200c\ufeff", ValueError), ("\x00\x07", ValueError)],
)
def test_demo_refuses_text_without_a_word_before_loading(text, error, monkeypatch):
    import albert_widget.widget as widget_module

    def no_load():  # the check comes first: the model is never loaded for such text
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(widget_module, "load_default_model", no_load)
    with pytest.raises(error, match="text"):
        AttentionWidget.demo(text)


def test_shape_traits_are_read_only_and_the_page_still_exports(tmp_path):
    import traitlets

    w = AttentionWidget.from_attention(np.full((2, 3, 4, 4), 0.25, dtype=np.float32), ["a", "b", "c", "d"])
    for name, value in (("num_layers", 99), ("num_heads", 1), ("tokens", ["x"])):
        with pytest.raises(traitlets.TraitError, match="read-only"):
            setattr(w, name, value)
    assert (w.num_layers, w.num_heads) == (2, 3)
    html = w.to_html()
    assert "<title>" in (html if isinstance(html, str) else html.decode("cp1252"))
