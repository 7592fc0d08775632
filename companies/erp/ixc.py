"""IXC Soft (IXC Provedor) through its webservice v1: customers, contracts, open invoices, trust unlock.

API: https://wikiapiprovedor.ixcsoft.com.br (forms, the listing query, ``get_boleto``, ``get_pix``) and
http://wiki.ixcsoft.com.br/index.php/Desbloqueio_de_Confian%C3%A7a_-_API (trust unlock).

- Every call is ``POST {base}/webservice/v1/<form>`` with HTTP Basic ``base64("<user id>:<token>")``.
  A read carries the header ``ixcsoft: listar`` and a JSON query; the same POST without the header
  *inserts* a record, so only the action forms (``get_boleto``, ``get_pix``, ``desbloqueio_confianca``)
  go without it.
- Answers: ``{"page", "total", "registros": [...]}`` with every value a string and ``total`` a string or
  a number; some versions leave ``registros`` out when nothing matched. Errors come with HTTP 200, as
  ``{"type": "error", "message": "...<br />..."}``, as ``{"tipo": "erro", "mensagem": ...}`` or as an
  HTML page: all of them are :class:`ErpBadAnswer` carrying IXC's words.
- ``cliente.cnpj_cpf`` is stored formatted (``627.105.245-20``): searched formatted, then as digits.
- Phones are free text in four fields. A phone is searched with ``L`` (contains) on its last eight
  digits written three ways (``9999-0001``, ``99990001``, ``9999 0001``): those eight digits are the same
  with or without the ninth digit and with or without DDD, +55 or a 0xx prefix, so three queries a
  field find every way it is typed (a list of full formatted variants would need one query per
  variant and still miss the unusual ones). Each row found is then confirmed on our side by
  normalising its phones (``companies.phones.whatsapp_numbers``).

Contract status, from ``cliente_contrato``: the first rule that applies decides.

1. ``status`` I (inativo) or D (desistiu): CANCELLED.
2. ``status`` P (pré-contrato), or ``status_internet`` AA (aguardando assinatura): PENDING.
3. ``contrato_suspenso`` S (a temporary suspension): SUSPENDED.
4. ``status`` N (negativado), or ``status_internet`` CA, CM or FA (bloqueio automático, bloqueio
   manual, financeiro em atraso): BLOCKED.
5. ``status_velocidade`` R (reduzida): BANDWIDTH_LIMITED.
6. ``status_internet`` D (desativado, with no block or cancellation said): SUSPENDED.
7. Anything else (``status`` A, ``status_internet`` A): ACTIVE.

``desbloqueio_confianca`` S / N says whether the contract may be trust-unlocked; P ("padrão", the
ISP's default) is ``None``: the contract itself does not say.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import logging
import re
from typing import Any

import requests

from companies import documents, phones
from companies.erp import checks
from companies.erp.base import Contract, ContractStatus, Customer, ErpBadAnswer, Invoice, TrustUnlock
from companies.erp.transport import ErpTransport, page_text
from companies.models import Company
from config.masking import mask_text

logger = logging.getLogger(__name__)

NAME = "IXC"
PHONE_FIELDS = ("whatsapp", "telefone_celular", "fone", "telefone_comercial")
PAGE_ROWS = 500
MAX_PAGES = 20  # 10,000 rows: no customer has that many contracts or open invoices
OPEN_STATUSES = frozenset({"A", "P"})  # a receber, parcial (R recebido and C cancelado are closed)
_BLOCKED_INTERNET = frozenset({"CA", "CM", "FA"})
_SPACE_BEFORE_MARK = re.compile(r"\s+([.,;:!?])")  # left where a tag was stripped: "<b>x</b>!"
_DATE = re.compile(r"\b(\d{2}/\d{2}/\d{4})\b")


def contract_status(row: dict[str, Any]) -> ContractStatus:
    """The ContractStatus of a ``cliente_contrato`` row (the rules in this module's docstring)."""
    status = _text(row.get("status")).upper()
    internet = _text(row.get("status_internet")).upper()
    if status in ("I", "D"):
        return ContractStatus.CANCELLED
    if status == "P" or internet == "AA":
        return ContractStatus.PENDING
    if _text(row.get("contrato_suspenso")).upper() == "S":
        return ContractStatus.SUSPENDED
    if status == "N" or internet in _BLOCKED_INTERNET:
        return ContractStatus.BLOCKED
    if _text(row.get("status_velocidade")).upper() == "R":
        return ContractStatus.BANDWIDTH_LIMITED
    if internet == "D":
        return ContractStatus.SUSPENDED
    return ContractStatus.ACTIVE


class IxcAdapter:
    """One company's IXC; ``transport_options`` (timeout, attempts, max_wait) go to its ErpTransport."""

    def __init__(self, base_url: str, *, user: str, token: str, verify_tls: bool = True, **transport_options: Any):
        self.base_url = base_url.rstrip("/")
        self.transport = ErpTransport(NAME, verify_tls=verify_tls, **transport_options)
        # IXC shows the integration token as "<user id>:<token>": an operator may paste it whole.
        credentials = token if not user and ":" in token else f"{user}:{token}"
        self.transport.session.headers["Authorization"] = "Basic " + base64.b64encode(credentials.encode()).decode()

    @classmethod
    def from_company(cls, company: Company, **transport_options: Any) -> IxcAdapter:
        return cls(
            company.erp_base_url,
            user=company.erp_username,
            token=company.erp_token,
            verify_tls=company.erp_verify_tls,
            **transport_options,
        )

    # ------------------------------------------------------------------ customers

    def find_customer_by_code(self, code: str) -> Customer | None:
        code = str(code).strip()
        if not code.isdigit():  # cliente.id is a number: nothing else can match
            return None
        rows = self._list("cliente", "id", code)
        return next((_customer(row) for row in rows if _text(row.get("id")) == code), None)

    def find_customers_by_document(self, document: str) -> list[Customer]:
        wanted = documents.canonical(document)
        if len(wanted) not in (11, 14):
            return []
        for form in dict.fromkeys((documents.formatted(wanted), wanted)):
            found = [c for c in map(_customer, self._list("cliente", "cnpj_cpf", form)) if c.document == wanted]
            if found:
                return found
        return []

    def find_customers_by_phone(self, phone: str) -> list[Customer]:
        wanted = (phones.whatsapp_numbers(phone) or (phones.normalize_phone(phone),))[0]
        if not wanted:
            return []
        # Phones are free text ("(44) 99999-0001", "44999990001", "9999 0001"): however a number is written,
        # its last four digits stand together, so one "contains" query per field finds every spelling, and
        # the numbers are then compared whole on our side.
        suffix = wanted[-4:]
        rows: dict[str, dict[str, Any]] = {}
        for field in PHONE_FIELDS:
            for row in self._list("cliente", field, suffix, oper="L"):
                rows.setdefault(_text(row.get("id")), row)
        found = [_customer(row) for row in rows.values()]
        return sorted((c for c in found if wanted in c.phones), key=lambda c: (len(c.code), c.code))

    # ------------------------------------------------------------------ contracts

    def list_contracts(self, customer_code: str) -> list[Contract]:
        code = str(customer_code).strip()
        if not code.isdigit():
            return []
        rows = self._list("cliente_contrato", "id_cliente", code)
        return [_contract(row) for row in rows if _text(row.get("id_cliente")) == code]

    # ------------------------------------------------------------------ invoices

    def list_open_invoices(self, customer_code: str, *, contract_id: str | None = None) -> list[Invoice]:
        """Released (``liberado`` S), open (``status`` A or P) receivables, soonest due first, each with
        its line, barcode, PIX code and boleto PDF.

        The contract filter is ours: many ISPs leave ``id_contrato`` empty and fill ``id_contrato_avulso``.
        """
        code = str(customer_code).strip()
        if not code.isdigit():
            return []
        rows = self._list(
            "fn_areceber",
            "id_cliente",
            code,
            grid=(("liberado", "=", "S"), ("status", "!=", "C"), ("status", "!=", "R")),
            sortname="data_vencimento",
        )
        rows = [
            row
            for row in rows
            if _text(row.get("id_cliente")) == code
            and _text(row.get("status")).upper() in OPEN_STATUSES
            and _text(row.get("liberado")).upper() != "N"  # a hidden receivable is never shown
        ]
        if contract_id is not None:
            wanted = str(contract_id)
            rows = [r for r in rows if wanted in (_text(r.get("id_contrato")), _text(r.get("id_contrato_avulso")))]
        invoices = [self._invoice(row) for row in rows]
        return sorted(invoices, key=lambda invoice: (invoice.due_date, invoice.id))

    def list_open_invoices_due(self, start: dt.date, end: dt.date) -> list[Invoice]:
        """Every customer's released, open receivables due from ``start`` to ``end`` (IXC filters dates as
        ``DD/MM/YYYY``), soonest due first."""
        rows = self._list(
            "fn_areceber",
            "data_vencimento",
            start.strftime("%d/%m/%Y"),
            oper=">=",
            grid=(
                ("data_vencimento", "<=", end.strftime("%d/%m/%Y")),
                ("liberado", "=", "S"),
                ("status", "!=", "C"),
                ("status", "!=", "R"),
            ),
            sortname="data_vencimento",
        )
        rows = [
            row
            for row in rows
            if _text(row.get("status")).upper() in OPEN_STATUSES and _text(row.get("liberado")).upper() != "N"
        ]
        invoices = [self._invoice(row) for row in rows]
        invoices = [invoice for invoice in invoices if start <= invoice.due_date <= end]
        return sorted(invoices, key=lambda invoice: (invoice.due_date, invoice.id))

    def _invoice(self, row: dict[str, Any]) -> Invoice:
        invoice_id = _text(row.get("id"))
        # get_boleto also registers a boleto IXC had not generated yet: its line appears afterwards.
        pdf = self._boleto_pdf(invoice_id)
        line = _text(row.get("linha_digitavel"))
        if not line:
            line = next((_text(r.get("linha_digitavel")) for r in self._list("fn_areceber", "id", invoice_id)), "")
        line = checks.checked_line(line, erp=NAME, invoice_id=invoice_id)
        open_amount = _text(row.get("valor_aberto"))
        return Invoice(
            id=invoice_id,
            customer_code=_text(row.get("id_cliente")),
            contract_id=_text(row.get("id_contrato")) or _text(row.get("id_contrato_avulso")),
            due_date=checks.parse_date(row.get("data_vencimento"), erp=NAME),
            amount=checks.parse_amount(open_amount if open_amount else row.get("valor"), erp=NAME),
            digitable_line=line,
            barcode=checks.barcode(_text(row.get("codigo_barras")), line),
            pix_code=checks.checked_pix(self._pix(invoice_id), erp=NAME, invoice_id=invoice_id),
            # A gateway receivable (Efí, Mercado Pago...) is paid through the gateway's own page.
            boleto_url=_text(row.get("gateway_link")),
            boleto_pdf=pdf,
        )

    def _boleto_pdf(self, invoice_id: str) -> bytes:
        """The boleto's PDF (``get_boleto`` answers it as base64 text), or b"" when IXC has none to give."""
        body = {
            "boletos": invoice_id,
            "juro": "N",
            "multa": "N",
            "atualiza_boleto": "S",
            "tipo_boleto": "arquivo",
            "base64": "S",
            "layout_impressao": "",
        }
        response = self._post("get_boleto", body)
        content = response.content.strip()
        if response.status_code >= 400:
            self.transport.decode(response)  # raises the error the status means
        if content.startswith(b"%PDF"):  # an IXC that ignores base64=S
            return content
        if content.startswith((b"{", b"<")) or not content:
            reason = self._refusal(response) or "an empty answer"
            logger.warning("IXC gave no boleto PDF for invoice %s: %s", invoice_id, reason)
            return b""
        try:
            pdf = base64.b64decode(content, validate=True)
        except (binascii.Error, ValueError):
            pdf = b""
        if not pdf.startswith(b"%PDF"):
            logger.warning("IXC answered the boleto of invoice %s with something that is not a PDF.", invoice_id)
            return b""
        return pdf

    def _refusal(self, response: requests.Response) -> str:
        """What IXC said instead of a file, in words safe to log."""
        try:
            answer = self.transport.decode(response)
        except ErpBadAnswer as exc:
            return str(exc)
        return _words(_error_text(answer) if isinstance(answer, dict) else None)

    def _pix(self, invoice_id: str) -> str:
        """The PIX copy-and-paste code, from either place IXC puts it; "" when the receivable has no PIX.

        An IXC without the PIX module answers with its error page: the invoice still goes out, without PIX.
        """
        try:
            answer = self.transport.decode(self._post("get_pix", {"id_areceber": invoice_id}))
        except ErpBadAnswer as exc:
            logger.warning("IXC gave no PIX for invoice %s: %s", invoice_id, exc)
            return ""
        if not isinstance(answer, dict):
            logger.warning("IXC answered the PIX of invoice %s with JSON that is not an object.", invoice_id)
            return ""
        refusal = _error_text(answer)
        if refusal is not None:  # a receivable in a wallet without PIX
            logger.info("IXC has no PIX for invoice %s: %s", invoice_id, _words(refusal))
            return ""
        pix = _dict(answer.get("pix"))
        return _text(_dict(pix.get("qrCode")).get("qrcode")) or _text(_dict(pix.get("dadosPix")).get("pixCopiaECola"))

    # ------------------------------------------------------------------ trust unlock

    def trust_unlock(self, contract_id: str) -> TrustUnlock:
        """Ask IXC's ``desbloqueio_confianca``; a refusal comes back with IXC's own words as the reason."""
        contract_id = str(contract_id).strip()
        if not contract_id.isdigit():
            return TrustUnlock(granted=False, reason="IXC contract ids are numbers.")
        rows = self._list("cliente_contrato", "id", contract_id)
        contract = next((row for row in rows if _text(row.get("id")) == contract_id), None)
        if contract is not None and _text(contract.get("desbloqueio_confianca")).upper() == "N":
            return TrustUnlock(granted=False, reason="Trust unlock is disabled for this contract in IXC.")
        answer = self.transport.decode(self._post("desbloqueio_confianca", {"id": contract_id}))
        if not isinstance(answer, dict):
            raise ErpBadAnswer("IXC answered the trust unlock with JSON that is not an object.")
        if _text(answer.get("type")).lower() == "error":
            raise ErpBadAnswer(f"IXC refused the request: {_words(answer.get('message'))}")
        outcome, message = _text(answer.get("tipo")).lower(), _words(answer.get("mensagem"))
        if outcome == "sucesso":
            dates = _DATE.findall(message)
            return TrustUnlock(granted=True, until=checks.parse_date(dates[-1], erp=NAME) if dates else None)
        if outcome == "erro":
            # 106 no such contract, 107 already active, 109 contract inactive, 113 already used and unpaid
            code = _text(answer.get("codigo"))
            logger.info("IXC refused the trust unlock of contract %s (code %s).", contract_id, code)
            return TrustUnlock(granted=False, reason=message)
        raise ErpBadAnswer("IXC answered the trust unlock without saying whether it was granted.")

    # ------------------------------------------------------------------ the wire

    def _post(self, form: str, body: dict[str, Any], *, listing: bool = False) -> requests.Response:
        headers = {"ixcsoft": "listar"} if listing else {}
        return self.transport.request("POST", f"{self.base_url}/webservice/v1/{form}", json=body, headers=headers)

    def _list(
        self,
        table: str,
        column: str,
        value: str,
        *,
        oper: str = "=",
        grid: tuple[tuple[str, str, str], ...] = (),
        sortname: str = "id",
    ) -> list[dict[str, Any]]:
        """The rows of ``table`` whose ``column`` matches ``value``, every page of them."""
        rows: list[dict[str, Any]] = []
        for page in range(1, MAX_PAGES + 1):
            body = {
                "qtype": f"{table}.{column}",
                "query": value,
                "oper": oper,
                "page": str(page),
                "rp": str(PAGE_ROWS),
                "sortname": f"{table}.{sortname}",
                "sortorder": "asc",
            }
            if grid:
                # IXC wants grid_param as a JSON array serialised into a string.
                body["grid_param"] = json.dumps([{"TB": f"{table}.{c}", "OP": op, "P": p} for c, op, p in grid])
            answer = _checked(self.transport.decode(self._post(table, body, listing=True)))
            found = answer.get("registros") or []
            if not isinstance(found, list):
                raise ErpBadAnswer(f"IXC answered {table} with records that are not a list.")
            rows += [row for row in found if isinstance(row, dict)]
            if len(found) < PAGE_ROWS or len(rows) >= _count(answer.get("total")):
                break
        return rows


def _checked(answer: Any) -> dict[str, Any]:
    if not isinstance(answer, dict):
        raise ErpBadAnswer("IXC answered JSON that is not an object.")
    refusal = _error_text(answer)
    if refusal is not None:
        raise ErpBadAnswer(f"IXC refused the request: {_words(refusal)}")
    return answer


def _error_text(answer: dict[str, Any]) -> Any:
    """The message of IXC's error shapes (English or Portuguese keys), or None when it is no error."""
    if _text(answer.get("type")).lower() == "error":
        return answer.get("message") or ""
    if _text(answer.get("tipo")).lower() == "erro":
        return answer.get("mensagem") or ""
    return None


def _words(message: Any) -> str:
    """IXC's message without its HTML (``<br />``, coloured divs), masked for CPF/CNPJ and secrets."""
    words = _SPACE_BEFORE_MARK.sub(r"\1", page_text(_text(message), limit=300))
    return mask_text(words) or "no message"


def _customer(row: dict[str, Any]) -> Customer:
    return Customer(
        code=_text(row.get("id")),
        name=_text(row.get("razao")) or _text(row.get("fantasia")),
        document=documents.canonical(_text(row.get("cnpj_cpf"))),
        phones=phones.whatsapp_numbers(*(_text(row.get(field)) for field in PHONE_FIELDS)),
        email=_text(row.get("email")),
    )


def _contract(row: dict[str, Any]) -> Contract:
    permission = _text(row.get("desbloqueio_confianca")).upper()
    return Contract(
        id=_text(row.get("id")),
        customer_code=_text(row.get("id_cliente")),
        status=contract_status(row),
        plan=_text(row.get("contrato")),
        trust_unlock_allowed={"S": True, "N": False}.get(permission),
    )


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _count(value: Any) -> int:
    try:
        return int(float(_text(value) or 0))
    except ValueError:
        return 0
