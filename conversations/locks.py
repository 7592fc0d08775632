"""Short exclusive locks across worker processes: Redis when configured, file locks otherwise.

Used so one contact's messages are handled one at a time. With embedded defaults there is no Redis,
so the fallback locks a file under ``var/locks`` (every process then runs on one machine).
"""

import contextlib
import fcntl
import hashlib
import time
from collections.abc import Iterator
from pathlib import Path

import redis
from django.conf import settings

from config.cache import redis_client


class LockTimeout(Exception):
    """The lock stayed taken longer than the caller was willing to wait."""


@contextlib.contextmanager
def _redis_lock(name: str, *, ttl: float, wait: float) -> Iterator[None]:
    # redis-py's Lock: SET NX PX to take it, a Lua compare-and-delete to release it, so a holder whose
    # lease expired can never release the next holder's lock. The lease frees it if the holder dies.
    lock = redis_client().lock(
        f"{settings.CACHE_KEY_PREFIX}:lock:{name}", timeout=ttl, blocking_timeout=wait, sleep=0.01
    )
    if not lock.acquire():
        raise LockTimeout(name)
    try:
        yield
    finally:
        with contextlib.suppress(redis.exceptions.LockError):
            lock.release()


@contextlib.contextmanager
def _file_lock(name: str, *, wait: float) -> Iterator[None]:
    folder = Path(settings.VAR_DIR) / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{hashlib.sha256(name.encode()).hexdigest()[:32]}.lock"
    deadline = time.monotonic() + wait
    with path.open("a") as handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise LockTimeout(name) from None
                time.sleep(0.01)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def exclusive(name: str, *, ttl: float = 60, wait: float = 30) -> contextlib.AbstractContextManager[None]:
    """Hold ``name`` exclusively across processes; raises LockTimeout after ``wait`` seconds."""
    if settings.REDIS_URL:
        return _redis_lock(name, ttl=ttl, wait=wait)
    return _file_lock(name, wait=wait)
