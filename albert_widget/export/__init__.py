"""Exports: figures for papers (:mod:`.figures`, matplotlib) and the standalone HTML page.

Importing this package is cheap: matplotlib is imported when a figure is built.
"""

from .figures import (
    FIGURE_FORMATS,
    VIEWS,
    WIDTHS,
    figure,
    prettify_token,
    save_figure,
)

__all__ = ["FIGURE_FORMATS", "VIEWS", "WIDTHS", "figure", "prettify_token", "save_figure"]
