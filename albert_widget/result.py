"""The immutable result of one capture: tokens, attention and what the model is.

Everything downstream (widget, transport, export, analysis) reads an :class:`AttentionResult`;
nothing downstream changes it.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from os import PathLike
from typing import Any

import numpy as np

from .words import looks_special

__all__ = ["AttentionResult", "ModelInfo", "as_attention_array", "validate_tokens"]


@dataclass(frozen=True)
class ModelInfo:
    """What produced the attention.

    ``num_hidden_groups``/``inner_group_num`` describe ALBERT's weight sharing: its
    ``num_layers`` layers run ``num_hidden_groups`` shared groups (1 for every released ALBERT).
    For models without sharing they are ``None``.
    """

    model_type: str = ""  # "" when no model made the attention (from_attention): no label to show
    name_or_path: str = ""
    num_layers: int = 0
    num_heads: int = 0
    num_hidden_groups: int | None = None
    inner_group_num: int | None = None
    max_length: int | None = None
    is_causal: bool = False
    is_encoder_decoder: bool = False  # BART/T5: the result also holds decoder and cross attention
    attn_implementation: str | None = None  # what the user's model had before the capture

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _readonly(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


def _to_numpy(x: Any) -> np.ndarray:
    """A torch tensor, JAX/TF array or array-like as a numpy array (no copy when possible)."""
    if hasattr(x, "detach"):  # torch
        x = x.detach()
        if getattr(x, "dtype", None) is not None and str(x.dtype) in ("torch.bfloat16",):
            x = x.float()
        return x.cpu().numpy()
    return np.asarray(x)


def check_real(array: np.ndarray, what: str = "attention") -> None:
    """Raise ``TypeError`` when ``array`` holds complex numbers: attention weights are real, and a
    silent cast to float32 would drop the imaginary part."""
    if np.iscomplexobj(array):
        raise TypeError(
            f"{what} has complex dtype {array.dtype}; attention weights must be real numbers "
            "(pass array.real or abs(array) if that is what you mean)"
        )


def as_attention_array(attention: Any) -> np.ndarray:
    """Normalise attention from anywhere to one C-contiguous float32 array ``[L, H, N, N]``.

    Accepts a tuple/list of per-layer ``[1, H, N, N]`` or ``[H, N, N]`` tensors/arrays (what
    ``outputs.attentions`` holds), or one ``[L, H, N, N]`` array (torch, numpy, JAX, TF).
    Raises ``TypeError``/``ValueError`` saying what was expected.
    """
    expected = (
        "expected a tuple of per-layer attention tensors shaped [1, heads, N, N] or [heads, N, N], "
        "or one array shaped [layers, heads, N, N]"
    )
    if attention is None:
        raise ValueError(f"no attention was given: {expected}")
    if isinstance(attention, (str, bytes, dict)):
        raise TypeError(f"attention is a {type(attention).__name__}: {expected}")
    if isinstance(attention, (tuple, list)):
        if len(attention) == 0:
            raise ValueError(
                "attention is empty (the model returned no attention; under transformers 5 the default "
                f"'sdpa' attention returns an empty tuple, load the model with attn_implementation='eager'): {expected}"
            )
        layers = []
        for index, layer in enumerate(attention):
            if layer is None:
                raise ValueError(f"layer {index} of the attention is None: {expected}")
            a = _to_numpy(layer)
            if a.dtype == object or not np.issubdtype(a.dtype, np.number):
                raise TypeError(f"layer {index} of the attention has dtype {a.dtype}: {expected}")
            check_real(a, f"layer {index} of the attention")
            if a.ndim == 4:
                if a.shape[0] != 1:
                    raise ValueError(f"layer {index} has batch size {a.shape[0]}; pass one example (batch size 1): {expected}")
                a = a[0]
            if a.ndim != 3:
                raise ValueError(f"layer {index} has shape {tuple(a.shape)}: {expected}")
            layers.append(a)
        shapes = {a.shape for a in layers}
        if len(shapes) != 1:
            raise ValueError(f"layers have different shapes {sorted(shapes)}: {expected}")
        array = np.stack(layers).astype(np.float32, copy=False)
    else:
        try:
            array = _to_numpy(attention)
        except Exception as exc:  # pragma: no cover - exotic objects
            raise TypeError(f"cannot read attention of type {type(attention).__name__}: {expected}") from exc
        if array.dtype == object or not np.issubdtype(array.dtype, np.number):
            raise TypeError(f"attention has dtype {array.dtype}: {expected}")
        check_real(array, "attention")
        if array.ndim == 5 and array.shape[1] == 1:
            array = array[:, 0]
        if array.ndim != 4:
            raise ValueError(f"attention has shape {tuple(array.shape)}: {expected}")
        # Always a copy: the result must not share memory with the caller's array or tensor (which
        # could change under it) nor make the caller's own array read-only.
        array = np.array(array, dtype=np.float32, order="C", copy=True)
    if array.shape[-1] != array.shape[-2]:
        raise ValueError(f"attention matrices must be square [N, N], got {tuple(array.shape[-2:])}: {expected}")
    if 0 in array.shape:
        raise ValueError(f"attention has an empty dimension {tuple(array.shape)}: {expected}")
    finite = np.isfinite(array)
    if not finite.all():
        bad = np.argwhere(~finite)[0]
        raise ValueError(
            f"attention contains {int((~finite).sum())} NaN/inf values (first at layer {bad[0]}, head {bad[1]}, "
            f"row {bad[2]}, column {bad[3]}); attention weights must be finite numbers"
        )
    return np.ascontiguousarray(array)


def validate_tokens(tokens: Any, n: int | None = None) -> tuple[str, ...]:
    """Tokens as a tuple of str; ``n`` is the token count the attention has."""
    if isinstance(tokens, str) or (not isinstance(tokens, Sequence) and not hasattr(tokens, "__iter__")):
        raise TypeError(f"tokens must be a list of strings, got {type(tokens).__name__}")
    out = tuple(tokens)
    for i, t in enumerate(out):
        if not isinstance(t, str):
            raise TypeError(f"token {i} is a {type(t).__name__}; tokens must be strings")
    if n is not None and len(out) != n:
        raise ValueError(f"got {len(out)} tokens but the attention is over {n} tokens; they must match")
    return out


@dataclass(frozen=True)
class AttentionResult:
    """Tokens and attention of one input.

    ``attention[l, h, i, j]`` (float32, shape ``[L, H, N, N]``, read-only) is the weight that query
    token ``i`` puts on key token ``j`` in head ``h`` of layer ``l``.
    """

    tokens: tuple[str, ...]
    attention: np.ndarray
    token_type_ids: np.ndarray
    special_tokens_mask: np.ndarray
    sentence_b_start: int | None = None
    num_truncated: int = 0
    info: ModelInfo = field(default_factory=ModelInfo)
    text: str | None = None
    text_pair: str | None = None
    # Encoder-decoder models (BART, T5): the fields above are the encoder's; these the decoder's.
    decoder_tokens: tuple[str, ...] | None = None  # M decoder input tokens
    decoder_attention: np.ndarray | None = None  # float32 [L, H, M, M] (causal)
    cross_attention: np.ndarray | None = None  # float32 [L, H, M, N]: decoder queries, encoder keys
    decoder_special_tokens_mask: np.ndarray | None = None  # bool [M]

    def __post_init__(self) -> None:
        n = self.attention.shape[-1]
        if len(self.tokens) != n or self.token_type_ids.shape != (n,) or self.special_tokens_mask.shape != (n,):
            raise ValueError(
                f"tokens ({len(self.tokens)}), token types {self.token_type_ids.shape} and special mask "
                f"{self.special_tokens_mask.shape} must all match the attention's {n} tokens"
            )
        for a in (self.attention, self.token_type_ids, self.special_tokens_mask):
            if a.flags.writeable:
                _readonly(a)
        self._check_decoder()

    def _check_decoder(self) -> None:
        """Decoder fields: all shapes consistent with decoder_tokens (M) and the encoder's N tokens."""
        dec, cross = self.decoder_attention, self.cross_attention
        if dec is None and cross is None:
            return
        if self.decoder_tokens is None:
            raise ValueError("decoder_attention/cross_attention need decoder_tokens")
        m, n = len(self.decoder_tokens), self.num_tokens
        if dec is not None and (dec.ndim != 4 or dec.shape[-2:] != (m, m)):
            raise ValueError(f"decoder_attention must be [layers, heads, {m}, {m}], got {tuple(dec.shape)}")
        if cross is not None and (cross.ndim != 4 or cross.shape[-2:] != (m, n)):
            raise ValueError(f"cross_attention must be [layers, heads, {m}, {n}] (decoder x encoder tokens), got {tuple(cross.shape)}")
        mask = self.decoder_special_tokens_mask
        if mask is not None and mask.shape != (m,):
            raise ValueError(f"decoder_special_tokens_mask must have {m} entries, got {mask.shape}")
        for a in (dec, cross, mask):
            if a is not None and a.flags.writeable:
                _readonly(a)

    # -- encoder-decoder -------------------------------------------------------------------------
    @property
    def kinds(self) -> tuple[str, ...]:
        """The attention kinds held: ``("encoder",)`` plus ``"decoder"`` and ``"cross"`` for BART/T5."""
        out = ["encoder"]
        if self.decoder_attention is not None:
            out.append("decoder")
        if self.cross_attention is not None:
            out.append("cross")
        return tuple(out)

    @property
    def attentions(self) -> dict[str, np.ndarray]:
        """Every attention array by kind (what the page may request)."""
        return {kind: self.attention_of(kind) for kind in self.kinds}

    def attention_of(self, kind: str = "encoder") -> np.ndarray:
        """``attention`` (encoder), ``decoder_attention`` or ``cross_attention``."""
        array = {"encoder": self.attention, "decoder": self.decoder_attention, "cross": self.cross_attention}.get(kind)
        if array is None:
            raise ValueError(f"this result has no {kind!r} attention; it has {', '.join(self.kinds)}")
        return array

    # -- shape -----------------------------------------------------------------------------------
    @property
    def num_layers(self) -> int:
        return int(self.attention.shape[0])

    @property
    def num_heads(self) -> int:
        return int(self.attention.shape[1])

    @property
    def num_tokens(self) -> int:
        return int(self.attention.shape[-1])

    @property
    def layer_groups(self) -> list[int]:
        """For each layer, the index of the weight group it runs.

        ALBERT shares one set of weights among all its layers (``num_hidden_groups=1``): all zeros.
        Models without sharing: ``[0, 1, ..., L-1]``.
        """
        groups = self.info.num_hidden_groups
        if not groups:
            return list(range(self.num_layers))
        return [int(layer / (self.num_layers / groups)) for layer in range(self.num_layers)]

    # -- construction ----------------------------------------------------------------------------
    @classmethod
    def from_attention(
        cls,
        attention: Any,
        tokens: Sequence[str],
        sentence_b_start: int | None = None,
        *,
        special_tokens_mask: Sequence[bool] | None = None,
        info: ModelInfo | None = None,
    ) -> AttentionResult:
        """Wrap attention computed anywhere (see :func:`as_attention_array` for accepted shapes)."""
        array = as_attention_array(attention)
        n = array.shape[-1]
        toks = validate_tokens(tokens, n)
        if sentence_b_start is not None:
            if isinstance(sentence_b_start, bool) or not isinstance(sentence_b_start, (int, np.integer)):
                raise TypeError("sentence_b_start must be an int index or None")
            if not 0 < int(sentence_b_start) < n:
                raise ValueError(f"sentence_b_start must be between 1 and {n - 1}, got {sentence_b_start}")
            sentence_b_start = int(sentence_b_start)
        segments = np.zeros(n, dtype=np.int64)
        if sentence_b_start is not None:
            segments[sentence_b_start:] = 1
        if special_tokens_mask is None:
            special = np.array([looks_special(t) for t in toks], dtype=bool)
        else:
            special = np.asarray(special_tokens_mask, dtype=bool)
        if info is None:
            info = ModelInfo(num_layers=array.shape[0], num_heads=array.shape[1])
        return cls(
            tokens=toks,
            attention=array,
            token_type_ids=segments,
            special_tokens_mask=special,
            sentence_b_start=sentence_b_start,
            info=info,
        )

    # -- files -----------------------------------------------------------------------------------
    def to_npz(self, path: str | PathLike) -> None:
        """Save everything to one ``.npz`` (attention kept as float32, exactly)."""
        meta = {
            "tokens": list(self.tokens),
            "sentence_b_start": self.sentence_b_start,
            "num_truncated": self.num_truncated,
            "info": self.info.to_dict(),
            "text": self.text,
            "text_pair": self.text_pair,
            "format": "albert_widget/1",
        }
        np.savez_compressed(
            path,
            attention=self.attention,
            token_type_ids=self.token_type_ids,
            special_tokens_mask=self.special_tokens_mask,
            meta=np.array(json.dumps(meta)),
            **self._decoder_npz(),
        )

    def _decoder_npz(self) -> dict[str, np.ndarray]:
        if self.decoder_tokens is None:
            return {}
        arrays = {"decoder_meta": np.array(json.dumps({"decoder_tokens": list(self.decoder_tokens)}))}
        for name in ("decoder_attention", "cross_attention", "decoder_special_tokens_mask"):
            if getattr(self, name) is not None:
                arrays[name] = getattr(self, name)
        return arrays

    @classmethod
    def from_npz(cls, path: str | PathLike) -> AttentionResult:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            return cls(
                tokens=tuple(meta["tokens"]),
                attention=np.array(data["attention"], dtype=np.float32),
                token_type_ids=np.array(data["token_type_ids"]),
                special_tokens_mask=np.array(data["special_tokens_mask"]),
                sentence_b_start=meta["sentence_b_start"],
                num_truncated=meta["num_truncated"],
                info=ModelInfo(**meta["info"]),
                text=meta["text"],
                text_pair=meta["text_pair"],
                **_decoder_fields(data),
            )

    def __repr__(self) -> str:
        from .models import model_label  # the model's short name (all-MiniLM-L6-v2), never a local path

        model = model_label(self.info.name_or_path) or self.info.model_type
        return (
            f"AttentionResult(model={model!r}, layers={self.num_layers}, heads={self.num_heads}, "
            f"tokens={self.num_tokens}, truncated={self.num_truncated})"
        )


def _decoder_fields(data: Any) -> dict[str, Any]:
    """The decoder fields saved by ``to_npz`` (none for encoder-only results)."""
    if "decoder_meta" not in data.files:
        return {}
    out: dict[str, Any] = {"decoder_tokens": tuple(json.loads(str(data["decoder_meta"]))["decoder_tokens"])}
    for name, dtype in (("decoder_attention", np.float32), ("cross_attention", np.float32), ("decoder_special_tokens_mask", bool)):
        if name in data.files:
            out[name] = np.array(data[name], dtype=dtype)
    return out
