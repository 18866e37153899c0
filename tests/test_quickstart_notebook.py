"""notebooks/quickstart.ipynb runs top to bottom offline (the packaged pretrained MiniLM) and says
what it promises; it is also the notebook that `bash scripts/dev.sh demo` opens."""

from __future__ import annotations

import json
import os
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "quickstart.ipynb"


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    from nbclient import NotebookClient

    nb = nbformat.read(str(NOTEBOOK), as_version=4)
    env_before = {k: os.environ.get(k) for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    os.environ.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")  # the kernel inherits these
    try:
        NotebookClient(
            nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path_factory.mktemp("quickstart"))}}
        ).execute()
    finally:
        for k, v in env_before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return nb


def _text(cell) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            parts.append(out.get("text", ""))
        elif "data" in out:
            parts.append(out["data"].get("text/plain", ""))
    return "".join(parts)


def test_the_committed_notebook_is_the_generated_one():
    from importlib.util import module_from_spec, spec_from_file_location

    spec = spec_from_file_location("make_quickstart", REPO / "notebooks" / "make_quickstart.py")
    module = module_from_spec(spec)
    spec.loader.exec_module(module)
    committed = nbformat.read(str(NOTEBOOK), as_version=4)
    assert [c.source for c in committed.cells] == [c.source for c in module.build().cells], (
        "notebooks/quickstart.ipynb is out of date: run python notebooks/make_quickstart.py"
    )
    assert all(not c.get("outputs") for c in committed.cells if c.cell_type == "code"), "commit it without outputs"


def test_quickstart_runs_offline_and_shows_the_widget(executed):
    code = [c for c in executed.cells if c.cell_type == "code"]
    errors = [o for c in code for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, errors
    # The first cell displays the widget (a widget view, not just its repr).
    first = code[0]
    views = [o for o in first.outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert views, first.outputs
    tokens = eval(_text(code[1]))
    assert tokens == ["[CLS]", "the", "cat", "sat", "on", "the", "mat", "because", "it", "was", "tired", ".", "[SEP]"]
    assert _text(code[2]).strip() == "(6, 12, 13, 13)"
    assert "layer 3, head 5: 'it' -> 'cat' =" in _text(code[3])


def test_quickstart_sentence_pair_and_summary(executed):
    code = [c for c in executed.cells if c.cell_type == "code"]
    pairs = eval(_text(code[5]))
    segments = [s for _, s in pairs]
    assert pairs[0] == ("[CLS]", 0) and pairs[-1] == ("[SEP]", 1)
    assert 0 in segments and 1 in segments and segments == sorted(segments)
    assert "asleep" in _text(code[6])
    summary_line = [ln for ln in _text(code[-1]).splitlines() if ln.startswith("SUMMARY ")]
    assert summary_line
    summary = json.loads(summary_line[0][len("SUMMARY ") :])
    assert summary["num_tokens"] == 13 and summary["num_layers"] == 6 and summary["num_heads"] == 12
    assert summary["bytes_per_layer"] == 12 * 13 * 13 * 4
    assert summary["model"] == "all-MiniLM-L6-v2" and summary["model_type"] == "bert"


def test_quickstart_shows_albert_base_v2_without_running_it():
    nb = nbformat.read(str(NOTEBOOK), as_version=4)
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert 'AttentionWidget.from_pretrained("albert-base-v2"' in markdown
    assert "albert-base-v2" not in code  # nothing in the executed cells reaches for the hub
