"""Two companies with a row of every registered model each, an ISP admin and an agent of company A."""

import pytest
from django.contrib import admin
from django.test import Client

from companies import members
from companies.admin_scoping import PLATFORM_ONLY
from companies.models import Member
from tests.companies.admin_scoping.rows import Rows
from tests.factories import CompanyFactory

PASSWORD = "correct horse battery staple"


def scoped_models() -> list:
    """Every registered model whose rows belong to a company."""
    return [
        model for model, model_admin in admin.site._registry.items() if model_admin.company_path is not PLATFORM_ONLY
    ]


@pytest.fixture
def company_a(db):
    return CompanyFactory(name="qqalpha Internet")


@pytest.fixture
def company_b(db):
    return CompanyFactory(name="qqbeta Telecom")


def _rows(company, marker: str) -> Rows:
    rows = Rows(company, marker)
    for model in scoped_models():
        rows.of(model)
    return rows


@pytest.fixture
def rows_a(company_a) -> Rows:
    return _rows(company_a, "qqalpha")


@pytest.fixture
def rows_b(company_b) -> Rows:
    return _rows(company_b, "qqbeta")


@pytest.fixture
def isp_admin(company_a) -> Member:
    return members.create_member_user(
        company=company_a, role=Member.Role.ISP_ADMIN, username="ana", password=PASSWORD, email="ana@example.com"
    )


@pytest.fixture
def agent(company_a) -> Member:
    return members.create_member_user(company=company_a, role=Member.Role.AGENT, username="bruno", password=PASSWORD)


@pytest.fixture
def isp_client(isp_admin) -> Client:
    client = Client()
    client.force_login(isp_admin.user)
    return client
