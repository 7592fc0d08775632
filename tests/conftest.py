"""Shared fixtures: isolated cache per test, companies, keys and authenticated API clients."""

import json
import uuid
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from companies import services
from tests.factories import CloudChannelFactory, CompanyFactory, StaffUserFactory

FIXTURES = Path(__file__).parent / "fixtures"


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
