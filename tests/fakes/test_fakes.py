"""The fakes answer and report in the providers' shapes: what they send parses as the real payloads do."""

import base64
import hashlib
import hmac
import json
import threading

import pytest
import requests

from conversations.whatsapp import cloud_webhook, evolution_webhook
from conversations.whatsapp.base import ConnectionUpdate, InboundMessage, StatusUpdate
from fakes import evolution_payloads, meta_payloads
from fakes.erp.server import KINDS, running_erp
from fakes.evolution import running_evolution
from fakes.graph_api import FakeGraphAPI, Webhook, running_graph_api
from fakes.media import SAMPLE_IMAGE
from fakes.server import Answer, FakeServer, Request, json_answer
from tests.conftest import META_API_FIXTURES, load_fixture

SECRET = "s3cret"
SEND = {"messaging_product": "whatsapp", "to": "5544998887777", "type": "text", "text": {"body": "Olá"}}


class Receiver(FakeServer):
    """Where the fakes post their webhooks: keeps each body with its headers, answers ``status``."""

    def __init__(self, status: int = 200) -> None:
        super().__init__()
        self.status = status
        self.received: list[Request] = []
        self.raw: list[bytes] = []
        self._lock = threading.Lock()

    def answer(self, request: Request, raw: bytes) -> Answer:
        with self._lock:
            self.received.append(request)
            self.raw.append(raw)
        return json_answer(self.status, {"status": "accepted"})


@pytest.fixture
def receiver():
    server = Receiver().start()
    yield server
    server.stop()


def _keys(tree):
    """The shape of a payload: its keys, recursively, lists by their first item."""
    if isinstance(tree, dict):
        return {key: _keys(value) for key, value in tree.items()}
    if isinstance(tree, list) and tree:
        return [_keys(tree[0])]
    return None


def _value(payload: dict) -> dict:
    return payload["entry"][0]["changes"][0]["value"]


def test_an_accepted_send_is_followed_by_sent_delivered_read_signed_statuses(receiver):
    hook = Webhook(url=f"{receiver.url}/hook", app_secret=SECRET, waba_id="42", display_number="+55 44 3030-0001")
    with running_graph_api(webhook=hook) as graph:
        answer = requests.post(f"{graph.url}/v25.0/777/messages", json=SEND, timeout=5).json()
        assert graph.callbacks.wait_idle()
    wamid = answer["messages"][0]["id"]
    assert answer["contacts"] == [{"input": "5544998887777", "wa_id": "5544998887777"}]
    assert len(receiver.raw) == 3
    events = []
    for request, raw in zip(receiver.received, receiver.raw, strict=True):
        expected = "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
        assert request.headers["x-hub-signature-256"] == expected
        events.extend(cloud_webhook.parse(json.loads(raw)))
    assert [(e.provider_id, e.status) for e in events] == [(wamid, s) for s in ("sent", "delivered", "read")]
    assert all(isinstance(e, StatusUpdate) and e.recipient == "5544998887777" for e in events)
    assert events[0].pricing == {"billable": True, "pricing_model": "PMP", "type": "regular", "category": "service"}
    sent = json.loads(receiver.raw[0])
    assert sent["entry"][0]["id"] == "42" and _value(sent)["metadata"] == {
        "display_phone_number": "554430300001",
        "phone_number_id": "777",
    }
    # Meta's own status webhook has the same shape (less the fields it adds for conversations).
    stored = _keys(_value(load_fixture("meta/v25_sample_sent.json"))["statuses"][0])
    ours = _keys(_value(sent)["statuses"][0])
    assert set(ours) <= set(stored) and ours["pricing"] == stored["pricing"]


def test_a_failing_send_reports_nothing_and_answers_metas_error(receiver):
    hook = Webhook(url=f"{receiver.url}/hook", app_secret=SECRET)
    with running_graph_api(webhook=hook, errors=META_API_FIXTURES) as graph:
        graph.fail_next(1, "error_131026_undeliverable")
        response = requests.post(f"{graph.url}/v25.0/777/messages", json=SEND, timeout=5)
        assert graph.callbacks.wait_idle()
    error = load_fixture("meta_api/error_131026_undeliverable.json")
    assert (response.status_code, response.json()) == (error["http_status"], error["body"])
    assert receiver.raw == []


def test_media_is_served_by_id_then_by_url_with_its_digest():
    with running_graph_api() as graph:
        info = requests.get(f"{graph.url}/v25.0/123", timeout=5).json()
        content = requests.get(info["url"], timeout=5).content
    assert content == SAMPLE_IMAGE and info["sha256"] == hashlib.sha256(content).hexdigest()
    assert set(info) == set(load_fixture("meta_api/media_url.json")["body"]) | {"messaging_product"}


TEMPLATE = {
    "name": "fatura",
    "language": "pt_BR",
    "category": "UTILITY",
    "components": [{"type": "BODY", "text": "Oi"}],
}


def test_a_created_template_is_approved_by_a_webhook_in_metas_shape(receiver):
    hook = Webhook(url=f"{receiver.url}/hook", app_secret=SECRET, waba_id="42")
    with running_graph_api(webhook=hook) as graph:
        created = requests.post(f"{graph.url}/v25.0/42/message_templates", json=TEMPLATE, timeout=5).json()
        again = requests.post(f"{graph.url}/v25.0/42/message_templates", json=TEMPLATE, timeout=5)
        assert graph.callbacks.wait_idle(timeout=10)
    assert created["status"] == "PENDING" and again.status_code == 400
    [approval] = [json.loads(raw) for raw in receiver.raw]
    assert _keys(approval) == _keys(load_fixture("meta/message_template_status_update_approved.json"))
    [event] = cloud_webhook.parse(approval)
    assert (event.field, event.value["event"], str(event.value["message_template_id"])) == (
        "message_template_status_update",
        "APPROVED",
        created["id"],
    )


def test_template_state_survives_a_restart_and_delete_removes_it(tmp_path):
    state = tmp_path / "templates.json"
    first = FakeGraphAPI(state=state).start()
    try:
        requests.post(f"{first.url}/v25.0/42/message_templates", json=TEMPLATE, timeout=5).raise_for_status()
    finally:
        first.stop()
    restarted = FakeGraphAPI(state=state).start()
    try:
        [listed] = requests.get(f"{restarted.url}/v25.0/42/message_templates", timeout=5).json()["data"]
        assert (listed["name"], listed["status"]) == ("fatura", "APPROVED")
        assert requests.get(f"{restarted.url}/v25.0/43/message_templates", timeout=5).json()["data"] == []
        gone = requests.delete(f"{restarted.url}/v25.0/42/message_templates", params={"name": "fatura"}, timeout=5)
        assert gone.json() == {"success": True}
        assert requests.get(f"{restarted.url}/v25.0/42/message_templates", timeout=5).json()["data"] == []
    finally:
        restarted.stop()


def test_evolution_refuses_a_call_without_its_key():
    with running_evolution(api_key="k") as evolution:
        response = requests.post(f"{evolution.url}/message/sendText/demo", json={"number": "1", "text": "x"}, timeout=5)
    assert response.status_code == 401 and response.json()["response"]["message"] == ["Unauthorized"]


def test_evolution_reports_connection_then_each_send_as_evolution_does(receiver):
    with running_evolution(
        api_key="k", webhook_url=f"{receiver.url}/hook", number="+55 44 3030-0002", instance="demo"
    ) as evolution:
        headers = {"apikey": "k"}
        body = {"number": "5544998887777", "text": "Olá"}
        sent = requests.post(f"{evolution.url}/message/sendText/demo", json=body, headers=headers, timeout=5)
        media = requests.post(
            f"{evolution.url}/chat/getBase64FromMediaMessage/demo", json={"message": {}}, headers=headers, timeout=5
        ).json()
        assert evolution.callbacks.wait_idle()
    assert sent.status_code == 201
    key = sent.json()["key"]
    assert key == {"remoteJid": "5544998887777@s.whatsapp.net", "fromMe": True, "id": key["id"]}
    assert base64.b64decode(media["base64"]) == SAMPLE_IMAGE
    payloads = [json.loads(raw) for raw in receiver.raw]
    assert [p["event"] for p in payloads] == ["connection.update", "send.message", *["messages.update"] * 3]
    assert all(p["apikey"] == "k" and p["instance"] == "demo" for p in payloads)
    assert set(payloads[0]) == set(load_fixture("evolution/connection_update_open.json"))
    # Evolution's own ack carries its instance's internal id as well, which nothing reads.
    read = load_fixture("evolution/messages_update_read.json")["data"]
    assert set(payloads[-1]["data"]) == set(read) - {"instanceId"}
    events = [event for payload in payloads for event in evolution_webhook.parse(payload)]
    assert isinstance(events[0], ConnectionUpdate) and events[0].state == "open"
    statuses = [(e.provider_id, e.status) for e in events if isinstance(e, StatusUpdate)]
    assert statuses == [(key["id"], s) for s in ("sent", "delivered", "read")]


@pytest.mark.parametrize("kind", meta_payloads.INBOUND_KINDS)
def test_meta_samples_parse_as_the_customers_message_they_stand_for(kind):
    payload = meta_payloads.inbound(
        kind, waba_id="1", phone_number_id="777", display_number="+55 44 3030-0001", sender="5544998887777"
    )
    fixture = {"image": "message_image", "location": "message_location", "button": "message_interactive_button_reply"}
    stored = load_fixture(f"meta/{fixture.get(kind, 'message_text')}.json")
    assert _keys(payload) == _keys(stored)
    [event] = cloud_webhook.parse(payload)
    assert isinstance(event, InboundMessage) and event.contact.wa_id == "5544998887777"
    assert event.type == {"button": "interactive"}.get(kind, kind)


@pytest.mark.parametrize("kind", evolution_payloads.INBOUND_KINDS)
def test_evolution_samples_parse_as_the_customers_message_they_stand_for(kind):
    data = evolution_payloads.inbound_data(kind, sender="5544998887777")
    payload = evolution_payloads.envelope(
        "messages.upsert", instance="demo", data=data, api_key="k", destination="", sender="", server_url=""
    )
    assert set(payload) == set(load_fixture("evolution/messages_upsert_text.json"))
    [event] = evolution_webhook.parse(payload)
    assert isinstance(event, InboundMessage) and event.contact.wa_id == "5544998887777"
    assert event.type == {"button": "interactive"}.get(kind, kind)


@pytest.mark.parametrize("kind", KINDS)
def test_every_erp_kind_the_fake_lists_serves_and_fails_in_its_own_shape(kind):
    with running_erp(kind) as erp:
        assert requests.get(f"{erp.url}/", timeout=5).status_code < 500  # it answers, whatever the route
        erp.fail = "error"
        failed = requests.post(f"{erp.url}/api/", json={}, timeout=5)
        assert failed.status_code == 200 and failed.json()  # the kind's own error shape, as JSON
        erp.fail = "down"
        assert requests.get(f"{erp.url}/", timeout=5).status_code == 503


def test_a_fake_lists_what_it_received_to_a_harness_in_another_process():
    with running_evolution(api_key="k") as fake:
        sent = requests.post(
            f"{fake.url}/message/sendText/bench",
            json={"number": "5544998887777", "text": "Olá"},
            headers={"apikey": "k"},
            timeout=5,
        )
        requests.post(f"{fake.url}/message/sendText/bench", json={"number": "1", "text": "x"}, timeout=5)
        first = requests.get(f"{fake.url}/_fake/requests?since=0", timeout=5).json()
        later = requests.get(f"{fake.url}/_fake/requests?since={first['next']}", timeout=5).json()
    assert first["next"] == 2 and later == {"requests": [], "next": 2}
    accepted, refused = first["requests"]
    assert accepted["message_id"] == sent.json()["key"]["id"] and accepted["status"] == 201
    assert accepted["body"] == {"number": "5544998887777", "text": "Olá"}
    assert accepted["path"] == "/message/sendText/bench"
    assert accepted["wall"] <= refused["wall"] and refused["status"] == 401
