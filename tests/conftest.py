"""Shared fixtures: a small ALBERT built from a config (random weights, default ``sdpa`` so that the
capture's eager switch is exercised), an ALBERT-style SentencePiece tokenizer trained offline
(both from ``albert_widget.tiny``), and the packaged pretrained MiniLM for real attention patterns.
Nothing is downloaded."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import pytest

# The tiny offline models and tokenizers live in the package (albert_widget/tiny.py), shared with the
# benchmarks; test modules import them from here.
from albert_widget.tiny import CORPUS, random_albert, tiny_albert_config, train_albert_tokenizer, train_bpe_tokenizer

__all__ = ["CORPUS", "eager_reference", "tiny_albert_config", "train_albert_tokenizer", "train_bpe_tokenizer"]


@pytest.fixture(scope="session")
def albert_tokenizer(tmp_path_factory):
    return train_albert_tokenizer(str(tmp_path_factory.mktemp("spm")))


@pytest.fixture
def tiny_albert(albert_tokenizer):
    """``(model, tokenizer)``: AlbertModel from a config, random weights, default sdpa attention.
    Function-scoped: tests may switch it to train mode or change its attention implementation."""
    return random_albert(tiny_albert_config(len(albert_tokenizer)), seed=0), albert_tokenizer


@pytest.fixture(scope="session")
def minilm():
    """``(model, tokenizer)`` of the packaged pretrained all-MiniLM-L6-v2 (6 layers x 12 heads)."""
    from albert_widget import load_default_model

    return load_default_model()


@pytest.fixture(scope="session")
def bpe_tokenizer():
    return train_bpe_tokenizer()


@pytest.fixture
def tiny_bart(bpe_tokenizer):
    """BartModel from a config: encoder 2 layers x 4 heads, decoder 3 layers x 2 heads (sdpa default)."""
    import torch
    from transformers import BartConfig, BartModel

    torch.manual_seed(0)
    config = BartConfig(
        vocab_size=len(bpe_tokenizer),
        d_model=32,
        encoder_layers=2,
        decoder_layers=3,
        encoder_attention_heads=4,
        decoder_attention_heads=2,
        encoder_ffn_dim=37,
        decoder_ffn_dim=37,
        max_position_embeddings=64,
        pad_token_id=0,
        bos_token_id=0,
        eos_token_id=0,
        decoder_start_token_id=0,
    )
    return BartModel(config).eval(), bpe_tokenizer


@pytest.fixture
def tiny_gpt2(bpe_tokenizer):
    """``(model, tokenizer)``: a 2-layer x 4-head GPT2LMHeadModel from a config (32 positions),
    default sdpa attention, with the byte-level BPE tokenizer above."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(bpe_tokenizer), n_positions=32, n_embd=32, n_layer=2, n_head=4)
    return GPT2LMHeadModel(config).eval(), bpe_tokenizer


def eager_reference(model, tokenizer, text, text_pair=None, *, token_types=True, **tokenizer_kwargs):
    """Per-layer ``[H, N, N]`` numpy attention of a plain eager forward pass in eval mode, written
    independently of ``albert_widget.capture``; the model's attention implementation and training
    flag are put back afterwards."""
    import torch

    # Pairs need return_token_type_ids=True: AlbertTokenizer leaves them out otherwise.
    encoding = tokenizer(text, text_pair, return_tensors="pt", return_token_type_ids=token_types, **tokenizer_kwargs)
    inputs = {k: encoding[k] for k in ("input_ids", "attention_mask", "token_type_ids") if k in encoding}
    if not token_types:
        inputs.pop("token_type_ids", None)
    previous, training = model.config._attn_implementation, model.training
    model.set_attn_implementation("eager")
    model.eval()
    try:
        with torch.no_grad():
            outputs = model(**inputs, output_attentions=True, return_dict=True)
    finally:
        model.set_attn_implementation(previous)
        model.train(training)
    assert len(outputs.attentions) > 0
    return [layer[0].numpy() for layer in outputs.attentions], encoding


@pytest.fixture(scope="session")
def reference_attention():
    """The :func:`eager_reference` function (a fixture so that test modules need no imports from here)."""
    return eager_reference
