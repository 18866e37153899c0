#!/usr/bin/env python
"""head_divergence: Jensen-Shannon divergence between every head of two captures.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_head_divergence.py [--out FILE]

Random row-stochastic attention (rows ~ uniform^4, renormalised: peaky like real heads), float32
``[L, H, N, N]`` on each side, identical tokens (token-by-token alignment, the target case) and, for
one row, a word alignment with one word dropped on each side. Each case runs 5 times; the least
disturbed run (the minimum: contention on a shared machine only adds time) and the median are kept.
The time covers everything ``head_divergence`` does: alignment maps, restriction and renormalisation
of both sides (float64), the pairwise pass (float32 blocks) and the float64 result. Prints a table and
writes its figures (with the machine's load average) to ``benchmarks/head_divergence.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np

from albert_widget.analysis import head_divergence
from albert_widget.compare.align import align_tokens

CASES = [  # (layers, heads) per side, aligned tokens
    ((6, 12), (6, 12), 128),
    ((12, 12), (6, 12), 128),
    ((12, 12), (12, 12), 64),
    ((12, 12), (12, 12), 128),
    ((12, 12), (12, 12), 256),
]
RUNS = 5


def _attention(rng: np.random.Generator, layers: int, heads: int, n: int) -> np.ndarray:
    a = rng.random((layers, heads, n, n), dtype=np.float32) ** 4
    return a / a.sum(-1, keepdims=True)


def _time(fn) -> tuple[float, float]:
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(__file__).with_name("head_divergence.json")))
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    rows = []
    for (la, ha), (lb, hb), n in CASES:
        a, b = _attention(rng, la, ha, n), _attention(rng, lb, hb, n)
        best, median = _time(lambda a=a, b=b: head_divergence(a, b))
        rows.append(
            {
                "left": [la, ha],
                "right": [lb, hb],
                "tokens": n,
                "alignment": "token",
                "pairs": la * ha * lb * hb,
                "best_s": best,
                "median_s": median,
            }
        )
    # Word alignment: different words at one position on each side (one deletion, one insertion).
    n = 128
    left = ["[CLS]", *[f"w{i}" for i in range(n - 2)], "[SEP]"]
    right = list(left)
    right[5] = "other"
    alignment = align_tokens(left, right)
    a, b = _attention(rng, 12, 12, n), _attention(rng, 12, 12, n)
    best, median = _time(lambda: head_divergence(a, b, alignment))
    rows.append(
        {
            "left": [12, 12],
            "right": [12, 12],
            "tokens": alignment.num_units,
            "alignment": "word",
            "pairs": 144 * 144,
            "best_s": best,
            "median_s": median,
        }
    )

    print(f"{'left':>8} {'right':>8} {'aligned':>8} {'align':>6} {'head pairs':>11} {'best s':>8} {'median s':>9}")
    for r in rows:
        print(
            f"{'x'.join(map(str, r['left'])):>8} {'x'.join(map(str, r['right'])):>8} {r['tokens']:>8} {r['alignment']:>6} "
            f"{r['pairs']:>11} {r['best_s']:>8.3f} {r['median_s']:>9.3f}"
        )
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs")
    result = {
        "runs": RUNS,
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "numpy": np.__version__,
            "load_average": load,
        },
        "rows": rows,
    }
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
