"""notebooks/longcontext.ipynb is the generated one and runs top to bottom offline."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "longcontext.ipynb"


def _build():
    from importlib.util import module_from_spec, spec_from_file_location

    spec = spec_from_file_location("make_longcontext", REPO / "notebooks" / "make_longcontext.py")
    module = module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build()


def test_the_committed_notebook_is_the_generated_one():
    committed = nbformat.read(str(NOTEBOOK), as_version=4)
    assert [c.source for c in committed.cells] == [c.source for c in _build().cells], (
        "notebooks/longcontext.ipynb is out of date: run python notebooks/make_longcontext.py"
    )
    assert all(not c.get("outputs") for c in committed.cells if c.cell_type == "code")


def test_the_notebook_runs_offline(tmp_path):
    from nbclient import NotebookClient

    nb = nbformat.read(str(NOTEBOOK), as_version=4)
    env_before = {k: os.environ.get(k) for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "PYTHONPATH")}
    # The kernel must import this checkout's package, whatever is installed.
    os.environ.update(
        HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    )
    try:
        NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    finally:
        for k, v in env_before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    code = [c for c in nb.cells if c.cell_type == "code"]
    errors = [o for c in code for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, errors

    def text(cell):
        return "".join(o.get("text", "") or o.get("data", {}).get("text/plain", "") for o in cell.get("outputs", []))

    assert text(code[2]).startswith("CompactAttention(model='llama', layers=4, heads=8, kv_heads=2")
    assert "would need" in text(code[3]) and "block(layer, head, rows, cols)" in text(code[3])
    assert "(8, 8) float32" in text(code[4]) and "last row sums to 1.000000" in text(code[4])
    assert "prompt tokens:" in text(code[7]) and "generated: 20" in text(code[7])
