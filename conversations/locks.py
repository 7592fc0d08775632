"""Short exclusive locks across worker processes: Redis when the cache is shared, file locks otherwise.

Used so one contact's messages are handled one at a time. With embedded defaults the cache lives in
each process, so the fallback locks a file under ``var/locks`` (every process runs on one machine).
"""

import contextlib
import fcntl
import hashlib
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.core.cache import cache


class LockTimeout(Exception):
    """The lock stayed taken longer than the caller was willing to wait."""


@contextlib.contextmanager
def _cache_lock(name: str, *, ttl: float, wait: float) -> Iterator[None]:
    key, token = f"lock:{name}", uuid.uuid4().hex
    deadline = time.monotonic() + wait
    # SET NX with an expiry: a holder that dies releases the lock after ``ttl``.
    while not cache.add(key, token, timeout=ttl):
        if time.monotonic() > deadline:
            raise LockTimeout(name)
        time.sleep(0.01)
    try:
        yield
    finally:
        if cache.get(key) == token:
            cache.delete(key)


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
    if settings.CACHE_IS_SHARED:
        return _cache_lock(name, ttl=ttl, wait=wait)
    return _file_lock(name, wait=wait)
