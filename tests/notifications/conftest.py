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


@pytest.fixture
def cloud(company):
    from tests.factories import CloudChannelFactory

    return CloudChannelFactory(company=company)


@pytest.fixture
def template(company, cloud):
    """An approved template with two body variables: {{1}} the name, {{2}} the due date."""
    from templates_meta.models import Template

    return Template.objects.create(
        company=company,
        waba_id=cloud.waba_id,
        name="aviso_manutencao",
        language="pt_BR",
        category="UTILITY",
        status="APPROVED",
        components=[
            {
                "type": "BODY",
                "text": "Olá {{1}}, haverá manutenção na sua região em {{2}}.",
                "example": {"body_text": [["Maria", "28/11"]]},
            }
        ],
    )
