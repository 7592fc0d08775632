"""The API does what its schema says: schemathesis sends generated requests to every operation, in-process.

Each operation gets the schema's examples, then generated valid and invalid requests: a few dozen with
the key it is for (a platform token under /companies, a company key for the others), a few with no key
and with the other kind. No answer may be a 5xx, have a status the operation does not document,
or a body or headers that break the documented ones. Bounded and derandomized, so CI is stable: about
20 s on SQLite and 40 s on PostgreSQL on two cores. (The coverage phase, every edge case of every
field, would take minutes: a Company body alone gets some 300.)
"""

import hypothesis
import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from companies import services
from companies.models import Channel
from config.wsgi import application
from conversations.models import Message
from conversations.services import outbound, sessions
from conversations.whatsapp import content
from notifications.campaigns.services import create_campaign
from templates_meta.models import Template
from tests.factories import CloudChannelFactory, EvolutionChannelFactory

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
CONFIG = schemathesis.config.SchemathesisConfig.from_dict(
    {
        "seed": 20261203,
        "generation": {"mode": "all", "database": "none"},
        "phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}},
    }
)


# Read through Django's WSGI application, which the generated requests are then sent to (the schema view
# needs no database, so it can be read while the tests are collected).
schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application, config=CONFIG)


@pytest.fixture(autouse=True)
def requests_keep_the_connection():
    """The requests run in the test's transaction: starting or finishing one must not close the connection
    (Django's own test client does the same)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def world(company, platform_token, company_key):
    """What the generated requests find when they name a real contract or id."""
    cloud = CloudChannelFactory(company=company)
    template = Template.objects.create(
        company=company,
        waba_id=cloud.waba_id,
        name="aviso",
        status=Template.Status.APPROVED,
        components=[{"type": "BODY", "text": "Olá {{1}}", "example": {"body_text": [["Maria"]]}}],
    )
    campaign = create_campaign(company=company, name="Aviso", template_name=template.name)
    channel = EvolutionChannelFactory(company=company, connection_state=Channel.ConnectionState.OPEN)  # sends
    message = outbound.send_message(company=company, to="5544988887777", content=content.text("Olá"), channel=channel)
    Message.objects.filter(pk=message.pk).update(status=Message.Status.FAILED)  # so it can be retried
    api_key, _ = services.create_api_key(company=company, name="spare")
    session, _ = sessions.open_session(message.contact)
    sessions.attach(session, [message])
    sessions.tag(session, ["vip"])
    return {
        "contract": str(company.contract),
        "channel": channel.pk,
        "api_key": api_key.pk,
        "message": message.pk,
        "campaign": campaign.pk,
        "contact": message.contact_id,
        "session": session.pk,
        "tag": "vip",
        "keys": {"none": {}, "company": {"X-API-Key": company_key}, "platform": {"X-API-Key": platform_token}},
    }


def _aim_at_real_rows(case, world) -> None:
    """Three requests in four name the real company and its rows; the rest keep the generated values (404)."""
    parameters = case.path_parameters or {}
    contract = str(parameters.get("contract", ""))
    if "contract" in parameters and not contract.startswith(("0", "1", "2", "3")):
        parameters["contract"] = world["contract"]
    if "id" in parameters and isinstance(parameters["id"], int) and parameters["id"] % 4 != 3:
        kinds = {
            "/channels/": "channel",
            "/api-keys/": "api_key",
            "/campaigns/": "campaign",
            "/contacts/": "contact",
            "/sessions/": "session",
        }
        kind = next((kind for part, kind in kinds.items() if part in case.path), "message")
        parameters["id"] = world[kind]
    if "/tags/" in case.path and not str(parameters.get("name", "")).startswith(("0", "1", "2", "3")):
        parameters["name"] = world["tag"]


SETTINGS = {
    "deadline": None,
    "derandomize": True,
    "database": None,
    "suppress_health_check": list(hypothesis.HealthCheck),
}


def _call(case, world, who: str) -> None:
    _aim_at_real_rows(case, world)
    with transaction.atomic():  # each request starts from the same rows
        case.call_and_validate(headers=world["keys"][who], checks=CHECKS)
        transaction.set_rollback(True)


@schema.include(path_regex=r"^/api/v1/companies").parametrize()
@hypothesis.settings(max_examples=25, **SETTINGS)
def test_platform_operations_answer_a_platform_token_as_documented(case, world):
    _call(case, world, "platform")


@schema.include(path_regex=r"^/api/v1/(me|messages|notifications|sms|campaigns|contacts|sessions|tags)").parametrize()
@hypothesis.settings(max_examples=25, **SETTINGS)
def test_company_operations_answer_a_company_key_as_documented(case, world):
    _call(case, world, "company")


@pytest.fixture(params=["none", "other"])
def who(request) -> str:
    """No key, or the other kind of key than the operation is for (a company key on /companies, ...)."""
    return request.param


@schema.parametrize()
@pytest.mark.usefixtures("who")
@hypothesis.settings(max_examples=5, **SETTINGS)
def test_every_operation_answers_other_callers_as_documented(case, who, world):
    if who == "other":
        who = "company" if case.path.startswith("/api/v1/companies") else "platform"
    _call(case, world, who)
