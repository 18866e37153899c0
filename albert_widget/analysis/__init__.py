"""Analysis methods beyond raw attention. Plain numpy/torch in, numpy out.

* :func:`rollout`, :func:`attention_flow` (Abnar & Zuidema 2020): from attention ``[L, H, N, N]``.
* :func:`relevancy` (Chefer et al. 2021): gradient-weighted relevancy of one prediction.
* :func:`norm_attention` (Kobayashi et al. 2020): ``‖α_ij f(x_j)‖``, ``[L, H, N, N]``.
* :func:`head_importance`, :func:`head_gates` (Michel et al. 2019): gradient of the loss w.r.t. head gates.
* :func:`head_stats` (Clark et al. 2019): per-head attention to [CLS]/[SEP]/punctuation/neighbours,
  entropy, distance and Jensen-Shannon distances between heads over a corpus.
* :func:`layer_transitions` (Lan et al. 2020, Fig. 2): L2 / cosine between layer inputs and outputs.
* :func:`head_divergence`: Jensen-Shannon divergence between every head of two captures, on their
  aligned tokens or words (:mod:`albert_widget.compare.align`).
* :func:`make_corpus`: a deterministic template corpus for the statistics.
"""

from .compare import head_divergence
from .corpus import make_corpus
from .flow import FLOW_MAX_TOKENS, attention_flow
from .importance import head_gates, head_importance
from .norms import norm_attention, value_norms
from .relevancy import Relevancy, relevancy, relevancy_matrix
from .rollout import reduce_heads, residual_attention, rollout
from .stats import STATISTICS, HeadStats, head_stats
from .transitions import LayerTransitions, layer_transitions

__all__ = [
    "FLOW_MAX_TOKENS",
    "HeadStats",
    "LayerTransitions",
    "Relevancy",
    "STATISTICS",
    "attention_flow",
    "head_gates",
    "head_divergence",
    "head_importance",
    "head_stats",
    "layer_transitions",
    "make_corpus",
    "norm_attention",
    "reduce_heads",
    "relevancy",
    "relevancy_matrix",
    "residual_attention",
    "rollout",
    "value_norms",
]
