"""Every error a client can hit leaves in one format, and unexpected ones hide their internals."""

import logging

import pytest
from django.http import HttpResponse
from django.urls import include, path
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.test import APIClient


@api_view(["GET"])
@authentication_classes([])
@permission_classes([])
def _exploding_api_view(request):
    raise RuntimeError("database password is hunter2 and the token=abc123")


def _exploding_plain_view(request) -> HttpResponse:
    raise ValueError("boom with secret=topsecret")


urlpatterns = [
    path("api/v1/explode", _exploding_api_view),
    path("webhooks/explode", _exploding_plain_view),
    path("", include("config.urls")),
]


@pytest.fixture
def exploding_urls(settings):
    settings.ROOT_URLCONF = __name__


@pytest.mark.django_db
def test_an_unexpected_api_error_is_a_500_without_internals_and_is_logged(exploding_urls, caplog):
    client = APIClient(raise_request_exception=False)
    with caplog.at_level(logging.ERROR):
        response = client.get("/api/v1/explode")
    assert response.status_code == 500
    assert response.json() == {
        "error": {
            "code": "internal_error",
            "message": "An unexpected error occurred. It has been logged.",
            "details": {},
        }
    }
    assert "hunter2" not in response.content.decode()
    record = next(r for r in caplog.records if r.levelno == logging.ERROR)
    assert record.exc_info is not None or record.exc_text
    assert "RuntimeError" in (record.exc_text or "") or record.exc_info[0] is RuntimeError


@pytest.mark.django_db
def test_an_unexpected_error_in_a_plain_view_is_a_json_500(exploding_urls):
    client = APIClient(raise_request_exception=False)
    response = client.post("/webhooks/explode", {}, format="json")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    assert "topsecret" not in response.content.decode()


@pytest.mark.django_db
def test_unknown_webhook_path_is_a_json_404(client):
    response = client.get("/webhooks/nowhere/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.django_db
def test_admin_404_stays_html(admin_client):
    response = admin_client.get("/admin/companies/company/999999/change/", follow=True)
    assert response["Content-Type"].startswith("text/html")


def test_health_method_not_allowed_is_405_in_the_error_format(client):
    response = client.post("/healthz")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


# ------------------------------------------------------------------------------ every answer under /api/ and /webhooks/


def _html_page(request) -> HttpResponse:
    return HttpResponse("<h1>Server Error (500)</h1>", status=500)


def _yaml_teapot(request) -> HttpResponse:
    return HttpResponse("error: teapot\n", status=418, content_type="application/yaml", headers={"X-Kept": "yes"})


urlpatterns += [path("webhooks/html-page", _html_page), path("api/v1/yaml-teapot", _yaml_teapot)]


def _assert_error_format(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    return body["error"]


@pytest.fixture(params=[False, True], ids=["production", "debug"])
def debug(request, settings):
    """Django's DEBUG pages (404, 500, the 400s of its own checks) skip the handler views: both ways count."""
    settings.DEBUG = request.param
    return request.param


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/v1/nope", "/api/v1/me/nope/", "/webhooks/nope", "/api/nope", "/healthz/x"])
def test_an_unknown_path_is_a_json_404(client, debug, path):
    _assert_error_format(client.get(path), 404, "not_found")


@pytest.mark.django_db
def test_a_disallowed_host_is_a_json_400(client, debug):
    _assert_error_format(client.get("/api/v1/me", HTTP_HOST="evil.example.com"), 400, "bad_request")
    _assert_error_format(client.post("/webhooks/meta/", HTTP_HOST="evil.example.com"), 400, "bad_request")


@pytest.mark.django_db
def test_too_many_query_fields_is_a_json_400(client, debug, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 10
    query = "&".join(f"f{number}=x" for number in range(20))
    _assert_error_format(client.get(f"/api/v1/me?{query}"), 400, "bad_request")
    _assert_error_format(client.post(f"/webhooks/meta/?{query}"), 400, "bad_request")


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/v1/companies/", "/webhooks/meta/?contract=x"])
def test_a_body_over_djangos_own_limit_is_a_json_413(staff_client, debug, settings, path):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100  # RequestDataTooBig, below the middleware's limits
    response = staff_client.post(path, {"name": "x" * 500}, format="json")
    _assert_error_format(response, 413, "payload_too_large")


@pytest.mark.django_db
def test_a_session_without_its_csrf_token_is_a_json_403(admin_user, debug):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(admin_user)
    response = client.post("/api/v1/companies/", {"name": "Provedor"}, format="json")
    error = _assert_error_format(response, 403, "permission_denied")
    assert "CSRF" in error["message"]


@pytest.mark.django_db
def test_a_method_the_schema_view_does_not_take_is_a_json_405(client, debug):
    error = _assert_error_format(client.post("/api/schema/"), 405, "method_not_allowed")
    assert error["details"] == {"allowed": ["GET", "HEAD", "OPTIONS"]}


@pytest.mark.django_db
def test_an_error_page_in_another_format_is_rewritten_keeping_the_headers(exploding_urls, client, debug):
    _assert_error_format(client.get("/webhooks/html-page"), 500, "internal_error")
    response = client.get("/api/v1/yaml-teapot")
    error = _assert_error_format(response, 418, "i'm_a_teapot")
    assert (error["message"], response["X-Kept"]) == ("I'm a Teapot.", "yes")
    assert response["X-Request-ID"]


@pytest.mark.django_db
def test_an_unexpected_api_error_under_debug_is_still_a_json_500(exploding_urls, debug):
    client = APIClient(raise_request_exception=False)
    _assert_error_format(client.get("/api/v1/explode"), 500, "internal_error")
    _assert_error_format(client.post("/webhooks/explode"), 500, "internal_error")
