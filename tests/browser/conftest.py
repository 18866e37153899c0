"""Real-browser fixtures: one JupyterLab server and one headless Debian Chromium per session.

The server runs on a free loopback port with its own config/data/runtime folders (the venv's
``share/jupyter`` stays on the path, so anywidget's lab extension and the ``python3`` kernel are
found). Every page blocks and counts requests that leave the loopback interface; a test that made
one fails. Notebooks are written into the server's root with nbformat and driven as a person
would: click into a cell, Shift+Enter, read the output.

Nothing here is skipped: without Chromium the tests fail and say how to install it
(``bash scripts/dev.sh test`` does).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from .aw_browser import ARTIFACTS, CHROMIUM_ARGS, JupyterServer, WidgetPage, chromium_path, is_local


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).resolve().parent
    for item in items:
        if Path(str(item.fspath)).resolve().parent == here:
            item.add_marker(pytest.mark.browser)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Iterable[None]:
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


@pytest.fixture(scope="session")
def jupyter_server(tmp_path_factory: pytest.TempPathFactory) -> Iterable[JupyterServer]:
    server = JupyterServer(tmp_path_factory.mktemp("nbroot"), tmp_path_factory.mktemp("jupyter-home"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def browser() -> Iterable[Any]:
    executable = chromium_path()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def lab(request: pytest.FixtureRequest, jupyter_server: JupyterServer, browser: Any) -> Iterable[WidgetPage]:
    """A fresh browser context and page on the shared server; kernels are shut down afterwards and
    the test fails if the page tried to leave the loopback interface or threw an uncaught error."""
    context = browser.new_context(viewport={"width": 1280, "height": 1000}, device_scale_factor=1)
    wp: WidgetPage | None = None

    def route(r: Any) -> None:
        url = r.request.url
        local = is_local(url)
        if not local and wp is not None:
            wp.external.append(url)
        with contextlib.suppress(Exception):
            r.continue_() if local else r.abort()

    context.route("**/*", route)
    wp = WidgetPage(jupyter_server, context)
    try:
        yield wp
    finally:
        external = list(wp.external)
        errors = list(wp.page_errors)
        report = getattr(request.node, "report_call", None)
        if report is not None and report.failed:
            # Keep what the page looked like for whoever reads the CI log.
            ARTIFACTS.mkdir(exist_ok=True)
            shot = ARTIFACTS / f"failed-{request.node.name}.png"
            try:
                wp.page.screenshot(path=str(shot), full_page=True)
                print(f"screenshot of the failed page: {shot}")
            except Exception as exc:
                print(f"no screenshot: {exc}")
        context.close()
        jupyter_server.shutdown_kernels()
    assert external == [], f"the page tried to reach the network: {external}"
    assert errors == [], f"uncaught errors in the page: {errors}"
