"""Voila: a notebook with the widget, served by a real ``voila`` (0.5) and driven in headless Chromium.

Voila runs on a free loopback port with this checkout on the kernel's path; every request that
leaves the loopback interface is blocked and counted (only Voila's own Font Awesome stylesheet asks). The widget must draw, the
layer slider must bring the next layer from the kernel, and typed text must run the model again.
"""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import nbformat

from .aw_browser import ARTIFACTS, REPO, _free_port, loopback_context, start_server, stop_server, use_demo_widget, wait_data

CELLS = [
    "from albert_widget import AttentionWidget\nw = AttentionWidget.demo('The cat sat on the mat because it was tired.')\nw",
]


def start_voila(folder: Path) -> tuple[subprocess.Popen, str]:
    """``voila`` serving the notebook on a free loopback port: ``(process, url)``."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(src) for src in CELLS])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(folder / "explore.ipynb"))
    port = _free_port()
    home = folder / "home"
    home.mkdir()
    env = dict(
        os.environ,
        PYTHONPATH=str(REPO),
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        HOME=str(home),
        JUPYTER_CONFIG_DIR=str(home / "config"),
        JUPYTER_RUNTIME_DIR=str(home / "runtime"),
    )
    url = f"http://127.0.0.1:{port}/"
    cmd = [sys.executable, "-m", "voila", "explore.ipynb", "--no-browser", f"--port={port}", "--Voila.ip=127.0.0.1"]
    # Voila answers its root only once the notebook has run; any answer on another path means it is up.
    return start_server(cmd, folder, env, url + "voila/static/", folder / "voila.log"), url


def test_voila_page_draws_moves_and_reruns(tmp_path, browser):
    proc, url = start_voila(tmp_path)
    context, external = loopback_context(browser, viewport={"width": 1200, "height": 900})
    try:
        page = context.new_page()
        page.goto(url, timeout=240_000)
        root = page.locator(".aw-root").first
        root.wait_for(state="visible", timeout=240_000)
        wait_data(page, root, "state", "ready")
        use_demo_widget(page, root)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"voila-{version('voila')}.png"), full_page=True)
    finally:
        context.close()
        stop_server(proc)
    # Voila's own page template links Font Awesome from jsdelivr (for ipywidgets' icons); blocked here,
    # and nothing of the widget needs it: no other request left the machine.
    assert all(u.startswith("https://cdn.jsdelivr.net/npm/@fortawesome/fontawesome-free@") for u in external), external
