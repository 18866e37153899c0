"""AttentionResult: immutability, from_attention's accepted inputs and clear errors, npz files."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from albert_widget import AttentionResult, ModelInfo, capture

TOKENS = ["[CLS]", "▁the", "▁cat", "▁sat", "[SEP]"]


def softmax_attention(layers=3, heads=2, n=5, seed=0):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(layers, heads, n, n)) * 3
    e = np.exp(logits - logits.max(-1, keepdims=True))
    return (e / e.sum(-1, keepdims=True)).astype(np.float32)


# -- immutability ----------------------------------------------------------------------------------


def test_frozen_and_read_only():
    result = AttentionResult.from_attention(softmax_attention(), TOKENS, sentence_b_start=2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.tokens = ("a",)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.attention = np.zeros((1, 1, 5, 5), np.float32)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.info.num_layers = 99
    for array in (result.attention, result.token_type_ids, result.special_tokens_mask):
        assert not array.flags.writeable
        with pytest.raises(ValueError, match="read-only"):
            array[0] = 1
    with pytest.raises(ValueError, match="read-only"):
        result.attention[0, 0, 0, 0] = 0.5
    assert isinstance(result.tokens, tuple)


def test_result_does_not_alias_the_callers_data():
    array = softmax_attention()
    expected = array.copy()
    result = AttentionResult.from_attention(array, TOKENS)
    assert array.flags.writeable  # the caller's array is left as it was
    array[:] = 0.0
    assert np.array_equal(result.attention, expected)

    tensor = torch.from_numpy(softmax_attention(seed=1))
    expected = tensor.numpy().copy()
    result = AttentionResult.from_attention(tensor, TOKENS)
    tensor.zero_()
    assert np.array_equal(result.attention, expected)

    layers = [torch.from_numpy(a[None].copy()) for a in softmax_attention(seed=2)]
    expected = np.stack([t[0].numpy() for t in layers])
    result = AttentionResult.from_attention(tuple(layers), TOKENS)
    for t in layers:
        t.zero_()
    assert np.array_equal(result.attention, expected)


def test_constructor_checks_lengths():
    attention = softmax_attention()
    with pytest.raises(ValueError, match="must all match the attention's 5 tokens"):
        AttentionResult(
            tokens=tuple(TOKENS[:4]),
            attention=attention,
            token_type_ids=np.zeros(5, np.int64),
            special_tokens_mask=np.zeros(5, bool),
        )
    with pytest.raises(ValueError, match="must all match"):
        AttentionResult(
            tokens=tuple(TOKENS),
            attention=attention,
            token_type_ids=np.zeros(4, np.int64),
            special_tokens_mask=np.zeros(5, bool),
        )


# -- from_attention: accepted inputs ---------------------------------------------------------------


def test_from_tuple_of_batched_torch_tensors():
    expected = softmax_attention()
    layers = tuple(torch.tensor(a[None], requires_grad=True) for a in expected)
    result = AttentionResult.from_attention(layers, TOKENS)
    assert result.attention.dtype == np.float32
    assert result.attention.shape == (3, 2, 5, 5)
    assert np.array_equal(result.attention, expected)
    assert result.attention.flags.c_contiguous
    assert (result.num_layers, result.num_heads, result.num_tokens) == (3, 2, 5)
    assert result.tokens == tuple(TOKENS)


def test_from_tuple_of_numpy_head_arrays():
    expected = softmax_attention().astype(np.float64)
    result = AttentionResult.from_attention(tuple(expected), TOKENS)
    assert result.attention.dtype == np.float32
    assert np.array_equal(result.attention, expected.astype(np.float32))
    assert np.array_equal(AttentionResult.from_attention(list(expected), TOKENS).attention, result.attention)


def test_from_one_array():
    expected = softmax_attention()
    assert np.array_equal(AttentionResult.from_attention(expected, TOKENS).attention, expected)
    assert np.array_equal(AttentionResult.from_attention(torch.from_numpy(expected), TOKENS).attention, expected)
    half = torch.from_numpy(expected).to(torch.bfloat16)
    assert np.array_equal(AttentionResult.from_attention(half, TOKENS).attention, half.float().numpy())
    # [L, 1, H, N, N]: a stacked tuple of batch-1 layers.
    assert np.array_equal(AttentionResult.from_attention(expected[:, None], TOKENS).attention, expected)


def test_from_attention_segments_specials_and_info():
    result = AttentionResult.from_attention(softmax_attention(), TOKENS, sentence_b_start=3)
    assert result.sentence_b_start == 3
    assert result.token_type_ids.tolist() == [0, 0, 0, 1, 1]
    assert result.special_tokens_mask.tolist() == [True, False, False, False, True]
    assert result.info.num_layers == 3 and result.info.num_heads == 2
    assert result.layer_groups == [0, 1, 2]
    assert result.num_truncated == 0 and result.text is None
    explicit = AttentionResult.from_attention(
        softmax_attention(),
        TOKENS,
        special_tokens_mask=[False, True, False, False, False],
        info=ModelInfo(model_type="albert", num_layers=3, num_heads=2, num_hidden_groups=1, inner_group_num=1),
    )
    assert explicit.special_tokens_mask.tolist() == [False, True, False, False, False]
    assert explicit.layer_groups == [0, 0, 0]
    start = AttentionResult.from_attention(softmax_attention(), TOKENS, np.int64(2)).sentence_b_start
    assert start == 2 and type(start) is int


def test_layer_groups_follow_albert_grouping():
    info = ModelInfo(model_type="albert", num_layers=4, num_heads=2, num_hidden_groups=2, inner_group_num=1)
    result = AttentionResult.from_attention(softmax_attention(layers=4), TOKENS, info=info)
    assert result.layer_groups == [0, 0, 1, 1]
    info12 = ModelInfo(model_type="albert", num_layers=12, num_heads=2, num_hidden_groups=3)
    result12 = AttentionResult.from_attention(softmax_attention(layers=12), TOKENS, info=info12)
    assert result12.layer_groups == [0] * 4 + [1] * 4 + [2] * 4


# -- from_attention: errors ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "attention, error, match",
    [
        (softmax_attention()[0], ValueError, "attention has shape \\(2, 5, 5\\)"),  # one [H, N, N]: rank 3
        (np.zeros((5, 5), np.float32), ValueError, "attention has shape"),
        (np.zeros((2, 2, 2, 3, 5, 5), np.float32), ValueError, "attention has shape"),
        ((np.zeros((5, 5), np.float32),), ValueError, "layer 0 has shape \\(5, 5\\)"),
        (softmax_attention()[:, :, :, :4], ValueError, "must be square"),
        (tuple(softmax_attention()[:, :, :4, :]), ValueError, "must be square"),
        ((), ValueError, "attention is empty"),
        ([], ValueError, "attention is empty"),
        (None, ValueError, "no attention was given"),
        ("attention", TypeError, "attention is a str"),
        (b"bytes", TypeError, "attention is a bytes"),
        ({"layer": 1}, TypeError, "attention is a dict"),
        (["a", "b"], TypeError, "layer 0 of the attention has dtype <U1"),
        (np.array([[[["a"]]]]), TypeError, "attention has dtype <U1"),
        (np.ones((1, 1, 5, 5), bool), TypeError, "attention has dtype bool"),
        ((torch.zeros(2, 2, 5, 5),), ValueError, "batch size 2; pass one example"),
        ((torch.zeros(1, 2, 5, 5), None), ValueError, "layer 1 of the attention is None"),
        ((np.zeros((2, 5, 5)), np.zeros((3, 5, 5))), ValueError, "layers have different shapes"),
    ],
)
def test_bad_attention(attention, error, match):
    with pytest.raises(error, match=match) as info:
        AttentionResult.from_attention(attention, TOKENS)
    if "dtype" in match or "shape" in match or "square" in match:
        assert "[layers, heads, N, N]" in str(info.value)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_attention(bad):
    attention = softmax_attention()
    attention[1, 0, 2, 3] = bad
    with pytest.raises(ValueError, match=r"1 NaN/inf values \(first at layer 1, head 0, row 2, column 3\)"):
        AttentionResult.from_attention(attention, TOKENS)
    with pytest.raises(ValueError, match="NaN/inf"):
        AttentionResult.from_attention(tuple(torch.from_numpy(attention)), TOKENS)


def test_token_errors():
    attention = softmax_attention()
    with pytest.raises(ValueError, match="got 4 tokens but the attention is over 5 tokens"):
        AttentionResult.from_attention(attention, TOKENS[:4])
    with pytest.raises(ValueError, match="got 6 tokens"):
        AttentionResult.from_attention(attention, TOKENS + ["x"])
    with pytest.raises(TypeError, match="tokens must be a list of strings, got str"):
        AttentionResult.from_attention(attention, "abcde")
    with pytest.raises(TypeError, match="token 2 is a int"):
        AttentionResult.from_attention(attention, ["a", "b", 3, "d", "e"])
    with pytest.raises(TypeError, match="tokens must be a list of strings, got int"):
        AttentionResult.from_attention(attention, 5)


@pytest.mark.parametrize(
    "start, error", [(0, ValueError), (5, ValueError), (-1, ValueError), (True, TypeError), ("2", TypeError), (2.0, TypeError)]
)
def test_bad_sentence_b_start(start, error):
    with pytest.raises(error, match="sentence_b_start"):
        AttentionResult.from_attention(softmax_attention(), TOKENS, start)


# -- npz -------------------------------------------------------------------------------------------


def _assert_same(a: AttentionResult, b: AttentionResult):
    assert b.tokens == a.tokens
    assert b.attention.dtype == np.float32 and np.array_equal(b.attention, a.attention)
    assert np.array_equal(b.token_type_ids, a.token_type_ids)
    assert np.array_equal(b.special_tokens_mask, a.special_tokens_mask)
    assert b.special_tokens_mask.dtype == bool
    assert b.sentence_b_start == a.sentence_b_start
    assert b.num_truncated == a.num_truncated
    assert b.info == a.info
    assert (b.text, b.text_pair) == (a.text, a.text_pair)
    assert b.layer_groups == a.layer_groups
    assert not b.attention.flags.writeable


def test_npz_round_trip_of_a_capture(tiny_albert, tmp_path):
    model, tokenizer = tiny_albert
    long = "The quick brown fox jumps over the lazy dog. " * 8
    result = capture(model, tokenizer, long, "A sentence pair has two segments.")
    assert result.num_truncated > 0 and result.sentence_b_start is not None
    path = tmp_path / "capture.npz"
    result.to_npz(path)
    loaded = AttentionResult.from_npz(path)
    _assert_same(result, loaded)
    assert loaded.info.model_type == "albert" and loaded.info.num_hidden_groups == 1


def test_npz_round_trip_of_from_attention(tmp_path):
    result = AttentionResult.from_attention(softmax_attention(seed=7), ["<s>", "Ġa", "</s>", "Ġ<b>", "é"])
    path = str(tmp_path / "plain.npz")
    result.to_npz(path)
    _assert_same(result, AttentionResult.from_npz(path))


def test_repr():
    assert repr(AttentionResult.from_attention(softmax_attention(), TOKENS)) == (
        "AttentionResult(model='', layers=3, heads=2, tokens=5, truncated=0)"
    )


@pytest.mark.parametrize(
    "attention",
    [
        np.full((1, 1, 2, 2), 0.5 + 0.1j),
        (np.full((1, 1, 2, 2), 0.5 + 0j, dtype=np.complex64),),
        torch.full((1, 1, 2, 2), 0.5 + 0.1j),
    ],
)
def test_complex_attention_is_refused_with_a_clear_message(attention):
    from albert_widget import AttentionWidget

    with pytest.raises(TypeError, match="complex dtype .*attention weights must be real numbers"):
        AttentionResult.from_attention(attention, ["a", "b"])
    with pytest.raises(TypeError, match="complex dtype"):
        AttentionWidget.from_attention(attention, ["a", "b"])


@pytest.mark.parametrize("text", ["\u200b", "\u200b \u200d\u2060", "\x00\x01\n", "\ufeff\u202e", "\t \u00a0"])
def test_validate_text_refuses_invisible_text(text):
    from albert_widget.forward import validate_text

    with pytest.raises(ValueError, match="text (is empty|has no visible characters)"):
        validate_text(text)


@pytest.mark.parametrize("text", ["a", "\u200bcat\u200b", "猫", "\U0001f431", "?"])
def test_validate_text_keeps_text_with_a_visible_character(text):
    from albert_widget.forward import validate_text

    assert validate_text(text) == text
