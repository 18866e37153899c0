"""The ``albert-widget`` command line. Two real subprocess runs (``python -m albert_widget``, offline):
a PDF from the packaged MiniLM and an SVG from a tiny ALBERT folder; the error cases call ``main()``
in-process (importing torch in a fresh process costs seconds each)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from albert_widget.cli import EXIT_MODEL, EXIT_OK, EXIT_USAGE, main


def run_cli(*args: str, cwd=None) -> subprocess.CompletedProcess:
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    return subprocess.run(
        [sys.executable, "-m", "albert_widget", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
    )


@pytest.fixture(scope="module")
def albert_folder(tmp_path_factory, albert_tokenizer):
    """A tiny ALBERT (random weights) saved with save_pretrained: model + tokenizer in one folder."""
    import torch
    from conftest import tiny_albert_config
    from transformers import AlbertModel

    torch.manual_seed(0)
    model = AlbertModel(tiny_albert_config(len(albert_tokenizer)))
    folder = tmp_path_factory.mktemp("cli") / "tiny-albert"
    model.save_pretrained(folder)
    albert_tokenizer.save_pretrained(folder)
    return str(folder)


def one_error_line(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("albert-widget: error: ")
    return lines[0]


# --- real runs -------------------------------------------------------------------------------------


def test_figure_pdf_from_packaged_minilm_offline(tmp_path):
    pypdf = pytest.importorskip("pypdf")
    out = tmp_path / "fig.pdf"
    proc = run_cli(
        "figure",
        "--model",
        "default",
        "--text",
        "The cat sat on the mat.",
        "--pair",
        "It was tired.",
        "--view",
        "matrix",
        "--layer",
        "3",
        "--head",
        "5",
        "-o",
        str(out),
    )
    assert proc.returncode == EXIT_OK, proc.stderr
    size = out.stat().st_size
    assert proc.stdout.strip() == f"wrote {out} ({size} bytes)"
    assert proc.stderr.strip() == ""  # no progress bars or warnings
    reader = pypdf.PdfReader(out)
    assert len(reader.pages) == 1
    assert float(reader.pages[0].mediabox.width) == pytest.approx(3.3 * 72, abs=0.05)
    text = reader.pages[0].extract_text()
    assert "Layer 3, head 5" in text and "tired" in text


def test_figure_svg_from_saved_albert_folder(tmp_path, albert_folder):
    out = tmp_path / "head.svg"
    proc = run_cli(
        "figure",
        "--model",
        albert_folder,
        "--text",
        "The cat sat on the mat.",
        "--view",
        "head",
        "--layer",
        "2",
        "--heads",
        "0,3",
        "--width",
        "double",
        "--threshold",
        "0.05",
        "-o",
        str(out),
    )
    assert proc.returncode == EXIT_OK, proc.stderr
    assert f"({out.stat().st_size} bytes)" in proc.stdout
    root = ET.parse(out).getroot()
    texts = ["".join(t.itertext()) for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "Layer 2, heads 0, 3" in texts and "the" in texts and "head 3" in texts


# --- in-process: help, errors ----------------------------------------------------------------------


def test_help_explains_each_option(capsys):
    assert main(["--help"]) == EXIT_OK
    top = capsys.readouterr().out
    assert "figure" in top and "html" in top and "exit codes" in top
    assert main(["figure", "--help"]) == EXIT_OK
    text = capsys.readouterr().out
    for option in (
        "--model",
        "--text",
        "--pair",
        "--view",
        "--layer",
        "--head",
        "--heads",
        "--cmap",
        "--width",
        "--dpi",
        "--max-length",
        "--output",
        "--threshold",
        "--head-reduce",
    ):
        assert option in text, option
    for phrase in ("packaged", "offline", "3.3 in", "6.9 in", "from 0", ".pdf", "viridis"):
        assert phrase in text, phrase
    assert main(["html", "--help"]) == EXIT_OK
    assert "--output" in capsys.readouterr().out
    assert main([]) == EXIT_USAGE  # no command: help on stderr, usage exit code


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--view", "neuron"], EXIT_USAGE, "invalid choice: 'neuron' (choose from 'matrix', 'head', 'model')"),
        (["--cmap", "rainbowz"], EXIT_USAGE, "unknown colour map 'rainbowz'"),
        (["--width", "wide"], EXIT_USAGE, "unknown width 'wide'"),
        (["--dpi", "0"], EXIT_USAGE, "--dpi must be between 10 and 2400"),
        (["--heads", "1,a"], EXIT_USAGE, "--heads must be comma-separated"),
        (["--layer", "x"], EXIT_USAGE, "argument --layer/-l: invalid int value: 'x'"),
        (["--model", "/no/such/model/folder"], EXIT_MODEL, "cannot load model '/no/such/model/folder': no such folder"),
        (["--model", "./missing-model"], EXIT_MODEL, "no such folder"),
    ],
)
def test_usage_and_model_errors_before_loading(tmp_path, capsys, args, code, message):
    out = tmp_path / "f.pdf"
    assert main(["figure", *args, "-o", str(out)]) == code
    captured = capsys.readouterr()
    assert message in one_error_line(captured.err)
    assert captured.out == "" and not out.exists()


def test_bad_output_paths(tmp_path, capsys):
    assert main(["figure", "-o", str(tmp_path / "f.docx")]) == EXIT_USAGE
    assert "unknown extension '.docx'" in one_error_line(capsys.readouterr().err)
    assert main(["figure", "-o", str(tmp_path / "nope" / "f.pdf")]) == EXIT_USAGE
    assert "does not exist" in one_error_line(capsys.readouterr().err)
    assert main(["figure"]) == EXIT_USAGE
    assert "--output" in one_error_line(capsys.readouterr().err)


def test_folder_that_is_not_a_model(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("not a model")
    assert main(["figure", "--model", str(tmp_path), "-o", str(tmp_path / "f.svg")]) == EXIT_MODEL
    assert "has no config.json" in one_error_line(capsys.readouterr().err)
    assert main(["info", "--model", str(tmp_path / "notes.txt")]) == EXIT_MODEL
    assert "it is a file" in one_error_line(capsys.readouterr().err)


def test_out_of_range_layer_and_head_name_the_valid_range(tmp_path, capsys, albert_folder):
    out = tmp_path / "f.svg"
    assert main(["figure", "--model", albert_folder, "--layer", "4", "-o", str(out)]) == EXIT_USAGE
    assert "--layer 4 is out of range: this model has 4 layers (valid: 0 to 3)" in one_error_line(capsys.readouterr().err)
    assert main(["figure", "--model", albert_folder, "--head", "-1", "-o", str(out)]) == EXIT_USAGE
    assert "--head: head -1 is out of range: this model has 4 heads per layer (valid: 0 to 3)" in one_error_line(capsys.readouterr().err)
    assert main(["figure", "--model", albert_folder, "--view", "head", "--heads", "1,7", "-o", str(out)]) == EXIT_USAGE
    assert "--heads: head 7 is out of range" in one_error_line(capsys.readouterr().err)
    assert not out.exists()
    # in range: written, and stdout says where and how big
    assert (
        main(
            [
                "figure",
                "--model",
                albert_folder,
                "--view",
                "model",
                "--layer",
                "3",
                "--head",
                "3",
                "--dpi",
                "50",
                "-o",
                str(tmp_path / "m.png"),
            ]
        )
        == EXIT_OK
    )
    written = tmp_path / "m.png"
    assert capsys.readouterr().out.strip() == f"wrote {written} ({written.stat().st_size} bytes)"


def test_info_describes_albert_sharing(capsys, albert_folder):
    assert main(["info", "--model", albert_folder]) == EXIT_OK
    out = capsys.readouterr().out
    assert "type: albert" in out and "layers: 4" in out and "heads per layer: 4" in out
    assert "shared weight groups: 1" in out


def test_html_subcommand(tmp_path, capsys, albert_folder):
    out = tmp_path / "page.html"
    code = main(["html", "--model", albert_folder, "--text", "The cat sat.", "-o", str(out)])
    if importlib.util.find_spec("albert_widget.export.html") is None:
        assert code == EXIT_USAGE
        assert "HTML export is not available" in one_error_line(capsys.readouterr().err)
        assert not out.exists()
    else:
        assert code == EXIT_OK, capsys.readouterr().err
        assert f"({out.stat().st_size} bytes)" in capsys.readouterr().out
    assert main(["html", "--model", albert_folder, "-o", str(tmp_path / "page.txt")]) == EXIT_USAGE


# --- checks before the model loads -----------------------------------------------------------------

PRECHECK = (
    "import sys, time; from albert_widget.cli import main; start = time.perf_counter(); "
    "code = main(sys.argv[1:]); print(code, round(time.perf_counter() - start, 3), "
    "'torch' in sys.modules, 'transformers' in sys.modules)"
)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--text", ""], "--text is empty; give a sentence with at least one word"),
        (["--text", "\u200b\u200d"], "--text has no visible characters"),
        (["--pair", "  "], "--pair is empty"),
        (["--layer", "6"], "--layer 6 is out of range: this model has 6 layers (valid: 0 to 5)"),
        (["--head", "12"], "--head: head 12 is out of range: this model has 12 heads per layer (valid: 0 to 11)"),
        (["--heads", "1,40"], "--heads: head 40 is out of range"),
    ],
)
def test_text_and_range_are_checked_before_the_model_loads(tmp_path, args, message):
    """A fresh process (as a user runs it): main() exits 2 in under 2 s (the package import before it
    is not counted: seconds on a loaded machine), and torch and transformers are never imported (the
    packaged model's layers and heads come from its config.json)."""
    out = tmp_path / "f.pdf"
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    proc = subprocess.run(
        [sys.executable, "-c", PRECHECK, "figure", "--model", "default", *args, "-o", str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    code, seconds, torch_loaded, transformers_loaded = proc.stdout.split()
    assert int(code) == EXIT_USAGE
    assert message in one_error_line(proc.stderr)
    assert float(seconds) < 2.0
    assert (torch_loaded, transformers_loaded) == ("False", "False")
    assert not out.exists()


def test_layer_out_of_range_of_a_local_folder_is_checked_from_its_config(tmp_path, capsys, albert_folder):
    import json

    with open(os.path.join(albert_folder, "config.json"), encoding="utf-8") as f:
        layers = json.load(f)["num_hidden_layers"]
    assert main(["html", "--model", albert_folder, "--layer", str(layers), "-o", str(tmp_path / "p.html")]) == EXIT_USAGE
    assert f"this model has {layers} layers" in one_error_line(capsys.readouterr().err)


def test_hub_name_offline_fails_fast_with_how_to_work_offline(capsys, monkeypatch):
    import time

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", os.devnull + "-no-cache")
    from transformers import AutoModel, AutoTokenizer  # noqa: F401 - imported first: the timing is the lookup

    start = time.perf_counter()
    assert main(["info", "--model", "albert-base-v2"]) == EXIT_MODEL
    assert time.perf_counter() - start < 10
    line = one_error_line(capsys.readouterr().err)
    assert line.startswith("albert-widget: error: cannot load model 'albert-base-v2': it is not a local folder")
    assert "HF_HUB_OFFLINE=1" in line and "local folder" in line
