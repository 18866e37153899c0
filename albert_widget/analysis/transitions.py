"""Layer transitions (Lan et al., "ALBERT: A Lite BERT for Self-supervised Learning of Language
Representations", ICLR 2020, Figure 2): how much each layer changes the token embeddings."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..extras import require
from ..forward import on_device
from ._common import accepted_inputs, eval_mode, progress_bar, text_batches

__all__ = ["LayerTransitions", "layer_transitions"]


@dataclass(frozen=True, eq=False)
class LayerTransitions:
    """``l2[l]`` (float64 ``[L]``): mean over tokens of ``‖h_{l+1,i} - h_{l,i}‖₂``; ``cosine[l]``: mean of
    ``cos(h_{l,i}, h_{l+1,i})``, where ``h_l`` = ``hidden_states[l]``, the input of layer ``l`` (for
    ALBERT after the embedding-to-hidden projection) and ``h_{l+1}`` its output. Every non-padding
    token of every text counts once."""

    l2: np.ndarray
    cosine: np.ndarray
    num_examples: int
    num_tokens: int

    def to_dataframe(self):
        """One row per layer: ``layer``, ``l2``, ``cosine`` (a ``pandas.DataFrame``)."""
        try:
            import pandas as pd
        except ImportError as exc:
            raise ImportError("LayerTransitions.to_dataframe() needs pandas, which is not installed: pip install pandas") from exc
        return pd.DataFrame({"layer": np.arange(len(self.l2)), "l2": self.l2, "cosine": self.cosine})


def layer_transitions(
    model: Any,
    tokenizer: Any,
    texts: Sequence[Any],
    *,
    batch_size: int = 16,
    device: Any = None,
    progress: bool = False,
) -> LayerTransitions:
    """L2 distance and cosine similarity between each layer's input and output embeddings.

    ``texts``: strings or ``(text, text_pair)`` tuples, run in padded batches (padding tokens never count)
    in eval mode (restored), without gradients, on ``device`` (default: GPU when available; the model
    is moved back afterwards). ALBERT's shared layers make much smoother transitions than BERT's
    (the paper's Figure 2).

    Returns
    -------
    LayerTransitions
        ``l2`` and ``cosine``, float64 ``[L]`` (``L`` = number of layers).
    """
    torch = require("torch")

    batches = text_batches(model, tokenizer, texts, batch_size, device)
    dev = batches.device
    l2_sum = cos_sum = None
    count = 0
    bar = progress_bar(batches.num_texts, progress, "layer transitions")
    try:
        with on_device(model, dev), eval_mode(model), torch.no_grad():
            for rows, enc in batches:
                outputs = model(**accepted_inputs(model, enc, dev), output_hidden_states=True, return_dict=True)
                hidden = getattr(outputs, "hidden_states", None)
                if not hidden or len(hidden) < 2:
                    raise ValueError("the model returned no hidden states (output_hidden_states=True)")
                h = torch.stack([x.to(torch.float64) for x in hidden])  # [L+1, B, N, D]
                valid = enc["attention_mask"].to(dev).to(torch.float64)  # [B, N]
                before, after = h[:-1], h[1:]
                l2 = torch.linalg.vector_norm(after - before, dim=-1)  # [L, B, N]
                cos = torch.nn.functional.cosine_similarity(after, before, dim=-1, eps=1e-12)
                l2 = (l2 * valid).sum(dim=(1, 2)).cpu()
                cos = (cos * valid).sum(dim=(1, 2)).cpu()
                l2_sum = l2 if l2_sum is None else l2_sum + l2
                cos_sum = cos if cos_sum is None else cos_sum + cos
                count += int(valid.sum())
                bar.update(len(rows))
    finally:
        bar.close()
    return LayerTransitions(l2=(l2_sum / count).numpy(), cosine=(cos_sum / count).numpy(), num_examples=batches.num_texts, num_tokens=count)
