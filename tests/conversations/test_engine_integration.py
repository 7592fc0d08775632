"""The sending engine end to end: a real Celery worker process takes the outbox from the database and sends
it to a fake Graph API (a real HTTP server on 127.0.0.1, ``fakes/graph_api.py``).

The worker must see the test's own database, so these tests run where the test database is a server
(PostgreSQL: ``test_<name>``); on SQLite pytest-django keeps it in this process's memory and they skip.
The broker is the configured one: Redis when ``REDIS_URL`` is set, else kombu's filesystem transport
under ``VAR_DIR`` (shared with the worker). The worker listens on a queue of its own and keeps its pacing
and lock keys under a prefix of its own.
"""

import datetime as dt
import gc
import os
import signal
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from conversations import tasks
from conversations.models import Contact, Message
from conversations.sending import outbox
from conversations.services import outbound
from conversations.whatsapp import content
from fakes.graph_api import running_graph_api
from tests.conftest import META_API_FIXTURES
from tests.factories import CloudChannelFactory
from tests.worker_processes import worker_processes

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("transactional_db")]


@pytest.fixture(autouse=True)
def _no_full_collections_of_the_session():
    """The fake Graph API stamps arrivals on a thread of this process. Hundreds of tests into a session, a full
    garbage collection walks a large heap and stalls that thread meanwhile: sends paced 52 ms apart would be
    stamped together, a second holding more than was sent in it. What exists now is left out of collections."""
    gc.freeze()
    yield
    gc.unfreeze()


@pytest.fixture
def start_worker(tmp_path, monkeypatch):
    """Start a real worker on the test database, listening on a queue of its own."""
    if connection.vendor != "postgresql":
        pytest.skip("the worker process needs the test database, which on SQLite lives in this process's memory")
    # Queuing here must not send wake-ups to the default queue: the test sends the task where its worker listens.
    monkeypatch.setattr(outbound, "kick_outbox", lambda: None)
    queue = f"engine-{uuid.uuid4().hex[:8]}"
    env = {
        "CACHE_KEY_PREFIX": f"itest-{queue}",
        "CELERY_QUEUE_PREFIX": f"{queue}-",  # what the worker publishes itself stays out of other queues
        "OUTBOX_RUN_SECONDS": "60",  # one run sends everything: no hand-over task to the default queue
    }
    # Its queue's bindings and its pacing and lock keys go with it.
    patterns = [f"_kombu.binding*.{queue}", f"itest-{queue}:*"]
    with worker_processes(tmp_path=tmp_path, env=env, queues=[queue], redis_patterns=patterns) as start:
        start.queue = queue
        start.logs = tmp_path
        yield start


def _dispatch(queue: str) -> None:
    tasks.dispatch_outbox.apply_async(queue=queue, retry=False)


def _send_messages(channel, count: int, *, first: int = 0) -> list[Message]:
    now = timezone.now()
    messages = []
    for i in range(first, first + count):
        phone = f"55449{i:08d}"
        contact = Contact.objects.create(company=channel.company, phone=phone, wa_id=phone, last_inbound_at=now)
        messages.append(
            outbound.send_message(
                company=channel.company, to=contact, channel=channel, content=content.text(f"Mensagem {i}")
            )
        )
    return messages


def _wait(predicate, seconds: float, what: str, logs: Path, *, beat: str = ""):
    """Poll ``predicate``; with ``beat`` (a queue), send the dispatcher every 2 s as the beat does every 5 s."""
    deadline, next_beat = time.monotonic() + seconds, time.monotonic() + 2
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        if beat and time.monotonic() >= next_beat:
            _dispatch(beat)  # a message backing off is due again only later: a running dispatcher has left
            next_beat += 2
        time.sleep(0.1)
    worker_logs = "\n".join(p.read_text(errors="replace")[-3000:] for p in sorted(logs.glob("worker-*.log")))
    raise AssertionError(f"timed out waiting for {what}\n{worker_logs}")


def _statuses(channel) -> Counter:
    return Counter(Message.objects.filter(channel=channel).values_list("status", flat=True))


def _max_in_any_second(times: list[float]) -> int:
    times, best, start = sorted(times), 0, 0
    for end, at in enumerate(times):
        while at - times[start] >= 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


def test_a_real_worker_sends_the_outbox_paced_once_each_and_retries_what_meta_asks(start_worker):
    with running_graph_api(errors=META_API_FIXTURES) as graph:
        channel = CloudChannelFactory(api_base_url=graph.url, throughput_mps=20)
        messages = _send_messages(channel, 40)
        undeliverable, throttled = messages[5].contact.wa_id, messages[6].contact.wa_id
        graph.fail_recipient(undeliverable, "error_131026_undeliverable")
        graph.fail_recipient(throttled, "error_130429_throughput", times=1)

        start_worker()
        _dispatch(start_worker.queue)

        def settled():
            counts = _statuses(channel)
            return counts if counts["queued"] == 0 and counts["sending"] == 0 else None

        counts = _wait(settled, 90, "the outbox to be sent", start_worker.logs, beat=start_worker.queue)

    assert counts == {"sent": 39, "failed": 1}
    accepted = graph.sent
    recipients = [r.to for r in accepted]
    assert len(recipients) == len(set(recipients)) == 39  # each message once
    assert recipients.count(throttled) == 1
    by_wamid = {r.wamid: r for r in accepted}
    for message in Message.objects.filter(channel=channel, status="sent").select_related("contact"):
        request = by_wamid[message.provider_id]  # the wamid the fake gave is the one stored
        assert request.to == message.contact.wa_id
        assert request.body["text"]["body"] == message.text
        assert request.path == f"/{channel.api_version}/{channel.phone_number_id}/messages"
        assert request.authorization == f"Bearer {channel.access_token}"
    retried = Message.objects.get(channel=channel, contact__wa_id=throttled)
    assert (retried.status, retried.attempts) == ("sent", 2)
    failed = Message.objects.get(channel=channel, contact__wa_id=undeliverable)
    assert (failed.error_code, failed.attempts) == ("131026", 1)
    # Paced: never more than the channel's 20 per second, at the fake's clock.
    assert _max_in_any_second([r.monotonic for r in graph.requests]) <= 20


def test_a_worker_killed_mid_send_never_causes_a_resend(start_worker):
    with running_graph_api(
        errors=META_API_FIXTURES, delay=5.0
    ) as graph:  # Meta takes its time: the worker dies waiting for answers
        channel = CloudChannelFactory(api_base_url=graph.url, throughput_mps=10)
        messages = _send_messages(channel, 30)
        first = start_worker()
        _dispatch(start_worker.queue)
        _wait(lambda: len(graph.requests) >= 5, 60, "the first sends to reach the fake", start_worker.logs)
        os.killpg(first.pid, signal.SIGKILL)  # the worker and its pool process, mid-call
        first.wait(timeout=10)
        time.sleep(0.5)  # requests already on the wire are read by the fake
        arrived_before_kill = {r.to for r in graph.requests}

        counts = _statuses(channel)
        assert counts["sending"] >= len(arrived_before_kill)  # claimed, called, never recorded
        assert counts["sent"] == 0 and counts["queued"] > 0
        recovered = outbox.recover_stuck(older_than=dt.timedelta(0))
        assert recovered == counts["sending"]

        graph.delay = 0.0
        start_worker()
        _dispatch(start_worker.queue)

        def settled():
            c = _statuses(channel)
            return c if c["queued"] == 0 and c["sending"] == 0 else None

        final = _wait(settled, 90, "the rest of the outbox to be sent", start_worker.logs, beat=start_worker.queue)
        time.sleep(0.5)  # anything resent would have arrived by now
        received = [r.to for r in graph.requests]

    assert final == {"failed": recovered, "sent": len(messages) - recovered}
    assert len(received) == len(set(received)), "a message reached Meta twice"
    unknown = Message.objects.filter(channel=channel, status="failed").select_related("contact")
    assert {m.error_code for m in unknown} == {"outcome_unknown"}
    unknown_recipients = {m.contact.wa_id for m in unknown}
    assert arrived_before_kill <= unknown_recipients  # what may have gone is failed, not sent again
    sent_recipients = set(
        Message.objects.filter(channel=channel, status="sent").values_list("contact__wa_id", flat=True)
    )
    assert sent_recipients.isdisjoint(unknown_recipients)
    assert set(received) == arrived_before_kill | sent_recipients
