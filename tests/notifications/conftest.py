"""A company on a fake ERP (a real HTTP server on loopback, in IXC Soft's shapes) with a connected Evolution channel."""

import pytest

from conversations.services import outbound
from fakes.erp.server import DEMO_CREDENTIALS, running_erp
from tests.factories import EvolutionChannelFactory


@pytest.fixture(autouse=True)
def no_dispatch(monkeypatch):
    # What is queued, and how, is the subject here; the engine has its own tests.
    monkeypatch.setattr(outbound, "kick_outbox", lambda: None)


@pytest.fixture
def erp():
    with running_erp("ixc") as server:
        yield server


@pytest.fixture
def erp_company(company, erp):
    company.erp_system = "ixc"
    company.erp_base_url = erp.url
    company.erp_username = DEMO_CREDENTIALS.username
    company.erp_token = DEMO_CREDENTIALS.token
    company.save()
    return company


@pytest.fixture
def evolution(erp_company):
    return EvolutionChannelFactory(company=erp_company, connection_state="open")
