"""AttentionWidget: the traits the page syncs and the table of requests it answers. Nothing else.

The page asks for data with ``{"id", "type", ...}`` messages (:mod:`albert_widget.protocol`); each gets
exactly one reply with binary buffers. Every trait's ``help`` is its reference documentation.
"""

from __future__ import annotations

import base64
import itertools
import pathlib
import uuid
from collections.abc import Sequence
from typing import Any

import anywidget
import numpy as np
import traitlets as t

from . import state as page_state
from .capture import capture
from .encodings import reply_to_row
from .explain import ExplainSource
from .forward import MAX_ATTENTION_BYTES, is_causal_lm, validate_text
from .head_summaries import SummarySource, reply_to_summaries, reply_to_top_k
from .longcontext.compact import CompactAttention
from .models import DEFAULT_TEXT, load_default_model, load_pretrained
from .names import (
    ATTENTION_FORMS,
    ATTENTION_KINDS,
    COLOUR_SCALES,
    COMPACT_VIEWS,
    DISPLAY_MODES,
    EXPLAIN_METHODS,
    MODEL_COLOURINGS,
    PAIR_FILTERS,
    REDUCTIONS,
    STATIC_VIEWS,
    VIEWS,
)
from .neuron import NeuronSource
from .protocol import RequestQueue, kernel_event_loop
from .result import AttentionResult
from .snapshot import SNAPSHOT_DELAY, snapshot_of
from .thumbnails import reply_to_thumbnails
from .tiles import reply_to_compact_row, reply_to_tile, reply_to_tiles
from .transport import reply_to_request

__all__ = ["AttentionWidget"]

_STATIC = pathlib.Path(__file__).parent / "static"
_PROCESS_TOKEN = uuid.uuid4().hex[:12]  # widget ids: unique across kernels, cheap within one
_WIDGET_COUNT = itertools.count(1)
_D = page_state.VIEW_DEFAULTS


class Choice(t.Unicode):
    """A string trait that takes one of a fixed tuple of names (from :mod:`albert_widget.names`)."""

    def __init__(self, choices: Sequence[str], default: str, **kwargs: Any) -> None:
        self.choices = tuple(choices)
        super().__init__(default, **kwargs)

    def validate(self, obj: Any, value: Any) -> str:
        if value not in self.choices:
            raise ValueError(f"{self.name} must be one of {', '.join(map(repr, self.choices))}, got {value!r}")
        return value


def _synced(trait: t.TraitType, help: str) -> t.TraitType:
    trait.help = help
    return trait.tag(sync=True)


def _input(trait: t.TraitType, help: str) -> t.TraitType:
    """A trait the capture fixes: read-only for Python code (the widget sets it when it installs a capture)."""
    trait.read_only = True
    return _synced(trait, help)


class AttentionWidget(anywidget.AnyWidget):
    """Explore every layer's and head's attention of a model, live in Jupyter.

    ``AttentionWidget(model, tokenizer, text, text_pair=None)`` runs the model on ``text`` and shows
    its attention; setting ``widget.text`` (or typing in the widget) runs it again.
    ``widget.attention`` is the float32 ``[layers, heads, N, N]`` array shown; ``widget.result`` the
    whole :class:`~albert_widget.result.AttentionResult`.

    Long inputs of decoder LLMs: when a causal LM's full attention would exceed ``memory_budget``
    (bytes of float32 ``[L, H, N, N]``; default ``MAX_ATTENTION_BYTES``), the widget holds the
    compact capture (:class:`~albert_widget.longcontext.CompactAttention`: queries, keys, row
    log-sum-exp) instead, ``attention_form`` is ``"compact"`` and the page asks for exact tiles at
    the zoom level it shows. ``AttentionWidget.from_result(compact)`` shows one made elsewhere (e.g.
    ``CompactAttention.from_npz(path)``). Views that need whole layers (neuron, explain, the dense
    model thumbnails) say so instead; the matrix view pans and zooms.
    """

    _esm = _STATIC / "widget.js"
    _css = _STATIC / "widget.css"

    # -- the input (the model runs again when these change) ---------------------------------------
    text = _synced(t.Unicode(""), "The input text; setting it (or typing in the widget) runs the model again.")
    text_pair = _synced(t.Unicode(None, allow_none=True), "Sentence B of a pair (None: a single sentence).")

    # -- what the capture fixes (read-only) ------------------------------------------------------
    # (Lists of the capture's own values: not validated element by element, which costs a few ms
    # per widget at 512 tokens.)
    tokens = _input(t.List(), "list[str]: the tokenizer's pieces, raw (▁the, ##ing, Ġthe, [CLS]).")
    segments = _input(t.List(), "list[int]: sentence of each token, 0 = A, 1 = B.")
    special = _input(t.List(), "list[bool]: True for special tokens ([CLS], [SEP], <s>, ...).")
    num_layers = _input(t.Int(0), "Layers of the attention kind shown.")
    num_heads = _input(t.Int(0), "Heads per layer of the attention kind shown.")
    kinds = _input(
        t.List(t.Unicode(), default_value=["encoder"]), "Attention kinds of this input: encoder (also decoder-only models), decoder, cross."
    )
    decoder_tokens = _input(t.List(), "list[str]: encoder-decoder models, the decoder's input tokens.")
    decoder_special = _input(t.List(), "list[bool]: special-token mask of decoder_tokens.")
    revision = _input(t.Int(0), "Bumped on every new capture; the page drops data of older revisions.")
    attention_form = _input(
        Choice(ATTENTION_FORMS, "dense"),
        "How the capture is held: 'dense' (every [heads, N, N] layer; the page may ask for whole layers) or "
        "'compact' (queries, keys and row log-sum-exp of a long decoder-LLM input: the page asks for exact "
        "tiles, and views that need whole layers are off).",
    )
    info = _input(t.Dict(), "Model facts (type, name, layer groups, causal), truncation, kind shapes, editable.")
    error = _synced(t.Unicode(""), "Shown in the widget when the last input or request failed; '' when fine.")
    notice = _synced(t.Unicode(""), "Shown in the widget, e.g. when the input was truncated to the model's maximum.")

    # -- what the user chooses (both ways) --------------------------------------------------------
    layer = _synced(t.Int(_D["layer"]), "The layer shown (0-based).")
    head = _synced(t.Int(_D["head"]), "The focused head (0-based).")
    heads = _synced(
        t.List(t.Int(), default_value=_D["heads"]), "Heads overlaid in the head view, in distinct colours (empty: just `head`)."
    )
    head_reduce = _synced(Choice(REDUCTIONS, _D["head_reduce"]), "'mean' or 'max' over the heads of the layer, or 'none'.")
    view = _synced(
        Choice(VIEWS, _D["view"]),
        "'head' (two token columns with lines), 'matrix' (heatmap), 'model' (every layer x head), 'neuron' (q/k detail), 'explain'.",
    )
    threshold = _synced(t.Float(_D["threshold"]), "The head view hides lines below this weight (0..1).")
    pair_filter = _synced(
        Choice(PAIR_FILTERS, _D["pair_filter"]), "Query rows of one sentence -> key columns of the other: 'all', 'aa', 'ab', 'ba', 'bb'."
    )
    word_level = _synced(
        t.Bool(_D["word_level"]), "Merge pieces into words: attention TO a word sums its pieces, FROM a word averages them."
    )
    layer_reduce = _synced(Choice(REDUCTIONS, _D["layer_reduce"]), "'mean' or 'max' over all layers, or 'none'.")
    hide_special = _synced(t.Bool(_D["hide_special"]), "Drop special-token rows and columns and renormalise every row over what stays.")
    token_search = _synced(t.Unicode(_D["token_search"]), "Tokens containing this text are highlighted.")
    neuron_query = _synced(t.Int(_D["neuron_query"]), "The neuron view's query token (-1: the first that is not special).")
    attention_kind = _synced(
        Choice(ATTENTION_KINDS, _D["attention_kind"]), "Encoder-decoder models: 'encoder', 'decoder' or 'cross' attention."
    )
    prettify_tokens = _synced(t.Bool(_D["prettify_tokens"]), "False shows raw pieces (Ġthe, ##ing), as bertviz's option.")
    display_mode = _synced(Choice(DISPLAY_MODES, _D["display_mode"]), "'auto' (JupyterLab's theme), 'light' or 'dark'.")
    _snapshot = _synced(
        t.Dict(),
        "The layer on screen (uint8, see albert_widget/snapshot.py), refreshed when the view rests: a notebook saved "
        "with widget state and reopened without this kernel still draws it.",
    )
    _widget_id = t.Unicode(help="Identifies this widget to the page: every rendering of it shares one data store.").tag(sync=True)
    colour_scale = _synced(
        Choice(COLOUR_SCALES, _D["colour_scale"]),
        "The matrix colours of a compact capture: 'log' (log10 of the weight over a fixed range stated under the plot, "
        "so structure far below the attention sink shows), 'linear' (0 to the head's largest weight) or 'auto' (log). "
        "A dense capture's matrix is always linear.",
    )
    explain_method = _synced(Choice(EXPLAIN_METHODS, _D["explain_method"]), "Explain view: 'rollout', 'flow', 'relevancy' or 'norm'.")
    row_query = _synced(t.Int(_D["row_query"]), "The row view's query token: its attention over every key is drawn (-1: the last token).")
    model_statistic = _synced(
        Choice(MODEL_COLOURINGS, _D["model_statistic"]),
        "What colours the model view: 'thumbnails' (each head's attention) or one number per head: 'sink' (weight on the "
        "first token), 'entropy' (nats), 'previous_token', 'self_weight', 'mean_distance' (tokens), each the mean over queries.",
    )

    def __init__(
        self,
        model: Any = None,
        tokenizer: Any = None,
        text: str = "",
        text_pair: str | None = None,
        *,
        view: str | None = None,
        layer: int = 0,
        head: int = 0,
        max_length: int | None = None,
        memory_budget: int | None = None,
        result: AttentionResult | CompactAttention | None = None,
        **kwargs: Any,
    ) -> None:
        if result is None and (model is None or tokenizer is None):
            raise TypeError("AttentionWidget needs a model and its tokenizer (or use AttentionWidget.from_attention)")
        if result is None and not callable(getattr(model, "forward", None)):
            raise TypeError(f"model must be a transformers model, got {type(model).__name__}")
        if result is not None and not isinstance(result, (AttentionResult, CompactAttention)):
            raise TypeError(f"result must be an AttentionResult or a CompactAttention, got {type(result).__name__}")
        if memory_budget is not None and (isinstance(memory_budget, bool) or not isinstance(memory_budget, int) or memory_budget <= 0):
            raise ValueError(f"memory_budget must be a positive number of bytes, got {memory_budget!r}")
        self._memory_budget = memory_budget
        self._model = model
        self._tokenizer = tokenizer
        self._max_length = max_length
        self._result: AttentionResult | CompactAttention | None = None
        self._installing = False
        self._pending: AttentionResult | CompactAttention | None = None
        self._neuron = NeuronSource()
        self._explain = ExplainSource()
        self._summaries = SummarySource()
        super().__init__(**kwargs)
        self._requests = RequestQueue(
            self._handlers(), lambda content, buffers: self.send(content, buffers), lambda: self.revision, self._on_failure
        )
        self.on_msg(self._on_page_message)
        with self.hold_sync():  # one state update after the comm opened, not one per trait
            if result is not None:
                self._install(result)
            elif text:
                self._install(self._capture(text, text_pair))
            else:
                self.set_trait("info", page_state.model_info(None, editable=self._model is not None))
            self.view = view if view is not None else ("matrix" if self.attention_form == "compact" else _D["view"])
            self.layer = layer
            self.head = head

    @t.default("_widget_id")
    def _new_widget_id(self) -> str:
        # In the state the comm opens with: the page's initialize() keys the widget's store by it.
        return f"{_PROCESS_TOKEN}-{next(_WIDGET_COUNT)}"

    #: Put a small PNG of the view beside the widget view when displayed (for nbconvert, nbviewer and
    #: repository previews); ``AttentionWidget.static_fallback = False`` leaves it out.
    static_fallback = True

    # -- constructors ----------------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, name_or_path: str, text: str = "", text_pair: str | None = None, **kwargs: Any) -> AttentionWidget:
        """Load a model and tokenizer by hub name or local folder (safetensors only; no remote code
        unless ``trust_remote_code=True``) and show ``text``."""
        load_kwargs = {k: kwargs.pop(k) for k in ("trust_remote_code", "local_files_only") if k in kwargs}
        model, tokenizer = load_pretrained(name_or_path, **load_kwargs)
        return cls(model, tokenizer, text, text_pair, **kwargs)

    @classmethod
    def demo(cls, text: str = DEFAULT_TEXT, text_pair: str | None = None, **kwargs: Any) -> AttentionWidget:
        """The packaged pretrained all-MiniLM-L6-v2 (6 layers x 12 heads), offline, on ``text``.

        ``text`` must have a visible word: ``demo("")``, ``demo(None)`` and ``demo("   ")`` raise (before
        the model loads), as the typed-text box refuses them."""
        validate_text(text, "text")
        validate_text(text_pair, "text_pair", allow_none=True)
        model, tokenizer = load_default_model()
        return cls(model, tokenizer, text, text_pair, **kwargs)

    @classmethod
    def from_attention(
        cls, attention: Any, tokens: Sequence[str] | None = None, sentence_b_start: int | None = None, **kwargs: Any
    ) -> AttentionWidget:
        """Show attention computed anywhere: a tuple of per-layer ``[1, H, N, N]`` or ``[H, N, N]``
        tensors/arrays, or one ``[L, H, N, N]`` array (torch, numpy, JAX, TensorFlow), with its
        ``tokens``. A :class:`~albert_widget.longcontext.CompactAttention` (which carries its own
        tokens) is shown as it is: see :meth:`from_result`."""
        if isinstance(attention, CompactAttention):
            if tokens is not None and tuple(tokens) != attention.tokens:
                raise ValueError("a CompactAttention carries its own tokens: leave tokens out (or pass the same ones)")
            if sentence_b_start is not None:
                raise ValueError("a CompactAttention has one sentence: sentence_b_start does not apply")
            return cls.from_result(attention, **kwargs)
        if tokens is None:
            raise TypeError("from_attention needs the tokens of the attention it shows")
        result = AttentionResult.from_attention(attention, tokens, sentence_b_start)
        return cls(result=result, **kwargs)

    @classmethod
    def from_result(cls, result: AttentionResult | CompactAttention, **kwargs: Any) -> AttentionWidget:
        """Show a capture made elsewhere, without a model: an :class:`~albert_widget.result.AttentionResult`
        (e.g. ``AttentionResult.from_npz(path)``) or a compact
        :class:`~albert_widget.longcontext.CompactAttention` (``capture_compact``, ``capture_generate``,
        ``CompactAttention.from_npz(path)``), which opens on the matrix view. Keywords: ``view``,
        ``layer``, ``head`` and any trait."""
        if isinstance(result, CompactAttention):
            kwargs.setdefault("view", "matrix")
        return cls(result=result, **kwargs)

    def compare(self, other: Any = None, *, text_b: str | None = None, **kwargs: Any) -> Any:
        """A :class:`~albert_widget.CompareWidget` of this widget (left) against ``other`` (an
        AttentionWidget or AttentionResult) or against this widget's model on ``text_b``."""
        from .compare import CompareWidget

        if (other is None) == (text_b is None):
            raise TypeError("compare() needs either another widget/result or text_b")
        if other is None:
            self._require_model()
            other = self._capture(text_b, None)
        return CompareWidget(self, other, **kwargs)

    # -- public read-only views of the data ------------------------------------------------------
    @property
    def result(self) -> AttentionResult | CompactAttention | None:
        """The capture shown now (``None`` before the first text): an AttentionResult, or a
        CompactAttention when ``attention_form == "compact"``."""
        return self._result

    @property
    def attention(self) -> np.ndarray | None:
        """float32 ``[layers, heads, N, N]`` shown now (read-only). A compact capture has none: this
        raises ``AttentionTooLargeError`` saying what it would need and what to use instead
        (``widget.result.block(layer, head, rows, cols)``)."""
        return None if self._result is None else self._result.attention

    def _dense(self, what: str) -> AttentionResult:
        """The dense capture, or a clear error saying that ``what`` needs one and what to use instead."""
        if self._result is None:
            raise ValueError(f"there is nothing to {what} yet: give the widget a text first")
        if isinstance(self._result, CompactAttention):
            r = self._result
            raise ValueError(
                f"cannot {what}: this widget holds a compact capture ({r.num_tokens:,} tokens; queries, keys and "
                "row log-sum-exp, never whole [heads, N, N] layers). Use widget.result.to_npz(path) to keep it, "
                "widget.result.block(layer, head, rows, cols) for exact values of any region, or a shorter text"
            )
        return self._result

    def widget_state(self) -> dict[str, Any]:
        """The page's state as plain data (every synced trait): what :meth:`to_html` writes into the
        page. Needs a capture."""
        if self._result is None:
            raise ValueError("there is nothing to export yet: give the widget a text first")
        view = {name: getattr(self, name) for name in page_state.VIEW_DEFAULTS}
        view["heads"] = list(view["heads"])
        state = page_state.page_state(self._result, view, editable=False)
        state["notice"] = self.notice
        # head_view/model_view's include_layers/include_heads: the model's own numbers travel too
        state["info"].update({k: v for k, v in self.info.items() if k in ("layer_numbers", "head_numbers")})
        return state

    def set_input(self, text: str, text_pair: str | None = None) -> None:
        """Run the model on a new text (and pair) at once; on bad input raise and keep the last state."""
        self._require_model()
        try:
            result = self._capture(text, text_pair)
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
        """Write the figure of what the page shows now to ``path`` (``.svg``, ``.pdf``, ``.png``): the
        view with everything that shapes it (:meth:`widget_state`: attention kind, filters, layer
        reduction, heads in their colours, threshold, prettified tokens, the causal mask). ``view``,
        ``layer``, ``head``, ``heads``, ``head_reduce`` and any other state name (``threshold``,
        ``word_level``...) given here replace the widget's value for this file only; other keywords go
        to :func:`albert_widget.export.save_figure` (``cmap``, ``width``, ``dpi``...). The neuron view
        saves q, k, q⊙k, scores and softmax of the layer and head for ``query=`` (default: the token the
        page opens on); the explain view saves the chosen method's map (``explain_method``; norm: of the
        layer and head) and the head-summary grids (``summary=False``: the map alone). Returns the
        bytes written."""
        from .export import save_figure

        result = self._dense("save a figure")
        state = self.widget_state()
        chosen = dict(view=view, layer=layer, head=head, heads=heads, head_reduce=head_reduce)
        state.update({k: v for k, v in chosen.items() if v is not None})
        state.update({k: kwargs.pop(k) for k in list(kwargs) if k in page_state.VIEW_DEFAULTS})
        if state["view"] == "neuron":
            return self._save_neuron(path, state, **kwargs)
        if state["view"] == "explain":
            return self._save_explain(path, state, **kwargs)
        return save_figure(result, path, state=state, **kwargs)

    def _save_explain(
        self,
        path: str,
        state: dict[str, Any],
        *,
        dpi: float | None = None,
        rc: dict | None = None,
        format: str | None = None,
        **options: Any,
    ) -> int:
        """The explain view's figure of ``state`` (method, layer, head, reduction; the head-summary
        grids), from the same cached arrays the page got."""
        from .export import save_figure
        from .export.explain_figure import explain_figure_of_state

        result = self._dense("save a figure")
        source = self._explain.at(self.revision)
        fig = explain_figure_of_state(result, state, model=self._model, tokenizer=self._tokenizer, source=source, rc=rc, **options)
        return save_figure(fig, path, dpi=dpi, rc=rc, format=format)

    def _save_neuron(
        self,
        path: str,
        state: dict[str, Any],
        *,
        query: int | None = None,
        dpi: float | None = None,
        rc: dict | None = None,
        format: str | None = None,
        **options: Any,
    ) -> int:
        """The neuron view's figure of ``state``'s layer and head for query token ``query`` (default:
        the page's ``neuron_query``, or the first token that is not special); vectors from hooks on the model."""
        from .export import save_figure
        from .export.neuron_figure import default_query, neuron_figure
        from .neuron import neuron_row

        result = self._dense("save the neuron view")
        if state.get("attention_kind", "encoder") != "encoder":
            raise ValueError("the neuron view shows encoder (self-)attention only: set attention_kind='encoder'")
        layer, head = int(state["layer"]), int(state["head"])
        qk = self._neuron.vectors(self._model, self._tokenizer, result, self.revision, layer, max_length=self._max_length)
        if query is None:
            query = state.get("neuron_query", -1)
        chosen = default_query(result.special_tokens_mask) if query is None or query < 0 else int(query)
        row = neuron_row(qk, head, chosen)
        fig = neuron_figure(
            row,
            result.tokens,
            [bool(s) for s in result.special_tokens_mask],
            layer=layer,
            head=head,
            query=chosen,
            scaling=qk.scaling,
            prettify_tokens=state.get("prettify_tokens", True),
            **options,
        )
        return save_figure(fig, path, dpi=dpi, rc=rc, format=format)

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

        result = self._dense("write a standalone HTML page")
        state = self.widget_state()
        if state["view"] not in STATIC_VIEWS:
            state["view"] = "head"
        if path is None:
            return to_html(result, state=state, **options)
        return write_html(result, path, state=state, **options)

    # -- validation ------------------------------------------------------------------------------
    def _require_model(self) -> None:
        if self._model is None:
            raise ValueError("this widget shows fixed attention (from_attention); it has no model to run on new text")

    def _capture(self, text: Any, text_pair: Any) -> AttentionResult | CompactAttention:
        # A decoder LLM's capture stays dense up to the widget's budget (MAX_ATTENTION_BYTES, or the
        # memory_budget given) and comes back compact beyond it: the page then asks for exact tiles.
        # Other models keep capture's own limit (they have no compact form).
        budget = (self._memory_budget or MAX_ATTENTION_BYTES) if is_causal_lm(self._model) else None
        return capture(self._model, self._tokenizer, text, text_pair, max_length=self._max_length, memory_budget=budget)

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
            self._pending = self._capture(text, pair)
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
            pending = self._capture(self.text, None)
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

    @t.validate("attention_kind")
    def _validate_attention_kind(self, proposal: Any) -> str:
        value = proposal["value"]
        if self._result is not None and value not in self.kinds:
            raise ValueError(f"this input has no {value} attention; it has {', '.join(self.kinds)}")
        return value

    @t.validate("view")
    def _validate_view(self, proposal: Any) -> str:
        value = proposal["value"]
        if self.attention_form == "compact" and value not in COMPACT_VIEWS:
            raise ValueError(
                f"the {value} view needs whole [heads, N, N] layers, which a compact capture does not hold; "
                f"views of a compact capture: {', '.join(COMPACT_VIEWS)}"
            )
        return value

    @t.observe("attention_kind")
    def _on_attention_kind(self, _change: Any) -> None:
        if self._result is not None and not self._installing:
            with self.hold_sync():
                self._show_kind(self._result)

    @t.validate("row_query")
    def _validate_row_query(self, proposal: Any) -> int:
        value = proposal["value"]
        n = len(self.tokens)
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not -1 <= int(value) < max(1, n):
            raise ValueError(f"row_query must be -1 (the last token) or a token index in 0..{max(0, n - 1)}, got {value!r}")
        return int(value)

    @t.validate("threshold")
    def _validate_threshold(self, proposal: Any) -> float:
        value = float(proposal["value"])
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"threshold must be between 0 and 1, got {value}")
        return value

    # -- the saved snapshot ------------------------------------------------------------------------
    @t.observe("layer", "attention_kind", "revision")
    def _on_view_rest(self, _change: Any) -> None:
        if self._result is None:
            return
        handle = getattr(self, "_snapshot_timer", None)
        if handle is not None:
            handle.cancel()
        loop = kernel_event_loop()
        if loop is None:  # not in a kernel (scripts, tests, other hosts): at once
            self._refresh_snapshot()
            return
        self._snapshot_timer = loop.call_later(SNAPSHOT_DELAY, self._refresh_snapshot)

    def _refresh_snapshot(self) -> None:
        self._snapshot_timer = None
        if isinstance(self._result, CompactAttention):
            self._snapshot = {}  # no whole layer to keep: a reopened notebook says there is no kernel
        elif self._result is not None:
            self._snapshot = snapshot_of(self._result, self.attention_kind, self.layer, self.revision)

    # -- installing a capture --------------------------------------------------------------------
    def _show_kind(self, result: AttentionResult | CompactAttention) -> None:
        """num_layers/num_heads (and layer, head, heads within them) of the attention kind shown."""
        kind = self.attention_kind if self.attention_kind in self.kinds else "encoder"
        layers, heads = page_state.kind_shape(result, kind)
        self.set_trait("num_layers", layers)
        self.set_trait("num_heads", heads)
        self.layer = min(self.layer, layers - 1)
        self.head = min(self.head, heads - 1)
        self.heads = [h for h in self.heads if h < heads]
        if kind != self.attention_kind:
            self.attention_kind = kind

    def _install(self, result: AttentionResult | CompactAttention) -> None:
        """Show ``result``: update every trait in one sync; the page then asks for the data. A compact
        capture shown in a view that needs whole layers moves to the matrix view."""
        self._result = result
        self._pending = None
        values = page_state.input_state(result, editable=self._model is not None)
        self._installing = True
        try:
            with self.hold_sync():
                self.set_trait("attention_form", values.pop("attention_form"))
                if self.attention_form == "compact" and self.view not in COMPACT_VIEWS:
                    self.view = "matrix"
                self.set_trait("kinds", values.pop("kinds"))
                self._show_kind(result)  # shape first, so that layer/head validation sees the new bounds
                values.pop("num_layers")
                values.pop("num_heads")
                for name, value in values.items():
                    if self.traits()[name].read_only:
                        self.set_trait(name, value)
                    else:
                        setattr(self, name, value)
                self.set_trait("revision", self.revision + 1)
        finally:
            self._installing = False

    # -- requests from the page -------------------------------------------------------------------
    def _handlers(self) -> dict[str, Any]:
        """type -> fields -> (reply, buffers); a handler raises to fail its own request."""

        def need_result() -> AttentionResult:
            if self._result is None:
                raise ValueError("there is no attention yet: give the widget a text first")
            if isinstance(self._result, CompactAttention):
                raise ValueError(
                    f"this widget holds a compact capture ({self._result.num_tokens:,} tokens): it never sends whole "
                    "[heads, N, N] layers nor what is computed from them; ask for 'tile' (any region, exact) or 'row'"
                )
            return self._result

        def row(f: dict[str, Any]) -> tuple[dict[str, Any], list[Any]]:
            if isinstance(self._result, CompactAttention):
                return reply_to_compact_row(self._result, self.revision, f)
            return reply_to_row(need_result().attentions, self.revision, f)

        def any_result() -> AttentionResult | CompactAttention:
            # per-head statistics and top-k keys: from a compact capture's summaries and blocks too
            if self._result is None:
                raise ValueError("there is no attention yet: give the widget a text first")
            return self._result

        def set_text(f: dict[str, Any]) -> tuple[dict[str, Any], list[Any]]:
            self._require_model()
            self._install(self._capture(f["text"], f.get("text_pair") or None))
            return {"revision": self.revision}, []

        return {
            "layers": lambda f: reply_to_request(need_result().attentions, self.revision, f),
            "row": row,
            "thumbnails": lambda f: reply_to_thumbnails(need_result().attention, self.revision, f),
            "neuron": lambda f: self._neuron.reply(
                self._model, self._tokenizer, need_result(), self.revision, f, max_length=self._max_length
            ),
            "explain": lambda f: self._explain.explain(need_result(), self.revision, f, self._model, self._tokenizer),
            "head_stats": lambda f: self._explain.head_stats(need_result(), self.revision, f),
            "summaries": lambda f: reply_to_summaries(any_result(), self.revision, f, self._summaries),
            "topk": lambda f: reply_to_top_k(any_result(), self.revision, f),
            "tile": lambda f: reply_to_tile(
                self._result if isinstance(self._result, CompactAttention) else need_result().attentions, self.revision, f
            ),
            "tiles": lambda f: reply_to_tiles(
                self._result if isinstance(self._result, CompactAttention) else need_result().attentions, self.revision, f
            ),
            "set_text": set_text,
        }

    def _on_page_message(self, _widget: Any, content: Any, buffers: Any) -> None:
        self._requests.submit(content, buffers)

    def _on_failure(self, kind: str | None, message: str) -> None:
        # Typed text that cannot run is the widget's error (shown, last good state kept); a failed
        # data request fails only its own promise in the page.
        if kind == "set_text":
            self.error = message

    @property
    def bytes_sent(self) -> int:
        """Bytes of replies (JSON + buffers) sent to the page so far."""
        return self._requests.bytes_sent

    @property
    def requests_served(self) -> dict[str, int]:
        """How many requests of each type the page made and got answered (e.g. ``{"layers": 3}``)."""
        return dict(self._requests.served)

    def close(self) -> None:
        """Close the widget and let go of its capture (the attention is freed once nothing else
        holds it; ``widget.result``/``widget.attention`` are ``None`` afterwards)."""
        self._result = None
        self._pending = None
        handle = getattr(self, "_snapshot_timer", None)
        if handle is not None:
            handle.cancel()
        self._neuron = NeuronSource()
        self._explain = ExplainSource()
        self._summaries = SummarySource()
        super().close()

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        """anywidget's ``(data, metadata)`` (the widget view, drawn by live front ends) with ``image/png``
        of the view chosen now added to ``data`` (:func:`albert_widget.export.fallback.fallback_png`), for
        renderers that run no widget JavaScript; live front ends prefer the widget view."""
        bundle = super()._repr_mimebundle_(**kwargs)
        data = bundle[0] if isinstance(bundle, tuple) else bundle
        if self.static_fallback and isinstance(self._result, AttentionResult) and isinstance(data, dict):
            from .export.fallback import fallback_png

            choices = {name: getattr(self, name) for name in page_state.VIEW_DEFAULTS}
            data["image/png"] = base64.b64encode(fallback_png(self._result, choices)).decode("ascii")
        return bundle

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
