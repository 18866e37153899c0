"""What every forward pass of ours needs, written once: input checks and limits, tokenisation with
truncation, the inputs a model accepts, its device, eager attention, eval mode and a device for the
duration (all put back).

:mod:`albert_widget.capture`, :mod:`albert_widget.seq2seq`, :mod:`albert_widget.neuron` and the
analysis methods all run the user's model this way; none of them imports another for it.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
from collections.abc import Callable, Iterator
from typing import Any

from .extras import require

__all__ = [
    "MAX_ATTENTION_BYTES",
    "AttentionTooLargeError",
    "accepted_inputs",
    "eager_attention",
    "eval_mode",
    "format_bytes",
    "input_limit",
    "model_device",
    "model_max_length",
    "on_device",
    "tokenize",
    "validate_text",
]

#: Attention larger than this (float32 bytes) is refused before the forward pass: a 4,096-token
#: input to a 64-head, 12-layer model would need 48 GiB and freeze the kernel.
MAX_ATTENTION_BYTES = 6 * 1024**3


class AttentionTooLargeError(ValueError):
    """The attention of this input would not fit in memory."""


def validate_text(text: Any, name: str = "text", *, allow_none: bool = False) -> str | None:
    """Return ``text`` if it is a string with at least one visible character; raise ``TypeError``
    (not a string) or ``ValueError`` (empty, or only whitespace, zero-width or control characters:
    a tokenizer turns those into nothing or a lone unknown token) otherwise."""
    if text is None and allow_none:
        return None
    if not isinstance(text, str):
        raise TypeError(f"{name} must be a string, got {type(text).__name__}")
    if not text.strip():
        raise ValueError(f"{name} is empty; give a sentence with at least one word")
    if not any(_visible(ch) for ch in text):
        raise ValueError(
            f"{name} has no visible characters (only zero-width, control or whitespace characters such as "
            f"{_first_invisible(text)}); give a sentence with at least one word"
        )
    return text


def _visible(ch: str) -> bool:
    """Not whitespace, and not a control (Cc), format (Cf: zero-width space, joiners, BOM, bidi
    marks), separator or unassigned character."""
    import unicodedata

    return not ch.isspace() and unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Cn", "Zs", "Zl", "Zp")


def _first_invisible(text: str) -> str:
    ch = next((c for c in text if not c.isspace()), text[0])
    return f"U+{ord(ch):04X}"


def model_max_length(model: Any, tokenizer: Any) -> int | None:
    """The longest input (in tokens) the model accepts: the smaller of the config's position limit
    and the tokenizer's ``model_max_length`` (which is a huge sentinel when unknown)."""
    limits = []
    config = getattr(model, "config", None)
    for attr in ("max_position_embeddings", "n_positions"):
        value = getattr(config, attr, None)
        if isinstance(value, int) and value > 0:
            # RoBERTa-family embeddings number positions from padding_idx + 1 (roberta-base: 514
            # position embeddings, 512 usable tokens); without this a long input crashes the forward.
            value -= _position_offset(model)
            if value > 0:
                limits.append(value)
            break
    tok_limit = getattr(tokenizer, "model_max_length", None)
    if isinstance(tok_limit, int) and 0 < tok_limit < 1_000_000:
        limits.append(tok_limit)
    return min(limits) if limits else None


def _position_offset(model: Any) -> int:
    """Positions a model's embeddings skip: ``padding_idx + 1`` for RoBERTa-style embeddings."""
    modules = getattr(model, "modules", None)
    if not callable(modules):
        return 0
    for module in modules():
        padding_idx = getattr(module, "padding_idx", None)
        if hasattr(module, "create_position_ids_from_input_ids") and isinstance(padding_idx, int) and padding_idx >= 0:
            return padding_idx + 1
    return 0


def input_limit(model: Any, tokenizer: Any, max_length: int | None = None) -> int | None:
    """The token limit of one input: the model's maximum, lowered to ``max_length`` when given
    (an int of at least 2; ``ValueError`` otherwise). ``None``: no limit known."""
    limit = model_max_length(model, tokenizer)
    if max_length is not None:
        if not isinstance(max_length, int) or max_length < 2:
            raise ValueError(f"max_length must be an int of at least 2, got {max_length!r}")
        limit = max_length if limit is None else min(limit, max_length)
    return limit


def tokenize(tokenizer: Any, text: str, text_pair: str | None, limit: int | None, **options: Any) -> Any:
    """``tokenizer(text, text_pair, ...)`` with token types, cut to ``limit`` tokens (longest
    sequence first) when ``limit`` is not ``None``; ``options`` go to the tokenizer as they are
    (``return_tensors="pt"``, ``return_special_tokens_mask=True``, ...)."""
    return tokenizer(
        text,
        text_pair,
        return_token_type_ids=True,
        truncation="longest_first" if limit is not None else False,
        max_length=limit,
        verbose=False,
        **options,
    )


@functools.lru_cache(maxsize=64)
def _forward_parameters(model_class: type) -> Any:
    # inspect.signature costs ~0.1 ms; a model class's forward does not change.
    return inspect.signature(model_class.forward).parameters


def accepted_inputs(model: Any, encoding: Any, device: Any = None) -> dict[str, Any]:
    """The inputs of ``encoding`` (``input_ids``, ``attention_mask``, ``token_type_ids``) that
    ``model.forward`` accepts, moved to ``device`` when given. Token types are dropped for models with a
    single token type (RoBERTa-style ``type_vocab_size=1`` would index out of range on a pair)."""
    params = _forward_parameters(type(model))
    accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    kwargs = {}
    for name in ("input_ids", "attention_mask", "token_type_ids"):
        if name in encoding and (name in params or accepts_any):
            kwargs[name] = encoding[name] if device is None else encoding[name].to(device)
    type_vocab = getattr(getattr(model, "config", None), "type_vocab_size", None)
    if "token_type_ids" in kwargs and (type_vocab is None or type_vocab < 2):
        del kwargs["token_type_ids"]
    return kwargs


def model_device(model: Any) -> Any:
    """The ``torch.device`` of the model's first parameter (the CPU for a model without any)."""
    torch = require("torch")

    try:
        return next(model.parameters()).device
    except (StopIteration, AttributeError):
        return torch.device("cpu")


def format_bytes(size: int) -> str:
    """``6442450944`` -> ``"6.0 GiB"`` (for messages)."""
    for unit, factor in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if size >= factor:
            return f"{size / factor:.1f} {unit}"
    return f"{size} bytes"


@contextlib.contextmanager
def eager_attention(model: Any) -> Iterator[str | None]:
    """Switch ``model`` to eager attention for the duration; restore the previous implementation.

    Yields the implementation the model had before (``None`` if it has no such setting).
    """
    previous = getattr(getattr(model, "config", None), "_attn_implementation", None)
    needed = previous is not None and previous != "eager" and hasattr(model, "set_attn_implementation")
    with _switched(getattr(model, "set_attn_implementation", None), previous, "eager", needed):
        yield previous


@contextlib.contextmanager
def on_device(model: Any, device: Any) -> Iterator[Any]:
    """Move ``model`` to ``device`` for the duration and back to where it was."""
    before = model_device(model)
    with _switched(model.to, before, device, before != device):
        yield model


@contextlib.contextmanager
def _switched(switch: Callable[[Any], Any] | None, previous: Any, wanted: Any, needed: bool) -> Iterator[None]:
    """``switch(wanted)`` for the duration and ``switch(previous)`` afterwards, when ``needed``."""
    if needed:
        switch(wanted)
    try:
        yield
    finally:
        if needed:
            switch(previous)


@contextlib.contextmanager
def eval_mode(model: Any) -> Iterator[Any]:
    """``model.eval()`` (no dropout) for the duration, then every module's own ``training`` flag back.

    Every module's, not just the top one's: ``model.train()`` afterwards would also switch on the
    submodules the user had put in eval mode.
    """
    modules = model.modules() if callable(getattr(model, "modules", None)) else ()
    flags = [(module, module.training) for module in modules]
    try:
        model.eval()
        yield model
    finally:
        for module, training in flags:
            module.training = training


def is_causal_lm(model: Any) -> bool:
    """A decoder-only language model with its head (``GPT2LMHeadModel``, ``...ForCausalLM``), by class
    name or the config's ``architectures``; encoder-decoders are not. (A base ``GPT2Model`` has no
    head, hence no next-token loss.)"""
    config = getattr(model, "config", None)
    if getattr(config, "is_encoder_decoder", False):
        return False
    names = [type(model).__name__, *list(getattr(config, "architectures", None) or [])]
    return any(n.endswith(("ForCausalLM", "LMHeadModel")) for n in names)
