"""Corpus analyses on engines: ``head_stats`` (Jensen-Shannon included) over 20,000 sentences in one
process, on a local 2-worker Ray cluster and on a local 2-worker Dask cluster, on this machine.

    python benchmarks/bench_corpus.py                 # 20,000 sentences, MiniLM (the packaged model)
    python benchmarks/bench_corpus.py --texts 2000    # a quicker look

Writes benchmarks/corpus_results.json and benchmarks/CORPUS_RESULTS.md. Per engine: the wall time of
the ``head_stats`` call, the cluster's start-up (outside the call), the fixed cost of one call (a call
on 2 one-sentence shards: worker start, model transfer, scheduling) and the engine's overhead against
the single process; plus the largest difference from the single process's answer. Nothing is
downloaded: the corpus is written from templates, the model is the packaged MiniLM.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

HERE = Path(__file__).resolve().parent


def max_difference(a, b) -> float:
    import numpy as np

    from albert_widget.analysis import STATISTICS

    diffs = [np.abs(getattr(a, n) - getattr(b, n)).max() for n in STATISTICS]
    if a.js_divergence is not None:
        diffs += [np.abs(a.js_divergence - b.js_divergence).max(), np.abs(a.js_distance - b.js_distance).max()]
    return float(max(diffs))


def components(model, tokenizer, corpus, batch_size: int) -> dict:
    """Where one process's time goes, on the first 1,000 texts: tokenisation, the model's forward
    passes, and the statistics (the rest of head_stats); the sizes that travel to and from workers."""
    import torch

    from albert_widget.analysis import head_stats
    from albert_widget.analysis._common import collate, eager_eval, forward_kwargs, length_batches, split_texts, tokenize_each
    from albert_widget.analysis.shards import ShardTask, plan_shards, task_config
    from albert_widget.analysis.stats import stats_of_texts

    sample = corpus[:1000]
    torch.set_num_threads(1)  # as in the engines' workers (and see the two one-process rows)
    t = time.perf_counter()
    firsts, seconds = split_texts(sample)
    items = tokenize_each(model, tokenizer, firsts, seconds)
    tokenize = time.perf_counter() - t
    t = time.perf_counter()
    with eager_eval(model), torch.no_grad():
        for rows in length_batches([len(it["input_ids"]) for it in items], batch_size):
            model(**forward_kwargs(model, collate([items[i] for i in rows], tokenizer.pad_token_id)), output_attentions=True)
    forward = time.perf_counter() - t
    t = time.perf_counter()
    head_stats(model, tokenizer, sample, batch_size=batch_size, progress=False)
    whole = time.perf_counter() - t
    options = {"batch_size": batch_size, "js": True}
    task = ShardTask("head_stats", stats_of_texts, model, tokenizer, options, task_config(model, **options))
    shard = next(plan_shards(sample, 500))
    partial = task.run(shard)
    torch.set_num_threads(os.cpu_count() or 1)
    return {
        "texts": len(sample),
        "tokens": sum(len(it["input_ids"]) for it in items),
        "tokenize_s": tokenize,
        "forward_s": forward,
        "head_stats_s": whole,
        "statistics_s": max(0.0, whole - tokenize - forward),
        "model_payload_bytes": len(pickle.dumps(task)),
        "partial_bytes": len(partial.to_bytes()),
        "shard_texts": shard.size,
        "shard_bytes": len(pickle.dumps(shard)),
    }


class LoadSampler:
    """The mean 1-minute load average while the block runs (sampled every 2 s): the machine is shared,
    and a wall time means little without the load it ran under."""

    def __init__(self) -> None:
        import threading

        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while True:
            self.samples.append(os.getloadavg()[0])
            if self._stop.wait(2.0):
                return

    def __enter__(self) -> LoadSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def mean(self) -> float:
        return sum(self.samples) / max(1, len(self.samples))


def run_single(model, tokenizer, corpus, args, threads: int) -> tuple[dict, object]:
    import torch

    from albert_widget.analysis import head_stats

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with LoadSampler() as load:
            t = time.perf_counter()
            stats = head_stats(model, tokenizer, corpus, batch_size=args.batch_size, shard_size=args.shard_size, progress=False)
            wall = time.perf_counter() - t
    finally:
        torch.set_num_threads(before)
    label = f"one process, {threads} torch thread{'s' if threads > 1 else ''}"
    return {"engine": label, "texts": len(corpus), "wall_s": wall, "start_s": 0.0, "fixed_s": 0.0, "single": True, "load": load.mean}, stats


def run_engine(engine: str, model, tokenizer, corpus, args) -> tuple[dict, object]:
    from albert_widget.analysis import head_stats

    t = time.perf_counter()
    if engine == "ray":
        import ray

        from albert_widget.analysis.engines import init_ray

        init_ray(num_cpus=args.workers, include_dashboard=False, log_to_driver=False)
        kwargs = {"num_workers": args.workers}
    else:
        from distributed import Client, LocalCluster

        cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=":0")
        client = Client(cluster)
        kwargs = {"client": client}
    start = time.perf_counter() - t
    try:
        t = time.perf_counter()
        head_stats(model, tokenizer, corpus[:2], engine=engine, shard_size=1, progress=False, **kwargs)
        fixed = time.perf_counter() - t
        with LoadSampler() as load:
            t = time.perf_counter()
            stats = head_stats(
                model, tokenizer, corpus, engine=engine, batch_size=args.batch_size, shard_size=args.shard_size, progress=False, **kwargs
            )
            wall = time.perf_counter() - t
    finally:
        if engine == "ray":
            ray.shutdown()
        else:
            client.close()
            cluster.close()
    label = f"Ray Data, {args.workers} workers x 1 thread" if engine == "ray" else f"Dask, {args.workers} workers x 1 thread"
    return {"engine": label, "texts": len(corpus), "wall_s": wall, "start_s": start, "fixed_s": fixed, "load": load.mean}, stats


NOTES = """\
## Notes: scaling on N GPU workers, and where the bottleneck moves

On this machine the engines cannot be faster than one process: 2 workers of one torch thread each
share the same 2 cores with everything else, so the table measures what the engines cost, not what
they gain. (On a busy machine a process with one torch thread per core is far slower per text than
one thread: its threads wait on each other; hence the one-thread baseline.) On a cluster the shards are independent and merge by addition, so the
model part scales with the number of workers N (one replica per worker, GPUs when there are):
time ≈ fixed cost + corpus / (N × per-worker rate), as long as there are several shards per worker
(with S shards, the last wave leaves workers idle: keep S ≥ 4N).

Where the bottleneck moves, with the figures of the components table (MiniLM, ~17-token sentences):

* One CPU process: the model and the statistics (the Jensen-Shannon matrices over 72 heads cost about
  as much as the forward pass) dominate; tokenisation is a few percent.
* N GPU workers: the forward pass and the statistics get 10-50x faster per worker (an H200 ran 1,000
  sentences in 0.7 s at batch 64, against 4-5 s on 2 CPU cores), so per-worker time becomes
  tokenisation on the worker's CPU (a Python loop over texts, one text at a time) plus the host-to-GPU
  copy: give each GPU worker several CPUs, or pre-tokenise, before adding GPUs.
* Transfer is small: each worker receives the model once (the payload size below; ~90 MB for MiniLM,
  ~45 MB for albert-base, GBs for large models: read from shared storage there instead) and each
  shard's texts (tens of kB); it returns one partial of fixed size per shard (a few hundred kB with
  the [L·H, L·H] Jensen-Shannon sums), independent of the shard's length. The driver's merge is a
  handful of additions per shard.
* With many workers the fixed costs remain: cluster start-up, worker start (importing torch and
  transformers, seconds per worker) and the model transfer; they are paid once per call, so the
  engines pay off for corpora that take minutes, not seconds, in one process.
"""


def markdown(report: dict) -> str:
    m = report["machine"]
    lines = [
        "# Corpus analyses on engines: head_stats over a corpus",
        "",
        f"Machine: {m['cpus']} cores, {m['platform']}; Python {m['python']}, torch {m['torch']} "
        f"({m['torch_threads']} threads), ray {m['ray']}, dask {m['dask']}. Load average at start {tuple(m['load_start'])}, "
        f"at end {tuple(m['load_end'])} (the machine is shared with other work: absolute times are noisy).",
        "",
        f"Corpus: {report['texts']} template sentences (`make_corpus`), model {report['model']}, batch size "
        f"{report['batch_size']}, shards of {report['shard_size']} texts, Jensen-Shannon included.",
        "",
        "Overhead: the engine's wall time minus the one-thread process's on the same corpus, and its fixed cost "
        "(a call on 2 one-sentence shards). Engine workers run one torch thread each (Ray and Dask set "
        "OMP_NUM_THREADS=1 in their workers).",
        "",
        "| run | texts | wall time of the call (s) | texts/s | mean load average during the call | cluster start-up (s) | fixed cost of a call (s) | overhead vs one process, 1 thread (s, %) | max abs difference from one process |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    base = report["runs"][0]["wall_s"]
    for r in report["runs"]:
        if "error" in r:
            lines.append(f"| {r['engine']} | {r['texts']} | failed: {r['error'][:120]} | | | | | | |")
            continue
        cells = ["—"] * 4
        if not r.get("single", False):
            over = r["wall_s"] - base
            cells = [f"{r['start_s']:.1f}", f"{r['fixed_s']:.1f}", f"{over:+.1f} ({100 * over / base:+.0f}%)", f"{r['max_difference']:.1e}"]
        load = f"{r['load']:.1f}" if "load" in r else "—"
        lines.append(
            f"| {r['engine']} | {r['texts']} | {r['wall_s']:.1f} | {r['texts'] / r['wall_s']:.1f} | {load} | " + " | ".join(cells) + " |"
        )
    c = report["components"]
    lines += [
        "",
        f"Components, one process with 1 torch thread, first {c['texts']} texts ({c['tokens']} tokens): tokenisation {c['tokenize_s']:.2f} s, "
        f"forward passes {c['forward_s']:.2f} s, statistics {c['statistics_s']:.2f} s (head_stats {c['head_stats_s']:.2f} s). "
        f"Sent to each worker once: {c['model_payload_bytes'] / 1e6:.1f} MB (model + tokenizer); per shard of {c['shard_texts']} texts: "
        f"{c['shard_bytes'] / 1e3:.0f} kB of texts out, {c['partial_bytes'] / 1e3:.0f} kB of partial sums back.",
        "",
        NOTES,
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=int, default=20000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--shard-size", type=int, default=500)
    parser.add_argument("--engines", default="dask,ray")
    parser.add_argument(
        "--threaded-texts", type=int, default=200, help="texts for the extra one-process run with one torch thread per core (0: skip)"
    )
    parser.add_argument("--out", default=str(HERE / "corpus_results.json"))
    parser.add_argument("--md", default=str(HERE / "CORPUS_RESULTS.md"))
    parser.add_argument("--render", action="store_true", help="only rewrite --md from the JSON of --out")
    args = parser.parse_args()
    if args.render:
        Path(args.md).write_text(markdown(json.loads(Path(args.out).read_text())) + "\n")
        return

    import dask
    import ray
    import torch

    from albert_widget import load_default_model
    from albert_widget.analysis import make_corpus

    load_start = tuple(round(x, 1) for x in os.getloadavg())
    begin = time.perf_counter()
    model, tokenizer = load_default_model()
    corpus = make_corpus(args.texts, seed=0)
    report = {
        "texts": len(corpus),
        "model": "all-MiniLM-L6-v2 (packaged)",
        "batch_size": args.batch_size,
        "shard_size": args.shard_size,
        "workers": args.workers,
        "components": components(model, tokenizer, corpus, args.batch_size),
        "runs": [],
    }
    print(json.dumps(report["components"], indent=1), flush=True)
    # The fair baseline for 2 single-threaded workers: one process, one thread, whole corpus.
    row, reference = run_single(model, tokenizer, corpus, args, threads=1)
    report["runs"].append(row)
    print(row, flush=True)
    if args.threaded_texts:
        # torch's default (one thread per core) on part of the corpus: on a shared machine its threads
        # wait on each other and it can be far slower per text than one thread.
        row, _ = run_single(model, tokenizer, corpus[: args.threaded_texts], args, threads=os.cpu_count() or 1)
        report["runs"].append(row)
        print(row, flush=True)
    for engine in [e for e in args.engines.split(",") if e]:
        try:
            row, stats = run_engine(engine, model, tokenizer, corpus, args)
            row["max_difference"] = max_difference(stats, reference)
        except Exception as exc:  # a cluster that did not start on a busy machine: say so in the table
            row = {"engine": engine, "texts": len(corpus), "error": f"{type(exc).__name__}: {exc}"}
        report["runs"].append(row)
        print(row, flush=True)
    report["machine"] = {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "ray": ray.__version__,
        "dask": dask.__version__,
        "load_start": load_start,
        "load_end": tuple(round(x, 1) for x in os.getloadavg()),
        "total_s": time.perf_counter() - begin,
    }
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    text = markdown(report)
    Path(args.md).write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    sys.exit(main())
