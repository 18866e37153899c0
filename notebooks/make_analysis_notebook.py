"""Write notebooks/analysis.ipynb (Clark et al.-style head statistics, rollout, flow, relevancy,
norm-based attention and comparisons of attention on the packaged pretrained MiniLM).

    python notebooks/make_analysis_notebook.py            # write the notebook (no outputs)
    python notebooks/make_analysis_notebook.py --execute  # write it and run it offline, keeping outputs

tests/test_analysis_notebook.py checks that the notebook on disk has exactly these cells and runs it.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent
NOTEBOOK = HERE / "analysis.ipynb"


def md(text: str):
    return new_markdown_cell(text.strip("\n"))


def code(text: str):
    return new_code_cell(text.strip("\n"))


CELLS = [
    md(r"""
# What does MiniLM look at? Attention analysis with `albert_widget.analysis`

This notebook runs the methods of `albert_widget.analysis` on the packaged, pretrained
**all-MiniLM-L6-v2** (a BERT-family sentence-embedding model: 6 layers x 12 heads, hidden size 384) and
on a corpus of 300 English sentences that `make_corpus` writes from templates (deterministic; nothing is
downloaded):

1. **Head statistics** in the style of Clark et al. (2019), *What Does BERT Look At?*: attention to
   `[CLS]`, `[SEP]` and punctuation per layer, attention entropy, previous/next-token heads, and a map of
   the heads by Jensen-Shannon distance.
2. **Attention rollout and flow** (Abnar & Zuidema, 2020) on a few sentences.
3. **Gradient-weighted relevancy** (Chefer et al., 2021) with a target that means something for a
   sentence-embedding model (see section 3).
4. **Norm-based attention** (Kobayashi et al., 2020) and **layer transitions** (Lan et al., 2020, Fig. 2).

Every number quoted in the text is computed in the cell above it; the cell "Checks" asserts the
claims, so a change in the model or the code that breaks them stops the notebook.
"""),
    code(r"""
%matplotlib inline
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import Markdown, display
from transformers.utils import logging as hf_logging

from albert_widget import capture, load_default_model
from albert_widget.analysis import (
    STATISTICS, attention_flow, head_stats, layer_transitions, make_corpus, norm_attention, relevancy, rollout,
)

hf_logging.disable_progress_bar()
torch.manual_seed(0)
plt.rcParams.update({"figure.dpi": 80, "axes.spines.top": False, "axes.spines.right": False})

model, tokenizer = load_default_model()
corpus = make_corpus(300, seed=0)
L, H = model.config.num_hidden_layers, model.config.num_attention_heads
print(f"{type(model).__name__}: {L} layers x {H} heads; {len(corpus)} sentences, for example:")
print("\n".join("  " + s for s in corpus[:4]))
"""),
    md(r"""
## 1. Head statistics (Clark et al. 2019)

`head_stats` runs the model in padded batches (padding never counts) and averages, over every token of
the corpus, how much attention each head puts on `[CLS]`, `[SEP]`, `.`/`,`, the token itself, the
previous and the next token, plus the entropy of each attention row and the Jensen-Shannon distances
between all pairs of heads.
"""),
    code(r"""
start, cpu_start = time.perf_counter(), time.process_time()
stats = head_stats(model, tokenizer, corpus, batch_size=16, progress=False)
elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
print(f"{stats.num_examples} sentences, {stats.num_tokens} tokens in {elapsed:.1f} s wall-clock, {cpu:.1f} s of CPU "
      f"({torch.get_num_threads()} threads) = {1000 * elapsed / stats.num_examples:.1f} s per 1,000 sentences, "
      "Jensen-Shannon matrix included (slower when the machine is busy with other work)")
df = stats.to_dataframe()
per_layer = df.groupby("layer")[list(STATISTICS)].mean()
per_layer.round(3)
"""),
    code(r"""
rng = np.random.default_rng(0)
fig, axes = plt.subplots(1, 3, figsize=(12, 3.4), sharey=True)
for ax, (name, title) in zip(axes, [("to_cls", "[CLS]"), ("to_sep", "[SEP]"), ("to_punct", ". or ,")]):
    values = getattr(stats, name)
    for layer in range(L):
        ax.scatter(layer + 1 + rng.uniform(-0.15, 0.15, H), values[layer], s=14, alpha=0.6, color="C0")
    ax.plot(np.arange(1, L + 1), values.mean(1), color="C3", marker="o", label="mean over heads")
    ax.set_title(f"attention to {title}")
    ax.set_xlabel("layer")
    ax.set_xticks(range(1, L + 1))
axes[0].set_ylabel("average attention")
axes[0].legend(loc="upper left", frameon=False)
fig.suptitle("Each dot is one head (cf. Clark et al. 2019, Fig. 2)")
fig.tight_layout()
"""),
    code(r"""
fig, axes = plt.subplots(1, 3, figsize=(12, 3.4), gridspec_kw={"width_ratios": [1.2, 1, 1]})
ax = axes[0]
for layer in range(L):
    ax.scatter(layer + 1 + rng.uniform(-0.15, 0.15, H), stats.entropy[layer], s=14, alpha=0.6, color="C0")
ax.plot(np.arange(1, L + 1), stats.entropy.mean(1), color="C3", marker="o", label="mean over heads")
ax.axhline(stats.uniform_entropy, color="grey", ls="--", label="uniform attention")
ax.set(title="entropy of attention rows (nats)", xlabel="layer", xticks=range(1, L + 1))
ax.legend(frameon=False, loc="lower left")
for ax, name, title in [(axes[1], "to_prev", "previous token"), (axes[2], "to_next", "next token")]:
    values = getattr(stats, name)
    im = ax.imshow(values, vmin=0, vmax=1, cmap="viridis", aspect="auto")
    ax.set(title=f"attention to the {title}", xlabel="head", ylabel="layer",
           xticks=range(0, H, 2), yticks=range(L), yticklabels=range(1, L + 1))
    best = np.unravel_index(values.argmax(), values.shape)
    ax.annotate(f"{values[best]:.2f}", (best[1], best[0]), color="white", ha="center", va="center", fontsize=8)
fig.colorbar(im, ax=axes[1:], shrink=0.8);
"""),
    code(r"""
# Heads by Jensen-Shannon distance (classical MDS of the [L*H, L*H] matrix), cf. Clark et al. Fig. 6.
d2 = stats.js_distance ** 2
k = d2.shape[0]
centred = -0.5 * (np.eye(k) - 1 / k) @ d2 @ (np.eye(k) - 1 / k)
eigval, eigvec = np.linalg.eigh(centred)
xy = eigvec[:, -2:] * np.sqrt(np.maximum(eigval[-2:], 0))
fig, ax = plt.subplots(figsize=(5, 4))
points = ax.scatter(xy[:, 1], xy[:, 0], c=np.repeat(np.arange(1, L + 1), H), cmap="viridis", s=22)
fig.colorbar(points, ax=ax, label="layer")
ax.set(title="heads placed by Jensen-Shannon distance", xticks=[], yticks=[])
same = [stats.js_distance[l * H:(l + 1) * H, l * H:(l + 1) * H][np.triu_indices(H, 1)].mean() for l in range(L)]
print("mean JS distance between heads of the same layer:", np.round(same, 3),
      f"; between all heads: {stats.js_distance[np.triu_indices(k, 1)].mean():.3f}")
"""),
    code(r"""
def head_name(flat):
    layer, head = divmod(int(flat), H)
    return f"layer {layer + 1} head {head}"

facts = {
    "cls_mid": per_layer.to_cls.iloc[1:5].mean(),
    "cls_max_head": stats.to_cls.max(),
    "cls_heads_over_half": int((stats.to_cls > 0.5).sum()),
    "sep_max_layer": per_layer.to_sep.max(),
    "sep_max_head": stats.to_sep.max(),
    "punct_max_head": stats.to_punct.max(),
    "punct_best": head_name(stats.to_punct.argmax()),
    "punct_mean": per_layer.to_punct.mean(),
    "prev_max": stats.to_prev.max(),
    "prev_best": head_name(stats.to_prev.argmax()),
    "next_max": stats.to_next.max(),
    "next_best": head_name(stats.to_next.argmax()),
    "prev_next_over_half": int((stats.to_prev > 0.5).sum() + (stats.to_next > 0.5).sum()),
    "entropy_first": per_layer.entropy.iloc[0],
    "entropy_mid": per_layer.entropy.iloc[1:5].mean(),
    "entropy_last": per_layer.entropy.iloc[-1],
    "uniform": stats.uniform_entropy,
}
display(Markdown(
    "Layers are numbered from 1, heads from 0.\n\n"
    f"* Layers 2-5 put on average **{facts['cls_mid']:.0%}** of their attention on `[CLS]`; "
    f"{facts['cls_heads_over_half']} of the {L * H} heads put more than half there (the most: {facts['cls_max_head']:.0%}).\n"
    f"* `[SEP]` gets at most **{facts['sep_max_layer']:.1%}** of a layer's attention and {facts['sep_max_head']:.1%} of any head's.\n"
    f"* Punctuation: {facts['punct_mean']:.1%} of the attention on average; the most punctuation-minded head "
    f"({facts['punct_best']}) puts {facts['punct_max_head']:.0%} on `.` and `,`.\n"
    f"* Previous token: {facts['prev_best']} puts **{facts['prev_max']:.0%}** there; next token: {facts['next_best']} "
    f"puts **{facts['next_max']:.0%}**; {facts['prev_next_over_half']} heads put more than half on a neighbour.\n"
    f"* Mean entropy: layer 1 {facts['entropy_first']:.2f} nats, layers 2-5 {facts['entropy_mid']:.2f}, "
    f"layer 6 {facts['entropy_last']:.2f}; uniform attention would give {facts['uniform']:.2f}."
))
"""),
    md(r"""
### MiniLM against Clark et al.'s findings on BERT-base

* **The attention sink is `[CLS]`, not `[SEP]` (differs).** Clark et al. found that over half of
  BERT-base's attention in layers 6-10 goes to `[SEP]`. MiniLM hardly looks at `[SEP]` (at most about
  7% of a layer's attention, about 13% of the most `[SEP]`-minded head's). Instead its middle layers
  2-5 park about half of their attention on `[CLS]`, and about a third of all heads put more than half
  there. It is the same phenomenon, a large share of attention resting on one special token, on another
  token. We have not checked what moved it: MiniLM was distilled from a larger teacher by matching
  attention distributions and then trained further as a mean-pooled sentence encoder; either step
  could have done it.
* **Such attention looks like a no-op here too.** Clark et al. read the attention to `[SEP]` as a way for a head to
  do nothing. Section 4 backs that reading for MiniLM's `[CLS]`: it gets about half of the attention
  *weight* in layers 2-5 but only about 5% of the attention once each weight is multiplied by the norm
  of the vector it moves. That is Kobayashi et al.'s finding for BERT's special tokens.
* **Positional heads (agrees).** As in BERT, some heads attend almost only to a neighbour: layer 1
  head 2 puts 94% of its attention on the previous token, and layer 2 head 8 puts 58% on the next
  one. Only these two heads pass 50%, out of 72.
* **Broad attention at the bottom (agrees, with a twist).** Clark et al. report very broad attention in
  the lower layers. MiniLM's first layer has the highest mean entropy (2.14 nats against 2.82 for
  uniform attention), and the middle layers are much more focused (about 1.4). The last layer broadens
  again (2.03). The heads of one layer also resemble each other more in the upper layers: the mean
  Jensen-Shannon distance within a layer falls from about 0.41 to about 0.31-0.35.
* **Punctuation (weaker).** Clark et al. saw a lot of attention on periods and commas. MiniLM gives them 5-8%
  per layer; only one head (layer 4 head 11, about 41%) specialises in them.
"""),
    code(r"""
# Checks: the claims above, asserted on the numbers of this run.
assert facts["cls_mid"] > 0.4 and facts["cls_heads_over_half"] >= 10, facts
assert facts["sep_max_layer"] < 0.15 and facts["sep_max_head"] < 0.25, facts
assert facts["prev_max"] > 0.8 and facts["next_max"] > 0.5, facts
assert facts["entropy_mid"] < facts["entropy_first"] and facts["entropy_mid"] < facts["entropy_last"], facts
assert facts["entropy_first"] < facts["uniform"], facts
assert (facts["prev_best"], facts["next_best"], facts["punct_best"]) == ("layer 1 head 2", "layer 2 head 8", "layer 4 head 11")
assert same[4] < same[0] and same[5] < same[0], same
assert facts["prev_next_over_half"] == 2 and 0.3 < facts["punct_max_head"] < 0.5 and facts["punct_mean"] < 0.1, facts
print("all claims of section 1 hold")
"""),
    md(r"""
## 2. Attention rollout and attention flow (Abnar & Zuidema 2020)

Raw attention of the last layer says little about where the information came from, since every layer
mixes the tokens again. **Rollout** multiplies the per-layer matrices `0.5·Ā + 0.5·I` (the identity
stands for the residual connection); **flow** treats them as capacities of a layered graph and computes
max-flows (exact but costly: `attention_flow` refuses inputs over 32 tokens by default).
"""),
    code(r"""
sentences = [
    "The cat sat on the mat because it was tired.",
    "Anna gave the keys to her brother, who lost them.",
]
fig, axes = plt.subplots(len(sentences), 3, figsize=(13, 4.2 * len(sentences)))
rankings = {}
for row, sentence in zip(axes, sentences):
    result = capture(model, tokenizer, sentence)
    tokens = result.tokens
    start = time.perf_counter()
    flow = attention_flow(result.attention)
    flow_seconds = time.perf_counter() - start
    roll = rollout(result.attention)
    mats = [result.attention[-1].mean(0), roll, flow]
    titles = ["raw attention, last layer (mean of heads)", "rollout", f"flow ({flow_seconds:.1f} s)"]
    for ax, m, title in zip(row, mats, titles):
        ax.imshow(m, cmap="Blues", vmin=0)
        ax.set_xticks(range(len(tokens)), tokens, rotation=90, fontsize=8)
        ax.set_yticks(range(len(tokens)), tokens, fontsize=8)
        ax.set_title(title, fontsize=10)
    r = np.corrcoef(flow.ravel(), roll.ravel())[0, 1]
    mean_roll, mean_flow = roll.mean(0), flow.mean(0)
    rankings[sentence] = ([tokens[i] for i in np.argsort(-mean_roll)[:4]], [tokens[i] for i in np.argsort(-mean_flow)[:4]], r)
    print(f"{sentence!r}: {len(tokens)} tokens, flow vs rollout correlation {r:.2f}; "
          f"input tokens that feed the top layer most (rollout, mean over positions): "
          f"{[tokens[i] for i in np.argsort(-mean_roll)[:4]]}, (flow): {[tokens[i] for i in np.argsort(-mean_flow)[:4]]}")
fig.tight_layout()
"""),
    md(r"""
Rollout credits `[CLS]` for most of every position's final state: the attention sink of section 1 adds
up over the layers. Flow, which is limited by the narrowest edge rather than the product along a path,
is much flatter; it agrees with rollout on the top input (`[CLS]`) and on the `[SEP]` runner-up, but
then ranks content words (*tired*, *because*; *gave*, *brother*) where rollout ranks punctuation. The
two maps correlate at about 0.6 on these sentences.
"""),
    md(r"""
## 3. Gradient-weighted relevancy (Chefer et al. 2021)

Relevancy needs a scalar to explain. all-MiniLM-L6-v2 has no classification head: it is trained so
that the **mean-pooled** last hidden state of a sentence lies close (cosine) to that of a paraphrase.
So the target here is that very quantity, the cosine similarity between the sentence's embedding and
the embedding of a reference sentence, passed to `relevancy` as a callable. Because the embedding is a
mean over positions, the explanation is the mean of the rows of the relevancy map (`position="mean"`,
the default for callables). Changing the reference should move relevance to the words that the
reference is about.
"""),
    code(r"""
def embedding(text):
    enc = tokenizer(text, return_tensors="pt")
    with torch.no_grad():
        return model(**enc).last_hidden_state[0].mean(0)


def similarity_to(reference):
    ref = embedding(reference)

    def target(outputs):  # cosine(mean-pooled embedding, reference embedding): what the model was trained on
        return torch.nn.functional.cosine_similarity(outputs.last_hidden_state[0].mean(0), ref, dim=0)

    return target


sentence = "The cat sat on the mat because it was tired."
references = ["A pet is sleeping.", "There is a rug on the floor."]
fig, axes = plt.subplots(1, len(references), figsize=(12, 3.2), sharey=True)
relevance = {}
for ax, reference in zip(axes, references):
    r = relevancy(model, tokenizer, sentence, similarity_to(reference))
    relevance[reference] = r
    words = slice(1, len(r.tokens) - 1)  # without [CLS] and [SEP]
    beyond = (r.matrix - np.eye(len(r.tokens))).mean(0)  # R = I + ...: drop the identity, which gives every token 1/N
    ax.bar(range(len(r.tokens))[words], beyond[words], color="C0")
    ax.set_xticks(range(len(r.tokens))[words], r.tokens[words], rotation=60)
    ax.set_title(f"similarity to {reference!r}: {r.value:.2f}", fontsize=10)
    top = [r.tokens[i] for i in np.argsort(-r.scores[words])[:3] + 1]
    print(f"{reference!r}: cosine {r.value:.3f}; most relevant words {top}")
axes[0].set_ylabel("relevance (mean row of R - I)")
fig.tight_layout()
"""),
    md(r"""
## 4. Norm-based attention (Kobayashi et al. 2020) and layer transitions (Lan et al. 2020)

Kobayashi et al. weigh each attention weight by the norm of what it moves, `‖α_ij f(x_j)‖`, and find
that the heavily attended special tokens move small vectors. Below: the share of each layer's attention
that lands on `[CLS]` and `[SEP]`, by weight and by norm, over 40 corpus sentences.
"""),
    code(r"""
share = {"[CLS] by weight": [], "[CLS] by norm": [], "[SEP] by weight": [], "[SEP] by norm": []}
for text in corpus[:40]:
    weights = capture(model, tokenizer, text).attention.astype(np.float64)  # [L, H, N, N]
    norms = norm_attention(model, tokenizer, text).astype(np.float64)
    for name, a in [("weight", weights), ("norm", norms)]:
        total = a.sum(axis=(1, 2, 3))
        share[f"[CLS] by {name}"].append(a[..., 0].sum(axis=(1, 2)) / total)
        share[f"[SEP] by {name}"].append(a[..., -1].sum(axis=(1, 2)) / total)
share = {k: np.mean(v, axis=0) for k, v in share.items()}
transitions = layer_transitions(model, tokenizer, corpus[:100])

fig, axes = plt.subplots(1, 2, figsize=(11, 3.3))
for name, values in share.items():
    axes[0].plot(np.arange(1, L + 1), values, marker="o", ls="-" if "weight" in name else "--",
                 color="C0" if "CLS" in name else "C1", label=name)
axes[0].set(title="share of attention on special tokens", xlabel="layer", xticks=range(1, L + 1))
axes[0].legend(frameon=False, fontsize=8)
axes[1].plot(np.arange(1, L + 1), transitions.l2, marker="o", label="L2 distance")
ax2 = axes[1].twinx()
ax2.plot(np.arange(1, L + 1), transitions.cosine, marker="s", color="C2", label="cosine similarity")
axes[1].set(title="layer input vs output (cf. ALBERT paper, Fig. 2)", xlabel="layer", ylabel="L2 distance",
            xticks=range(1, L + 1))
ax2.set_ylabel("cosine similarity")
fig.tight_layout()
for k, v in share.items():
    print(f"{k:16s}", np.round(v, 3))
print("layer transitions: L2", np.round(transitions.l2, 2), "cosine", np.round(transitions.cosine, 3))
"""),
    md(r"""
With the pet reference, *cat* and *tired* carry the most relevance; with the rug reference, *mat* moves
to the top. The explanation follows the target, which is what an explanation should do. The
similarities themselves are modest (0.41 and 0.30), as expected for a sentence that mentions
neither a pet nor a rug.

Norm-based attention: `[CLS]` receives about half of the attention *weight* in layers 2-5 but only
3-6% of the norm-weighted attention. Its value vectors, mapped through the output projection, are
small, so the heads that look at it change little. `[SEP]` is small either way. Layer transitions:
MiniLM's layers change the token embeddings a lot (L2 distance 5-8, cosine 0.58-0.89 between a layer's
input and output), and the last layer changes them the most. The ALBERT paper contrasts such BERT
curves with the much smoother ones of ALBERT's shared layers. No pretrained ALBERT ships with this
package (nothing is downloaded here); with one at hand, run
`layer_transitions(albert_model, albert_tokenizer, corpus)` and plot it beside this one.
"""),
    code(r"""
# Checks for sections 2-4.
for sentence, (by_rollout, by_flow, r) in rankings.items():
    assert by_rollout[:2] == by_flow[:2] == ["[CLS]", "[SEP]"], rankings
    assert set(by_rollout[2:]) <= {".", ",", "the"} and not set(by_flow[2:]) & {".", ",", "the"}, rankings
    assert 0.5 < r < 0.75, rankings
pet, rug = relevance[references[0]], relevance[references[1]]


def top_words(r, k):
    beyond = (r.matrix - np.eye(len(r.tokens))).mean(0)[1:-1]
    return [r.tokens[1:-1][i] for i in np.argsort(-beyond)[:k]]


assert {"cat", "tired"} <= set(top_words(pet, 3)) and top_words(rug, 1) == ["mat"], (top_words(pet, 3), top_words(rug, 3))
assert pet.value > rug.value
assert share["[CLS] by weight"][1:5].min() > 0.45 and share["[CLS] by norm"][1:5].max() < 0.07, share
assert share["[SEP] by weight"].max() < 0.1 and share["[SEP] by norm"].max() < 0.1, share
assert transitions.cosine.argmin() == L - 1 and transitions.l2.argmax() == L - 1
assert 0.5 < transitions.cosine.min() and transitions.cosine.max() < 0.9
print("all claims of sections 2-4 hold")
"""),
    md(r"""
## 5. What changed? Comparing attention (`CompareWidget`, `head_divergence`)

`head_divergence(a, b)` is the Jensen-Shannon divergence (nats, at most ln 2 = 0.693) between every head
of one capture and every head of another, averaged over the query tokens both share, each row restricted
to the keys both share and renormalised. `CompareWidget(left, right)` shows the two side by side, their
difference Δ = right − left on a diverging scale centred on 0, and for every head the closest head on the
other side. Two questions:

* **Which heads carry learned structure?** MiniLM against a randomly initialised copy of itself (same
  config, same tokenizer, so the tokens align one to one). A random head attends almost uniformly; how
  far each trained head is from its random twin measures what training put there.
* **What does a one-word change do?** One model on a sentence and its perturbation ("cat" → "dog"): the
  texts align by words, "cat" shows as on the left only and "dog" as on the right only.
"""),
    code(r"""
from transformers import AutoModel

from albert_widget import AttentionWidget, CompareWidget
from albert_widget.analysis import head_divergence
from albert_widget.compare.figures import compare_figure

torch.manual_seed(0)
random_model = AutoModel.from_config(model.config).eval()  # same architecture, random weights
text = "The cat sat on the mat because it was tired."
trained_capture, random_capture = capture(model, tokenizer, text), capture(random_model, tokenizer, text)
learned = CompareWidget(trained_capture, random_capture, view="match")
same_head = np.einsum("ijij->ij", learned.divergence())  # trained head (l, h) against random head (l, h)
random_among = head_divergence(random_capture, random_capture)
n = trained_capture.num_tokens
print(learned.aligned.note())
print(f"mean entropy of a head: random {(-(random_capture.attention * np.log(random_capture.attention)).sum(-1)).mean():.3f}, "
      f"trained {(-(trained_capture.attention * np.log(np.maximum(trained_capture.attention, 1e-30))).sum(-1)).mean():.3f}, "
      f"uniform ln {n} = {np.log(n):.3f}")
print(f"JSD between two random heads: at most {random_among.max():.4f}")
order = np.argsort(-same_head, axis=None)
print("trained heads farthest from their random twin (most learned structure):")
for flat in order[:5]:
    layer, head = divmod(int(flat), H)
    print(f"  layer {layer} head {head}: JSD {same_head[layer, head]:.3f}")
layer, head = divmod(int(order[-1]), H)
print(f"closest to random: layer {layer} head {head}: JSD {same_head[layer, head]:.3f}")
learned.left_layer, learned.left_head = divmod(int(order[0]), H)
compare_figure(learned, view="difference", width="double", dpi=80)
"""),
    md(r"""
Every random head is close to uniform (entropy within a hair of ln n) and all of them look alike, so the
distance of a trained head from its random twin is the structure training gave it. The figure above is the
difference of the most learned head: Δ = random − trained, red where the random copy attends more (it
spreads weight everywhere), blue where training concentrated the weight.
"""),
    code(r"""
sentence = AttentionWidget(model, tokenizer, "The cat sat on the mat.")
perturbed = sentence.compare(text_b="The dog sat on the mat.")
changed = np.einsum("ijij->ij", perturbed.divergence())  # same layer and head, the two texts
layer, head = divmod(int(changed.argmax()), H)
print(perturbed.aligned.note())
print(f"left only: {perturbed.aligned.deleted}, right only: {perturbed.aligned.inserted}")
print(f"head that changed most: layer {layer} head {head}, JSD {changed.max():.4f} (median over heads {np.median(changed):.4f})")
perturbed.left_layer, perturbed.left_head = layer, head  # the right side follows (sync)
delta = perturbed.difference()["delta"]
print(f"largest |Δ| of that head: {np.nanmax(np.abs(delta)):.3f}")
compare_figure(perturbed, view="match", width="double", dpi=80)  # `perturbed` alone shows the live widget
"""),
    md(r"""
The grid above gives, for every head on the left, its closest head on the right: every head is still closest
to itself, and the colour (similarity over the range shown) picks out the heads the new noun moved most.
Displaying `perturbed` gives the live widget: its *Head matching* tab lists the heads that changed most, a
click on one shows its difference. Swapping one noun moves every head far less than training moved the
least-trained head away from random.
"""),
    code(r"""
# Checks for section 5.
assert learned.aligned.level == "token" and learned.aligned.num_units == n
assert random_among.max() < 0.02, random_among.max()
assert same_head.min() > 0.03 and np.median(same_head) > 0.15, same_head
assert perturbed.aligned.deleted == ["cat"] and perturbed.aligned.inserted == ["dog"]
assert perturbed.sync and (perturbed.right_layer, perturbed.right_head) == (layer, head)
assert changed.max() < same_head.min(), (changed.max(), same_head.min())
assert 0 < np.nanmax(np.abs(delta)) < 0.5
print("all claims of section 5 hold")
"""),
]


def build() -> nbformat.NotebookNode:
    nb = new_notebook(cells=CELLS)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    for i, cell in enumerate(nb.cells):  # stable ids: regenerating gives the same file
        cell["id"] = f"cell-{i:02d}"
    return nb


def execute(nb: nbformat.NotebookNode, timeout: int = 600) -> nbformat.NotebookNode:
    from nbclient import NotebookClient

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    # No widget state in the file: section 5 makes widgets but shows figures (the state would add the bundle).
    client = NotebookClient(
        nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(HERE)}}, store_widget_state=False
    )
    client.execute()
    return nb


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--execute", action="store_true", help="run the notebook and keep its outputs")
    parser.add_argument("--output", default=str(NOTEBOOK))
    args = parser.parse_args(argv)
    nb = build()
    if args.execute:
        execute(nb)
    nbformat.write(nb, args.output)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
