#!/usr/bin/env python
"""The long-context page at 4,096 tokens, in a real JupyterLab kernel and headless Chromium: first view
of a compact capture, one pan/zoom step and one layer/head step (kernel tile included, and cached).

    python benchmarks/bench_longcontext_page.py [--tokens 4096] [--layers 2] [--batch 32]

``--batch 1`` asks for each tile of a step alone (one request per tile, as before the ``tiles`` request)
and writes longcontext_page_results_batch1.*: run both back to back to compare in the same conditions.

Model: TinyLlama-1.1B's attention shape (32 heads, 4 key/value heads, head size 64, hidden 2048) with
``--layers`` layers (default 2), an MLP of width 1024 and a vocabulary of 1,000 (capture time only: the
page's work per view depends on neither), random weights. The capture is compact
(``compact_from_ids``), shown by ``AttentionWidget.from_result`` on the matrix view.

How each figure is measured (written into longcontext_page_results.md):
- bytes on the wire: every websocket frame the page receives on the kernel channel, counted in the
  page (benchmarks/bench.py's counter, installed before JupyterLab starts), from the display cell's
  run to the event.
- first view: the display cell's run (the capture already done) to the frame that shows the matrix
  with every tile of its level drawn (``data-tiles-missing`` = 0 on the matrix view; the frame's
  rendering done, as bench.py measures).
- a step: the wheel notch / drag / key press dispatched in the page to the frame that shows the new
  view with every tile drawn, steps 400 ms apart (a person's pace). "kernel" steps drew with tiles
  missing first and waited for them (the kernel's tiles, the websocket both ways and the draws are
  included); "cached" steps had every tile: a step back, or the next head/layer, which the page asks
  for in the background once a view is complete.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "tests" / "browser"))

import bench  # its page counter and helpers (benchmarks/ is on the path above)

# Records every change of the matrix view's tiles on screen (data-tiles-missing) with its time.
TILES_SCRIPT = r"""
(() => {
  const rec = (window.__awTiles = []);
  const observe = () => new MutationObserver((list) => {
    for (const m of list) {
      const el = m.target;
      if (!el.classList || !el.classList.contains("aw-view-matrix")) continue;
      const ev = { t: performance.now(), missing: el.dataset.tilesMissing, level: el.dataset.level };
      rec.push(ev);
      const ch = new MessageChannel();
      ch.port1.onmessage = () => { ev.painted = performance.now(); ch.port1.close(); };
      ch.port2.postMessage(0);
    }
  }).observe(document.documentElement, { subtree: true, attributes: true, attributeFilter: ["data-tiles-missing"] });
  if (document.documentElement) observe(); else document.addEventListener("DOMContentLoaded", observe);
})();
"""

# One step: run an action in the page, wait until the matrix shows it with every tile drawn, then
# for the frame's rendering. Returns ms to the draw and to the painted frame, and the bytes received.
STEP_JS = r"""
async ([root, action, pause]) => {
  await new Promise((r) => setTimeout(r, pause));
  const view = root.querySelector(".aw-view-matrix");
  const canvas = root.querySelector(".aw-matrix-canvas");
  const box = canvas.getBoundingClientRect();
  const rec = window.__aw;
  const bytes = () => rec.frames.filter((f) => f.dir === "in").reduce((a, f) => a + f.bytes, 0);
  const store = root.awStore;
  const before = { drawn: Number(root.dataset.drawn), head: root.dataset.head, zoom: view.dataset.zoom, r0: view.dataset.r0, c0: view.dataset.c0, bytes: bytes(), sent: store.sent };
  const moved = () => root.dataset.head !== before.head || view.dataset.zoom !== before.zoom || view.dataset.r0 !== before.r0 || view.dataset.c0 !== before.c0;
  const ready = () => Number(root.dataset.drawn) > before.drawn && view.dataset.tilesMissing === "0" && root.dataset.state === "ready" && moved();
  const done = new Promise((resolve) => {
    const obs = new MutationObserver(() => { if (ready()) { obs.disconnect(); resolve(performance.now()); } });
    obs.observe(root, { attributes: true, subtree: true, attributeFilter: ["data-drawn", "data-tiles-missing"] });
  });
  const cx = box.left + box.width * action.x, cy = box.top + box.height * action.y;
  const t0 = performance.now();
  if (action.kind === "wheel") {
    canvas.dispatchEvent(new WheelEvent("wheel", { deltaY: action.deltaY, clientX: cx, clientY: cy, bubbles: true, cancelable: true }));
  } else if (action.kind === "drag") {
    canvas.dispatchEvent(new MouseEvent("mousedown", { button: 0, clientX: cx, clientY: cy, bubbles: true, cancelable: true }));
    window.dispatchEvent(new MouseEvent("mousemove", { clientX: cx + action.dx, clientY: cy + action.dy, bubbles: true }));
    window.dispatchEvent(new MouseEvent("mouseup", { clientX: cx + action.dx, clientY: cy + action.dy, bubbles: true }));
  } else {
    root.dispatchEvent(new KeyboardEvent("keydown", { key: action.key, bubbles: true, cancelable: true }));
  }
  const t1 = ready() ? performance.now() : await Promise.race([done, new Promise((r) => setTimeout(() => r(NaN), 30000))]);
  await new Promise((r) => { const ch = new MessageChannel(); ch.port1.onmessage = () => { ch.port1.close(); r(); }; ch.port2.postMessage(0); });
  const t2 = performance.now();
  // Whether the step waited for the kernel: a tile of the new view was asked for (and not a prefetch
  // that had already arrived): the view drew with tiles missing before it completed.
  const waited = window.__awTiles.some((e) => e.t >= t0 && e.t <= t1 && e.missing !== "0");
  const sent = store.sent - before.sent;
  // The tiles this step waited for: asked after the action, arrived before the view was complete
  // ([round trip ms, decode ms, bytes, asked at ms after the action]).
  const trips = (root.awTiles ? root.awTiles.timings : []).filter((x) => x.asked >= t0 && x.arrived <= t1).map((x) => [x.arrived - x.asked, x.decodeMs, x.bytes, x.asked - t0]);
  await new Promise((r) => setTimeout(r, 50));
  return { ms: t1 - t0, paintedMs: t2 - t0, bytes: bytes() - before.bytes, kernel: waited, sent, trips, drawMs: Number(root.dataset.drawMs), level: view.dataset.level, zoom: Number(view.dataset.zoom), head: root.dataset.head };
}
"""


def setup_cell(tokens: int, layers: int) -> str:
    return (
        "import sys, time, json, torch\n"
        f"sys.path.insert(0, {str(HERE)!r})\n"
        "torch.set_num_threads(2)\n"
        "import bench_longcontext as blc\n"
        "from albert_widget import AttentionWidget\n"
        "from albert_widget.longcontext import compact_from_ids\n"
        "from transformers import LlamaConfig, LlamaForCausalLM\n"
        "torch.manual_seed(0)\n"
        # TinyLlama's attention (hidden 2048, 32 heads, 4 key/value heads, head size 64); a narrow MLP and
        # a small vocabulary only make the capture quicker: the page never sees them.
        f"cfg = LlamaConfig(**dict(blc.SHAPES['tinyllama'], num_hidden_layers={layers}, intermediate_size=1024, vocab_size=1000))\n"
        "model = LlamaForCausalLM(cfg).eval()\n"
        f"ids = torch.randint(0, model.config.vocab_size, ({tokens},), generator=torch.Generator().manual_seed(0))\n"
        "t0 = time.perf_counter()\n"
        f"c = compact_from_ids(model, ids, tokens=[f't{{i}}' for i in range({tokens})])\n"
        "capture_s = time.perf_counter() - t0\n"
        "print(json.dumps({'capture_s': capture_s, 'holds': c.nbytes, 'shape': [c.num_layers, c.num_heads, c.num_kv_heads, c.head_dim, c.num_tokens]}))"
    )


SHOW_CELL = "w = AttentionWidget.from_result(c, layer=1 if c.num_layers > 1 else 0, head=0)\nw"

KERNEL_CELL = (
    "from albert_widget.tiles import reply_to_tile\n"
    "n = c.num_tokens\n"
    "def timed(fields, reps=5):\n"
    "    out = []\n"
    "    for _ in range(reps):\n"
    "        t = time.perf_counter(); reply_to_tile(c, w.revision, {'layer': 0, 'head': 5, **fields}); out.append(time.perf_counter() - t)\n"
    "    return sorted(out)[len(out) // 2] * 1000\n"
    "side = 2048 if n >= 2048 else n\n"
    "tile_times = [(wait, ran) for kind, wait, ran in w._requests.timings if kind in ('tile', 'tiles')]\n"
    "print(json.dumps({'queue_wait_ms': [t[0] * 1000 for t in tile_times], 'run_ms': [t[1] * 1000 for t in tile_times],\n"
    "                  'overview_tile_ms': timed({'row0': n - side, 'row1': n, 'col0': 0, 'col1': side, 'out_rows': 256, 'out_cols': 256}),\n"
    "                  'full_res_tile_ms': timed({'row0': n - 256, 'row1': n, 'col0': n - 512, 'col1': n - 256, 'out_rows': 256, 'out_cols': 256}),\n"
    "                  'served': w.requests_served, 'bytes_sent': w.bytes_sent}))"
)


def first_view(page, mark: float) -> dict[str, Any]:
    page.wait_for_function(
        "(mark) => window.__awTiles.some((e) => e.t >= mark && e.missing === '0' && e.painted)", arg=mark, timeout=180_000
    )
    ev = page.evaluate("(mark) => window.__awTiles.find((e) => e.t >= mark && e.missing === '0' && e.painted)", mark)
    return {"ms": ev["painted"] - mark, "bytes": bench.frames_in(page, mark, ev["painted"]), "level": ev["level"]}


def run_steps(page, root, actions: list[dict[str, Any]], pause: int = 400) -> list[dict[str, Any]]:
    return [page.evaluate(STEP_JS, [root.element_handle(), a, pause]) for a in actions]


def med(values: list[float]) -> float | None:
    values = [v for v in values if v == v]
    return statistics.median(values) if values else None


def browser_part(args, results: dict[str, Any]) -> None:
    from aw_browser import CHROMIUM_ARGS, JupyterServer, WidgetPage, chromium_path, is_local
    from playwright.sync_api import sync_playwright

    home = Path(tempfile.mkdtemp(prefix="aw-bench-lc-"))
    (home / "root").mkdir()
    (home / "home").mkdir()
    server = JupyterServer(home / "root", home / "home")
    bench.phase("starting JupyterLab")
    server.start()
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
            context = browser.new_context(viewport={"width": 1400, "height": 1100}, device_scale_factor=1)
            context.add_init_script(bench.INIT_SCRIPT)
            context.add_init_script(TILES_SCRIPT)
            external: list[str] = []
            context.route("**/*", lambda r: r.continue_() if is_local(r.request.url) else (external.append(r.request.url), r.abort()))
            lab = WidgetPage(server, context)
            page = lab.page
            lab.open("bench_lc.ipynb", [setup_cell(args.tokens, args.layers), SHOW_CELL, KERNEL_CELL])
            bench.phase(f"kernel: model and compact capture of {args.tokens} tokens")
            lab.run(0, timeout=1200)
            results["capture"] = json.loads(lab.output_text(0).splitlines()[-1])
            bench.settle(page)
            bench.phase("first view")
            mark = bench.now(page)
            lab.run(1, timeout=300)
            results["first_view"] = first_view(page, mark)
            root = lab.cell(1).locator(".aw-root").first
            root.locator(".aw-matrix-canvas").first.scroll_into_view_if_needed()
            page.wait_for_timeout(500)
            bench.settle(page, quiet_ms=500)

            root.evaluate("(r, n) => { r.awTiles.maxBatch = n; }", args.batch)
            bench.phase("pan / zoom steps")
            # Zoom in by wheel notches around one point (new levels: kernel tiles), then pan by drags
            # (new tiles at the edges), then the same drags back (cached).
            zoom_in = run_steps(page, root, [{"kind": "wheel", "deltaY": -300, "x": 0.7, "y": 0.8}] * 6)
            pans = run_steps(page, root, [{"kind": "drag", "dx": 120, "dy": 80, "x": 0.5, "y": 0.5}] * 6)
            pans_back = run_steps(page, root, [{"kind": "drag", "dx": -120, "dy": -80, "x": 0.5, "y": 0.5}] * 6)
            zoom_out = run_steps(page, root, [{"kind": "wheel", "deltaY": 300, "x": 0.7, "y": 0.8}] * 6)
            bench.phase("layer / head steps")
            heads = run_steps(page, root, [{"kind": "key", "key": "ArrowRight", "x": 0.5, "y": 0.5}] * 6)
            heads_back = run_steps(page, root, [{"kind": "key", "key": "ArrowLeft", "x": 0.5, "y": 0.5}] * 6)
            steps = {"zoom_in": zoom_in, "pan": pans, "pan_back": pans_back, "zoom_out": zoom_out, "head": heads, "head_back": heads_back}
            results["steps"] = steps
            every = [s for group in steps.values() for s in group]
            pan_zoom = [s for k in ("zoom_in", "pan", "pan_back", "zoom_out") for s in steps[k]]
            layer_head = steps["head"] + steps["head_back"]
            kernel = lambda ss: [s["paintedMs"] for s in ss if s["kernel"]]  # noqa: E731
            cached = lambda ss: [s["paintedMs"] for s in ss if not s["kernel"]]  # noqa: E731
            drawn = lambda ss, k: [s["ms"] for s in ss if s["kernel"] == k]  # noqa: E731
            results["summary_to_drawn"] = {
                "pan_zoom_kernel_median_ms": med(drawn(pan_zoom, True)),
                "pan_zoom_cached_median_ms": med(drawn(pan_zoom, False)),
                "head_kernel_median_ms": med(drawn(layer_head, True)),
                "head_cached_median_ms": med(drawn(layer_head, False)),
            }
            results["summary"] = {
                "pan_zoom_kernel_median_ms": med(kernel(pan_zoom)),
                "pan_zoom_kernel_count": len(kernel(pan_zoom)),
                "pan_zoom_cached_median_ms": med(cached(pan_zoom)),
                "pan_zoom_cached_count": len(cached(pan_zoom)),
                "head_kernel_median_ms": med(kernel(layer_head)),
                "head_kernel_count": len(kernel(layer_head)),
                "head_cached_median_ms": med(cached(layer_head)),
                "head_cached_count": len(cached(layer_head)),
                "timeouts": sum(1 for s in every if s["ms"] != s["ms"]),
            }
            bench.phase("kernel tile times")
            results["kernel"] = lab.run_json(2)
            results["external_requests"] = external
            browser.close()
    finally:
        server.stop()


def fmt_ms(x: float | None) -> str:
    return "—" if x is None else f"{x:.0f} ms" if x >= 10 else f"{x:.1f} ms"


def table(results: dict[str, Any]) -> str:
    s, f, k, cap = results["summary"], results["first_view"], results["kernel"], results["capture"]
    dr = results.get("summary_to_drawn", {})

    def both(name: str) -> str:
        return f"{fmt_ms(s[name])} (to data-drawn {fmt_ms(dr.get(name))})"

    L, H, KV, d, n = cap["shape"]
    rows = [
        ("first view after the capture: time", "≤ 1 s", fmt_ms(f["ms"]), f["ms"] <= 1000),
        ("first view after the capture: bytes on the wire", "≤ 2 MB", bench.fmt_bytes(f["bytes"]), f["bytes"] <= 2e6),
        (
            f"one pan/zoom step needing kernel tiles (median of {s['pan_zoom_kernel_count']})",
            "≤ 50 ms",
            both("pan_zoom_kernel_median_ms"),
            s["pan_zoom_kernel_median_ms"] is not None and s["pan_zoom_kernel_median_ms"] <= 50,
        ),
        (
            f"one pan/zoom step, tiles cached (median of {s['pan_zoom_cached_count']})",
            "≤ 16 ms",
            both("pan_zoom_cached_median_ms"),
            s["pan_zoom_cached_median_ms"] is not None and s["pan_zoom_cached_median_ms"] <= 16,
        ),
        (
            f"one layer/head step needing kernel tiles (median of {s['head_kernel_count']})",
            "≤ 50 ms",
            both("head_kernel_median_ms"),
            s["head_kernel_median_ms"] is not None and s["head_kernel_median_ms"] <= 50,
        ),
        (
            f"one layer/head step, tiles cached (median of {s['head_cached_count']})",
            "≤ 16 ms",
            both("head_cached_median_ms"),
            s["head_cached_median_ms"] is not None and s["head_cached_median_ms"] <= 16,
        ),
    ]
    out = [
        f"Model: TinyLlama attention shape ({H} heads, {KV} key/value heads, head size {d}, hidden 2048), **{L} layers**, "
        f"MLP width 1024, vocabulary 1,000 (capture time only; the page's work per view depends on none of them), random weights, {n:,} tokens; compact capture "
        f"{cap['capture_s']:.1f} s, holds {bench.fmt_bytes(cap['holds'])}.",
        "",
        "| figure | target | measured | met |",
        "|---|---|---|---|",
        *[f"| {a} | {b} | {c} | {'yes' if m else '**no**'} |" for a, b, c, m in rows],
        "",
        f"Kernel alone (median of 5): an overview tile (2,048 x 2,048 tokens -> 256 x 256 cells, one head) "
        f"{fmt_ms(k['overview_tile_ms'])}; a full-resolution tile (256 x 256 tokens) {fmt_ms(k['full_res_tile_ms'])}. "
        f"Requests served: {k['served']}; the widget's replies: {bench.fmt_bytes(k['bytes_sent'])}. "
        f"First view drawn at level {f['level']} (tokens per cell).",
    ]
    out += ["", *breakdown(results)]
    return "\n".join(out)


def breakdown(results: dict[str, Any]) -> list[str]:
    """Where a pan/zoom step that waits for the kernel spends its time: the tiles it waited for (page
    side: round trip, decode), the kernel's queue wait and compute per tile request (every one)."""
    k = results["kernel"]
    steps = [s for key in ("zoom_in", "pan", "pan_back", "zoom_out") for s in results["steps"][key] if s["kernel"]]
    trips = [t for s in steps for t in s.get("trips", [])]
    if not steps or not trips or "run_ms" not in k:
        return []

    def q(values: list[float], p: float) -> float:
        values = sorted(values)
        return values[min(len(values) - 1, int(p * len(values)))] if values else float("nan")

    per_step = [len(s.get("trips", [])) for s in steps]
    first_ask = [min(t[3] for t in s["trips"]) for s in steps if s.get("trips")]
    last_arrival = [max(t[3] + t[0] for t in s["trips"]) for s in steps if s.get("trips")]
    return [
        "Where a pan/zoom step waiting for the kernel spends its time "
        f"({len(steps)} steps, {len(trips)} tiles waited for, {min(per_step)}–{max(per_step)} a step):",
        "",
        "| part | median | 90th percentile |",
        "|---|---|---|",
        f"| action to the first tile asked (page: zoom maths, draw of what is cached) | {fmt_ms(q(first_ask, 0.5))} | {fmt_ms(q(first_ask, 0.9))} |",
        f"| action to the last tile's arrival | {fmt_ms(q(last_arrival, 0.5))} | {fmt_ms(q(last_arrival, 0.9))} |",
        f"| one tile's round trip, asked to arrived (page) | {fmt_ms(q([t[0] for t in trips], 0.5))} | {fmt_ms(q([t[0] for t in trips], 0.9))} |",
        f"| the last draw, every tile of the view coloured and drawn (page) | {fmt_ms(q([s['drawMs'] for s in steps if 'drawMs' in s], 0.5))} | {fmt_ms(q([s['drawMs'] for s in steps if 'drawMs' in s], 0.9))} |",
        f"| one tile's decode (page) | {fmt_ms(q([t[1] for t in trips], 0.5))} | {fmt_ms(q([t[1] for t in trips], 0.9))} |",
        f"| one tile's bytes | {bench.fmt_bytes(q([t[2] for t in trips], 0.5))} | {bench.fmt_bytes(q([t[2] for t in trips], 0.9))} |",
        f"| kernel: a tile request's wait in the queue (all {len(k['run_ms'])} requests) | {fmt_ms(q(k['queue_wait_ms'], 0.5))} | {fmt_ms(q(k['queue_wait_ms'], 0.9))} |",
        f"| kernel: a tile request's compute + send (all requests) | {fmt_ms(q(k['run_ms'], 0.5))} | {fmt_ms(q(k['run_ms'], 0.9))} |",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, default=4096)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument(
        "--batch",
        type=int,
        default=32,
        help="tiles per request (1: each tile alone, as before tiles were batched); results-batch<N>.* when not 32",
    )
    args = parser.parse_args()
    start = time.perf_counter()
    results: dict[str, Any] = {"machine": bench.machine(), "args": vars(args)}
    browser_part(args, results)
    results["load_average_end"] = os.getloadavg()
    results["wall_s"] = time.perf_counter() - start
    suffix = "" if args.batch == 32 else f"_batch{args.batch}"
    results_json = HERE / f"longcontext_page_results{suffix}.json"
    results_md = HERE / f"longcontext_page_results{suffix}.md"
    results_json.write_text(json.dumps(results, indent=2, default=float))
    m = results["machine"]
    text = table(results)
    results_md.write_text(
        "# The long-context page at 4,096 tokens\n\n"
        + (f"Tiles asked for {args.batch} per request during the steps (the first view: up to 32).\n\n" if args.batch != 32 else "")
        + f"Machine: {m['cpu']}, {m['cores']} cores (shared), torch {m['torch']}, {m['chromium']}. Load average at start "
        f"{tuple(round(x, 1) for x in m['load_average_start'])}, at end {tuple(round(x, 1) for x in results['load_average_end'])} "
        f"(other jobs share the machine: times are noisy). Whole run {results['wall_s']:.0f} s.\n\n"
        f"{text}\n\n## Method\n\n{__doc__.split('How each figure is measured (written into longcontext_page_results.md):', 1)[1].strip()}\n"
    )
    print()
    print(text)
    print(f"\nload average: start {m['load_average_start']}, end {results['load_average_end']}")


if __name__ == "__main__":
    main()
