"""Webhooks a fake sends back, as the providers do: each at its time, in order, retried until taken.

A provider keeps delivering a webhook that was not answered 2xx; the fakes do the same for a while, so
statuses of messages sent while the web server restarts, or before the demo data exists, still arrive.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)

RETRY_DELAYS = (0.5, 1, 2, 4, 8, 15, 30)  # then given up: about a minute in all


@dataclass(order=True, slots=True)
class Callback:
    due: float
    order: int
    url: str = field(compare=False)
    body: bytes = field(compare=False)
    headers: dict[str, str] = field(compare=False)
    attempts: int = field(default=0, compare=False)


@dataclass(slots=True)
class Delivery:
    """A webhook as it was delivered (or given up): for tests and the fake's log."""

    url: str
    body: bytes
    status: int
    attempts: int


class CallbackPoster:
    """A thread that POSTs scheduled webhooks at their time; ``post(delay, url, body, headers)``."""

    def __init__(self, *, timeout: float = 5.0, retry_delays: tuple[float, ...] = RETRY_DELAYS) -> None:
        self.timeout = timeout
        self.retry_delays = retry_delays  # () posts each webhook once, as Chatwoot does
        self._queue: list[Callback] = []
        self._order = itertools.count()
        self._condition = threading.Condition()
        self._stopping = False
        self._busy = 0
        self.deliveries: list[Delivery] = []
        self._thread = threading.Thread(target=self._run, name="fake-callbacks", daemon=True)
        self._thread.start()

    def post(self, delay: float, url: str, body: bytes, headers: dict[str, str]) -> None:
        with self._condition:
            heapq.heappush(self._queue, Callback(time.monotonic() + delay, next(self._order), url, body, headers))
            self._condition.notify()

    def idle(self) -> bool:
        with self._condition:
            return not self._queue and not self._busy

    def wait_idle(self, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while not self.idle():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return True

    def stop(self) -> None:
        with self._condition:
            self._stopping = True
            self._condition.notify()
        self._thread.join(5)

    def _run(self) -> None:
        while True:
            with self._condition:
                while not self._stopping and (not self._queue or self._queue[0].due > time.monotonic()):
                    wait = self._queue[0].due - time.monotonic() if self._queue else None
                    self._condition.wait(wait)
                if self._stopping:
                    return
                callback = heapq.heappop(self._queue)
                self._busy += 1
            try:
                self._deliver(callback)
            finally:
                with self._condition:
                    self._busy -= 1

    def _deliver(self, callback: Callback) -> None:
        callback.attempts += 1
        request = urllib.request.Request(  # noqa: S310 (the URL is the operator's webhook setting)
            callback.url, data=callback.body, method="POST", headers={"Content-Type": "application/json"}
        )
        for name, value in callback.headers.items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                status = response.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        except OSError:
            status = 0
        if 200 <= status < 300:
            self.deliveries.append(Delivery(callback.url, callback.body, status, callback.attempts))
            return
        if callback.attempts > len(self.retry_delays):
            logger.warning(
                "gave up a webhook to %s after %s attempts (last: %s)", callback.url, callback.attempts, status
            )
            self.deliveries.append(Delivery(callback.url, callback.body, status, callback.attempts))
            return
        with self._condition:
            callback.due = time.monotonic() + self.retry_delays[callback.attempts - 1]
            heapq.heappush(self._queue, callback)
