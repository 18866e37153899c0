"""Norm-based attention (Kobayashi, Kuribayashi, Yokoi & Inui, "Attention is Not Only a Weight:
Analyzing Transformers with Vector Norms", EMNLP 2020)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..extras import require
from ._common import accepted_inputs, attention_blocks, distinct, eager_eval, encode_one, model_device

__all__ = ["norm_attention", "value_norms"]


def norm_attention(model: Any, tokenizer: Any, text: str, text_pair: str | None = None) -> np.ndarray:
    """``‖α_ij f(x_j)‖`` for every layer, head, query ``i`` and key ``j``.

    ``f(x) = (x W_V + b_V) W_O^h``: token ``j``'s value vector in head ``h`` mapped through the head's
    slice of the output projection (the columns ``h·d..(h+1)·d`` of ``dense.weight``; the output bias is
    shared by all heads and left out, as in the paper). Since ``α_ij ≥ 0`` this is
    ``α_ij · ‖f(x_j)‖``: special tokens often get a large ``α`` but a small norm.

    The value vectors come from forward hooks on the real value projections: for ALBERT the ONE
    shared ``attention.value`` module, whose hook fires once per layer (indexed by call order); for the
    BERT family ``encoder.layer[l].attention.self.value`` with ``attention.output.dense``. The ``α`` are
    the eager attention probabilities of the same pass (eval mode, no gradients; the model's attention
    implementation and train mode are restored).

    Returns
    -------
    numpy.ndarray, float32 ``[L, H, N, N]`` (same layout as ``AttentionResult.attention``).
    """
    attentions, norms, _ = _run(model, tokenizer, text, text_pair)
    return (attentions * norms[:, :, None, :]).astype(np.float32)


def value_norms(model: Any, tokenizer: Any, text: str, text_pair: str | None = None) -> np.ndarray:
    """``‖f(x_j)‖`` for every layer, head and token: float32 ``[L, H, N]`` (see :func:`norm_attention`)."""
    return _run(model, tokenizer, text, text_pair)[1].astype(np.float32)


def _run(model: Any, tokenizer: Any, text: str, text_pair: str | None):
    torch = require("torch")

    blocks = attention_blocks(model)
    if any(b.fused_qkv for b in blocks):
        raise NotImplementedError(
            f"norm_attention does not support {type(model).__name__} (its value projection is fused with the "
            "query and key ones): it supports ALBERT and the BERT family"
        )
    encoding = encode_one(model, tokenizer, text, text_pair)
    records: list[tuple[int, Any]] = []

    def hook(module, inputs, output):
        records.append((id(module), output.detach()))

    handles = [m.register_forward_hook(hook) for m in distinct([b.value for b in blocks])]
    try:
        with eager_eval(model), torch.no_grad():
            outputs = model(**accepted_inputs(model, encoding, model_device(model)), output_attentions=True, return_dict=True)
    finally:
        for h in handles:
            h.remove()
    attentions = tuple(getattr(outputs, "attentions", None) or ())
    if not attentions:
        raise ValueError("the model returned no attention; it needs eager attention (output_attentions=True)")
    if len(records) != len(blocks) or len(attentions) != len(blocks):
        raise RuntimeError(
            f"expected {len(blocks)} attention calls, saw {len(records)} value projections and {len(attentions)} attention maps"
        )
    att = np.stack([a[0].detach().to("cpu", torch.float64).numpy() for a in attentions])  # [L, H, N, N]
    norms = []
    with torch.no_grad():
        for block, (module_id, value) in zip(blocks, records):
            if module_id != id(block.value):
                raise RuntimeError("attention calls ran in an unexpected order")
            h, d = block.num_heads, block.head_dim
            v = value[0].to(torch.float64).reshape(value.shape[1], h, d)  # [N, H, d]
            w = block.output.weight.detach().to(v.device, torch.float64).reshape(-1, h, d)  # [D, H, d]
            f = torch.einsum("nhd,ohd->hno", v, w)  # [H, N, D]: f^h(x_n)
            norms.append(torch.linalg.vector_norm(f, dim=-1).cpu().numpy())
    return att, np.stack(norms), outputs
