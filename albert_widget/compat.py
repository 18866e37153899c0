"""bertviz-shaped entry points: switch by changing one import line.

``from bertviz import head_view, model_view`` -> ``from albert_widget import head_view, model_view``.
Both take bertviz 1.4.1's arguments (same names, order and defaults), torch tensors or numpy arrays.
As bertviz, ``html_action='view'`` displays the result itself (``IPython.display.display``: a live
:class:`~albert_widget.AttentionWidget`, whose traits stay synced with Python) and returns ``None``, so
a call inside a function, in a loop or not on a cell's last line shows it too; ``html_action='return'``
returns an ``IPython.display.HTML`` of a self-contained page (no CDN), from
:mod:`albert_widget.export.html`. Its twin for bertviz's third entry point is
:func:`albert_widget.neuron_view.show`.

What maps to what:

- ``attention``, ``tokens``: the widget's attention and tokens; ``sentence_b_start``: the pair
  (segments, the All / A→A / A→B / B→A / B→B selector);
- ``encoder_attention`` / ``decoder_attention`` / ``cross_attention`` with ``encoder_tokens`` /
  ``decoder_tokens``: the widget's attention kinds (the Encoder / Decoder / Cross selector);
- ``include_layers`` / ``include_heads``: only those layers / heads travel to the widget, in the order
  given; the widget's ``info["layer_numbers"]`` / ``info["head_numbers"]`` hold the model's own number
  of each (the page labels its sliders with them); ``layer``: the selected layer (an index of the
  model, as in bertviz); ``heads``: the heads overlaid (default, as bertviz: all of them);
- cross attention alone (``cross_attention`` without ``encoder_attention``) is shown on the Cross
  selector; the Encoder selector then has nothing to show (zeros) and the widget's notice says so;
- ``prettify_tokens``: ``False`` shows the raw pieces (``Ġthe``, ``##ing``);
- ``display_mode``: ``"dark"`` / ``"light"`` colours for the widget (bertviz's model view default is dark).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .result import AttentionResult, ModelInfo, _to_numpy, as_attention_array, check_real, validate_tokens

__all__ = ["EMPTY_ATTENTION", "head_view", "model_view"]

#: What an empty attention tuple most likely means, said when one is passed.
EMPTY_ATTENTION = (
    "the attention is empty (a tuple of no layers). In transformers 5, outputs[-1] is the empty "
    "cross_attentions of an encoder-only model, not the attention: pass outputs.attentions. If that is "
    "empty too, run the model with output_attentions=True and load it with attn_implementation='eager'."
)

_ENC_DEC_MIXED = (
    "If you specify 'attention' you may not specify any encoder-decoder arguments. This argument is only for self-attention models."
)


def _layer_list(attention: Any) -> list[np.ndarray]:
    """Per-layer ``[H, R, C]`` float32 arrays of a tuple of ``[1, H, R, C]``/``[H, R, C]`` tensors or
    one ``[L, H, R, C]`` array (rectangular allowed: cross attention)."""
    if isinstance(attention, (tuple, list)):
        layers = []
        for index, layer in enumerate(attention):
            raw = _to_numpy(layer)
            check_real(raw, f"layer {index} of the attention")
            a = np.asarray(raw, dtype=np.float32)
            if a.ndim == 4:
                if a.shape[0] != 1:
                    raise ValueError(f"layer {index} has batch size {a.shape[0]}; pass one example (batch size 1)")
                a = a[0]
            if a.ndim != 3:
                raise ValueError(
                    "The attention tensor does not have the correct number of dimensions. Make sure you set "
                    "output_attentions=True when initializing your model."
                )
            layers.append(a)
        if not layers:
            raise ValueError(EMPTY_ATTENTION)
        return layers
    raw = _to_numpy(attention)
    check_real(raw)
    a = np.asarray(raw, dtype=np.float32)
    if a.ndim == 5 and a.shape[1] == 1:
        a = a[:, 0]
    if a.ndim != 4:
        raise ValueError(f"attention has shape {a.shape}: expected per-layer [1, heads, N, N] tensors or [layers, heads, N, N]")
    return list(a)


def _select(attention: Any, include_layers: Sequence[int] | None, include_heads: Sequence[int] | None = None) -> np.ndarray:
    """bertviz's ``format_attention``: the included layers (and heads) as one ``[L, H, R, C]`` array."""
    layers = _layer_list(attention)
    if include_layers:  # as bertviz: None or [] means every layer
        for layer in include_layers:
            if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)) or not 0 <= layer < len(layers):
                raise ValueError(f"include_layers entry {layer!r} is not a layer index 0..{len(layers) - 1}")
        layers = [layers[int(i)] for i in include_layers]
    shapes = {a.shape for a in layers}
    if len(shapes) != 1:
        raise ValueError(f"layers have different shapes {sorted(shapes)}")
    array = np.stack(layers)
    if include_heads:
        for h in include_heads:
            if isinstance(h, bool) or not isinstance(h, (int, np.integer)) or not 0 <= h < array.shape[1]:
                raise ValueError(f"include_heads entry {h!r} is not a head index 0..{array.shape[1] - 1}")
        array = array[:, [int(h) for h in include_heads]]
    array = np.ascontiguousarray(array, dtype=np.float32)
    if not np.isfinite(array).all():
        raise ValueError("attention contains NaN or inf values; attention weights must be finite numbers")
    return array


def _check_tokens(array: np.ndarray, left: Sequence[str], right: Sequence[str]) -> None:
    """bertviz's check: rows match the left tokens, columns the right tokens."""
    if array.shape[-2] != len(left):
        raise ValueError(
            f"Attention has {array.shape[-2]} positions, while number of tokens is {len(left)} for tokens: {' '.join(map(str, left))}"
        )
    if array.shape[-1] != len(right):
        raise ValueError(
            f"Attention has {array.shape[-1]} positions, while number of tokens is {len(right)} for tokens: {' '.join(map(str, right))}"
        )


def _all_layers(attention: Any) -> list[int]:
    return list(range(len(_layer_list(attention))))


def _build(
    *,
    attention: Any,
    tokens: Any,
    sentence_b_start: int | None,
    encoder_attention: Any,
    decoder_attention: Any,
    cross_attention: Any,
    encoder_tokens: Any,
    decoder_tokens: Any,
    include_layers: Sequence[int] | None,
    include_heads: Sequence[int] | None,
) -> tuple[AttentionResult, list[int]]:
    """The result to show and the model layer index of each of its layers."""
    if attention is not None:
        if tokens is None:
            raise ValueError("'tokens' is required")
        if any(x is not None for x in (encoder_attention, decoder_attention, cross_attention, encoder_tokens, decoder_tokens)):
            raise ValueError(_ENC_DEC_MIXED)
        if include_layers is None:
            include_layers = _all_layers(attention)
        array = _select(attention, include_layers, include_heads)
        toks = validate_tokens(tokens)
        _check_tokens(array, toks, toks)
        result = AttentionResult.from_attention(array, toks, sentence_b_start)
        return result, list(include_layers)

    if encoder_attention is None and decoder_attention is None and cross_attention is None:
        raise ValueError("You must specify at least one attention argument.")
    arrays: dict[str, np.ndarray] = {}
    for name, value in (("encoder", encoder_attention), ("decoder", decoder_attention), ("cross", cross_attention)):
        if value is None:
            continue
        if name in ("encoder", "cross") and encoder_tokens is None:
            raise ValueError(f"'encoder_tokens' required if '{name}_attention' is not None")
        if name in ("decoder", "cross") and decoder_tokens is None:
            raise ValueError(f"'decoder_tokens' required if '{name}_attention' is not None")
        if include_layers is None:
            include_layers = _all_layers(value)
        arrays[name] = _select(value, include_layers, include_heads)
    enc_toks = validate_tokens(encoder_tokens) if encoder_tokens is not None else None
    dec_toks = validate_tokens(decoder_tokens) if decoder_tokens is not None else None
    if "encoder" in arrays:
        _check_tokens(arrays["encoder"], enc_toks, enc_toks)
    if "decoder" in arrays:
        _check_tokens(arrays["decoder"], dec_toks, dec_toks)
    if "cross" in arrays:
        _check_tokens(arrays["cross"], dec_toks, enc_toks)
    layers = list(include_layers or [])

    if "encoder" not in arrays and "cross" not in arrays:
        # Only the decoder: a (causal) self-attention of the decoder tokens.
        decoder = arrays["decoder"]
        info = ModelInfo(num_layers=decoder.shape[0], num_heads=decoder.shape[1], is_causal=True)
        return AttentionResult.from_attention(decoder, dec_toks, info=info), layers

    if "encoder" in arrays:
        encoder = as_attention_array(arrays["encoder"])
    else:
        # Cross attention alone: AttentionResult always holds an encoder self-attention, so the
        # encoder kind is zeros (nothing drawn) and the widget starts on the cross attention.
        cross = arrays["cross"]
        n = len(enc_toks)
        encoder = np.zeros((cross.shape[0], cross.shape[1], n, n), dtype=np.float32)
    info = ModelInfo(num_layers=encoder.shape[0], num_heads=encoder.shape[1], is_encoder_decoder=len(arrays) > 1)
    base = AttentionResult.from_attention(encoder, enc_toks, info=info)
    dec_special = np.array([_looks(t) for t in dec_toks], dtype=bool) if dec_toks is not None else None
    result = AttentionResult(
        tokens=base.tokens,
        attention=base.attention,
        token_type_ids=base.token_type_ids,
        special_tokens_mask=base.special_tokens_mask,
        info=info,
        decoder_tokens=dec_toks if ("decoder" in arrays or "cross" in arrays) else None,
        decoder_attention=arrays.get("decoder"),
        cross_attention=arrays.get("cross"),
        decoder_special_tokens_mask=dec_special if ("decoder" in arrays or "cross" in arrays) else None,
    )
    return result, layers


def _looks(token: str) -> bool:
    from .words import looks_special

    return looks_special(token)


def _check_action(html_action: str) -> None:
    if html_action not in ("view", "return"):
        raise ValueError("'html_action' parameter must be 'view' or 'return")


CROSS_ONLY_NOTICE = (
    "Only cross attention was given: the Encoder selector shows nothing (no encoder self-attention was passed); choose Cross."
)


def _numbering(result: AttentionResult, layers: Sequence[int], heads: Sequence[int] | None) -> dict[str, Any]:
    """The ``info`` entries that give the model's own number of each layer and head shown
    (``layer_numbers``/``head_numbers``), when ``include_layers``/``include_heads`` picked some."""
    extra: dict[str, Any] = {}
    if layers and list(layers) != list(range(result.num_layers)):
        extra["layer_numbers"] = [int(i) for i in layers]
    if heads and list(heads) != list(range(result.num_heads)):
        extra["head_numbers"] = [int(h) for h in heads]
    return extra


def _widget_or_html(result: AttentionResult, state: dict[str, Any], html_action: str, numbering: dict[str, Any]) -> Any:
    """``html_action='return'``: the page as an ``IPython.display.HTML``. ``'view'``: the widget,
    displayed here (as bertviz displays its page) and ``None`` returned."""
    if result.cross_attention is not None and not result.attention.any():
        state = {**state, "attention_kind": "cross", "notice": CROSS_ONLY_NOTICE}
    if html_action == "return":
        return _html(result, state, numbering)
    from IPython.display import display

    display(make_widget(result, state, numbering))
    return None


def make_widget(result: AttentionResult, state: dict[str, Any], numbering: dict[str, Any] | None = None) -> Any:
    """The :class:`~albert_widget.AttentionWidget` that ``head_view``/``model_view`` display: ``state``
    holds its traits (``heads``, ``notice`` and ``attention_kind`` set after the capture is installed)."""
    from .widget import AttentionWidget

    state = dict(state)
    late = {k: state.pop(k) for k in ("heads", "notice", "attention_kind") if k in state}
    widget = AttentionWidget(result=result, **state)
    for name, value in late.items():
        setattr(widget, name, value)
    if numbering:
        widget.set_trait("info", {**widget.info, **numbering})
    return widget


def _html(result: AttentionResult, state: dict[str, Any], numbering: dict[str, Any] | None = None) -> Any:
    """The self-contained page of the standalone exporter, as an IPython HTML object."""
    from IPython.display import HTML

    from .export.html import to_html

    options = {k: state[k] for k in ("view", "layer", "head", "heads") if k in state}
    # Traits the exporter does not know by name travel as the page's other widget traits.
    traits = {k: v for k, v in state.items() if k not in options}
    if numbering:
        traits["info"] = dict(numbering)
    return HTML(to_html(result, **options, traits=traits))


def _display_mode(value: Any) -> str:
    if value not in ("dark", "light"):
        raise ValueError(f"display_mode must be 'dark' or 'light', got {value!r}")
    return value


def head_view(
    attention=None,
    tokens=None,
    sentence_b_start=None,
    prettify_tokens=True,
    layer=None,
    heads=None,
    encoder_attention=None,
    decoder_attention=None,
    cross_attention=None,
    encoder_tokens=None,
    decoder_tokens=None,
    include_layers=None,
    html_action="view",
):
    """bertviz's ``head_view`` (same arguments): displays a live :class:`~albert_widget.AttentionWidget`
    on its head view and returns ``None`` (``html_action='return'``: returns an ``IPython.display.HTML``
    self-contained page instead).

    ``attention``: per-layer ``[1, heads, N, N]`` tensors/arrays (``outputs.attentions``) or one
    ``[layers, heads, N, N]`` array; ``layer``: the model layer shown first (must be in
    ``include_layers``); ``heads``: the heads overlaid (default: all).
    """
    _check_action(html_action)
    result, layers = _build(
        attention=attention,
        tokens=tokens,
        sentence_b_start=sentence_b_start,
        encoder_attention=encoder_attention,
        decoder_attention=decoder_attention,
        cross_attention=cross_attention,
        encoder_tokens=encoder_tokens,
        decoder_tokens=decoder_tokens,
        include_layers=include_layers,
        include_heads=None,
    )
    if layer is not None and layer not in layers:
        raise ValueError(f"Layer {layer} is not in include_layers: {layers}")
    position = layers.index(layer) if layer is not None else 0
    if heads is None:
        chosen = list(range(result.num_heads))
    else:
        chosen = [int(h) for h in heads]
        bad = [h for h in chosen if not 0 <= h < result.num_heads]
        if bad:
            raise ValueError(f"heads {bad} are not head indices 0..{result.num_heads - 1}")
    state = {
        "view": "head",
        "layer": position,
        "head": chosen[0] if chosen else 0,
        "heads": chosen,
        "prettify_tokens": bool(prettify_tokens),
    }
    return _widget_or_html(result, state, html_action, _numbering(result, layers, None))


def model_view(
    attention=None,
    tokens=None,
    sentence_b_start=None,
    prettify_tokens=True,
    display_mode="dark",
    encoder_attention=None,
    decoder_attention=None,
    cross_attention=None,
    encoder_tokens=None,
    decoder_tokens=None,
    include_layers=None,
    include_heads=None,
    html_action="view",
):
    """bertviz's ``model_view`` (same arguments): displays a live :class:`~albert_widget.AttentionWidget`
    on its model view, every included layer x head, and returns ``None`` (``html_action='return'``:
    returns an ``IPython.display.HTML`` self-contained page instead). ``display_mode``: ``"dark"`` (bertviz's default) or ``"light"``.
    """
    _check_action(html_action)
    mode = _display_mode(display_mode)
    result, layers = _build(
        attention=attention,
        tokens=tokens,
        sentence_b_start=sentence_b_start,
        encoder_attention=encoder_attention,
        decoder_attention=decoder_attention,
        cross_attention=cross_attention,
        encoder_tokens=encoder_tokens,
        decoder_tokens=decoder_tokens,
        include_layers=include_layers,
        include_heads=include_heads,
    )
    state = {
        "view": "model",
        "layer": 0,
        "head": 0,
        "heads": [],
        "prettify_tokens": bool(prettify_tokens),
        "display_mode": mode,
    }
    return _widget_or_html(result, state, html_action, _numbering(result, layers, include_heads))
