"""Headless Chromium over the DevTools protocol, and the project's ASGI application served live (HTTP and WebSockets).

The DevTools part is tests/templates_meta/test_browser.py's, copied until one shared harness exists: Chromium's
page websocket driven with the ``websockets`` package uvicorn[standard] installs (no Selenium, no driver binary);
the tests skip when Chromium is not installed (``.ci/run`` installs it).

Django's ``live_server`` speaks WSGI only, so ``live_asgi`` runs uvicorn on ``config.asgi.application`` (with
static files) in a thread of the test process: the webhook intake, Django's views, the Channels router and the
eager Celery tasks all run here, against the test database and the configured channel layer. An in-memory
SQLite test database is one database per connection's thread unless shared, so then every thread is given
the test's own connection, as Django's ``LiveServerThread`` does for its threads.
"""

import itertools
import json
import shutil
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.db import connections

from config.asgi import application

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
    """The few Chrome DevTools protocol calls the tests need, over one page's websocket."""

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
            time.sleep(0.02)
        return value

    def navigate(self, url: str) -> None:
        self.events.clear()
        self.call("Page.navigate", url=url)
        self.wait_for_event("Page.loadEventFired")


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[DevTools]:
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
            devtools = DevTools(websocket)
            devtools.call("Page.enable")
            yield devtools
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class _Everywhere:
    """Connections that every thread shares (instead of asgiref's per-thread ``Local``)."""


class LiveAsgi:
    """uvicorn serving the project's ASGI application on one port of 127.0.0.1, stopped and started at will."""

    def __init__(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # the same port again after a stop
        listener.bind(("127.0.0.1", self.port))
        config = uvicorn.Config(
            ASGIStaticFilesHandler(application), lifespan="off", log_config=None, log_level="warning", loop="asyncio"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [listener]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + TIMEOUT
        while not self._server.started:
            assert self._thread.is_alive(), "uvicorn exited at start-up"
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)

    def stop(self) -> None:
        """Close every connection (WebSockets with 1012, going away) and the port."""
        if self._server is not None:
            self._server.should_exit = True
            self._thread.join(TIMEOUT)
            assert not self._thread.is_alive(), "uvicorn did not stop"
            self._server = None


@pytest.fixture
def live_asgi(transactional_db, monkeypatch) -> Iterator[LiveAsgi]:
    shared = connections["default"]
    if shared.vendor == "sqlite" and shared.is_in_memory_db():
        shared.inc_thread_sharing()
        everywhere = _Everywhere()
        everywhere.default = shared
        monkeypatch.setattr(connections, "_connections", everywhere)
    server = LiveAsgi()
    server.start()
    try:
        yield server
    finally:
        server.stop()
        if shared.vendor == "sqlite" and shared.is_in_memory_db():
            shared.dec_thread_sharing()
