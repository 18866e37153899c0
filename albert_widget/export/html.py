"""One self-contained HTML page that explores a capture offline, in any browser, from ``file://``.

The page holds, inline and nothing else:

- the widget's own front-end bundle (``static/standalone.js``: the same ``render()`` as in Jupyter plus
  an in-page stand-in for the widget model) and its CSS, as JSON; a tiny boot script imports the bundle
  from a Blob URL (a module file next to a ``file://`` page would be blocked) and renders it;
- the widget state (tokens, layer, head, view, ...) as JSON with ``<``, ``>`` and ``&`` escaped, so token
  text such as ``</script>`` can never end the element;
- the attention, one ``<script type="application/octet-stream">`` element per layer, as compact binary:
  the layer's little-endian values split into byte planes, zlib-compressed, one character per byte.

A Content-Security-Policy in the page allows only its own boot script (by hash) and the Blob module it
creates: no request can leave the page, and no injected markup could run.

Binary as text: the file is written in windows-1252, where every byte is one character, so a byte of
data costs one byte of file (base64 costs 4/3). The nine byte values the HTML parser would change or that
could end the element (NUL, CR, ``<``), the five that windows-1252 leaves undefined, and the escape byte
itself are written as ``~`` and a letter (about 3.5 % more). Everything else in the page is ASCII.
:func:`to_html` returns the same page as a ``str`` declaring UTF-8 (each data character then takes 1-3
bytes when encoded as UTF-8, and the page decodes it the same way); :func:`write_html` writes the compact
bytes.

Precision (``precision=``):

- ``"float16"`` (default): ``|x' - x| <= 2**-11 * |x|`` for ``|x| >= 2**-14`` and ``<= 2**-25`` below,
  so at most ``2**-11`` (about 4.9e-4) for attention weights in [0, 1];
- ``"float32"``: exact;
- ``"uint8"``: one scale per attention row (its maximum): ``|x' - x| <= max(row) / 510``.

Size: random-softmax attention of a 512-token, 12 x 12-head capture is about 64 MB with float16
(bertviz's ``head_view`` HTML of the same attention: about 1.7 GB); real attention compresses better.
"""

from __future__ import annotations

import base64
import hashlib
import html as html_lib
import json
import os
import zlib
from collections.abc import Sequence
from os import PathLike
from typing import Any

import numpy as np

from .. import state as page_state
from ..models import is_local_path, model_label
from ..names import REDUCTIONS, STATIC_VIEWS, VIEWS
from ..result import AttentionResult
from ..version import __version__

__all__ = [
    "PRECISIONS",
    "error_bound",
    "html_bytes",
    "read_html",
    "to_html",
    "write_html",
]

FORMAT = "albert_widget/html/1"
PRECISIONS = ("float16", "float32", "uint8")
ESCAPE = 0x7E  # "~"
# Bytes written as ESCAPE + chr(0x41 + k): NUL, CR, "<", the undefined windows-1252 bytes, ESCAPE.
ESCAPED = bytes([0x00, 0x0D, 0x3C, 0x81, 0x8D, 0x8F, 0x90, 0x9D, ESCAPE])
_WIDTH = {"float16": 2, "float32": 4, "uint8": 1}
_STATIC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "static")
_FLOAT16_MAX = 65504.0
#: ``info`` entries a page keeps from the state it is given: the model's own number of each layer and
#: head shown, when only some were included (bertviz's ``include_layers``/``include_heads``).
NUMBERING = ("layer_numbers", "head_numbers")

_ERROR_TEXT = {
    "float16": "float16: |error| <= 2^-11 x |value| (<= 4.9e-4 for weights in [0, 1]; <= 2^-25 below 2^-14)",
    "float32": "float32: exact",
    "uint8": "uint8 per row: |error| <= row maximum / 510",
}


#: The page's one plain sentence on how exact its numbers are (error_bound() gives the formula).
_PRECISION_NOTE = {
    "float16": "Attention weights are stored as float16, each within 0.05% of its exact value (within 3e-8 below 6e-5).",
    "float32": "Attention weights are stored exactly (float32).",
    "uint8": "Attention weights are stored as uint8, each within 1/510 of the largest weight in its row.",
}


def default_title(result: AttentionResult) -> str:
    """``"<model>: attention of N tokens"`` with the model's short name (never a local path; see
    :func:`~albert_widget.models.model_label`), or ``"Attention of N tokens"`` when no model is known."""
    name = model_label(result.info.name_or_path) or result.info.model_type
    n = result.num_tokens
    return f"{name}: attention of {n} tokens" if name else f"Attention of {n} tokens"


def _public_info(info: dict[str, Any]) -> dict[str, Any]:
    """The ``info`` state without this machine's paths: a local folder becomes the model's short name
    (a hub id stays whole), so a shared page does not reveal where the model lives."""
    name = info.get("name_or_path")
    if isinstance(name, str) and is_local_path(name):
        info = {**info, "name_or_path": model_label(name)}
    return info


def error_bound(precision: str = "float16") -> str:
    """The stated error bound of a precision, as the page shows it."""
    _check_precision(precision)
    return _ERROR_TEXT[precision]


def _check_precision(precision: str) -> None:
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(map(repr, PRECISIONS))}, got {precision!r}")


# ------------------------------------------------------------------------------------------------
# data
# ------------------------------------------------------------------------------------------------
def _escape(data: bytes) -> bytes:
    """Escape the bytes that may not appear raw (ESCAPE itself first, so it is never doubled)."""
    out = data.replace(bytes([ESCAPE]), bytes([ESCAPE, 0x41 + len(ESCAPED) - 1]))
    for k, b in enumerate(ESCAPED[:-1]):
        out = out.replace(bytes([b]), bytes([ESCAPE, 0x41 + k]))
    return out


def _unescape(data: bytes) -> bytes:
    parts = data.split(bytes([ESCAPE]))
    out = [parts[0]]
    for part in parts[1:]:
        if not part or not 0 <= part[0] - 0x41 < len(ESCAPED):
            raise ValueError("corrupt data: a bad escape")
        out.append(bytes([ESCAPED[part[0] - 0x41]]))
        out.append(part[1:])
    return b"".join(out)


def _planes(values: np.ndarray) -> list[bytes]:
    """Little-endian elements split into byte planes: [all first bytes, all second bytes, ...]."""
    flat = np.ascontiguousarray(values).reshape(-1)
    width = flat.dtype.itemsize
    if width == 1:
        return [flat.tobytes()]
    split = np.ascontiguousarray(flat.view(np.uint8).reshape(-1, width).T)
    return [split[k].tobytes() for k in range(width)]


def _unplanes(data: bytes, dtype: str) -> np.ndarray:
    width = np.dtype(dtype).itemsize
    raw = np.frombuffer(data, dtype=np.uint8)
    if width == 1:
        return raw.view(dtype)
    return np.ascontiguousarray(raw.reshape(width, -1).T).view(dtype).reshape(-1)


def _layer_planes(layer: np.ndarray, precision: str) -> list[bytes]:
    """One layer [H, N, N] as byte planes; uint8: the 4 planes of its float32 row scales, then the bytes."""
    if precision == "float16":
        return _planes(layer.astype("<f2"))
    if precision == "float32":
        return _planes(layer.astype("<f4"))
    rows = layer.reshape(-1, layer.shape[-1])
    scales = rows.max(axis=1).astype(np.float32)
    scales = np.where(scales > 0, scales, np.float32(1.0)).astype("<f4")
    q = np.rint(np.clip(rows / scales[:, None], 0.0, 1.0) * 255.0).astype(np.uint8)
    return _planes(scales) + [q.tobytes()]


def _pack(plane: bytes, compress: bool) -> tuple[str, bytes]:
    """The smallest of: the plane as it is, zlib Huffman-only (noise-like planes: mantissa bytes,
    exponent bytes of random-looking weights), zlib level 6 (planes with repeats: zeros, masks)."""
    if not compress or len(plane) < 64:
        return "none", plane
    huffman = zlib.compressobj(6, zlib.DEFLATED, 15, 9, zlib.Z_HUFFMAN_ONLY)
    best = ("deflate", huffman.compress(plane) + huffman.flush())
    if len(best[1]) < 0.98 * len(plane):  # worth looking for repeats too
        full = zlib.compress(plane, 6)
        if len(full) < len(best[1]):
            best = ("deflate", full)
    return best if len(best[1]) < len(plane) else ("none", plane)


def _encode_layers(attention: np.ndarray, precision: str, compress: bool) -> tuple[list[bytes], list[list[list[Any]]]]:
    """The escaped element bytes of every layer and its chunk table [[method, bytes], ...]."""
    texts, tables = [], []
    for layer in attention:
        chunks = [_pack(p, compress) for p in _layer_planes(np.asarray(layer, dtype=np.float32), precision)]
        tables.append([[method, len(payload)] for method, payload in chunks])
        texts.append(_escape(b"".join(payload for _, payload in chunks)))
    return texts, tables


def _check_values(attention: np.ndarray, precision: str) -> None:
    if not np.isfinite(attention).all():
        raise ValueError("the attention holds NaN or infinite values; they cannot be exported")
    if precision == "float16" and attention.size and float(np.abs(attention).max()) > _FLOAT16_MAX:
        raise ValueError("values beyond float16's range (65504): use precision='float32'")
    if precision == "uint8" and attention.size and float(attention.min()) < 0:
        raise ValueError("precision='uint8' needs non-negative values (attention weights): use 'float16'")


# ------------------------------------------------------------------------------------------------
# state
# ------------------------------------------------------------------------------------------------
def _index(value: Any, size: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if not 0 <= int(value) < size:
        raise ValueError(f"{name} must be between 0 and {size - 1}, got {value}")
    return int(value)


def _state(result: AttentionResult, state: dict[str, Any] | None, overrides: dict[str, Any]) -> dict[str, Any]:
    """The page's starting traits: ``state`` (a widget's :meth:`~AttentionWidget.widget_state`, or the
    defaults) with ``overrides`` (the keyword arguments given), checked, and marked static."""
    view_choices = {**(state or {}), **{k: v for k, v in overrides.items() if v is not None}}
    out = page_state.page_state(result, view_choices, editable=False)
    if state and isinstance(state.get("notice"), str):
        out["notice"] = state["notice"]
    if out["view"] not in STATIC_VIEWS:
        raise ValueError(f"view must be one of {', '.join(map(repr, STATIC_VIEWS))} in an HTML export, got {out['view']!r}")
    if out["head_reduce"] not in REDUCTIONS:
        raise ValueError(f"head_reduce must be one of {', '.join(map(repr, REDUCTIONS))}, got {out['head_reduce']!r}")
    threshold = float(out["threshold"])
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be between 0 and 1, got {threshold}")
    out["threshold"] = threshold
    out["layer"] = _index(out["layer"], out["num_layers"], "layer")
    out["head"] = _index(out["head"], out["num_heads"], "head")
    out["heads"] = sorted({_index(h, out["num_heads"], "heads entry") for h in (out["heads"] or ())})
    # no model in the page: the text boxes are disabled and views that need Python are hidden
    out["info"] = _public_info(out["info"])
    given_info = (state or {}).get("info")
    if isinstance(given_info, dict):  # the model's own layer/head numbers (bertviz's include_layers/heads)
        out["info"].update({k: given_info[k] for k in NUMBERING if isinstance(given_info.get(k), list)})
    out["info"].update(static=True, unavailable_views=[v for v in VIEWS if v not in STATIC_VIEWS])
    return out


def _json_for_script(value: Any) -> bytes:
    """JSON safe inside a <script> element and ASCII only: ``<``, ``>`` and ``&`` as \\u escapes."""
    text = json.dumps(value, ensure_ascii=True, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026").encode("ascii")


def _text(value: Any) -> str:
    """Escaped HTML text, ASCII only (character references for the rest)."""
    return html_lib.escape(str(value), quote=True).encode("ascii", "xmlcharrefreplace").decode("ascii")


# ------------------------------------------------------------------------------------------------
# the page
# ------------------------------------------------------------------------------------------------
# The boot script finds its own page by id (pages can be embedded several to a document, e.g. as
# notebook outputs), imports the bundle from a Blob URL and renders. "__PAGE__" is the page's id.
BOOT = """\
const page = [...document.querySelectorAll('.aw-page[data-aw-page="__PAGE__"]')].find((p) => !p.hasAttribute("data-aw-booted"));
if (page) {
  page.setAttribute("data-aw-booted", "");
  try {
    const app = JSON.parse(page.querySelector('script[data-aw="app"]').textContent);
    const url = URL.createObjectURL(new Blob([app.js], { type: "text/javascript" }));
    try {
      const bundle = await import(url);
      bundle.boot({ doc: document, el: page.querySelector(".aw-page-widget"), scope: page, css: app.css });
    } finally {
      URL.revokeObjectURL(url);
    }
  } catch (err) {
    const box = page.querySelector(".aw-page-error");
    box.textContent = "This page could not start: " + (err && err.message ? err.message : String(err));
    box.hidden = false;
  }
}
"""

# Scoped to the page's own wrapper: embedded in a notebook, it must not restyle the notebook.
PAGE_CSS = """\
.aw-page { padding: 4px 8px; background: #ffffff; color: rgba(0, 0, 0, 0.87); color-scheme: light;
  font: 13px system-ui, -apple-system, "Segoe UI", sans-serif; }
.aw-page .aw-page-header h1 { font-size: 16px; font-weight: 600; margin: 0 0 2px 0; }
.aw-page .aw-page-header p { margin: 0 0 8px 0; color: rgba(0, 0, 0, 0.6); font-size: 12px; }
.aw-page .aw-page-error { color: #b00020; border: 1px solid #b00020; padding: 6px 8px; border-radius: 3px; margin: 8px 0; }
"""


def _read_static(name: str) -> str:
    path = os.path.join(_STATIC, name)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} is missing: the front end is not built (cd js && npm install && npm run build)")
    with open(path, encoding="utf-8") as f:
        return f.read()


def html_bytes(
    result: AttentionResult,
    *,
    state: dict[str, Any] | None = None,
    layer: int | None = None,
    head: int | None = None,
    heads: Sequence[int] | None = None,
    view: str | None = None,
    head_reduce: str | None = None,
    threshold: float | None = None,
    precision: str = "float16",
    compress: bool = True,
    title: str | None = None,
    traits: dict[str, Any] | None = None,
    charset: str = "windows-1252",
) -> bytes:
    """The page as bytes in ``charset`` (``"windows-1252"``: compact; see the module docstring)."""
    if not isinstance(result, AttentionResult):
        raise TypeError(f"expected an AttentionResult, got {type(result).__name__}")
    _check_precision(precision)
    if charset not in ("windows-1252", "utf-8"):
        raise ValueError("charset must be 'windows-1252' or 'utf-8'")
    overrides = dict(layer=layer, head=head, heads=heads, view=view, head_reduce=head_reduce, threshold=threshold)
    state = _state(result, {**(traits or {}), **(state or {})}, overrides)
    attention = result.attention
    kinds = list(getattr(result, "kinds", ("encoder",)))
    arrays = {kind: (attention if kind == "encoder" else result.attention_of(kind)) for kind in kinds}
    for array in arrays.values():
        _check_values(array, precision)
    L, H, N, _ = attention.shape
    meta = {
        "format": FORMAT,
        "dtype": precision,
        "shape": [int(L), int(H), int(N), int(N)],
        "layout": "byte-planes",
        "escape": ESCAPE,
        "escaped": list(ESCAPED),
        "error_bound": error_bound(precision),
    }
    encoded = {kind: _encode_layers(array, precision, compress) for kind, array in arrays.items()}
    _layers, chunks = encoded["encoder"]
    # other attention kinds (BART/T5 decoder and cross attention): their own shapes and chunks
    meta["kinds"] = {kind: {"shape": [int(d) for d in arrays[kind].shape], "chunks": encoded[kind][1]} for kind in kinds}
    app = {"js": _read_static("standalone.js"), "css": _read_static("widget.css")}
    state_json = _json_for_script(state)
    meta["chunks"] = chunks  # per layer: [[method ("deflate" | "none"), bytes], ...], one per plane
    meta_json = _json_for_script(meta)
    page_id = hashlib.sha256(state_json + meta_json).hexdigest()[:16]
    boot = BOOT.replace("__PAGE__", page_id)
    boot_hash = base64.b64encode(hashlib.sha256(boot.encode("ascii")).digest()).decode("ascii")
    csp = (
        f"default-src 'none'; script-src 'sha256-{boot_hash}' blob:; style-src 'unsafe-inline'; "
        "img-src blob: data:; base-uri 'none'; form-action 'none'"
    )
    page_title = title if title is not None else default_title(result)
    data_bytes = sum(len(b) for texts, _ in encoded.values() for b in texts)
    summary = (
        f"{L} layers x {H} heads x {N} tokens. Static page: sliders, heads, views and hover work offline; "
        f"the model cannot run on new text here. {_PRECISION_NOTE[precision]} "
        f"Data: {data_bytes:,} bytes, made by albert_widget {__version__}."
    )

    head_part = (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n'
        f'<meta charset="{charset}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">\n'
        f'<meta name="generator" content="albert_widget {_text(__version__)}">\n'
        f"<title>{_text(page_title)}</title>\n"
        f"<style>\n{PAGE_CSS}</style>\n"
        "</head>\n<body>\n"
        f'<div class="aw-page" data-aw-page="{page_id}">\n'
        '<header class="aw-page-header">\n'
        f"<h1>{_text(page_title)}</h1>\n"
        f"<p>{_text(summary)}</p>\n"
        "</header>\n"
        "<noscript>This page needs JavaScript to draw the attention.</noscript>\n"
        '<div class="aw-page-error" role="alert" hidden></div>\n'
        '<main class="aw-page-widget"></main>\n'
    ).encode("ascii")
    parts = [head_part]
    parts.append(b'<script type="application/json" data-aw="state">' + state_json + b"</script>\n")
    parts.append(b'<script type="application/json" data-aw="data">' + meta_json + b"</script>\n")
    for kind, (texts, _) in encoded.items():
        for index, data in enumerate(texts):
            if charset == "utf-8":
                data = data.decode("cp1252").encode("utf-8")
            name = str(index) if kind == "encoder" else f"{kind}:{index}"
            parts.append(f'<script type="application/octet-stream" data-aw-layer="{name}">'.encode("ascii") + data + b"</script>\n")
    parts.append(b'<script type="application/json" data-aw="app">' + _json_for_script(app) + b"</script>\n")
    parts.append(b'<script type="module">' + boot.encode("ascii") + b"</script>\n</div>\n</body>\n</html>\n")
    return b"".join(parts)


def to_html(result: AttentionResult, **options: Any) -> str:
    """The page as a ``str`` (declaring UTF-8; write it as UTF-8). Options as :func:`write_html`."""
    options.pop("charset", None)
    return html_bytes(result, charset="utf-8", **options).decode("utf-8")


def write_html(result: AttentionResult, path: str | PathLike[str], **options: Any) -> int:
    """Write the page to ``path`` (compact windows-1252 bytes) and return the bytes written.

    Options: ``layer``, ``head``, ``heads``, ``view`` (``"head"``, ``"matrix"`` or ``"model"``),
    ``head_reduce``, ``threshold`` (what the page shows first), ``precision`` (``"float16"``,
    ``"float32"``, ``"uint8"``), ``compress`` (zlib per byte plane where it helps, default True), ``title``.
    """
    data = html_bytes(result, **options)
    tmp = f"{os.fspath(path)}.part"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
    return len(data)


# ------------------------------------------------------------------------------------------------
# reading a page back (tests; recovering the data of a page)
# ------------------------------------------------------------------------------------------------
def _elements(raw: bytes, opening: bytes) -> list[tuple[bytes, bytes]]:
    """(attribute value, text) of every ``<script ... data-aw...="VALUE">TEXT</script>`` whose opening
    tag starts with ``opening`` (text never holds "<": the writer escapes it)."""
    out = []
    start = raw.find(opening)
    while start >= 0:
        value_end = raw.index(b'">', start + len(opening))
        text_end = raw.index(b"</script>", value_end)
        out.append((raw[start + len(opening) : value_end], raw[value_end + 2 : text_end]))
        start = raw.find(opening, text_end)
    return out


def read_html(source: str | bytes | PathLike[str], kind: str = "encoder") -> tuple[dict[str, Any], dict[str, Any], np.ndarray]:
    """``(state, meta, attention)`` of a page written by :func:`write_html` (a path or its bytes) or
    :func:`to_html` (its ``str``); ``attention`` is the float32 ``[L, H, N, M]`` attention of ``kind``
    (``"encoder"``; ``"decoder"``/``"cross"`` for BART/T5) as the page decodes it."""
    if isinstance(source, str) and source.lstrip().startswith("<!DOCTYPE"):
        raw = source.encode("utf-8")
        utf8 = True
    else:
        if isinstance(source, (bytes, bytearray)):
            raw = bytes(source)
        else:
            with open(source, "rb") as f:
                raw = f.read()
        utf8 = b'<meta charset="utf-8">' in raw[:1024]
    blocks = {
        k.decode(): json.loads(v) for k, v in _elements(raw, b'<script type="application/json" data-aw="') if k in (b"state", b"data")
    }
    state, meta = blocks["state"], blocks["data"]
    if meta.get("format") != FORMAT:
        raise ValueError(f"not an albert_widget page (format {meta.get('format')!r})")
    of_kind = meta.get("kinds", {}).get(kind) or ({"shape": meta["shape"], "chunks": meta["chunks"]} if kind == "encoder" else None)
    if of_kind is None:
        raise ValueError(f"the page has no {kind!r} attention")
    L, H, N, M = of_kind["shape"]
    dtype = meta["dtype"]
    layers: dict[int, np.ndarray] = {}
    for name, data in _elements(raw, b'<script type="application/octet-stream" data-aw-layer="'):
        prefix, _, number = name.decode("ascii").rpartition(":")
        if (prefix or "encoder") != kind:
            continue
        index = int(number)
        if utf8:
            data = data.decode("utf-8").encode("cp1252")
        data = _unescape(data)
        planes, offset = [], 0
        for method, size in of_kind["chunks"][index]:
            chunk = data[offset : offset + size]
            offset += size
            planes.append(zlib.decompress(chunk) if method == "deflate" else chunk)
        if offset != len(data):
            raise ValueError(f"layer {index} holds {len(data)} bytes, its chunks {offset}")
        data = b"".join(planes)
        if dtype == "uint8":
            rows = H * N
            scales = _unplanes(data[: rows * 4], "<f4")
            q = np.frombuffer(data[rows * 4 :], dtype=np.uint8).reshape(rows, M).astype(np.float32)
            values = (q / np.float32(255.0)) * scales[:, None]
        else:
            values = _unplanes(data, "<f2" if dtype == "float16" else "<f4").astype(np.float32)
        layers[index] = values.reshape(H, N, M)
    if sorted(layers) != list(range(L)):
        raise ValueError(f"the page holds layers {sorted(layers)}, expected 0..{L - 1}")
    return state, meta, np.stack([layers[i] for i in range(L)])
