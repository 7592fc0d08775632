"""POST /api/v1/notifications/contract-events against a fake ERP on loopback: texts, routing, refusals."""

import pytest
from django.utils import timezone

from conversations.models import Contact, Message
from notifications.models import Notice, NoticeRecipient
from templates_meta.models import Template
from templates_meta.services import create_default_drafts
from tests.factories import CloudChannelFactory, EvolutionChannelFactory

URL = "/api/v1/notifications/contract-events"
SUPPORT = ", para regularização entre em contato com a gente pelo telefone (44) 98888-8888"
TEXTS = {
    "ACTIVATE": "Olá João Pereira, seu contrato foi Ativado em nossa base",
    "BLOCK": "Olá João Pereira, seu contrato foi Bloqueado em nossa base" + SUPPORT,
    "UNBLOCK": "Olá João Pereira, seu contrato foi Desbloqueado em nossa base",
    "SUSPEND": "Olá João Pereira, seu contrato foi Suspenso em nossa base",
    "REACTIVATE": "Olá João Pereira, seu contrato foi Reativado em nossa base",
    "CANCEL": "Olá João Pereira, seu contrato foi Cancelado em nossa base" + SUPPORT,
    "BANDWIDTH_LIMIT": "Olá João Pereira, seu contrato foi Reduzido a banda de navegação em nossa base" + SUPPORT,
}
# Customer 1002 of the demo ERP keeps two numbers in one field: "44 99777-0000 / (44) 3031-0001".
JOAO_PHONES = ["5544997770000", "554430310001"]


def _post(client, body, **headers):
    return client.post(URL, body, format="json", **headers)


@pytest.mark.django_db
@pytest.mark.parametrize("event", list(TEXTS))
def test_each_event_sends_its_exact_words_to_every_number_of_the_customer(company_client, evolution, event):
    response = _post(company_client, {"customer": 1002, "contract": 5002, "event": event})
    assert response.status_code == 202, response.json()
    body = response.json()
    assert (body["kind"], body["customer"], body["customer_name"], body["contract"], body["event"]) == (
        "contract_event",
        "1002",
        "João Pereira",
        "5002",
        event,
    )
    assert [r["phone"] for r in body["recipients"]] == JOAO_PHONES
    for recipient in body["recipients"]:
        assert recipient["status"] == "queued" and recipient["failure"] == ""
        [message] = recipient["messages"]
        assert message["text"] == TEXTS[event]
        stored = Message.objects.get(pk=message["id"])
        assert stored.channel == evolution and stored.data["content"]["kind"] == "text"
        assert stored.reference == f"notice:{body['id']}"


@pytest.mark.django_db
def test_the_seeds_keys_and_a_lower_case_event_are_accepted(company_client, evolution):
    response = _post(company_client, {"Cliente": 1002, "Contrato": "5002", "Evento": "unblock"})
    assert response.status_code == 202, response.json()
    assert response.json()["event"] == "UNBLOCK"
    assert Message.objects.filter(text=TEXTS["UNBLOCK"]).count() == 2


@pytest.mark.django_db
def test_an_unknown_event_is_a_422_naming_the_allowed_ones(company_client, evolution):
    response = _post(company_client, {"customer": 1002, "event": "PAUSE"})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "unknown_event"
    assert error["details"]["allowed"] == [
        "ACTIVATE",
        "BLOCK",
        "UNBLOCK",
        "SUSPEND",
        "REACTIVATE",
        "CANCEL",
        "BANDWIDTH_LIMIT",
    ]
    assert "BANDWIDTH_LIMIT" in error["message"]
    assert not Notice.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("payload", "fields"),
    [
        ({"event": "BLOCK"}, {"customer"}),
        ({"customer": 1002}, {"event"}),
        ({"customer": 1002, "event": "BLOCK", "colour": "blue"}, {"colour"}),
        ({"customer": True, "event": "BLOCK"}, {"customer"}),
        ({"customer": {"id": 1}, "event": "BLOCK"}, {"customer"}),
        ({"customer": "", "event": "BLOCK"}, {"customer"}),
    ],
)
def test_bad_requests_name_the_field(company_client, evolution, payload, fields):
    response = _post(company_client, payload)
    assert response.status_code == 400
    assert set(response.json()["error"]["details"]) == fields


@pytest.mark.django_db
def test_an_unknown_customer_is_a_404_in_the_error_format(company_client, evolution):
    response = _post(company_client, {"customer": 999999, "event": "BLOCK"})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "customer_not_found"
    assert response.json()["error"]["details"] == {"customer": "999999"}
    assert not Notice.objects.exists()


@pytest.mark.django_db
def test_a_customer_without_a_whatsapp_number_is_accepted_with_that_recipient_failed(company_client, evolution):
    response = _post(company_client, {"customer": 1005, "event": "SUSPEND"})  # no phone in the ERP
    assert response.status_code == 202
    [recipient] = response.json()["recipients"]
    assert recipient["status"] == "failed"
    assert "no WhatsApp number" in recipient["failure"]
    assert recipient["messages"] == [] and not Message.objects.exists()


@pytest.mark.django_db
def test_a_landline_only_customer_is_told_on_the_landline(company_client, evolution):
    response = _post(company_client, {"customer": 1008, "event": "ACTIVATE"})  # "(44) 3025-4000"
    assert [r["phone"] for r in response.json()["recipients"]] == ["554430254000"]


# ---------------------------------------------------------------------------- routing


def _approved_drafts(company):
    create_default_drafts(company=company)
    Template.objects.filter(company=company).update(status=Template.Status.APPROVED)


@pytest.mark.django_db
def test_evolution_disconnected_goes_as_the_events_template_on_cloud(company_client, erp_company):
    EvolutionChannelFactory(company=erp_company, connection_state="close")
    cloud = CloudChannelFactory(company=erp_company)
    _approved_drafts(erp_company)
    response = _post(company_client, {"customer": 1002, "event": "BLOCK"})
    assert response.status_code == 202, response.json()
    for recipient in response.json()["recipients"]:
        [message] = recipient["messages"]
        stored = Message.objects.get(pk=message["id"])
        assert stored.channel == cloud
        content = stored.data["content"]
        assert (content["kind"], content["name"]) == ("template", "contrato_block")
        assert content["components"] == [
            {
                "type": "body",
                "parameters": [{"type": "text", "text": "João Pereira"}, {"type": "text", "text": "(44) 98888-8888"}],
            }
        ]


@pytest.mark.django_db
def test_cloud_only_without_a_template_fails_each_recipient_saying_why(company_client, erp_company):
    CloudChannelFactory(company=erp_company)
    erp_company.active_channel_policy = "cloud_only"
    erp_company.save()
    response = _post(company_client, {"customer": 1002, "event": "BLOCK"})
    assert response.status_code == 202
    for recipient in response.json()["recipients"]:
        assert recipient["status"] == "failed" and recipient["messages"] == []
        assert "contract_block" in recipient["failure"] and "24 h window is closed" in recipient["failure"]
    assert NoticeRecipient.objects.filter(failure="").count() == 0


@pytest.mark.django_db
def test_cloud_with_the_window_open_and_no_template_sends_the_text(company_client, erp_company):
    CloudChannelFactory(company=erp_company)
    Contact.objects.create(company=erp_company, phone=JOAO_PHONES[0], last_inbound_at=timezone.now())
    response = _post(company_client, {"customer": 1002, "event": "ACTIVATE"})
    open_window, closed = response.json()["recipients"]
    assert open_window["messages"][0]["text"] == TEXTS["ACTIVATE"] and open_window["status"] == "queued"
    assert closed["status"] == "failed"


@pytest.mark.django_db
def test_a_template_not_approved_fails_the_recipient_with_metas_state(company_client, erp_company):
    CloudChannelFactory(company=erp_company)
    create_default_drafts(company=erp_company)  # drafts: never submitted to Meta
    response = _post(company_client, {"customer": 1002, "event": "BLOCK"})
    assert {r["status"] for r in response.json()["recipients"]} == {"failed"}
    assert "only approved templates are sent" in response.json()["recipients"][0]["failure"]


# ---------------------------------------------------------------------------- refusals: nothing accepted


@pytest.mark.django_db
def test_the_erp_down_is_a_503_with_retry_after_and_nothing_accepted(company_client, evolution, erp):
    erp.fail = "down"
    response = _post(company_client, {"customer": 1002, "event": "BLOCK"})
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "erp_unavailable"
    assert int(response["Retry-After"]) > 0
    assert not Notice.objects.exists() and not Message.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("failure", ["html", "error", "empty", "garbage"])
def test_an_erp_answering_garbage_is_a_502_saying_so(company_client, evolution, erp, failure):
    erp.fail = failure
    response = _post(company_client, {"customer": 1002, "event": "BLOCK"})
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "erp_error"
    assert "IXC" in response.json()["error"]["details"]["reason"]
    assert not Notice.objects.exists()


@pytest.mark.django_db
def test_a_company_without_erp_or_channel_is_a_409(company_client, company):
    response = _post(company_client, {"customer": 1002, "event": "BLOCK"})
    assert (response.status_code, response.json()["error"]["code"]) == (409, "no_channel")
    EvolutionChannelFactory(company=company, connection_state="open")
    response = _post(company_client, {"customer": 1002, "event": "BLOCK"})
    assert (response.status_code, response.json()["error"]["code"]) == (409, "erp_not_configured")


@pytest.mark.django_db
def test_an_inactive_company_is_a_409(company_client, evolution, erp_company):
    erp_company.status = "inactive"
    erp_company.save()
    response = _post(company_client, {"customer": 1002, "event": "BLOCK"})
    assert (response.status_code, response.json()["error"]["code"]) == (409, "company_inactive")


# ---------------------------------------------------------------------------- idempotency, reading, tenancy


@pytest.mark.django_db
def test_the_same_key_and_body_answer_again_and_send_nothing_twice(company_client, evolution, erp):
    body = {"customer": 1002, "contract": 5002, "event": "BLOCK"}
    first = _post(company_client, body, HTTP_IDEMPOTENCY_KEY="erp-block-5002")
    again = _post(company_client, body, HTTP_IDEMPOTENCY_KEY="erp-block-5002")
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    assert Notice.objects.count() == 1 and Message.objects.count() == 2
    other = _post(company_client, {**body, "event": "UNBLOCK"}, HTTP_IDEMPOTENCY_KEY="erp-block-5002")
    assert (other.status_code, other.json()["error"]["code"]) == (409, "idempotency_key_reused")


@pytest.mark.django_db
def test_a_notice_is_read_back_with_each_recipients_progress(company_client, evolution):
    notice_id = _post(company_client, {"customer": 1002, "event": "BLOCK"}).json()["id"]
    first, second = Message.objects.order_by("pk")
    Message.objects.filter(pk=first.pk).update(status=Message.Status.READ)
    Message.objects.filter(pk=second.pk).update(status=Message.Status.FAILED, error_reason="131026 not on WhatsApp")
    body = company_client.get(f"/api/v1/notifications/{notice_id}").json()
    assert [r["status"] for r in body["recipients"]] == ["read", "failed"]
    assert body["recipients"][1]["messages"][0]["error_reason"] == "131026 not on WhatsApp"
    listed = company_client.get("/api/v1/notifications", {"kind": "contract_event"}).json()
    assert [n["id"] for n in listed["results"]] == [notice_id]
    assert company_client.get("/api/v1/notifications", {"kind": "billing"}).json()["results"] == []
    assert company_client.get("/api/v1/notifications", {"kind": "nope"}).status_code == 400


@pytest.mark.django_db
def test_another_companys_key_never_reads_a_notice(company_client, other_company_client, evolution):
    notice_id = _post(company_client, {"customer": 1002, "event": "BLOCK"}).json()["id"]
    assert other_company_client.get(f"/api/v1/notifications/{notice_id}").status_code == 404
    assert other_company_client.get("/api/v1/notifications").json()["results"] == []


@pytest.mark.django_db
def test_without_a_key_it_is_401(anon_client, evolution):
    assert _post(anon_client, {"customer": 1002, "event": "BLOCK"}).status_code == 401


@pytest.mark.django_db
def test_the_erps_answers_are_reused_for_a_minute(company_client, evolution, erp):
    _post(company_client, {"customer": 1002, "event": "BLOCK"})
    asked = len(erp.requests)
    _post(company_client, {"customer": 1002, "event": "UNBLOCK"})
    assert asked > 0 and len(erp.requests) == asked
