"""A fake of Meta's Graph API send endpoint: a real HTTP/1.1 server on 127.0.0.1, fast enough for benchmarks.

``POST /<version>/<phone_number_id>/messages`` answers 200 with the body of
``tests/fixtures/meta_api/send_text_success.json`` (``send_template_accepted.json`` for templates), with a
wamid of its own per request (``wamid.fake.<run>.<n>``) and ``contacts[0].wa_id`` = the ``to`` digits; a
read receipt (``"status": "read"``) answers ``{"success": true}``. Every request is recorded (arrival
time on the monotonic and wall clocks, path, parsed JSON body, Authorization header, the status
answered) in a thread-safe list. It can be told to answer the next N sends, or the sends to one
recipient, with one of the ``error_*.json`` fixtures (their status and body), and to answer slowly.

Two ways to run it:

* in-process, on a thread, for tests::

      with running_graph_api() as graph:
          channel.api_base_url = graph.url
          graph.fail_next(2, "error_130429_throughput")
          ...
          assert [r.to for r in graph.requests] == [...]

* as its own process, for benchmarks (it then competes for no GIL with the code it measures)::

      python -m tests.fakes.graph_api --port 0 --record FILE

  It prints ``READY http://127.0.0.1:<port>`` once listening, and on SIGTERM or SIGINT writes what it
  received to FILE as JSON (``{"requests": [{"t": wall, "m": monotonic, "to", "status", "path"}, ...]}``)
  before exiting. ``GET /_fake/count`` answers ``{"count": n, "ok": n_ok}`` meanwhile.

Why asyncio streams rather than ``http.server.ThreadingHTTPServer``, measured on this project's 2-core
machine with 16 keep-alive connections from 2 load processes (raw sockets, 4 s): the threaded server
(``protocol_version = "HTTP/1.1"``, Content-Length set) answered about 13,000 sends/s using a whole core
(about 100 us of CPU per request), and only 370/s without TCP_NODELAY (its header and body go out in two
writes, which meet the client's delayed ACK); this server answers about 28,000/s at about 34 us per
request with the standard event loop, 34,000/s at 25 us with uvloop (used when installed, in process
mode). At the send benchmark's 1,000/s it takes under a tenth of a core.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import re
import secrets
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "meta_api"
HOST = "127.0.0.1"
SEND_PATH = re.compile(r"^/(v\d+\.\d+)/([^/?]+)/messages(?:\?.*)?$")
_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found"}
_REASONS |= {429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable"}


def load_fixture(name: str) -> dict[str, Any]:
    """A ``meta_api`` fixture by file name, with or without ``.json``: ``{"http_status": N, "body": {...}}``."""
    name = name if name.endswith(".json") else f"{name}.json"
    return json.loads((FIXTURES / name).read_text())


@dataclass(slots=True)
class Request:
    """One request as the fake received it, and what it answered."""

    monotonic: float
    wall: float
    method: str
    path: str
    body: Any
    authorization: str
    status: int = 0
    wamid: str = ""

    @property
    def to(self) -> str:
        return str(self.body.get("to", "")) if isinstance(self.body, dict) else ""


class _Failure:
    """An error fixture to answer with, ``remaining`` more times (None: for ever)."""

    def __init__(self, fixture: str, remaining: int | None, retry_after: str = "") -> None:
        data = load_fixture(fixture)
        self.status = int(data["http_status"])
        self.body = json.dumps(data["body"]).encode()
        self.remaining = remaining
        self.retry_after = retry_after

    def take(self) -> bool:
        if self.remaining is None:
            return True
        if self.remaining <= 0:
            return False
        self.remaining -= 1
        return True


class FakeGraphAPI:
    """The server's state and behaviour; ``start()`` runs it on a thread, ``serve()`` in this process."""

    def __init__(self, *, host: str = HOST, port: int = 0, delay: float = 0.0) -> None:
        self.host, self.port = host, port
        self.delay = delay  # seconds to wait before answering (after recording the arrival)
        self.run_id = secrets.token_hex(4)
        self._lock = threading.Lock()
        self._records: list[Request] = []
        self._ok = 0
        self._counter = itertools.count(1)
        self._next: list[_Failure] = []
        self._by_recipient: dict[str, _Failure] = {}
        text = load_fixture("send_text_success")["body"]
        template = load_fixture("send_template_accepted")["body"]
        self._message_status = template["messages"][0].get("message_status", "accepted")
        self._text_keys = list(text)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._thread: threading.Thread | None = None
        self._stopped: asyncio.Event | None = None

    # ------------------------------------------------------------------ what tests use

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
        """The sends answered 200: what Meta would have accepted."""
        return [r for r in self.requests if r.status == 200 and r.wamid]

    def recipients(self) -> list[str]:
        """``to`` of every accepted send, in arrival order (duplicates kept: tests look for them)."""
        return [r.to for r in self.sent]

    def fail_next(self, n: int, fixture_name: str, *, retry_after: str = "") -> None:
        """Answer the next ``n`` sends (any recipient) with this error fixture's status and body."""
        with self._lock:
            self._next.append(_Failure(fixture_name, n, retry_after))

    def fail_recipient(self, to: str, fixture_name: str, *, times: int | None = None, retry_after: str = "") -> None:
        """Answer sends to ``to`` with this error fixture, ``times`` times (None: until cleared)."""
        with self._lock:
            self._by_recipient[to] = _Failure(fixture_name, times, retry_after)

    def clear_failures(self) -> None:
        with self._lock:
            self._next.clear()
            self._by_recipient.clear()

    def reset(self) -> None:
        """Forget the requests received (failures stay as set)."""
        with self._lock:
            self._records.clear()
            self._ok = 0

    def wait_for(self, count: int, *, timeout: float = 10.0, accepted_only: bool = True) -> list[Request]:
        """Block until ``count`` requests (accepted sends by default) arrived; returns them."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.sent if accepted_only else self.requests
            if len(found) >= count or time.monotonic() >= deadline:
                return found
            time.sleep(0.01)

    # ------------------------------------------------------------------ answering

    def _failure_for(self, to: str) -> _Failure | None:
        failure = self._by_recipient.get(to)
        if failure is not None and failure.take():
            return failure
        while self._next:
            if self._next[0].take():
                return self._next[0]
            self._next.pop(0)
        return None

    def _answer(self, method: str, path: str, headers: dict[bytes, bytes], raw: bytes, mono: float, wall: float):
        """(status, body bytes, extra header lines) for one request, recorded under the lock."""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        record = Request(mono, wall, method, path, body, headers.get(b"authorization", b"").decode("latin-1"))
        extra = b""
        if method == "GET" and path == "/_fake/count":
            with self._lock:
                payload = {"count": len(self._records), "ok": self._ok}
            return 200, json.dumps(payload).encode(), extra
        if method != "POST" or not SEND_PATH.match(path):
            status, answer = 400, _unknown_path(path)
        elif not isinstance(body, dict) or body.get("messaging_product") != "whatsapp":
            status, answer = 400, _graph_error(100, "(#100) The parameter messaging_product is required.")
        elif body.get("status") == "read":
            status, answer = 200, b'{"success":true}'
        else:
            to = str(body.get("to", ""))
            with self._lock:
                failure = self._failure_for(to)
                if failure is None:
                    record.wamid = f"wamid.fake.{self.run_id}.{next(self._counter)}"
                    self._ok += 1
                record.status = failure.status if failure else 200
                self._records.append(record)
            if failure is not None:
                if failure.retry_after:
                    extra = b"Retry-After: " + failure.retry_after.encode() + b"\r\n"
                return failure.status, failure.body, extra
            return 200, self._success(to, record.wamid, body.get("type") == "template"), extra
        record.status = status
        with self._lock:
            self._records.append(record)
        return status, answer, extra

    def _success(self, to: str, wamid: str, template: bool) -> bytes:
        message: dict[str, str] = {"id": wamid}
        if template:
            message["message_status"] = self._message_status
        digits = "".join(ch for ch in to if ch.isdigit())
        return json.dumps(
            {"messaging_product": "whatsapp", "contacts": [{"input": to, "wa_id": digits}], "messages": [message]}
        ).encode()

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
                headers = {}
                for line in lines[1:]:
                    name, _, value = line.partition(b":")
                    headers[name.strip().lower()] = value.strip()
                length = int(headers.get(b"content-length", b"0") or 0)
                try:
                    raw = await reader.readexactly(length) if length else b""
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                status, answer, extra = self._answer(method, target, headers, raw, mono, wall)
                if self.delay:
                    await asyncio.sleep(self.delay)
                close = headers.get(b"connection", b"").lower() == b"close" or version == "HTTP/1.0"
                writer.write(
                    b"HTTP/1.1 %d %s\r\nContent-Type: application/json; charset=UTF-8\r\n"
                    b"Content-Length: %d\r\n%s%s\r\n%s"
                    % (
                        status,
                        _REASONS.get(status, "Error").encode(),
                        len(answer),
                        extra,
                        b"Connection: close\r\n" if close else b"",
                        answer,
                    )
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
        self._stopped = asyncio.Event()
        self._server = await asyncio.start_server(
            self._connection, self.host, self.port, backlog=1024, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

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
        if self._stopped is not None:
            self._stopped.set()

    def start(self) -> FakeGraphAPI:
        """Serve on a daemon thread; returns once it is listening."""
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

        self._thread = threading.Thread(target=run, name="fake-graph-api", daemon=True)
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

    def serve(self, *, on_ready=None) -> None:
        """Serve in this process until SIGTERM or SIGINT."""
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

    def dump(self, path: Path) -> None:
        """Write the requests (compactly: times, recipient, status, path) to ``path``, atomically."""
        rows = [
            {"t": r.wall, "m": r.monotonic, "to": r.to, "status": r.status, "path": r.path, "wamid": r.wamid}
            for r in self.requests
        ]
        temporary = path.with_name(path.name + ".tmp")
        temporary.write_text(json.dumps({"run_id": self.run_id, "requests": rows}))
        os.replace(temporary, path)


def _graph_error(code: int, message: str, *, kind: str = "OAuthException") -> bytes:
    return json.dumps(
        {"error": {"message": message, "type": kind, "code": code, "fbtrace_id": f"Fake{secrets.token_hex(8)}"}}
    ).encode()


def _unknown_path(path: str) -> bytes:
    return _graph_error(2500, f"Unknown path components: {path}")


@contextlib.contextmanager
def running_graph_api(*, delay: float = 0.0) -> Iterator[FakeGraphAPI]:
    """A fake Graph API on a thread of this process, at ``.url``, for the duration of the block."""
    server = FakeGraphAPI(delay=delay).start()
    try:
        yield server
    finally:
        server.stop()


# ---------------------------------------------------------------------- as a process


def _selftest(seconds: float, connections: int) -> None:
    """Sends per second through ``requests`` sessions on ``connections`` threads (one process)."""
    import requests

    server = FakeGraphAPI().start()
    body = {"messaging_product": "whatsapp", "to": "5544998887777", "type": "text", "text": {"body": "hi"}}
    deadline = time.monotonic() + seconds
    counts = [0] * connections

    def work(index: int) -> None:
        session = requests.Session()
        while time.monotonic() < deadline:
            session.post(f"{server.url}/v23.0/1/messages", json=body, timeout=5).raise_for_status()
            counts[index] += 1

    threads = [threading.Thread(target=work, args=(i,)) for i in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    server.stop()
    print(json.dumps({"sends_per_s": round(sum(counts) / seconds), "connections": connections}))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fakes.graph_api", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default=HOST)
    parser.add_argument("--port", type=int, default=0, help="0: a free port (printed on the READY line)")
    parser.add_argument("--record", type=Path, help="write the requests received here on SIGTERM/SIGINT")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds to wait before answering")
    parser.add_argument("--selftest", type=float, metavar="SECONDS", help="measure sends/s in-process, then exit")
    args = parser.parse_args(argv)
    if args.selftest:
        _selftest(args.selftest, 16)
        return 0
    server = FakeGraphAPI(host=args.host, port=args.port, delay=args.delay)

    def ready(s: FakeGraphAPI) -> None:
        sys.stdout.write(f"READY {s.url}\n")
        sys.stdout.flush()

    try:
        server.serve(on_ready=ready)
    finally:
        if args.record:
            server.dump(args.record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
