"""Replies for hosts that drop binary buffers: ``buffers_expected`` on every reply with buffers, and
``encoding: "base64"`` moves the buffers into the JSON as chunks of at most 1 MiB (protocol.py)."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from albert_widget.protocol import B64_CHUNK_CHARS, REQUESTS, RequestQueue, text_safe
from albert_widget.transport import reply_to_request


def queue_over(attention: np.ndarray):
    sent = []
    handlers = {"layers": lambda f: reply_to_request(attention, 1, f)}
    return RequestQueue(handlers, lambda c, b: sent.append((c, b)), lambda: 1), sent


def test_every_request_type_may_ask_for_text():
    assert all("encoding" in fields and not fields["encoding"][1] for fields in REQUESTS.values())


def test_binary_replies_say_how_many_buffers_they_carry():
    attention = np.random.default_rng(0).random((2, 3, 5, 5), dtype=np.float32)
    queue, sent = queue_over(attention)
    queue.submit({"id": "p:1", "type": "layers", "revision": 1, "layers": [0, 1]})
    content, buffers = sent[0]
    assert content["buffers_expected"] == 2 == len(buffers)
    assert "b64" not in content


def test_base64_replies_carry_the_same_bytes_in_the_json():
    attention = np.random.default_rng(1).random((2, 3, 5, 5), dtype=np.float32)
    queue, sent = queue_over(attention)
    queue.submit({"id": "p:1", "type": "layers", "revision": 1, "layers": [1], "dtype": "float16"})
    queue.submit({"id": "p:2", "type": "layers", "revision": 1, "layers": [1], "dtype": "float16", "encoding": "base64"})
    (binary, buffers), (text, none) = sent
    assert none == []
    assert text["buffers_expected"] == 1
    assert b"".join(base64.b64decode(c) for c in text["b64"][0]) == bytes(memoryview(buffers[0]).cast("B"))
    assert {k: v for k, v in text.items() if k not in ("b64", "id")} == {k: v for k, v in binary.items() if k != "id"}
    json.dumps(text)  # all of it is JSON
    assert queue.history[-1] == ("layers", {"revision": 1, "layers": [1], "dtype": "float16"})  # handlers never see it


def test_chunks_are_at_most_one_mebibyte():
    big = np.arange(1_000_000, dtype=np.float32)  # 4 MB: six chunks
    content = text_safe({"id": "p:1"}, [big, b""])
    chunks = content["b64"][0]
    assert B64_CHUNK_CHARS == 1024 * 1024
    assert all(len(c) <= B64_CHUNK_CHARS for c in chunks)
    assert len(chunks) == 6
    assert b"".join(base64.b64decode(c) for c in chunks) == big.tobytes()
    assert content["b64"][1] == [""]


@pytest.mark.parametrize("encoding", ["utf8", 64, ""])
def test_unknown_encodings_fail_the_request(encoding):
    queue, sent = queue_over(np.zeros((1, 1, 2, 2), dtype=np.float32))
    queue.submit({"id": "p:1", "type": "layers", "revision": 1, "layers": [0], "encoding": encoding})
    assert "encoding" in sent[0][0]["error"]
