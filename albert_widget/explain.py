"""What the widget's "explain" view shows, computed from the widget's capture (and model).

Pure functions plus a small per-revision cache (:class:`ExplainSource`); no widget here.

Messages (see ``docs/DESIGN.md``):

* page ``{"type": "explain", "revision", "method", "layer", "head", "reduce"?}`` ->
  ``{"type": "explain", "revision", "method", "layer", "head", "reduce", "dtype": "float32",
  "shape": [N, N] | [N], "note": str}`` with one float32 buffer, or the same without buffer and with
  ``"error": str`` when the method cannot run (flow above ``FLOW_MAX_TOKENS`` tokens, norm/relevancy
  without a model, a model that cannot be hooked ...).
* page ``{"type": "head_stats", "revision"}`` -> ``{"type": "head_stats", "revision", "statistics":
  [...STATISTICS], "dtype": "float32", "shape": [S, L, H], "uniform_entropy": float}`` with one buffer
  (``error`` instead when it fails).

Methods (all on the encoder attention of the capture):

* ``rollout``: :func:`~albert_widget.analysis.rollout` of every layer, ``[N, N]`` (layer/head ignored).
* ``flow``: :func:`~albert_widget.analysis.attention_flow`, ``[N, N]``; refused above ``FLOW_MAX_TOKENS``.
* ``norm``: :func:`~albert_widget.analysis.norm_attention` of the layer shown: one head (``reduce``
  ``"none"``) or the mean / max over the layer's heads, ``[N, N]``. Needs the model.
* ``relevancy``: :func:`~albert_widget.analysis.relevancy` scores, ``[N]``. Needs the model. A model
  with a classification head explains its predicted class at ``[CLS]``; a masked-LM head the top
  prediction at the first ``[MASK]`` (or, with no ``[MASK]`` in the text, at the last non-special
  token); a causal LM (GPT-2) its top next-token prediction at the last token; a base model without a
  head (the packaged MiniLM, ``AlbertModel``) explains the documented stand-in,
  :func:`~albert_widget.analysis.relevancy.pooled_norm`: the L2 norm of the mean-pooled last hidden
  state, i.e. how the sentence embedding is built, explained row = the mean of the relevancy rows
  (mean pooling). :func:`albert_widget.analysis.relevancy` does the same with ``target=None``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .analysis.relevancy import pooled_norm, relevancy_note
from .names import EXPLAIN_METHODS, REDUCTIONS
from .result import AttentionResult

__all__ = [
    "EXPLAIN_METHODS",
    "ExplainSource",
    "explain_array",
    "explain_scope",
    "explain_view",
    "head_stats_array",
    "pooled_norm",
    "reply_to_explain",
    "reply_to_head_stats",
]

NEEDS_MODEL = ("relevancy", "norm")


def _per_token_head(model: Any) -> bool:
    """Whether the model predicts at every token by a masked-LM or token-classification head (by class
    name): the widget then explains the first [MASK] or, without one, the last ordinary token."""
    name = type(model).__name__
    return any(part in name for part in ("ForMaskedLM", "ForTokenClassification"))


def _mlm_position(result: AttentionResult, tokenizer: Any) -> int | None:
    mask = getattr(tokenizer, "mask_token", None)
    if mask is not None and mask in result.tokens:
        return None  # relevancy's own default: the first [MASK]
    special = np.asarray(result.special_tokens_mask, dtype=bool)
    plain = np.nonzero(~special)[0]
    return int(plain[-1]) if plain.size else 0


def explain_array(method: str, result: AttentionResult, model: Any = None, tokenizer: Any = None) -> tuple[np.ndarray, str]:
    """The full array of one method for a capture and its note: rollout/flow ``[N, N]``, norm
    ``[L, H, N, N]``, relevancy ``[N]`` (float32). Raises ``ValueError`` when it cannot be computed."""
    from . import analysis

    if method not in EXPLAIN_METHODS:
        raise ValueError(f"method must be one of {', '.join(EXPLAIN_METHODS)}, got {method!r}")
    if method == "rollout":
        return analysis.rollout(result.attention).astype(np.float32), "attention rollout over all layers (mean over heads, residual)"
    if method == "flow":
        n = result.num_tokens
        if n > analysis.FLOW_MAX_TOKENS:
            raise ValueError(
                f"attention flow is limited to {analysis.FLOW_MAX_TOKENS} tokens and this input has {n}: "
                "it solves N² max-flow problems (32 tokens, 12 layers: about 25 s). Use rollout, or shorten the text."
            )
        return analysis.attention_flow(result.attention).astype(np.float32), "attention flow over all layers (max-flow, mean over heads)"
    if model is None or tokenizer is None:
        raise ValueError(f"{method} needs the model: this widget shows fixed attention (from_attention)")
    if result.text is None:
        raise ValueError(f"{method} needs the input text, which this capture does not have")
    if method == "norm":
        arr = analysis.norm_attention(model, tokenizer, result.text, result.text_pair)
        if arr.shape != result.attention.shape:
            raise ValueError(f"norm-based attention has shape {arr.shape}, the capture {result.attention.shape}")
        return arr.astype(np.float32), "norm-weighted attention: the size of each key's weighted value vector (Kobayashi et al. 2020)"
    # relevancy: the model's own prediction, or for a model without a head the documented stand-in
    # (pooled_norm), decided by analysis.relevancy itself so Python and the widget explain the same thing
    position = _mlm_position(result, tokenizer) if _per_token_head(model) else None
    rel = analysis.relevancy(model, tokenizer, result.text, text_pair=result.text_pair, position=position)
    note = relevancy_note(rel)
    scores = np.asarray(rel.scores, dtype=np.float32)
    if scores.shape != (result.num_tokens,):
        raise ValueError(f"relevancy has {scores.shape[0]} tokens, the capture {result.num_tokens}")
    return scores, note


def select_norm(norm: np.ndarray, layer: int, head: int, reduce: str) -> np.ndarray:
    """``[N, N]`` of the norm-weighted attention of one layer: one head or mean/max over heads."""
    block = norm[layer]
    if reduce == "mean":
        return block.mean(axis=0, dtype=np.float32).astype(np.float32)
    if reduce == "max":
        return block.max(axis=0)
    return block[head]


def explain_scope(
    method: str,
    layer: int,
    head: int,
    reduce: str = "none",
    layer_numbers: Sequence[int] | None = None,
    head_numbers: Sequence[int] | None = None,
) -> str:
    """What a method's map covers, in words, with the model's own layer and head numbers
    (``layer_numbers[i]`` names index ``i``, bertviz's include_layers): ``"all layers and heads"``
    (rollout, flow, relevancy), ``"layer 5, head 3"`` or ``"layer 5, mean over heads"`` (norm). The
    page's twin: ``explainScope`` in js/src/views/explain-math.js."""
    if method != "norm":
        return "all layers and heads"

    def own(numbers: Sequence[int] | None, i: int) -> int:
        return int(numbers[i]) if numbers is not None and 0 <= i < len(numbers) else i

    where = f"layer {own(layer_numbers, layer)}"
    return f"{where}, {reduce} over heads" if reduce in ("mean", "max") else f"{where}, head {own(head_numbers, head)}"


def explain_view(
    result: AttentionResult,
    method: str,
    layer: int = 0,
    head: int = 0,
    reduce: str = "none",
    model: Any = None,
    tokenizer: Any = None,
    cache: ExplainSource | None = None,
) -> tuple[np.ndarray, str]:
    """What the explain view shows for one method: ``(values, note)``, values float32 ``[N, N]``
    (rollout, flow, norm of one layer: one head or the mean / max over heads) or ``[N]`` (relevancy).
    The page's reply and the saved figure both come from here. Raises ``ValueError`` when the method
    cannot run (its message is the one the page shows)."""
    if method not in EXPLAIN_METHODS:
        raise ValueError(f"method must be one of {', '.join(EXPLAIN_METHODS)}, got {method!r}")
    if method == "norm":
        layer = _int(layer, result.num_layers, "layer")
        head = _int(head, result.num_heads, "head")
        if reduce not in REDUCTIONS:
            raise ValueError(f"reduce must be one of {', '.join(REDUCTIONS)}, got {reduce!r}")
    cache = cache or ExplainSource()
    arr, note = cache.get(method, lambda: explain_array(method, result, model, tokenizer))
    if arr is None:
        raise ValueError(note)
    if method == "norm":
        arr = select_norm(arr, layer, head, reduce)
    return np.asarray(arr, dtype=np.float32), note


def _int(value: Any, size: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an int")
    if not 0 <= int(value) < size:
        raise ValueError(f"{name} must be between 0 and {size - 1}, got {value}")
    return int(value)


class ExplainSource:
    """Per-revision cache of the explain arrays and head statistics of one widget."""

    def __init__(self) -> None:
        self.revision: int | None = None
        self.cache: dict[str, tuple[np.ndarray | None, str]] = {}
        self.computed = 0  # how many arrays were computed (tests: the cache works)

    def _reset(self, revision: int) -> None:
        if revision != self.revision:
            self.revision = revision
            self.cache = {}

    def at(self, revision: int) -> ExplainSource:
        """This cache, emptied first when ``revision`` is not the one it holds."""
        self._reset(revision)
        return self

    def get(self, key: str, compute: Any) -> tuple[np.ndarray | None, str]:
        """(array, note) or (None, error message), computed once per revision."""
        if key not in self.cache:
            try:
                self.cache[key] = compute()
            except Exception as exc:
                self.cache[key] = (None, str(exc) or type(exc).__name__)
            self.computed += 1
        return self.cache[key]

    def explain(self, result: AttentionResult | None, revision: int, content: dict, model: Any = None, tokenizer: Any = None):
        """Reply to an ``explain`` message: ``(reply, buffers)`` (the request queue refuses old revisions)."""
        self._reset(revision)
        return reply_to_explain(result, revision, content, model, tokenizer, cache=self)

    def head_stats(self, result: AttentionResult | None, revision: int, content: dict):
        self._reset(revision)
        return reply_to_head_stats(result, revision, cache=self)


def reply_to_explain(
    result: AttentionResult, revision: int, content: dict, model: Any = None, tokenizer: Any = None, cache: ExplainSource | None = None
) -> tuple[dict, list]:
    """``(reply, [buffer])`` for one ``explain`` request; errors come back in ``reply["error"]``."""
    cache = cache or ExplainSource()
    method = content.get("method")
    reduce = content.get("reduce") or "none"
    reply: dict[str, Any] = {
        "type": "explain",
        "revision": revision,
        "method": method,
        "layer": content.get("layer", 0),
        "head": content.get("head", 0),
        "reduce": reduce,
    }
    try:
        # the note says what the method is; the page adds which layer and head in the model's own
        # numbers (explain_scope), as the saved figure does
        arr, note = explain_view(result, method, reply["layer"], reply["head"], reduce, model, tokenizer, cache)
    except Exception as exc:
        reply["error"] = str(exc) or type(exc).__name__
        return reply, []
    out = np.ascontiguousarray(arr, dtype="<f4")
    reply.update(dtype="float32", shape=[int(s) for s in out.shape], note=note)
    return reply, [out.tobytes()]


def head_stats_array(result: AttentionResult) -> tuple[np.ndarray, float]:
    """``[len(STATISTICS), L, H]`` float32 of :func:`~albert_widget.analysis.head_stats` on this one
    input (no Jensen-Shannon), and the uniform-entropy baseline."""
    from .analysis import STATISTICS, head_stats

    stats = head_stats([result], progress=False, js=False, device="cpu")
    arr = np.stack([getattr(stats, name) for name in STATISTICS]).astype(np.float32)
    return arr, float(stats.uniform_entropy)


def reply_to_head_stats(result: AttentionResult, revision: int, cache: ExplainSource | None = None) -> tuple[dict, list]:
    from .analysis import STATISTICS

    cache = cache or ExplainSource()
    reply: dict[str, Any] = {"type": "head_stats", "revision": revision, "statistics": list(STATISTICS)}

    def compute():
        arr, uniform = head_stats_array(result)
        return arr, repr(uniform)

    arr, extra = cache.get("head_stats", compute)
    if arr is None:
        reply["error"] = extra
        return reply, []
    out = np.ascontiguousarray(arr, dtype="<f4")
    reply.update(dtype="float32", shape=[int(s) for s in out.shape], uniform_entropy=float(extra))
    return reply, [out.tobytes()]
