"""The loss of a causal language model (GPT-2, ``*ForCausalLM``), per example, for the analyses that
differentiate a loss (:func:`~albert_widget.analysis.head_importance`).

A causal LM's logits at token ``i`` predict token ``i + 1``, so its loss is the next-token
cross-entropy over the real (unpadded) tokens of each text: no masking, no labels needed.
"""

from __future__ import annotations

from typing import Any

from ..forward import is_causal_lm

__all__ = ["causal_lm_per_example_loss", "is_causal_lm"]


def causal_lm_per_example_loss(logits: Any, input_ids: Any, attention_mask: Any = None) -> Any:
    """Mean next-token cross-entropy of each example.

    In: ``logits`` ``[B, N, V]``, ``input_ids`` ``[B, N]``, ``attention_mask`` ``[B, N]`` (1 for real
    tokens, right padding; ``None``: all real). Out: a ``[B]`` tensor; for one unpadded text it equals
    the model's own ``loss`` with ``labels=input_ids``. A text of one token has nothing to predict: 0.
    """
    import torch
    import torch.nn.functional as F

    if logits.ndim != 3 or input_ids.shape != logits.shape[:2]:
        raise ValueError(f"expected logits [B, N, V] and input_ids [B, N], got {tuple(logits.shape)} and {tuple(input_ids.shape)}")
    if attention_mask is None:
        attention_mask = torch.ones_like(input_ids)
    logp = F.log_softmax(logits[:, :-1].float(), dim=-1)
    target = input_ids[:, 1:].to(logits.device)
    valid = attention_mask[:, 1:].to(logits.device).bool()
    picked = logp.gather(-1, target[..., None])[..., 0]
    return -(picked * valid).sum(-1) / valid.sum(-1).clamp(min=1)
