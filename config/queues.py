"""The Celery queues, which task runs on which, and publishing a task by its name.

Each kind of work has a queue of its own and workers of its own (``runall``, docker-compose), so one
never waits behind another: a saturated, slow or failing outbox cannot delay inbound processing, and a
slow event handler cannot delay either. Services publish by task name, as zulip's
``queue_json_publish`` does, so an app's services and its tasks module never import each other.
"""

import logging
from dataclasses import dataclass
from typing import Any

import redis
from celery import current_app
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from kombu.exceptions import OperationalError

logger = logging.getLogger(__name__)

# What a publish raises when the broker cannot be reached (kombu wraps most transports' errors in the first).
BROKER_ERRORS = (OperationalError, OSError, redis.RedisError)

INBOUND = "inbound"  # stored webhook events: normalised into contacts, messages and statuses
OUTBOX = "outbox"  # the dispatchers that send queued messages
MEDIA = "media"  # attachment downloads and their safety checks
EVENTS = "events"  # domain event handlers of the apps above conversations
# The customer's conversation: the bot's turns and what is owed to Chatwoot. A customer waits on each of
# them, so they never queue behind the event handlers' backlog (receipts, campaign tracking).
CONVERSATION = "conversation"
MAINTENANCE = "maintenance"  # periodic jobs: sweepers, purges, template sync, the heartbeat
SMS = "sms"  # calls to the companies' SMS gateways: slow third parties, kept apart from WhatsApp's outbox
CAMPAIGNS = "campaigns"  # CSV imports and the campaign engine: long runs that must not hold up periodic jobs

QUEUES = (INBOUND, OUTBOX, MEDIA, EVENTS, CONVERSATION, MAINTENANCE, SMS, CAMPAIGNS)

# Every task of the project and its queue; a task missing here would land on MAINTENANCE (the default).
TASK_QUEUES: dict[str, str] = {
    "conversations.tasks.drain_webhook_events": INBOUND,
    "conversations.tasks.process_webhook_event": INBOUND,
    "conversations.tasks.dispatch_outbox": OUTBOX,
    "conversations.tasks.download_media": MEDIA,
    "conversations.tasks.requeue_stale_media": MAINTENANCE,
    "companies.tasks.deliver_events": EVENTS,
    "companies.tasks.sweep_events": MAINTENANCE,
    "conversations.tasks.requeue_stale_webhook_events": MAINTENANCE,
    "conversations.tasks.recover_stuck_sends": MAINTENANCE,
    "conversations.tasks.purge_webhook_events": MAINTENANCE,
    "conversations.tasks.purge_hosted_files": MAINTENANCE,
    "conversations.tasks.converse": CONVERSATION,
    "conversations.tasks.deliver_to_chatwoot": CONVERSATION,
    "conversations.tasks.sweep_conversations": MAINTENANCE,
    "conversations.tasks.close_idle_sessions": MAINTENANCE,
    "conversations.tasks.purge_bot_transcripts": MAINTENANCE,
    "notifications.tasks.send_billing_reminders": MAINTENANCE,
    "templates_meta.tasks.sync_all_templates": MAINTENANCE,
    "config.tasks.heartbeat": MAINTENANCE,
    "notifications.tasks.sms.deliver_sms": SMS,
    "notifications.tasks.sms.sweep_sms": MAINTENANCE,
    "notifications.tasks.campaigns.import_campaign_upload": CAMPAIGNS,
    "notifications.tasks.campaigns.run_campaigns": CAMPAIGNS,
    "notifications.tasks.campaigns.resume_imports": MAINTENANCE,
    "billing.tasks.reconcile_with_meta": MAINTENANCE,
}


def queue_name(queue: str) -> str:
    """The broker's name for ``queue``: installations (or benchmark runs) sharing one Redis differ by prefix."""
    return f"{settings.CELERY_QUEUE_PREFIX}{queue}"


def route(name: str, args: Any, kwargs: Any, options: Any, task: Any = None, **_: Any) -> dict[str, str] | None:
    """Celery's router (``CELERY_TASK_ROUTES``): every publish, beat's included, goes to the task's queue."""
    queue = TASK_QUEUES.get(name)
    return {"queue": queue_name(queue)} if queue else None


def publish(task: str, *args: Any, countdown: float | None = None, expires: float | None = None) -> bool:
    """Send ``task`` (a name in TASK_QUEUES) now; False, logged, when the broker cannot be reached.

    No publish retries: a request must not hang on a broker that is down. Every caller has a sweeper
    that finds the work in the database later. ``expires`` drops a task that waited longer than that
    in its queue, so periodic wake-ups never pile up behind busy workers.
    """
    if task not in TASK_QUEUES:
        raise KeyError(f"{task} has no queue in config.queues.TASK_QUEUES")
    options: dict[str, Any] = {"retry": False, "countdown": countdown, "expires": expires}
    try:
        registered = current_app.tasks.get(task)
        if registered is not None:  # also runs it in place when tasks are eager (tests)
            registered.apply_async(args=args, **options)
        else:
            current_app.send_task(task, args=args, **options)
        return True
    except BROKER_ERRORS:
        logger.exception("Could not publish %s%s; a sweeper will find the work later", task, args)
        return False


def publish_on_commit(task: str, *args: Any, countdown: float | None = None) -> None:
    """``publish`` once the caller's transaction commits (at once outside one)."""
    transaction.on_commit(lambda: publish(task, *args, countdown=countdown))


# A wake-up whose task was lost (broker restart) keeps its flag at most this long; sweepers are the backstop.
WAKE_TTL_SECONDS = 10


def _wake_key(task: str) -> str:
    return f"wake:{task}"


def wake(task: str, *, ttl: float = WAKE_TTL_SECONDS, expires: float | None = None) -> None:
    """Make sure ``task`` (a loop that drains a table) runs after this point: one publish for a burst.

    With a shared cache (Redis) the flag says "a run is on its way and has not claimed yet"; the loop
    clears it before each claim (``awake``), so work stored after the flag was set is either seen by
    that claim or wakes a new run. With a cache of each process's own, every call publishes.
    ``ttl`` bounds how long a lost wake-up silences the others; ``expires`` is ``publish``'s.
    """
    shared = settings.CACHE_IS_SHARED
    try:
        if shared and not cache.add(_wake_key(task), 1, timeout=ttl):
            return
    except Exception:
        logger.exception("Could not reach the cache to wake %s; publishing anyway", task)
        shared = False
    if not publish(task, expires=expires) and shared:
        cache.delete(_wake_key(task))  # the next caller tries again


def awake(task: str) -> None:
    """Called by ``task``'s loop before each claim: anything stored from now on wakes a new run."""
    if settings.CACHE_IS_SHARED:
        cache.delete(_wake_key(task))


# ------------------------------------------------------------------------------ worker pools


@dataclass(frozen=True)
class Pool:
    """One kind of Celery worker: the queues it takes and how it runs their tasks."""

    name: str
    queues: tuple[str, ...]
    pool: str  # Celery's execution pool: prefork (processes, for CPU-bound work) or threads (for waiting)
    concurrency: int
    why: str


def pools() -> tuple[Pool, ...]:
    """The workers a deployment runs (``runall``, docker-compose): each scales on its own."""
    return (
        Pool(
            "inbound",
            (INBOUND,),
            "prefork",
            settings.INBOUND_WORKER_CONCURRENCY,
            "normalises stored webhooks; never shares a process with sending, so sending cannot delay it",
        ),
        Pool(
            "outbox",
            (OUTBOX,),
            "prefork",
            settings.OUTBOX_DISPATCHERS,
            "one process per dispatcher: each holds its event loop and send threads for a whole run",
        ),
        Pool(
            "events",
            (EVENTS,),
            "threads",
            settings.EVENTS_WORKER_CONCURRENCY,
            "domain event handlers (scheduling the bot, Chatwoot's webhooks, spend), which mostly wait on the database",
        ),
        Pool(
            "conversation",
            (CONVERSATION,),
            "threads",
            settings.CONVERSATION_WORKER_CONCURRENCY,
            "the bot's turns and the deliveries to Chatwoot, which a customer waits on; they wait on the ERP, Chatwoot",
        ),
        Pool(
            "background",
            (MEDIA, MAINTENANCE, SMS, CAMPAIGNS),
            "threads",
            settings.BACKGROUND_WORKER_CONCURRENCY,
            "downloads, SMS gateway calls, campaign imports and pacing, periodic jobs: network-bound or short",
        ),
    )


def worker_command(pool: Pool, *, python: str, loglevel: str = "info") -> list[str]:
    """The command line of one worker of ``pool``."""
    return [
        *(python, "-m", "celery", "-A", "config", "worker"),
        *("-Q", ",".join(queue_name(queue) for queue in pool.queues)),
        *("-P", pool.pool, "-c", str(pool.concurrency), "-n", f"{pool.name}@%h", "-l", loglevel),
    ]
