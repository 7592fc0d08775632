"""Webhook events: stored before the 200, processed later by a task, replayable, purged when old."""

import datetime as dt
import json
import logging

from django.db import transaction
from django.utils import timezone

from conversations.models import WebhookEvent
from conversations.services import inbound
from conversations.whatsapp import cloud_webhook, evolution_webhook

logger = logging.getLogger(__name__)

PARSERS = {
    WebhookEvent.Source.META: ("cloud", cloud_webhook.parse),
    WebhookEvent.Source.EVOLUTION: ("evolution", evolution_webhook.parse),
}
KEPT_HEADERS = ("Content-Type", "User-Agent", "X-Hub-Signature-256", "X-Request-ID")


def _enqueue(event_id: int) -> None:
    from conversations import tasks  # tasks imports this module

    try:
        tasks.process_webhook_event.delay(event_id)
    except Exception:  # the broker is down: the row is stored, the sweeper will enqueue it
        logger.exception("Could not enqueue webhook event %s; the sweeper will retry", event_id)


def store_webhook(*, company, source: str, body: str, headers) -> WebhookEvent:
    """Store an authenticated request as it came and schedule its processing after commit."""
    event = WebhookEvent.objects.create(
        company=company,
        source=source,
        body=body,
        headers={name: headers[name] for name in KEPT_HEADERS if name in headers},
    )
    transaction.on_commit(lambda: _enqueue(event.pk))
    return event


def process_webhook_event(*, event_id: int, force: bool = False) -> WebhookEvent | None:
    """Normalise one stored event into contacts, messages and statuses. Safe to run twice.

    Returns the event, or None when it was already processed (and ``force`` is not set).
    """
    event = WebhookEvent.objects.select_related("company").filter(pk=event_id).first()
    if event is None or (event.state == WebhookEvent.State.PROCESSED and not force):
        return None
    WebhookEvent.objects.filter(pk=event.pk).update(attempts=event.attempts + 1)
    parser = PARSERS.get(event.source)
    if parser is None:
        # Chatwoot events are stored here; the Chatwoot bridge consumes them.
        summary = "stored for the Chatwoot bridge"
    else:
        kind, parse = parser
        outcomes = inbound.record_events(
            company=event.company, kind=kind, events=parse(json.loads(event.body)), source=event
        )
        summary = ", ".join(f"{count} {name}" for name, count in sorted(outcomes.items())) or "nothing to do"
    WebhookEvent.objects.filter(pk=event.pk).update(
        state=WebhookEvent.State.PROCESSED, processed_at=timezone.now(), summary=summary[:255], error=""
    )
    event.state, event.summary = WebhookEvent.State.PROCESSED, summary
    return event


def mark_failed(*, event_id: int, error: str) -> None:
    WebhookEvent.objects.filter(pk=event_id).update(state=WebhookEvent.State.FAILED, error=error[:4000])


def replay(*, events) -> int:
    """Process the given events again (from the admin); returns how many were scheduled."""
    ids = list(events.values_list("pk", flat=True))
    WebhookEvent.objects.filter(pk__in=ids).update(state=WebhookEvent.State.PENDING, error="")
    for event_id in ids:
        transaction.on_commit(lambda event_id=event_id: _enqueue(event_id))
    return len(ids)


def requeue_stale(*, older_than: dt.timedelta) -> int:
    """Enqueue pending events that no worker picked up (a broker outage, a crash); returns how many."""
    cutoff = timezone.now() - older_than
    ids = list(
        WebhookEvent.objects.filter(state=WebhookEvent.State.PENDING, received_at__lt=cutoff).values_list(
            "pk", flat=True
        )[:1000]
    )
    for event_id in ids:
        _enqueue(event_id)
    return len(ids)


def purge_processed(*, older_than: dt.timedelta) -> int:
    """Delete processed events older than ``older_than``; failed and pending ones are kept."""
    cutoff = timezone.now() - older_than
    deleted, _ = WebhookEvent.objects.filter(state=WebhookEvent.State.PROCESSED, received_at__lt=cutoff).delete()
    return deleted
