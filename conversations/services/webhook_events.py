"""Webhook events: stored before the 200, claimed and processed by a task, replayable, purged when old."""

import datetime as dt
import json
import logging
from collections.abc import Mapping

from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from companies.models import Company
from conversations import tasks
from conversations.models import AccountNotice, WebhookEvent
from conversations.services import inbound
from conversations.whatsapp import cloud_webhook, evolution_webhook

logger = logging.getLogger(__name__)

PARSERS = {
    WebhookEvent.Source.META: ("cloud", cloud_webhook.parse),
    WebhookEvent.Source.EVOLUTION: ("evolution", evolution_webhook.parse),
}
KEPT_HEADERS = ("Content-Type", "User-Agent", "X-Hub-Signature-256", "X-Request-ID")
# A worker that took an event and died releases it after this; the sweeper then enqueues it again.
CLAIM_LEASE = dt.timedelta(minutes=5)
# After this many attempts an event that keeps failing is marked failed for an operator to look at.
MAX_ATTEMPTS = 10
PURGE_BATCH = 500


def _enqueue(event_id: int) -> None:
    try:
        # No publish retries: with the broker down the request must not hang; the sweeper enqueues later.
        tasks.process_webhook_event.apply_async(args=[event_id], retry=False)
    except Exception:
        logger.exception("Could not enqueue webhook event %s; the sweeper will retry", event_id)


def store_webhook(*, company: Company, source: str, body: str, headers: Mapping[str, str]) -> WebhookEvent:
    """Store an authenticated request as it came and schedule its processing after commit."""
    event = WebhookEvent.objects.create(
        company=company,
        source=source,
        body=body,
        headers={name: headers[name] for name in KEPT_HEADERS if name in headers},
    )
    transaction.on_commit(lambda: _enqueue(event.pk))
    return event


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
    """Normalise one stored event into contacts, messages and statuses. Safe to run twice.

    Returns the event, or None when another worker has it or it was already processed (and
    ``force`` is not set). An event with items that could not be recorded ends ``failed`` (the
    other items are kept), so an operator can replay it.
    """
    if not _claim(event_id, force=force):
        return None
    event = WebhookEvent.objects.select_related("company").get(pk=event_id)
    parser = PARSERS.get(event.source)
    if parser is None:
        # Chatwoot events are stored here; the Chatwoot bridge consumes them.
        summary, failed = "stored for the Chatwoot bridge", False
    else:
        kind, parse = parser
        outcomes = inbound.record_events(
            company=event.company, kind=kind, events=parse(json.loads(event.body)), source=event
        )
        summary = ", ".join(f"{count} {name}" for name, count in sorted(outcomes.items())) or "nothing to do"
        failed = bool(outcomes.get("failed"))
    state = WebhookEvent.State.FAILED if failed else WebhookEvent.State.PROCESSED
    WebhookEvent.objects.filter(pk=event.pk).update(
        state=state, processed_at=timezone.now(), summary=summary[:255], error=""
    )
    event.state, event.summary = state, summary
    return event


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
