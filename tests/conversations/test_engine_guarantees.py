"""The engine against the fake Graph API on a thread: the wire format, receipts that came first, claims whatever
the planner thinks, and sends that missed their pacing slot (never made late, never lost)."""

import copy
import datetime as dt
import time

import pytest
from django.utils import timezone

from config.provider_errors import ErrorKind
from config.request_id import get_request_id, reset_request_id, set_request_id
from conversations.models import Contact, Message, PendingStatus
from conversations.sending import dispatcher as dispatching
from conversations.sending import outbox, outcomes, pacing
from conversations.sending.send_loop import SendLoop
from conversations.services import outbound
from conversations.whatsapp import content
from conversations.whatsapp.base import SendError, Sent
from conversations.whatsapp.cloud import CloudProvider
from fakes.graph_api import running_graph_api
from tests.conftest import META_API_FIXTURES, load_fixture
from tests.factories import CloudChannelFactory


@pytest.fixture(autouse=True)
def _isolated(settings, tmp_path, monkeypatch):
    settings.VAR_DIR = tmp_path  # file-based pacing state per test
    settings.REDIS_URL = ""
    monkeypatch.setattr(outbound, "kick_outbox", lambda: None)


@pytest.fixture
def graph():
    with running_graph_api(errors=META_API_FIXTURES) as server:
        yield server


@pytest.fixture
def dispatcher():
    instance = dispatching.Dispatcher(in_flight=4)
    yield instance
    instance.close()


def _queue(channel, phone: str, body: str = "Olá") -> Message:
    contact, _ = Contact.objects.get_or_create(
        company=channel.company, phone=phone, defaults={"wa_id": phone, "last_inbound_at": timezone.now()}
    )
    return outbound.send_message(company=channel.company, to=contact, channel=channel, content=content.text(body))


# ------------------------------------------------------------------------------ the fake itself


@pytest.mark.django_db
def test_the_fake_answers_like_meta_with_a_wamid_of_its_own_per_send(graph):
    channel = CloudChannelFactory.build(api_base_url=graph.url, phone_number_id="106540352242922")
    provider = CloudProvider(channel)
    first = provider.send_text(to="+55 44 99888-7777", text="Oi")
    second = provider.send_text(to="5544998887777", text="Oi de novo")
    assert first.provider_id.startswith("wamid.fake.") and first.provider_id != second.provider_id
    assert first.wa_id == second.wa_id == "5544998887777"
    request = graph.requests[0]
    assert request.path == f"/{channel.api_version}/106540352242922/messages"
    assert request.authorization == f"Bearer {channel.access_token}"
    assert request.body["text"] == {"body": "Oi", "preview_url": False}
    assert request.wall > 0 and request.monotonic > 0
    # The rest of the body is the stored fixture's.
    success = load_fixture("meta_api/send_text_success.json")["body"]
    assert set(success) == {"messaging_product", "contacts", "messages"}


@pytest.mark.django_db
def test_the_fake_answers_with_error_fixtures_when_told(graph):
    provider = CloudProvider(CloudChannelFactory.build(api_base_url=graph.url))
    graph.fail_next(2, "error_130429_throughput")
    graph.fail_recipient("5511900000001", "error_131026_undeliverable")
    for expected in (ErrorKind.THROUGHPUT, ErrorKind.THROUGHPUT):
        with pytest.raises(SendError) as raised:
            provider.send_text(to="5511900000002", text="x")
        assert (raised.value.kind, raised.value.code) == (expected, "130429")
    assert provider.send_text(to="5511900000002", text="x").provider_id  # the third one goes
    with pytest.raises(SendError) as raised:
        provider.send_text(to="5511900000001", text="x")
    assert raised.value.kind == ErrorKind.INVALID_RECIPIENT
    assert [r.status for r in graph.requests] == [429, 429, 200, 400]
    assert graph.recipients() == ["5511900000002"]


# ------------------------------------------------------------------------------ the engine


@pytest.mark.django_db
def test_sent_messages_store_the_fakes_wamid_once_each_with_history(graph, dispatcher):
    channel = CloudChannelFactory(api_base_url=graph.url)
    messages = [_queue(channel, f"5544990000{i:03d}", body=f"m{i}") for i in range(30)]
    dispatcher.run(budget_seconds=10)
    wamids = {r.to: r.wamid for r in graph.sent}
    assert len(graph.requests) == 30
    for message in messages:
        message.refresh_from_db()
        assert (message.status, message.attempts, message.error_code) == ("sent", 1, "")
        assert message.provider_id == wamids[message.contact.wa_id]
        assert list(message.status_changes.values_list("status", flat=True)) == ["queued", "sent"]


@pytest.mark.django_db
def test_a_receipt_that_arrived_before_the_send_is_applied_once_the_message_is_sent(graph, dispatcher):
    channel = CloudChannelFactory(api_base_url=graph.url)
    message = _queue(channel, "5544998887777")
    other = _queue(channel, "5544998880000")
    # Meta's "delivered" came first, for the wamid the fake will give the first send.
    PendingStatus.objects.create(
        company=channel.company,
        channel=channel,
        provider_id=f"wamid.fake.{graph.run_id}.1",
        status="delivered",
        at=timezone.now() + dt.timedelta(seconds=5),
    )
    dispatcher.run_round()
    message.refresh_from_db()
    other.refresh_from_db()
    assert (message.status, other.status) == ("delivered", "sent")
    assert not PendingStatus.objects.exists()


@pytest.mark.django_db
def test_claims_follow_each_contacts_line_whatever_the_order_of_the_rows(graph):
    channel = CloudChannelFactory(api_base_url=graph.url)
    a1, b1, a2, c1, b2 = (_queue(channel, phone) for phone in ("551", "552", "551", "553", "552"))
    first = outbox.claim(channel, 10)
    assert [m.pk for m in first] == [a1.pk, b1.pk, c1.pk]  # one per contact, oldest first
    assert outbox.claim(channel, 10) == []  # a2 and b2 wait for their contact's first message
    Message.objects.filter(pk=a1.pk).update(status="sent")
    assert [m.pk for m in outbox.claim(channel, 10)] == [a2.pk]
    Message.objects.filter(pk=b1.pk).update(status="queued", next_attempt_at=timezone.now() + dt.timedelta(hours=1))
    assert outbox.claim(channel, 10) == []  # b1 backs off: b2 waits behind it, not past it
    assert b2.pk not in Message.objects.filter(status="sending").values_list("pk", flat=True)


@pytest.mark.django_db
def test_a_claim_looks_past_one_contacts_backlog_in_a_few_growing_pages(graph):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    channel = CloudChannelFactory(api_base_url=graph.url)
    backlog = [_queue(channel, "551", body=f"parte {i}") for i in range(30)]
    others = [_queue(channel, phone) for phone in ("552", "553")]
    with CaptureQueriesContext(connection) as captured:
        claimed = outbox.claim(channel, 2)
    assert [m.pk for m in claimed] == [backlog[0].pk, others[0].pk]
    # The 30 rows of the backlog fill pages of 2, 4, 8 and 16 due rows; the next page holds the other contacts.
    # Pages of the size asked for would have taken 16 of them.
    pages = [q["sql"] for q in captured.captured_queries if "LIMIT" in q["sql"] and "FOR UPDATE" not in q["sql"]]
    assert [int(sql.rsplit("LIMIT", 1)[1].split()[0]) for sql in pages] == [2, 4, 8, 16, 32]


@pytest.mark.django_db
def test_claimed_messages_come_back_marked_sending_with_their_contact_loaded(graph):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    channel = CloudChannelFactory(api_base_url=graph.url)
    queued = [_queue(channel, f"55449990{i:04d}") for i in range(3)]
    claimed = outbox.claim(channel, 3)
    with CaptureQueriesContext(connection) as captured:
        seen = [(m.pk, m.status, m.contact.phone, outbox.recipient(m)) for m in claimed]
    assert captured.captured_queries == []
    assert seen == [(m.pk, "sending", m.contact.phone, m.contact.wa_id) for m in queued]
    stored = dict(Message.objects.filter(pk__in=[m.pk for m in queued]).values_list("pk", "status_at"))
    assert all(m.status_at == stored[m.pk] for m in claimed)


@pytest.mark.django_db
def test_a_sent_round_writes_each_messages_history_entry_once(graph):
    channel = CloudChannelFactory(api_base_url=graph.url)
    queued = [_queue(channel, f"55449990{i:04d}") for i in range(3)]
    claimed = outbox.claim(channel, 3)
    sent = [outcomes.Outcome(m, sent=Sent(provider_id=f"wamid.t{m.pk}", wa_id="", status="ok")) for m in claimed]
    outcomes.record(sent, {channel.pk: channel})
    outcomes.record(sent, {channel.pk: channel})  # written again (a retried write): still one entry per message
    for message in queued:
        message.refresh_from_db()
        assert (message.status, message.provider_id, message.attempts) == ("sent", f"wamid.t{message.pk}", 1)
        [entry] = message.status_changes.filter(status="sent")
        assert (entry.at, entry.error_code, entry.error_title, entry.applied, entry.raw) == (
            message.status_at,
            "",
            "",
            True,
            {},
        )
        assert entry.created_at is not None


@pytest.mark.django_db
def test_a_message_due_earlier_goes_before_an_older_one_whose_retry_came_due_later(graph):
    channel = CloudChannelFactory(api_base_url=graph.url)
    older, newer = _queue(channel, "551"), _queue(channel, "552")
    now = timezone.now()
    Message.objects.filter(pk=older.pk).update(next_attempt_at=now - dt.timedelta(seconds=1))  # its retry
    Message.objects.filter(pk=newer.pk).update(next_attempt_at=now - dt.timedelta(seconds=5))
    assert [m.pk for m in outbox.claim(channel, 1)] == [newer.pk]
    assert [m.pk for m in outbox.claim(channel, 1)] == [older.pk]


@pytest.mark.django_db
def test_claims_read_the_outbox_index_however_much_was_already_sent(graph):
    """After a burst, the statistics still say "mostly queued": the queries must not walk sent messages."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("the query plan is PostgreSQL's")
    channel = CloudChannelFactory(api_base_url=graph.url)
    first = _queue(channel, "5544998887777")
    burst = [copy.copy(first) for _ in range(2999)]  # 2,999 more like it, in one insert
    for message in burst:
        message.pk = None
    Message.objects.bulk_create(burst)
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE conversations_message")  # taken while everything is queued, as after a burst
    Message.objects.filter(pk__in=Message.objects.order_by("pk").values("pk")[:2990]).update(status="sent")
    plans = []
    for queryset in (outbox._due_first(channel, timezone.now())[:200], outbox._due_first(channel, now)[:1]):
        sql, params = queryset.values_list("pk").query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN " + sql, params)
            plans.append("\n".join(row[0] for row in cursor.fetchall()))
    assert all("message_outbox_due" in plan for plan in plans), plans


def _send_at(dispatcher, slot: float, channel, message) -> outcomes.Outcome:
    [future] = dispatcher.sends.submit([dispatcher._send_at(slot, channel, message)])
    return future.result(timeout=10)


@pytest.mark.django_db
def test_a_send_that_missed_its_slot_on_a_busy_channel_is_not_made_but_queued_again(graph, dispatcher):
    channel = CloudChannelFactory(api_base_url=graph.url, throughput_mps=10)
    message = _queue(channel, "5544998887777")
    [claimed] = outbox.claim(channel, 1)
    assert pacing.reserve(channel, 100)  # the channel's next slots all belong to other sends now
    outcome = _send_at(dispatcher, time.time() - 0.5, channel, claimed)
    assert outcome.missed_slot and outcome.sent is None and outcome.error is None
    outcomes.record([outcome], {channel.pk: channel})
    message.refresh_from_db()
    assert (message.status, message.attempts) == ("queued", 0)
    assert graph.requests == []


@pytest.mark.django_db
def test_a_late_send_on_a_channel_below_its_pace_takes_a_free_slot_and_goes(graph, dispatcher):
    channel = CloudChannelFactory(api_base_url=graph.url, throughput_mps=10)
    _queue(channel, "5544998887777")
    [claimed] = outbox.claim(channel, 1)
    outcome = _send_at(dispatcher, time.time() - 0.5, channel, claimed)
    assert not outcome.missed_slot
    assert outcome.sent.provider_id == graph.sent[0].wamid


def test_a_late_window_stays_within_the_limit_at_every_rate():
    # Every send starts within LATE_SECONDS of a slot of its own, slots 1 / (limit x CLOUD_SAFETY) apart:
    # a one-second window then holds at most floor((1 + LATE) x limit x SAFETY) + 1 sends.
    for limit in (1, 2, 10, 80, 250, 1000):
        worst = int((1 + pacing.LATE_SECONDS) * limit * pacing.CLOUD_SAFETY) + 1
        assert worst <= limit, limit


@pytest.mark.django_db
def test_sends_waiting_for_meta_hold_no_thread_each(monkeypatch):
    # One send thread, and Meta answering after 300 ms: all 30 sends are out before the first answer comes back.
    monkeypatch.setattr(pacing, "LATE_SECONDS", 0.25)  # on a busy machine a send may wake late: still made here
    with running_graph_api(errors=META_API_FIXTURES, delay=0.3) as slow:
        channel = CloudChannelFactory(api_base_url=slow.url, throughput_mps=1000)
        for i in range(30):
            _queue(channel, f"55449990{i:05d}")
        dispatcher = dispatching.Dispatcher(in_flight=30, threads=1)
        try:
            assert dispatcher.run_round() == 30
        finally:
            dispatcher.close()
        arrivals = [request.monotonic for request in slow.sent]
    assert len(arrivals) == 30
    assert max(arrivals) - min(arrivals) < 0.3
    assert Message.objects.filter(status="sent").count() == 30


@pytest.mark.django_db
def test_sends_run_with_the_request_id_of_the_task_that_woke_the_dispatcher(graph, dispatcher):
    channel = CloudChannelFactory(api_base_url=graph.url, throughput_mps=1000)
    _queue(channel, "5544998887777")
    graph.fail_next(1, "error_131000_generic")
    token = set_request_id("task-7f3a")
    try:
        seen = []
        [claimed] = outbox.claim(channel, 1)

        async def send_and_look():
            seen.append(get_request_id())
            return await dispatcher._send_at(time.time(), channel, claimed)

        [future] = dispatcher.sends.submit([send_and_look()])
        outcome = future.result(timeout=10)
    finally:
        reset_request_id(token)
    assert seen == ["task-7f3a"]
    assert outcome.error.code == "131000"


def test_a_failing_coroutine_hands_its_exception_to_whoever_waits():
    sends = SendLoop(connections=1)

    async def broken():
        raise ValueError("a bug in an adapter")

    async def fine():
        return "sent"

    try:
        failed, ok = sends.submit([broken(), fine()])
        with pytest.raises(ValueError, match="a bug in an adapter"):
            failed.result(timeout=5)
        assert ok.result(timeout=5) == "sent"
    finally:
        sends.close()
