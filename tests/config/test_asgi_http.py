"""HTTP through the ASGI application: Django's stack on a fixed pool of threads (config/asgi.py)."""

import json
import threading

import pytest
from asgiref.sync import async_to_sync
from django.core.signals import request_started

from conversations.models import WebhookEvent
from tests.asgi import exchange, http_scope
from tests.conftest import load_fixture, sign
from tests.factories import CloudChannelFactory, CompanyFactory


async def _request(method: str, path: str, *, query: str = "", chunks=(b"",), headers=()) -> tuple[int, dict, bytes]:
    """One request as uvicorn hands it over: the body in ``chunks``, one ``http.request`` message each."""
    from config.asgi import application

    return await exchange(application, http_scope(method, path, query=query, headers=headers), chunks)


@pytest.mark.django_db(transaction=True)  # each request closes stale connections on its thread
def test_requests_run_on_a_fixed_pool_of_threads_that_is_reused(settings):
    threads: set[int] = set()

    def seen(**_):
        threads.add(threading.get_ident())

    request_started.connect(seen)
    try:
        for _ in range(3 * settings.WEB_THREADS):
            status, headers, body = async_to_sync(_request)("GET", "/healthz")
            assert status == 200
            assert json.loads(body)["status"] == "ok"
            assert headers["x-request-id"]
    finally:
        request_started.disconnect(seen)
    assert threading.get_ident() not in threads  # never on the event loop's thread
    assert 1 <= len(threads) <= settings.WEB_THREADS  # no thread of its own per request


def _meta_company():
    payload = load_fixture("meta/message_text.json")
    company = CompanyFactory(meta_app_secret="app-secret")
    value = payload["entry"][0]
    phone_number_id = value["changes"][0]["value"]["metadata"]["phone_number_id"]
    CloudChannelFactory(company=company, phone_number_id=phone_number_id, waba_id=value["id"])
    return company, json.dumps(payload).encode()


def _post_webhook(company, chunks, *, length: bool):
    body = b"".join(chunks)
    framing = ("content-length", str(len(body))) if length else ("transfer-encoding", "chunked")
    headers = [("content-type", "application/json"), ("x-hub-signature-256", sign(body, "app-secret")), framing]
    return async_to_sync(_request)(
        "POST", "/webhooks/meta/", query=f"contract={company.contract}", chunks=chunks, headers=headers
    )


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("length", [True, False], ids=["content-length", "chunked"])
def test_a_signed_meta_webhook_is_stored_through_the_asgi_application(length):
    company, body = _meta_company()
    status, _, answer = _post_webhook(company, [body[:100], body[100:]], length=length)
    assert (status, json.loads(answer)) == (200, {"status": "accepted"}), answer
    event = WebhookEvent.objects.get(company=company)
    assert event.body == body.decode()  # the body arrived whole, as sent
    assert event.headers["X-Hub-Signature-256"] == sign(body, "app-secret")


@pytest.mark.django_db(transaction=True)
def test_a_chunked_body_over_the_largest_limit_is_refused_413():
    from config.asgi import application

    sized = application.application_mapping["http"].app  # its limit was read from the settings at start-up
    previous, sized.limit = sized.limit, 1000
    try:
        company, body = _meta_company()
        status, headers, answer = _post_webhook(company, [body, b" " * 1000], length=False)
    finally:
        sized.limit = previous
    assert status == 413
    assert json.loads(answer)["error"]["code"] == "payload_too_large"
    assert headers["content-type"] == "application/json"
    assert not WebhookEvent.objects.exists()
