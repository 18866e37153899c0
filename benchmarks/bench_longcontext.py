"""Long-context capture benchmark: compact capture vs a plain forward pass, and exactness.

    python benchmarks/bench_longcontext.py               # TinyLlama shape, 4,096 tokens, CPU
    python benchmarks/bench_longcontext.py --gpu         # + Llama-3-8B shape, 32,768 tokens, CUDA
    python benchmarks/bench_longcontext.py --layers 2 --tokens 1024   # a quick look

Every measurement runs in a fresh subprocess (a worker mode of this script), so peak RSS
(``VmHWM``) belongs to that configuration alone:

* ``forward``: the model (random weights, real shapes, float32 on the CPU) and one plain
  ``model(input_ids)`` under ``torch.no_grad()`` with its default (sdpa) attention;
* ``capture``: the same model and ``compact_from_ids`` (one forward on the same sdpa path, queries
  and keys kept, streaming summaries);
* ``exact``: a model of the same shape with fewer layers (``--exact-layers``; eager attention of all
  22 layers at 4,096 tokens would hold 47 GB): compact capture vs the model's own eager forward
  (``attn_implementation="eager"``), whose weights are taken by hooks one layer at a time. Whole
  heads, random rows, tiles and cells are compared.

Writes ``benchmarks/longcontext_results.json`` and ``.md``. Needs torch, transformers and numpy
only: the capture modules are imported without the widget.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SHAPES = {
    # TinyLlama-1.1B: 22 layers x 32 heads, 4 key/value heads, head size 64
    "tinyllama": dict(
        hidden_size=2048,
        intermediate_size=5632,
        num_hidden_layers=22,
        num_attention_heads=32,
        num_key_value_heads=4,
        vocab_size=32000,
        max_position_embeddings=4096,
    ),
    # Llama-3-8B: 32 layers x 32 heads, 8 key/value heads, head size 128
    "llama3-8b": dict(
        hidden_size=4096,
        intermediate_size=14336,
        num_hidden_layers=32,
        num_attention_heads=32,
        num_key_value_heads=8,
        vocab_size=128256,
        max_position_embeddings=32768,
        rope_theta=500000.0,
    ),
}


def _import_longcontext():
    # albert_widget/__init__ imports the widget (anywidget); the capture needs none of it.
    if "albert_widget" not in sys.modules:
        package = types.ModuleType("albert_widget")
        package.__path__ = [str(ROOT / "albert_widget")]
        sys.modules["albert_widget"] = package
    from albert_widget.longcontext import compact_from_ids

    return compact_from_ids


def _rss(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def _build(shape: str, layers: int | None, device: str, dtype: str):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    options = dict(SHAPES[shape])
    if layers:
        options["num_hidden_layers"] = layers
    torch.manual_seed(0)
    config = LlamaConfig(**options)
    torch_dtype = getattr(torch, dtype)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch_dtype)  # built in its dtype: no float32 copy of 8B weights first
    try:
        with torch.device(device):
            model = LlamaForCausalLM(config).eval()
    finally:
        torch.set_default_dtype(previous)
    return model


def _sync(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def worker(args) -> dict:
    import numpy as np
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    device = args.gpu_device if args.gpu_worker else "cpu"
    dtype = "bfloat16" if args.gpu_worker else "float32"
    layers = args.exact_layers if args.worker == "exact" else args.layers
    model = _build(args.shape, layers, device, dtype)
    if args.worker == "exact" and args.gpu_worker:
        model = model.float()  # exactness is a float32 question: bf16 eager rounds its own scores
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, model.config.vocab_size, (1, args.tokens), generator=g)
    out = {
        "worker": args.worker,
        "shape": args.shape,
        "layers": model.config.num_hidden_layers,
        "tokens": args.tokens,
        "device": device,
        "dtype": str(next(model.parameters()).dtype).removeprefix("torch."),
        "threads": torch.get_num_threads(),
    }
    out["rss_after_build"] = _rss("VmRSS")
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
        base_gpu = torch.cuda.memory_allocated()
    compact_from_ids = _import_longcontext()

    if args.worker == "forward":
        with torch.no_grad():
            _sync(device)
            t, c = time.perf_counter(), time.process_time()
            model(ids.to(device))
            _sync(device)
            out["seconds"] = time.perf_counter() - t
            out["cpu_seconds"] = time.process_time() - c
    elif args.worker == "capture":
        _sync(device)
        t, c = time.perf_counter(), time.process_time()
        result = compact_from_ids(model, ids, memory_budget=args.memory_budget)
        _sync(device)
        out["seconds"] = time.perf_counter() - t
        out["cpu_seconds"] = time.process_time() - c
        out["result_bytes"] = result.nbytes
        out["attn_implementation_after"] = model.config._attn_implementation
        if args.gpu_worker:
            out.update(_sampled_check(result, np))
    else:
        out.update(_exact(model, ids, compact_from_ids, device, np, torch))
    out["peak_rss"] = _rss("VmHWM")
    if device == "cuda":
        out["gpu_peak_above_model"] = torch.cuda.max_memory_allocated() - base_gpu
    return out


def _sampled_check(result, np) -> dict:
    """At 32k tokens no eager reference fits: rows recomputed in float64 straight from the stored
    queries and keys (softmax over the whole row) against block() and the top-k summary."""
    import torch

    rng = np.random.default_rng(0)
    n = result.num_tokens
    worst = 0.0
    group = result.num_heads // result.num_kv_heads
    for _ in range(8):
        layer, head, i = int(rng.integers(result.num_layers)), int(rng.integers(result.num_heads)), int(rng.integers(n))
        q = result.queries[layer][head, i].double()
        k = result.keys[layer][head // group, : i + 1].double()
        ref = torch.softmax((k @ q) * result.params[layer].scaling, dim=0).numpy()
        got = result.block(layer, head, [i], slice(0, i + 1))[0]
        worst = max(worst, float(np.abs(got - ref).max()))
        worst = max(worst, abs(float(result.summaries.topk_weight[layer, head, i, 0]) - float(ref.max())))
    return {"sampled_rows_max_abs_error_vs_float64": worst}


def _exact(model, ids, compact_from_ids, device, np, torch) -> dict:
    """Compact captures against the model's own eager forward, layer by layer.

    ``fast``: captured on the model's default (sdpa) path, as users run it; from the second layer on
    its queries and keys differ from the eager pass's by the float32 rounding of the two attention
    implementations upstream. ``same_path``: captured with eager attention, so the queries and keys
    are the reference's own and only the recomputation is measured."""
    n = ids.shape[1]
    t = time.perf_counter()
    results = {"fast": compact_from_ids(model, ids.to(device))}
    capture_seconds = time.perf_counter() - t
    previous = model.config._attn_implementation
    model.set_attn_implementation("eager")
    try:
        results["same_path"] = compact_from_ids(model, ids.to(device))
    finally:
        model.set_attn_implementation(previous)
    rng = np.random.default_rng(0)
    L, H = results["fast"].num_layers, results["fast"].num_heads
    heads = {(l, int(h)) for l in range(L) for h in rng.choice(H, size=2, replace=False)}
    errors = {name: {"head": 0.0, "row": 0.0, "tile": 0.0, "cell": 0.0} for name in results}
    per_layer = {name: [0.0] * L for name in results}
    counts = {"head": 0, "row": 0, "tile": 0, "cell": 0}

    def compare(layer: int, weights) -> None:  # weights: eager [H, N, N] of one layer (float32)
        for h in range(H):
            ref = weights[h]
            rows = rng.choice(n, size=16, replace=False)
            r0, c0 = int(rng.integers(0, n - 128)), int(rng.integers(0, n - 128))
            r0 = max(r0, c0)  # a tile on or below the diagonal
            cells = [(int(i), int(rng.integers(i + 1))) for i in rng.integers(0, n, size=16)]
            for name, result in results.items():
                err = errors[name]

                def diff(got, want) -> float:
                    return float((torch.from_numpy(got).to(want.device) - want).abs().max())

                found = {
                    "row": diff(result.block(layer, h, rows), ref[rows]),
                    "tile": diff(result.block(layer, h, slice(r0, r0 + 128), slice(c0, c0 + 128)), ref[r0 : r0 + 128, c0 : c0 + 128]),
                    "cell": max(abs(float(result.block(layer, h, [i], [j])[0, 0]) - float(ref[i, j])) for i, j in cells),
                }
                if (layer, h) in heads:
                    found["head"] = diff(result.head(layer, h), ref)
                for kind, value in found.items():
                    err[kind] = max(err[kind], value)
                per_layer[name][layer] = max(per_layer[name][layer], *found.values())
            counts["head"] += int((layer, h) in heads)
            counts["row"] += len(rows)
            counts["tile"] += 1
            counts["cell"] += len(cells)

    # The eager reference: each layer's weights as the model computes them, compared and dropped
    # before the next layer runs.
    layer_of = {}
    hooks = []
    for index, layer in enumerate(model.model.layers):
        layer_of[id(layer.self_attn)] = index

        def hook(module, _args, output):
            compare(layer_of[id(module)], output[1][0].float())

        hooks.append(layer.self_attn.register_forward_hook(hook))
    model.set_attn_implementation("eager")
    try:
        with torch.no_grad():
            # Eager attention modules return their weights anyway; without output_attentions the
            # model keeps none of them, so only one layer's [H, N, N] is alive at a time.
            model(ids.to(device), use_cache=False, logits_to_keep=1)
    finally:
        model.set_attn_implementation(previous)
        for handle in hooks:
            handle.remove()
    return {
        "max_abs_error": errors["fast"],
        "max_abs_error_same_path": errors["same_path"],
        "max_abs_error_per_layer": per_layer,
        "compared": counts,
        "capture_seconds": capture_seconds,
    }


def run_worker(args, mode: str, gpu: bool = False) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--worker",
        mode,
        "--shape",
        args.shape,
        "--tokens",
        str(args.tokens),
        "--exact-layers",
        str(args.exact_layers),
        "--threads",
        str(args.threads),
    ]
    if args.layers:
        cmd += ["--layers", str(args.layers)]
    if args.memory_budget:
        cmd += ["--memory-budget", str(args.memory_budget)]
    if gpu:
        cmd += ["--gpu-worker", "--gpu-device", args.gpu_device]
    print("running:", " ".join(cmd[2:]), flush=True)
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "TRANSFORMERS_VERBOSITY": "error"})
    if proc.returncode != 0:
        print(proc.stderr[-4000:], file=sys.stderr)
        raise SystemExit(f"worker {mode} failed")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def gib(x: float) -> str:
    return f"{x / 1024**3:.2f} GiB"


def summarize(forward: dict, capture: dict, exact: dict | None, label: str) -> list[str]:
    extra = capture["peak_rss"] - forward["peak_rss"]
    rows = [
        f"### {label}: {capture['layers']} layers, {capture['tokens']:,} tokens, {capture['device']} {capture['dtype']}, "
        f"{capture['threads']} threads",
        "",
        "| measure | value | target |",
        "|---|---|---|",
        f"| plain forward (sdpa): time | {forward['seconds']:.1f} s | |",
        f"| plain forward: peak RSS | {gib(forward['peak_rss'])} | |",
        f"| capture: time | {capture['seconds']:.1f} s | |",
        f"| capture: peak RSS | {gib(capture['peak_rss'])} | |",
        f"| capture peak RSS above the forward's | {gib(extra)} ({100 * extra / forward['peak_rss']:.1f}% of the forward's peak) | <= 25% and < 1 GB |",
        f"| capture time minus forward | {capture['seconds'] - forward['seconds']:.1f} s ({100 * (capture['seconds'] - forward['seconds']) / forward['seconds']:.1f}% of the forward) | <= 25% |",
        f"| same in process CPU time (less sensitive to other load) | {capture['cpu_seconds'] - forward['cpu_seconds']:.1f} s of {forward['cpu_seconds']:.1f} s ({100 * (capture['cpu_seconds'] - forward['cpu_seconds']) / forward['cpu_seconds']:.1f}%) | <= 25% |",
        f"| compact result held | {gib(capture['result_bytes'])} | |",
    ]
    if "gpu_peak_above_model" in capture:
        rows.append(
            f"| GPU peak above the model: forward / capture | {gib(forward['gpu_peak_above_model'])} / {gib(capture['gpu_peak_above_model'])} | |"
        )
    if "sampled_rows_max_abs_error_vs_float64" in capture:
        rows.append(f"| sampled rows vs float64 softmax of the stored q, k | {capture['sampled_rows_max_abs_error_vs_float64']:.2e} | |")
    if exact:
        c = exact["compared"]
        for key, how in (("max_abs_error", "captured on the sdpa path"), ("max_abs_error_same_path", "captured on the eager path")):
            e = exact[key]
            rows.append(
                f"| vs eager forward, {how} ({exact['layers']} layers, {exact['tokens']:,} tokens, {exact['dtype']}): max abs error | "
                f"heads {e['head']:.1e} ({c['head']}), rows {e['row']:.1e} ({c['row']}), tiles 128x128 {e['tile']:.1e} ({c['tile']}), "
                f"cells {e['cell']:.1e} ({c['cell']}) | <= 1e-6 |"
            )
        per = exact["max_abs_error_per_layer"]
        rows.append(
            f"| per layer, sdpa path / eager path | {' / '.join(', '.join(f'{x:.1e}' for x in per[k]) for k in ('fast', 'same_path'))} | |"
        )
    return rows + [""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", default="tinyllama", choices=sorted(SHAPES))
    parser.add_argument("--tokens", type=int, default=None)
    parser.add_argument("--layers", type=int, default=None, help="fewer layers than the real model")
    parser.add_argument("--exact-layers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--memory-budget", type=int, default=None)
    parser.add_argument("--gpu", action="store_true", help="also run the Llama-3-8B shape at 32,768 tokens on CUDA")
    parser.add_argument("--skip-cpu", action="store_true")
    parser.add_argument("--skip-exact", action="store_true", help="time and memory only")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "longcontext_results"))
    parser.add_argument("--worker", choices=["forward", "capture", "exact"], help=argparse.SUPPRESS)
    parser.add_argument("--gpu-worker", action="store_true", help=argparse.SUPPRESS)
    # A dry run of the GPU path on the CPU (--gpu-device cpu --gpu-tokens 512 --layers 1) checks
    # the script where no GPU is at hand.
    parser.add_argument("--gpu-device", default="cuda", help=argparse.SUPPRESS)
    parser.add_argument("--gpu-tokens", type=int, default=32768, help="tokens of the GPU run")
    args = parser.parse_args()
    if args.worker:
        if args.tokens is None:
            args.tokens = 4096
        print(json.dumps(worker(args)))
        return

    import torch

    report: dict = {"python": sys.version.split()[0], "torch": torch.__version__, "cpus": os.cpu_count(), "runs": []}
    lines = [
        "# Long-context capture benchmark",
        "",
        "Random weights, real shapes (LlamaForCausalLM from a config). Each number from a fresh process.",
        "",
    ]
    if not args.skip_cpu:
        args.tokens = args.tokens or 4096
        forward = run_worker(args, "forward")
        capture = run_worker(args, "capture")
        exact = None if args.skip_exact else run_worker(args, "exact")
        report["runs"].append({"forward": forward, "capture": capture, "exact": exact})
        lines += summarize(forward, capture, exact, f"{args.shape} shape on the CPU")
    if args.gpu or torch.cuda.is_available():
        if args.gpu_device == "cuda" and not torch.cuda.is_available():
            lines += ["No CUDA GPU here: the Llama-3-8B run was skipped.", ""]
        else:
            # The compact form of 32 layers at 32k tokens holds ~12.6 GB (queries/keys in bfloat16):
            # over the 2 GiB default budget, so the run says how much it may use.
            gpu_args = argparse.Namespace(
                **{
                    **vars(args),
                    "shape": "llama3-8b",
                    "tokens": args.gpu_tokens,
                    "layers": args.layers,
                    "exact_layers": 2,
                    "memory_budget": args.memory_budget or 64 * 1024**3,
                }
            )
            forward = run_worker(gpu_args, "forward", gpu=True)
            capture = run_worker(gpu_args, "capture", gpu=True)
            exact = run_worker(argparse.Namespace(**{**vars(gpu_args), "tokens": min(4096, args.gpu_tokens)}), "exact", gpu=True)
            report["runs"].append({"forward": forward, "capture": capture, "exact": exact})
            report["gpu"] = torch.cuda.get_device_name(0) if args.gpu_device == "cuda" else f"{args.gpu_device} (dry run)"
            lines += summarize(forward, capture, exact, f"llama3-8b shape on {report['gpu']}")
    text = "\n".join(lines)
    print(text)
    Path(args.out + ".json").write_text(json.dumps(report, indent=2))
    Path(args.out + ".md").write_text(text + "\n")


if __name__ == "__main__":
    main()
