"""Every route under /api/, /webhooks/ and the health checks answers the same with or without its trailing slash.

The URL map spells each path once (``companies/`` with a slash, ``messages`` without, as documented);
the other spelling reaches the same view, with no redirect that a POST would not survive.
"""

import pytest
from django.db import transaction
from django.urls import URLPattern, URLResolver, get_resolver

from config.trailing_slash import EitherSlashMiddleware
from conversations.services import outbound, sessions
from conversations.whatsapp import content
from notifications.models import Campaign, Notice, SmsMessage
from tests.factories import EvolutionChannelFactory

pytestmark = pytest.mark.django_db
JSON_PREFIXES = ("/api/", "/webhooks/", "/healthz", "/readyz")


def _routes(patterns=None, prefix: str = "/") -> list[str]:
    """Every route of the URL conf, as written (``/api/v1/companies/<str:contract>/``)."""
    routes = []
    for pattern in patterns if patterns is not None else get_resolver().url_patterns:
        text = str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            routes.extend(_routes(pattern.url_patterns, prefix + text))
        elif isinstance(pattern, URLPattern):
            routes.append(prefix + text)
    return routes


ROUTES = [route for route in _routes() if route.startswith(JSON_PREFIXES)]


@pytest.fixture
def rows(company, cloud_channel, company_key):
    channel = EvolutionChannelFactory(company=company, connection_state="open")
    message = outbound.send_message(company=company, to="5544988887777", content=content.text("Olá"), channel=channel)
    sms = SmsMessage.objects.create(company=company, text="Olá", parts=1)
    campaign = Campaign.objects.create(company=company, name="Aviso", template_name="aviso")
    notice = Notice.objects.create(company=company, kind=Notice.Kind.BILLING, customer_code="1001")
    session, _ = sessions.open_session(message.contact)
    sessions.tag(session, ["vip"])
    return {
        "<str:contract>": str(company.contract),
        "<int:pk>": str(message.pk),
        "<str:secret>": "not-the-secret",
        "channels/<int:pk>": f"channels/{cloud_channel.pk}",
        "api-keys/<int:pk>": f"api-keys/{company.api_keys.first().pk}",
        "sms/<int:pk>": f"sms/{sms.pk}",
        "campaigns/<int:pk>": f"campaigns/{campaign.pk}",
        "notifications/<int:pk>": f"notifications/{notice.pk}",
        "contacts/<int:pk>": f"contacts/{message.contact_id}",
        "sessions/<int:pk>": f"sessions/{session.pk}",
        "<str:name>": "vip",
    }


def _concrete(route: str, rows: dict) -> str:
    for placeholder in (
        "channels/<int:pk>",
        "api-keys/<int:pk>",
        "sms/<int:pk>",
        "campaigns/<int:pk>",
        "notifications/<int:pk>",
        "contacts/<int:pk>",
        "sessions/<int:pk>",
        "<str:name>",
        "<str:contract>",
        "<int:pk>",
        "<str:secret>",
    ):
        route = route.replace(placeholder, rows[placeholder])
    assert "<" not in route, route
    return route


def _other_spelling(path: str) -> str:
    return path[:-1] if path.endswith("/") else f"{path}/"


def test_the_walk_covers_the_whole_api_and_every_webhook():
    assert len(ROUTES) >= 14
    assert {"/api/v1/me", "/api/v1/companies/", "/api/v1/messages", "/webhooks/meta/"} <= set(ROUTES)


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize("debug", [False, True], ids=["production", "debug"])
def test_both_spellings_of_every_route_get_the_same_answer(
    settings, staff_client, company_client, rows, route, method, debug
):
    settings.DEBUG = debug  # DEBUG turns APPEND_SLASH's POST redirect into a 500 of its own
    client = staff_client if route.startswith("/api/v1/companies") else company_client
    path = _concrete(route, rows)
    answers = []
    for spelling in (path, _other_spelling(path)):
        with transaction.atomic():  # each spelling from the same rows (a POST may change them: cancel)
            response = getattr(client, method)(spelling, {}, format="json")
            transaction.set_rollback(True)
        assert response.status_code not in (301, 302, 308, 404, 500), (spelling, response.status_code)
        answers.append((response.status_code, response["Content-Type"]))
    assert answers[0] == answers[1], (path, answers)


def test_the_documented_spellings_are_those_of_the_url_conf():
    # README and SPEC spell them so, and Meta, Evolution and Chatwoot are told these URLs.
    assert {
        "/api/v1/me",
        "/api/v1/companies/",
        "/api/v1/companies/<str:contract>/channels/<int:pk>/",
        "/api/v1/companies/<str:contract>/api-keys/<int:pk>/revoke/",
        "/api/v1/messages",
        "/api/v1/messages/<int:pk>/retry",
        "/webhooks/meta/",
        "/webhooks/evolution/<str:contract>/",
        "/webhooks/chatwoot/<str:contract>/<str:secret>/",
    } <= set(ROUTES)


def test_an_unknown_path_stays_a_json_404_in_both_spellings(company_client):
    for path in ("/api/v1/nope", "/api/v1/nope/", "/webhooks/nope", "/webhooks/nope/"):
        response = company_client.get(path)
        assert (response.status_code, response.json()["error"]["code"]) == (404, "not_found")


def test_the_other_spelling_is_routed_internally_and_the_request_says_its_canonical_path(rf):
    seen = []
    middleware = EitherSlashMiddleware(lambda request: seen.append((request.path, request.path_info)) or None)
    request = rf.get("/api/v1/messages/")
    request.path = "/prefix/api/v1/messages/"  # as behind a SCRIPT_NAME
    middleware(request)
    assert seen == [("/prefix/api/v1/messages", "/api/v1/messages")]
