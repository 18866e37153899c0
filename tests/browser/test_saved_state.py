"""A notebook saved with widget state and reopened after its kernel is gone shows the last view.

JupyterLab with "Save Widget State Automatically" on: the demo widget is moved to the matrix view,
layer 3, head 5, the notebook is saved, every kernel and session is shut down, and the notebook is
opened again in a fresh page. JupyterLab then starts a new kernel that never ran the cell, so the
widget's model comes from the saved state alone and nobody answers its requests: the page must draw
the saved layer from the ``_snapshot`` trait, at the same layer, head and view, with one line saying
it is a saved snapshot.
"""

from __future__ import annotations

import json
import time

from .aw_browser import ARTIFACTS

SENTENCE = "The cat sat on the mat because it was tired."
SETTINGS = "@jupyter-widgets/jupyterlab-manager/plugin.jupyterlab-settings"
STATE = "application/vnd.jupyter.widget-state+json"


def test_reopened_without_its_kernel_the_widget_shows_the_saved_view(lab):
    settings = lab.server.home / "config" / "lab" / "user-settings" / SETTINGS
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text(json.dumps({"saveState": True}))
    try:
        lab.open("saved_state.ipynb", [f"from albert_widget import AttentionWidget\nAttentionWidget.demo({SENTENCE!r})"])
        lab.run(0)
        root = lab.widget(0)
        root.locator(".aw-view-btn[data-view='matrix']").click()
        lab.wait_attr(root, "view", "matrix")
        layer = root.locator("input.aw-layer")
        layer.focus()
        for _ in range(3):
            layer.press("ArrowRight")
        head = root.locator("input.aw-head")
        head.focus()
        for _ in range(5):
            head.press("ArrowRight")
        lab.wait_attr(root, "layer", "3")
        lab.wait_attr(root, "head", "5")
        lab.wait_attr(root, "state", "ready")
        lab.page.wait_for_timeout(2500)  # the kernel refreshes the snapshot once the view rests (1 s)
        live_shot = root.screenshot()

        path = lab.server.root / "saved_state.ipynb"
        lab.page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) [data-command='docmanager:save']").first.click()
        deadline = time.monotonic() + 30
        nb = json.loads(path.read_text())
        while time.monotonic() < deadline and "widgets" not in nb["metadata"]:
            lab.page.wait_for_timeout(250)
            nb = json.loads(path.read_text())
        state = nb["metadata"]["widgets"][STATE]["state"]
        (model,) = [m for m in state.values() if "_snapshot" in m["state"]]
        snap = model["state"]["_snapshot"]
        assert (snap["layer"], snap["kind"], snap["dtype"]) == (3, "encoder", "uint8")
        saved_bytes = len(json.dumps(nb["metadata"]["widgets"]))
        print(f"notebook {path.stat().st_size} bytes, widget state {saved_bytes} bytes, _esm {len(model['state'].get('_esm', ''))} chars")

        lab.server.shutdown_kernels()
        lab.page.goto(lab.server.url + "/lab/tree/saved_state.ipynb?reset")
        root = lab.cell(0).locator(".aw-root").first
        root.wait_for(state="visible", timeout=120_000)
        lab.wait_attr(root, "state", "ready", timeout=120)
        assert (root.get_attribute("data-view"), root.get_attribute("data-layer"), root.get_attribute("data-head")) == ("matrix", "3", "5")
        assert root.get_attribute("data-transport") == "snapshot"
        note = root.locator(".aw-transport-note")
        assert note.is_visible()
        assert note.text_content().startswith("Saved snapshot")
        ARTIFACTS.mkdir(exist_ok=True)
        root.screenshot(path=str(ARTIFACTS / "saved-state-reopened.png"))
        (ARTIFACTS / "saved-state-live.png").write_bytes(live_shot)
    finally:
        settings.unlink(missing_ok=True)
    lab.assert_clean()
