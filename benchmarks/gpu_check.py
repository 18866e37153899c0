"""Capture on a CUDA GPU: the same attention as on the CPU, moved to the host once, and its cost.

Run where there is a GPU (``python benchmarks/gpu_check.py [out.json]``). Needs torch, transformers,
numpy and sentencepiece only: the capture modules are imported without the widget (no anywidget).
"""

from __future__ import annotations

import json
import statistics
import sys
import time
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
# albert_widget/__init__ imports the widget (anywidget); the capture needs none of it.
package = types.ModuleType("albert_widget")
package.__path__ = [str(ROOT / "albert_widget")]
sys.modules["albert_widget"] = package

import bench_models as bm
import numpy as np
import torch

from albert_widget.capture import capture


def timed(fn, reps=5):
    times = []
    out = None
    for _ in range(reps + 1):
        torch.cuda.synchronize()
        t = time.perf_counter()
        out = fn()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    return statistics.median(times[1:]), out


def forward_only(model, tokenizer, text, n):
    enc = tokenizer(text, return_tensors="pt", truncation=True, max_length=n, return_token_type_ids=True)
    inputs = {k: v.to("cuda") for k, v in enc.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
    previous = model.config._attn_implementation
    model.set_attn_implementation("eager")
    try:
        with torch.no_grad():
            return timed(lambda: model(**inputs, output_attentions=True))[0]
    finally:
        model.set_attn_implementation(previous)


def main() -> None:
    out_path = Path(sys.argv[1]) if len(sys.argv) > 1 else None
    report = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__}
    tok = bm.albert_tokenizer()
    base = bm.albert(bm.ALBERT_BASE)
    rows = []
    for n in (128, 512):
        text = bm.text_of(tok, n)
        cpu = capture(base, tok, text, max_length=n).attention
        base.to("cuda")
        try:
            gpu_s, gpu = timed(lambda: capture(base, tok, text, max_length=n))
            fwd = forward_only(base, tok, text, n)
            half_model = base.half()
            half = capture(half_model, tok, text, max_length=n)
            half16 = capture(half_model, tok, text, max_length=n, dtype="float16")
        finally:
            base.float().to("cpu")
        rows.append(
            {
                "model": "albert-base",
                "n": n,
                "capture_s": gpu_s,
                "forward_s": fwd,
                "overhead_s": gpu_s - fwd,
                "attention_mb": gpu.attention.nbytes / 1e6,
                "max_abs_diff_vs_cpu": float(np.abs(gpu.attention - cpu).max()),
                "result_is_numpy_float32": isinstance(gpu.attention, np.ndarray) and gpu.attention.dtype == np.float32,
                "half_model_result_dtype": str(half.attention.dtype),
                "half_model_max_abs_diff": float(np.abs(half.attention - cpu).max()),
                "float16_capture_dtype": str(half16.attention.dtype),
            }
        )
        print(rows[-1], flush=True)
    report["rows"] = rows
    # albert-xxlarge at 512 tokens, built on the GPU.
    with torch.device("cuda"):
        xx = bm.albert(bm.ALBERT_XXLARGE)
    text = bm.text_of(tok, 512)
    cap_s, result = timed(lambda: capture(xx, tok, text, max_length=512), reps=3)
    fwd = forward_only(xx, tok, text, 512)
    report["xxlarge"] = {
        "capture_s": cap_s,
        "forward_s": fwd,
        "overhead_s": cap_s - fwd,
        "attention_mb": result.attention.nbytes / 1e6,
        "shape": list(result.attention.shape),
        "gpu_peak_mb": torch.cuda.max_memory_allocated() / 1e6,
    }
    print(report["xxlarge"], flush=True)
    text = json.dumps(report, indent=2)
    print(text)
    if out_path:
        out_path.write_text(text)


if __name__ == "__main__":
    main()
