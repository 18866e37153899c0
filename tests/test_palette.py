"""The head colours: one list for the page and the figures, readable on white and on a dark theme,
12 colours apart for every reader, also with protanopia or deuteranopia (simulated)."""

from __future__ import annotations

import json
import pathlib
import re

import pytest
from colour_metrics import contrast, min_distance

from albert_widget.export.figures import HEAD_PALETTE, HEAD_PALETTE_DARK, head_colour

COLOUR_JS = pathlib.Path(__file__).resolve().parents[1] / "js" / "src" / "draw" / "colour.js"
#: Backgrounds: paper / JupyterLab light, and JupyterLab dark's two layout colours (widget.css's dark mode).
LIGHT_BACKGROUNDS = ("#FFFFFF",)
DARK_BACKGROUNDS = ("#111111", "#212121")
#: Smallest CIEDE2000 distance between two head colours: side by side, 2.3 is just noticeable.
MIN_DISTANCE = {"normal": 12.0, "protanopia": 6.5, "deuteranopia": 6.5}


def js_list(name: str) -> list[str]:
    match = re.search(rf"export const {name} = (\[[^\]]*\]);", COLOUR_JS.read_text())
    assert match, f"{name} not found in {COLOUR_JS}"
    return json.loads(re.sub(r",\s*\]", "]", match.group(1)))  # Biome leaves a trailing comma


def test_the_page_and_the_figures_have_one_palette():
    assert js_list("HEAD_PALETTE") == list(HEAD_PALETTE)
    assert js_list("HEAD_PALETTE_DARK") == list(HEAD_PALETTE_DARK)
    assert len(HEAD_PALETTE) == len(HEAD_PALETTE_DARK) == 12
    assert head_colour(0) == HEAD_PALETTE[0]
    assert head_colour(13) == HEAD_PALETTE[1]


@pytest.mark.parametrize(("palette", "backgrounds"), [(HEAD_PALETTE, LIGHT_BACKGROUNDS), (HEAD_PALETTE_DARK, DARK_BACKGROUNDS)])
def test_every_colour_reads_on_its_background(palette, backgrounds):
    for background in backgrounds:
        low = {c: round(contrast(c, background), 2) for c in palette if contrast(c, background) < 3.0}
        assert not low, f"below 3:1 against {background}: {low}"


@pytest.mark.parametrize("palette", [HEAD_PALETTE, HEAD_PALETTE_DARK])
@pytest.mark.parametrize("vision", sorted(MIN_DISTANCE))
def test_colours_stay_apart_for_every_reader(palette, vision):
    distance, (i, j) = min_distance(list(palette), vision)
    assert distance >= MIN_DISTANCE[vision], f"heads {i} and {j} ({palette[i]}, {palette[j]}) are {distance:.1f} apart ({vision})"


def test_old_yellow_and_look_alikes_fail_the_same_checks():
    # the former palette: head 3 yellow on white, heads 0/9 and 4/8 alike
    old = [
        "#E69F00",
        "#56B4E9",
        "#009E73",
        "#F0E442",
        "#0072B2",
        "#D55E00",
        "#CC79A7",
        "#999999",
        "#4E79A7",
        "#F28E2B",
        "#E15759",
        "#76B7B2",
    ]
    assert contrast("#F0E442", "#FFFFFF") < 1.5
    assert min_distance(old, "normal")[0] < MIN_DISTANCE["normal"]
    assert min_distance(old, "deuteranopia")[0] < MIN_DISTANCE["deuteranopia"]
