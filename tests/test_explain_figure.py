"""The explain view's saved figure (export/explain_figure.py): the same map, tokens, values, colour
scale and head-summary grids the page gets from the kernel (explain.py replies), read back from the
bytes of the SVG that ``AttentionWidget.save`` writes."""

from __future__ import annotations

import base64
import io
import json
import pathlib
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from matplotlib import colormaps

from albert_widget import AttentionWidget, save_figure
from albert_widget.analysis import STATISTICS
from albert_widget.compat import make_widget
from albert_widget.explain import explain_scope, reply_to_explain, reply_to_head_stats
from albert_widget.export.explain_figure import STAT_LABELS, explain_figure, range_numbers, short_number
from albert_widget.export.figures import prettify_token

SVG = "{http://www.w3.org/2000/svg}"
XLINK = "{http://www.w3.org/1999/xlink}href"


def _texts(path):
    return [t.text or "" for t in ET.parse(path).iter(f"{SVG}text")]


def _image_of(path, gid):
    """The RGBA pixels of the ``<image id=gid>`` of a matplotlib SVG (cells at one pixel each)."""
    from PIL import Image

    root = ET.parse(path).getroot()
    image = next(i for i in root.iter(f"{SVG}image") if i.get("id") == gid)
    data = image.get(XLINK).split(",", 1)[1]
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data))).convert("RGBA"))


def _page_reply(w, method, layer=0, head=0, reduce="none"):
    """What the page receives for this method: the kernel's own reply (float32 buffer)."""
    reply, buffers = reply_to_explain(
        w.result, w.revision, {"method": method, "layer": layer, "head": head, "reduce": reduce}, w._model, w._tokenizer
    )
    assert "error" not in reply, reply
    return reply, np.frombuffer(buffers[0], "<f4").reshape(reply["shape"])


def _expected_rgb(values, lo, hi):
    rgba = colormaps["viridis"]((values - lo) / (hi - lo))
    return np.round(rgba[..., :3] * 255).astype(int)


@pytest.mark.parametrize("method", ["rollout", "flow", "relevancy"])
def test_saved_explain_figure_has_the_pages_map_tokens_scale_and_title(tiny_albert, tmp_path, method):
    model, tokenizer = tiny_albert
    w = AttentionWidget(model, tokenizer, "The cat sat on the mat.", view="explain", explain_method=method)
    path = tmp_path / "explain.svg"
    written = w.save(path)
    assert written == path.stat().st_size > 0
    reply, values = _page_reply(w, method)
    texts = _texts(path)
    title = {"rollout": "Rollout", "flow": "Attention flow", "relevancy": "Relevancy (gradient)"}[method]
    assert f"{title} · all layers and heads" in texts
    assert reply["note"] in texts
    labels = [prettify_token(t) for t in w.result.tokens]
    for label in labels:
        assert label in texts
    # the colour scale of the page: min(0, lowest) .. highest, labelled as the page writes it
    lo, hi = min(0.0, float(values.min())), float(values.max())
    lo_text, hi_text = range_numbers(lo, hi)
    assert lo_text in texts and hi_text in texts
    # the cells: the PNG inside the SVG is the map at one pixel per cell, in the page's colours
    pixels = _image_of(path, "explain-map")
    shown = values[None, :] if values.ndim == 1 else values
    assert pixels.shape[:2] == shown.shape
    np.testing.assert_allclose(pixels[..., :3], _expected_rgb(shown, lo, hi), atol=1)
    # the head-summary grids: one per statistic, named as on the page, each on its own range
    stats_reply, buffers = reply_to_head_stats(w.result, w.revision)
    stats = np.frombuffer(buffers[0], "<f4").reshape(stats_reply["shape"])
    for k, name in enumerate(STATISTICS):
        assert STAT_LABELS[name] in texts
        grid = stats[k].astype(np.float64)
        assert "{} … {}".format(*range_numbers(grid.min(), grid.max())) in texts, name
        cells = _image_of(path, f"stat-{name}")
        assert cells.shape[:2] == grid.shape
        if grid.max() > grid.min():
            np.testing.assert_allclose(cells[..., :3], _expected_rgb(grid, grid.min(), grid.max()), atol=1)


def test_norm_names_its_layer_and_head_in_the_models_own_numbers(tiny_albert, tmp_path):
    model, tokenizer = tiny_albert
    w = AttentionWidget(model, tokenizer, "The cat sat.", view="explain", explain_method="norm", layer=1, head=2)
    path = tmp_path / "norm.svg"
    w.save(path)
    _reply, values = _page_reply(w, "norm", 1, 2)
    texts = _texts(path)
    assert "Norm-weighted attention · layer 1, head 2" in texts
    pixels = _image_of(path, "explain-map")
    lo, hi = min(0.0, float(values.min())), float(values.max())
    np.testing.assert_allclose(pixels[..., :3], _expected_rgb(values, lo, hi), atol=1)
    w.head_reduce = "mean"
    w.save(path, summary=False)
    texts = _texts(path)
    assert "Norm-weighted attention · layer 1, mean over heads" in texts
    assert not any("Head summary" in t for t in texts)
    # bertviz's include_layers / include_heads: the model's own numbers
    assert explain_scope("norm", 1, 0, "none", [5, 7], [3, 9]) == "layer 7, head 3"
    assert explain_scope("rollout", 1, 0, "none", [5, 7], [3, 9]) == "all layers and heads"


def test_included_layers_are_named_by_their_own_numbers_in_the_summary(tmp_path):
    rng = np.random.default_rng(1)
    a = rng.random((2, 3, 5, 5)).astype(np.float32)
    a /= a.sum(-1, keepdims=True)
    from albert_widget import AttentionResult

    result = AttentionResult.from_attention(a, ["[CLS]", "a", "<b>&", "c", "[SEP]"])
    w = make_widget(result, {"view": "explain"}, {"layer_numbers": [5, 7], "head_numbers": [0, 4, 8]})
    path = tmp_path / "e.svg"
    w.save(path)
    text = path.read_text()
    assert "rows are layers 5–7, columns heads 0–8" in text
    assert "&lt;b&gt;&amp;" in text and "<b>&" not in text  # token text escaped


def test_norm_without_a_model_says_why(tmp_path):
    from albert_widget import AttentionResult

    a = np.full((1, 1, 3, 3), 1 / 3, np.float32)
    w = AttentionWidget(result=AttentionResult.from_attention(a, ["a", "b", "c"]), view="explain", explain_method="norm")
    with pytest.raises(ValueError, match="norm needs the model"):
        w.save(tmp_path / "x.svg")
    assert not (tmp_path / "x.svg").exists()


def test_a_built_explain_figure_is_saved_as_it_is_in_every_format(tmp_path):
    values = np.array([[0.5, 0.5], [0.25, 0.75]], np.float32)
    fig = explain_figure(values, ["x", "y"], [False, False], method="rollout", note="n", scope="all layers and heads")
    for ext in ("svg", "pdf", "png"):
        n = save_figure(fig, tmp_path / f"f.{ext}")
        data = (tmp_path / f"f.{ext}").read_bytes()
        assert n == len(data)
        assert data[:4] in (b"<?xm", b"%PDF", b"\x89PNG")
    with pytest.raises(ValueError, match=r"values must be \[N, N\] or \[N\]"):
        explain_figure(values, ["x"], [False], method="rollout", note="", scope="")
    assert re.fullmatch(r"\d\.\d\de[+-]\d+", short_number(4.27e-6)) and short_number(0.5) == "0.500"


#: The same table as js/test/explain.test.mjs (RANGE_CASES): the page and the figure write ranges alike.
RANGE_CASES = [
    (3.57e-9, 0.635, "0.000", "0.635"),
    (0.00235, 0.262, "0.002", "0.262"),
    (0.963, 11.8, "1.0", "11.8"),
    (0.00681, 3.06, "0.01", "3.06"),
    (-0.0001, 0.5, "0.000", "0.500"),
    (0, 0, "0", "0"),
    (1e-5, 4e-4, "1.00e-5", "4.00e-4"),
    (2, 1234, "2.00", "1.23e+3"),
]


@pytest.mark.parametrize(("lo", "hi", "lo_text", "hi_text"), RANGE_CASES)
def test_ranges_are_written_alike_at_both_ends(lo, hi, lo_text, hi_text):
    assert range_numbers(lo, hi) == (lo_text, hi_text)


def test_range_table_is_the_pages():
    text = (pathlib.Path(__file__).resolve().parents[1] / "js" / "test" / "explain.test.mjs").read_text(encoding="utf-8")
    table = text[text.index("RANGE_CASES = [") : text.index("];", text.index("RANGE_CASES = ["))]
    rows = re.findall(r"\[([^\[\]]+)\]", table)
    assert [tuple(json.loads(f"[{r}]")) for r in rows] == [tuple(c) for c in RANGE_CASES]
