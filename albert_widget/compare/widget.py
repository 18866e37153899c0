"""CompareWidget: two captures side by side, their difference and the matching of their heads.

Traits the page syncs and a table of request handlers (:mod:`albert_widget.compare.contract`),
nothing else: alignment is :mod:`albert_widget.compare.align`, divergences
:mod:`albert_widget.analysis.compare`.
"""

from __future__ import annotations

import pathlib
from typing import Any

import anywidget
import numpy as np
import traitlets as t

from ..analysis.compare import best_matches, head_divergence
from ..capture import capture
from ..models import model_label
from ..names import DISPLAY_MODES
from ..protocol import RequestQueue
from ..result import AttentionResult
from ..transport import encode_array
from ..widget import _PROCESS_TOKEN, _WIDGET_COUNT, AttentionWidget, Choice, _check_index, _input, _synced
from .align import Alignment, align, aligned_attention, slot_matrix
from .contract import COMPARE_REQUESTS, SIDES

__all__ = ["COMPARE_VIEWS", "SIDE_VIEWS", "CompareWidget"]

_STATIC = pathlib.Path(__file__).resolve().parent.parent / "static"
#: The compare page's views: both sides side by side, their difference, the head-matching grid.
COMPARE_VIEWS = ("side", "difference", "match")
#: How each side is drawn in the side-by-side view.
SIDE_VIEWS = ("matrix", "head")


def _label(result: AttentionResult) -> str:
    """``"<model's short name>: <text>"``: the name as titles and exported pages write it
    (:func:`~albert_widget.models.model_label`), never a local folder."""
    name = model_label(result.info.name_or_path) or result.info.model_type or "attention"
    text = result.text if result.text is not None else " ".join(result.tokens)
    return f"{name}: {text}"


class CompareWidget(anywidget.AnyWidget):
    """Compare two captures: ``CompareWidget(left, right)``, each an :class:`AttentionWidget` (followed
    when its text changes) or an :class:`AttentionResult`: two models on one text, or one model on two.

    Views (``view``): ``"side"`` (each side's head or matrix view; layer and head move together while
    ``sync`` is on, which needs the same number of layers and heads), ``"difference"`` (Δ = right − left
    on the aligned tokens or words, rows renormalised over the aligned keys) and ``"match"`` (for every
    head of the left side, the closest head of the right one by Jensen-Shannon divergence).
    ``alignment`` says how the sides were aligned (:mod:`albert_widget.compare.align`).
    """

    _esm = _STATIC / "compare.js"
    _css = _STATIC / "compare.css"

    # -- the two captures (read-only) ---------------------------------------------------------------
    left_label = _input(t.Unicode(""), "Model and text of the left side.")
    right_label = _input(t.Unicode(""), "Model and text of the right side.")
    left_tokens = _input(t.List(), "list[str]: the left side's tokens, raw.")
    right_tokens = _input(t.List(), "list[str]: the right side's tokens, raw.")
    left_special = _input(t.List(), "list[bool]: special-token mask of the left side.")
    right_special = _input(t.List(), "list[bool]: special-token mask of the right side.")
    left_shape = _input(t.List(), "[layers, heads] of the left side.")
    right_shape = _input(t.List(), "[layers, heads] of the right side.")
    alignment = _input(
        t.Dict(),
        "How the sides align: level ('token' or 'word'), note, slots (side both/left/right, unit, left and "
        "right text), left_units and right_units (each token's aligned unit, -1 on one side only).",
    )
    revision = _input(t.Int(0), "Bumped whenever either side changes; the page drops data of older revisions.")
    error = _synced(t.Unicode(""), "Shown in the widget when the last request failed; '' when fine.")

    # -- what the user chooses ----------------------------------------------------------------------
    view = _synced(Choice(COMPARE_VIEWS, "difference"), "'side' (side by side), 'difference' (Δ = right − left), 'match' (head matching).")
    side_view = _synced(Choice(SIDE_VIEWS, "matrix"), "Side-by-side view of each side: 'matrix' or 'head'.")
    left_layer = _synced(t.Int(0), "Layer shown on the left (0-based).")
    left_head = _synced(t.Int(0), "Head shown on the left (0-based).")
    right_layer = _synced(t.Int(0), "Layer shown on the right (0-based).")
    right_head = _synced(t.Int(0), "Head shown on the right (0-based).")
    sync = _synced(t.Bool(False), "Layer and head move together on both sides (only when both have the same layers and heads).")
    display_mode = _synced(Choice(DISPLAY_MODES, "auto"), "'auto' (JupyterLab's theme), 'light' or 'dark'.")
    _widget_id = t.Unicode(help="Identifies this widget to the page.").tag(sync=True)

    def __init__(self, left: Any, right: Any, *, view: str = "difference", **kwargs: Any) -> None:
        self._sources = (self._checked(left, "left"), self._checked(right, "right"))
        self._divergence: np.ndarray | None = None
        self._alignment: Alignment | None = None
        super().__init__(**kwargs)
        self._requests = RequestQueue(
            self._handlers(),
            lambda content, buffers: self.send(content, buffers),
            lambda: self.revision,
            self._on_failure,
            contract=COMPARE_REQUESTS,
        )
        self.on_msg(self._on_page_message)
        for source in self._sources:
            if isinstance(source, AttentionWidget):
                source.observe(self._on_source, "revision")
        with self.hold_sync():
            self._refresh()
            self.sync = self.left_shape == self.right_shape
            self.view = view

    @t.default("_widget_id")
    def _new_widget_id(self) -> str:
        return f"{_PROCESS_TOKEN}-compare-{next(_WIDGET_COUNT)}"

    # -- constructors --------------------------------------------------------------------------------
    @classmethod
    def from_models(
        cls, model_a: Any, tokenizer_a: Any, model_b: Any, tokenizer_b: Any, text: str, text_b: str | None = None, **kwargs: Any
    ) -> CompareWidget:
        """Two models on one text (or on ``text`` and ``text_b``): captured once each."""
        left = capture(model_a, tokenizer_a, text)
        right = capture(model_b, tokenizer_b, text if text_b is None else text_b)
        return cls(left, right, **kwargs)

    # -- the data -------------------------------------------------------------------------------------
    @staticmethod
    def _checked(source: Any, name: str) -> Any:
        if isinstance(source, (AttentionWidget, AttentionResult)):
            return source
        raise TypeError(f"{name} must be an AttentionWidget or an AttentionResult, got {type(source).__name__}")

    @property
    def results(self) -> tuple[AttentionResult, AttentionResult]:
        """The two captures compared now (left, right)."""
        out = []
        for source in self._sources:
            result = source.result if isinstance(source, AttentionWidget) else source
            if result is None:
                raise ValueError("an AttentionWidget compared has no attention yet: give it a text first")
            out.append(result)
        return out[0], out[1]

    @property
    def aligned(self) -> Alignment:
        """The alignment of the two sides (:class:`~albert_widget.compare.align.Alignment`)."""
        assert self._alignment is not None
        return self._alignment

    def divergence(self) -> np.ndarray:
        """float64 ``[La, Ha, Lb, Hb]``: :func:`albert_widget.analysis.head_divergence` of the two
        sides (computed once per revision)."""
        if self._divergence is None:
            left, right = self.results
            self._divergence = head_divergence(left, right, self.aligned)
        return self._divergence

    def difference(
        self, left_layer: int | None = None, left_head: int | None = None, right_layer: int | None = None, right_head: int | None = None
    ) -> dict[str, np.ndarray]:
        """Δ = right − left of one head of each side (default: the ones shown), float32 ``[S, S]``
        over the slots of :attr:`aligned` (NaN for a word on one side only): ``{"delta", "left", "right"}``."""
        left, right = self.results
        al = self.aligned
        ll = self.left_layer if left_layer is None else _check_index(left_layer, left.num_layers, "left_layer")
        lh = self.left_head if left_head is None else _check_index(left_head, left.num_heads, "left_head")
        rl = self.right_layer if right_layer is None else _check_index(right_layer, right.num_layers, "right_layer")
        rh = self.right_head if right_head is None else _check_index(right_head, right.num_heads, "right_head")
        a = aligned_attention(left.attention[ll, lh], al.left_units, al.num_units)
        b = aligned_attention(right.attention[rl, rh], al.right_units, al.num_units)
        slots = al.slot_units
        return {"delta": slot_matrix(b - a, slots), "left": slot_matrix(a, slots), "right": slot_matrix(b, slots)}

    def save(self, path: str, *, view: str | None = None, **kwargs: Any) -> int:
        """Write the difference view (``view="difference"``, the default unless the page shows the
        matching grid) or the head-matching grid (``"match"``) as ``.svg``, ``.pdf`` or ``.png``;
        keywords go to :func:`albert_widget.compare.figures.save_compare_figure`. Returns bytes written."""
        from .figures import save_compare_figure

        chosen = view or ("match" if self.view == "match" else "difference")
        return save_compare_figure(self, path, view=chosen, **kwargs)

    def to_html(self, path: str | pathlib.Path | None = None, *, title: str | None = None) -> str | int:
        """One offline HTML page with the difference (of the heads shown) and both head-matching grids
        as vector SVG (:func:`albert_widget.compare.figures.compare_html`). ``path=None`` returns the
        page; otherwise it is written there (UTF-8) and the number of bytes is returned."""
        from .figures import compare_html

        page = compare_html(self, title=title)
        if path is None:
            return page
        data = page.encode("utf-8")
        pathlib.Path(path).write_bytes(data)
        return len(data)

    # -- keeping up with the sides --------------------------------------------------------------------
    def _on_source(self, _change: Any) -> None:
        self._refresh()

    def _refresh(self) -> None:
        left, right = self.results
        self._alignment = align(left, right)
        self._divergence = None
        with self.hold_sync():
            for side, result in zip(SIDES, (left, right)):
                self.set_trait(f"{side}_label", _label(result))
                self.set_trait(f"{side}_tokens", list(result.tokens))
                self.set_trait(f"{side}_special", [bool(s) for s in result.special_tokens_mask])
                self.set_trait(f"{side}_shape", [result.num_layers, result.num_heads])
                self.set_trait(f"{side}_layer", min(getattr(self, f"{side}_layer"), result.num_layers - 1))
                self.set_trait(f"{side}_head", min(getattr(self, f"{side}_head"), result.num_heads - 1))
            self.set_trait("alignment", self._alignment.to_dict())
            if self.left_shape != self.right_shape:
                self.sync = False
            self.set_trait("revision", self.revision + 1)

    # -- validation and sync --------------------------------------------------------------------------
    @t.validate("left_layer", "left_head", "right_layer", "right_head")
    def _validate_index(self, proposal: Any) -> int:
        name = proposal["trait"].name
        side, what = name.split("_")
        shape = getattr(self, f"{side}_shape") or [1, 1]
        return _check_index(proposal["value"], shape[0] if what == "layer" else shape[1], name)

    @t.validate("sync")
    def _validate_sync(self, proposal: Any) -> bool:
        if proposal["value"] and self.left_shape != self.right_shape:
            raise ValueError(f"sync needs the same layers and heads on both sides; left has {self.left_shape}, right {self.right_shape}")
        return bool(proposal["value"])

    @t.observe("left_layer", "left_head", "right_layer", "right_head", "sync")
    def _on_index(self, change: Any) -> None:
        if not self.sync:
            return
        if change["name"] == "sync":  # turning sync on: the right side follows the left
            self.right_layer, self.right_head = self.left_layer, self.left_head
            return
        side, what = change["name"].split("_")
        other = "right" if side == "left" else "left"
        setattr(self, f"{other}_{what}", change["new"])

    # -- requests from the page -----------------------------------------------------------------------
    def _handlers(self) -> dict[str, Any]:
        def side(f: dict[str, Any]) -> tuple[dict[str, Any], list[Any]]:
            if f["side"] not in SIDES:
                raise ValueError(f"side must be 'left' or 'right', got {f['side']!r}")
            result = self.results[SIDES.index(f["side"])]
            layer = _check_index(f["layer"], result.num_layers, "layer")
            head = _check_index(f["head"], result.num_heads, "head")
            meta, buffer = encode_array(result.attention[layer, head])
            return {"side": f["side"], "layer": layer, "head": head, **meta}, [buffer]

        def difference(f: dict[str, Any]) -> tuple[dict[str, Any], list[Any]]:
            parts = self.difference(f["left_layer"], f["left_head"], f["right_layer"], f["right_head"])
            finite = parts["delta"][np.isfinite(parts["delta"])]
            encoded = [encode_array(parts[k]) for k in ("delta", "left", "right")]
            reply = {"shape": encoded[0][0]["shape"], "dtype": "float32", "max_abs": float(np.abs(finite).max()) if finite.size else 0.0}
            return reply, [buffer for _, buffer in encoded]

        def matching(_f: dict[str, Any]) -> tuple[dict[str, Any], list[Any]]:
            d = self.divergence()
            left_best, left_value = best_matches(d)
            right_best, right_value = best_matches(d.transpose(2, 3, 0, 1))
            buffers = [encode_array(d)[1]]
            for array in (left_best, right_best):
                buffers.append(memoryview(np.ascontiguousarray(array, dtype="<i4").reshape(-1).view(np.uint8)))
            la, ha, lb, hb = d.shape
            same = np.einsum("ijij->ij", d).ravel().tolist() if (la, ha) == (lb, hb) else None
            return {
                "shape": list(d.shape),
                "dtype": "float32",
                "max": float(np.log(2)),
                "same_head": same,
                "left_value": left_value.ravel().tolist(),
                "right_value": right_value.ravel().tolist(),
            }, buffers

        return {"side": side, "difference": difference, "matching": matching}

    def _on_page_message(self, _widget: Any, content: Any, buffers: Any) -> None:
        self._requests.submit(content, buffers)

    def _on_failure(self, _kind: str | None, message: str) -> None:
        self.error = message

    def close(self) -> None:
        """Close the widget and stop following the AttentionWidgets it compares."""
        for source in getattr(self, "_sources", ()):  # () when __init__ refused its arguments
            if isinstance(source, AttentionWidget):
                source.unobserve(self._on_source, "revision")
        self._divergence = None
        super().close()

    def __repr__(self) -> str:
        return f"CompareWidget({self.left_label!r}, {self.right_label!r}, view={self.view!r}, level={self.aligned.level!r})"
