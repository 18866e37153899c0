"""The saved snapshot trait: the layer on screen, uint8, refreshed when the view rests."""

from __future__ import annotations

import asyncio

import numpy as np
from page_messages import run_in_fresh_loop

from albert_widget import AttentionWidget
from albert_widget.snapshot import snapshot_of
from albert_widget.transport import decode_array


def widget() -> AttentionWidget:
    attention = np.random.default_rng(0).random((3, 2, 5, 5), dtype=np.float32)
    return AttentionWidget.from_attention(attention, ["a", "b", "c", "d", "e"], layer=1)


def test_snapshot_is_the_layer_on_screen_within_the_uint8_bound():
    w = widget()
    snap = w._snapshot
    assert (snap["layer"], snap["kind"], snap["revision"], snap["dtype"], snap["shape"]) == (1, "encoder", 1, "uint8", [2, 5, 5])
    assert len(snap["data"]) == 2 * 5 * 5
    back = decode_array(snap, snap["data"])
    assert np.abs(back - w.attention[1]).max() <= snap["scale"] / 510 + 1e-7
    w.layer = 2
    assert w._snapshot["layer"] == 2


def test_in_a_kernel_the_snapshot_waits_for_the_view_to_rest(monkeypatch):
    from albert_widget import widget as widget_module

    # as in a kernel: the loop that reads the page's messages (outside a kernel it is taken at once)
    monkeypatch.setattr(widget_module, "kernel_event_loop", asyncio.get_running_loop)

    async def drag():
        w = widget()
        for layer in (0, 2, 0, 2):
            w.layer = layer
        assert w._snapshot == {}  # nothing sent while the view moves (made in the loop: not yet at all)
        await asyncio.sleep(1.2)
        return w._snapshot["layer"]

    assert run_in_fresh_loop(drag) == 2


def test_snapshot_of_clamps_and_falls_back_to_the_encoder():
    w = widget()
    assert snapshot_of(w.result, "cross", 7, 4)["layer"] == 2
    assert snapshot_of(w.result, "cross", 7, 4)["revision"] == 4
