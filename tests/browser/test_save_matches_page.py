"""What ``w.save()`` writes is what the page shows: for every view and filter below, the kernel saves the
figure of the widget's state, and the test compares it with what the page drew in a real JupyterLab
(labels, cells under the causal mask, hovered values, lines, head colours). One notebook, many states.
Screenshots of the page and the saved figure (as PNG) go to artifacts/save_*."""

from __future__ import annotations

import json
import re
import time
import xml.etree.ElementTree as ET

from .aw_browser import ARTIFACTS, REPO

SETUP = (
    "import json, sys, pathlib\nimport numpy as np\nimport torch\n"
    f"sys.path.insert(0, {str(REPO / 'tests')!r})\n"
    "from conftest import train_bpe_tokenizer\n"
    "from matplotlib.colors import to_hex\n"
    "from transformers import BartConfig, BartModel\n"
    "from albert_widget import AttentionWidget, figure\n"
    "tok = train_bpe_tokenizer()\ntorch.manual_seed(0)\n"
    "cfg = BartConfig(vocab_size=len(tok), d_model=32, encoder_layers=2, decoder_layers=3, encoder_attention_heads=4,\n"
    "                 decoder_attention_heads=2, encoder_ffn_dim=37, decoder_ffn_dim=37, max_position_embeddings=64,\n"
    "                 pad_token_id=0, bos_token_id=0, eos_token_id=0, decoder_start_token_id=0)\n"
    "bart = AttentionWidget(BartModel(cfg).eval(), tok, 'The cat sat.', 'She sees it.')\n"
    "w = AttentionWidget.demo('The tokenization worked.', 'Unbelievable results!')\nw"
)

REPORT = """
def report(widget, state, path):
    for k, v in state.items():
        setattr(widget, k, v)
    out = {"bytes": widget.save(path)}
    if widget.view == "neuron":
        return out
    if widget.view == "explain":  # the numbers the saved figure drew, from explain.py as the page's
        import xml.etree.ElementTree as ET
        from albert_widget.explain import explain_view
        from albert_widget.export.explain_figure import range_numbers
        values, note = explain_view(widget.result, widget.explain_method, widget.layer, widget.head, widget.head_reduce,
                                    widget._model, widget._tokenizer, widget._explain.at(widget.revision))
        lo, hi = range_numbers(min(0.0, float(values.min())), float(values.max()))
        out.update(explain=True, note=note, shape=list(values.shape), sum=float(values.sum(dtype=np.float64)), lo=lo, hi=hi,
                   texts=["".join(t.itertext()) for t in ET.parse(path).iter("{http://www.w3.org/2000/svg}text")])
        return out
    fig = figure(widget.result, state=widget.widget_state())
    out["title"] = fig.texts[0].get_text() if fig.texts else ""
    for ax in fig.axes:
        if ax.get_label() == "matrix":
            arr = ax.images[0].get_array()
            out.update(rows=[t.get_text() for t in ax.get_yticklabels()], cols=[t.get_text() for t in ax.get_xticklabels()],
                       values=np.ma.getdata(arr).tolist(), masked=int(np.ma.getmaskarray(arr).sum()))
        if ax.get_label() == "head":
            out.update(left=[t.get_text() for t in ax.texts if t.get_horizontalalignment() == "right"],
                       right=[t.get_text() for t in ax.texts if t.get_horizontalalignment() == "left"],
                       lines=sum(len(c.get_segments()) for c in ax.collections),
                       series=[[c.get_label(), to_hex(c.get_edgecolor()[0], keep_alpha=False) if len(c.get_edgecolor()) else None]
                               for c in ax.collections])
    return out
"""

#: The token locked in the head view before the neuron view opens.
LOCKED = 4

#: (widget, trait changes, data-* attributes the page shows once it has drawn them)
STEPS = [
    ("w", {"view": "matrix", "layer": 1, "head": 2}, {"view": "matrix", "layer": "1", "head": "2"}),
    (
        "w",
        {"pair_filter": "ab", "word_level": True, "hide_special": True},
        {"pair-filter": "ab", "word-level": "true", "hide-special": "true"},
    ),
    (
        "w",
        {"pair_filter": "all", "word_level": False, "hide_special": False, "layer_reduce": "mean", "head_reduce": "max"},
        {"pair-filter": "all", "word-level": "false", "layer-reduce": "mean"},
    ),
    (
        "w",
        {"view": "head", "layer_reduce": "none", "head_reduce": "none", "heads": [0, 3], "threshold": 0.01},
        {"view": "head", "layer-reduce": "none"},
    ),
    ("w", {"view": "matrix", "heads": [], "prettify_tokens": False}, {"view": "matrix"}),
    ("w", {"view": "neuron", "layer": 1, "head": 2, "prettify_tokens": True}, {"view": "neuron"}),
    ("w", {"view": "model"}, {"view": "model"}),
    ("w", {"view": "explain", "explain_method": "rollout"}, {"view": "explain"}),
    ("w", {"explain_method": "norm", "layer": 1, "head": 2, "head_reduce": "none"}, {"view": "explain", "layer": "1", "head": "2"}),
    ("bart", {"view": "matrix", "attention_kind": "cross", "layer": 2, "head": 1}, {"view": "matrix", "kind": "cross", "layer": "2"}),
    ("bart", {"attention_kind": "decoder"}, {"kind": "decoder"}),
    ("bart", {"view": "head", "attention_kind": "cross", "threshold": 0.01}, {"view": "head", "kind": "cross"}),
]


def _labels_settle(lab, root, scopes, expected, step, timeout=60.0):
    """Wait until the page's token labels under ``scopes`` (rows, columns) are ``expected``."""
    deadline = time.monotonic() + timeout
    shown = [lab.token_texts(root, scope) for scope in scopes]
    while shown != expected and time.monotonic() < deadline:
        lab.page.wait_for_timeout(100)
        shown = [lab.token_texts(root, scope) for scope in scopes]
    assert shown == expected, (step, shown, expected)


def _svg_to_png(lab, svg_path, png_path):
    page = lab.page.context.new_page()
    try:
        page.set_content(f'<body style="margin:0;background:white">{svg_path.read_text()}</body>')
        page.locator("svg").first.screenshot(path=str(png_path))
    finally:
        page.close()


def test_saved_figure_is_the_view_on_the_page(lab, tmp_path):
    spec = tmp_path / "spec.json"
    lab.open(
        "save_matches.ipynb",
        [
            SETUP,
            "bart",
            REPORT
            + f"spec = json.loads(pathlib.Path({str(spec)!r}).read_text())\n"
            + "print(json.dumps(report(globals()[spec['widget']], spec['state'], spec['path'])))",
        ],
    )
    lab.run(0)
    lab.run(1)
    roots = {"w": lab.widget(0), "bart": lab.widget(1)}
    ARTIFACTS.mkdir(exist_ok=True)
    for k, (name, state, attrs) in enumerate(STEPS):
        svg = ARTIFACTS / f"save_{k}_{name}.svg"
        spec.write_text(json.dumps({"widget": name, "state": state, "path": str(svg)}))
        lab.run(2)
        saved = lab.run_json(2)
        root = roots[name]
        assert saved["bytes"] == svg.stat().st_size > 0
        for attr, value in attrs.items():
            lab.wait_attr(root, attr, value)
        lab.wait_attr(root, "state", "ready")
        if state.get("view") == "model":  # the outlined head; hovering a thumbnail names it
            selected = root.locator(".aw-model-selected")
            layer, head = selected.get_attribute("data-layer"), selected.get_attribute("data-head")
            texts = [t.text or "" for t in ET.parse(svg).iter("{http://www.w3.org/2000/svg}text")]
            assert any(f"outlined: layer {layer}, head {head}" in t for t in texts), (layer, head, texts[:2])
            assert svg.read_text().count("<image") == 1  # vector cells; the one image is the colour bar
            canvas = root.locator(".aw-model-canvas")
            canvas.scroll_into_view_if_needed()
            box = canvas.bounding_box()
            view = root.locator(".aw-view-model")
            thumb = int(view.get_attribute("data-thumb"))
            pitch = thumb + (4 if thumb >= 24 else 2)
            lab.page.mouse.move(box["x"] + 3 * pitch + thumb / 2, box["y"] + 1 * pitch + thumb / 2)
            readout = root.locator(".aw-model-readout")
            readout.wait_for(state="visible")
            assert readout.text_content() == "layer 1, head 3"
            lab.page.mouse.move(0, 0)
        elif state.get("view") == "neuron":  # the query token and the softmax row in the file's numbers
            view = root.locator(".aw-view-neuron")
            lab.wait_attr(view, "query", str(LOCKED))  # opens on the token locked in the head view
            lab.wait_attr(view, "softmax", lambda v: v.startswith("["))
            spec.write_text(json.dumps({"widget": name, "state": {}, "path": str(svg)}))  # save again: the page chose the query
            lab.run(2)
            query, softmax = int(view.get_attribute("data-query")), json.loads(view.get_attribute("data-softmax"))
            texts = [t.text or "" for t in ET.parse(svg).iter("{http://www.w3.org/2000/svg}text")]
            assert any(f"head 2, query {query} " in t for t in texts), (query, texts[:3])
            numbers = [t for t in texts if re.fullmatch(r"\d\.\d{3}", t)]
            assert numbers == [f"{v:.3f}" for v in softmax], (numbers, softmax)
        elif saved.get("explain"):  # the method, its scope, the tokens, the values and the colour scale
            view = root.locator(".aw-view-explain")
            lab.wait_attr(view, "method", state["explain_method"])
            lab.wait_attr(view, "state", "ready", timeout=90)
            lab.wait_attr(view, "shape", "x".join(map(str, saved["shape"])), timeout=90)
            lab.wait_attr(root.locator(".aw-summary"), "state", "ready", timeout=90)
            scope = view.get_attribute("data-scope")
            titles = [t for t in saved["texts"] if t.endswith(f" · {scope}")]
            assert len(titles) == 1, (k, scope, saved["texts"][:5])
            assert root.locator(".aw-explain-method option:checked").text_content() + f" · {scope}" == titles[0]
            assert abs(float(view.get_attribute("data-sum")) - saved["sum"]) <= 1e-4 * max(1.0, abs(saved["sum"])), k
            assert view.locator(".aw-colourbar-min").text_content() == saved["lo"] and saved["lo"] in saved["texts"]
            assert view.locator(".aw-colourbar-max").text_content() == saved["hi"] and saved["hi"] in saved["texts"]
            assert (root.locator(".aw-explain-note").text_content() or "").startswith(saved["note"])
            for label in root.locator(".aw-explain-cols .aw-token").all_text_contents():
                assert label in saved["texts"], (k, label)
            for stat in root.locator(".aw-summary-name").all_text_contents():
                assert stat in saved["texts"], (k, stat)
            for r in root.locator(".aw-summary-range").all_text_contents():
                assert r in saved["texts"], (k, r)
        elif "rows" in saved:  # matrix view: the same labels, masked cells and values
            _labels_settle(lab, root, [".aw-matrix-rows .aw-token", ".aw-matrix-cols .aw-token"], [saved["rows"], saved["cols"]], k)
            view = root.locator(".aw-view-matrix")
            assert int(view.get_attribute("data-masked") or 0) == saved["masked"], k
            R, C = len(saved["rows"]), len(saved["cols"])
            for i, j in [(R - 1, 0), (R // 2, C // 3)]:
                tooltip = lab.hover_cell(root, i, j, R, C)
                if tooltip.get_attribute("data-masked") == "true":
                    continue
                value = float(tooltip.get_attribute("data-value"))
                assert abs(value - saved["values"][i][j]) <= 2e-6, (k, i, j, value, saved["values"][i][j])
            lab.page.mouse.move(0, 0)
        else:  # head view: the same tokens, the same number of lines, the heads in the same colours
            _labels_settle(lab, root, [".aw-view-head .aw-query", ".aw-view-head .aw-key"], [saved["left"], saved["right"]], k)
            assert int(root.get_attribute("data-lines")) == saved["lines"], k
            legend = root.locator(".aw-head-legend .aw-legend-item").evaluate_all(
                "els => els.map(e => [e.textContent, getComputedStyle(e.querySelector('.aw-swatch')).backgroundColor])"
            )
            page_colours = {label.split(" \u00b7 ")[-1]: rgb for label, rgb in legend}
            for label, colour in saved["series"]:
                r, g, b = (int(colour[p : p + 2], 16) for p in (1, 3, 5))
                assert page_colours[label] == f"rgb({r}, {g}, {b})", (k, label, page_colours, colour)
            if name == "w":  # lock a token: the neuron view opens on it later
                root.locator(f'.aw-view-head .aw-query[data-index="{LOCKED}"]').click()
        root.screenshot(path=str(ARTIFACTS / f"save_{k}_{name}_page.png"))
        _svg_to_png(lab, svg, ARTIFACTS / f"save_{k}_{name}_file.png")
    lab.assert_clean()
