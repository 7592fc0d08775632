"""A small HTTP/1.1 server on asyncio streams, the base of the fakes: on a thread for tests, or as a process.

Asyncio streams rather than ``http.server.ThreadingHTTPServer``: the threaded server spends several
times the CPU per request, and without TCP_NODELAY its header and body go out in two writes that meet
the client's delayed ACK. At the send benchmark's rate this server takes a small part of a core.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fakes.callbacks import CallbackPoster

HOST = "127.0.0.1"
# Paths a harness drives the fake with from another process (``FakeServer.control``).
CONTROL_PREFIX = "/_fake/"
REASONS = {200: "OK", 201: "Created", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden"}
REASONS |= {404: "Not Found", 429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable"}


@dataclass(slots=True)
class Request:
    """One request as a fake received it, and what it answered."""

    monotonic: float
    wall: float
    method: str
    path: str
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    status: int = 0
    message_id: str = ""

    @property
    def authorization(self) -> str:
        return self.headers.get("authorization", "")

    @property
    def wamid(self) -> str:
        return self.message_id

    @property
    def to(self) -> str:
        if not isinstance(self.body, dict):
            return ""
        return str(self.body.get("to") or self.body.get("number") or "")


@dataclass(slots=True)
class Answer:
    status: int
    body: bytes
    content_type: str = "application/json; charset=UTF-8"
    headers: dict[str, str] = field(default_factory=dict)


def record_of(request: Request) -> dict[str, Any]:
    """A received request as JSON (``GET /_fake/requests``), headers left out."""
    return {
        "monotonic": request.monotonic,
        "wall": request.wall,
        "method": request.method,
        "path": request.path,
        "body": request.body,
        "status": request.status,
        "message_id": request.message_id,
    }


def json_answer(status: int, payload: Any, **headers: str) -> Answer:
    return Answer(status, json.dumps(payload).encode(), headers=headers)


class FakeServer:
    """Serves ``answer(request, raw)``; ``start()`` runs it on a daemon thread, ``serve()`` in this process.

    It keeps the requests it answered (``requests``; ``sent``: the sends the provider accepted) and, once
    a subclass makes one, posts its webhooks through ``callbacks``.
    """

    name = "fake"
    accepted = 200  # the status of an accepted send

    def __init__(self, *, host: str = HOST, port: int = 0, delay: float = 0.0) -> None:
        self.host, self.port = host, port
        self.delay = delay  # seconds to wait before answering (after recording the arrival)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._records: list[Request] = []
        self._poster: CallbackPoster | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def requests(self) -> list[Request]:
        """A snapshot of every request received so far, in arrival order."""
        with self._lock:
            return list(self._records)

    @property
    def sent(self) -> list[Request]:
        """The sends the provider would have accepted."""
        return [r for r in self.requests if r.status == self.accepted and r.message_id]

    @property
    def callbacks(self) -> CallbackPoster | None:
        return self._poster

    def answer(self, request: Request, raw: bytes) -> Answer:
        raise NotImplementedError

    def control(self, request: Request) -> Answer | None:
        """A call of the harness that drives the fake from another process (``/_fake/…``, never recorded), or
        None to answer it as any request. ``GET /_fake/requests?since=N``: the requests received from the N-th
        on (arrival times, method, path, parsed body, status, message id) and ``next``, the N to ask next."""
        parts = urlsplit(request.path)
        if request.method == "GET" and parts.path == f"{CONTROL_PREFIX}requests":
            since = parse_qs(parts.query).get("since", ["0"])[0]
            with self._lock:
                start = int(since) if since.isdigit() else 0
                found = self._records[start:]
                total = len(self._records)
            return json_answer(200, {"requests": [record_of(r) for r in found], "next": total})
        return None

    def on_started(self) -> None:
        """Called once listening (the port is known)."""

    def on_stopped(self) -> None:
        """Called after the server stopped: the webhooks still waiting are dropped."""
        if self._poster is not None:
            self._poster.stop()
            self._poster = None

    # ------------------------------------------------------------------ the protocol

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._writers.add(writer)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                    return
                mono, wall = time.monotonic(), time.time()
                lines = head[:-4].split(b"\r\n")
                try:
                    method, target, version = lines[0].decode("latin-1").split(" ", 2)
                except ValueError:
                    return
                headers: dict[str, str] = {}
                for line in lines[1:]:
                    name, _, value = line.partition(b":")
                    headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
                try:
                    length = int(headers.get("content-length") or 0)
                    raw = await reader.readexactly(length) if length else b""
                except (ValueError, asyncio.IncompleteReadError, ConnectionError):
                    return
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode("utf-8", "replace")
                request = Request(mono, wall, method, target, body, headers)
                answer = self.control(request) if target.startswith(CONTROL_PREFIX) else None
                if answer is None:
                    answer = self.answer(request, raw)
                if self.delay:
                    await asyncio.sleep(self.delay)
                close = headers.get("connection", "").lower() == "close" or version == "HTTP/1.0"
                extra = "".join(f"{name}: {value}\r\n" for name, value in answer.headers.items())
                writer.write(
                    (
                        f"HTTP/1.1 {answer.status} {REASONS.get(answer.status, 'Error')}\r\n"
                        f"Content-Type: {answer.content_type}\r\nContent-Length: {len(answer.body)}\r\n"
                        f"{extra}{'Connection: close' + chr(13) + chr(10) if close else ''}\r\n"
                    ).encode("latin-1")
                    + answer.body
                )
                await writer.drain()
                if close:
                    return
        except (ConnectionError, asyncio.CancelledError):
            return
        finally:
            self._writers.discard(writer)
            with contextlib.suppress(Exception):
                writer.close()

    # ------------------------------------------------------------------ running

    async def _start(self) -> None:
        self._server = await asyncio.start_server(
            self._connection, self.host, self.port, backlog=1024, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self.on_started()

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            with contextlib.suppress(Exception):
                writer.close()
        current = asyncio.current_task()
        tasks = [task for task in asyncio.all_tasks() if task is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.on_stopped()

    def start(self):
        """Serve on a daemon thread; returns the server once it is listening."""
        ready = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self._start())
            except BaseException as exc:
                errors.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(self._shutdown())
                loop.close()

        self._thread = threading.Thread(target=run, name=self.name, daemon=True)
        self._thread.start()
        ready.wait(10)
        if errors:
            raise errors[0]
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._thread = None

    def serve(self, *, on_ready: Callable[[FakeServer], None] | None = None) -> None:
        """Serve in this process until SIGTERM or SIGINT (on uvloop when it is installed)."""
        try:
            import uvloop

            loop = uvloop.new_event_loop()
        except ImportError:
            loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        loop.run_until_complete(self._start())
        finished = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, finished.set)
        if on_ready is not None:
            on_ready(self)
        loop.run_until_complete(finished.wait())
        loop.run_until_complete(self._shutdown())
        loop.close()


def announce_ready(server: FakeServer) -> None:
    """The line a parent process waits for: ``READY http://127.0.0.1:<port>``."""
    sys.stdout.write(f"READY {server.url}\n")
    sys.stdout.flush()
