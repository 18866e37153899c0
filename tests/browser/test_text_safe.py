"""A host that drops binary buffers, in a real JupyterLab: the page switches to base64 replies.

Playwright's ``route_web_socket`` sits between the page and the kernel's websocket and removes every
binary buffer from the kernel's messages before the page sees them (as some widget managers do).
The widget must notice the first reply that arrived without its buffers, ask again for base64 text,
show one line saying so, and from then on draw, move between layers and show the model view as
usual, with the same numbers as the kernel's.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .aw_browser import ARTIFACTS, join_v1_frame, split_v1_frame

SENTENCE = "The cat sat on the mat because it was tired."


def strip_buffers(payload: str | bytes) -> tuple[str | bytes, int, bool]:
    """One kernel websocket frame without its binary buffers: ``(frame, buffers dropped, has b64)``.

    Handles ``v1.kernel.websocket.jupyter.org`` frames (uint64 little-endian part count and offsets;
    channel, header, parent, metadata, content, buffers...) and the legacy form (uint32 big-endian
    buffer count and offsets; the JSON message, then buffers), which is sent as JSON text without them.
    """
    if isinstance(payload, str):
        return payload, 0, '"b64"' in payload
    b = bytes(payload)
    parts = split_v1_frame(b)
    if parts is not None:
        return join_v1_frame(parts[:5]), len(parts) - 5, b'"b64"' in parts[4]
    nbufs = int.from_bytes(b[:4], "big")
    offsets = [int.from_bytes(b[4 * (i + 1) : 4 * (i + 2)], "big") for i in range(nbufs)] + [len(b)]
    msg = json.loads(b[offsets[0] : offsets[1]])
    msg["buffers"] = []
    return json.dumps(msg), nbufs - 1, "b64" in json.dumps(msg.get("content", {}))


class BufferStripper:
    """Routes the page's kernel websockets through this process, dropping kernel->page buffers."""

    def __init__(self, page: Any) -> None:
        self.dropped = 0
        self.text_replies = 0
        page.route_web_socket(re.compile(r"/api/kernels/[^/]+/channels"), self._route)

    def _route(self, ws: Any) -> None:
        server = ws.connect_to_server()

        def to_page(message: str | bytes) -> None:
            frame, dropped, text = strip_buffers(message)
            self.dropped += dropped
            self.text_replies += int(text)
            ws.send(frame)

        server.on_message(to_page)
        ws.on_message(lambda message: server.send(message))


def test_a_host_that_drops_buffers_gets_base64_replies(lab):
    stripper = BufferStripper(lab.page)
    lab.open(
        "text_safe.ipynb",
        [
            f"import json\nfrom albert_widget import AttentionWidget\nw = AttentionWidget.demo({SENTENCE!r})\nw",
            "print(json.dumps([round(float(x), 6) for x in w.attention[2, 3, 4]]))",
        ],
    )
    lab.run(0)
    root = lab.widget(0)  # drawn: the data came as text
    assert stripper.dropped >= 1
    assert stripper.text_replies >= 1
    assert root.get_attribute("data-transport") == "text"
    note = root.locator(".aw-transport-note")
    assert note.is_visible()
    assert "base64" in note.text_content()
    assert len(note.text_content().splitlines()) == 1

    slider = root.locator("input.aw-layer")
    slider.focus()
    for layer in (1, 2):
        slider.press("ArrowRight")
        lab.wait_attr(root, "layer", str(layer))
        lab.wait_attr(root, "state", "ready")
    expected = lab.run_json(1)
    row = lab.page.evaluate(
        """async () => {
          const store = document.querySelector('.aw-root').awStore;
          const e = await store.layer({ layer: 2 });
          const [H, N] = [e.shape[0], e.shape[1]];
          return Array.from(e.data.slice(3 * N * N + 4 * N, 3 * N * N + 5 * N)).map((x) => Math.round(x * 1e6) / 1e6);
        }"""
    )
    assert row == expected  # float32 as text: exact
    root.locator(".aw-view-btn[data-view='model']").click()
    lab.wait_attr(root, "view", "model")
    lab.wait_attr(root, "state", "ready")
    ARTIFACTS.mkdir(exist_ok=True)
    root.screenshot(path=str(ARTIFACTS / "text-safe-lab.png"))
    assert stripper.text_replies >= 4  # layers 0, 1, 2 (+ prefetch) and the thumbnails
    lab.assert_clean()
