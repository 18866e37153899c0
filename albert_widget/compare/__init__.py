"""Comparing two captures: alignment (:mod:`.align`), the widget (:mod:`.widget`), figures (:mod:`.figures`)."""

from .align import Alignment, Slot, align, align_tokens, aligned_attention
from .widget import COMPARE_VIEWS, SIDE_VIEWS, CompareWidget

__all__ = ["COMPARE_VIEWS", "SIDE_VIEWS", "Alignment", "CompareWidget", "Slot", "align", "align_tokens", "aligned_attention"]
