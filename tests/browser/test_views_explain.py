"""Explain view (rollout / flow / relevancy / norm) and the head-summary panel in a real JupyterLab."""

from __future__ import annotations

from .aw_browser import ARTIFACTS

SENTENCE = "The cat sat on the mat, because it was tired."
LONG = " ".join(["word"] * 40)  # above FLOW_MAX_TOKENS (32)
STATE = "print(json.dumps({'layer': w.layer, 'head': w.head, 'view': w.view, 'method': w.explain_method, 'error': w.error}))"


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


def _method(lab, root, view, method):
    root.locator("select.aw-explain-method").select_option(method)
    lab.wait_attr(view, "method", method)
    lab.wait_attr(view, "state", lambda v: v in ("ready", "error"), timeout=60)
    lab.wait_attr(root, "state", "ready", timeout=60)


def test_explain_view_methods_and_summary_click(lab):
    lab.open(
        "explain_view.ipynb",
        [
            f"import json\nfrom albert_widget import AttentionWidget\nw = AttentionWidget.demo({SENTENCE!r}, view='explain')\nw",
            STATE,
            f"w.set_input({LONG!r})",
        ],
    )
    lab.run(0)
    root = lab.widget(0)
    lab.wait_attr(root, "state", "ready", timeout=60)
    view = root.locator(".aw-view-explain")
    lab.wait_attr(view, "state", "ready")
    n = int(root.get_attribute("data-ntokens"))
    assert view.get_attribute("data-method") == "rollout"
    assert view.get_attribute("data-shape") == f"{n}x{n}"
    pixels = {"rollout": lab.canvas_pixels(root, ".aw-explain-canvas")}
    assert pixels["rollout"]["painted"] > 0, pixels
    sums = {"rollout": float(view.get_attribute("data-sum"))}
    assert abs(sums["rollout"] - n) < 1e-3  # rollout rows sum to 1
    # Token labels are text (textContent), one per token on each axis.
    assert root.locator(".aw-explain-cols .aw-token").count() == n
    assert root.locator(".aw-explain-rows .aw-token").count() == n

    for method in ("flow", "norm", "relevancy"):
        _method(lab, root, view, method)
        assert view.get_attribute("data-state") == "ready", root.locator(".aw-explain-error").text_content()
        pixels[method] = lab.canvas_pixels(root, ".aw-explain-canvas")
        sums[method] = float(view.get_attribute("data-sum"))
        assert pixels[method]["painted"] > 0
    assert view.get_attribute("data-shape") == str(n)  # relevancy: one heat row over the tokens
    assert root.locator(".aw-explain-rows .aw-token").count() == 0
    assert pixels["relevancy"]["height"] < pixels["rollout"]["height"]
    digests = {p["digest"] for p in pixels.values()}
    assert len(digests) == 4, pixels  # every method draws something different
    assert abs(sums["flow"] - n) < 1e-3 and len({sums["rollout"], sums["norm"], sums["relevancy"]}) == 3, sums  # flow rows normalised too
    assert lab.run_json(1)["method"] == "relevancy"

    # Head summary: one grid per statistic; a click on a cell moves the kernel's layer and head.
    summary = root.locator(".aw-summary")
    lab.wait_attr(summary, "state", "ready", timeout=60)
    assert root.locator(".aw-summary-grid").count() == 8
    assert root.locator(".aw-summary-big .aw-summary-cell").count() == 6 * 12
    _method(lab, root, view, "norm")  # norm follows the head
    before = view.get_attribute("data-sum")
    root.locator('.aw-summary-big .aw-summary-cell[data-layer="4"][data-head="9"]').click()
    lab.wait_attr(root, "layer", "4")
    lab.wait_attr(root, "head", "9")
    lab.wait_attr(view, "sum", lambda v: v != before, timeout=60)
    state = lab.run_json(1)
    assert (state["layer"], state["head"], state["view"], state["error"]) == (4, 9, "explain", "")
    assert root.locator('.aw-summary-big .aw-summary-selected[data-layer="4"][data-head="9"]').count() == 1
    # Choosing another statistic puts its grid first; the ranked heads are buttons that focus too.
    root.locator("select.aw-summary-stat").select_option("to_prev")
    lab.wait_attr(root.locator(".aw-summary-big"), "stat", "to_prev")
    rank = root.locator(".aw-summary-rank").first
    layer, head = rank.get_attribute("data-layer"), rank.get_attribute("data-head")
    rank.click()
    lab.wait_attr(root, "layer", layer)
    lab.wait_attr(root, "head", head)
    _shot(lab, root, "explain_view_norm.png")

    _method(lab, root, view, "rollout")
    _shot(lab, root, "explain_view.png")

    # Too long for flow: the message is shown in the view, the rest keeps working.
    lab.run(2)
    lab.wait_attr(root, "ntokens", lambda v: int(v) > 32, timeout=60)
    _method(lab, root, view, "flow")
    assert view.get_attribute("data-state") == "error"
    assert "limited to" in root.locator(".aw-explain-error").text_content()
    assert root.locator(".aw-error").is_hidden()
    _method(lab, root, view, "rollout")
    assert view.get_attribute("data-state") == "ready"
    assert lab.page.evaluate("() => typeof window.__pwned") == "undefined"
