"""The widget's state as plain data: what a page needs to draw a capture, with no widget in sight.

:func:`input_state` is what a capture fixes (tokens, shape, model info); :data:`VIEW_DEFAULTS` is
what the user chooses (layer, head, view, filters). The live widget sets its traits from these, and
the HTML export writes ``{**input_state(result), **view}`` into the page, so the two cannot drift.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .longcontext.compact import CompactAttention
from .models import model_label
from .result import AttentionResult

__all__ = ["VIEW_DEFAULTS", "attention_form", "input_state", "page_state", "truncation_notice"]

#: A capture the page can show: the whole ``[L, H, N, N]`` (dense) or queries/keys/log-sum-exp (compact).
Capture = AttentionResult | CompactAttention


def attention_form(result: Capture) -> str:
    """``"compact"`` for a :class:`~albert_widget.longcontext.CompactAttention`, else ``"dense"``
    (the names: :data:`albert_widget.names.ATTENTION_FORMS`)."""
    return "compact" if isinstance(result, CompactAttention) else "dense"


#: What the user chooses, with its starting value (the widget's trait defaults come from here).
VIEW_DEFAULTS: dict[str, Any] = {
    "layer": 0,
    "head": 0,
    "heads": [],
    "head_reduce": "none",
    "view": "head",
    "threshold": 0.0,
    "pair_filter": "all",
    "word_level": False,
    "layer_reduce": "none",
    "hide_special": False,
    "token_search": "",
    "attention_kind": "encoder",
    "prettify_tokens": True,
    "display_mode": "auto",
    "explain_method": "rollout",
    "neuron_query": -1,
    "row_query": -1,
    "model_statistic": "thumbnails",
    "colour_scale": "auto",
}


def model_info(result: Capture | None, *, editable: bool) -> dict[str, Any]:
    """The ``info`` trait: model facts (JSON-safe), truncation, ALBERT's layer groups, the shape of
    each attention kind, and whether the page may run the model on new text. A compact capture adds
    ``prompt_length`` (tokens before the first generated one; N when none was generated) and
    ``num_kv_heads``."""
    info: dict[str, Any] = {"editable": editable}
    if isinstance(result, CompactAttention):
        info.update(result.info.to_dict())
        info["model_label"] = model_label(result.info.name_or_path)
        info.update(
            num_truncated=result.num_truncated,
            layer_groups=list(range(result.num_layers)),
            sentence_b_start=None,
            kind_shapes={"encoder": [result.num_layers, result.num_heads]},
            prompt_length=result.prompt_length,
            num_kv_heads=result.num_kv_heads,
        )
    elif result is not None:
        info.update(result.info.to_dict())
        # the model's short name the page shows (all-MiniLM-L6-v2), never a local folder
        info["model_label"] = model_label(result.info.name_or_path)
        info.update(
            num_truncated=result.num_truncated,
            layer_groups=result.layer_groups,
            sentence_b_start=result.sentence_b_start,
            kind_shapes={k: [int(s) for s in result.attention_of(k).shape[:2]] for k in result.kinds},
        )
    return info


def truncation_notice(result: Capture) -> str:
    """One sentence when the input lost tokens to the model's maximum, else ``""``."""
    if not result.num_truncated:
        return ""
    s = "s" if result.num_truncated != 1 else ""
    return f"Input truncated: {result.num_truncated} token{s} dropped to fit the model's maximum of {result.info.max_length} tokens."


def input_state(result: Capture, *, editable: bool) -> dict[str, Any]:
    """The traits a capture fixes: text, tokens, segments, special mask, shape (of the encoder's
    attention; :func:`kind_shape` gives another kind's), decoder tokens, kinds, info, notice,
    attention_form. A compact capture is one sentence of encoder (self-)attention."""
    if isinstance(result, CompactAttention):
        return {
            "text": result.text or "",
            "text_pair": None,
            "tokens": list(result.tokens),
            "segments": [0] * result.num_tokens,
            "special": [bool(s) for s in result.special_tokens_mask],
            "num_layers": result.num_layers,
            "num_heads": result.num_heads,
            "kinds": ["encoder"],
            "decoder_tokens": [],
            "decoder_special": [],
            "info": model_info(result, editable=editable),
            "notice": truncation_notice(result),
            "error": "",
            "attention_form": "compact",
        }
    mask = result.decoder_special_tokens_mask
    decoder_tokens = list(result.decoder_tokens or ())
    return {
        "text": result.text or "",
        "text_pair": result.text_pair,
        "tokens": list(result.tokens),
        "segments": [int(s) for s in result.token_type_ids],
        "special": [bool(s) for s in result.special_tokens_mask],
        "num_layers": result.num_layers,
        "num_heads": result.num_heads,
        "kinds": list(result.kinds),
        "decoder_tokens": decoder_tokens,
        "decoder_special": [bool(s) for s in mask] if mask is not None else [False] * len(decoder_tokens),
        "info": model_info(result, editable=editable),
        "notice": truncation_notice(result),
        "error": "",
        "attention_form": "dense",
    }


def kind_shape(result: Capture, kind: str) -> tuple[int, int]:
    """``(layers, heads)`` of one attention kind of ``result``."""
    if isinstance(result, CompactAttention):
        return result.num_layers, result.num_heads
    layers, heads = result.attention_of(kind).shape[:2]
    return int(layers), int(heads)


def page_state(result: Capture, view: Mapping[str, Any], *, editable: bool) -> dict[str, Any]:
    """Every trait a page showing ``result`` starts from: :func:`input_state` plus the user's view
    choices (:data:`VIEW_DEFAULTS` overridden by ``view``), with ``num_layers``/``num_heads`` those of
    the attention kind shown and ``revision`` 1."""
    state = {**VIEW_DEFAULTS, **{k: v for k, v in view.items() if k in VIEW_DEFAULTS}}
    state.update(input_state(result, editable=editable))
    kinds = ("encoder",) if isinstance(result, CompactAttention) else result.kinds
    kind = state["attention_kind"] if state["attention_kind"] in kinds else "encoder"
    state["attention_kind"] = kind
    state["num_layers"], state["num_heads"] = kind_shape(result, kind)
    state["revision"] = 1
    return state
