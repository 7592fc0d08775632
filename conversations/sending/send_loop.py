"""An event loop on a thread of its own, where a dispatcher's sends wait for their slots and Cloud API calls are made.

A send waiting for its pacing slot is a timer here, not a thread asleep, and a Cloud API call in flight is
a socket the loop watches: one thread holds hundreds of them. With a thread per send, each send's wake-up
and each of its socket reads would wait for the interpreter lock behind the other threads and the claiming
thread, and on a busy machine many sends would start after their slot had passed.
"""

import asyncio
import contextvars
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

from config.async_http import AsyncOutgoing

T = TypeVar("T")


class SendLoop:
    def __init__(self, *, connections: int) -> None:
        self.loop = asyncio.new_event_loop()
        self.http = AsyncOutgoing(connections=connections)
        self._thread = threading.Thread(target=self.loop.run_forever, name="send-loop", daemon=True)
        self._thread.start()

    def submit(self, coroutines: list[Coroutine[Any, Any, T]]) -> list[Future[T]]:
        """Run ``coroutines`` on the loop, in the caller's context (its request id in the logs); their futures.

        One wake-up of the loop for the whole batch, not one per coroutine.
        """
        futures: list[Future[T]] = [Future() for _ in coroutines]
        if not coroutines:
            return futures
        context = contextvars.copy_context()

        def start() -> None:
            for coroutine, future in zip(coroutines, futures, strict=True):
                self.loop.create_task(_settle(coroutine, future), context=context.copy())

        self.loop.call_soon_threadsafe(start)
        return futures

    def close(self) -> None:
        if self.loop.is_closed():
            return
        asyncio.run_coroutine_threadsafe(self.http.close(), self.loop).result()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()


async def _settle(coroutine: Coroutine[Any, Any, T], future: Future[T]) -> None:
    try:
        result = await coroutine
    except BaseException as exc:  # handed to whoever waits for the future, as a thread pool does
        future.set_exception(exc)
    else:
        future.set_result(result)
