"""Domain events: after a change commits, the apps that subscribed to it hear of it, durably, with retries.

A lower app announces what happened (a message recorded, a status changed, a channel's connection)
with ``Topic.emit`` inside the transaction that made the change; apps above subscribe in
``AppConfig.ready`` and are never imported by the app that emits. Each subscriber gets an
``EventDelivery`` row written in that same transaction, so an event exists exactly when its change
does and is never lost between the change and the handler.

After commit the events queue's task (``deliver``) hands the rows to their handlers in batches, in the
order they were written, each batch in a transaction with the deletion of its rows: a handler whose
writes commit has its events taken exactly once. A handler that raises is retried with backoff, its
batch one event at a time so one bad event never holds the others back; one that asks to wait
(``RetryLater``) is called again later. A worker that dies leaves its claim to expire and the sweeper
hands the rows out again, so a handler may see an event twice: handlers are idempotent. Concurrent
deliverers may run one handler's batches at once; a handler that needs order keeps it itself (the
inbound lane of ``conversations.services.inbox`` does for customers' messages).
"""

import datetime as dt
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from companies.models import EventDelivery
from config import queues
from config.bulk_sql import insert_rows
from config.masking import mask_text

logger = logging.getLogger(__name__)

DELIVER_TASK = "companies.tasks.deliver_events"
# A deliverer that took events and died gives them back after this.
CLAIM_LEASE = dt.timedelta(minutes=2)
MAX_ATTEMPTS = 12
BACKOFF_CAP_SECONDS = 3600
# A handler that asks to wait this little gets a deliverer scheduled for then; longer waits meet the sweeper.
SOON_SECONDS = 30


@dataclass(frozen=True)
class Event:
    """What a handler receives: the topic, the company it concerns and the emitter's payload."""

    id: int
    topic: str
    company_id: int | None
    payload: dict[str, Any]
    attempts: int


Handler = Callable[[list[Event]], None]


class RetryLater(Exception):
    """Raised by a handler that cannot take its events yet: they come back after ``seconds``, not as a failure."""

    def __init__(self, seconds: float, reason: str = "") -> None:
        super().__init__(reason or f"retry in {seconds} s")
        self.seconds = seconds


_subscribers: dict[str, dict[str, Handler]] = {}
# What a subscriber wants of a topic, when not every event: a test of the payload made at emit time.
_wanted: dict[str, dict[str, Callable[[dict[str, Any]], bool]]] = {}


def handler_path(handler: Handler) -> str:
    return f"{handler.__module__}.{handler.__qualname__}"


@dataclass(frozen=True)
class Topic:
    """A kind of event: emitted by the app that owns the change, subscribed to by apps above it."""

    name: str

    def subscribe(self, handler: Handler, *, when: Callable[[dict[str, Any]], bool] | None = None) -> None:
        """Call ``handler`` with this topic's events from now on (in ``AppConfig.ready``, in every process);
        with ``when``, only with those whose payload it accepts (the others are never written for it)."""
        path = handler_path(handler)
        _subscribers.setdefault(self.name, {})[path] = handler
        if when is None:
            _wanted.get(self.name, {}).pop(path, None)
        else:
            _wanted.setdefault(self.name, {})[path] = when

    def unsubscribe(self, handler: Handler) -> None:
        _subscribers.get(self.name, {}).pop(handler_path(handler), None)
        _wanted.get(self.name, {}).pop(handler_path(handler), None)

    def emit(self, *, company_id: int | None, payload: dict[str, Any]) -> None:
        """Announce one event in the caller's transaction (see the module's docstring)."""
        self.emit_many([(company_id, payload)])

    def emit_many(self, events: Iterable[tuple[int | None, dict[str, Any]]]) -> None:
        """Announce many events with one INSERT; nothing is written for a topic nobody subscribed to."""
        handlers = list(_subscribers.get(self.name, {}))
        if not handlers:
            return
        wanted = _wanted.get(self.name, {})
        now = timezone.now()
        rows = [
            EventDelivery(topic=self.name, handler=path, company_id=company_id, payload=payload, next_attempt_at=now)
            for company_id, payload in events
            for path in handlers
            if path not in wanted or wanted[path](payload)
        ]
        if rows:
            insert_rows(rows)
            transaction.on_commit(lambda: queues.wake(DELIVER_TASK))


def backoff_seconds(attempts: int) -> float:
    return min(BACKOFF_CAP_SECONDS, 2.0**attempts)


def _claim(limit: int) -> list[EventDelivery]:
    now = timezone.now()
    due = Q(state=EventDelivery.State.PENDING, next_attempt_at__lte=now) & (
        Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    )
    with transaction.atomic():
        rows = list(EventDelivery.objects.select_for_update(skip_locked=True).filter(due).order_by("pk")[:limit])
        EventDelivery.objects.filter(pk__in=[row.pk for row in rows]).update(claimed_until=now + CLAIM_LEASE)
    return rows


def deliver(*, batch: int = 200, seconds: float = 20) -> int:
    """Hand due events to their handlers until none is due or ``seconds`` ran out; returns how many were taken.

    A full batch wakes another deliverer first, so idle workers join a backlog.
    """
    deadline = time.monotonic() + seconds
    taken = 0
    while True:
        queues.awake(DELIVER_TASK)
        rows = _claim(batch)
        if not rows:
            return taken
        if len(rows) == batch:
            queues.wake(DELIVER_TASK)
        by_handler: dict[tuple[str, str], list[EventDelivery]] = {}
        for row in rows:  # a handler may be subscribed to several topics: each topic's batch is its own
            by_handler.setdefault((row.topic, row.handler), []).append(row)
        for (_, path), handler_rows in by_handler.items():
            taken += _run(path, handler_rows)
        if time.monotonic() >= deadline:
            queues.wake(DELIVER_TASK)
            return taken


def _event(row: EventDelivery) -> Event:
    return Event(id=row.pk, topic=row.topic, company_id=row.company_id, payload=row.payload, attempts=row.attempts)


def _run(path: str, rows: list[EventDelivery]) -> int:
    """Run one handler on its rows; returns how many it took."""
    handler = _subscribers.get(rows[0].topic, {}).get(path)
    if handler is None:
        _give_up(rows, "No handler of this name is subscribed (renamed or removed?).")
        return 0
    try:
        with transaction.atomic():
            handler([_event(row) for row in rows])
            EventDelivery.objects.filter(pk__in=[row.pk for row in rows]).delete()
        return len(rows)
    except RetryLater as later:
        _later(rows, later.seconds)
        return 0
    except Exception as exc:
        if len(rows) > 1:  # find the bad one: each event alone
            return sum(_run(path, [row]) for row in rows)
        logger.exception("Event handler %s failed on event %s (%s)", path, rows[0].pk, rows[0].topic)
        _failed(rows[0], f"{type(exc).__name__}: {exc}")
        return 0


def _later(rows: list[EventDelivery], seconds: float) -> None:
    EventDelivery.objects.filter(pk__in=[row.pk for row in rows]).update(
        next_attempt_at=timezone.now() + dt.timedelta(seconds=seconds), claimed_until=None
    )
    if seconds <= SOON_SECONDS:  # a short wait (order kept by its handler) is not left to the sweeper
        queues.publish(DELIVER_TASK, countdown=seconds)


def _failed(row: EventDelivery, error: str) -> None:
    attempts = row.attempts + 1
    if attempts >= MAX_ATTEMPTS:
        EventDelivery.objects.filter(pk=row.pk).update(attempts=F("attempts") + 1)
        _give_up([row], f"gave up after {attempts} attempts: {error}")
        return
    EventDelivery.objects.filter(pk=row.pk).update(
        attempts=F("attempts") + 1,
        next_attempt_at=timezone.now() + dt.timedelta(seconds=backoff_seconds(attempts)),
        claimed_until=None,
        last_error=mask_text(error)[:4000],
    )


def _give_up(rows: list[EventDelivery], error: str) -> None:
    EventDelivery.objects.filter(pk__in=[row.pk for row in rows]).update(
        state=EventDelivery.State.FAILED, claimed_until=None, last_error=mask_text(error)[:4000]
    )


def sweep() -> int:
    """Wake a deliverer when events are due that no wake-up reached (retries, expired claims); returns how many."""
    now = timezone.now()
    due = EventDelivery.objects.filter(state=EventDelivery.State.PENDING, next_attempt_at__lte=now).filter(
        Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    )
    count = due.count()
    if count:
        queues.publish(DELIVER_TASK)
    return count


def retry(*, deliveries: Iterable[EventDelivery]) -> int:
    """Hand failed events to their handlers again (from the admin); returns how many."""
    ids = [row.pk for row in deliveries]
    # Only failed ones: a pending event may be held by a deliverer right now.
    updated = EventDelivery.objects.filter(pk__in=ids, state=EventDelivery.State.FAILED).update(
        state=EventDelivery.State.PENDING, attempts=0, next_attempt_at=timezone.now(), claimed_until=None
    )
    transaction.on_commit(lambda: queues.wake(DELIVER_TASK))
    return updated


# ------------------------------------------------------------------------------ this app's topics

# A channel's connection changed (Evolution's connection.update): {"channel_id", "state", "reason"}.
CHANNEL_CONNECTION_CHANGED = Topic("channel_connection_changed")
