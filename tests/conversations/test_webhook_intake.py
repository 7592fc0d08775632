"""The webhooks' fast path on the event loop (conversations/webhook_intake.py) against Django's views.

Requests go through the ASGI application as uvicorn hands them over. Django's own stack stands behind
the intake, wrapped so the tests see whether a request reached it. Rows are written by the intake's
writer thread, so these tests use real transactions.
"""

import asyncio
import json
import threading

import pytest
from a2wsgi import WSGIMiddleware
from asgiref.sync import async_to_sync
from asgiref.testing import ApplicationCommunicator
from django.core.wsgi import get_wsgi_application
from django.db import OperationalError

from companies import cache as company_cache
from config.chunked_bodies import SizedBodies
from conversations import webhook_intake
from conversations.models import WebhookEvent
from conversations.whatsapp import cloud_webhook
from tests.asgi import exchange, http_scope
from tests.conftest import FIXTURES, load_fixture, sign
from tests.conversations.test_normalize_meta import company_for
from tests.factories import CompanyFactory, EvolutionChannelFactory

META_FIXTURES = sorted(p.name for p in (FIXTURES / "meta").glob("*.json"))
pytestmark = pytest.mark.django_db(transaction=True)


class _Django:
    """Django's HTTP stack from config/asgi.py, counting the requests that reach it."""

    def __init__(self, *, fresh: bool = False) -> None:
        from config.asgi import application

        self.app = application.application_mapping["http"].app
        if fresh:  # middlewares read their settings when built: this one sees the test's
            self.app = SizedBodies(WSGIMiddleware(get_wsgi_application(), workers=2), limit=self.app.limit)
        self.paths: list[str] = []

    async def __call__(self, scope, receive, send):
        self.paths.append(scope["path"])
        await self.app(scope, receive, send)


@pytest.fixture
def django_stack():
    return _Django()


_intakes: list[webhook_intake.WebhookIntake] = []


def make_intake(django_stack) -> webhook_intake.WebhookIntake:
    intake = webhook_intake.WebhookIntake(django_stack)
    _intakes.append(intake)
    return intake


@pytest.fixture(autouse=True)
def _close_intakes():
    yield
    while _intakes:
        _intakes.pop().writer.close()


@pytest.fixture
def intake(django_stack):
    return make_intake(django_stack)


@pytest.fixture(autouse=True)
def scheduled_downloads(monkeypatch) -> list[int]:
    """Media downloads are their own subject (test_media_pipeline); here they are only recorded."""
    from conversations import tasks

    scheduled: list[int] = []
    monkeypatch.setattr(tasks.download_media, "apply_async", lambda args, **options: scheduled.append(*args))
    return scheduled


async def _exchange(app, method, path, *, query="", body=b"", headers=(), length=True):
    headers = [*headers, *([("content-length", str(len(body)))] if length else [])]
    return await exchange(app, http_scope(method, path, query=query, headers=headers), [body])


def request(app, method, path, **kwargs):
    """The answer, once the drain woken after it (eager in tests, on the writer's second thread) is done."""
    answer = async_to_sync(_exchange)(app, method, path, **kwargs)
    for intake in _intakes:
        intake.writer.settle()
    return answer


def meta_post(app, company, body: bytes, *, secret=None, headers=()):
    signature = sign(body, secret if secret is not None else company.meta_app_secret)
    return request(
        app,
        "POST",
        "/webhooks/meta/",
        query=f"contract={company.contract}",
        body=body,
        headers=[("content-type", "application/json"), ("x-hub-signature-256", signature), *headers],
    )


def warm(company, payload=None) -> None:
    """What a first request (through Django) leaves in this process's memory."""
    company_cache.get_company_by_contract(company.contract)
    for _, _, value in cloud_webhook.changes(payload or {}):
        company_cache.get_channel_by_phone_number_id(cloud_webhook.phone_number_id_of(value))


@pytest.fixture
def text_tenant():
    """A company owning the text fixture's number, already in this process's memory; and the payload."""
    payload = load_fixture("meta/message_text.json")
    company = company_for(payload)
    warm(company, payload)
    return company, payload


@pytest.fixture(params=["local memory cache", "shared cache with local copies"])
def cache_mode(request, settings):
    company_cache.local_copies.clear()
    if request.param != "local memory cache":
        settings.CACHE_IS_SHARED, settings.COMPANY_LOCAL_CACHE_SECONDS = True, 60
    yield request.param
    company_cache.local_copies.clear()


# ------------------------------------------------------------------------------ accepted on the fast path


@pytest.mark.parametrize("name", META_FIXTURES)
def test_every_meta_fixture_is_stored_as_received_and_answered_like_django(intake, django_stack, name, cache_mode):
    payload = load_fixture(f"meta/{name}")
    company = company_for(payload)
    warm(company, payload)
    body = json.dumps(payload, indent=1, ensure_ascii=False).encode()
    status, _, answer = meta_post(intake, company, body)
    assert (status, json.loads(answer)) == (200, {"status": "accepted"})
    event = WebhookEvent.objects.get(company=company)
    assert (event.body.encode(), event.source) == (body, "meta")
    assert (event.state, event.error) == (WebhookEvent.State.PROCESSED, "")  # the drainer was woken
    assert event.headers == {"Content-Type": "application/json", "X-Hub-Signature-256": sign(body, "app-secret")}
    account_level = any(not cloud_webhook.phone_number_id_of(v) for _, _, v in cloud_webhook.changes(payload))
    # Changes without a phone number are checked against the company's accounts: a query, so Django's.
    assert django_stack.paths == (["/webhooks/meta/"] if account_level else [])


def test_bodies_with_quotes_backslashes_and_any_script_are_stored_byte_for_byte(intake, django_stack, cache_mode):
    payload = load_fixture("meta/message_text.json")
    message = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    message["text"]["body"] = "Olá 'ç' \"x\" \\n \\u0000 ñ 你好 🙂 $1 \\1 %s {} \t"
    company = company_for(payload)
    warm(company, payload)
    body = json.dumps(payload, ensure_ascii=False).encode()
    assert meta_post(intake, company, body)[0] == 200
    assert WebhookEvent.objects.get(company=company).body.encode() == body
    assert django_stack.paths == []


def test_an_evolution_webhook_is_stored_with_its_key_masked(intake, django_stack, cache_mode):
    company = CompanyFactory()
    channel = EvolutionChannelFactory(company=company, instance_name="isp-main", api_key="evo-key-123")
    payload = {**load_fixture("evolution/messages_upsert_text.json"), "instance": "isp-main", "apikey": "evo-key-123"}
    company_cache.get_company_by_contract(company.contract)
    company_cache.get_channel_by_instance(channel.instance_name)
    body = json.dumps(payload).encode()
    status, _, answer = request(intake, "POST", f"/webhooks/evolution/{company.contract}/", body=body)
    assert (status, json.loads(answer)) == (200, {"status": "accepted"})
    event = WebhookEvent.objects.get(company=company)
    assert event.source == "evolution"
    assert "evo-key-123" not in event.body
    assert json.loads(event.body)["apikey"] == "***"
    assert django_stack.paths == []


def test_the_answer_has_the_headers_django_gives_and_echoes_the_request_id(text_tenant, intake, client, settings):
    company, payload = text_tenant
    body = json.dumps(payload).encode()
    _, fast, _ = meta_post(intake, company, body, headers=[("x-request-id", "req-12345678")])
    _, slow, _ = meta_post(_Django(), company, body, headers=[("x-request-id", "req-12345678")])
    assert fast == slow
    assert fast["x-request-id"] == "req-12345678"
    assert WebhookEvent.objects.filter(company=company).count() == 2


def test_behind_a_tls_proxy_the_answer_carries_hsts_as_djangos_does(text_tenant, intake, django_stack, settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_SSL_REDIRECT, settings.SECURE_HSTS_SECONDS = True, 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = settings.SECURE_HSTS_PRELOAD = True
    company, payload = text_tenant
    body = json.dumps(payload).encode()
    headers = [("x-forwarded-proto", "https"), ("x-request-id", "req-12345678")]
    _, fast, _ = meta_post(intake, company, body, headers=headers)
    assert django_stack.paths == []
    _, slow, _ = meta_post(_Django(fresh=True), company, body, headers=headers)
    assert fast == slow
    assert fast["strict-transport-security"] == "max-age=31536000; includeSubDomains; preload"


# ------------------------------------------------------------------------------ left to Django


def _rejections():
    payload = load_fixture("meta/message_text.json")
    body = json.dumps(payload).encode()
    foreign = json.loads(body)
    foreign["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = "999999999"
    nul = json.loads(body)
    nul["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = "999\u0000"
    return {
        "forged signature": dict(body=body, secret="not-the-secret"),
        "missing signature": dict(body=body, signature=None),
        "unknown contract": dict(body=body, contract="7d1c5b1e-0000-4000-8000-000000000000"),
        "contract not a uuid": dict(body=body, contract="not-a-uuid"),
        "no contract": dict(body=body, contract=""),
        "another company's number": dict(body=json.dumps(foreign).encode()),
        "malformed json": dict(body=b'{"object": "whatsapp_business_account", '),
        "truncated body": dict(body=body[: len(body) // 2]),
        "not utf-8": dict(body=b'{"object": "\xff\xfe"}'),
        "not a waba webhook": dict(body=b'{"object": "page", "entry": []}'),
        "a json list": dict(body=b"[1, 2]"),
        "the contract given twice, the last one blank": dict(body=body, query_suffix="&contract="),
        "a phone_number_id holding a NUL": dict(body=json.dumps(nul).encode()),
        "a header holding a NUL": dict(body=body, headers=[("user-agent", "facebookexternalua\x00")]),
    }


@pytest.mark.parametrize("case", list(_rejections()))
def test_whatever_django_refuses_goes_to_django_and_gets_its_answer(text_tenant, intake, django_stack, case):
    spec = _rejections()[case]
    company, _ = text_tenant
    body = spec["body"]
    signature = sign(body, spec.get("secret", "app-secret"))
    headers = [("content-type", "application/json"), *spec.get("headers", [])]
    if spec.get("signature", signature):
        headers.append(("x-hub-signature-256", signature))
    query = f"contract={spec.get('contract', company.contract)}{spec.get('query_suffix', '')}"
    fast = request(intake, "POST", "/webhooks/meta/", query=query, body=body, headers=headers)
    slow = request(_Django(), "POST", "/webhooks/meta/", query=query, body=body, headers=headers)
    assert fast[0] >= 400
    assert (fast[0], json.loads(fast[2])) == (slow[0], json.loads(slow[2]))
    assert django_stack.paths == ["/webhooks/meta/"]
    assert not WebhookEvent.objects.exists()


@pytest.mark.parametrize(
    ("apikey", "instance", "code"),
    [
        ("wrong", "isp-main", "invalid_api_key"),
        ("", "isp-main", "missing_api_key"),
        ("k", "other", "foreign_instance"),
        ("wrong", "isp-main\x00", "invalid"),
    ],
)
def test_a_refused_evolution_webhook_gets_djangos_error(intake, django_stack, apikey, instance, code):
    company = CompanyFactory()
    EvolutionChannelFactory(company=company, instance_name="isp-main", api_key="evo-key-123")
    company_cache.get_company_by_contract(company.contract)
    company_cache.get_channel_by_instance("isp-main")
    payload = {**load_fixture("evolution/messages_upsert_text.json"), "instance": instance}
    del payload["apikey"]
    body = json.dumps(payload).encode()
    headers = [("apikey", apikey)] if apikey else []
    status, _, answer = request(intake, "POST", f"/webhooks/evolution/{company.contract}/", body=body, headers=headers)
    assert status in (400, 401, 403)
    assert json.loads(answer)["error"]["code"] == code
    assert len(django_stack.paths) == 1
    assert not WebhookEvent.objects.exists()


def test_a_tenant_not_yet_in_memory_goes_through_django_once_then_the_fast_path(intake, django_stack, cache_mode):
    payload = load_fixture("meta/message_text.json")
    company = company_for(payload)
    company_cache.forget(company_cache.keys_for_company(company, company.channels.all()))
    body = json.dumps(payload).encode()
    assert meta_post(intake, company, body)[0] == 200
    assert meta_post(intake, company, body)[0] == 200
    assert django_stack.paths == ["/webhooks/meta/"]
    assert WebhookEvent.objects.filter(company=company).count() == 2


def test_the_verification_get_a_chunked_body_and_a_large_body_go_to_django(intake, django_stack, monkeypatch):
    payload = load_fixture("meta/message_text.json")
    company = company_for(payload)
    company.meta_verify_token = "verify-me"
    company.save()
    warm(company, payload)
    query = f"contract={company.contract}&hub.mode=subscribe&hub.verify_token=verify-me&hub.challenge=42"
    assert request(intake, "GET", "/webhooks/meta/", query=query)[::2] == (200, b"42")

    body = json.dumps(payload).encode()
    headers = [("x-hub-signature-256", sign(body, "app-secret")), ("transfer-encoding", "chunked")]
    chunked = request(
        intake,
        "POST",
        "/webhooks/meta/",
        query=f"contract={company.contract}",
        body=body,
        headers=headers,
        length=False,
    )
    assert chunked[0] == 200

    monkeypatch.setattr(webhook_intake, "FAST_BODY_LIMIT", len(body) - 1)
    assert meta_post(intake, company, body)[0] == 200
    assert django_stack.paths == ["/webhooks/meta/"] * 3
    assert WebhookEvent.objects.filter(company=company).count() == 2


def test_a_host_to_check_goes_to_django_which_refuses_a_foreign_one(text_tenant, intake, django_stack):
    company, payload = text_tenant
    body = json.dumps(payload).encode()
    headers = [("content-type", "application/json"), ("x-hub-signature-256", sign(body, "app-secret"))]
    query = f"contract={company.contract}"
    status, _, _ = request(
        _HostOverride(intake, "evil.example"), "POST", "/webhooks/meta/", query=query, body=body, headers=headers
    )
    assert status == 400
    assert django_stack.paths == ["/webhooks/meta/"]
    assert not WebhookEvent.objects.exists()


def test_a_request_with_an_origin_goes_to_django_for_its_cors_headers(text_tenant, intake, django_stack):
    company, payload = text_tenant
    assert meta_post(intake, company, json.dumps(payload).encode(), headers=[("origin", "https://x.example")])[0] == 200
    assert django_stack.paths == ["/webhooks/meta/"]


class _HostOverride:
    def __init__(self, app, host: str) -> None:
        self.app, self.host = app, host.encode()

    async def __call__(self, scope, receive, send):
        headers = [(k, self.host if k == b"host" else v) for k, v in scope["headers"]]
        await self.app({**scope, "headers": headers}, receive, send)


def test_plain_http_where_https_is_required_gets_djangos_redirect(text_tenant, settings):
    settings.SECURE_SSL_REDIRECT = True
    django_stack = _Django(fresh=True)
    intake = make_intake(django_stack)
    company, payload = text_tenant
    status, headers, _ = meta_post(intake, company, json.dumps(payload).encode())
    assert status == 301
    assert headers["location"].startswith("https://")
    assert django_stack.paths == ["/webhooks/meta/"]
    assert not WebhookEvent.objects.exists()


# ------------------------------------------------------------------------------ storing in batches


def test_webhooks_arriving_during_a_write_are_stored_together_in_the_next(
    text_tenant, intake, django_stack, monkeypatch
):
    company, payload = text_tenant
    batches: list[int] = []
    first_started, release = threading.Event(), threading.Event()
    store = webhook_intake.store_webhooks

    def slow_store(events, **kwargs):
        batches.append(len(events))
        if len(batches) == 1:
            first_started.set()
            release.wait(10)
        return store(events, **kwargs)

    monkeypatch.setattr(webhook_intake, "store_webhooks", slow_store)
    # The eager drain would write beside the next batch: SQLite's shared in-memory test database locks.
    monkeypatch.setattr(webhook_intake, "wake_drainer", lambda: None)

    async def burst():
        bodies = []
        for number in range(25):
            message_payload = json.loads(json.dumps(payload))
            message_payload["entry"][0]["changes"][0]["value"]["messages"][0]["id"] = f"wamid.burst.{number}"
            bodies.append(json.dumps(message_payload).encode())
        first = asyncio.ensure_future(_meta_post_async(intake, company, bodies[0]))
        await asyncio.get_running_loop().run_in_executor(None, first_started.wait, 10)
        others = [asyncio.ensure_future(_meta_post_async(intake, company, body)) for body in bodies[1:]]
        await asyncio.sleep(0.2)  # all 24 are read and waiting for the first write
        assert not any(task.done() for task in [first, *others])  # nobody is answered before its commit
        release.set()
        return await asyncio.gather(first, *others)

    answers = async_to_sync(burst)()
    intake.writer.settle()
    assert [status for status, _, _ in answers] == [200] * 25
    assert batches == [1, 24]
    assert WebhookEvent.objects.filter(company=company).count() == 25
    assert django_stack.paths == []


async def _meta_post_async(app, company, body):
    headers = [("content-type", "application/json"), ("x-hub-signature-256", sign(body, company.meta_app_secret))]
    return await _exchange(
        app, "POST", "/webhooks/meta/", query=f"contract={company.contract}", body=body, headers=headers
    )


def test_a_batch_that_cannot_be_stored_is_retried_by_django_one_by_one(text_tenant, intake, django_stack, monkeypatch):
    company, payload = text_tenant

    def database_away(events, **kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(webhook_intake, "store_webhooks", database_away)
    assert meta_post(intake, company, json.dumps(payload).encode())[0] == 200
    assert django_stack.paths == ["/webhooks/meta/"]
    assert WebhookEvent.objects.filter(company=company).count() == 1


def test_with_the_database_down_the_answer_is_503_and_nothing_is_acknowledged(text_tenant, intake, monkeypatch):
    company, payload = text_tenant

    def database_away(**kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(webhook_intake, "store_webhooks", lambda events, **kwargs: database_away())
    monkeypatch.setattr("conversations.webhooks.store_webhook", database_away)
    status, _, answer = meta_post(intake, company, json.dumps(payload).encode())
    assert status == 503
    assert json.loads(answer)["error"]["code"] == "unavailable"
    assert not WebhookEvent.objects.exists()


def test_a_client_that_leaves_before_its_body_is_read_stores_nothing(text_tenant, intake, django_stack):
    company, payload = text_tenant
    body = json.dumps(payload).encode()

    async def leave():
        headers = [("x-hub-signature-256", sign(body, "app-secret")), ("content-length", str(len(body)))]
        communicator = ApplicationCommunicator(
            intake, http_scope("POST", "/webhooks/meta/", query=f"contract={company.contract}", headers=headers)
        )
        await communicator.send_input({"type": "http.request", "body": body[:100], "more_body": True})
        await communicator.send_input({"type": "http.disconnect"})
        await communicator.wait(10)
        return await communicator.receive_nothing()

    assert async_to_sync(leave)()
    assert django_stack.paths == []
    assert not WebhookEvent.objects.exists()


def test_a_body_over_the_webhook_limit_gets_djangos_413_even_below_the_fast_paths_own(
    text_tenant, intake, django_stack, settings
):
    settings.WEBHOOK_MAX_BODY_BYTES = 1000
    company, payload = text_tenant
    status, _, answer = meta_post(intake, company, json.dumps(payload, indent=4).encode())
    assert (status, json.loads(answer)["error"]["code"]) == (413, "payload_too_large")
    assert django_stack.paths == ["/webhooks/meta/"]
    assert not WebhookEvent.objects.exists()


def test_a_header_spelt_with_underscores_goes_to_django_which_joins_it_with_its_dashed_twin(
    text_tenant, intake, django_stack
):
    company, payload = text_tenant
    body = json.dumps(payload).encode()
    status, _, answer = meta_post(intake, company, body, headers=[("x_hub_signature_256", "sha256=bad")])
    assert (status, json.loads(answer)["error"]["code"]) == (403, "invalid_signature")
    assert django_stack.paths == ["/webhooks/meta/"]
    assert not WebhookEvent.objects.exists()


def test_a_query_with_more_fields_than_django_reads_gets_djangos_400(text_tenant, intake, django_stack, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 10
    company, payload = text_tenant
    body = json.dumps(payload).encode()
    query = f"contract={company.contract}" + "".join(f"&f{number}=x" for number in range(20))
    headers = [("content-type", "application/json"), ("x-hub-signature-256", sign(body, "app-secret"))]
    status, _, _ = request(intake, "POST", "/webhooks/meta/", query=query, body=body, headers=headers)
    assert status == 400
    assert django_stack.paths == ["/webhooks/meta/"]
    assert not WebhookEvent.objects.exists()


def test_with_too_many_writes_waiting_a_webhook_is_stored_by_django(text_tenant, intake, django_stack, monkeypatch):
    company, payload = text_tenant
    intake.writer.max_waiting = 0
    assert meta_post(intake, company, json.dumps(payload).encode())[0] == 200
    assert django_stack.paths == ["/webhooks/meta/"]
    assert WebhookEvent.objects.filter(company=company).count() == 1


def test_a_referrer_policy_given_as_a_list_is_written_as_djangos(text_tenant, settings):
    settings.SECURE_REFERRER_POLICY = ["no-referrer", " strict-origin"]
    intake = make_intake(_Django(fresh=True))
    company, payload = text_tenant
    body = json.dumps(payload).encode()
    _, fast, _ = meta_post(intake, company, body, headers=[("x-request-id", "req-12345678")])
    _, slow, _ = meta_post(_Django(fresh=True), company, body, headers=[("x-request-id", "req-12345678")])
    assert fast == slow
    assert fast["referrer-policy"] == "no-referrer, strict-origin"
