"""A headless Chromium driven over the DevTools protocol on a pipe (no extra Python package).

``--remote-debugging-pipe`` makes Chromium read JSON commands on fd 3 and write responses and
events on fd 4, each message ended by a NUL byte. :func:`load_page` opens one page, waits for its
load event, and reports what a person would see go wrong: console errors, uncaught exceptions,
resources that failed to load, and the state of every ``<img>``.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_browser() -> str | None:
    """Path of a Chromium-family browser on PATH, or None."""
    return next((path for path in map(shutil.which, BROWSERS) if path), None)


@dataclass
class PageResult:
    """What happened while loading a page."""

    errors: list[str] = field(default_factory=list)  # console errors, exceptions, failed loads
    images: list[dict[str, Any]] = field(default_factory=list)  # alt, src prefix, complete, width
    title: str = ""
    text: str = ""
    screenshot: bytes | None = None


class _Pipe:
    def __init__(self, write_fd: int, read_fd: int) -> None:
        self.write_fd, self.read_fd = write_fd, read_fd
        self.buffer = b""
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, params: dict | None = None, session: str | None = None,
             timeout: float = 90.0) -> dict[str, Any]:
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self.write_fd, json.dumps(message).encode() + b"\0")
        while True:
            reply = self.receive(timeout)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def receive(self, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while b"\0" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.read_fd], [], [], left)[0]:
                raise TimeoutError("no message from the browser")
            chunk = os.read(self.read_fd, 1 << 20)
            if not chunk:
                raise EOFError("the browser closed the pipe")
            self.buffer += chunk
        message, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(message)

    def wait_for(self, method: str, timeout: float) -> None:
        if any(e.get("method") == method for e in self.events):
            return
        deadline = time.monotonic() + timeout
        while True:
            event = self.receive(max(0.0, deadline - time.monotonic()))
            self.events.append(event)
            if event.get("method") == method:
                return


_IMAGES_JS = """JSON.stringify(Array.from(document.images).map(i => ({
  alt: i.alt, src: i.src.slice(0, 40), complete: i.complete, width: i.naturalWidth, height: i.naturalHeight})))"""


def load_page(browser: str, url: str, *, width: int = 1200, height: int = 900, screenshot: bool = False,
              timeout: float = 120.0) -> PageResult:
    """Loads ``url`` in a fresh headless browser and reports errors and images.

    Args:
        browser: Browser executable.
        url: Page to load (``file://...``).
        width: Window width in CSS pixels.
        height: Window height (the screenshot's height).
        screenshot: Also capture a PNG of the top of the page.
        timeout: Seconds to wait for the load event.
    """
    with tempfile.TemporaryDirectory() as profile:
        # The child's ends are moved above fd 10 first so that putting them on 3 and 4 in the
        # child cannot overwrite one with the other.
        to_browser_r, to_browser_w = _high_pipe()
        from_browser_r, from_browser_w = _high_pipe()

        def child_fds() -> None:  # the protocol's fixed descriptors: 3 = commands in, 4 = out
            os.dup2(to_browser_r, 3)  # dup2 makes them inheritable; every other fd is close-on-exec
            os.dup2(from_browser_w, 4)

        process = subprocess.Popen(
            [browser, "--headless", "--remote-debugging-pipe", "--no-sandbox", "--disable-gpu",
             "--no-first-run", "--no-default-browser-check", "--disable-extensions", f"--user-data-dir={profile}",
             f"--window-size={width},{height}", "about:blank"],
            close_fds=False, preexec_fn=child_fds, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_browser_r)
        os.close(from_browser_w)
        pipe = _Pipe(to_browser_w, from_browser_r)
        try:
            return _inspect(pipe, url, width, height, screenshot, timeout)
        finally:
            try:
                pipe.send("Browser.close", timeout=10)
            except Exception:
                pass
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            os.close(to_browser_w)
            os.close(from_browser_r)


def _high_pipe() -> tuple[int, int]:
    low = os.pipe()
    high = tuple(fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in low)
    for fd in low:
        os.close(fd)
    return high


def _inspect(pipe: _Pipe, url: str, width: int, height: int, screenshot: bool, timeout: float) -> PageResult:
    target = pipe.send("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = pipe.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    for domain in ("Page", "Runtime", "Log", "Network"):
        pipe.send(f"{domain}.enable", session=session)
    pipe.send("Emulation.setDeviceMetricsOverride",
              {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}, session=session)
    pipe.events.clear()
    pipe.send("Page.navigate", {"url": url}, session=session)
    pipe.wait_for("Page.loadEventFired", timeout)
    result = PageResult()
    evaluate = lambda js: pipe.send("Runtime.evaluate", {"expression": js, "returnByValue": True},  # noqa: E731
                                    session=session)["result"]["value"]
    result.images = json.loads(evaluate(_IMAGES_JS))
    result.title = evaluate("document.title")
    result.text = evaluate("document.body.innerText")
    if screenshot:
        result.screenshot = base64.b64decode(pipe.send("Page.captureScreenshot", {"format": "png"},
                                                       session=session)["data"])
    for event in pipe.events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            result.errors.append(f"console: {[a.get('value') for a in params.get('args', [])]}")
        elif method == "Runtime.exceptionThrown":
            result.errors.append(f"exception: {params.get('exceptionDetails', {}).get('text')}")
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            entry = params["entry"]
            result.errors.append(f"log: {entry.get('text')} {entry.get('url', '')}")
        elif method == "Network.loadingFailed":
            result.errors.append(f"load failed: {params.get('errorText')}")
    return result
