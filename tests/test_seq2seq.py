"""Encoder-decoder models (BART, T5 built from configs, with the byte-level BPE tokenizer the tests
train): capture_seq2seq against an independent eager forward pass, the decoder/cross fields of
AttentionResult, and the widget's attention kinds (encoder / decoder / cross) down to the bytes the
page receives."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from page_messages import page_message

from albert_widget import AttentionResult, AttentionWidget, capture, capture_seq2seq
from albert_widget.seq2seq import shift_right
from albert_widget.transport import decode_array, reply_to_request

TEXT = "The cat sat on the mat."
TARGET = "She sees the small elephant."


@pytest.fixture
def tiny_t5(bpe_tokenizer):
    """T5Model from a config: 2 encoder and 3 decoder layers, 4 heads."""
    from transformers import T5Config, T5Model

    torch.manual_seed(0)
    config = T5Config(
        vocab_size=len(bpe_tokenizer),
        d_model=32,
        d_kv=8,
        d_ff=37,
        num_layers=2,
        num_decoder_layers=3,
        num_heads=4,
        decoder_start_token_id=0,
        pad_token_id=0,
        eos_token_id=0,
    )
    return T5Model(config).eval(), bpe_tokenizer


def reference(model, tokenizer, text, target):
    """Encoder/decoder/cross attention of a plain eager forward pass, written without albert_widget."""
    enc = tokenizer(text, return_tensors="pt")
    labels = tokenizer(text_target=target)["input_ids"]
    decoder_ids = torch.tensor([[model.config.decoder_start_token_id] + labels[:-1]])
    previous, training = model.config._attn_implementation, model.training
    model.set_attn_implementation("eager")
    model.eval()
    try:
        with torch.no_grad():
            out = model(**enc, decoder_input_ids=decoder_ids, output_attentions=True, use_cache=False)
    finally:
        model.set_attn_implementation(previous)
        model.train(training)
    stack = lambda xs: np.stack([x[0].numpy() for x in xs])  # noqa: E731
    return stack(out.encoder_attentions), stack(out.decoder_attentions), stack(out.cross_attentions), decoder_ids[0].tolist()


@pytest.mark.parametrize("fixture", ["tiny_bart", "tiny_t5"])
def test_capture_equals_an_eager_forward(fixture, request):
    model, tokenizer = request.getfixturevalue(fixture)
    model.train()  # the capture runs in eval mode and puts the flag back
    enc, dec, cross, decoder_ids = reference(model, tokenizer, TEXT, TARGET)
    result = capture_seq2seq(model, tokenizer, TEXT, TARGET)
    assert model.training and model.config._attn_implementation == "sdpa"
    np.testing.assert_array_equal(result.attention, enc)
    np.testing.assert_array_equal(result.decoder_attention, dec)
    np.testing.assert_array_equal(result.cross_attention, cross)
    n, m = len(result.tokens), len(result.decoder_tokens)
    assert result.cross_attention.shape[-2:] == (m, n)  # decoder queries x encoder keys
    assert list(result.decoder_tokens) == tokenizer.convert_ids_to_tokens(decoder_ids)
    assert result.kinds == ("encoder", "decoder", "cross")
    assert result.info.is_encoder_decoder and not result.info.is_causal
    assert result.text == TEXT and result.text_pair == TARGET
    # The decoder is causal; every attention row sums to 1.
    assert not np.triu(result.decoder_attention, 1).any()
    for a in (result.attention, result.decoder_attention, result.cross_attention):
        np.testing.assert_allclose(a.sum(-1), 1.0, atol=1e-5)
        assert not a.flags.writeable


def test_capture_sends_encoder_decoder_models_to_capture_seq2seq(tiny_t5):
    model, tokenizer = tiny_t5
    direct = capture_seq2seq(model, tokenizer, TEXT, TARGET)
    via = capture(model, tokenizer, TEXT, TARGET)  # the pair is the target
    np.testing.assert_array_equal(direct.cross_attention, via.cross_attention)
    assert (via.decoder_attention.shape[0], via.attention.shape[0]) == (3, 2)


def test_without_target_the_decoder_reads_the_input_shifted(tiny_bart):
    model, tokenizer = tiny_bart
    result = capture_seq2seq(model, tokenizer, TEXT)
    assert list(result.decoder_tokens) == ["<|endoftext|>"] + list(result.tokens[:-1])
    assert result.decoder_special_tokens_mask.tolist() == [True] + [False] * (len(result.tokens) - 1)
    assert shift_right([5, 6, 7], 1) == [1, 5, 6] and shift_right([], 1) == [1]


def test_lm_head_model_and_truncation(bpe_tokenizer):
    from transformers import BartConfig, BartForConditionalGeneration

    torch.manual_seed(0)
    config = BartConfig(
        vocab_size=len(bpe_tokenizer),
        d_model=16,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=16,
        decoder_ffn_dim=16,
        max_position_embeddings=64,
        pad_token_id=0,
        bos_token_id=0,
        eos_token_id=0,
        decoder_start_token_id=0,
    )
    model = BartForConditionalGeneration(config).eval()
    result = capture_seq2seq(model, bpe_tokenizer, TEXT * 3, TARGET, max_length=10)
    assert result.num_tokens == 10 and result.num_truncated > 0
    assert len(result.decoder_tokens) <= 10


def test_bad_input(tiny_bart, tiny_gpt2):
    model, tokenizer = tiny_bart
    with pytest.raises(ValueError, match="empty"):
        capture_seq2seq(model, tokenizer, "  ")
    with pytest.raises(TypeError, match="target_text"):
        capture_seq2seq(model, tokenizer, TEXT, 3)
    gpt2, bpe = tiny_gpt2
    with pytest.raises(ValueError, match="encoder-decoder"):
        capture_seq2seq(gpt2, bpe, TEXT)


def test_result_checks_and_npz(tiny_bart, tmp_path):
    model, tokenizer = tiny_bart
    result = capture_seq2seq(model, tokenizer, TEXT, TARGET)
    path = tmp_path / "r.npz"
    result.to_npz(path)
    back = AttentionResult.from_npz(path)
    assert back.decoder_tokens == result.decoder_tokens and back.kinds == result.kinds
    np.testing.assert_array_equal(back.cross_attention, result.cross_attention)
    np.testing.assert_array_equal(back.decoder_special_tokens_mask, result.decoder_special_tokens_mask)
    assert back.info == result.info
    with pytest.raises(ValueError, match="cross_attention must be"):
        AttentionResult(
            tokens=result.tokens,
            attention=result.attention,
            token_type_ids=result.token_type_ids,
            special_tokens_mask=result.special_tokens_mask,
            decoder_tokens=result.decoder_tokens,
            cross_attention=np.zeros((1, 1, 3, 3), dtype=np.float32),
        )
    with pytest.raises(ValueError, match="need decoder_tokens"):
        AttentionResult(
            tokens=result.tokens,
            attention=result.attention,
            token_type_ids=result.token_type_ids,
            special_tokens_mask=result.special_tokens_mask,
            decoder_attention=result.decoder_attention,
        )
    with pytest.raises(ValueError, match="no 'cross' attention"):
        AttentionResult.from_attention(np.full((1, 1, 2, 2), 0.5), ["a", "b"]).attention_of("cross")


# --------------------------------------------------------------------------------------------
# widget: attention kinds down to the bytes the page receives
# --------------------------------------------------------------------------------------------
def answers(widget, **content):
    sent = []
    widget.send = lambda c, buffers=None: sent.append((c, buffers))
    page_message(widget, {"type": "layers", "revision": widget.revision, **content})
    return sent


def test_widget_kinds(tiny_bart):
    model, tokenizer = tiny_bart
    w = AttentionWidget(model, tokenizer, TEXT, TARGET)
    r = w.result
    assert w.kinds == ["encoder", "decoder", "cross"] and w.attention_kind == "encoder"
    assert w.decoder_tokens == list(r.decoder_tokens) and w.decoder_special[0] is True
    assert w.info["kind_shapes"] == {"encoder": [2, 4], "decoder": [3, 2], "cross": [3, 2]}
    assert (w.num_layers, w.num_heads) == (2, 4)

    for kind, array in (("encoder", r.attention), ("decoder", r.decoder_attention), ("cross", r.cross_attention)):
        [(reply, buffers)] = answers(w, layers=[1], kind=kind)
        assert reply["kind"] == kind and reply["shape"] == list(array.shape[1:])
        np.testing.assert_array_equal(decode_array(reply, buffers[0]), array[1])
    # No kind: the encoder, as before (and no kind in the reply).
    [(reply, _)] = answers(w, layers=[0])
    assert "kind" not in reply and reply["shape"] == list(r.attention.shape[1:])

    # Switching the kind sets the shape the page and the sliders use; layer/head are kept in range.
    w.attention_kind = "decoder"
    assert (w.num_layers, w.num_heads) == (3, 2)
    w.layer, w.head, w.heads = 2, 1, [0, 1]
    w.attention_kind = "encoder"
    assert (w.num_layers, w.num_heads, w.layer, w.head, w.heads) == (2, 4, 1, 1, [0, 1])
    with pytest.raises(ValueError, match="attention_kind"):
        w.attention_kind = "both"

    # A new text keeps the kind; the page's "Run" (set_text) treats the second box as the target.
    w.attention_kind = "cross"
    page_message(w, {"type": "set_text", "text": "A dog.", "text_pair": "Ein Hund."})
    assert w.error == "" and w.attention_kind == "cross" and w.text_pair == "Ein Hund."
    assert (w.num_layers, w.num_heads) == (3, 2)
    [(reply, _)] = answers(w, layers=[0], kind="cross")
    assert reply["shape"] == [2, len(w.decoder_tokens), len(w.tokens)]


def test_encoder_only_widget_refuses_other_kinds(tiny_albert):
    model, tokenizer = tiny_albert
    w = AttentionWidget(model, tokenizer, TEXT)
    assert w.kinds == ["encoder"] and w.decoder_tokens == []
    with pytest.raises(ValueError, match="no decoder attention"):
        w.attention_kind = "decoder"
    sent = answers(w, layers=[0], kind="cross")
    assert sent[0][0]["type"] == "layers" and "cross" in sent[0][0]["error"] and w.error == ""


def test_transport_kinds():
    enc = np.full((2, 1, 3, 3), 1 / 3, dtype=np.float32)
    cross = np.full((2, 1, 2, 3), 1 / 3, dtype=np.float32)
    reply, buffers = reply_to_request({"encoder": enc, "cross": cross}, 1, {"revision": 1, "layers": [1], "kind": "cross"})
    assert reply["kind"] == "cross" and reply["shape"] == [1, 2, 3]
    np.testing.assert_array_equal(decode_array(reply, buffers[0]), cross[1])
    with pytest.raises(ValueError, match="no 'decoder' attention"):
        reply_to_request({"encoder": enc}, 1, {"revision": 1, "layers": [0], "kind": "decoder"})
    with pytest.raises(ValueError, match="only the encoder"):
        reply_to_request(enc, 1, {"revision": 1, "layers": [0], "kind": "cross"})
    reply, _ = reply_to_request(enc, 1, {"revision": 1, "layers": [0], "kind": "encoder"})
    assert reply["kind"] == "encoder"
