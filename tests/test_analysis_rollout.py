"""Attention rollout and attention flow (Abnar & Zuidema 2020) against hand-computed matrices."""

from __future__ import annotations

import numpy as np
import pytest

from albert_widget import AttentionResult, capture
from albert_widget.analysis import FLOW_MAX_TOKENS, attention_flow, residual_attention, rollout

# Two layers, two heads, two tokens. Mean over heads:
#   layer 1: [[0.75, 0.25], [0.25, 0.75]] -> Ã1 = 0.5·Ā + 0.5·I = [[0.875, 0.125], [0.125, 0.875]]
#   layer 2: [[0, 1], [0.5, 0.5]]         -> Ã2 = [[0.5, 0.5], [0.25, 0.75]]
# Rollout Ã2·Ã1 = [[0.5, 0.5], [0.25·0.875 + 0.75·0.125, 0.25·0.125 + 0.75·0.875]] = [[0.5, 0.5], [0.3125, 0.6875]]
HAND = np.zeros((2, 2, 2, 2))
HAND[0, 0] = [[1.0, 0.0], [0.5, 0.5]]
HAND[0, 1] = [[0.5, 0.5], [0.0, 1.0]]
HAND[1, 0] = [[0.0, 1.0], [0.0, 1.0]]
HAND[1, 1] = [[0.0, 1.0], [1.0, 0.0]]


def test_residual_matrices_by_hand():
    mats = residual_attention(HAND)
    np.testing.assert_allclose(mats[0], [[0.875, 0.125], [0.125, 0.875]])
    np.testing.assert_allclose(mats[1], [[0.5, 0.5], [0.25, 0.75]])


def test_rollout_mean_by_hand():
    np.testing.assert_allclose(rollout(HAND), [[0.5, 0.5], [0.3125, 0.6875]], atol=1e-12)


def test_rollout_max_and_min_by_hand():
    # max: layer 1 [[1, .5], [.5, 1]] -> 0.5·max + 0.5·I = [[1, .25], [.25, 1]] -> rows /1.25 = [[.8, .2], [.2, .8]]
    #      layer 2 [[0, 1], [1, 1]]   -> [[.5, .5], [.5, 1]] -> [[.5, .5], [1/3, 2/3]]
    #      R = [[.5, .5], [1/3·.8 + 2/3·.2, 1/3·.2 + 2/3·.8]] = [[.5, .5], [.4, .6]]
    np.testing.assert_allclose(rollout(HAND, head_reduce="max"), [[0.5, 0.5], [0.4, 0.6]], atol=1e-12)
    # min: layer 1 [[.5, 0], [0, .5]] -> [[.75, 0], [0, .75]] -> I;  layer 2 [[0, 1], [0, 0]] -> [[.5, .5], [0, .5]] -> [[.5, .5], [0, 1]]
    np.testing.assert_allclose(rollout(HAND, head_reduce="min"), [[0.5, 0.5], [0.0, 1.0]], atol=1e-12)


def test_rollout_without_residual_is_the_plain_product():
    # [[0, 1], [.5, .5]] · [[.75, .25], [.25, .75]] = [[.25, .75], [.5, .5]]
    np.testing.assert_allclose(rollout(HAND, residual=False), [[0.25, 0.75], [0.5, 0.5]], atol=1e-12)


def test_rollout_accepts_torch_tuples_and_results():
    import torch

    expected = rollout(HAND)
    layers = tuple(torch.tensor(HAND[l][None], dtype=torch.float32) for l in range(2))
    np.testing.assert_allclose(rollout(layers), expected, atol=1e-6)
    np.testing.assert_allclose(rollout(torch.tensor(HAND)), expected, atol=1e-6)
    result = AttentionResult.from_attention(HAND.astype(np.float32), ["[CLS]", "[SEP]"])
    np.testing.assert_allclose(rollout(result), expected, atol=1e-6)


def test_rollout_rejects_bad_arguments():
    with pytest.raises(ValueError, match="head_reduce"):
        rollout(HAND, head_reduce="median")
    with pytest.raises(ValueError):
        rollout(np.zeros((2, 2, 2, 3)))


def test_flow_two_layers_by_hand():
    # Paths (2,i) -> (1,k) -> (0,j) share no edge, so the flow is Σ_k min(Ã2[i,k], Ã1[k,j]):
    #   F[0,0] = min(.5,.875) + min(.5,.125) = .625     F[0,1] = min(.5,.125) + min(.5,.875) = .625
    #   F[1,0] = min(.25,.875) + min(.75,.125) = .375   F[1,1] = min(.25,.125) + min(.75,.875) = .875
    raw = attention_flow(HAND, normalize=False)
    np.testing.assert_allclose(raw, [[0.625, 0.625], [0.375, 0.875]], atol=1e-9)
    np.testing.assert_allclose(attention_flow(HAND), [[0.5, 0.5], [0.3, 0.7]], atol=1e-9)


def test_flow_three_layers_with_a_bottleneck_by_hand():
    # One head, no residual. Bottom layer sends 0.3 of every token to token 0, 0.7 to token 1.
    a = np.zeros((3, 1, 2, 2))
    a[0, 0] = [[0.3, 0.7], [0.3, 0.7]]
    a[1, 0] = [[0.5, 0.5], [0.5, 0.5]]
    a[2, 0] = [[0.2, 0.8], [1.0, 0.0]]
    # Min cuts: to (0,0) the cheapest cut is the two bottom edges into it, 0.3 + 0.3 = 0.6; to (0,1) the
    # source's own edges, 0.2 + 0.8 = 1.0 (the bottom edges into it carry 1.4, the middle ones 2.0).
    raw = attention_flow(a, residual=False, normalize=False)
    np.testing.assert_allclose(raw, [[0.6, 1.0], [0.6, 1.0]], atol=1e-9)
    np.testing.assert_allclose(attention_flow(a, residual=False), [[0.375, 0.625], [0.375, 0.625]], atol=1e-9)
    # Rollout is the product, 0.3 / 0.7 for both rows: flow differs, and is never below it.
    np.testing.assert_allclose(rollout(a, residual=False), [[0.3, 0.7], [0.3, 0.7]], atol=1e-12)


def test_flow_refuses_long_inputs_with_the_limit_in_the_message():
    n = FLOW_MAX_TOKENS + 1
    big = np.full((2, 1, n, n), 1.0 / n)
    with pytest.raises(ValueError, match=rf"max_tokens={FLOW_MAX_TOKENS}.*{n}.*about 25 s"):
        attention_flow(big)
    small = np.full((1, 1, 4, 4), 0.25)
    with pytest.raises(ValueError, match="max_tokens=3"):
        attention_flow(small, max_tokens=3)
    # One layer: the flow from (1, i) to (0, j) is the single edge's capacity.
    np.testing.assert_allclose(attention_flow(small, max_tokens=4, residual=False, normalize=False), small[0, 0], atol=1e-12)


@pytest.fixture(scope="module")
def minilm_attention(minilm):
    model, tokenizer = minilm
    return capture(model, tokenizer, "The cat sat on the mat, and it purred.")


def test_flow_is_nonnegative_above_rollout_and_comparable(minilm_attention):
    att = minilm_attention.attention
    raw = attention_flow(att, normalize=False)
    roll = rollout(att)
    assert raw.shape == roll.shape == (minilm_attention.num_tokens,) * 2
    assert (raw >= 0).all() and (raw <= 1 + 1e-9).all()
    # The rollout's path products form a feasible flow from (L, i) to (0, j): max-flow can only be larger.
    assert (raw >= roll - 1e-9).all()
    flow = attention_flow(att)
    np.testing.assert_allclose(flow.sum(1), 1.0, atol=1e-9)
    # Comparable: the two methods rank the input tokens alike (Abnar & Zuidema report high correlation).
    r = np.corrcoef(flow.ravel(), roll.ravel())[0, 1]
    print("flow/rollout correlation", r)
    assert r > 0.5, r
