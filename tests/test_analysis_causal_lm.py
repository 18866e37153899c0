"""head_importance's loss for a causal LM (GPT-2 has an LM head): the next-token loss per example,
built from a tiny GPT-2 config, and the head importance it gives through head_gates."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from albert_widget.analysis import head_gates, head_importance
from albert_widget.analysis.causal_lm import causal_lm_per_example_loss, is_causal_lm

TEXTS = ["the cat sat on the mat", "a dog ran", "it was tired because it ran"]


@pytest.fixture(scope="module")
def gpt2_lm(bpe_tokenizer):
    from transformers import GPT2Config, GPT2LMHeadModel, GPT2Model

    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(bpe_tokenizer), n_positions=64, n_embd=32, n_layer=2, n_head=4)
    return GPT2LMHeadModel(config).eval(), GPT2Model(config).eval(), bpe_tokenizer


def test_is_causal_lm(gpt2_lm, tiny_albert):
    lm, base, _ = gpt2_lm
    assert is_causal_lm(lm)
    assert not is_causal_lm(base)
    assert not is_causal_lm(tiny_albert[0])


def test_loss_per_example_equals_the_models_own_loss(gpt2_lm):
    lm, _, tok = gpt2_lm
    rows = [tok(t)["input_ids"] for t in TEXTS]
    width = max(map(len, rows))
    ids = torch.tensor([r + [0] * (width - len(r)) for r in rows])
    mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows])
    with torch.no_grad():
        batch = causal_lm_per_example_loss(lm(ids, attention_mask=mask).logits, ids, mask)
        for i, r in enumerate(rows):
            one = torch.tensor([r])
            own = lm(one, labels=one).loss
            torch.testing.assert_close(batch[i], own, rtol=1e-5, atol=1e-5)


def test_head_importance_of_a_causal_lm_by_hand(gpt2_lm):
    """What head_importance computes for a causal LM once importance.py uses this loss: |dL/dgate|."""
    lm, _, tok = gpt2_lm
    ids = torch.tensor([tok(TEXTS[0])["input_ids"]])
    gates = torch.ones(1, 2, 4, requires_grad=True)
    with head_gates(lm, gates):
        loss = causal_lm_per_example_loss(lm(ids).logits, ids)
    (grad,) = torch.autograd.grad(loss.sum(), gates)
    assert grad.shape == (1, 2, 4)
    assert torch.isfinite(grad).all()
    assert grad.abs().sum() > 0


def test_head_importance_works_for_gpt2_with_its_lm_head(gpt2_lm):
    lm, _, tok = gpt2_lm
    importance = head_importance(lm, tok, TEXTS)
    assert importance.shape == (2, 4)
    assert np.isfinite(importance).all()
