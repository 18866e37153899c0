"""Gradient-weighted relevancy (Chefer et al. 2021) reproduced step by step.

The reference gradients do not come from ``outputs.attentions``: the eager attention function is
replaced by one that adds a zero leaf tensor δ_l to each layer's attention probabilities, and
∂score/∂δ_l = ∂score/∂A_l is taken with respect to those leaves.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from albert_widget.analysis import Relevancy, relevancy, relevancy_matrix

from conftest import tiny_albert_config

TEXT = "The cat sat on the mat because it was tired."


@pytest.fixture()
def probe(monkeypatch):
    """Patch ALBERT's eager attention: records A_l and a leaf δ_l with A_l + δ_l used downstream."""
    from transformers.models.albert import modeling_albert

    record = {"probs": [], "deltas": []}

    def attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
        scores = torch.matmul(query, key.transpose(2, 3)) * scaling
        if attention_mask is not None:
            scores = scores + attention_mask
        probs = torch.softmax(scores, dim=-1)
        delta = torch.zeros_like(probs, requires_grad=True)
        record["probs"].append(probs.detach())
        record["deltas"].append(delta)
        out = torch.matmul(probs + delta, value).transpose(1, 2).contiguous()
        return out, probs

    def run(model, inputs, score_of):
        record["probs"].clear()
        record["deltas"].clear()
        monkeypatch.setattr(modeling_albert, "eager_attention_forward", attention)
        model.set_attn_implementation("eager")
        try:
            with torch.enable_grad():
                out = model(**inputs)
                score = score_of(out)
                grads = torch.autograd.grad(score, record["deltas"], allow_unused=True)
                grads = [torch.zeros_like(d) if g is None else g for d, g in zip(record["deltas"], grads)]
        finally:
            monkeypatch.undo()
            model.set_attn_implementation("sdpa")
        return [p[0].numpy() for p in record["probs"]], [g[0].numpy() for g in grads], float(score.detach())

    return run


def _step_by_step(probs, grads):
    """R = I; per layer Ā = mean_h max(∇A ⊙ A, 0); R ← R + Ā·R, written with explicit loops."""
    n = probs[0].shape[-1]
    r = np.eye(n)
    for a, g in zip(probs, grads):
        heads = a.shape[0]
        bar = np.zeros((n, n))
        for h in range(heads):
            for i in range(n):
                for j in range(n):
                    bar[i, j] += max(float(g[h, i, j]) * float(a[h, i, j]), 0.0) / heads
        r = r + bar @ r
    return r


def _classifier(tokenizer, **overrides):
    from transformers import AlbertForSequenceClassification

    torch.manual_seed(1)
    model = AlbertForSequenceClassification(
        tiny_albert_config(len(tokenizer), num_hidden_layers=3, num_labels=3, initializer_range=0.2, **overrides)
    )
    model.eval()
    return model


def test_relevancy_classification_step_by_step(albert_tokenizer, probe):
    model = _classifier(albert_tokenizer)
    enc = albert_tokenizer(TEXT, return_tensors="pt", return_token_type_ids=True)
    with torch.no_grad():
        predicted = int(model(**enc).logits[0].argmax())
    for target in (None, (predicted + 1) % 3):
        got = relevancy(model, albert_tokenizer, TEXT, target)
        explained = predicted if target is None else target
        probs, grads, score = probe(model, enc, lambda out: out.logits[0, explained])
        expected = _step_by_step(probs, grads)
        assert isinstance(got, Relevancy) and got.kind == "sequence-classification"
        assert got.target == explained and got.position == 0
        assert got.tokens[0] == "[CLS]" and len(got.tokens) == expected.shape[0]
        assert got.value == pytest.approx(score, abs=1e-6)
        np.testing.assert_allclose(got.matrix, expected, rtol=1e-4, atol=1e-7)
        np.testing.assert_allclose(got.scores, expected[0], rtol=1e-4, atol=1e-7)  # the [CLS] row
        np.testing.assert_array_equal(np.asarray(got), got.scores)
        # Not trivially the identity: some layer spreads relevance to other tokens.
        assert np.abs(expected - np.eye(len(expected))).max() > 1e-4


def test_relevancy_masked_lm_step_by_step(albert_tokenizer, probe):
    from transformers import AlbertForMaskedLM

    torch.manual_seed(2)
    model = AlbertForMaskedLM(tiny_albert_config(len(albert_tokenizer), num_hidden_layers=3, initializer_range=0.2))
    model.eval()
    text = "The cat [MASK] on the mat."
    enc = albert_tokenizer(text, return_tensors="pt", return_token_type_ids=True)
    position = int((enc["input_ids"][0] == albert_tokenizer.mask_token_id).nonzero()[0, 0])
    got = relevancy(model, albert_tokenizer, text)
    assert got.kind == "token" and got.position == position and got.tokens[position] == "[MASK]"
    with torch.no_grad():
        top = int(model(**enc).logits[0, position].argmax())
    assert got.target == top
    probs, grads, _ = probe(model, enc, lambda out: out.logits[0, position, top])
    expected = _step_by_step(probs, grads)
    np.testing.assert_allclose(got.matrix, expected, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(got.scores, expected[position], rtol=1e-4, atol=1e-7)
    # A given token (as a string) and a given position.
    other = relevancy(model, albert_tokenizer, text, "▁the", position=1)
    target_id = albert_tokenizer.convert_tokens_to_ids("▁the")
    probs, grads, _ = probe(model, enc, lambda out: out.logits[0, 1, target_id])
    np.testing.assert_allclose(other.scores, _step_by_step(probs, grads)[1], rtol=1e-4, atol=1e-7)
    with pytest.raises(ValueError, match=r"\[MASK\]"):
        relevancy(model, albert_tokenizer, "No mask here.")


def test_relevancy_callable_target_on_a_base_model(tiny_albert, probe):
    model, tokenizer = tiny_albert
    enc = tokenizer(TEXT, return_tensors="pt", return_token_type_ids=True)

    def pooled_norm(out):
        return out.last_hidden_state[0].mean(0).norm()

    got = relevancy(model, tokenizer, TEXT, pooled_norm)
    probs, grads, score = probe(model, enc, pooled_norm)
    expected = _step_by_step(probs, grads)
    assert got.kind == "callable" and got.position == "mean" and got.target is None
    np.testing.assert_allclose(got.matrix, expected, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(got.scores, expected.mean(0), rtol=1e-4, atol=1e-7)
    with pytest.raises(ValueError, match="no prediction head"):
        relevancy(model, tokenizer, TEXT)


def test_relevancy_restores_the_model(albert_tokenizer):
    model = _classifier(albert_tokenizer)
    model.train()
    relevancy(model, albert_tokenizer, TEXT)
    assert model.training
    assert model.config._attn_implementation == "sdpa"
    assert all(p.grad is None for p in model.parameters())


def test_relevancy_rejects_bad_targets(albert_tokenizer):
    model = _classifier(albert_tokenizer)
    with pytest.raises(ValueError, match="out of range"):
        relevancy(model, albert_tokenizer, TEXT, 3)
    with pytest.raises(TypeError):
        relevancy(model, albert_tokenizer, TEXT, 1.5)


def test_relevancy_matrix_by_hand():
    # One layer, one head, two tokens: A = [[.5, .5], [0, 1]], ∇A = [[1, -1], [2, 2]]
    # (∇A ⊙ A)⁺ = [[.5, 0], [0, 2]];  R = I + Ā·I = [[1.5, 0], [0, 3]]
    a = np.array([[[0.5, 0.5], [0.0, 1.0]]])
    g = np.array([[[1.0, -1.0], [2.0, 2.0]]])
    np.testing.assert_allclose(relevancy_matrix([a], [g]), [[1.5, 0.0], [0.0, 3.0]])
    # Two layers: R2 = R1 + Ā2·R1 with Ā2 = [[0, 1], [0, 0]] -> [[1.5, 3], [0, 3]]
    a2 = np.array([[[0.0, 1.0], [0.5, 0.5]]])
    g2 = np.array([[[0.0, 1.0], [-1.0, 0.0]]])
    np.testing.assert_allclose(relevancy_matrix([a, a2], [g, g2]), [[1.5, 3.0], [0.0, 3.0]])


def test_relevancy_works_with_frozen_parameters(albert_tokenizer):
    model = _classifier(albert_tokenizer)
    expected = relevancy(model, albert_tokenizer, TEXT)
    model.requires_grad_(False)
    frozen = relevancy(model, albert_tokenizer, TEXT)
    np.testing.assert_allclose(frozen.matrix, expected.matrix, rtol=1e-6, atol=1e-9)
    assert not any(p.requires_grad for p in model.parameters())


def test_relevancy_rejects_unknown_token_strings(albert_tokenizer):
    from transformers import AlbertForMaskedLM

    torch.manual_seed(2)
    model = AlbertForMaskedLM(tiny_albert_config(len(albert_tokenizer), num_hidden_layers=2)).eval()
    with pytest.raises(ValueError, match="not in the tokenizer's vocabulary"):
        relevancy(model, albert_tokenizer, "The cat [MASK] on the mat.", "zzzzqqq")


def test_relevancy_ignores_layers_the_target_does_not_use(tiny_albert, probe):
    model, tokenizer = tiny_albert
    enc = tokenizer(TEXT, return_tensors="pt", return_token_type_ids=True)

    def second_layer_norm(out):  # depends on the attention of layers 1 and 2 only
        return out.hidden_states[2][0].norm()

    model.config.output_hidden_states = True  # relevancy does not ask for hidden states itself
    try:
        got = relevancy(model, tokenizer, TEXT, second_layer_norm)
        probs, grads, _ = probe(model, enc, second_layer_norm)
    finally:
        model.config.output_hidden_states = False
    assert len(probs) == 4 and not np.abs(grads[2]).any() and not np.abs(grads[3]).any()
    np.testing.assert_allclose(got.matrix, _step_by_step(probs[:2], grads[:2]), rtol=1e-4, atol=1e-7)
