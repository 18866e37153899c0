"""capture(): exact attention, restoration of the user's model, model info, pairs, truncation,
causal models and bad input. Models are built from configs (random weights) or the packaged MiniLM."""

from __future__ import annotations

import importlib
import types

import numpy as np
import pytest
import torch

from albert_widget import AttentionTooLargeError, capture

# The package's ``capture`` attribute is the function; the module is reached through importlib.
capture_module = importlib.import_module("albert_widget.capture")

from conftest import CORPUS, tiny_albert_config

TEXT = "The cat sat on the mat because it was tired."
PAIR = "A dog barked at the quick brown fox."
LONG = " ".join(CORPUS)


def assert_exact(result, reference):
    """result.attention[l, h] equals the reference's layer l, head h bit for bit."""
    assert result.attention.dtype == np.float32
    assert result.num_layers == len(reference)
    for layer, expected in enumerate(reference):
        assert result.attention.shape[1:] == expected.shape
        for head in range(expected.shape[0]):
            assert np.array_equal(result.attention[layer, head], expected[head]), (layer, head)


# -- exactness -----------------------------------------------------------------------------------


def test_tiny_albert_attention_is_exact(tiny_albert, reference_attention):
    model, tokenizer = tiny_albert
    result = capture(model, tokenizer, TEXT)
    reference, encoding = reference_attention(model, tokenizer, TEXT)
    assert_exact(result, reference)
    ids = encoding["input_ids"][0].tolist()
    assert result.tokens == tuple(tokenizer.convert_ids_to_tokens(ids))
    assert result.attention.shape == (4, 4, len(ids), len(ids))
    # ALBERT's SentencePiece pieces carry the word-start marker.
    assert result.tokens[0] == "[CLS]" and result.tokens[-1] == "[SEP]"
    assert sum(t.startswith("▁") for t in result.tokens) >= 5
    assert result.special_tokens_mask.tolist() == [True] + [False] * (len(ids) - 2) + [True]
    assert result.text == TEXT and result.text_pair is None
    assert result.sentence_b_start is None and result.num_truncated == 0
    assert not result.token_type_ids.any()
    # Softmax rows.
    np.testing.assert_allclose(result.attention.sum(-1), 1.0, atol=1e-5)


def test_albert_for_masked_lm_from_same_config_is_exact(albert_tokenizer, reference_attention):
    from transformers import AlbertForMaskedLM, AlbertModel

    config = tiny_albert_config(len(albert_tokenizer))
    torch.manual_seed(1)
    base = AlbertModel(config).eval()
    mlm = AlbertForMaskedLM(config).eval()
    assert base.config is mlm.config
    for model in (base, mlm):
        result = capture(model, albert_tokenizer, TEXT, PAIR)
        reference, _ = reference_attention(model, albert_tokenizer, TEXT, PAIR)
        assert_exact(result, reference)
        assert result.info.model_type == "albert"
    # Different random weights -> different attention: the comparison above is not vacuous.
    assert not np.array_equal(capture(base, albert_tokenizer, TEXT).attention, capture(mlm, albert_tokenizer, TEXT).attention)


def test_minilm_attention_is_exact(minilm, reference_attention):
    model, tokenizer = minilm
    assert model.config._attn_implementation == "eager"
    result = capture(model, tokenizer, TEXT, PAIR)
    reference, encoding = reference_attention(model, tokenizer, TEXT, PAIR)
    assert_exact(result, reference)
    assert result.attention.shape[:2] == (6, 12)
    assert result.tokens == tuple(tokenizer.convert_ids_to_tokens(encoding["input_ids"][0].tolist()))
    assert result.tokens[0] == "[CLS]"
    assert model.config._attn_implementation == "eager"  # nothing to switch, nothing switched
    assert result.info.attn_implementation == "eager"


# -- restoration -----------------------------------------------------------------------------------


def test_sdpa_model_switched_for_capture_and_restored(tiny_albert):
    model, tokenizer = tiny_albert
    assert model.config._attn_implementation == "sdpa"
    seen = []
    hook = model.register_forward_pre_hook(lambda module, args: seen.append(module.config._attn_implementation))
    try:
        result = capture(model, tokenizer, TEXT)
    finally:
        hook.remove()
    assert seen == ["eager"]
    assert model.config._attn_implementation == "sdpa"
    assert result.info.attn_implementation == "sdpa"
    # Really back on sdpa: a plain forward returns no attention again.
    encoding = tokenizer(TEXT, return_tensors="pt")
    with torch.no_grad():
        outputs = model(**encoding, output_attentions=True)
    assert not outputs.attentions


def test_two_models_sharing_one_config_both_restored(albert_tokenizer):
    from transformers import AlbertForMaskedLM, AlbertModel

    config = tiny_albert_config(len(albert_tokenizer))
    first, second = AlbertModel(config).eval(), AlbertForMaskedLM(config).eval()
    capture(first, albert_tokenizer, TEXT)
    assert first.config._attn_implementation == "sdpa"
    assert second.config._attn_implementation == "sdpa"
    capture(second, albert_tokenizer, TEXT)
    assert config._attn_implementation == "sdpa"
    assert first.config._attn_implementation == "sdpa"
    assert second.config._attn_implementation == "sdpa"
    attention_module = second.albert.encoder.albert_layer_groups[0].albert_layers[0].attention
    assert attention_module.config._attn_implementation == "sdpa"


def test_restored_even_when_forward_fails(tiny_albert):
    model, tokenizer = tiny_albert
    model.train()

    def boom(module, args):
        raise RuntimeError("forward failed on purpose")

    hook = model.register_forward_pre_hook(boom)
    try:
        with pytest.raises(RuntimeError, match="on purpose"):
            capture(model, tokenizer, TEXT)
    finally:
        hook.remove()
    assert model.config._attn_implementation == "sdpa"
    assert model.training


def test_training_mode_restored_and_capture_runs_in_eval(tiny_albert, reference_attention):
    model, tokenizer = tiny_albert
    assert model.config.attention_probs_dropout_prob == 0.1
    model.train()
    modes = []
    hook = model.register_forward_pre_hook(lambda module, args: modes.append(module.training))
    try:
        first = capture(model, tokenizer, TEXT)
        second = capture(model, tokenizer, TEXT)
    finally:
        hook.remove()
    assert modes == [False, False]
    assert model.training and all(m.training for m in model.modules())
    # Dropout was off: deterministic and equal to the eval-mode reference.
    assert np.array_equal(first.attention, second.attention)
    reference, _ = reference_attention(model, tokenizer, TEXT)
    assert_exact(first, reference)
    # ... whereas a training-mode forward with dropout does change the attention.
    model.set_attn_implementation("eager")
    with torch.no_grad():
        noisy = model(**tokenizer(TEXT, return_tensors="pt"), output_attentions=True).attentions
    model.set_attn_implementation("sdpa")
    assert not all(np.array_equal(noisy[i][0].numpy(), first.attention[i]) for i in range(first.num_layers))


def test_eval_model_stays_in_eval_and_mixed_modes_kept(tiny_albert):
    model, tokenizer = tiny_albert
    capture(model, tokenizer, TEXT)
    assert not any(m.training for m in model.modules())
    model.train()
    model.embeddings.eval()  # e.g. frozen embeddings
    capture(model, tokenizer, TEXT)
    assert model.training and model.encoder.training
    assert not model.embeddings.training and not model.embeddings.dropout.training


def test_gradients_and_weights_untouched(tiny_albert):
    model, tokenizer = tiny_albert
    params = list(model.parameters())
    params[0].requires_grad_(False)
    params[1].grad = torch.full_like(params[1], 0.5)
    before_state = {k: v.clone() for k, v in model.state_dict().items()}
    before = [(p.requires_grad, None if p.grad is None else p.grad.clone()) for p in params]
    assert torch.is_grad_enabled()
    capture(model, tokenizer, TEXT)
    assert torch.is_grad_enabled()
    for p, (requires_grad, grad) in zip(params, before):
        assert p.requires_grad == requires_grad
        if grad is None:
            assert p.grad is None
        else:
            assert torch.equal(p.grad, grad)
    after_state = model.state_dict()
    assert all(torch.equal(before_state[k], after_state[k]) for k in before_state)


# -- model info ------------------------------------------------------------------------------------


def test_info_of_albert(tiny_albert):
    model, tokenizer = tiny_albert
    result = capture(model, tokenizer, TEXT)
    info = result.info
    assert info.model_type == "albert"
    assert (info.num_layers, info.num_heads) == (4, 4) == (result.num_layers, result.num_heads)
    assert info.num_hidden_groups == 1 and info.inner_group_num == 1
    assert result.layer_groups == [0, 0, 0, 0]
    assert info.max_length == 64
    assert info.is_causal is False


def test_info_of_albert_with_two_groups(albert_tokenizer, reference_attention):
    from transformers import AlbertModel

    torch.manual_seed(2)
    model = AlbertModel(tiny_albert_config(len(albert_tokenizer), num_hidden_groups=2)).eval()
    result = capture(model, albert_tokenizer, TEXT)
    assert result.info.num_hidden_groups == 2
    assert result.layer_groups == [0, 0, 1, 1]
    assert_exact(result, reference_attention(model, albert_tokenizer, TEXT)[0])


def test_info_of_bert(minilm):
    model, tokenizer = minilm
    result = capture(model, tokenizer, TEXT)
    info = result.info
    assert info.model_type == "bert"
    assert info.num_hidden_groups is None and info.inner_group_num is None
    assert (info.num_layers, info.num_heads) == (6, 12)
    assert result.layer_groups == list(range(6))
    assert info.max_length == min(model.config.max_position_embeddings, tokenizer.model_max_length)
    assert info.is_causal is False


# -- sentence pairs --------------------------------------------------------------------------------


def test_albert_pair_segments(tiny_albert):
    model, tokenizer = tiny_albert
    result = capture(model, tokenizer, TEXT, PAIR)
    expected = tokenizer(TEXT, PAIR, return_token_type_ids=True)["token_type_ids"]
    assert result.token_type_ids.tolist() == expected
    start = result.sentence_b_start
    assert start == expected.index(1)
    assert result.tokens[start - 1] == "[SEP]" and result.tokens[-1] == "[SEP]"
    assert not result.token_type_ids[:start].any() and result.token_type_ids[start:].all()
    assert result.text_pair == PAIR
    a_only = capture(model, tokenizer, TEXT)
    assert result.tokens[:start] == a_only.tokens


def test_pair_with_single_token_type_bert(minilm, reference_attention):
    from transformers import BertConfig, BertModel

    _, tokenizer = minilm
    torch.manual_seed(3)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=37,
        max_position_embeddings=64,
        type_vocab_size=1,
    )
    model = BertModel(config).eval()
    result = capture(model, tokenizer, TEXT, PAIR)
    first_sep = result.tokens.index("[SEP]")
    assert result.sentence_b_start == first_sep + 1
    assert result.token_type_ids[first_sep + 1 :].all() and not result.token_type_ids[: first_sep + 1].any()
    # With token types the embedding lookup would be out of range; without them it is exact.
    assert_exact(result, reference_attention(model, tokenizer, TEXT, PAIR, token_types=False)[0])


def test_pair_and_length_limit_with_roberta_positions(minilm, reference_attention):
    """RoBERTa numbers positions from padding_idx + 1: 64 position embeddings hold 62 tokens."""
    from transformers import RobertaConfig, RobertaModel

    _, tokenizer = minilm
    torch.manual_seed(4)
    config = RobertaConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=37,
        max_position_embeddings=64,
        type_vocab_size=1,
        pad_token_id=0,
    )
    model = RobertaModel(config).eval()
    result = capture(model, tokenizer, TEXT, PAIR)
    assert result.sentence_b_start == result.tokens.index("[SEP]") + 1
    assert_exact(result, reference_attention(model, tokenizer, TEXT, PAIR, token_types=False)[0])
    long = capture(model, tokenizer, LONG)
    full = len(tokenizer(LONG)["input_ids"])
    assert long.num_tokens == 63
    assert long.num_truncated == full - 63
    assert long.info.max_length == 63


# -- truncation ------------------------------------------------------------------------------------


def test_truncation_to_model_maximum(tiny_albert, reference_attention):
    model, tokenizer = tiny_albert
    full = len(tokenizer(LONG)["input_ids"])
    assert full > 64
    result = capture(model, tokenizer, LONG)
    assert result.num_tokens == 64
    assert result.attention.shape == (4, 4, 64, 64)
    assert result.num_truncated == full - 64
    assert result.tokens[-1] == "[SEP]"
    expected, _ = reference_attention(model, tokenizer, LONG, truncation=True, max_length=64)
    assert_exact(result, expected)


def test_truncation_to_explicit_max_length(tiny_albert):
    model, tokenizer = tiny_albert
    full = len(tokenizer(TEXT)["input_ids"])
    result = capture(model, tokenizer, TEXT, max_length=8)
    assert result.num_tokens == 8 and result.num_truncated == full - 8
    assert result.info.max_length == 8
    # A max_length above the model's limit is capped by it.
    long = capture(model, tokenizer, LONG, max_length=1000)
    assert long.num_tokens == 64
    # Short inputs are not touched.
    assert capture(model, tokenizer, "The cat.", max_length=50).num_truncated == 0


def test_truncation_of_pairs(tiny_albert):
    model, tokenizer = tiny_albert
    full = len(tokenizer(LONG, LONG)["input_ids"])
    result = capture(model, tokenizer, LONG, LONG)
    assert result.num_tokens == 64 and result.num_truncated == full - 64
    start = result.sentence_b_start
    assert 1 < start < 63
    assert result.tokens[start - 1] == "[SEP]" and result.tokens[-1] == "[SEP]"
    assert result.token_type_ids[start:].all() and not result.token_type_ids[:start].any()
    short = capture(model, tokenizer, LONG, "A dog.", max_length=12)
    assert short.num_tokens == 12
    start = short.sentence_b_start
    a_kept, b_kept = short.tokens[1 : start - 1], short.tokens[start:-1]
    assert short.tokens[0] == "[CLS]" and short.tokens[start - 1] == short.tokens[-1] == "[SEP]"
    # longest_first: both sides keep their beginnings.
    assert len(a_kept) > 0 and len(b_kept) > 0
    assert a_kept == tuple(tokenizer.tokenize(LONG)[: len(a_kept)])
    assert b_kept == tuple(tokenizer.tokenize("A dog.")[: len(b_kept)])
    assert short.num_truncated == len(tokenizer(LONG, "A dog.")["input_ids"]) - 12


@pytest.mark.parametrize("max_length", [0, 1, -5, 2.5, "10", True])
def test_bad_max_length(tiny_albert, max_length):
    model, tokenizer = tiny_albert
    with pytest.raises(ValueError, match="max_length"):
        capture(model, tokenizer, TEXT, max_length=max_length)


def test_max_length_too_short_for_pair_special_tokens(tiny_albert):
    model, tokenizer = tiny_albert
    with pytest.raises(ValueError, match="max_length=2"):
        capture(model, tokenizer, LONG, "A dog.", max_length=2)


# -- causal models ---------------------------------------------------------------------------------


def test_gpt2_causal_capture(tiny_gpt2, reference_attention):
    model, tokenizer = tiny_gpt2
    assert model.config._attn_implementation == "sdpa"
    result = capture(model, tokenizer, TEXT)
    assert model.config._attn_implementation == "sdpa"
    assert result.info.is_causal is True
    assert result.info.model_type == "gpt2"
    assert (result.num_layers, result.num_heads) == (2, 4)
    assert any(t.startswith("Ġ") for t in result.tokens)
    assert result.tokens == tuple(tokenizer.convert_ids_to_tokens(tokenizer(TEXT)["input_ids"]))
    assert not np.triu(result.attention, 1).any()
    visible = np.tril(np.ones((result.num_tokens,) * 2, dtype=bool))
    assert (result.attention[..., visible] > 0).all()  # every visible position gets some weight
    np.testing.assert_allclose(result.attention.sum(-1), 1.0, atol=1e-5)
    assert result.attention[0, 0, 0, 0] == 1.0
    # GPT-2 has no token types (its tokenizer does not return them; the model would add them as
    # token embeddings): the reference forward is the plain one.
    assert_exact(result, reference_attention(model, tokenizer, TEXT, token_types=False)[0])


def test_gpt2_base_model_detected_causal_and_truncated(bpe_tokenizer):
    from transformers import GPT2Config, GPT2Model

    torch.manual_seed(5)
    model = GPT2Model(GPT2Config(vocab_size=len(bpe_tokenizer), n_positions=32, n_embd=32, n_layer=2, n_head=4)).eval()
    result = capture(model, bpe_tokenizer, LONG)
    assert result.info.is_causal is True
    assert result.num_tokens == 32 and result.info.max_length == 32
    assert result.num_truncated == len(bpe_tokenizer(LONG)["input_ids"]) - 32
    pair = capture(model, bpe_tokenizer, "Hello there.", "A second one.")
    assert pair.sentence_b_start == len(bpe_tokenizer("Hello there.")["input_ids"])
    assert pair.token_type_ids[pair.sentence_b_start :].all()


# -- bad input -------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "   ", "\n\t "])
def test_empty_text_rejected(tiny_albert, text):
    model, tokenizer = tiny_albert
    with pytest.raises(ValueError, match="text is empty"):
        capture(model, tokenizer, text)


@pytest.mark.parametrize("text", [None, 42, b"bytes", ["a", "list"]])
def test_non_string_text_rejected(tiny_albert, text):
    model, tokenizer = tiny_albert
    with pytest.raises(TypeError, match="text must be a string, got"):
        capture(model, tokenizer, text)


def test_bad_text_pair_rejected(tiny_albert):
    model, tokenizer = tiny_albert
    with pytest.raises(ValueError, match="text_pair is empty"):
        capture(model, tokenizer, TEXT, "")
    with pytest.raises(ValueError, match="text_pair is empty"):
        capture(model, tokenizer, TEXT, "  ")
    with pytest.raises(TypeError, match="text_pair must be a string, got int"):
        capture(model, tokenizer, TEXT, 3)


def test_not_a_model(albert_tokenizer):
    with pytest.raises(TypeError, match="model and its tokenizer"):
        capture(object(), albert_tokenizer, TEXT)


class _NoAttention(torch.nn.Module):
    """A model whose output has an empty ``attentions`` (what sdpa gives in transformers 5)."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(2, 2)

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, output_attentions=False, return_dict=True):
        return types.SimpleNamespace(attentions=(), last_hidden_state=None)


class _NoAttentionArgument(torch.nn.Module):
    def forward(self, input_ids, attention_mask=None):
        return types.SimpleNamespace(attentions=None)


def test_model_without_attention(albert_tokenizer):
    model = _NoAttention()
    model.train()
    with pytest.raises(ValueError, match="no attention"):
        capture(model, albert_tokenizer, TEXT)
    assert model.training
    with pytest.raises(ValueError, match="cannot return attention"):
        capture(_NoAttentionArgument(), albert_tokenizer, TEXT)


def test_attention_too_large_guard(tiny_albert, monkeypatch):
    model, tokenizer = tiny_albert
    n = len(tokenizer(TEXT)["input_ids"])
    needed = 4 * 4 * n * n * 4
    monkeypatch.setattr(capture_module, "MAX_ATTENTION_BYTES", needed - 1)
    calls = []
    hook = model.register_forward_pre_hook(lambda module, args: calls.append(1))
    try:
        with pytest.raises(AttentionTooLargeError) as info:
            capture(model, tokenizer, TEXT)
    finally:
        hook.remove()
    message = str(info.value)
    assert f"{needed:,} bytes" in message
    assert f"{n}x{n}" in message and "4 layers x 4 heads" in message
    assert "max_length" in message
    assert isinstance(info.value, ValueError)
    assert calls == []  # refused before the forward pass
    assert model.config._attn_implementation == "sdpa"
    # Exactly at the limit it runs.
    monkeypatch.setattr(capture_module, "MAX_ATTENTION_BYTES", needed)
    assert capture(model, tokenizer, TEXT).num_tokens == n


def test_encoder_decoder_goes_to_capture_seq2seq(albert_tokenizer):
    # Encoder-decoder models are captured by capture_seq2seq (tests/test_seq2seq.py has the details).
    from transformers import T5Config, T5Model

    model = T5Model(T5Config(vocab_size=len(albert_tokenizer), d_model=16, d_kv=4, d_ff=32, num_layers=1, num_heads=2))
    result = capture(model, albert_tokenizer, TEXT)
    assert result.kinds == ("encoder", "decoder", "cross")
    assert result.info.is_encoder_decoder
