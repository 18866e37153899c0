"""The compact matrix's colour scale in a real JupyterLab: a compact capture of a small random Llama
opens on the log scale (the legend says so and states its range); cells whose weights differ by a
factor of a few, all far below the head's largest weight, get clearly different colours on it (canvas
pixels) and nearly the same on the linear scale, chosen with the scale control (it writes
``colour_scale``); the hover value stays exact. Screenshots of both scales, zoomed out and in, light
and dark, go to artifacts/."""

from __future__ import annotations

from .aw_browser import ARTIFACTS

N = 256
SETUP = (
    "import json, numpy as np, torch\n"
    "from transformers import LlamaConfig, LlamaForCausalLM\n"
    "from albert_widget import AttentionWidget\n"
    "from albert_widget.longcontext import compact_from_ids\n"
    "torch.manual_seed(0)\n"
    "cfg = LlamaConfig(vocab_size=500, hidden_size=64, intermediate_size=96, num_hidden_layers=2,\n"
    "                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024)\n"
    "model = LlamaForCausalLM(cfg).eval()\n"
    f"ids = torch.randint(0, 500, ({N},), generator=torch.Generator().manual_seed(1))\n"
    f"c = compact_from_ids(model, ids, tokens=[f'w{{i}}' for i in range({N})])\n"
    "w = AttentionWidget.from_result(c, layer=1, head=2)\n"
    "w"
)
# The exact weights of the head shown, and cells to compare: weights in (2e-4, 0.012) (under 1/80 of
# the head's largest, ~1: row 0 gives all its weight to token 0), the smallest and largest of them
# and one between, geometrically.
PICK = (
    f"W = c.block(1, 2, slice(0, {N}), slice(0, {N}))\n"
    "top = float(W.max())\n"
    "i, j = np.nonzero((W > 2e-4) & (W < 0.012))\n"
    "vals = W[i, j]\n"
    "order = np.argsort(vals)\n"
    "lo, hi = order[0], order[-1]\n"
    "mid = order[np.argmin(np.abs(np.log(vals[order]) - (np.log(vals[lo]) + np.log(vals[hi])) / 2))]\n"
    "cells = [[int(i[k]), int(j[k]), float(vals[k])] for k in (lo, mid, hi)]\n"
    "print(json.dumps({'top': top, 'cells': cells}))"
)

# The RGB the canvas shows at the centre of token cell (i, j) of an N x N plot at zoom 1.
PIXELS_JS = """(c, [cells, n]) => {
  const ctx = c.getContext('2d');
  return cells.map(([i, j]) => Array.from(ctx.getImageData(Math.floor((j + 0.5) * c.width / n), Math.floor((i + 0.5) * c.height / n), 1, 1).data.slice(0, 3)));
}"""


def _shot(lab, root, name):
    ARTIFACTS.mkdir(exist_ok=True)
    root.scroll_into_view_if_needed()
    lab.page.wait_for_timeout(200)
    root.screenshot(path=str(ARTIFACTS / name))


def _distance(a, b):
    return max(abs(x - y) for x, y in zip(a, b))


def _settled(lab, view):
    lab.wait_attr(view, "tiles-missing", "0", timeout=120)
    assert view.get_attribute("data-tile-error") == ""


def _zoom_in(lab, root, view, notches=2):
    """Two wheel notches (x3.8; full zoom of 256 tokens is x7.3, where a notch would change nothing)."""
    box = root.locator(".aw-matrix-canvas").bounding_box()
    lab.page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.7)
    for _ in range(notches):
        drawn = lab.drawn(root)
        lab.page.mouse.wheel(0, -300)
        lab.wait_attr(root, "drawn", lambda v: int(v) > drawn)
    _settled(lab, view)


def test_log_scale_separates_small_weights(lab):
    lab.open(
        "colour_scale.ipynb",
        [SETUP, PICK, "print(json.dumps(w.colour_scale))", "w.display_mode = 'dark'", "w.display_mode = 'light'"],
    )
    lab.run(0, timeout=300)
    root = lab.widget(0)
    picked = lab.run_json(1)
    cells, top = picked["cells"], picked["top"]
    (_, _, w_lo), _, (_, _, w_hi) = cells
    assert w_hi / w_lo >= 3 and top > 0.9, picked  # the comparison below means something
    view = root.locator(".aw-view-matrix")
    _settled(lab, view)
    canvas = root.locator(".aw-matrix-canvas")
    canvas.scroll_into_view_if_needed()

    # Log by default (colour_scale "auto" on a compact capture); the legend names it and its range.
    assert lab.run_json(2) == "auto"
    assert view.get_attribute("data-scale") == "log"
    note = root.locator(".aw-colourbar-scale")
    assert note.text_content() == "log₁₀ of the weight, 10⁻⁴ … 1; smaller: lowest colour"
    # on the colour bar's line, on screen (not wrapped below it)
    ramp = root.locator(".aw-colourbar-ramp").bounding_box()
    box_note = note.bounding_box()
    assert box_note["y"] < ramp["y"] + ramp["height"] and box_note["y"] + box_note["height"] > ramp["y"], (box_note, ramp)
    assert root.locator(".aw-colourbar-min").text_content() == "10⁻⁴" and root.locator(".aw-colourbar-max").text_content() == "1"
    assert root.locator(".aw-colour-scale").input_value() == "log"
    log_px = canvas.evaluate(PIXELS_JS, [[c[:2] for c in cells], N])
    _shot(lab, root, "matrix_scale_log_zoomed_out_light.png")

    # Hover stays exact on the log scale.
    box = canvas.bounding_box()
    i, j, value = cells[1]
    lab.page.mouse.move(box["x"] + (j + 0.5) * box["width"] / N, box["y"] + (i + 0.5) * box["height"] / N)
    tooltip = root.locator(".aw-tooltip")
    lab.wait_attr(tooltip, "query", str(i))
    assert tooltip.get_attribute("data-key") == str(j) and tooltip.get_attribute("data-exact") == "true"
    assert abs(float(tooltip.get_attribute("data-value")) - value) <= 1e-6
    lab.page.mouse.move(box["x"] - 40, box["y"] - 40)

    # The control switches to linear (and writes the trait); the legend follows.
    drawn = lab.drawn(root)
    root.locator(".aw-colour-scale").select_option("linear")
    lab.wait_attr(root, "drawn", lambda v: int(v) > drawn)
    lab.wait_attr(view, "scale", "linear")
    _settled(lab, view)
    assert lab.run_json(2) == "linear"
    assert note.text_content() == "linear, 0 … 1", note.text_content()  # the head's largest weight: 1 (row 0)
    assert abs(float(view.get_attribute("data-max")) - top) <= 1e-6  # 0 .. the head's largest weight
    lin_px = canvas.evaluate(PIXELS_JS, [[c[:2] for c in cells], N])
    _shot(lab, root, "matrix_scale_linear_zoomed_out_light.png")

    # Weights a factor of >= 3 apart, all under 1/80 of the largest: linear draws them within a few
    # RGB units of each other (its lowest colours), log a visibly different colour for each.
    assert _distance(lin_px[0], lin_px[2]) <= 12, lin_px
    assert _distance(log_px[0], log_px[1]) >= 8 and _distance(log_px[1], log_px[2]) >= 8, log_px
    assert _distance(log_px[0], log_px[2]) >= 25, log_px

    # Screenshots: both scales zoomed in, and in the dark theme.
    _zoom_in(lab, root, view)
    _shot(lab, root, "matrix_scale_linear_zoomed_in_light.png")
    lab.run(3)
    lab.page.wait_for_timeout(500)
    _shot(lab, root, "matrix_scale_linear_zoomed_in_dark.png")
    drawn = lab.drawn(root)
    root.locator(".aw-colour-scale").select_option("log")
    lab.wait_attr(view, "scale", "log")
    _settled(lab, view)
    _shot(lab, root, "matrix_scale_log_zoomed_in_dark.png")
    root.locator(".aw-zoom-reset").click()
    lab.wait_attr(view, "zoom", "1")
    _settled(lab, view)
    _shot(lab, root, "matrix_scale_log_zoomed_out_dark.png")
    assert lab.run_json(2) == "log"
