"""Figures for papers (albert_widget.export.figures): what is drawn, what is written, and that the
bytes are the same every time. Most tests use a small synthetic attention (fast); a few use real
captures (tiny ALBERT, packaged MiniLM)."""

from __future__ import annotations

import io
import itertools
import struct
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from matplotlib.collections import QuadMesh

from albert_widget import AttentionResult, capture
from albert_widget.export import figure, prettify_token, save_figure
from albert_widget.export import figures as F

SVG_NS = "{http://www.w3.org/2000/svg}"
TOKENS = ["[CLS]", "\u2581the", "\u2581cat", "\u2581sat", "##ing", "\u0120on", "\u2581mat", "[SEP]"]
SHOWN = ["[CLS]", "the", "cat", "sat", "ing", "on", "mat", "[SEP]"]


def synthetic(layers=3, heads=4, n=8, seed=0):
    """Row-stochastic attention [L, H, N, N] with one clear maximum per matrix."""
    rng = np.random.default_rng(seed)
    a = rng.random((layers, heads, n, n)).astype(np.float32) ** 4
    a /= a.sum(-1, keepdims=True)
    return a


@pytest.fixture(scope="module")
def result():
    return AttentionResult.from_attention(synthetic(), TOKENS, sentence_b_start=5)


def svg_root(data: bytes):
    return ET.fromstring(data)


def svg_texts(root) -> list[str]:
    return ["".join(el.itertext()) for el in root.iter(f"{SVG_NS}text")]


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def write_twice(tmp_path, source, ext, **kw):
    a, b = tmp_path / f"a.{ext}", tmp_path / f"b.{ext}"
    na = save_figure(source, a, **kw)
    nb = save_figure(source, b, **kw)
    data = a.read_bytes()
    assert na == len(data) == nb
    assert data == b.read_bytes(), f"{ext} bytes differ between two identical calls"
    return data


# --- SVG -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("view", F.VIEWS)
def test_svg_parses_shows_tokens_and_is_deterministic(tmp_path, result, view):
    data = write_twice(tmp_path, result, "svg", view=view, layer=1, head=2)
    root = svg_root(data)
    texts = svg_texts(root)
    if view != "model":  # the model view has no token labels, only layer/head numbers
        for token in SHOWN:
            assert token in texts, f"{token!r} not drawn as text in the {view} view"
        assert "\u2581the" not in "".join(texts)
    assert b"<dc:date>" not in data and b"Matplotlib v" not in data


def test_svg_raw_tokens_when_not_prettified(tmp_path, result):
    save_figure(result, tmp_path / "raw.svg", prettify_tokens=False)
    texts = svg_texts(svg_root((tmp_path / "raw.svg").read_bytes()))
    assert "\u2581the" in texts and "##ing" in texts and "\u0120on" in texts


# --- PDF -------------------------------------------------------------------------------------------


def _fonts(reader):
    out = []
    for page in reader.pages:
        fonts = page["/Resources"].get("/Font", {})
        for ref in fonts.values():
            font = ref.get_object()
            descriptors = []
            if "/FontDescriptor" in font:
                descriptors.append(font["/FontDescriptor"].get_object())
            for desc in font.get("/DescendantFonts", []):
                d = desc.get_object()
                if "/FontDescriptor" in d:
                    descriptors.append(d["/FontDescriptor"].get_object())
            out.append((font["/Subtype"], descriptors))
    return out


@pytest.mark.parametrize(("view", "width", "inches"), [("matrix", "single", 3.3), ("head", "double", 6.9), ("model", 5.0, 5.0)])
def test_pdf_one_page_width_fonts_embedded_deterministic(tmp_path, result, view, width, inches):
    pypdf = pytest.importorskip("pypdf")
    data = write_twice(tmp_path, result, "pdf", view=view, width=width, layer=2, head=3)
    reader = pypdf.PdfReader(io.BytesIO(data))
    assert len(reader.pages) == 1
    box = reader.pages[0].mediabox
    assert float(box.width) == pytest.approx(inches * 72, abs=0.05)
    fonts = _fonts(reader)
    assert fonts, "no fonts in the PDF"
    for subtype, descriptors in fonts:
        assert subtype != "/Type3", "Type 3 fonts: pdf.fonttype 42 was not applied"
        assert descriptors and all("/FontFile2" in d for d in descriptors), "TrueType font file not embedded"
    assert b"/CreationDate" not in data and b"/Producer" not in data and b"/Creator" not in data
    if view == "matrix":
        text = reader.pages[0].extract_text()
        for token in ("cat", "mat", "attention weight", "Layer 2, head 3"):
            assert token in text


# --- PNG -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("width", "dpi", "expected"), [("single", 100, 330), ("double", 150, 1035), (4.0, 72, 288)])
def test_png_has_requested_pixel_width(tmp_path, result, width, dpi, expected):
    save_figure(result, tmp_path / "f.png", width=width, dpi=dpi)
    w, h = png_size((tmp_path / "f.png").read_bytes())
    assert w == expected
    fig = figure(result, width=width, dpi=dpi)
    assert h == round(fig.get_size_inches()[1] * dpi)


def _cell_pixel(fig, ax, i, j, n, height_px, dpi):
    """Pixel (row, col) of the centre of cell (i, j) of an n x n heatmap drawn in ``ax``."""
    box = ax.get_position()
    W, H = fig.get_size_inches()
    x = (box.x0 + (j + 0.5) / n * box.width) * W * dpi
    y = (box.y1 - (i + 0.5) / n * box.height) * H * dpi
    return int(height_px - y), int(x)


@pytest.mark.parametrize("cmap", ["viridis", "cividis"])
def test_png_pixels_are_the_colour_map(tmp_path, cmap):
    import matplotlib
    import matplotlib.image as mpimg

    n = 8
    m = np.full((n, n), 0.02, dtype=np.float32)
    m[5, 2] = 0.9  # the maximum -> top colour
    m[1, 6] = 0.0  # the minimum -> bottom colour
    tokens = [f"t{i}" for i in range(n)]
    dpi = 100
    save_figure(m, tmp_path / "m.png", tokens=tokens, cmap=cmap, dpi=dpi)
    pixels = mpimg.imread(tmp_path / "m.png")[..., :3]
    fig = figure(m, tokens=tokens, cmap=cmap, dpi=dpi)
    ax = next(a for a in fig.axes if a.get_label() == "matrix")
    colours = matplotlib.colormaps[cmap]
    for (i, j), value in (((5, 2), 1.0), ((1, 6), 0.0)):
        r, c = _cell_pixel(fig, ax, i, j, n, pixels.shape[0], dpi)
        assert np.allclose(pixels[r, c], colours(value)[:3], atol=2 / 255), (i, j, pixels[r, c])


# --- what the views draw ---------------------------------------------------------------------------


def test_matrix_view_draws_the_head_and_its_reductions(result):
    fig = figure(result, layer=1, head=3)
    ax = next(a for a in fig.axes if a.get_label() == "matrix")
    np.testing.assert_array_equal(ax.images[0].get_array(), result.attention[1, 3])
    assert [t.get_text() for t in ax.get_xticklabels()] == SHOWN
    assert fig.axes[1].get_label() == "colorbar" and fig.axes[1].get_ylabel() == "attention weight"
    # sentence pair: a boundary line before sentence B on both axes
    assert len(ax.lines) == 2
    mean = figure(result, layer=1, head_reduce="mean").axes[0].images[0].get_array()
    np.testing.assert_allclose(mean, result.attention[1].mean(0), rtol=1e-6)
    peak = figure(result, layer=1, heads=[0, 2], head_reduce="max").axes[0].images[0].get_array()
    np.testing.assert_allclose(peak, result.attention[1, [0, 2]].max(0))


def test_head_view_draws_one_line_per_weight_above_threshold(result):
    from matplotlib.collections import LineCollection

    threshold = 0.1
    fig = figure(result, view="head", layer=2, heads=[0, 3], threshold=threshold)
    ax = fig.axes[0]
    collections = [c for c in ax.collections if isinstance(c, LineCollection)]
    assert [c.get_label() for c in collections] == ["head 0", "head 3"]
    for c, h in zip(collections, (0, 3)):
        m = result.attention[2, h]
        expected = int((m >= threshold).sum())
        assert len(c.get_segments()) == expected > 0
        # each line's opacity is its weight, strongest drawn last
        alphas = c.get_colors()[:, 3]
        np.testing.assert_allclose(np.sort(alphas), np.sort(m[m >= threshold]), rtol=1e-6)
        assert alphas[-1] == pytest.approx(m.max(), rel=1e-6)
        seg = c.get_segments()[-1]
        i, j = np.unravel_index(np.argmax(m), m.shape)
        assert (seg[0][1], seg[1][1]) == (i, j)  # from query i (left) to key j (right)
    colours = [tuple(c.get_colors()[0, :3]) for c in collections]
    assert colours[0] != colours[1]
    assert len(fig.legends) == 1  # several heads: a legend says which colour is which
    # threshold 0 draws every visible weight
    everything = figure(result, view="head", layer=2, head=1).axes[0].collections[0]
    assert len(everything.get_segments()) == int((result.attention[2, 1] >= F.MIN_LINE_WEIGHT).sum())


def mosaic_of(ax):
    """The model view's [rows, columns] grid, drawn as vector quads (short inputs) or as one image."""
    drawn = ax.images[0] if ax.images else next(c for c in ax.collections if isinstance(c, QuadMesh))
    return np.ma.filled(np.ma.asarray(drawn.get_array()).astype(float), np.nan)


def test_model_view_grid_of_every_layer_and_head_with_outline(result):
    L, H, n = result.attention.shape[:3]
    fig = figure(result, view="model", layer=1, head=2)
    ax = next(a for a in fig.axes if a.get_label() == "model")
    mosaic = mosaic_of(ax)
    assert not ax.images  # vector quads, one per cell
    gap = (mosaic.shape[1] - H * n) // (H - 1)
    assert mosaic.shape == (L * n + (L - 1) * gap, H * n + (H - 1) * gap)
    blocks = 0
    for layer in range(L):
        for head in range(H):
            y, x = layer * (n + gap), head * (n + gap)
            np.testing.assert_allclose(mosaic[y : y + n, x : x + n], result.attention[layer, head], rtol=1e-6)
            blocks += 1
    assert blocks == L * H and np.isnan(mosaic).sum() == mosaic.size - L * H * n * n
    outline = [p for p in ax.patches if p.get_label() == "selected"]
    assert len(outline) == 1
    assert outline[0].get_xy() == (2 * (n + gap) - 0.5, 1 * (n + gap) - 0.5)
    # subsets of layers and heads
    sub = figure(result, view="model", layers=[0, 2], heads=[1, 3], layer=0, head=0)
    grid = mosaic_of(sub.axes[0])
    assert grid.shape[0] == 2 * n + gap and not [p for p in sub.axes[0].patches if p.get_label() == "selected"]


def test_model_view_block_averages_long_inputs():
    a = synthetic(layers=2, heads=2, n=300)
    fig = figure(a, tokens=[f"t{i}" for i in range(300)], view="model", dpi=100)
    mosaic = mosaic_of(fig.axes[0])
    assert mosaic.shape[0] < 2 * 300  # downsampled
    block = F._downsample(a[0, 0], 100)
    assert block.shape == (100, 100)
    assert block.mean() == pytest.approx(a[0, 0].mean(), rel=1e-5)


def test_albert_capture_figure_shows_words(tmp_path, tiny_albert):
    model, tokenizer = tiny_albert
    r = capture(model, tokenizer, "The cat sat on the mat.", "It was tired.")
    assert any(t.startswith("\u2581") for t in r.tokens)
    save_figure(r, tmp_path / "albert.svg", view="head", layer=3, heads=[0, 1, 2, 3])
    texts = svg_texts(svg_root((tmp_path / "albert.svg").read_bytes()))
    assert "the" in texts and "[CLS]" in texts and not any("\u2581" in t for t in texts)
    fig = figure(r, view="model", layer=3, head=1)
    assert "share 1 set of weights" in fig.texts[-1].get_text()


def _overlaps(boxes) -> int:
    count = 0
    for a, b in itertools.pairwise(boxes):
        if a.overlaps(b):
            count += 1
    return count


@pytest.mark.parametrize("n", [22, 150])
def test_labels_never_overlap(n):
    tokens = [f"\u2581word{i}" for i in range(n)]
    a = synthetic(layers=1, heads=2, n=n)
    fig = figure(a, tokens=tokens)
    renderer = fig.canvas.get_renderer() if hasattr(fig.canvas, "get_renderer") else None
    if renderer is None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw_without_rendering()
    ax = fig.axes[0]
    for labels in (ax.get_xticklabels(), ax.get_yticklabels()):
        boxes = [t.get_window_extent(renderer) for t in labels if t.get_text()]
        assert boxes and _overlaps(boxes) == 0
        if n > 100:
            assert len(boxes) < n  # thinned, not crammed
    for box in [t.get_window_extent(renderer) for t in ax.get_xticklabels() + ax.get_yticklabels()]:
        assert box.x0 >= -0.5 and box.y0 >= -0.5  # inside the figure
    head = figure(a, tokens=tokens, view="head")
    head.draw_without_rendering()
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    r2 = FigureCanvasAgg(head).get_renderer()
    left = [t.get_window_extent(r2) for t in head.axes[0].texts if t.get_ha() == "right"]
    assert left and _overlaps(sorted(left, key=lambda b: b.y0)) == 0
    assert head.get_size_inches()[1] <= F.MAX_HEIGHT_IN + 0.01


def test_minilm_pair_matrix(tmp_path, minilm):
    model, tokenizer = minilm
    r = capture(model, tokenizer, "The cat sat on the mat because it was tired.", "It had chased a mouse.")
    data = write_twice(tmp_path, r, "svg", layer=3, head=5)
    texts = svg_texts(svg_root(data))
    assert "Layer 3, head 5" in texts and "chased" in texts and "[SEP]" in texts


# --- untrusted token text --------------------------------------------------------------------------

HOSTILE = [
    "<script>alert(1)</script>",
    '"><svg onload=alert(1)>',
    "<img src=x onerror=alert(1)>",
    "]]>&amp;",
    "--><!--",
    "$x^2$",
    "\\input{/etc/passwd}",
    "a\x01b\x1b",
    "\u202eevil",
]


@pytest.mark.parametrize("view", ["matrix", "head"])
def test_hostile_tokens_are_escaped_in_svg(tmp_path, view):
    tokens = HOSTILE + ["[SEP]"]
    a = synthetic(layers=1, heads=1, n=len(tokens))
    save_figure(a, tmp_path / "h.svg", tokens=tokens, view=view, width="double", max_label_chars=40)
    data = (tmp_path / "h.svg").read_bytes()
    root = svg_root(data)  # parses as XML
    tags = {el.tag for el in root.iter()}
    assert not any(t.lower().endswith("script") or t.endswith(("img", "foreignObject")) for t in tags)
    assert sum(1 for el in root.iter() if el.tag == f"{SVG_NS}svg") == 1  # no injected <svg>
    for el in root.iter():
        assert not [k for k in el.attrib if k.lower().startswith("on")], el.attrib
    texts = svg_texts(root)
    for literal in HOSTILE[:7]:
        assert literal in texts, f"{literal!r} not shown literally"
    assert "a\\x01b\\x1b" in texts  # control characters shown as escapes (XML forbids them)
    assert "\\u202eevil" in texts  # a bidi override cannot reorder the label
    assert b"<script" not in data
    # shortened labels stay escaped too
    save_figure(a, tmp_path / "short.svg", tokens=tokens, view=view)
    short = svg_texts(svg_root((tmp_path / "short.svg").read_bytes()))
    assert any(t.startswith("<script>") and t.endswith("\u2026") for t in short)


def test_hostile_tokens_in_pdf_and_png(tmp_path):
    pypdf = pytest.importorskip("pypdf")
    tokens = HOSTILE + ["[SEP]"]
    a = synthetic(layers=1, heads=1, n=len(tokens))
    save_figure(a, tmp_path / "h.pdf", tokens=tokens)
    text = pypdf.PdfReader(tmp_path / "h.pdf").pages[0].extract_text()
    assert "$x^2$" in text  # not typeset as math
    save_figure(a, tmp_path / "h.png", tokens=tokens, dpi=50)
    assert png_size((tmp_path / "h.png").read_bytes())[0] == 165


def test_latex_escape_for_pgf():
    assert F.latex_escape("\\input{x} $1 & 50% #_^~") == (r"\textbackslash{}input\{x\} \$1 \& 50\% \#\_\textasciicircum{}\textasciitilde{}")


def test_pgf_without_latex_says_so(tmp_path, result):
    if F._latex_available():
        pytest.skip("LaTeX is installed here")
    with pytest.raises(RuntimeError, match="needs LaTeX"):
        save_figure(result, tmp_path / "f.pgf")
    assert not (tmp_path / "f.pgf").exists()


# --- inputs, tokens, state -------------------------------------------------------------------------


def test_prettify_token():
    assert prettify_token("\u2581the") == "the"
    assert prettify_token("\u0120the") == "the"
    assert prettify_token("##ing") == "ing"
    assert prettify_token("##") == "##"
    assert prettify_token("") == "\u2423"
    assert prettify_token("\u2581") == "\u2423"
    assert prettify_token("\u010a") == "\u23ce"
    assert prettify_token("a\tb") == "a\u21e5b"
    assert prettify_token("[CLS]") == "[CLS]"


def test_raw_attention_shapes(tmp_path):
    import torch

    a = synthetic(layers=2, heads=3, n=5)
    tokens = list("abcde")
    per_layer = tuple(torch.from_numpy(a[i][None]) for i in range(2))  # what outputs.attentions holds
    for source, layer, head in ((a, 1, 2), (per_layer, 1, 2), (a[1], 0, 2), (a[1, 2], 0, 0)):
        fig = figure(source, tokens=tokens, layer=layer, head=head)
        np.testing.assert_array_equal(fig.axes[0].images[0].get_array(), a[1, 2])
    fig = figure(a, tokens=tokens, sentence_b_start=3)
    assert len(fig.axes[0].lines) == 2


def test_tokens_override_on_a_result(result):
    names = [f"w{i}" for i in range(result.num_tokens)]
    fig = figure(result, tokens=names)
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == names


def test_no_pyplot_state_and_rc_restored(result):
    import matplotlib
    from matplotlib import _pylab_helpers

    before = dict(matplotlib.rcParams)
    managers = _pylab_helpers.Gcf.get_num_fig_managers()
    with matplotlib.rc_context({"lines.linewidth": 7.0, "axes.facecolor": "black"}):
        fig = figure(result, view="head")
        assert matplotlib.rcParams["lines.linewidth"] == 7.0
    assert fig.axes[0].get_facecolor()[:3] == (1.0, 1.0, 1.0)  # the user's style did not leak in
    assert _pylab_helpers.Gcf.get_num_fig_managers() == managers
    after = dict(matplotlib.rcParams)
    assert {k for k in before if before[k] != after[k]} == set()


def test_customised_figure_is_saved_deterministically(tmp_path, result):
    fig = figure(result, view="matrix", width="double", title="")
    fig.axes[0].set_title("my caption")
    data = write_twice(tmp_path, fig, "svg")
    assert "my caption" in svg_texts(svg_root(data))
    with pytest.raises(TypeError, match="only dpi and rc apply, not .'view'"):
        save_figure(fig, tmp_path / "x.svg", view="head")
    small = tmp_path / "small.png"
    save_figure(fig, small, dpi=50)
    assert png_size(small.read_bytes())[0] == 345


def test_rc_and_font_size_apply(result):
    fig = figure(result, font_size=9, rc={"font.family": "serif"}, title="T")
    label = fig.axes[0].get_xticklabels()[0]
    assert label.get_fontsize() == 9
    assert "serif" in label.get_fontfamily()
    assert fig.texts[0].get_text() == "T"
    assert figure(result, title="").texts == []


# --- errors ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(view="neuron"), "the neuron view.s figure needs the model"),
        (dict(view="explain"), "the explain view.s figure needs its method.s arrays .*AttentionWidget.save with view='explain'"),
        (dict(view="sideways"), "unknown view 'sideways': expected one of 'matrix', 'head', 'model'"),
        (dict(layer=3), r"layer 3 is out of range: the attention has 3 layers \(valid layer: 0 to 2\)"),
        (dict(layer=-1), "layer -1 is out of range"),
        (dict(head=4), r"head 4 is out of range: the attention has 4 heads \(valid head: 0 to 3\)"),
        (dict(heads=[0, 9]), "head 9 is out of range"),
        (dict(layer=True), "layer must be an int"),
        (dict(layer=1.0), "layer must be an int"),
        (dict(cmap="not_a_map"), "unknown colour map 'not_a_map'.*viridis"),
        (dict(cmap=42), "unknown colour map"),
        (dict(width="triple"), "unknown width 'triple': expected 'single'"),
        (dict(width=0.1), "width must be"),
        (dict(dpi=0), "dpi must be"),
        (dict(threshold=2), "threshold must be"),
        (dict(head_reduce="sum"), "unknown head_reduce 'sum': expected one of 'none', 'mean', 'max'"),
        (dict(font_size=100), "font_size"),
        (dict(head_colors=["nope"]), "head_colors"),
    ],
)
def test_bad_arguments_say_what_was_expected(tmp_path, result, kwargs, message):
    with pytest.raises(ValueError, match=message):
        save_figure(result, tmp_path / "f.svg", **kwargs)
    assert not (tmp_path / "f.svg").exists()


@pytest.mark.parametrize("name", ["f.jpg", "f", "f.svgz"])
def test_unknown_extension(tmp_path, result, name):
    with pytest.raises(ValueError, match=r"expected one of \.svg, \.pdf, \.png, \.pgf"):
        save_figure(result, tmp_path / name)


def test_format_overrides_extension(tmp_path, result):
    save_figure(result, tmp_path / "figure.out", format="png", dpi=40)
    assert png_size((tmp_path / "figure.out").read_bytes())[0] == 132


def test_raw_attention_needs_tokens(tmp_path):
    with pytest.raises(ValueError, match="raw attention needs tokens"):
        figure(synthetic())
    with pytest.raises(ValueError, match="must match"):
        figure(synthetic(n=8), tokens=["a", "b"])
    with pytest.raises(TypeError, match="unexpected keyword"):
        save_figure(synthetic(), tmp_path / "f.svg", tokens=TOKENS, colour="red")


def test_model_view_is_vector_for_short_inputs(tmp_path, result):
    save_figure(result, tmp_path / "model.svg", view="model")
    save_figure(result, tmp_path / "model.pdf", view="model")
    svg = (tmp_path / "model.svg").read_text()
    # every cell a path: no bitmap stretched over the thumbnails; the one image is the colour bar's gradient
    assert svg.count("<image") == 1
    assert (tmp_path / "model.pdf").read_bytes().count(b"/Subtype /Image") == 1
