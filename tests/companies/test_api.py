import uuid

import pytest

from companies.models import Channel, Company
from tests.factories import CloudChannelFactory, CompanyFactory

SECRETS = {"meta_app_secret": "s3cr3t-app", "erp_token": "erp-token-value", "chatwoot_api_token": "cw-token"}


@pytest.mark.django_db
def test_staff_creates_a_company_and_secrets_never_come_back(staff_client):
    payload = {
        "name": "Provedor Novo",
        "support_phone": "(44) 98888-8888",
        "business_hours": {"mon": [["08:00", "18:00"]]},
        **SECRETS,
    }
    response = staff_client.post("/api/v1/companies/", payload, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert uuid.UUID(body["contract"])
    assert sorted(body["configured_secrets"]) == sorted(SECRETS)
    for value in SECRETS.values():
        assert value not in response.content.decode()
    company = Company.objects.get(contract=body["contract"])
    assert company.erp_token == "erp-token-value"

    again = staff_client.get(f"/api/v1/companies/{company.contract}/")
    for value in SECRETS.values():
        assert value not in again.content.decode()


@pytest.mark.django_db
def test_staff_creates_with_a_given_contract_once(staff_client):
    contract = str(uuid.uuid4())
    first = staff_client.post("/api/v1/companies/", {"name": "A", "contract": contract}, format="json")
    assert first.status_code == 201
    second = staff_client.post("/api/v1/companies/", {"name": "B", "contract": contract}, format="json")
    assert second.status_code == 400
    assert "contract" in second.json()["error"]["details"]


@pytest.mark.django_db
def test_patch_keeps_omitted_secrets_and_blank_clears_them(staff_client):
    company = CompanyFactory(erp_token="keep-me", sms_password="clear-me")
    response = staff_client.patch(
        f"/api/v1/companies/{company.contract}/", {"name": "Renamed", "sms_password": ""}, format="json"
    )
    assert response.status_code == 200
    company.refresh_from_db()
    assert (company.name, company.erp_token, company.sms_password) == ("Renamed", "keep-me", "")


@pytest.mark.django_db
def test_contract_cannot_change(staff_client, company):
    response = staff_client.patch(
        f"/api/v1/companies/{company.contract}/", {"contract": str(uuid.uuid4())}, format="json"
    )
    assert response.status_code == 400
    assert "contract" in response.json()["error"]["details"]


@pytest.mark.django_db
def test_staff_lists_every_company(staff_client):
    CompanyFactory.create_batch(3)
    body = staff_client.get("/api/v1/companies/").json()
    assert body["count"] == 3


@pytest.mark.django_db
def test_staff_deletes_a_company(staff_client, company):
    assert staff_client.delete(f"/api/v1/companies/{company.contract}/").status_code == 204
    assert not Company.objects.filter(pk=company.pk).exists()


@pytest.mark.django_db
def test_company_key_sees_only_its_own_company(company_client, company, other_company):
    body = company_client.get("/api/v1/companies/").json()
    assert [c["contract"] for c in body["results"]] == [str(company.contract)]
    assert company_client.get(f"/api/v1/companies/{company.contract}/").status_code == 200


@pytest.mark.django_db
def test_company_a_key_gets_404_for_company_b_objects(company_client, other_company):
    channel = CloudChannelFactory(company=other_company)
    for url in (
        f"/api/v1/companies/{other_company.contract}/",
        f"/api/v1/companies/{other_company.contract}/channels/",
        f"/api/v1/companies/{other_company.contract}/channels/{channel.pk}/",
    ):
        response = company_client.get(url)
        assert response.status_code == 404, url
        assert response.json()["error"]["code"] == "not_found"


@pytest.mark.django_db
def test_company_a_cannot_reach_b_channel_through_its_own_contract(company_client, company, other_company):
    channel = CloudChannelFactory(company=other_company)
    response = company_client.get(f"/api/v1/companies/{company.contract}/channels/{channel.pk}/")
    assert response.status_code == 404


@pytest.mark.django_db
def test_company_key_cannot_change_anything(company_client, company):
    response = company_client.patch(f"/api/v1/companies/{company.contract}/", {"name": "x"}, format="json")
    assert response.status_code == 403
    assert company_client.post("/api/v1/companies/", {"name": "x"}, format="json").status_code == 403
    assert company_client.delete(f"/api/v1/companies/{company.contract}/").status_code == 403


@pytest.mark.django_db
def test_staff_adds_a_cloud_channel(staff_client, company):
    response = staff_client.post(
        f"/api/v1/companies/{company.contract}/channels/",
        {
            "kind": "cloud",
            "name": "Atendimento",
            "phone_number_id": "106540352242922",
            "waba_id": "102290129340398",
            "access_token": "EAAGnewtoken",
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["configured_secrets"] == ["access_token"]
    assert "EAAGnewtoken" not in response.content.decode()
    assert body["api_version"] == "v25.0"
    assert Channel.objects.get(pk=body["id"]).access_token == "EAAGnewtoken"


@pytest.mark.django_db
def test_evolution_instance_defaults_to_the_contract(staff_client, company):
    response = staff_client.post(
        f"/api/v1/companies/{company.contract}/channels/",
        {"kind": "evolution", "name": "Cobrança", "api_base_url": "https://evo.example.com", "api_key": "k"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["instance_name"] == str(company.contract)


@pytest.mark.django_db
def test_cloud_channel_without_credentials_names_each_missing_field(staff_client, company):
    response = staff_client.post(
        f"/api/v1/companies/{company.contract}/channels/", {"kind": "cloud", "name": "x"}, format="json"
    )
    assert response.status_code == 400
    assert set(response.json()["error"]["details"]) == {"phone_number_id", "waba_id", "access_token"}


@pytest.mark.django_db
def test_a_phone_number_id_belongs_to_one_channel(staff_client, company, other_company):
    CloudChannelFactory(company=other_company, phone_number_id="555")
    response = staff_client.post(
        f"/api/v1/companies/{company.contract}/channels/",
        {"kind": "cloud", "name": "x", "phone_number_id": "555", "waba_id": "1", "access_token": "t"},
        format="json",
    )
    assert response.status_code == 400
    assert "phone_number_id" in str(response.json()["error"]["details"])


@pytest.mark.django_db
def test_throughput_is_bounded(staff_client, cloud_channel, company):
    url = f"/api/v1/companies/{company.contract}/channels/{cloud_channel.pk}/"
    assert staff_client.patch(url, {"throughput_mps": 1000}, format="json").status_code == 200
    response = staff_client.patch(url, {"throughput_mps": 1001}, format="json")
    assert response.status_code == 400
    assert "throughput_mps" in response.json()["error"]["details"]


@pytest.mark.django_db
def test_channel_kind_cannot_change(staff_client, cloud_channel, company):
    url = f"/api/v1/companies/{company.contract}/channels/{cloud_channel.pk}/"
    response = staff_client.patch(url, {"kind": "evolution"}, format="json")
    assert response.status_code == 400
    assert "kind" in response.json()["error"]["details"]


@pytest.mark.django_db
def test_staff_deletes_a_channel(staff_client, cloud_channel, company):
    url = f"/api/v1/companies/{company.contract}/channels/{cloud_channel.pk}/"
    assert staff_client.delete(url).status_code == 204
    assert staff_client.get(url).status_code == 404


@pytest.mark.django_db
def test_company_list_query_count_does_not_grow(staff_client, django_assert_max_num_queries):
    CompanyFactory.create_batch(20)
    with django_assert_max_num_queries(6):
        assert staff_client.get("/api/v1/companies/").status_code == 200
