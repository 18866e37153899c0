"""The display bundle's picture for renderers without widget JavaScript (export/fallback.py)."""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image

from albert_widget import AttentionResult, AttentionWidget
from albert_widget.export.fallback import FALLBACK_COLOURS, HEAD_MIN_THRESHOLD, fallback_options, fallback_png


def random_result(n: int, seed: int = 0) -> AttentionResult:
    raw = np.random.default_rng(seed).random((2, 4, n, n), dtype=np.float32) ** 6
    return AttentionResult.from_attention(raw / raw.sum(-1, keepdims=True), [f"t{i}" for i in range(n)])


def test_options_follow_the_chosen_view():
    assert fallback_options({"view": "matrix", "layer": 1, "head": 3}, 4)["view"] == "matrix"
    neuron = fallback_options({"view": "neuron", "layer": 1, "head": 3}, 4)
    assert (neuron["view"], neuron["layer"], neuron["head"]) == ("matrix", 1, 3)
    head = fallback_options({"view": "head", "heads": [0, 2, 9], "threshold": 0.0}, 4)
    assert head["heads"] == [0, 2]
    assert head["threshold"] == HEAD_MIN_THRESHOLD
    assert fallback_options({"view": "head", "threshold": 0.5}, 4)["threshold"] == 0.5
    assert fallback_options({"view": "model", "head_reduce": "mean"}, 4)["head_reduce"] == "none"


def test_png_is_small_palette_and_deterministic():
    result = random_result(24)
    png = fallback_png(result, {"view": "head", "layer": 1, "head": 2})
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    assert image.mode == "P"
    assert image.width == 360
    assert len(image.getcolors(256)) <= FALLBACK_COLOURS
    assert png == fallback_png(result, {"view": "head", "layer": 1, "head": 2})


def test_display_bundle_carries_the_png_of_the_current_view():
    widget = AttentionWidget.from_attention(random_result(10).attention, [f"t{i}" for i in range(10)], view="matrix")
    data, _metadata = widget._repr_mimebundle_()
    assert {"application/vnd.jupyter.widget-view+json", "image/png", "text/plain"} <= set(data)
    first = base64.b64decode(data["image/png"])
    widget.layer, widget.head = 1, 3
    assert base64.b64decode(widget._repr_mimebundle_()[0]["image/png"]) != first
    AttentionWidget.static_fallback = False
    try:
        assert "image/png" not in widget._repr_mimebundle_()[0]
    finally:
        AttentionWidget.static_fallback = True
