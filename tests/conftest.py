"""Shared fixtures: isolated cache per test, companies, keys and authenticated API clients."""

import hashlib
import hmac
import ipaddress
import json
import socket
import uuid
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from companies import cache as company_cache
from companies import services
from tests.factories import CloudChannelFactory, CompanyFactory, StaffUserFactory

FIXTURES = Path(__file__).parent / "fixtures"
META_API_FIXTURES = FIXTURES / "meta_api"  # Graph API answers; the fake Graph API's failures by name


def load_fixture(name: str) -> dict:
    """A stored real payload, e.g. ``load_fixture("meta/status_sent.json")``."""
    return json.loads((FIXTURES / name).read_text())


@pytest.fixture(autouse=True)
def isolated_cache(settings):
    # A fresh key prefix per test isolates the cache (and rate-limit counters) without flushing a
    # shared Redis; changing CACHES makes Django rebuild its cache connections.
    settings.CACHES = {
        name: {**config, "KEY_PREFIX": f"test-{uuid.uuid4().hex[:12]}"} for name, config in settings.CACHES.items()
    }
    # The per-process copies in front of it belong to the cache they came from.
    company_cache.local_copies.clear()


@pytest.fixture(autouse=True)
def media_in_tmp(settings, tmp_path):
    # Stored attachments and hosted files (boleto PDFs) go to a directory of the test's own.
    settings.MEDIA_ROOT = tmp_path / "media"


_LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1", "testserver"}


def _is_loopback(host: object) -> bool:
    if not isinstance(host, str):
        return True  # unix sockets
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return host in _LOOPBACK_NAMES


@pytest.fixture(autouse=True)
def no_external_network(monkeypatch):
    """Tests may only talk to loopback addresses: anything else fails loudly instead of reaching out."""
    real_getaddrinfo, real_connect = socket.getaddrinfo, socket.socket.connect

    def getaddrinfo(host, *args, **kwargs):
        if host is not None and not _is_loopback(host):
            raise socket.gaierror(f"tests may not resolve {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    def connect(self, address):
        if isinstance(address, tuple) and not _is_loopback(address[0]):
            raise OSError(f"tests may not connect to {address[0]!r}")
        return real_connect(self, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)


@pytest.fixture(autouse=True)
def eager_celery(request):
    """Tasks run in-process, except in integration tests, which start a real worker."""
    from config.celery import app

    if request.node.get_closest_marker("integration"):
        yield
        return
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def company(db):
    return CompanyFactory()


@pytest.fixture
def other_company(db):
    return CompanyFactory()


@pytest.fixture
def cloud_channel(company):
    return CloudChannelFactory(company=company)


@pytest.fixture
def staff_user(db):
    return StaffUserFactory()


def _client_with(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=key)
    return client


@pytest.fixture
def company_key(company) -> str:
    _, plaintext = services.create_api_key(company=company, name="ERP")
    return plaintext


@pytest.fixture
def company_client(company_key) -> APIClient:
    return _client_with(company_key)


@pytest.fixture
def other_company_client(other_company) -> APIClient:
    _, plaintext = services.create_api_key(company=other_company, name="ERP")
    return _client_with(plaintext)


@pytest.fixture
def platform_token(staff_user) -> str:
    _, plaintext = services.create_platform_token(user=staff_user, name="ops")
    return plaintext


@pytest.fixture
def staff_client(platform_token) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {platform_token}")
    return client


@pytest.fixture
def anon_client() -> APIClient:
    return APIClient()


def sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post_meta(client, company, payload, *, secret: str | None = None, contract=None):
    """POST a Meta webhook signed with the company's app secret (or ``secret``)."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return client.post(
        f"/webhooks/meta/?contract={contract or company.contract}",
        data=body,
        content_type="application/json",
        HTTP_X_HUB_SIGNATURE_256=sign(body, secret if secret is not None else company.meta_app_secret),
    )


def post_evolution(client, company, payload, *, apikey: str | None = None):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = {"HTTP_APIKEY": apikey} if apikey is not None else {}
    return client.post(
        f"/webhooks/evolution/{company.contract}/", data=body, content_type="application/json", **headers
    )
