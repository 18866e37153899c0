"""bertviz's third entry point, ``neuron_view.show``, on ordinary Hugging Face models.

``from bertviz.neuron_view import show`` -> ``from albert_widget.neuron_view import show``. bertviz needs
its own copies of the BERT, RoBERTa and GPT-2 classes (``bertviz.transformers_neuron_view``); here the
model is the one you already have (``BertModel``, ``RobertaModel``, ``GPT2Model``, ``AlbertModel``,
MiniLM, ...), its queries and keys read by hooks on its real modules (:mod:`albert_widget.neuron`).
``html_action='view'`` displays an :class:`~albert_widget.AttentionWidget` on its neuron view and
returns ``None``, as bertviz does; ``html_action='return'`` returns an ``IPython.display.HTML`` page.
"""

from __future__ import annotations

from typing import Any

__all__ = ["STATIC_NEURON_NOTICE", "show"]

#: Why a returned page starts on the head view: the neuron view needs the model.
STATIC_NEURON_NOTICE = (
    "The neuron view needs the model (it runs the model's query and key projections), which a static page "
    "does not have: this page shows the head view of the same layer and head. Use html_action='view' in "
    "a notebook for the neuron view."
)


def show(
    model: Any,
    model_type: str,
    tokenizer: Any,
    sentence_a: str,
    sentence_b: str | None = None,
    display_mode: str = "dark",
    layer: int | None = None,
    head: int | None = None,
    html_action: str = "view",
) -> Any:
    """bertviz's ``neuron_view.show`` (same arguments and defaults).

    In: a Hugging Face model and its tokenizer, ``model_type`` (``"bert"``, ``"roberta"``, ``"gpt2"``,
    ``"albert"``, ...: checked against ``model.config.model_type``), ``sentence_a`` and, for models that
    take sentence pairs (their tokenizer has a separator token; not GPT-2), ``sentence_b``;
    ``display_mode`` ``"dark"``/``"light"``; ``layer``/``head`` the one shown first (default 0).
    Out: ``None`` after displaying the widget (``html_action='view'``), or an ``IPython.display.HTML``
    self-contained page (``'return'``) that starts on the head view, with a notice saying why.
    Raises ``ValueError`` for a model whose queries and keys cannot be read, or bad arguments.
    """
    from .compat import _check_action, _display_mode
    from .forward import validate_text
    from .neuron import query_key_modules

    _check_action(html_action)
    mode = _display_mode(display_mode)
    validate_text(sentence_a, "sentence_a")
    validate_text(sentence_b, "sentence_b", allow_none=True)
    config = getattr(model, "config", None)
    if config is None or not callable(getattr(model, "forward", None)):
        raise TypeError(f"model must be a Hugging Face transformers model, got {type(model).__name__}")
    actual = str(getattr(config, "model_type", "") or "")
    if not isinstance(model_type, str) or (actual and model_type.lower() != actual.lower()):
        raise ValueError(f"model_type {model_type!r} does not match the model, whose config says {actual!r}")
    if getattr(config, "is_encoder_decoder", False):
        raise ValueError("the neuron view shows one self-attention: encoder-decoder models (BART, T5) are not supported")
    if sentence_b is not None and getattr(tokenizer, "sep_token", None) is None:
        raise ValueError(
            f"{type(model).__name__} does not take sentence pairs (its tokenizer has no separator token): pass one sentence as sentence_a"
        )
    if not query_key_modules(model):
        raise ValueError(
            f"the neuron view cannot read the queries and keys of {type(model).__name__}: it needs attention "
            "modules with query/key projections (BERT, RoBERTa, ALBERT family) or GPT-2's c_attn"
        )
    from .capture import capture

    result = capture(model, tokenizer, sentence_a, sentence_b)
    layer = _index(layer, result.num_layers, "layer")
    head = _index(head, result.num_heads, "head")
    if html_action == "return":
        from .compat import _html

        state = {"view": "head", "layer": layer, "head": head, "heads": [head], "display_mode": mode, "notice": STATIC_NEURON_NOTICE}
        return _html(result, state)
    from IPython.display import display

    from .widget import AttentionWidget

    widget = AttentionWidget(model, tokenizer, result=result, view="neuron", layer=layer, head=head, display_mode=mode)
    display(widget)
    return None


def _index(value: Any, size: int, name: str) -> int:
    """``value`` (default 0) as an index in ``0..size-1``; ``ValueError`` naming the valid range."""
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < size:
        raise ValueError(f"{name} must be an int from 0 to {size - 1}, got {value!r}")
    return int(value)
