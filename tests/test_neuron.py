"""Neuron view: query/key vectors hooked from the real attention modules reproduce the captured
attention, for ALBERT (one shared module run once per layer), MiniLM (BERT family) and GPT-2."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from page_messages import page_message

from albert_widget import AttentionWidget, capture
from albert_widget.neuron import (
    UNAVAILABLE,
    NeuronSource,
    NeuronUnavailable,
    neuron_row,
    query_key_modules,
    query_key_vectors,
    reply_to_neuron,
)

TEXT = "The cat sat on the mat because it was tired."
PAIR = "Dogs bark at night."


def _softmax_torch(row: np.ndarray) -> np.ndarray:
    return torch.nn.functional.softmax(torch.from_numpy(np.ascontiguousarray(row))[None, None, None], dim=-1)[0, 0, 0].numpy()


def _check_layer(qk, attention_layer):
    H, N, d = qk.q.shape
    assert qk.k.shape == (H, N, d) and qk.q.dtype == np.float32
    assert qk.attention.shape == attention_layer.shape
    np.testing.assert_allclose(qk.attention, attention_layer, rtol=0, atol=1e-6)
    for h in range(H):
        for i in range(N):
            row = neuron_row(qk, h, i)
            np.testing.assert_allclose(row["softmax"], attention_layer[h, i], rtol=0, atol=1e-6)
            # The scores reproduce the row through softmax (numpy, float64) ...
            logits = row["scores"].astype(np.float64)
            if row["masked"]:
                logits[row["masked"]] = -np.inf
            e = np.exp(logits - logits.max())
            np.testing.assert_allclose(e / e.sum(), attention_layer[h, i], rtol=0, atol=1e-6)
            # ... and through torch's softmax (what the model ran) exactly.
            logits32 = row["scores"].copy()
            if row["masked"]:
                logits32[row["masked"]] = -np.inf
            assert np.array_equal(_softmax_torch(logits32), attention_layer[h, i])
            # The scores are q·k_j scaled.
            np.testing.assert_allclose(row["scores"], (row["keys"] @ row["q"]) * qk.scaling, rtol=1e-5, atol=1e-5)


def test_albert_has_one_shared_attention_module(tiny_albert):
    model, _ = tiny_albert
    specs = query_key_modules(model)
    assert [s.name for s in specs] == ["encoder.albert_layer_groups.0.albert_layers.0.attention"]
    assert specs[0].num_heads == 4 and specs[0].head_dim == 8 and specs[0].kind == "query_key"


def test_albert_neuron_softmax_equals_captured_rows(tiny_albert):
    model, tokenizer = tiny_albert
    result = capture(model, tokenizer, TEXT)
    for layer in range(result.num_layers):
        qk = query_key_vectors(model, tokenizer, TEXT, layer=layer)
        assert qk.tokens == result.tokens and qk.mask is None
        assert qk.module.endswith("albert_layers.0.attention")
        _check_layer(qk, result.attention[layer])
    # Each layer has its own vectors although the module is the same (indexed by call order).
    q0, k0 = query_key_vectors(model, tokenizer, TEXT, layer=0)
    q3, _ = query_key_vectors(model, tokenizer, TEXT, layer=3)
    assert q0.shape == (4, result.num_tokens, 8) and k0.shape == q0.shape
    assert not np.allclose(q0, q3)


def test_albert_hooks_equal_a_direct_computation_from_hidden_states(tiny_albert):
    model, tokenizer = tiny_albert
    enc = tokenizer(TEXT, PAIR, return_tensors="pt", return_token_type_ids=True)
    model.set_attn_implementation("eager")
    with torch.no_grad():
        out = model(**enc, output_hidden_states=True, output_attentions=True)
    attn = model.encoder.albert_layer_groups[0].albert_layers[0].attention
    H, d = 4, 8
    for layer in (0, 2):
        x = out.hidden_states[layer][0].numpy().astype(np.float64)  # the input of layer `layer`
        q = x @ attn.query.weight.detach().numpy().T.astype(np.float64) + attn.query.bias.detach().numpy()
        k = x @ attn.key.weight.detach().numpy().T.astype(np.float64) + attn.key.bias.detach().numpy()
        n = x.shape[0]
        q = q.reshape(n, H, d).transpose(1, 0, 2)
        k = k.reshape(n, H, d).transpose(1, 0, 2)
        qk = query_key_vectors(model, tokenizer, TEXT, PAIR, layer=layer)
        np.testing.assert_allclose(qk.q, q, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(qk.k, k, rtol=1e-5, atol=1e-5)
        scores = q @ k.transpose(0, 2, 1) / np.sqrt(d)
        e = np.exp(scores - scores.max(-1, keepdims=True))
        np.testing.assert_allclose(e / e.sum(-1, keepdims=True), out.attentions[layer][0].numpy(), atol=1e-5)


def test_attention_implementation_and_training_are_restored(tiny_albert):
    model, tokenizer = tiny_albert
    model.set_attn_implementation("sdpa")
    model.train()
    query_key_vectors(model, tokenizer, TEXT, layer=1)
    assert model.config._attn_implementation == "sdpa"
    assert model.training and all(m.training for m in model.modules())
    # No hook is left behind.
    attn = model.encoder.albert_layer_groups[0].albert_layers[0].attention
    assert not attn._forward_pre_hooks and not attn.query._forward_hooks and not attn.key._forward_hooks


def test_minilm_neuron_softmax_equals_captured_rows(minilm):
    model, tokenizer = minilm
    specs = query_key_modules(model)
    assert [s.name for s in specs] == [f"encoder.layer.{l}.attention.self" for l in range(6)]
    result = capture(model, tokenizer, TEXT, PAIR)
    for layer in range(result.num_layers):
        qk = query_key_vectors(model, tokenizer, TEXT, PAIR, layer=layer)
        assert qk.module == f"encoder.layer.{layer}.attention.self"
        assert qk.q.shape == (12, result.num_tokens, 32)
        _check_layer(qk, result.attention[layer])


def test_minilm_hooks_equal_a_direct_computation(minilm):
    model, tokenizer = minilm
    enc = tokenizer(TEXT, return_tensors="pt")
    previous = model.config._attn_implementation
    model.set_attn_implementation("eager")
    try:
        with torch.no_grad():
            out = model(**enc, output_hidden_states=True)
    finally:
        model.set_attn_implementation(previous)
    layer = 4
    self_attn = model.encoder.layer[layer].attention.self
    x = out.hidden_states[layer][0].double()
    with torch.no_grad():
        q = (x @ self_attn.query.weight.double().T + self_attn.query.bias.double()).numpy()
        k = (x @ self_attn.key.weight.double().T + self_attn.key.bias.double()).numpy()
    n = x.shape[0]
    qk = query_key_vectors(model, tokenizer, TEXT, layer=layer)
    np.testing.assert_allclose(qk.q, q.reshape(n, 12, 32).transpose(1, 0, 2), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(qk.k, k.reshape(n, 12, 32).transpose(1, 0, 2), rtol=1e-4, atol=1e-4)


def test_gpt2_causal_mask_is_reported(tiny_gpt2):
    model, tokenizer = tiny_gpt2
    result = capture(model, tokenizer, TEXT)
    assert [s.kind for s in query_key_modules(model)] == ["c_attn", "c_attn"]
    for layer in range(result.num_layers):
        qk = query_key_vectors(model, tokenizer, TEXT, layer=layer)
        assert qk.mask is not None
        n = result.num_tokens
        assert np.isneginf(qk.mask[np.triu_indices(n, 1)]).all() and (qk.mask[np.tril_indices(n)] == 0).all()
        assert neuron_row(qk, 0, 2)["masked"] == list(range(3, n))
        _check_layer(qk, result.attention[layer])


def test_truncation_matches_the_capture(tiny_albert):
    model, tokenizer = tiny_albert
    long = " ".join([TEXT] * 6)
    result = capture(model, tokenizer, long, max_length=20)
    qk = query_key_vectors(model, tokenizer, long, layer=1, max_length=20)
    assert len(qk.tokens) == 20 == result.num_tokens
    np.testing.assert_allclose(qk.attention, result.attention[1], atol=1e-6)


def test_unhookable_models_are_refused_with_a_reason(tiny_albert):
    _, tokenizer = tiny_albert

    class NoAttention(torch.nn.Module):
        config = None

        def forward(self, input_ids=None, **_):
            return input_ids

    with pytest.raises(NeuronUnavailable, match=UNAVAILABLE):
        query_key_vectors(NoAttention(), tokenizer, TEXT, layer=0)
    with pytest.raises(NeuronUnavailable, match="no model"):
        query_key_vectors(None, tokenizer, TEXT, layer=0)


def test_bad_layer(tiny_albert):
    model, tokenizer = tiny_albert
    with pytest.raises(ValueError, match="layer"):
        query_key_vectors(model, tokenizer, TEXT, layer=4)
    with pytest.raises(ValueError, match="layer"):
        query_key_vectors(model, tokenizer, TEXT, layer=-1)


def _sent(widget):
    out = []
    widget.send = lambda content, buffers=None: out.append((content, list(buffers or [])))
    return out


def test_widget_neuron_message_pair(tiny_albert):
    model, tokenizer = tiny_albert
    w = AttentionWidget(model, tokenizer, TEXT, PAIR, view="neuron")
    sent = _sent(w)
    page_message(w, {"type": "neuron", "revision": w.revision, "layer": 2, "head": 3, "query": 5})
    assert len(sent) == 1 and w.error == ""
    reply, bufs = sent[0]
    json.dumps(reply)
    n = len(w.tokens)
    assert reply["type"] == "neuron" and (reply["layer"], reply["head"], reply["query"]) == (2, 3, 5)
    assert reply["d"] == 8 and reply["n"] == n and reply["dtype"] == "float32" and reply["masked"] == []
    assert reply["arrays"] == ["q", "keys", "scores", "softmax"]
    assert reply["shapes"] == [[8], [n, 8], [n], [n]]
    arrays = {name: np.frombuffer(b, dtype="<f4").reshape(shape) for name, b, shape in zip(reply["arrays"], bufs, reply["shapes"])}
    np.testing.assert_allclose(arrays["softmax"], w.attention[2, 3, 5], rtol=0, atol=1e-6)
    e = np.exp(arrays["scores"].astype(np.float64) - arrays["scores"].max())
    np.testing.assert_allclose(e / e.sum(), w.attention[2, 3, 5], atol=1e-6)
    np.testing.assert_allclose(arrays["scores"], arrays["keys"] @ arrays["q"] / np.sqrt(8), atol=1e-5)
    # Other heads/queries of the same layer come from the cache (no second forward pass).
    calls = []
    handle = model.register_forward_hook(lambda *a: calls.append(1))
    try:
        page_message(w, {"type": "neuron", "revision": w.revision, "layer": 2, "head": 0, "query": 0})
        assert calls == []
        page_message(w, {"type": "neuron", "revision": w.revision, "layer": 1, "head": 0, "query": 0})
        assert calls == [1]
    finally:
        handle.remove()
    # An old revision fails as stale; a bad field gets an error reply, not a broken widget.
    page_message(w, {"type": "neuron", "revision": w.revision - 1, "layer": 0, "head": 0, "query": 0})
    assert len(sent) == 4 and sent[-1][0]["stale"] is True
    page_message(w, {"type": "neuron", "revision": w.revision, "layer": 9, "head": 0, "query": 0})
    assert "error" in sent[-1][0] and sent[-1][1] == [] and w.error == ""


def test_widget_neuron_follows_a_new_text(tiny_albert):
    model, tokenizer = tiny_albert
    w = AttentionWidget(model, tokenizer, TEXT)
    sent = _sent(w)
    page_message(w, {"type": "neuron", "revision": w.revision, "layer": 0, "head": 0, "query": 1})
    w.text = "Dogs bark at night."
    page_message(w, {"type": "neuron", "revision": w.revision, "layer": 0, "head": 0, "query": 1})
    reply, bufs = sent[-1]
    assert reply["n"] == len(w.tokens)
    np.testing.assert_allclose(np.frombuffer(bufs[3], dtype="<f4"), w.attention[0, 0, 1], atol=1e-6)


def test_from_attention_widget_says_why_there_is_no_neuron_view():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 2, 3, 3))
    att = np.exp(x) / np.exp(x).sum(-1, keepdims=True)
    w = AttentionWidget.from_attention(att, ["a", "b", "c"], view="neuron")
    sent = _sent(w)
    page_message(w, {"type": "neuron", "revision": w.revision, "layer": 0, "head": 0, "query": 0})
    reply, bufs = sent[0]
    assert reply["type"] == "neuron" and bufs == []
    assert reply["error"].startswith(UNAVAILABLE) and "from_attention" in reply["error"]
    assert w.error == ""


def test_changed_weights_are_not_shown_as_the_capture(tiny_albert):
    model, tokenizer = tiny_albert
    result = capture(model, tokenizer, TEXT)
    with torch.no_grad():
        model.encoder.albert_layer_groups[0].albert_layers[0].attention.query.weight.mul_(3.0)
    reply, bufs = reply_to_neuron(model, tokenizer, result, 1, {"revision": 1, "layer": 0, "head": 0, "query": 1}, source=NeuronSource())
    assert "error" in reply and "differs" in reply["error"] and bufs == []
