"""The WhatsApp Business app beside the Cloud API (coexistence): echoes, history and the address book."""

import copy
import datetime as dt
import json

import pytest
from django.db import transaction

from companies.events import EventDelivery
from conversations.events import INBOUND_MESSAGE_RECORDED
from conversations.models import Contact, Message, MessageStatusChange, PendingStatus, WebhookEvent
from conversations.services import inbox, webhook_events
from tests.conftest import load_fixture, post_meta
from tests.conversations.test_normalize_meta import company_for

pytestmark = pytest.mark.django_db

CUSTOMER = "16505551234"  # the chat the echo and history fixtures name
ECHO_WAMID = "wamid.HBgLMTY0NjcwNDM1OTUVAgARGBIyNDlBOEI5QUQ4NDc0N0FCNjMA"
PLACEHOLDER_WAMID = "wamid.QyNUEHBgLMTY0NjcwNDM1OTUVAgARGBI1Rj3NEYxMzAzMzQ5MkEA"


def _at(seconds: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC)


def _handler(events):  # subscribed so that announcements are written: none must be, for what the app sent
    pass


@pytest.fixture
def announced():
    INBOUND_MESSAGE_RECORDED.subscribe(_handler)
    yield lambda: EventDelivery.objects.filter(topic=INBOUND_MESSAGE_RECORDED.name).count()
    INBOUND_MESSAGE_RECORDED.unsubscribe(_handler)


@pytest.fixture
def downloads(monkeypatch) -> list[int]:
    from conversations import tasks

    scheduled: list[int] = []
    monkeypatch.setattr(tasks.download_media, "apply_async", lambda args, **options: scheduled.append(*args))
    return scheduled


@pytest.fixture
def company():
    return company_for(load_fixture("meta/smb_message_echoes.json"))


def _post(client, company, payload, capture) -> WebhookEvent:
    with capture(execute=True):
        response = post_meta(client, company, payload)
    assert response.status_code == 200, response.content
    return WebhookEvent.objects.filter(company=company).latest("pk")


def test_an_echo_is_the_business_own_outbound_message_never_sent_by_us(
    client, company, announced, django_capture_on_commit_callbacks
):
    payload = load_fixture("meta/smb_message_echoes.json")
    event = _post(client, company, payload, django_capture_on_commit_callbacks)
    assert event.summary == "1 business_message"
    message = Message.objects.get(company=company)
    assert (message.direction, message.author, message.status) == ("out", "business", "sent")
    assert message.provider_id == ECHO_WAMID
    assert message.text.startswith("Here's the info you requested!")
    assert message.next_attempt_at is None and message.attempts == 0  # not in the outbox
    contact = message.contact
    assert contact.phone == CUSTOMER
    assert contact.business_replied_at == _at(1739321024)  # the bot stays quiet for this contact a while
    assert contact.last_inbound_at is None  # the business writing opens no window
    assert announced() == 0  # not a customer's message: nothing for the bot or the relay

    # Meta delivering it again makes nothing twice.
    again = _post(client, company, payload, django_capture_on_commit_callbacks)
    assert again.summary == "1 duplicate"
    assert Message.objects.filter(company=company).count() == 1


def test_the_business_reply_time_only_moves_forward(client, company, django_capture_on_commit_callbacks):
    later = load_fixture("meta/smb_message_echoes.json")
    echo = later["entry"][0]["changes"][0]["value"]["message_echoes"][0]
    earlier = copy.deepcopy(later)
    earlier_echo = earlier["entry"][0]["changes"][0]["value"]["message_echoes"][0]
    earlier_echo.update(id="wamid.earlier", timestamp=str(int(echo["timestamp"]) - 600))
    _post(client, company, later, django_capture_on_commit_callbacks)
    _post(client, company, earlier, django_capture_on_commit_callbacks)  # delivered late
    assert Contact.objects.get(company=company).business_replied_at == _at(int(echo["timestamp"]))


def test_an_echo_that_deletes_a_message_marks_it_deleted(client, company, django_capture_on_commit_callbacks):
    original = load_fixture("meta/smb_message_echoes.json")
    revoke = load_fixture("meta/smb_message_echoes_2.json")
    deleted_id = revoke["entry"][0]["changes"][0]["value"]["message_echoes"][0]["revoke"]["original_message_id"]
    original["entry"][0]["changes"][0]["value"]["message_echoes"][0]["id"] = deleted_id
    _post(client, company, original, django_capture_on_commit_callbacks)

    event = _post(client, company, revoke, django_capture_on_commit_callbacks)
    assert event.summary == "1 status"
    message = Message.objects.get(provider_id=deleted_id)
    assert (message.direction, message.status) == ("out", "deleted")
    assert list(message.status_changes.values_list("status", flat=True)) == ["deleted"]


def test_an_echo_that_edits_a_message_keeps_the_new_content(client, company, django_capture_on_commit_callbacks):
    _post(client, company, load_fixture("meta/smb_message_echoes_3.json"), django_capture_on_commit_callbacks)
    edit = Message.objects.get(company=company)
    assert (edit.direction, edit.author, edit.type, edit.text) == ("out", "business", "edit", "Updated image caption")
    assert edit.data["original_message_id"] == "wamid.HBgLMTQxMjU1NTA4MjkVAgASGBQzQUNCNjk5RDUwNUZGMUZEM0VBRAA="


def test_history_keeps_past_messages_as_they_were_without_a_window_or_an_answer(
    client, company, announced, downloads, django_capture_on_commit_callbacks
):
    event = _post(client, company, load_fixture("meta/history.json"), django_capture_on_commit_callbacks)
    assert event.state == WebhookEvent.State.PROCESSED, event.error
    rows = {
        m.provider_id: m
        for m in Message.objects.filter(company=company).select_related("contact").order_by("provider_timestamp")
    }
    assert len(rows) == 4
    by_business = rows[ECHO_WAMID]
    assert (by_business.direction, by_business.author, by_business.status) == ("out", "business", "read")
    assert by_business.provider_timestamp == by_business.status_at == _at(1739230955)
    placeholder = rows[PLACEHOLDER_WAMID]
    assert (placeholder.direction, placeholder.type, placeholder.status) == ("out", "media_placeholder", "played")
    thanks = rows["wamid.N0FCNjMAHBgLMTY0NjcwNDM1OTUVAgARGBIyNDlBOEI5QUQ4NDc0"]
    assert (thanks.direction, thanks.author, thanks.text, thanks.status) == ("in", "customer", "Thanks!", "received")
    other_chat = rows["wamid.BIyNDlBOEI5N0FCNjMAHBgLMTY0NjcwNDM1OTUVAgARGQUQ4NDc0"]
    assert (other_chat.contact.phone, other_chat.status) == ("12125557890", "delivered")

    assert {m.contact.phone for m in rows.values()} == {CUSTOMER, "12125557890"}
    for contact in Contact.objects.filter(company=company):
        assert contact.last_inbound_at is None  # the past opens no 24 h window
        assert contact.business_replied_at is None  # nor says the business is answering now
    assert all(m.handled_at is not None for m in rows.values())
    assert announced() == 0
    with transaction.atomic():
        assert inbox.take_unhandled(contact_id=thanks.contact_id).messages == []  # the bot never answers the past
    assert downloads == []


def test_a_past_media_message_gets_its_file_when_meta_sends_it(
    client, company, downloads, django_capture_on_commit_callbacks
):
    _post(client, company, load_fixture("meta/history.json"), django_capture_on_commit_callbacks)
    event = _post(client, company, load_fixture("meta/history_2.json"), django_capture_on_commit_callbacks)
    assert event.summary == "1 history_media"
    message = Message.objects.get(provider_id=PLACEHOLDER_WAMID)
    assert (message.type, message.text) == ("image", "Black Prince echeveria")
    assert message.media["media_id"] == "24230790383178626"
    assert message.media_status == Message.MediaStatus.PENDING
    assert downloads == [message.pk]
    assert Message.objects.filter(company=company).count() == 4  # filled in, not a fifth message


def test_a_declined_history_is_a_notice(client, company, django_capture_on_commit_callbacks):
    _post(client, company, load_fixture("meta_extra/history_declined.json"), django_capture_on_commit_callbacks)
    notice = company.account_notices.get()
    assert notice.field == "history.errors"
    assert notice.value["error"]["code"] == 2593109
    assert not Message.objects.exists()


def test_the_address_book_adds_edits_and_forgets_names(client, company, django_capture_on_commit_callbacks):
    event = _post(client, company, load_fixture("meta/smb_app_state_sync.json"), django_capture_on_commit_callbacks)
    assert event.summary == "1 contact_sync"
    contact = Contact.objects.get(company=company)
    assert (contact.phone, contact.saved_name, contact.name) == (CUSTOMER, "Pablo Morales", "")

    maria = Contact.objects.create(company=company, phone="5511987654321", name="Maria", saved_name="Maria Silva")
    Message.objects.create(company=company, contact=maria, direction="in", type="text", text="oi", status="received")
    event = _post(
        client,
        company,
        load_fixture("meta_extra/smb_app_state_sync_edit_remove.json"),
        django_capture_on_commit_callbacks,
    )
    assert event.summary == "2 contact_sync"
    contact.refresh_from_db()
    maria.refresh_from_db()
    assert contact.saved_name == "Pablo M. Morales"
    assert (maria.saved_name, maria.name) == ("", "Maria")  # removed from the address book, not from Ponte
    assert maria.messages.count() == 1


def test_a_batch_records_echoes_and_history_as_the_careful_path_does(company, announced):
    bodies = [load_fixture(f"meta/{name}") for name in ("smb_message_echoes.json", "history.json", "history_2.json")]

    events = [
        webhook_events.store_webhook(company=company, source="meta", body=json.dumps(b), headers={}) for b in bodies
    ]
    ids = webhook_events.claim_batch(10)
    claimed = list(WebhookEvent.objects.filter(pk__in=ids).select_related("company").order_by("pk"))
    assert webhook_events.normalise_batch(claimed)
    summaries = list(
        WebhookEvent.objects.filter(pk__in=[e.pk for e in events]).order_by("pk").values_list("summary", flat=True)
    )
    # The echo's wamid is also the first history message's: stored once.
    assert summaries == ["1 business_message", "2 business_message, 1 duplicate, 1 message", "1 history_media"]
    contact = Contact.objects.get(company=company, phone=CUSTOMER)
    assert contact.business_replied_at == _at(1739321024)
    assert contact.last_inbound_at is None
    assert Message.objects.get(provider_id=PLACEHOLDER_WAMID).type == "image"
    assert announced() == 0
    assert not PendingStatus.objects.exists()
    assert MessageStatusChange.objects.count() == 0
