"""The project's ASGI application served live (HTTP and WebSockets) for the browser tests (``tests.browser``).

Django's ``live_server`` speaks WSGI only, so ``live_asgi`` runs uvicorn on ``config.asgi.application`` (with
static files) in a thread of the test process: the webhook intake, Django's views, the Channels router and the
eager Celery tasks all run here, against the test database and the configured channel layer. An in-memory
SQLite test database is one database per connection's thread unless shared, so then every thread is given
the test's own connection, as Django's ``LiveServerThread`` does for its threads.
"""

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.db import connections

from config.asgi import application
from tests.browser import TIMEOUT, DevTools, browser_fixture  # noqa: F401 (DevTools and the browser fixture, re-exported)


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
