"""Gradient-weighted attention relevancy (Chefer, Gur & Wolf, "Generic Attention-model Explainability
for Interpreting Bi-Modal and Encoder-Decoder Transformers", ICCV 2021; self-attention rule)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..extras import require
from ._common import accepted_inputs, eager_eval, encode_one, model_device

__all__ = ["STAND_IN", "Relevancy", "pooled_norm", "relevancy", "relevancy_matrix", "relevancy_note"]

#: ``Relevancy.kind`` of the stand-in a model without a prediction head explains (see :func:`pooled_norm`).
STAND_IN = "pooled-norm"


def pooled_norm(outputs: Any) -> Any:
    """The stand-in quantity relevancy explains for a model without a prediction head (``AlbertModel``,
    ``BertModel``, the packaged MiniLM): ``‖mean_i h_i‖``, the L2 norm of the mean-pooled last hidden
    state, i.e. how the sentence embedding (mean pooling, as sentence-transformers) is built.
    In: the model's outputs. Out: a scalar tensor."""
    hidden = outputs.last_hidden_state[0]
    return hidden.mean(dim=0).norm()


def relevancy_note(rel: Relevancy) -> str:
    """One line saying what ``rel`` explains (the widget shows it under the map)."""
    if rel.kind == STAND_IN:
        return (
            "this model has no head: relevancy of a stand-in, the length of the mean-pooled embedding; "
            "mean of the relevancy rows (Chefer et al. 2021)"
        )
    if rel.kind == "callable":
        return f"relevancy of the given target at {rel.position} (Chefer et al. 2021)"
    return f"relevancy of {rel.kind} target {rel.target} at token {rel.position} (Chefer et al. 2021)"


@dataclass(frozen=True, eq=False)
class Relevancy:
    """What :func:`relevancy` explains and its answer.

    ``scores`` (float64 ``[N]``) is the explanation: row ``position`` of ``matrix`` (or the mean of
    its rows when ``position == "mean"``); ``matrix`` (float64 ``[N, N]``) is the whole relevancy map
    ``R``; ``target`` the class / token id explained (``None`` for a callable target); ``kind``
    ``"sequence-classification"``, ``"token"`` (masked LM, causal LM, token classification),
    ``"callable"`` or ``"pooled-norm"`` (:data:`STAND_IN`, a model without a head);
    ``value`` the explained scalar (logit or the callable's value). ``np.asarray(r)`` gives ``scores``.
    """

    tokens: tuple[str, ...]
    scores: np.ndarray
    matrix: np.ndarray
    target: int | None
    position: int | str
    kind: str
    value: float

    def __array__(self, dtype=None, copy=None):
        return self.scores if dtype is None else self.scores.astype(dtype)


def relevancy_matrix(attentions: Any, gradients: Any) -> np.ndarray:
    """Chefer et al.'s rule from per-layer attention and gradients (first layer first).

    ``attentions``, ``gradients``: sequences of ``[H, N, N]`` (or ``[1, H, N, N]``) arrays/tensors,
    or ``[L, H, N, N]`` arrays. Returns float64 ``[N, N]``: ``R = I``; for each layer
    ``Ā = mean_h (∇A ⊙ A)⁺`` and ``R ← R + Ā·R``.
    """
    layers = []
    for a, g in zip(attentions, gradients, strict=True):
        a = _numpy(a)
        g = _numpy(g)
        if a.ndim == 4:
            a, g = a[0], g[0]
        layers.append((a, g))
    if not layers:
        raise ValueError("no layers given")
    n = layers[0][0].shape[-1]
    result = np.eye(n)
    for a, g in layers:
        cam = np.clip(g * a, 0.0, None).mean(axis=0)
        result = result + cam @ result
    return result


def _numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().to("cpu").double().numpy()
    return np.asarray(x, dtype=np.float64)


def relevancy(
    model: Any,
    tokenizer: Any,
    text: str,
    target: int | str | Callable[[Any], Any] | None = None,
    *,
    text_pair: str | None = None,
    position: int | str | None = None,
) -> Relevancy:
    """Explain one prediction with gradient-weighted attention relevancy.

    ``R = I`` (``[N, N]``); for each layer (first to last) ``Ā = mean_h (∇A ⊙ A)⁺`` with ``∇A`` the
    gradient of the explained scalar with respect to the layer's attention probabilities ``A``
    (``[H, N, N]``) and ``(·)⁺`` clamping at 0; ``R ← R + Ā·R``. The explanation is a row of ``R``.

    What is explained depends on the model's output:

    * sequence classification (``logits`` ``[1, C]``, e.g. ``AlbertForSequenceClassification``):
      ``target`` = class index (default: the predicted class); explained row ``position`` = 0,
      the ``[CLS]`` token.
    * masked LM / causal LM / token classification (``logits`` ``[1, N, V]``, e.g. ``AlbertForMaskedLM``,
      ``GPT2LMHeadModel``): ``position`` = the token explained (default: the first ``[MASK]``; for a
      causal LM the last token, whose logits predict the next one); ``target`` = a token id or token
      string (default: the top prediction at ``position``).
    * a callable ``target`` ``f(outputs) -> scalar tensor`` (any model), e.g. the cosine similarity of
      the mean-pooled embedding with a reference embedding; the explained row defaults to ``"mean"``
      (the mean of the rows of ``R``, matching mean pooling); pass ``position=0`` for a [CLS]-based
      quantity.
    * a model without a prediction head (``AlbertModel``, the packaged MiniLM) and ``target=None``: the
      documented stand-in :func:`pooled_norm` (the norm of the mean-pooled embedding), explained row
      ``"mean"``, ``kind`` ``"pooled-norm"``, exactly what the widget's explain view shows for such a
      model. An int or str ``target`` on such a model raises ``ValueError`` (there is no class or token).

    The forward pass runs in eval mode with eager attention (restored afterwards); gradients are taken
    with ``torch.autograd.grad`` on ``outputs.attentions`` (in transformers 5 these are the tensors of
    the graph), so the model's parameters get no ``.grad``.

    Returns
    -------
    Relevancy
        ``scores`` float64 ``[N]``, ``matrix`` float64 ``[N, N]``, ``tokens``, ``target``, ``position``.
    """
    torch = require("torch")

    encoding = encode_one(model, tokenizer, text, text_pair)
    ids = encoding["input_ids"]
    n = int(ids.shape[1])
    tokens = tuple(str(t) for t in tokenizer.convert_ids_to_tokens(ids[0].tolist()))
    kwargs = accepted_inputs(model, encoding, model_device(model))

    with eager_eval(model), torch.enable_grad(), _embeddings_require_grad(model):
        outputs = model(**kwargs, output_attentions=True, return_dict=True)
        attentions = tuple(getattr(outputs, "attentions", None) or ())
        if not attentions:
            raise ValueError("the model returned no attention; it needs eager attention (output_attentions=True)")
        if not all(a.requires_grad for a in attentions):
            raise ValueError("the model's attention is not part of the autograd graph, so it has no gradient")

        if callable(target):
            kind, explained_target = "callable", None
            value = target(outputs)
            if not isinstance(value, torch.Tensor) or value.numel() != 1:
                raise TypeError("a callable target must return a scalar torch tensor computed from the outputs")
            value = value.reshape(())
            row = "mean" if position is None else position
        elif getattr(outputs, "logits", None) is None and target is None and _has_hidden(outputs):
            kind, explained_target = STAND_IN, None
            value = pooled_norm(outputs).reshape(())
            row = "mean" if position is None else position
        else:
            logits = getattr(outputs, "logits", None)
            if logits is None:
                raise ValueError(
                    f"{type(model).__name__} has no prediction head (its outputs have no logits), so there is no "
                    "class or token to explain. Use a *ForSequenceClassification or *ForMaskedLM model, or pass "
                    "target=a callable that maps the outputs to a scalar tensor (e.g. a similarity of the pooled "
                    "embedding to a reference)."
                )
            if logits.ndim == 2:
                kind = "sequence-classification"
                num_classes = int(logits.shape[-1])
                explained_target = int(logits[0].argmax()) if target is None else _check_index(target, num_classes, "target class")
                value = logits[0, explained_target]
                row = 0 if position is None else position
            elif logits.ndim == 3:
                kind = "token"
                row = n - 1 if position is None and _is_causal(model) else _default_position(tokenizer, ids, position)
                vocab = int(logits.shape[-1])
                if isinstance(target, str):
                    token = target
                    target = int(tokenizer.convert_tokens_to_ids(token))
                    unk = getattr(tokenizer, "unk_token_id", None)
                    if target == unk and token != getattr(tokenizer, "unk_token", None):
                        raise ValueError(f"{token!r} is not in the tokenizer's vocabulary")
                explained_target = int(logits[0, row].argmax()) if target is None else _check_index(target, vocab, "target id")
                value = logits[0, row, explained_target]
            else:
                raise ValueError(f"cannot explain logits of shape {tuple(logits.shape)}")

        if row != "mean":
            row = _check_index(row, n, "position")
        gradients = torch.autograd.grad(value, attentions, allow_unused=True)

    # A layer the explained value does not depend on has no gradient: it adds nothing to R.
    gradients = [torch.zeros_like(a) if g is None else g for a, g in zip(attentions, gradients)]
    matrix = relevancy_matrix(attentions, gradients)
    scores = matrix.mean(axis=0) if row == "mean" else matrix[row].copy()
    return Relevancy(
        tokens=tokens,
        scores=scores,
        matrix=matrix,
        target=explained_target,
        position=row,
        kind=kind,
        value=float(value.detach()),
    )


@contextlib.contextmanager
def _embeddings_require_grad(model: Any) -> Iterator[None]:
    """Make the input embeddings' output require grad, so that the attention has a gradient even when the
    model's parameters are frozen (``requires_grad_(False)``). Changes no value."""
    get = getattr(model, "get_input_embeddings", None)
    module = get() if callable(get) else None
    if module is None:
        yield
        return

    torch = require("torch")

    def hook(mod, inputs, output):
        if isinstance(output, torch.Tensor) and output.is_floating_point() and not output.requires_grad:
            return output.detach().requires_grad_(True)
        return None

    handle = module.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


def _has_hidden(outputs: Any) -> bool:
    return getattr(outputs, "last_hidden_state", None) is not None


def _is_causal(model: Any) -> bool:
    """A decoder-only LM (GPT-2 and ``*ForCausalLM``): its logits at token i predict token i + 1."""
    config = getattr(model, "config", None)
    name = type(model).__name__
    return name.endswith(("LMHeadModel", "ForCausalLM")) or bool(getattr(config, "is_decoder", False))


def _check_index(value: Any, size: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {value!r}")
    value = int(value)
    if not -size <= value < size:
        raise ValueError(f"{name} {value} is out of range (0..{size - 1})")
    return value % size


def _default_position(tokenizer: Any, ids: Any, position: Any) -> int:
    if position is not None:
        return position
    mask_id = getattr(tokenizer, "mask_token_id", None)
    if mask_id is not None:
        hits = (ids[0] == mask_id).nonzero()
        if len(hits):
            return int(hits[0, 0])
    mask = getattr(tokenizer, "mask_token", None) or "[MASK]"
    raise ValueError(
        f"this model predicts a token at every position: put {mask} in the text or pass position= (the index of the token to explain)"
    )
