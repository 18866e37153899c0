"""What the page sends a widget, for tests that talk to the kernel side without a browser."""

from __future__ import annotations

import itertools
from typing import Any

_ids = itertools.count(1)


def page_message(widget: Any, content: dict[str, Any], buffers: Any = None) -> str:
    """Deliver ``content`` to ``widget`` as the page would (an id added when missing); returns the id."""
    message = dict(content)
    message.setdefault("id", f"test:{next(_ids)}")
    widget._on_page_message(widget, message, buffers or [])
    return message["id"]


def run_in_fresh_loop(coroutine_function: Any) -> Any:
    """Run ``coroutine_function()`` to completion on a new event loop in a thread of its own (a test
    session that drives a browser keeps a loop running in the main thread, where asyncio.run refuses)."""
    import asyncio
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(coroutine_function())).result()
