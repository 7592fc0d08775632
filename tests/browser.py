"""A real browser for tests: headless Chromium driven through the Chrome DevTools protocol.

The protocol runs over a websocket on 127.0.0.1, with the ``websockets`` package uvicorn[standard] already
installs (no Selenium, no driver binary). The ``browser`` fixture skips when Chromium is not installed;
``.ci/run`` installs it. A test module takes the fixture with ``from tests.browser import browser_fixture``.
"""

import base64
import itertools
import json
import shutil
import struct
import subprocess
import time
import urllib.request
import zlib
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client

CHROMIUM = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
# Nothing but the page under test: no updates, sync, metrics or first-run pages reaching the internet.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-domain-reliability",
    "--disable-dev-shm-usage",
    "--metrics-recording-only",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
]
TIMEOUT = 20.0


class DevTools:
    """The few Chrome DevTools protocol calls the test needs, over one page's websocket."""

    def __init__(self, websocket: Any) -> None:
        self._ws = websocket
        self._ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        call_id = next(self._ids)
        self._ws.send(json.dumps({"id": call_id, "method": method, "params": params}))
        while True:
            message = json.loads(self._ws.recv(timeout=TIMEOUT))
            if message.get("id") == call_id:
                assert "error" not in message, message["error"]
                return message.get("result", {})
            self.events.append(message)

    def wait_for_event(self, method: str) -> None:
        deadline = time.monotonic() + TIMEOUT
        while not any(e.get("method") == method for e in self.events):
            assert time.monotonic() < deadline, f"no {method} within {TIMEOUT}s"
            self.events.append(json.loads(self._ws.recv(timeout=TIMEOUT)))

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        assert "exceptionDetails" not in result, result["exceptionDetails"]
        return result["result"].get("value")

    def wait_until(self, expression: str, expected: Any) -> Any:
        deadline, value = time.monotonic() + TIMEOUT, None
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value == expected:
                return value
            time.sleep(0.05)
        return value


@pytest.fixture(name="browser")
def browser_fixture(tmp_path: Path):
    """A headless Chromium's page, driven over DevTools; skips when Chromium is not installed."""
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (apt-get install chromium); .ci/run installs it for CI")
    client = pytest.importorskip("websockets.sync.client", reason="needs the websockets package (uvicorn[standard])")
    profile = tmp_path / "profile"
    process = subprocess.Popen(  # noqa: S603 - a fixed argument list, no shell
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        port_file, deadline = profile / "DevToolsActivePort", time.monotonic() + TIMEOUT
        while not (port_file.exists() and port_file.read_text().count("\n") >= 1):
            assert process.poll() is None, "Chromium exited at start-up"
            assert time.monotonic() < deadline, "Chromium did not open its DevTools port"
            time.sleep(0.05)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=TIMEOUT) as answer:
            page = next(t for t in json.load(answer) if t["type"] == "page")
        with client.connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=TIMEOUT) as websocket:
            yield DevTools(websocket)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def navigate(browser: DevTools, url: str) -> None:
    browser.events.clear()
    browser.call("Page.navigate", url=url)
    browser.wait_for_event("Page.loadEventFired")


def open_as_staff(browser: DevTools, live_server, path: str) -> None:
    """Opens ``path`` as a new superuser."""
    user = get_user_model().objects.create_superuser("browser", password="unused-in-this-test")
    open_logged_in(browser, live_server, path, user)


def open_logged_in(browser: DevTools, live_server, path: str, user) -> None:
    """Logs ``user`` in with force_login, hands the session cookie to the browser, then opens ``path``."""
    client = Client()
    client.force_login(user)
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    browser.call("Page.enable")
    browser.call("Network.enable")
    browser.call("Network.setCookie", name=settings.SESSION_COOKIE_NAME, value=session, url=live_server.url)
    navigate(browser, f"{live_server.url}{path}")
    assert browser.evaluate("location.pathname") == path.split("?")[0], "the session cookie was not accepted"


def set_width(browser: DevTools, width: int, height: int = 900, *, mobile: bool = False) -> None:
    """Give the page a window ``width`` CSS pixels wide (a phone's with ``mobile``: its viewport meta applies)."""
    browser.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=mobile)


def screenshot(browser: DevTools, path: Path, *, scale: float = 1.0) -> bytes:
    """The whole page as PNG, or with ``scale`` below 1 its first screen that much smaller (quick to decode in
    Python), saved at ``path``; returns the PNG's bytes."""
    if scale == 1.0:
        shot = browser.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
    else:
        width, height = browser.evaluate("[window.innerWidth, window.innerHeight]")
        clip = {"x": 0, "y": 0, "width": width, "height": height, "scale": scale}
        shot = browser.call("Page.captureScreenshot", format="png", clip=clip)
    data = base64.b64decode(shot["data"])
    path.write_bytes(data)
    return data


def png_pixels(data: bytes) -> tuple[int, int, list[bytes], int]:
    """Decode an 8-bit RGB or RGBA PNG (what Chromium writes): width, height, rows of pixels, bytes per pixel."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    position, idat, header = 8, b"", None
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind, chunk = data[position + 4 : position + 8], data[position + 8 : position + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat += chunk
        position += 12 + length
    assert header is not None, "no IHDR"
    width, height, depth, color, *_ = header
    assert depth == 8 and color in (2, 6), f"unexpected PNG format: depth {depth}, colour type {color}"
    size = 3 if color == 2 else 4
    raw, stride, rows, previous = zlib.decompress(idat), width * size, [], bytearray(width * size)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for x in range(stride):
            left = line[x - size] if x >= size else 0
            up, corner = previous[x], previous[x - size] if x >= size else 0
            if kind == 1:
                line[x] = (line[x] + left) & 0xFF
            elif kind == 2:
                line[x] = (line[x] + up) & 0xFF
            elif kind == 3:
                line[x] = (line[x] + (left + up) // 2) & 0xFF
            elif kind == 4:
                guess = left + up - corner
                near = min((abs(guess - left), 0, left), (abs(guess - up), 1, up), (abs(guess - corner), 2, corner))
                line[x] = (line[x] + near[2]) & 0xFF
        rows.append(bytes(line))
        previous = line
    return width, height, rows, size
