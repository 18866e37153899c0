"""Renderers that run no widget JavaScript show a picture of the view.

A real notebook is executed by nbclient (a real kernel with this checkout on its path): the packaged
MiniLM, the matrix view of layer 3, head 5. The notebook is saved as JupyterLab saves it by default
(without widget state); then ``nbconvert`` writes HTML, Markdown and LaTeX (the PDF route) from it and
each must carry the widget's PNG fallback. The HTML page is opened in Chromium with every request
that leaves the loopback interface blocked (only nbconvert's own require.js and MathJax are asked
for; no widget manager): the image must have loaded, and a screenshot is kept in ``artifacts/``.
"""

from __future__ import annotations

import base64
import io
import os
import re
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbconvert import HTMLExporter, LatexExporter, MarkdownExporter
from PIL import Image

from .aw_browser import ARTIFACTS, REPO, loopback_context

PNG = "image/png"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"

CELLS = [
    "from albert_widget import AttentionWidget\nw = AttentionWidget.demo(view='matrix', layer=3, head=5)\nw",
]


def executed_notebook(tmp_path: Path) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(src) for src in CELLS])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    env = dict(os.environ, PYTHONPATH=str(REPO), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    # JupyterLab saves without widget state unless "Save Widget State Automatically" is on.
    client = NotebookClient(
        nb, timeout=240, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}, store_widget_state=False, env=env
    )
    client.execute(env=env)
    return nb


def test_nbconvert_html_markdown_latex_show_the_png_fallback(tmp_path, browser):
    nb = executed_notebook(tmp_path)
    (output,) = [o for o in nb.cells[0].outputs if o.output_type in ("display_data", "execute_result")]
    assert WIDGET_VIEW in output.data, output.data.keys()
    png = base64.b64decode(output.data[PNG])
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    assert image.width == 360
    assert len(png) < 40_000, len(png)
    path = tmp_path / "static.ipynb"
    nbformat.write(nb, str(path))
    print(f"notebook {path.stat().st_size} bytes, fallback PNG {len(png)} bytes {image.size}")

    html, _ = HTMLExporter().from_notebook_node(nb)
    assert f'src="data:image/png;base64,{output.data[PNG].strip()}' in html.replace("\n", "")
    assert "unpkg.com" not in html  # no widget state: nbconvert adds no widget manager from a CDN
    markdown, resources = MarkdownExporter().from_notebook_node(nb)
    (name,) = re.findall(r"!\[png\]\(([^)]+\.png)\)", markdown)
    assert resources["outputs"][name] == png
    latex, resources = LatexExporter().from_notebook_node(nb)
    (name,) = re.findall(r"\\adjustimage\{.*\}\{([^{}]+\.png)\}", latex)
    assert resources["outputs"][name] == png

    page_path = tmp_path / "static.html"
    page_path.write_text(html, encoding="utf-8")
    context, external = loopback_context(browser, viewport={"width": 1000, "height": 800})
    try:
        page = context.new_page()
        page.goto(page_path.as_uri())
        img = page.locator("img[src^='data:image/png']").first
        img.wait_for(state="visible", timeout=30_000)
        size = img.evaluate("i => [i.complete, i.naturalWidth, i.naturalHeight]")
        assert size == [True, image.width, image.height]
        ARTIFACTS.mkdir(exist_ok=True)
        img.scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "static-nbconvert-html.png"), full_page=True)
    finally:
        context.close()
    # nbconvert's own template asks cdnjs for require.js and MathJax on every page (blocked here, as
    # offline); nothing else, no widget manager: the picture showed without any of them.
    assert all(re.match(r"https://cdnjs\.cloudflare\.com/ajax/libs/(require\.js|mathjax)/", u) for u in external), external
