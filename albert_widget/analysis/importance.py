"""Head importance (Michel, Levy & Neubig, "Are Sixteen Heads Really Better than One?", NeurIPS 2019)."""

from __future__ import annotations

import contextlib
from typing import Any, Iterator, Sequence

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
    on_device,
    pick_device,
    progress_bar,
    split_texts,
    tokenize_each,
)

__all__ = ["head_importance", "head_gates"]


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
        raise ValueError(f"gates must be shaped [{num_layers}, {num_heads}] or [batch, {num_layers}, {num_heads}], got {tuple(gates.shape)}")
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
    raise ValueError(
        f"head_importance needs a loss and {name} has no head to compute one: use a *ForSequenceClassification "
        "model (with labels=, or without: its own predictions serve as labels) or a *ForMaskedLM model (MLM loss "
        "on 15% masked tokens). For a base ALBERT, load AlbertForMaskedLM from the same checkpoint."
    )


def _mask_tokens(tokenizer: Any, ids: Sequence[Sequence[int]], special: Sequence[Sequence[int]], probability: float, seed: int):
    """Deterministic MLM masking: for each text (in order) ``max(1, round(p·n))`` of its ``n`` non-special
    tokens are replaced by the mask token. Returns ``(masked ids, labels)`` with ``-100`` where nothing
    is predicted."""
    mask_id = getattr(tokenizer, "mask_token_id", None)
    if mask_id is None:
        raise ValueError("the tokenizer has no mask token, so no masked-LM loss can be computed")
    if not 0.0 < probability <= 1.0:
        raise ValueError(f"mlm_probability must be in (0, 1], got {probability}")
    rng = np.random.default_rng(seed)
    masked, labels = [], []
    for row, spec in zip(ids, special):
        candidates = [i for i, s in enumerate(spec) if not s]
        if not candidates:
            raise ValueError("a text has no ordinary tokens to mask")
        k = max(1, int(round(probability * len(candidates))))
        chosen = sorted(int(c) for c in rng.choice(candidates, size=k, replace=False))
        new, lab = list(row), [-100] * len(row)
        for c in chosen:
            lab[c] = int(row[c])
            new[c] = int(mask_id)
        masked.append(new)
        labels.append(lab)
    return masked, labels


def _per_example_loss(kind: str, logits: Any, labels: Any, problem_type: str | None):
    torch = require("torch")
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
    texts: Sequence[Any],
    labels: Sequence[Any] | None = None,
    *,
    normalize: bool = True,
    batch_size: int = 8,
    mlm_probability: float = 0.15,
    seed: int = 0,
    device: Any = None,
    progress: bool = False,
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
      ``numpy.random.default_rng(seed)``, so the result is deterministic.
    * base models without a head (``AlbertModel``, the packaged MiniLM): ``ValueError``, since they
      have no loss.

    ``texts``: strings or ``(text, text_pair)`` tuples. ``normalize=True`` divides each layer's
    importances by their L2 norm, as the authors' code does. The model runs in eval mode (restored) on
    ``device`` (default: GPU when available; moved back afterwards); parameters get no ``.grad``.
    """
    torch = require("torch")

    check_model(model, tokenizer)
    kind = _kind(model, labels)
    firsts, seconds = split_texts(texts)
    if labels is not None:
        labels = list(labels)
        if len(labels) != len(firsts):
            raise ValueError(f"got {len(labels)} labels for {len(firsts)} texts")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    problem_type = getattr(model.config, "problem_type", None)
    if kind == "classification" and labels is None and (problem_type == "regression" or model.config.num_labels == 1):
        raise ValueError("a regression head has no predicted class to serve as a label: pass labels=")

    items = tokenize_each(model, tokenizer, firsts, seconds)
    token_labels = None
    if kind == "mlm":
        masked, token_labels = _mask_tokens(
            tokenizer, [it["input_ids"] for it in items], [it["special_tokens_mask"] for it in items], mlm_probability, seed
        )
        items = [{**it, "input_ids": m} for it, m in zip(items, masked)]
    pad_id = getattr(tokenizer, "pad_token_id", None)

    blocks = attention_blocks(model)
    num_layers, num_heads = len(blocks), blocks[0].num_heads
    total = torch.zeros(num_layers, num_heads, dtype=torch.float64)
    dev = pick_device(model, device)
    bar = progress_bar(len(firsts), progress, "head importance")
    try:
        with on_device(model, dev), eval_mode(model), torch.enable_grad():
            for start in range(0, len(firsts), batch_size):
                rows = list(range(start, min(start + batch_size, len(firsts))))
                batch = collate([items[i] for i in rows], pad_id, None if token_labels is None else [token_labels[i] for i in rows])
                kwargs = forward_kwargs(model, batch, dev)
                gates = torch.ones(len(rows), num_layers, num_heads, dtype=model_dtype(model), device=dev, requires_grad=True)
                with head_gates(model, gates):
                    outputs = model(**kwargs, return_dict=True)
                logits = outputs.logits
                if kind == "mlm":
                    target = batch["labels"].to(dev)
                elif labels is not None:
                    target = torch.as_tensor([labels[i] for i in rows], device=dev)
                else:
                    target = logits.detach().argmax(-1)
                loss = _per_example_loss(kind, logits, target, problem_type)
                (grad,) = torch.autograd.grad(loss.sum(), gates)
                total += grad.detach().abs().sum(0).to("cpu", torch.float64)
                bar.update(len(rows))
    finally:
        bar.close()
    importance = (total / len(firsts)).numpy()
    if normalize:
        norms = np.linalg.norm(importance, axis=1, keepdims=True)
        importance = importance / (norms + 1e-20)
    return importance
