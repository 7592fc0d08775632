"""Which adapter serves a company, with its answers cached briefly per company.

A customer talking to the bot asks the same questions of the ERP several times in a minute (who is
this phone, which invoices are open); ERPs are slow and often rate limited. Answers are kept for
``ERP_CACHE_SECONDS`` under a key that changes whenever the company's ERP settings change, so a
fixed URL or a new token is used at once. A trust unlock is never cached, and forgets the cached
contracts and invoices of the company.
"""

import datetime as dt
import hashlib
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.utils.module_loading import import_string

from companies.erp.base import Contract, Customer, ErpAdapter, ErpNotConfigured, Invoice, TrustUnlock
from companies.models import Company

_MISSING = object()

ADAPTERS: dict[str, str] = {
    Company.ErpSystem.IXC: "companies.erp.ixc.IxcAdapter",
    Company.ErpSystem.ROUTERBOX: "companies.erp.routerbox.RouterBoxAdapter",
    Company.ErpSystem.SGP: "companies.erp.sgp.SgpAdapter",
    Company.ErpSystem.MKAUTH: "companies.erp.mkauth.MkAuthAdapter",
    Company.ErpSystem.HUBSOFT: "companies.erp.hubsoft.HubsoftAdapter",
}


def erp_for(company: Company, *, cached: bool = True) -> ErpAdapter:
    """The adapter for the company's ERP; raises ErpNotConfigured when there is none or no URL.

    ``cached=False`` asks the ERP itself (a reminder checks an invoice is still open just before it goes).
    """
    path = ADAPTERS.get(company.erp_system)
    if path is None or not company.erp_base_url:
        label = company.get_erp_system_display() if company.erp_system else "none"
        raise ErpNotConfigured(f"The company has no ERP set up (system: {label}).")
    adapter = import_string(path).from_company(company)
    return CachedErp(adapter, company) if cached else adapter


class CachedErp:
    """An adapter whose lookups are answered from the cache for a short while."""

    def __init__(self, adapter: ErpAdapter, company: Company) -> None:
        self.adapter = adapter
        settings_seen = f"{company.erp_system}|{company.erp_base_url}|{company.updated_at.isoformat()}"
        self._prefix = f"erp:{company.pk}:{hashlib.sha256(settings_seen.encode()).hexdigest()[:12]}"

    def _key(self, name: str, *args: Any) -> str:
        # The arguments are CPFs and phones: hashed, never written as they are into a cache key.
        digest = hashlib.sha256(repr(args).encode()).hexdigest()[:24]
        return f"{self._prefix}:{name}:{digest}"

    def _cached(self, name: str, *args: Any, generation: int = 0, **kwargs: Any) -> Any:
        key = self._key(f"{name}:{generation}", *args, *sorted(kwargs.items()))
        found = cache.get(key, default=_MISSING)
        if found is not _MISSING:
            return found
        value = getattr(self.adapter, name)(*args, **kwargs)
        cache.set(key, value, timeout=settings.ERP_CACHE_SECONDS)
        return value

    def find_customer_by_code(self, code: str) -> Customer | None:
        return self._cached("find_customer_by_code", str(code))

    def find_customers_by_document(self, document: str) -> list[Customer]:
        return self._cached("find_customers_by_document", document)

    def find_customers_by_phone(self, phone: str) -> list[Customer]:
        return self._cached("find_customers_by_phone", phone)

    def list_contracts(self, customer_code: str) -> list[Contract]:
        return self._cached("list_contracts", str(customer_code), generation=self._generation())

    def list_open_invoices(self, customer_code: str, *, contract_id: str | None = None) -> list[Invoice]:
        return self._cached(
            "list_open_invoices", str(customer_code), generation=self._generation(), contract_id=contract_id
        )

    def list_open_invoices_due(self, start: dt.date, end: dt.date) -> list[Invoice]:
        # Reminders ask once a day and check each invoice again just before it goes: nothing to gain here.
        return self.adapter.list_open_invoices_due(start, end)

    def trust_unlock(self, contract_id: str) -> TrustUnlock:
        answer = self.adapter.trust_unlock(str(contract_id))
        cache.set(f"{self._prefix}:generation", self._generation() + 1, timeout=None)
        return answer

    def _generation(self) -> int:
        return cache.get(f"{self._prefix}:generation", 0)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.adapter, name)
