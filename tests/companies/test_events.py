"""The durable domain-event bus (companies.events) and the topics the apps announce on it."""

import contextlib
import datetime as dt

import pytest
from django.db import transaction
from django.utils import timezone

from companies import events, services, tasks
from companies.events import CLAIM_LEASE, DELIVER_TASK, MAX_ATTEMPTS, Event, RetryLater, Topic
from companies.models import Channel, Company, EventDelivery
from config import queues
from conversations.events import INBOUND_MESSAGE_RECORDED, MESSAGE_STATUS_CHANGED
from conversations.models import Contact, Message
from conversations.sending import outbox
from conversations.services import outbound
from conversations.whatsapp import content
from templates_meta.events import TEMPLATE_STATUS_CHANGED
from templates_meta.models import Template
from tests.conftest import load_fixture, post_evolution, post_meta
from tests.factories import CloudChannelFactory, CompanyFactory, EvolutionChannelFactory

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
PENDING, FAILED = EventDelivery.State.PENDING, EventDelivery.State.FAILED

# Topics of these tests only: the registry is process-global, and nothing else subscribes to them.
TOPIC = events.Topic("test_events.topic")
OTHER_TOPIC = events.Topic("test_events.other_topic")

# What the handlers below were called with, as (handler, events), whether or not the call succeeded.
CALLS: list[tuple[str, list[Event]]] = []
# What the next calls to ``flaky`` raise, in order; it succeeds once this is empty.
FAILURES: list[Exception] = []


class Indigestion(Exception):
    """What ``poison_aware`` raises on a poison event."""


def record(batch: list[Event]) -> None:
    CALLS.append(("record", batch))


def also_record(batch: list[Event]) -> None:
    CALLS.append(("also_record", batch))


def flaky(batch: list[Event]) -> None:
    CALLS.append(("flaky", batch))
    if FAILURES:
        raise FAILURES.pop(0)


def poison_aware(batch: list[Event]) -> None:
    """Writes one company per event, then chokes on a poison one: its writes must go with its failure."""
    CALLS.append(("poison_aware", batch))
    for event in batch:
        CompanyFactory(name=f"from event {event.payload['n']}")
    if any(event.payload.get("poison") for event in batch):
        raise Indigestion("cannot digest this one")


@pytest.fixture(autouse=True)
def fresh_calls():
    CALLS.clear()
    FAILURES.clear()
    yield
    CALLS.clear()
    FAILURES.clear()


@pytest.fixture
def subscribe():
    """Subscribe a handler for the test only."""
    subscribed: list[tuple[events.Topic, events.Handler]] = []

    def _subscribe(topic: events.Topic, handler: events.Handler) -> None:
        topic.subscribe(handler)
        subscribed.append((topic, handler))

    yield _subscribe
    for topic, handler in subscribed:
        topic.unsubscribe(handler)


@pytest.fixture
def published(monkeypatch) -> list[str]:
    """The tasks published (not run): to see what a sweep asks for without it delivering in place."""
    names: list[str] = []
    monkeypatch.setattr(queues, "publish", lambda task, *args, **kwargs: names.append(task) or True)
    return names


def payloads(handler: str | None = None) -> list[dict]:
    """Every event the handlers were called with (``handler``'s only), call after call."""
    return [event.payload for name, batch in CALLS if handler in (None, name) for event in batch]


def only_event() -> Event:
    """The one event of the one call the handlers had."""
    assert [len(batch) for _, batch in CALLS] == [1], CALLS
    return CALLS[0][1][0]


def batches(handler: str | None = None) -> list[list[int]]:
    return [[event.payload["n"] for event in batch] for name, batch in CALLS if handler in (None, name)]


# ------------------------------------------------------------------------------ emitting


def test_the_handler_path_is_the_module_and_qualified_name_of_the_handler():
    assert events.handler_path(record) == "tests.companies.test_events.record"


def test_an_emitted_event_is_one_pending_delivery_row_per_subscriber(subscribe, company):
    subscribe(TOPIC, record)
    subscribe(TOPIC, also_record)
    TOPIC.emit(company_id=company.pk, payload={"n": 1})
    rows = EventDelivery.objects.order_by("handler")
    assert [(r.topic, r.handler, r.company_id, r.payload, r.state, r.attempts) for r in rows] == [
        ("test_events.topic", "tests.companies.test_events.also_record", company.pk, {"n": 1}, PENDING, 0),
        ("test_events.topic", "tests.companies.test_events.record", company.pk, {"n": 1}, PENDING, 0),
    ]
    assert all(r.next_attempt_at <= timezone.now() and r.claimed_until is None for r in rows)


def test_a_topic_nobody_subscribed_to_writes_nothing_and_wakes_nobody(
    subscribe, company, django_capture_on_commit_callbacks
):
    subscribe(OTHER_TOPIC, record)  # another topic's subscriber does not count
    with django_capture_on_commit_callbacks() as callbacks:
        TOPIC.emit(company_id=company.pk, payload={"n": 1})
        TOPIC.emit_many([(company.pk, {"n": 2}), (None, {"n": 3})])
    assert not EventDelivery.objects.exists()
    assert callbacks == []


def test_emitting_no_events_writes_nothing_and_wakes_nobody(subscribe, django_capture_on_commit_callbacks):
    subscribe(TOPIC, record)
    with django_capture_on_commit_callbacks() as callbacks:
        TOPIC.emit_many([])
    assert not EventDelivery.objects.exists()
    assert callbacks == []


def test_an_unsubscribed_handler_gets_no_new_rows(subscribe, company):
    subscribe(TOPIC, record)
    subscribe(TOPIC, also_record)
    TOPIC.unsubscribe(also_record)
    TOPIC.emit(company_id=company.pk, payload={"n": 1})
    assert list(EventDelivery.objects.values_list("handler", flat=True)) == ["tests.companies.test_events.record"]


@pytest.mark.django_db(transaction=True)
def test_an_event_emitted_in_a_transaction_that_rolls_back_leaves_no_delivery_row_and_calls_no_handler(
    subscribe, company
):
    subscribe(TOPIC, record)
    with contextlib.suppress(Indigestion), transaction.atomic():
        TOPIC.emit(company_id=company.pk, payload={"n": 1})
        assert EventDelivery.objects.count() == 1  # written in the caller's transaction...
        raise Indigestion
    assert not EventDelivery.objects.exists()  # ...and gone with it
    assert events.deliver() == 0
    assert CALLS == []


@pytest.mark.django_db(transaction=True)
def test_committed_events_reach_each_handler_once_in_emission_order_and_their_rows_are_deleted(subscribe, company):
    subscribe(TOPIC, record)
    subscribe(TOPIC, also_record)
    with transaction.atomic():
        TOPIC.emit_many([(company.pk, {"n": 1}), (company.pk, {"n": 2})])
        TOPIC.emit(company_id=company.pk, payload={"n": 3})
        assert EventDelivery.objects.count() == 6
        assert CALLS == []  # nothing is handed out before the commit
    # The commit woke the delivery task, which ran in place (eager Celery).
    assert sorted(name for name, _ in CALLS) == ["also_record", "record"]
    assert batches("record") == [[1, 2, 3]]
    assert batches("also_record") == [[1, 2, 3]]
    event = CALLS[0][1][0]
    assert (event.topic, event.company_id, event.attempts) == ("test_events.topic", company.pk, 0)
    assert not EventDelivery.objects.exists()
    assert events.deliver() == 0
    assert len(CALLS) == 2  # once


def test_deliver_returns_how_many_events_the_handlers_took(subscribe, company):
    subscribe(TOPIC, record)
    subscribe(OTHER_TOPIC, also_record)
    TOPIC.emit_many([(company.pk, {"n": 1}), (company.pk, {"n": 2})])
    OTHER_TOPIC.emit(company_id=None, payload={"n": 3})
    assert events.deliver() == 3
    assert batches("record") == [[1, 2]]
    assert batches("also_record") == [[3]]
    assert CALLS[1][1][0].company_id is None


def test_a_full_batch_wakes_another_deliverer_and_the_rest_comes_in_the_next_batch(subscribe, company, monkeypatch):
    woken: list[str] = []
    monkeypatch.setattr(queues, "wake", lambda task, **kwargs: woken.append(task))
    subscribe(TOPIC, record)
    TOPIC.emit_many([(company.pk, {"n": n}) for n in range(1, 6)])
    assert events.deliver(batch=2) == 5
    assert batches() == [[1, 2], [3, 4], [5]]
    assert woken == [DELIVER_TASK, DELIVER_TASK]  # after each full batch, not after the last


# ------------------------------------------------------------------------------ failures and retries


def test_a_failing_handler_is_retried_later_with_backoff_and_its_error_is_kept_masked(
    subscribe, company, time_machine, django_capture_on_commit_callbacks
):
    time_machine.move_to(T0, tick=False)
    subscribe(TOPIC, flaky)
    FAILURES.append(RuntimeError("ERP refused token=abc123secret"))
    with django_capture_on_commit_callbacks(execute=True):
        TOPIC.emit(company_id=company.pk, payload={"n": 1})
    assert batches() == [[1]]
    row = EventDelivery.objects.get()
    assert (row.state, row.attempts, row.claimed_until) == (PENDING, 1, None)
    assert row.next_attempt_at == T0 + dt.timedelta(seconds=events.backoff_seconds(1)) == T0 + dt.timedelta(seconds=2)
    assert row.last_error == "RuntimeError: ERP refused token=***"
    assert "abc123secret" not in row.last_error


def test_a_failed_event_is_delivered_on_a_later_deliver_once_due(subscribe, company, time_machine):
    time_machine.move_to(T0, tick=False)
    subscribe(TOPIC, flaky)
    FAILURES.append(RuntimeError("ERP down"))
    TOPIC.emit(company_id=company.pk, payload={"n": 1})
    assert events.deliver() == 0
    time_machine.shift(dt.timedelta(seconds=1))
    assert events.deliver() == 0  # not due yet
    assert len(CALLS) == 1
    time_machine.shift(dt.timedelta(seconds=1))
    assert events.deliver() == 1
    assert batches() == [[1], [1]]
    assert CALLS[-1][1][0].attempts == 1  # the handler can tell it is a retry
    assert not EventDelivery.objects.exists()


def test_in_a_batch_with_one_poison_event_the_others_are_delivered_and_only_the_poison_one_is_retried(
    subscribe, company
):
    subscribe(TOPIC, poison_aware)
    TOPIC.emit_many([(company.pk, {"n": 1}), (company.pk, {"n": 2, "poison": True}), (company.pk, {"n": 3})])
    assert events.deliver() == 2
    # The batch failed as a whole, then each event was tried alone.
    assert batches() == [[1, 2, 3], [1], [2], [3]]
    # Only the successful calls' writes were kept: a handler's writes and its events' deletion are one.
    assert sorted(Company.objects.filter(name__startswith="from event").values_list("name", flat=True)) == [
        "from event 1",
        "from event 3",
    ]
    poison = EventDelivery.objects.get()
    assert poison.payload == {"n": 2, "poison": True}
    assert (poison.state, poison.attempts, poison.claimed_until) == (PENDING, 1, None)
    assert poison.last_error == "Indigestion: cannot digest this one"


def test_retry_later_reschedules_the_batch_without_counting_an_attempt(subscribe, company, time_machine):
    time_machine.move_to(T0, tick=False)
    subscribe(TOPIC, flaky)
    FAILURES.append(RetryLater(30, "ERP busy"))
    TOPIC.emit_many([(company.pk, {"n": 1}), (company.pk, {"n": 2})])
    assert events.deliver() == 0
    assert batches() == [[1, 2]]  # not split up: waiting is no failure
    rows = list(EventDelivery.objects.order_by("pk"))
    assert [(r.state, r.attempts, r.last_error, r.claimed_until) for r in rows] == [(PENDING, 0, "", None)] * 2
    assert {r.next_attempt_at for r in rows} == {T0 + dt.timedelta(seconds=30)}
    time_machine.shift(dt.timedelta(seconds=29))
    assert events.deliver() == 0
    time_machine.shift(dt.timedelta(seconds=1))
    assert events.deliver() == 2
    assert batches() == [[1, 2], [1, 2]]
    assert not EventDelivery.objects.exists()


def test_retry_later_says_when_in_its_message():
    assert str(RetryLater(5)) == "retry in 5 s"
    assert str(RetryLater(5, "ERP busy")) == "ERP busy"
    assert RetryLater(5).seconds == 5


def test_backoff_doubles_with_each_attempt_up_to_an_hour():
    assert [events.backoff_seconds(n) for n in range(1, 6)] == [2, 4, 8, 16, 32]
    assert events.backoff_seconds(12) == events.backoff_seconds(40) == events.BACKOFF_CAP_SECONDS == 3600


def test_after_max_attempts_the_delivery_is_failed_and_no_longer_taken(subscribe, company, time_machine):
    time_machine.move_to(T0, tick=False)
    subscribe(TOPIC, flaky)
    FAILURES.extend(RuntimeError(f"ERP down, try {n}") for n in range(1, MAX_ATTEMPTS + 1))
    TOPIC.emit(company_id=company.pk, payload={"n": 1})
    waits = []
    for attempt in range(1, MAX_ATTEMPTS):
        assert events.deliver() == 0
        row = EventDelivery.objects.get()
        assert (row.state, row.attempts) == (PENDING, attempt)
        waits.append((row.next_attempt_at - timezone.now()).total_seconds())
        time_machine.shift(dt.timedelta(seconds=waits[-1]))
    assert waits == [2.0**n for n in range(1, MAX_ATTEMPTS)]
    assert events.deliver() == 0
    row = EventDelivery.objects.get()
    assert (row.state, row.claimed_until) == (FAILED, None)
    assert row.last_error == f"gave up after {MAX_ATTEMPTS} attempts: RuntimeError: ERP down, try {MAX_ATTEMPTS}"
    assert len(CALLS) == MAX_ATTEMPTS
    time_machine.shift(dt.timedelta(days=1))
    assert events.sweep() == 0
    assert events.deliver() == 0
    assert len(CALLS) == MAX_ATTEMPTS


def test_a_delivery_that_gave_up_counts_every_attempt_it_made(subscribe, company):
    subscribe(TOPIC, flaky)
    FAILURES.append(RuntimeError("ERP down"))
    TOPIC.emit(company_id=company.pk, payload={"n": 1})
    EventDelivery.objects.update(attempts=MAX_ATTEMPTS - 1)  # the earlier attempts, already made
    events.deliver()
    row = EventDelivery.objects.get()
    assert row.state == FAILED
    assert row.attempts == MAX_ATTEMPTS  # "gave up after 12 attempts" says its last_error


def test_retry_brings_a_failed_delivery_back_and_it_is_delivered_after_commit(
    subscribe, company, django_capture_on_commit_callbacks
):
    subscribe(TOPIC, flaky)
    FAILURES.append(RuntimeError("ERP down"))
    TOPIC.emit(company_id=company.pk, payload={"n": 1})
    EventDelivery.objects.update(attempts=MAX_ATTEMPTS - 1)
    events.deliver()
    assert EventDelivery.objects.get().state == FAILED
    with django_capture_on_commit_callbacks(execute=True):
        assert events.retry(deliveries=EventDelivery.objects.filter(state=FAILED)) == 1
        row = EventDelivery.objects.get()
        assert (row.state, row.attempts, row.claimed_until) == (PENDING, 0, None)
        assert row.next_attempt_at <= timezone.now()
    assert batches() == [[1], [1]]
    assert CALLS[-1][1][0].attempts == 0  # a fresh start
    assert not EventDelivery.objects.exists()


def test_retry_leaves_a_delivery_that_has_not_failed_alone(subscribe, company):
    subscribe(TOPIC, flaky)
    TOPIC.emit(company_id=company.pk, payload={"n": 1})
    EventDelivery.objects.update(attempts=3, claimed_until=timezone.now() + CLAIM_LEASE)  # a worker has it
    assert events.retry(deliveries=EventDelivery.objects.all()) == 0
    row = EventDelivery.objects.get()
    assert row.attempts == 3
    assert row.claimed_until is not None


def test_a_handler_path_no_longer_subscribed_ends_failed_with_a_clear_error(subscribe, company):
    subscribe(TOPIC, record)
    TOPIC.emit_many([(company.pk, {"n": 1}), (company.pk, {"n": 2})])
    TOPIC.unsubscribe(record)  # renamed or removed in a deploy while its events waited
    assert events.deliver() == 0
    assert CALLS == []
    rows = list(EventDelivery.objects.all())
    assert [(r.handler, r.state, r.claimed_until) for r in rows] == [
        ("tests.companies.test_events.record", FAILED, None)
    ] * 2
    assert {r.last_error for r in rows} == {"No handler of this name is subscribed (renamed or removed?)."}


def test_a_handler_unsubscribed_from_one_of_its_two_topics_still_gets_the_other_topic_s_events(subscribe, company):
    subscribe(OTHER_TOPIC, record)
    subscribe(TOPIC, record)
    OTHER_TOPIC.emit(company_id=company.pk, payload={"n": 1})
    TOPIC.emit(company_id=company.pk, payload={"n": 2})
    OTHER_TOPIC.unsubscribe(record)
    events.deliver()
    assert batches() == [[2]]
    assert list(EventDelivery.objects.values_list("topic", "state")) == [("test_events.other_topic", FAILED)]


# ------------------------------------------------------------------------------ claims and the sweeper


def test_a_live_claim_is_not_taken_twice(subscribe, company):
    subscribe(TOPIC, record)
    TOPIC.emit(company_id=company.pk, payload={"n": 1})
    claimed = events._claim(10)  # a deliverer took it and is still at work
    assert [row.payload for row in claimed] == [{"n": 1}]
    assert events.deliver() == 0
    assert events.sweep() == 0
    assert CALLS == []
    assert EventDelivery.objects.get().claimed_until > timezone.now()


def test_a_claim_whose_worker_died_is_delivered_again_by_sweep_and_deliver(subscribe, company, time_machine, published):
    time_machine.move_to(T0, tick=False)
    subscribe(TOPIC, record)
    TOPIC.emit(company_id=company.pk, payload={"n": 1})
    events._claim(10)  # ...and the worker died holding it
    assert EventDelivery.objects.get().claimed_until == T0 + CLAIM_LEASE
    time_machine.shift(CLAIM_LEASE - dt.timedelta(seconds=1))
    assert events.sweep() == 0
    assert published == []
    time_machine.shift(dt.timedelta(seconds=2))
    assert events.sweep() == 1
    assert published == [DELIVER_TASK]
    assert events.deliver() == 1
    assert payloads() == [{"n": 1}]
    assert not EventDelivery.objects.exists()


def test_the_sweep_task_delivers_events_whose_wake_up_was_lost(subscribe, company):
    subscribe(TOPIC, record)
    TOPIC.emit(company_id=company.pk, payload={"n": 1})  # never committed here: its wake-up never ran
    assert tasks.sweep_events.delay().get() == 1  # and published the delivery, which ran in place
    assert payloads() == [{"n": 1}]
    assert not EventDelivery.objects.exists()
    assert tasks.sweep_events.delay().get() == 0


def test_the_sweeper_publishes_nothing_when_nothing_is_due(subscribe, company, time_machine, published):
    time_machine.move_to(T0, tick=False)
    subscribe(TOPIC, flaky)
    FAILURES.append(RetryLater(60))
    TOPIC.emit(company_id=company.pk, payload={"n": 1})
    events.deliver()
    assert events.sweep() == 0
    assert published == []
    time_machine.shift(dt.timedelta(seconds=60))
    assert events.sweep() == 1
    assert published == [DELIVER_TASK]


def test_the_deliver_task_hands_out_due_events(subscribe, company):
    subscribe(TOPIC, record)
    TOPIC.emit(company_id=company.pk, payload={"n": 1})
    tasks.deliver_events.delay()
    assert payloads() == [{"n": 1}]
    assert not EventDelivery.objects.exists()


# ------------------------------------------------------------------------------ the apps' topics

WABA, PHONE_NUMBER_ID = "102290129340398", "106540352242922"
DELIVERED_WAMID = "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3MTE5MjVBOTE3MDk5QUVFM0YA"  # meta/status_delivered.json
EVOLUTION_INSTANCE, EVOLUTION_KEY = "c0a8e5d2-5b1e-4b8e-9a51-3f1d2c4b6a70", "EVO-INSTANCE-TOKEN-0001"


@pytest.fixture(autouse=True)
def scheduled_downloads(monkeypatch) -> list[int]:
    """Media downloads are not the subject here: only recorded."""
    from conversations import tasks as conversation_tasks

    scheduled: list[int] = []
    monkeypatch.setattr(
        conversation_tasks.download_media, "apply_async", lambda args, **options: scheduled.append(*args)
    )
    return scheduled


@pytest.fixture
def meta_company():
    """A company owning the number and WABA of the stored Meta payloads."""
    company = CompanyFactory(meta_app_secret="app-secret")
    CloudChannelFactory(company=company, phone_number_id=PHONE_NUMBER_ID, waba_id=WABA)
    return company


def _post_meta(client, company, payload, capture) -> None:
    with capture(execute=True):
        response = post_meta(client, company, payload)
    assert response.status_code == 200, response.content


def _outbound(company: Company, *, provider_id: str, status: str = "sent") -> Message:
    channel = company.channels.get()
    contact = Contact.objects.create(company=company, phone="16505551234", wa_id="16505551234")
    return Message.objects.create(
        company=company,
        channel=channel,
        contact=contact,
        direction=Message.Direction.OUTBOUND,
        author=Message.Author.BOT,
        type="template",
        provider_id=provider_id,
        status=status,
        status_at=timezone.now() - dt.timedelta(days=365),
    )


def test_a_signed_meta_text_webhook_gives_one_inbound_message_recorded_event_with_the_stored_ids(
    client, subscribe, meta_company, django_capture_on_commit_callbacks
):
    subscribe(INBOUND_MESSAGE_RECORDED, record)
    _post_meta(client, meta_company, load_fixture("meta/message_text.json"), django_capture_on_commit_callbacks)
    message = Message.objects.get(company=meta_company)
    event = only_event()
    assert (event.topic, event.company_id) == ("inbound_message_recorded", meta_company.pk)
    assert event.payload == {
        "message_id": message.pk,
        "contact_id": message.contact_id,
        "channel_id": message.channel_id,
        "type": "text",
    }
    assert message.direction == Message.Direction.INBOUND
    assert not EventDelivery.objects.exists()


def test_the_same_inbound_message_delivered_twice_gives_no_second_event(
    client, subscribe, meta_company, django_capture_on_commit_callbacks
):
    subscribe(INBOUND_MESSAGE_RECORDED, record)
    payload = load_fixture("meta/message_text.json")
    _post_meta(client, meta_company, payload, django_capture_on_commit_callbacks)
    _post_meta(client, meta_company, payload, django_capture_on_commit_callbacks)
    assert Message.objects.filter(company=meta_company).count() == 1
    assert len(payloads()) == 1
    assert not EventDelivery.objects.exists()


def test_a_delivered_receipt_for_a_known_outbound_message_gives_message_status_changed_with_its_pricing(
    client, subscribe, meta_company, django_capture_on_commit_callbacks
):
    subscribe(MESSAGE_STATUS_CHANGED, record)
    message = _outbound(meta_company, provider_id=DELIVERED_WAMID)
    _post_meta(client, meta_company, load_fixture("meta/status_delivered.json"), django_capture_on_commit_callbacks)
    message.refresh_from_db()
    assert message.status == Message.Status.DELIVERED
    event = only_event()
    assert (event.topic, event.company_id) == ("message_status_changed", meta_company.pk)
    assert dt.datetime.fromisoformat(event.payload.pop("at")) == dt.datetime.fromtimestamp(1750263773, tz=dt.UTC)
    assert event.payload == {
        "message_id": message.pk,
        "direction": "out",
        "purpose": "",
        "channel_kind": "cloud",
        "status": "delivered",
        "error_code": "",
        "error_title": "",
        "pricing": {"billable": True, "pricing_model": "CBP", "category": "service"},
    }


def test_a_duplicate_receipt_gives_no_second_status_event(
    client, subscribe, meta_company, django_capture_on_commit_callbacks
):
    subscribe(MESSAGE_STATUS_CHANGED, record)
    message = _outbound(meta_company, provider_id=DELIVERED_WAMID)
    payload = load_fixture("meta/status_delivered.json")
    _post_meta(client, meta_company, payload, django_capture_on_commit_callbacks)
    _post_meta(client, meta_company, payload, django_capture_on_commit_callbacks)
    assert [p["status"] for p in payloads()] == ["delivered"]
    assert message.status_changes.count() == 1
    assert not EventDelivery.objects.exists()


def test_a_late_receipt_that_is_no_progress_gives_no_status_event(
    client, subscribe, meta_company, django_capture_on_commit_callbacks
):
    subscribe(MESSAGE_STATUS_CHANGED, record)
    message = _outbound(meta_company, provider_id=DELIVERED_WAMID)
    _post_meta(client, meta_company, load_fixture("meta/status_delivered.json"), django_capture_on_commit_callbacks)
    late = load_fixture("meta/status_sent.json")
    late["entry"][0]["changes"][0]["value"]["statuses"][0]["id"] = DELIVERED_WAMID  # "sent" after "delivered"
    _post_meta(client, meta_company, late, django_capture_on_commit_callbacks)
    message.refresh_from_db()
    assert message.status == Message.Status.DELIVERED
    assert list(message.status_changes.order_by("pk").values_list("status", "applied")) == [
        ("delivered", True),
        ("sent", False),  # kept in the history, not announced
    ]
    assert [p["status"] for p in payloads()] == ["delivered"]


def test_a_message_queued_by_the_door_is_announced_as_queued(subscribe, company):
    subscribe(MESSAGE_STATUS_CHANGED, record)
    EvolutionChannelFactory(company=company, connection_state=Channel.ConnectionState.OPEN)
    message = outbound.send_message(company=company, to="5544999990000", content=content.text("Sua fatura venceu"))
    # One delivery per subscriber that wants it: this test's handler (the campaigns' tracking takes campaign
    # messages only, the Chatwoot bridge failures only).
    wanting = [
        p
        for p in events._subscribers[MESSAGE_STATUS_CHANGED.name]
        if p not in events._wanted.get(MESSAGE_STATUS_CHANGED.name, {})
    ]
    assert events.deliver() == len(wanting)
    event = only_event()
    assert event.company_id == company.pk
    assert dt.datetime.fromisoformat(event.payload.pop("at")) == message.status_at
    assert event.payload == {
        "message_id": message.pk,
        "direction": "out",
        "purpose": "notice",
        "channel_kind": "evolution",
        "status": "queued",
        "error_code": "",
        "error_title": "",
        "pricing": None,
    }


@pytest.fixture
def evolution(db):
    company = CompanyFactory()
    channel = EvolutionChannelFactory(company=company, instance_name=EVOLUTION_INSTANCE, api_key=EVOLUTION_KEY)
    return company, channel


def _post_evolution(client, company, name, capture) -> None:
    with capture(execute=True):
        response = post_evolution(client, company, load_fixture(f"evolution/{name}"))
    assert response.status_code == 200, response.content


def test_a_message_typed_on_the_business_phone_is_no_inbound_message_event(
    client, subscribe, evolution, django_capture_on_commit_callbacks
):
    company, _ = evolution
    subscribe(INBOUND_MESSAGE_RECORDED, record)
    _post_evolution(client, company, "messages_upsert_from_me_phone.json", django_capture_on_commit_callbacks)
    assert Message.objects.get(company=company).direction == Message.Direction.OUTBOUND
    assert CALLS == []
    _post_evolution(client, company, "messages_upsert_text.json", django_capture_on_commit_callbacks)
    inbound = Message.objects.get(company=company, direction=Message.Direction.INBOUND)
    assert [p["message_id"] for p in payloads()] == [inbound.pk]  # only the customer's
    assert not EventDelivery.objects.exists()


def test_an_evolution_connection_update_gives_channel_connection_changed_once_and_the_same_state_again_none(
    client, subscribe, evolution, django_capture_on_commit_callbacks
):
    company, channel = evolution
    subscribe(events.CHANNEL_CONNECTION_CHANGED, record)
    _post_evolution(client, company, "connection_update_open.json", django_capture_on_commit_callbacks)
    event = only_event()
    assert (event.topic, event.company_id) == ("channel_connection_changed", company.pk)
    assert event.payload == {"channel_id": channel.pk, "state": "open", "reason": "200"}
    channel.refresh_from_db()
    assert channel.connection_state == Channel.ConnectionState.OPEN
    _post_evolution(client, company, "connection_update_open.json", django_capture_on_commit_callbacks)
    assert len(CALLS) == 1
    _post_evolution(client, company, "connection_update_close_logged_out.json", django_capture_on_commit_callbacks)
    assert [p["state"] for p in payloads()] == ["open", "close"]
    assert not EventDelivery.objects.exists()


def test_a_template_status_webhook_for_a_known_template_gives_template_status_changed(
    client, subscribe, meta_company, django_capture_on_commit_callbacks
):
    subscribe(TEMPLATE_STATUS_CHANGED, record)
    template = Template.objects.create(
        company=meta_company,
        waba_id=WABA,
        name="abandoned_cart",
        language="en",
        status=Template.Status.PENDING,
        meta_template_id="1689556908129835",
    )
    payload = load_fixture("meta/message_template_status_update_rejected.json")
    _post_meta(client, meta_company, payload, django_capture_on_commit_callbacks)
    template.refresh_from_db()
    assert template.status == "REJECTED"
    event = only_event()
    assert (event.topic, event.company_id) == ("template_status_changed", meta_company.pk)
    assert event.payload == {
        "template_id": template.pk,
        "name": "abandoned_cart",
        "language": "en",
        "status": "REJECTED",
        "reason": template.rejection_reason,
        "source": "webhook",
    }
    assert event.payload["reason"].startswith("Your template has parameters placed next to each other")
    _post_meta(client, meta_company, payload, django_capture_on_commit_callbacks)  # the same notice again
    assert len(CALLS) == 1


# ------------------------------------------------------------------------------ channel health


def _queued_message(channel: Channel) -> Message:
    contact = Contact.objects.create(company=channel.company, phone="5544999990000", wa_id="5544999990000")
    now = timezone.now()
    return Message.objects.create(
        company=channel.company,
        channel=channel,
        contact=contact,
        direction=Message.Direction.OUTBOUND,
        author=Message.Author.SYSTEM,
        type="text",
        text="Sua fatura venceu",
        status=Message.Status.QUEUED,
        status_at=now,
        next_attempt_at=now,
    )


def test_set_channel_health_stops_and_resumes_a_channel_returning_whether_it_changed(cloud_channel):
    _queued_message(cloud_channel)
    assert [c.pk for c in outbox.due_channels()] == [cloud_channel.pk]

    assert services.set_channel_health(
        channel=cloud_channel, health=Channel.Health.AUTH_FAILED, reason="(#190) token expired"
    )
    cloud_channel.refresh_from_db()
    assert (cloud_channel.health, cloud_channel.health_reason) == ("auth_failed", "(#190) token expired")
    stopped_at = cloud_channel.health_changed_at
    assert stopped_at is not None
    assert outbox.due_channels() == []
    assert not services.set_channel_health(channel=cloud_channel, health=Channel.Health.AUTH_FAILED, reason="again")
    cloud_channel.refresh_from_db()
    assert (cloud_channel.health_reason, cloud_channel.health_changed_at) == ("(#190) token expired", stopped_at)

    assert services.set_channel_health(channel=cloud_channel, health=Channel.Health.OK)
    cloud_channel.refresh_from_db()
    assert (cloud_channel.health, cloud_channel.health_reason) == ("ok", "")
    assert [c.pk for c in outbox.due_channels()] == [cloud_channel.pk]
    assert not services.set_channel_health(channel=cloud_channel, health=Channel.Health.OK)


@pytest.mark.django_db
def test_a_subscriber_with_a_test_gets_only_the_events_it_wants():
    topic = Topic("test_wanted_only")

    def everything(events):
        pass

    def failures(events):
        pass

    topic.subscribe(everything)
    topic.subscribe(failures, when=lambda payload: payload["status"] == "failed")
    try:
        topic.emit_many([(None, {"status": "delivered"}), (None, {"status": "failed"})])
        written = sorted(
            (row.handler.rsplit(".", 1)[-1], row.payload["status"])
            for row in EventDelivery.objects.filter(topic=topic.name)
        )
        assert written == [("everything", "delivered"), ("everything", "failed"), ("failures", "failed")]
    finally:
        topic.unsubscribe(everything)
        topic.unsubscribe(failures)
