"""Head importance (Michel, Levy & Neubig, "Are Sixteen Heads Really Better than One?", NeurIPS 2019)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from ..extras import require
from ._common import (
    attention_blocks,
    check_model,
    collate,
    distinct,
    eval_mode,
    forward_kwargs,
    model_dtype,
    split_texts,
    tokenize_each,
)
from .causal_lm import causal_lm_per_example_loss, is_causal_lm
from .engines import check_engine, run_shards
from .partial import Partial
from .shards import DEFAULT_SHARD_SIZE, ShardTask, check_batch_size, plan_shards, task_config

__all__ = ["head_gates", "head_importance"]


@contextlib.contextmanager
def head_gates(model: Any, gates: Any) -> Iterator[Any]:
    """Multiply every head's context vector by a gate ``ξ`` while the context is active.

    ``gates``: ``[L, H]`` (one gate per layer and head) or ``[B, L, H]`` (one per example of the batch),
    a torch tensor (it may require grad: the gated forward pass is differentiable in it) or array-like.
    ``ξ = 1`` changes nothing, ``ξ = 0`` switches a head off. transformers 5 has no ``head_mask``: the gate
    is a forward pre-hook on the attention's output projection (ALBERT: the shared ``attention.dense``,
    whose hook fires once per layer and is indexed by call order; BERT family:
    ``encoder.layer[l].attention.output.dense``), applied to its input, the concatenated per-head context
    ``[B, N, H·d]``. Works with any attention implementation.
    """
    torch = require("torch")

    blocks = attention_blocks(model)
    num_layers, num_heads = len(blocks), blocks[0].num_heads
    gates = gates if isinstance(gates, torch.Tensor) else torch.as_tensor(np.asarray(gates, dtype=np.float64))
    if gates.ndim not in (2, 3) or tuple(gates.shape[-2:]) != (num_layers, num_heads):
        raise ValueError(
            f"gates must be shaped [{num_layers}, {num_heads}] or [batch, {num_layers}, {num_heads}], got {tuple(gates.shape)}"
        )
    state = {"call": 0}

    def reset(module, args):
        state["call"] = 0

    def gate(module, args):
        index = state["call"] % num_layers
        state["call"] += 1
        block = blocks[index]
        if block.output is not module:
            raise RuntimeError("attention calls ran in an unexpected order")
        context = args[0]
        g = gates[..., index, :].to(device=context.device, dtype=context.dtype)
        if g.ndim == 2:
            if g.shape[0] != context.shape[0]:
                raise ValueError(f"gates have a batch of {g.shape[0]} but the input has {context.shape[0]} examples")
            g = g[:, None, :, None]
        else:
            g = g[:, None]
        shape = context.shape
        gated = (context.reshape(*shape[:-1], block.num_heads, block.head_dim) * g).reshape(shape)
        return (gated, *args[1:])

    handles = [model.register_forward_pre_hook(reset)]
    handles += [m.register_forward_pre_hook(gate) for m in distinct([b.output for b in blocks])]
    try:
        yield model
    finally:
        for h in handles:
            h.remove()


def _kind(model: Any, labels: Any) -> str:
    name = type(model).__name__
    if name.endswith("ForMaskedLM"):
        if labels is not None:
            raise ValueError(
                "labels are not used with a masked-LM model: head_importance masks 15% of the tokens itself "
                "(mlm_probability=, seed=) and uses the MLM loss"
            )
        return "mlm"
    if name.endswith("ForSequenceClassification"):
        return "classification"
    if is_causal_lm(model):
        if labels is not None:
            raise ValueError("labels are not used with a causal LM: head_importance uses its next-token loss on each text")
        return "causal"
    raise ValueError(
        f"head_importance needs a loss and {name} has no head to compute one: use a *ForSequenceClassification "
        "model (with labels=, or without: its own predictions serve as labels) or a *ForMaskedLM model (MLM loss "
        "on 15% masked tokens). For a base ALBERT, load AlbertForMaskedLM from the same checkpoint."
    )


def _mask_tokens(
    tokenizer: Any, ids: Sequence[Sequence[int]], special: Sequence[Sequence[int]], probability: float, seed: int, first: int = 0
):
    """Deterministic MLM masking: for each text ``max(1, round(p·n))`` of its ``n`` non-special tokens are
    replaced by the mask token, drawn with ``numpy.random.default_rng([seed, k])`` where ``k = first + i``
    is the text's index in the corpus: the masks of a text do not depend on how the corpus is sharded.
    Returns ``(masked ids, labels)`` with ``-100`` where nothing is predicted."""
    mask_id = getattr(tokenizer, "mask_token_id", None)
    if mask_id is None:
        raise ValueError("the tokenizer has no mask token, so no masked-LM loss can be computed")
    if not 0.0 < probability <= 1.0:
        raise ValueError(f"mlm_probability must be in (0, 1], got {probability}")
    masked, labels = [], []
    for i, (row, spec) in enumerate(zip(ids, special)):
        rng = np.random.default_rng([seed, first + i])
        candidates = [i for i, s in enumerate(spec) if not s]
        if not candidates:
            raise ValueError("a text has no ordinary tokens to mask")
        k = max(1, round(probability * len(candidates)))
        chosen = sorted(int(c) for c in rng.choice(candidates, size=k, replace=False))
        new, lab = list(row), [-100] * len(row)
        for c in chosen:
            lab[c] = int(row[c])
            new[c] = int(mask_id)
        masked.append(new)
        labels.append(lab)
    return masked, labels


def _per_example_loss(kind: str, logits: Any, labels: Any, problem_type: str | None):
    require("torch")
    F = require("torch.nn.functional")

    if kind == "mlm":
        logp = F.log_softmax(logits, dim=-1)
        valid = labels != -100
        picked = logp.gather(-1, labels.clamp(min=0)[..., None])[..., 0]
        return -(picked * valid).sum(-1) / valid.sum(-1).clamp(min=1)
    if problem_type == "regression" or logits.shape[-1] == 1:
        return ((logits.squeeze(-1) - labels.to(logits.dtype)) ** 2).reshape(logits.shape[0], -1).mean(-1)
    return F.cross_entropy(logits, labels.long(), reduction="none")


def head_importance(
    model: Any,
    tokenizer: Any,
    texts: Any,
    labels: Sequence[Any] | None = None,
    *,
    normalize: bool = True,
    batch_size: int = 8,
    mlm_probability: float = 0.15,
    seed: int = 0,
    device: Any = None,
    progress: bool = False,
    engine: str | None = None,
    shard_size: int = DEFAULT_SHARD_SIZE,
    checkpoint: str | os.PathLike | None = None,
    client: Any = None,
    num_workers: int | None = None,
) -> np.ndarray:
    """Importance of every head: ``I_h = mean over examples |∂L(x)/∂ξ_h|``, float64 ``[L, H]``.

    A gate ``ξ_h = 1`` multiplies each head's context (see :func:`head_gates`); the per-example loss
    ``L(x)`` is differentiated with respect to it. Every example has its own gates, so a batch gives
    per-example gradients in one backward pass.

    The loss:

    * ``*ForSequenceClassification``: cross-entropy with ``labels`` (one int per text; floats and MSE for
      a regression head). Without labels the model's own predicted classes are used (a self-supervised
      proxy: the loss of keeping its decision).
    * ``*ForMaskedLM`` (``labels`` must be ``None``): the MLM loss on ``max(1, round(mlm_probability·n))``
      of each text's ``n`` non-special tokens, replaced by the mask token; positions drawn with
      ``numpy.random.default_rng([seed, k])`` for the corpus's ``k``-th text, so the result is
      deterministic and the same however the corpus is sharded.
    * causal LMs (``GPT2LMHeadModel``, ``*ForCausalLM``; ``labels`` must be ``None``): the mean
      next-token loss over each text's real tokens.
    * base models without a head (``AlbertModel``, the packaged MiniLM): ``ValueError``, since they
      have no loss.

    ``texts``: a list or iterable of strings or ``(text, text_pair)`` tuples, or files
    (:func:`~albert_widget.analysis.corpus_files`, labels then in ``label_column``).
    ``normalize=True`` divides each layer's importances by their L2 norm, as the authors' code does
    (after the sums of every shard are merged). The model runs in eval mode (restored) on ``device``
    (default: GPU when available; moved back afterwards); parameters get no ``.grad``.

    ``engine`` (``None``, ``"ray"``, ``"dask"``), ``shard_size``, ``checkpoint``, ``client``,
    ``num_workers``: as for :func:`~albert_widget.analysis.head_stats`; the shards' sums of ``|∂L/∂ξ|``
    and their text counts merge exactly.
    """
    require("torch")  # a clear error naming the extra, before anything else
    check_model(model, tokenizer)
    kind = _kind(model, labels)
    check_engine(engine)
    check_batch_size(batch_size)
    if kind == "mlm" and not 0.0 < mlm_probability <= 1.0:
        raise ValueError(f"mlm_probability must be in (0, 1], got {mlm_probability}")
    problem_type = getattr(model.config, "problem_type", None)
    if kind == "classification" and labels is None and (problem_type == "regression" or model.config.num_labels == 1):
        raise ValueError("a regression head has no predicted class to serve as a label: pass labels=")
    if labels is not None:
        if isinstance(texts, str):
            raise TypeError("texts must be a list of strings (got one string: wrap it in a list)")
        texts, labels = list(texts), list(labels)
        if len(labels) != len(texts):
            raise ValueError(f"got {len(labels)} labels for {len(texts)} texts")
    options = {
        "kind": kind,
        "batch_size": batch_size,
        "mlm_probability": float(mlm_probability),
        "seed": int(seed),
        "problem_type": problem_type,
    }
    config = task_config(model, **options, labels=labels is not None)
    task = ShardTask("head_importance", importance_of_texts, model, tokenizer, options, config, device)
    partial = run_shards(
        task,
        plan_shards(texts, shard_size, labels),
        engine=engine,
        checkpoint=checkpoint,
        progress=progress,
        client=client,
        num_workers=num_workers,
    )
    return importance_from_partial(partial, normalize=normalize)


def importance_from_partial(partial: Partial, normalize: bool = True) -> np.ndarray:
    """Head importance ``[L, H]`` from a (merged) ``head_importance`` partial: the sum of ``|∂L/∂ξ|`` over
    texts divided by their number, then (``normalize``) each layer divided by its L2 norm."""
    if partial.kind != "head_importance":
        raise ValueError(f"expected a head_importance partial, got {partial.kind}")
    importance = partial.sums["abs_grad"] / partial.counts["texts"]
    if normalize:
        norms = np.linalg.norm(importance, axis=1, keepdims=True)
        importance = importance / (norms + 1e-20)
    return importance


def importance_of_texts(
    model: Any,
    tokenizer: Any,
    texts: list,
    labels: list | None,
    first: int,
    device: Any,
    on_batch: Any = None,
    *,
    kind: str,
    batch_size: int,
    mlm_probability: float,
    seed: int,
    problem_type: str | None,
) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """The shard computation of :func:`head_importance` (every engine runs this): the texts ``first ..``
    of the corpus (strings or pairs; ``labels`` one per text or ``None``) through ``model`` (already on
    ``device``) in batches of ``batch_size`` -> ``({"abs_grad": float64 [L, H] sum over texts of
    |∂L(x)/∂ξ|}, {"texts": count})``."""
    import torch

    firsts, seconds = split_texts(texts)
    items = tokenize_each(model, tokenizer, firsts, seconds)
    token_labels = None
    if kind == "mlm":
        masked, token_labels = _mask_tokens(
            tokenizer,
            [it["input_ids"] for it in items],
            [it["special_tokens_mask"] for it in items],
            mlm_probability,
            seed,
            first,
        )
        items = [{**it, "input_ids": m} for it, m in zip(items, masked)]
    pad_id = getattr(tokenizer, "pad_token_id", None)

    blocks = attention_blocks(model)
    num_layers, num_heads = len(blocks), blocks[0].num_heads
    total = torch.zeros(num_layers, num_heads, dtype=torch.float64)
    with eval_mode(model), torch.enable_grad():
        for start in range(0, len(firsts), batch_size):
            rows = list(range(start, min(start + batch_size, len(firsts))))
            batch = collate([items[i] for i in rows], pad_id, None if token_labels is None else [token_labels[i] for i in rows])
            kwargs = forward_kwargs(model, batch, device)
            gates = torch.ones(len(rows), num_layers, num_heads, dtype=model_dtype(model), device=device, requires_grad=True)
            with head_gates(model, gates):
                outputs = model(**kwargs, return_dict=True)
            logits = outputs.logits
            if kind == "causal":
                mask = batch.get("attention_mask")
                loss = causal_lm_per_example_loss(logits, batch["input_ids"].to(device), None if mask is None else mask.to(device))
            else:
                if kind == "mlm":
                    target = batch["labels"].to(device)
                elif labels is not None:
                    target = torch.as_tensor([labels[i] for i in rows], device=device)
                else:
                    target = logits.detach().argmax(-1)
                loss = _per_example_loss(kind, logits, target, problem_type)
            (grad,) = torch.autograd.grad(loss.sum(), gates)
            total += grad.detach().abs().sum(0).to("cpu", torch.float64)
            if on_batch is not None:
                on_batch(len(rows))
    return {"abs_grad": total.numpy()}, {"texts": len(firsts)}
