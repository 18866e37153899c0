"""marimo: ``mo.ui.anywidget(AttentionWidget(...))`` in a real ``marimo run`` app and headless Chromium.

The app runs on a free loopback port (``marimo run app.py --headless --no-token``) with this
checkout on its path; every request that leaves the loopback interface is blocked and counted
(none may happen). The widget must draw, its layer slider must bring the next layer from the kernel
(custom messages with binary buffers: marimo passes them from 0.19.8), and typing a new sentence
must run the model again.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from importlib.metadata import version
from pathlib import Path

from .aw_browser import ARTIFACTS, REPO, _free_port, loopback_context, start_server, stop_server, use_demo_widget, wait_data

APP = textwrap.dedent(
    """
    import marimo

    app = marimo.App()


    @app.cell
    def _():
        import marimo as mo
        from albert_widget import AttentionWidget

        widget = mo.ui.anywidget(AttentionWidget.demo("The cat sat on the mat because it was tired."))
        widget
        return


    if __name__ == "__main__":
        app.run()
    """
)


def start_marimo(folder: Path) -> tuple[subprocess.Popen, str]:
    """``marimo run`` of the app on a free loopback port: ``(process, url)``."""
    app = folder / "app.py"
    app.write_text(APP)
    port = _free_port()
    env = dict(
        os.environ, PYTHONPATH=str(REPO), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", MARIMO_SKIP_UPDATE_CHECK="1", HOME=str(folder)
    )
    url = f"http://127.0.0.1:{port}/"
    cmd = [sys.executable, "-m", "marimo", "run", str(app), "--headless", "--host", "127.0.0.1", "--port", str(port), "--no-token"]
    return start_server(cmd, folder, env, url, folder / "marimo.log"), url


def test_marimo_app_draws_moves_and_reruns(tmp_path, browser):
    proc, url = start_marimo(tmp_path)
    context, external = loopback_context(browser, viewport={"width": 1200, "height": 900})
    try:
        page = context.new_page()
        page.goto(url)
        root = page.locator(".aw-root").first
        root.wait_for(state="visible", timeout=180_000)
        wait_data(page, root, "state", "ready")
        use_demo_widget(page, root)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"marimo-{version('marimo')}.png"), full_page=True)
    finally:
        context.close()
        stop_server(proc)
    assert external == [], external
