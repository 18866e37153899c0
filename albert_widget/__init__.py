"""albert_widget: explore what ALBERT (and any Hugging Face transformer) attends to, in Jupyter."""

from .capture import AttentionTooLargeError, capture
from .compare import CompareWidget
from .compat import head_view, model_view
from .export import figure, save_figure
from .longcontext import CompactAttention, CompactTooLargeError, capture_compact, capture_generate
from .models import ModelLoadError, default_model_path, load_default_model
from .result import AttentionResult, ModelInfo
from .seq2seq import capture_seq2seq
from .version import __version__
from .widget import AttentionWidget

__all__ = [
    "AttentionResult",
    "AttentionTooLargeError",
    "AttentionWidget",
    "CompactAttention",
    "CompactTooLargeError",
    "CompareWidget",
    "ModelInfo",
    "ModelLoadError",
    "__version__",
    "capture",
    "capture_compact",
    "capture_generate",
    "capture_seq2seq",
    "default_model_path",
    "figure",
    "head_view",
    "load_default_model",
    "model_view",
    "save_figure",
]
