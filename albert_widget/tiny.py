"""Small offline models and tokenizers, for tests, benchmarks and trying the widget without a download.

- :func:`train_albert_tokenizer`: an ALBERT-style SentencePiece (unigram) tokenizer trained on a few
  sentences in about 0.05 s; its pieces carry the ``▁`` word-start marker like albert-base-v2's, with
  ``[CLS]``, ``[SEP]``, ``[MASK]``, ``<pad>`` and ``<unk>``.
- :func:`tiny_albert_config` / :func:`random_albert`: an ALBERT of any shape with random weights
  (default ``sdpa`` attention, as ``from_pretrained`` gives), in eval mode.
- :func:`train_bpe_tokenizer`: a GPT-2-style byte-level BPE tokenizer (``Ġ`` pieces).
- :func:`random_llama`: a small Llama-style decoder (rotary, grouped-query attention), random weights.

Nothing is downloaded; the weights are random, so the attention means nothing, but its shapes, the
tokens and every code path are those of the real models.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from typing import Any

from .extras import require

__all__ = ["CORPUS", "random_albert", "random_llama", "tiny_albert_config", "train_albert_tokenizer", "train_bpe_tokenizer"]

#: The sentences the tokenizers are trained on.
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


def train_albert_tokenizer(
    directory: str | None = None, vocab_size: int = 400, *, sentences: Sequence[str] = CORPUS, repeat: int = 5
) -> Any:
    """An ``AlbertTokenizer`` (SentencePiece unigram, ``vocab_size`` pieces at most) trained on
    ``sentences`` written ``repeat`` times into ``directory`` (a new temporary folder when ``None``).

    Built from ``(piece, score)`` pairs: ``AlbertTokenizer(vocab_file=...)`` silently ignores the file in
    transformers 5.
    """
    import sentencepiece as spm
    from transformers import AlbertTokenizer

    directory = directory or tempfile.mkdtemp(prefix="albert-widget-spm-")
    corpus = os.path.join(directory, "corpus.txt")
    with open(corpus, "w", encoding="utf-8") as f:
        f.write("\n".join(list(sentences) * repeat))
    prefix = os.path.join(directory, "spiece")
    spm.SentencePieceTrainer.train(
        input=corpus,
        model_prefix=prefix,
        vocab_size=vocab_size,
        model_type="unigram",
        pad_id=0,
        unk_id=1,
        bos_id=2,
        eos_id=3,
        pad_piece="<pad>",
        unk_piece="<unk>",
        bos_piece="[CLS]",
        eos_piece="[SEP]",
        user_defined_symbols=["[MASK]"],
        hard_vocab_limit=False,
        minloglevel=2,
    )
    sp = spm.SentencePieceProcessor(model_file=prefix + ".model")
    vocab = [(sp.id_to_piece(i), sp.get_score(i)) for i in range(sp.get_piece_size())]
    return AlbertTokenizer(vocab=vocab, model_max_length=512)


def tiny_albert_config(vocab_size: int, **overrides: Any) -> Any:
    """An ``AlbertConfig`` of 4 layers x 4 heads, hidden size 32, 64 positions; ``overrides`` change
    any field (``num_hidden_layers=3``, ``num_labels=3``, ...)."""
    from transformers import AlbertConfig

    options = dict(
        vocab_size=vocab_size,
        embedding_size=16,
        hidden_size=32,
        num_hidden_layers=4,
        num_attention_heads=4,
        intermediate_size=37,
        max_position_embeddings=64,
        hidden_dropout_prob=0.1,
        attention_probs_dropout_prob=0.1,
    )
    options.update(overrides)
    return AlbertConfig(**options)


def random_albert(config: Any, seed: int = 0) -> Any:
    """``AlbertModel`` with random weights (``torch.manual_seed(seed)``) from an ``AlbertConfig`` or a
    dict of its fields, default ``sdpa`` attention, in eval mode."""
    torch = require("torch")
    from transformers import AlbertConfig, AlbertModel

    if isinstance(config, dict):
        config = AlbertConfig(**config)
    torch.manual_seed(seed)
    return AlbertModel(config).eval()


def random_llama(vocab_size: int, seed: int = 0, **overrides: Any) -> Any:
    """``LlamaForCausalLM`` with random weights: 3 layers, 8 query heads sharing 2 key/value heads,
    head size 8, rotary positions up to 4,096 (``overrides`` change any ``LlamaConfig`` field); in eval
    mode, default ``sdpa`` attention."""
    torch = require("torch")
    from transformers import LlamaConfig, LlamaForCausalLM

    options: dict[str, Any] = dict(
        vocab_size=vocab_size,
        hidden_size=64,
        intermediate_size=96,
        num_hidden_layers=3,
        num_attention_heads=8,
        num_key_value_heads=2,
        max_position_embeddings=4096,
    )
    options.update(overrides)
    torch.manual_seed(seed)
    return LlamaForCausalLM(LlamaConfig(**options)).eval()


def train_bpe_tokenizer(vocab_size: int = 300, *, sentences: Sequence[str] = CORPUS) -> Any:
    """A GPT-2-style byte-level BPE tokenizer (pieces carry ``Ġ``; ``<|endoftext|>`` is bos, eos and
    unk) trained on ``sentences``, wrapped in ``PreTrainedTokenizerFast``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(list(sentences), trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        bos_token="<|endoftext|>",
        eos_token="<|endoftext|>",
        unk_token="<|endoftext|>",
    )
