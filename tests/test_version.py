"""The version is written once (pyproject.toml) and read from the package metadata; py.typed ships."""

from __future__ import annotations

import importlib.metadata
import pathlib
import re

import albert_widget
from albert_widget import version as version_module

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_version_comes_from_the_metadata():
    assert albert_widget.__version__ == version_module.package_version() == importlib.metadata.version("albert_widget")
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert re.search(r'^version = "([^"]+)"', pyproject, re.M), "pyproject.toml holds the version"
    sources = [p for p in (ROOT / "albert_widget").rglob("*.py") if p.name != "version.py"]
    assert not [p for p in sources if re.search(r"__version__\s*=", p.read_text(encoding="utf-8"))]


def test_version_when_not_installed(monkeypatch):
    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(version_module, "version", missing)
    assert version_module.package_version() == "0+unknown"


def test_py_typed_ships():
    assert (ROOT / "albert_widget" / "py.typed").is_file()
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert "albert_widget/py.typed" in pyproject  # named in the wheel's artifacts
