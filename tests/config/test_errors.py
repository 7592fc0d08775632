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
