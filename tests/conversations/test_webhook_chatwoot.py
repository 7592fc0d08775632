"""Chatwoot webhooks are authenticated by the secret in their URL and stored for the bridge."""

import json

import pytest

from conversations.models import WebhookEvent
from tests.conftest import FIXTURES, load_fixture
from tests.factories import CompanyFactory

CHATWOOT_FIXTURES = sorted(p.name for p in (FIXTURES / "chatwoot").glob("*.json"))


@pytest.fixture
def company(db):
    return CompanyFactory(chatwoot_webhook_secret="s3cret-path-token")


def _post(client, company, body, secret="s3cret-path-token"):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post(f"/webhooks/chatwoot/{company.contract}/{secret}/", data=data, content_type="application/json")


@pytest.mark.parametrize("name", CHATWOOT_FIXTURES)
def test_every_chatwoot_fixture_is_stored(client, company, name, django_capture_on_commit_callbacks):
    body = json.dumps(load_fixture(f"chatwoot/{name}")).encode()
    with django_capture_on_commit_callbacks(execute=True):
        assert _post(client, company, body).status_code == 200
    event = WebhookEvent.objects.get()
    assert (event.source, event.body.encode()) == ("chatwoot", body)
    assert event.state == WebhookEvent.State.PROCESSED
    assert event.summary == "handed to the Chatwoot bridge"


def test_a_wrong_secret_is_403_and_nothing_is_stored(client, company):
    response = _post(client, company, load_fixture("chatwoot/message_created_outgoing_agent_text.json"), secret="guess")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "invalid_secret"
    assert not WebhookEvent.objects.exists()


def test_a_company_without_a_secret_accepts_nothing(client, db):
    company = CompanyFactory(chatwoot_webhook_secret="")
    assert _post(client, company, {"event": "message_created"}, secret="anything").status_code == 403


def test_an_unknown_contract_is_404(client, db):
    response = client.post(
        "/webhooks/chatwoot/0b9d6a8e-3f1c-4c5e-9d2a-6a1e2b3c4d5e/x/", data=b"{}", content_type="application/json"
    )
    assert response.status_code == 404


def test_malformed_json_is_400(client, company):
    assert _post(client, company, b'{"event": ').status_code == 400


def test_get_is_405_in_the_error_format(client, company):
    response = client.get(f"/webhooks/chatwoot/{company.contract}/s3cret-path-token/")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
    assert response["Allow"] == "POST"
