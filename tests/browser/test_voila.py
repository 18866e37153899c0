"""Voila: a notebook with the widget, served by a real ``voila`` (0.5) and driven in headless Chromium.

Voila runs on a free loopback port with this checkout on the kernel's path; every request that
leaves the loopback interface is blocked and counted (only Voila's own Font Awesome stylesheet asks). The widget must draw, the
layer slider must bring the next layer from the kernel, and typed text must run the model again.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from importlib.metadata import version
from pathlib import Path

import nbformat

from .aw_browser import ARTIFACTS, REPO, _free_port, is_local

CELLS = [
    "from albert_widget import AttentionWidget\nw = AttentionWidget.demo('The cat sat on the mat because it was tired.')\nw",
]


def start_voila(folder: Path) -> tuple[subprocess.Popen, str]:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(src) for src in CELLS])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(folder / "explore.ipynb"))
    port = _free_port()
    home = folder / "home"
    home.mkdir()
    env = dict(os.environ, PYTHONPATH=str(REPO), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HOME=str(home),
               JUPYTER_CONFIG_DIR=str(home / "config"), JUPYTER_RUNTIME_DIR=str(home / "runtime"))
    log = open(folder / "voila.log", "w")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        [sys.executable, "-m", "voila", "explore.ipynb", "--no-browser", f"--port={port}", "--Voila.ip=127.0.0.1"],
        cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"voila exited: {(folder / 'voila.log').read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url + "voila/api/shutdown", timeout=2):
                pass
        except urllib.error.HTTPError:
            return proc, url  # the server answers (this path does not exist)
        except OSError:
            time.sleep(0.5)
            continue
        return proc, url
    raise AssertionError(f"voila did not answer on {url}: {(folder / 'voila.log').read_text()[-3000:]}")


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


def test_voila_page_draws_moves_and_reruns(tmp_path, browser):
    proc, url = start_voila(tmp_path)
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
        page.goto(url, timeout=240_000)
        root = page.locator(".aw-root").first
        root.wait_for(state="visible", timeout=240_000)
        wait_attr(page, root, "state", "ready")
        assert root.get_attribute("data-ntokens") == "13"
        assert root.get_attribute("data-transport") == "binary"
        slider = root.locator("input.aw-layer")
        slider.focus()
        slider.press("ArrowRight")
        wait_attr(page, root, "layer", "1")
        wait_attr(page, root, "state", "ready")
        drawn = int(root.get_attribute("data-drawn"))
        root.locator("input.aw-text, textarea.aw-text").first.fill("A dog barked.")
        root.locator(".aw-run").click()
        wait_attr(page, root, "ntokens", lambda v: v not in ("", "13"))
        wait_attr(page, root, "state", "ready")
        assert int(root.get_attribute("data-drawn")) > drawn
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"voila-{version('voila')}.png"), full_page=True)
    finally:
        context.close()
        stop(proc)
    # Voila's own page template links Font Awesome from jsdelivr (for ipywidgets' icons); blocked here,
    # and nothing of the widget needs it: no other request left the machine.
    assert all(u.startswith("https://cdn.jsdelivr.net/npm/@fortawesome/fontawesome-free@") for u in external), external
