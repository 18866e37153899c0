"""Post-rotary queries and keys of every attention layer, taken while the model runs its own attention.

In transformers 5 every decoder attention module (Llama, Mistral, Qwen2, Gemma/Gemma2, GPT-2,
GPT-NeoX, GPT-OSS, ...) computes its query and key states (rotary embeddings already applied, the
key/value cache already updated) and then calls a pluggable attention function looked up by name in
``transformers.modeling_utils.ALL_ATTENTION_FUNCTIONS``::

    attention_interface(module, query [B, H, q, d], key [B, KV, k, d], value, mask,
                        scaling=..., sliding_window=..., softcap=..., s_aux=..., ...)

While :func:`recording` is active, every name in that table (and ``"eager"``, which the modules
resolve to their own file's ``eager_attention_forward``) maps to a thin wrapper: when ``module``
belongs to a model being recorded it hands ``(module, query, key, params)`` to that recording, then
calls the original function with the same arguments. The model's configuration, its attention
implementation (sdpa, eager, flash) and its mask are left alone, so the forward pass stays on its
fast path; the table is put back exactly as it was when the last recording ends.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["LayerParams", "UnsupportedModelError", "recording"]


class UnsupportedModelError(ValueError):
    """The model's attention cannot be recorded as queries and keys (not a causal decoder that calls
    transformers' attention interface)."""


@dataclass(frozen=True)
class LayerParams:
    """What turns one layer's queries and keys into weights, besides the causal mask.

    ``weights[h, i, j] = exp(s_ij - lse[h, i])`` for ``j <= i`` (and ``j > i - sliding_window``), where
    ``s_ij = softcap * tanh(scaling * q_i.k_j / softcap)`` (without ``softcap``: ``scaling * q_i.k_j``)
    and ``lse`` also counts ``sinks[h]`` (a learned extra logit, GPT-OSS) when there is one.
    """

    scaling: float
    sliding_window: int | None = None
    softcap: float | None = None
    sinks: tuple[float, ...] | None = None  # one logit per query head

    def to_dict(self) -> dict[str, Any]:
        return {
            "scaling": self.scaling,
            "sliding_window": self.sliding_window,
            "softcap": self.softcap,
            "sinks": list(self.sinks) if self.sinks is not None else None,
        }


# id(module) -> callback(module, query, key, params) of the recording that owns the module.
_ACTIVE: dict[int, Callable[[Any, Any, Any, LayerParams], None]] = {}
_LOCK = threading.Lock()
_INSTALLED: dict[str, Any] = {}  # name -> the function the table had (None: it had none)
_SAVED_LOCAL: dict[str, Any] | None = None
_DEPTH = 0


def _params(module: Any, query: Any, kwargs: dict[str, Any]) -> LayerParams:
    scaling = kwargs.get("scaling")
    if scaling is None:  # sdpa's and GPT-2's default
        scaling = float(query.shape[-1]) ** -0.5
    window = kwargs.get("sliding_window")
    softcap = kwargs.get("softcap")
    sinks = kwargs.get("s_aux")
    return LayerParams(
        scaling=float(scaling),
        sliding_window=int(window) if window is not None else None,
        softcap=float(softcap) if softcap else None,
        sinks=tuple(float(x) for x in sinks.detach().float().cpu().reshape(-1).tolist()) if sinks is not None else None,
    )


def _eager_of(module: Any) -> Callable[..., Any]:
    """The eager attention function of the module's own modeling file (what ``get_interface`` falls
    back on for ``"eager"``: each architecture has its own, e.g. Gemma2's applies softcapping)."""
    fn = getattr(sys.modules.get(type(module).__module__), "eager_attention_forward", None)
    if fn is None:
        raise UnsupportedModelError(f"{type(module).__name__} has no eager_attention_forward in its modeling file")
    return fn


def _make_wrapper(name: str, original: Any) -> Callable[..., Any]:
    def wrapper(module: Any, query: Any, key: Any, value: Any, attention_mask: Any, *args: Any, **kwargs: Any) -> Any:
        callback = _ACTIVE.get(id(module))
        if callback is not None:
            if kwargs.get("is_causal") is False or getattr(module, "is_causal", True) is False:
                raise UnsupportedModelError(
                    f"{type(module).__name__} is not causal attention; only decoder self-attention can be kept compact"
                )
            callback(module, query, key, _params(module, query, kwargs))
        fn = original if original is not None else _eager_of(module)
        return fn(module, query, key, value, attention_mask, *args, **kwargs)

    wrapper.__name__ = f"recorded_{name.replace('|', '_')}"
    return wrapper


def _install() -> None:
    global _SAVED_LOCAL
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS as table

    _SAVED_LOCAL = dict(table._local_mapping)
    names = set(table.keys()) | {"eager"}
    for name in names:
        original = table.get(name, None)
        _INSTALLED[name] = original
        # The instance's local mapping, not the class-wide one: that instance is the one every
        # modeling file imports, and the class-wide registry stays untouched.
        table[name] = _make_wrapper(name, original)


def _uninstall() -> None:
    global _SAVED_LOCAL
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS as table

    table._local_mapping.clear()
    table._local_mapping.update(_SAVED_LOCAL or {})
    _INSTALLED.clear()
    _SAVED_LOCAL = None


@contextlib.contextmanager
def recording(model: Any, callback: Callable[[int, Any, Any, LayerParams], None]) -> Iterator[dict[int, int]]:
    """While active, ``callback(layer, query, key, params)`` sees every attention call of ``model``
    before the attention itself runs.

    ``query`` is ``[B, H, q, d]`` and ``key`` ``[B, KV, k, d]`` exactly as the model hands them to its
    attention function (post-rotary; ``key`` includes the cache when there is one). ``layer`` counts
    the model's attention modules in the order they first run. Yields that ``id(module) -> layer``
    map. Other models keep running untouched, also from other threads.
    """
    global _DEPTH
    modules = list(model.modules()) if callable(getattr(model, "modules", None)) else []
    order: dict[int, int] = {}

    def on_call(module: Any, query: Any, key: Any, params: LayerParams) -> None:
        layer = order.setdefault(id(module), len(order))
        callback(layer, query, key, params)

    with _LOCK:
        if _DEPTH == 0:
            _install()
        _DEPTH += 1
        for module in modules:
            _ACTIVE[id(module)] = on_call
    try:
        yield order
    finally:
        with _LOCK:
            for module in modules:
                if _ACTIVE.get(id(module)) is on_call:
                    del _ACTIVE[id(module)]
            _DEPTH -= 1
            if _DEPTH == 0:
                _uninstall()
