"""Queues, routing, publishing by name, wake-ups and the worker pools (config.queues) and what runs them."""

import io
import os
import signal
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import redis
import yaml
from django.core.management import CommandError, call_command
from django.db import transaction
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from kombu.exceptions import OperationalError

from config import queues
from config.celery import PERIODIC_TASKS, app
from config.management.commands import runall, worker
from conversations import tasks
from conversations.services import outbound

ROOT = Path(__file__).resolve().parents[2]
PROJECT_TASK_PREFIXES = ("config.", "companies.", "conversations.", "templates_meta.", "notifications.", "billing.")
TASK = "config.tasks.heartbeat"  # a registered task of TASK_QUEUES, cheap if it ever ran


class Sent:
    """Stands in for a task's ``apply_async``: records each call, raises ``fail_with`` when set."""

    def __init__(self) -> None:
        self.calls: list[dict] = []
        self.fail_with: BaseException | None = None

    def __call__(self, *args, **kwargs):
        self.calls.append({"args": args, **kwargs} if args else kwargs)
        if self.fail_with is not None:
            raise self.fail_with


def _sent(monkeypatch, name: str = TASK) -> Sent:
    sent = Sent()
    monkeypatch.setattr(app.tasks[name], "apply_async", sent)
    return sent


def _project_tasks() -> set[str]:
    return {name for name in app.tasks if name.startswith(PROJECT_TASK_PREFIXES) and not name.startswith("tests.")}


def _option(command: list[str], flag: str) -> str:
    return command[command.index(flag) + 1]


def _pool(name: str) -> queues.Pool:
    return next(pool for pool in queues.pools() if pool.name == name)


@pytest.fixture
def shared_cache(settings):
    settings.CACHE_IS_SHARED = True


@pytest.fixture
def own_cache(settings):
    settings.CACHE_IS_SHARED = False


@pytest.fixture
def celery_queues_restored():
    """Celery's router declares the queues it resolves to; forget the ones a test made up."""
    declared = set(app.amqp.queues)
    yield
    for name in set(app.amqp.queues) - declared:
        del app.amqp.queues[name]


# ------------------------------------------------------------------------------ the task list


def test_every_task_registered_by_the_project_has_a_queue():
    registered = _project_tasks()
    assert "conversations.tasks.dispatch_outbox" in registered  # the apps' tasks were discovered
    assert registered - set(queues.TASK_QUEUES) == set()


def test_every_task_queues_entry_is_a_registered_task():
    assert set(queues.TASK_QUEUES) - _project_tasks() == set()


def test_every_task_queues_entry_names_one_of_the_queues():
    assert set(queues.TASK_QUEUES.values()) <= set(queues.QUEUES)


def test_every_periodic_task_names_a_registered_task():
    assert {job.task for job in PERIODIC_TASKS} - _project_tasks() == set()


# ------------------------------------------------------------------------------ routing


def test_route_sends_each_task_to_its_queue_under_the_prefix(settings):
    settings.CELERY_QUEUE_PREFIX = "pfx-"
    for name, queue in queues.TASK_QUEUES.items():
        assert queues.route(name, (), {}, {}) == {"queue": f"pfx-{queue}"}
    assert queues.route("conversations.tasks.process_webhook_event", (), {}, {}) == {"queue": "pfx-inbound"}
    assert queues.route("conversations.tasks.dispatch_outbox", (), {}, {}) == {"queue": "pfx-outbox"}


def test_route_returns_none_for_a_task_it_does_not_know():
    assert queues.route("somewhere.tasks.unknown", (), {}, {}) is None


def test_celery_routes_through_config_queues():
    assert tuple(app.conf.task_routes) == ("config.queues.route",)


def test_celery_router_resolves_a_task_to_its_prefixed_queue(settings, celery_queues_restored):
    settings.CELERY_QUEUE_PREFIX = "pfx-"
    options = app.amqp.router.route({}, "conversations.tasks.dispatch_outbox", (), {})
    assert options["queue"].name == "pfx-outbox"


def test_celery_sends_a_task_it_has_no_route_for_to_the_maintenance_queue(celery_queues_restored):
    options = app.amqp.router.route({}, "somewhere.tasks.unknown", (), {})
    assert options["queue"].name == queues.queue_name(queues.MAINTENANCE)


# ------------------------------------------------------------------------------ publish


def test_publish_refuses_a_task_with_no_queue(monkeypatch):
    sent = Sent()
    monkeypatch.setattr(app, "send_task", sent)
    with pytest.raises(KeyError, match="TASK_QUEUES"):
        queues.publish("somewhere.tasks.unknown")
    assert sent.calls == []


def test_publish_sends_the_task_with_its_arguments_and_returns_true(monkeypatch):
    sent = _sent(monkeypatch)
    assert queues.publish(TASK, 1, "two") is True
    assert sent.calls == [{"args": (1, "two"), "retry": False, "countdown": None, "expires": None}]


def test_publish_passes_expires_and_countdown(monkeypatch):
    sent = _sent(monkeypatch)
    queues.publish(TASK, countdown=5, expires=30)
    assert sent.calls == [{"args": (), "retry": False, "countdown": 5, "expires": 30}]


@pytest.mark.parametrize(
    "error",
    [
        ConnectionError("connection refused"),
        OperationalError("broker unreachable"),
        redis.ConnectionError("redis down"),
    ],
    ids=["ConnectionError", "kombu-OperationalError", "redis-ConnectionError"],
)
def test_publish_returns_false_and_logs_when_the_broker_is_down(monkeypatch, caplog, error):
    sent = _sent(monkeypatch)
    sent.fail_with = error
    assert queues.publish(TASK, 42) is False
    assert len(sent.calls) == 1
    [record] = [r for r in caplog.records if r.name == "config.queues"]
    assert record.levelname == "ERROR"
    assert TASK in record.getMessage()
    assert str(error) in record.exc_text  # the traceback is logged (masked, as text)


def test_publish_lets_errors_other_than_the_broker_s_through(monkeypatch):
    sent = _sent(monkeypatch)
    sent.fail_with = ValueError("a bug, not an outage")
    with pytest.raises(ValueError, match="a bug"):
        queues.publish(TASK)


def test_publish_on_commit_publishes_only_once_the_transaction_commits(
    monkeypatch, db, django_capture_on_commit_callbacks
):
    sent = _sent(monkeypatch)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        queues.publish_on_commit(TASK, 7, countdown=3)
        assert sent.calls == []
    assert len(callbacks) == 1
    assert sent.calls == [{"args": (7,), "retry": False, "countdown": 3, "expires": None}]


def test_publish_on_commit_publishes_nothing_when_the_transaction_rolls_back(
    monkeypatch, db, django_capture_on_commit_callbacks
):
    sent = _sent(monkeypatch)
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        queues.publish_on_commit(TASK, 7)
        raise RuntimeError("roll back")
    assert callbacks == []
    assert sent.calls == []


# ------------------------------------------------------------------------------ wake and awake


def test_wake_with_a_shared_cache_publishes_once_for_a_burst(monkeypatch, shared_cache):
    sent = _sent(monkeypatch)
    for _ in range(5):
        queues.wake(TASK, expires=7)
    assert sent.calls == [{"args": (), "retry": False, "countdown": None, "expires": 7}]


def test_awake_lets_the_next_wake_publish_again(monkeypatch, shared_cache):
    sent = _sent(monkeypatch)
    queues.wake(TASK)
    queues.wake(TASK)
    queues.awake(TASK)
    queues.wake(TASK)
    queues.wake(TASK)
    assert len(sent.calls) == 2


def test_a_wake_whose_publish_failed_lets_the_next_wake_try_again(monkeypatch, shared_cache):
    sent = _sent(monkeypatch)
    sent.fail_with = ConnectionError("broker down")
    queues.wake(TASK)
    sent.fail_with = None
    queues.wake(TASK)
    queues.wake(TASK)
    assert len(sent.calls) == 2  # the failed one, then one for the burst after it


def test_wake_for_one_task_does_not_silence_another(monkeypatch, shared_cache):
    heartbeat = _sent(monkeypatch, TASK)
    dispatch = _sent(monkeypatch, outbound.DISPATCH_TASK)
    queues.wake(TASK)
    queues.wake(outbound.DISPATCH_TASK)
    assert (len(heartbeat.calls), len(dispatch.calls)) == (1, 1)


def test_wake_with_a_cache_of_each_process_s_own_publishes_every_time(monkeypatch, own_cache):
    sent = _sent(monkeypatch)
    for _ in range(3):
        queues.wake(TASK)
    assert len(sent.calls) == 3


def test_a_lost_wake_up_silences_the_others_only_for_its_ttl(monkeypatch, shared_cache):
    sent = _sent(monkeypatch)
    queues.wake(TASK, ttl=1)
    queues.wake(TASK, ttl=1)
    assert len(sent.calls) == 1
    time.sleep(1.2)  # the cache's own expiry (Redis' or the local-memory cache's)
    queues.wake(TASK, ttl=1)
    assert len(sent.calls) == 2


# ------------------------------------------------------------------------------ the outbox's wake-ups


def test_kick_outbox_publishes_a_dispatch_that_expires_after_kick_expires_seconds(monkeypatch, shared_cache):
    sent = _sent(monkeypatch, outbound.DISPATCH_TASK)
    outbound.kick_outbox()
    assert outbound.DISPATCH_TASK == "conversations.tasks.dispatch_outbox"
    assert sent.calls == [{"args": (), "retry": False, "countdown": None, "expires": outbound.KICK_EXPIRES_SECONDS}]


def test_kick_outbox_publishes_at_most_once_per_kick_ttl(monkeypatch, shared_cache):
    sent = _sent(monkeypatch, outbound.DISPATCH_TASK)
    for _ in range(10):
        outbound.kick_outbox()
    assert len(sent.calls) == 1
    time.sleep(outbound.KICK_TTL_SECONDS + 0.2)
    outbound.kick_outbox()
    assert len(sent.calls) == 2


def test_dispatch_outbox_clears_the_kick_as_it_starts(monkeypatch, db, shared_cache, settings):
    sent = _sent(monkeypatch, outbound.DISPATCH_TASK)
    runs = []

    class StubDispatcher:
        def run(self, *, budget_seconds):
            runs.append(budget_seconds)
            return 0

    monkeypatch.setattr(tasks, "_worker_dispatcher", StubDispatcher)
    outbound.kick_outbox()
    outbound.kick_outbox()
    assert len(sent.calls) == 1

    assert tasks.dispatch_outbox() == 0
    assert runs == [settings.OUTBOX_RUN_SECONDS]
    assert len(sent.calls) == 1  # nothing is due: the run hands over to no one

    outbound.kick_outbox()
    assert len(sent.calls) == 2


# ------------------------------------------------------------------------------ beat


def test_sync_periodic_tasks_stores_every_job_expiring_after_its_interval(db):
    call_command("sync_periodic_tasks", stdout=io.StringIO())
    stored = {task.name: task for task in PeriodicTask.objects.select_related("interval")}
    assert set(stored) >= {job.name for job in PERIODIC_TASKS}
    for job in PERIODIC_TASKS:
        task = stored[job.name]
        assert (task.task, task.enabled) == (job.task, True)
        assert (task.interval.every, task.interval.period) == (job.every_seconds, IntervalSchedule.SECONDS)
        assert task.expire_seconds == job.every_seconds


# ------------------------------------------------------------------------------ worker pools


def test_there_is_one_pool_per_kind_of_work():
    names = [pool.name for pool in queues.pools()]
    assert len(names) == len(set(names))
    assert set(names) == {"inbound", "outbox", "events", "conversation", "background"}
    assert all(pool.queues for pool in queues.pools())


def test_every_queue_is_taken_by_exactly_one_pool():
    taken = Counter(queue for pool in queues.pools() for queue in pool.queues)
    assert taken == Counter(queues.QUEUES)


def test_inbound_and_outbox_never_share_a_process():
    def pool_of(queue: str) -> str:
        return next(pool.name for pool in queues.pools() if queue in pool.queues)

    assert pool_of(queues.INBOUND) != pool_of(queues.OUTBOX)


def test_the_customers_conversation_never_waits_behind_the_event_handlers():
    def pool_of(task: str) -> str:
        return next(pool.name for pool in queues.pools() if queues.TASK_QUEUES[task] in pool.queues)

    turn, chatwoot = "conversations.tasks.converse", "conversations.tasks.deliver_to_chatwoot"
    assert pool_of(turn) == pool_of(chatwoot) != pool_of("companies.tasks.deliver_events")


def test_pool_concurrency_comes_from_settings(settings):
    settings.INBOUND_WORKER_CONCURRENCY = 3
    settings.OUTBOX_DISPATCHERS = 5
    settings.EVENTS_WORKER_CONCURRENCY = 7
    settings.CONVERSATION_WORKER_CONCURRENCY = 11
    settings.BACKGROUND_WORKER_CONCURRENCY = 9
    assert {pool.name: pool.concurrency for pool in queues.pools()} == {
        "inbound": 3,
        "outbox": 5,
        "events": 7,
        "conversation": 11,
        "background": 9,
    }


def test_worker_command_takes_the_pool_s_prefixed_queues_with_its_execution_pool_and_node_name(settings):
    settings.CELERY_QUEUE_PREFIX = "pfx-"
    settings.BACKGROUND_WORKER_CONCURRENCY = 6
    command = queues.worker_command(_pool("background"), python="/opt/python", loglevel="warning")
    assert command[:6] == ["/opt/python", "-m", "celery", "-A", "config", "worker"]
    assert _option(command, "-Q") == "pfx-media,pfx-maintenance,pfx-sms,pfx-campaigns"
    assert _option(command, "-P") == "threads"
    assert _option(command, "-c") == "6"
    assert _option(command, "-n") == "background@%h"
    assert _option(command, "-l") == "warning"


def test_worker_command_of_the_inbound_pool_runs_processes():
    command = queues.worker_command(_pool("inbound"), python="python")
    assert (_option(command, "-Q"), _option(command, "-P")) == (queues.queue_name(queues.INBOUND), "prefork")
    assert _option(command, "-n") == "inbound@%h"


def test_the_worker_command_execs_the_pool_s_worker(monkeypatch):
    execs = []
    monkeypatch.setattr(worker.os, "execv", lambda path, argv: execs.append((path, argv)))
    call_command("worker", "inbound", stdout=io.StringIO())
    expected = queues.worker_command(_pool("inbound"), python=sys.executable)
    assert execs == [(sys.executable, expected)]


def test_the_worker_command_refuses_an_unknown_pool(monkeypatch):
    execs = []
    monkeypatch.setattr(worker.os, "execv", lambda path, argv: execs.append((path, argv)))
    with pytest.raises(CommandError, match="invalid choice"):
        call_command("worker", "everything", stdout=io.StringIO())
    assert execs == []


def test_the_worker_command_reports_a_worker_that_cannot_start(monkeypatch):
    def execv(path, argv):
        raise FileNotFoundError(path)

    monkeypatch.setattr(worker.os, "execv", execv)
    with pytest.raises(CommandError, match="Could not start the worker"):
        call_command("worker", "outbox", stdout=io.StringIO())


def test_runall_starts_one_worker_per_pool_plus_web_and_beat(monkeypatch, signal_handlers_restored):
    started = []

    class Running:
        def __init__(self, command):
            started.append(command)
            self.returncode = None

        def poll(self):
            if self.returncode is None and len(started) == len(queues.pools()) + 2:
                os.kill(os.getpid(), signal.SIGTERM)  # as `docker stop` or Ctrl-C would, once all are running
            return self.returncode

        def send_signal(self, sig):
            self.returncode = -sig

        def wait(self, timeout=None):
            return self.returncode

        def kill(self):
            raise AssertionError("a process that stopped on SIGTERM was killed")

    monkeypatch.setattr(runall.subprocess, "Popen", Running)
    with pytest.raises(SystemExit) as exited:
        call_command("runall", "--no-fakes", stdout=io.StringIO(), stderr=io.StringIO())

    python = sys.executable
    workers = [queues.worker_command(pool, python=python) for pool in queues.pools()]
    assert len(started) == len(queues.pools()) + 2
    assert [command for command in started if command[:6] == [python, "-m", "celery", "-A", "config", "worker"]] == (
        workers
    )
    assert [python, "-m", "celery", "-A", "config", "beat", "-l", "info"] in started
    [web] = [command for command in started if "uvicorn" in command]
    assert "config.asgi:application" in web
    assert exited.value.code == 0  # stopped as asked, every child with SIGTERM


# ------------------------------------------------------------------------------ docker-compose


def _compose_services() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]


def test_docker_compose_runs_one_service_per_pool():
    workers = [
        service["command"]
        for service in _compose_services().values()
        if service.get("command", [])[:3] == ["python", "manage.py", "worker"]
    ]
    assert sorted(workers) == sorted(["python", "manage.py", "worker", pool.name] for pool in queues.pools())


def test_docker_compose_worker_healthchecks_ping_their_own_node():
    services = _compose_services()
    for pool in queues.pools():
        [service] = [s for s in services.values() if s.get("command") == ["python", "manage.py", "worker", pool.name]]
        kind, check = service["healthcheck"]["test"]
        check = check.replace("$$", "$")  # compose's escape for a literal $, left to the container's shell
        assert kind == "CMD-SHELL"
        assert "inspect ping" in check
        assert f" {pool.name}@$HOSTNAME " in check


def test_docker_compose_runs_exactly_one_beat():
    beats = [name for name, service in _compose_services().items() if "beat" in service.get("command", [])]
    assert len(beats) == 1
    for pool in queues.pools():  # nor does a worker run one of its own
        command = queues.worker_command(pool, python="python")
        assert "-B" not in command and "--beat" not in command
