"""Stored webhook events are processed by drains: one wake-up per burst, batches in order, retries apart."""

import copy

import pytest
from django.db import OperationalError, connection
from django.test.utils import CaptureQueriesContext

from conversations import tasks
from conversations.models import Message, WebhookEvent
from conversations.services import inbound, inbound_batch, webhook_events
from tests.conftest import load_fixture, post_meta
from tests.factories import CloudChannelFactory, CompanyFactory


@pytest.fixture
def meta_company(db):
    company = CompanyFactory(meta_app_secret="app-secret")
    CloudChannelFactory(company=company, phone_number_id="106540352242922", waba_id="102290129340398")
    return company


@pytest.fixture
def publishes(monkeypatch):
    """Drain wake-ups published to the broker (not run), and retry tasks scheduled for single events."""
    published = {"drains": 0, "retries": []}

    def drain_published(*args, **kwargs):
        published["drains"] += 1

    def retry_published(*args, **kwargs):
        published["retries"].append((kwargs["args"][0], kwargs.get("countdown")))

    monkeypatch.setattr(tasks.drain_webhook_events, "apply_async", drain_published)
    monkeypatch.setattr(tasks.process_webhook_event, "apply_async", retry_published)
    return published


def _text_webhook(number: int) -> dict:
    payload = copy.deepcopy(load_fixture("meta/message_text.json"))
    message = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    message["id"] = f"wamid.drain.{number}"
    message["text"]["body"] = f"message {number}"
    return payload


def _post(client, company, number, capture):
    with capture(execute=True):
        assert post_meta(client, company, _text_webhook(number)).status_code == 200


def test_with_a_shared_cache_a_burst_publishes_one_wake_up_and_one_drain_takes_it_all_in_order(
    client, meta_company, publishes, settings, django_capture_on_commit_callbacks
):
    settings.CACHE_IS_SHARED = True  # the local-memory cache is shared within this one process
    for number in range(5):
        _post(client, meta_company, number, django_capture_on_commit_callbacks)
    assert publishes["drains"] == 1
    assert WebhookEvent.objects.filter(state=WebhookEvent.State.PENDING).count() == 5

    assert tasks.drain_webhook_events() == 5
    assert not WebhookEvent.objects.exclude(state=WebhookEvent.State.PROCESSED).exists()
    texts = list(Message.objects.order_by("pk").values_list("text", flat=True))
    assert texts == [f"message {number}" for number in range(5)]

    # The drain cleared the flag before claiming: the next webhook wakes a new one.
    _post(client, meta_company, 5, django_capture_on_commit_callbacks)
    assert publishes["drains"] == 2


def test_without_a_shared_cache_every_stored_event_wakes_a_drain(
    client, meta_company, publishes, settings, django_capture_on_commit_callbacks
):
    settings.CACHE_IS_SHARED = False  # web and workers are separate processes with caches of their own
    for number in range(3):
        _post(client, meta_company, number, django_capture_on_commit_callbacks)
    assert publishes["drains"] == 3


def test_an_event_stored_while_a_drain_is_on_its_way_is_taken_by_that_drain(
    client, meta_company, publishes, settings, django_capture_on_commit_callbacks, monkeypatch
):
    settings.CACHE_IS_SHARED = True
    _post(client, meta_company, 0, django_capture_on_commit_callbacks)
    seen = []
    real_batch = inbound_batch.record_batch

    def record_batch(events):
        seen.extend(event.pk for event in events)
        if len(seen) == 1:  # stored while the drain works: its flag is gone, so it wakes another drain
            _post(client, meta_company, 1, django_capture_on_commit_callbacks)
        return real_batch(events)

    monkeypatch.setattr(inbound_batch, "record_batch", record_batch)
    webhook_events.drain(process=tasks._process_drained, batch=50, seconds=60)
    assert len(seen) == 2  # the drain loops until its claim comes back empty
    assert publishes["drains"] == 2
    assert Message.objects.count() == 2


def test_a_full_batch_wakes_another_drainer_and_a_spent_drain_hands_over(
    client, meta_company, publishes, settings, django_capture_on_commit_callbacks
):
    settings.CACHE_IS_SHARED = True
    for number in range(5):
        _post(client, meta_company, number, django_capture_on_commit_callbacks)
    publishes["drains"] = 0

    done = webhook_events.drain(process=tasks._process_drained, batch=2, seconds=0)
    assert done == 2  # out of time after one batch
    assert publishes["drains"] == 1  # woken for the rest (the full batch's wake-up is that same flag)
    assert WebhookEvent.objects.filter(state=WebhookEvent.State.PENDING).count() == 3

    assert webhook_events.drain(process=tasks._process_drained, batch=2, seconds=60) == 3
    assert Message.objects.count() == 5


def test_a_batch_is_read_in_one_query_and_its_outcomes_written_once_per_kind(
    client, meta_company, publishes, django_capture_on_commit_callbacks
):
    for number in range(4):
        _post(client, meta_company, number, django_capture_on_commit_callbacks)
    _post(client, meta_company, 0, django_capture_on_commit_callbacks)  # a second delivery of the first
    with CaptureQueriesContext(connection) as queries:
        assert webhook_events.drain(process=tasks._process_drained, batch=50, seconds=60) == 5
    table = WebhookEvent._meta.db_table
    reads = [q["sql"] for q in queries if q["sql"].startswith("SELECT") and f'FROM "{table}"' in q["sql"]]
    marks = [q["sql"] for q in queries if q["sql"].startswith(f'UPDATE "{table}"') and "processed_at" in q["sql"]]
    assert len(reads) == 2  # the batch, read as it is locked (its claim), and the next one (none left)
    assert len(marks) == 2  # "1 message" for four of them, "1 duplicate" for the last
    summaries = list(WebhookEvent.objects.order_by("pk").values_list("state", "summary"))
    assert summaries == [("processed", "1 message")] * 4 + [("processed", "1 duplicate")]


def test_what_a_broken_batch_processed_is_marked_and_the_rest_left_to_the_sweeper(
    client, meta_company, publishes, django_capture_on_commit_callbacks, monkeypatch
):
    for number in range(3):
        _post(client, meta_company, number, django_capture_on_commit_callbacks)
    monkeypatch.setattr(webhook_events, "normalise_batch", lambda events: False)  # taken one by one
    seen = []

    def process(event):
        seen.append(event.pk)
        if len(seen) == 2:
            raise MemoryError  # nothing the task layer catches: the worker process is going down
        return tasks._process_drained(event)

    with pytest.raises(MemoryError):
        webhook_events.drain(process=process, batch=50, seconds=60)
    states = list(WebhookEvent.objects.order_by("pk").values_list("state", flat=True))
    assert states == [WebhookEvent.State.PROCESSED, WebhookEvent.State.PROCESSING, WebhookEvent.State.PROCESSING]


def test_claims_never_overlap_and_leave_retried_events_to_their_own_task(meta_company):
    events = [
        WebhookEvent.objects.create(company=meta_company, source=WebhookEvent.Source.META, body="{}", headers={})
        for _ in range(4)
    ]
    WebhookEvent.objects.filter(pk=events[3].pk).update(attempts=1)  # failed once: its retry task has it
    first = webhook_events.claim_batch(2)
    second = webhook_events.claim_batch(2)
    assert first == [events[0].pk, events[1].pk]
    assert second == [events[2].pk]
    assert webhook_events.claim_batch(2) == []
    claimed = WebhookEvent.objects.filter(pk__in=first + second)
    assert set(claimed.values_list("state", flat=True)) == {WebhookEvent.State.PROCESSING}
    assert set(claimed.values_list("attempts", flat=True)) == {1}


def test_a_transient_failure_in_a_drain_goes_to_a_retry_task_with_backoff(
    client, meta_company, publishes, monkeypatch, django_capture_on_commit_callbacks
):
    _post(client, meta_company, 0, django_capture_on_commit_callbacks)
    event = WebhookEvent.objects.get()

    def database_away(*args, **kwargs):
        raise OperationalError("connection lost")

    monkeypatch.setattr(inbound_batch, "record_batch", database_away)  # the batch fails, then each event
    monkeypatch.setattr(inbound, "record_events", database_away)
    assert tasks.drain_webhook_events() == 1
    event.refresh_from_db()
    assert event.state == WebhookEvent.State.PENDING
    assert event.attempts == 1
    assert "connection lost" in event.error
    assert publishes["retries"] == [(event.pk, 1)]
    assert tasks.drain_webhook_events() == 0  # not taken again by a drain: no spinning

    monkeypatch.undo()
    tasks.process_webhook_event(event.pk)  # the retry task
    event.refresh_from_db()
    assert event.state == WebhookEvent.State.PROCESSED
    assert Message.objects.count() == 1


def test_a_broker_outage_on_wake_up_clears_the_flag_so_the_next_webhook_tries_again(
    client, meta_company, monkeypatch, settings, django_capture_on_commit_callbacks
):
    settings.CACHE_IS_SHARED = True
    attempts = []

    def broker_down(*args, **kwargs):
        attempts.append(1)
        raise ConnectionError("broker down")

    monkeypatch.setattr(tasks.drain_webhook_events, "apply_async", broker_down)
    _post(client, meta_company, 0, django_capture_on_commit_callbacks)
    _post(client, meta_company, 1, django_capture_on_commit_callbacks)
    assert len(attempts) == 2
    assert WebhookEvent.objects.filter(state=WebhookEvent.State.PENDING).count() == 2  # the sweeper's


def test_a_drain_goes_on_when_the_retry_of_a_failed_event_cannot_be_scheduled(
    client, meta_company, monkeypatch, django_capture_on_commit_callbacks
):
    for number in range(2):
        _post(client, meta_company, number, django_capture_on_commit_callbacks)
    WebhookEvent.objects.update(state=WebhookEvent.State.PENDING, attempts=0)  # as if never processed
    Message.objects.all().delete()
    failing = WebhookEvent.objects.order_by("pk").first()
    real_record = inbound.record_events

    def database_away_for_the_first(**kwargs):
        if kwargs["source"].pk == failing.pk:
            raise OperationalError("connection lost")
        return real_record(**kwargs)

    def broker_down(*args, **kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr(inbound_batch, "record_batch", broker_down)  # the batch fails: taken one by one
    monkeypatch.setattr(inbound, "record_events", database_away_for_the_first)
    monkeypatch.setattr(tasks.process_webhook_event, "apply_async", broker_down)
    assert tasks.drain_webhook_events() == 2
    failing.refresh_from_db()
    assert (failing.state, failing.attempts) == (WebhookEvent.State.PENDING, 1)  # for the sweeper
    assert WebhookEvent.objects.filter(state=WebhookEvent.State.PROCESSED).count() == 1
    assert Message.objects.count() == 1


def test_a_batch_of_events_is_stored_in_one_insert_and_wakes_one_drain(
    meta_company, publishes, django_capture_on_commit_callbacks
):
    bodies = ['{"n": 1, "t": "aspas \' \\" e barra \\\\ %s $1"}', '{"n": 2, "t": "Olá 你好 🙂"}', "{}"]
    events = [
        webhook_events.new_event(
            company=meta_company, source="meta", body=body, headers={"Content-Type": "application/json"}
        )
        for body in bodies
    ]
    with CaptureQueriesContext(connection) as queries, django_capture_on_commit_callbacks(execute=True):
        stored = webhook_events.store_webhooks(events)
    assert stored == events
    assert [event.pk for event in events] == sorted(event.pk for event in events)
    inserts = [q for q in queries.captured_queries if q["sql"].upper().startswith("INSERT")]
    # One INSERT for all three (on PostgreSQL bound on the server, see the test below, and logged like Django's).
    assert len(inserts) == 1
    rows = list(WebhookEvent.objects.order_by("pk"))
    assert [row.pk for row in rows] == [event.pk for event in events]
    assert [row.body for row in rows] == bodies
    assert {(row.state, row.attempts, row.error, row.headers["Content-Type"]) for row in rows} == {
        (WebhookEvent.State.PENDING, 0, "", "application/json")
    }
    assert all(row.received_at == event.received_at for row, event in zip(rows, events, strict=True))
    assert publishes["drains"] == 1


@pytest.mark.skipif(connection.vendor != "postgresql", reason="server-side binding is PostgreSQL's")
def test_on_postgresql_the_batch_insert_binds_its_values_on_the_server(meta_company, publishes, monkeypatch):
    import psycopg

    sent = []
    execute = psycopg.Cursor.execute

    def recording(cursor, query, params=None, **kwargs):
        sent.append((type(cursor), query, params))
        return execute(cursor, query, params, **kwargs)

    monkeypatch.setattr(psycopg.Cursor, "execute", recording)
    body = '{"t": "it\'s"}'
    webhook_events.store_webhooks(
        [webhook_events.new_event(company=meta_company, source="meta", body=body, headers={})]
    )
    inserts = [(kind, query, params) for kind, query, params in sent if query.startswith("INSERT")]
    assert len(inserts) == 1
    kind, query, params = inserts[0]
    assert not issubclass(kind, psycopg.ClientCursor)  # the body travels as a parameter, never quoted into SQL
    assert body in params and body not in query
    assert WebhookEvent.objects.get().body == body


def test_a_database_error_in_the_batch_insert_is_djangos(meta_company, publishes):
    from django.db import DatabaseError

    events = [webhook_events.new_event(company=meta_company, source="meta", body="{}", headers={})]
    events[0].body = None  # NOT NULL refuses it at once
    with pytest.raises(DatabaseError):
        webhook_events.store_webhooks(events)
    assert not WebhookEvent.objects.exists()


def test_on_postgresql_a_large_batch_is_inserted_from_one_array_per_column(meta_company, publishes, monkeypatch):
    import psycopg

    from config import bulk_sql

    if connection.vendor != "postgresql":
        pytest.skip("arrays per column are PostgreSQL's; elsewhere the batch is one bulk_create")
    sent = []
    execute = psycopg.Cursor.execute

    def recording(cursor, query, params=None, **kwargs):
        sent.append((query, params))
        return execute(cursor, query, params, **kwargs)

    monkeypatch.setattr(psycopg.Cursor, "execute", recording)
    bodies = [f'{{"n": {n}}}' for n in range(bulk_sql.ARRAYS_FROM_ROWS)]
    events = [webhook_events.new_event(company=meta_company, source="meta", body=b, headers={}) for b in bodies]
    webhook_events.store_webhooks(events)
    [(query, params)] = [(q, p) for q, p in sent if q.startswith("INSERT")]
    assert "unnest" in query and any(column == bodies for column in params)
    assert list(WebhookEvent.objects.order_by("pk").values_list("body", flat=True)) == bodies
    assert [event.pk for event in events] == list(WebhookEvent.objects.order_by("pk").values_list("pk", flat=True))


def _stored(company, numbers) -> list[WebhookEvent]:
    import json as _json

    return [
        WebhookEvent.objects.create(company=company, source="meta", body=_json.dumps(_text_webhook(n)), headers={})
        for n in numbers
    ]


@pytest.mark.django_db(transaction=True)
def test_a_batch_another_drainer_holds_is_skipped_and_taken_by_no_one_else(meta_company, publishes):
    import threading

    from django.db import connections, transaction

    if connection.vendor != "postgresql":
        pytest.skip("SKIP LOCKED is PostgreSQL's; SQLite's IMMEDIATE transactions serialise drainers instead")
    held = _stored(meta_company, range(2))
    rest = _stored(meta_company, range(2, 5))
    holding, release = threading.Event(), threading.Event()

    def other_drainer():  # a drain's batch, locked as its claim, still being recorded
        try:
            with transaction.atomic():
                list(WebhookEvent.objects.filter(pk__in=[e.pk for e in held]).select_for_update())
                holding.set()
                release.wait(10)
        finally:
            connections.close_all()

    thread = threading.Thread(target=other_drainer)
    thread.start()
    assert holding.wait(10)
    try:
        assert webhook_events.drain(process=tasks._process_drained, batch=50, seconds=60) == 3
    finally:
        release.set()
        thread.join(10)
    states = dict(WebhookEvent.objects.values_list("pk", "state"))
    assert [states[e.pk] for e in rest] == ["processed"] * 3
    assert [states[e.pk] for e in held] == ["pending"] * 2  # left to the drainer that holds them


@pytest.mark.django_db
def test_a_drainer_that_dies_mid_batch_leaves_its_events_to_the_next_one(meta_company, publishes, monkeypatch):
    events = _stored(meta_company, range(3))

    def worker_killed(events):
        raise SystemExit("worker lost")  # nothing a task catches: the batch's transaction is rolled back

    monkeypatch.setattr(inbound_batch, "record_batch", worker_killed)
    with pytest.raises(SystemExit):
        webhook_events.drain(process=tasks._process_drained, batch=50, seconds=60)
    assert set(WebhookEvent.objects.values_list("state", "attempts")) == {("pending", 0)}
    monkeypatch.undo()
    assert webhook_events.drain(process=tasks._process_drained, batch=50, seconds=60) == 3
    assert Message.objects.count() == 3
    assert set(WebhookEvent.objects.filter(pk__in=[e.pk for e in events]).values_list("state", "attempts")) == {
        ("processed", 1)
    }
