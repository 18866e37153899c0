"""albert_widget: explore what ALBERT (and any Hugging Face transformer) attends to, in Jupyter."""

from .capture import AttentionTooLargeError, capture
from .export import figure, save_figure
from .models import ModelLoadError, default_model_path, load_default_model
from .result import AttentionResult, ModelInfo
from .widget import AttentionWidget

__all__ = [
    "AttentionResult",
    "AttentionTooLargeError",
    "AttentionWidget",
    "ModelInfo",
    "ModelLoadError",
    "capture",
    "default_model_path",
    "figure",
    "save_figure",
    "load_default_model",
]
__version__ = "0.1.0"
