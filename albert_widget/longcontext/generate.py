"""``capture_generate``: generate text and keep the attention of every generated token to everything
before it, in the compact form.

The model generates with its own fast path and key/value cache (``model.generate``). On the way, the
attention hooks keep each call's new queries and the keys it appended to the cache: the prompt's at
prefill, one token's per step. The last generated token is never fed back by ``generate``, so one
more step with the returned cache records its row too. The queries and keys are thus exactly those
the generation used. Where the cache does not append (a static cache keeps a fixed-size buffer), the
whole sequence is run once more as a single forward pass instead.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .budget import attention_shape, estimate, plan
from .compact import CompactAttention
from .engine import (
    _Arrays,
    _result,
    accepts,
    compact_from_ids,
    model_dtype_device,
    own_copy,
    resolve_store_dtype,
    tokenize,
    with_model_state,
)
from .hooks import LayerParams, UnsupportedModelError, recording
from .summaries import layer_pass

__all__ = ["capture_generate"]


def capture_generate(
    model: Any,
    tokenizer: Any,
    prompt: str,
    max_new_tokens: int = 32,
    *,
    memory_budget: int | None = None,
    top_k: int = 4,
    num_sink_tokens: int = 1,
    store_dtype: Any = None,
    chunk_elements: int | None = None,
    **generate_kwargs: Any,
) -> CompactAttention:
    """Generate up to ``max_new_tokens`` after ``prompt`` (greedy unless ``generate_kwargs`` say
    otherwise) and return a :class:`CompactAttention` over prompt + generated tokens.

    ``result.generated`` (bool ``[N]``) marks the generated tokens, ``result.prompt_length`` counts
    the prompt's; ``result.text`` is the prompt. The cost of prompt + ``max_new_tokens`` tokens is
    checked against ``memory_budget`` before anything runs (:class:`.budget.CompactTooLargeError`).
    Other arguments as :func:`.engine.capture_compact`.
    """
    import torch

    from ..forward import validate_text

    validate_text(prompt, "prompt")
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be a positive int, got {max_new_tokens!r}")
    if not callable(getattr(model, "generate", None)):
        raise TypeError("capture_generate() needs a model that can generate (a ...ForCausalLM)")
    ids, _, _, _ = tokenize(tokenizer, prompt, None)
    prompt_length = int(ids.shape[1])
    shape = attention_shape(model)
    dtype, device = model_dtype_device(model)
    store = resolve_store_dtype(store_dtype, dtype)
    chunk = chunk_elements
    cost = estimate(shape, prompt_length + max_new_tokens, store_bytes=torch.finfo(store).bits // 8, top_k=top_k, chunk_elements=chunk)
    plan(cost, memory_budget, allow_dense=False)

    L = shape.num_layers
    q_parts: list[list[Any]] = [[] for _ in range(L)]
    k_parts: list[list[Any]] = [[] for _ in range(L)]
    counts = [0] * L
    params: list[LayerParams | None] = [None] * L
    state = {"appends": True}

    def on_call(layer: int, query: Any, key: Any, p: LayerParams) -> None:
        if layer >= L or query.shape[0] != 1:
            state["appends"] = False
            return
        t, total = int(query.shape[2]), int(key.shape[2])
        after = counts[layer] + t
        # A growing cache hands over everything so far (a sliding-window layer: the window and the
        # new keys), the new keys last. Anything else (a static buffer) cannot be read this way.
        if total > after or total < t or (p.sliding_window is None and total != after):
            state["appends"] = False
            return
        counts[layer] = after
        params[layer] = params[layer] or p
        q_parts[layer].append(own_copy(query[0].to(store)))
        k_parts[layer].append(own_copy(key[0, :, total - t :].to(store)))

    options = dict(generate_kwargs)
    options.setdefault("do_sample", False)
    pad = getattr(tokenizer, "pad_token_id", None)
    if pad is None:
        pad = getattr(tokenizer, "eos_token_id", None)
    if pad is not None:
        options.setdefault("pad_token_id", pad)
    cache_name = "cache" if accepts(model, "cache") else "past_key_values"

    def run() -> Any:
        with recording(model, on_call):
            out = model.generate(ids.to(device), max_new_tokens=max_new_tokens, return_dict_in_generate=True, use_cache=True, **options)
            sequences = out.sequences
            cache = getattr(out, "cache", None) or getattr(out, "past_key_values", None)
            if sequences.shape[1] > prompt_length and cache is not None and state["appends"]:
                # generate() never feeds its last token back: one more step records that token's row.
                model(input_ids=sequences[:, -1:], use_cache=True, **{cache_name: cache})
            elif sequences.shape[1] > prompt_length:
                state["appends"] = False
        return sequences

    sequences = with_model_state(model, run)
    seq = sequences[0].detach().cpu()
    n = int(seq.shape[0])
    generated = np.zeros(n, dtype=bool)
    generated[prompt_length:] = True
    tokens = tuple(str(t) for t in tokenizer.convert_ids_to_tokens(seq.tolist()))
    special_ids = set(getattr(tokenizer, "all_special_ids", []) or [])
    special = np.array([i in special_ids for i in seq.tolist()], dtype=bool)
    common = dict(
        memory_budget=memory_budget, top_k=top_k, num_sink_tokens=num_sink_tokens, store_dtype=store_dtype, chunk_elements=chunk_elements
    )

    if not state["appends"] or any(c != n for c in counts):
        # Teacher-forced: one forward pass over the whole sequence gives the same attention.
        result = compact_from_ids(model, seq, tokens=tokens, special_tokens_mask=special, text=prompt, **common)
        return _with_generated(result, generated)

    arrays = _Arrays(L, shape.num_heads, n, top_k)
    queries, keys = [], []
    for layer in range(L):
        q = torch.cat(q_parts[layer], dim=1)
        k = torch.cat(k_parts[layer], dim=1)
        q_parts[layer] = k_parts[layer] = []  # let each layer's pieces go as soon as they are joined
        arrays.put(
            layer, layer_pass(q.to(device), k.to(device), params[layer], top_k=top_k, num_sink_tokens=num_sink_tokens, chunk_elements=chunk)
        )
        queries.append(q)
        keys.append(k)
    if any(p is None for p in params):
        raise UnsupportedModelError("some layers never called transformers' attention interface")
    return _result(model, seq, queries, keys, params, arrays, tokens, special, prompt, 0, None, memory_budget, num_sink_tokens, generated)


def _with_generated(result: CompactAttention, generated: np.ndarray) -> CompactAttention:
    import dataclasses

    return dataclasses.replace(result, generated=generated)
