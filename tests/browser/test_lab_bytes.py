"""Bytes that reach the page for the quickstart sentence, compared with bertviz's head_view HTML.

Written to artifacts/bytes.json (the README's Benchmarks section reads it); not a timed test.
"""

from __future__ import annotations

import json

from .aw_browser import ARTIFACTS, FrameRecorder

SENTENCE = "The cat sat on the mat because it was tired."


def test_bytes_sent_to_the_page_vs_bertviz(lab):
    recorder = FrameRecorder(lab.page)
    lab.open(
        "bytes.ipynb",
        [
            f"from albert_widget import AttentionWidget\nw = AttentionWidget.demo({SENTENCE!r})\nw",
            "import json, torch\n"
            "from bertviz import head_view\n"
            "att = tuple(torch.from_numpy(w.attention[l].copy())[None] for l in range(w.num_layers))\n"
            "html = head_view(att, list(w.tokens), html_action='return').data\n"
            "print(json.dumps({'model_id': w.model_id, 'bertviz': len(html.encode()), 'bytes_sent': w.bytes_sent,\n"
            "                  'tokens': len(w.tokens), 'layers': w.num_layers, 'heads': w.num_heads,\n"
            "                  'attention_bytes': int(w.attention.nbytes)}))",
        ],
    )
    lab.run(0)
    root = lab.widget(0)
    until_drawn = recorder.mark()
    # Let prefetches (if any) finish before the second count.
    lab.page.wait_for_timeout(1500)
    settled = recorder.mark()
    info = lab.run_json(1)

    drawn = recorder.comm_bytes(info["model_id"], until_drawn)
    after = recorder.comm_bytes(info["model_id"], settled)
    assert drawn["frames"] >= 2, drawn  # comm_open + at least one attention reply
    assert drawn["comm_open_bytes"] > 0 and drawn["buffer_bytes"] > 0, drawn
    # The page got the layer it draws: at least one [heads, N, N] float32 block, and never more
    # than all layers.
    one_layer = info["heads"] * info["tokens"] ** 2 * 4
    assert one_layer <= after["buffer_bytes"] <= info["attention_bytes"], (after, one_layer)
    assert root.get_attribute("data-ntokens") == str(info["tokens"])

    result = {
        "sentence": SENTENCE,
        "model": "all-MiniLM-L6-v2 (packaged)",
        "tokens": info["tokens"],
        "layers": info["layers"],
        "heads": info["heads"],
        "albert_widget": {
            "widget_bytes_until_drawn": drawn["bytes"],
            "widget_bytes_after_settle": after["bytes"],
            "of_which_attention_buffers": after["buffer_bytes"],
            "of_which_bundle_esm_css": after["esm_css_bytes"],
            "data_bytes_without_bundle": after["bytes"] - after["esm_css_bytes"],
            "comm_frames": after["frames"],
            "widget_reported_bytes_sent": info["bytes_sent"],
            "kernel_websocket_bytes_total": after["kernel_ws_bytes"],
        },
        "bertviz_head_view_html_bytes": info["bertviz"],
    }
    result["ratio_bertviz_over_albert_widget"] = round(info["bertviz"] / after["bytes"], 2)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "bytes.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    assert after["bytes"] < info["bertviz"], result
