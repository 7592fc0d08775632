"""The interface every ERP adapter implements, and what it returns.

Implementers: return the dataclasses below (ERP JSON never leaves the adapter module), raise the
:class:`ErpError` kinds below (``retryable`` says whether trying again later can help), and take URLs
and credentials from the Company row only (seed: "ta fixo a url, conta e key").
"""

import datetime as dt
import enum
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol


class ErpError(Exception):
    """The ERP could not answer the question. The message is safe to show an operator (no secrets)."""

    code = "erp_error"

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class ErpNotConfigured(ErpError):
    """The company has no ERP, or one this product has no adapter for."""

    code = "erp_not_configured"


class ErpUnavailable(ErpError):
    """Down, timed out, or answered 5xx / 429: trying again later can help."""

    code = "erp_unavailable"

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=True)


class ErpAuthFailed(ErpError):
    """The ERP refused the company's credentials."""

    code = "erp_auth_failed"


class ErpBadAnswer(ErpError):
    """The ERP answered something that is not its API's answer: an HTML page, an empty body, its error shape."""

    code = "erp_bad_answer"


class ErpNotSupported(ErpError):
    """The ERP's API has no way to answer this question (say, listing invoices by due date)."""

    code = "erp_not_supported"


class ContractStatus(enum.StrEnum):
    ACTIVE = "active"
    BLOCKED = "blocked"
    SUSPENDED = "suspended"
    CANCELLED = "cancelled"
    BANDWIDTH_LIMITED = "bandwidth_limited"
    PENDING = "pending"  # signed up, not yet activated


@dataclass(frozen=True)
class Customer:
    code: str
    name: str
    document: str  # CPF or CNPJ, canonical (companies.documents.canonical)
    phones: tuple[str, ...] = ()  # WhatsApp numbers, E.164 digits (companies.phones.whatsapp_numbers)
    email: str = ""


@dataclass(frozen=True)
class Contract:
    id: str
    customer_code: str
    status: ContractStatus
    plan: str = ""
    trust_unlock_allowed: bool | None = None  # None: the ERP does not say


@dataclass(frozen=True)
class Invoice:
    id: str
    customer_code: str
    contract_id: str
    due_date: dt.date
    amount: Decimal
    digitable_line: str = ""  # as the ERP spaces it
    barcode: str = ""  # the 44 digits
    pix_code: str = ""  # the PIX copy-and-paste code (BR Code)
    boleto_url: str = ""  # where the boleto PDF can be fetched, when the ERP gives a link
    boleto_is_page: bool = False  # boleto_url is a web page to open (MK-Auth's), not a PDF to attach
    boleto_pdf: bytes = field(default=b"", repr=False)  # the PDF itself, when the ERP gives bytes


@dataclass(frozen=True)
class TrustUnlock:
    granted: bool
    until: dt.date | None = None
    reason: str = ""  # the ERP's own words when it refused (or why we could not ask)


class ErpAdapter(Protocol):
    def find_customer_by_code(self, code: str) -> Customer | None: ...
    def find_customers_by_document(self, document: str) -> list[Customer]: ...
    def find_customers_by_phone(self, phone: str) -> list[Customer]: ...
    def list_contracts(self, customer_code: str) -> list[Contract]: ...
    def list_open_invoices(self, customer_code: str, *, contract_id: str | None = None) -> list[Invoice]: ...
    def list_open_invoices_due(self, start: dt.date, end: dt.date) -> list[Invoice]:
        """Every customer's open invoices due from ``start`` to ``end`` (both included), for billing reminders."""
        ...

    def trust_unlock(self, contract_id: str) -> TrustUnlock: ...
