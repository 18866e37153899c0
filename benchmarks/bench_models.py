"""Models, tokenizers and texts of the benchmark, shared by ``bench.py`` and the notebook kernel it
drives. Nothing is downloaded: ALBERT configs get random weights and an ALBERT-style SentencePiece
tokenizer trained in ~0.1 s (``albert_widget.tiny``, shared with the tests); MiniLM is the pretrained
model the package ships."""

from __future__ import annotations

import json
import os
import time
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

from albert_widget.tiny import CORPUS, random_albert, train_albert_tokenizer

SENTENCES = CORPUS + [
    "Long documents need tools that stay fast when the input grows to five hundred tokens.",
    "A benchmark compares two tools on the same attention, byte for byte and frame by frame.",
]

# albert-base-v2 and albert-xxlarge-v2 shapes (random weights).
ALBERT_BASE = dict(
    vocab_size=30000,
    embedding_size=128,
    hidden_size=768,
    num_hidden_layers=12,
    num_attention_heads=12,
    intermediate_size=3072,
    max_position_embeddings=512,
)
ALBERT_XXLARGE = dict(
    vocab_size=30000,
    embedding_size=128,
    hidden_size=4096,
    num_hidden_layers=12,
    num_attention_heads=64,
    intermediate_size=16384,
    max_position_embeddings=512,
)


def albert_tokenizer(vocab_size: int = 800) -> Any:
    """An ALBERT-style unigram SentencePiece tokenizer (``▁`` pieces, [CLS]/[SEP]) trained on SENTENCES."""
    return train_albert_tokenizer(vocab_size=vocab_size, sentences=SENTENCES, repeat=8)


def albert(config: dict, seed: int = 0) -> Any:
    """AlbertModel with random weights and the default (sdpa) attention, in eval mode."""
    return random_albert(config, seed)


def minilm() -> tuple[Any, Any]:
    from albert_widget import load_default_model

    return load_default_model()


def text_of(tokenizer: Any, n: int) -> str:
    """A text of at least ``n`` tokens (with special tokens) for this tokenizer; the widget's
    ``max_length=n`` cuts it to exactly n, as a long document is cut."""
    words: list[str] = []
    k = 0
    while True:
        words.extend(SENTENCES[k % len(SENTENCES)].split())
        k += 1
        text = " ".join(words)
        if len(tokenizer(text)["input_ids"]) >= n + 2:
            return text


def forward_timer(model: Any) -> list[float]:
    """Hooks on the model that append the duration of each forward pass (s) to the returned list."""
    times: list[float] = []
    start: list[float] = []
    model.register_forward_pre_hook(lambda m, a, k: start.append(time.perf_counter()), with_kwargs=True)
    model.register_forward_hook(lambda m, a, k, o: times.append(time.perf_counter() - start.pop()), with_kwargs=True)
    return times


def dump(**values: Any) -> None:
    """One JSON line (what a notebook cell of the benchmark prints)."""
    print(json.dumps(values, default=float))
