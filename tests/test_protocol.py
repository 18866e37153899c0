"""The kernel's side of the page protocol (albert_widget/protocol.py), without a widget."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from page_messages import run_in_fresh_loop

from albert_widget.protocol import REQUESTS, BadRequest, RequestQueue, parse_request


def running_loop():
    """Stands in for a kernel's loop: whatever loop runs the test's coroutine."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def make_queue(handlers, revision=1, *, in_kernel=False):
    """A queue and what it sends; ``in_kernel``: it defers to the running loop as in a kernel."""
    sent: list = []
    queue = RequestQueue(
        handlers,
        lambda content, buffers: sent.append((content, buffers)),
        lambda: revision,
        event_loop=running_loop if in_kernel else (lambda: None),
    )
    return queue, sent


def test_outside_a_kernel_requests_run_at_once_even_under_a_running_loop():
    """A running loop that is not a kernel's (a test driving a browser, an async host) does not hold
    replies back: they are sent before submit returns."""
    sent: list = []
    queue = RequestQueue({"head_stats": lambda f: ({}, [])}, lambda c, b: sent.append(c), lambda: 1)

    async def host():
        queue.submit({"id": "p:1", "type": "head_stats", "revision": 1})
        return list(sent)

    assert [c["id"] for c in run_in_fresh_loop(host)] == ["p:1"]


def test_parse_checks_every_field_of_the_contract():
    req = parse_request({"id": "p:1", "type": "row", "revision": 3, "layer": 0, "row": 2, "heads": [1], "extra": "ignored"})
    assert (req.id, req.type, req.fields) == ("p:1", "row", {"revision": 3, "layer": 0, "row": 2, "heads": [1]})
    with pytest.raises(BadRequest, match="needs 'heads'"):
        parse_request({"id": "p:1", "type": "row", "revision": 3, "layer": 0, "row": 2})
    with pytest.raises(BadRequest, match="'layer' must be int"):
        parse_request({"id": "p:1", "type": "row", "revision": 3, "layer": False, "row": 2, "heads": [1]})
    with pytest.raises(BadRequest, match="needs an id"):
        parse_request({"id": "x" * 65, "type": "head_stats", "revision": 1})
    assert parse_request({"id": "p:2", "type": "set_text", "text": "a", "text_pair": None}).fields == {"text": "a", "text_pair": None}
    assert set(REQUESTS) >= {"layers", "row", "thumbnails", "neuron", "explain", "head_stats", "set_text"}


def test_a_reply_that_cannot_travel_fails_its_request_and_the_queue_goes_on():
    queue, sent = make_queue(
        {"head_stats": lambda f: ({"value": np.float32(1)}, []), "thumbnails": lambda f: ({"ok": 1}, [])}, in_kernel=True
    )

    async def page():
        queue.submit({"id": "p:1", "type": "head_stats", "revision": 1})
        queue.submit({"id": "p:2", "type": "thumbnails", "revision": 1, "size": 8})
        for _ in range(4):
            await asyncio.sleep(0)

    run_in_fresh_loop(page)
    assert [c["id"] for c, _ in sent] == ["p:1", "p:2"]
    assert "not JSON serializable" in sent[0][0]["error"] and sent[1][0] == {"ok": 1, "id": "p:2", "type": "thumbnails"}
    assert queue.queued == 0 and queue.served == {"thumbnails": 1}


def test_requests_submitted_by_a_handler_are_answered_after_it_in_order():
    order: list[str] = []
    queue, sent = make_queue({})

    def outer(fields):
        order.append("outer")
        queue.submit({"id": "p:inner", "type": "head_stats", "revision": 1})  # e.g. a trait observer
        return {}, []

    def inner(fields):
        order.append("inner")
        return {}, []

    queue._handlers.update(thumbnails=outer, head_stats=inner)
    queue.submit({"id": "p:outer", "type": "thumbnails", "revision": 1, "size": 8})
    assert order == ["outer", "inner"]
    assert [c["id"] for c, _ in sent] == ["p:outer", "p:inner"]


def test_work_left_by_a_loop_that_stopped_still_runs():
    """A step scheduled on a loop that closed before running it does not block later requests."""
    queue, sent = make_queue({"head_stats": lambda f: ({}, [])}, in_kernel=True)
    dead = asyncio.new_event_loop()
    dead.close()
    queue._scheduled = dead  # as left by a loop that ended between scheduling and running its step
    queue._queue["p:1"] = parse_request({"id": "p:1", "type": "head_stats", "revision": 1})

    async def later():
        queue.submit({"id": "p:2", "type": "head_stats", "revision": 1})
        for _ in range(4):
            await asyncio.sleep(0)

    run_in_fresh_loop(later)
    assert [c["id"] for c, _ in sent] == ["p:1", "p:2"]


def test_cancel_of_an_unknown_or_answered_id_is_harmless():
    queue, sent = make_queue({"head_stats": lambda f: ({}, [])})
    queue.submit({"type": "cancel", "id": "nobody"})
    queue.submit({"id": "p:1", "type": "head_stats", "revision": 1})
    queue.submit({"type": "cancel", "id": "p:1"})
    assert [c["id"] for c, _ in sent] == ["p:1"] and queue.cancelled == 0
