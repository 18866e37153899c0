"""Attention flow (Abnar & Zuidema, ACL 2020): max-flow through the layered attention graph."""

from __future__ import annotations

from typing import Any

import numpy as np

from .rollout import residual_attention

__all__ = ["FLOW_MAX_TOKENS", "attention_flow"]

#: Default token limit of :func:`attention_flow`. The method solves N² max-flow problems on a graph of
#: (L+1)·N nodes and L·N² edges, in pure Python (networkx 3.6, preflow-push, one residual network
#: reused). Measured on one core of the project's 2-core development machine: 12 layers x 16 tokens
#: ~1.7 s, x 24 tokens ~7.5 s, x 32 tokens ~25 s; MiniLM (6 layers) on a 13-token sentence ~0.9 s.
#: Time grows about like N^4.5 (64 tokens: about 10 minutes), and a machine busy with other work can
#: take several times longer.
FLOW_MAX_TOKENS = 32


def attention_flow(
    attention: Any,
    *,
    residual: bool = True,
    head_reduce: str = "mean",
    max_tokens: int = FLOW_MAX_TOKENS,
    normalize: bool = True,
) -> np.ndarray:
    """Attention flow: the maximum flow from each top-layer position to each input token.

    The graph has a node ``(l, j)`` for every layer boundary ``l = 0..L`` (0 = the input) and token
    ``j``, and an edge ``(l, i) -> (l-1, j)`` with capacity ``Ã_l[i, j]``, the same per-layer matrices
    as :func:`~albert_widget.analysis.rollout` (``0.5·Ā_l + 0.5·I`` row-normalised when ``residual``).
    ``F[i, j]`` is the max-flow value from ``(L, i)`` to ``(0, j)`` (networkx, preflow-push).

    Parameters
    ----------
    attention
        ``[L, H, N, N]`` attention (numpy/torch), a tuple of per-layer tensors or an ``AttentionResult``.
    residual, head_reduce
        As in :func:`rollout`.
    max_tokens
        Refuse (``ValueError``) inputs longer than this. Default 32 tokens, which takes about 25 s
        for 12 layers on one core of the development machine (16 tokens: ~1.7 s, 24 tokens: ~7.5 s;
        MiniLM's 6 layers on 13 tokens: ~0.9 s; time grows about like N^4.5). Raise it knowingly.
    normalize
        Divide each row by its sum, as the authors' code does, so rows sum to 1 like rollout's. With
        ``normalize=False`` the raw flow values (each in ``[0, 1]``) are returned.

    Returns
    -------
    numpy.ndarray, float64 ``[N, N]``, non-negative.
    """
    import networkx as nx
    from networkx.algorithms.flow import build_residual_network, preflow_push

    mats = residual_attention(attention, residual=residual, head_reduce=head_reduce)
    num_layers, n, _ = mats.shape
    if not isinstance(max_tokens, int) or max_tokens < 1:
        raise ValueError(f"max_tokens must be a positive int, got {max_tokens!r}")
    if n > max_tokens:
        raise ValueError(
            f"attention_flow is limited to max_tokens={max_tokens} tokens and this input has {n}: it solves "
            f"N² max-flow problems on a {num_layers + 1}-layer graph, and at the default limit of "
            f"{FLOW_MAX_TOKENS} tokens 12 layers already take about 25 s (time grows about like N^4.5). "
            "Use rollout() for long inputs, shorten the text, or pass a larger max_tokens= knowingly."
        )
    graph = nx.DiGraph()
    graph.add_nodes_from((layer, j) for layer in range(num_layers + 1) for j in range(n))
    for layer in range(num_layers):
        rows, cols = np.nonzero(mats[layer] > 0)
        graph.add_edges_from(((layer + 1, int(i)), (layer, int(j)), {"capacity": float(mats[layer, i, j])}) for i, j in zip(rows, cols))
    residual_net = build_residual_network(graph, "capacity")
    flows = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            flows[i, j] = nx.maximum_flow_value(
                graph, (num_layers, i), (0, j), capacity="capacity", flow_func=preflow_push, residual=residual_net
            )
    np.maximum(flows, 0.0, out=flows)
    if normalize:
        sums = flows.sum(axis=1, keepdims=True)
        flows = np.divide(flows, sums, out=np.zeros_like(flows), where=sums > 0)
    return flows
