import datetime as dt
from decimal import Decimal

import pytest
from validate_docbr import CNPJ, CPF

from companies.erp.base import ErpError, ErpNotConfigured, erp_for
from companies.erp.fake import FakeErp
from tests.factories import CompanyFactory


def test_demo_documents_have_valid_check_digits():
    erp = FakeErp()
    for customer in erp.customers:
        validator = CPF() if len(customer.document) == 11 else CNPJ()
        assert validator.validate(customer.document), customer


def test_finds_customers_by_code_document_and_phone():
    erp = FakeErp()
    assert erp.find_customer_by_code("1001").name == "Maria da Silva"
    assert [c.code for c in erp.find_customers_by_document("529.982.247-25")] == ["1001"]
    assert [c.code for c in erp.find_customers_by_phone("554430300001")] == ["1002"]
    assert erp.find_customer_by_code("9999") is None


def test_open_invoices_come_oldest_first_and_filter_by_contract():
    erp = FakeErp(today=dt.date(2026, 11, 25))
    invoices = erp.list_open_invoices("1002")
    assert [i.due_date for i in invoices] == [dt.date(2026, 11, 13), dt.date(2026, 12, 13)]
    assert invoices[0].amount == Decimal("129.90")
    assert invoices[0].pix_code.startswith("000201")
    assert erp.list_open_invoices("1002", contract_id="5001") == []


def test_trust_unlock_once_for_a_blocked_contract():
    erp = FakeErp()
    assert erp.trust_unlock("5002").granted
    assert erp.trust_unlock("5002").reason == "trust unlock already used this month"
    assert not erp.trust_unlock("5001").granted


def test_records_calls_and_fails_on_demand():
    erp = FakeErp(fail_with=ErpError("timeout", retryable=True))
    with pytest.raises(ErpError) as excinfo:
        erp.find_customer_by_code("1001")
    assert excinfo.value.retryable
    assert erp.calls == [("find_customer_by_code", ("1001",))]


@pytest.mark.django_db
def test_a_company_gets_its_erp_adapter():
    assert isinstance(erp_for(CompanyFactory(erp_system="fake")), FakeErp)
    with pytest.raises(ErpNotConfigured, match="IXC Soft"):
        erp_for(CompanyFactory(erp_system="ixc"))
    with pytest.raises(ErpNotConfigured, match="none"):
        erp_for(CompanyFactory(erp_system=""))
