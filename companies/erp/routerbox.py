"""RouterBox (RBX ISP, by RBXSoft) through its two web services: customers, contracts, open invoices, unblock.

API: https://www.developers.rbxsoft.com/ (v1) and https://www.developers.rbxsoft.com/v2/ (v2).

- v2: ``POST {base}/routerbox/ws_json/ws_json.php`` with the header ``authentication_key: <key>`` and
  ``{"<service>": {...}}``; it answers ``{"status": 1|0, "error_code", "error_description", "result"}``.
- v1: ``POST {base}/routerbox/ws/rbx_server_json.php`` with the key in the body
  (``{"<Servico>": {"Autenticacao": {"ChaveIntegracao": <key>}, "Filtro": "..."}}``); it answers
  ``{"status", "erro_code", "erro_desc", "erro_detail", "result"}``. ``erro_code`` 1 ("A consulta nao
  retornou resultados") is an empty result, 97 ("Chave de integracao invalida ou inativa") a refused key.
- v2 serves what it has: open invoices (``get_unpaid_document``), the boleto PDF
  (``get_banking_billet``), the digitable line (``get_barcode``), PIX (``get_pix_copia_cola``) and the
  unblock (``contract_unblock``). Customers and contracts are v1's (v2 has no query for them), and v1 is
  the fallback where a RouterBox has no v2 (HTTP 404) or its v2 says the service does not exist.
- ``Filtro`` is an SQL-like expression RouterBox evaluates: only digits (and a CNPJ's letters) that
  we checked go into it. The document column is ``CNPJ_CNPF`` or ``CPF_CNPJ`` depending on the
  version; the other is tried when RouterBox says the column does not exist (``Erro(165)``).
- v2's refusal of a key is not in the public docs: an error that speaks of the authentication key
  is taken as one, as is HTTP 401/403.

Contract status, from v1 ``ConsultaContratos``: its ``Situacao_Descricao`` words decide, the
``Situacao_Codigo`` letter when there are no words; v1 ``ConsultaClientesReducao`` names the
contracts whose bandwidth is reduced.

- "Cancelado", "Inativo", "Encerrado" (letter C): CANCELLED.
- "Bloqueado" (letter B): BLOCKED.
- "Suspenso" (letter S): SUSPENDED.
- "Aguardando Instalação", "Em Instalação", "Pendente": PENDING.
- "Ativo" (letter A) and listed by ``ConsultaClientesReducao``: BANDWIDTH_LIMITED; otherwise ACTIVE.

Trust unlock: RouterBox's API has no "desbloqueio de confiança" of its own; v2 ``contract_unblock``
unblocks a blocked contract under the ISP's rules, and a refusal comes back in RouterBox's words.
RouterBox does not say per contract whether it may be unblocked (``trust_unlock_allowed`` is None).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import logging
import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.utils import timezone

from companies import documents, phones
from companies.erp import checks
from companies.erp.base import (
    Contract,
    ContractStatus,
    Customer,
    ErpAuthFailed,
    ErpBadAnswer,
    Invoice,
    TrustUnlock,
)
from companies.erp.transport import ErpTransport
from companies.models import Company
from config.masking import mask_text

logger = logging.getLogger(__name__)

NAME = "RouterBox"
V1_PATH = "/routerbox/ws/rbx_server_json.php"
V2_PATH = "/routerbox/ws_json/ws_json.php"
PHONE_FIELDS = ("TelCelular", "TelComercial", "TelResidencial")
DOCUMENT_FIELDS = ("CNPJ_CNPF", "CPF_CNPJ")
_NO_ROWS = "1"  # v1: "A consulta nao retornou resultados" / "Documento nao localizado"
_BAD_KEY = "97"  # v1: "Chave de integracao invalida ou inativa"
_BAD_FIELD = "165"  # v1: a column the version does not have
_DOCUMENT = re.compile(r"^[0-9A-Z]{11}$|^[0-9A-Z]{14}$")
_NO_SUCH_SERVICE = re.compile(
    r"(servi[cç]o|service|m[ée]todo|method)\b.*\b(n[ãa]o existe|does not exist|not exist|inexistente|not found|"
    r"n[ãa]o encontrad|unknown|desconhecid|inv[áa]lid|invalid)",
    re.IGNORECASE,
)
_KEY_REFUSED = re.compile(r"authentication|autentica|chave de integra|integration key", re.IGNORECASE)


class _NoService(Exception):
    """This RouterBox's v2 has no such service: the caller uses v1's, or does without."""


class RouterBoxRefused(ErpBadAnswer):
    """RouterBox answered ``status: 0`` with an error code of its own (``words`` are its description)."""

    def __init__(self, message: str, *, code: str, words: str) -> None:
        super().__init__(message)
        self.error_code = code
        self.words = words


@dataclass(frozen=True)
class _OpenDocument:
    id: str
    number: str  # v1's "Documento", which its digitable-line service takes
    customer_code: str
    contracts: tuple[str, ...]
    due_date: dt.date
    amount: Decimal


def _plain(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


def contract_status(row: dict[str, Any], *, reduced: bool = False) -> ContractStatus:
    """The ContractStatus of a v1 ``ConsultaContratos`` row (the rules in this module's docstring)."""
    words, letter = _plain(_text(row.get("Situacao_Descricao"))), _text(row.get("Situacao_Codigo")).upper()
    if any(word in words for word in ("cancel", "inativ", "encerr")) or (not words and letter == "C"):
        return ContractStatus.CANCELLED
    if "bloque" in words or (not words and letter == "B"):
        return ContractStatus.BLOCKED
    if "suspen" in words or (not words and letter == "S"):
        return ContractStatus.SUSPENDED
    if any(word in words for word in ("aguard", "instala", "pendent")):
        return ContractStatus.PENDING
    if "ativ" not in words and letter != "A":
        logger.warning("RouterBox contract %s has a status this adapter does not know.", _text(row.get("Numero")))
    return ContractStatus.BANDWIDTH_LIMITED if reduced else ContractStatus.ACTIVE


class RouterBoxAdapter:
    """One company's RouterBox; ``transport_options`` (timeout, attempts, max_wait) go to its ErpTransport."""

    def __init__(self, base_url: str, *, key: str, verify_tls: bool = True, **transport_options: Any) -> None:
        base = base_url.rstrip("/")
        for path in (V1_PATH, V2_PATH):  # an operator may paste either service's full URL
            base = base.removesuffix(path)
        self.v1_url, self.v2_url = f"{base}{V1_PATH}", f"{base}{V2_PATH}"
        self.key = key
        self.transport = ErpTransport(NAME, verify_tls=verify_tls, **transport_options)
        self._v2_missing: set[str] = set()  # services (or "*": the whole endpoint) this RouterBox lacks

    @classmethod
    def from_company(cls, company: Company, **transport_options: Any) -> RouterBoxAdapter:
        return cls(company.erp_base_url, key=company.erp_token, verify_tls=company.erp_verify_tls, **transport_options)

    # ------------------------------------------------------------------ customers

    def find_customer_by_code(self, code: str) -> Customer | None:
        code = str(code).strip()
        if not code.isdigit():
            return None
        rows = self._v1("ConsultaClientes", Filtro=f"Codigo = '{code}'")
        return next((_customer(row) for row in rows if _text(row.get("Codigo")) == code), None)

    def find_customers_by_document(self, document: str) -> list[Customer]:
        wanted = documents.canonical(document)
        if not _DOCUMENT.match(wanted):
            return []
        for index, field in enumerate(DOCUMENT_FIELDS):
            try:
                rows = self._v1("ConsultaClientes", Filtro=f"{field} = '{wanted}'")
            except RouterBoxRefused as exc:
                if exc.error_code == _BAD_FIELD and index + 1 < len(DOCUMENT_FIELDS):
                    continue  # this version names the column the other way
                raise
            return [c for c in map(_customer, rows) if c.document == wanted]
        return []

    def find_customers_by_phone(self, phone: str) -> list[Customer]:
        """Customers with ``phone`` among their numbers: a ``LIKE`` on its last eight digits (the same with
        or without the ninth digit, DDD or +55), written the ways people type them, then confirmed here."""
        wanted = (phones.whatsapp_numbers(phone) or (phones.normalize_phone(phone),))[0]
        if not wanted:
            return []
        tail = wanted[-8:]
        variants = (tail, f"{tail[:4]}-{tail[4:]}", f"{tail[:4]} {tail[4:]}")
        condition = " OR ".join(f"{field} LIKE '%{variant}%'" for field in PHONE_FIELDS for variant in variants)
        found = [_customer(row) for row in self._v1("ConsultaClientes", Filtro=condition)]
        unique = {c.code: c for c in found if wanted in c.phones}
        return sorted(unique.values(), key=lambda c: (len(c.code), c.code))

    # ------------------------------------------------------------------ contracts

    def list_contracts(self, customer_code: str) -> list[Contract]:
        code = str(customer_code).strip()
        if not code.isdigit():
            return []
        rows = self._v1("ConsultaContratos", Filtro=f"Cliente_Codigo = '{code}'")
        reduced = {
            _text(row.get("Contrato_Numero"))
            for row in self._v1("ConsultaClientesReducao", Filtro=f"Cliente_Codigo = {code}")
        }
        return [
            Contract(
                id=_text(row.get("Numero")),
                customer_code=_text(row.get("Cliente_Codigo")),
                status=contract_status(row, reduced=_text(row.get("Numero")) in reduced),
                plan=_text(row.get("Plano_Descricao")),
                trust_unlock_allowed=None,
            )
            for row in rows
            if _text(row.get("Cliente_Codigo")) == code
        ]

    # ------------------------------------------------------------------ invoices

    def list_open_invoices(self, customer_code: str, *, contract_id: str | None = None) -> list[Invoice]:
        """The customer's open receivables, soonest due first, each with its line, barcode, PIX and PDF."""
        code = str(customer_code).strip()
        if not code.isdigit():
            return []
        try:
            result = self._v2("get_unpaid_document", {"customer_id": int(code)})
            found = [_from_v2(row, code) for row in _rows(result)]
        except _NoService:
            rows = self._v1("ConsultaDocumentosAbertos", Filtro=f"Cliente = {code}")
            found = [_from_v1(row) for row in rows if _text(row.get("Tipo")).upper() in ("", "C")]
        found = [doc for doc in found if doc.customer_code == code]
        if contract_id is not None:
            found = [doc for doc in found if str(contract_id) in doc.contracts]
        invoices = [self._invoice(doc) for doc in found]
        return sorted(invoices, key=lambda invoice: (invoice.due_date, invoice.id))

    def list_open_invoices_due(self, start: dt.date, end: dt.date) -> list[Invoice]:
        """Every customer's open receivables due from ``start`` to ``end``: v1 ``ConsultaDocumentosAbertos``
        filtered on ``Vencimento`` (v2's ``get_unpaid_document`` asks per customer)."""
        condition = f"Vencimento >= '{start.isoformat()}' AND Vencimento <= '{end.isoformat()}'"
        rows = self._v1("ConsultaDocumentosAbertos", Filtro=condition)
        found = [_from_v1(row) for row in rows if _text(row.get("Tipo")).upper() in ("", "C")]
        invoices = [self._invoice(doc) for doc in found if start <= doc.due_date <= end]
        return sorted(invoices, key=lambda invoice: (invoice.due_date, invoice.id))

    def _invoice(self, doc: _OpenDocument) -> Invoice:
        line = checks.checked_line(self._line(doc), erp=NAME, invoice_id=doc.id)
        link, pdf = self._billet(doc)
        return Invoice(
            id=doc.id,
            customer_code=doc.customer_code,
            contract_id=doc.contracts[0] if doc.contracts else "",
            due_date=doc.due_date,
            amount=doc.amount,
            digitable_line=line,
            barcode=checks.barcode("", line),
            pix_code=checks.checked_pix(self._pix(doc), erp=NAME, invoice_id=doc.id),
            boleto_url=link,
            boleto_pdf=pdf,
        )

    def _line(self, doc: _OpenDocument) -> str:
        # get_barcode refuses a due date in the past (error 6): an overdue boleto is asked for as of today.
        pay_on = max(doc.due_date, timezone.localdate())
        payload = {
            "banking_billet_id": _number(doc.id),
            "banking_billet_due_date": pay_on.isoformat(),
            "send_barcode": False,
        }
        try:
            try:
                return _text(self._v2("get_barcode", payload))
            except _NoService:
                entry = {"Tipo": "C", "CliFor": _number(doc.customer_code), "Documento": _number(doc.number or doc.id)}
                rows = self._v1("ConsultaLinhaDigitavelBoleto", DadosLinhaDigitavelEntrada=entry)
                return next((_text(row.get("LinhaDigitavel")) for row in rows), "")
        except RouterBoxRefused as exc:
            logger.warning("RouterBox gave no digitable line for invoice %s: %s", doc.id, exc.words)
            return ""

    def _billet(self, doc: _OpenDocument) -> tuple[str, bytes]:
        """The boleto PDF's link (RouterBox keeps it some days) and its bytes, when RouterBox gives them."""
        try:
            result = self._v2("get_banking_billet", {"document_id": _number(doc.id)})
        except _NoService:
            return "", b""
        except RouterBoxRefused as exc:
            logger.warning("RouterBox gave no boleto PDF for invoice %s: %s", doc.id, exc.words)
            return "", b""
        result = result if isinstance(result, dict) else {}
        try:
            pdf = base64.b64decode(_text(result.get("banking_billet_base64")), validate=True)
        except (binascii.Error, ValueError):
            pdf = b""
        if pdf and not pdf.startswith(b"%PDF"):
            logger.warning("RouterBox answered the boleto of invoice %s with something that is not a PDF.", doc.id)
            pdf = b""
        return _text(result.get("banking_billet_link")), pdf

    def _pix(self, doc: _OpenDocument) -> str:
        try:
            payload = {"banking_billet_id": _number(doc.id), "send_pix_copia_cola": False}
            return _text(self._v2("get_pix_copia_cola", payload))
        except _NoService:
            return ""
        except RouterBoxRefused as exc:  # error 16: the boleto has no PIX
            logger.info("RouterBox has no PIX for invoice %s: %s", doc.id, exc.words)
            return ""

    # ------------------------------------------------------------------ unblock

    def trust_unlock(self, contract_id: str) -> TrustUnlock:
        """Ask RouterBox to unblock the contract (v2 ``contract_unblock``); a refusal carries RouterBox's words."""
        contract_id = str(contract_id).strip()
        if not contract_id.isdigit():
            return TrustUnlock(granted=False, reason="RouterBox contract numbers are digits.")
        rows = self._v1("ConsultaContratos", Filtro=f"Numero = '{contract_id}'")
        contract = next((row for row in rows if _text(row.get("Numero")) == contract_id), None)
        if contract is None:
            return TrustUnlock(granted=False, reason="RouterBox has no contract with this number.")
        payload = {"customer_id": _number(contract.get("Cliente_Codigo")), "contract_id": int(contract_id)}
        try:
            self._v2("contract_unblock", payload)
        except _NoService:
            return TrustUnlock(granted=False, reason="This RouterBox does not offer unblocking through its API.")
        except RouterBoxRefused as exc:
            return TrustUnlock(granted=False, reason=exc.words)
        return TrustUnlock(granted=True)

    # ------------------------------------------------------------------ the wire

    def _v1(self, service: str, **fields: Any) -> list[dict[str, Any]]:
        body = {service: {"Autenticacao": {"ChaveIntegracao": self.key}, **fields}}
        answer = self.transport.json("POST", self.v1_url, json=body)
        if not isinstance(answer, dict) or "status" not in answer:
            raise ErpBadAnswer(f"RouterBox answered {service} without its status envelope.")
        if _succeeded(answer.get("status")):
            return _rows(answer.get("result"))
        code = _text(answer.get("erro_code"))
        words = _words(" ".join(filter(None, (_text(answer.get("erro_desc")), _text(answer.get("erro_detail"))))))
        if code == _NO_ROWS:
            return []
        if code == _BAD_KEY:
            raise ErpAuthFailed(f"RouterBox refused the integration key (erro {code}).")
        raise RouterBoxRefused(f"RouterBox refused {service}: {words} (erro {code}).", code=code, words=words)

    def _v2(self, service: str, payload: dict[str, Any]) -> Any:
        if "*" in self._v2_missing or service in self._v2_missing:
            raise _NoService
        headers = {"authentication_key": self.key}
        response = self.transport.request("POST", self.v2_url, json={service: payload}, headers=headers)
        if response.status_code == 404:  # a RouterBox without the v2 web service
            self._v2_missing.add("*")
            raise _NoService
        answer = self.transport.decode(response)
        if not isinstance(answer, dict) or "status" not in answer:
            raise ErpBadAnswer(f"RouterBox answered {service} without its status envelope.")
        if _succeeded(answer.get("status")):
            return answer.get("result")
        code, words = _text(answer.get("error_code")), _words(_text(answer.get("error_description")))
        if _NO_SUCH_SERVICE.search(words):
            self._v2_missing.add(service)
            raise _NoService
        if _KEY_REFUSED.search(words):
            raise ErpAuthFailed(f"RouterBox refused the authentication key (error {code}).")
        raise RouterBoxRefused(f"RouterBox refused {service}: {words} (error {code}).", code=code, words=words)


def _succeeded(status: Any) -> bool:
    return _text(status) == "1"


def _rows(result: Any) -> list[dict[str, Any]]:
    if isinstance(result, dict):
        return [result]
    if isinstance(result, list):
        return [row for row in result if isinstance(row, dict)]
    return []  # "" when nothing matched


def _words(text: str) -> str:
    return mask_text(text.strip()[:300]) or "no description"


def _customer(row: dict[str, Any]) -> Customer:
    document = next((_text(row.get(field)) for field in DOCUMENT_FIELDS if _text(row.get(field))), "")
    return Customer(
        code=_text(row.get("Codigo")),
        name=_text(row.get("Nome")),
        document=documents.canonical(document),
        phones=phones.whatsapp_numbers(*(_text(row.get(field)) for field in PHONE_FIELDS)),
        email=_text(row.get("Email")),
    )


def _from_v2(row: dict[str, Any], customer_code: str) -> _OpenDocument:
    contracts = row.get("contracts") if isinstance(row.get("contracts"), list) else []
    return _OpenDocument(
        id=_text(row.get("id")),
        number=_text(row.get("document_number")),
        customer_code=_text(row.get("customer_id")) or customer_code,
        contracts=tuple(_text(c) for c in contracts),
        due_date=checks.parse_date(row.get("due_date"), erp=NAME),
        amount=checks.parse_amount(row.get("value_init"), erp=NAME),
    )


def _from_v1(row: dict[str, Any]) -> _OpenDocument:
    return _OpenDocument(
        id=_text(row.get("Sequencia")) or _text(row.get("Documento")),
        number=_text(row.get("Documento")),
        customer_code=_text(row.get("CliFor")),
        contracts=tuple(c.strip() for c in _text(row.get("ContratosVinculados")).split(",") if c.strip()),
        due_date=checks.parse_date(row.get("Vencimento"), erp=NAME),
        amount=checks.parse_amount(row.get("Valor"), erp=NAME),
    )


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _number(value: Any) -> int:
    """An id RouterBox gave us, as the number its services take."""
    text = _text(value)
    if not text.isdigit():
        raise ErpBadAnswer(f"RouterBox answered an id that is not a number ({text[:20]!r}).")
    return int(text)
