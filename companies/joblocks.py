"""Periodic jobs never run twice at the same time: a lease in the database table ``JobLock``.

The seed asked for exactly this ("tabela de lock ... cronjob"): beat can fire a job again while a
slow run is still going, and with several workers both would run. The lease expires, so a worker
that dies holding it blocks the job for ``lease`` at most.
"""

import contextlib
import datetime as dt
import functools
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from django.db import IntegrityError, OperationalError, transaction
from django.db.models import Q
from django.utils import timezone

from companies.models import JobLock

logger = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


def _patiently(operation: Callable[[], T], attempts: int = 20) -> T:
    # SQLite answers "table is locked" at once when another connection writes (no busy wait in its
    # shared-cache mode): try again shortly rather than failing the job's bookkeeping.
    for attempt in range(attempts):
        try:
            return operation()
        except OperationalError as exc:
            if "locked" not in str(exc) or attempt == attempts - 1:
                raise
            time.sleep(0.02 * (attempt + 1))
    raise AssertionError("unreachable")


def acquire(name: str, *, holder: str, lease: dt.timedelta) -> bool:
    """Take the lock ``name`` for ``lease``; returns False while someone else holds an unexpired lease."""
    now = timezone.now()

    def ensure_row() -> None:
        with contextlib.suppress(IntegrityError), transaction.atomic():  # a concurrent caller made it: fine
            JobLock.objects.get_or_create(name=name)

    _patiently(ensure_row)
    free = Q(expires_at__isnull=True) | Q(expires_at__lt=now)
    taken = _patiently(
        lambda: JobLock.objects.filter(free, name=name).update(holder=holder, acquired_at=now, expires_at=now + lease)
    )
    return taken == 1


def release(name: str, *, holder: str) -> None:
    """Give the lock back, only if ``holder`` still has it (an expired lease may belong to another now)."""
    _patiently(lambda: JobLock.objects.filter(name=name, holder=holder).update(holder="", expires_at=None))


def exclusive_job(*, lease: dt.timedelta = dt.timedelta(minutes=10), name: str | None = None) -> Callable[[F], F]:
    """Decorate a periodic task so that a run starting while another holds the lock does nothing.

    The lease should be longer than the job ever takes; the job's return value is None when skipped.
    """

    def decorator(fn: F) -> F:
        lock_name = name or f"{fn.__module__}.{fn.__qualname__}"

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            holder = uuid.uuid4().hex
            if not acquire(lock_name, holder=holder, lease=lease):
                logger.info("Skipped %s: another run holds its lock", lock_name)
                return None
            try:
                return fn(*args, **kwargs)
            finally:
                release(lock_name, holder=holder)

        return wrapper  # type: ignore[return-value]

    return decorator
