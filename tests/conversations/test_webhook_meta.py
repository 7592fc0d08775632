"""Meta webhook endpoint: verification, signatures, tenant ownership, storage before the 200."""

import json

import pytest

from conversations.models import Message, WebhookEvent
from tests.conftest import load_fixture, post_meta, sign
from tests.factories import CloudChannelFactory, CompanyFactory


@pytest.fixture
def meta_company(db):
    company = CompanyFactory(meta_app_secret="app-secret", meta_verify_token="verify-me")
    CloudChannelFactory(company=company, phone_number_id="106540352242922", waba_id="102290129340398")
    return company


def test_verification_echoes_the_challenge_for_the_right_token(client, meta_company):
    response = client.get(
        "/webhooks/meta/",
        {
            "contract": str(meta_company.contract),
            "hub.mode": "subscribe",
            "hub.verify_token": "verify-me",
            "hub.challenge": "1158201444",
        },
    )
    assert response.status_code == 200
    assert response.content == b"1158201444"


@pytest.mark.parametrize("token", ["wrong", ""])
def test_verification_with_a_wrong_token_is_403(client, meta_company, token):
    response = client.get(
        "/webhooks/meta/",
        {
            "contract": str(meta_company.contract),
            "hub.mode": "subscribe",
            "hub.verify_token": token,
            "hub.challenge": "x",
        },
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "invalid_verify_token"


def test_a_signed_post_is_stored_as_received_and_processed(client, meta_company, django_capture_on_commit_callbacks):
    body = json.dumps(load_fixture("meta/message_text.json"), indent=1).encode()
    with django_capture_on_commit_callbacks(execute=True):
        response = post_meta(client, meta_company, body)
    assert response.status_code == 200
    event = WebhookEvent.objects.get()
    assert event.body.encode() == body
    assert event.headers["X-Hub-Signature-256"].startswith("sha256=")
    assert event.state == WebhookEvent.State.PROCESSED
    assert Message.objects.get().text == "Does it come in another color?"


def test_a_missing_signature_is_401_and_nothing_is_stored(client, meta_company):
    response = client.post(
        f"/webhooks/meta/?contract={meta_company.contract}",
        data=json.dumps(load_fixture("meta/message_text.json")),
        content_type="application/json",
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "missing_signature"
    assert not WebhookEvent.objects.exists()


def test_a_forged_signature_is_403_and_nothing_is_stored(client, meta_company):
    response = post_meta(client, meta_company, load_fixture("meta/message_text.json"), secret="not-the-secret")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "invalid_signature"
    assert not WebhookEvent.objects.exists()


def test_a_body_changed_after_signing_is_403(client, meta_company):
    body = json.dumps(load_fixture("meta/message_text.json")).encode()
    signature = sign(body, "app-secret")
    response = client.post(
        f"/webhooks/meta/?contract={meta_company.contract}",
        data=body.replace(b"another color", b"another colour"),
        content_type="application/json",
        HTTP_X_HUB_SIGNATURE_256=signature,
    )
    assert response.status_code == 403


def test_an_unknown_contract_is_404(client, db):
    company = CompanyFactory.build(meta_app_secret="s")
    response = post_meta(client, company, load_fixture("meta/message_text.json"))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "unknown_contract"


def test_a_contract_that_is_not_a_uuid_is_400(client, meta_company):
    response = post_meta(client, meta_company, load_fixture("meta/message_text.json"), contract="acme")
    assert response.status_code == 400
    assert "contract" in response.json()["error"]["details"]


def test_a_phone_number_id_of_another_company_is_403(client, meta_company):
    other = CompanyFactory(meta_app_secret="other-secret")
    response = post_meta(client, other, load_fixture("meta/message_text.json"))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "foreign_phone_number"
    assert not WebhookEvent.objects.exists()


def test_a_phone_number_id_holding_a_nul_is_400(client, meta_company, caplog):
    # The probe's request, signed with the company's secret: on PostgreSQL it was a 503.
    payload = load_fixture("meta/message_text.json")
    payload["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = "1065\u0000"
    response = post_meta(client, meta_company, payload)
    assert response.status_code == 400
    assert response.json()["error"]["details"] == {"phone_number_id": ["NUL characters are not allowed."]}
    assert not [record for record in caplog.records if record.levelname == "ERROR"]
    assert not WebhookEvent.objects.exists()


def test_one_foreign_change_among_many_rejects_the_request(client, meta_company):
    payload = load_fixture("meta/message_text.json")
    foreign = json.loads(json.dumps(payload["entry"][0]))
    foreign["changes"][0]["value"]["metadata"]["phone_number_id"] = "999"
    payload["entry"].append(foreign)
    assert post_meta(client, meta_company, payload).status_code == 403


def test_account_notices_are_matched_by_waba(client, meta_company):
    payload = load_fixture("meta/message_template_status_update_approved.json")
    payload["entry"][0]["id"] = "102290129340398"
    assert post_meta(client, meta_company, payload).status_code == 200
    payload["entry"][0]["id"] = "somebody-elses-waba"
    assert post_meta(client, meta_company, payload).status_code == 403


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b'{"object": "whatsapp_business_account", "entry": [', "parse_error"),
        (b"[]", "parse_error"),
        (b'{"object": "page"}', "invalid"),
        (b"\xff\xfe{}", "parse_error"),
    ],
)
def test_malformed_or_truncated_bodies_are_400(client, meta_company, body, code):
    response = post_meta(client, meta_company, body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
    assert not WebhookEvent.objects.exists()


def test_a_5_mb_body_with_many_updates_is_accepted(client, meta_company, django_capture_on_commit_callbacks):
    payload = load_fixture("meta/message_text.json")
    template = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    padding = "x" * 5000
    payload["entry"][0]["changes"][0]["value"]["messages"] = [
        {**template, "id": f"wamid.bulk{i}", "text": {"body": f"{i} {padding}"}} for i in range(1000)
    ]
    body = json.dumps(payload).encode()
    assert len(body) > 5_000_000
    with django_capture_on_commit_callbacks(execute=True):
        assert post_meta(client, meta_company, body).status_code == 200
    assert Message.objects.count() == 1000


def test_a_body_over_the_limit_is_413(client, meta_company, settings):
    settings.WEBHOOK_MAX_BODY_BYTES = 1000
    response = post_meta(client, meta_company, b"{" + b" " * 2000 + b"}")
    assert response.status_code == 413


def test_a_database_outage_answers_503_so_meta_retries(client, meta_company, monkeypatch):
    from django.db import OperationalError

    def down(**kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr("conversations.webhooks.store_webhook", down)
    response = post_meta(client, meta_company, load_fixture("meta/message_text.json"))
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "unavailable"


def test_a_broker_outage_still_acknowledges_and_the_sweeper_enqueues(
    client, meta_company, monkeypatch, django_capture_on_commit_callbacks
):
    import datetime as dt

    from conversations import tasks
    from conversations.services import webhook_events

    def broker_down(*args, **kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr(tasks.drain_webhook_events, "apply_async", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        assert post_meta(client, meta_company, load_fixture("meta/message_text.json")).status_code == 200
    event = WebhookEvent.objects.get()
    assert event.state == WebhookEvent.State.PENDING
    monkeypatch.undo()
    WebhookEvent.objects.update(received_at=event.received_at - dt.timedelta(minutes=5))
    assert webhook_events.requeue_stale(older_than=dt.timedelta(minutes=2)) == 1
    event.refresh_from_db()
    assert event.state == WebhookEvent.State.PROCESSED
    assert Message.objects.count() == 1


def test_an_inactive_company_still_has_its_webhooks_stored(client, meta_company, django_capture_on_commit_callbacks):
    meta_company.status = "inactive"
    meta_company.save()
    with django_capture_on_commit_callbacks(execute=True):
        assert post_meta(client, meta_company, load_fixture("meta/message_text.json")).status_code == 200
    assert Message.objects.count() == 1
