"""Model view: thumbnails block-averaged in Python, their encoding and the message pair."""

from __future__ import annotations

import json

import numpy as np
import pytest
from page_messages import page_message

from albert_widget import AttentionWidget
from albert_widget.thumbnails import (
    block_edges,
    decode_thumbnails,
    downsample,
    encode_thumbnails,
    reply_to_thumbnails,
)


def softmax_rows(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return (e / e.sum(-1, keepdims=True)).astype(np.float32)


def test_block_edges_split_every_token_once():
    assert block_edges(5, 2).tolist() == [0, 2, 5]
    assert block_edges(7, 3).tolist() == [0, 2, 4, 7]
    assert block_edges(6, 6).tolist() == list(range(7))
    for n in range(1, 60):
        for s in range(1, n + 1):
            e = block_edges(n, s)
            assert e[0] == 0 and e[-1] == n and (np.diff(e) >= 1).all()
    with pytest.raises(ValueError):
        block_edges(3, 4)


def test_downsample_matches_a_hand_computation():
    # 5 tokens into 2 blocks: rows/cols {0, 1} and {2, 3, 4}.
    a = np.arange(25, dtype=np.float32).reshape(5, 5)
    got = downsample(a[None, None], 2)[0, 0]
    expected = np.array(
        [
            [np.mean([0, 1, 5, 6]), np.mean([2, 3, 4, 7, 8, 9])],
            [np.mean([10, 11, 15, 16, 20, 21]), np.mean([12, 13, 14, 17, 18, 19, 22, 23, 24])],
        ]
    )
    assert got.dtype == np.float32 and got.shape == (2, 2)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)
    assert expected.tolist() == [[3.0, 5.5], [15.5, 18.0]]


def test_downsample_against_a_loop_and_keeps_row_means():
    rng = np.random.default_rng(1)
    att = softmax_rows(rng.normal(size=(2, 3, 50, 50)))
    s = 7
    got = downsample(att, s)
    assert got.shape == (2, 3, 7, 7)
    edges = block_edges(50, s)
    for l in range(2):
        for h in range(3):
            for a in range(s):
                for b in range(s):
                    block = att[l, h, edges[a] : edges[a + 1], edges[b] : edges[b + 1]].astype(np.float64)
                    assert abs(got[l, h, a, b] - block.mean()) < 1e-7
    # A row of blocks averages rows that sum to 1: weighted by block widths it sums to 1 too.
    widths = np.diff(edges)
    np.testing.assert_allclose((got * widths).sum(-1), 1.0, atol=1e-5)


def test_small_inputs_travel_at_full_resolution():
    att = softmax_rows(np.random.default_rng(2).normal(size=(2, 2, 9, 9)))
    got = downsample(att, 48)
    assert got.shape == att.shape
    assert np.array_equal(got, att)
    with pytest.raises(ValueError):
        downsample(np.zeros((3, 4)), 2)
    with pytest.raises(ValueError):
        downsample(np.zeros((4, 4)), 0)


def test_uint8_encoding_has_one_scale_per_thumbnail():
    thumbs = np.zeros((2, 3, 4, 4), dtype=np.float32)
    thumbs[0, 0] = 0.5
    thumbs[0, 1, 0, 0] = 0.02
    thumbs[1, 2] = np.linspace(0, 0.9, 16).reshape(4, 4)
    meta, buf = encode_thumbnails(thumbs)
    assert meta["dtype"] == "uint8" and meta["shape"] == [2, 3, 4, 4]
    assert len(meta["scales"]) == 6
    assert meta["scales"][0] == pytest.approx(0.5) and meta["scales"][1] == pytest.approx(0.02)
    assert meta["scales"][2] == 1.0  # an all-zero thumbnail
    raw = np.frombuffer(buf, dtype=np.uint8).reshape(2, 3, 4, 4)
    assert raw[0, 0].min() == 255 and raw[0, 1, 0, 0] == 255  # each normalised to its own maximum
    assert raw[1, 2].max() == 255
    back = decode_thumbnails(meta, buf)
    bound = np.asarray(meta["scales"]).reshape(2, 3, 1, 1) / 510 + 1e-7
    assert (np.abs(back - thumbs) <= bound).all()
    for dtype in ("float16", "float32"):
        m, b = encode_thumbnails(thumbs, dtype)
        np.testing.assert_allclose(decode_thumbnails(m, b), thumbs, atol=5e-4)
    with pytest.raises(ValueError):
        encode_thumbnails(thumbs, "int4")


def test_reply_carries_shape_size_and_one_buffer():
    att = softmax_rows(np.random.default_rng(3).normal(size=(3, 2, 100, 100)))
    reply, bufs = reply_to_thumbnails(att, 5, {"type": "thumbnails", "revision": 5, "size": 48})
    assert reply["type"] == "thumbnails" and reply["revision"] == 5
    assert reply["size"] == 48 and reply["requested"] == 48 and reply["n"] == 100 and reply["downsampled"] is True
    assert reply["shape"] == [3, 2, 48, 48] and reply["dtype"] == "uint8"
    assert len(bufs) == 1 and memoryview(bufs[0]).nbytes == 3 * 2 * 48 * 48
    json.dumps(reply)  # JSON-safe
    np.testing.assert_allclose(decode_thumbnails(reply, bufs[0]), downsample(att, 48), atol=1 / 510 + 1e-6)

    small, _ = reply_to_thumbnails(att[:, :, :10, :10], 5, {"revision": 5, "size": 48})
    assert small["size"] == 10 and small["downsampled"] is False and small["shape"] == [3, 2, 10, 10]

    for bad in (0, 1000, "48", True, 3.5):
        with pytest.raises(ValueError):
            reply_to_thumbnails(att, 5, {"revision": 5, "size": bad})


def test_thumbnails_are_much_smaller_than_the_attention():
    att = np.full((12, 12, 512, 512), 1 / 512, dtype=np.float32)
    _reply, bufs = reply_to_thumbnails(att, 1, {"revision": 1, "size": 48})
    assert memoryview(bufs[0]).nbytes == 12 * 12 * 48 * 48  # 332 KB instead of 151 MB
    assert memoryview(bufs[0]).nbytes * 400 < att.nbytes


def _messages(widget):
    sent = []
    widget.send = lambda content, buffers=None: sent.append((content, buffers or []))
    return sent


def test_widget_answers_the_thumbnails_message(tiny_albert):
    model, tokenizer = tiny_albert
    w = AttentionWidget(model, tokenizer, "The cat sat on the mat because it was tired.", view="model")
    assert w.view == "model"
    sent = _messages(w)
    page_message(w, {"type": "thumbnails", "revision": w.revision, "size": 16})
    assert len(sent) == 1
    reply, bufs = sent[0]
    assert reply["type"] == "thumbnails" and w.error == ""
    L, H, N, _ = w.attention.shape
    s = min(16, N)
    assert reply["shape"] == [L, H, s, s]
    np.testing.assert_allclose(decode_thumbnails(reply, bufs[0]), downsample(w.attention, 16), atol=1 / 510 + 1e-6)
    # An old revision fails as stale (the page has moved on).
    page_message(w, {"type": "thumbnails", "revision": w.revision - 1, "size": 16})
    assert len(sent) == 2 and sent[-1][0]["stale"] is True
    # A bad size is reported to that request, not swallowed.
    page_message(w, {"type": "thumbnails", "revision": w.revision, "size": -1})
    assert sent[-1][0]["type"] == "thumbnails" and "size" in sent[-1][0]["error"] and w.error == ""


def test_views_accept_model_and_neuron():
    att = softmax_rows(np.random.default_rng(4).normal(size=(2, 2, 4, 4)))
    w = AttentionWidget.from_attention(att, ["a", "b", "c", "d"])
    for view in ("model", "neuron", "head", "matrix"):
        w.view = view
        assert w.view == view
    with pytest.raises(Exception):
        w.view = "nope"


def test_layer_groups_show_albert_sharing(tiny_albert, minilm):
    model, tokenizer = tiny_albert
    w = AttentionWidget(model, tokenizer, "The cat sat.")
    assert w.info["layer_groups"] == [0, 0, 0, 0]
    m, t = minilm
    assert AttentionWidget(m, t, "The cat sat.").info["layer_groups"] == list(range(6))
