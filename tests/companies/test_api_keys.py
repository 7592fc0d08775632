import hashlib

import pytest
from rest_framework.test import APIClient

from companies import services
from companies.models import ApiKey


@pytest.mark.django_db
def test_only_the_hash_of_a_key_is_stored(company):
    api_key, plaintext = services.create_api_key(company=company, name="ERP")
    stored = ApiKey.objects.get(pk=api_key.pk)
    assert stored.key_hash == hashlib.sha256(plaintext.encode()).hexdigest()
    assert plaintext not in {stored.key_hash, stored.prefix, stored.name}
    assert plaintext.startswith(stored.prefix) and len(stored.prefix) == 12
    assert len(plaintext) > 40


@pytest.mark.django_db
def test_two_keys_never_collide(company):
    _, first = services.create_api_key(company=company, name="a")
    _, second = services.create_api_key(company=company, name="b")
    assert first != second


@pytest.mark.django_db
@pytest.mark.parametrize("header", ["HTTP_X_API_KEY", "HTTP_AUTHORIZATION"])
def test_a_key_authenticates_by_header_or_bearer(company, company_key, header):
    client = APIClient()
    value = company_key if header == "HTTP_X_API_KEY" else f"Bearer {company_key}"
    response = client.get("/api/v1/me", **{header: value})
    assert response.status_code == 200
    assert response.json()["company"]["contract"] == str(company.contract)


@pytest.mark.django_db
def test_a_revoked_key_is_refused_at_once(company):
    api_key, plaintext = services.create_api_key(company=company, name="ERP")
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=plaintext)
    assert client.get("/api/v1/me").status_code == 200
    services.revoke_key(key=api_key)
    response = client.get("/api/v1/me")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"


@pytest.mark.django_db
def test_an_unknown_key_is_401_in_the_error_format(anon_client):
    response = anon_client.get("/api/v1/me", HTTP_X_API_KEY="pnt_nope")
    assert response.status_code == 401
    assert response.json() == {
        "error": {"code": "invalid_api_key", "message": "Invalid or revoked API key.", "details": {}}
    }
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.django_db
def test_no_key_is_401(anon_client):
    response = anon_client.get("/api/v1/me")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


@pytest.mark.django_db
def test_last_used_is_recorded(company):
    api_key, plaintext = services.create_api_key(company=company, name="ERP")
    assert api_key.last_used_at is None
    APIClient().get("/api/v1/me", HTTP_X_API_KEY=plaintext)
    api_key.refresh_from_db()
    assert api_key.last_used_at is not None


@pytest.mark.django_db
def test_staff_creates_a_key_shown_once_and_lists_only_prefixes(staff_client, company):
    response = staff_client.post(f"/api/v1/companies/{company.contract}/api-keys/", {"name": "ERP"}, format="json")
    assert response.status_code == 201
    plaintext = response.json()["key"]
    assert APIClient().get("/api/v1/me", HTTP_X_API_KEY=plaintext).status_code == 200

    listing = staff_client.get(f"/api/v1/companies/{company.contract}/api-keys/").json()
    assert plaintext not in str(listing)
    assert listing["results"][0]["prefix"] == plaintext[:12]


@pytest.mark.django_db
def test_staff_revokes_a_key_through_the_api(staff_client, company):
    api_key, plaintext = services.create_api_key(company=company, name="ERP")
    response = staff_client.post(f"/api/v1/companies/{company.contract}/api-keys/{api_key.pk}/revoke/")
    assert response.status_code == 200
    assert response.json()["revoked_at"] is not None
    assert APIClient().get("/api/v1/me", HTTP_X_API_KEY=plaintext).status_code == 401


@pytest.mark.django_db
def test_a_company_key_cannot_manage_keys(company_client, company):
    response = company_client.post(f"/api/v1/companies/{company.contract}/api-keys/", {"name": "x"}, format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


@pytest.mark.django_db
def test_a_platform_token_of_a_demoted_user_is_refused(staff_user, platform_token):
    staff_user.is_staff = False
    staff_user.save()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {platform_token}")
    assert client.get("/api/v1/companies/").status_code == 401


@pytest.mark.django_db
def test_a_platform_token_cannot_use_company_endpoints(staff_client):
    response = staff_client.get("/api/v1/me")
    assert response.status_code == 403
    assert response.json()["error"]["message"] == "This endpoint needs a company API key."


@pytest.mark.django_db
def test_staff_without_the_platform_permission_is_not_a_platform_admin(company):
    from django.contrib.auth.models import Permission

    from tests.factories import StaffUserFactory

    isp_admin = StaffUserFactory(is_superuser=False)
    _, token = services.create_platform_token(user=isp_admin, name="isp")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert client.get("/api/v1/companies/").status_code == 403
    isp_admin.user_permissions.add(Permission.objects.get(codename="manage_platform"))
    client_again = APIClient()
    client_again.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert client_again.get("/api/v1/companies/").status_code == 200
