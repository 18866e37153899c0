"""Layer transitions (ALBERT paper, Fig. 2) against a per-text computation, and the template corpus."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import CORPUS, tiny_albert_config

from albert_widget.analysis import LayerTransitions, layer_transitions, make_corpus

TEXTS = CORPUS[:5] + [("A sentence pair has two segments.", "Each token knows its segment.")]


def _one_at_a_time(model, tokenizer, texts):
    l2, cos = [], []
    for t in texts:
        enc = tokenizer(*(t if isinstance(t, tuple) else (t,)), return_tensors="pt", return_token_type_ids=True)
        with torch.no_grad():
            hs = model(**enc, output_hidden_states=True).hidden_states
        per_layer_l2, per_layer_cos = [], []
        for l in range(len(hs) - 1):
            x, y = hs[l][0].double().numpy(), hs[l + 1][0].double().numpy()  # [N, D]
            per_layer_l2.append(np.sqrt(((y - x) ** 2).sum(-1)))
            per_layer_cos.append((x * y).sum(-1) / np.sqrt((x * x).sum(-1) * (y * y).sum(-1)))
        l2.append(np.stack(per_layer_l2))
        cos.append(np.stack(per_layer_cos))
    # every token of every text counts once
    return np.concatenate(l2, axis=1).mean(1), np.concatenate(cos, axis=1).mean(1)


def test_layer_transitions_tiny_albert(albert_tokenizer):
    from transformers import AlbertModel

    torch.manual_seed(7)
    model = AlbertModel(tiny_albert_config(len(albert_tokenizer), initializer_range=0.2))
    model.eval()
    got = layer_transitions(model, albert_tokenizer, TEXTS, batch_size=4)
    assert isinstance(got, LayerTransitions) and got.l2.shape == got.cosine.shape == (4,)
    l2, cos = _one_at_a_time(model, albert_tokenizer, TEXTS)
    np.testing.assert_allclose(got.l2, l2, rtol=1e-5)
    np.testing.assert_allclose(got.cosine, cos, rtol=1e-5)
    assert got.num_examples == len(TEXTS)
    df = got.to_dataframe()
    assert list(df.columns) == ["layer", "l2", "cosine"] and len(df) == 4


def test_layer_transitions_minilm(minilm):
    model, tokenizer = minilm
    got = layer_transitions(model, tokenizer, CORPUS, batch_size=3)
    l2, cos = _one_at_a_time(model, tokenizer, CORPUS)
    np.testing.assert_allclose(got.l2, l2, rtol=1e-5)
    np.testing.assert_allclose(got.cosine, cos, rtol=1e-5)
    assert got.l2.shape == (6,) and ((got.cosine >= -1) & (got.cosine <= 1)).all()


def test_make_corpus_is_deterministic_and_varied():
    a = make_corpus(300)
    assert a == make_corpus(300) and a != make_corpus(300, seed=1)
    assert len(set(a)) == 300
    assert sum("," in s for s in a) > 50 and sum(s.endswith("?") for s in a) > 10
    lengths = [len(s.split()) for s in a]
    assert min(lengths) >= 4 and max(lengths) <= 30
    assert make_corpus(5) == a[:5]
    with pytest.raises(ValueError):
        make_corpus(0)
