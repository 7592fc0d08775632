"""Writes asked for on an event loop, done on one thread of their own, as many at a time as are waiting.

A coroutine that must store a row before it answers (a webhook) awaits ``BatchWriter.write``. The first
write starts at once; writes asked for while one is under way wait for it and then go together, in one
call of the batch function (one INSERT, one commit). Nobody waits for a timer, so a lone request is
written as soon as it comes; a batch forms only while the database is busy with the one before.

``write`` returns only once the batch holding its item has been written, or raises the exception the
batch met, so a caller never reports stored what is not. What must follow a written batch but need not
delay its callers (``then``: waking the consumers of the rows) runs on a second thread after they are
released; calls asked for while one runs are merged into one more call after it, so every written batch
is followed by a call that started after it.
"""

import asyncio
import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

logger = logging.getLogger(__name__)


class Full(Exception):
    """Too many writes are waiting already: the caller must store its item another way."""


class BatchWriter(Generic[Item, Result]):
    """``write_batch`` gets a batch's items in the order they were asked for and returns one result each.

    A batch holds at most ``max_items`` items and, beyond its first, at most ``max_bytes`` of their
    ``size``. It runs on a thread of this writer's own, never on the event loop. Beyond ``max_waiting``
    writes waiting, ``write`` raises Full at once.
    """

    def __init__(
        self,
        write_batch: Callable[[list[Item]], Sequence[Result]],
        *,
        then: Callable[[], None] | None = None,
        max_items: int = 100,
        max_bytes: int = 4 * 1024 * 1024,
        max_waiting: int = 1000,
        name: str = "batch-writer",
    ) -> None:
        self._write_batch, self._then = write_batch, then
        self.max_items, self.max_bytes, self.max_waiting = max_items, max_bytes, max_waiting
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._then_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{name}-then")
        self._then_lock = threading.Lock()
        self._then_asked = 0  # 0: idle; 1: a call runs; 2: and one more is to follow it
        self._waiting: list[tuple[Item, int, asyncio.Future[Result]]] = []
        self._running: asyncio.Task[None] | None = None

    async def write(self, item: Item, *, size: int = 0) -> Result:
        """The item's result once its batch is written; raises its batch's error, or Full."""
        if len(self._waiting) >= self.max_waiting:
            raise Full(f"{len(self._waiting)} writes are already waiting")  # a stalled database: no more in memory
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, size, future))
        if self._running is None or self._running.done():
            self._running = asyncio.create_task(self._run())
        return await future

    def _take(self) -> list[tuple[Item, int, asyncio.Future[Result]]]:
        count, total = 1, self._waiting[0][1]
        while count < min(len(self._waiting), self.max_items):
            total += self._waiting[count][1]
            if total > self.max_bytes:
                break
            count += 1
        batch = self._waiting[:count]
        del self._waiting[:count]
        return batch

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while self._waiting:
            batch = self._take()
            try:
                results = await loop.run_in_executor(self._executor, self._checked, [item for item, _, _ in batch])
            except Exception as exc:  # each caller raises it; the next batch is tried all the same
                logger.exception("A batch of %d writes failed", len(batch))
                for _, _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
            else:
                for (_, _, future), result in zip(batch, results, strict=True):
                    if not future.done():
                        future.set_result(result)
                self._ask_then()

    def close(self) -> None:
        """Let both threads end once what was asked of them is done."""
        self._executor.shutdown(wait=True)
        self._then_executor.shutdown(wait=True)

    def settle(self, timeout: float = 10.0) -> None:
        """Wait until the calls after written batches asked for so far are done (for tests)."""
        self._then_executor.submit(lambda: None).result(timeout)

    def _ask_then(self) -> None:
        if self._then is None:
            return
        with self._then_lock:
            self._then_asked = min(self._then_asked + 1, 2)
            if self._then_asked == 2:
                return  # the running call's thread makes one more call when it is done
        try:
            self._then_executor.submit(self._call_then)
        except RuntimeError:  # closed: nothing runs after this writer any more
            with self._then_lock:
                self._then_asked = 0

    def _call_then(self) -> None:
        while True:
            try:
                self._then()  # type: ignore[misc]  # only submitted when set
            except Exception:
                logger.exception("The call after a written batch failed")
            with self._then_lock:
                self._then_asked -= 1
                if not self._then_asked:
                    return

    def _checked(self, items: list[Item]) -> Sequence[Result]:
        results = self._write_batch(items)
        if len(results) != len(items):
            raise RuntimeError(f"the batch function returned {len(results)} results for {len(items)} items")
        return results
