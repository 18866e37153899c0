"""marimo: ``mo.ui.anywidget(AttentionWidget(...))`` in a real ``marimo run`` app and headless Chromium.

The app runs on a free loopback port (``marimo run app.py --headless --no-token``) with this
checkout on its path; every request that leaves the loopback interface is blocked and counted
(none may happen). The widget must draw, its layer slider must bring the next layer from the kernel
(custom messages with binary buffers: marimo passes them from 0.19.8), and typing a new sentence
must run the model again.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request
from importlib.metadata import version
from pathlib import Path

from .aw_browser import ARTIFACTS, REPO, _free_port, is_local

APP = textwrap.dedent(
    '''
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
    '''
)


def start_marimo(folder: Path) -> tuple[subprocess.Popen, str]:
    app = folder / "app.py"
    app.write_text(APP)
    port = _free_port()
    env = dict(os.environ, PYTHONPATH=str(REPO), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               MARIMO_SKIP_UPDATE_CHECK="1", HOME=str(folder))
    log = open(folder / "marimo.log", "w")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        [sys.executable, "-m", "marimo", "run", str(app), "--headless", "--host", "127.0.0.1", "--port", str(port), "--no-token"],
        cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"marimo exited: {(folder / 'marimo.log').read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return proc, url
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"marimo did not answer on {url}: {(folder / 'marimo.log').read_text()[-3000:]}")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def wait_attr(page, el, name: str, check, timeout: float = 120.0) -> str:
    predicate = (lambda v: v == check) if isinstance(check, str) else check
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = el.get_attribute(f"data-{name}")
        if value is not None and predicate(value):
            return value
        page.wait_for_timeout(50)
    raise AssertionError(f"data-{name} is {value!r} after {timeout:.0f} s; expected {check!r}")


def test_marimo_app_draws_moves_and_reruns(tmp_path, browser):
    proc, url = start_marimo(tmp_path)
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    external: list[str] = []

    def route(r):
        if is_local(r.request.url):
            r.continue_()
        else:
            external.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    try:
        page = context.new_page()
        page.goto(url)
        root = page.locator(".aw-root").first
        root.wait_for(state="visible", timeout=180_000)
        wait_attr(page, root, "state", "ready")
        assert root.get_attribute("data-ntokens") == "13"
        assert root.get_attribute("data-transport") == "binary"  # marimo delivered the buffers
        slider = root.locator("input.aw-layer")
        slider.focus()
        slider.press("ArrowRight")
        wait_attr(page, root, "layer", "1")
        wait_attr(page, root, "state", "ready")
        drawn = int(root.get_attribute("data-drawn"))
        text = root.locator("input.aw-text, textarea.aw-text").first
        text.fill("A dog barked.")
        root.locator(".aw-run").click()
        wait_attr(page, root, "ntokens", lambda v: v not in ("", "13"))
        wait_attr(page, root, "state", "ready")
        assert int(root.get_attribute("data-drawn")) > drawn
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"marimo-{version('marimo')}.png"), full_page=True)
    finally:
        context.close()
        stop(proc)
    assert external == [], external
