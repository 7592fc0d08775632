"""Webhook events: stored before the 200, claimed and processed by a task, replayable, purged when old.

A stored event does not publish a task of its own: it wakes the drainer (``drain``), which claims
pending events in batches and processes them in order. With a shared cache (Redis) a burst of
webhooks publishes one wake-up, not one task per request (``config.queues.wake``). Retries (with
backoff), replays and the sweeper still go through the task ``process_webhook_event``, one event at a
time. Both run on the inbound queue.
"""

import datetime as dt
import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import NamedTuple

from django.db import connection, transaction
from django.db.models import Case, F, Q, QuerySet, Value, When
from django.utils import timezone

from companies.models import Company
from config import queues
from config.bulk_sql import insert_rows
from config.masking import mask_text
from conversations import locks
from conversations.events import CHATWOOT_EVENT_RECEIVED
from conversations.models import AccountNotice, WebhookEvent
from conversations.services import inbound, inbound_batch
from conversations.whatsapp import cloud_webhook, evolution_webhook, payloads

logger = logging.getLogger(__name__)

KEPT_HEADERS = (
    "Content-Type",
    "User-Agent",
    "X-Hub-Signature-256",
    "X-Request-ID",
    "X-Chatwoot-Signature",
    "X-Chatwoot-Timestamp",
    "X-Chatwoot-Delivery",
)
# A worker that took an event and died releases it after this; the sweeper then enqueues it again.
CLAIM_LEASE = dt.timedelta(minutes=5)
# After this many attempts an event that keeps failing is marked failed for an operator to look at.
MAX_ATTEMPTS = 10
PURGE_BATCH = 500


class Outcome(NamedTuple):
    """What processing made of an event: its final state and a one-line summary (``1 message, 2 status``)."""

    state: str
    summary: str


# Chatwoot events are handed to the Chatwoot bridge, which subscribes to CHATWOOT_EVENT_RECEIVED.
CHATWOOT_STORED = Outcome(WebhookEvent.State.PROCESSED, "handed to the Chatwoot bridge")


def _hand_to_bridge(events: list[WebhookEvent]) -> None:
    CHATWOOT_EVENT_RECEIVED.emit_many((event.company_id, {"event_id": event.pk}) for event in events)


DRAIN_TASK = "conversations.tasks.drain_webhook_events"
PROCESS_TASK = "conversations.tasks.process_webhook_event"


def wake_drainer() -> None:
    """Make sure a drain will run after this point (one task for a burst when the cache is shared)."""
    queues.wake(DRAIN_TASK)


def _enqueue(event_id: int) -> None:
    queues.publish(PROCESS_TASK, event_id)


def holds_lane(source: str, body: str) -> bool:
    """Whether an event may carry a customer's message, so that the customer's later messages wait for it.

    Read from the body when it is stored: under a backlog of receipts (three or four for every message sent)
    a customer's message would otherwise wait for all of them. A body that does not parse holds the lane.
    """
    if source == WebhookEvent.Source.CHATWOOT:
        return False
    try:
        payload = payloads.loads(body)
    except ValueError:
        return True
    only_receipts = (
        cloud_webhook.only_receipts if source == WebhookEvent.Source.META else evolution_webhook.only_receipts
    )
    return not only_receipts(payload)


def new_event(*, company: Company, source: str, body: str, headers: Mapping[str, str]) -> WebhookEvent:
    """An authenticated request as it came, not saved yet: ``headers`` must look names up case-insensitively."""
    return WebhookEvent(
        company=company,
        source=source,
        body=body,
        headers={name: headers[name] for name in KEPT_HEADERS if name in headers},
        holds_lane=holds_lane(source, body),
    )


def store_webhook(*, company: Company, source: str, body: str, headers: Mapping[str, str]) -> WebhookEvent:
    """Store an authenticated request as it came and schedule its processing after commit."""
    event = new_event(company=company, source=source, body=body, headers=headers)
    event.save(force_insert=True)
    transaction.on_commit(wake_drainer)
    return event


def store_webhooks(events: list[WebhookEvent], *, wake: bool = True) -> list[WebhookEvent]:
    """Store events from ``new_event`` with one INSERT and one commit.

    With ``wake`` the drainer is woken once after the commit; without, the caller must call
    ``wake_drainer`` after it (the sweeper enqueues what no wake-up reached, minutes later).
    """
    with transaction.atomic():
        # Bound on the server: Django's cursors would escape and quote every body into the SQL text in
        # Python, which cost the web process more than the rest of the INSERT.
        insert_rows(events)
        if wake:
            transaction.on_commit(wake_drainer)
    return events


def with_companies(events: list[WebhookEvent]) -> list[WebhookEvent]:
    """``events`` with their companies, each read (and its secrets decrypted) once for the batch, not per event."""
    companies = Company.objects.in_bulk({event.company_id for event in events})
    for event in events:
        event.company = companies[event.company_id]
    return events


def _unclaimed() -> QuerySet[WebhookEvent]:
    """Events no worker has tried yet. Those that failed once (``attempts`` > 0) are left to their own retry
    task and its backoff, so a poison event never spins inside a drain."""
    return WebhookEvent.objects.filter(state=WebhookEvent.State.PENDING, attempts=0)


def claim(*, ids: list[int]) -> None:
    """Take pending events for this worker with a lease (``processing``), so two workers never process them."""
    WebhookEvent.objects.filter(pk__in=ids, state=WebhookEvent.State.PENDING).update(
        state=WebhookEvent.State.PROCESSING, claimed_at=timezone.now(), attempts=F("attempts") + 1
    )


def claim_batch(limit: int) -> list[int]:
    """Take up to ``limit`` untried events with a lease, oldest first (SKIP LOCKED on PostgreSQL)."""
    with transaction.atomic():
        ids = list(_unclaimed().select_for_update(skip_locked=True).order_by("pk").values_list("pk", flat=True)[:limit])
        claim(ids=ids)
    return ids


def drain(*, process: Callable[[WebhookEvent], Outcome | None], batch: int, seconds: float) -> int:
    """Claim and process pending events until none is left or ``seconds`` ran out; returns how many.

    A batch is recorded together (``normalise_batch``): its events read in one query, its messages,
    contacts and receipts written in a few statements, its outcomes in the same transaction. A batch
    that fails as a whole is taken again event by event with ``process``, which normalises one claimed
    event and handles its errors (the task layer decides about retries) and returns its outcome, or None
    when it gave the event back or marked it failed. A full batch wakes another drainer first, so idle
    workers join a backlog.
    """
    deadline = time.monotonic() + seconds
    done = 0
    while True:
        queues.awake(DRAIN_TASK)  # before the claim: anything stored from now on wakes a new drain
        with transaction.atomic():
            # The batch's row locks are its claim: other drainers skip them, and a worker that dies lets
            # them go with its transaction. No claim to write and commit first, and none to write back.
            events = with_companies(list(_unclaimed().select_for_update(skip_locked=True).order_by("pk")[:batch]))
            if not events:
                return done
            if len(events) == batch:
                wake_drainer()
            recorded = normalise_batch(events)
            if not recorded:  # claimed the careful path's way (a lease), in the same transaction
                claim(ids=[event.pk for event in events])
        if not recorded:
            _one_by_one(events, process)
        done += len(events)
        if time.monotonic() >= deadline:
            wake_drainer()  # hand over to a fresh task: a worker restart never strands the backlog
            return done


def _claim(event_id: int, *, force: bool) -> bool:
    """Take the event for this worker (a lease), so two workers never process it at once."""
    now = timezone.now()
    claimable = Q(state=WebhookEvent.State.PENDING) | Q(
        state=WebhookEvent.State.PROCESSING, claimed_at__lt=now - CLAIM_LEASE
    )
    if force:
        claimable |= Q(state__in=[WebhookEvent.State.PROCESSED, WebhookEvent.State.FAILED])
    taken = WebhookEvent.objects.filter(claimable, pk=event_id).update(
        state=WebhookEvent.State.PROCESSING, claimed_at=now, attempts=F("attempts") + 1
    )
    return taken == 1


def process_webhook_event(*, event_id: int, force: bool = False) -> WebhookEvent | None:
    """Claim one stored event, normalise it and mark it done. Safe to run twice.

    Returns the event, or None when another worker has it or it was already processed (and
    ``force`` is not set).
    """
    if not _claim(event_id, force=force):
        return None
    event = WebhookEvent.objects.select_related("company").get(pk=event_id)
    outcome = normalise(event)
    mark_done({event.pk: outcome})
    event.state, event.summary = outcome
    return event


def normalise(event: WebhookEvent) -> Outcome:
    """Record an event this worker holds as contacts, messages and statuses; its outcome, not yet written.

    An event with items that could not be recorded ends ``failed`` (the other items are kept), so an
    operator can replay it.
    """
    parser = inbound.PARSERS.get(event.source)
    if parser is None:
        _hand_to_bridge([event])
        return CHATWOOT_STORED
    kind, parse = parser
    return _outcome(
        inbound.record_events(company=event.company, kind=kind, events=parse(payloads.loads(event.body)), source=event)
    )


def _outcome(counts: Counter) -> Outcome:
    summary = ", ".join(f"{count} {name}" for name, count in sorted(counts.items())) or "nothing to do"
    state = WebhookEvent.State.FAILED if counts.get("failed") else WebhookEvent.State.PROCESSED
    return Outcome(state, summary[:255])


def normalise_batch(events: list[WebhookEvent]) -> bool:
    """Record events this worker holds together and mark them done, in one savepoint; returns whether it did.

    False when any part failed (everything was rolled back): the caller takes them one by one, where one
    bad item is isolated. A batch some other worker's lock holds up (``LockTimeout``) propagates.
    """
    if not events or not connection.features.can_return_rows_from_bulk_insert:
        return False
    try:
        with transaction.atomic():
            counts = inbound_batch.record_batch([e for e in events if e.source in inbound.PARSERS])
            outcomes = {pk: _outcome(c) for pk, c in counts.items()}
            _hand_to_bridge([e for e in events if e.source not in inbound.PARSERS])
            for event in events:
                outcomes.setdefault(event.pk, CHATWOOT_STORED)
            mark_done(outcomes)
    except locks.LockTimeout:
        raise
    except Exception as exc:
        logger.warning(
            "A batch of %d webhook events failed as a whole (%s: %s); taking them one by one",
            len(events),
            type(exc).__name__,
            mask_text(str(exc))[:300],
        )
        return False
    return True


def _one_by_one(events: list[WebhookEvent], process: Callable[[WebhookEvent], Outcome | None]) -> None:
    outcomes: dict[int, Outcome] = {}
    try:
        for event in events:
            if (outcome := process(event)) is not None:
                outcomes[event.pk] = outcome
    finally:
        # Whatever stopped the batch, what was processed is marked; the rest stays claimed until its
        # lease ends and the sweeper enqueues it again.
        mark_done(outcomes)


def mark_done(outcomes: Mapping[int, Outcome]) -> None:
    """Write processed events' outcomes: one UPDATE per distinct outcome (a burst's are mostly alike).

    An event still ``pending`` was held by a drain's row lock, not claimed with a lease: its attempt is
    counted here.
    """
    now = timezone.now()
    tried = F("attempts") + Case(When(state=WebhookEvent.State.PENDING, then=Value(1)), default=Value(0))
    for outcome, ids in _grouped(outcomes).items():
        WebhookEvent.objects.filter(pk__in=ids).update(
            state=outcome.state, processed_at=now, summary=outcome.summary, error="", attempts=tried
        )


def _grouped(outcomes: Mapping[int, Outcome]) -> dict[Outcome, list[int]]:
    groups: dict[Outcome, list[int]] = {}
    for event_id, outcome in outcomes.items():
        groups.setdefault(outcome, []).append(event_id)
    return groups


def release_for_retry(*, event_id: int, error: str) -> bool:
    """Give a claimed event back after a transient error; returns False once it ran out of attempts."""
    event = WebhookEvent.objects.filter(pk=event_id).only("attempts").first()
    if event is None:
        return False
    if event.attempts >= MAX_ATTEMPTS:
        mark_failed(event_id=event_id, error=f"gave up after {event.attempts} attempts: {error}")
        return False
    WebhookEvent.objects.filter(pk=event_id).update(state=WebhookEvent.State.PENDING, error=error[:4000])
    return True


def mark_failed(*, event_id: int, error: str) -> None:
    WebhookEvent.objects.filter(pk=event_id).update(state=WebhookEvent.State.FAILED, error=error[:4000])


def replay(*, events: QuerySet[WebhookEvent]) -> int:
    """Process the given events again (from the admin); returns how many were scheduled."""
    ids = list(events.values_list("pk", flat=True))
    WebhookEvent.objects.filter(pk__in=ids).update(state=WebhookEvent.State.PENDING, error="")
    for event_id in ids:
        transaction.on_commit(lambda event_id=event_id: _enqueue(event_id))
    return len(ids)


def requeue_stale(*, older_than: dt.timedelta) -> int:
    """Enqueue events no worker finished: stored while the broker was down, or held by a dead worker."""
    now = timezone.now()
    stale = Q(state=WebhookEvent.State.PENDING, received_at__lt=now - older_than) | Q(
        state=WebhookEvent.State.PROCESSING, claimed_at__lt=now - CLAIM_LEASE
    )
    ids = list(WebhookEvent.objects.filter(stale).order_by("pk").values_list("pk", flat=True)[:1000])
    for event_id in ids:
        _enqueue(event_id)
    return len(ids)


def purge_processed(*, older_than: dt.timedelta) -> int:
    """Delete processed events older than ``older_than`` in batches; failed and pending ones are kept."""
    cutoff = timezone.now() - older_than
    old = WebhookEvent.objects.filter(state=WebhookEvent.State.PROCESSED, received_at__lt=cutoff)
    deleted = 0
    while ids := list(old.order_by("pk").values_list("pk", flat=True)[:PURGE_BATCH]):
        with transaction.atomic():
            AccountNotice.objects.filter(webhook_event_id__in=ids).update(webhook_event=None)
            # No relation cascades from an event any more: a single DELETE, bodies never loaded.
            deleted += WebhookEvent.objects.filter(pk__in=ids).delete()[0]
    return deleted
