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

* :func:`corpus_summaries`: a decoder LLM's long-context per-head summaries (sink, entropy,
  previous-token, self, distance) averaged over a corpus of long texts.

The corpus analyses (:func:`head_stats`, :func:`head_importance`, :func:`corpus_summaries`) run over shards of the corpus as
mergeable float64 sums (:class:`Partial`), in this process or on Ray / Dask (``engine=``), with
checkpoints to resume from; :func:`corpus_files` names a corpus kept in Parquet / JSON-lines files.
"""

from .compare import head_divergence
from .corpus import make_corpus
from .corpus_summaries import CorpusSummaries, corpus_summaries, summaries_from_partial
from .flow import FLOW_MAX_TOKENS, attention_flow
from .importance import head_gates, head_importance, importance_from_partial
from .norms import norm_attention, value_norms
from .partial import Partial, merge_partials
from .relevancy import Relevancy, pooled_norm, relevancy, relevancy_matrix
from .rollout import reduce_heads, residual_attention, rollout
from .shards import corpus_files
from .stats import STATISTICS, HeadStats, head_stats, stats_from_partial
from .transitions import LayerTransitions, layer_transitions

__all__ = [
    "FLOW_MAX_TOKENS",
    "STATISTICS",
    "CorpusSummaries",
    "HeadStats",
    "LayerTransitions",
    "Partial",
    "Relevancy",
    "attention_flow",
    "corpus_files",
    "corpus_summaries",
    "head_divergence",
    "head_gates",
    "head_importance",
    "head_stats",
    "importance_from_partial",
    "layer_transitions",
    "make_corpus",
    "merge_partials",
    "norm_attention",
    "pooled_norm",
    "reduce_heads",
    "relevancy",
    "relevancy_matrix",
    "residual_attention",
    "rollout",
    "stats_from_partial",
    "summaries_from_partial",
    "value_norms",
]
