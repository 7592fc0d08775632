"""Every stored Meta payload is accepted and normalised into the right rows."""

import json
from pathlib import Path

import pytest

from companies.models import Channel
from conversations.models import AccountNotice, Contact, Message, PendingStatus, WebhookEvent
from conversations.whatsapp import cloud_webhook
from tests.conftest import FIXTURES, load_fixture, post_meta
from tests.factories import CloudChannelFactory, CompanyFactory

META_FIXTURES = sorted(p.name for p in (FIXTURES / "meta").glob("*.json"))


@pytest.fixture(autouse=True)
def scheduled_downloads(monkeypatch) -> list[int]:
    """Media downloads are their own subject (test_media_pipeline); here they are only recorded."""
    from conversations import tasks

    scheduled: list[int] = []
    monkeypatch.setattr(tasks.download_media, "apply_async", lambda args, **options: scheduled.append(*args))
    return scheduled


def company_for(payload: dict):
    """A company owning every phone number and WABA the payload mentions."""
    company = CompanyFactory(meta_app_secret="app-secret")
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


def deliver(client, name: str, capture) -> tuple:
    payload = load_fixture(f"meta/{name}")
    company = company_for(payload)
    with capture(execute=True):
        response = post_meta(client, company, payload)
    assert response.status_code == 200, response.content
    return company, WebhookEvent.objects.get(company=company)


# The Business app's fields (coexistence): messages and contacts, never notices.
APP_FIELDS = ("smb_message_echoes", "history", "smb_app_state_sync")


def _expected_rows(payload: dict) -> tuple[int, int, int, int]:
    """(messages, pending receipts, contacts synced, notices) a payload names, as Meta describes it."""
    messages = pending = synced = notices = 0
    for _, field, value in cloud_webhook.changes(payload):
        if field == "messages":
            messages += len(value.get("messages") or [])
            pending += len(value.get("statuses") or [])  # receipts of messages we never sent wait for them
            notices += len(value.get("errors") or [])
        elif field == "smb_message_echoes":
            echoes = value["message_echoes"]
            pending += sum(1 for e in echoes if e["type"] == "revoke")  # a deletion of a message we do not have
            messages += sum(1 for e in echoes if e["type"] != "revoke")
        elif field == "history":
            messages += sum(len(t["messages"]) for chunk in value.get("history", []) for t in chunk["threads"])
            messages += len(value.get("messages") or [])
        elif field == "smb_app_state_sync":
            synced += len(value["state_sync"])
        else:
            notices += 1
    return messages, pending, synced, notices


@pytest.mark.django_db
@pytest.mark.parametrize("name", META_FIXTURES)
def test_every_meta_fixture_is_accepted_and_processed(client, name, django_capture_on_commit_callbacks):
    company, event = deliver(client, name, django_capture_on_commit_callbacks)
    assert event.state == WebhookEvent.State.PROCESSED, event.error
    messages, pending, synced, notices = _expected_rows(json.loads(event.body))
    assert Message.objects.filter(company=company).count() == messages
    assert PendingStatus.objects.filter(company=company).count() == pending
    assert Contact.objects.filter(company=company).exclude(saved_name="").count() == synced
    assert AccountNotice.objects.filter(company=company).count() == notices
    assert "unsupported" not in event.summary and "failed" not in event.summary, event.summary


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "type_", "text"),
    [
        ("message_text.json", "text", "Does it come in another color?"),
        ("message_image.json", "image", "Taj Mahal"),
        ("message_document.json", "document", "my receipt"),
        ("message_audio.json", "audio", ""),
        ("message_video.json", "video", None),
        ("message_sticker.json", "sticker", ""),
        ("message_interactive_button_reply.json", "interactive", "Cancel"),
        ("message_interactive_list_reply.json", "interactive", "Priority Mail Express"),
        ("message_button.json", "button", "Unsubscribe"),
        ("message_reaction.json", "reaction", "👍"),
        ("message_contacts.json", "contacts", "Barbara J. Johnson"),
        ("message_order.json", "order", "Love these!"),
        ("message_system_2.json", "system", "User Sheena Nelson changed from 16505551234 to 12195555358"),
        ("message_unsupported.json", "unsupported", ""),
    ],
)
def test_message_types_are_normalised(client, name, type_, text, django_capture_on_commit_callbacks):
    company, _ = deliver(client, name, django_capture_on_commit_callbacks)
    message = Message.objects.get(company=company)
    assert (message.type, message.direction, message.author) == (type_, "in", "customer")
    if text is not None:
        assert message.text == text
    assert message.raw["id"] == message.provider_id
    assert message.channel.kind == Channel.Kind.CLOUD


@pytest.mark.django_db
def test_location_gets_a_google_maps_link(client, django_capture_on_commit_callbacks):
    company, _ = deliver(client, "message_location.json", django_capture_on_commit_callbacks)
    message = Message.objects.get(company=company)
    assert "https://maps.google.com/?q=37.44221496582,-122.16165924072" in message.text
    assert message.text.startswith("Philz Coffee, 101 Forest Ave")
    assert message.data["maps_url"] == "https://maps.google.com/?q=37.44221496582,-122.16165924072"


@pytest.mark.django_db
def test_reply_context_and_interactive_ids_are_kept(client, django_capture_on_commit_callbacks):
    company, _ = deliver(client, "message_interactive_button_reply.json", django_capture_on_commit_callbacks)
    message = Message.objects.get(company=company)
    assert message.reply_to_provider_id == "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3MEM2RUJFNkI0RENGQTVDRjUA"
    assert message.data == {"reply_type": "button_reply", "id": "cancel-button", "title": "Cancel"}


@pytest.mark.django_db
def test_media_messages_wait_for_their_download(client, django_capture_on_commit_callbacks, scheduled_downloads):
    company, _ = deliver(client, "message_document.json", django_capture_on_commit_callbacks)
    message = Message.objects.get(company=company)
    assert message.media_status == Message.MediaStatus.PENDING
    assert message.media["media_id"] == "622684793477189"
    assert message.media["filename"] == "receipt.pdf"
    assert scheduled_downloads == [message.pk]


@pytest.mark.django_db
def test_contact_comes_from_the_profile_and_opens_the_window(client, django_capture_on_commit_callbacks):
    company, _ = deliver(client, "message_text.json", django_capture_on_commit_callbacks)
    contact = Contact.objects.get(company=company)
    assert (contact.name, contact.phone, contact.wa_id) == ("Sheena Nelson", "16505551234", "16505551234")
    assert contact.last_inbound_at.timestamp() == 1749416383
    assert Message.objects.get().contact == contact


@pytest.mark.django_db
def test_business_scoped_user_ids_and_usernames_are_kept(client, django_capture_on_commit_callbacks):
    company, _ = deliver(client, "v25_sample_incoming.json", django_capture_on_commit_callbacks)
    contact = Contact.objects.get(company=company)
    assert contact.user_id == "US.13491208655302741918"
    assert contact.username == "@testusername"
    assert contact.phone == "16315551181"


@pytest.mark.django_db
def test_a_user_with_only_a_user_id_becomes_a_contact(client, django_capture_on_commit_callbacks):
    payload = load_fixture("meta/v25_sample_incoming.json")
    value = payload["entry"][0]["changes"][0]["value"]
    del value["contacts"][0]["wa_id"]
    del value["messages"][0]["from"]
    company = company_for(payload)
    with django_capture_on_commit_callbacks(execute=True):
        assert post_meta(client, company, payload).status_code == 200
    contact = Contact.objects.get(company=company)
    assert (contact.phone, contact.user_id) == ("", "US.13491208655302741918")
    # The same user later shows a phone: still one contact.
    payload = load_fixture("meta/v25_sample_incoming.json")
    payload["entry"][0]["changes"][0]["value"]["messages"][0]["id"] = "ABGGFlA5Fpb"
    with django_capture_on_commit_callbacks(execute=True):
        assert post_meta(client, company, payload).status_code == 200
    contact = Contact.objects.get(company=company)
    assert contact.phone == "16315551181"
    assert contact.messages.count() == 2


@pytest.mark.django_db
def test_a_duplicate_delivery_creates_nothing_twice(client, django_capture_on_commit_callbacks):
    payload = load_fixture("meta/message_text.json")
    company = company_for(payload)
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            assert post_meta(client, company, payload).status_code == 200
    assert WebhookEvent.objects.count() == 2
    assert Message.objects.count() == 1
    assert Contact.objects.count() == 1
    assert "1 duplicate" in WebhookEvent.objects.order_by("pk").last().summary


@pytest.mark.django_db
def test_a_late_delivery_of_an_older_message_never_shortens_the_window(client, django_capture_on_commit_callbacks):
    payload = load_fixture("meta/message_text.json")
    company = company_for(payload)
    message = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    sent_at = int(message["timestamp"])
    for wamid, timestamp in (("wamid.newer", sent_at + 600), ("wamid.older", sent_at)):
        message.update({"id": wamid, "timestamp": str(timestamp)})
        with django_capture_on_commit_callbacks(execute=True):
            assert post_meta(client, company, payload).status_code == 200
    assert Message.objects.filter(company=company).count() == 2
    assert Contact.objects.get(company=company).last_inbound_at.timestamp() == sent_at + 600


@pytest.mark.django_db
def test_replaying_an_event_is_idempotent(client, django_capture_on_commit_callbacks):
    from conversations.services import webhook_events

    _, event = deliver(client, "message_text.json", django_capture_on_commit_callbacks)
    assert webhook_events.process_webhook_event(event_id=event.pk) is None  # already processed
    replayed = webhook_events.process_webhook_event(event_id=event.pk, force=True)
    assert replayed.summary == "1 duplicate"
    assert Message.objects.count() == 1


@pytest.mark.django_db
def test_the_brazilian_ninth_digit_does_not_create_a_second_contact(client, django_capture_on_commit_callbacks):
    payload = load_fixture("meta/message_text.json")
    company = company_for(payload)
    value = payload["entry"][0]["changes"][0]["value"]
    for wamid, number in (("wamid.a", "5544998887777"), ("wamid.b", "554498887777")):
        value["contacts"][0]["wa_id"] = number
        value["messages"][0].update({"from": number, "id": wamid})
        with django_capture_on_commit_callbacks(execute=True):
            assert post_meta(client, company, payload).status_code == 200
    contact = Contact.objects.get(company=company)
    assert contact.phone == "5544998887777"
    assert contact.wa_id == "554498887777"  # the form WhatsApp used last, to send back to
    assert contact.messages.count() == 2


@pytest.mark.django_db
def test_value_level_errors_are_stored_as_notices(client, django_capture_on_commit_callbacks):
    company, _ = deliver(client, "errors.json", django_capture_on_commit_callbacks)
    notice = AccountNotice.objects.get(company=company)
    assert notice.field == "messages.errors"
    assert notice.value["error"]["code"] == 130429


@pytest.mark.django_db
def test_template_status_updates_are_stored_and_handed_to_the_template_catalogue(
    client, django_capture_on_commit_callbacks, monkeypatch
):
    from templates_meta import services as templates

    handled = []
    monkeypatch.setitem(
        templates.NOTICE_HANDLERS,
        "message_template_status_update",
        lambda *, company, value: handled.append((company, value)) or True,
    )
    company, _ = deliver(client, "message_template_status_update_rejected.json", django_capture_on_commit_callbacks)
    notice = AccountNotice.objects.get(company=company)
    assert notice.handled
    assert handled == [(company, notice.value)]
    assert notice.value["event"] == "REJECTED"


@pytest.mark.django_db
def test_a_template_notice_for_no_known_template_is_kept_unhandled(client, django_capture_on_commit_callbacks):
    company, _ = deliver(client, "message_template_status_update_rejected.json", django_capture_on_commit_callbacks)
    notice = AccountNotice.objects.get(company=company)
    assert not notice.handled  # nothing was done: an operator sees it as not handled


def test_fixture_files_are_copied_verbatim_from_shared():
    shared = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "meta"
    if shared.exists():  # beside the checkout on developer machines and in CI
        for name in META_FIXTURES:
            assert (shared / name).read_bytes() == (FIXTURES / "meta" / name).read_bytes(), name


@pytest.mark.django_db
def test_an_unknown_message_type_is_kept_as_it_came(client, django_capture_on_commit_callbacks):
    payload = load_fixture("meta/message_text.json")
    message = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    message.pop("text")
    message.update({"type": "hologram", "hologram": {"frames": 3}})
    company = company_for(payload)
    with django_capture_on_commit_callbacks(execute=True):
        assert post_meta(client, company, payload).status_code == 200
    stored = Message.objects.get(company=company)
    assert (stored.type, stored.data["hologram"]) == ("hologram", {"frames": 3})


def test_flow_replies_and_ad_referrals_are_understood():
    payload = load_fixture("meta/message_text.json")
    message = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    message.pop("text")
    message.update(
        {
            "type": "interactive",
            "interactive": {
                "type": "nfm_reply",
                "nfm_reply": {"name": "flow", "body": "Sent", "response_json": '{"cpf": "52998224725"}'},
            },
            "referral": {"source_url": "https://fb.me/ad", "source_type": "ad", "headline": "Fibra 500"},
        }
    )
    (event,) = cloud_webhook.parse(payload)
    assert event.text == "Sent"
    assert event.data["reply_type"] == "nfm_reply"
    assert event.data["response_json"] == '{"cpf": "52998224725"}'
    assert event.data["referral"]["headline"] == "Fibra 500"


@pytest.mark.django_db
def test_processed_events_are_purged_after_the_retention(client, settings, django_capture_on_commit_callbacks):
    import datetime as dt

    from conversations import tasks

    settings.WEBHOOK_EVENT_RETENTION_DAYS = 7
    _, old = deliver(client, "message_text.json", django_capture_on_commit_callbacks)
    WebhookEvent.objects.filter(pk=old.pk).update(received_at=old.received_at - dt.timedelta(days=8))
    failed = WebhookEvent.objects.create(company=old.company, source="meta", body="{}", state="failed")
    WebhookEvent.objects.filter(pk=failed.pk).update(received_at=old.received_at - dt.timedelta(days=30))
    recent = WebhookEvent.objects.create(company=old.company, source="meta", body="{}", state="processed")
    assert tasks.purge_webhook_events() == 1
    assert set(WebhookEvent.objects.values_list("pk", flat=True)) == {failed.pk, recent.pk}
    assert Message.objects.count() == 1  # the messages stay
