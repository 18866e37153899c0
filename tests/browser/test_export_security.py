"""Untrusted token text through every way out of the widget, in a real Chromium: the widget in
JupyterLab, the page's SVG/PNG downloads, and the standalone HTML export opened from file:// with every
network request blocked and counted. Nothing may execute; the text must show literally; the static page
must stay interactive."""

from __future__ import annotations

import json
import struct
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np

from albert_widget import AttentionResult
from albert_widget.export.html import read_html, to_html, write_html

from .aw_browser import ARTIFACTS, prettify

HOSTILE = [
    '<img src=x onerror="window.__pwned=1">',
    "</script><script>window.__pwned=1</script>",
    '"><svg onload="window.__pwned=1">',
]
TOKENS = ["[CLS]", "\u2581the", *HOSTILE, "\u2581cat", "##s", "</s>", "[SEP]"]
SVG = "{http://www.w3.org/2000/svg}"
FORBIDDEN_ELEMENTS = {"script", "foreignObject", "iframe", "object", "embed", "a", "image", "use", "animate", "set", "handler"}
LOCAL_SCHEMES = ("file:", "blob:", "data:")
TIMEOUT = 60.0


def softmax(L: int, H: int, N: int, seed: int = 0) -> np.ndarray:
    z = np.random.default_rng(seed).standard_normal((L, H, N, N), dtype=np.float32) * 2
    a = np.exp(z - z.max(-1, keepdims=True))
    return a / a.sum(-1, keepdims=True)


def pwned(page: Any) -> Any:
    return page.evaluate("() => window.__pwned")


def wait_attr(el: Any, name: str, check, timeout: float = TIMEOUT) -> str:
    """Poll el's data-<name> (no page-side waiting function: the static page's CSP forbids eval)."""
    predicate = (lambda v: v == check) if isinstance(check, str) else check
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = el.get_attribute(f"data-{name}")
        if value is not None and predicate(value):
            return value
        time.sleep(0.025)
    raise AssertionError(f"data-{name} is {value!r} after {timeout:.0f} s; expected {check!r}")


def pixels(root: Any, selector: str) -> dict[str, Any]:
    return root.locator(selector).first.evaluate(
        """c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                  let painted = 0, hash = 2166136261;
                  for (let i = 0; i < d.length; i++) { hash ^= d[i]; hash = Math.imul(hash, 16777619) >>> 0; }
                  for (let i = 3; i < d.length; i += 4) if (d[i] > 0) painted++;
                  return { painted, digest: hash.toString(16), width: c.width, height: c.height }; }"""
    )


def check_svg(text: str, tokens: list[str]) -> ET.Element:
    """The SVG parses as XML, holds nothing that runs or loads, and shows every token literally."""
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    root = ET.fromstring(text.encode("utf-8"))
    assert root.tag == SVG + "svg"
    for el in root.iter():
        local = el.tag.split("}")[-1]
        assert local not in FORBIDDEN_ELEMENTS, f"<{local}> in the SVG"
        for name, value in el.attrib.items():
            local_attr = name.split("}")[-1].lower()
            assert not local_attr.startswith("on"), f"event attribute {name}"
            assert "href" not in local_attr, f"link attribute {name}"
            assert "javascript:" not in value.lower()
    titles = [t.text or "" for t in root.iter(SVG + "title")]
    labels = ["".join(t.itertext()) for t in root.iter(SVG + "text")]
    for i, token in enumerate(tokens):
        # each label's tooltip holds the raw token exactly; the label shows its display text
        assert f"{i}: {json.dumps(token, ensure_ascii=False)}" in titles, token
        shown = prettify(token)
        assert any(shown[:12] in label for label in labels), shown
    return root


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", data[16:24])


# ---------------------------------------------------------------------------------------------
# (a) + (b): the widget in JupyterLab and its SVG / PNG downloads
# ---------------------------------------------------------------------------------------------
def test_hostile_tokens_in_jupyterlab_and_in_the_downloads(lab, browser, tmp_path):
    setup = (
        "import json, numpy as np\n"
        "from albert_widget import AttentionWidget\n"
        f"tokens = {TOKENS!r}\n"
        "rng = np.random.default_rng(0)\n"
        "z = rng.standard_normal((3, 4, len(tokens), len(tokens))).astype('float32') * 2\n"
        "a = np.exp(z); a /= a.sum(-1, keepdims=True)\n"
        "w = AttentionWidget.from_attention(a, tokens, sentence_b_start=6)\n"
        "w"
    )
    lab.open("hostile.ipynb", [setup])
    lab.run(0)
    root = lab.widget(0)
    page = lab.page
    assert pwned(page) is None
    assert lab.token_texts(root, ".aw-view-head .aw-query") == [prettify(t) for t in TOKENS]
    assert lab.token_texts(root, ".aw-view-head .aw-key") == [prettify(t) for t in TOKENS]
    assert root.locator("img, svg, script, iframe").count() == 0  # token text never became markup

    # SVG button: a download of exactly what is drawn
    svg_button = root.locator(".aw-save-svg")
    assert svg_button.is_enabled()
    with page.expect_download() as info:
        svg_button.click()
    download = info.value
    assert download.suggested_filename.endswith(".svg") and "head" in download.suggested_filename
    svg_text = Path(download.path()).read_text(encoding="utf-8")
    assert svg_text == root.evaluate("r => r.awExportSvg()")
    tree = check_svg(svg_text, TOKENS)
    moves = sum(p.get("d", "").count("M") for p in tree.iter(SVG + "path"))
    assert moves == int(root.get_attribute("data-lines")) > 0  # every line the canvas drew
    assert all(p.get("stroke-opacity") for p in tree.iter(SVG + "path"))
    width, height = float(tree.get("width")), float(tree.get("height"))

    # PNG button: that SVG rasterised at twice the size
    with page.expect_download() as info:
        root.locator(".aw-save-png").click()
    png = Path(info.value.path()).read_bytes()
    assert png_size(png) == (round(width * 2), round(height * 2))
    wait_attr(root, "saved", lambda v: v.startswith("png "))

    # the matrix view's SVG: cells as rects, labels as text, still inert
    drawn = lab.drawn(root)
    root.locator('.aw-view-btn[data-view="matrix"]').click()
    lab.wait_attr(root, "drawn", lambda v: int(v) > drawn)
    lab.wait_attr(root, "view", "matrix")
    with page.expect_download() as info:
        root.locator(".aw-save-svg").click()
    matrix_svg = Path(info.value.path()).read_text(encoding="utf-8")
    mtree = check_svg(matrix_svg, TOKENS)
    assert len(list(mtree.iter(SVG + "rect"))) >= len(TOKENS)

    # opening the downloaded SVGs as documents (offline, in their own context) runs nothing either
    off = Offline(browser)
    try:
        for name, text in (("head.svg", svg_text), ("matrix.svg", matrix_svg)):
            path = tmp_path / name
            path.write_text(text, encoding="utf-8")
            off.page.goto(path.as_uri())
            off.page.wait_for_timeout(200)
            assert pwned(off.page) is None
            assert off.page.evaluate("() => document.documentElement.localName") == "svg"
            assert off.page.evaluate("() => document.querySelectorAll('text').length") >= 2 * len(TOKENS)
        assert off.blocked == [] and off.errors == []
    finally:
        off.close()
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "export-head.svg").write_text(svg_text, encoding="utf-8")
    (ARTIFACTS / "export-matrix.svg").write_text(matrix_svg, encoding="utf-8")
    (ARTIFACTS / "export-head.png").write_bytes(png)


# ---------------------------------------------------------------------------------------------
# (c): the standalone HTML page, offline
# ---------------------------------------------------------------------------------------------
class Offline:
    """A browser context where only file:, blob: and data: URLs load; everything else is aborted and
    counted, and every request the page makes is recorded."""

    def __init__(self, browser: Any) -> None:
        self.context = browser.new_context(viewport={"width": 1280, "height": 1000}, device_scale_factor=1)
        self.blocked: list[str] = []
        self.requests: list[str] = []
        self.errors: list[str] = []

        def route(r: Any) -> None:
            if r.request.url.startswith(LOCAL_SCHEMES):
                r.continue_()
            else:
                self.blocked.append(r.request.url)
                r.abort()

        self.context.route("**/*", route)
        self.page = self.context.new_page()
        self.page.on("request", lambda req: self.requests.append(req.url))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))

    def open(self, path: Path) -> Any:
        self.page.goto(path.as_uri(), timeout=120_000)
        root = self.page.locator(".aw-root")
        root.wait_for(state="visible", timeout=TIMEOUT * 1000)
        wait_attr(root, "state", "ready")
        return root

    def assert_offline(self, path: Path) -> None:
        assert self.blocked == [], f"the page tried to reach the network: {self.blocked}"
        others = [u for u in self.requests if not u.startswith("blob:") and u != path.as_uri()]
        assert others == [], f"the page loaded more than itself: {others}"

    def close(self) -> None:
        self.context.close()


def test_static_page_offline_inert_and_interactive(browser, tmp_path):
    L, H = 4, 3
    attention = softmax(L, H, len(TOKENS), 3)
    result = AttentionResult.from_attention(attention, TOKENS, sentence_b_start=6)
    path = tmp_path / "export.html"
    size = write_html(result, path)
    print(f"\nstandalone page: {size:,} bytes for {L}x{H} heads x {len(TOKENS)} tokens")
    off = Offline(browser)
    try:
        page = off.page
        root = off.open(path)
        assert pwned(page) is None
        assert list(root.locator(".aw-view-head .aw-query").all_text_contents()) == [prettify(t) for t in TOKENS]
        assert root.locator(".aw-view-head .aw-query").nth(2).get_attribute("title") == f"2: {json.dumps(TOKENS[2])}"
        assert page.locator("img, svg, iframe").count() == 0
        assert page.locator("script").count() == 2 + L + 2  # only the page's own elements
        assert root.locator(".aw-text").is_disabled()
        assert root.locator('.aw-view-btn[data-view="neuron"]').is_hidden()

        # a slider step redraws: data-drawn increments and the canvas pixels change
        before = pixels(root, ".aw-head-canvas")
        drawn = int(root.get_attribute("data-drawn"))
        assert before["painted"] > 200
        slider = root.locator("input.aw-layer")
        slider.focus()
        slider.press("ArrowRight")
        wait_attr(root, "layer", "1")
        wait_attr(root, "drawn", lambda v: int(v) > drawn)
        after = pixels(root, ".aw-head-canvas")
        assert after["digest"] != before["digest"]

        # hover a query token: only its row of lines
        root.locator(".aw-view-head .aw-query").nth(1).hover()
        wait_attr(root, "lines", str(len(TOKENS)))

        # the page decodes exactly what Python reads back, within float16 of the capture
        _, _, back = read_html(path)
        for layer in range(L):
            decoded = np.array(
                root.evaluate(f"r => r.parentElement.awStandalone.readLayer({layer}).then(a => Array.from(a))"), dtype=np.float32
            )
            assert np.array_equal(decoded.reshape(H, len(TOKENS), len(TOKENS)), back[layer])
        assert np.abs(back - attention).max() <= 2.0**-11

        # matrix view: the tooltip's value is the captured weight (float16)
        drawn = int(root.get_attribute("data-drawn"))
        root.locator('.aw-view-btn[data-view="matrix"]').click()
        wait_attr(root, "view", "matrix")
        wait_attr(root, "drawn", lambda v: int(v) > drawn)
        canvas = root.locator(".aw-matrix-canvas")
        box = canvas.bounding_box()
        n = len(TOKENS)
        i, j = 4, 2
        page.mouse.move(box["x"] + (j + 0.5) * box["width"] / n, box["y"] + (i + 0.5) * box["height"] / n)
        tip = root.locator(".aw-tooltip")
        wait_attr(tip, "query", str(i))
        assert tip.get_attribute("data-key") == str(j)
        assert abs(float(tip.get_attribute("data-value")) - attention[1, 0, i, j]) <= 2.0**-11
        assert TOKENS[i] in tip.text_content() or prettify(TOKENS[i]) in tip.text_content()
        assert pwned(page) is None

        # the SVG of the static page is as inert as the widget's
        check_svg(root.evaluate("r => r.awExportSvg()"), TOKENS)

        # model view: thumbnails block-averaged in the page from the inlined data
        drawn = int(root.get_attribute("data-drawn"))
        root.locator('.aw-view-btn[data-view="model"]').click()
        wait_attr(root, "view", "model")
        wait_attr(root, "state", "ready")
        assert pixels(root, ".aw-model-canvas")["painted"] > 100

        # render's cleanup removes every listener; rendering again works
        host = page.locator(".aw-page-widget")
        assert host.evaluate("h => { h.awStandalone.cleanup(); return h.awStandalone.model.listenerCount(); }") == 0
        assert page.locator(".aw-root").count() == 0
        host.evaluate("h => { h.awStandalone.render(); }")
        root = page.locator(".aw-root")
        wait_attr(root, "state", "ready")
        assert root.get_attribute("data-view") == "model"

        root.locator('.aw-view-btn[data-view="head"]').click()
        wait_attr(root, "view", "head")
        wait_attr(root, "state", "ready")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "standalone.png"), full_page=True)
        assert pwned(page) is None
        off.assert_offline(path)
        assert off.errors == [], off.errors
    finally:
        off.close()


def test_static_page_written_as_utf8_str_works_too(browser, tmp_path):
    attention = softmax(2, 2, len(TOKENS), 4)
    result = AttentionResult.from_attention(attention, TOKENS)
    path = tmp_path / "from_str.html"
    path.write_text(to_html(result, view="matrix", precision="uint8"), encoding="utf-8")
    off = Offline(browser)
    try:
        root = off.open(path)
        assert root.get_attribute("data-view") == "matrix"
        assert pwned(off.page) is None
        decoded = np.array(root.evaluate("r => r.parentElement.awStandalone.readLayer(1).then(a => Array.from(a))"), dtype=np.float32)
        row_max = attention[1].max(-1, keepdims=True)
        assert (np.abs(decoded.reshape(attention[1].shape) - attention[1]) <= row_max / 510 + 1e-6).all()
        off.assert_offline(path)
        assert off.errors == [], off.errors
    finally:
        off.close()


def test_static_page_of_an_encoder_decoder_switches_kinds(browser, tmp_path):
    import dataclasses

    from albert_widget import ModelInfo

    enc_tokens = ["<s>", *HOSTILE, "</s>"]
    dec_tokens = ["</s>", "\u0120d0", "\u0120d1", "\u0120d2"]
    n, m = len(enc_tokens), len(dec_tokens)
    enc = AttentionResult.from_attention(softmax(2, 2, n, 1), enc_tokens)
    dec = softmax(2, 2, m, 2) * np.tril(np.ones((m, m), dtype=np.float32))
    dec /= dec.sum(-1, keepdims=True)
    cross = softmax(2, 2, n, 3)[:, :, :m, :]
    cross = cross / cross.sum(-1, keepdims=True)
    result = dataclasses.replace(
        enc,
        info=ModelInfo(model_type="bart", num_layers=2, num_heads=2, is_encoder_decoder=True),
        decoder_tokens=tuple(dec_tokens),
        decoder_attention=dec,
        cross_attention=np.ascontiguousarray(cross),
        decoder_special_tokens_mask=np.array([True, False, False, False]),
    )
    path = tmp_path / "bart.html"
    write_html(result, path, view="matrix")
    off = Offline(browser)
    try:
        root = off.open(path)
        kind = root.locator("select.aw-kind")
        for name, rows, cols in (("cross", m, n), ("decoder", m, m), ("encoder", n, n)):
            drawn = int(root.get_attribute("data-drawn"))
            kind.select_option(name)
            wait_attr(root, "kind", name)
            wait_attr(root, "drawn", lambda v: int(v) > drawn)
            wait_attr(root, "state", "ready")
            assert root.get_attribute("data-ntokens") == str(rows)
            assert root.get_attribute("data-ncols") == str(cols)
        assert pwned(off.page) is None
        off.assert_offline(path)
        assert off.errors == [], off.errors
    finally:
        off.close()


def test_two_pages_embedded_in_one_document_each_render_their_own(browser, tmp_path):
    """As html_action='return' outputs in a notebook: two pages' bodies in one document (their CSP
    metas dropped: a CSP in the body does not apply, and the notebook has its own)."""
    bodies = []
    for k, tokens in enumerate((["[CLS]", "\u2581first", "[SEP]"], ["[CLS]", "\u2581second", "\u2581page", "[SEP]"])):
        page = to_html(AttentionResult.from_attention(softmax(2, 2, len(tokens), k), tokens), view=("head", "matrix")[k])
        bodies.append(page[page.index('<div class="aw-page"') : page.rindex("</body>")])
        style = page[page.index("<style>") : page.index("</style>") + 8]
    path = tmp_path / "two.html"
    path.write_text(
        f'<!DOCTYPE html><html><head><meta charset="utf-8">{style}</head><body>{"".join(bodies)}</body></html>', encoding="utf-8"
    )
    off = Offline(browser)
    try:
        off.page.goto(path.as_uri())
        roots = off.page.locator(".aw-root")
        deadline = time.monotonic() + TIMEOUT
        while roots.count() < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert roots.count() == 2
        for k, (view, n) in enumerate((("head", "3"), ("matrix", "4"))):
            wait_attr(roots.nth(k), "state", "ready")
            assert roots.nth(k).get_attribute("data-view") == view
            assert roots.nth(k).get_attribute("data-ntokens") == n
        off.assert_offline(path)
        assert off.errors == [], off.errors
    finally:
        off.close()


def test_512_token_albert_base_page_opens_offline(browser, tmp_path):
    """The size-bound case (12 x 12 heads x 512 tokens, ~60 MB) loads from file:// and a slider step
    redraws. Matrix view: the head view's 262k lines are slow to rasterise in software Chromium."""
    tokens = ["[CLS]"] + [f"\u2581t{i}" for i in range(510)] + ["[SEP]"]
    attention = softmax(12, 12, 512, 9)
    path = tmp_path / "big.html"
    size = write_html(AttentionResult.from_attention(attention, tokens), path, view="matrix")
    off = Offline(browser)
    try:
        t0 = time.monotonic()
        root = off.open(path)
        print(f"\n512 tokens: {size:,} bytes, ready in {time.monotonic() - t0:.1f} s")
        drawn = int(root.get_attribute("data-drawn"))
        before = pixels(root, ".aw-matrix-canvas")
        slider = root.locator("input.aw-layer")
        slider.focus()
        slider.press("ArrowRight")
        wait_attr(root, "layer", "1")
        wait_attr(root, "drawn", lambda v: int(v) > drawn)
        assert pixels(root, ".aw-matrix-canvas")["digest"] != before["digest"]
        off.assert_offline(path)
        assert off.errors == [], off.errors
    finally:
        off.close()
