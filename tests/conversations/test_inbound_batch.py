"""A drained batch is recorded in a few statements and makes exactly what the careful path makes item by item."""

import copy
import datetime as dt
import json
import threading

import pytest
import time_machine
from django.db import connection

from companies.models import Channel, Company
from conversations import tasks
from conversations.models import AccountNotice, Contact, Message, MessageStatusChange, PendingStatus, WebhookEvent
from conversations.services import inbound_batch, webhook_events
from conversations.whatsapp import cloud_webhook
from templates_meta import services as template_notices
from tests.conftest import FIXTURES, load_fixture
from tests.factories import CloudChannelFactory, CompanyFactory, EvolutionChannelFactory

pytestmark = pytest.mark.django_db

META, EVOLUTION = WebhookEvent.Source.META, WebhookEvent.Source.EVOLUTION
META_FIXTURES = sorted(p.name for p in (FIXTURES / "meta").glob("*.json"))
# send_message.json is Evolution's answer to a send, not a webhook.
EVOLUTION_FIXTURES = sorted(p.name for p in (FIXTURES / "evolution").glob("*.json") if p.name != "send_message.json")
INSTANCE = "c0a8e5d2-5b1e-4b8e-9a51-3f1d2c4b6a70"  # the instance every Evolution fixture names
PHONE_NUMBER_ID = "106540352242922"  # the number message_text.json and the status fixtures arrive on
V25_PHONE_NUMBER_ID = "123456123"  # the number of the v25_sample_* fixtures (with business-scoped user ids)
V25_PHONE, V25_USER_ID, V25_WAMID = "16315551181", "US.13491208655302741918", "ABGGFlA5Fpa"
T0 = 1749416383  # message_text.json's timestamp
FROZEN = dt.datetime(2026, 1, 15, 12, 0, tzinfo=dt.UTC)  # payloads without a time of their own are stamped now

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="concurrent writers need a database with row locks (PostgreSQL)"
)


def _at(seconds: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC)


def _meta_company(payload: dict) -> Company:
    """A company owning every phone number and WABA the payload names (as test_normalize_meta builds it)."""
    company = CompanyFactory()
    numbers, wabas = {}, set()
    for waba_id, _field, value in cloud_webhook.changes(payload):
        wabas.add(waba_id)
        if phone_number_id := cloud_webhook.phone_number_id_of(value):
            numbers[phone_number_id] = waba_id
    for phone_number_id, waba_id in numbers.items():
        CloudChannelFactory(company=company, phone_number_id=phone_number_id, waba_id=waba_id)
    for waba_id in wabas - set(numbers.values()):
        CloudChannelFactory(company=company, phone_number_id="", waba_id=waba_id)
    return company


def _evolution_company() -> Company:
    return EvolutionChannelFactory(instance_name=INSTANCE).company


def _store(company: Company, source: str, payload: dict | str) -> WebhookEvent:
    body = payload if isinstance(payload, str) else json.dumps(payload)
    return webhook_events.store_webhook(company=company, source=source, body=body, headers={})


def _claimed(*events: WebhookEvent) -> list[WebhookEvent]:
    """The events as a drainer holds them: claimed, then read with their companies."""
    ids = webhook_events.claim_batch(len(events) + 1)
    assert ids == [event.pk for event in events]  # nothing else was pending
    return list(WebhookEvent.objects.filter(pk__in=ids).select_related("company").order_by("pk"))


def _batch(*events: WebhookEvent) -> None:
    assert webhook_events.normalise_batch(_claimed(*events)), "the batch failed and would be taken one by one"


def _text(number: int, *, phone: str = "16505551234", at: int = T0, name: str = "Sheena Nelson") -> dict:
    """message_text.json from ``phone``, with its own wamid, body and time."""
    payload = copy.deepcopy(load_fixture("meta/message_text.json"))
    value = payload["entry"][0]["changes"][0]["value"]
    value["contacts"][0].update(wa_id=phone, profile={"name": name})
    value["messages"][0].update({"from": phone, "id": f"wamid.batch.{number}", "timestamp": str(at)})
    value["messages"][0]["text"]["body"] = f"message {number}"
    return payload


def _summaries(*events: WebhookEvent) -> list[tuple[str, str]]:
    rows = dict(WebhookEvent.objects.filter(pk__in=[e.pk for e in events]).values_list("pk", "summary"))
    states = dict(WebhookEvent.objects.filter(pk__in=[e.pk for e in events]).values_list("pk", "state"))
    return [(states[e.pk], rows[e.pk]) for e in events]


# ------------------------------------------------------------------------------ the same records as the careful path


def _sorted(rows: list[dict]) -> list[dict]:
    return sorted(rows, key=lambda row: json.dumps(row, sort_keys=True, default=str))


def _kind(channel: Channel | None) -> str | None:
    return channel.kind if channel else None


def _recorded(company: Company) -> dict[str, list[dict]]:
    """What recording made for ``company``, field by field: no ids, no times of creation or processing."""
    event_ids = list(WebhookEvent.objects.filter(company=company).order_by("pk").values_list("pk", flat=True))
    # Which of the company's webhooks a row came from, as its place among them (ids differ per company).
    place = {pk: index for index, pk in enumerate(event_ids)}
    messages = Message.objects.filter(company=company).select_related("contact", "channel")
    return {
        "messages": _sorted(
            [
                {
                    "direction": m.direction,
                    "author": m.author,
                    "type": m.type,
                    "text": m.text,
                    "data": m.data,
                    "raw": m.raw,
                    "provider_id": m.provider_id,
                    "reply_to_provider_id": m.reply_to_provider_id,
                    "provider_timestamp": m.provider_timestamp,
                    "status": m.status,
                    "status_at": m.status_at,
                    "error_code": m.error_code,
                    "pricing": m.pricing,
                    "media": m.media,
                    "media_status": m.media_status,
                    "source_event": place.get(m.source_event_id),
                    "source_position": m.source_position,
                    "handled_at": m.handled_at,
                    "contact": (m.contact.phone, m.contact.user_id),
                    "channel": _kind(m.channel),
                }
                for m in messages
            ]
        ),
        "contacts": _sorted(
            [
                {
                    "phone": c.phone,
                    "wa_id": c.wa_id,
                    "user_id": c.user_id,
                    "name": c.name,
                    "username": c.username,
                    "last_inbound_at": c.last_inbound_at,
                }
                for c in Contact.objects.filter(company=company)
            ]
        ),
        "history": _sorted(
            [
                {
                    "provider_id": h.message.provider_id,
                    "status": h.status,
                    "at": h.at,
                    "error_code": h.error_code,
                    "error_title": h.error_title,
                    "applied": h.applied,
                    "raw": h.raw,
                }
                for h in MessageStatusChange.objects.filter(message__company=company).select_related("message")
            ]
        ),
        "pending": _sorted(
            [
                {
                    "provider_id": p.provider_id,
                    "status": p.status,
                    "at": p.at,
                    "error_code": p.error_code,
                    "error_title": p.error_title,
                    "pricing": p.pricing,
                    "raw": p.raw,
                    "channel": _kind(p.channel),
                }
                for p in PendingStatus.objects.filter(company=company).select_related("channel")
            ]
        ),
        "notices": _sorted(
            [
                {
                    "field": n.field,
                    "value": n.value,
                    "handled": n.handled,
                    "source_event": place.get(n.webhook_event_id),
                    "position": n.position,
                    "channel": _kind(n.channel),
                }
                for n in AccountNotice.objects.filter(company=company).select_related("channel")
            ]
        ),
        "events": [
            {"state": state, "summary": summary}
            for state, summary in WebhookEvent.objects.filter(company=company)
            .order_by("pk")
            .values_list("state", "summary")
        ],
        "channels": [
            {"kind": kind, "state": state, "reason": reason, "qr_code": qr_code}
            for kind, state, reason, qr_code in Channel.objects.filter(company=company)
            .order_by("pk")
            .values_list("kind", "connection_state", "connection_reason", "qr_code")
        ],
    }


def _move_channels_aside(company: Company) -> None:
    """Free the phone number ids and instances ``company`` owns for the next company (they are unique)."""
    for channel in Channel.objects.filter(company=company):
        if channel.phone_number_id:
            channel.phone_number_id = f"moved-{channel.pk}"
        if channel.instance_name:
            channel.instance_name = f"moved-{channel.pk}"
        channel.save()  # the signals drop the cached lookups of the old values


def _both_ways(body: str, source: str, new_company) -> tuple[dict, dict]:
    """``body`` recorded through a drained batch in one company and event by event in another."""
    with time_machine.travel(FROZEN, tick=False):
        batched = new_company()
        _batch(_store(batched, source, body))
        by_batch = _recorded(batched)
        _move_channels_aside(batched)
        careful = new_company()
        event = _store(careful, source, body)
        assert webhook_events.process_webhook_event(event_id=event.pk) is not None
        return by_batch, _recorded(careful)


@pytest.mark.parametrize("name", META_FIXTURES)
def test_every_meta_fixture_recorded_in_a_batch_makes_what_the_careful_path_makes(name):
    body = (FIXTURES / "meta" / name).read_text()
    by_batch, careful = _both_ways(body, META, lambda: _meta_company(json.loads(body)))
    assert by_batch == careful
    assert by_batch["events"][0]["state"] == WebhookEvent.State.PROCESSED


@pytest.mark.parametrize("name", EVOLUTION_FIXTURES)
def test_every_evolution_fixture_recorded_in_a_batch_makes_what_the_careful_path_makes(name):
    body = (FIXTURES / "evolution" / name).read_text()
    by_batch, careful = _both_ways(body, EVOLUTION, _evolution_company)
    assert by_batch == careful
    assert by_batch["events"][0]["state"] == WebhookEvent.State.PROCESSED


def test_the_comparison_sees_what_was_recorded():
    # Guards the test above against comparing two empty snapshots: a text message fills every part it names.
    body = (FIXTURES / "meta" / "message_text.json").read_text()
    by_batch, _ = _both_ways(body, META, lambda: _meta_company(json.loads(body)))
    assert [(m["type"], m["text"], m["contact"]) for m in by_batch["messages"]] == [
        ("text", "Does it come in another color?", ("16505551234", ""))
    ]
    assert by_batch["contacts"][0]["last_inbound_at"] == _at(T0)
    assert by_batch["events"] == [{"state": "processed", "summary": "1 message"}]


def _receipts_as_one(recorded: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """``recorded`` with a receipt's outcome counted as ``receipt``, applied or pending.

    A batch records its messages before its receipts, so a receipt stored before its message in the same batch
    is a ``status`` (or an ``orphan``, naming a customer's message) there and a ``pending_status`` item by
    item; what either made is compared in full (the history, the pending statuses).
    """
    events = [
        {
            **event,
            "summary": event["summary"]
            .replace("pending_status", "receipt")
            .replace("status", "receipt")
            .replace("orphan", "receipt"),
        }
        for event in recorded["events"]
    ]
    return {**recorded, "events": events}


@pytest.mark.parametrize("source", [META, EVOLUTION])
def test_all_of_a_providers_fixtures_in_one_batch_make_what_the_careful_path_makes_of_them_in_turn(source):
    # One user across several webhooks (Evolution's LID, the old number without the ninth digit, the echo of
    # the business's own message), receipts stored before their messages (a deletion, the v25 receipts),
    # notices and connection updates side by side in one batch.
    names = META_FIXTURES if source == META else EVOLUTION_FIXTURES
    bodies = [(FIXTURES / source / name).read_text() for name in names]
    new_company = (lambda: _meta_company(_merged(bodies))) if source == META else _evolution_company
    with time_machine.travel(FROZEN, tick=False):
        batched = new_company()
        _batch(*[_store(batched, source, body) for body in bodies])
        by_batch = _recorded(batched)
        _move_channels_aside(batched)
        careful = new_company()
        for body in bodies:
            event = _store(careful, source, body)
            assert webhook_events.process_webhook_event(event_id=event.pk) is not None
    assert _receipts_as_one(by_batch) == _receipts_as_one(_recorded(careful))
    assert len(by_batch["events"]) == len(names)
    assert all(by_batch[part] for part in ("messages", "contacts", "history", "pending"))


def _merged(bodies: list[str]) -> dict:
    """One Meta payload with every entry of ``bodies``: what a company owning all their numbers needs."""
    return {"entry": [entry for body in bodies for entry in json.loads(body).get("entry", [])]}


def _v25_incoming(wamid: str = V25_WAMID, *, phone: bool = True, user_id: bool = True) -> dict:
    """v25_sample_incoming.json (a user with a phone and a business-scoped user id), without one or the other."""
    payload = load_fixture("meta/v25_sample_incoming.json")
    value = payload["entry"][0]["changes"][0]["value"]
    value["messages"][0]["id"] = wamid
    if not phone:
        del value["contacts"][0]["wa_id"], value["messages"][0]["from"]
    if not user_id:
        del value["contacts"][0]["user_id"], value["messages"][0]["from_user_id"]
    return payload


@pytest.fixture
def v25_company(db) -> Company:
    company = CompanyFactory()
    CloudChannelFactory(company=company, phone_number_id=V25_PHONE_NUMBER_ID)
    CloudChannelFactory(company=company, phone_number_id=PHONE_NUMBER_ID)
    return company


def _inbound(contact: Contact, wamid: str, *, at: dt.datetime | None = None) -> Message:
    return Message.objects.create(
        company=contact.company,
        contact=contact,
        direction=Message.Direction.INBOUND,
        author=Message.Author.CUSTOMER,
        type="text",
        text=wamid,
        provider_id=wamid,
        provider_timestamp=at,
        status=Message.Status.RECEIVED,
    )


def test_a_user_whose_phone_and_user_id_name_two_contacts_is_merged_and_the_batch_still_succeeds(v25_company):
    by_phone = Contact.objects.create(company=v25_company, phone=V25_PHONE, wa_id=V25_PHONE)
    by_user_id = Contact.objects.create(company=v25_company, user_id=V25_USER_ID, last_inbound_at=_at(T0))
    _inbound(by_user_id, "wamid.seen-by-user-id")
    both = _store(v25_company, META, _v25_incoming())
    neighbour = _store(v25_company, META, _text(1))  # recorded in bulk beside the merge
    _batch(both, neighbour)
    assert not Contact.objects.filter(pk=by_user_id.pk).exists()
    merged = Contact.objects.get(pk=by_phone.pk)
    assert (merged.phone, merged.user_id, merged.name, merged.username) == (
        V25_PHONE,
        V25_USER_ID,
        "test user name",
        "@testusername",
    )
    assert merged.last_inbound_at == _at(T0)  # the merged contact's later window, not the 2017 message's
    assert set(merged.messages.values_list("provider_id", flat=True)) == {"wamid.seen-by-user-id", V25_WAMID}
    assert Message.objects.get(provider_id="wamid.batch.1").contact.phone == "16505551234"
    assert _summaries(both, neighbour) == [("processed", "1 message")] * 2


@pytest.mark.django_db(transaction=True)  # the batch commits for real: deferred foreign keys are checked then
def test_a_merge_in_a_batch_keeps_the_batchs_other_messages_of_the_merged_contact(v25_company):
    by_phone = Contact.objects.create(company=v25_company, phone=V25_PHONE, wa_id=V25_PHONE)
    by_user_id = Contact.objects.create(company=v25_company, user_id=V25_USER_ID)
    only_user_id = WebhookEvent.objects.create(
        company=v25_company, source=META, body=json.dumps(_v25_incoming("wamid.first", phone=False)), headers={}
    )
    both = WebhookEvent.objects.create(
        company=v25_company, source=META, body=json.dumps(_v25_incoming("wamid.second")), headers={}
    )
    assert webhook_events.normalise_batch(_claimed(only_user_id, both))
    assert not Contact.objects.filter(pk=by_user_id.pk).exists()
    assert set(Message.objects.values_list("provider_id", "contact_id")) == {
        ("wamid.first", by_phone.pk),
        ("wamid.second", by_phone.pk),
    }


def test_a_user_id_another_contact_holds_stays_there_and_the_batch_still_succeeds(v25_company):
    # Two people claim the id (a number changed hands): the phone match gets the message, the id stays put.
    by_phone = Contact.objects.create(company=v25_company, phone=V25_PHONE, wa_id=V25_PHONE)
    holder = Contact.objects.create(company=v25_company, phone="5544990001111", user_id=V25_USER_ID)
    event = _store(v25_company, META, _v25_incoming())
    _batch(event)
    by_phone.refresh_from_db()
    holder.refresh_from_db()
    assert (by_phone.user_id, holder.user_id) == ("", V25_USER_ID)
    assert Message.objects.get().contact_id == by_phone.pk


# ------------------------------------------------------------------------------ duplicates and the window


@pytest.fixture
def cloud_company(db) -> Company:
    return CloudChannelFactory(phone_number_id=PHONE_NUMBER_ID).company


def test_a_wamid_twice_in_a_batch_and_again_in_a_later_batch_is_one_message(cloud_company):
    first, again = _store(cloud_company, META, _text(1)), _store(cloud_company, META, _text(1))
    _batch(first, again)
    later = _store(cloud_company, META, _text(1))
    _batch(later)
    assert list(Message.objects.values_list("provider_id", "text")) == [("wamid.batch.1", "message 1")]
    assert Message.objects.get().source_event_id == first.pk
    assert _summaries(first, again, later) == [
        ("processed", "1 message"),
        ("processed", "1 duplicate"),
        ("processed", "1 duplicate"),
    ]


def test_a_webhook_carrying_one_message_twice_records_it_once(cloud_company):
    payload = _text(1)
    messages = payload["entry"][0]["changes"][0]["value"]["messages"]
    messages.append(copy.deepcopy(messages[0]))
    event = _store(cloud_company, META, payload)
    _batch(event)
    assert Message.objects.get().source_position == 0
    assert _summaries(event) == [("processed", "1 duplicate, 1 message")]


def test_an_older_message_in_a_batch_leaves_a_newer_window_and_a_newer_one_moves_it(cloud_company):
    contact = Contact.objects.create(
        company=cloud_company, phone="16505551234", wa_id="16505551234", last_inbound_at=_at(T0 + 600)
    )
    _batch(_store(cloud_company, META, _text(1, at=T0)))
    contact.refresh_from_db()
    assert contact.last_inbound_at == _at(T0 + 600)

    # The newest of the batch wins, wherever it comes in the batch.
    _batch(_store(cloud_company, META, _text(2, at=T0 + 1200)), _store(cloud_company, META, _text(3, at=T0 + 900)))
    contact.refresh_from_db()
    assert contact.last_inbound_at == _at(T0 + 1200)
    assert contact.messages.count() == 3


def test_a_new_contact_gets_the_newest_window_of_its_batch(cloud_company):
    _batch(*[_store(cloud_company, META, _text(n, at=T0 + at)) for n, at in enumerate([300, 900, 600])])
    assert list(Contact.objects.values_list("phone", "last_inbound_at")) == [("16505551234", _at(T0 + 900))]


# ------------------------------------------------------------------------------ receipts


def _outbound(company: Company, provider_id: str, *, phone: str = V25_PHONE) -> Message:
    contact = Contact.objects.get_or_create(company=company, phone=phone, defaults={"wa_id": phone})[0]
    return Message.objects.create(
        company=company,
        channel=company.channels.first(),
        contact=contact,
        direction=Message.Direction.OUTBOUND,
        author=Message.Author.BOT,
        type="template",
        provider_id=provider_id,
        status=Message.Status.SENDING,
        status_at=_at(1504902900),
    )


def _history(message: Message) -> list[tuple[str, bool]]:
    return list(message.status_changes.order_by("pk").values_list("status", "applied"))


def test_sent_delivered_and_read_in_one_batch_end_read_with_their_history(v25_company):
    message = _outbound(v25_company, V25_WAMID)
    receipts = [
        _store(v25_company, META, load_fixture(f"meta/v25_sample_{s}.json")) for s in ("sent", "delivered", "read")
    ]
    _batch(*receipts)
    message.refresh_from_db()
    assert message.status == Message.Status.READ
    assert message.pricing["category"] == "marketing"  # from the first receipt that had it
    assert _history(message) == [("sent", True), ("delivered", True), ("read", True)]
    assert _summaries(*receipts) == [("processed", "1 status")] * 3


def test_a_late_delivered_after_read_in_one_batch_is_kept_but_not_applied(v25_company):
    message = _outbound(v25_company, V25_WAMID)
    _batch(*[_store(v25_company, META, load_fixture(f"meta/v25_sample_{s}.json")) for s in ("read", "delivered")])
    message.refresh_from_db()
    assert message.status == Message.Status.READ
    assert _history(message) == [("read", True), ("delivered", False)]


@pytest.fixture
def evolution_company(db) -> Company:
    return _evolution_company()


def _business_echo(wamid: str) -> dict:
    """messages_upsert_from_me_phone.json: the business's own message, as its echo names it."""
    payload = load_fixture("evolution/messages_upsert_from_me_phone.json")
    payload["data"]["key"]["id"] = wamid
    return payload


def test_a_receipt_for_an_unknown_message_waits_and_applies_when_its_echo_comes_in_a_later_batch(evolution_company):
    wamid = load_fixture("evolution/messages_update_read.json")["data"]["keyId"]
    receipt = _store(evolution_company, EVOLUTION, load_fixture("evolution/messages_update_read.json"))
    _batch(receipt)
    assert list(PendingStatus.objects.values_list("provider_id", "status")) == [(wamid, "read")]
    assert _summaries(receipt) == [("processed", "1 pending_status")]

    echo = _store(evolution_company, EVOLUTION, _business_echo(wamid))
    _batch(echo)
    message = Message.objects.get(provider_id=wamid)
    assert (message.direction, message.author, message.status) == ("out", "business", "read")
    assert _history(message) == [("read", True)]
    assert not PendingStatus.objects.exists()
    assert _summaries(echo) == [("processed", "1 business_message")]


def test_a_receipt_before_its_echo_in_the_same_batch_is_applied_at_once(evolution_company):
    wamid = load_fixture("evolution/messages_update_read.json")["data"]["keyId"]
    receipt = _store(evolution_company, EVOLUTION, load_fixture("evolution/messages_update_read.json"))
    echo = _store(evolution_company, EVOLUTION, _business_echo(wamid))
    _batch(receipt, echo)
    assert Message.objects.get(provider_id=wamid).status == Message.Status.READ
    assert not PendingStatus.objects.exists()


def test_a_customers_deletion_recorded_before_the_message_is_applied_when_the_message_comes(evolution_company):
    deletion = _store(evolution_company, EVOLUTION, load_fixture("evolution/messages_delete.json"))
    _batch(deletion)  # a second drainer finished the later webhook first
    _batch(_store(evolution_company, EVOLUTION, load_fixture("evolution/messages_upsert_text.json")))
    message = Message.objects.get(provider_id="3EB0C767D26A1D2F4B")
    assert not PendingStatus.objects.exists()
    assert message.status == Message.Status.DELETED


# ------------------------------------------------------------------------------ failures


def _broken(company: Company) -> WebhookEvent:
    return WebhookEvent.objects.create(
        company=company, source=META, body='{"object": "whatsapp_business_account", "entry": [', headers={}
    )


def test_an_unparseable_event_fails_its_batch_which_leaves_nothing_behind(cloud_company):
    events = [_store(cloud_company, META, _text(0)), _broken(cloud_company), _store(cloud_company, META, _text(2))]
    assert not webhook_events.normalise_batch(_claimed(*events))
    assert not Message.objects.exists()
    assert not Contact.objects.exists()
    assert set(WebhookEvent.objects.values_list("state", "summary")) == {(WebhookEvent.State.PROCESSING, "")}


def test_a_failure_after_the_batch_wrote_its_messages_rolls_them_back(cloud_company, monkeypatch):
    def refuses(*, company, value):
        raise RuntimeError("the template catalogue is broken")

    monkeypatch.setitem(template_notices.NOTICE_HANDLERS, "message_template_status_update", refuses)
    texts = [_store(cloud_company, META, _text(n)) for n in range(3)]
    notice = _store(cloud_company, META, load_fixture("meta/message_template_status_update_rejected.json"))
    assert not webhook_events.normalise_batch(_claimed(*texts, notice))
    assert not Message.objects.exists()
    assert not Contact.objects.exists()
    assert not AccountNotice.objects.exists()
    assert set(WebhookEvent.objects.values_list("state", flat=True)) == {WebhookEvent.State.PROCESSING}

    # Taken one by one the messages are kept and the notice's webhook ends failed, for an operator to replay.
    for event in _claimed_again(*texts, notice):
        webhook_events.mark_done({event.pk: tasks._process_drained(event)})
    assert Message.objects.count() == 3
    assert _summaries(*texts) == [("processed", "1 message")] * 3
    assert _summaries(notice) == [("failed", "1 failed")]


def _claimed_again(*events: WebhookEvent) -> list[WebhookEvent]:
    return list(WebhookEvent.objects.filter(pk__in=[e.pk for e in events]).select_related("company").order_by("pk"))


def test_a_drain_takes_a_failed_batch_one_by_one_and_fails_only_the_bad_event(cloud_company):
    good = [_store(cloud_company, META, _text(n)) for n in range(2)]
    bad = _broken(cloud_company)
    good.append(_store(cloud_company, META, _text(2)))
    assert webhook_events.drain(process=tasks._process_drained, batch=50, seconds=60) == 4
    assert sorted(Message.objects.values_list("text", flat=True)) == ["message 0", "message 1", "message 2"]
    assert _summaries(*good) == [("processed", "1 message")] * 3
    bad.refresh_from_db()
    assert bad.state == WebhookEvent.State.FAILED
    assert bad.error.startswith("JSONDecodeError")
    assert bad.attempts == 1


# ------------------------------------------------------------------------------ cost


def test_a_hundred_webhooks_from_a_hundred_contacts_are_recorded_in_a_few_queries(
    cloud_company, django_assert_max_num_queries
):
    events = [_store(cloud_company, META, _text(n, phone=f"55449900{n:05d}")) for n in range(100)]
    claimed = _claimed(*events)
    # PostgreSQL takes 11 (two of them the savepoint); SQLite 15, its bulk INSERTs split by its variable limit.
    # None of it grows with the number of events: 100 webhooks one by one would take several hundred.
    with django_assert_max_num_queries(14 if connection.vendor == "postgresql" else 18):
        assert webhook_events.normalise_batch(claimed)
    assert Message.objects.count() == 100
    assert Contact.objects.filter(last_inbound_at=_at(T0)).count() == 100
    assert set(WebhookEvent.objects.values_list("state", "summary")) == {("processed", "1 message")}


# ------------------------------------------------------------------------------ two drainers at once


def _drain_at_once(monkeypatch, earlier: WebhookEvent, later: WebhookEvent) -> dict[int, bool]:
    """Record ``earlier`` and ``later`` in two threads, each its own batch, interleaved the worst way.

    Both look the contact up before either writes; the drainer with the later window then commits first,
    so the one with the earlier window writes last.
    """
    both_looked = threading.Barrier(2, timeout=10)
    later_done = threading.Event()
    local = threading.local()
    real_existing = inbound_batch._existing

    def existing(*args):
        found = real_existing(*args)
        if not getattr(local, "looked", False):
            local.looked = True
            both_looked.wait()
            if local.event_id == earlier.pk:
                assert later_done.wait(timeout=10)
        return found

    monkeypatch.setattr(inbound_batch, "_existing", existing)
    recorded: dict[int, bool] = {}
    failures: list[BaseException] = []

    def drainer(event_id: int) -> None:
        local.event_id = event_id
        try:
            events = list(WebhookEvent.objects.filter(pk=event_id).select_related("company"))
            recorded[event_id] = webhook_events.normalise_batch(events)
        except BaseException as exc:  # reported by the test, not lost in the thread
            failures.append(exc)
        finally:
            if event_id == later.pk:
                later_done.set()
            connection.close()

    threads = [threading.Thread(target=drainer, args=(event.pk,)) for event in (earlier, later)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not failures, failures
    return recorded


def _stored_now(company: Company, payload: dict) -> WebhookEvent:
    """A stored webhook no drain is woken for (in these tests commits are real, and so would the drain be)."""
    return WebhookEvent.objects.create(
        company=company, source=META, body=json.dumps(payload), headers={}, state=WebhookEvent.State.PROCESSING
    )


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_two_drainers_naming_the_same_new_contact_make_one_contact_with_the_later_window(monkeypatch):
    company = CloudChannelFactory(phone_number_id=PHONE_NUMBER_ID).company
    earlier = _stored_now(company, _text(1, at=T0))
    later = _stored_now(company, _text(2, at=T0 + 600))
    assert _drain_at_once(monkeypatch, earlier, later) == {earlier.pk: True, later.pk: True}
    contact = Contact.objects.get()
    assert contact.last_inbound_at == _at(T0 + 600)
    assert set(contact.messages.values_list("provider_id", flat=True)) == {"wamid.batch.1", "wamid.batch.2"}


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_a_drainer_that_read_a_contact_before_another_moved_its_window_never_moves_it_back(monkeypatch):
    company = CloudChannelFactory(phone_number_id=PHONE_NUMBER_ID).company
    contact = Contact.objects.create(company=company, phone="16505551234", wa_id="16505551234", last_inbound_at=_at(T0))
    earlier = _stored_now(company, _text(1, at=T0 + 300))
    later = _stored_now(company, _text(2, at=T0 + 600))
    assert _drain_at_once(monkeypatch, earlier, later) == {earlier.pk: True, later.pk: True}
    contact.refresh_from_db()
    assert contact.last_inbound_at == _at(T0 + 600)
