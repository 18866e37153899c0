"""AttentionWidget: the traits the page syncs and the messages it answers. Nothing else.

The page draws only what it has; it asks for attention layer by layer with
``{"type": "request", "revision", "layers"}`` and Python answers with binary buffers
(see :mod:`albert_widget.transport` and ``docs/DESIGN.md``).
"""

from __future__ import annotations

import contextlib
import pathlib
from typing import Any, Iterator, Sequence

import anywidget
import numpy as np
import traitlets as t

from .capture import capture, validate_text
from .models import DEFAULT_TEXT, load_default_model, load_pretrained
from .result import AttentionResult
from .transport import message_bytes, reply_to_request
from .encodings import reply_to_row
from .neuron import NeuronSource
from .thumbnails import reply_to_thumbnails
from .explain import EXPLAIN_METHODS, ExplainSource

__all__ = ["AttentionWidget"]

_STATIC = pathlib.Path(__file__).parent / "static"
VIEWS = ("head", "matrix", "model", "neuron", "explain")
HEAD_REDUCTIONS = ("none", "mean", "max")
PAIR_FILTERS = ("all", "aa", "ab", "ba", "bb")  # rows (queries) of one sentence -> columns (keys) of the other
LAYER_REDUCTIONS = ("none", "mean", "max")
ATTENTION_KINDS = ("encoder", "decoder", "cross")


class AttentionWidget(anywidget.AnyWidget):
    """Explore every layer's and head's attention of a model, live in Jupyter.

    ``AttentionWidget(model, tokenizer, text, text_pair=None)`` runs the model on ``text`` and shows
    its attention; setting ``widget.text`` (or typing in the widget) runs it again.
    ``widget.attention`` is the float32 ``[layers, heads, N, N]`` array shown; ``widget.result`` the
    whole :class:`~albert_widget.result.AttentionResult`.
    """

    _esm = _STATIC / "widget.js"
    _css = _STATIC / "widget.css"

    text = t.Unicode("").tag(sync=True)
    text_pair = t.Unicode(None, allow_none=True).tag(sync=True)
    tokens = t.List(t.Unicode(), read_only=False).tag(sync=True)
    segments = t.List(t.Int()).tag(sync=True)
    special = t.List(t.Bool()).tag(sync=True)
    num_layers = t.Int(0).tag(sync=True)
    num_heads = t.Int(0).tag(sync=True)
    layer = t.Int(0).tag(sync=True)
    head = t.Int(0).tag(sync=True)
    heads = t.List(t.Int()).tag(sync=True)
    head_reduce = t.Unicode("none").tag(sync=True)
    view = t.Unicode("head").tag(sync=True)
    threshold = t.Float(0.0).tag(sync=True)
    revision = t.Int(0).tag(sync=True)
    info = t.Dict().tag(sync=True)
    error = t.Unicode("").tag(sync=True)
    notice = t.Unicode("").tag(sync=True)
    # Explorer: sentence-pair filter, word level, mean/max over layers, token controls, and the
    # attention kind of encoder-decoder models (decoder_tokens: the decoder's input tokens).
    pair_filter = t.Unicode("all").tag(sync=True)
    word_level = t.Bool(False).tag(sync=True)
    layer_reduce = t.Unicode("none").tag(sync=True)
    hide_special = t.Bool(False).tag(sync=True)
    token_search = t.Unicode("").tag(sync=True)
    attention_kind = t.Unicode("encoder").tag(sync=True)
    kinds = t.List(t.Unicode(), default_value=["encoder"]).tag(sync=True)
    decoder_tokens = t.List(t.Unicode()).tag(sync=True)
    decoder_special = t.List(t.Bool()).tag(sync=True)
    prettify_tokens = t.Bool(True).tag(sync=True)  # False: raw pieces (Ġthe, ##ing), as bertviz's option
    display_mode = t.Unicode("auto").tag(sync=True)  # "auto" (JupyterLab's theme), "light" or "dark"
    explain_method = t.Unicode("rollout").tag(sync=True)  # explain view: "rollout", "flow", "relevancy", "norm"

    def __init__(
        self,
        model: Any = None,
        tokenizer: Any = None,
        text: str = "",
        text_pair: str | None = None,
        *,
        view: str = "head",
        layer: int = 0,
        head: int = 0,
        max_length: int | None = None,
        result: AttentionResult | None = None,
        **kwargs: Any,
    ) -> None:
        if result is None and (model is None or tokenizer is None):
            raise TypeError("AttentionWidget needs a model and its tokenizer (or use AttentionWidget.from_attention)")
        if result is None and not callable(getattr(model, "forward", None)):
            raise TypeError(f"model must be a transformers model, got {type(model).__name__}")
        self._model = model
        self._tokenizer = tokenizer
        self._max_length = max_length
        self._result: AttentionResult | None = None
        self._installing = False
        self._pending: AttentionResult | None = None
        self.bytes_sent = 0  # attention bytes + message JSON sent to the page so far
        super().__init__(**kwargs)
        self.on_msg(self._handle_message)
        if result is not None:
            self._install(result)
        elif text:
            self._install(capture(model, tokenizer, text, text_pair, max_length=max_length))
        else:
            self.info = self._info_dict(None)
        self.view = view
        self.layer = layer
        self.head = head

    # -- constructors ----------------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, name_or_path: str, text: str = "", text_pair: str | None = None, **kwargs: Any) -> "AttentionWidget":
        """Load a model and tokenizer by hub name or local folder (safetensors only; no remote code
        unless ``trust_remote_code=True``) and show ``text``."""
        load_kwargs = {k: kwargs.pop(k) for k in ("trust_remote_code", "local_files_only") if k in kwargs}
        model, tokenizer = load_pretrained(name_or_path, **load_kwargs)
        return cls(model, tokenizer, text, text_pair, **kwargs)

    @classmethod
    def demo(cls, text: str = DEFAULT_TEXT, text_pair: str | None = None, **kwargs: Any) -> "AttentionWidget":
        """The packaged pretrained all-MiniLM-L6-v2 (6 layers x 12 heads), offline."""
        model, tokenizer = load_default_model()
        return cls(model, tokenizer, text, text_pair, **kwargs)

    @classmethod
    def from_attention(
        cls, attention: Any, tokens: Sequence[str], sentence_b_start: int | None = None, **kwargs: Any
    ) -> "AttentionWidget":
        """Show attention computed anywhere: a tuple of per-layer ``[1, H, N, N]`` or ``[H, N, N]``
        tensors/arrays, or one ``[L, H, N, N]`` array (torch, numpy, JAX, TensorFlow)."""
        result = AttentionResult.from_attention(attention, tokens, sentence_b_start)
        return cls(result=result, **kwargs)

    # -- public read-only views of the data ------------------------------------------------------
    @property
    def result(self) -> AttentionResult | None:
        """The capture shown now (``None`` before the first text)."""
        return self._result

    @property
    def attention(self) -> np.ndarray | None:
        """float32 ``[layers, heads, N, N]`` shown now (read-only)."""
        return None if self._result is None else self._result.attention

    def set_input(self, text: str, text_pair: str | None = None) -> None:
        """Run the model on a new text (and pair) at once; on bad input raise and keep the last state."""
        self._require_model()
        try:
            result = capture(self._model, self._tokenizer, text, text_pair, max_length=self._max_length)
        except (TypeError, ValueError) as exc:
            self.error = str(exc)
            raise
        self._install(result)

    def save(
        self,
        path: str,
        *,
        view: str | None = None,
        layer: int | None = None,
        head: int | None = None,
        heads: Sequence[int] | None = None,
        head_reduce: str | None = None,
        **kwargs: Any,
    ) -> int:
        """Write the figure of what the page shows now (or of the given view/layer/head) to ``path``
        (``.svg``, ``.pdf``, ``.png``); other keywords go to :func:`albert_widget.export.save_figure`
        (``cmap``, ``width``, ``dpi``, ``threshold``...). Returns the bytes written."""
        from .export import save_figure

        if self._result is None:
            raise ValueError("there is nothing to save yet: give the widget a text first")
        chosen_view = view or (self.view if self.view in ("head", "matrix", "model") else "matrix")
        kwargs.setdefault("threshold", self.threshold)
        return save_figure(
            self._result,
            path,
            view=chosen_view,
            layer=self.layer if layer is None else layer,
            head=self.head if head is None else head,
            heads=list(self.heads) or None if heads is None else list(heads),
            head_reduce=self.head_reduce if head_reduce is None else head_reduce,
            **kwargs,
        )

    def to_html(self, path: str | pathlib.Path | None = None, **options: Any) -> str | int:
        """One self-contained HTML page of what the widget shows now: it opens offline in any browser
        (``file://`` too) and stays interactive (sliders, heads, views, hover) on the captured attention;
        no server, no CDN, no model (the text box is disabled there).

        ``path=None`` returns the page as a ``str``; otherwise the page is written to ``path`` (in its
        compact form) and the number of bytes written is returned. Options go to
        :func:`albert_widget.export.html.write_html`: ``precision`` (``"float16"``, the default, with
        ``|error| <= 2**-11 * |value|``; ``"float32"`` exact; ``"uint8"``), ``title``, ``compress``.
        """
        from .export.html import to_html, write_html

        if self._result is None:
            raise ValueError("there is nothing to export yet: give the widget a text first")
        base = set(anywidget.AnyWidget.class_trait_names(sync=True))
        traits = {}
        for name in self.trait_names(sync=True):
            if name.startswith("_") or name in base:
                continue
            value = getattr(self, name)
            if isinstance(value, (str, int, float, bool, list, dict, type(None))):
                traits[name] = value
        state: dict[str, Any] = {
            "layer": self.layer,
            "head": self.head,
            "heads": list(self.heads),
            "view": self.view if self.view in ("head", "matrix", "model") else "head",
            "head_reduce": self.head_reduce,
            "threshold": self.threshold,
            "traits": traits,
        }
        state.update(options)
        if path is None:
            return to_html(self._result, **state)
        return write_html(self._result, path, **state)

    # -- validation ------------------------------------------------------------------------------
    def _require_model(self) -> None:
        if self._model is None:
            raise ValueError("this widget shows fixed attention (from_attention); it has no model to run on new text")

    @t.validate("text", "text_pair")
    def _validate_input(self, proposal: Any) -> Any:
        value = proposal["value"]
        name = proposal["trait"].name
        if self._installing or value == getattr(self, name):
            return value
        self._require_model()
        text = value if name == "text" else self.text
        pair = value if name == "text_pair" else self.text_pair
        try:
            validate_text(value, name, allow_none=name == "text_pair")
            self._pending = capture(self._model, self._tokenizer, text, pair, max_length=self._max_length)
        except (TypeError, ValueError) as exc:
            self.error = str(exc)  # the page shows it too; the last good state stays
            raise
        return value

    @t.observe("text", "text_pair")
    def _on_input(self, change: Any) -> None:
        if self._installing:
            return
        pending, self._pending = self._pending, None
        if pending is None and change["name"] == "text_pair" and change["new"] is None and self._model is not None:
            # traitlets skips validators for None: removing the pair is captured here.
            pending = capture(self._model, self._tokenizer, self.text, None, max_length=self._max_length)
        if pending is not None:
            self._install(pending)

    @t.validate("layer")
    def _validate_layer(self, proposal: Any) -> int:
        return _check_index(proposal["value"], self.num_layers, "layer")

    @t.validate("head")
    def _validate_head(self, proposal: Any) -> int:
        return _check_index(proposal["value"], self.num_heads, "head")

    @t.validate("heads")
    def _validate_heads(self, proposal: Any) -> list[int]:
        return sorted({_check_index(h, self.num_heads, "heads entry") for h in proposal["value"]})

    @t.validate("view")
    def _validate_view(self, proposal: Any) -> str:
        return _check_choice(proposal["value"], VIEWS, "view")

    @t.validate("head_reduce")
    def _validate_reduce(self, proposal: Any) -> str:
        return _check_choice(proposal["value"], HEAD_REDUCTIONS, "head_reduce")

    @t.validate("pair_filter")
    def _validate_pair_filter(self, proposal: Any) -> str:
        return _check_choice(proposal["value"], PAIR_FILTERS, "pair_filter")

    @t.validate("explain_method")
    def _validate_explain_method(self, proposal: Any) -> str:
        return _check_choice(proposal["value"], EXPLAIN_METHODS, "explain_method")

    @t.validate("display_mode")
    def _validate_display_mode(self, proposal: Any) -> str:
        return _check_choice(proposal["value"], ("auto", "light", "dark"), "display_mode")

    @t.validate("layer_reduce")
    def _validate_layer_reduce(self, proposal: Any) -> str:
        return _check_choice(proposal["value"], LAYER_REDUCTIONS, "layer_reduce")

    @t.validate("attention_kind")
    def _validate_attention_kind(self, proposal: Any) -> str:
        value = _check_choice(proposal["value"], ATTENTION_KINDS, "attention_kind")
        if self._result is not None and value not in self._result.kinds:
            raise ValueError(f"this input has no {value} attention; it has {', '.join(self._result.kinds)}")
        return value

    @t.observe("attention_kind")
    def _on_attention_kind(self, _change: Any) -> None:
        if self._result is not None and not self._installing:
            with self.hold_sync():
                self._show_kind(self._result)

    def _show_kind(self, result: AttentionResult) -> None:
        """num_layers/num_heads (and layer, head, heads within them) of the attention kind shown."""
        kind = self.attention_kind if self.attention_kind in result.kinds else "encoder"
        layers, heads = (int(s) for s in result.attention_of(kind).shape[:2])
        self.num_layers, self.num_heads = layers, heads
        self.layer = min(self.layer, layers - 1)
        self.head = min(self.head, heads - 1)
        self.heads = [h for h in self.heads if h < heads]
        if kind != self.attention_kind:
            self.attention_kind = kind

    @t.validate("threshold")
    def _validate_threshold(self, proposal: Any) -> float:
        value = float(proposal["value"])
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"threshold must be between 0 and 1, got {value}")
        return value

    # -- installing a capture --------------------------------------------------------------------
    @contextlib.contextmanager
    def _installing_input(self) -> Iterator[None]:
        self._installing = True
        try:
            yield
        finally:
            self._installing = False

    def _info_dict(self, result: AttentionResult | None) -> dict[str, Any]:
        info: dict[str, Any] = {"editable": self._model is not None}
        if result is not None:
            info.update(result.info.to_dict())
            info.update(num_truncated=result.num_truncated, layer_groups=result.layer_groups,
                        sentence_b_start=result.sentence_b_start,
                        kind_shapes={k: [int(s) for s in result.attention_of(k).shape[:2]] for k in result.kinds})
        return info

    def _install(self, result: AttentionResult) -> None:
        """Show ``result``: update every trait in one sync; the page then asks for the data."""
        self._result = result
        self._pending = None
        with self.hold_sync(), self._installing_input():
            # Shape first so that layer/head validation sees the new bounds.
            self.num_layers = result.num_layers
            self.num_heads = result.num_heads
            self.layer = min(self.layer, result.num_layers - 1)
            self.head = min(self.head, result.num_heads - 1)
            self.heads = [h for h in self.heads if h < result.num_heads]
            self.kinds = list(result.kinds)
            self.decoder_tokens = list(result.decoder_tokens or ())
            mask = result.decoder_special_tokens_mask
            self.decoder_special = [bool(s) for s in mask] if mask is not None else [False] * len(self.decoder_tokens)
            self._show_kind(result)
            self.text = result.text or ""
            self.text_pair = result.text_pair
            self.tokens = list(result.tokens)
            self.segments = [int(s) for s in result.token_type_ids]
            self.special = [bool(s) for s in result.special_tokens_mask]
            self.info = self._info_dict(result)
            self.notice = _truncation_notice(result)
            self.error = ""
            self.revision += 1

    # -- messages from the page ------------------------------------------------------------------
    def _handle_message(self, _widget: Any, content: Any, buffers: Any) -> None:
        # An exception here would show up nowhere (not in the cell, not in the log): report it.
        try:
            kind = content.get("type") if isinstance(content, dict) else None
            if kind == "request":
                if self._result is None:
                    return
                reply, out = reply_to_request(self._result.attentions, self.revision, content)  # content["kind"] picks
                if reply is not None:
                    self.bytes_sent += message_bytes(reply, out)
                    self.send(reply, out)
            elif kind == "row":  # the exact float32 row under the matrix tooltip (encodings.py)
                if self._result is None:
                    return
                reply, out = reply_to_row(self._result.attentions, self.revision, content)
                if reply is not None:
                    self.bytes_sent += message_bytes(reply, out)
                    self.send(reply, out)
            elif kind == "thumbnails":  # model view: every layer x head, downsampled here
                if self._result is None:
                    return
                reply, out = reply_to_thumbnails(self._result.attention, self.revision, content)
                if reply is not None:
                    self.bytes_sent += message_bytes(reply, out)
                    self.send(reply, out)
            elif kind == "neuron":  # neuron view: q, k, scores and softmax of one head and query token
                if getattr(self, "_neuron", None) is None:
                    self._neuron = NeuronSource()
                reply, out = self._neuron.reply(self._model, self._tokenizer, self._result, self.revision, content,
                                                max_length=self._max_length)
                if reply is not None:
                    self.bytes_sent += message_bytes(reply, out)
                    self.send(reply, out)
            elif kind in ("explain", "head_stats"):  # explain view (explain.py): errors come back in the reply
                if getattr(self, "_explain", None) is None:
                    self._explain = ExplainSource()
                if kind == "explain":
                    reply, out = self._explain.explain(self._result, self.revision, content, self._model, self._tokenizer)
                else:
                    reply, out = self._explain.head_stats(self._result, self.revision, content)
                if reply is not None:
                    self.bytes_sent += message_bytes(reply, out)
                    self.send(reply, out)
            elif kind == "set_text":
                self._require_model()
                pair = content.get("text_pair") or None
                try:
                    result = capture(self._model, self._tokenizer, content.get("text"), pair, max_length=self._max_length)
                except (TypeError, ValueError) as exc:
                    # The same message twice would not fire a trait change: also tell the page directly.
                    self.error = str(exc)
                    self.send({"type": "error", "message": self.error})
                    return
                self._install(result)
            else:
                raise ValueError(f"unknown message type {kind!r}")
        except Exception as exc:  # noqa: BLE001 - shown in the widget instead of vanishing
            self.error = f"{type(exc).__name__}: {exc}"
            self.send({"type": "error", "message": self.error})

    def close(self) -> None:
        """Close the widget and let go of its capture (the attention is freed once nothing else
        holds it; ``widget.result``/``widget.attention`` are ``None`` afterwards)."""
        self._result = None
        self._pending = None
        self._neuron = None
        self._explain = None
        super().close()

    def __repr__(self) -> str:
        return f"AttentionWidget({self._result!r}, layer={self.layer}, head={self.head}, view={self.view!r})"


def _check_index(value: Any, size: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    value = int(value)
    if size == 0:
        if value != 0:
            raise ValueError(f"{name} must be 0 until there is attention to show")
        return value
    if not 0 <= value < size:
        raise ValueError(f"{name} must be between 0 and {size - 1}, got {value}")
    return value


def _check_choice(value: Any, choices: Sequence[str], name: str) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return value


def _truncation_notice(result: AttentionResult) -> str:
    if not result.num_truncated:
        return ""
    return (
        f"Input truncated: {result.num_truncated} token{'s' if result.num_truncated != 1 else ''} dropped "
        f"to fit the model's maximum of {result.info.max_length} tokens."
    )
