"""Compact captures: one forward pass (or a generation) recorded as queries, keys, row log-sum-exp
and per-head summaries.

The model runs with its own attention implementation (sdpa by default: the fast path, which never
materialises weights); :mod:`.hooks` hands over each layer's post-rotary queries and keys on the
way in. For a forward pass each layer's streaming pass (:mod:`.summaries`) runs right there, on the
model's device, while that layer's queries and keys are at hand; then they are copied to the CPU
once, in the stored dtype. The user's model comes back as it was: training flags restored, the
attention implementation never changed, the hooks gone.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

from ..result import ModelInfo
from .budget import attention_shape, estimate, plan
from .compact import CompactAttention, HeadSummaries
from .hooks import LayerParams, UnsupportedModelError, recording
from .summaries import ROW_STATS, layer_pass

__all__ = ["capture_compact", "compact_from_ids", "resolve_store_dtype", "row_statistics"]


def resolve_store_dtype(store_dtype: Any, model_dtype: Any) -> Any:
    """The dtype queries and keys are kept in: ``None`` -> float32 for a float32 model, the model's own
    dtype for a bfloat16/float16 one (what it computed; half the memory); or ``"float32"``."""
    import torch

    if store_dtype is None:
        return model_dtype if model_dtype in (torch.bfloat16, torch.float16) else torch.float32
    table = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
    if isinstance(store_dtype, str):
        if store_dtype not in table:
            raise ValueError(f"store_dtype must be None, 'float32', 'bfloat16' or 'float16', got {store_dtype!r}")
        store_dtype = table[store_dtype]
    if store_dtype not in table.values():
        raise ValueError(f"store_dtype must be a float dtype, got {store_dtype!r}")
    if torch.finfo(store_dtype).bits < torch.finfo(model_dtype).bits:
        raise ValueError(f"store_dtype {store_dtype} would round the model's {model_dtype} queries; the weights would no longer be exact")
    return store_dtype


def model_dtype_device(model: Any) -> tuple[Any, Any]:
    import torch

    try:
        p = next(model.parameters())
        return p.dtype, p.device
    except (StopIteration, AttributeError):
        return torch.float32, torch.device("cpu")


class _Arrays:
    """The numpy side of a compact result, preallocated for ``L`` layers, ``H`` heads, ``n`` rows."""

    def __init__(self, L: int, H: int, n: int, top_k: int) -> None:
        self.lse = np.empty((L, H, n), dtype=np.float32)
        self.rows = {name: np.empty((L, H, n), dtype=np.float32) for name in ROW_STATS}
        self.topk_index = np.empty((L, H, n, top_k), dtype=np.int32)
        self.topk_weight = np.empty((L, H, n, top_k), dtype=np.float32)

    def put(self, layer: int, stats: dict[str, Any]) -> None:
        self.lse[layer] = stats["lse"].cpu().numpy()
        for name in ROW_STATS:
            self.rows[name][layer] = stats[name].cpu().numpy()
        self.topk_index[layer] = stats["topk_index"].cpu().numpy()
        self.topk_weight[layer] = stats["topk_weight"].cpu().numpy()


def _model_info(model: Any, L: int, H: int, max_length: int | None) -> ModelInfo:
    config = getattr(model, "config", None)
    return ModelInfo(
        model_type=str(getattr(config, "model_type", None) or type(model).__name__),
        name_or_path=str(getattr(config, "_name_or_path", "") or ""),
        num_layers=L,
        num_heads=H,
        max_length=max_length,
        is_causal=True,
        attn_implementation=getattr(config, "_attn_implementation", None),
    )


def own_copy(t: Any) -> Any:
    """A contiguous CPU tensor of its own: never a view that would keep the model's larger buffer
    (GPT-2's fused query/key/value output) alive."""
    import torch

    if t.device.type != "cpu":
        return t.to("cpu").contiguous()
    return t.clone(memory_format=torch.contiguous_format)


def accepts(model: Any, name: str) -> bool:
    params = inspect.signature(model.forward).parameters
    return name in params


def with_model_state(model: Any, run: Callable[[], Any]) -> Any:
    """``run()`` in eval mode and without gradients; every module's ``training`` flag put back."""
    import torch

    states = [(m, m.training) for m in model.modules()]
    try:
        model.eval()
        with torch.no_grad():
            return run()
    finally:
        for m, training in states:
            m.training = training


def _one_sequence(input_ids: Any) -> Any:
    """``input_ids`` (``[N]`` or ``[1, N]``) as a ``[1, N]`` tensor; ValueError for anything else."""
    import torch

    ids = torch.as_tensor(input_ids)
    if ids.dim() == 1:
        ids = ids[None]
    if ids.dim() != 2 or ids.shape[0] != 1:
        raise ValueError(f"input_ids must be [N] or [1, N], got {tuple(ids.shape)}")
    return ids


def _each_layer(model: Any, ids: Any, num_layers: int, use: Callable[[int, Any, Any, LayerParams], None], what: str) -> None:
    """Run ``model`` once on ``ids`` ``[1, N]`` (eval, no gradients, no cache, no logits beyond the
    last) and call ``use(layer, query [H, N, d], key [KV, N, d], params)`` once per layer, before
    that layer's attention runs. Raises :class:`UnsupportedModelError` when the attention calls are not
    one full-length call per layer (``what``: what could not be done, for the message)."""
    n = int(ids.shape[1])
    seen: set[int] = set()
    problems: list[str] = []

    def on_layer(layer: int, query: Any, key: Any, p: LayerParams) -> None:
        if problems:
            return
        if layer >= num_layers or query.shape[0] != 1 or query.shape[2] != n or key.shape[2] != n or layer in seen:
            problems.append(
                f"attention call {layer} got query {tuple(query.shape)} and key {tuple(key.shape)} for {n} tokens and {num_layers} layers"
            )
            return
        seen.add(layer)
        use(layer, query[0], key[0], p)

    _, device = model_dtype_device(model)
    kwargs: dict[str, Any] = {"input_ids": ids.to(device)}
    kwargs["use_cache"] = False  # no key/value cache: the keys are kept by the caller, once
    if accepts(model, "logits_to_keep"):
        kwargs["logits_to_keep"] = 1  # no logits needed: skip the [N, vocab] matrix

    def run() -> None:
        with recording(model, on_layer):
            model(**kwargs)

    with_model_state(model, run)
    if problems:
        raise UnsupportedModelError(problems[0])
    missing = [layer for layer in range(num_layers) if layer not in seen]
    if missing:
        raise UnsupportedModelError(
            f"{len(missing)} of {num_layers} layers never called transformers' attention interface (first: layer {missing[0]}); {what}"
        )


def compact_from_ids(
    model: Any,
    input_ids: Any,
    *,
    tokens: tuple[str, ...] | None = None,
    special_tokens_mask: np.ndarray | None = None,
    text: str | None = None,
    num_truncated: int = 0,
    max_length: int | None = None,
    memory_budget: int | None = None,
    top_k: int = 4,
    num_sink_tokens: int = 1,
    store_dtype: Any = None,
    chunk_elements: int | None = None,
) -> CompactAttention:
    """One forward pass of ``input_ids`` (``[1, N]`` or ``[N]``) kept compact. Checks the cost first
    (:func:`.budget.plan`, compact form only) and raises before running when it would not fit."""
    import torch

    ids = _one_sequence(input_ids)
    n = int(ids.shape[1])
    shape = attention_shape(model)
    dtype, _device = model_dtype_device(model)
    store = resolve_store_dtype(store_dtype, dtype)
    cost = estimate(shape, n, store_bytes=torch.finfo(store).bits // 8, top_k=top_k, chunk_elements=chunk_elements)
    plan(cost, memory_budget, allow_dense=False)

    L, H = shape.num_layers, shape.num_heads
    arrays = _Arrays(L, H, n, top_k)
    queries: list[Any] = [None] * L
    keys: list[Any] = [None] * L
    params: list[Any] = [None] * L

    def keep(layer: int, query: Any, key: Any, p: LayerParams) -> None:
        q = query.to(store)
        k = key.to(store)
        # The statistics and lse come from the stored values, so recomputed weights match them.
        arrays.put(layer, layer_pass(q, k, p, top_k=top_k, num_sink_tokens=num_sink_tokens, chunk_elements=chunk_elements))
        queries[layer] = own_copy(q)
        keys[layer] = own_copy(k)
        params[layer] = p

    _each_layer(model, ids, L, keep, "this model's attention cannot be kept compact")
    return _result(
        model,
        ids[0],
        queries,
        keys,
        params,
        arrays,
        tokens,
        special_tokens_mask,
        text,
        num_truncated,
        max_length,
        memory_budget,
        num_sink_tokens,
        np.zeros(n, dtype=bool),
    )


def _result(
    model: Any,
    ids: Any,
    queries: list[Any],
    keys: list[Any],
    params: list[Any],
    arrays: _Arrays,
    tokens: tuple[str, ...] | None,
    special: np.ndarray | None,
    text: str | None,
    num_truncated: int,
    max_length: int | None,
    memory_budget: int | None,
    num_sink_tokens: int,
    generated: np.ndarray,
) -> CompactAttention:
    n = int(ids.shape[0])
    id_list = ids.tolist()
    if tokens is None:
        tokens = tuple(str(i) for i in id_list)
    L, H = len(queries), int(queries[0].shape[0])
    return CompactAttention(
        tokens=tuple(tokens),
        input_ids=np.asarray(id_list, dtype=np.int64),
        queries=tuple(queries),
        keys=tuple(keys),
        lse=arrays.lse,
        params=tuple(params),
        summaries=HeadSummaries(
            rows=arrays.rows, topk_index=arrays.topk_index, topk_weight=arrays.topk_weight, num_sink_tokens=num_sink_tokens
        ),
        generated=generated,
        special_tokens_mask=special if special is not None else np.zeros(n, dtype=bool),
        info=_model_info(model, L, H, max_length),
        text=text,
        num_truncated=num_truncated,
        memory_budget=memory_budget,
    )


def tokenize(tokenizer: Any, text: str, max_length: int | None) -> tuple[Any, tuple[str, ...], np.ndarray, int]:
    """``(input_ids [1, N], tokens, special mask, tokens dropped)`` of ``text``, cut to ``max_length``."""
    options = dict(return_tensors="pt", return_special_tokens_mask=True, verbose=False)
    enc = tokenizer(text, **options)
    full = int(enc["input_ids"].shape[1])
    if max_length is not None and full > max_length:
        enc = tokenizer(text, truncation=True, max_length=max_length, **options)
    ids = enc["input_ids"]
    tokens = tuple(str(t) for t in tokenizer.convert_ids_to_tokens(ids[0].tolist()))
    special = np.asarray(enc["special_tokens_mask"][0].tolist(), dtype=bool)
    return ids, tokens, special, max(0, full - int(ids.shape[1]))


def capture_compact(
    model: Any,
    tokenizer: Any,
    text: str,
    *,
    max_length: int | None = None,
    memory_budget: int | None = None,
    top_k: int = 4,
    num_sink_tokens: int = 1,
    store_dtype: Any = None,
    chunk_elements: int | None = None,
) -> CompactAttention:
    """Run a decoder model on ``text`` and keep its attention compact (:class:`CompactAttention`),
    whatever its length.

    ``memory_budget`` (bytes, default :data:`.budget.DEFAULT_MEMORY_BUDGET`): the most the result may
    hold; a request over it (or over the memory the system has free) raises
    :class:`.budget.CompactTooLargeError` before anything runs. ``top_k``: heaviest keys kept per row;
    ``num_sink_tokens``: how many first tokens count as the sink; ``store_dtype``: see
    :func:`resolve_store_dtype`.
    """
    from ..forward import model_max_length, validate_text

    validate_text(text, "text")
    limit = model_max_length(model, tokenizer)
    if max_length is not None:
        limit = max_length if limit is None else min(limit, max_length)
    ids, tokens, special, dropped = tokenize(tokenizer, text, limit)
    return compact_from_ids(
        model,
        ids,
        tokens=tokens,
        special_tokens_mask=special,
        text=text,
        num_truncated=dropped,
        max_length=limit,
        memory_budget=memory_budget,
        top_k=top_k,
        num_sink_tokens=num_sink_tokens,
        store_dtype=store_dtype,
        chunk_elements=chunk_elements,
    )


def row_statistics(model: Any, input_ids: Any, *, num_sink_tokens: int = 1, chunk_elements: int | None = None) -> dict[str, np.ndarray]:
    """The per-row statistics of one forward pass, without keeping queries or keys: float32
    ``[L, H, N]`` for each name of :data:`.summaries.ROW_STATS` (the same numbers a
    :func:`compact_from_ids` capture keeps in ``summaries.rows``). What corpus analyses over many long
    texts need; memory is the forward's own plus one layer's streaming chunk."""
    ids = _one_sequence(input_ids)
    L = attention_shape(model).num_layers
    rows: dict[str, list[Any]] = {name: [None] * L for name in ROW_STATS}

    def keep(layer: int, query: Any, key: Any, p: LayerParams) -> None:
        stats = layer_pass(query, key, p, top_k=0, num_sink_tokens=num_sink_tokens, chunk_elements=chunk_elements)
        for name in ROW_STATS:
            rows[name][layer] = stats[name].cpu().numpy()

    _each_layer(model, ids, L, keep, "this model's per-head statistics cannot be streamed")
    return {name: np.stack(per_layer) for name, per_layer in rows.items()}
