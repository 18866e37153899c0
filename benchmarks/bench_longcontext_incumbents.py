#!/usr/bin/env python
"""Long inputs: bertviz and CircuitsVis against albert_widget's compact capture, in the same run, at the
largest length each survives on this machine.

    .venv/bin/python benchmarks/bench_longcontext_incumbents.py \\
        [--circuitsvis-path DIR] [--tokens 512 1024 2048 4096] [--mem-gib 6] [--timeout 300]

CircuitsVis is not a dependency of albert_widget: ``--circuitsvis-path`` (or the environment variable
``CIRCUITSVIS_PATH``) names a folder that holds it (``pip install --target DIR circuitsvis``); when it
cannot be imported its rows say "not installed (pip install circuitsvis)".

Model: TinyLlama-1.1B's attention shape (32 heads, 4 key/value heads, head size 64, hidden 2048) with
``--layers`` layers (default 2), an MLP of width 1024 and a vocabulary of 1,000, random weights: the
model of benchmarks/bench_longcontext_page.py. Tokens ``t0 … t{N-1}`` (random ids, seed 0).

How each figure is measured (written into longcontext_incumbents_results.md):
- every tool and length runs in its own subprocess (a worker mode of this script) under an address-space
  limit (``resource.RLIMIT_AS``, ``--mem-gib``) and a wall-clock limit (``--timeout``); a run that
  raises MemoryError (or torch's "can't allocate memory"), is killed or runs out of time is recorded as
  failed, with the stage it was in, and that tool is not run at longer lengths.
- bertviz: the model's eager forward with ``output_attentions=True`` (all layers), then
  ``head_view(attention, tokens, html_action="return")`` built by benchmarks/bench.py's
  ``bertviz_html`` (the forward's own tensors, no copy): wall time of head_view, its HTML's length
  in bytes (UTF-8).
- CircuitsVis: the same forward, then ``circuitsvis.attention.attention_heads(attention=[H, N, N] of the
  last layer, tokens=...)``: wall time of that call (it renders both its pages: the self-contained one,
  with its 1.3 MB of JavaScript inlined, and the one that imports its JavaScript from unpkg.com), the
  bytes of each. CircuitsVis shows one layer per call: the whole model is that many calls. Its
  ``_repr_html_`` first tries to open http://google.com to choose between the two: this script never
  calls it (nothing here reaches the network; the workers refuse any socket connection), and reads
  ``local_src`` (what it shows offline) and ``str()`` (the CDN page) instead.
- ours: ``compact_from_ids`` on the model's default (sdpa) attention: wall time and the bytes the
  capture holds (``CompactAttention.nbytes``); what the widget sends for one full-resolution tile
  (256 x 256 tokens of one head, below the diagonal, as the page asks for it: float32, max) computed
  with the widget's own ``reply_to_tile`` and ``message_bytes``. The first view in the page (bytes on
  the wire, time) is not measured here: it is read from benchmarks/longcontext_page_results.json (a
  JupyterLab + Chromium run of the same model at 4,096 tokens).
- peak RSS: ``VmHWM`` of the worker. "tool peak" is the peak while the tool ran alone (the kernel's
  peak counter reset with ``/proc/self/clear_refs`` after the forward), "process peak" includes the
  model and the forward that produced its input.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

RESULTS_JSON = HERE / "longcontext_incumbents_results.json"
RESULTS_MD = HERE / "longcontext_incumbents_results.md"
PAGE_JSON = HERE / "longcontext_page_results.json"
TOOLS = ("bertviz", "circuitsvis", "ours")
NOT_INSTALLED = "not installed (pip install circuitsvis)"
TILE = 256  # tokens per side of one full-resolution tile (the page's TILE_CELLS at one token per cell)


# ------------------------------------------------------------------------------------------------
# worker: one tool at one length, in its own process
# ------------------------------------------------------------------------------------------------
def _status(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def _reset_peak() -> bool:
    """Reset the kernel's peak-RSS counter (VmHWM) of this process; False where it cannot."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _stage(name: str) -> None:
    print(f"stage: {name}", file=sys.stderr, flush=True)


def _refuse_network() -> None:
    """Any socket connection in a worker fails: nothing measured here may reach the network."""
    import socket

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise OSError("network access refused by the benchmark")

    socket.socket.connect = refuse  # type: ignore[method-assign]
    socket.socket.connect_ex = refuse  # type: ignore[method-assign]
    socket.create_connection = refuse  # type: ignore[assignment]


def build_model(layers: int):
    """TinyLlama's attention shape with ``layers`` layers, MLP 1024, vocabulary 1,000 (as bench_longcontext_page.py)."""
    import torch
    from bench_longcontext import SHAPES
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(**dict(SHAPES["tinyllama"], num_hidden_layers=layers, intermediate_size=1024, vocab_size=1000))
    return LlamaForCausalLM(cfg).eval()


class _Layers:
    """The forward's per-layer ``[1, H, N, N]`` tensors seen as an ``[L, H, N, N]`` array (layer ->
    numpy view, no copy): the input bench.py's bertviz helpers take."""

    def __init__(self, attentions) -> None:
        self.attentions = attentions
        self.shape = (len(attentions), *attentions[0].shape[1:])

    def __getitem__(self, layer: int):
        return self.attentions[layer][0].numpy()


def _text_bytes(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8"))


def worker(args) -> dict[str, Any]:
    import torch

    _refuse_network()
    torch.set_num_threads(args.threads)
    n, tool = args.tokens, args.worker
    _stage("build")
    model = build_model(args.layers)
    ids = torch.randint(0, model.config.vocab_size, (1, n), generator=torch.Generator().manual_seed(0))
    tokens = [f"t{i}" for i in range(n)]
    out: dict[str, Any] = {"tool": tool, "tokens": n, "layers": model.config.num_hidden_layers, "rss_after_build": _status("VmRSS")}

    if tool == "ours":
        from albert_widget.longcontext import compact_from_ids
        from albert_widget.protocol import message_bytes
        from albert_widget.tiles import reply_to_tile

        _stage("compact capture")
        t = time.perf_counter()
        compact = compact_from_ids(model, ids, tokens=tuple(tokens))
        out["capture_s"] = time.perf_counter() - t
        out["holds_bytes"] = compact.nbytes
        out["process_peak_rss"] = _status("VmHWM")
        _stage("full-resolution tile")
        side = min(TILE, n)
        r0, c0 = n - side, max(0, n - 2 * side)
        request = {"type": "tile", "revision": 1, "layer": compact.num_layers - 1, "heads": [0], "reduce": "max"}
        request.update(row0=r0, row1=r0 + side, col0=c0, col1=c0 + side, out_rows=side, out_cols=side)
        times = []
        for _ in range(5):
            t = time.perf_counter()
            reply, buffers = reply_to_tile(compact, 1, request)
            times.append(time.perf_counter() - t)
        out["tile_bytes"] = message_bytes(reply, buffers)
        out["tile_ms"] = sorted(times)[len(times) // 2] * 1000
        out["tile"] = {k: request[k] for k in ("row0", "row1", "col0", "col1", "out_rows", "out_cols")}
        return out

    if tool == "circuitsvis":
        import circuitsvis
        import circuitsvis.attention as cva

        out["circuitsvis_version"] = circuitsvis.__version__
    else:
        import bertviz  # noqa: F401  (fails here, not inside the timed call, when missing)

    _stage("eager forward with output_attentions")
    model.set_attn_implementation("eager")
    t = time.perf_counter()
    with torch.no_grad():
        attentions = model(ids, output_attentions=True).attentions
    out["forward_s"] = time.perf_counter() - t
    out["attention_bytes"] = sum(a.numel() * a.element_size() for a in attentions)
    out["rss_after_forward"] = _status("VmRSS")
    out["forward_peak_rss"] = _status("VmHWM")
    out["peak_reset"] = _reset_peak()

    if tool == "bertviz":
        import bench

        _stage("bertviz head_view")
        html, seconds = bench.bertviz_html(_Layers(attentions), tokens)
        out["tool_s"] = seconds
        out["tool_peak_rss"] = _status("VmHWM")
        out["html_bytes"] = _text_bytes(html)
    else:
        layer = len(attentions) - 1
        _stage("circuitsvis attention_heads")
        t = time.perf_counter()
        rendered = cva.attention_heads(attention=attentions[layer][0], tokens=tokens)
        out["tool_s"] = time.perf_counter() - t
        out["tool_peak_rss"] = _status("VmHWM")
        out["layer"] = layer
        out["html_bytes"] = _text_bytes(rendered.local_src)  # what it shows offline: its JavaScript inlined
        out["cdn_html_bytes"] = _text_bytes(str(rendered))  # loads its JavaScript from unpkg.com
    out["process_peak_rss"] = max(out["forward_peak_rss"], _status("VmHWM"))
    return out


# ------------------------------------------------------------------------------------------------
# parent: run the workers under limits, classify failures
# ------------------------------------------------------------------------------------------------
def circuitsvis_importable(path: str | None) -> str | None:
    """CircuitsVis's version when it imports (from ``path`` if given), else None."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (path, os.environ.get("PYTHONPATH")) if p))
    try:
        done = subprocess.run(
            [sys.executable, "-c", "import circuitsvis, circuitsvis.attention; print(circuitsvis.__version__)"],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
        )
    except subprocess.TimeoutExpired:
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _last_stage(stderr: str) -> str:
    stages = [line[len("stage: ") :] for line in stderr.splitlines() if line.startswith("stage: ")]
    return stages[-1] if stages else "start-up"


def _failure(rc: int | None, stderr: str, timeout: float, timed_out: bool) -> dict[str, str]:
    """What stopped a run: ``kind`` (MemoryError, killed by SIGKILL, timed out after X s, or the error),
    ``stage`` (what it was doing) and ``detail`` (the error's last line)."""
    stage = _last_stage(stderr)
    lines = [line.strip() for line in stderr.splitlines() if line.strip() and not line.startswith("stage: ")]
    detail = lines[-1][:200] if lines else ""
    if timed_out:
        kind = f"timed out after {timeout:.0f} s"
    elif rc is not None and rc < 0:
        kind = f"killed by {signal.Signals(-rc).name}"
    elif "MemoryError" in stderr or "can't allocate memory" in stderr or "not enough memory" in stderr.lower():
        kind = "MemoryError"
    else:
        kind = detail or f"exit status {rc}"
    return {"kind": kind, "stage": stage, "detail": detail}


def _local_paths(text: str, cv_path: str | None) -> str:
    """This machine's folders out of a traceback: the repository, the interpreter's prefix, CircuitsVis's folder."""
    for path, name in ((cv_path, "<circuitsvis-path>"), (str(ROOT), "<repo>"), (sys.prefix, "<python>")):
        if path:
            text = text.replace(path, name)
    return text


def run_one(args, tool: str, n: int, cv_path: str | None) -> dict[str, Any]:
    limit = int(args.mem_gib * 2**30)

    def cap() -> None:  # runs in the child before exec
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    paths = [str(ROOT), str(HERE)] + ([cv_path] if tool == "circuitsvis" and cv_path else [])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(paths), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TRANSFORMERS_VERBOSITY="error")
    cmd = [sys.executable, __file__, "--worker", tool, "--tokens", str(n), "--layers", str(args.layers), "--threads", str(args.threads)]
    load = os.getloadavg()
    with tempfile.TemporaryFile("w+") as out_f, tempfile.TemporaryFile("w+") as err_f:
        t = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out_f, stderr=err_f, text=True, env=env, preexec_fn=cap, cwd=ROOT)
        timed_out = False
        try:
            proc.wait(timeout=args.timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            proc.kill()
            proc.wait()
        wall = time.perf_counter() - t
        out_f.seek(0)
        err_f.seek(0)
        stdout, stderr = out_f.read(), err_f.read()
    row: dict[str, Any] = {"tool": tool, "tokens": n, "wall_s": wall, "load_average": load}
    result = None
    if not timed_out and proc.returncode == 0:
        try:
            result = json.loads(stdout.strip().splitlines()[-1])
        except (IndexError, ValueError):
            result = None
    if result is None:
        why = _failure(proc.returncode, stderr, args.timeout, timed_out)
        row["failed"] = f"failed: {why['kind']} (in {why['stage']})"
        row["error"] = why["detail"]
        row["stderr_tail"] = _local_paths(stderr[-1500:], cv_path)
    else:
        row.update(result)
    return row


# ------------------------------------------------------------------------------------------------
# report
# ------------------------------------------------------------------------------------------------
def fmt_bytes(b: float | None) -> str:
    import bench

    return bench.fmt_bytes(b)


def fmt_s(s: float | None) -> str:
    return "—" if s is None else f"{s:.2f} s" if s < 10 else f"{s:.1f} s"


def cell(row: dict[str, Any]) -> str:
    if "skipped" in row:
        return row["skipped"]
    if "failed" in row:
        return row["failed"]
    if row["tool"] == "ours":
        return f"{fmt_s(row['capture_s'])}, holds {fmt_bytes(row['holds_bytes'])}, peak RSS {fmt_bytes(row['process_peak_rss'])}"
    return f"{fmt_s(row['tool_s'])}, HTML {fmt_bytes(row['html_bytes'])}, peak RSS {fmt_bytes(row['tool_peak_rss'])}"


def largest(rows: list[dict[str, Any]], tool: str) -> str:
    mine = [r for r in rows if r["tool"] == tool]
    ok = [r["tokens"] for r in mine if "failed" not in r and "skipped" not in r]
    if ok:
        return f"{max(ok):,}"
    if not mine:
        return "—"  # not asked for (--tools)
    return NOT_INSTALLED if all(r.get("skipped") == NOT_INSTALLED for r in mine) else "none"


def tables(results: dict[str, Any]) -> str:
    rows, sizes = results["rows"], results["args"]["tokens"]
    names = {
        "bertviz": "bertviz head_view (all layers)",
        "circuitsvis": "CircuitsVis attention_heads (one layer)",
        "ours": "albert_widget compact capture",
    }
    by = {(r["tool"], r["tokens"]): r for r in rows}
    out = [
        "| tool | largest length survived | " + " | ".join(f"{n:,} tokens" for n in sizes) + " |",
        "|---|---|" + "---|" * len(sizes),
    ]
    for tool in TOOLS:
        out.append(
            f"| {names[tool]} | {largest(rows, tool)} | "
            + " | ".join(cell(by[(tool, n)]) if (tool, n) in by else "—" for n in sizes)
            + " |"
        )
    out += ["", "Each run in detail (wall: the whole subprocess, model build included; load: 1-minute load average when it started):", ""]
    out += [
        "| tool | tokens | result | forward (eager, output_attentions) | attention from the forward | tool time | HTML | tool peak RSS | process peak RSS | wall | load |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "skipped" in r:
            out.append(f"| {r['tool']} | {r['tokens']:,} | {r['skipped']} | | | | | | | | |")
            continue
        load = f"{r['load_average'][0]:.1f}"
        if "failed" in r:
            error = r["error"].replace("|", "/")
            said = f"{r['failed']}: `{error}`" if error and error not in r["failed"] else r["failed"]
            out.append(f"| {r['tool']} | {r['tokens']:,} | {said} | | | | | | | {fmt_s(r['wall_s'])} | {load} |")
        elif r["tool"] == "ours":
            out.append(
                f"| ours | {r['tokens']:,} | ok: compact capture {fmt_s(r['capture_s'])} (sdpa forward included), holds {fmt_bytes(r['holds_bytes'])}; "
                f"one full-resolution {r['tile']['out_rows']}x{r['tile']['out_cols']} tile {fmt_bytes(r['tile_bytes'])} on the wire, {r['tile_ms']:.1f} ms in the kernel | — | — | — | — | — | "
                f"{fmt_bytes(r['process_peak_rss'])} | {fmt_s(r['wall_s'])} | {load} |"
            )
        else:
            html = fmt_bytes(r["html_bytes"])
            if r["tool"] == "circuitsvis":
                html += f" (self-contained; CDN page {fmt_bytes(r['cdn_html_bytes'])})"
            out.append(
                f"| {r['tool']} | {r['tokens']:,} | ok | {fmt_s(r['forward_s'])} | {fmt_bytes(r['attention_bytes'])} | {fmt_s(r['tool_s'])} | {html} | "
                f"{fmt_bytes(r['tool_peak_rss'])} | {fmt_bytes(r['process_peak_rss'])} | {fmt_s(r['wall_s'])} | {load} |"
            )
    page = results.get("page")
    if page:
        out += [
            "",
            f"albert_widget's first view in the page at {page['tokens']:,} tokens (not measured in this run: read from "
            f"benchmarks/longcontext_page_results.json, a JupyterLab + Chromium run of the same model, load average "
            f"{page['load_average_start'][0]:.1f}): {fmt_bytes(page['bytes'])} on the wire, {page['ms'] / 1000:.2f} s from the "
            f"display cell's run to the painted frame; that run's compact capture {fmt_s(page['capture_s'])}, holds {fmt_bytes(page['holds'])}.",
        ]
    return "\n".join(out)


def page_figures() -> dict[str, Any] | None:
    try:
        page = json.loads(PAGE_JSON.read_text())
    except (OSError, ValueError):
        return None
    return {
        "tokens": page["args"]["tokens"],
        "bytes": page["first_view"]["bytes"],
        "ms": page["first_view"]["ms"],
        "capture_s": page["capture"]["capture_s"],
        "holds": page["capture"]["holds"],
        "load_average_start": page["machine"]["load_average_start"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, nargs="+", default=[512, 1024, 2048, 4096])
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--mem-gib", type=float, default=6.0, help="address-space limit of each run (RLIMIT_AS)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds each run may take")
    parser.add_argument(
        "--circuitsvis-path", default=os.environ.get("CIRCUITSVIS_PATH"), help="a folder holding circuitsvis (else $CIRCUITSVIS_PATH)"
    )
    parser.add_argument("--tools", nargs="+", default=list(TOOLS), choices=TOOLS)
    parser.add_argument("--worker", choices=TOOLS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        args.tokens = args.tokens[0]
        print(json.dumps(worker(args), default=float))
        return

    import bench

    start = time.perf_counter()
    results: dict[str, Any] = {
        "machine": bench.machine(),
        "args": {k: v for k, v in vars(args).items() if k not in ("worker", "circuitsvis_path")},
        "rows": [],
    }
    results["machine"].pop("chromium", None)
    cv_version = circuitsvis_importable(args.circuitsvis_path)
    results["circuitsvis"] = cv_version or NOT_INSTALLED
    import bertviz

    results["bertviz"] = getattr(bertviz, "__version__", None) or _dist_version("bertviz")
    for tool in args.tools:
        failed = None
        for n in args.tokens:
            if tool == "circuitsvis" and cv_version is None:
                row: dict[str, Any] = {"tool": tool, "tokens": n, "skipped": NOT_INSTALLED}
            elif failed is not None:
                row = {"tool": tool, "tokens": n, "skipped": f"not run (failed at {failed:,})"}
            else:
                print(f"[{time.perf_counter() - start:6.0f} s] {tool} at {n:,} tokens (load {os.getloadavg()[0]:.1f})", flush=True)
                row = run_one(args, tool, n, args.circuitsvis_path)
                if "failed" in row:
                    failed = n
                print(f"         -> {row.get('failed') or cell(row)}", flush=True)
            results["rows"].append(row)
            RESULTS_JSON.write_text(json.dumps(results, indent=2, default=float))
    results["page"] = page_figures()
    results["load_average_end"] = os.getloadavg()
    results["wall_s"] = time.perf_counter() - start
    RESULTS_JSON.write_text(json.dumps(results, indent=2, default=float))
    m = results["machine"]
    text = tables(results)
    RESULTS_MD.write_text(
        "# Long inputs: bertviz and CircuitsVis against albert_widget\n\n"
        f"Machine: {m['cpu']}, {m['cores']} cores (shared with other jobs: times are noisy), {m['ram_gib']} GiB RAM, torch {m['torch']} "
        f"({args.threads} threads), transformers {m['transformers']}, bertviz {results['bertviz']}, CircuitsVis {results['circuitsvis']}. "
        f"Load average at start {tuple(round(x, 1) for x in m['load_average_start'])}, at end "
        f"{tuple(round(x, 1) for x in results['load_average_end'])}. Whole run {results['wall_s']:.0f} s.\n\n"
        f"Model: TinyLlama-1.1B's attention shape (32 heads, 4 key/value heads, head size 64, hidden 2048), **{args.layers} layers** "
        "(not 22), MLP width 1024, vocabulary 1,000, random weights (the model of bench_longcontext_page.py). "
        f"Each run: its own process, address space capped at {args.mem_gib:g} GiB (RLIMIT_AS), {args.timeout:.0f} s at most; "
        "a tool is not run at longer lengths once it failed.\n\n"
        f"{text}\n\n## Method\n\n{__doc__.split('How each figure is measured (written into longcontext_incumbents_results.md):', 1)[1].strip()}\n"
    )
    print()
    print(text)
    print(f"\nload average: start {m['load_average_start']}, end {results['load_average_end']}")


def _dist_version(name: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None


if __name__ == "__main__":
    main()
