"""Sentence-pair filters, word level, hidden special tokens, token search, mean over layers, the
causal mask, encoder-decoder kinds and odd tokens, in a real JupyterLab driven as a person would.
Screenshots go to artifacts/."""

from __future__ import annotations

from .aw_browser import ARTIFACTS, REPO, prettify

IMPORTS = "import json, sys, tempfile\nimport numpy as np\nfrom albert_widget import AttentionWidget\n"
BPE_SETUP = (
    IMPORTS
    + f"sys.path.insert(0, {str(REPO / 'tests')!r})\n"
    + "import torch\nfrom conftest import train_bpe_tokenizer\ntok = train_bpe_tokenizer()\ntorch.manual_seed(0)\n"
)


def _shot(root, name):
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    root.screenshot(path=str(path))
    assert path.stat().st_size > 5_000
    return path


def _redrawn(lab, root, action, **attrs):
    """Do `action`, then wait for a new completed draw with the given data-* attributes."""
    drawn = lab.drawn(root)
    action()
    lab.wait_attr(root, "drawn", lambda v: int(v) > drawn)
    for name, value in attrs.items():
        lab.wait_attr(root, name.replace("_", "-"), value)  # pair_filter -> data-pair-filter
    lab.wait_attr(root, "state", "ready")


def _texts(lab, root, scope):
    return lab.token_texts(root, scope)


def _hover_value(lab, root, i, j, rows, cols):
    return lab.hover_cell(root, i, j, rows, cols)


def test_pair_filters_change_what_is_drawn(lab):
    lab.open(
        "pairs.ipynb",
        [
            IMPORTS + "w = AttentionWidget.demo('The cat sat on the mat.', 'It was very tired.')\nw",
            "print(json.dumps({'tokens': w.tokens, 'segments': w.segments, 'pair_filter': w.pair_filter}))",
            "w.pair_filter = 'bb'",
        ],
    )
    lab.run(0)
    root = lab.widget(0)
    state = lab.run_json(1)
    tokens, segments = state["tokens"], state["segments"]
    a = [prettify(t) for t, s in zip(tokens, segments) if s == 0]
    b = [prettify(t) for t, s in zip(tokens, segments) if s == 1]
    assert a and b
    lines_all = int(root.get_attribute("data-lines"))
    assert root.locator(".aw-view-head .aw-query.aw-seg-b").count() == len(b)  # sentence B coloured
    select = root.locator("select.aw-pair-filter")
    assert select.is_visible()

    counts = {"all": lines_all}
    digests = {"all": lab.canvas_pixels(root)["digest"]}
    for value, (left, right) in {"ab": (a, b), "ba": (b, a), "aa": (a, a)}.items():
        _redrawn(lab, root, lambda: select.select_option(value), pair_filter=value)
        assert _texts(lab, root, ".aw-view-head .aw-query") == left
        assert _texts(lab, root, ".aw-view-head .aw-key") == right
        assert root.get_attribute("data-ntokens") == str(len(left))
        assert root.get_attribute("data-ncols") == str(len(right))
        counts[value] = int(root.get_attribute("data-lines"))
        assert counts[value] == len(left) * len(right) < lines_all, counts  # one line per weight > 0
        digests[value] = lab.canvas_pixels(root)["digest"]
        if value == "ab":
            _shot(root, "pairs_ab_head.png")
    assert lab.run_json(1)["pair_filter"] == "aa"  # the select set the Python trait
    assert len(set(digests.values())) == len(digests), digests  # every filter drew something else

    # Python sets the filter: the page follows; the matrix view shows B x B.
    _redrawn(lab, root, lambda: lab.run(2), pair_filter="bb")
    assert select.input_value() == "bb"
    _redrawn(lab, root, lambda: root.locator('.aw-view-btn[data-view="matrix"]').click(), view="matrix")
    assert _texts(lab, root, ".aw-matrix-rows .aw-token") == b
    assert _texts(lab, root, ".aw-matrix-cols .aw-token") == b
    pixels = lab.canvas_pixels(root, ".aw-matrix-canvas")
    assert pixels["width"] > 0 and pixels["painted"] > 0
    _shot(root, "pairs_bb_matrix.png")


WORDS_SETUP = IMPORTS + (
    "from albert_widget.words import word_groups, word_tokens, merge_to_words\n"
    "w = AttentionWidget.demo('Tokenization of unbelievably long words is fun.')\nw"
)
# The page's hide-special + word-level matrix of layer 1, head 2, computed here in Python.
EXPECTED = (
    "a = w.attention[1, 2].astype(np.float64)\n"
    "keep = [i for i, s in enumerate(w.special) if not s]\n"
    "a = a[np.ix_(keep, keep)]\n"
    "a = a / a.sum(-1, keepdims=True)\n"
    "toks = [w.tokens[i] for i in keep]\n"
    "g = word_groups(toks, [False] * len(toks))\n"
    "print(json.dumps({'words': word_tokens(w.tokens, word_groups(w.tokens, w.special)),\n"
    "                  'kept_words': word_tokens(toks, g), 'matrix': merge_to_words(a, g).tolist(),\n"
    "                  'word_level': w.word_level, 'hide_special': w.hide_special, 'search': w.token_search}))"
)


def test_word_level_hide_special_and_search(lab):
    lab.open("words.ipynb", [WORDS_SETUP, EXPECTED, "w.layer = 1\nw.head = 2"])
    lab.run(0)
    root = lab.widget(0)
    tokens = _texts(lab, root, ".aw-view-head .aw-query")
    assert "##" not in "".join(tokens) and len(tokens) > 10
    expected = lab.run_json(1)
    words = expected["words"]
    assert len(words) < len(tokens)  # pieces really merge

    toggle = root.locator("input.aw-word-level")
    _redrawn(lab, root, toggle.check, word_level="true", ntokens=str(len(words)))
    assert root.locator(".aw-view-head .aw-query").count() == len(words)
    assert root.locator(".aw-view-head .aw-key").count() == len(words)
    assert _texts(lab, root, ".aw-view-head .aw-query") == [prettify(t) for t in words]
    assert "tokenization" in _texts(lab, root, ".aw-view-head .aw-query")
    _shot(root, "words_head.png")

    hide = root.locator("input.aw-hide-special")
    _redrawn(lab, root, hide.check, hide_special="true", ntokens=str(len(words) - 2))
    shown = _texts(lab, root, ".aw-view-head .aw-query")
    assert "[CLS]" not in shown and "[SEP]" not in shown
    assert shown == [prettify(t) for t in expected["kept_words"]]
    state = lab.run_json(1)
    assert state["word_level"] is True and state["hide_special"] is True

    # The numbers: the page's renormalised word-level matrix equals the Python computation.
    _redrawn(lab, root, lambda: lab.run(2), layer="1", head="2")
    _redrawn(lab, root, lambda: root.locator('.aw-view-btn[data-view="matrix"]').click(), view="matrix")
    matrix = lab.run_json(1)["matrix"]
    n = len(matrix)
    assert root.locator(".aw-matrix-rows .aw-token").count() == n
    for i, j in [(0, 0), (0, n - 1), (2, 1), (n - 1, 3)]:
        tooltip = _hover_value(lab, root, i, j, n, n)
        value = float(tooltip.get_attribute("data-value"))
        assert abs(value - matrix[i][j]) <= 1e-6, (i, j, value, matrix[i][j])
    lab.page.mouse.move(0, 0)

    # Token search highlights the matching tokens in both views.
    search = root.locator("input.aw-search")
    _redrawn(lab, root, lambda: search.fill("long"), matches="2")
    assert root.locator(".aw-matrix-grid .aw-token-match").count() == 2
    assert lab.run_json(1)["search"] == "long"
    _shot(root, "words_hide_special_search_matrix.png")
    _redrawn(lab, root, lambda: root.locator('.aw-view-btn[data-view="head"]').click(), view="head")
    assert root.locator(".aw-view-head .aw-token-match").count() == 2

    # Off again: every token is back.
    _redrawn(lab, root, toggle.uncheck, word_level="false")
    _redrawn(lab, root, hide.uncheck, hide_special="false", ntokens=str(len(tokens)))


CAUSAL_SETUP = BPE_SETUP + (
    "from transformers import GPT2Config, GPT2LMHeadModel\n"
    "model = GPT2LMHeadModel(GPT2Config(vocab_size=len(tok), n_positions=32, n_embd=32, n_layer=3, n_head=4)).eval()\n"
    "w = AttentionWidget(model, tok, 'The cat sat on the mat.', view='matrix')\nw"
)


def _pixel(lab, root, i, j, rows, cols):
    """RGBA of the canvas pixel at the centre of cell (i, j), a quarter cell off the hatch diagonal."""
    return root.locator(".aw-matrix-canvas").evaluate(
        """(c, [i, j, rows, cols]) => {
            const x = Math.floor((j + 0.5) * c.width / cols), y = Math.floor((i + 0.25) * c.height / rows);
            return Array.from(c.getContext('2d').getImageData(x, y, 1, 1).data);
        }""",
        [i, j, rows, cols],
    )


def test_causal_mask_and_mean_over_layers(lab):
    lab.open(
        "causal.ipynb",
        [
            CAUSAL_SETUP,
            "print(json.dumps({'info': w.info['is_causal'], 'n': len(w.tokens), 'mean': w.attention[:, 0].mean(0).tolist(),"
            " 'layer_reduce': w.layer_reduce}))",
        ],
    )
    lab.run(0)
    root = lab.widget(0)
    state = lab.run_json(1)
    n = state["n"]
    assert state["info"] is True
    view = root.locator(".aw-view-matrix")
    assert view.get_attribute("data-masked") == str(n * (n - 1) // 2)
    assert "masked" in root.locator(".aw-matrix-title").text_content()
    # Masked cells are neutral grey (viridis has no grey), the diagonal is a real colour.
    for i, j in [(0, n - 1), (1, 2), (n - 2, n - 1)]:
        r, g, b, _ = _pixel(lab, root, i, j, n, n)
        assert r == g == b, (i, j, r, g, b)
    r, g, b, _ = _pixel(lab, root, 0, 0, n, n)
    assert not r == g == b
    tooltip = _hover_value(lab, root, 0, n - 1, n, n)
    assert tooltip.get_attribute("data-masked") == "true" and "masked" in tooltip.text_content()
    lab.page.mouse.move(0, 0)
    _shot(root, "causal_matrix.png")

    # Mean over the 3 layers: the page asks for every layer and shows their mean.
    select = root.locator("select.aw-layer-reduce")
    _redrawn(lab, root, lambda: select.select_option("mean"), layer_reduce="mean")
    assert "mean of 3 layers" in root.locator(".aw-matrix-title").text_content()
    mean = lab.run_json(1)
    assert mean["layer_reduce"] == "mean"
    for i, j in [(3, 1), (n - 1, 0), (2, 2)]:
        value = float(_hover_value(lab, root, i, j, n, n).get_attribute("data-value"))
        assert abs(value - mean["mean"][i][j]) <= 1e-6, (i, j, value)
    lab.page.mouse.move(0, 0)
    _shot(root, "causal_mean_over_layers.png")
    # The head view of a causal model works unchanged (lines only to earlier tokens).
    _redrawn(lab, root, lambda: root.locator('.aw-view-btn[data-view="head"]').click(), view="head")
    assert int(root.get_attribute("data-lines")) > 0


SEQ2SEQ_SETUP = BPE_SETUP + (
    "from transformers import BartConfig, BartModel\n"
    "cfg = BartConfig(vocab_size=len(tok), d_model=32, encoder_layers=2, decoder_layers=3, encoder_attention_heads=4,\n"
    "                 decoder_attention_heads=2, encoder_ffn_dim=37, decoder_ffn_dim=37, max_position_embeddings=64,\n"
    "                 pad_token_id=0, bos_token_id=0, eos_token_id=0, decoder_start_token_id=0)\n"
    "model = BartModel(cfg).eval()\n"
    "w = AttentionWidget(model, tok, 'The cat sat.', 'She sees it.')\nw"
)


def test_encoder_decoder_kinds(lab):
    lab.open(
        "seq2seq.ipynb",
        [
            SEQ2SEQ_SETUP,
            "print(json.dumps({'kind': w.attention_kind, 'tokens': w.tokens, 'dec': w.decoder_tokens,"
            " 'layers': w.num_layers, 'heads': w.num_heads, 'cross': w.result.cross_attention[w.layer, w.head].tolist()}))",
        ],
    )
    lab.run(0)
    root = lab.widget(0)
    state = lab.run_json(1)
    enc, dec = state["tokens"], state["dec"]
    kind = root.locator("select.aw-kind")
    assert kind.is_visible()
    assert root.get_attribute("data-kind") == "encoder"
    assert not root.locator("select.aw-pair-filter").is_visible()

    _redrawn(lab, root, lambda: kind.select_option("cross"), kind="cross")
    assert _texts(lab, root, ".aw-view-head .aw-query") == [prettify(t) for t in dec]
    assert _texts(lab, root, ".aw-view-head .aw-key") == [prettify(t) for t in enc]
    assert root.get_attribute("data-ntokens") == str(len(dec)) and root.get_attribute("data-ncols") == str(len(enc))
    state = lab.run_json(1)
    assert state["kind"] == "cross" and (state["layers"], state["heads"]) == (3, 2)
    lab.page.wait_for_function("el => el.max === '2'", arg=root.locator("input.aw-layer").element_handle())  # 3 decoder layers
    _shot(root, "cross_head.png")

    _redrawn(lab, root, lambda: root.locator('.aw-view-btn[data-view="matrix"]').click(), view="matrix")
    rows, cols = len(dec), len(enc)
    assert root.locator(".aw-matrix-rows .aw-token").count() == rows
    assert root.locator(".aw-matrix-cols .aw-token").count() == cols
    canvas = lab.canvas_pixels(root, ".aw-matrix-canvas")
    assert canvas["width"] != canvas["height"]  # rectangular
    for i, j in [(0, 0), (rows - 1, cols - 1), (1, cols - 2)]:
        value = float(_hover_value(lab, root, i, j, rows, cols).get_attribute("data-value"))
        assert abs(value - state["cross"][i][j]) <= 1e-6
    lab.page.mouse.move(0, 0)
    _shot(root, "cross_matrix.png")

    _redrawn(lab, root, lambda: kind.select_option("decoder"), kind="decoder")
    assert root.locator(".aw-view-matrix").get_attribute("data-masked") == str(rows * (rows - 1) // 2)
    _shot(root, "decoder_matrix.png")


ODD = [
    "[CLS]",
    "",
    " ",
    "\U0001f600",
    "\u05e9\u05dc\u05d5\u05dd",
    "\u0645\u0631\u062d\u0628\u0627",
    '<img src=x onerror="window.__pwned=1">',
    "<b>bold</b>",
    "&amp;",
    "\u202eevil",
    "\t",
    "[SEP]",
]


def test_odd_tokens_are_drawn_literally(lab):
    lab.open(
        "odd.ipynb",
        [
            IMPORTS + "rng = np.random.default_rng(0)\nx = rng.normal(size=(2, 2, 12, 12))\n"
            "att = np.exp(x) / np.exp(x).sum(-1, keepdims=True)\n"
            f"w = AttentionWidget.from_attention(att, tokens={ODD!r}, sentence_b_start=6)\nw",
        ],
    )
    lab.run(0)
    root = lab.widget(0)
    expected = [prettify(t) for t in ODD]
    assert _texts(lab, root, ".aw-view-head .aw-query") == expected
    assert "\u05e9\u05dc\u05d5\u05dd" in expected and "<b>bold</b>" in expected
    assert root.locator("img, b, svg, script").count() == 0
    assert lab.page.evaluate("() => typeof window.__pwned") == "undefined"

    _redrawn(lab, root, lambda: root.locator("input.aw-word-level").check(), word_level="true")
    _redrawn(lab, root, lambda: root.locator("input.aw-hide-special").check(), hide_special="true")
    shown = _texts(lab, root, ".aw-view-head .aw-query")
    assert "[CLS]" not in shown and "[SEP]" not in shown and "<b>bold</b>" in shown
    _redrawn(lab, root, lambda: root.locator("select.aw-pair-filter").select_option("ba"), pair_filter="ba")
    assert "<b>bold</b>" in _texts(lab, root, ".aw-view-head .aw-query")
    _redrawn(lab, root, lambda: root.locator("input.aw-search").fill("\U0001f600"), matches="1")
    assert root.locator(".aw-token-match").count() == 1
    _redrawn(lab, root, lambda: root.locator('.aw-view-btn[data-view="matrix"]').click(), view="matrix")
    assert root.locator("img, b, svg, script").count() == 0
    assert lab.page.evaluate("() => typeof window.__pwned") == "undefined"
    _shot(root, "odd_tokens_matrix.png")
    assert lab.page_errors == []
