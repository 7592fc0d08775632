"""The interface every ERP adapter implements, and how a company's adapter is chosen.

Implementers: return the dataclasses below (ERP JSON never leaves the adapter module), raise
:class:`ErpError` with ``retryable`` saying whether trying again later can help, and take URLs and
credentials from the Company row only.
"""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol

from django.utils.module_loading import import_string

if TYPE_CHECKING:
    from companies.models import Company


class ErpError(Exception):
    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class ErpNotConfigured(ErpError):
    """The company has no ERP, or one this product has no adapter for yet."""


@dataclass(frozen=True)
class Customer:
    code: str
    name: str
    document: str  # CPF or CNPJ, digits only
    phones: tuple[str, ...] = ()  # E.164 digits, e.g. 5544988887777
    email: str = ""


@dataclass(frozen=True)
class Contract:
    id: str
    customer_code: str
    status: str  # active, blocked, suspended, cancelled, bandwidth_limited
    plan: str = ""


@dataclass(frozen=True)
class Invoice:
    id: str
    customer_code: str
    contract_id: str
    due_date: dt.date
    amount: Decimal
    digitable_line: str
    pix_code: str
    boleto_url: str = ""


@dataclass(frozen=True)
class TrustUnlock:
    granted: bool
    until: dt.date | None = None
    reason: str = ""


class ErpAdapter(Protocol):
    def find_customer_by_code(self, code: str) -> Customer | None: ...
    def find_customers_by_document(self, document: str) -> list[Customer]: ...
    def find_customers_by_phone(self, phone: str) -> list[Customer]: ...
    def list_contracts(self, customer_code: str) -> list[Contract]: ...
    def list_open_invoices(self, customer_code: str, *, contract_id: str | None = None) -> list[Invoice]: ...
    def trust_unlock(self, contract_id: str) -> TrustUnlock: ...


ADAPTERS: dict[str, str] = {
    "fake": "companies.erp.fake.FakeErp",
}


def erp_for(company: "Company") -> ErpAdapter:
    """The adapter for the company's ERP; raises ErpNotConfigured when there is none (yet)."""
    path = ADAPTERS.get(company.erp_system)
    if path is None:
        label = company.get_erp_system_display() if company.erp_system else "none"
        raise ErpNotConfigured(f"No ERP adapter for {label!r} on company {company.contract}.")
    return import_string(path).from_company(company)
