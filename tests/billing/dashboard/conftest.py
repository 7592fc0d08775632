"""The live dashboard's tests' world: two companies with a Cloud channel each, their agents, platform staff,
Meta's real delivered receipt (``meta/status_delivered.json``) posted to the real webhook URL, and for the
browser's tests headless Chromium and the ASGI application served live (``tests.billing.browser_harness``)."""

import datetime as dt
import importlib
from decimal import Decimal

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client

from billing.models import Rate
from companies import members
from companies.models import Channel, Member
from conversations.models import Message
from tests.billing.browser_harness import browser_fixture, live_asgi  # noqa: F401
from tests.billing.conftest import cloud_message, status_payload
from tests.conftest import post_meta
from tests.factories import CloudChannelFactory, CompanyFactory

PASSWORD = "correct horse battery staple"
# Meta's service rate for Brazil from 2026-10-01 (billing's rate card migration): the CBP receipt's category.
SERVICE_PRICE = Decimal("0.0068")


@pytest.fixture
def seeded_rate_card(transactional_db) -> None:
    """The rate card of billing's data migration, for tests that commit: their database is emptied after each
    one, the migration's rows with it (serialized_rollback would restore them, but clashes with the content
    types that another committing test's flush made again)."""
    if not Rate.objects.exists():
        importlib.import_module("billing.migrations.0002_seed_brazil_rates").seed(apps, None)


@pytest.fixture
def cloud_a(db) -> Channel:
    return CloudChannelFactory(company=CompanyFactory(name="qqalpha Internet"))


@pytest.fixture
def cloud_b(db) -> Channel:
    return CloudChannelFactory(company=CompanyFactory(name="qqbeta Telecom"))


def member(channel: Channel, username: str, role: str = Member.Role.AGENT) -> Member:
    return members.create_member_user(company=channel.company, role=role, username=username, password=PASSWORD)


@pytest.fixture
def agent_a(cloud_a) -> Member:
    return member(cloud_a, "bruno")


@pytest.fixture
def agent_b(cloud_b) -> Member:
    return member(cloud_b, "carla")


@pytest.fixture
def platform_staff(db):
    """Staff without a membership, allowed to read spend (not a superuser)."""
    user = get_user_model().objects.create_user("ops", password=PASSWORD, is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_spendentry", content_type__app_label="billing"))
    return user


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def session_cookie(user) -> str:
    return logged_in(user).cookies["sessionid"].value


def sent_template(channel: Channel, *, phone: str = "5544999990001", template: str = "fatura_disponivel") -> Message:
    """A template message the engine has sent, that Meta has not reported delivered yet."""
    return cloud_message(channel, phone=phone, template=template, at=dt.datetime.now(dt.UTC))


def delivered_webhook(message: Message) -> dict:
    """Meta's delivered receipt (conversation-based, billable, service) about ``message``, timed now, in a
    conversation of its own (conversation-based pricing charges a conversation's first message only)."""
    payload = status_payload("status_delivered.json", message, at=dt.datetime.now(dt.UTC))
    payload["entry"][0]["changes"][0]["value"]["statuses"][0]["conversation"]["id"] = f"conversation-{message.pk}"
    return payload


def post_delivered(message: Message, client: Client | None = None) -> None:
    """Meta posts its delivered receipt about ``message`` to the real webhook URL; the pipeline handles it."""
    response = post_meta(client or Client(), message.company, delivered_webhook(message))
    assert response.status_code == 200, response.content
