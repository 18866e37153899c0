"""Shared fixtures: a small ALBERT built from a config (random weights, default ``sdpa`` so that the
capture's eager switch is exercised), an ALBERT-style SentencePiece tokenizer trained here from text
these tests write, and the packaged pretrained MiniLM for real attention patterns. Nothing is
downloaded."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import pytest

CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "ALBERT shares one set of weights across all of its layers.",
    "Attention maps show which tokens a model looks at when it reads a sentence.",
    "A sentence pair has two segments, and each token knows its segment.",
    "Researchers explore heads and layers with sliders in a notebook.",
    "Students and teachers put the picture of a head in their papers.",
    "The cat sat on the mat because it was tired.",
    "Language models read text as pieces of words called tokens.",
    "Every layer of the encoder has twelve heads that attend in parallel.",
    "She said that the results were surprising, but the reviewers agreed.",
]


def train_albert_tokenizer(directory, vocab_size: int = 400):
    """An ALBERT-style SentencePiece (unigram) tokenizer trained on CORPUS in ~0.05 s.

    Pieces carry the ``▁`` word-start marker like albert-base-v2's. Built from ``(piece, score)``
    pairs: ``AlbertTokenizer(vocab_file=...)`` silently ignores the file in transformers 5.
    """
    import sentencepiece as spm
    from transformers import AlbertTokenizer

    corpus = os.path.join(directory, "corpus.txt")
    with open(corpus, "w", encoding="utf-8") as f:
        f.write("\n".join(CORPUS * 5))
    prefix = os.path.join(directory, "spiece")
    spm.SentencePieceTrainer.train(
        input=corpus, model_prefix=prefix, vocab_size=vocab_size, model_type="unigram",
        pad_id=0, unk_id=1, bos_id=2, eos_id=3, pad_piece="<pad>", unk_piece="<unk>",
        bos_piece="[CLS]", eos_piece="[SEP]", user_defined_symbols=["[MASK]"],
        hard_vocab_limit=False, minloglevel=2,
    )
    sp = spm.SentencePieceProcessor(model_file=prefix + ".model")
    vocab = [(sp.id_to_piece(i), sp.get_score(i)) for i in range(sp.get_piece_size())]
    return AlbertTokenizer(vocab=vocab, model_max_length=512)


def tiny_albert_config(vocab_size: int, **overrides):
    from transformers import AlbertConfig

    options = dict(
        vocab_size=vocab_size, embedding_size=16, hidden_size=32, num_hidden_layers=4,
        num_attention_heads=4, intermediate_size=37, max_position_embeddings=64,
        hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1,
    )
    options.update(overrides)
    return AlbertConfig(**options)


@pytest.fixture(scope="session")
def albert_tokenizer(tmp_path_factory):
    return train_albert_tokenizer(str(tmp_path_factory.mktemp("spm")))


@pytest.fixture()
def tiny_albert(albert_tokenizer):
    """``(model, tokenizer)``: AlbertModel from a config, random weights, default sdpa attention.
    Function-scoped: tests may switch it to train mode or change its attention implementation."""
    import torch
    from transformers import AlbertModel

    torch.manual_seed(0)
    model = AlbertModel(tiny_albert_config(len(albert_tokenizer)))
    model.eval()
    return model, albert_tokenizer


@pytest.fixture(scope="session")
def minilm():
    """``(model, tokenizer)`` of the packaged pretrained all-MiniLM-L6-v2 (6 layers x 12 heads)."""
    from albert_widget import load_default_model

    return load_default_model()


def train_bpe_tokenizer(vocab_size: int = 300):
    """A GPT-2-style byte-level BPE tokenizer trained on CORPUS (pieces carry ``Ġ``), wrapped in
    ``PreTrainedTokenizerFast``. Nothing is downloaded."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )
    bpe.train_from_iterator(CORPUS, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=bpe, bos_token="<|endoftext|>", eos_token="<|endoftext|>", unk_token="<|endoftext|>",
    )


@pytest.fixture(scope="session")
def bpe_tokenizer():
    return train_bpe_tokenizer()


@pytest.fixture()
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
