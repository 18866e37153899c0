"""notebooks/analysis.ipynb: in sync with its generator, and it runs offline with every
claim of its prose asserted by its check cells."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "analysis.ipynb"
GENERATOR = ROOT / "notebooks" / "make_analysis_notebook.py"


def _generator():
    spec = importlib.util.spec_from_file_location("make_analysis_notebook", GENERATOR)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_notebook_matches_its_generator():
    on_disk = nbformat.read(NOTEBOOK, as_version=4)
    built = _generator().build()
    assert [(c.cell_type, c.source) for c in on_disk.cells] == [(c.cell_type, c.source) for c in built.cells], (
        "notebooks/analysis.ipynb is out of date: run python notebooks/make_analysis_notebook.py --execute"
    )


def test_notebook_runs_offline(tmp_path, monkeypatch):
    from nbclient import NotebookClient

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    nb = _generator().build()
    client = NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    text = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "stream")
    assert "all claims of section 1 hold" in text and "all claims of sections 2-4 hold" in text
    images = sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert images >= 6
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors


if __name__ == "__main__":  # pragma: no cover
    pytest.main([__file__, "-q"])
