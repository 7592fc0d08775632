"""The fake ERP's demo data: customers, contracts and open invoices, the same for every ERP kind.

Documents have valid check digits, digitable lines verify (FEBRABAN mod 10 / mod 11, due-date
factor restarting at 1000 on 2025-02-22), PIX codes carry a correct CRC-16/CCITT-FALSE, and the phones
are typed the messy ways ERPs keep them. One customer per contract state. Dates are relative to
``today``, so the demo always has an invoice due soon and one overdue.

This module is the outside world: it computes its check digits itself (the project's validators
check them in the tests).
"""

from __future__ import annotations

import binascii
import datetime as dt
import threading
from dataclasses import dataclass, field
from decimal import Decimal

FACTOR_BASE = dt.date(2025, 2, 22)  # the due-date factor's new 1000 (FEBRABAN)


@dataclass
class FakeCustomer:
    code: str
    name: str
    document: str  # digits (or the alphanumeric CNPJ), no punctuation
    mobile: str = ""  # as typed in the ERP
    whatsapp: str = ""
    landline: str = ""
    email: str = ""

    @property
    def is_company(self) -> bool:
        return len(self.document) == 14


@dataclass
class FakeContract:
    id: str
    customer_code: str
    # active, blocked (automatic, for debt), blocked_manual, reduced (bandwidth), suspended, cancelled, pending
    state: str
    plan: str
    trust_unlock_allowed: bool = True
    trust_unlocked_until: dt.date | None = None


@dataclass
class FakeInvoice:
    id: str
    customer_code: str
    contract_id: str
    due_date: dt.date
    amount: Decimal
    digitable_line: str
    barcode: str
    pix_code: str
    paid: bool = False
    pdf: bytes = field(default=b"", repr=False)


def _mod10(number: str) -> int:
    total = 0
    for position, char in enumerate(reversed(number)):
        product = int(char) * (2 if position % 2 == 0 else 1)
        total += product // 10 + product % 10
    return (10 - total % 10) % 10


def _mod11(number: str) -> int:
    total = sum(int(char) * (2 + position % 8) for position, char in enumerate(reversed(number)))
    check = 11 - total % 11
    return 1 if check in (0, 10, 11) else check


def due_factor(due: dt.date) -> str:
    return f"{1000 + (due - FACTOR_BASE).days % 9000:04d}"


def boleto(bank: str, due: dt.date, amount: Decimal, free_field: str) -> tuple[str, str]:
    """(digitable line as banks space it, 44-digit barcode) of a bank boleto; ``free_field`` has 25 digits."""
    value = f"{int(amount * 100):010d}"
    head = f"{bank}9"
    body = f"{due_factor(due)}{value}{free_field}"
    barcode = f"{head}{_mod11(head + body)}{body}"
    f1 = f"{head}{free_field[:5]}"
    f2, f3 = free_field[5:15], free_field[15:25]
    f1, f2, f3 = (f"{f}{_mod10(f)}" for f in (f1, f2, f3))
    line = f"{f1[:5]}.{f1[5:]} {f2[:5]}.{f2[5:]} {f3[:5]}.{f3[5:]} {barcode[4]} {barcode[5:19]}"
    return line, barcode


def _tlv(tag: str, value: str) -> str:
    return f"{tag}{len(value):02d}{value}"


def pix_code(location: str, amount: Decimal, merchant: str, city: str) -> str:
    """A dynamic PIX BR Code (EMV MPM) pointing at ``location``, with its CRC."""
    account = _tlv("00", "br.gov.bcb.pix") + _tlv("25", location)
    payload = (
        _tlv("00", "01")
        + _tlv("01", "12")
        + _tlv("26", account)
        + _tlv("52", "0000")
        + _tlv("53", "986")
        + _tlv("54", f"{amount:.2f}")
        + _tlv("58", "BR")
        + _tlv("59", merchant[:25])
        + _tlv("60", city[:15])
        + _tlv("62", _tlv("05", "***"))
        + "6304"
    )
    return payload + f"{binascii.crc_hqx(payload.encode(), 0xFFFF):04X}"


def tiny_pdf(text: str) -> bytes:
    """A one-page PDF saying ``text`` (what a boleto's PDF stands in for)."""
    stream = f"BT /F1 12 Tf 50 750 Td ({text}) Tj ET".encode("latin-1", "replace")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


MERCHANT, CITY = "PROVEDOR DEMO", "MARINGA"


def _invoice(
    number: str, customer: str, contract: str, due: dt.date, amount: str, *, paid: bool = False
) -> FakeInvoice:
    value = Decimal(amount)
    line, barcode = boleto("341", due, value, f"17900101043510047910{number:0>5}")
    return FakeInvoice(
        id=number,
        customer_code=customer,
        contract_id=contract,
        due_date=due,
        amount=value,
        digitable_line=line,
        barcode=barcode,
        pix_code=pix_code(f"pix.provedor-demo.example/qr/v2/cobv/{number}", value, MERCHANT, CITY),
        paid=paid,
        pdf=tiny_pdf(f"Boleto {number} - R$ {amount} - vencimento {due:%d/%m/%Y}"),
    )


def cpf(base: str) -> str:
    """``base`` (9 digits) with its two CPF check digits."""
    digits = [int(char) for char in base]
    for size in (9, 10):
        total = sum(value * (size + 1 - position) for position, value in enumerate(digits[:size]))
        digits.append(total * 10 % 11 % 10)
    return "".join(map(str, digits))


MAX_GENERATED = 10_000


def generated(index: int, today: dt.date) -> tuple[FakeCustomer, FakeContract, FakeInvoice]:
    """The ``index``-th generated customer (0-based, below MAX_GENERATED): mobile ``(44) 98100-<index>``, an
    active contract and one open invoice due in 7 days. Codes, ids and phones never meet the demo's."""
    if not 0 <= index < MAX_GENERATED:
        raise ValueError(f"a generated customer's index is below {MAX_GENERATED}")
    code, contract = f"{20000 + index}", f"{60000 + index}"
    customer = FakeCustomer(
        code, f"Cliente {index + 1} de Teste", cpf(f"{300000000 + index:09d}"), mobile=f"(44) 98100-{index:04d}"
    )
    invoice = _invoice(f"{80000 + index}", code, contract, today + dt.timedelta(days=7), "89.90")
    return customer, FakeContract(contract, code, "active", "Fibra 400 Mega"), invoice


class DemoErp:
    """The ERP's records, shared by the kinds' answers; ``pay`` and ``trust_unlock`` change them.

    ``generated_customers`` adds that many customers after the demo ones (``generated``), for load tests.
    """

    def __init__(self, today: dt.date | None = None, *, generated_customers: int = 0) -> None:
        today = today or dt.date.today()  # noqa: DTZ011 (a calendar date, as the ERP keeps it)
        self.today = today
        self.lock = threading.Lock()
        self.customers = [
            FakeCustomer("1001", "Maria da Silva", "52998224725", mobile="(44) 99999-0001", email="maria@example.com"),
            FakeCustomer("1002", "João Pereira", "11144477735", mobile="44 99777-0000 / (44) 3031-0001"),
            FakeCustomer("1003", "Mercado Bom Preço LTDA", "11222333000181", whatsapp="+55 44 98888-0000"),
            FakeCustomer("1004", "Ana Souza", "41107296617", mobile="4488887766"),  # a mobile without its ninth digit
            FakeCustomer("1005", "Carlos Lima", "62710524520"),  # no phone at all
            FakeCustomer("1006", "Pedro Alves", "17518172020", mobile="0xx44 99666-5544", landline="(44) 3262-1000"),
            FakeCustomer("1007", "Oficina Nova Era", "12ABC34501DE35", whatsapp="554499555-4433"),
            FakeCustomer("1008", "Lucia Ramos", "22385367000103", landline="(44) 3025-4000"),  # a landline only
        ]
        self.contracts = [
            FakeContract("5001", "1001", "active", "Fibra 500 Mega"),
            FakeContract("5002", "1002", "blocked", "Fibra 300 Mega"),
            FakeContract("5003", "1003", "active", "Empresarial 1 Giga"),
            FakeContract("5004", "1004", "reduced", "Fibra 200 Mega"),
            FakeContract("5005", "1005", "suspended", "Fibra 100 Mega"),
            FakeContract("5006", "1006", "cancelled", "Fibra 300 Mega"),
            FakeContract("5007", "1007", "blocked_manual", "Empresarial 500 Mega", trust_unlock_allowed=False),
            FakeContract("5008", "1008", "pending", "Fibra 500 Mega"),
        ]
        days = dt.timedelta
        self.invoices = [
            _invoice("90001", "1001", "5001", today + days(5), "99.90"),
            _invoice("90002", "1002", "5002", today - days(12), "129.90"),
            _invoice("90003", "1002", "5002", today + days(18), "129.90"),
            _invoice("90004", "1003", "5003", today + days(3), "459.00"),
            _invoice("90005", "1004", "5004", today - days(3), "79.90"),
            _invoice("90006", "1001", "5001", today - days(25), "99.90", paid=True),
        ]
        for index in range(generated_customers):
            customer, contract, invoice = generated(index, today)
            self.customers.append(customer)
            self.contracts.append(contract)
            self.invoices.append(invoice)

    def customer(self, code: str) -> FakeCustomer | None:
        return next((c for c in self.customers if c.code == str(code)), None)

    def contract(self, contract_id: str) -> FakeContract | None:
        return next((c for c in self.contracts if c.id == str(contract_id)), None)

    def contracts_of(self, code: str) -> list[FakeContract]:
        return [c for c in self.contracts if c.customer_code == str(code)]

    def invoice(self, invoice_id: str) -> FakeInvoice | None:
        return next((i for i in self.invoices if i.id == str(invoice_id)), None)

    def invoices_of(self, code: str, *, open_only: bool = True) -> list[FakeInvoice]:
        found = [i for i in self.invoices if i.customer_code == str(code) and not (open_only and i.paid)]
        return sorted(found, key=lambda i: i.due_date)

    def pay(self, invoice_id: str) -> None:
        with self.lock:
            invoice = self.invoice(invoice_id)
            if invoice is not None:
                invoice.paid = True

    def trust_unlock(self, contract_id: str) -> tuple[bool, str, dt.date | None]:
        """(granted, the ERP's reason when refused, until when)."""
        with self.lock:
            contract = self.contract(contract_id)
            if contract is None:
                return False, "Contrato não encontrado", None
            if contract.state not in ("blocked", "blocked_manual"):
                return False, "Contrato não está bloqueado", None
            if not contract.trust_unlock_allowed:
                return False, "Desbloqueio de confiança não permitido para este contrato", None
            if contract.trust_unlocked_until is not None:
                return False, "Desbloqueio de confiança já utilizado neste mês", None
            contract.trust_unlocked_until = self.today + dt.timedelta(days=3)
            contract.state = "active"
            return True, "", contract.trust_unlocked_until
