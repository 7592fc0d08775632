"""A worker killed in the middle of a customer's turn: a real Celery worker process takes the turn, is killed
(SIGKILL) while the bot waits on a slow ERP inside the turn's transaction, and the sweeper run by a fresh
worker answers the customer exactly once.

The worker must see the test's own database, so this runs where the test database is a server (PostgreSQL);
on SQLite it skips. The workers listen on a queue of their own, and on the events queue under their own
prefix, where the sweeper they run schedules the turn.
"""

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
import redis
from django.conf import settings
from django.db import connection
from django.utils import timezone

from config import queues
from config.celery import app
from conversations import conversation, tasks
from conversations.bot import texts
from conversations.models import Message
from tests.conversations.bot.conftest import MARIA, Customer
from tests.conversations.flow.steps import bot_said

ROOT = Path(__file__).resolve().parents[3]
pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("transactional_db")]


def _database_url() -> str:
    db = connection.settings_dict
    credentials = quote(db["USER"] or "", safe="") + (f":{quote(db['PASSWORD'], safe='')}" if db["PASSWORD"] else "")
    return f"postgres://{credentials}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def workers(tmp_path, monkeypatch):
    """Start real workers (each in its own session, so it and its pool die together) on the test database."""
    if connection.vendor != "postgresql":
        pytest.skip("the worker process needs the test database, which on SQLite lives in this process's memory")
    # This process publishes nothing by itself: the test sends each task where its workers listen.
    monkeypatch.setattr(queues, "publish", lambda *args, **kwargs: True)
    monkeypatch.setattr(queues, "wake", lambda *args, **kwargs: None)
    queue = f"flow-{uuid.uuid4().hex[:8]}"
    prefix = f"{queue}-"
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "CACHE_KEY_PREFIX": f"itest-{queue}",
        "CELERY_QUEUE_PREFIX": prefix,
        "VAR_DIR": str(settings.VAR_DIR),
        "LOG_LEVEL": "WARNING",
        "DEBUG": "false",
    }
    processes: list[subprocess.Popen] = []
    listened = [queue, f"{prefix}{queues.EVENTS}"]

    def start() -> subprocess.Popen:
        log = (tmp_path / f"worker-{len(processes)}.log").open("wb")
        process = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", ",".join(listened), "-c", "1"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        processes.append(process)
        return process

    start.queue = queue
    start.logs = tmp_path
    yield start
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    with app.connection_for_write() as broker:  # no task of this test outlives it
        for name in listened:
            broker.default_channel.queue_purge(name)
    if settings.REDIS_URL:  # nor its queues, their bindings, its lock keys and the killed worker's unacked task
        client = redis.Redis.from_url(settings.REDIS_URL)
        for key in client.scan_iter(match=f"*{queue}*", count=1000):
            client.delete(key)
        for tag, raw in client.hgetall("unacked").items():
            _, _, routing_key = json.loads(raw)
            if routing_key in listened:
                client.hdel("unacked", tag)
                client.zrem("unacked_index", tag)
        client.close()


def _wait(predicate, seconds: float, what: str, logs: Path):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.1)
    worker_logs = "\n".join(p.read_text(errors="replace")[-3000:] for p in sorted(logs.glob("worker-*.log")))
    raise AssertionError(f"timed out waiting for {what}\n{worker_logs}")


def _in_transaction() -> int:
    """Connections to the test database holding a transaction open (the turn, waiting on the ERP)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND state LIKE 'idle in transaction%%' AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


def test_a_worker_killed_inside_a_turn_leaves_the_messages_for_the_sweeper_which_answers_once(
    erp_company, erp, evolution, workers
):
    maria = Customer(evolution, MARIA)
    said = maria.text("oi")
    # It came a while ago: its grouping window is over, and the sweeper counts it overdue once the turn is lost.
    Message.objects.filter(pk=said.pk).update(
        created_at=timezone.now() - conversation.OVERDUE - dt.timedelta(seconds=5)
    )
    erp.delay = 8.0  # the bot waits on the ERP inside the turn's transaction (under the adapter's read timeout)

    first = workers()
    tasks.converse.apply_async(args=[said.contact_id], queue=workers.queue, retry=False)
    _wait(lambda: erp.requests, 60, "the turn to ask the ERP", workers.logs)
    assert _in_transaction() >= 1
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(timeout=10)

    _wait(lambda: _in_transaction() == 0, 20, "PostgreSQL to roll the dead worker's turn back", workers.logs)
    said.refresh_from_db()
    assert said.handled_at is None and said.session_id is None  # nothing of the turn was committed
    assert bot_said(said.contact_id) == []

    erp.delay = 0
    workers()
    tasks.sweep_conversations.apply_async(queue=workers.queue, retry=False)
    _wait(lambda: len(bot_said(said.contact_id)) >= 2, 60, "the bot's answer", workers.logs)
    time.sleep(2)  # a second turn, were one scheduled, would have answered by now
    tasks.sweep_conversations.apply_async(queue=workers.queue, retry=False)
    time.sleep(2)

    said.refresh_from_db()
    assert said.handled_at is not None
    answer = bot_said(said.contact_id)
    assert answer[0] == texts.DEFAULTS["greeting"].format(company=erp_company.name)
    assert answer[1].startswith(texts.DEFAULTS["confirm_account"].format(name="Maria da Silva"))
    assert len(answer) == 2  # once: no duplicate, nothing lost
