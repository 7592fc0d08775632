"""The inbound lane: a contact's messages are taken in the order they were written, each exactly once."""

import copy
import datetime as dt
import json
import threading
import time

import pytest
import time_machine
from django.db import connection, transaction
from django.db.transaction import TransactionManagementError

from companies.models import Company
from conversations import tasks
from conversations.models import Contact, Message, WebhookEvent
from conversations.services import inbox, webhook_events
from tests.conftest import load_fixture
from tests.factories import CloudChannelFactory, CompanyFactory

META = WebhookEvent.Source.META
PHONE_NUMBER_ID = "106540352242922"  # the number message_text.json arrives on
PHONE = "16505551234"  # its sender
T0 = 1749416383  # its timestamp
FROZEN = dt.datetime(2026, 1, 15, 12, 0, tzinfo=dt.UTC)

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="concurrent consumers need a database with row locks (PostgreSQL)"
)


def _at(seconds: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC)


@pytest.fixture
def company(db) -> Company:
    return CloudChannelFactory(phone_number_id=PHONE_NUMBER_ID).company


@pytest.fixture
def contact(company) -> Contact:
    return Contact.objects.create(company=company, phone=PHONE, wa_id=PHONE)


def _message(
    contact: Contact,
    text: str,
    *,
    at: int = T0,
    event: int | None = None,
    position: int = 0,
    direction: str = Message.Direction.INBOUND,
) -> Message:
    return Message.objects.create(
        company=contact.company,
        contact=contact,
        direction=direction,
        author=Message.Author.CUSTOMER if direction == Message.Direction.INBOUND else Message.Author.BOT,
        type="text",
        text=text,
        provider_timestamp=_at(at),
        source_event_id=event,
        source_position=position,
        status=Message.Status.RECEIVED if direction == Message.Direction.INBOUND else Message.Status.SENT,
    )


def _take(contact: Contact) -> inbox.Taken:
    """One consumer's turn: take the lane in a transaction of its own."""
    with transaction.atomic():
        return inbox.take_unhandled(contact_id=contact.pk)


def _texts(taken: inbox.Taken) -> list[str]:
    return [message.text for message in taken.messages]


def _text_webhook(number: int, *, phone: str = PHONE) -> dict:
    """message_text.json with its own wamid and body, written ``number`` seconds after the fixture's."""
    payload = copy.deepcopy(load_fixture("meta/message_text.json"))
    value = payload["entry"][0]["changes"][0]["value"]
    value["contacts"][0]["wa_id"] = phone
    value["messages"][0].update({"from": phone, "id": f"wamid.lane.{phone}.{number}", "timestamp": str(T0 + number)})
    value["messages"][0]["text"]["body"] = f"message {number}"
    return payload


def _store(company: Company, number: int, *, phone: str = PHONE) -> WebhookEvent:
    body = json.dumps(_text_webhook(number, phone=phone))
    return webhook_events.store_webhook(company=company, source=META, body=body, headers={})


def _held(ids: list[int]) -> list[WebhookEvent]:
    """Claimed events as their drainer reads them, with their companies."""
    return list(WebhookEvent.objects.filter(pk__in=ids).select_related("company").order_by("pk"))


# ------------------------------------------------------------------------------ taking


@pytest.mark.django_db(transaction=True)  # outside the test's own transaction: autocommit, as a bare caller is
def test_taking_the_lane_outside_a_transaction_is_refused_and_takes_nothing():
    contact = Contact.objects.create(company=CompanyFactory(), phone=PHONE)
    message = _message(contact, "oi")
    with pytest.raises(TransactionManagementError):
        inbox.take_unhandled(contact_id=contact.pk)
    message.refresh_from_db()
    assert message.handled_at is None


def test_a_contacts_unhandled_messages_come_in_their_order_once(contact):
    # Created out of order: the lane orders by provider time, then webhook event, position in it, then id.
    _message(contact, "d", at=T0 + 1, event=5, position=0)
    _message(contact, "a", at=T0, event=9, position=0)
    _message(contact, "c", at=T0 + 1, event=3, position=1)
    _message(contact, "b", at=T0 + 1, event=3, position=0)
    _message(contact, "e", at=T0 + 1, event=5, position=0)  # the same key as "d": the id decides
    _message(contact, "f", at=T0 + 2, event=1, position=0)

    with time_machine.travel(FROZEN, tick=False):
        taken = _take(contact)
    assert _texts(taken) == ["a", "b", "c", "d", "e", "f"]
    assert taken.waiting == 0
    assert {message.handled_at for message in taken.messages} == {FROZEN}
    assert set(Message.objects.values_list("handled_at", flat=True)) == {FROZEN}

    again = _take(contact)
    assert (again.messages, again.waiting) == ([], 0)


def test_a_consumer_that_fails_after_taking_leaves_the_messages_for_the_next(contact):
    for text in ("a", "b"):
        _message(contact, text)
    with pytest.raises(RuntimeError), transaction.atomic():
        assert _texts(inbox.take_unhandled(contact_id=contact.pk)) == ["a", "b"]
        raise RuntimeError("the bot crashed before it answered")
    assert not Message.objects.filter(handled_at__isnull=False).exists()
    assert _texts(_take(contact)) == ["a", "b"]


def test_outbound_messages_other_contacts_and_handled_messages_are_never_taken(company, contact):
    other = Contact.objects.create(company=company, phone="5544998887777")
    _message(contact, "sent by the bot", direction=Message.Direction.OUTBOUND)
    _message(other, "someone else's")
    Message.objects.filter(pk=_message(contact, "taken before").pk).update(handled_at=FROZEN)
    _message(contact, "mine")
    assert _texts(_take(contact)) == ["mine"]
    assert _texts(_take(other)) == ["someone else's"]
    assert Message.objects.get(text="sent by the bot").handled_at is None


def test_a_contact_that_no_longer_exists_has_nothing_to_take(db):
    assert _take(Contact(pk=987654)) == inbox.Taken([])


# ------------------------------------------------------------------------------ the order under two drainers


def _record_in_batch(events: list[WebhookEvent]) -> None:
    assert webhook_events.normalise_batch(events)


def _record_one_by_one(events: list[WebhookEvent]) -> None:
    # The careful path, and last first within each batch: recording order is no guide to the lane's order.
    for event in reversed(events):
        webhook_events.mark_done({event.pk: tasks._process_drained(event)})


@pytest.mark.parametrize("record", [_record_in_batch, _record_one_by_one], ids=["batch", "one by one"])
def test_messages_recorded_by_a_later_drainer_wait_for_the_earlier_one(company, record):
    with time_machine.travel(FROZEN, tick=False):
        stored = [_store(company, number) for number in range(100)]
        first, second = webhook_events.claim_batch(50), webhook_events.claim_batch(50)
        assert (first, second) == ([e.pk for e in stored[:50]], [e.pk for e in stored[50:]])
        assert set(WebhookEvent.objects.values_list("state", flat=True)) == {WebhookEvent.State.PROCESSING}

        record(_held(second))  # the second drainer finishes first
        taken = _take(Contact.objects.get(company=company))
        assert (taken.messages, taken.waiting) == ([], 50)

        record(_held(first[:25]))
        taken = _take(Contact.objects.get(company=company))
        assert _texts(taken) == [f"message {n}" for n in range(25)]
        assert taken.waiting == 50  # 51-100 still wait: events 26-50 were stored before theirs

        record(_held(first[25:]))
        taken = _take(Contact.objects.get(company=company))
        assert _texts(taken) == [f"message {n}" for n in range(25, 100)]
        assert taken.waiting == 0

    recorded = list(Message.objects.order_by("pk").values_list("text", flat=True))
    assert recorded[:50] != [f"message {n}" for n in range(50)]  # the rows themselves are out of order
    assert Message.objects.filter(handled_at__isnull=True).count() == 0
    assert set(WebhookEvent.objects.values_list("state", flat=True)) == {WebhookEvent.State.PROCESSED}


def test_an_event_unfinished_for_longer_than_the_order_wait_no_longer_holds_later_messages_back(company):
    with time_machine.travel(FROZEN, tick=False) as traveller:
        stuck, after = _store(company, 0), _store(company, 1)
        assert webhook_events.claim_batch(1) == [stuck.pk]  # taken by a worker that never finishes it
        assert webhook_events.claim_batch(1) == [after.pk]
        _record_in_batch(_held([after.pk]))
        contact = Contact.objects.get(company=company)

        traveller.shift(inbox.ORDER_WAIT - dt.timedelta(seconds=1))
        taken = _take(contact)
        assert (taken.messages, taken.waiting) == ([], 1)

        traveller.shift(dt.timedelta(seconds=2))
        assert _texts(_take(contact)) == ["message 1"]


def test_a_failed_earlier_event_holds_nothing_back(company):
    with time_machine.travel(FROZEN, tick=False):
        failed, after = _store(company, 0), _store(company, 1)
        webhook_events.mark_failed(event_id=failed.pk, error="poison")
        assert webhook_events.claim_batch(10) == [after.pk]
        _record_in_batch(_held([after.pk]))
        assert _texts(_take(Contact.objects.get(company=company))) == ["message 1"]


def test_another_companys_unfinished_events_never_hold_this_companys_messages_back(company):
    other = CloudChannelFactory(phone_number_id="106540352240000").company
    with time_machine.travel(FROZEN, tick=False):
        theirs = webhook_events.store_webhook(company=other, source=META, body="{}", headers={})
        mine = _store(company, 0)
        assert webhook_events.claim_batch(10) == [theirs.pk, mine.pk]
        _record_in_batch(_held([mine.pk]))
        taken = _take(Contact.objects.get(company=company))
    assert _texts(taken) == ["message 0"]
    assert taken.waiting == 0
    assert WebhookEvent.objects.get(pk=theirs.pk).state == WebhookEvent.State.PROCESSING


@pytest.mark.parametrize(
    ("source", "fixture"),
    [
        (META, "meta/status_delivered.json"),
        (META, "meta/status_failed.json"),
        (WebhookEvent.Source.EVOLUTION, "evolution/messages_update_read.json"),
        (WebhookEvent.Source.EVOLUTION, "evolution/send_message.json"),
        (WebhookEvent.Source.CHATWOOT, "chatwoot/message_created_outgoing_agent_text.json"),
    ],
)
def test_receipts_echoes_of_our_sends_and_chatwoots_webhooks_never_hold_a_customers_messages(company, source, fixture):
    with time_machine.travel(FROZEN, tick=False):
        receipt = webhook_events.store_webhook(
            company=company, source=source, body=json.dumps(load_fixture(fixture)), headers={}
        )
        mine = _store(company, 0)
        assert webhook_events.claim_batch(10) == [receipt.pk, mine.pk]
        _record_in_batch(_held([mine.pk]))  # the receipt's drainer has not finished it
        taken = _take(Contact.objects.get(company=company))
    assert (_texts(taken), taken.waiting) == (["message 0"], 0)
    assert WebhookEvent.objects.get(pk=receipt.pk).state == WebhookEvent.State.PROCESSING


@pytest.mark.parametrize(
    ("source", "body", "holds"),
    [
        (META, json.dumps(load_fixture("meta/message_text.json")), True),
        (META, json.dumps(load_fixture("meta/status_sent.json")), False),
        (WebhookEvent.Source.EVOLUTION, json.dumps(load_fixture("evolution/messages_upsert_text.json")), True),
        (WebhookEvent.Source.EVOLUTION, json.dumps(load_fixture("evolution/messages_update_delivered.json")), False),
        (
            WebhookEvent.Source.EVOLUTION,
            json.dumps({**load_fixture("evolution/send_message.json"), "event": "SEND_MESSAGE"}),
            False,
        ),
        (WebhookEvent.Source.EVOLUTION, json.dumps(load_fixture("evolution/connection_update_open.json")), True),
        (META, json.dumps(load_fixture("meta/account_update_account_restriction.json")), True),
        (META, "not json", True),
        (META, "[]", True),
        (WebhookEvent.Source.EVOLUTION, '"a string"', True),
    ],
    ids=["message", "status", "upsert", "ack", "echo", "other event", "account", "unparsable", "a list", "a string"],
)
def test_only_what_surely_carries_no_customer_message_is_stored_as_not_holding_the_lane(source, body, holds):
    assert webhook_events.holds_lane(source, body) is holds


def test_under_a_backlog_older_than_the_order_wait_a_later_drainer_still_waits_for_the_earlier_one(company):
    with time_machine.travel(FROZEN, tick=False) as traveller:
        earlier, later = _store(company, 0), _store(company, 1)
        traveller.shift(dt.timedelta(seconds=45))  # a burst: the drainers reach these 45 s after they came
        assert webhook_events.claim_batch(1) == [earlier.pk]
        assert webhook_events.claim_batch(1) == [later.pk]
        _record_in_batch(_held([later.pk]))
        taken = _take(Contact.objects.get(company=company))
        assert (taken.messages, taken.waiting) == ([], 1)


# ------------------------------------------------------------------------------ two consumers at once


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_two_consumers_taking_one_lane_at_once_get_every_message_exactly_once():
    contact = Contact.objects.create(company=CompanyFactory(), phone=PHONE)
    written = [_message(contact, f"before {n}", at=T0 + n).pk for n in range(20)]
    start = threading.Barrier(3, timeout=10)
    taken: dict[str, list[int]] = {"a": [], "b": []}
    failures: list[BaseException] = []
    guard = threading.Lock()

    def all_taken() -> bool:
        with guard:
            return len(taken["a"]) + len(taken["b"]) >= 40

    def consumer(name: str) -> None:
        try:
            start.wait()
            deadline = time.monotonic() + 20
            while not all_taken() and time.monotonic() < deadline:
                with transaction.atomic():
                    got = inbox.take_unhandled(contact_id=contact.pk)
                    time.sleep(0.02)  # the consumer's own work, in the same transaction
                with guard:
                    taken[name] += [message.pk for message in got.messages]
        except BaseException as exc:  # reported by the test, not lost in the thread
            failures.append(exc)
        finally:
            connection.close()

    def writer() -> None:
        try:
            start.wait()
            for n in range(20):
                written.append(_message(contact, f"during {n}", at=T0 + 100 + n).pk)
                time.sleep(0.005)
        except BaseException as exc:
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=consumer, args=(name,)) for name in taken] + [threading.Thread(target=writer)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not failures, failures
    assert not set(taken["a"]) & set(taken["b"])
    assert sorted(taken["a"] + taken["b"]) == sorted(written)
    assert not Message.objects.filter(handled_at__isnull=True).exists()
