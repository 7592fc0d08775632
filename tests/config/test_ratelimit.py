import pytest
from rest_framework.test import APIClient

from companies import services


@pytest.mark.django_db
def test_a_key_over_its_limit_gets_429_in_the_error_format(settings, company_client):
    settings.API_RATE_LIMIT_PER_KEY = "3/m"
    statuses = [company_client.get("/api/v1/me").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    response = company_client.get("/api/v1/me")
    error = response.json()["error"]
    assert error["code"] == "throttled"
    assert error["details"]["retry_after_seconds"] >= 1
    assert int(response["Retry-After"]) >= 1


@pytest.mark.django_db
def test_the_key_limit_is_per_key(settings, company, company_client):
    settings.API_RATE_LIMIT_PER_KEY = "2/m"
    _, other = services.create_api_key(company=company, name="second")
    for _ in range(2):
        company_client.get("/api/v1/me")
    assert company_client.get("/api/v1/me").status_code == 429
    assert APIClient().get("/api/v1/me", HTTP_X_API_KEY=other).status_code == 200


@pytest.mark.django_db
def test_the_ip_limit_counts_requests_with_bad_keys(settings):
    settings.API_RATE_LIMIT_PER_IP = "3/m"
    client = APIClient()
    statuses = [client.get("/api/v1/me", HTTP_X_API_KEY=f"pnt_guess{i}").status_code for i in range(4)]
    assert statuses == [401, 401, 401, 429]


@pytest.mark.django_db
def test_the_ip_limit_is_per_ip(settings):
    settings.API_RATE_LIMIT_PER_IP = "1/m"
    client = APIClient()
    assert client.get("/api/v1/me", REMOTE_ADDR="10.0.0.1").status_code == 401
    assert client.get("/api/v1/me", REMOTE_ADDR="10.0.0.1").status_code == 429
    assert client.get("/api/v1/me", REMOTE_ADDR="10.0.0.2").status_code == 401


@pytest.mark.django_db
def test_forwarded_for_is_only_trusted_when_configured(settings):
    settings.API_RATE_LIMIT_PER_IP = "1/m"
    client = APIClient()
    # Untrusted: both requests come from the same REMOTE_ADDR whatever the header says.
    assert client.get("/api/v1/me", HTTP_X_FORWARDED_FOR="1.1.1.1").status_code == 401
    assert client.get("/api/v1/me", HTTP_X_FORWARDED_FOR="2.2.2.2").status_code == 429
    settings.TRUST_X_FORWARDED_FOR = True
    assert client.get("/api/v1/me", HTTP_X_FORWARDED_FOR="9.9.9.9, 3.3.3.3").status_code == 401
    assert client.get("/api/v1/me", HTTP_X_FORWARDED_FOR="9.9.9.9, 3.3.3.3").status_code == 429
    assert client.get("/api/v1/me", HTTP_X_FORWARDED_FOR="9.9.9.9, 4.4.4.4").status_code == 401


@pytest.mark.django_db
def test_limits_can_be_switched_off(settings, company_client):
    settings.RATELIMIT_ENABLE = False
    settings.API_RATE_LIMIT_PER_KEY = "1/m"
    assert [company_client.get("/api/v1/me").status_code for _ in range(3)] == [200, 200, 200]


@pytest.mark.django_db
def test_a_request_without_a_client_address_is_served(settings, company_client):
    # A server on a Unix socket gives none: django-ratelimit failed on it, a 500 for every request.
    settings.API_RATE_LIMIT_PER_IP = "1/m"
    for _ in range(2):
        assert company_client.get("/api/v1/me", REMOTE_ADDR="").status_code == 200


@pytest.mark.django_db
def test_a_forwarded_hop_that_is_not_an_address_counts_against_the_proxy(settings):
    settings.API_RATE_LIMIT_PER_IP, settings.TRUST_X_FORWARDED_FOR = "1/m", True
    client = APIClient()
    assert client.get("/api/v1/me", HTTP_X_FORWARDED_FOR="not-an-address", REMOTE_ADDR="10.0.0.9").status_code == 401
    assert client.get("/api/v1/me", HTTP_X_FORWARDED_FOR="unknown", REMOTE_ADDR="10.0.0.9").status_code == 429
