"""Which adapter serves a company, and the short cache in front of it (against the fake SGP on loopback)."""

import datetime as dt

import pytest
from django.core.cache import cache
from django.utils import timezone
from django.utils.module_loading import import_string

from companies.erp import registry
from companies.erp.base import ErpAuthFailed, ErpNotConfigured, ErpUnavailable
from companies.erp.registry import ADAPTERS, CachedErp, erp_for
from companies.erp.sgp import SgpAdapter
from companies.models import Company
from fakes.erp.server import DEMO_CREDENTIALS, running_erp
from tests.factories import CompanyFactory


@pytest.fixture
def server():
    with running_erp("sgp", today=timezone.localdate()) as fake:
        yield fake


def _sgp_company(server, **fields) -> Company:
    return CompanyFactory(
        erp_system="sgp",
        erp_base_url=server.url,
        erp_username=DEMO_CREDENTIALS.username,
        erp_token=DEMO_CREDENTIALS.token,
        **fields,
    )


@pytest.fixture
def company(db, server):
    return _sgp_company(server)


@pytest.fixture
def erp(company):
    return erp_for(company)


def _asked(server, service: str) -> int:
    """How many requests SGP's URA service got (``clientes``, ``consultacliente``, ``titulos``...)."""
    return sum(1 for r in server.requests if r.path.rstrip("/") == f"/api/ura/{service}")


# ---------------------------------------------------------------------- which adapter


@pytest.mark.django_db
def test_a_company_without_an_erp_system_has_none():
    with pytest.raises(ErpNotConfigured, match=r"no ERP set up \(system: none\)") as caught:
        erp_for(CompanyFactory(erp_base_url="http://127.0.0.1:9"))
    assert caught.value.code == "erp_not_configured" and not caught.value.retryable


@pytest.mark.django_db
@pytest.mark.parametrize("system", ["ixc", "sgp"])
def test_a_company_with_a_system_but_no_url_has_none(system):
    company = CompanyFactory(erp_system=system, erp_base_url="")
    with pytest.raises(ErpNotConfigured, match=rf"system: {company.get_erp_system_display()}"):
        erp_for(company, cached=False)


def test_every_erp_system_has_an_adapter():
    assert set(ADAPTERS) == {choice for choice in Company.ErpSystem.values if choice}


@pytest.mark.django_db
@pytest.mark.parametrize(("system", "path"), list(ADAPTERS.items()))
def test_the_adapter_is_picked_by_the_companys_system(system, path):
    company = CompanyFactory(erp_system=system, erp_base_url="http://127.0.0.1:9", erp_token="t", erp_password="p")
    adapter_class = import_string(path)
    cached = erp_for(company)
    assert isinstance(cached, CachedErp) and isinstance(cached.adapter, adapter_class)
    assert type(erp_for(company, cached=False)) is adapter_class


# ---------------------------------------------------------------------- what is cached


def test_a_customer_lookup_is_asked_once_per_company(server, erp, company):
    first = erp.find_customer_by_code("1001")
    assert erp.find_customer_by_code("1001") == first and first.name == "Maria da Silva"
    assert erp_for(company).find_customer_by_code(1001) == first  # another instance, the code as a number
    assert _asked(server, "clientes") == 1
    erp.find_customer_by_code("1002")
    assert _asked(server, "clientes") == 2


def test_each_company_has_its_own_answers(server, erp):
    erp.find_customer_by_code("1001")
    other = erp_for(_sgp_company(server))
    assert other.find_customer_by_code("1001").code == "1001"
    assert _asked(server, "clientes") == 2


def test_nobody_found_is_remembered_too(server, erp):
    assert erp.find_customer_by_code("9999") is None
    assert erp.find_customer_by_code("9999") is None
    assert _asked(server, "clientes") == 1


def test_lookups_by_document_and_phone_contracts_and_invoices_are_cached(server, erp):
    for _ in range(2):
        assert [c.code for c in erp.find_customers_by_document("529.982.247-25")] == ["1001"]
        assert [c.code for c in erp.find_customers_by_phone("5544999990001")] == ["1001"]
        assert [c.id for c in erp.list_contracts("1002")] == ["5002"]
        assert [i.id for i in erp.list_open_invoices("1002")] == ["90002", "90003"]
    asked = len(server.requests)
    assert [i.id for i in erp.list_open_invoices("1002", contract_id="5002")] == ["90002", "90003"]
    assert len(server.requests) > asked  # another contract filter is another question
    asked = len(server.requests)
    erp.list_open_invoices("1002", contract_id="5002")
    assert len(server.requests) == asked


def test_an_error_is_not_cached(server, company):
    erp = CachedErp(SgpAdapter.from_company(company, max_wait=0.01), company)
    server.fail = "down"
    with pytest.raises(ErpUnavailable):
        erp.find_customer_by_code("1001")
    server.fail = None
    assert erp.find_customer_by_code("1001").code == "1001"


def test_the_invoices_due_for_reminders_are_asked_every_time(server, erp):
    today = server.data.today
    for _ in range(2):
        due = erp.list_open_invoices_due(today - dt.timedelta(days=3), today + dt.timedelta(days=3))
        assert [i.id for i in due] == ["90005", "90004"]
    assert _asked(server, "titulos") == 2


def test_other_attributes_are_the_adapters(erp):
    assert erp.transport is erp.adapter.transport


@pytest.mark.parametrize("change", ["url", "token", "name"])
def test_answers_are_forgotten_when_the_company_is_saved(server, company, change):
    # The key carries updated_at: a new URL or token (or any other save) is used at once.
    erp_for(company).find_customer_by_code("1001")
    if change == "url":
        company.erp_base_url = f"{server.url}/api/ura/"  # a pasted service URL, which SGP's adapter accepts
    elif change == "token":
        company.erp_token = DEMO_CREDENTIALS.token
    else:
        company.name = "Provedor renomeado"
    company.save()
    erp_for(company).find_customer_by_code("1001")
    assert _asked(server, "clientes") == 2


def test_a_new_token_is_used_at_once(server, company):
    erp_for(company).find_customer_by_code("1001")
    company.erp_token = "a-token-the-erp-refuses"
    company.save()
    with pytest.raises(ErpAuthFailed):
        erp_for(company).find_customer_by_code("1001")


def test_answers_expire_after_erp_cache_seconds(server, company, settings):
    settings.ERP_CACHE_SECONDS = 0
    erp = erp_for(company)
    erp.find_customer_by_code("1001")
    erp.find_customer_by_code("1001")
    assert _asked(server, "clientes") == 2


# ---------------------------------------------------------------------- trust unlock


def test_a_trust_unlock_is_never_cached_and_forgets_contracts_and_invoices(server, erp):
    assert [c.status for c in erp.list_contracts("1002")] == ["blocked"]
    erp.list_open_invoices("1002")
    erp.find_customer_by_code("1002")
    asked = {service: _asked(server, service) for service in ("consultacliente", "titulos")}
    assert erp.trust_unlock("5002").granted
    assert not erp.trust_unlock("5002").granted  # asked again: SGP refuses a second one this month
    assert _asked(server, "liberacaopromessa") == 2
    assert [c.status for c in erp.list_contracts("1002")] == ["active"]  # asked again, unlocked
    assert _asked(server, "consultacliente") > asked["consultacliente"]
    erp.list_open_invoices("1002")
    assert _asked(server, "titulos") > asked["titulos"]
    before = len(server.requests)
    erp.find_customer_by_code("1002")
    assert len(server.requests) == before  # who the customer is did not change


def test_a_trust_unlock_forgets_only_its_companys_answers(server, erp):
    other = erp_for(_sgp_company(server))
    other.list_contracts("1002")
    erp.trust_unlock("5002")
    asked = _asked(server, "consultacliente")
    other.list_contracts("1002")
    assert _asked(server, "consultacliente") == asked


# ---------------------------------------------------------------------- the keys


class RecordingCache:
    """The project's cache, with every key it is asked for written down."""

    def __init__(self) -> None:
        self.keys: list[str] = []

    def get(self, key, *args, **kwargs):
        self.keys.append(key)
        return cache.get(key, *args, **kwargs)

    def set(self, key, *args, **kwargs):
        self.keys.append(key)
        return cache.set(key, *args, **kwargs)


def test_cache_keys_hold_no_document_or_phone(server, erp, company, monkeypatch):
    recording = RecordingCache()
    monkeypatch.setattr(registry, "cache", recording)
    erp.find_customers_by_document("529.982.247-25")
    erp.find_customers_by_document("52998224725")
    erp.find_customers_by_phone("+55 (44) 99999-0001")
    erp.find_customers_by_phone("5544999990001")
    erp.find_customer_by_code("1001")
    erp.list_open_invoices("1001", contract_id="5001")
    assert recording.keys
    for key in recording.keys:
        assert key.startswith(f"erp:{company.pk}:")
        for raw in ("52998224725", "529.982.247-25", "998224725", "5544999990001", "99999-0001", "999990001"):
            assert raw not in key, key
