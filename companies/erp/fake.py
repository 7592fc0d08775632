"""A fake ERP with demo data, for `make run` and tests (like Django's locmem mail backend).

It answers like a real adapter, records every call in ``calls`` and can be told to fail.
"""

import datetime as dt
from decimal import Decimal
from typing import TYPE_CHECKING

from companies.erp.base import Contract, Customer, ErpError, Invoice, TrustUnlock

if TYPE_CHECKING:
    from companies.models import Company

DEMO_CUSTOMERS = (
    Customer(code="1001", name="Maria da Silva", document="52998224725", phones=("5544988887777",)),
    Customer(code="1002", name="João Pereira", document="11144477735", phones=("5544999990000", "554430300001")),
    Customer(code="1003", name="Mercado Bom Preço LTDA", document="11222333000181", phones=("5544988880000",)),
)
DEMO_CONTRACTS = (
    Contract(id="5001", customer_code="1001", status="active", plan="Fibra 500 Mega"),
    Contract(id="5002", customer_code="1002", status="blocked", plan="Fibra 300 Mega"),
    Contract(id="5003", customer_code="1003", status="active", plan="Empresarial 1 Giga"),
)


def _demo_invoices(today: dt.date) -> tuple[Invoice, ...]:
    def invoice(number: str, customer: str, contract: str, days: int, amount: str) -> Invoice:
        return Invoice(
            id=number,
            customer_code=customer,
            contract_id=contract,
            due_date=today + dt.timedelta(days=days),
            amount=Decimal(amount),
            digitable_line=f"34191.79001 01043.510047 91020.150008 {number[-1]} 9{number:0>13}",
            pix_code=(
                "00020101021226870014br.gov.bcb.pix2565pix.example.com/qr/v2/"
                f"{number}5204000053039865406{amount}5802BR5913PROVEDOR DEMO6008MARINGA62070503***6304ABCD"
            ),
            boleto_url=f"https://erp.example.com/boleto/{number}.pdf",
        )

    return (
        invoice("90001", "1001", "5001", 5, "99.90"),
        invoice("90002", "1002", "5002", -12, "129.90"),
        invoice("90003", "1002", "5002", 18, "129.90"),
    )


class FakeErp:
    """In-memory ERP. ``fail_with`` makes every call raise it (to test error paths)."""

    def __init__(self, *, today: dt.date | None = None, fail_with: ErpError | None = None) -> None:
        self.customers = list(DEMO_CUSTOMERS)
        self.contracts = list(DEMO_CONTRACTS)
        self.invoices = list(_demo_invoices(today or dt.date.today()))  # noqa: DTZ011 (a calendar date is meant)
        self.fail_with = fail_with
        self.calls: list[tuple[str, tuple]] = []
        self.unlocked: set[str] = set()

    @classmethod
    def from_company(cls, company: "Company") -> "FakeErp":
        return cls()

    def _record(self, name: str, *args: object) -> None:
        self.calls.append((name, args))
        if self.fail_with is not None:
            raise self.fail_with

    def find_customer_by_code(self, code: str) -> Customer | None:
        self._record("find_customer_by_code", code)
        return next((c for c in self.customers if c.code == str(code)), None)

    def find_customers_by_document(self, document: str) -> list[Customer]:
        self._record("find_customers_by_document", document)
        digits = "".join(ch for ch in document if ch.isdigit())
        return [c for c in self.customers if c.document == digits]

    def find_customers_by_phone(self, phone: str) -> list[Customer]:
        self._record("find_customers_by_phone", phone)
        return [c for c in self.customers if phone in c.phones]

    def list_contracts(self, customer_code: str) -> list[Contract]:
        self._record("list_contracts", customer_code)
        return [c for c in self.contracts if c.customer_code == str(customer_code)]

    def list_open_invoices(self, customer_code: str, *, contract_id: str | None = None) -> list[Invoice]:
        self._record("list_open_invoices", customer_code, contract_id)
        return sorted(
            (
                i
                for i in self.invoices
                if i.customer_code == str(customer_code) and (contract_id is None or i.contract_id == str(contract_id))
            ),
            key=lambda i: i.due_date,
        )

    def trust_unlock(self, contract_id: str) -> TrustUnlock:
        self._record("trust_unlock", contract_id)
        contract = next((c for c in self.contracts if c.id == str(contract_id)), None)
        if contract is None:
            return TrustUnlock(granted=False, reason="contract not found")
        if contract.status != "blocked":
            return TrustUnlock(granted=False, reason="contract is not blocked")
        if contract_id in self.unlocked:
            return TrustUnlock(granted=False, reason="trust unlock already used this month")
        self.unlocked.add(contract_id)
        return TrustUnlock(granted=True, until=dt.date.today() + dt.timedelta(days=3))  # noqa: DTZ011
