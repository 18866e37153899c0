"""The page–kernel protocol in a real JupyterLab: one store per widget, one reply per request."""

from __future__ import annotations

SENTENCE = "The cat sat on the mat because it was tired."


def _layers_asked(lab, cell: int) -> list[int]:
    return lab.run_json(cell)


def test_two_views_of_one_widget_make_one_request_per_layer(lab):
    lab.open(
        "one_store.ipynb",
        [
            f"import json\nfrom albert_widget import AttentionWidget\nw = AttentionWidget.demo({SENTENCE!r})\nw",
            "w",  # a second view of the same widget
            "print(json.dumps([f['layers'] for t, f in w._requests.history if t == 'layers']))",
            "print(json.dumps({'deferred': w._requests.deferred, 'served': w.requests_served}))",
        ],
    )
    lab.run(0)
    first = lab.widget(0)
    lab.run(1)
    second = lab.widget(1)
    lab.wait_attr(first, "state", "ready")
    lab.wait_attr(second, "state", "ready")
    slider = first.locator("input.aw-layer")
    slider.focus()
    for layer in range(1, 6):
        slider.press("ArrowRight")
        lab.wait_attr(first, "layer", str(layer))
        lab.wait_attr(second, "layer", str(layer))
        lab.wait_attr(first, "state", "ready")
        lab.wait_attr(second, "state", "ready")
    for _ in range(5):  # and back: everything is in the page already
        slider.press("ArrowLeft")
    lab.wait_attr(first, "layer", "0")
    lab.wait_attr(second, "state", "ready")
    asked = [layer for request in _layers_asked(lab, 2) for layer in request]
    assert sorted(asked) == list(range(6)), asked  # every layer exactly once, for both views together
    # in the kernel, requests run on event-loop turns of their own (so a cancel can overtake them)
    counts = lab.run_json(3)
    assert counts["deferred"] == counts["served"]["layers"] == 6
    # both views share the store: the same object answers in each
    same = lab.page.evaluate(
        "() => { const roots = [...document.querySelectorAll('.aw-root')]; return roots.length === 2 && roots[0].awStore === roots[1].awStore; }"
    )
    assert same is True
    lab.assert_clean()


def test_a_failing_request_rejects_only_its_own_promise(lab):
    lab.open(
        "one_failure.ipynb",
        [
            f"import json\nfrom albert_widget import AttentionWidget\nw = AttentionWidget.demo({SENTENCE!r})\nw",
            "w",
            "print(json.dumps({'layer': w.layer, 'error': w.error}))",
        ],
    )
    lab.run(0)
    first = lab.widget(0)
    lab.run(1)
    second = lab.widget(1)
    lab.wait_attr(second, "state", "ready")
    outcome = lab.page.evaluate(
        """async () => {
          const store = document.querySelector('.aw-root').awStore;
          const [bad, good] = await Promise.allSettled([
            store.layer({ layer: 99 }),
            store.ask('thumbnails', { size: 16 }),
          ]);
          return { bad: bad.status === 'rejected' ? bad.reason.message : 'resolved',
                   good: good.status === 'fulfilled' ? good.value.content.type : String(good.reason) };
        }"""
    )
    assert outcome == {"bad": "requested layer 99 is not in 0..5", "good": "thumbnails"}
    # nothing else failed: both views move on and draw, no error is shown, the kernel's state is clean
    drawn = lab.drawn(second)
    slider = first.locator("input.aw-layer")
    slider.focus()
    slider.press("ArrowRight")
    lab.wait_attr(first, "layer", "1")
    lab.wait_attr(second, "layer", "1")
    lab.wait_attr(second, "state", "ready")
    assert lab.drawn(second) > drawn
    for root in (first, second):
        assert root.locator(".aw-error").is_hidden()
    assert lab.run_json(2) == {"layer": 1, "error": ""}
    lab.assert_clean()
