"""The campaigns API: create, upload (raw CSV or multipart, streamed, its own size limit), start / pause /
resume / cancel, every recipient's status, the refused rows; bad input, idempotency and tenant isolation."""

import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from notifications.campaigns import engine
from notifications.models import Campaign, CampaignUpload
from notifications.tasks.campaigns import import_campaign_upload
from tests.factories import CloudChannelFactory

pytestmark = pytest.mark.django_db
CSV = "telefone;nome;data\n5544999990001;Maria;28/11\n5544999990002;João;29/11\nabc;José;28/11\n"
CREATE = {"name": "Manutenção", "template": "aviso_manutencao", "columns": {"1": "nome", "2": "data"}}


def _create(client, **body):
    return client.post("/api/v1/campaigns", {**CREATE, **body}, format="json")


def _upload(client, campaign_id, text=CSV, **headers):
    return client.post(
        f"/api/v1/campaigns/{campaign_id}/recipients",
        data=text.encode(),
        content_type="text/csv",
        headers={"X-Filename": "clientes.csv", **headers},
    )


@pytest.fixture
def campaign_id(company_client, template):
    response = _create(company_client)
    assert response.status_code == 201, response.json()
    return response.json()["id"]


def test_create_answers_the_draft(company_client, template):
    response = _create(company_client, messages_per_minute=600)
    assert response.status_code == 201
    body = response.json()
    assert (body["status"], body["template"], body["language"], body["messages_per_minute"]) == (
        "draft",
        "aviso_manutencao",
        "pt_BR",
        600,
    )
    assert body["stats"]["recipients"] == 0 and body["uploads"] == []


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({"template": "nao_existe"}, 422, "template_not_usable", None),
        ({"columns": {"9": "x"}}, 422, "template_not_usable", "columns"),
        ({"fixed": {"1": " "}}, 422, "template_not_usable", "fixed"),
        ({"messages_per_minute": 0}, 400, "invalid", "messages_per_minute"),
        ({"messages_per_minute": 60_001}, 400, "invalid", "messages_per_minute"),
        ({"start_at": "amanhã"}, 400, "invalid", "start_at"),
        ({"nome": "x"}, 400, "invalid", "nome"),
        ({"name": ""}, 400, "invalid", "name"),
        ({"columns": ["1"]}, 400, "invalid", "columns"),
    ],
)
def test_bad_campaigns_are_refused_naming_why(company_client, template, body, status, code, field):
    response = _create(company_client, **body)
    assert response.status_code == status, response.json()
    error = response.json()["error"]
    assert error["code"] == code
    if field:
        assert field in error["details"]
    assert not Campaign.objects.exists()


def test_a_template_not_approved_is_refused(company_client, template):
    template.status = "PENDING"
    template.save()
    assert _create(company_client).status_code == 422


def test_another_companys_channel_is_refused(company_client, template, other_company):
    other = CloudChannelFactory(company=other_company)
    response = _create(company_client, channel=other.pk)
    assert response.status_code == 400
    assert response.json()["error"]["details"] == {"channel": ["Not an active channel of this company."]}


def test_upload_then_the_campaign_shows_its_rows(company_client, campaign_id, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = _upload(company_client, campaign_id)
    assert response.status_code == 202, response.json()
    upload = response.json()
    assert (upload["filename"], upload["delimiter"], upload["phone_column"], upload["status"]) == (
        "clientes.csv",
        ";",
        "telefone",
        "importing",
    )
    campaign = company_client.get(f"/api/v1/campaigns/{campaign_id}").json()
    assert (
        campaign["uploads"][0] | {"status": "imported", "rows": 3, "valid": 2, "invalid": 1} == campaign["uploads"][0]
    )
    assert campaign["stats"] | {"recipients": 2, "pending": 2, "invalid_rows": 1, "progress": 0.0} == campaign["stats"]
    errors = company_client.get(f"/api/v1/campaigns/{campaign_id}/errors").json()["results"]
    assert [(e["line"], e["phone"]) for e in errors] == [(4, "abc")]
    recipients = company_client.get(f"/api/v1/campaigns/{campaign_id}/recipients").json()["results"]
    assert [(r["to"], r["line"], r["status"]) for r in recipients] == [
        ("5544999990001", 2, "pending"),
        ("5544999990002", 3, "pending"),
    ]


def test_a_multipart_upload_is_taken_too(company_client, campaign_id, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = company_client.post(
            f"/api/v1/campaigns/{campaign_id}/recipients",
            {"file": SimpleUploadedFile("lista.csv", CSV.encode(), content_type="text/csv")},
            format="multipart",
        )
    assert response.status_code == 202, response.json()
    assert response.json()["filename"] == "lista.csv"
    assert CampaignUpload.objects.get().valid == 2


def test_a_csv_over_the_api_body_limit_is_taken_up_to_its_own(company_client, campaign_id, settings):
    settings.API_MAX_BODY_BYTES = 1024
    big = "phone,nome,data\n" + "".join(f"55449{n:08d},Nome {n},28/11\n" for n in range(200))
    assert len(big) > 1024
    assert _upload(company_client, campaign_id, big).status_code == 202
    settings.CAMPAIGN_CSV_MAX_BYTES = 1024
    response = _upload(company_client, campaign_id, big)
    assert response.status_code == 413
    assert response.json()["error"]["details"] == {"limit_bytes": 1024}


@pytest.mark.parametrize(
    ("text", "words"),
    [("", "empty"), ("nome;data\nMaria;28/11\n", "no phone column"), ("phone\n5544999990001\n", "no column")],
)
def test_a_csv_that_cannot_be_the_list_is_a_422(company_client, campaign_id, text, words):
    response = _upload(company_client, campaign_id, text)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "csv_not_usable" and words in response.json()["error"]["message"]
    assert not CampaignUpload.objects.exists()


def test_an_upload_that_is_not_a_csv_is_a_415(company_client, campaign_id):
    response = company_client.post(f"/api/v1/campaigns/{campaign_id}/recipients", {"phone": "1"}, format="json")
    assert response.status_code == 415
    response = company_client.post(f"/api/v1/campaigns/{campaign_id}/recipients", {}, format="multipart")
    assert response.status_code == 400 and "'file'" in response.json()["error"]["message"]


def test_start_pause_resume_cancel(company_client, campaign_id, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        _upload(company_client, campaign_id)
    url = f"/api/v1/campaigns/{campaign_id}"
    assert company_client.post(f"{url}/pause").json()["error"]["code"] == "campaign_state"
    started = company_client.post(f"{url}/start")
    assert (started.status_code, started.json()["status"]) == (202, "running")
    Campaign.objects.filter(pk=campaign_id).update(pumped_at=timezone.now() - dt.timedelta(seconds=5))
    engine.pump_campaign(campaign_id)
    assert company_client.get(url).json()["stats"]["queued"] == 2
    paused = company_client.post(f"{url}/pause").json()
    assert (paused["status"], paused["stats"]["pending"], paused["stats"]["queued"]) == ("paused", 2, 0)
    assert company_client.post(f"{url}/resume").json()["status"] == "running"
    cancelled = company_client.post(f"{url}/cancel").json()
    assert (cancelled["status"], cancelled["stats"]["cancelled"]) == ("cancelled", 2)
    again = company_client.post(f"{url}/cancel")
    assert again.status_code == 409 and again.json()["error"]["details"] == {"status": "cancelled"}
    upload_after = _upload(company_client, campaign_id)
    assert upload_after.status_code == 409


def test_start_without_recipients_is_a_409(company_client, campaign_id):
    response = company_client.post(f"/api/v1/campaigns/{campaign_id}/start")
    assert response.status_code == 409 and response.json()["error"]["code"] == "campaign_empty"


def test_recipients_filtered_by_status_and_a_bad_status_is_a_400(company_client, campaign_id):
    _upload(company_client, campaign_id)
    import_campaign_upload(CampaignUpload.objects.get().pk)
    url = f"/api/v1/campaigns/{campaign_id}/recipients"
    assert len(company_client.get(f"{url}?status=pending").json()["results"]) == 2
    assert company_client.get(f"{url}?status=sent").json()["results"] == []
    assert company_client.get(f"{url}?status=whatever").status_code == 400


def test_the_same_idempotency_key_and_file_store_it_once(company_client, campaign_id):
    first = _upload(company_client, campaign_id, **{"Idempotency-Key": "lista-1"})
    again = _upload(company_client, campaign_id, **{"Idempotency-Key": "lista-1"})
    assert (first.status_code, again.status_code) == (202, 202)
    assert again.headers["Idempotent-Replayed"] == "true" and again.json() == first.json()
    assert CampaignUpload.objects.count() == 1
    other = _upload(company_client, campaign_id, CSV + "5544999990009;Ana;30/11\n", **{"Idempotency-Key": "lista-1"})
    assert other.status_code == 409 and other.json()["error"]["code"] == "idempotency_key_reused"


def test_the_same_idempotency_key_creates_one_campaign(company_client, template):
    headers = {"Idempotency-Key": "campanha-1"}
    first = company_client.post("/api/v1/campaigns", CREATE, format="json", headers=headers)
    again = company_client.post("/api/v1/campaigns", CREATE, format="json", headers=headers)
    assert first.json()["id"] == again.json()["id"] and Campaign.objects.count() == 1


def test_another_companys_campaign_is_not_found(other_company_client, campaign_id):
    url = f"/api/v1/campaigns/{campaign_id}"
    for method, path in [
        ("get", url),
        ("get", f"{url}/recipients"),
        ("get", f"{url}/errors"),
        ("post", f"{url}/start"),
        ("post", f"{url}/cancel"),
    ]:
        assert getattr(other_company_client, method)(path).status_code == 404, path
    assert _upload(other_company_client, campaign_id).status_code == 404
    assert other_company_client.get("/api/v1/campaigns").json()["results"] == []


def test_without_a_key_nothing_is_answered(anon_client, campaign_id):
    assert anon_client.get("/api/v1/campaigns").status_code in (401, 403)
    assert _upload(anon_client, campaign_id).status_code in (401, 403)
    assert not CampaignUpload.objects.exists()
