"""Query and key vectors of one layer, by forward hooks on the real model's attention modules.

The neuron view shows how one head turns vectors into weights: ``softmax(q_i · k_j / √d)``. The
vectors come from the model itself (no vendored copy of its code, unlike bertviz):

- ALBERT runs ONE attention module (``encoder.albert_layer_groups[0].albert_layers[0].attention``) for
  all of its layers: its ``query``/``key`` hooks fire once per layer, so a layer is the call number.
- BERT family (BERT, MiniLM, RoBERTa, ELECTRA, ...): ``encoder.layer[l].attention.self.query/key``.
- GPT-2: ``h[l].attn.c_attn`` (query, key and value in one projection, split in three).

Every module with ``query``/``key`` projections (or GPT-2's ``c_attn``) is hooked and the calls are
numbered in the order they run, which is the layer order for all of these. The pass is eager (the
attention implementation is put back afterwards) and in eval mode, and the weights recomputed from the
hooked vectors are checked against the attention the model itself returns: a model whose attention is
not ``softmax(q kᵀ · scaling + mask)`` of what the hooks see (rotary embeddings, relative positions) is
refused with :class:`NeuronUnavailable` instead of being shown wrong.

Message pair (see ``docs/DESIGN.md``):

- page -> Python: ``{"type": "neuron", "revision": r, "layer": l, "head": h, "query": i}``
- Python -> page: ``{"type": "neuron", "revision", "layer", "head", "query", "d", "n", "scaling",
  "masked": [j, ...], "arrays": ["q", "keys", "scores", "softmax"], "shapes": [[d], [N, d], [N], [N]],
  "dtype": "float32"}`` and four float32 buffers (C order, little-endian): ``q`` = q_i, ``keys`` = every
  k_j, ``scores`` = q_i·k_j · scaling (before any mask), ``softmax`` = the attention row (equal to the
  captured ``attention[l, h, i]``). Keys in ``masked`` are hidden by the model's mask (a causal model's
  future): their weight is 0. When the vectors cannot be had the reply carries ``"error": message`` and
  no buffers.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from .extras import require
from .forward import accepted_inputs, eager_attention, eval_mode, input_limit, model_device, tokenize, validate_text

__all__ = [
    "UNAVAILABLE",
    "NeuronSource",
    "NeuronUnavailable",
    "QueryKey",
    "neuron_row",
    "query_key_modules",
    "query_key_vectors",
    "reply_to_neuron",
]

UNAVAILABLE = "neuron view needs a model whose attention modules can be hooked"
#: how far the recomputed weights may drift from the model's own before the view is refused
CHECK_ATOL = 1e-5


class NeuronUnavailable(ValueError):
    """This model's (or widget's) query/key vectors cannot be had by hooks."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"{UNAVAILABLE}: {reason}")


@dataclass(frozen=True)
class QueryKey:
    """One layer's query and key vectors and the weights they make.

    ``q``, ``k``: float32 ``[H, N, d]``; ``scores``: float32 ``[H, N, N]`` = ``q kᵀ · scaling`` (before
    the mask); ``mask``: additive float32 ``[N, N]`` (0 where allowed, ``-inf`` where hidden) or ``None``;
    ``attention``: float32 ``[H, N, N]`` = ``softmax(scores + mask)``, computed by the same torch
    operations as the model's eager attention.
    """

    layer: int
    q: np.ndarray
    k: np.ndarray
    scores: np.ndarray
    mask: np.ndarray | None
    attention: np.ndarray
    scaling: float
    tokens: tuple[str, ...]
    kind: str  # "query_key" (ALBERT/BERT family) or "c_attn" (GPT-2)
    module: str  # name of the hooked attention module that ran this layer

    @property
    def num_heads(self) -> int:
        return int(self.q.shape[0])

    @property
    def head_dim(self) -> int:
        return int(self.q.shape[2])

    def __iter__(self) -> Iterator[np.ndarray]:  # q, k = query_key_vectors(...)
        return iter((self.q, self.k))


@dataclass(frozen=True)
class _Spec:
    name: str
    module: Any  # the attention module (its pre-hook sees the mask)
    kind: str  # "query_key" or "c_attn"
    num_heads: int
    head_dim: int
    scaling: float


def _linear_like(m: Any) -> bool:
    return m is not None and callable(getattr(m, "forward", None)) and hasattr(m, "weight")


def query_key_modules(model: Any) -> list[_Spec]:
    """The self-attention modules whose query/key projections (or GPT-2 ``c_attn``) can be hooked, in
    module order (empty if none)."""
    modules = getattr(model, "named_modules", None)
    if not callable(modules):
        return []
    config = getattr(model, "config", None)
    specs: list[_Spec] = []
    for name, m in modules():
        if getattr(m, "is_cross_attention", False):
            continue
        if _linear_like(getattr(m, "query", None)) and _linear_like(getattr(m, "key", None)):
            kind = "query_key"
            width = int(m.query.weight.shape[0])
        elif _linear_like(getattr(m, "c_attn", None)) and hasattr(m, "split_size"):
            kind = "c_attn"
            width = int(m.split_size)
        else:
            continue
        heads = (
            getattr(m, "num_attention_heads", None)
            or getattr(m, "num_heads", None)
            or getattr(config, "num_attention_heads", None)
            or getattr(config, "n_head", None)
        )
        if not isinstance(heads, int) or heads <= 0 or width % heads:
            continue
        head_dim = getattr(m, "attention_head_size", None) or getattr(m, "head_dim", None) or width // heads
        if head_dim * heads != width:
            continue
        scaling = getattr(m, "scaling", None)
        scaling = float(scaling) if isinstance(scaling, (int, float)) else float(head_dim) ** -0.5
        specs.append(_Spec(name or type(m).__name__, m, kind, int(heads), int(head_dim), scaling))
    return specs


def _mask_argument(module: Any, args: tuple, kwargs: dict) -> Any:
    if "attention_mask" in kwargs:
        return kwargs["attention_mask"]
    try:
        bound = inspect.signature(module.forward).bind_partial(*args, **kwargs)
    except TypeError:
        return None
    return bound.arguments.get("attention_mask")


def _additive_mask(mask: Any, n: int) -> Any:
    """The model's mask as an additive float32 ``[N, N]`` torch tensor (or ``None``)."""
    torch = require("torch")

    if mask is None:
        return None
    m = mask
    if m.dtype == torch.bool:
        m = torch.zeros(m.shape, dtype=torch.float32).masked_fill(~m, float("-inf"))
    m = m.to("cpu", torch.float32)
    while m.dim() > 2:
        if m.shape[0] != 1:
            return None  # per-head masks are not something these models make
        m = m[0]
    return torch.broadcast_to(m[..., -n:, -n:], (n, n)) if m.shape[-1] >= n else None


@contextlib.contextmanager
def _hooks(specs: list[_Spec], layer: int, record: dict[str, Any]) -> Iterator[None]:
    handles = []
    record["calls"] = 0
    record["names"] = []

    def pre(module: Any, args: tuple, kwargs: dict) -> None:
        index = record["calls"]
        record["calls"] += 1
        record["names"].append(module_names[id(module)])
        record["active"] = index == layer
        if record["active"]:
            record["mask"] = _mask_argument(module, args, kwargs)
            record["module"] = module

    def grab(slot: str) -> Any:
        def hook(_module: Any, _inputs: Any, output: Any) -> None:
            if record.get("active"):
                record[slot] = output.detach()

        return hook

    module_names = {id(s.module): s.name for s in specs}
    try:
        for s in specs:
            handles.append(s.module.register_forward_pre_hook(pre, with_kwargs=True))
            if s.kind == "query_key":
                handles.append(s.module.query.register_forward_hook(grab("q")))
                handles.append(s.module.key.register_forward_hook(grab("k")))
            else:
                handles.append(s.module.c_attn.register_forward_hook(grab("qkv")))
        yield
    finally:
        for handle in handles:
            handle.remove()


def query_key_vectors(
    model: Any,
    tokenizer: Any,
    text: str,
    text_pair: str | None = None,
    *,
    layer: int,
    max_length: int | None = None,
    expected_tokens: tuple[str, ...] | None = None,
) -> QueryKey:
    """Run ``model`` once on ``text`` (and ``text_pair``) and return layer ``layer``'s query and key
    vectors (``[H, N, d]`` each; ``q, k = query_key_vectors(...)`` unpacks them) with the scores and
    weights they make. Tokenisation and truncation are those of :func:`~albert_widget.capture.capture`.

    Raises :class:`NeuronUnavailable` when the model has no attention module these hooks understand, or
    when the weights the vectors make are not the model's own.
    """
    torch = require("torch")

    validate_text(text, "text")
    validate_text(text_pair, "text_pair", allow_none=True)
    if not callable(getattr(model, "forward", None)):
        raise NeuronUnavailable("this widget has no model (it shows fixed attention, from_attention)")
    if getattr(getattr(model, "config", None), "is_encoder_decoder", False):
        raise NeuronUnavailable(f"{type(model).__name__} is an encoder-decoder model; only encoders and decoders are supported")
    specs = query_key_modules(model)
    if not specs:
        raise NeuronUnavailable(
            f"{type(model).__name__} has no attention module with ALBERT/BERT-style `query`/`key` projections or a GPT-2 `c_attn`"
        )
    if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)) or layer < 0:
        raise ValueError(f"layer must be a non-negative int, got {layer!r}")
    layer = int(layer)

    # Tokenised and truncated exactly as capture() does, so that the tokens are those shown.
    encoding = tokenize(tokenizer, text, text_pair, input_limit(model, tokenizer, max_length), return_tensors="pt")
    kwargs = accepted_inputs(model, encoding, model_device(model))
    n = int(encoding["input_ids"].shape[1])
    tokens = tuple(str(t) for t in tokenizer.convert_ids_to_tokens(encoding["input_ids"][0].tolist()))
    if expected_tokens is not None and tuple(expected_tokens) != tokens:
        raise ValueError("the tokens differ from those of the capture shown; run the model again")

    record: dict[str, Any] = {}
    with eval_mode(model), eager_attention(model), torch.no_grad(), _hooks(specs, layer, record):
        outputs = model(**kwargs, output_attentions=True, return_dict=True)

    attentions = getattr(outputs, "attentions", None) or ()
    calls = record["calls"]
    if calls != len(attentions) or not 0 <= layer < calls:
        if 0 <= layer < len(attentions) or not attentions:
            raise NeuronUnavailable(
                f"the hooked attention modules ran {calls} times but the model returned {len(attentions)} attention layers"
            )
        raise ValueError(f"layer must be between 0 and {len(attentions) - 1}, got {layer}")
    spec = next(s for s in specs if s.module is record["module"])
    if spec.kind == "query_key":
        q_flat, k_flat = record.get("q"), record.get("k")
    else:
        qkv = record.get("qkv")
        q_flat, k_flat = (None, None) if qkv is None else qkv.split(spec.num_heads * spec.head_dim, dim=-1)[:2]
    if q_flat is None or k_flat is None:
        raise NeuronUnavailable(f"the query/key projections of {spec.name} did not run for layer {layer}")
    H, d = spec.num_heads, spec.head_dim
    # [1, N, H*d] -> [1, H, N, d], exactly as the attention modules reshape them.
    q_t = q_flat.view(1, n, H, d).transpose(1, 2)
    k_t = k_flat.view(1, n, H, d).transpose(1, 2)
    scores_t = torch.matmul(q_t, k_t.transpose(2, 3)) * spec.scaling
    mask_t = _additive_mask(record.get("mask"), n)
    if record.get("mask") is not None and mask_t is None:
        raise NeuronUnavailable(f"the attention mask of {spec.name} has an unexpected shape {tuple(record['mask'].shape)}")
    logits = scores_t if mask_t is None else scores_t + mask_t.to(scores_t.device, scores_t.dtype)
    weights_t = torch.nn.functional.softmax(logits, dim=-1)

    weights = weights_t[0].to("cpu", torch.float32).numpy()
    own = attentions[layer][0].detach().to("cpu", torch.float32).numpy()
    if own.shape != weights.shape or not np.allclose(weights, own, rtol=0, atol=CHECK_ATOL):
        worst = float(np.abs(weights - own).max()) if own.shape == weights.shape else float("nan")
        raise NeuronUnavailable(
            f"softmax(q·k·scaling) of the hooked vectors of {spec.name} does not reproduce the model's own attention "
            f"(largest difference {worst:.3g}; rotary or relative position terms are not supported)"
        )
    mask = None
    if mask_t is not None:
        m = mask_t.numpy().astype(np.float32)
        m = np.where(m <= np.finfo(np.float32).min / 2, -np.inf, m).astype(np.float32)
        mask = m if (m != 0).any() else None
    return QueryKey(
        layer=layer,
        q=_readonly(q_t[0].to("cpu", torch.float32).numpy().copy()),
        k=_readonly(k_t[0].to("cpu", torch.float32).numpy().copy()),
        scores=_readonly(scores_t[0].to("cpu", torch.float32).numpy().copy()),
        mask=None if mask is None else _readonly(mask),
        attention=_readonly(weights.copy()),
        scaling=spec.scaling,
        tokens=tokens,
        kind=spec.kind,
        module=spec.name,
    )


def _readonly(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


def neuron_row(qk: QueryKey, head: int, query: int) -> dict[str, Any]:
    """What the neuron view draws for one head and query token: ``q`` [d], ``keys`` [N, d],
    ``scores`` [N] (``q·k_j · scaling``), ``softmax`` [N] and the ``masked`` key indices."""
    H, n, _ = qk.q.shape
    if not 0 <= head < H:
        raise ValueError(f"head must be between 0 and {H - 1}, got {head}")
    if not 0 <= query < n:
        raise ValueError(f"query must be between 0 and {n - 1}, got {query}")
    masked = [] if qk.mask is None else [int(j) for j in np.flatnonzero(np.isneginf(qk.mask[query]))]
    return {
        "q": np.ascontiguousarray(qk.q[head, query], dtype="<f4"),
        "keys": np.ascontiguousarray(qk.k[head], dtype="<f4"),
        "scores": np.ascontiguousarray(qk.scores[head, query], dtype="<f4"),
        "softmax": np.ascontiguousarray(qk.attention[head, query], dtype="<f4"),
        "masked": masked,
    }


def _int_field(content: dict[str, Any], name: str, size: int) -> int:
    value = content.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < size:
        raise ValueError(f"neuron request: {name} must be an int in 0..{size - 1}, got {value!r}")
    return value


class NeuronSource:
    """Answers the page's neuron requests for one widget; keeps the last layer's vectors, so moving
    between heads and query tokens of a layer costs no forward pass."""

    def __init__(self) -> None:
        self._key: tuple[Any, ...] | None = None
        self._value: QueryKey | None = None

    def vectors(self, model: Any, tokenizer: Any, result: Any, revision: int, layer: int, max_length: int | None = None) -> QueryKey:
        key = (id(model), revision, layer)
        if self._key == key and self._value is not None:
            return self._value
        if model is None or tokenizer is None:
            raise NeuronUnavailable("this widget shows fixed attention (from_attention) and has no model to hook")
        if result is None or not result.text:
            raise NeuronUnavailable("there is no text captured from the model yet")
        qk = query_key_vectors(
            model,
            tokenizer,
            result.text,
            result.text_pair,
            layer=layer,
            max_length=max_length,
            expected_tokens=tuple(result.tokens),
        )
        if qk.attention.shape != result.attention.shape[1:] or not np.allclose(
            qk.attention, result.attention[layer], rtol=0, atol=CHECK_ATOL
        ):
            raise ValueError("the model's attention differs from the capture shown (was the model changed?); run it again")
        self._key, self._value = key, qk
        return qk

    def reply(
        self, model: Any, tokenizer: Any, result: Any, revision: int, content: dict[str, Any], *, max_length: int | None = None
    ) -> tuple[dict[str, Any] | None, list[memoryview]]:
        return reply_to_neuron(model, tokenizer, result, revision, content, max_length=max_length, source=self)


def reply_to_neuron(
    model: Any,
    tokenizer: Any,
    result: Any,
    revision: int,
    content: dict[str, Any],
    *,
    max_length: int | None = None,
    source: NeuronSource | None = None,
) -> tuple[dict[str, Any] | None, list[memoryview]]:
    """Answer ``{"type": "neuron", "revision", "layer", "head", "query"}`` (the request queue refuses older
    revisions). A model that cannot be hooked gets a reply with ``"error"`` and no buffers."""
    base = {"type": "neuron", "revision": revision}
    for name in ("layer", "head", "query"):
        base[name] = content.get(name)
    if result is None:
        return {**base, "error": f"{UNAVAILABLE}: there is no attention to explain yet"}, []
    L, H, n, _ = result.attention.shape
    try:
        layer = _int_field(content, "layer", L)
        head = _int_field(content, "head", H)
        query = _int_field(content, "query", n)
        qk = (source or NeuronSource()).vectors(model, tokenizer, result, revision, layer, max_length)
        row = neuron_row(qk, head, query)
    except NeuronUnavailable as exc:
        return {**base, "error": str(exc)}, []
    except Exception as exc:
        return {**base, "error": f"{type(exc).__name__}: {exc}"}, []
    arrays = ("q", "keys", "scores", "softmax")
    reply = {
        **base,
        "d": qk.head_dim,
        "n": n,
        "scaling": qk.scaling,
        "masked": row["masked"],
        "kind": qk.kind,
        "module": qk.module,
        "dtype": "float32",
        "arrays": list(arrays),
        "shapes": [list(row[a].shape) for a in arrays],
    }
    return reply, [memoryview(row[a].reshape(-1).view(np.uint8)) for a in arrays]
