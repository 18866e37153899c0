"""widget.save(): the figure of what the widget shows, written headless."""

import xml.etree.ElementTree as ET

import pytest

from albert_widget import AttentionWidget, save_figure


def test_save_uses_the_widget_state_and_matches_save_figure(tiny_albert, tmp_path):
    model, tokenizer = tiny_albert
    widget = AttentionWidget(model, tokenizer, "The cat sat on the mat.")
    widget.layer, widget.head, widget.view = 2, 1, "matrix"
    n = widget.save(tmp_path / "w.svg")
    direct = save_figure(widget.result, tmp_path / "d.svg", view="matrix", layer=2, head=1)
    assert n == direct > 0
    assert (tmp_path / "w.svg").read_bytes() == (tmp_path / "d.svg").read_bytes()
    ET.parse(tmp_path / "w.svg")  # well-formed XML
    # explicit arguments override the widget's state
    widget.save(tmp_path / "o.svg", layer=0, head=0)
    save_figure(widget.result, tmp_path / "o2.svg", view="matrix", layer=0, head=0)
    assert (tmp_path / "o.svg").read_bytes() == (tmp_path / "o2.svg").read_bytes()


def test_save_before_any_text_says_so(tiny_albert, tmp_path):
    model, tokenizer = tiny_albert
    widget = AttentionWidget(model, tokenizer)
    with pytest.raises(ValueError, match="nothing to save"):
        widget.save(tmp_path / "x.svg")
