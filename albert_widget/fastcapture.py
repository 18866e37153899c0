"""Attention straight into the result's array, layer by layer, while the model runs.

``outputs.attentions`` keeps every layer's weights on the model's device until the forward pass ends
(151 MB for albert-base at 512 tokens, 805 MB for albert-xxlarge), and the capture then copies them
all once more into its own array. Here forward hooks on the modules that transformers itself records
attention from (``_can_record_outputs["attentions"]``) copy each layer's weights into the
preallocated result as soon as that layer has computed them, and the model keeps none: the memory
touched halves and the copy happens while the weights are still in cache. The numbers are the same
tensors, copied bit for bit.

When a model does not say where its attention comes from, or its modules do not hand over exactly one
``[1, heads, N, N]`` weight tensor per layer, :func:`attention_by_hooks` returns ``None`` and the
capture falls back on ``output_attentions=True``.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np

from .extras import require

__all__ = ["attention_by_hooks", "recorded_attention_modules"]


def _specs(model: Any) -> list[tuple[Any, int, str | None, str | None]]:
    """(target class, output index, layer name, class-name suffix) of the attention recorders."""
    table = getattr(model, "_can_record_outputs", None)
    spec = table.get("attentions") if isinstance(table, dict) else None
    if spec is None:
        return []
    out = []
    for s in spec if isinstance(spec, list) else [spec]:
        if isinstance(s, type):
            out.append((s, 1, None, None))
        elif isinstance(s, str):
            out.append((None, 1, None, s))
        elif hasattr(s, "index"):  # transformers' OutputRecorder
            out.append((getattr(s, "target_class", None), int(s.index), getattr(s, "layer_name", None), getattr(s, "class_name", None)))
    return out


# model -> its attention modules: walking a model's modules costs ~1 ms a capture; kept while the model lives.
_FOUND: weakref.WeakKeyDictionary[Any, list[tuple[Any, int]]] = weakref.WeakKeyDictionary()


def recorded_attention_modules(model: Any) -> list[tuple[Any, int]]:
    """The ``(module, output index)`` pairs transformers records ``attentions`` from (same matching
    rules as its output-capturing hooks), or ``[]`` when the model does not say."""
    try:
        return _FOUND[model]
    except (KeyError, TypeError):
        pass
    found = _find_recorded(model)
    with contextlib.suppress(TypeError):  # not weak-referenceable
        _FOUND[model] = found
    return found


def _find_recorded(model: Any) -> list[tuple[Any, int]]:
    specs = _specs(model)
    if not specs or not callable(getattr(model, "named_modules", None)):
        return []
    found = []
    for name, module in model.named_modules():
        dotted = f".{name}." if name else "."
        for target, index, layer_name, class_name in specs:
            match = (target is not None and isinstance(module, target)) or (class_name is not None and f".{name}".endswith(class_name))
            if match and layer_name is not None:
                match = f".{layer_name.strip('.')}." in dotted
            if match:
                found.append((module, index))
                break
    return found


def attention_by_hooks(model: Any, forward: Callable[[], Any], shape: tuple[int, int, int, int], dtype: Any) -> np.ndarray | None:
    """Run ``forward()`` (the model call, without ``output_attentions``) with hooks that copy layer
    ``l``'s weights into ``out[l]`` of a new ``shape`` array of ``dtype``. Returns the array, or
    ``None`` when the attention could not be taken this way (the caller asks the model instead)."""
    torch = require("torch")

    modules = recorded_attention_modules(model)
    if not modules:
        return None
    array = np.empty(shape, dtype=dtype)
    dest = torch.from_numpy(array)
    state = {"count": 0, "ok": True}
    want = tuple(shape[1:])

    def make_hook(index: int) -> Callable[..., None]:
        def hook(_module: Any, _args: Any, output: Any) -> None:
            k = state["count"]
            state["count"] = k + 1
            weights = output[index] if isinstance(output, (tuple, list)) and len(output) > index else None
            if (
                not state["ok"]
                or weights is None
                or k >= shape[0]
                or weights.dim() != 4
                or weights.shape[0] != 1
                or tuple(weights.shape[1:]) != want
            ):
                state["ok"] = False
                return
            dest[k].copy_(weights[0].detach())  # device -> host and dtype, once, straight into the result

        return hook

    handles = [module.register_forward_hook(make_hook(index)) for module, index in modules]
    try:
        forward()
    finally:
        for handle in handles:
            handle.remove()
    if not state["ok"] or state["count"] != shape[0]:
        _FOUND.pop(model, None)  # the model may have changed: look again next time
        return None
    return array
