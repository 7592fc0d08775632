"""Conversations tasks: take ids, call one service, decide about retries."""

import datetime as dt
import logging
from collections.abc import Callable
from typing import TypeVar

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError

from companies.joblocks import exclusive_job
from config import queues
from conversations import conversation, inactivity, locks
from conversations.chatwoot import bridge, delivery
from conversations.locks import LockTimeout
from conversations.models import WebhookEvent
from conversations.sending import dispatcher, outbox
from conversations.services import hosted_files, media, outbound, sessions, webhook_events

logger = logging.getLogger(__name__)

# Worth another try later: the database or a lock was unavailable. Data and integrity errors are not:
# they would fail the same way every time.
TRANSIENT_ERRORS = (OperationalError, InterfaceError, LockTimeout)
T = TypeVar("T")


def _process_event(event_id: int, process: Callable[[], T]) -> tuple[T | None, bool]:
    """Run ``process`` for one event: its result, and whether a transient error gave the event back for later."""
    try:
        return process(), False
    except TRANSIENT_ERRORS as exc:
        try:
            return None, webhook_events.release_for_retry(event_id=event_id, error=f"{type(exc).__name__}: {exc}")
        except TRANSIENT_ERRORS:
            return None, True  # the database is still away: retry anyway (the sweeper is the backstop)
    except Exception as exc:
        logger.exception("Webhook event %s failed", event_id)
        webhook_events.mark_failed(event_id=event_id, error=f"{type(exc).__name__}: {exc}")
    return None, False


# Attempts are counted on the event itself (webhook_events.MAX_ATTEMPTS); Celery need not stop first.
@shared_task(bind=True, acks_late=True, max_retries=None)
def process_webhook_event(self, event_id: int) -> None:
    _, retry = _process_event(event_id, lambda: webhook_events.process_webhook_event(event_id=event_id))
    if retry:
        raise self.retry(countdown=min(300, 2**self.request.retries))


def _process_drained(event: WebhookEvent) -> webhook_events.Outcome | None:
    outcome, retry = _process_event(event.pk, lambda: webhook_events.normalise(event))
    if retry:
        # Its own task from here on, with backoff: a drain never spins on an event that keeps failing.
        try:
            process_webhook_event.apply_async(args=[event.pk], countdown=1, retry=False)
        except Exception:  # the broker is away too: the event is pending again, the sweeper enqueues it
            logger.exception("Could not schedule a retry of webhook event %s", event.pk)
    return outcome


@shared_task(ignore_result=True)
def drain_webhook_events() -> int:
    """Process stored webhook events in batches until none is pending (``webhook_events.drain``)."""
    return webhook_events.drain(
        process=_process_drained, batch=settings.WEBHOOK_DRAIN_BATCH, seconds=settings.WEBHOOK_DRAIN_SECONDS
    )


@shared_task(bind=True, acks_late=True, max_retries=5)
def download_media(self, message_id: int) -> None:
    try:
        media.download_and_inspect(message_id=message_id)
    except media.RetryableMediaError as exc:
        if self.request.retries >= self.max_retries:
            media.give_up(message_id=message_id, reason="gave up")
            return
        raise self.retry(exc=exc, countdown=min(600, 5 * 2**self.request.retries)) from exc


@shared_task
@exclusive_job(lease=dt.timedelta(minutes=5))
def requeue_stale_media() -> int:
    # Past every retry's backoff (5 retries, at most 155 s in all): only a download never published is left.
    return media.requeue_stale(older_than=dt.timedelta(minutes=15))


@shared_task
@exclusive_job(lease=dt.timedelta(minutes=5))
def requeue_stale_webhook_events() -> int:
    return webhook_events.requeue_stale(older_than=dt.timedelta(minutes=2))


@shared_task
@exclusive_job(lease=dt.timedelta(hours=2))
def purge_webhook_events() -> int:
    return webhook_events.purge_processed(older_than=dt.timedelta(days=settings.WEBHOOK_EVENT_RETENTION_DAYS))


@shared_task
@exclusive_job(lease=dt.timedelta(hours=1))
def purge_hosted_files() -> int:
    return hosted_files.purge_expired()


_dispatcher: dispatcher.Dispatcher | None = None


def _worker_dispatcher() -> dispatcher.Dispatcher:
    # One per worker process: its send loop, threads and HTTP connections are reused from run to run.
    global _dispatcher
    if _dispatcher is None:
        _dispatcher = dispatcher.Dispatcher()
    return _dispatcher


@shared_task(ignore_result=True)
def dispatch_outbox() -> int:
    """Send what is due. At most OUTBOX_DISPATCHERS run at once; each runs for a bounded time and
    hands over to a fresh task while work remains, so a deploy or a crash never loses the loop.

    Wake-ups expire in their queue (``outbound.kick_outbox``, beat's), so they never pile up behind
    the running dispatchers: a dispatcher finds whatever was queued meanwhile anyway.
    """
    queues.awake(outbound.DISPATCH_TASK)  # what is queued from now on wakes a dispatcher again
    for slot in range(settings.OUTBOX_DISPATCHERS):
        try:
            with locks.exclusive(f"outbox-dispatcher-{slot}", ttl=settings.OUTBOX_RUN_SECONDS + 60, wait=0):
                handled = _worker_dispatcher().run(budget_seconds=settings.OUTBOX_RUN_SECONDS)
        except LockTimeout:
            continue
        if outbox.due_channels():
            queues.publish(outbound.DISPATCH_TASK, expires=outbound.KICK_EXPIRES_SECONDS)
        return handled
    return 0


@shared_task
@exclusive_job(lease=dt.timedelta(minutes=5))
def recover_stuck_sends() -> int:
    return outbox.recover_stuck()


# ------------------------------------------------------------------------------ the conversation


@shared_task(bind=True, ignore_result=True, acks_late=True)
def converse(self, contact_id: int) -> None:
    """A contact's turn: its waiting messages to the bot or the agent (``conversation.converse``).

    Run eagerly (tests) there is no broker to hold a countdown: a turn that was too early is left to the
    sweeper, or to the caller.
    """
    try:
        wait = conversation.converse(contact_id).wait
    except TRANSIENT_ERRORS as exc:  # the sweeper takes the contact again if this retry is lost too
        logger.warning("Turn of contact %s postponed: %s", contact_id, exc)
        wait = 2
    if wait is not None and not self.request.is_eager:
        queues.publish(conversation.CONVERSE_TASK, contact_id, countdown=wait)


@shared_task(bind=True, ignore_result=True, acks_late=True)
def deliver_to_chatwoot(self, session_id: int) -> None:
    """Post what a session owes Chatwoot, in order (``chatwoot.delivery``); again when its next row is due."""
    try:
        wait = delivery.deliver(session_id).wait
    except TRANSIENT_ERRORS as exc:
        logger.warning("Chatwoot delivery of session %s postponed: %s", session_id, exc)
        wait = 5
    if wait is not None and not self.request.is_eager:
        queues.publish(bridge.DELIVER_TASK, session_id, countdown=wait)


@shared_task
@exclusive_job(lease=dt.timedelta(minutes=2))
def sweep_conversations() -> dict[str, int]:
    """Turns and Chatwoot deliveries whose task was lost (a worker died, the broker was away)."""
    sessions.lift_expired_pauses()
    return {"contacts": conversation.sweep(), "sessions": delivery.sweep()}


@shared_task
@exclusive_job(lease=dt.timedelta(minutes=10))
def close_idle_sessions() -> dict[str, int]:
    return inactivity.close_idle_sessions()


@shared_task
@exclusive_job(lease=dt.timedelta(hours=1))
def purge_bot_transcripts() -> int:
    return sessions.purge_bot_transcripts()
