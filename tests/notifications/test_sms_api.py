"""POST/GET /api/v1/sms: validation, 202 with each number, refusals, idempotency, tenant isolation, limits."""

import pytest
import yaml

from notifications.models import SmsMessage, SmsRecipient
from tests.notifications.sms_helpers import fake_gateway, point_at


@pytest.fixture
def gateway():
    server = fake_gateway().start()
    yield server
    server.stop()


@pytest.fixture
def sms_company(company, gateway):
    return point_at(company, gateway)


def _post(client, body, **headers):
    return client.post("/api/v1/sms", body, format="json", **headers)


@pytest.mark.django_db
def test_a_list_of_numbers_is_queued_and_answered_with_202(company_client, sms_company, gateway):
    response = _post(
        company_client, {"to": ["5544998887777", "+55 (44) 99888-6666"], "text": "Sua fatura vence amanhã"}
    )
    assert response.status_code == 202, response.json()
    body = response.json()
    assert [(r["to"], r["status"], r["attempts"]) for r in body["recipients"]] == [
        ("5544998887777", "queued", 0),
        ("5544998886666", "queued", 0),
    ]
    assert (body["text"], body["parts"]) == ("Sua fatura vence amanhã", 1)
    assert SmsMessage.objects.get(pk=body["id"]).company == sms_company
    assert gateway.messages == []  # sent after the commit, by the task (test_sms_sending)


@pytest.mark.django_db
def test_a_comma_separated_string_is_many_numbers_and_repeats_are_sent_once(company_client, sms_company):
    response = _post(company_client, {"to": "5544998887777, 44 99888-6666,(44) 99888-7777 , ", "text": "Olá"})
    assert response.status_code == 202, response.json()
    assert [r["to"] for r in response.json()["recipients"]] == ["5544998887777", "5544998886666"]


@pytest.mark.django_db
def test_list_items_may_hold_several_numbers_too(company_client, sms_company):
    response = _post(company_client, {"to": ["5544998887777; 5544998886666", "5544998885555"], "text": "Olá"})
    assert [r["to"] for r in response.json()["recipients"]] == ["5544998887777", "5544998886666", "5544998885555"]


@pytest.mark.django_db
def test_numbers_may_be_json_numbers(company_client, sms_company):
    response = _post(company_client, {"to": [5544998887777], "text": "Olá"})
    assert response.status_code == 202
    assert response.json()["recipients"][0]["to"] == "5544998887777"


@pytest.mark.django_db
def test_invalid_numbers_are_a_400_naming_each_of_them(company_client, sms_company):
    response = _post(company_client, {"to": "5544998887777, 12345, 4430300000, abc", "text": "Olá"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    (reason,) = error["details"]["to"]
    assert "12345, 4430300000, abc" in reason  # a landline (4430300000) gets no SMS either
    assert not SmsMessage.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("payload", "field", "words"),
    [
        ({"to": "5544998887777", "text": ""}, "text", "blank"),
        ({"to": "5544998887777", "text": "   "}, "text", "blank"),
        ({"to": "5544998887777"}, "text", "required"),
        ({"to": "5544998887777", "text": "a" * 919}, "text", "918"),
        ({"to": "5544998887777", "text": "ã" * 403}, "text", "7 SMS parts; at most 6"),
        ({"to": "", "text": "Olá"}, "to", "at least one"),
        ({"to": [], "text": "Olá"}, "to", "at least one"),
        ({"to": " , ,", "text": "Olá"}, "to", "at least one"),
        ({"to": [True], "text": "Olá"}, "to", "list of numbers"),
        ({"to": {"n": "5544998887777"}, "text": "Olá"}, "to", "list of numbers"),
        ({"to": [f"55449988{n:05d}" for n in range(101)], "text": "Olá"}, "to", "At most 100"),
        ({"text": "Olá"}, "to", "required"),
        ({"to": "5544998887777", "text": "Olá", "channel": 1}, "channel", "Unknown field"),
    ],
)
def test_bad_requests_name_the_field(company_client, sms_company, payload, field, words):
    response = _post(company_client, payload)
    assert response.status_code == 400, response.json()
    details = response.json()["error"]["details"]
    assert set(details) == {field}
    assert words in details[field][0]
    assert not SmsMessage.objects.exists()


@pytest.mark.django_db
def test_a_text_with_accents_counts_its_parts_as_ucs2(company_client, sms_company):
    response = _post(company_client, {"to": "5544998887777", "text": "ã" * 71})
    assert response.json()["parts"] == 2


@pytest.mark.django_db
def test_a_company_without_a_gateway_is_refused_with_409(company_client, company):
    response = _post(company_client, {"to": "5544998887777", "text": "Olá"})
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "sms_gateway_not_configured"
    assert error["details"] == {"reason": "No SMS gateway URL template is set for the company."}
    assert not SmsMessage.objects.exists()


@pytest.mark.django_db
def test_an_inactive_company_is_refused_with_409(company_client, sms_company):
    sms_company.status = sms_company.Status.INACTIVE
    sms_company.save()
    response = _post(company_client, {"to": "5544998887777", "text": "Olá"})
    assert (response.status_code, response.json()["error"]["code"]) == (409, "company_inactive")


@pytest.mark.django_db
def test_the_same_idempotency_key_and_body_answer_the_first_answer_and_send_once(
    company_client, sms_company, gateway, django_capture_on_commit_callbacks
):
    body = {"to": ["5544998887777", "5544998886666"], "text": "Boleto"}
    with django_capture_on_commit_callbacks(execute=True):
        first = _post(company_client, body, HTTP_IDEMPOTENCY_KEY="erp-123")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        again = _post(company_client, body, HTTP_IDEMPOTENCY_KEY="erp-123")
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert callbacks == []
    assert SmsMessage.objects.count() == 1
    assert SmsMessage.objects.get().idempotency_key == "erp-123"
    assert sorted(sms.to for sms in gateway.messages) == ["5544998886666", "5544998887777"]


@pytest.mark.django_db
def test_the_same_key_with_another_body_is_409(company_client, sms_company):
    _post(company_client, {"to": "5544998887777", "text": "Boleto"}, HTTP_IDEMPOTENCY_KEY="erp-123")
    response = _post(company_client, {"to": "5544998887777", "text": "PIX"}, HTTP_IDEMPOTENCY_KEY="erp-123")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "idempotency_key_reused"
    assert SmsMessage.objects.count() == 1


@pytest.mark.django_db
def test_a_refused_request_does_not_use_up_its_key(company_client, company, gateway):
    body = {"to": "5544998887777", "text": "Boleto"}
    assert _post(company_client, body, HTTP_IDEMPOTENCY_KEY="erp-9").status_code == 409  # no gateway yet
    point_at(company, gateway)
    assert _post(company_client, body, HTTP_IDEMPOTENCY_KEY="erp-9").status_code == 202


@pytest.mark.django_db
def test_the_detail_shows_each_number_s_state(company_client, sms_company):
    sms_id = _post(company_client, {"to": "5544998887777,5544998886666", "text": "Olá"}).json()["id"]
    SmsRecipient.objects.filter(phone="5544998886666").update(
        status="failed", error_code="gateway_error", error="The gateway refused the SMS: ERRO: saldo insuficiente"
    )
    response = company_client.get(f"/api/v1/sms/{sms_id}")
    assert response.status_code == 200
    recipients = {r["to"]: r for r in response.json()["recipients"]}
    assert recipients["5544998887777"]["status"] == "queued"
    assert (recipients["5544998886666"]["status"], recipients["5544998886666"]["error_code"]) == (
        "failed",
        "gateway_error",
    )


@pytest.mark.django_db
def test_another_company_s_key_gets_404_and_never_sees_it_listed(company_client, other_company_client, sms_company):
    sms_id = _post(company_client, {"to": "5544998887777", "text": "Olá"}).json()["id"]
    response = other_company_client.get(f"/api/v1/sms/{sms_id}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert other_company_client.get("/api/v1/sms").json()["count"] == 0
    assert company_client.get("/api/v1/sms").json()["count"] == 1


@pytest.mark.django_db
def test_the_list_is_newest_first_and_filters_by_status_and_number(
    company_client, sms_company, django_assert_max_num_queries
):
    first = _post(company_client, {"to": "5544998887777", "text": "Um"}).json()["id"]
    second = _post(company_client, {"to": "5544998886666,5544998885555", "text": "Dois"}).json()["id"]
    SmsRecipient.objects.filter(phone="5544998885555").update(status="failed")
    with django_assert_max_num_queries(6):
        listed = company_client.get("/api/v1/sms").json()
    assert [sms["id"] for sms in listed["results"]] == [second, first]
    assert [s["id"] for s in company_client.get("/api/v1/sms", {"status": "failed"}).json()["results"]] == [second]
    by_number = company_client.get("/api/v1/sms", {"to": "(44) 99888-7777"}).json()["results"]
    assert [s["id"] for s in by_number] == [first]


@pytest.mark.django_db
@pytest.mark.parametrize(("query", "field"), [({"status": "lost"}, "status"), ({"to": "12"}, "to")])
def test_a_filter_it_cannot_read_is_a_400(company_client, query, field):
    response = company_client.get("/api/v1/sms", query)
    assert response.status_code == 400
    assert set(response.json()["error"]["details"]) == {field}


@pytest.mark.django_db
def test_no_key_is_401_and_a_platform_token_is_403(anon_client, staff_client):
    assert anon_client.post("/api/v1/sms", {}, format="json").status_code == 401
    assert staff_client.get("/api/v1/sms").status_code == 403


@pytest.mark.django_db
def test_a_key_over_its_rate_limit_gets_429_in_the_error_format(settings, company_client, sms_company):
    settings.API_RATE_LIMIT_PER_KEY = "2/m"
    statuses = [_post(company_client, {"to": "5544998887777", "text": "Olá"}).status_code for _ in range(3)]
    assert statuses == [202, 202, 429]
    response = company_client.get("/api/v1/sms")
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "throttled"
    assert int(response["Retry-After"]) >= 1
    assert SmsMessage.objects.count() == 2


@pytest.mark.django_db
def test_the_schema_documents_the_sms_endpoints_with_examples_and_their_409_codes(client):
    schema = yaml.safe_load(client.get("/api/schema/").content)
    post = schema["paths"]["/api/v1/sms"]["post"]
    assert post["requestBody"]["content"]["application/json"]["examples"]
    assert "202" in post["responses"]
    conflicts = post["responses"]["409"]["content"]["application/json"]["examples"].values()
    assert {example["value"]["error"]["code"] for example in conflicts} == {
        "sms_gateway_not_configured",
        "company_inactive",
        "idempotency_key_reused",
    }
    assert {"get"} <= set(schema["paths"]["/api/v1/sms/{id}"])
    to = schema["components"]["schemas"]["SendSmsRequest"]["properties"]["to"]
    assert [option["type"] for option in to["oneOf"]] == ["array", "string"]
