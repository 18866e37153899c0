"""Where the compact capture's extra time goes: one layer of the TinyLlama shape (32 query heads, 4 key
heads, head size 64) at 4,096 tokens on this CPU, in process CPU time (fairer than wall time on a
shared machine). The capture adds the streaming pass (log-sum-exp and per-head statistics,
``longcontext.summaries.layer_pass``) to the forward's own attention; this splits the pass into its
q·kᵀ products, the element-wise statistics and the top-k keys, beside the forward's sdpa attention.

    python benchmarks/bench_streaming_pass.py [--tokens 4096] [--repeats 2]

Writes benchmarks/streaming_pass_results.md and .json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def cpu_seconds(fn, repeats: int) -> float:
    """The least process CPU time of ``repeats`` calls of ``fn``."""
    best = float("inf")
    for _ in range(repeats):
        t = time.process_time()
        fn()
        best = min(best, time.process_time() - t)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, default=4096)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    import torch

    from albert_widget.longcontext.hooks import LayerParams
    from albert_widget.longcontext.summaries import DEFAULT_CHUNK_ELEMENTS, layer_pass, scores

    heads, kv, n, d = 32, 4, args.tokens, 64
    torch.manual_seed(0)
    q, k, v = torch.randn(heads, n, d), torch.randn(kv, n, d), torch.randn(kv, n, d)
    params = LayerParams(scaling=d**-0.5)
    load_start = os.getloadavg()

    def sdpa() -> None:
        group = heads // kv
        torch.nn.functional.scaled_dot_product_attention(
            q[None], k.repeat_interleave(group, 0)[None], v.repeat_interleave(group, 0)[None], is_causal=True
        )

    def products() -> None:  # the pass's q·kᵀ, chunk by chunk, and nothing else
        rows = max(1, DEFAULT_CHUNK_ELEMENTS // (heads * n))
        for a in range(0, n, rows):
            b = min(n, a + rows)
            scores(q[:, a:b].reshape(kv, (heads // kv) * (b - a), d), k[:, :b], params)

    rows = {
        "the forward's own attention (sdpa, causal)": cpu_seconds(sdpa, args.repeats),
        "streaming pass: q·kᵀ products alone": cpu_seconds(products, args.repeats),
        "streaming pass without top-k (lse + statistics)": cpu_seconds(lambda: layer_pass(q, k, params, top_k=0), args.repeats),
        "streaming pass with top-4 keys (what capture runs)": cpu_seconds(lambda: layer_pass(q, k, params, top_k=4), args.repeats),
    }
    report = {
        "shape": {"heads": heads, "kv_heads": kv, "head_dim": d, "tokens": n},
        "cpu_seconds": rows,
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "load_start": load_start,
            "load_end": os.getloadavg(),
        },
    }
    base = rows["the forward's own attention (sdpa, causal)"]
    lines = [
        "# The streaming pass, one layer of the TinyLlama shape",
        "",
        f"{heads} query heads, {kv} key heads, head size {d}, {n:,} tokens, float32; process CPU time, best of "
        f"{args.repeats}; torch {torch.__version__} ({torch.get_num_threads()} threads) on {os.cpu_count()} cores; load average "
        f"{load_start[0]:.1f} at start, {report['machine']['load_end'][0]:.1f} at end.",
        "",
        "| part | CPU s per layer | x the forward's attention |",
        "|---|---|---|",
    ]
    lines += [f"| {name} | {t:.2f} | {t / base:.1f} |" for name, t in rows.items()]
    text = "\n".join(lines) + "\n"
    print(text)
    (HERE / "streaming_pass_results.md").write_text(text, encoding="utf-8")
    (HERE / "streaming_pass_results.json").write_text(json.dumps(report, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
