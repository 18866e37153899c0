"""The page–kernel message contract: one request, one reply, matched by id, cancellable.

Pure Python, no widget: :class:`RequestQueue` takes the page's messages, checks them against
:data:`REQUESTS`, runs a handler and sends exactly one reply per request. The same contract is
written for the page in ``js/src/contract.d.ts`` and ``docs/DESIGN.md``.

Page -> kernel::

    {"id": "<page>:<n>", "type": T, ...fields of REQUESTS[T]}
    {"type": "cancel", "id": "<page>:<n>"}     # drop that request if it has not run yet; no reply

Kernel -> page (binary buffers beside the JSON, never floats in JSON)::

    {"id": ..., "type": T, ...reply, "buffers_expected"?: n}      # success (n buffers beside it)
    {"id": ..., "type": T, ...reply, "buffers_expected": n, "b64": [[str, ...], ...]}
                                                  # success, asked with "encoding": "base64"
    {"id": ..., "type": T, "error": "what went wrong", "stale"?: true}   # failure of THIS request only

Why a queue: the kernel reads the page's messages one by one. Handlers run one per event-loop turn,
so a ``cancel`` that arrives while earlier requests are still queued removes its request before it
costs any work (a slider dragged across ten layers costs the last one, not ten).
"""

from __future__ import annotations

import asyncio
import base64
import collections
import json
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "REQUESTS",
    "WIRE_ENCODINGS",
    "BadRequest",
    "Request",
    "RequestQueue",
    "StaleRequest",
    "message_bytes",
    "parse_request",
    "text_safe",
]

MAX_ID_LENGTH = 64

# type -> {field: (python types, required)}; every type but set_text also carries "revision", checked
# against the widget's current revision before its handler runs. The page's twin: js/src/contract.d.ts.
_INT = (int,)
_STR = (str,)
_LIST = (list,)
REQUESTS: dict[str, dict[str, tuple[tuple[type, ...], bool]]] = {
    "layers": {"revision": (_INT, True), "layers": (_LIST, True), "kind": (_STR, False), "heads": (_LIST, False), "dtype": (_STR, False)},
    "row": {
        "revision": (_INT, True),
        "layer": (_INT, True),
        "row": (_INT, True),
        "heads": (_LIST, True),
        "reduce": (_STR, False),
        "kind": (_STR, False),
    },
    "thumbnails": {"revision": (_INT, True), "size": (_INT, True)},
    "neuron": {"revision": (_INT, True), "layer": (_INT, True), "head": (_INT, True), "query": (_INT, True)},
    "explain": {"revision": (_INT, True), "method": (_STR, True), "layer": (_INT, False), "head": (_INT, False), "reduce": (_STR, False)},
    "head_stats": {"revision": (_INT, True)},
    "summaries": {"revision": (_INT, True), "start": (_INT, False)},
    "topk": {"revision": (_INT, True), "layer": (_INT, True), "heads": (_LIST, True), "k": (_INT, True)},
    "tile": {
        "revision": (_INT, True),
        "layer": (_INT, True),
        "head": (_INT, False),
        "heads": (_LIST, False),
        "head_reduce": (_STR, False),
        "row0": (_INT, True),
        "row1": (_INT, True),
        "col0": (_INT, True),
        "col1": (_INT, True),
        "out_rows": (_INT, True),
        "out_cols": (_INT, True),
        "reduce": (_STR, False),
        "dtype": (_STR, False),
        "kind": (_STR, False),
    },
    "tiles": {
        "revision": (_INT, True),
        "layer": (_INT, True),
        "head": (_INT, False),
        "heads": (_LIST, False),
        "head_reduce": (_STR, False),
        "tiles": (_LIST, True),
        "reduce": (_STR, False),
        "dtype": (_STR, False),
        "kind": (_STR, False),
    },
    "set_text": {"text": (_STR, True), "text_pair": ((str, type(None)), False)},
}
# Every request may ask for its reply's buffers as text (see WIRE_ENCODINGS); handlers never see it.
for _fields in REQUESTS.values():
    _fields["encoding"] = (_STR, False)

#: How a reply's buffers travel. "binary": as the message's binary buffers (the default). "base64":
#: inside the JSON, for hosts that drop binary buffers (the page switches to it when a reply arrives
#: with fewer buffers than its ``buffers_expected``): ``b64`` is one list of base64 strings per
#: buffer, each string at most ``B64_CHUNK_CHARS`` characters (1 MiB).
WIRE_ENCODINGS = ("binary", "base64")
B64_CHUNK_BYTES = 3 * 256 * 1024  # 786,432 bytes -> 1,048,576 base64 characters
B64_CHUNK_CHARS = B64_CHUNK_BYTES // 3 * 4


class BadRequest(ValueError):
    """A request the kernel will not run (unknown type, missing or ill-typed field, out of range)."""


class StaleRequest(BadRequest):
    """A request for an input that has since been replaced (its revision is gone)."""


@dataclass(frozen=True)
class Request:
    """One checked request: its id, type and the fields of :data:`REQUESTS` ``[type]``."""

    id: str
    type: str
    fields: dict[str, Any]


def _is_instance(value: Any, types: tuple[type, ...]) -> bool:
    # bool is an int to Python but never a valid index, count or revision here.
    return isinstance(value, types) and not (isinstance(value, bool) and bool not in types)


Contract = Mapping[str, Mapping[str, "tuple[tuple[type, ...], bool]"]]


def parse_request(content: Any, contract: Contract = REQUESTS) -> Request:
    """Check a page message against the contract (:data:`REQUESTS`, or another widget's table of the
    same form). Raises :class:`BadRequest` with the reason."""
    if not isinstance(content, Mapping):
        raise BadRequest(f"a request must be a JSON object, got {type(content).__name__}")
    rid = content.get("id")
    if not isinstance(rid, str) or not 0 < len(rid) <= MAX_ID_LENGTH:
        raise BadRequest(f"a request needs an id (a string of 1..{MAX_ID_LENGTH} characters), got {rid!r}")
    kind = content.get("type")
    if not isinstance(kind, str) or kind not in contract:
        raise BadRequest(f"unknown request type {kind!r}; expected one of {', '.join(contract)}")
    spec = contract[kind]
    fields: dict[str, Any] = {}
    for name, (types, required) in spec.items():
        if name not in content or (content[name] is None and type(None) not in types):
            if required:
                raise BadRequest(f"a {kind} request needs {name!r}")
            continue
        value = content[name]
        if not _is_instance(value, types):
            wanted = " or ".join("null" if t is type(None) else t.__name__ for t in types)
            raise BadRequest(f"a {kind} request's {name!r} must be {wanted}, got {value!r}")
        fields[name] = value
    if fields.get("encoding", "binary") not in WIRE_ENCODINGS:
        raise BadRequest(f"a request's 'encoding' must be one of {', '.join(WIRE_ENCODINGS)}, got {fields['encoding']!r}")
    return Request(rid, kind, fields)


def text_safe(content: dict[str, Any], buffers: list[Any]) -> dict[str, Any]:
    """A reply with its buffers moved into the JSON: ``content`` plus ``b64``, one list of base64
    strings (each <= ``B64_CHUNK_CHARS``) per buffer, in order."""
    chunks = []
    for buffer in buffers:
        raw = memoryview(buffer).cast("B")
        chunks.append([base64.b64encode(raw[i : i + B64_CHUNK_BYTES]).decode("ascii") for i in range(0, len(raw), B64_CHUNK_BYTES)] or [""])
    return {**content, "b64": chunks}


def message_bytes(content: Mapping[str, Any], buffers: Iterable[Any]) -> int:
    """Bytes a message puts on the wire (JSON content + binary buffers), for accounting."""
    return len(json.dumps(content).encode()) + sum(memoryview(b).nbytes for b in buffers)


Handler = Callable[[dict[str, Any]], "tuple[dict[str, Any], list[Any]]"]


def kernel_event_loop() -> asyncio.AbstractEventLoop | None:
    """The running event loop when this code runs in an IPython kernel (whose loop also reads the
    page's messages, so a cancel can arrive between two requests), else ``None``: run at once. Other
    running loops (a test driving a browser, an async host) must not hold replies back."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return None
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return loop if getattr(shell, "kernel", None) is not None else None


class RequestQueue:
    """Runs the page's requests in order, one reply each, and honours cancellation.

    ``handlers[type](fields) -> (reply, buffers)``; a handler raises (any exception) to fail its own
    request, which then gets ``{"id", "type", "error"}``. ``revision()`` gives the widget's current
    revision: a request for another one fails as stale without running. ``send(content, buffers)``
    puts a message on the wire; ``on_failure(type, message)`` hears of every failed request.
    ``contract``: the request table (default :data:`REQUESTS`; CompareWidget has its own).

    In a kernel (``event_loop()``, default :func:`kernel_event_loop`, gives its loop) each request
    runs on its own loop turn, so cancels read in between take effect; elsewhere requests run at once.
    """

    def __init__(
        self,
        handlers: Mapping[str, Handler],
        send: Callable[[dict[str, Any], list[Any]], None],
        revision: Callable[[], int],
        on_failure: Callable[[str | None, str], None] | None = None,
        contract: Contract = REQUESTS,
        event_loop: Callable[[], asyncio.AbstractEventLoop | None] | None = None,
    ) -> None:
        self._contract = contract
        self._event_loop = event_loop or kernel_event_loop
        unknown = set(handlers) - set(contract)
        if unknown:
            raise ValueError(f"handlers for types the contract does not know: {sorted(unknown)}")
        self._handlers = dict(handlers)
        self._send = send
        self._revision = revision
        self._on_failure = on_failure
        self._queue: collections.OrderedDict[str, Request] = collections.OrderedDict()
        self._scheduled: asyncio.AbstractEventLoop | None = None  # the loop a step is scheduled on
        self._draining = False
        self.bytes_sent = 0
        self.served: collections.Counter[str] = collections.Counter()  # type -> requests answered
        self.history: collections.deque[tuple[str, dict[str, Any]]] = collections.deque(maxlen=1000)  # (type, fields) run
        self.cancelled = 0  # requests dropped before they ran
        self.deferred = 0  # requests run on a later event-loop turn (a kernel), where a cancel can reach them
        # (type, seconds queued, seconds its handler and send took) of the last requests run: where a
        # reply's time goes (benchmarks/bench_longcontext_page.py reads it)
        self.timings: collections.deque[tuple[str, float, float]] = collections.deque(maxlen=1000)
        self._arrived: dict[str, float] = {}

    # -- in ------------------------------------------------------------------------------------
    def submit(self, content: Any, buffers: Any = None) -> None:
        """Take one message from the page (``widget.on_msg``). Never raises."""
        if isinstance(content, Mapping) and content.get("type") == "cancel":
            if self._queue.pop(str(content.get("id")), None) is not None:
                self.cancelled += 1
                self._arrived.pop(str(content.get("id")), None)
            return
        try:
            request = parse_request(content, self._contract)
        except BadRequest as exc:
            rid = content.get("id") if isinstance(content, Mapping) else None
            kind = content.get("type") if isinstance(content, Mapping) else None
            self._reply_error(rid if isinstance(rid, str) else None, kind if isinstance(kind, str) else None, str(exc))
            return
        self._queue[request.id] = request
        self._arrived[request.id] = time.perf_counter()
        self._kick()

    @property
    def queued(self) -> int:
        """Requests waiting to run."""
        return len(self._queue)

    # -- running -------------------------------------------------------------------------------
    def _kick(self) -> None:
        if self._draining:
            return  # submitted from inside a handler: the running drain picks it up, in order
        loop = self._event_loop()
        if loop is None:
            self._drain()
            return
        if self._scheduled is loop and not loop.is_closed():
            return
        self._scheduled = loop
        loop.call_soon(self._step)

    def _drain(self) -> None:
        self._draining = True
        try:
            while self._queue:
                self._run(self._queue.popitem(last=False)[1])
        finally:
            self._draining = False

    def _step(self) -> None:
        self._scheduled = None
        try:
            if self._queue:
                self.deferred += 1
                self._draining = True
                try:
                    self._run(self._queue.popitem(last=False)[1])
                finally:
                    self._draining = False
        finally:
            if self._queue:
                self._kick()

    def _run(self, request: Request) -> None:
        """Run one request and send its one reply; nothing raises out of here."""
        fields = {k: v for k, v in request.fields.items() if k != "encoding"}
        self.history.append((request.type, fields))
        start = time.perf_counter()
        arrived = self._arrived.pop(request.id, start)
        try:
            self._answer(request, fields)
        finally:
            self.timings.append((request.type, start - arrived, time.perf_counter() - start))

    def _answer(self, request: Request, fields: dict[str, Any]) -> None:
        try:
            if "revision" in fields and fields["revision"] != self._revision():
                raise StaleRequest(f"revision {fields['revision']} is gone (the input is now at revision {self._revision()})")
            reply, buffers = self._handlers[request.type](fields)
            if "error" in reply:  # a handler that reports its failure in the reply
                raise BadRequest(str(reply["error"]))
            buffers = list(buffers)
            content = {**reply, "id": request.id, "type": request.type}
            if buffers:
                # The page compares this with the buffers that reached it: a host that drops them is seen.
                content["buffers_expected"] = len(buffers)
            if buffers and request.fields.get("encoding") == "base64":
                content, buffers = text_safe(content, buffers), []
            self._out(content, buffers)
        except StaleRequest as exc:
            self._reply_error(request.id, request.type, str(exc), stale=True)
            return
        except Exception as exc:
            message = str(exc) if isinstance(exc, (ValueError, TypeError, KeyError)) and str(exc) else f"{type(exc).__name__}: {exc}"
            self._reply_error(request.id, request.type, message)
            return
        self.served[request.type] += 1

    def _reply_error(self, rid: str | None, kind: str | None, message: str, *, stale: bool = False) -> None:
        try:
            if self._on_failure is not None and not stale:
                self._on_failure(kind, message)
        finally:
            content: dict[str, Any] = {"id": rid, "type": kind, "error": message}
            if stale:
                content["stale"] = True
            self._out(content, [])

    def _out(self, content: dict[str, Any], buffers: list[Any]) -> None:
        # json.dumps here also proves the reply can travel (a numpy scalar in it would not)
        self.bytes_sent += message_bytes(content, buffers)
        self._send(content, buffers)
