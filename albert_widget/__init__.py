"""albert_widget: explore what ALBERT (and any Hugging Face transformer) attends to, in Jupyter."""

from .capture import AttentionTooLargeError, capture
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
    "load_default_model",
]
__version__ = "0.1.0"
