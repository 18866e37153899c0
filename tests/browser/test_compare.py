"""CompareWidget in a real JupyterLab: synced layer/head/hover, the diverging difference view with
exact tooltips and one-sided words, the head-matching grid, two tokenizers side by side."""

from __future__ import annotations

import json

from .aw_browser import ARTIFACTS

PERTURBED = """\
import json
import numpy as np
from albert_widget import AttentionWidget
w = AttentionWidget.demo("The cat sat on the mat.")
c = w.compare(text_b="The dog sat on the mat.", view="side")
c"""

DIFFERENCE = """\
d = c.difference()
print(json.dumps({
    "slots": [[s.side, s.label] for s in c.aligned.slots],
    "delta": [[None if np.isnan(v) else float(v) for v in row] for row in d["delta"]],
    "left_tokens": c.left_tokens, "right_tokens": c.right_tokens,
    "layers": [c.left_layer, c.left_head, c.right_layer, c.right_head],
}))"""

PIXEL = """(c, [x, y]) => {
  const r = c.getBoundingClientRect();
  const sx = c.width / r.width, sy = c.height / r.height;
  const d = c.getContext('2d').getImageData(Math.floor(x * sx), Math.floor(y * sy), 1, 1).data;
  return [d[0], d[1], d[2]];
}"""


def _cell_centre(lab, canvas, n, i, j):
    box = canvas.bounding_box()
    cell = box["width"] / n
    return box["x"] + (j + 0.5) * cell, box["y"] + (i + 0.5) * cell, ((j + 0.5) * cell, (i + 0.5) * cell)


def test_perturbation_side_by_side_difference_and_matching(lab):
    top = "same = np.einsum('ijij->ij', c.divergence())\nprint(json.dumps([int(k) for k in np.unravel_index(same.argmax(), same.shape)]))"
    lab.open("compare_perturbed.ipynb", [PERTURBED, DIFFERENCE, "c.display_mode = 'dark'", "c.display_mode = 'light'", top])
    lab.run(0)
    root = lab.widget(0)
    assert root.get_attribute("data-view") == "side"
    assert root.get_attribute("data-level") == "word"
    assert root.locator("input.aw-sync").is_checked()
    # Each side is labelled with the model's short name (as the HTML export), never its folder.
    labels = root.locator(".aw-compare-label").all_text_contents()
    assert labels == ["left: all-MiniLM-L6-v2: The cat sat on the mat.", "right: all-MiniLM-L6-v2: The dog sat on the mat."], labels

    # Layer and head move together on both sides (sync): the kernel mirrors the page's choice.
    root.locator("select.aw-layer[data-side=left]").select_option("3")
    lab.wait_attr(root, "right-layer", "3")
    root.locator("select.aw-head[data-side=right]").select_option("7")
    lab.wait_attr(root, "left-head", "7")
    lab.wait_attr(root, "state", "ready")
    titles = root.locator(".aw-matrix-title").all_text_contents()
    assert titles[0].startswith("left: layer 3, head 7")
    assert titles[1].startswith("right: layer 3, head 7")

    # Hover on the left matrix shows the aligned cell on the right ("sat" -> "on").
    left_tokens = root.locator(".aw-compare-side-left .aw-matrix-rows .aw-token").all_text_contents()
    right_tokens = root.locator(".aw-compare-side-right .aw-matrix-rows .aw-token").all_text_contents()
    i, j = left_tokens.index("sat"), left_tokens.index("on")
    canvas = root.locator(".aw-compare-side-left .aw-matrix-canvas")
    x, y, _ = _cell_centre(lab, canvas, len(left_tokens), i, j)
    lab.page.mouse.move(x, y)
    right_tip = root.locator(".aw-compare-side-right .aw-tooltip")
    right_tip.wait_for(state="visible")
    assert right_tip.get_attribute("data-query") == str(right_tokens.index("sat"))
    assert right_tip.get_attribute("data-key") == str(right_tokens.index("on"))
    # "cat" is on the left only: hovering its row leaves the right side without a highlight.
    x, y, _ = _cell_centre(lab, canvas, len(left_tokens), left_tokens.index("cat"), j)
    lab.page.mouse.move(x, y)
    right_tip.wait_for(state="hidden")
    ARTIFACTS.mkdir(exist_ok=True)
    lab.cell(0).screenshot(path=str(ARTIFACTS / "compare-side.png"))

    # Difference view: diverging scale centred on 0, exact values, the one-sided words shown.
    root.locator(".aw-view-btn[data-view=difference]").click()
    lab.wait_attr(root, "view", "difference")
    lab.wait_attr(root, "state", "ready")
    expected = lab.run_json(1)
    assert expected["layers"] == [3, 7, 3, 7]
    diff = root.locator(".aw-view-diff")
    lo, hi = float(diff.get_attribute("data-min")), float(diff.get_attribute("data-max"))
    finite = [v for row in expected["delta"] for v in row if v is not None]
    m = max(abs(v) for v in finite)
    assert hi == -lo
    assert abs(hi - m) <= 1e-7 * max(1.0, m)
    assert root.locator(".aw-colourbar-mid").text_content() == "0"
    assert root.locator(".aw-colourbar-max").text_content().startswith("+")
    assert root.locator(".aw-colourbar-min").text_content().startswith("\u2212")
    assert "renormalised over the aligned keys" in root.locator(".aw-view-diff .aw-compare-note").text_content()
    slots = expected["slots"]
    assert root.locator(".aw-matrix-rows .aw-token.aw-slot-left").all_text_contents() == ["cat"]
    assert root.locator(".aw-matrix-rows .aw-token.aw-slot-right").all_text_contents() == ["dog"]
    n = len(slots)
    assert diff.get_attribute("data-slots") == str(n)
    canvas = root.locator(".aw-diff-canvas")
    # The exact Δ of the strongest cell in the tooltip, and its colour at the end of the scale.
    k = max(range(n * n), key=lambda q: -1 if expected["delta"][q // n][q % n] is None else abs(expected["delta"][q // n][q % n]))
    i, j = divmod(k, n)
    x, y, local = _cell_centre(lab, canvas, n, i, j)
    lab.page.mouse.move(x, y)
    tip = root.locator(".aw-view-diff .aw-tooltip")
    tip.wait_for(state="visible")
    assert tip.get_attribute("data-query") == str(i)
    assert tip.get_attribute("data-key") == str(j)
    assert float(tip.get_attribute("data-value")) == expected["delta"][i][j]
    assert "Δ" in tip.text_content()
    end = [33, 102, 172] if expected["delta"][i][j] < 0 else [178, 24, 43]
    assert canvas.evaluate(PIXEL, list(local)) == end
    # A cell of a one-sided word is the mask grey (150, 150, 150) under the hatch, not a Δ colour.
    cat = [s[1] for s in slots].index("cat")
    _, _, local = _cell_centre(lab, canvas, n, cat, 0)
    pixel = canvas.evaluate(PIXEL, list(local))
    # grey 150, or grey under a white hatch line (0.7 white): neutral and darker than Δ = 0 (247)
    assert pixel[0] == pixel[1] == pixel[2], pixel
    assert 150 <= pixel[0] <= 230, pixel
    x, y, _ = _cell_centre(lab, canvas, n, cat, 0)
    lab.page.mouse.move(x, y)
    assert "only on the left side" in tip.text_content()
    lab.page.mouse.move(0, 0)
    lab.cell(0).screenshot(path=str(ARTIFACTS / "compare-difference-light.png"))
    lab.run(2)
    root.page.wait_for_function("(el) => el.classList.contains('aw-mode-dark')", arg=root.element_handle())
    lab.cell(0).screenshot(path=str(ARTIFACTS / "compare-difference-dark.png"))
    lab.run(3)

    # Head matching: 72 + 72 cells; a click compares that pair in the difference view.
    root.locator(".aw-view-btn[data-view=match]").click()
    lab.wait_attr(root, "state", "ready")
    assert root.locator(".aw-view-match").get_attribute("data-cells") == "144"
    first = root.locator(".aw-match-changed-head").first
    assert [int(first.get_attribute("data-layer")), int(first.get_attribute("data-head"))] == lab.run_json(4)
    cell = root.locator(".aw-match-left .aw-match-cell[data-layer='4'][data-head='2']")
    match = (cell.get_attribute("data-match-layer"), cell.get_attribute("data-match-head"))
    lab.cell(0).screenshot(path=str(ARTIFACTS / "compare-match.png"))
    cell.click()
    lab.wait_attr(root, "view", "difference")
    lab.wait_attr(root, "left-layer", "4")
    lab.wait_attr(root, "right-layer", match[0])
    lab.wait_attr(root, "right-head", match[1])
    lab.assert_clean()


TWO_TOKENIZERS = """\
import json
from albert_widget import CompareWidget, load_default_model
from albert_widget.tiny import random_albert, tiny_albert_config, train_albert_tokenizer
tok = train_albert_tokenizer()
albert = random_albert(tiny_albert_config(len(tok)), seed=0)
minilm, mtok = load_default_model()
c = CompareWidget.from_models(albert, tok, minilm, mtok, "the cat sat on the mat", view="side", side_view="head")
c"""


def test_two_tokenizers_side_by_side_with_independent_layers_and_synced_lock(lab):
    lab.open("compare_tokenizers.ipynb", [TWO_TOKENIZERS, "print(json.dumps([c.left_layer, c.right_layer, c.sync]))"])
    lab.run(0)
    root = lab.widget(0)
    assert root.get_attribute("data-level") == "word"
    sync = root.locator("input.aw-sync")
    assert not sync.is_checked()
    assert sync.is_disabled()
    assert root.locator("select.aw-layer[data-side=left] option").count() == 4
    assert root.locator("select.aw-layer[data-side=right] option").count() == 6
    root.locator("select.aw-layer[data-side=right]").select_option("5")
    lab.wait_attr(root, "right-layer", "5")
    lab.wait_attr(root, "state", "ready")
    assert root.get_attribute("data-left-layer") == "0"
    # Hover and lock a piece on the left (SentencePiece splits "cat" into "▁ca" "t"): its word is
    # focused, then locked, on the right (WordPiece keeps "cat" whole).
    left = root.locator(".aw-compare-side-left .aw-head-left .aw-token")
    right = root.locator(".aw-compare-side-right .aw-head-left .aw-token")
    left_texts, right_texts = left.all_text_contents(), right.all_text_contents()
    assert left_texts[2:4] == ["ca", "t"]
    assert "cat" not in left_texts
    word = 3  # "t", the second piece of the word
    left.nth(word).hover()
    target = right.nth(right_texts.index("cat"))
    lab.page.wait_for_function("(el) => el.classList.contains('aw-token-focus')", arg=target.element_handle())
    left.nth(word).click()
    lab.page.wait_for_function("(el) => el.classList.contains('aw-token-locked')", arg=target.element_handle())
    lab.page.mouse.move(0, 0)
    assert "aw-token-locked" in target.get_attribute("class")  # stays locked when the pointer leaves
    ARTIFACTS.mkdir(exist_ok=True)
    lab.cell(0).screenshot(path=str(ARTIFACTS / "compare-tokenizers-head.png"))
    assert json.loads(lab.run(1).splitlines()[-1]) == [0, 5, False]
    lab.assert_clean()
