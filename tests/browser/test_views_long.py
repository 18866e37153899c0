"""Views for long inputs in a real JupyterLab: the row view (one query over every key), the model view
coloured by a per-head statistic, and the head view's top-k lines of a compact capture."""

from __future__ import annotations

import json
import re

from .aw_browser import ARTIFACTS, REPO

# A small random Llama (3 layers x 8 heads, 2 key heads) and a byte-level BPE tokenizer, both built
# here: nothing is downloaded. TEXT is ~1,200 tokens.
LLAMA_SETUP = (
    "import json, sys\n"
    f"sys.path.insert(0, {str(REPO / 'tests')!r})\n"
    "import numpy as np, torch\n"
    "from transformers import LlamaConfig, LlamaForCausalLM\n"
    "from albert_widget import AttentionWidget, capture\n"
    "from albert_widget.tiny import train_bpe_tokenizer\n"
    "from albert_widget.head_summaries import head_statistics\n"
    "tok = train_bpe_tokenizer()\n"
    "torch.manual_seed(0)\n"
    "cfg = LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=96, num_hidden_layers=3,\n"
    "                  num_attention_heads=8, num_key_value_heads=2, max_position_embeddings=4096)\n"
    "model = LlamaForCausalLM(cfg).eval()\n"
    "TEXT = ' '.join(['The quick brown fox jumps over the lazy dog while the cat sleeps on the mat.'] * 24)\n"
    "AttentionWidget.static_fallback = False  # the display bundle's PNG is not what these tests look at\n"
)
STATE = "print(json.dumps({k: getattr(w, k) for k in ('layer', 'head', 'view', 'row_query', 'model_statistic', 'error')}))"
# the compact capture of the same input (its dense attention would not fit this budget)
COMPACT = (
    "n = w.result.num_tokens\n"
    "compact = capture(model, tok, TEXT, memory_budget=3 * 8 * n * n * 4 - 1)\n"
    "print(json.dumps({'n': n, 'compact': type(compact).__name__}))"
)
# the compact capture's exact row of the widget's query, written to a file (too long for an output)
ROW = (
    "q = w.row_query if w.row_query >= 0 else n - 1\n"
    "open(ROW_FILE, 'w').write(json.dumps({'q': q, 'row': compact.row(w.layer, w.head, q).tolist()}))\n"
    "print(json.dumps({'q': q}))"
)


def _shot(lab, root, name):
    ARTIFACTS.mkdir(exist_ok=True)
    size = lab.page.viewport_size
    lab.page.set_viewport_size({"width": size["width"], "height": 1700})
    try:
        root.scroll_into_view_if_needed()
        lab.page.wait_for_timeout(300)
        root.screenshot(path=str(ARTIFACTS / name))
    finally:
        lab.page.set_viewport_size(size)


def _viridis_lut() -> list[tuple[int, int, int]]:
    """The page's viridis table (js/src/draw/colour.js: VIRIDIS_STOPS through buildLut), rebuilt here."""
    text = (REPO / "js" / "src" / "draw" / "colour.js").read_text(encoding="utf-8")
    stops = re.findall(r"#([0-9a-f]{6})", re.search(r"VIRIDIS_STOPS = \[([^\]]*)\]", text).group(1))
    rgb = [tuple(int(s[i : i + 2], 16) for i in (0, 2, 4)) for s in stops]
    segments = len(rgb) - 1
    lut = []
    for i in range(256):
        pos = i / 255 * segments
        k = min(int(pos), segments - 1)
        f = pos - k
        a, b = rgb[k], rgb[k + 1]
        lut.append(tuple(int(a[c] + (b[c] - a[c]) * f + 0.5) for c in range(3)))
    return lut


def _cell_colours(root, layers: int, heads: int) -> list[list[tuple[int, int, int]]]:
    """The colour drawn at the centre of every layer x head cell of the model view's canvas."""
    view = root.locator(".aw-view-model")
    thumb = int(view.get_attribute("data-thumb") or 0) or None
    return root.locator(".aw-model-canvas").evaluate(
        """(c, [L, H, thumb]) => {
            const s = c.width / c.clientWidth;
            const ctx = c.getContext('2d');
            const t = thumb || Math.floor(c.clientWidth / H);
            const gap = t >= 24 ? 4 : 2;
            const out = [];
            for (let l = 0; l < L; l++) {
                const row = [];
                for (let h = 0; h < H; h++) {
                    const x = Math.round((h * (t + gap) + t / 2) * s), y = Math.round((l * (t + gap) + t / 2) * s);
                    const d = ctx.getImageData(x, y, 1, 1).data;
                    row.push([d[0], d[1], d[2]]);
                }
                out.push(row);
            }
            return out;
        }""",
        [layers, heads, thumb],
    )


def _row(lab, cell, path):
    lab.run_json(cell)
    return json.loads(path.read_text())


def test_row_view_hover_is_exact_and_a_click_picks_the_query(lab, tmp_path):
    row_file = tmp_path / "row.json"
    lab.open(
        "row_view.ipynb",
        [
            LLAMA_SETUP + f"ROW_FILE = {str(row_file)!r}\nw = AttentionWidget(model, tok, TEXT, view='row', layer=1, head=2)\nw",
            STATE,
            COMPACT,
            ROW,
        ],
    )
    lab.run(0)
    root = lab.widget(0)
    info = lab.run_json(2)
    n = info["n"]
    assert info["compact"] == "CompactAttention" and n > 1000
    view = root.locator(".aw-view-row")
    view.wait_for(state="visible")
    assert view.get_attribute("data-query") == str(n - 1)  # row_query -1: the last token
    assert view.get_attribute("data-keys") == str(n)
    bins = int(view.get_attribute("data-bins"))
    assert bins < n  # max-downsampled to the plot's width
    assert "each bar is the maximum of" in root.locator(".aw-row-caption").text_content()
    row = _row(lab, 3, row_file)
    assert row["q"] == n - 1
    root.scroll_into_view_if_needed()

    # Hover across the plot: every readout is the exact weight of the heaviest key of its bin.
    compact_row = json.loads(json.dumps(row["row"]))
    box = root.locator(".aw-row-canvas").bounding_box()
    readout = root.locator(".aw-row-readout")
    seen = set()
    for frac in (0.001, 0.2, 0.5, 0.77, 0.95, 0.999):
        lab.page.mouse.move(box["x"] + frac * box["width"], box["y"] + box["height"] / 2)
        lab.page.wait_for_function("(el) => el.dataset.key !== undefined", arg=readout.element_handle())
        key, value = int(readout.get_attribute("data-key")), float(readout.get_attribute("data-value"))
        b = min(bins - 1, int(frac * bins))
        lo, hi = b * n // bins, (b + 1) * n // bins
        assert lo <= key < hi + 1, (key, lo, hi)
        assert abs(value - compact_row[key]) <= 1e-6, (key, value, compact_row[key])
        assert abs(value - max(compact_row[lo:hi])) <= 1e-6
        seen.add(key)
    assert len(seen) == 6
    # The named top keys are the heaviest of the row, with their exact weights, escaped text.
    top = root.locator(".aw-row-top-key")
    assert top.count() == 10
    keys = [int(k) for k in top.evaluate_all("els => els.map(e => e.dataset.key)")]
    values = [float(v) for v in top.evaluate_all("els => els.map(e => e.dataset.value)")]
    order = sorted(range(n), key=lambda j: (-compact_row[j], j))[:10]
    assert sorted(keys) == sorted(order) or [compact_row[k] for k in keys] == sorted((compact_row[j] for j in order), reverse=True)
    assert all(abs(v - compact_row[k]) <= 1e-6 for k, v in zip(keys, values))
    assert root.locator(".aw-row-label").count() >= 1

    _shot(lab, root, "row_view_llama_dense_light.png")

    # A click on a listed key makes it the query, in the kernel too.
    drawn = lab.drawn(root)
    target = keys[1]
    top.nth(1).click()
    lab.wait_attr(view, "query", str(target))
    lab.wait_attr(root, "drawn", lambda v: int(v) > drawn)
    state = lab.run_json(1)
    assert state["row_query"] == target and state["error"] == ""
    row = _row(lab, 3, row_file)
    assert row["q"] == target
    root.scroll_into_view_if_needed()
    box = root.locator(".aw-row-canvas").bounding_box()
    lab.page.mouse.move(box["x"] + 0.01 * box["width"], box["y"] + box["height"] / 2)
    lab.page.wait_for_function("(el) => el.dataset.key !== undefined", arg=readout.element_handle())
    key, value = int(readout.get_attribute("data-key")), float(readout.get_attribute("data-value"))
    assert abs(value - row["row"][key]) <= 1e-6
    # keys after the query weigh nothing (causal)
    assert all(v == 0 for v in row["row"][target + 1 :])
    assert lab.page_errors == []


def test_model_view_by_statistic_colours_in_value_order_and_a_click_selects(lab):
    lab.open(
        "model_statistic.ipynb",
        [
            "import json\nfrom albert_widget import AttentionWidget\nfrom albert_widget.head_summaries import head_statistics\n"
            "w = AttentionWidget.demo('The <b>cat</b> sat on the mat because it was tired. ' * 6, view='model')\nw",
            STATE,
            "from albert_widget.names import HEAD_STATISTICS\n"
            "print(json.dumps(head_statistics(w.result)[HEAD_STATISTICS.index(w.model_statistic)].tolist()))",
            "w.display_mode = 'dark'",
            "w.display_mode = 'light'",
        ],
    )
    lab.run(0)
    root = lab.widget(0)
    view = root.locator(".aw-view-model")
    assert view.get_attribute("data-statistic") == "thumbnails"
    drawn = lab.drawn(root)
    root.locator("select.aw-model-statistic").select_option("entropy")
    lab.wait_attr(view, "statistic", "entropy")
    lab.wait_attr(root, "drawn", lambda v: int(v) > drawn)
    lab.wait_attr(root, "state", "ready")
    assert lab.run_json(1)["model_statistic"] == "entropy"
    values = lab.run_json(2)  # [6 layers][12 heads]
    L, H = len(values), len(values[0])
    flat = [v for row in values for v in row]
    lo, hi = min(flat), max(flat)
    assert abs(float(view.get_attribute("data-lo")) - lo) <= 1e-6 and abs(float(view.get_attribute("data-hi")) - hi) <= 1e-6
    lut = _viridis_lut()
    colours = _cell_colours(root, L, H)
    for l in range(L):
        for h in range(H):
            got = min(range(256), key=lambda i: sum((lut[i][c] - colours[l][h][c]) ** 2 for c in range(3)))
            want = min(255, int((values[l][h] - lo) / (hi - lo) * 255.999))
            assert abs(got - want) <= 1, (l, h, got, want)
    assert "entropy (nats)" in root.locator(".aw-model-caption").text_content()
    assert root.locator(".aw-model-legend").is_visible()

    # Hover: the exact value; click: that layer and head, in the kernel too.
    thumb = int(view.get_attribute("data-thumb"))
    pitch = thumb + (4 if thumb >= 24 else 2)
    box = root.locator(".aw-model-canvas").bounding_box()
    lab.page.mouse.move(box["x"] + 5 * pitch + thumb / 2, box["y"] + 3 * pitch + thumb / 2)
    hover = root.locator(".aw-model-hover")
    lab.wait_attr(hover, "head", "5")
    assert abs(float(hover.get_attribute("data-value")) - values[3][5]) <= 1e-6
    lab.page.mouse.click(box["x"] + 5 * pitch + thumb / 2, box["y"] + 3 * pitch + thumb / 2)
    lab.wait_attr(root, "layer", "3")
    lab.wait_attr(root, "head", "5")
    state = lab.run_json(1)
    assert (state["layer"], state["head"], state["view"]) == (3, 5, "model")
    _shot(lab, root, "model_statistic_minilm_light.png")
    lab.run(3)
    root.page.wait_for_function("(el) => el.classList.contains('aw-mode-dark')", arg=root.element_handle())
    lab.page.wait_for_timeout(300)
    _shot(lab, root, "model_statistic_minilm_dark.png")
    # the row view of the same dense input: one query over every key, the top keys named
    drawn = lab.drawn(root)
    root.locator('.aw-view-btn[data-view="row"]').click()
    lab.wait_attr(root, "view", "row")
    lab.wait_attr(root, "drawn", lambda v: int(v) > drawn)
    lab.wait_attr(root, "state", "ready")
    # the row view has no figure writer: its downloads are off and say so, instead of failing on a click
    for button in (root.locator(".aw-save-svg"), root.locator(".aw-save-png")):
        assert button.is_disabled() and "row view has no figure" in (button.get_attribute("title") or ""), button.get_attribute("title")
    rview = root.locator(".aw-view-row")
    assert rview.get_attribute("data-layer") == "3" and rview.get_attribute("data-heads") == "5"
    assert root.locator(".aw-row-top-key").count() == 10
    _shot(lab, root, "row_view_minilm_dark.png")
    lab.run(4)
    root.page.wait_for_function("(el) => !el.classList.contains('aw-mode-dark')", arg=root.element_handle())
    lab.page.wait_for_timeout(300)
    _shot(lab, root, "row_view_minilm_light.png")
    # the token text is escaped (it holds markup)
    assert lab.page.evaluate("() => document.querySelectorAll('.aw-root b').length") == 0
    assert lab.page_errors == []


def test_compact_capture_head_view_top_k_lines_row_and_statistics(lab, tmp_path):
    row_file = tmp_path / "row.json"
    lab.open(
        "compact_views.ipynb",
        [
            LLAMA_SETUP
            + f"ROW_FILE = {str(row_file)!r}\n"
            + "from albert_widget import capture_compact\n"
            + "compact = capture_compact(model, tok, TEXT)\nn = compact.num_tokens\n"
            + "w = AttentionWidget.from_result(compact, view='head', layer=2, head=3)\nw",
            STATE,
            "w.heads = [1, 3]",
            "s = compact.summaries\nprint(json.dumps({'n': n, 'top': s.topk_index[2, 3, n - 5].tolist(), "
            "'w': s.topk_weight[2, 3, n - 5].tolist(), 'sink': head_statistics(compact)[0].tolist()}))",
            ROW,
            "w.display_mode = 'dark'",
            "w.display_mode = 'light'",
        ],
    )
    lab.run(0)
    root = lab.widget(0)
    assert root.get_attribute("data-form") == "compact" and root.get_attribute("data-view") == "topk"
    facts = lab.run_json(3)
    n = facts["n"]
    view = root.locator(".aw-view-topk")
    view.wait_for(state="visible")
    # the last window of 48 queries, each with its top 4 keys in head 3: 192 lines
    assert (view.get_attribute("data-window-start"), view.get_attribute("data-window-end")) == (str(n - 48), str(n))
    assert view.get_attribute("data-lines") == str(48 * 4)
    assert root.locator(".aw-topk-left .aw-query").count() == 48
    # drawn, and still nothing whole to write from a compact capture: the downloads are off and say what to use
    lab.wait_attr(root, "state", "ready")
    for button in (root.locator(".aw-save-svg"), root.locator(".aw-save-png")):
        assert button.is_disabled() and "compact capture" in (button.get_attribute("title") or ""), button.get_attribute("title")
    caption = root.locator(".aw-topk-caption").text_content()
    assert f"of {n:,}" in caption and "top 4 keys" in caption and "192 lines" in caption, caption
    # hover a query: its top keys with their exact weights, heaviest first
    root.locator(f'.aw-topk-left .aw-query[data-index="{n - 5}"]').hover()
    readout = root.locator(".aw-topk-readout")
    lab.wait_attr(readout, "query", str(n - 5))
    text = readout.text_content()
    assert [int(j) for j in re.findall(r"#(\d+)", text)] == facts["top"], text
    assert all(abs(float(v) - w) <= 1e-6 * max(1, w) for v, w in zip(re.findall(r"” ([0-9.e-]+)", text), facts["w"]))
    _shot(lab, root, "topk_head_llama_compact_light.png")
    lab.page.mouse.move(0, 0)

    # two heads, then 8 keys each (computed from the capture's blocks): the lines drawn are what was asked
    lab.run(2)
    lab.wait_attr(view, "heads", "1,3")
    lab.wait_attr(view, "lines", str(2 * 48 * 4))
    root.locator("select.aw-topk-k").select_option("8")
    lab.wait_attr(view, "k", "8")
    lab.wait_attr(view, "lines", str(2 * 48 * 8))
    # an earlier window
    root.locator(".aw-topk-prev").click()
    lab.wait_attr(view, "window-start", str(n - 96))
    assert view.get_attribute("data-lines") == str(2 * 48 * 8)
    assert root.locator(".aw-topk-right .aw-topk-gap").count() >= 1  # earlier keys named, tokens skipped
    lab.run(5)
    root.page.wait_for_function("(el) => el.classList.contains('aw-mode-dark')", arg=root.element_handle())
    lab.page.wait_for_timeout(300)
    _shot(lab, root, "topk_head_llama_compact_dark.png")

    # a click locks a query: the row view opens on it (row_query, in the kernel too)
    target = n - 96 + 10
    root.locator(f'.aw-topk-left .aw-query[data-index="{target}"]').click()
    lab.wait_attr(view, "locked", str(target))
    assert lab.run_json(1)["row_query"] == target

    # the row view of the compact capture: hovered weights equal CompactAttention.row
    drawn = lab.drawn(root)
    root.locator('.aw-view-btn[data-view="row"]').click()
    lab.wait_attr(root, "view", "row")
    lab.wait_attr(root, "drawn", lambda v: int(v) > drawn)
    lab.wait_attr(root, "state", "ready")
    rview = root.locator(".aw-view-row")
    assert rview.get_attribute("data-query") == str(target)
    row = _row(lab, 4, row_file)["row"]
    root.scroll_into_view_if_needed()
    box = root.locator(".aw-row-canvas").bounding_box()
    rreadout = root.locator(".aw-row-readout")
    bins = int(rview.get_attribute("data-bins"))
    for frac in (0.002, 0.4, 0.9):
        lab.page.mouse.move(box["x"] + frac * box["width"], box["y"] + box["height"] / 2)
        lab.page.wait_for_function("(el) => el.dataset.key !== undefined", arg=rreadout.element_handle())
        key, value = int(rreadout.get_attribute("data-key")), float(rreadout.get_attribute("data-value"))
        b = min(bins - 1, int(frac * bins))
        assert b * n // bins <= key < (b + 1) * n // bins + 1
        assert abs(value - row[key]) <= 1e-6, (key, value, row[key])
    assert all(v == 0 for v in row[target + 1 :])  # causal: nothing after the query
    _shot(lab, root, "row_view_llama_compact_dark.png")
    lab.run(6)
    root.page.wait_for_function("(el) => !el.classList.contains('aw-mode-dark')", arg=root.element_handle())
    lab.page.wait_for_timeout(300)
    _shot(lab, root, "row_view_llama_compact_light.png")

    # the model view of a compact capture: coloured by a statistic (no thumbnails), sink first
    drawn = lab.drawn(root)
    root.locator('.aw-view-btn[data-view="model"]').click()
    lab.wait_attr(root, "view", "model")
    lab.wait_attr(root, "drawn", lambda v: int(v) > drawn)
    lab.wait_attr(root, "state", "ready")
    mview = root.locator(".aw-view-model")
    assert mview.get_attribute("data-statistic") == "sink"
    assert "compact capture" in root.locator(".aw-model-caption").text_content()
    sink = facts["sink"]
    flat = [v for r in sink for v in r]
    lo, hi = min(flat), max(flat)
    lut = _viridis_lut()
    colours = _cell_colours(root, 3, 8)
    for l in range(3):
        for h in range(8):
            got = min(range(256), key=lambda i: sum((lut[i][c] - colours[l][h][c]) ** 2 for c in range(3)))
            want = min(255, int((sink[l][h] - lo) / (hi - lo) * 255.999))
            assert abs(got - want) <= 1, (l, h, got, want)
    _shot(lab, root, "model_statistic_llama_compact_light.png")
    lab.run(5)
    root.page.wait_for_function("(el) => el.classList.contains('aw-mode-dark')", arg=root.element_handle())
    lab.page.wait_for_timeout(300)
    _shot(lab, root, "model_statistic_llama_compact_dark.png")
    assert lab.page_errors == []
