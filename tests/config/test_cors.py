import pytest


@pytest.fixture
def allowed_origin(settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://painel.provedor.com.br"]
    return "https://painel.provedor.com.br"


@pytest.mark.django_db
def test_an_allowed_origin_gets_cors_headers(client, allowed_origin, company_key):
    response = client.get("/api/v1/me", HTTP_ORIGIN=allowed_origin, HTTP_X_API_KEY=company_key)
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == allowed_origin


@pytest.mark.django_db
def test_another_origin_gets_none(client, allowed_origin, company_key):
    response = client.get("/api/v1/me", HTTP_ORIGIN="https://evil.example.com", HTTP_X_API_KEY=company_key)
    assert "Access-Control-Allow-Origin" not in response


@pytest.mark.django_db
def test_preflight_allows_the_api_key_header(client, allowed_origin):
    response = client.options(
        "/api/v1/me",
        HTTP_ORIGIN=allowed_origin,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="x-api-key, idempotency-key",
    )
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == allowed_origin
    allowed = response["Access-Control-Allow-Headers"]
    assert "x-api-key" in allowed and "idempotency-key" in allowed


@pytest.mark.django_db
def test_cors_is_limited_to_the_api(client, allowed_origin):
    response = client.get("/healthz", HTTP_ORIGIN=allowed_origin)
    assert "Access-Control-Allow-Origin" not in response
