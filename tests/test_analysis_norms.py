"""Norm-based attention (Kobayashi et al. 2020) against a direct computation from the weight matrices."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import tiny_albert_config

from albert_widget.analysis import norm_attention, value_norms

TEXT = "The cat sat on the mat because it was tired."
PAIR = ("A sentence pair has two segments.", "Each token knows its segment.")


def _linear(x, module):
    """x W^T + b with the module's own weights, in float64."""
    return x @ module.weight.detach().double().T + module.bias.detach().double()


def _direct(model, tokenizer, text, text_pair, modules_of_layer):
    """‖α_ij f(x_j)‖ from hidden_states[l] (the input of layer l) and the weight matrices alone."""
    enc = tokenizer(text, text_pair, return_tensors="pt", return_token_type_ids=True)
    with torch.no_grad():
        out = model(**enc, output_hidden_states=True)
    cfg = model.config
    h, d = cfg.num_attention_heads, cfg.hidden_size // cfg.num_attention_heads
    layers = []
    for l in range(cfg.num_hidden_layers):
        query, key, value, dense = modules_of_layer(l)
        x = out.hidden_states[l][0].double()  # [N, D]
        n = x.shape[0]
        q = _linear(x, query).reshape(n, h, d).transpose(0, 1)
        k = _linear(x, key).reshape(n, h, d).transpose(0, 1)
        v = _linear(x, value).reshape(n, h, d)
        alpha = torch.softmax(q @ k.transpose(1, 2) / np.sqrt(d), dim=-1)  # [H, N, N]
        w_o = dense.weight.detach().double()  # [D, H·d]
        per_head = []
        for head in range(h):
            f = v[:, head, :] @ w_o[:, head * d : (head + 1) * d].T  # [N, D]: (x W_V + b_V) W_O^h
            norms = torch.linalg.vector_norm(f, dim=-1)  # [N]
            per_head.append(alpha[head] * norms[None, :])
        layers.append(torch.stack(per_head))
    return torch.stack(layers).numpy()


def test_norm_attention_tiny_albert_matches_the_weights(albert_tokenizer):
    from transformers import AlbertModel

    torch.manual_seed(0)
    model = AlbertModel(tiny_albert_config(len(albert_tokenizer), initializer_range=0.2))
    model.eval()
    att = model.encoder.albert_layer_groups[0].albert_layers[0].attention  # ONE module for all layers
    for text, pair in [(TEXT, None), PAIR]:
        got = norm_attention(model, albert_tokenizer, text, pair)
        expected = _direct(model, albert_tokenizer, text, pair, lambda l: (att.query, att.key, att.value, att.dense))
        assert got.dtype == np.float32 and got.shape == expected.shape
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)
        # Layers differ although they share weights: the inputs differ.
        assert np.abs(got[0] - got[-1]).max() > 1e-3
    # The model is left as it was: sdpa attention, eval mode.
    assert model.config._attn_implementation == "sdpa"


def test_norm_attention_minilm_matches_the_weights(minilm):
    model, tokenizer = minilm

    def modules(l):
        att = model.encoder.layer[l].attention
        return att.self.query, att.self.key, att.self.value, att.output.dense

    got = norm_attention(model, tokenizer, TEXT)
    expected = _direct(model, tokenizer, TEXT, None, modules)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)
    # Kobayashi et al.: [SEP] gets large weights but small norms: its share shrinks under the norm view.
    norms = value_norms(model, tokenizer, TEXT)
    assert norms.shape == got.shape[:3]
    sep = got.shape[-1] - 1
    assert norms[:, :, sep].mean() < norms[:, :, 1:sep].mean()


def test_norm_attention_restores_training_mode(tiny_albert):
    model, tokenizer = tiny_albert
    model.train()
    norm_attention(model, tokenizer, TEXT)
    assert model.training and model.config._attn_implementation == "sdpa"


def test_norm_attention_refuses_unknown_architectures():
    from transformers import GPT2Config, GPT2Model

    model = GPT2Model(GPT2Config(n_layer=1, n_head=2, n_embd=8, vocab_size=20, n_positions=16))

    def tokenizer(*args, **kwargs):  # never reached
        raise AssertionError

    with pytest.raises(NotImplementedError, match="ALBERT"):
        norm_attention(model, tokenizer, "hello")
