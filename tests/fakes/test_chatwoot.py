"""The fake Chatwoot answers and reports as Chatwoot does: its webhooks have the fixtures' shapes and are signed,
its REST answers Chatwoot's, and its test controls act as an agent would."""

import json
import threading
import time

import pytest
import requests

from conversations.chatwoot import signing
from fakes.chatwoot import FakeChatwoot, parse_multipart, running_chatwoot
from fakes.media import SAMPLE_IMAGE
from fakes.server import Answer, FakeServer, Request, json_answer
from tests.conftest import load_fixture

TOKEN = "fake-cw-token"
SECRET = "cw-signing-secret"
PHONE = "5544998887777"


class Receiver(FakeServer):
    """Where the fake posts its webhooks: keeps each with its headers and raw body, answers ``status``."""

    def __init__(self, status: int = 200) -> None:
        super().__init__()
        self.status = status
        self.received: list[Request] = []
        self.raw: list[bytes] = []
        self._seen = threading.Lock()

    def answer(self, request: Request, raw: bytes) -> Answer:
        with self._seen:
            self.received.append(request)
            self.raw.append(raw)
        return json_answer(self.status, {"ok": True})

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Request]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return list(self.received)


@pytest.fixture
def receiver():
    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture
def chatwoot(receiver):
    with running_chatwoot(token=TOKEN, webhook_url=f"{receiver.url}/hook", signing_secret=SECRET, inbox_id=5) as fake:
        yield fake


def _api(fake: FakeChatwoot, method: str, path: str, *, token: str = TOKEN, **kwargs) -> requests.Response:
    headers = {"api_access_token": token} if token else {}
    return requests.request(method, f"{fake.url}/api/v1/accounts/1{path}", headers=headers, timeout=5, **kwargs)


def _compare(ours, theirs, where: str = "payload") -> None:
    """The same keys at every level, and the same kind of value where both have one (null may stand for an object)."""
    if isinstance(ours, dict) and isinstance(theirs, dict):
        assert set(ours) == set(theirs), f"{where}: {sorted(set(ours) ^ set(theirs))}"
        for key in ours:
            _compare(ours[key], theirs[key], f"{where}.{key}")
    elif isinstance(ours, list) and isinstance(theirs, list):
        if ours and theirs:
            _compare(ours[0], theirs[0], f"{where}[0]")
    elif ours is not None and theirs is not None:
        assert type(ours) is type(theirs), f"{where}: {type(ours).__name__} for {type(theirs).__name__}"


def _same_shape(payload: dict, fixture_name: str) -> None:
    _compare(payload, load_fixture(f"chatwoot/{fixture_name}"))


def _conversation(fake: FakeChatwoot) -> tuple[int, int]:
    contact = fake.add_contact(name="Maria Souza", phone_number=f"+{PHONE}", identifier=PHONE, source_id=PHONE)
    created = _api(
        fake, "POST", "/conversations", json={"source_id": PHONE, "inbox_id": 5, "contact_id": contact["id"]}
    )
    assert created.status_code == 200
    return contact["id"], created.json()["id"]


def _events(fake: FakeChatwoot, event: str) -> list:
    return [w for w in fake.webhooks if w.event == event]


# ---------------------------------------------------------------------- webhook shapes


def test_an_agents_reply_is_message_created_in_the_fixtures_shape(chatwoot):
    _, conversation_id = _conversation(chatwoot)
    message = chatwoot.agent_message(conversation_id, "Olá Maria, vou verificar sua fatura.")
    [webhook] = _events(chatwoot, "message_created")
    _same_shape(webhook.payload, "message_created_outgoing_agent_text.json")
    payload = webhook.payload
    assert (payload["id"], payload["content"], payload["message_type"], payload["private"]) == (
        message["id"],
        "Olá Maria, vou verificar sua fatura.",
        "outgoing",
        False,
    )
    assert payload["source_id"] is None and payload["sender"]["type"] == "user"
    assert payload["created_at"].endswith("Z") and payload["conversation"]["id"] == conversation_id
    assert payload["conversation"]["contact_inbox"]["source_id"] == PHONE
    # Inside the conversation, the last message in push_event_data's shape: message_type a number there.
    [last] = payload["conversation"]["messages"]
    assert (last["id"], last["message_type"], last["sender_type"]) == (message["id"], 1, "User")
    notes_sample = {"id", "content", "account_id", "inbox_id", "conversation_id", "message_type", "created_at"}
    assert notes_sample | {"private", "status", "source_id", "content_type", "sender_type", "sender"} <= set(last)


def test_a_private_note_is_delivered_and_left_out_of_the_conversations_messages(chatwoot):
    _, conversation_id = _conversation(chatwoot)
    chatwoot.agent_message(conversation_id, "Oi")
    chatwoot.agent_message(conversation_id, "Cliente com 2 faturas em aberto", private=True)
    note = _events(chatwoot, "message_created")[-1].payload
    _same_shape(note, "message_created_private_note.json")
    assert note["private"] is True
    assert [m["content"] for m in note["conversation"]["messages"]] == ["Oi"]


def test_an_agents_image_is_an_attachment_served_at_its_data_url(chatwoot):
    _, conversation_id = _conversation(chatwoot)
    chatwoot.agent_message(conversation_id, None, attachments=[("print.png", SAMPLE_IMAGE, "image/png")])
    payload = _events(chatwoot, "message_created")[-1].payload
    _same_shape(payload, "message_created_outgoing_with_image.json")
    [attachment] = payload["attachments"]
    assert (attachment["file_type"], attachment["file_size"], payload["content"]) == ("image", len(SAMPLE_IMAGE), None)
    downloaded = requests.get(attachment["data_url"], timeout=5)  # an ActiveStorage redirect, followed
    assert downloaded.status_code == 200 and downloaded.content == SAMPLE_IMAGE
    assert downloaded.headers["content-type"] == "image/png" and downloaded.history[0].status_code == 302


def test_our_own_incoming_message_echoes_with_its_source_id_and_the_contact_as_sender(chatwoot):
    contact_id, conversation_id = _conversation(chatwoot)
    body = {"content": "Oi, quero a segunda via", "message_type": "incoming", "source_id": "ponte:msg:1"}
    created = _api(chatwoot, "POST", f"/conversations/{conversation_id}/messages", json=body)
    assert created.status_code == 200 and created.json()["message_type"] == 0  # a number in REST answers
    payload = _events(chatwoot, "message_created")[-1].payload
    _same_shape(payload, "message_created_incoming_own_echo.json")
    assert (payload["source_id"], payload["message_type"], payload["sender"]["id"]) == (
        "ponte:msg:1",
        "incoming",
        contact_id,
    )
    assert "type" not in payload["sender"]


def test_an_agent_opening_a_conversation_is_conversation_created_then_its_message(chatwoot):
    contact = chatwoot.add_contact(name="Maria Souza", phone_number=f"+{PHONE}")
    conversation_id = chatwoot.agent_opens_conversation(contact["id"], message="Bom dia, Maria")
    created, message = chatwoot.webhooks
    assert (created.event, message.event) == ("conversation_created", "message_created")
    _same_shape(created.payload, "conversation_created_by_agent.json")
    assert created.payload["id"] == conversation_id and created.payload["meta"]["sender"]["id"] == contact["id"]
    assert message.payload["content"] == "Bom dia, Maria" and message.payload["sender"]["name"] == "Ana (Suporte)"
    [conversation] = chatwoot.conversations
    assert conversation["source_id"] == chatwoot.contacts[0]["contact_inboxes"][0]["source_id"]  # a UUID, made for it


def test_resolving_is_status_changed_then_updated_with_the_status(chatwoot):
    _, conversation_id = _conversation(chatwoot)
    chatwoot.resolve(conversation_id)
    changed, updated = chatwoot.webhooks[-2:]
    assert (changed.event, updated.event) == ("conversation_status_changed", "conversation_updated")
    _same_shape(changed.payload, "conversation_status_changed_resolved.json")
    assert (changed.payload["status"], changed.payload["changed_attributes"]) == ("resolved", None)
    assert updated.payload["changed_attributes"][0] == {
        "status": {"previous_value": "open", "current_value": "resolved"}
    }
    chatwoot.resolve(conversation_id)  # no change, no event
    assert len(_events(chatwoot, "conversation_status_changed")) == 1
    chatwoot.reopen(conversation_id)
    reopened = _events(chatwoot, "conversation_status_changed")[-1]
    _same_shape(reopened.payload, "conversation_status_changed_open.json")
    assert reopened.payload["status"] == "open"


@pytest.mark.parametrize(
    ("change", "fixture", "attribute", "values"),
    [
        ({"assignee": 3}, "conversation_updated_assignee.json", "assignee_id", (None, 3)),
        ({"team": 2}, "conversation_updated_team.json", "team_id", (None, 2)),
    ],
)
def test_an_assignee_or_team_change_is_conversation_updated_with_its_changed_attributes(
    chatwoot, change, fixture, attribute, values
):
    _, conversation_id = _conversation(chatwoot)
    chatwoot.assign(conversation_id, **change)
    updated = chatwoot.webhooks[-1]
    assert updated.event == "conversation_updated"
    _same_shape(updated.payload, fixture)
    changed = updated.payload["changed_attributes"]
    assert changed[0] == {attribute: {"previous_value": values[0], "current_value": values[1]}}
    assert list(changed[1]) == ["updated_at"]
    meta = updated.payload["meta"]
    assert (meta["assignee"] or {}).get("id") == change.get("assignee")
    assert (meta["team"] or {}).get("id") == change.get("team")


def test_unassigning_and_changing_the_team_are_reported_as_chatwoot_does(chatwoot):
    _, conversation_id = _conversation(chatwoot)
    chatwoot.assign(conversation_id, assignee=3, team=1)
    chatwoot.assign(conversation_id, team=2)
    assert chatwoot.webhooks[-1].payload["changed_attributes"][0] == {
        "team_id": {"previous_value": 1, "current_value": 2}
    }
    chatwoot.assign(conversation_id, assignee=None)
    assert chatwoot.webhooks[-1].payload["changed_attributes"][0] == {
        "assignee_id": {"previous_value": 3, "current_value": None}
    }
    assert chatwoot.conversations[0]["assignee"] is None and chatwoot.conversations[0]["team"]["id"] == 2


def test_the_customer_writing_into_a_resolved_conversation_reopens_it_first(chatwoot):
    _, conversation_id = _conversation(chatwoot)
    chatwoot.resolve(conversation_id)
    body = {"content": "Oi de novo", "message_type": "incoming", "source_id": "ponte:msg:2"}
    assert _api(chatwoot, "POST", f"/conversations/{conversation_id}/messages", json=body).status_code == 200
    assert [w.event for w in chatwoot.webhooks[-3:]] == [
        "conversation_status_changed",
        "conversation_updated",
        "message_created",
    ]
    assert chatwoot.conversations[0]["status"] == "open"


# ---------------------------------------------------------------------- delivery and signatures


def test_every_webhook_is_posted_signed_as_chatwoot_signs(chatwoot, receiver):
    _, conversation_id = _conversation(chatwoot)
    chatwoot.agent_message(conversation_id, "Olá")
    received = receiver.wait_for(2)
    assert [json.loads(raw)["event"] for raw in receiver.raw] == ["conversation_created", "message_created"]
    for request, raw, webhook in zip(received, receiver.raw, chatwoot.webhooks, strict=True):
        assert request.path == "/hook" and request.headers["content-type"] == "application/json"
        assert raw == webhook.body
        timestamp, signature = request.headers["x-chatwoot-timestamp"], request.headers["x-chatwoot-signature"]
        assert signing.verify(SECRET, timestamp, raw, signature)
        assert not signing.verify(SECRET, timestamp, raw + b" ", signature)
        assert not signing.verify("another-secret", timestamp, raw, signature)
        assert request.headers["x-chatwoot-delivery"] == webhook.delivery_id
    assert len({r.headers["x-chatwoot-delivery"] for r in received}) == 2


def test_without_a_secret_webhooks_are_unsigned_but_carry_their_delivery_id(receiver):
    with running_chatwoot(token=TOKEN, webhook_url=receiver.url) as fake:
        fake.agent_opens_conversation(fake.add_contact(name="Maria", phone_number=f"+{PHONE}")["id"])
        [request] = receiver.wait_for(1)
    assert "x-chatwoot-signature" not in request.headers and "x-chatwoot-timestamp" not in request.headers
    assert len(request.headers["x-chatwoot-delivery"]) == 36


def test_a_redelivery_keeps_the_delivery_id_and_the_body(chatwoot, receiver):
    _, conversation_id = _conversation(chatwoot)
    chatwoot.agent_message(conversation_id, "Olá")
    original = chatwoot.webhooks[-1]
    again = chatwoot.redeliver()
    assert (again.delivery_id, again.body, again.event) == (original.delivery_id, original.body, "message_created")
    received = receiver.wait_for(3)
    assert [r.headers["x-chatwoot-delivery"] for r in received[1:]] == [original.delivery_id] * 2
    assert receiver.raw[1] == receiver.raw[2]
    last = received[2]
    assert signing.verify(
        SECRET, last.headers["x-chatwoot-timestamp"], receiver.raw[2], last.headers["x-chatwoot-signature"]
    )
    first = chatwoot.webhooks[0]
    assert chatwoot.redeliver(first).delivery_id == first.delivery_id


def test_a_webhook_not_taken_is_not_retried_unless_asked():
    failing = Receiver(status=500).start()
    try:
        with running_chatwoot(token=TOKEN, webhook_url=failing.url) as fake:
            assert fake.webhook_timeout == 5.0  # Chatwoot's WEBHOOK_TIMEOUT default
            fake.agent_opens_conversation(fake.add_contact(name="Maria", phone_number=f"+{PHONE}")["id"])
            assert fake.wait_webhooks()
            assert [(d.status, d.attempts) for d in fake.callbacks.deliveries] == [(500, 1)]
        with running_chatwoot(token=TOKEN, webhook_url=failing.url, webhook_retries=True) as fake:
            fake.agent_opens_conversation(fake.add_contact(name="Maria", phone_number=f"+{PHONE}")["id"])
            deadline = time.monotonic() + 5
            while len(failing.received) < 3 and time.monotonic() < deadline:
                time.sleep(0.02)
        assert len(failing.received) >= 3  # one from the first fake, then the retries of the second
    finally:
        failing.stop()


def test_the_webhook_url_can_be_set_after_the_start(receiver):
    with running_chatwoot(token=TOKEN) as fake:
        contact = fake.add_contact(name="Maria", phone_number=f"+{PHONE}")
        fake.agent_opens_conversation(contact["id"])  # listed, posted nowhere
        fake.webhook_url = receiver.url
        fake.agent_opens_conversation(contact["id"])
        receiver.wait_for(1)
        assert len(fake.webhooks) == 2 and len(receiver.received) == 1


# ---------------------------------------------------------------------- the API


def test_every_call_needs_the_token(chatwoot):
    missing = _api(chatwoot, "GET", "/conversations/1", token="")
    wrong = _api(chatwoot, "GET", "/conversations/1", token="guess")
    assert (missing.status_code, wrong.status_code) == (401, 401)
    assert wrong.json() == {"error": "Invalid Access Token"}
    other_account = requests.get(
        f"{chatwoot.url}/api/v1/accounts/2/conversations/1", headers={"api_access_token": TOKEN}, timeout=5
    )
    assert other_account.status_code == 401


def test_a_contact_is_created_in_chatwoots_shape_and_never_twice(chatwoot):
    body = {"inbox_id": 5, "name": "Maria", "phone_number": f"+{PHONE}", "identifier": PHONE, "source_id": PHONE}
    created = _api(chatwoot, "POST", "/contacts", json=body)
    assert created.status_code == 200
    payload = created.json()["payload"]
    assert payload["contact"]["phone_number"] == f"+{PHONE}"
    assert payload["contact_inbox"]["source_id"] == PHONE and payload["contact_inbox"]["inbox"]["id"] == 5
    assert payload["contact"]["contact_inboxes"] == [{"source_id": PHONE, "inbox": payload["contact_inbox"]["inbox"]}]
    again = _api(chatwoot, "POST", "/contacts", json={"name": "Maria", "phone_number": f"+{PHONE}"})
    assert again.status_code == 422
    assert again.json() == {"message": "Phone number has already been taken", "attributes": ["phone_number"]}
    both = _api(chatwoot, "POST", "/contacts", json={"name": "M", "phone_number": f"+{PHONE}", "identifier": PHONE})
    assert both.json()["message"] == "Phone number has already been taken, Identifier has already been taken"
    invalid = _api(chatwoot, "POST", "/contacts", json={"name": "M", "phone_number": PHONE})
    assert invalid.status_code == 422 and invalid.json()["message"] == "Phone number should be in e164 format"
    assert len(chatwoot.contacts) == 1


def test_the_contact_filter_answers_as_chatwoots(chatwoot):
    contact = chatwoot.add_contact(name="Maria", phone_number=f"+{PHONE}", identifier="Maria@LID")

    def search(attribute, value):
        condition = {
            "attribute_key": attribute,
            "filter_operator": "equal_to",
            "values": [value],
            "query_operator": None,
        }
        return _api(chatwoot, "POST", "/contacts/filter", json={"payload": [condition]}).json()

    found = search("phone_number", PHONE)
    assert found["meta"] == {"count": 1, "current_page": 1} and [c["id"] for c in found["payload"]] == [contact["id"]]
    assert search("phone_number", f"+{PHONE}")["payload"] == []  # Chatwoot puts the "+" before the value itself
    assert search("identifier", "maria@lid")["meta"]["count"] == 1
    assert _api(chatwoot, "POST", "/contacts/filter", json={"payload": []}).status_code == 422


def test_toggle_status_answers_chatwoots_payload(chatwoot):
    _, conversation_id = _conversation(chatwoot)
    toggled = _api(chatwoot, "POST", f"/conversations/{conversation_id}/toggle_status", json={})
    assert toggled.json() == {
        "meta": {},
        "payload": {
            "success": True,
            "conversation_id": conversation_id,
            "current_status": "resolved",
            "snoozed_until": None,
        },
    }
    bad = _api(chatwoot, "POST", f"/conversations/{conversation_id}/toggle_status", json={"status": "closed"})
    assert bad.status_code == 422
    assert _api(chatwoot, "POST", "/conversations/99/toggle_status", json={}).json() == {
        "error": "Resource could not be found"
    }


def test_a_conversation_answers_with_its_meta_status_and_attributes(chatwoot):
    contact_id, conversation_id = _conversation(chatwoot)
    _api(chatwoot, "POST", f"/conversations/{conversation_id}/custom_attributes", json={"custom_attributes": {"p": 1}})
    chatwoot.assign(conversation_id, assignee=4, team=2)
    shown = _api(chatwoot, "GET", f"/conversations/{conversation_id}").json()
    assert (shown["id"], shown["inbox_id"], shown["status"], shown["custom_attributes"]) == (
        conversation_id,
        5,
        "open",
        {"p": 1},
    )
    assert shown["meta"]["sender"]["id"] == contact_id
    assert (shown["meta"]["assignee"]["name"], shown["meta"]["team"]["name"]) == ("Bruno (Financeiro)", "financeiro")
    listed = _api(chatwoot, "GET", f"/contacts/{contact_id}/conversations").json()["payload"]
    assert [c["id"] for c in listed] == [conversation_id]


def test_the_down_controls_fail_every_call_then_serve_again(chatwoot):
    chatwoot.down()
    down = _api(chatwoot, "GET", "/conversations/1")
    assert down.status_code == 503 and down.headers["content-type"] == "text/html" and b"nginx" in down.content
    chatwoot.down(refuse=True)
    with pytest.raises(requests.ConnectionError):
        _api(chatwoot, "GET", "/conversations/1")
    chatwoot.down(False)
    assert _api(chatwoot, "GET", "/conversations/1").status_code == 404  # up again, answering as usual
    chatwoot.fail_next(2, status=502)
    assert [_api(chatwoot, "GET", "/conversations/1").status_code for _ in range(3)] == [502, 502, 404]


def test_multipart_bodies_are_read_byte_for_byte():
    prepared = requests.Request(
        "POST",
        "http://127.0.0.1/x",
        data={"content": "Olá", "private": "true"},
        files=[
            ("attachments[]", ("a.png", SAMPLE_IMAGE, "image/png")),
            ("attachments[]", ("b.bin", b"\r\n--\r\n", "")),
        ],
    ).prepare()
    fields, files = parse_multipart(prepared.headers["Content-Type"], prepared.body)
    assert fields == {"content": "Olá", "private": "true"}
    assert files == [("a.png", SAMPLE_IMAGE, "image/png"), ("b.bin", b"\r\n--\r\n", "application/octet-stream")]


def test_content_attributes_are_kept_as_chatwoot_keeps_them(chatwoot):
    _, conversation_id = _conversation(chatwoot)
    first = _api(
        chatwoot, "POST", f"/conversations/{conversation_id}/messages", json={"content": "a", "source_id": "x1"}
    )
    body = {"content": "b", "content_attributes": {"in_reply_to": first.json()["id"], "mine": 1}}
    second = _api(chatwoot, "POST", f"/conversations/{conversation_id}/messages", json=body).json()
    assert second["content_attributes"] == {"in_reply_to": first.json()["id"], "in_reply_to_external_id": "x1"}


# ---------------------------------------------------------------------- driven from another process


def test_an_agent_replies_through_the_control_endpoint_and_its_webhook_follows(chatwoot, receiver):
    _, conversation_id = _conversation(chatwoot)
    before = time.time()
    answer = requests.post(
        f"{chatwoot.url}/_fake/agent_message",
        json={"conversation_id": conversation_id, "content": "Olá, sou a Ana"},
        timeout=5,
    )
    assert answer.status_code == 200
    made = answer.json()
    assert before <= made["at"] <= time.time()
    assert made["message"]["content"] == "Olá, sou a Ana" and made["message"]["message_type"] == "outgoing"
    assert [m["content"] for m in chatwoot.messages(conversation_id)][-1] == "Olá, sou a Ana"
    [webhook] = _events(chatwoot, "message_created")
    assert webhook.payload["content"] == "Olá, sou a Ana" and webhook.payload["sender"]["type"] == "user"
    posted = [r.body for r in receiver.wait_for(2) if r.body["event"] == "message_created"]
    assert [body["content"] for body in posted] == ["Olá, sou a Ana"]
    # The control call is no request of the API's: the requests listed are the conversation's creation only.
    listed = requests.get(f"{chatwoot.url}/_fake/requests?since=0", timeout=5).json()
    assert [r["path"] for r in listed["requests"]] == ["/api/v1/accounts/1/conversations"]


@pytest.mark.parametrize(
    ("body", "status"),
    [({"conversation_id": 999, "content": "Oi"}, 404), ({"conversation_id": "1", "content": "Oi"}, 400), ({}, 400)],
)
def test_an_agent_reply_to_no_conversation_or_without_content_is_refused(chatwoot, body, status):
    answer = requests.post(f"{chatwoot.url}/_fake/agent_message", json=body, timeout=5)
    assert answer.status_code == status and "error" in answer.json()
    assert chatwoot.webhooks == []
