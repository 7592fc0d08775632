"""The Celery app, the request id carried into tasks, and every periodic job in one list."""

import contextlib
import gc
import os
from dataclasses import dataclass

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("ponte")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

REQUEST_ID_HEADER = "request_id"


@dataclass(frozen=True)
class PeriodicTask:
    name: str
    task: str
    every_seconds: int
    why: str


# Loaded into django-celery-beat by `manage.py sync_periodic_tasks` (run by `make run` and on deploy). Each
# run expires after its interval, so runs never pile up behind busy workers; each goes to its task's queue
# (config.queues).
PERIODIC_TASKS: list[PeriodicTask] = [
    PeriodicTask(
        name="worker-heartbeat",
        task="config.tasks.heartbeat",
        every_seconds=30,
        why="Proves that beat, the broker and a worker all work; /readyz reports the last beat seen.",
    ),
    PeriodicTask(
        name="requeue-stale-webhook-events",
        task="conversations.tasks.requeue_stale_webhook_events",
        every_seconds=60,
        why="A webhook stored while the broker was down is enqueued again, so nothing accepted is lost.",
    ),
    PeriodicTask(
        name="dispatch-outbox",
        task="conversations.tasks.dispatch_outbox",
        every_seconds=5,
        why="Queued messages are sent even if the wake-up after queuing was lost (broker down, deploy).",
    ),
    PeriodicTask(
        name="sweep-events",
        task="companies.tasks.sweep_events",
        every_seconds=30,
        why="Domain events whose wake-up was lost, whose handler asked to retry or whose worker died are delivered.",
    ),
    PeriodicTask(
        name="requeue-stale-media",
        task="conversations.tasks.requeue_stale_media",
        every_seconds=600,
        why="An attachment whose download was never published (broker down) is downloaded and checked anyway.",
    ),
    PeriodicTask(
        name="recover-stuck-sends",
        task="conversations.tasks.recover_stuck_sends",
        every_seconds=60,
        why="Messages left 'sending' by a worker that died are failed as outcome_unknown, never resent blindly.",
    ),
    PeriodicTask(
        name="sweep-sms",
        task="notifications.tasks.sms.sweep_sms",
        every_seconds=60,
        why="SMS numbers whose send task was lost are sent; ones a dead worker left 'sending' fail as outcome_unknown.",
    ),
    PeriodicTask(
        name="sync-templates",
        task="templates_meta.tasks.sync_all_templates",
        every_seconds=3600,
        why="Template statuses and quality change at Meta; webhooks can be missed, so resync hourly.",
    ),
    PeriodicTask(
        name="purge-webhook-events",
        task="conversations.tasks.purge_webhook_events",
        every_seconds=6 * 3600,
        why="Processed webhook events are kept WEBHOOK_EVENT_RETENTION_DAYS days for replay, then purged.",
    ),
    PeriodicTask(
        name="sweep-conversations",
        task="conversations.tasks.sweep_conversations",
        every_seconds=15,
        why="Customers' messages and Chatwoot deliveries whose task was lost are taken; expired bot pauses lifted.",
    ),
    PeriodicTask(
        name="close-idle-sessions",
        task="conversations.tasks.close_idle_sessions",
        every_seconds=60,
        why="Sessions idle longer than their company's inactivity minutes are closed (or noted in Chatwoot).",
    ),
    PeriodicTask(
        name="purge-bot-transcripts",
        task="conversations.tasks.purge_bot_transcripts",
        every_seconds=24 * 3600,
        why="What customers told the bot in sessions that never reached an agent is not kept (seed).",
    ),
    PeriodicTask(
        name="purge-hosted-files",
        task="conversations.tasks.purge_hosted_files",
        every_seconds=24 * 3600,
        why="Files sent by link (boleto PDFs an ERP gave as bytes) stop being served when they expire.",
    ),
    PeriodicTask(
        name="run-campaigns",
        task="notifications.tasks.campaigns.run_campaigns",
        every_seconds=30,
        why="Running campaigns keep their pace, and scheduled ones start, even if the engine's hand-over was lost.",
    ),
    PeriodicTask(
        name="resume-campaign-imports",
        task="notifications.tasks.campaigns.resume_imports",
        every_seconds=120,
        why="A CSV whose import task was lost or whose worker died is imported from where it stopped.",
    ),
    PeriodicTask(
        name="billing-reminders",
        task="notifications.tasks.send_billing_reminders",
        every_seconds=15 * 60,
        why="Each company's billing reminders go once a day from its hour, in its time zone.",
    ),
    PeriodicTask(
        name="reconcile-with-meta",
        task="billing.tasks.reconcile_with_meta",
        every_seconds=3600,
        why="Each company's yesterday of Meta's pricing analytics is stored beside our spend from the morning, in "
        "its time zone; a day Meta failed to give is asked again at the next runs.",
    ),
]


@signals.before_task_publish.connect
def _send_request_id(headers: dict | None = None, **_: object) -> None:
    from config.request_id import get_request_id

    if headers is not None:
        headers.setdefault(REQUEST_ID_HEADER, get_request_id())


@signals.task_prerun.connect
def _bind_request_id(task=None, **_: object) -> None:
    from config.request_id import set_request_id

    request_id = getattr(task.request, REQUEST_ID_HEADER, None) if task else None
    set_request_id(request_id if request_id and request_id != "-" else None)


@signals.worker_init.connect
@signals.worker_process_init.connect
def _freeze_startup_objects(**_: object) -> None:
    """Keep the garbage collector off what start-up created (see ``config/asgi.py``).

    Once in the main process before the pool forks (every pool kind, and the children inherit the
    frozen objects without touching their pages), then in each prefork child for what it made since.
    Full collections walking that heap would pause the dispatcher's sends past their pacing slots.
    """
    gc.freeze()


@signals.worker_init.connect
def _yield_cpu_to_web(sender=None, **_: object) -> None:
    """Lower the worker's CPU priority before its pool forks (children inherit it).

    Where web and workers share cores, a burst of webhooks must still be acknowledged within Meta's
    latency budget; the stored events wait a moment longer for processing instead. With cores of its
    own (a separate container) the worker loses nothing. CELERY_WORKER_NICENESS=0 turns it off.

    Not an outbox worker: its sends must start within milliseconds of their pacing slots, and a
    dispatcher descheduled behind the database on shared cores misses them. Its CPU is
    bounded by the channels' pace, so it cannot crowd the web server out as a backlog of processing can.
    Nor an events or a conversation worker: a customer (or an agent, or the live dashboard) waits on their
    handlers and turns, each a string of short database round trips that a lowered thread waits a core for
    after every one, and their work comes from what the lowered inbound workers recorded, so it cannot
    outgrow them.
    """
    from django.conf import settings  # this module loads with the settings, before they are configured

    from config.queues import CONVERSATION, EVENTS, OUTBOX, queue_name

    consumed = set(sender.app.amqp.queues.consume_from or ()) if sender is not None else set()
    if consumed and consumed <= {queue_name(OUTBOX), queue_name(EVENTS), queue_name(CONVERSATION)}:
        return
    if niceness := settings.CELERY_WORKER_NICENESS:
        lower_cpu_priority(niceness)


def lower_cpu_priority(niceness: int) -> None:
    """``nice`` this process; when it leads its own session, its scheduler autogroup too.

    With Linux's autogroup scheduling (on by default on many distributions) each session is one group
    and nice only weighs processes inside it: a worker started in a session of its own would still
    take half the cores from the web server. A worker sharing a session with the web server (``make
    run``) must not lower that group, which holds the server too.
    """
    with contextlib.suppress(OSError):  # not permitted here (a locked-down container): normal priority
        os.nice(niceness)
    if os.getsid(0) == os.getpid():
        with contextlib.suppress(OSError), open(f"/proc/{os.getpid()}/autogroup", "w") as autogroup:
            autogroup.write(str(niceness))
