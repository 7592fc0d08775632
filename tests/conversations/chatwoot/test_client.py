"""The Chatwoot client against the fake Chatwoot over real HTTP: contacts never duplicated, conversations,
messages (JSON and multipart), retries for what a retry can fix, clear errors, and the token kept out of them."""

import json
import logging
import socket
import time

import pytest

from config.logging import MaskingFilter
from conversations.chatwoot.client import (
    SOURCE_PREFIX,
    Attachment,
    ChatwootClient,
    is_own,
    own_source_id,
    phone_variants,
)
from conversations.chatwoot.errors import ChatwootError, ChatwootNotConfigured
from conversations.chatwoot.transport import ATTEMPTS
from fakes.chatwoot import running_chatwoot
from fakes.media import SAMPLE_IMAGE
from fakes.server import Answer, json_answer
from tests.factories import CompanyFactory

TOKEN = "cw-token-8c1f2e9a7b5d"
PHONE = "5544998887777"  # canonical: with the ninth digit
OLD_PHONE = "554498887777"  # the same mobile as a WhatsApp account made before the ninth digit
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture
def chatwoot():
    with running_chatwoot(token=TOKEN, account_id=3, inbox_id=7) as fake:
        yield fake


def _client(fake, *, token: str = TOKEN, **kwargs) -> ChatwootClient:
    # No production backoff, so the failure tests stay fast.
    kwargs.setdefault("max_wait", 0.01)
    return ChatwootClient(base_url=fake.url, account_id=fake.account_id, inbox_id=fake.inbox_id, token=token, **kwargs)


def _calls(fake, method: str, suffix: str) -> list:
    return [r for r in fake.requests if r.method == method and r.path.split("?")[0].endswith(suffix)]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _conversation(fake, client: ChatwootClient) -> int:
    contact_id = client.find_or_create_contact(phone=PHONE, name="Maria Souza", identifier=PHONE)
    source_id = client.ensure_contact_inbox(contact_id=contact_id, source_id=PHONE)
    return client.create_conversation(contact_id=contact_id, source_id=source_id)


# ---------------------------------------------------------------------- configuration


@pytest.mark.django_db
def test_for_company_reaches_the_companys_account_and_inbox_with_its_token(chatwoot):
    company = CompanyFactory(
        chatwoot_base_url=chatwoot.url + "/",
        chatwoot_account_id=chatwoot.account_id,
        chatwoot_inbox_id=chatwoot.inbox_id,
        chatwoot_api_token=TOKEN,
    )
    company.refresh_from_db()  # the token as the encrypted field reads it back
    client = ChatwootClient.for_company(company)
    contact_id = client.find_or_create_contact(phone=PHONE, name="Maria")
    assert [c["id"] for c in chatwoot.contacts] == [contact_id]
    assert all(r.headers["api_access_token"] == TOKEN for r in chatwoot.requests)
    assert all(r.path.startswith("/api/v1/accounts/3/") for r in chatwoot.requests)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "missing", ["chatwoot_base_url", "chatwoot_account_id", "chatwoot_inbox_id", "chatwoot_api_token"]
)
def test_for_company_names_the_missing_settings(missing):
    settings = {
        "chatwoot_base_url": "https://chatwoot.example",
        "chatwoot_account_id": 3,
        "chatwoot_inbox_id": 7,
        "chatwoot_api_token": TOKEN,
    }
    company = CompanyFactory(**{**settings, missing: None if missing.endswith("_id") else ""})
    with pytest.raises(ChatwootNotConfigured, match=rf"not configured for this company: {missing} missing") as caught:
        ChatwootClient.for_company(company)
    assert isinstance(caught.value, ChatwootError) and not caught.value.retryable and caught.value.status is None
    assert TOKEN not in str(caught.value)


# ---------------------------------------------------------------------- contacts


def test_a_new_contact_is_created_once_with_its_phone_identifier_and_attributes(chatwoot):
    client = _client(chatwoot)
    contact_id = client.find_or_create_contact(
        phone=PHONE, name="Maria Souza", identifier=f"{PHONE}@s.whatsapp.net", custom_attributes={"codigo": "1001"}
    )
    [contact] = chatwoot.contacts
    assert contact["id"] == contact_id
    assert (contact["name"], contact["phone_number"], contact["identifier"]) == (
        "Maria Souza",
        f"+{PHONE}",
        f"{PHONE}@s.whatsapp.net",
    )
    assert contact["custom_attributes"] == {"codigo": "1001"}
    # Found again by identifier, by phone, and by the old form of the phone: never a second contact.
    assert client.find_or_create_contact(phone=PHONE, name="Maria", identifier=f"{PHONE}@s.whatsapp.net") == contact_id
    assert client.find_or_create_contact(phone="+55 (44) 99888-7777", name="Maria") == contact_id
    assert client.find_or_create_contact(phone=OLD_PHONE, name="Maria") == contact_id
    assert len(chatwoot.contacts) == 1 and len(_calls(chatwoot, "POST", "/contacts")) == 1


def test_a_contact_chatwoot_holds_without_the_ninth_digit_is_found_and_kept(chatwoot):
    existing = chatwoot.add_contact(name="Maria", phone_number=f"+{OLD_PHONE}")
    client = _client(chatwoot)
    assert client.find_or_create_contact(phone=PHONE, name="Maria Souza") == existing["id"]
    assert [c["phone_number"] for c in chatwoot.contacts] == [f"+{OLD_PHONE}"]
    # One filter with both forms, without "+": Chatwoot's filter puts it before a phone_number's value itself.
    [search] = _calls(chatwoot, "POST", "/contacts/filter")
    assert search.body["payload"] == [
        {"attribute_key": "phone_number", "filter_operator": "equal_to", "values": [PHONE], "query_operator": "OR"},
        {"attribute_key": "phone_number", "filter_operator": "equal_to", "values": [OLD_PHONE], "query_operator": None},
    ]


def test_the_contact_with_the_canonical_number_wins_over_one_with_the_old_form(chatwoot):
    chatwoot.add_contact(name="Maria (old)", phone_number=f"+{OLD_PHONE}")
    canonical = chatwoot.add_contact(name="Maria", phone_number=f"+{PHONE}")
    assert _client(chatwoot).find_contact(phone=OLD_PHONE)["id"] == canonical["id"]


def test_the_identifier_is_searched_before_the_phone(chatwoot):
    by_identifier = chatwoot.add_contact(name="Maria (LID)", identifier="207811594432@lid")
    chatwoot.add_contact(name="Maria", phone_number=f"+{PHONE}")
    client = _client(chatwoot)
    assert client.find_contact(phone=PHONE, identifier="207811594432@lid")["id"] == by_identifier["id"]
    assert len(_calls(chatwoot, "POST", "/contacts/filter")) == 1  # found: the phone was not searched
    assert client.find_contact(phone="5511912345678", identifier="nobody@lid") is None


def test_phone_variants_give_the_old_form_only_for_brazilian_mobiles():
    assert phone_variants(OLD_PHONE) == phone_variants(PHONE) == (PHONE, OLD_PHONE)
    assert phone_variants("+55 44 3030-0001") == ("554430300001",)  # a landline has no ninth digit
    assert phone_variants("5511951234567") == ("5511951234567",)  # 551151234567 would be a landline
    assert phone_variants("14155550123") == ("14155550123",)
    assert phone_variants("not a phone") == ()


def test_a_contact_created_by_another_worker_meanwhile_is_found_after_the_422(chatwoot):
    raced = []

    def another_worker_first(request):
        if request.method == "POST" and request.path.endswith("/contacts") and not raced:
            raced.append(chatwoot.add_contact(name="Maria", phone_number=f"+{PHONE}", identifier=PHONE))
        return None  # then answered as usual: the phone is taken now

    chatwoot.intercept = another_worker_first
    contact_id = _client(chatwoot).find_or_create_contact(phone=PHONE, name="Maria", identifier=PHONE)
    assert contact_id == raced[0]["id"] and len(chatwoot.contacts) == 1
    [create] = _calls(chatwoot, "POST", "/contacts")
    assert create.status == 422


def test_a_422_that_is_not_a_race_is_a_clear_error(chatwoot):
    chatwoot.intercept = lambda request: (
        json_answer(422, {"message": "Phone number should be in e164 format", "attributes": ["phone_number"]})
        if request.path.endswith("/contacts")
        else None
    )
    with pytest.raises(ChatwootError) as caught:
        _client(chatwoot).find_or_create_contact(phone=PHONE, name="Maria")
    assert str(caught.value) == "Chatwoot answered HTTP 422 to POST /contacts: Phone number should be in e164 format."
    assert caught.value.status == 422 and not caught.value.retryable
    assert len(_calls(chatwoot, "POST", "/contacts")) == 1


def test_a_contact_needs_a_phone_or_an_identifier(chatwoot):
    with pytest.raises(ValueError, match="phone number or an identifier"):
        _client(chatwoot).find_or_create_contact(phone="", name="Maria")
    assert chatwoot.requests == []


def test_the_contact_inbox_is_made_with_our_source_id_then_reused(chatwoot):
    client = _client(chatwoot)
    contact_id = client.find_or_create_contact(phone=PHONE, name="Maria")
    assert client.ensure_contact_inbox(contact_id=contact_id, source_id=PHONE) == PHONE
    assert client.ensure_contact_inbox(contact_id=contact_id, source_id="another-id") == PHONE
    [contact] = chatwoot.contacts
    assert contact["contact_inboxes"] == [
        {"source_id": PHONE, "inbox": {**contact["contact_inboxes"][0]["inbox"], "id": chatwoot.inbox_id}}
    ]
    assert len(_calls(chatwoot, "POST", "/contact_inboxes")) == 1


def test_a_contact_inbox_of_another_inbox_is_not_reused(chatwoot):
    contact = chatwoot.add_contact(name="Maria", phone_number=f"+{PHONE}")

    def with_another_inbox(request):
        if request.method == "GET" and request.path.endswith(f"/contacts/{contact['id']}"):
            other = {"source_id": "widget-uuid", "inbox": {"id": chatwoot.inbox_id + 1, "name": "Site"}}
            return json_answer(200, {"payload": {**contact, "contact_inboxes": [other]}})
        return None

    chatwoot.intercept = with_another_inbox
    assert _client(chatwoot).ensure_contact_inbox(contact_id=contact["id"], source_id=PHONE) == PHONE
    [created] = _calls(chatwoot, "POST", "/contact_inboxes")
    assert created.body == {"inbox_id": chatwoot.inbox_id, "source_id": PHONE}


# ---------------------------------------------------------------------- conversations


def test_a_conversation_is_created_in_our_inbox_with_its_attributes(chatwoot):
    client = _client(chatwoot)
    contact_id = client.find_or_create_contact(phone=PHONE, name="Maria")
    source_id = client.ensure_contact_inbox(contact_id=contact_id, source_id=PHONE)
    conversation_id = client.create_conversation(
        contact_id=contact_id, source_id=source_id, custom_attributes={"protocolo": "2025-000123"}
    )
    [conversation] = chatwoot.conversations
    assert conversation["id"] == conversation_id
    assert (conversation["contact_id"], conversation["inbox_id"], conversation["source_id"]) == (
        contact_id,
        chatwoot.inbox_id,
        PHONE,
    )
    assert (conversation["status"], conversation["custom_attributes"]) == ("open", {"protocolo": "2025-000123"})
    assert client.get_conversation(conversation_id)["custom_attributes"] == {"protocolo": "2025-000123"}
    assert [w.event for w in chatwoot.webhooks] == ["conversation_created"]


def test_a_conversation_can_start_pending(chatwoot):
    client = _client(chatwoot)
    contact_id = client.find_or_create_contact(phone=PHONE, name="Maria")
    conversation_id = client.create_conversation(contact_id=contact_id, source_id=PHONE, status="pending")
    assert client.get_conversation(conversation_id)["status"] == "pending"


def test_the_status_is_toggled_resolved_reopened_and_pending(chatwoot):
    client = _client(chatwoot)
    conversation_id = _conversation(chatwoot, client)
    for status in ("resolved", "open", "pending", "open"):
        client.toggle_status(conversation_id, status)
        assert client.get_conversation(conversation_id)["status"] == status
    events = [w.event for w in chatwoot.webhooks if w.event == "conversation_status_changed"]
    assert len(events) == 4
    with pytest.raises(ValueError, match="status must be one of"):
        client.toggle_status(conversation_id, "closed")


def test_the_contacts_conversations_are_those_of_our_inbox_latest_first(chatwoot):
    client = _client(chatwoot)
    first = _conversation(chatwoot, client)
    contact_id = chatwoot.conversations[0]["contact_id"]
    client.toggle_status(first, "resolved")
    second = client.create_conversation(contact_id=contact_id, source_id=PHONE)
    assert [c["id"] for c in client.contact_conversations(contact_id=contact_id)] == [second, first]
    assert [c["status"] for c in client.contact_conversations(contact_id=contact_id)] == ["open", "resolved"]

    def with_another_inbox(request):
        if request.path.endswith(f"/contacts/{contact_id}/conversations"):
            return json_answer(200, {"payload": [{"id": 9, "inbox_id": chatwoot.inbox_id + 1, "status": "open"}]})
        return None

    chatwoot.intercept = with_another_inbox
    assert client.contact_conversations(contact_id=contact_id) == []


def test_custom_attributes_replace_the_conversations_set(chatwoot):
    client = _client(chatwoot)
    conversation_id = _conversation(chatwoot, client)
    client.set_custom_attributes(conversation_id, {"protocolo": "2025-000123", "codigo": "1001"})
    client.set_custom_attributes(conversation_id, {"protocolo": "2025-000124"})
    assert chatwoot.conversations[0]["custom_attributes"] == {"protocolo": "2025-000124"}
    assert client.get_conversation(conversation_id)["custom_attributes"] == {"protocolo": "2025-000124"}


# ---------------------------------------------------------------------- messages


def test_a_text_message_goes_as_json_with_our_source_id(chatwoot):
    client = _client(chatwoot)
    conversation_id = _conversation(chatwoot, client)
    incoming = client.create_message(
        conversation_id, content="Oi, quero a segunda via", message_type="incoming", source_id=own_source_id("msg", 41)
    )
    note = client.create_message(conversation_id, content="Cliente 1001, CPF 529.***.***-25", private=True)
    [first, second] = chatwoot.messages(conversation_id)
    assert (first["id"], first["content"], first["message_type"], first["source_id"]) == (
        incoming,
        "Oi, quero a segunda via",
        "incoming",
        "ponte:msg:41",
    )
    assert (second["id"], second["message_type"], second["private"], second["source_id"]) == (
        note,
        "outgoing",
        True,
        None,
    )
    sent = _calls(chatwoot, "POST", f"/conversations/{conversation_id}/messages")
    assert all(r.headers["content-type"] == "application/json" for r in sent)
    assert sent[1].body == {"content": "Cliente 1001, CPF 529.***.***-25", "message_type": "outgoing", "private": True}


def test_attachments_go_as_multipart_with_the_other_fields(chatwoot):
    client = _client(chatwoot)
    conversation_id = _conversation(chatwoot, client)
    quoted = client.create_message(conversation_id, content="Oi", message_type="incoming", source_id="ponte:msg:1")
    message_id = client.create_message(
        conversation_id,
        content="Comprovante",
        message_type="incoming",
        source_id=own_source_id("msg", 2),
        attachments=[
            Attachment("foto.png", SAMPLE_IMAGE, "image/png"),
            Attachment("comprovante ação.pdf", PDF, "application/pdf"),
        ],
        content_attributes={"in_reply_to": quoted},
    )
    message = chatwoot.messages(conversation_id)[-1]
    assert (message["id"], message["content"], message["message_type"], message["source_id"]) == (
        message_id,
        "Comprovante",
        "incoming",
        "ponte:msg:2",
    )
    assert [(a["filename"], a["content_type"], a["file_type"], a["data"]) for a in message["attachments"]] == [
        ("foto.png", "image/png", "image", SAMPLE_IMAGE),
        ("comprovante ação.pdf", "application/pdf", "file", PDF),
    ]
    assert message["content_attributes"] == {"in_reply_to": quoted, "in_reply_to_external_id": "ponte:msg:1"}
    assert message["private"] is False
    [upload] = [r for r in chatwoot.requests if r.headers.get("content-type", "").startswith("multipart/form-data")]
    assert upload.path.endswith(f"/conversations/{conversation_id}/messages")


def test_a_private_note_with_an_attachment_stays_private(chatwoot):
    client = _client(chatwoot)
    conversation_id = _conversation(chatwoot, client)
    client.create_message(
        conversation_id, content="Boleto", private=True, attachments=[Attachment("boleto.pdf", PDF, "application/pdf")]
    )
    [note] = chatwoot.messages(conversation_id)
    assert (note["private"], note["message_type"], note["attachments"][0]["data"]) == (True, "outgoing", PDF)


def test_a_message_type_chatwoot_does_not_take_is_refused_before_any_call(chatwoot):
    with pytest.raises(ValueError, match="message_type"):
        _client(chatwoot).create_message(1, content="x", message_type="activity")
    assert chatwoot.requests == []


def test_our_messages_come_back_as_webhooks_the_loop_guard_recognises(chatwoot):
    client = _client(chatwoot)
    conversation_id = _conversation(chatwoot, client)
    client.create_message(conversation_id, content="Oi", message_type="incoming", source_id=own_source_id("msg", 7))
    client.create_message(conversation_id, content="Menu", source_id=own_source_id("bot", 8))
    chatwoot.agent_message(conversation_id, "Olá, sou a Ana")
    created = [w.payload for w in chatwoot.webhooks if w.event == "message_created"]
    assert [(m["content"], is_own(m["source_id"])) for m in created] == [
        ("Oi", True),
        ("Menu", True),
        ("Olá, sou a Ana", False),
    ]


def test_own_source_ids_carry_the_prefix():
    assert own_source_id("msg", 42) == f"{SOURCE_PREFIX}msg:42" == "ponte:msg:42"
    assert is_own("ponte:bot:1")
    assert not is_own("WAID:3EB0C767D26A1D2F4B") and not is_own(None) and not is_own("")


# ---------------------------------------------------------------------- failures


def test_a_refused_token_is_not_retried_and_says_what_to_check(chatwoot):
    with pytest.raises(ChatwootError) as caught:
        _client(chatwoot, token="wrong-token-123").find_contact(phone=PHONE)
    assert caught.value.status == 401 and not caught.value.retryable
    assert str(caught.value).startswith("Chatwoot refused the API access token (HTTP 401) for POST /contacts/filter")
    assert "underscores_in_headers" in str(caught.value) and "wrong-token-123" not in str(caught.value)
    assert len(chatwoot.requests) == 1


def test_chatwoot_answering_503_is_retried_then_a_clear_retryable_error(chatwoot):
    chatwoot.down()
    with pytest.raises(ChatwootError) as caught:
        _client(chatwoot).find_contact(phone=PHONE)
    assert str(caught.value) == (
        "Chatwoot is failing (HTTP 503) for POST /contacts/filter: "
        "503 Service Temporarily Unavailable 503 Service Temporarily Unavailable nginx."
    )
    assert caught.value.retryable and caught.value.status == 503
    assert [r.status for r in chatwoot.requests] == [503] * ATTEMPTS
    chatwoot.down(False)
    assert _client(chatwoot).find_contact(phone=PHONE) is None


@pytest.mark.parametrize("status", [500, 502, 429])
def test_one_failure_then_the_answer_is_the_answer(chatwoot, status):
    chatwoot.fail_next(1, status=status)
    contact_id = _client(chatwoot).find_or_create_contact(phone=PHONE, name="Maria")
    assert [c["id"] for c in chatwoot.contacts] == [contact_id]
    assert [r.status for r in chatwoot.requests][:2] == [status, 200]


def test_retries_wait_with_exponential_backoff(chatwoot):
    chatwoot.down()
    with pytest.raises(ChatwootError):
        _client(chatwoot, max_wait=4.0).find_contact(phone=PHONE)
    first, second, third = (r.monotonic for r in chatwoot.requests)
    # tenacity's 0.25 s then 0.5 s, each plus up to 1 s of jitter; room above for a loaded machine.
    assert 0.25 <= second - first <= 1.25 + 0.75
    assert 0.5 <= third - second <= 1.5 + 0.75


def test_nothing_listening_is_a_retryable_error_until_chatwoot_is_back(chatwoot):
    client = _client(chatwoot)
    contact_id = client.find_or_create_contact(phone=PHONE, name="Maria")  # a kept-alive connection, too
    chatwoot.down(refuse=True)
    with pytest.raises(ChatwootError, match=r"^Chatwoot could not be reached for POST /contacts/filter \(") as caught:
        client.find_contact(phone=PHONE)
    assert caught.value.retryable and caught.value.status is None
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    chatwoot.down(False)
    assert client.find_contact(phone=PHONE)["id"] == contact_id  # and nothing it kept was lost


def test_a_chatwoot_slower_than_the_read_timeout_is_retryable(chatwoot):
    chatwoot.delay = 1.5  # two attempts that waited for it would take 3 s
    started = time.monotonic()
    with pytest.raises(ChatwootError, match=r"^Chatwoot did not answer POST /contacts/filter in time\.$") as caught:
        _client(chatwoot, timeout=(1, 0.2), attempts=2).find_contact(phone=PHONE)
    assert caught.value.retryable and caught.value.status is None
    assert len(chatwoot.requests) == 2 and time.monotonic() - started < 1.5


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (Answer(200, b"<html><body><h1>We're sorry, but something went wrong.</h1></body></html>", "text/html"),
         "with an HTML page instead of JSON: \"We're sorry, but something went wrong.\""),
        (Answer(200, b""), "with an empty body"),
        (Answer(200, b"  \n"), "with an empty body"),
        (Answer(200, b"Retry later", "text/plain"), "with something that is not JSON"),
        (json_answer(200, {"payload": "not a list"}), "a contact search without its list of contacts"),
    ],
    ids=["html", "empty", "blank", "text", "shape"],
)  # fmt: skip
def test_an_answer_that_is_not_chatwoots_json_is_a_clear_error_asked_once(chatwoot, answer, words):
    chatwoot.intercept = lambda request: answer
    with pytest.raises(ChatwootError, match="Chatwoot answered") as caught:
        _client(chatwoot).find_contact(phone=PHONE)
    assert words in str(caught.value) and not caught.value.retryable
    assert len(chatwoot.requests) == 1


def test_an_unknown_conversation_is_a_404_with_chatwoots_reason(chatwoot):
    with pytest.raises(ChatwootError) as caught:
        _client(chatwoot).get_conversation(999)
    assert str(caught.value) == "Chatwoot answered HTTP 404 to GET /conversations/999: Resource could not be found."
    assert caught.value.status == 404 and not caught.value.retryable


def test_a_redirect_is_not_followed_and_says_where_it_points(chatwoot):
    target = "https://chatwoot.provedor.example/app/login"
    chatwoot.intercept = lambda request: Answer(302, b"", headers={"Location": target})
    with pytest.raises(ChatwootError, match=rf"redirect \(HTTP 302\) to {target}: check the base URL"):
        _client(chatwoot).get_conversation(1)
    assert len(chatwoot.requests) == 1


def test_a_base_url_requests_cannot_use_is_not_retried():
    client = ChatwootClient(base_url="chatwoot.example", account_id=1, inbox_id=1, token=TOKEN, max_wait=0.01)
    with pytest.raises(ChatwootError, match=r"^Chatwoot's base URL cannot be used \(MissingSchema\)\.$") as caught:
        client.get_conversation(1)
    assert not caught.value.retryable


def test_the_token_never_reaches_an_error_or_a_log_line(chatwoot, caplog):
    echoes = [
        json_answer(500, {"error": f"boom: api_access_token {TOKEN}"}),
        json_answer(422, {"message": f"Invalid token {TOKEN}"}),
        Answer(200, f"<html><p>token {TOKEN}</p></html>".encode(), "text/html"),
        Answer(502, f"<html><p>upstream said {TOKEN}</p></html>".encode(), "text/html"),
        Answer(302, b"", headers={"Location": f"https://login.example/?token={TOKEN}"}),
    ]
    errors = []
    with caplog.at_level(logging.DEBUG):  # urllib3's request lines too
        for echo in echoes:
            chatwoot.intercept = lambda request, echo=echo: echo
            with pytest.raises(ChatwootError) as caught:
                _client(chatwoot, attempts=1).create_message(1, content="Oi")
            errors.append(str(caught.value))
        with pytest.raises(ChatwootError) as caught:
            ChatwootClient(
                base_url=f"http://127.0.0.1:{_free_port()}", account_id=1, inbox_id=1, token=TOKEN, attempts=1
            ).get_conversation(1)
        errors.append(str(caught.value))
    assert errors[0] == "Chatwoot is failing (HTTP 500) for POST /conversations/1/messages: boom: api_access_token ***."
    assert errors[1] == "Chatwoot answered HTTP 422 to POST /conversations/1/messages: Invalid token ***."
    masking = MaskingFilter()
    lines = []
    for record in caplog.records:
        masking.filter(record)  # what the configured handler does to every record before writing it
        lines.append(record.getMessage() + (record.exc_text or ""))
    assert any("HTTP POST" in line for line in lines)
    for text in [*errors, *lines]:
        assert TOKEN not in text, text
    # ... while every request carried it.
    assert {r.headers["api_access_token"] for r in chatwoot.requests} == {TOKEN}


def test_the_answer_bodies_are_parsed_as_chatwoot_sends_them(chatwoot):
    # A contact created with an inbox answers its contact_inbox too; the client reads the contact from it.
    chatwoot.intercept = lambda request: (
        json_answer(200, {"payload": {"contact": {"id": 77}, "contact_inbox": {"inbox": None, "source_id": None}}})
        if request.path.endswith("/contacts")
        else None
    )
    assert _client(chatwoot).find_or_create_contact(phone=PHONE, name="Maria") == 77
    chatwoot.intercept = lambda request: (
        json_answer(200, {"payload": {"contact_inbox": {}}}) if request.path.endswith("/contacts") else None
    )
    with pytest.raises(ChatwootError, match="without the contact it was asked for"):
        _client(chatwoot).find_or_create_contact(phone="5511912345678", name="Maria")
    chatwoot.intercept = lambda request: json_answer(200, {"id": "42"})
    with pytest.raises(ChatwootError, match="answered a message without its id"):
        _client(chatwoot).create_message(1, content="Oi")


def test_the_multipart_form_carries_booleans_and_attributes_as_rails_reads_them(chatwoot):
    client = _client(chatwoot)
    conversation_id = _conversation(chatwoot, client)
    client.create_message(
        conversation_id,
        content="Foto",
        private=False,
        source_id="ponte:msg:9",
        attachments=[Attachment("a.png", SAMPLE_IMAGE, "image/png")],
        content_attributes={"in_reply_to": 5},
    )
    [upload] = [r for r in chatwoot.requests if r.headers.get("content-type", "").startswith("multipart/")]
    text = upload.body if isinstance(upload.body, str) else ""
    assert 'name="private"\r\n\r\nfalse\r\n' in text
    assert 'name="message_type"\r\n\r\noutgoing\r\n' in text
    assert f'name="content_attributes"\r\n\r\n{json.dumps({"in_reply_to": 5})}\r\n' in text
    assert 'name="attachments[]"; filename="a.png"' in text


def test_a_token_that_cannot_be_a_header_is_a_clear_error_without_it(chatwoot):
    broken = "cw-token\nX-Injected: 1"
    with pytest.raises(ChatwootError) as caught:
        _client(chatwoot, token=broken).get_conversation(1)
    assert str(caught.value) == "Chatwoot could not be asked GET /conversations/1 (InvalidHeader)."
    assert not caught.value.retryable and chatwoot.requests == []
