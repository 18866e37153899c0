"""transport: encodings round trip within their stated error, replies carry the right bytes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from albert_widget.protocol import message_bytes
from albert_widget.transport import (
    ENCODINGS,
    decode_array,
    encode_array,
    encoding_error_bound,
    reply_to_request,
)


def softmax_attention(layers=4, heads=3, n=17, seed=0, sharpness=4.0):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(layers, heads, n, n)) * sharpness
    e = np.exp(logits - logits.max(-1, keepdims=True))
    return (e / e.sum(-1, keepdims=True)).astype(np.float32)


ATTENTION = softmax_attention()


# -- encodings -------------------------------------------------------------------------------------


def test_float32_round_trip_is_exact():
    meta, buffer = encode_array(ATTENTION)
    assert meta == {"dtype": "float32", "shape": [4, 3, 17, 17]}
    assert isinstance(buffer, memoryview) and buffer.format == "B"
    assert buffer.nbytes == ATTENTION.nbytes
    assert bytes(buffer) == ATTENTION.astype("<f4").tobytes()
    decoded = decode_array(meta, buffer)
    assert decoded.dtype == np.float32 and np.array_equal(decoded, ATTENTION)
    assert np.array_equal(decode_array(meta, bytes(buffer)), ATTENTION)
    assert encoding_error_bound("float32") == 0.0


def test_float16_within_bound():
    meta, buffer = encode_array(ATTENTION, "float16")
    assert meta == {"dtype": "float16", "shape": [4, 3, 17, 17]}
    assert buffer.nbytes == ATTENTION.size * 2
    decoded = decode_array(meta, buffer)
    assert decoded.dtype == np.float32 and decoded.shape == ATTENTION.shape
    error = np.abs(decoded - ATTENTION).max()
    assert 0 < error <= encoding_error_bound("float16")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_uint8_within_bound(seed):
    attention = softmax_attention(seed=seed, sharpness=1.0 + seed)
    meta, buffer = encode_array(attention, "uint8")
    assert meta["dtype"] == "uint8" and meta["shape"] == list(attention.shape)
    assert meta["scale"] == pytest.approx(float(attention.max()))
    assert buffer.nbytes == attention.size
    decoded = decode_array(meta, buffer)
    error = np.abs(decoded - attention).max()
    bound = encoding_error_bound("uint8", meta["scale"])
    assert bound == pytest.approx(meta["scale"] / 510)
    assert 0 < error <= bound * (1 + 1e-5)
    # The largest value is kept exactly (it defines the scale).
    assert decoded.max() == pytest.approx(attention.max(), rel=1e-6)


def test_uint8_of_zeros_and_empty():
    meta, buffer = encode_array(np.zeros((2, 3, 3), np.float32), "uint8")
    assert meta["scale"] == 1.0
    assert np.array_equal(decode_array(meta, buffer), np.zeros((2, 3, 3), np.float32))
    meta, buffer = encode_array(np.zeros((0, 3), np.float32), "uint8")
    assert buffer.nbytes == 0 and decode_array(meta, buffer).shape == (0, 3)


def test_non_contiguous_and_other_dtypes():
    view = ATTENTION[:, ::2, :, 1:]
    for dtype in ENCODINGS:
        meta, buffer = encode_array(view, dtype)
        decoded = decode_array(meta, buffer)
        assert decoded.shape == view.shape
        scale = meta.get("scale", 1.0)
        assert np.abs(decoded - view).max() <= encoding_error_bound(dtype, scale) * (1 + 1e-5)
    as64 = ATTENTION.astype(np.float64)
    assert np.array_equal(decode_array(*encode_array(as64)), ATTENTION)


def test_unknown_encoding():
    with pytest.raises(ValueError, match="unknown encoding 'int4'; expected one of"):
        encode_array(ATTENTION, "int4")
    with pytest.raises(ValueError, match="unknown encoding 'bfloat16'"):
        decode_array({"dtype": "bfloat16", "shape": [1]}, b"\0\0")


# -- replies ---------------------------------------------------------------------------------------


def test_reply_one_buffer_per_layer_with_exact_bytes():
    request = {"type": "request", "revision": 3, "layers": [2, 0]}
    reply, buffers = reply_to_request(ATTENTION, 3, request)
    assert reply == {"type": "layers", "revision": 3, "layers": [2, 0], "dtype": "float32", "shape": [3, 17, 17]}
    assert len(buffers) == 2
    for layer, buffer in zip(reply["layers"], buffers):
        assert buffer.nbytes == 3 * 17 * 17 * 4
        got = np.frombuffer(buffer, dtype="<f4").reshape(reply["shape"])
        assert np.array_equal(got, ATTENTION[layer])
    json.dumps(reply)  # JSON-safe content
    assert message_bytes(reply, buffers) == len(json.dumps(reply).encode()) + 2 * 3 * 17 * 17 * 4


def test_reply_all_layers_and_duplicates():
    reply, buffers = reply_to_request(ATTENTION, 1, {"type": "request", "revision": 1, "layers": [0, 1, 2, 3]})
    assert reply["layers"] == [0, 1, 2, 3]
    assert b"".join(bytes(b) for b in buffers) == ATTENTION.tobytes()
    reply, buffers = reply_to_request(ATTENTION, 1, {"type": "request", "revision": 1, "layers": [1, 1, 3]})
    assert reply["layers"] == [1, 3] and len(buffers) == 2
    assert np.array_equal(np.frombuffer(buffers[1], "<f4").reshape(3, 17, 17), ATTENTION[3])


def test_reply_in_compact_encodings():
    reply, buffers = reply_to_request(ATTENTION, 0, {"type": "request", "revision": 0, "layers": [1]}, dtype="float16")
    assert reply["dtype"] == "float16" and buffers[0].nbytes == 3 * 17 * 17 * 2
    decoded = decode_array(reply, buffers[0])
    assert np.abs(decoded - ATTENTION[1]).max() <= encoding_error_bound("float16")

    reply, buffers = reply_to_request(ATTENTION, 0, {"type": "request", "revision": 0, "layers": [3, 0]}, dtype="uint8")
    assert reply["dtype"] == "uint8" and len(reply["scales"]) == 2 and "scale" not in reply
    for layer, scale, buffer in zip(reply["layers"], reply["scales"], buffers):
        assert scale == pytest.approx(float(ATTENTION[layer].max()))
        decoded = decode_array({**reply, "scale": scale}, buffer)
        assert np.abs(decoded - ATTENTION[layer]).max() <= encoding_error_bound("uint8", scale) * (1 + 1e-5)


@pytest.mark.parametrize("revision", [0, 2, None, "1", True])
def test_other_revisions_are_refused_before_any_reply_is_built(revision):
    """The revision rule lives in the request queue: a request for another revision fails as stale
    (or as malformed) and its handler never runs."""
    from albert_widget.protocol import RequestQueue

    ran, sent = [], []
    queue = RequestQueue({"layers": lambda f: ran.append(f) or ({}, [])}, lambda c, b: sent.append(c), lambda: 1)
    queue.submit({"id": "p:1", "type": "layers", "revision": revision, "layers": [0]})
    assert ran == [] and sent[0]["id"] == "p:1" and "error" in sent[0]
    assert sent[0].get("stale") is (True if isinstance(revision, int) and not isinstance(revision, bool) else None)


@pytest.mark.parametrize(
    "layers, match",
    [
        ([4], "requested layer 4 is not in 0..3"),
        ([-1], "requested layer -1 is not in 0..3"),
        ([0, 7], "requested layer 7"),
        ([True], "requested layer True"),
        ([False], "requested layer False"),
        ([1.0], "requested layer 1.0"),
        (["0"], "requested layer '0'"),
        ([None], "requested layer None"),
        ([], "must list the layers"),
        (None, "must list the layers"),
        (0, "must list the layers"),
        ("0", "must list the layers"),
    ],
)
def test_reply_rejects_bad_layers(layers, match):
    with pytest.raises(ValueError, match=match):
        reply_to_request(ATTENTION, 5, {"type": "request", "revision": 5, "layers": layers})
    with pytest.raises(ValueError, match="must list the layers"):
        reply_to_request(ATTENTION, 5, {"type": "request", "revision": 5})
