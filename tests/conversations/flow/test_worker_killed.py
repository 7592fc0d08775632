"""A worker killed in the middle of a customer's turn: a real Celery worker process takes the turn, is killed
(SIGKILL) while the bot waits on a slow ERP inside the turn's transaction, and the sweeper run by a fresh
worker answers the customer exactly once.

The worker must see the test's own database, so this runs where the test database is a server (PostgreSQL);
on SQLite it skips. The workers listen on a queue of their own, and on the events queue under their own
prefix, where the sweeper they run schedules the turn.
"""

import datetime as dt
import os
import signal
import time
import uuid
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from config import queues
from conversations import conversation, tasks
from conversations.bot import texts
from conversations.models import Message
from tests.conversations.bot.conftest import MARIA, Customer
from tests.conversations.flow.steps import bot_said
from tests.worker_processes import worker_processes

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("transactional_db")]


@pytest.fixture
def workers(tmp_path, monkeypatch):
    """Start real workers on the test database, on a queue of their own and, under their prefix, the queues the
    sweeper's turns go through (events, conversation)."""
    if connection.vendor != "postgresql":
        pytest.skip("the worker process needs the test database, which on SQLite lives in this process's memory")
    # This process publishes nothing by itself: the test sends each task where its workers listen.
    monkeypatch.setattr(queues, "publish", lambda *args, **kwargs: True)
    monkeypatch.setattr(queues, "wake", lambda *args, **kwargs: None)
    queue = f"flow-{uuid.uuid4().hex[:8]}"
    prefix = f"{queue}-"
    env = {"CACHE_KEY_PREFIX": f"itest-{queue}", "CELERY_QUEUE_PREFIX": prefix}
    listened = [queue, f"{prefix}{queues.EVENTS}", f"{prefix}{queues.CONVERSATION}"]
    # Its queues, their bindings and its lock keys go with it.
    with worker_processes(tmp_path=tmp_path, env=env, queues=listened, redis_patterns=[f"*{queue}*"]) as start:
        start.queue = queue
        start.logs = tmp_path
        yield start


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
