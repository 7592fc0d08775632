"""Evolution webhooks: authenticated by the instance key, every stored payload normalised."""

import json

import pytest

from companies.models import Channel
from conversations.models import Contact, Message, PendingStatus, WebhookEvent
from tests.conftest import FIXTURES, load_fixture, post_evolution
from tests.factories import CompanyFactory, EvolutionChannelFactory

INSTANCE = "c0a8e5d2-5b1e-4b8e-9a51-3f1d2c4b6a70"
KEY = "EVO-INSTANCE-TOKEN-0001"
EVOLUTION_FIXTURES = sorted(p.name for p in (FIXTURES / "evolution").glob("*.json") if p.name != "send_message.json")


@pytest.fixture
def evo(db):
    company = CompanyFactory()
    channel = EvolutionChannelFactory(company=company, instance_name=INSTANCE, api_key=KEY)
    return company, channel


@pytest.fixture(autouse=True)
def scheduled_downloads(monkeypatch) -> list[int]:
    from conversations import tasks

    scheduled: list[int] = []
    monkeypatch.setattr(tasks.download_media, "apply_async", lambda args, **options: scheduled.append(*args))
    return scheduled


def deliver(client, company, name, capture, **kwargs):
    with capture(execute=True):
        response = post_evolution(client, company, load_fixture(f"evolution/{name}"), **kwargs)
    assert response.status_code == 200, response.content
    return response


@pytest.mark.parametrize("name", EVOLUTION_FIXTURES)
def test_every_evolution_fixture_is_accepted_and_processed(client, evo, name, django_capture_on_commit_callbacks):
    company, _ = evo
    deliver(client, company, name, django_capture_on_commit_callbacks)
    event = WebhookEvent.objects.get()
    assert event.state == WebhookEvent.State.PROCESSED, event.error
    assert event.summary and "unsupported" not in event.summary, event.summary


def test_the_body_apikey_authenticates_too(client, evo):
    company, _ = evo
    assert post_evolution(client, company, load_fixture("evolution/messages_upsert_text.json")).status_code == 200


def test_the_header_apikey_authenticates(client, evo):
    company, _ = evo
    payload = load_fixture("evolution/messages_upsert_text.json")
    del payload["apikey"]
    assert post_evolution(client, company, payload, apikey=KEY).status_code == 200


def test_no_apikey_is_401(client, evo):
    company, _ = evo
    payload = load_fixture("evolution/messages_upsert_text.json")
    del payload["apikey"]
    response = post_evolution(client, company, payload)
    assert response.status_code == 401
    assert not WebhookEvent.objects.exists()


def test_a_wrong_apikey_is_403(client, evo):
    company, _ = evo
    response = post_evolution(client, company, load_fixture("evolution/messages_upsert_text.json"), apikey="nope")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "invalid_api_key"
    assert not WebhookEvent.objects.exists()


def test_an_instance_of_another_company_is_403(client, evo):
    other = CompanyFactory()
    response = post_evolution(client, other, load_fixture("evolution/messages_upsert_text.json"))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "foreign_instance"


def test_an_instance_holding_a_nul_is_400_without_a_lookup(client, evo, caplog, django_assert_num_queries):
    # The probe's request: no valid key needed, and on PostgreSQL it was a 503 logged as a database outage.
    company, _ = evo
    payload = {**load_fixture("evolution/messages_upsert_text.json"), "instance": "x\u0000"}
    with django_assert_num_queries(1):  # the company, by contract; never the instance
        response = post_evolution(client, company, payload, apikey="wrong")
    assert response.status_code == 400
    assert response.json()["error"]["details"] == {"instance": ["NUL characters are not allowed."]}
    assert not [record for record in caplog.records if record.levelname == "ERROR"]
    assert not WebhookEvent.objects.exists()


def test_malformed_json_is_400(client, evo):
    company, _ = evo
    response = post_evolution(client, company, b'{"event": "messages.upsert",', apikey=KEY)
    assert response.status_code == 400


def test_text_from_a_customer(client, evo, django_capture_on_commit_callbacks):
    company, channel = evo
    deliver(client, company, "messages_upsert_text.json", django_capture_on_commit_callbacks)
    message = Message.objects.get()
    assert (message.type, message.text, message.author) == ("text", "Oi, quero a segunda via do boleto", "customer")
    assert message.channel == channel
    contact = message.contact
    assert (contact.name, contact.phone) == ("Maria Souza", "5544998887777")
    assert contact.last_inbound_at is not None


def test_lid_addressing_uses_the_phone_in_remote_jid_alt(client, evo, django_capture_on_commit_callbacks):
    company, _ = evo
    deliver(client, company, "messages_upsert_text.json", django_capture_on_commit_callbacks)
    deliver(client, company, "messages_upsert_text_lid.json", django_capture_on_commit_callbacks)
    contact = Contact.objects.get()
    assert contact.phone == "5544998887777"
    assert contact.user_id == "128999376343081@lid"
    assert contact.messages.count() == 2


def test_the_old_number_without_the_ninth_digit_is_the_same_contact(client, evo, django_capture_on_commit_callbacks):
    company, _ = evo
    deliver(client, company, "messages_upsert_text.json", django_capture_on_commit_callbacks)
    deliver(client, company, "messages_upsert_text_old_number_no_ninth_digit.json", django_capture_on_commit_callbacks)
    assert Contact.objects.count() == 1
    assert Message.objects.count() == 2


@pytest.mark.parametrize(
    ("name", "type_", "text", "data"),
    [
        ("messages_upsert_extended_text_reply.json", "text", "sim", {}),
        ("messages_upsert_ephemeral_text.json", "text", "2", {}),
        ("messages_upsert_buttons_response.json", "interactive", "Sim", {"reply_type": "button_reply", "id": "yes"}),
        (
            "messages_upsert_list_response.json",
            "interactive",
            "2ª via de boleto",
            {"reply_type": "list_reply", "id": "billing", "description": "Boleto e PIX"},
        ),
        ("messages_upsert_reaction.json", "reaction", "👍", {"message_id": "3EB0AAAA1111BBBB2222", "emoji": "👍"}),
        ("messages_upsert_audio_ptt.json", "audio", "", {"voice": True}),
        ("messages_upsert_image.json", "image", "print do erro", {}),
    ],
)
def test_content_types(client, evo, name, type_, text, data, django_capture_on_commit_callbacks):
    company, _ = evo
    deliver(client, company, name, django_capture_on_commit_callbacks)
    message = Message.objects.get()
    assert (message.type, message.text, message.data) == (type_, text, data)


def test_a_quoted_reply_keeps_its_context(client, evo, django_capture_on_commit_callbacks):
    company, _ = evo
    deliver(client, company, "messages_upsert_extended_text_reply.json", django_capture_on_commit_callbacks)
    assert Message.objects.get().reply_to_provider_id == "3EB0AAAA1111BBBB2222"


def test_location_and_contact_cards(client, evo, django_capture_on_commit_callbacks):
    company, _ = evo
    deliver(client, company, "messages_upsert_location.json", django_capture_on_commit_callbacks)
    deliver(client, company, "messages_upsert_contact.json", django_capture_on_commit_callbacks)
    location, card = Message.objects.order_by("pk")
    assert location.text == "Casa, Rua das Flores, 100, Maringá - PR\nhttps://maps.google.com/?q=-23.4205,-51.9331"
    assert card.type == "contacts" and card.text == "João Lima"
    assert "waid=5544997776666" in card.data["vcards"][0]


@pytest.mark.parametrize("name", ["messages_upsert_group_ignore.json", "messages_upsert_status_broadcast_ignore.json"])
def test_groups_and_broadcasts_are_ignored(client, evo, name, django_capture_on_commit_callbacks):
    company, _ = evo
    deliver(client, company, name, django_capture_on_commit_callbacks)
    assert not Message.objects.exists()
    assert not Contact.objects.exists()
    assert WebhookEvent.objects.get().summary == "1 ignored"


def test_a_message_typed_on_the_business_phone_is_kept_as_business(client, evo, django_capture_on_commit_callbacks):
    company, _ = evo
    deliver(client, company, "messages_upsert_from_me_phone.json", django_capture_on_commit_callbacks)
    message = Message.objects.get()
    assert (message.direction, message.author, message.status) == ("out", "business", "sent")
    assert message.contact.last_inbound_at is None  # it does not open the customer's window
    assert message.contact.name == ""  # pushName is the business's own name there


def test_an_echo_of_a_message_we_sent_is_not_stored_twice(client, evo, django_capture_on_commit_callbacks):
    company, channel = evo
    deliver(client, company, "messages_upsert_text.json", django_capture_on_commit_callbacks)
    contact = Contact.objects.get()
    Message.objects.create(
        company=company,
        channel=channel,
        contact=contact,
        direction="out",
        author="bot",
        type="text",
        text="Olá, aqui é do suporte",
        provider_id="3AE99D6A1DBF3F9A0578",
        status="sent",
    )
    deliver(client, company, "messages_upsert_from_me_phone.json", django_capture_on_commit_callbacks)
    assert Message.objects.filter(provider_id="3AE99D6A1DBF3F9A0578").count() == 1


def test_connection_updates_change_the_channel_state(client, evo, django_capture_on_commit_callbacks):
    company, channel = evo
    for name, state in [
        ("connection_update_connecting.json", "connecting"),
        ("connection_update_open.json", "open"),
        ("connection_update_close_logged_out.json", "close"),
    ]:
        deliver(client, company, name, django_capture_on_commit_callbacks)
        channel.refresh_from_db()
        assert channel.connection_state == state
        assert channel.connection_state_changed_at is not None


def test_the_qr_code_limit_closes_the_channel(client, evo, django_capture_on_commit_callbacks):
    company, channel = evo
    deliver(client, company, "connection_update_refused_qr_limit.json", django_capture_on_commit_callbacks)
    channel.refresh_from_db()
    assert channel.connection_state == Channel.ConnectionState.CLOSE
    assert "refused" in channel.connection_reason


def test_the_latest_qr_code_is_kept_for_the_admin(client, evo, django_capture_on_commit_callbacks):
    company, channel = evo
    deliver(client, company, "qrcode_updated.json", django_capture_on_commit_callbacks)
    channel.refresh_from_db()
    assert channel.qr_code == "data:image/png;base64,iVBORw0KGgo="
    assert channel.qr_code_updated_at is not None


@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("messages_update_delivered.json", "delivered"),
        ("messages_update_read.json", "read"),
        ("messages_update_error.json", "failed"),
        ("messages_update_legacy_array.json", "delivered"),
    ],
)
def test_message_updates_update_our_messages(client, evo, name, status, django_capture_on_commit_callbacks):
    company, channel = evo
    deliver(client, company, "messages_upsert_text.json", django_capture_on_commit_callbacks)
    contact = Contact.objects.get()
    payload = load_fixture(f"evolution/{name}")
    data = payload["data"][0] if isinstance(payload["data"], list) else payload["data"]
    provider_id = data.get("keyId") or data["key"]["id"]
    message = Message.objects.create(
        company=company,
        channel=channel,
        contact=contact,
        direction="out",
        author="bot",
        type="text",
        text="x",
        provider_id=provider_id,
        status="sent",
    )
    deliver(client, company, name, django_capture_on_commit_callbacks)
    message.refresh_from_db()
    assert message.status == status
    assert message.status_changes.get().status == status


def test_an_update_for_an_unknown_message_waits(client, evo, django_capture_on_commit_callbacks):
    company, _ = evo
    deliver(client, company, "messages_update_read.json", django_capture_on_commit_callbacks)
    pending = PendingStatus.objects.get()
    assert (pending.provider_id, pending.status) == ("3EB0AAAA1111BBBB2222", "read")


def test_a_deleted_customer_message_is_marked_deleted(client, evo, django_capture_on_commit_callbacks):
    company, _ = evo
    deliver(client, company, "messages_upsert_text.json", django_capture_on_commit_callbacks)
    deliver(client, company, "messages_delete.json", django_capture_on_commit_callbacks)
    assert Message.objects.get().status == Message.Status.DELETED


def test_an_edit_is_kept_beside_the_original(client, evo, django_capture_on_commit_callbacks):
    company, _ = evo
    deliver(client, company, "messages_upsert_text.json", django_capture_on_commit_callbacks)
    deliver(client, company, "messages_edited.json", django_capture_on_commit_callbacks)
    edit = Message.objects.get(type="edit")
    assert edit.text == "Oi, quero o PIX"
    assert edit.data["original_message_id"] == "3EB0C767D26A1D2F4B"


def test_a_disguised_executable_is_scheduled_for_inspection(
    client, evo, scheduled_downloads, django_capture_on_commit_callbacks
):
    company, _ = evo
    deliver(client, company, "messages_upsert_document_exe_disguised.json", django_capture_on_commit_callbacks)
    message = Message.objects.get()
    assert message.media_status == Message.MediaStatus.PENDING
    assert message.media["filename"] == "fatura.pdf.exe"
    assert scheduled_downloads == [message.pk]


def test_an_unknown_event_is_stored_and_reported(client, evo, django_capture_on_commit_callbacks):
    company, _ = evo
    payload = {"event": "labels.association", "instance": INSTANCE, "data": {}, "apikey": KEY}
    with django_capture_on_commit_callbacks(execute=True):
        assert post_evolution(client, company, json.dumps(payload).encode()).status_code == 200
    assert WebhookEvent.objects.get().summary == "1 unsupported"
