"""The matrix view pans and zooms in a real JupyterLab: a compact capture (2,048 tokens of a random
Llama) opens on the matrix, the wheel zooms to single tokens whose hover value equals
CompactAttention.block, a drag pans, "Reset zoom" restores; a dense MiniLM widget labels every token
at full zoom and its sentence A/B divider stays on the boundary."""

from __future__ import annotations

from .aw_browser import ARTIFACTS

N = 2048
COMPACT_SETUP = (
    "import json, torch\n"
    "from transformers import LlamaConfig, LlamaForCausalLM\n"
    "from albert_widget import AttentionWidget\n"
    "from albert_widget.longcontext import compact_from_ids\n"
    "torch.manual_seed(0)\n"
    "cfg = LlamaConfig(vocab_size=500, hidden_size=64, intermediate_size=96, num_hidden_layers=2,\n"
    "                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096)\n"
    "model = LlamaForCausalLM(cfg).eval()\n"
    f"ids = torch.randint(0, 500, ({N},), generator=torch.Generator().manual_seed(1))\n"
    f"c = compact_from_ids(model, ids, tokens=[f'w{{i}}' for i in range({N})])\n"
    "w = AttentionWidget.from_result(c, layer=1, head=2)\n"
    "w"
)
# The exact weights around the cell the test zooms into (query 1210, key 1200: near the diagonal), from q/k.
I0, J0, HALF = 1210, 1200, 20
COMPACT_VALUES = (
    f"b = c.block(1, 2, slice({I0 - HALF}, {I0 + HALF}), slice({J0 - HALF}, {J0 + HALF}))\n"
    "print(json.dumps({'values': b.tolist(), 'state': [w.view, w.attention_form]}))"
)


def _shot(lab, root, name):
    ARTIFACTS.mkdir(exist_ok=True)
    root.scroll_into_view_if_needed()
    lab.page.wait_for_timeout(200)
    root.screenshot(path=str(ARTIFACTS / name))


def _viewport(view):
    return {k: float(view.get_attribute(f"data-{k}")) for k in ("r0", "c0", "zoom", "max-zoom")}


def _point(box, vp, n, i, j):
    """Page px of the centre of token cell (i, j) in the plot `box` under viewport `vp` (n tokens a side)."""
    px = box["width"] * vp["zoom"] / n
    return box["x"] + (j + 0.5 - vp["c0"]) * px, box["y"] + (i + 0.5 - vp["r0"]) * px


def _tiles_settled(lab, view):
    lab.wait_attr(view, "tiles-missing", "0", timeout=120)
    assert view.get_attribute("data-tile-error") == ""


def _zoom_to_full(lab, root, view, x, y):
    """Wheel up over (x, y) until the view is at full zoom (one token per cell)."""
    lab.page.mouse.move(x, y)
    for _ in range(40):
        vp = _viewport(view)
        if vp["zoom"] >= vp["max-zoom"]:
            return vp
        drawn = lab.drawn(root)
        lab.page.mouse.wheel(0, -300)
        lab.wait_attr(root, "drawn", lambda v: int(v) > drawn)
    raise AssertionError(f"the wheel did not reach full zoom: {_viewport(view)}")


def test_compact_capture_zooms_to_exact_cells(lab):
    lab.open(
        "zoom_compact.ipynb",
        [COMPACT_SETUP, COMPACT_VALUES, "w.display_mode = 'dark'", "print(json.dumps(w.requests_served))"],
    )
    lab.run(0, timeout=300)
    root = lab.widget(0)
    expected = lab.run_json(1)
    assert expected["state"] == ["matrix", "compact"]
    values = expected["values"]
    assert root.get_attribute("data-view") == "matrix" and root.get_attribute("data-form") == "compact"
    # Views that need whole layers are off and say why
    neuron = root.locator('.aw-view-btn[data-view="neuron"]')
    assert neuron.is_disabled() and "compact capture (2,048 tokens)" in neuron.get_attribute("title")
    view = root.locator(".aw-view-matrix")
    _tiles_settled(lab, view)
    assert view.get_attribute("data-level") == "4"  # 2,048 tokens on 560 px: 4 tokens per cell
    assert "labels: every" in root.locator(".aw-matrix-title").text_content()
    assert "max of 4 × 4 tokens" in root.locator(".aw-matrix-title").text_content()
    assert root.locator(".aw-zoom-reset").is_disabled()
    pixels = lab.canvas_pixels(root, ".aw-matrix-canvas")
    assert pixels["painted"] > 0.3 * pixels["width"] * pixels["height"], pixels
    _shot(lab, root, "matrix_compact_zoomed_out_light.png")

    # Wheel over (1210, 1200) until one token is a cell: that token stays under the pointer.
    canvas = root.locator(".aw-matrix-canvas")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    x, y = _point(box, _viewport(view), N, I0, J0)
    _zoom_to_full(lab, root, view, x, y)
    _tiles_settled(lab, view)
    assert view.get_attribute("data-level") == "1" and view.get_attribute("data-label-step") == "1"
    tooltip = root.locator(".aw-tooltip")
    lab.page.mouse.move(x + 1, y + 1)
    tooltip.wait_for(state="visible")
    i, j = int(tooltip.get_attribute("data-query")), int(tooltip.get_attribute("data-key"))
    assert abs(i - I0) <= 3 and abs(j - J0) <= 3, (i, j)
    assert tooltip.get_attribute("data-exact") == "true"
    assert abs(float(tooltip.get_attribute("data-value")) - values[i - I0 + HALF][j - J0 + HALF]) <= 1e-6
    assert f"w{i} → w{j}:" in tooltip.text_content()
    # Every row on screen is labelled, and only those
    v = _viewport(view)
    rows_shown = root.locator(".aw-view-matrix .aw-query").evaluate_all("els => els.map(e => Number(e.dataset.index))")
    assert rows_shown == list(range(rows_shown[0], rows_shown[0] + len(rows_shown)))
    assert rows_shown[0] <= v["r0"] + 1 and rows_shown[-1] >= v["r0"] + N / v["zoom"] - 2 and len(rows_shown) >= 30
    # A key after the query is masked (hatched), not a weight of 0
    mx, my = _point(box, v, N, I0, J0 + 12)
    lab.page.mouse.move(mx, my)
    lab.wait_attr(tooltip, "key", str(J0 + 12))
    assert tooltip.get_attribute("data-masked") == "true" and "masked (future token)" in tooltip.text_content()
    _shot(lab, root, "matrix_compact_zoomed_in_light.png")

    # Drag pans: the grid follows the pointer (50 px right and 30 px down = earlier tokens)
    before = _viewport(view)
    lab.page.mouse.move(box["x"] + 200, box["y"] + 200)
    lab.page.mouse.down()
    lab.page.mouse.move(box["x"] + 225, box["y"] + 215, steps=3)
    lab.page.mouse.move(box["x"] + 250, box["y"] + 230, steps=3)
    lab.page.mouse.up()
    after = _viewport(view)
    px = box["width"] * before["zoom"] / N
    assert abs((before["c0"] - after["c0"]) * px - 50) < 1 and abs((before["r0"] - after["r0"]) * px - 30) < 1, (before, after)
    _tiles_settled(lab, view)
    # A value after the pan is exact too
    lab.page.mouse.move(x, y)
    lab.wait_attr(tooltip, "exact", "true")
    i, j = int(tooltip.get_attribute("data-query")), int(tooltip.get_attribute("data-key"))
    if abs(i - I0) < HALF and abs(j - J0) < HALF:
        assert abs(float(tooltip.get_attribute("data-value")) - values[i - I0 + HALF][j - J0 + HALF]) <= 1e-6

    # Dark theme, then reset
    lab.run(2)
    lab.wait_attr(root, "drawn", lambda s: True)
    lab.page.wait_for_timeout(500)
    _shot(lab, root, "matrix_compact_zoomed_in_dark.png")
    root.locator(".aw-zoom-reset").click()
    lab.wait_attr(view, "zoom", "1")
    _tiles_settled(lab, view)
    assert view.get_attribute("data-level") == "4" and root.locator(".aw-zoom-reset").is_disabled()
    _shot(lab, root, "matrix_compact_zoomed_out_dark.png")
    # The kernel answered tiles only (several per request): never a whole layer
    served = lab.run_json(3)
    assert set(served) == {"tiles"} and served["tiles"] >= 3, served


DENSE_TEXT = (
    "The quick brown fox jumps over the lazy dog while the cat sleeps on the warm mat near the old "
    "wooden door, and the children play outside in the garden until the sun goes down behind the hills."
)
DENSE_PAIR = "Later that evening the family sat together at the table and talked about the long day they had."
DENSE_TEXT = " ".join([DENSE_TEXT, DENSE_TEXT.replace("The quick", "Then a quick"), DENSE_TEXT.replace("children", "neighbours")])
DENSE_SETUP = (
    "import json\n"
    "from albert_widget import AttentionWidget\n"
    f"w = AttentionWidget.demo({DENSE_TEXT!r}, {DENSE_PAIR!r}, view='matrix', layer=2, head=3)\n"
    "w"
)
DENSE_VALUES = "print(json.dumps({'n': len(w.tokens), 'b': w.info['sentence_b_start'], 'values': w.attention[2, 3].tolist()}))"


def test_dense_matrix_zooms_to_every_label(lab):
    lab.open("zoom_dense.ipynb", [DENSE_SETUP, DENSE_VALUES, "w.display_mode = 'dark'"])
    lab.run(0)
    root = lab.widget(0)
    data = lab.run_json(1)
    n, b, values = data["n"], data["b"], data["values"]
    view = root.locator(".aw-view-matrix")
    step = int(view.get_attribute("data-label-step"))
    assert step > 1 and f"labels: every {step}" in root.locator(".aw-matrix-title").text_content()
    _shot(lab, root, "matrix_dense_zoomed_out_light.png")

    canvas = root.locator(".aw-matrix-canvas")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    # Zoom at the sentence boundary: query b + 2, key b
    x, y = _point(box, _viewport(view), n, b + 2, b)
    vp = _zoom_to_full(lab, root, view, x, y)
    assert view.get_attribute("data-label-step") == "1" and "labels: every" not in root.locator(".aw-matrix-title").text_content()
    shown = root.locator(".aw-view-matrix .aw-query:not(.aw-label-skip)").evaluate_all("els => els.map(e => Number(e.dataset.index))")
    first = int(vp["r0"]) + (0 if vp["r0"] == int(vp["r0"]) else 1)
    assert len(shown) >= int(n / vp["zoom"]) - 1 and shown == sorted(shown) and all(s >= first - 1 for s in shown)
    assert shown == list(range(shown[0], shown[0] + len(shown)))  # every token on screen is labelled
    # Exact value on hover (the page draws float16 above 128 tokens; the tooltip asks for the exact row)
    tooltip = root.locator(".aw-tooltip")
    lab.page.mouse.move(x, y)
    tooltip.wait_for(state="visible")
    lab.wait_attr(tooltip, "exact", "true")
    i, j = int(tooltip.get_attribute("data-query")), int(tooltip.get_attribute("data-key"))
    assert abs(i - (b + 2)) <= 1 and abs(j - b) <= 1
    assert abs(float(tooltip.get_attribute("data-value")) - values[i][j]) <= 1e-6
    # The sentence A/B divider stays on the boundary: background colour at its x, not a weight's
    vp = _viewport(view)
    px = box["width"] * vp["zoom"] / n
    divider_x = (b - vp["c0"]) * px
    probe = canvas.evaluate(
        """(c, [x, y]) => { const r = c.width / c.getBoundingClientRect().width; const ctx = c.getContext('2d');
            return [-1, 0, 1].map((dx) => Array.from(ctx.getImageData(Math.floor(x * r) + dx, Math.round(y * r), 1, 1).data.slice(0, 3))); }""",
        [divider_x, (b + 2.5 - vp["r0"]) * px],
    )
    # light theme: the 2 px white line covers the pixel at the boundary (its neighbours may be blended)
    assert any(p[0] == p[1] == p[2] and p[0] >= 250 for p in probe), probe
    assert f"{b},{b}" == view.get_attribute("data-seg-start")
    _shot(lab, root, "matrix_dense_zoomed_in_light.png")
    # Reset restores the whole matrix and its thinned labels
    root.locator(".aw-zoom-reset").click()
    lab.wait_attr(view, "zoom", "1")
    assert view.get_attribute("data-label-step") == str(step)
    lab.run(2)
    lab.page.wait_for_timeout(500)
    _shot(lab, root, "matrix_dense_zoomed_out_dark.png")
    x, y = _point(box, _viewport(view), n, b + 2, b)
    _zoom_to_full(lab, root, view, x, y)
    _shot(lab, root, "matrix_dense_zoomed_in_dark.png")


GENERATE_SETUP = (
    "import json, torch\n"
    "from transformers import LlamaConfig, LlamaForCausalLM\n"
    "from albert_widget import AttentionWidget\n"
    "from albert_widget.longcontext import capture_generate\n"
    "from albert_widget.tiny import train_bpe_tokenizer\n"
    "tok = train_bpe_tokenizer()\n"
    "torch.manual_seed(0)\n"
    "cfg = LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=96, num_hidden_layers=2,\n"
    "                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512)\n"
    "model = LlamaForCausalLM(cfg).eval()\n"
    "g = capture_generate(model, tok, 'The quick brown fox jumps over the lazy dog', max_new_tokens=12, do_sample=False)\n"
    "w = AttentionWidget.from_result(g)\n"
    "w"
)


def test_generated_tokens_are_marked(lab):
    lab.open("zoom_generate.ipynb", [GENERATE_SETUP, "print(json.dumps([g.prompt_length, g.num_tokens]))"])
    lab.run(0, timeout=300)
    root = lab.widget(0)
    prompt_length, n = lab.run_json(1)
    assert 0 < prompt_length < n
    view = root.locator(".aw-view-matrix")
    _tiles_settled(lab, view)
    assert view.get_attribute("data-prompt-length") == str(prompt_length)
    assert f"generated tokens (italic) from {prompt_length}" in root.locator(".aw-matrix-title").text_content()
    marked = root.locator(".aw-view-matrix .aw-query.aw-generated").evaluate_all("els => els.map(e => Number(e.dataset.index))")
    plain = root.locator(".aw-view-matrix .aw-query:not(.aw-generated)").evaluate_all("els => els.map(e => Number(e.dataset.index))")
    assert marked and min(marked) >= prompt_length and plain and max(plain) < prompt_length
    _shot(lab, root, "matrix_compact_generated_light.png")
