"""Writes notebooks/longcontext.ipynb (outputs empty). Run: python notebooks/make_longcontext.py

The notebook runs offline: a Llama-shaped decoder with random weights (built from a config) and the
tokenizer of the packaged MiniLM. Random weights show the mechanics (compact capture, exact blocks,
summaries, generation), not trained behaviour; with a trained model the same cells find its sink and
induction heads.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

CELLS = [
    new_markdown_cell(
        "# Long context: attention without the [L, H, N, N] array\n"
        "\n"
        "For a decoder model every attention weight is `softmax(q_i.k_j / sqrt(d))_j`. Keeping each "
        "layer's queries and keys and each row's log-sum-exp is enough to recompute any cell, row, tile "
        "or head exactly, in milliseconds. `capture` switches to this compact form by itself when the full "
        "attention would exceed its `memory_budget`.\n"
        "\n"
        "This notebook runs offline on a small Llama-shaped model with **random weights** (so no "
        "trained patterns appear); with a real checkpoint the same cells find its sink and induction heads."
    ),
    new_code_cell(
        "import numpy as np\n"
        "import torch\n"
        "from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM\n"
        "\n"
        "from albert_widget import capture, capture_generate, default_model_path\n"
        "from albert_widget.longcontext import attention_shape, estimate\n"
        "\n"
        "tokenizer = AutoTokenizer.from_pretrained(default_model_path())\n"
        "tokenizer.model_max_length = 8192  # MiniLM's own limit (512) is not this model's\n"
        "torch.manual_seed(0)\n"
        "config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=128, intermediate_size=256, num_hidden_layers=4,\n"
        "                     num_attention_heads=8, num_key_value_heads=2, max_position_embeddings=8192,\n"
        "                     bos_token_id=None, eos_token_id=None)\n"
        "model = LlamaForCausalLM(config).eval()"
    ),
    new_markdown_cell("A repetitive text of about 2,000 tokens, and what holding its attention would cost:"),
    new_code_cell(
        'text = " ".join(["the cat sat on the mat because it was tired and the dog barked at the moon ."] * 110)\n'
        'n = len(tokenizer(text)["input_ids"])\n'
        "print(estimate(attention_shape(model), n).describe())"
    ),
    new_code_cell("result = capture(model, tokenizer, text, memory_budget=64 * 2**20)  # 64 MiB: too small for [L, H, N, N]\nresult"),
    new_markdown_cell("The full array is refused with what it would need and what to use instead:"),
    new_code_cell("try:\n    result.attention\nexcept ValueError as error:\n    print(error)"),
    new_markdown_cell("Any tile, row or head, recomputed exactly on demand:"),
    new_code_cell(
        "tile = result.block(layer=2, head=5, rows=slice(1000, 1008), cols=slice(990, 998))\n"
        "print(tile.shape, tile.dtype)\n"
        "row = result.row(2, 5, n - 1)\n"
        'print(f"last row sums to {row.sum():.6f}; heaviest key: {row.argmax()}")'
    ),
    new_markdown_cell(
        "Per-head summaries from the capture's single streaming pass: attention to the first token "
        "(sinks), entropy, weight on the previous token, mean distance, and each row's top-k keys."
    ),
    new_code_cell(
        "s = result.summaries\n"
        'for name, values in (("sink", s.sink), ("previous token", s.previous_token), ("entropy", s.entropy)):\n'
        "    layer, head = np.unravel_index(values.argmax(), values.shape)\n"
        '    print(f"highest {name}: layer {layer}, head {head} = {values[layer, head]:.3f}")'
    ),
    new_markdown_cell(
        "An induction score: in a repeated text, how much each token attends to the token that followed "
        "its previous occurrence (one period back, plus one). Trained models have heads near 1; random "
        "weights do not."
    ),
    new_code_cell(
        'period = len(tokenizer(text.split(" .")[0] + " .", add_special_tokens=False)["input_ids"])\n'
        "rows = np.arange(n // 2, n - 1)\n"
        "scores = np.zeros((result.num_layers, result.num_heads))\n"
        "for layer in range(result.num_layers):\n"
        "    for head in range(result.num_heads):\n"
        "        tile = result.block(layer, head, rows, rows - period + 1)\n"
        "        scores[layer, head] = np.diagonal(tile).mean()\n"
        'print(f"period {period} tokens; best induction score {scores.max():.3f} (layer, head = {np.unravel_index(scores.argmax(), scores.shape)})")'
    ),
    new_markdown_cell("Generation: the attention of every generated token to everything before it."),
    new_code_cell(
        'generated = capture_generate(model, tokenizer, "the cat sat on the mat because", max_new_tokens=20)\n'
        "print(generated)\n"
        'print("prompt tokens:", generated.prompt_length, "generated:", int(generated.generated.sum()))\n'
        "print(generated.block(0, 0, rows=[generated.num_tokens - 1]).round(3))"
    ),
    new_markdown_cell(
        "In the widget: the matrix view pans and zooms over the whole input (wheel, drag, Reset zoom), "
        "asking the kernel for exact tiles at the zoom level shown; the row view shows one query over "
        "every key with its top keys named; the model view colours every layer and head by the statistic "
        "you pick; the head view draws each query's top-k keys. Generated tokens are marked."
    ),
    new_code_cell(
        "from albert_widget import AttentionWidget\n"
        "\n"
        "w = AttentionWidget.from_result(result)  # compact: opens on the matrix view\n"
        'print(w.attention_form, w.view, "|", len(w.tokens), "tokens")\n'
        "w"
    ),
    new_markdown_cell(
        "Over a corpus of long documents: `corpus_summaries` averages the same per-head statistics over "
        "every token of every text, as float64 sums that merge exactly, so it also runs on Ray or Dask "
        '(`engine="ray"` / `"dask"`) and resumes from a `checkpoint` folder.'
    ),
    new_code_cell(
        "from albert_widget.analysis import corpus_summaries\n"
        "\n"
        'documents = [" ".join([sentence] * 30) for sentence in ("the cat sat on the mat .", "a dog barked at the moon .", "rain fell all night long .")]\n'
        "corpus = corpus_summaries(model, tokenizer, documents, progress=False)\n"
        "print(corpus)\n"
        'corpus.to_dataframe().sort_values("sink", ascending=False).head()'
    ),
]


def build():
    nb = new_notebook(cells=CELLS)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


if __name__ == "__main__":
    nbformat.write(build(), str(HERE / "longcontext.ipynb"))
    print("wrote", HERE / "longcontext.ipynb")
