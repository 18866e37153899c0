"""Model + tokenizer + text -> :class:`~albert_widget.result.AttentionResult`.

The capture runs one eager forward pass (the default ``sdpa`` attention of transformers 5 returns
no attention at all), under ``torch.no_grad()``, on the model's own device, and puts back what the
user had: the attention implementation (configs are shared between models built from one config
object, so switching one model switches them all) and the ``training`` flag.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .extras import require
from .fastcapture import attention_by_hooks
from .forward import (
    MAX_ATTENTION_BYTES,
    AttentionTooLargeError,
    accepted_inputs,
    eager_attention,
    eval_mode,
    format_bytes,
    input_limit,
    is_causal_lm,
    model_device,
    model_max_length,
    tokenize,
    validate_text,
)
from .result import AttentionResult, ModelInfo
from .seq2seq import capture_seq2seq

if TYPE_CHECKING:
    from .longcontext.compact import CompactAttention

# eager_attention, validate_text, model_max_length and AttentionTooLargeError live in forward.py
# (shared with seq2seq.py, neuron.py and the analysis methods); they stay importable from here.
__all__ = ["AttentionTooLargeError", "capture", "eager_attention", "model_max_length", "validate_text"]


def _model_info(model: Any, previous_impl: str | None, max_length: int | None, num_layers: int, num_heads: int) -> ModelInfo:
    config = getattr(model, "config", None)
    model_type = getattr(config, "model_type", None) or type(model).__name__
    is_albert = model_type == "albert"
    return ModelInfo(
        model_type=str(model_type),
        name_or_path=str(getattr(config, "_name_or_path", "") or getattr(model, "name_or_path", "") or ""),
        num_layers=num_layers,
        num_heads=num_heads,
        num_hidden_groups=int(config.num_hidden_groups) if is_albert else None,
        inner_group_num=int(config.inner_group_num) if is_albert else None,
        max_length=max_length,
        is_causal=bool(getattr(config, "is_decoder", False)) or is_causal_lm(model),
        attn_implementation=previous_impl,
    )


def _segments(encoding: Any, n: int, has_pair: bool) -> tuple[np.ndarray, int | None]:
    """Segment (0 = A, 1 = B) of every token and the index where sentence B starts."""
    types = None
    if "token_type_ids" in encoding:
        types = np.asarray(encoding["token_type_ids"][0].tolist(), dtype=np.int64)
    if not has_pair:
        return np.zeros(n, dtype=np.int64), None
    if types is not None and (types == 1).any():
        return types, int(np.argmax(types == 1))
    # Tokenizers without token types (RoBERTa, GPT-2): fall back on the fast tokenizer's sequence ids.
    try:
        seq = encoding.sequence_ids(0)
    except Exception:
        seq = None
    if seq is not None and 1 in seq:
        start = seq.index(1)
        segments = np.zeros(n, dtype=np.int64)
        segments[start:] = 1
        return segments, start
    return np.zeros(n, dtype=np.int64), None


def capture(
    model: Any,
    tokenizer: Any,
    text: str,
    text_pair: str | None = None,
    *,
    max_length: int | None = None,
    dtype: str = "float32",
    memory_budget: int | None = None,
) -> AttentionResult | CompactAttention:
    """Run ``model`` on ``text`` (and ``text_pair``) and return every layer's and head's attention.

    Returns an :class:`AttentionResult` whose ``attention`` is float32 ``[layers, heads, N, N]`` and
    equals ``outputs.attentions[l][0, h]`` of an eager forward pass bit for bit. Inputs longer than
    ``max_length`` (default: the model's maximum) are truncated; ``result.num_truncated`` says how
    many tokens were dropped.

    ``dtype="float16"`` keeps the attention as float16 instead (half the memory; each weight rounded
    to the nearest float16, relative error <= 2**-11): for very large inputs. The model runs on its own
    device (GPU included); the attention crosses to the CPU once, straight into the result's array.

    Decoder language models (``...ForCausalLM``) whose attention would not fit ``memory_budget``
    bytes (default: a share of this machine's memory, :mod:`albert_widget.longcontext.budget`) come
    back as a :class:`~albert_widget.longcontext.CompactAttention` instead: post-rotary queries and
    keys plus row log-sum-exps, from which any block is recomputed exactly. Other models are refused
    above ``memory_budget`` (default 6 GiB) with what it would need.
    """
    torch = require("torch")

    if dtype not in ("float32", "float16"):
        raise ValueError(f"dtype must be 'float32' (exact, the default) or 'float16', got {dtype!r}")
    validate_text(text, "text")
    validate_text(text_pair, "text_pair", allow_none=True)
    if not hasattr(model, "forward") or not callable(tokenizer):
        raise TypeError("capture() needs a transformers model and its tokenizer")
    if getattr(getattr(model, "config", None), "is_encoder_decoder", False):
        # BART/T5: encoder, decoder and cross attention; the second text is the decoder's target.
        return capture_seq2seq(model, tokenizer, text, text_pair, max_length=max_length)

    limit = input_limit(model, tokenizer, max_length)

    options = dict(return_tensors="pt", return_special_tokens_mask=True)
    full = tokenize(tokenizer, text, text_pair, None, **options)
    full_length = int(full["input_ids"].shape[1])
    # Tokenized once when the input fits; a second time, truncated, when it does not.
    encoding = full if limit is None or full_length <= limit else tokenize(tokenizer, text, text_pair, limit, **options)
    n = int(encoding["input_ids"].shape[1])
    if n == 0:
        raise ValueError("the tokenizer produced no tokens for this text")
    if limit is not None and n > limit:
        # The tokenizer could not truncate (its special tokens alone need more room): it logs an
        # error and returns everything, which would crash the forward pass.
        raise ValueError(
            f"cannot fit this input into max_length={limit} tokens ({n} after truncation; the special tokens "
            "alone need more room): use a larger max_length"
        )
    num_truncated = max(0, full_length - n)

    config = getattr(model, "config", None)
    layers = getattr(config, "num_hidden_layers", None) or getattr(config, "n_layer", None)
    heads = getattr(config, "num_attention_heads", None) or getattr(config, "n_head", None)
    if layers and heads and is_causal_lm(model):
        from .longcontext import budget

        try:
            shape = budget.attention_shape(model)
        except ValueError:
            shape = None
        # Decoder models: the full [L, H, N, N] while it fits the budget, the compact form above it
        # (or a refusal that says what it would cost, before anything runs).
        if shape is not None and budget.plan(budget.estimate(shape, n), memory_budget) == "compact":
            from .longcontext.engine import compact_from_ids

            return compact_from_ids(
                model,
                encoding["input_ids"],
                tokens=tuple(str(t) for t in tokenizer.convert_ids_to_tokens(encoding["input_ids"][0].tolist())),
                special_tokens_mask=np.asarray(encoding["special_tokens_mask"][0].tolist(), dtype=bool),
                text=text,
                num_truncated=num_truncated,
                max_length=limit,
                memory_budget=memory_budget,
            )
    if layers and heads:
        needed = int(layers) * int(heads) * n * n * 4
        refuse_above = MAX_ATTENTION_BYTES if memory_budget is None else int(memory_budget)
        if needed > refuse_above:
            raise AttentionTooLargeError(
                f"the attention of this input would need {format_bytes(needed)} ({needed:,} bytes: "
                f"{layers} layers x {heads} heads x {n}x{n} tokens, float32); the limit is "
                f"{format_bytes(refuse_above)}. Use a shorter text or a smaller max_length"
            )

    kwargs = accepted_inputs(model, encoding, model_device(model))

    target = np.float32 if dtype == "float32" else np.float16
    array = None
    with eval_mode(model), eager_attention(model) as previous_impl, torch.no_grad():
        if layers and heads:
            # Each layer's weights go straight into the result as the model computes them; the
            # model keeps none of them (fastcapture.py). None: this model needs output_attentions.
            array = attention_by_hooks(model, lambda: model(**kwargs, return_dict=True), (int(layers), int(heads), n, n), target)
        if array is None:
            try:
                outputs = model(**kwargs, output_attentions=True, return_dict=True)
            except TypeError as exc:
                raise ValueError(f"this model cannot return attention (output_attentions=True failed: {exc})") from exc

    if array is None:
        attentions = getattr(outputs, "attentions", None)
        if not attentions:
            raise ValueError(
                "the model returned no attention (outputs.attentions is empty); it needs an attention "
                "implementation that exposes weights, such as attn_implementation='eager'"
            )
        first = attentions[0]
        shape = (len(attentions), int(first.shape[1]), n, n)
        # One preallocated array, filled layer by layer: no stacked second copy of everything. copy_
        # moves each layer from the model's device (and converts its dtype) straight into it, once.
        array = np.empty(shape, dtype=target)
        dest = torch.from_numpy(array)
        for index, layer in enumerate(attentions):
            if tuple(layer.shape[1:]) != shape[1:]:
                raise ValueError(f"layer {index} attention has shape {tuple(layer.shape)}, expected [1, {shape[1]}, {n}, {n}]")
            dest[index].copy_(layer[0].detach())
        del outputs, attentions, dest
    shape = array.shape
    # A NaN or inf anywhere makes the sum non-finite (one fast pass); only then look closer (a huge
    # but finite sum is not an error).
    # (torch's sum: two threads, ~2x numpy's; the array is still writable here.)
    if not np.isfinite(float(torch.from_numpy(array).sum(dtype=torch.float32))) and not np.isfinite(array).all():
        raise ValueError("the model's attention contains NaN or inf values (check the model's weights and dtype)")

    segments, sentence_b_start = _segments(encoding, n, text_pair is not None)
    ids = encoding["input_ids"][0].tolist()
    tokens = tuple(str(t) for t in tokenizer.convert_ids_to_tokens(ids))
    special = np.asarray(encoding["special_tokens_mask"][0].tolist(), dtype=bool)
    info = _model_info(model, previous_impl, limit, shape[0], shape[1])
    if not info.is_causal and n > 1 and not np.triu(array[0, 0], 1).any():
        info = ModelInfo(**{**info.to_dict(), "is_causal": True})
    return AttentionResult(
        tokens=tokens,
        attention=array,
        token_type_ids=segments,
        special_tokens_mask=special,
        sentence_b_start=sentence_b_start,
        num_truncated=num_truncated,
        info=info,
        text=text,
        text_pair=text_pair,
    )
