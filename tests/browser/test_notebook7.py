"""The same basic round trip in Notebook 7 (/notebooks/NB.ipynb)."""

from __future__ import annotations

from .aw_browser import prettify

SETUP = (
    "import json\nfrom albert_widget import AttentionWidget\nw = AttentionWidget.demo('The cat sat on the mat because it was tired.')\nw"
)
STATE = "print(json.dumps({'layer': w.layer, 'head': w.head, 'tokens': w.tokens}))"


def test_notebook7_draws_and_the_slider_reaches_the_kernel(lab):
    lab.open("nb7.ipynb", [SETUP, STATE], app="notebook")
    assert "/notebooks/nb7.ipynb" in lab.page.url
    assert lab.page.locator("#main-panel, .jp-NotebookPanel").count() > 0
    lab.run(0)
    root = lab.widget(0)
    state = lab.run_json(1)
    assert lab.token_texts(root) == [prettify(t) for t in state["tokens"]]
    assert lab.canvas_pixels(root)["painted"] > 500

    slider = root.locator("input.aw-layer")
    slider.focus()
    slider.press("End")  # a range input jumps to its maximum
    lab.wait_attr(root, "layer", "5")
    slider.press("ArrowLeft")
    lab.wait_attr(root, "layer", "4")
    assert lab.run_json(1)["layer"] == 4
