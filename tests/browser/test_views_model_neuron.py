"""Model view (thumbnail grid) and neuron view (q, k, q⊙k, scores, softmax) in a real JupyterLab."""

from __future__ import annotations

import json

from .aw_browser import ARTIFACTS, REPO

SENTENCE = "The cat sat on the mat because it was tired."

# ALBERT-base-sized model from a config (12 layers x 12 heads, random weights, one shared layer) with an
# ALBERT-style SentencePiece tokenizer trained by the test helpers: nothing is downloaded.
ALBERT_SETUP = (
    "import json, sys, tempfile\n"
    f"sys.path.insert(0, {str(REPO / 'tests')!r})\n"
    "import torch\n"
    "from transformers import AlbertConfig, AlbertModel\n"
    "from conftest import train_albert_tokenizer\n"
    "from albert_widget import AttentionWidget\n"
    "tok = train_albert_tokenizer(tempfile.mkdtemp())\n"
    "torch.manual_seed(0)\n"
    "cfg = AlbertConfig(vocab_size=len(tok), embedding_size=128, hidden_size=768, num_hidden_layers=12,\n"
    "                   num_attention_heads=12, intermediate_size=3072, max_position_embeddings=512)\n"
    "model = AlbertModel(cfg).eval()\n"
)
STATE = "print(json.dumps({'layer': w.layer, 'head': w.head, 'view': w.view, 'error': w.error}))"


def _shot(lab, root, name):
    """Screenshot of the whole widget: a tall window, so that nothing is cut off by the notebook's scroll."""
    ARTIFACTS.mkdir(exist_ok=True)
    size = lab.page.viewport_size
    lab.page.set_viewport_size({"width": size["width"], "height": 1700})
    try:
        root.scroll_into_view_if_needed()
        lab.page.wait_for_timeout(300)  # the notebook relays out
        root.screenshot(path=str(ARTIFACTS / name))
    finally:
        lab.page.set_viewport_size(size)


def _switch(lab, root, view):
    drawn = lab.drawn(root)
    root.locator(f'.aw-view-btn[data-view="{view}"]').click()
    lab.wait_attr(root, "view", view)
    lab.wait_attr(root, "drawn", lambda v: int(v) > drawn)
    lab.wait_attr(root, "state", "ready")


def test_model_view_thumbnail_click_moves_the_kernel(lab):
    lab.open(
        "model_view.ipynb",
        [ALBERT_SETUP + f"w = AttentionWidget(model, tok, {SENTENCE!r}, view='matrix')\nw", STATE],
    )
    lab.run(0)
    root = lab.widget(0)
    assert root.get_attribute("data-view") == "matrix"

    _switch(lab, root, "model")
    view = root.locator(".aw-view-model")
    view.wait_for(state="visible")
    assert view.get_attribute("data-shared") == "true"
    assert "12 layers share 1 set of weights" in root.locator(".aw-model-sharing").text_content()
    brackets = root.locator(".aw-model-bracket")
    assert brackets.count() == 1 and brackets.first.get_attribute("data-start") == "0" and brackets.first.get_attribute("data-end") == "11"
    assert "group 0" in brackets.first.text_content()
    assert root.locator(".aw-model-layer-label").count() == 12
    assert root.locator(".aw-model-head-label").count() == 12
    pixels = lab.canvas_pixels(root, ".aw-model-canvas")
    assert pixels["painted"] > 0.5 * pixels["width"] * pixels["height"], pixels
    selected = root.locator(".aw-model-selected")
    assert (selected.get_attribute("data-layer"), selected.get_attribute("data-head")) == ("0", "0")

    _shot(lab, root, "model_view_albert.png")

    # Click the thumbnail of layer 7, head 3: the kernel follows and the matrix view (used last) opens.
    thumb = int(view.get_attribute("data-thumb"))
    pitch = thumb + (4 if thumb >= 24 else 2)
    root.locator(".aw-model-canvas").evaluate("c => c.scrollIntoView({block: 'center'})")  # the point clicked is on screen
    box = root.locator(".aw-model-canvas").bounding_box()
    lab.page.mouse.click(box["x"] + 3 * pitch + thumb / 2, box["y"] + 7 * pitch + thumb / 2)
    lab.wait_attr(root, "view", "matrix")
    lab.wait_attr(root, "layer", "7")
    lab.wait_attr(root, "head", "3")
    state = lab.run_json(1)
    assert (state["layer"], state["head"], state["view"], state["error"]) == (7, 3, "matrix", "")

    # Back in the model view, the clicked thumbnail is the highlighted one.
    _switch(lab, root, "model")
    assert (selected.get_attribute("data-layer"), selected.get_attribute("data-head")) == ("7", "3")
    assert lab.page.evaluate("() => typeof window.__pwned") == "undefined"


def test_model_view_of_a_bert_family_model_has_no_sharing_brackets(lab):
    lab.open(
        "model_minilm.ipynb",
        [
            f"import json\nfrom albert_widget import AttentionWidget\nw = AttentionWidget.demo({(SENTENCE + ' ') * 12!r}, view='model')\nw",
            STATE,
        ],
    )
    lab.run(0)
    root = lab.widget(0)
    view = root.locator(".aw-view-model")
    assert view.get_attribute("data-shared") == "false"
    assert root.locator(".aw-model-bracket").count() == 0
    assert not root.locator(".aw-model-sharing").is_visible()
    caption = root.locator(".aw-model-caption").text_content()
    assert "averaged into" in caption, caption  # 134 tokens: downsampled in Python before travelling
    assert int(view.get_attribute("data-size")) <= 48
    # Keyboard on the focused widget moves the highlight.
    root.focus()
    root.press("ArrowRight")
    root.press("ArrowUp")
    lab.wait_attr(root, "head", "1")
    lab.wait_attr(root, "layer", "1")
    selected = root.locator(".aw-model-selected")
    lab.wait_attr(selected, "layer", "1")
    assert selected.get_attribute("data-head") == "1"
    _shot(lab, root, "model_view_minilm.png")


def _neuron_weights(root):
    return root.locator(".aw-view-neuron .aw-neuron-weight").evaluate_all("els => els.map(e => Number(e.dataset.value))")


def _check_neuron_against_kernel_and_matrix(lab, root, cell_row, layer, head, query, n):
    strip = root.locator(".aw-neuron-queries .aw-token")
    assert strip.count() == n
    drawn = lab.drawn(root)
    strip.nth(query).click()
    view = root.locator(".aw-view-neuron")
    lab.wait_attr(view, "query", str(query))
    lab.wait_attr(root, "drawn", lambda v: int(v) > drawn)
    assert (view.get_attribute("data-layer"), view.get_attribute("data-head")) == (str(layer), str(head))
    weights = _neuron_weights(root)
    assert json.loads(view.get_attribute("data-softmax")) == weights
    expected = lab.run_json(cell_row)  # widget.attention[layer, head, query] from the kernel
    assert len(weights) == len(expected) == n
    for j, (a, b) in enumerate(zip(weights, expected)):
        assert abs(a - b) <= 1e-6, (j, a, b)
    assert abs(sum(weights) - 1) < 1e-5
    # The scores (DOM) reproduce the weights through softmax.
    scores = root.locator(".aw-view-neuron .aw-neuron-score").evaluate_all("els => els.map(e => Number(e.dataset.value))")
    import math

    top = max(scores)
    e = [math.exp(s - top) for s in scores]
    z = sum(e)
    for j in range(n):
        assert abs(e[j] / z - weights[j]) < 1e-6
    return weights


def test_neuron_view_softmax_equals_the_matrix_row(lab):
    lab.open(
        "neuron.ipynb",
        [
            f"import json\nfrom albert_widget import AttentionWidget\nw = AttentionWidget.demo({SENTENCE!r})\nw.layer = 2\nw.head = 7\nw",
            "print(json.dumps([float(v) for v in w.attention[w.layer, w.head, 4]]))",
            STATE,
        ],
    )
    lab.run(0)
    root = lab.widget(0)
    lab.wait_attr(root, "layer", "2")
    _switch(lab, root, "neuron")
    view = root.locator(".aw-view-neuron")
    assert view.get_attribute("data-d") == "32"
    assert root.locator(".aw-neuron-k-canvas").bounding_box()["height"] >= 13 * 16 - 1
    for sel in (".aw-neuron-q-canvas", ".aw-neuron-k-canvas", ".aw-neuron-p-canvas", ".aw-neuron-s-canvas", ".aw-neuron-w-canvas"):
        assert lab.canvas_pixels(root, sel)["painted"] > 0, sel
    weights = _check_neuron_against_kernel_and_matrix(lab, root, 1, 2, 7, 4, 13)
    _shot(lab, root, "neuron_view_minilm.png")

    # The matrix view's row 4 shows the same numbers (its tooltip carries the exact value).
    _switch(lab, root, "matrix")
    canvas = root.locator(".aw-matrix-canvas")
    box = canvas.bounding_box()
    tooltip = root.locator(".aw-tooltip")
    for j in (0, 3, 9, 12):
        lab.page.mouse.move(box["x"] + (j + 0.5) * box["width"] / 13, box["y"] + 4.5 * box["height"] / 13)
        tooltip.wait_for(state="visible")
        lab.wait_attr(tooltip, "query", "4")
        lab.wait_attr(tooltip, "key", str(j))
        assert abs(float(tooltip.get_attribute("data-value")) - weights[j]) <= 1e-6
    assert lab.run_json(2)["error"] == ""


def test_neuron_view_of_albert_through_its_shared_layer(lab):
    lab.open(
        "neuron_albert.ipynb",
        [
            ALBERT_SETUP + f"w = AttentionWidget(model, tok, {SENTENCE!r}, layer=5, head=2, view='neuron')\nw",
            "print(json.dumps([float(v) for v in w.attention[5, 2, 3]]))",
            "print(json.dumps(len(w.tokens)))",
        ],
    )
    lab.run(0)
    root = lab.widget(0)
    n = lab.run_json(2)
    _check_neuron_against_kernel_and_matrix(lab, root, 1, 5, 2, 3, n)
    assert root.locator(".aw-view-neuron").get_attribute("data-d") == "64"
    _shot(lab, root, "neuron_view_albert.png")


def test_neuron_view_without_a_model_says_why(lab):
    lab.open(
        "neuron_none.ipynb",
        [
            "import numpy as np\nfrom albert_widget import AttentionWidget\n"
            "rng = np.random.default_rng(0)\nx = rng.normal(size=(2, 3, 4, 4))\n"
            "att = np.exp(x) / np.exp(x).sum(-1, keepdims=True)\n"
            "w = AttentionWidget.from_attention(att, tokens=['a', 'b', 'c', 'd'], view='neuron')\nw",
            "print(repr(w.error))",
        ],
    )
    lab.run(0)
    root = lab.cell(0).locator(".aw-root").first
    root.wait_for(state="visible")
    lab.wait_attr(root, "state", "unavailable")
    status = root.locator(".aw-status")
    assert "neuron view needs a model whose attention modules can be hooked" in status.text_content()
    assert "from_attention" in status.text_content()
    _shot(lab, root, "neuron_view_unavailable.png")
    assert lab.run(1).strip() == "''"  # nothing broke in the kernel
    # The other views still work.
    _switch(lab, root, "head")
    assert lab.canvas_pixels(root)["painted"] > 0
    _switch(lab, root, "model")
    assert root.locator(".aw-model-layer-label").count() == 2
