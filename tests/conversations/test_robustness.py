"""Hostile or broken payloads: never a 500, never a stuck event, nothing stored twice, no secret kept."""

import datetime as dt
import json

import pytest
from django.utils import timezone

from conversations.models import AccountNotice, Contact, Message, MessageStatusChange, PendingStatus, WebhookEvent
from conversations.services import webhook_events
from tests.conftest import load_fixture, post_evolution, post_meta
from tests.factories import CloudChannelFactory, CompanyFactory, EvolutionChannelFactory

PNID, WABA = "106540352242922", "102290129340398"


@pytest.fixture
def company(db):
    company = CompanyFactory(meta_app_secret="app-secret")
    CloudChannelFactory(company=company, phone_number_id=PNID, waba_id=WABA)
    return company


def _text_payload(**message_overrides) -> dict:
    payload = load_fixture("meta/message_text.json")
    payload["entry"][0]["changes"][0]["value"]["messages"][0].update(message_overrides)
    return payload


def _deliver(client, company, payload, capture):
    with capture(execute=True):
        response = post_meta(client, company, payload)
    assert response.status_code == 200, response.content
    return WebhookEvent.objects.order_by("pk").last()


@pytest.mark.parametrize(
    "payload",
    [
        {"object": "whatsapp_business_account", "entry": 5},
        {"object": "whatsapp_business_account", "entry": [{"id": WABA, "changes": 5}]},
        {"object": "whatsapp_business_account", "entry": [{"id": WABA, "changes": [1, "x"]}]},
        {
            "object": "whatsapp_business_account",
            "entry": [{"id": WABA, "changes": [{"field": "messages", "value": [1]}]}],
        },
        {
            "object": "whatsapp_business_account",
            "entry": [{"id": WABA, "changes": [{"field": "messages", "value": "s"}]}],
        },
        {
            "object": "whatsapp_business_account",
            "entry": [{"id": WABA, "changes": [{"field": "messages", "value": {"metadata": [PNID], "messages": {}}}]}],
        },
    ],
)
def test_wrongly_typed_signed_payloads_never_500(client, company, payload, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = post_meta(client, company, payload)
    assert response.status_code == 200  # authentic and ours: stored, whatever its values
    event = WebhookEvent.objects.get()
    assert event.state == WebhookEvent.State.PROCESSED, event.error


@pytest.mark.parametrize("path", ["meta", "evolution", "api"])
def test_deeply_nested_json_is_400(client, company, platform_token, path):
    body = b"[" * 100_000 + b"]" * 100_000
    if path == "meta":
        response = post_meta(client, company, body)
    elif path == "evolution":
        response = client.post(f"/webhooks/evolution/{company.contract}/", data=body, content_type="application/json")
    else:
        response = client.post(
            "/api/v1/companies/",
            data=body,
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {platform_token}",
        )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"


def test_one_unreadable_message_does_not_cost_the_others(client, company, django_capture_on_commit_callbacks):
    payload = load_fixture("meta/message_text.json")
    value = payload["entry"][0]["changes"][0]["value"]
    good = value["messages"][0]
    value["messages"] = [
        {**good, "id": "wamid.one"},
        "junk",
        {**good, "id": "wamid.two", "context": "not-an-object"},
        {**good, "id": "wamid.three", "timestamp": "9" * 30},
    ]
    event = _deliver(client, company, payload, django_capture_on_commit_callbacks)
    assert event.state == WebhookEvent.State.PROCESSED
    assert set(Message.objects.values_list("provider_id", flat=True)) == {"wamid.one", "wamid.two", "wamid.three"}
    assert "1 unsupported" in event.summary


def test_values_the_database_cannot_hold_are_cleaned(client, company, django_capture_on_commit_callbacks):
    payload = _text_payload(type="t" * 40, id="wamid." + "x" * 200, text={"body": "nul\u0000 and \ud800 here"})
    payload["entry"][0]["changes"][0]["value"]["messages"][0]["t" * 40] = {"body": "x"}
    location = load_fixture("meta/message_location.json")
    location["entry"][0]["changes"][0]["value"]["messages"][0]["location"]["latitude"] = float("nan")
    _deliver(client, company, payload, django_capture_on_commit_callbacks)
    _deliver(client, company, json.dumps(location).encode(), django_capture_on_commit_callbacks)
    assert WebhookEvent.objects.filter(state=WebhookEvent.State.PROCESSED).count() == 2
    weird = Message.objects.get(provider_id__startswith="wamid.xxx")
    assert (len(weird.type), len(weird.provider_id)) == (24, 128)
    assert Message.objects.filter(type="location").get().data["latitude"] is None


def test_an_event_that_keeps_failing_ends_failed_not_pending(company):
    event = WebhookEvent.objects.create(company=company, source="meta", body='{"object": "whatsapp_business_account"')
    from conversations import tasks

    tasks.process_webhook_event(event.pk)
    event.refresh_from_db()
    assert event.state == WebhookEvent.State.FAILED
    assert "JSONDecodeError" in event.error
    assert webhook_events.requeue_stale(older_than=dt.timedelta(0)) == 0


def test_transient_errors_release_the_event_until_attempts_run_out(company):
    event = WebhookEvent.objects.create(company=company, source="meta", body="{}")
    WebhookEvent.objects.filter(pk=event.pk).update(attempts=3)
    assert webhook_events.release_for_retry(event_id=event.pk, error="db down")
    event.refresh_from_db()
    assert event.state == WebhookEvent.State.PENDING
    WebhookEvent.objects.filter(pk=event.pk).update(attempts=webhook_events.MAX_ATTEMPTS)
    assert not webhook_events.release_for_retry(event_id=event.pk, error="db down")
    event.refresh_from_db()
    assert event.state == WebhookEvent.State.FAILED


def test_an_event_is_processed_by_one_worker_at_a_time(company):
    event = WebhookEvent.objects.create(
        company=company, source="meta", body=json.dumps(load_fixture("meta/message_text.json"))
    )
    assert webhook_events._claim(event.pk, force=False)
    assert webhook_events.process_webhook_event(event_id=event.pk) is None  # another worker holds it
    # The holder died: once its lease is over the sweeper hands the event out again.
    WebhookEvent.objects.filter(pk=event.pk).update(claimed_at=timezone.now() - dt.timedelta(minutes=10))
    assert webhook_events.requeue_stale(older_than=dt.timedelta(minutes=2)) == 1
    assert WebhookEvent.objects.get(pk=event.pk).state == WebhookEvent.State.PROCESSED


def test_replaying_statuses_and_notices_creates_nothing_twice(client, company, django_capture_on_commit_callbacks):
    status = _deliver(client, company, load_fixture("meta/status_delivered.json"), django_capture_on_commit_callbacks)
    _deliver(client, company, load_fixture("meta/status_delivered.json"), django_capture_on_commit_callbacks)
    notice_payload = load_fixture("meta/message_template_status_update_approved.json")
    notice_payload["entry"][0]["id"] = WABA
    notice = _deliver(client, company, notice_payload, django_capture_on_commit_callbacks)
    for event in (status, notice):
        webhook_events.process_webhook_event(event_id=event.pk, force=True)
    assert PendingStatus.objects.count() == 1
    assert AccountNotice.objects.count() == 1


def test_the_same_receipt_twice_is_one_history_entry(client, company, django_capture_on_commit_callbacks):
    _deliver(client, company, load_fixture("meta/message_text.json"), django_capture_on_commit_callbacks)
    message = Message.objects.get()
    status = load_fixture("meta/status_delivered.json")
    status["entry"][0]["changes"][0]["value"]["statuses"][0]["id"] = message.provider_id
    Message.objects.filter(pk=message.pk).update(direction="out", author="bot", status="sent")
    for _ in range(3):
        _deliver(client, company, status, django_capture_on_commit_callbacks)
    assert MessageStatusChange.objects.filter(message=message).count() == 1
    # Skipped as already known, not refused by the unique constraint (that would fail the event).
    assert set(WebhookEvent.objects.values_list("state", flat=True)) == {WebhookEvent.State.PROCESSED}


def test_a_user_id_contact_and_a_phone_contact_merge_when_a_message_links_them(
    client, company, django_capture_on_commit_callbacks
):
    payload = load_fixture("meta/v25_sample_incoming.json")
    pnid = payload["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"]
    CloudChannelFactory(company=company, phone_number_id=pnid, waba_id="1")
    Contact.objects.create(company=company, phone="16315551181", name="by phone")
    Contact.objects.create(company=company, user_id="US.13491208655302741918", name="by user id")
    event = _deliver(client, company, payload, django_capture_on_commit_callbacks)
    assert event.state == WebhookEvent.State.PROCESSED, event.summary
    contact = Contact.objects.get()
    assert (contact.phone, contact.user_id) == ("16315551181", "US.13491208655302741918")


def test_a_timestamp_in_the_future_does_not_hold_the_window_open(client, company, django_capture_on_commit_callbacks):
    future = int((timezone.now() + dt.timedelta(days=30)).timestamp())
    _deliver(client, company, _text_payload(timestamp=str(future)), django_capture_on_commit_callbacks)
    contact = Contact.objects.get()
    assert contact.last_inbound_at <= timezone.now()


def test_the_evolution_instance_key_is_not_kept_in_the_stored_body(client, db, django_capture_on_commit_callbacks):
    company = CompanyFactory()
    EvolutionChannelFactory(
        company=company, instance_name="c0a8e5d2-5b1e-4b8e-9a51-3f1d2c4b6a70", api_key="EVO-INSTANCE-TOKEN-0001"
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert post_evolution(client, company, load_fixture("evolution/messages_upsert_text.json")).status_code == 200
    event = WebhookEvent.objects.get()
    assert "EVO-INSTANCE-TOKEN-0001" not in event.body
    assert json.loads(event.body)["apikey"] == "***"
    assert event.state == WebhookEvent.State.PROCESSED


def test_purging_keeps_notices_and_loads_no_bodies(
    client, company, django_capture_on_commit_callbacks, django_assert_max_num_queries
):
    notice_payload = load_fixture("meta/message_template_status_update_approved.json")
    notice_payload["entry"][0]["id"] = WABA
    event = _deliver(client, company, notice_payload, django_capture_on_commit_callbacks)
    WebhookEvent.objects.filter(pk=event.pk).update(received_at=timezone.now() - dt.timedelta(days=30))
    with django_assert_max_num_queries(6) as queries:
        assert webhook_events.purge_processed(older_than=dt.timedelta(days=7)) == 1
    assert not any('"body"' in q["sql"] and "SELECT" in q["sql"] for q in queries.captured_queries)
    assert AccountNotice.objects.get().webhook_event_id is None


@pytest.mark.django_db
def test_a_contact_created_meanwhile_by_another_request_is_refreshed_not_a_500(monkeypatch):
    from conversations.services import inbound
    from conversations.whatsapp.base import InboundContact

    company = CompanyFactory()
    real_create = Contact.objects.create

    def another_request_first(**kwargs):
        # The send API takes no contact lock: a concurrent request inserts the same number first.
        monkeypatch.setattr(Contact.objects, "create", real_create)
        Contact.objects.bulk_create([Contact(company=company, phone=kwargs["phone"], wa_id=kwargs["wa_id"])])
        return real_create(**kwargs)

    monkeypatch.setattr(Contact.objects, "create", another_request_first)
    contact = inbound.upsert_contact(
        company=company, incoming=InboundContact(wa_id="5544998887777", name="Maria da Silva")
    )
    assert Contact.objects.filter(company=company).count() == 1
    assert Contact.objects.get(company=company).pk == contact.pk
    assert contact.name == "Maria da Silva"
