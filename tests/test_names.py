"""Each name list is written once per language; the page's copy (js/src/names.js) equals Python's."""

from __future__ import annotations

import json
import pathlib
import re

import pytest

from albert_widget import names
from albert_widget.compare.contract import COMPARE_REQUESTS
from albert_widget.protocol import REQUESTS

JS = pathlib.Path(__file__).resolve().parents[1] / "js" / "src"


def _js_lists(path: pathlib.Path) -> dict[str, list[str]]:
    text = path.read_text(encoding="utf-8")
    return {m.group(1): json.loads(m.group(2)) for m in re.finditer(r"export const (\w+) = (\[[^\]]*\]);", text)}


@pytest.mark.parametrize(
    "name",
    [
        "VIEWS",
        "REDUCTIONS",
        "PAIR_FILTERS",
        "ATTENTION_KINDS",
        "DISPLAY_MODES",
        "EXPLAIN_METHODS",
        "ENCODINGS",
        "ATTENTION_FORMS",
        "COMPACT_VIEWS",
    ],
)
def test_js_names_equal_python_names(name):
    assert _js_lists(JS / "names.js")[name] == list(getattr(names, name))


def test_figure_and_static_views_are_views():
    assert set(names.FIGURE_VIEWS) <= set(names.VIEWS)
    assert set(names.STATIC_VIEWS) <= set(names.VIEWS)
    assert set(names.COMPACT_VIEWS) <= set(names.VIEWS)


@pytest.mark.parametrize(
    ("path", "interface", "end", "contract"),
    [
        ("contract.d.ts", "Requests", "RequestType", REQUESTS),
        ("compare/contract.d.ts", "CompareRequests", "CompareRequestType", COMPARE_REQUESTS),
    ],
)
def test_the_page_contract_lists_every_request_type(path, interface, end, contract):
    """contract.d.ts (checked by tsc against the page's code) names the same request types as Python;
    so does CompareWidget's own contract."""
    text = (JS / path).read_text(encoding="utf-8")
    body = text[text.index(f"export interface {interface} {{") : text.index(f"export type {end}")]
    types = re.findall(r"^\s+(\w+): \{", body, re.M)
    assert types == list(contract)
    for kind, fields in contract.items():
        line = re.search(rf"^\s+{kind}: \{{([^}}]*)\}};", body, re.M).group(1)
        declared = {m.group(1): m.group(2) == "?" for m in re.finditer(r"(\w+)(\??):", line)}
        assert declared == {f: not required for f, (_, required) in fields.items()}, kind


@pytest.mark.parametrize("name", ["HEAD_STATISTICS", "MODEL_COLOURINGS"])
def test_js_statistic_names_equal_python_names(name):
    assert _js_lists(JS / "names.js")[name] == list(getattr(names, name))
    assert set(names.HEAD_STATISTICS) <= set(names.MODEL_COLOURINGS)
