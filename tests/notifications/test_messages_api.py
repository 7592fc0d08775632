"""POST/GET /api/v1/messages: validation, 202 with an id, window refusal, idempotency, tenant isolation."""

import datetime as dt

import pytest
from django.utils import timezone

from conversations.models import Contact, Message
from conversations.services import outbound
from tests.factories import CloudChannelFactory, EvolutionChannelFactory


@pytest.fixture(autouse=True)
def no_dispatch(monkeypatch):
    # Queuing is the subject here; the engine has its own tests.
    monkeypatch.setattr(outbound, "kick_outbox", lambda: None)


@pytest.fixture
def evolution(company):
    return EvolutionChannelFactory(company=company, connection_state="open")


def _post(client, body, **headers):
    return client.post("/api/v1/messages", body, format="json", **headers)


@pytest.mark.django_db
def test_a_text_is_queued_and_answered_with_202(company_client, company, evolution):
    response = _post(company_client, {"to": "+55 (44) 99888-7777", "text": "Olá"})
    assert response.status_code == 202, response.json()
    body = response.json()
    assert (body["status"], body["to"], body["channel"], body["type"]) == (
        "queued",
        "5544998887777",
        evolution.pk,
        "text",
    )
    assert [h["status"] for h in body["history"]] == ["queued"]
    message = Message.objects.get(pk=body["id"])
    assert message.data["content"] == {"kind": "text", "text": "Olá", "reply_to": ""}
    assert company_client.get(f"/api/v1/messages/{body['id']}").json()["id"] == body["id"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("payload", "fields"),
    [
        ({"to": "5544998887777"}, {"text", "media", "location", "template"}),
        ({"to": "5544998887777", "text": "a", "location": {"latitude": 1, "longitude": 2}}, {"text", "location"}),
        ({"to": "12", "text": "a"}, {"to"}),
        ({"to": "5544998887777", "text": "a", "colour": "blue"}, {"colour"}),
        ({"to": "5544998887777", "media": {"kind": "exe", "url": "https://x.example/a"}}, {"media"}),
        ({"to": "5544998887777", "location": {"latitude": 91, "longitude": 0}}, {"location"}),
        ({"to": "5544998887777", "template": {"name": "Bad Name"}}, {"template"}),
        ({"to": "5544998887777", "text": ""}, {"text"}),
        ({"to": "5544998887777", "text": "a", "channel": "one"}, {"channel"}),
    ],
)
def test_bad_requests_name_the_field(company_client, evolution, payload, fields):
    response = _post(company_client, payload)
    assert response.status_code == 400
    assert set(response.json()["error"]["details"]) == fields
    assert not Message.objects.exists()


def _approved_template(company, waba_id, **overrides):
    from templates_meta.models import Template

    fields = {
        "company": company,
        "waba_id": waba_id,
        "name": "fatura",
        "language": "pt_BR",
        "status": "APPROVED",
        "components": [
            {"type": "BODY", "text": "Olá {{1}}, sua fatura vence amanhã.", "example": {"body_text": [["Maria"]]}},
            {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Pagar"}]},
        ],
    }
    return Template.objects.create(**{**fields, **overrides})


@pytest.mark.django_db
def test_free_form_outside_the_window_is_refused_with_409(company_client, company):
    channel = CloudChannelFactory(company=company)
    _approved_template(company, channel.waba_id)
    Contact.objects.create(
        company=company, phone="5544998887777", last_inbound_at=timezone.now() - dt.timedelta(days=2)
    )
    response = _post(company_client, {"to": "5544998887777", "text": "Olá", "channel": channel.pk})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "window_closed"
    assert not Message.objects.exists()
    template = _post(
        company_client,
        {"to": "5544998887777", "channel": channel.pk, "template": {"name": "fatura", "parameters": ["Maria"]}},
    )
    assert template.status_code == 202
    content = Message.objects.get().data["content"]
    assert content["components"] == [{"type": "body", "parameters": [{"type": "text", "text": "Maria"}]}]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("status", "parameters", "detail"),
    [
        ("APPROVED", [], "parameters"),
        ("APPROVED", ["Maria", "extra"], "parameters"),
        ("PAUSED", ["Maria"], "template"),
        ("PENDING", ["Maria"], "template"),
    ],
)
def test_templates_must_be_approved_and_filled_right(company_client, company, status, parameters, detail):
    channel = CloudChannelFactory(company=company)
    _approved_template(company, channel.waba_id, status=status)
    response = _post(
        company_client,
        {"to": "5544998887777", "channel": channel.pk, "template": {"name": "fatura", "parameters": parameters}},
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "template_not_usable"
    assert detail in response.json()["error"]["details"]
    assert not Message.objects.exists()


@pytest.mark.django_db
def test_an_unknown_template_is_422(company_client, company):
    channel = CloudChannelFactory(company=company)
    response = _post(company_client, {"to": "5544998887777", "channel": channel.pk, "template": {"name": "nada"}})
    assert response.status_code == 422


@pytest.mark.django_db
def test_the_same_idempotency_key_and_body_send_once(company_client, evolution):
    body = {"to": "5544998887777", "text": "Boleto"}
    first = _post(company_client, body, HTTP_IDEMPOTENCY_KEY="erp-123")
    again = _post(company_client, body, HTTP_IDEMPOTENCY_KEY="erp-123")
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Message.objects.count() == 1


@pytest.mark.django_db
def test_the_same_key_with_another_body_is_409(company_client, evolution):
    _post(company_client, {"to": "5544998887777", "text": "Boleto"}, HTTP_IDEMPOTENCY_KEY="erp-123")
    response = _post(company_client, {"to": "5544998887777", "text": "PIX"}, HTTP_IDEMPOTENCY_KEY="erp-123")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "idempotency_key_reused"
    assert Message.objects.count() == 1


@pytest.mark.django_db
def test_keys_are_per_company(company_client, other_company_client, evolution, other_company):
    EvolutionChannelFactory(company=other_company, connection_state="open")
    body = {"to": "5544998887777", "text": "Boleto"}
    assert _post(company_client, body, HTTP_IDEMPOTENCY_KEY="k").status_code == 202
    assert _post(other_company_client, body, HTTP_IDEMPOTENCY_KEY="k").status_code == 202
    assert Message.objects.count() == 2


@pytest.mark.django_db
def test_a_failed_request_does_not_burn_the_key(company_client, evolution):
    assert _post(company_client, {"to": "1", "text": "x"}, HTTP_IDEMPOTENCY_KEY="k").status_code == 400
    assert _post(company_client, {"to": "5544998887777", "text": "x"}, HTTP_IDEMPOTENCY_KEY="k").status_code == 202


@pytest.mark.django_db
def test_company_a_key_gets_404_for_company_b_messages(company_client, other_company_client, evolution):
    message_id = _post(company_client, {"to": "5544998887777", "text": "x"}).json()["id"]
    assert other_company_client.get(f"/api/v1/messages/{message_id}").status_code == 404
    assert other_company_client.post(f"/api/v1/messages/{message_id}/retry").status_code == 404
    assert other_company_client.get("/api/v1/messages").json()["count"] == 0


@pytest.mark.django_db
def test_retry_requeues_a_failed_message_only(company_client, evolution):
    message_id = _post(company_client, {"to": "5544998887777", "text": "x"}).json()["id"]
    assert company_client.post(f"/api/v1/messages/{message_id}/retry").status_code == 409
    Message.objects.filter(pk=message_id).update(status="failed", error_code="131026")
    response = company_client.post(f"/api/v1/messages/{message_id}/retry")
    assert response.status_code == 202
    assert response.json()["status"] == "queued"


@pytest.mark.django_db
def test_an_inactive_company_cannot_send(company_client, company, evolution):
    company.status = "inactive"
    company.save()
    response = _post(company_client, {"to": "5544998887777", "text": "x"})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "company_inactive"


@pytest.mark.django_db
def test_a_channel_of_another_company_is_400(company_client, other_company, evolution):
    foreign = EvolutionChannelFactory(company=other_company)
    response = _post(company_client, {"to": "5544998887777", "text": "x", "channel": foreign.pk})
    assert response.status_code == 400
    assert "channel" in response.json()["error"]["details"]


@pytest.mark.django_db
def test_no_channel_is_409(company_client):
    response = _post(company_client, {"to": "5544998887777", "text": "x"})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "no_channel"


@pytest.mark.django_db
def test_on_evolution_a_template_goes_as_its_text(company_client, company, evolution):
    _approved_template(company, "")
    response = _post(company_client, {"to": "5544998887777", "template": {"name": "fatura", "parameters": ["Maria"]}})
    assert response.status_code == 202
    content = Message.objects.get().data["content"]
    assert content["rendered_text"] == "Olá Maria, sua fatura vence amanhã.\n\n1 - Pagar"


@pytest.mark.django_db
def test_list_filters_by_status(company_client, evolution, django_assert_max_num_queries):
    for i in range(5):
        _post(company_client, {"to": f"55449988877{i:02d}", "text": "x"})
    Message.objects.filter(pk=Message.objects.first().pk).update(status="failed")
    with django_assert_max_num_queries(8):
        body = company_client.get("/api/v1/messages", {"status": "failed"}).json()
    assert body["count"] == 1


@pytest.mark.django_db
def test_a_status_filter_not_in_the_list_is_400(company_client):
    response = company_client.get("/api/v1/messages", {"status": "lost"})
    assert response.status_code == 400
    assert list(response.json()["error"]["details"]) == ["status"]


@pytest.mark.django_db
def test_a_blank_status_filter_lists_every_message(company_client, evolution):
    _post(company_client, {"to": "5544998887700", "text": "x"})
    assert company_client.get("/api/v1/messages", {"status": ""}).json()["count"] == 1
