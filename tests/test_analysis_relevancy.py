"""Gradient-weighted relevancy (Chefer et al. 2021) reproduced step by step.

The reference gradients do not come from ``outputs.attentions``: the eager attention function is
replaced by one that adds a zero leaf tensor δ_l to each layer's attention probabilities, and
∂score/∂δ_l = ∂score/∂A_l is taken with respect to those leaves.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import tiny_albert_config

from albert_widget.analysis import Relevancy, relevancy, relevancy_matrix

TEXT = "The cat sat on the mat because it was tired."


@pytest.fixture
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
    probs, grads, _score = probe(model, enc, pooled_norm)
    expected = _step_by_step(probs, grads)
    assert got.kind == "callable" and got.position == "mean" and got.target is None
    np.testing.assert_allclose(got.matrix, expected, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(got.scores, expected.mean(0), rtol=1e-4, atol=1e-7)
    # Without a target, a model without a head explains the documented stand-in: the same quantity.
    stand_in = relevancy(model, tokenizer, TEXT)
    assert stand_in.kind == "pooled-norm" and stand_in.position == "mean" and stand_in.target is None
    np.testing.assert_array_equal(stand_in.matrix, got.matrix)
    # A class or token asked of a model without a head has nothing to explain.
    with pytest.raises(ValueError, match="no prediction head"):
        relevancy(model, tokenizer, TEXT, 1)


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


def test_python_and_the_widget_explain_the_same_stand_in_for_a_model_without_a_head(minilm):
    """The packaged MiniLM has no head: analysis.relevancy (target=None) and the widget's explain view
    give the same scores, and both say it is the stand-in."""
    from albert_widget import AttentionWidget
    from albert_widget.analysis import pooled_norm
    from albert_widget.analysis.relevancy import relevancy_note
    from albert_widget.explain import explain_array

    model, tokenizer = minilm
    rel = relevancy(model, tokenizer, TEXT)
    assert rel.kind == "pooled-norm"
    np.testing.assert_array_equal(rel.scores, relevancy(model, tokenizer, TEXT, pooled_norm).scores)
    w = AttentionWidget(model, tokenizer, TEXT)
    scores, note = explain_array("relevancy", w.result, model, tokenizer)
    np.testing.assert_array_equal(scores, rel.scores.astype(np.float32))
    assert note == relevancy_note(rel) and "stand-in" in note and "no head" in note


def test_relevancy_of_a_causal_lm_explains_the_next_token_at_the_last_position(bpe_tokenizer):
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(bpe_tokenizer), n_positions=64, n_embd=32, n_layer=2, n_head=4)
    model = GPT2LMHeadModel(config).eval()
    rel = relevancy(model, bpe_tokenizer, "the cat sat on the mat")
    n = len(rel.tokens)
    assert rel.kind == "token" and rel.position == n - 1
    with torch.no_grad():
        ids = bpe_tokenizer("the cat sat on the mat", return_tensors="pt")["input_ids"]
        top = int(model(ids).logits[0, -1].argmax())
    assert rel.target == top
    assert np.all(rel.scores[:] >= 0) and rel.scores.shape == (n,)


@pytest.mark.parametrize("name", ["norm_attention", "value_norms", "relevancy", "layer_transitions", "head_importance"])
def test_analysis_functions_take_model_tokenizer_then_text(name):
    """One order everywhere, as relevancy(model, tokenizer, text): the model, its tokenizer, then the
    text(s); keywords work too. rollout / attention_flow / reduce_heads take attention arrays."""
    import inspect

    from albert_widget import analysis

    params = list(inspect.signature(getattr(analysis, name)).parameters)
    assert params[:2] == ["model", "tokenizer"]
    assert params[2] in ("text", "texts")
    for array_fn in ("rollout", "attention_flow", "reduce_heads"):
        assert next(iter(inspect.signature(getattr(analysis, array_fn)).parameters)) == "attention"


def test_analysis_keywords_are_accepted(tiny_albert):
    from albert_widget import analysis

    model, tokenizer = tiny_albert
    by_position = analysis.norm_attention(model, tokenizer, TEXT)
    by_keyword = analysis.norm_attention(text=TEXT, tokenizer=tokenizer, model=model)
    np.testing.assert_array_equal(by_position, by_keyword)
    rel = analysis.relevancy(tokenizer=tokenizer, model=model, text=TEXT)
    assert rel.kind == "pooled-norm"
