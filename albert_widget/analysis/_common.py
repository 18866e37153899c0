"""Helpers shared by the analysis methods: reading attention, encoding text, running a model in eager
mode and finding the attention blocks of ALBERT and BERT-family models.

Nothing here is public API.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..extras import require

# eval_mode, model_device and on_device are used from here by the analysis methods (one
# implementation, forward.py).
from ..forward import (
    accepted_inputs,
    eager_attention,
    eval_mode,
    model_device,
    model_max_length,
    tokenize,
    validate_text,
)
from ..result import AttentionResult, as_attention_array
from ..words import strip_marker

# Names special tokens take in the vocabularies we meet (BERT/ALBERT, RoBERTa, XLNet-style).
CLS_NAMES = frozenset({"[CLS]", "<s>", "<cls>"})
SEP_NAMES = frozenset({"[SEP]", "</s>", "<sep>"})
PUNCT_NAMES = frozenset({".", ","})
# The analysis methods' name for a piece without its word marker (words.strip_marker).
piece_text = strip_marker


def is_punct(token: str) -> bool:
    """True for the punctuation Clark et al. count: ``.`` and ``,`` (with or without a word marker)."""
    return strip_marker(token) in PUNCT_NAMES


def attention_float64(attention: Any) -> np.ndarray:
    """Attention from an :class:`AttentionResult`, a tuple of per-layer tensors or one ``[L, H, N, N]``
    array/tensor, as a float64 numpy array ``[L, H, N, N]``."""
    if isinstance(attention, AttentionResult):
        attention = attention.attention
    array = as_attention_array(attention)
    if array.shape[-1] != array.shape[-2]:
        raise ValueError(f"attention must be square over tokens ([L, H, N, N]), got shape {tuple(array.shape)}")
    if not np.isfinite(array).all():
        raise ValueError("attention contains NaN or inf values")
    return array.astype(np.float64)


def model_dtype(model: Any):
    torch = require("torch")

    try:
        return next(model.parameters()).dtype
    except (StopIteration, AttributeError):
        return torch.float32


def pick_device(model: Any, device: Any = None):
    """``device`` if given; else the model's device when it is an accelerator; else CUDA when available;
    else the CPU."""
    torch = require("torch")

    if device is not None:
        return torch.device(device)
    current = model_device(model) if model is not None else torch.device("cpu")
    if current.type != "cpu":
        return current
    if torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


@contextlib.contextmanager
def eager_eval(model: Any) -> Iterator[Any]:
    """Eager attention (so ``output_attentions=True`` returns the weights) and eval mode; both restored."""
    with eval_mode(model), eager_attention(model):
        yield model


# The analysis methods' former name of accepted_inputs (stats.py and importance.py still use it).
forward_kwargs = accepted_inputs


def check_model(model: Any, tokenizer: Any) -> None:
    if not hasattr(model, "forward") or not callable(tokenizer):
        raise TypeError("expected a transformers model and its tokenizer")
    if getattr(getattr(model, "config", None), "is_encoder_decoder", False):
        raise ValueError("encoder-decoder models are not supported by the analysis methods")


def encode_one(model: Any, tokenizer: Any, text: str, text_pair: str | None = None):
    """Tokenize one input (truncated to the model's maximum) as torch tensors with a batch of 1."""
    validate_text(text, "text")
    validate_text(text_pair, "text_pair", allow_none=True)
    check_model(model, tokenizer)
    return tokenize(tokenizer, text, text_pair, model_max_length(model, tokenizer), return_tensors="pt")


def split_texts(texts: Any) -> tuple[list[str], list[str | None]]:
    """A list of strings and/or ``(text, text_pair)`` tuples as ``(firsts, seconds)``; ``seconds[i]`` is
    ``None`` for a single sentence."""
    if isinstance(texts, str):
        raise TypeError("texts must be a list of strings (got one string: wrap it in a list)")
    items = list(texts)
    if not items:
        raise ValueError("texts is empty; give at least one sentence")
    firsts: list[str] = []
    seconds: list[str | None] = []
    for i, t in enumerate(items):
        if isinstance(t, str):
            firsts.append(validate_text(t, f"texts[{i}]"))
            seconds.append(None)
        elif isinstance(t, (tuple, list)) and len(t) == 2:
            firsts.append(validate_text(t[0], f"texts[{i}][0]"))
            seconds.append(validate_text(t[1], f"texts[{i}][1]"))
        else:
            raise TypeError(f"texts[{i}] must be a string or a (text, text_pair) tuple, got {t!r}")
    return firsts, seconds


def tokenize_each(model: Any, tokenizer: Any, firsts: Sequence[str], seconds: Sequence[str | None]) -> list[dict]:
    """Tokenize every input on its own (truncated to the model's maximum): a list of dicts of int lists,
    ``input_ids``, ``token_type_ids`` and ``special_tokens_mask``."""
    limit = model_max_length(model, tokenizer)
    out = []
    for first, second in zip(firsts, seconds):
        enc = tokenize(tokenizer, first, second, limit, return_special_tokens_mask=True)
        ids = list(enc["input_ids"])
        if not ids:
            raise ValueError(f"the tokenizer produced no tokens for {first!r}")
        out.append(
            {
                "input_ids": ids,
                "token_type_ids": list(enc.get("token_type_ids") or [0] * len(ids)),
                "special_tokens_mask": list(enc.get("special_tokens_mask") or [0] * len(ids)),
            }
        )
    return out


def collate(items: Sequence[dict], pad_id: int | None, labels: Sequence[Sequence[int]] | None = None) -> dict[str, Any]:
    """Right-pad tokenized inputs into tensors: ``input_ids`` (with ``pad_id``), ``token_type_ids`` (0),
    ``attention_mask`` (1 for real tokens) and, if given, ``labels`` (-100)."""
    torch = require("torch")

    width = max(len(it["input_ids"]) for it in items)
    pad = 0 if pad_id is None else int(pad_id)

    def padded(rows, value):
        return torch.tensor([list(r) + [value] * (width - len(r)) for r in rows], dtype=torch.long)

    batch = {
        "input_ids": padded([it["input_ids"] for it in items], pad),
        "token_type_ids": padded([it["token_type_ids"] for it in items], 0),
        "attention_mask": padded([[1] * len(it["input_ids"]) for it in items], 0),
    }
    if labels is not None:
        batch["labels"] = padded(labels, -100)
    return batch


def length_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Indices grouped in batches of similar length (less padding); deterministic."""
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


@dataclass(frozen=True)
class TextBatches:
    """Texts tokenized one by one (truncated to the model's maximum) and grouped in batches of similar
    length: iterate for ``(rows, batch)``, ``rows`` the indices of the texts in the batch and ``batch``
    their right-padded tensors (:func:`collate`, on the CPU). ``device``: where the model runs."""

    items: list[dict]
    batches: list[list[int]]
    pad_id: int | None
    device: Any

    @property
    def num_texts(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[tuple[list[int], dict[str, Any]]]:
        for rows in self.batches:
            yield rows, collate([self.items[i] for i in rows], self.pad_id)


def text_batches(model: Any, tokenizer: Any, texts: Any, batch_size: int, device: Any = None) -> TextBatches:
    """What a method over a list of texts (strings and/or ``(text, text_pair)`` tuples) runs the model
    on: the checks, the tokenization, the length batches and the device (:func:`pick_device`)."""
    check_model(model, tokenizer)
    firsts, seconds = split_texts(texts)
    items = tokenize_each(model, tokenizer, firsts, seconds)
    batches = length_batches([len(it["input_ids"]) for it in items], batch_size)
    return TextBatches(items, batches, getattr(tokenizer, "pad_token_id", None), pick_device(model, device))


def progress_bar(total: int, enabled: bool, desc: str):
    """A tqdm bar (notebook-aware) or a do-nothing stand-in."""
    if enabled:
        try:
            from tqdm.auto import tqdm

            return tqdm(total=total, desc=desc, unit="text")
        except ImportError:  # pragma: no cover - tqdm comes with transformers
            pass
    return _NoBar()


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


# -- attention blocks -----------------------------------------------------------------------------


@dataclass(frozen=True)
class AttentionBlock:
    """One self-attention call of a forward pass: its value projection, its output projection (whose
    input is the concatenated per-head context) and its head layout. ALBERT's blocks are all the same
    modules (one set of weights run once per layer)."""

    value: Any
    output: Any
    num_heads: int
    head_dim: int
    #: GPT-2: ``value`` is the fused query/key/value projection ``c_attn`` (a Conv1D, weight ``[in, out]``)
    #: and ``output`` is ``c_proj``; methods that need the value projection alone refuse such blocks.
    fused_qkv: bool = False


def base_model(model: Any) -> Any:
    base = getattr(model, "base_model", None)
    return base if base is not None else model


def attention_blocks(model: Any) -> list[AttentionBlock]:
    """The attention calls of one forward pass, in execution order.

    ALBERT: ``encoder.albert_layer_groups[g].albert_layers[k].attention`` (``query``, ``key``, ``value``,
    ``dense``) run once per layer; with the released configs (one group, one inner layer) that is ONE
    module called ``num_hidden_layers`` times. BERT family (BERT, RoBERTa, ELECTRA, MiniLM, ...):
    ``encoder.layer[l].attention.self.value`` and ``encoder.layer[l].attention.output.dense``. GPT-2:
    ``h[l].attn.c_attn`` (fused q/k/v, ``fused_qkv=True``) and ``h[l].attn.c_proj``.
    """
    config = getattr(model, "config", None)
    base = base_model(model)
    encoder = getattr(base, "encoder", None)
    heads = getattr(config, "num_attention_heads", None)
    if encoder is not None and hasattr(encoder, "albert_layer_groups"):
        layers = int(config.num_hidden_layers)
        groups = int(config.num_hidden_groups)
        blocks = []
        for i in range(layers):
            group = encoder.albert_layer_groups[int(i / (layers / groups))]
            for albert_layer in group.albert_layers:
                att = albert_layer.attention
                blocks.append(AttentionBlock(att.value, att.dense, int(att.num_attention_heads), int(att.attention_head_size)))
        return blocks
    layer_list = getattr(encoder, "layer", None) if encoder is not None else None
    if layer_list is not None and len(layer_list) and hasattr(layer_list[0], "attention"):
        first = layer_list[0].attention
        if hasattr(first, "self") and hasattr(first, "output") and hasattr(first.self, "value"):
            blocks = []
            for layer in layer_list:
                att = layer.attention
                blocks.append(
                    AttentionBlock(
                        att.self.value,
                        att.output.dense,
                        int(getattr(att.self, "num_attention_heads", heads)),
                        int(att.self.attention_head_size),
                    )
                )
            return blocks
    gpt2_layers = getattr(base, "h", None)
    if gpt2_layers is not None and len(gpt2_layers) and hasattr(gpt2_layers[0], "attn"):
        first = gpt2_layers[0].attn
        if hasattr(first, "c_attn") and hasattr(first, "c_proj") and not getattr(first, "is_cross_attention", False):
            # GPT-2: h[l].attn.c_proj's input is the merged per-head context [B, N, H·d], as BERT's
            # attention.output.dense: head gates work on it unchanged.
            return [
                AttentionBlock(layer.attn.c_attn, layer.attn.c_proj, int(layer.attn.num_heads), int(layer.attn.head_dim), True)
                for layer in gpt2_layers
            ]
    raise NotImplementedError(
        f"{type(model).__name__} is not supported here: this method hooks the attention modules of ALBERT "
        "(encoder.albert_layer_groups[...].albert_layers[...].attention) and of the BERT family "
        "(encoder.layer[l].attention.self / attention.output)"
    )


def distinct(modules: Sequence[Any]) -> list[Any]:
    seen: dict[int, Any] = {}
    for m in modules:
        seen.setdefault(id(m), m)
    return list(seen.values())
