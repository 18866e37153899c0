"""Encoder-decoder models (BART, T5, ...): encoder, decoder and cross attention of one input.

``capture_seq2seq(model, tokenizer, text, target_text)`` runs one eager, teacher-forced forward pass:
the encoder reads ``text``; the decoder reads ``target_text`` shifted right (the decoder start token,
then the target's tokens but its last), exactly what the model sees in training. Without a target
the decoder reads the input itself, shifted right (BART's denoising set-up).

The result's usual fields describe the encoder; ``decoder_tokens``, ``decoder_attention``
``[L, H, M, M]`` (causal) and ``cross_attention`` ``[L, H, M, N]`` (decoder queries x encoder keys)
the decoder. ``capture()`` sends encoder-decoder models here, with ``text_pair`` as the target.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .extras import require
from .forward import (
    MAX_ATTENTION_BYTES,
    AttentionTooLargeError,
    eager_attention,
    eval_mode,
    format_bytes,
    input_limit,
    model_device,
    validate_text,
)
from .result import AttentionResult, ModelInfo

__all__ = ["capture_seq2seq", "shift_right"]


def shift_right(ids: Sequence[int], start: int) -> list[int]:
    """Teacher forcing: the decoder reads ``[start] + ids[:-1]`` (same length as ``ids``)."""
    ids = [int(i) for i in ids]
    return [int(start)] + ids[:-1] if ids else [int(start)]


def _config_int(config: Any, *names: str) -> int | None:
    for name in names:
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def _stack(attentions: Any, name: str) -> np.ndarray:
    torch = require("torch")

    if not attentions:
        raise ValueError(
            f"the model returned no {name} attention; it needs an attention implementation that exposes "
            "weights, such as attn_implementation='eager'"
        )
    first = attentions[0]
    array = np.empty((len(attentions), *tuple(first.shape[1:])), dtype=np.float32)
    for index, layer in enumerate(attentions):
        if tuple(layer.shape[1:]) != array.shape[1:]:
            raise ValueError(f"{name} layer {index} has shape {tuple(layer.shape)}, expected [1, {', '.join(map(str, array.shape[1:]))}]")
        array[index] = layer[0].detach().to("cpu", torch.float32).numpy()
    if not np.isfinite(array).all():
        raise ValueError(f"the model's {name} attention contains NaN or inf values (check the model's weights and dtype)")
    return array


def capture_seq2seq(
    model: Any,
    tokenizer: Any,
    text: str,
    target_text: str | None = None,
    *,
    max_length: int | None = None,
) -> AttentionResult:
    """Encoder, decoder and cross attention of an encoder-decoder model (BART, T5, Marian, ...).

    Returns an :class:`AttentionResult` whose ``attention``/``tokens`` are the encoder's and whose
    ``decoder_tokens``, ``decoder_attention`` ``[L, H, M, M]`` and ``cross_attention``
    ``[L, H, M, N]`` are the decoder's; each equals ``outputs.*_attentions[l][0]`` of an eager
    forward pass with ``decoder_input_ids = shift_right(target ids)``. ``text_pair`` holds
    ``target_text``.
    """
    torch = require("torch")

    validate_text(text, "text")
    validate_text(target_text, "target_text", allow_none=True)
    if not hasattr(model, "forward") or not callable(tokenizer):
        raise TypeError("capture_seq2seq() needs a transformers model and its tokenizer")
    config = getattr(model, "config", None)
    if not getattr(config, "is_encoder_decoder", False):
        raise ValueError(
            "capture_seq2seq() needs an encoder-decoder model (BART, T5, ...); use capture() for encoder-only and decoder-only models"
        )
    # decoder_start_token_id; else bos; else pad (T5's convention: its decoder starts with <pad>).
    start = next(
        (s for s in (getattr(config, n, None) for n in ("decoder_start_token_id", "bos_token_id", "pad_token_id")) if s is not None), None
    )
    if start is None:
        raise ValueError("the model's config has no decoder_start_token_id (nor bos_token_id, pad_token_id): the decoder cannot start")

    limit = input_limit(model, tokenizer, max_length)
    truncation = limit is not None
    full_length = len(tokenizer(text, add_special_tokens=True, verbose=False)["input_ids"])
    encoding = tokenizer(text, return_tensors="pt", return_special_tokens_mask=True, truncation=truncation, max_length=limit, verbose=False)
    input_ids = encoding["input_ids"]
    n = int(input_ids.shape[1])
    if n == 0:
        raise ValueError("the tokenizer produced no tokens for this text")
    if target_text is None:
        labels = input_ids[0].tolist()
    else:
        labels = tokenizer(text_target=target_text, truncation=truncation, max_length=limit, verbose=False)["input_ids"]
    decoder_ids = shift_right(labels, start)
    m = len(decoder_ids)

    enc_layers = _config_int(config, "encoder_layers", "num_layers", "num_hidden_layers")
    dec_layers = _config_int(config, "decoder_layers", "num_decoder_layers", "num_layers", "num_hidden_layers")
    enc_heads = _config_int(config, "encoder_attention_heads", "num_heads", "num_attention_heads")
    dec_heads = _config_int(config, "decoder_attention_heads", "num_heads", "num_attention_heads")
    if enc_layers and dec_layers and enc_heads and dec_heads:
        needed = 4 * (enc_layers * enc_heads * n * n + dec_layers * dec_heads * (m * m + m * n))
        if needed > MAX_ATTENTION_BYTES:
            raise AttentionTooLargeError(
                f"the attention of this input would need {format_bytes(needed)} ({n} encoder and {m} decoder tokens); "
                f"the limit is {format_bytes(MAX_ATTENTION_BYTES)}. Use shorter texts or a smaller max_length"
            )

    device = model_device(model)
    kwargs = {
        "input_ids": input_ids.to(device),
        "decoder_input_ids": torch.tensor([decoder_ids], dtype=torch.long, device=device),
    }
    if "attention_mask" in encoding:
        kwargs["attention_mask"] = encoding["attention_mask"].to(device)

    with eval_mode(model), eager_attention(model) as previous_impl, torch.no_grad():
        try:
            outputs = model(**kwargs, output_attentions=True, return_dict=True, use_cache=False)
        except TypeError as exc:
            raise ValueError(f"this model cannot return attention (output_attentions=True failed: {exc})") from exc

    encoder = _stack(getattr(outputs, "encoder_attentions", None), "encoder")
    decoder = _stack(getattr(outputs, "decoder_attentions", None), "decoder")
    cross = _stack(getattr(outputs, "cross_attentions", None), "cross")
    del outputs
    if encoder.shape[-2:] != (n, n) or decoder.shape[-2:] != (m, m) or cross.shape[-2:] != (m, n):
        raise ValueError(
            f"unexpected attention shapes: encoder {encoder.shape}, decoder {decoder.shape}, cross {cross.shape} "
            f"for {n} encoder and {m} decoder tokens"
        )

    special_ids = {int(i) for i in (getattr(tokenizer, "all_special_ids", None) or [])}
    tokens = tuple(str(t) for t in tokenizer.convert_ids_to_tokens(input_ids[0].tolist()))
    decoder_tokens = tuple(str(t) for t in tokenizer.convert_ids_to_tokens(decoder_ids))
    special = np.asarray(encoding["special_tokens_mask"][0].tolist(), dtype=bool)
    decoder_special = np.array([i in special_ids or k == 0 for k, i in enumerate(decoder_ids)], dtype=bool)
    model_type = getattr(config, "model_type", None) or type(model).__name__
    info = ModelInfo(
        model_type=str(model_type),
        name_or_path=str(getattr(config, "_name_or_path", "") or ""),
        num_layers=int(encoder.shape[0]),
        num_heads=int(encoder.shape[1]),
        max_length=limit,
        is_causal=False,
        is_encoder_decoder=True,
        attn_implementation=previous_impl,
    )
    return AttentionResult(
        tokens=tokens,
        attention=encoder,
        token_type_ids=np.zeros(n, dtype=np.int64),
        special_tokens_mask=special,
        sentence_b_start=None,
        num_truncated=max(0, full_length - n),
        info=info,
        text=text,
        text_pair=target_text,
        decoder_tokens=decoder_tokens,
        decoder_attention=decoder,
        cross_attention=cross,
        decoder_special_tokens_mask=decoder_special,
    )
