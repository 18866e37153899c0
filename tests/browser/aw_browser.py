"""Helpers for the browser tests: the JupyterLab server, the page driver, token prettify."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "artifacts"

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
LOCAL_SCHEMES = {"data", "blob", "about", "chrome-extension"}

SERVER_START_TIMEOUT = 90.0
KERNEL_TIMEOUT = 120.0  # kernel start + first torch import can be slow on a cold 2-core machine
CELL_TIMEOUT = 120.0
WIDGET_TIMEOUT = 60.0

# JupyterLab/Notebook user settings for the test server: no news or update checks (they would
# reach the network and pop a toast over the notebook), every cell kept in the DOM.
USER_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}


# --------------------------------------------------------------------------------------------
# Chromium
# --------------------------------------------------------------------------------------------
def chromium_path() -> str:
    for candidate in (os.environ.get("AW_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and os.path.exists(candidate):
            return candidate
    pytest.fail(
        "Debian's chromium is not installed (/usr/bin/chromium missing). `bash scripts/dev.sh test` "
        "installs it (apt-get install -y chromium); never run `playwright install` here.",
        pytrace=False,
    )
    raise AssertionError("unreachable")


# --------------------------------------------------------------------------------------------
# JupyterLab server
# --------------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class JupyterServer:
    """A running ``jupyter lab`` (which also serves Notebook 7 at ``/notebooks/``)."""

    def __init__(self, root: Path, home: Path) -> None:
        self.root = root
        self.home = home
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = home / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None
        # Kernels talk to the server over unix sockets in a short runtime folder (socket paths must
        # stay under ~100 characters): no TCP port can be taken by another process between the
        # moment jupyter_client picks it and the kernel binds it.
        self.runtime = tempfile.mkdtemp(prefix="awrt-")

    def start(self) -> None:
        config = self.home / "config"
        settings = config / "lab" / "user-settings"
        for name, value in USER_SETTINGS.items():
            path = settings / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(value))
        env = dict(os.environ)
        env.update(
            JUPYTER_CONFIG_DIR=str(config),
            JUPYTER_DATA_DIR=str(self.home / "data"),  # user-level only: sys.prefix/share/jupyter stays on the path
            JUPYTER_RUNTIME_DIR=self.runtime,
            IPYTHONDIR=str(self.home / "ipython"),
            HF_HUB_OFFLINE="1",
            TRANSFORMERS_OFFLINE="1",
            HF_HUB_DISABLE_TELEMETRY="1",
            TRANSFORMERS_VERBOSITY="error",
            TQDM_DISABLE="1",
            PYTHONUNBUFFERED="1",
            ANYWIDGET_HMR="0",
        )
        env.pop("JUPYTER_PATH", None)
        cmd = [
            sys.executable,
            "-m",
            "jupyter",
            "lab",
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={self.port}",
            "--ServerApp.port_retries=0",
            "--ServerApp.token=",
            "--ServerApp.password=",
            "--ServerApp.disable_check_xsrf=True",
            "--allow-root",
            f"--ServerApp.root_dir={self.root}",
            "--LabApp.news_url=",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.workspaces_dir=" + str(self.home / "workspaces"),
            "--KernelManager.transport=ipc",
        ]
        log = open(self.log_path, "wb")
        # Own process group: the server and the kernels it starts are stopped together by its pid.
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=str(self.root), start_new_session=True)
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url + "/api/status", timeout=2) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"jupyter lab did not answer /api/status within {SERVER_START_TIMEOUT:.0f} s:\n{self.log_tail()}")

    def log_tail(self, n: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"

    def api(self, method: str, path: str) -> Any:
        req = urllib.request.Request(self.url + path, method=method)
        with urllib.request.urlopen(req, timeout=10) as r:
            body = r.read()
        return json.loads(body) if body else None

    def sessions(self) -> list[dict[str, Any]]:
        return self.api("GET", "/api/sessions")

    def shutdown_kernels(self) -> None:
        """End every session and kernel (kernels hold a model each: keep memory flat)."""
        try:
            for s in self.sessions():
                self.api("DELETE", f"/api/sessions/{s['id']}")
            for k in self.api("GET", "/api/kernels"):
                self.api("DELETE", f"/api/kernels/{k['id']}")
        except (urllib.error.URLError, OSError):
            pass

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.shutdown_kernels()
        pid = self.proc.pid
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        shutil.rmtree(self.runtime, ignore_errors=True)

    def write_notebook(self, name: str, cells: Iterable[str | tuple[str, str]]) -> Path:
        import nbformat

        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
        nb.metadata["language_info"] = {"name": "python"}
        for cell in cells:
            if isinstance(cell, tuple) and cell[0] == "markdown":
                nb.cells.append(nbformat.v4.new_markdown_cell(cell[1]))
            else:
                nb.cells.append(nbformat.v4.new_code_cell(cell))
        path = self.root / name
        nbformat.write(nb, str(path))
        return path


# --------------------------------------------------------------------------------------------
# Browser
# --------------------------------------------------------------------------------------------
def is_local(url: str) -> bool:
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme in LOCAL_SCHEMES:
        return True
    host = (parsed.hostname or "").lower()
    return host in LOOPBACK_HOSTS or host.startswith("127.")


def wait_data(page: Any, el: Any, name: str, check: Callable[[str], bool] | str, timeout: float = WIDGET_TIMEOUT) -> str:
    """Wait until ``el``'s ``data-<name>`` satisfies ``check`` (or equals it, for a string); polls with
    ``page.wait_for_timeout`` so that route handlers keep running."""
    predicate = (lambda v: v == check) if isinstance(check, str) else check
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = el.get_attribute(f"data-{name}")
        if value is not None and predicate(value):
            return value
        page.wait_for_timeout(25)
    raise AssertionError(f"data-{name} is {value!r} after {timeout:.0f} s; expected {check!r}")


def use_demo_widget(page: Any, root: Any) -> None:
    """A person's first minute with the demo widget (the 13-token sentence) on a host: it arrived with
    binary buffers, the layer slider brings layer 1, typed text runs the model again and redraws."""
    assert root.get_attribute("data-ntokens") == "13"
    assert root.get_attribute("data-transport") == "binary"
    slider = root.locator("input.aw-layer")
    slider.focus()
    slider.press("ArrowRight")
    wait_data(page, root, "layer", "1")
    wait_data(page, root, "state", "ready")
    drawn = int(root.get_attribute("data-drawn"))
    root.locator("input.aw-text, textarea.aw-text").first.fill("A dog barked.")
    root.locator(".aw-run").click()
    wait_data(page, root, "ntokens", lambda v: v not in ("", "13"))
    wait_data(page, root, "state", "ready")
    assert int(root.get_attribute("data-drawn")) > drawn


def loopback_context(browser: Any, **options: Any) -> tuple[Any, list[str]]:
    """A browser context whose requests leaving the loopback interface (or ``file:``) are blocked and
    listed: ``(context, blocked urls)``."""
    context = browser.new_context(**options)
    external: list[str] = []

    def route(r: Any) -> None:
        url = r.request.url
        if is_local(url) or url.startswith("file:"):
            r.continue_()
        else:
            external.append(url)
            r.abort()

    context.route("**/*", route)
    return context, external


def start_server(
    cmd: list[str], cwd: Path, env: dict[str, str], url: str, log_path: Path, timeout: float = SERVER_START_TIMEOUT
) -> subprocess.Popen:
    """Start a web server (its own process group) and wait until ``url`` answers (any HTTP status)."""
    log = open(log_path, "w")
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{cmd[2]} exited: {log_path.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return proc
        except urllib.error.HTTPError:
            return proc
        except OSError:
            time.sleep(0.5)
    stop_server(proc)
    raise AssertionError(f"nothing answered on {url} within {timeout:.0f} s: {log_path.read_text()[-3000:]}")


def stop_server(proc: subprocess.Popen) -> None:
    """Stop a server started by :func:`start_server` (and its kernels: the whole process group)."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


class WidgetPage:
    """One browser page on the test server, with notebook helpers."""

    def __init__(self, server: JupyterServer, context: Any) -> None:
        self.server = server
        self.context = context
        self.page = context.new_page()
        self.external: list[str] = []
        self.page_errors: list[str] = []
        self.console_errors: list[str] = []
        self.app = "lab"
        self.name = ""
        # Uncaught errors thrown by the widget's code: anywidget imports the bundle from a blob: URL,
        # so its frames are the blob: ones (Notebook 7 itself throws a couple of its own on load).
        self.page.on("pageerror", self._on_page_error)
        self.page.on("console", lambda m: m.type == "error" and self.console_errors.append(m.text))

    def _on_page_error(self, error: Any) -> None:
        stack = str(getattr(error, "stack", "") or "")
        if "blob:" in stack or "aw-" in str(error):
            self.page_errors.append(f"{error}\n{stack}")

    # -- notebook ---------------------------------------------------------------------------
    def open(self, name: str, cells: Iterable[str | tuple[str, str]], app: str = "lab") -> WidgetPage:
        """Write a notebook, open it in JupyterLab (``app="lab"``) or Notebook 7 (``"notebook"``)
        and wait until its kernel is idle and connected."""
        cells = list(cells)
        self.server.write_notebook(name, cells)
        self.app, self.name = app, name
        # ?reset: start from an empty workspace, not the tabs an earlier test left open.
        path = f"/lab/tree/{name}?reset" if app == "lab" else f"/notebooks/{name}"
        self.page.goto(self.server.url + path)
        self.cell(len(cells) - 1).wait_for(state="attached", timeout=60_000)
        self.wait_kernel_idle()
        return self

    def wait_kernel_idle(self, timeout: float = KERNEL_TIMEOUT) -> None:
        """The server has a kernel for this notebook, idle, with the page connected to it, and the
        page's own indicator says idle."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            for s in self.server.sessions():
                if s.get("path") == self.name and s.get("kernel"):
                    k = s["kernel"]
                    last = k
                    if k.get("execution_state") == "idle" and k.get("connections", 0) >= 1:
                        self.page.locator(
                            '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook-ExecutionIndicator[data-status="idle"]'
                        ).first.wait_for(state="attached", timeout=max(1_000, (deadline - time.monotonic()) * 1000))
                        return
            # Not time.sleep: the page's requests pass through this process's route handler, which
            # only runs while Playwright is pumping events.
            self.page.wait_for_timeout(200)
        raise AssertionError(f"kernel for {self.name} not idle within {timeout:.0f} s (last: {last})\n{self.server.log_tail()}")

    @property
    def notebook(self) -> Any:
        """The notebook shown (hidden panels excluded)."""
        return self.page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook").first

    def cell(self, index: int) -> Any:
        return self.notebook.locator(".jp-Cell").nth(index)

    def prompt(self, index: int) -> str:
        return (self.cell(index).locator(".jp-InputPrompt").first.text_content() or "").strip()

    def run(self, index: int, timeout: float = CELL_TIMEOUT) -> str:
        """Run cell ``index`` as a person would (click into it, Shift+Enter) and wait until it has
        finished (its prompt shows a new execution count). Returns the cell's output text."""
        before = self.prompt(index)
        editor = self.cell(index).locator(".jp-InputArea-editor .cm-content").first
        for attempt in range(3):
            editor.click()
            self.page.keyboard.press("Shift+Enter")
            try:
                # Started: the prompt left its old value ("[*]" while it runs, then "[n]").
                self.page.wait_for_function(
                    "([el, before]) => el.textContent.trim() !== before",
                    arg=[self.cell(index).locator(".jp-InputPrompt").first.element_handle(), before],
                    timeout=5_000,
                )
                break
            except Exception:
                if attempt == 2:
                    raise AssertionError(f"cell {index} did not start (prompt stayed {before!r})")
        handle = self.cell(index).locator(".jp-InputPrompt").first.element_handle()
        self.page.wait_for_function(r"(el) => /\[\d+\]/.test(el.textContent)", arg=handle, timeout=timeout * 1000)
        return self.output_text(index)

    def output_text(self, index: int) -> str:
        texts = self.cell(index).locator(".jp-OutputArea-output").all_text_contents()
        return "\n".join(t.strip() for t in texts if t.strip())

    def run_json(self, index: int) -> Any:
        """Run a cell that prints one JSON document (its last output line) and parse it."""
        out = self.run(index)
        lines = [ln for ln in out.splitlines() if ln.strip()]
        assert lines, f"cell {index} printed nothing"
        try:
            return json.loads(lines[-1])
        except json.JSONDecodeError as exc:
            raise AssertionError(f"cell {index} printed {out!r}, not JSON") from exc

    # -- widget -----------------------------------------------------------------------------
    def widget(self, cell: int, nth: int = 0) -> Any:
        """The ``.aw-root`` of the nth widget view in a cell's output, once it has drawn."""
        root = self.cell(cell).locator(".aw-root").nth(nth)
        root.wait_for(state="visible", timeout=WIDGET_TIMEOUT * 1000)
        self.wait_attr(root, "drawn", lambda v: v.isdigit() and int(v) >= 1)
        self.wait_attr(root, "state", lambda v: v == "ready")
        return root

    def wait_attr(self, el: Any, name: str, check: Callable[[str], bool] | str, timeout: float = WIDGET_TIMEOUT) -> str:
        """Wait until ``el.dataset[name]`` satisfies ``check`` (or equals it, for a string)."""
        return wait_data(self.page, el, name, check, timeout)

    def hover_cell(self, root: Any, i: int, j: int, rows: int, cols: int) -> Any:
        """Move the pointer over cell (i, j) of the matrix view's rows x cols grid; returns its tooltip
        once it shows that cell."""
        canvas = root.locator(".aw-matrix-canvas")
        canvas.scroll_into_view_if_needed()
        box = canvas.bounding_box()
        self.page.mouse.move(box["x"] + (j + 0.5) * box["width"] / cols, box["y"] + (i + 0.5) * box["height"] / rows)
        tooltip = root.locator(".aw-tooltip")
        tooltip.wait_for(state="visible")
        self.wait_attr(tooltip, "query", str(i))
        self.wait_attr(tooltip, "key", str(j))
        return tooltip

    def drawn(self, root: Any) -> int:
        return int(root.get_attribute("data-drawn") or 0)

    def token_texts(self, root: Any, scope: str = ".aw-view-head .aw-query") -> list[str]:
        return root.locator(scope).evaluate_all("els => els.map(e => e.textContent)")

    def canvas_pixels(self, root: Any, selector: str = ".aw-head-canvas") -> dict[str, Any]:
        """Pixel summary of a canvas: size, how many pixels are not background (alpha > 0, or
        differ from the top-left pixel for an opaque canvas) and a digest of all of them."""
        data = root.locator(selector).first.evaluate(
            """c => {
                const ctx = c.getContext('2d');
                const d = ctx.getImageData(0, 0, c.width, c.height).data;
                let painted = 0;
                const b0 = d[0], b1 = d[1], b2 = d[2], b3 = d[3];
                for (let i = 0; i < d.length; i += 4) {
                    if (b3 === 0 ? d[i + 3] > 0 : (d[i] !== b0 || d[i + 1] !== b1 || d[i + 2] !== b2 || d[i + 3] !== b3)) painted++;
                }
                let hash = 2166136261;  // FNV-1a over every byte
                for (let i = 0; i < d.length; i++) { hash ^= d[i]; hash = Math.imul(hash, 16777619) >>> 0; }
                return { width: c.width, height: c.height, painted, digest: hash.toString(16) };
            }"""
        )
        return data

    def assert_clean(self) -> None:
        assert self.external == [], f"the page tried to reach the network: {self.external}"


def prettify(token: str) -> str:
    """Python twin of js/src/tokens.js displayText (what a `.aw-token` shows)."""
    text = token
    if text.startswith(("▁", "Ġ")):
        text = text[1:]
    elif text.startswith("##") and len(text) > 2:
        text = text[2:]
    text = text.replace("\u2581", " ").replace("\u0120", " ").replace("\u010a", "\u23ce")
    text = re.sub(r"\r\n|\n|\r", "\u23ce", text).replace("\t", "\u21e5")
    if text.strip() == "":
        text = "\u2423"
    return text


# --------------------------------------------------------------------------------------------
# Kernel websocket frames (for counting what reaches the page)
# --------------------------------------------------------------------------------------------
def split_v1_frame(b: bytes) -> list[bytes] | None:
    """The parts of a ``v1.kernel.websocket.jupyter.org`` frame (uint64 little-endian part count + 1,
    then offsets; channel, header, parent, metadata, content, buffers...), or None for another form."""
    n = int.from_bytes(b[:8], "little") if len(b) >= 8 else 0
    if not (2 <= n < 4096 and len(b) >= 8 * (n + 1)):
        return None
    offsets = [int.from_bytes(b[8 * (i + 1) : 8 * (i + 2)], "little") for i in range(n)]
    if offsets[0] != 8 * (n + 1) or offsets != sorted(offsets) or offsets[-1] != len(b):
        return None
    return [b[offsets[i] : offsets[i + 1]] for i in range(n - 1)]


def join_v1_frame(parts: list[bytes]) -> bytes:
    """Inverse of :func:`split_v1_frame`."""
    at, offsets = 8 * (len(parts) + 2), []
    for part in parts:
        offsets.append(at)
        at += len(part)
    offsets.append(at)
    return len(offsets).to_bytes(8, "little") + b"".join(o.to_bytes(8, "little") for o in offsets) + b"".join(parts)


def parse_kernel_frame(payload: str | bytes) -> dict[str, Any]:
    """Decode one frame of a kernel's ``/api/kernels/<id>/channels`` websocket.

    Handles the three encodings jupyter_server uses: JSON text, the legacy binary form (big-endian
    uint32 part count and offsets, JSON message then buffers) and ``v1.kernel.websocket.jupyter.org``
    (little-endian uint64 offsets; channel, header, parent, metadata, content, buffers).
    Returns ``{size, channel, msg_type, content, buffer_bytes}``.
    """
    if isinstance(payload, str):
        raw = payload.encode("utf-8")
        msg = json.loads(payload)
        return {
            "size": len(raw),
            "channel": msg.get("channel"),
            "msg_type": msg.get("header", {}).get("msg_type"),
            "content": msg.get("content", {}),
            "buffer_bytes": 0,
        }
    b = bytes(payload)
    parts = split_v1_frame(b)
    if parts is not None:
        channel = parts[0].decode("utf-8")
        header, _parent, _metadata, content = (json.loads(p) if p else {} for p in parts[1:5])
        return {
            "size": len(b),
            "channel": channel,
            "msg_type": header.get("msg_type"),
            "content": content,
            "buffer_bytes": sum(len(p) for p in parts[5:]),
        }
    nbufs = int.from_bytes(b[:4], "big")
    offsets = [int.from_bytes(b[4 * (i + 1) : 4 * (i + 2)], "big") for i in range(nbufs)] + [len(b)]
    msg = json.loads(b[offsets[0] : offsets[1]])
    return {
        "size": len(b),
        "channel": msg.get("channel"),
        "msg_type": msg.get("header", {}).get("msg_type"),
        "content": msg.get("content", {}),
        "buffer_bytes": sum(offsets[i + 1] - offsets[i] for i in range(1, nbufs)),
    }


class FrameRecorder:
    """Records every frame the page receives on kernel websockets (attach before opening)."""

    def __init__(self, page: Any) -> None:
        self.frames: list[str | bytes] = []
        page.on("websocket", self._on_ws)

    def _on_ws(self, ws: Any) -> None:
        if "/api/kernels/" in ws.url:
            ws.on("framereceived", lambda payload: self.frames.append(payload))

    def mark(self) -> int:
        return len(self.frames)

    def comm_bytes(self, comm_id: str, end: int | None = None) -> dict[str, int]:
        """Bytes of the frames (JSON and binary parts) that belong to one widget's comm."""
        out = {"frames": 0, "bytes": 0, "buffer_bytes": 0, "comm_open_bytes": 0, "esm_css_bytes": 0, "kernel_ws_bytes": 0}
        for payload in self.frames[:end]:
            frame = parse_kernel_frame(payload)
            out["kernel_ws_bytes"] += frame["size"]
            content = frame["content"] or {}
            if frame["msg_type"] not in ("comm_open", "comm_msg") or content.get("comm_id") != comm_id:
                continue
            out["frames"] += 1
            out["bytes"] += frame["size"]
            out["buffer_bytes"] += frame["buffer_bytes"]
            if frame["msg_type"] == "comm_open":
                out["comm_open_bytes"] += frame["size"]
                state = (content.get("data") or {}).get("state") or {}
                out["esm_css_bytes"] += sum(len(str(state.get(k, "")).encode()) for k in ("_esm", "_css"))
        return out
