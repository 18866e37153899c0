"""``albert-widget``: figures and standalone HTML pages from the command line.

    albert-widget figure --model PATH_OR_NAME --text "..." [--pair "..."] --view matrix --layer 3 --head 5 -o fig.pdf
    albert-widget html   --model PATH_OR_NAME --text "..." -o page.html
    albert-widget info   --model PATH_OR_NAME
    albert-widget figure --npz saved.npz --view head -o fig.svg      (no model: works without torch)

Exit codes: 0 success (the path and size written go to stdout), 1 an unexpected failure,
2 a usage error (bad option, unknown view, layer or head out of range, unwritable output),
3 the model could not be loaded (or the torch extra is not installed). Every error is one line on stderr.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from .extras import MissingExtraError

__all__ = ["EXIT_FAILURE", "EXIT_MODEL", "EXIT_OK", "EXIT_USAGE", "main"]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_MODEL = 3

PROG = "albert-widget"


class UsageError(Exception):
    """Exit 2 with this message."""


class ModelError(Exception):
    """Exit 3 with this message."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (exit 2) instead of a usage block."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help')")


def _one_line(text: Any, limit: int = 400) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "\u2026"


# --- arguments -------------------------------------------------------------------------------------

_EPILOG = """\
exit codes: 0 written (path and size on stdout), 1 unexpected failure, 2 usage error (bad option,
unknown view, layer or head out of range), 3 the model could not be loaded.
Layers and heads count from 0. Without network access use --model default or a local folder."""


def _add_input_options(p: argparse.ArgumentParser) -> None:
    from .models import DEFAULT_TEXT

    p.add_argument(
        "--model",
        "-m",
        default="default",
        metavar="PATH_OR_NAME",
        help="a local folder saved with save_pretrained (model + tokenizer), a Hugging Face hub name such as "
        "albert-base-v2 (from the local cache when offline), or 'default': the packaged pretrained "
        "all-MiniLM-L6-v2, which works offline (default: %(default)s)",
    )
    p.add_argument("--text", "-t", default=DEFAULT_TEXT, help="the sentence to run the model on (default: %(default)r)")
    p.add_argument(
        "--pair", "-p", default=None, metavar="TEXT", help="a second sentence: the input becomes a sentence pair (segments A and B)"
    )
    p.add_argument(
        "--max-length", type=int, default=None, metavar="N", help="truncate the input to N tokens (default: the model's maximum)"
    )
    p.add_argument(
        "--npz",
        default=None,
        metavar="FILE.npz",
        help="draw attention saved with AttentionResult.to_npz instead of running a model "
        "(--model, --text, --pair and --max-length are not used; needs no torch)",
    )


def _add_selection_options(p: argparse.ArgumentParser, *, default_view: str | None) -> None:
    from .names import FIGURE_VIEWS

    p.add_argument(
        "--view",
        "-v",
        choices=FIGURE_VIEWS,
        default=default_view,
        help="matrix: heatmap of one head (rows = queries, columns = keys); head: bertviz-style lines "
        "between two token columns; model: every layer x head as small heatmaps" + (" (default: %(default)s)" if default_view else ""),
    )
    p.add_argument("--layer", "-l", type=int, default=None, metavar="L", help="layer index, from 0 (default: 0)")
    p.add_argument("--head", type=int, default=None, metavar="H", help="head index, from 0 (default: 0); outlined in the model view")
    p.add_argument(
        "--heads", default=None, metavar="H1,H2,...", help="comma-separated heads overlaid in the head view, or reduced with --head-reduce"
    )


def _parser() -> _Parser:
    from .names import REDUCTIONS

    parser = _Parser(
        prog=PROG,
        description="Attention figures for papers (SVG, PDF, PNG) and standalone interactive HTML pages "
        "from a transformer (ALBERT, BERT, MiniLM, ...).",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    fig = sub.add_parser(
        "figure",
        help="write a figure of one view as .pdf, .svg or .png (.pgf with LaTeX)",
        description="Run the model on the text and write one view as a publication figure: one or two "
        "paper columns wide, fonts embedded in PDF, colour-blind-safe colour maps, the same bytes for the "
        "same input.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_input_options(fig)
    _add_selection_options(fig, default_view="matrix")
    fig.add_argument(
        "--head-reduce",
        choices=REDUCTIONS,
        default="none",
        help="matrix and head views: show the mean or max over --heads (all heads when not given) "
        "instead of one head (default: %(default)s)",
    )
    fig.add_argument(
        "--threshold",
        type=float,
        default=0.0,
        metavar="W",
        help="head view: leave out lines with a weight below W, 0..1 (default: %(default)s)",
    )
    fig.add_argument(
        "--cmap",
        default="viridis",
        help="matplotlib colour map name; colour-blind safe: viridis, cividis, magma, Greys (default: %(default)s)",
    )
    fig.add_argument(
        "--width",
        default="single",
        metavar="single|double|INCHES",
        help="figure width: single = one paper column (3.3 in), double = two columns (6.9 in), or inches (default: %(default)s)",
    )
    fig.add_argument(
        "--dpi", type=float, default=300, help="PNG resolution in dots per inch: the PNG is width x dpi pixels wide (default: %(default)s)"
    )
    fig.add_argument(
        "--font-size", type=float, default=None, metavar="PT", help="token label size in points (default: 7; long inputs shrink it)"
    )
    fig.add_argument("--title", default=None, help="figure title (default: automatic, e.g. 'Layer 3, head 5'; '' for none)")
    fig.add_argument(
        "--no-prettify", action="store_true", help="show raw tokenizer pieces (\u2581the, ##ing, \u0120the) instead of the words"
    )
    fig.add_argument(
        "--output",
        "-o",
        required=True,
        metavar="FILE",
        help="where to write; the extension picks the format: .pdf, .svg, .png (.pgf needs LaTeX)",
    )

    html = sub.add_parser(
        "html",
        help="write one self-contained interactive HTML page that works offline",
        description="Run the model on the text and write one HTML file that opens offline in any browser "
        "and stays interactive (sliders, hover, views) on the captured attention.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_input_options(html)
    _add_selection_options(html, default_view=None)
    html.add_argument("--output", "-o", required=True, metavar="FILE.html", help="where to write the page")

    info = sub.add_parser(
        "info",
        help="print what a model is: type, layers, heads, ALBERT weight sharing",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    info.add_argument(
        "--model", "-m", default="default", metavar="PATH_OR_NAME", help="as for 'figure' (default: %(default)s, the packaged MiniLM)"
    )
    return parser


# --- steps -----------------------------------------------------------------------------------------


def _parse_heads(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        heads = [int(part) for part in text.replace(" ", "").split(",") if part != ""]
    except ValueError:
        raise UsageError(f"--heads must be comma-separated head indices such as 1,5,9, got {text!r}") from None
    if not heads:
        raise UsageError("--heads is empty; give head indices such as 1,5,9")
    return heads


def _check_output(path: str) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UsageError(f"cannot write {path!r}: the folder {folder!r} does not exist")
    if os.path.isdir(path):
        raise UsageError(f"cannot write {path!r}: it is a folder; give a file name")


def _load(name: str) -> tuple[Any, Any, str]:
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    from .models import ModelLoadError, default_model_path, load_pretrained

    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
    except Exception:  # pragma: no cover - older transformers
        pass
    if name in ("default", ""):
        path = default_model_path()
    else:
        path = os.path.expanduser(name)
        looks_local = path.startswith((".", "/", "~")) or (os.sep in path and path.count("/") != 1)
        if not os.path.exists(path) and (looks_local or os.path.isabs(path)):
            raise ModelError(f"cannot load model {name!r}: no such folder")
        if os.path.exists(path) and not os.path.isdir(path):
            raise ModelError(f"cannot load model {name!r}: it is a file; give the folder that save_pretrained wrote")
        if os.path.isdir(path) and not os.path.isfile(os.path.join(path, "config.json")):
            raise ModelError(
                f"cannot load model {name!r}: the folder has no config.json; give the folder that "
                "model.save_pretrained() and tokenizer.save_pretrained() wrote"
            )
    try:
        model, tokenizer = load_pretrained(path)
    except Exception as exc:
        if isinstance(exc, ModelLoadError) and exc.__cause__ is None:
            # our own whole message (not a folder, not cached, hub unreachable; how to work offline)
            reason = str(exc).removeprefix(f"could not load {path!r}: ")
            raise ModelError(f"cannot load model {name!r}: {_one_line(reason, 700)}") from exc
        reason = exc.__cause__ if exc.__cause__ is not None else exc
        raise ModelError(f"cannot load model {name!r}: {_one_line(reason, 300)}") from exc
    return model, tokenizer, path


def _config_shape(name: str) -> tuple[int, int] | None:
    """``(layers, heads)`` from the ``config.json`` of a local model folder (``'default'``: the packaged
    model), read without loading the model; ``None`` for a hub name or a config without them."""
    import json

    from .models import default_model_path

    try:
        folder = default_model_path() if name in ("default", "") else os.path.expanduser(name)
    except ImportError:  # the packaged model is not installed (a viewing-only install)
        return None
    try:
        with open(os.path.join(folder, "config.json"), encoding="utf-8") as f:
            config = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(config, dict):
        return None
    # BERT/ALBERT/RoBERTa name them num_hidden_layers/num_attention_heads; GPT-2 n_layer/n_head.
    layers = config.get("num_hidden_layers", config.get("n_layer"))
    heads = config.get("num_attention_heads", config.get("n_head"))
    if isinstance(layers, int) and isinstance(heads, int) and layers > 0 and heads > 0:
        return layers, heads
    return None


def _precheck(args: argparse.Namespace, heads: list[int] | None) -> None:
    """What can be checked before the model loads (seconds): the text and pair, and the layer and
    head against the local folder's config.json. The same checks run again on the capture."""
    from .forward import validate_text

    if getattr(args, "npz", None) is not None:
        return  # no model runs: the saved attention is checked when it is read
    try:
        validate_text(args.text, "--text")
        validate_text(args.pair, "--pair", allow_none=True)
    except (TypeError, ValueError) as exc:
        raise UsageError(_one_line(exc)) from exc
    shape = _config_shape(args.model)
    if shape is not None:
        _check_range_of(shape[0], shape[1], args.layer, args.head, heads)


def _capture(args: argparse.Namespace):
    if args.npz is not None:
        return _read_npz(args.npz)
    from .capture import capture

    if args.max_length is not None and args.max_length < 2:
        raise UsageError(f"--max-length must be at least 2, got {args.max_length}")
    model, tokenizer, _ = _load(args.model)
    try:
        return capture(model, tokenizer, args.text, args.pair, max_length=args.max_length)
    except (TypeError, ValueError) as exc:
        raise UsageError(_one_line(exc)) from exc


def _read_npz(path: str):
    """The :class:`AttentionResult` saved at ``path`` (no model, no torch)."""
    from .result import AttentionResult

    if not os.path.isfile(path):
        raise UsageError(f"--npz {path!r}: no such file")
    try:
        return AttentionResult.from_npz(path)
    except (KeyError, ValueError) as exc:
        raise UsageError(f"--npz {path!r} is not an attention file written by AttentionResult.to_npz: {_one_line(exc, 200)}") from exc


def _check_range(result: Any, layer: int | None, head: int | None, heads: list[int] | None) -> None:
    _check_range_of(result.num_layers, result.num_heads, layer, head, heads)


def _check_range_of(L: int, H: int, layer: int | None, head: int | None, heads: list[int] | None) -> None:
    if layer is not None and not 0 <= layer < L:
        raise UsageError(f"--layer {layer} is out of range: this model has {L} layers (valid: 0 to {L - 1})")
    named = ([("--head", head)] if head is not None else []) + [("--heads", h) for h in heads or []]
    for option, h in named:
        if not 0 <= h < H:
            raise UsageError(f"{option}: head {h} is out of range: this model has {H} heads per layer (valid: 0 to {H - 1})")


def _figure(args: argparse.Namespace) -> int:
    from .export import figures

    # Everything that can be checked without the model, first (loading takes seconds).
    try:
        fmt = figures._format_of(args.output, None)
        figures.resolve_cmap(args.cmap)
        width: Any = args.width
        if width not in figures.WIDTHS:
            try:
                width = float(width)
            except ValueError:
                raise ValueError(f"unknown width {args.width!r}: expected 'single' (3.3 in), 'double' (6.9 in) or inches") from None
        figures.resolve_width(width)
    except ValueError as exc:
        raise UsageError(_one_line(exc)) from exc
    if not 10 <= args.dpi <= 2400:
        raise UsageError(f"--dpi must be between 10 and 2400, got {args.dpi:g}")
    if not 0.0 <= args.threshold <= 1.0:
        raise UsageError(f"--threshold must be between 0 and 1, got {args.threshold:g}")
    if args.font_size is not None and not 3 <= args.font_size <= 30:
        raise UsageError(f"--font-size must be between 3 and 30 points, got {args.font_size:g}")
    if fmt == "pgf" and figures._latex_available() is None:
        raise UsageError("writing .pgf needs LaTeX (xelatex) on the PATH; write .pdf or .svg instead")
    heads = _parse_heads(args.heads)
    _check_output(args.output)

    _precheck(args, heads)
    result = _capture(args)
    layer = args.layer if args.layer is not None else 0
    head = args.head if args.head is not None else 0
    _check_range(result, layer, head, heads)
    try:
        size = figures.save_figure(
            result,
            args.output,
            view=args.view,
            layer=layer,
            head=head,
            heads=heads,
            head_reduce=args.head_reduce,
            cmap=args.cmap,
            width=width,
            dpi=args.dpi,
            threshold=args.threshold,
            title=args.title,
            prettify_tokens=not args.no_prettify,
            font_size=args.font_size,
        )
    except ValueError as exc:
        raise UsageError(_one_line(exc)) from exc
    print(f"wrote {args.output} ({size} bytes)")
    return EXIT_OK


def _html(args: argparse.Namespace) -> int:
    from .export.html import write_html

    if not args.output.lower().endswith((".html", ".htm")):
        raise UsageError(f"--output must end in .html, got {args.output!r}")
    heads = _parse_heads(args.heads)
    _check_output(args.output)
    _precheck(args, heads)
    result = _capture(args)
    _check_range(result, args.layer, args.head, heads)
    state = {k: v for k, v in (("view", args.view), ("layer", args.layer), ("head", args.head), ("heads", heads)) if v is not None}
    try:
        size = write_html(result, args.output, **state)
    except (TypeError, ValueError) as exc:
        raise UsageError(_one_line(exc)) from exc
    if not isinstance(size, int):
        size = os.path.getsize(args.output)
    print(f"wrote {args.output} ({size} bytes)")
    return EXIT_OK


def _info(args: argparse.Namespace) -> int:
    model, tokenizer, path = _load(args.model)
    from .capture import model_max_length

    config = model.config
    layers = getattr(config, "num_hidden_layers", None)
    heads = getattr(config, "num_attention_heads", None)
    print(f"model: {args.model}" + (f" ({path})" if path != args.model else ""))
    print(f"type: {getattr(config, 'model_type', 'unknown')}")
    print(f"layers: {layers}")
    print(f"heads per layer: {heads}")
    groups = getattr(config, "num_hidden_groups", None)
    if groups is not None:
        print(f"shared weight groups: {groups} (ALBERT: the {layers} layers run {groups} set(s) of weights)")
    print(f"max length: {model_max_length(model, tokenizer)} tokens")
    return EXIT_OK


_COMMANDS = {"figure": _figure, "html": _html, "info": _info}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (see the module docstring)."""
    parser = _parser()
    try:
        args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
        if args.command is None:
            parser.print_help(sys.stderr)
            return EXIT_USAGE
        return _COMMANDS[args.command](args)
    except SystemExit as exc:  # --help
        return int(exc.code or 0) if isinstance(exc.code, int) or exc.code is None else EXIT_USAGE
    except UsageError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (ModelError, MissingExtraError) as exc:  # no model without the torch extra: exit 3 too
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_MODEL
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:
        print(f"{PROG}: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_FAILURE
    except Exception as exc:
        print(f"{PROG}: error: unexpected {type(exc).__name__}: {_one_line(exc)}", file=sys.stderr)
        return EXIT_FAILURE
