"""The package's version. pyproject.toml is the one place it is written; Python reads it from the
installed distribution's metadata ("0+unknown" when the package runs from a source tree that was
never installed)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

__all__ = ["__version__", "package_version"]


def package_version() -> str:
    """``albert_widget``'s version from its distribution metadata, or ``"0+unknown"``."""
    try:
        return version("albert_widget")
    except PackageNotFoundError:
        return "0+unknown"


__version__ = package_version()
