"""Head importance (Michel et al. 2019) against finite differences of the loss in the head gates."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import CORPUS, tiny_albert_config

from albert_widget.analysis import head_gates, head_importance
from albert_widget.analysis.importance import _mask_tokens

TEXTS = CORPUS[:4]
LABELS = [0, 2, 1, 2]
EPS = 1e-5
HEADS = [(0, 0), (1, 3), (2, 1)]  # (layer, head) pairs checked by finite differences


def _gates(num_layers, num_heads, layer, head, value):
    g = torch.ones(num_layers, num_heads, dtype=torch.float64)
    g[layer, head] = value
    return g


def _finite_difference(model, loss_of_example, num_examples, layer, head):
    """mean over examples |(L(ξ_h = 1 + ε) - L(ξ_h = 1 - ε)) / 2ε|, one example at a time."""
    cfg = model.config
    out = []
    for b in range(num_examples):
        values = []
        for sign in (1, -1):
            with head_gates(model, _gates(cfg.num_hidden_layers, cfg.num_attention_heads, layer, head, 1 + sign * EPS)):
                with torch.no_grad():
                    values.append(float(loss_of_example(b)))
        out.append(abs(values[0] - values[1]) / (2 * EPS))
    return float(np.mean(out))


@pytest.fixture
def classifier(albert_tokenizer):
    from transformers import AlbertForSequenceClassification

    torch.manual_seed(3)
    model = AlbertForSequenceClassification(
        tiny_albert_config(len(albert_tokenizer), num_hidden_layers=3, num_labels=3, initializer_range=0.2)
    ).double()
    model.eval()
    return model


def test_importance_matches_finite_differences_classification(classifier, albert_tokenizer):
    model = classifier
    raw = head_importance(model, albert_tokenizer, TEXTS, LABELS, normalize=False, batch_size=3)
    assert raw.shape == (3, 4) and (raw >= 0).all()

    def loss(b):
        enc = albert_tokenizer(TEXTS[b], return_tensors="pt", return_token_type_ids=True)
        return F.cross_entropy(model(**enc).logits, torch.tensor([LABELS[b]]))

    for layer, head in HEADS:
        expected = _finite_difference(model, loss, len(TEXTS), layer, head)
        assert raw[layer, head] == pytest.approx(expected, rel=1e-5, abs=1e-9), (layer, head)
    assert raw.std() > 0  # heads differ

    # Normalised per layer by the L2 norm, as in the authors' code.
    normed = head_importance(model, albert_tokenizer, TEXTS, LABELS, batch_size=4)
    np.testing.assert_allclose(normed, raw / np.linalg.norm(raw, axis=1, keepdims=True), rtol=1e-9)
    np.testing.assert_allclose(np.linalg.norm(normed, axis=1), 1.0)


def test_importance_without_labels_uses_the_predictions(classifier, albert_tokenizer):
    model = classifier
    with torch.no_grad():
        predicted = [int(model(**albert_tokenizer(t, return_tensors="pt")).logits.argmax()) for t in TEXTS]
    np.testing.assert_allclose(
        head_importance(model, albert_tokenizer, TEXTS, normalize=False),
        head_importance(model, albert_tokenizer, TEXTS, predicted, normalize=False),
        rtol=1e-9,
    )


def test_importance_matches_finite_differences_masked_lm(albert_tokenizer):
    from transformers import AlbertForMaskedLM

    torch.manual_seed(4)
    model = AlbertForMaskedLM(tiny_albert_config(len(albert_tokenizer), num_hidden_layers=3, initializer_range=0.2)).double()
    model.eval()
    raw = head_importance(model, albert_tokenizer, TEXTS, normalize=False, seed=7, batch_size=2)

    enc = albert_tokenizer(TEXTS, return_token_type_ids=True, return_special_tokens_mask=True)
    masked, labels = _mask_tokens(albert_tokenizer, enc["input_ids"], enc["special_tokens_mask"], 0.15, 7)

    def loss(b):
        logits = model(input_ids=torch.tensor([masked[b]]), token_type_ids=torch.tensor([enc["token_type_ids"][b]])).logits
        lab = torch.tensor(labels[b])
        keep = lab != -100
        return F.cross_entropy(logits[0][keep], lab[keep])

    for layer, head in HEADS:
        expected = _finite_difference(model, loss, len(TEXTS), layer, head)
        assert raw[layer, head] == pytest.approx(expected, rel=1e-5, abs=1e-9), (layer, head)
    # Same seed, same masks, same answer; another seed masks other tokens.
    np.testing.assert_allclose(raw, head_importance(model, albert_tokenizer, TEXTS, normalize=False, seed=7, batch_size=4), rtol=1e-12)
    assert not np.allclose(raw, head_importance(model, albert_tokenizer, TEXTS, normalize=False, seed=8))


def test_masking_is_deterministic_and_skips_special_tokens(albert_tokenizer):
    enc = albert_tokenizer(CORPUS, return_special_tokens_mask=True)
    a = _mask_tokens(albert_tokenizer, enc["input_ids"], enc["special_tokens_mask"], 0.15, 0)
    b = _mask_tokens(albert_tokenizer, enc["input_ids"], enc["special_tokens_mask"], 0.15, 0)
    assert a == b
    for ids, masked, labels, special in zip(enc["input_ids"], *a, enc["special_tokens_mask"]):
        chosen = [i for i, label in enumerate(labels) if label != -100]
        ordinary = len(special) - sum(special)
        assert len(chosen) == max(1, round(0.15 * ordinary))
        assert all(not special[i] and masked[i] == albert_tokenizer.mask_token_id and labels[i] == ids[i] for i in chosen)


def test_gates_switch_heads_off(tiny_albert):
    model, tokenizer = tiny_albert
    enc = tokenizer(CORPUS[0], return_tensors="pt")
    cfg = model.config
    with torch.no_grad():
        base = model(**enc).last_hidden_state
        with head_gates(model, torch.ones(cfg.num_hidden_layers, cfg.num_attention_heads)):
            same = model(**enc).last_hidden_state
        with head_gates(model, _gates(cfg.num_hidden_layers, cfg.num_attention_heads, 1, 2, 0.0)):
            off = model(**enc).last_hidden_state
    torch.testing.assert_close(same, base)
    assert (off - base).abs().max() > 1e-4
    # The hooks are gone afterwards.
    with torch.no_grad():
        torch.testing.assert_close(model(**enc).last_hidden_state, base)


def test_importance_refuses_base_models_and_restores_mode(tiny_albert, classifier, albert_tokenizer):
    model, tokenizer = tiny_albert
    with pytest.raises(ValueError, match="has no head"):
        head_importance(model, tokenizer, TEXTS)
    classifier.train()
    head_importance(classifier, albert_tokenizer, TEXTS[:2], LABELS[:2])
    assert classifier.training and all(p.grad is None for p in classifier.parameters())
    with pytest.raises(ValueError, match="2 labels for 4 texts"):
        head_importance(classifier, albert_tokenizer, TEXTS, LABELS[:2])


def test_importance_bert_family(albert_tokenizer):
    """BERT-style modules (encoder.layer[l].attention.output.dense) are gated too."""
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(5)
    cfg = BertConfig(
        vocab_size=len(albert_tokenizer),
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=20,
        max_position_embeddings=64,
        num_labels=2,
        initializer_range=0.2,
    )
    model = BertForSequenceClassification(cfg).double()
    model.eval()
    raw = head_importance(model, albert_tokenizer, TEXTS[:3], [0, 1, 1], normalize=False)

    def loss(b):
        enc = albert_tokenizer(TEXTS[b], return_tensors="pt", return_token_type_ids=True)
        return F.cross_entropy(model(**enc).logits, torch.tensor([[0, 1, 1][b]]))

    for layer in range(2):
        for head in range(2):
            expected = _finite_difference(model, loss, 3, layer, head)
            assert raw[layer, head] == pytest.approx(expected, rel=1e-5, abs=1e-9)
