"""The widget in a real JupyterLab, driven in headless Chromium as a person would."""

from __future__ import annotations

import os
import shutil

from .aw_browser import ARTIFACTS, REPO, prettify

SENTENCE = "The cat sat on the mat because it was tired."

SETUP = f"import json\nfrom albert_widget import AttentionWidget\nw = AttentionWidget.demo({SENTENCE!r})\nw"
SETUP_AT_LAYER_2_HEAD_7 = SETUP.removesuffix("w") + "w.layer = 2\nw.head = 7\nw"
STATE = (
    "print(json.dumps({'layer': w.layer, 'head': w.head, 'view': w.view, 'tokens': w.tokens, 'error': w.error, 'revision': w.revision}))"
)


def test_tokens_and_lines_are_drawn(lab):
    # The widget shown in a cell of its own: the README's picture is that cell.
    lab.open("drawn.ipynb", [SETUP.removesuffix("w"), "w", STATE, "w.layer = 5\nw.head = 11"])
    lab.run(0)
    lab.run(1)
    root = lab.widget(1)
    state = lab.run_json(2)

    tokens = state["tokens"]
    assert tokens[0] == "[CLS]" and tokens[-1] == "[SEP]" and len(tokens) == 13
    assert root.get_attribute("data-ntokens") == str(len(tokens))
    assert root.get_attribute("data-view") == "head"
    expected = [prettify(t) for t in tokens]
    assert lab.token_texts(root, ".aw-view-head .aw-query") == expected
    assert lab.token_texts(root, ".aw-view-head .aw-key") == expected
    indices = root.locator(".aw-view-head .aw-query").evaluate_all("els => els.map(e => Number(e.dataset.index))")
    assert indices == list(range(len(tokens)))

    pixels = lab.canvas_pixels(root, ".aw-head-canvas")
    assert pixels["width"] > 0 and pixels["height"] > 0
    assert pixels["painted"] > 500, pixels  # lines were drawn, not an empty canvas
    assert int(root.get_attribute("data-lines") or 0) > 0

    # Hovering a query token keeps only its lines.
    all_lines = int(root.get_attribute("data-lines"))
    drawn = lab.drawn(root)
    root.locator(".aw-view-head .aw-query").nth(tokens.index("it")).hover()
    lab.wait_attr(root, "drawn", lambda v: int(v) > drawn)
    assert 0 < int(root.get_attribute("data-lines")) < all_lines

    # The README's picture: the cell and its widget in JupyterLab, at a head that resolves "it"
    # (layer 5, head 11 puts 0.71 of "it"'s attention on "cat"), "it" hovered.
    lab.run(3)
    lab.wait_attr(root, "layer", "5")
    lab.wait_attr(root, "head", "11")
    drawn = lab.drawn(root)
    root.locator(".aw-view-head .aw-query").nth(tokens.index("cat")).hover()
    root.locator(".aw-view-head .aw-query").nth(tokens.index("it")).hover()
    lab.wait_attr(root, "drawn", lambda v: int(v) > drawn)
    lab.wait_attr(root, "state", "ready")
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "screenshot.png"
    lab.cell(1).screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000
    if os.environ.get("UPDATE_SCREENSHOT") == "1":
        shutil.copyfile(shot, REPO / "docs" / "screenshot.png")


def test_layer_slider_moves_the_kernel(lab):
    lab.open("slider.ipynb", [SETUP, STATE])
    lab.run(0)
    root = lab.widget(0)
    slider = root.locator("input.aw-layer")
    assert slider.get_attribute("max") == "5"

    # Drag the thumb to the right end with the mouse.
    box = slider.bounding_box()
    y = box["y"] + box["height"] / 2
    lab.page.mouse.move(box["x"] + 4, y)
    lab.page.mouse.down()
    lab.page.mouse.move(box["x"] + box["width"] * 0.6, y, steps=4)
    lab.page.mouse.move(box["x"] + box["width"] + 20, y, steps=4)
    lab.page.mouse.up()
    lab.wait_attr(root, "layer", "5")
    assert lab.run_json(1)["layer"] == 5

    # Then two steps back with the keyboard on the focused slider.
    slider.focus()
    slider.press("ArrowLeft")
    slider.press("ArrowLeft")
    lab.wait_attr(root, "layer", "3")
    assert slider.input_value() == "3"
    state = lab.run_json(1)
    assert state["layer"] == 3
    assert state["head"] == 0  # arrow keys in the slider moved only the layer


def test_head_set_from_python_redraws(lab):
    lab.open("head.ipynb", [SETUP, "w.head = 5", STATE])
    lab.run(0)
    root = lab.widget(0)
    before = lab.canvas_pixels(root)
    drawn = lab.drawn(root)
    assert root.get_attribute("data-head") == "0"

    lab.run(1)
    lab.wait_attr(root, "head", "5")
    lab.wait_attr(root, "drawn", lambda v: int(v) > drawn)
    assert root.locator("input.aw-head").input_value() == "5"
    after = lab.canvas_pixels(root)
    assert after["painted"] > 500
    assert after["digest"] != before["digest"], "head 5 drew the same pixels as head 0"
    assert lab.run_json(2)["head"] == 5


def test_typing_a_sentence_reruns_the_model(lab):
    lab.open("typing.ipynb", [SETUP, STATE])
    lab.run(0)
    root = lab.widget(0)
    revision = int(root.get_attribute("data-revision"))

    box = root.locator(".aw-text")
    box.fill("Dogs bark loudly at night")
    box.press("Enter")
    lab.wait_attr(root, "revision", lambda v: int(v) > revision)
    lab.wait_attr(root, "state", "ready")
    state = lab.run_json(1)
    tokens = state["tokens"]
    assert tokens == ["[CLS]", "dogs", "bark", "loudly", "at", "night", "[SEP]"]
    lab.wait_attr(root, "ntokens", str(len(tokens)))
    assert lab.token_texts(root) == [prettify(t) for t in tokens]
    assert state["error"] == ""


def test_matrix_tooltip_shows_the_exact_value(lab):
    lab.open(
        "matrix.ipynb",
        [
            SETUP_AT_LAYER_2_HEAD_7,
            "print(json.dumps([[float(v) for v in row] for row in w.attention[w.layer, w.head]]))",
        ],
    )
    lab.run(0)
    root = lab.widget(0)
    lab.wait_attr(root, "layer", "2")
    lab.wait_attr(root, "head", "7")
    drawn = lab.drawn(root)
    root.locator('.aw-view-btn[data-view="matrix"]').click()
    lab.wait_attr(root, "view", "matrix")
    lab.wait_attr(root, "drawn", lambda v: int(v) > drawn)
    matrix = lab.run_json(1)
    n = len(matrix)
    assert n == 13

    canvas = root.locator(".aw-matrix-canvas")
    pixels = lab.canvas_pixels(root, ".aw-matrix-canvas")
    assert pixels["painted"] > 0.5 * pixels["width"] * pixels["height"]
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    tooltip = root.locator(".aw-tooltip")
    for i, j in [(1, 2), (4, 4), (12, 0), (7, 11)]:
        # hover() scrolls the canvas into view and moves the mouse to the centre of cell (i, j).
        canvas.hover(position={"x": (j + 0.5) * box["width"] / n, "y": (i + 0.5) * box["height"] / n})
        tooltip.wait_for(state="visible")
        lab.wait_attr(tooltip, "query", str(i))
        lab.wait_attr(tooltip, "key", str(j))
        expected = matrix[i][j]
        shown = float(tooltip.get_attribute("data-value"))
        assert abs(shown - expected) <= 1e-6 * abs(expected) + 1e-12, (i, j, shown, expected)
        text = tooltip.text_content()
        number = float(text.rsplit(":", 1)[1])
        assert abs(number - expected) <= 5e-6 * abs(expected) + 1e-12, (text, expected)
    assert lab.run_json(1) == matrix  # the kernel still answers and nothing moved


def test_bad_text_shows_an_error_and_keeps_the_last_view(lab):
    lab.open("error.ipynb", [SETUP, STATE])
    lab.run(0)
    root = lab.widget(0)
    before = lab.token_texts(root)
    error = root.locator(".aw-error")
    assert not error.is_visible()

    box = root.locator(".aw-text")
    box.fill("   ")
    box.press("Enter")
    error.wait_for(state="visible")
    message = error.text_content().strip()
    assert message and "text" in message.lower(), message
    assert lab.token_texts(root) == before
    assert lab.canvas_pixels(root)["painted"] > 500

    state = lab.run_json(1)  # the kernel still answers
    assert state["tokens"][1:4] == ["the", "cat", "sat"]
    assert state["error"] == message


def test_two_widgets_do_not_clash_and_two_views_stay_in_sync(lab):
    lab.open(
        "two.ipynb",
        [
            "import json\nfrom albert_widget import AttentionWidget\na = AttentionWidget.demo('The cat sat on the mat.')\na",
            "b = AttentionWidget.demo('Dogs bark loudly at night near the old river.')\nb",
            "a",  # a second view of the same widget
            "print(json.dumps({'a': a.layer, 'b': b.layer, 'ta': a.tokens, 'tb': b.tokens}))",
            "b.layer = 2",
        ],
    )
    lab.run(0)
    a1 = lab.widget(0)
    lab.run(1)
    b = lab.widget(1)
    lab.run(2)
    a2 = lab.widget(2)
    state = lab.run_json(3)
    assert lab.token_texts(a1) == [prettify(t) for t in state["ta"]]
    assert lab.token_texts(b) == [prettify(t) for t in state["tb"]]
    assert lab.token_texts(a2) == lab.token_texts(a1)
    assert lab.token_texts(a1) != lab.token_texts(b)

    b_drawn = lab.drawn(b)
    slider = a1.locator("input.aw-layer")
    slider.focus()
    for _ in range(4):
        slider.press("ArrowRight")
    lab.wait_attr(a1, "layer", "4")
    lab.wait_attr(a2, "layer", "4")  # the other view of the same widget follows
    assert a2.locator("input.aw-layer").input_value() == "4"
    state = lab.run_json(3)
    assert state["a"] == 4 and state["b"] == 0
    assert b.get_attribute("data-layer") == "0"
    assert b.locator("input.aw-layer").input_value() == "0"
    assert lab.drawn(b) == b_drawn  # the other widget did not even redraw

    # Python moves b: only b's view changes.
    a_drawn = lab.drawn(a1)
    lab.run(4)
    lab.wait_attr(b, "layer", "2")
    assert a1.get_attribute("data-layer") == "4" and a2.get_attribute("data-layer") == "4"
    assert lab.drawn(a1) == a_drawn


HOSTILE = [
    '<img src=x onerror="window.__pwned=1">',
    "</script><script>window.__pwned=1</script>",
    '"><svg onload="window.__pwned=1">',
    "ok",
]


def test_hostile_token_text_is_shown_literally(lab):
    lab.open(
        "hostile.ipynb",
        [
            "import numpy as np\nfrom albert_widget import AttentionWidget\n"
            "rng = np.random.default_rng(0)\n"
            "x = rng.normal(size=(2, 3, 4, 4))\n"
            "att = np.exp(x) / np.exp(x).sum(-1, keepdims=True)\n"
            f"w = AttentionWidget.from_attention(att, tokens={HOSTILE!r})\nw",
        ],
    )
    lab.run(0)
    root = lab.widget(0)
    assert lab.token_texts(root) == HOSTILE
    assert lab.token_texts(root, ".aw-view-head .aw-key") == HOSTILE
    # Shown as text: nothing was parsed into elements, no handler ran.
    assert root.locator("img, svg, script").count() == 0
    assert lab.page.evaluate("() => typeof window.__pwned") == "undefined"
    # The matrix view labels them literally too.
    drawn = lab.drawn(root)
    root.locator('.aw-view-btn[data-view="matrix"]').click()
    lab.wait_attr(root, "drawn", lambda v: int(v) > drawn)
    assert lab.token_texts(root, ".aw-view-matrix .aw-query") == HOSTILE
    assert root.locator("img, svg, script").count() == 0
    assert lab.page.evaluate("() => typeof window.__pwned") == "undefined"
    # from_attention has no model: the text box is read-only.
    assert root.locator(".aw-text").is_disabled()
