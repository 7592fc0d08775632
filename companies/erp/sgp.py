"""SGP (Sistema Gerenciador de Provedores, by TSMX) through its URA API: customers, contracts, open invoices,
trust unlock ("liberação por confiança").

API: https://bookstack.sgp.net.br/books/api (authentication:
https://bookstack.sgp.net.br/books/api/page/autenticacoes-via-api) and TSMX's Postman collection of the URA
module, https://documenter.getpostman.com/view/6682240/2sB34hHg2V.

- Every call is ``POST {base}/api/ura/<service>/`` with the application's name and token as body fields
  (``app``, ``token``; the app name is case-sensitive). Most services read form data; ``titulos`` and
  ``liberacaopromessa`` are sent as JSON, which some SGP versions require of those two.
- A wrong app or token is HTTP 403 ``{"detail": "Credenciais de autenticação incorretas."}``; a pasted
  panel URL (``/admin/``, ``/accounts/login``) answers its HTML login page with HTTP 200. SGP's errors come
  with HTTP 200 as ``{"status": 0, "msg": "..."}`` and no list: an answer without the service's list
  (``clientes``, ``contratos``, ``titulos``, ``links``) is :class:`SgpRefused`, never "nothing found".
- Field names differ between releases (``linhaDigitavel``, ``linha_digitavel``, ``linhadigitavel``): every
  key is read lower-cased without underscores.
- A customer's code is SGP's client id. ``clientes`` finds customers by id, CPF/CNPJ or phone (contacts as
  SGP keeps them); ``consultacliente`` lists a document's contracts with their status. A CPF/CNPJ is
  asked as digits, then formatted, since installs store either. A phone is asked as its national number
  with and without the ninth digit, and every customer found is confirmed by normalising its numbers
  (``companies.phones.whatsapp_numbers``).
- Open invoices are ``titulos`` with ``status=abertos`` (it reads only; ``data_vencimento_inicio/fim``
  lists every customer's, for reminders). ``fatura2via`` of each contract, always with ``nao_gerar_os=1``
  (without it SGP opens a ticket per request) and ``link_pdf=1``, gives the boleto PDF's link and the line
  or PIX a freshly issued title lacks; ``pagamento/pix/{id}`` generates a PIX code only for a title still
  without one.

Contract status, from ``consultacliente``: the words of ``contratoStatusDisplay`` decide, the
``contratoStatus`` number when there are none (1 Ativo, 2 Inativo, 3 Cancelado, 4 Suspenso, 5
Inviabilidade técnica, 6 Novo, 7 Ativo V. Reduzida); ``motivo_status`` tells a block for debt from a
suspension asked for or decided otherwise.

1. "Cancelado", "Inviabilidade" (3, 5): CANCELLED.
2. "Novo", "Aguardando", "Pendente" (6): PENDING.
3. "V. Reduzida", "Reduzido" (7): BANDWIDTH_LIMITED.
4. "Bloqueado": BLOCKED.
5. "Suspenso", "Inativo" (4, 2): BLOCKED when ``motivo_status`` is financial ("Financeiro"), else SUSPENDED.
6. "Ativo" (1): ACTIVE.

SGP does not say per contract whether a trust unlock is allowed (``trust_unlock_allowed`` is None); its
``liberacaopromessa`` answers, under the ISP's own rules (days, times a month), and a refusal carries its
words.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import unicodedata
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, NoReturn
from urllib.parse import urlsplit

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
from companies.erp.transport import ErpTransport, page_text
from companies.models import Company
from config.masking import mask_text

logger = logging.getLogger(__name__)

NAME = "SGP"
API = "/api/ura"
CLIENT_PAGE = 100  # clientes: at most 100 a page
TITLE_PAGE = 250  # titulos: at most 250 a page
MAX_PAGES = 40
_PANEL_PATHS = re.compile(r"/(?:api|ws|admin|accounts)(?:/.*)?$")
_KEY = re.compile(r"[\W_]+")
_CREDENTIALS = re.compile(r"credenciais|credentials|token|autentica|authenticat", re.IGNORECASE)
_DOCUMENT = re.compile(r"^[0-9A-Z]{11}$|^[0-9A-Z]{14}$")
PHONE_KEYS = ("telefones", "celulares", "celular", "telefone", "fone", "whatsapp", "contatos")
EMAIL_KEYS = ("emails", "email", "contatos")


class SgpRefused(ErpBadAnswer):
    """SGP answered its error shape (``status`` 0 with a ``msg``, or a ``detail``); ``words`` are its message."""

    def __init__(self, message: str, *, words: str) -> None:
        super().__init__(message)
        self.words = words


@dataclass(frozen=True)
class _Title:
    id: str
    customer_code: str
    contract_id: str
    due_date: dt.date
    amount: Decimal
    line: str
    barcode: str
    pix: str


@dataclass(frozen=True)
class _Copy:
    """One title of ``fatura2via``: what it adds to ``titulos``."""

    line: str
    pix: str
    link: str


def _plain(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


def contract_status(row: dict[str, Any]) -> ContractStatus:
    """The ContractStatus of a ``consultacliente`` contract (the rules in this module's docstring)."""
    row = _keys(row)
    words = _plain(_text(row.get("contratostatusdisplay")))
    number = _int(row.get("contratostatus"))
    financial = "financ" in _plain(_text(row.get("motivostatus")))
    if any(word in words for word in ("cancel", "inviab")) or (not words and number in (3, 5)):
        return ContractStatus.CANCELLED
    if any(word in words for word in ("novo", "aguard", "pendent")) or (not words and number == 6):
        return ContractStatus.PENDING
    if "reduz" in words or (not words and number == 7):
        return ContractStatus.BANDWIDTH_LIMITED
    if "bloque" in words:
        return ContractStatus.BLOCKED
    if any(word in words for word in ("suspen", "inativ")) or (not words and number in (2, 4)):
        return ContractStatus.BLOCKED if financial else ContractStatus.SUSPENDED
    if "ativ" not in words and not (not words and number == 1):
        logger.warning("SGP contract %s has a status this adapter does not know.", _text(row.get("contratoid")))
    return ContractStatus.ACTIVE


class SgpAdapter:
    """One company's SGP; ``transport_options`` (timeout, attempts, max_wait) go to its ErpTransport."""

    def __init__(self, base_url: str, *, app: str, token: str, verify_tls: bool = True, **transport_options: Any):
        parts = urlsplit(base_url.strip())
        # An operator may paste the panel's URL or a service's: the API hangs off the host's root.
        path = _PANEL_PATHS.sub("", parts.path.rstrip("/"))
        self.base_url = f"{parts.scheme}://{parts.netloc}{path}".rstrip("/")
        self.credentials = {"app": app, "token": token}
        self.transport = ErpTransport(NAME, verify_tls=verify_tls, **transport_options)

    @classmethod
    def from_company(cls, company: Company, **transport_options: Any) -> SgpAdapter:
        return cls(
            company.erp_base_url,
            app=company.erp_username,
            token=company.erp_token,
            verify_tls=company.erp_verify_tls,
            **transport_options,
        )

    # ------------------------------------------------------------------ customers

    def find_customer_by_code(self, code: str) -> Customer | None:
        code = str(code).strip()
        if not code.isdigit():  # SGP's client id is a number: nothing else can match
            return None
        rows = self._clients(cliente_id=code)
        return next((c for c in map(_customer, rows) if c.code == code), None)

    def find_customers_by_document(self, document: str) -> list[Customer]:
        wanted = documents.canonical(document)
        if not _DOCUMENT.match(wanted):
            return []
        for form in dict.fromkeys((wanted, documents.formatted(wanted))):
            found = [c for c in map(_customer, self._clients(cpfcnpj=form)) if c.document == wanted]
            if found:
                return sorted(found, key=lambda c: (len(c.code), c.code))
        return []

    def find_customers_by_phone(self, phone: str) -> list[Customer]:
        """Customers with ``phone`` among their contacts: asked as the national number with and without the
        ninth digit (how installs type it), then confirmed here."""
        wanted = (phones.whatsapp_numbers(phone) or (phones.normalize_phone(phone),))[0]
        if not wanted:
            return []
        found: dict[str, Customer] = {}
        for variant in _phone_variants(wanted):
            for customer in map(_customer, self._clients(telefone=variant)):
                if wanted in customer.phones:
                    found.setdefault(customer.code, customer)
        return sorted(found.values(), key=lambda c: (len(c.code), c.code))

    # ------------------------------------------------------------------ contracts

    def list_contracts(self, customer_code: str) -> list[Contract]:
        customer = self.find_customer_by_code(customer_code)
        if customer is None or not customer.document:
            return []
        for form in dict.fromkeys((customer.document, documents.formatted(customer.document))):
            rows = [row for row in self._contracts(cpfcnpj=form) if _text(row.get("clienteid")) == customer.code]
            if rows:
                return [_contract(row) for row in rows]
        return []

    # ------------------------------------------------------------------ invoices

    def list_open_invoices(self, customer_code: str, *, contract_id: str | None = None) -> list[Invoice]:
        """The customer's open titles, soonest due first, each with its line, barcode, PIX and PDF link."""
        code = str(customer_code).strip()
        if not code.isdigit() or (contract_id is not None and not str(contract_id).strip().isdigit()):
            return []
        fields = {"cliente_id": code, "status": "abertos", "ordenar": "data_vencimento", "ordenar_ordem": "asc"}
        if contract_id is not None:
            fields["contrato"] = str(contract_id).strip()
        titles = [t for t in self._titles(fields) if t.customer_code in ("", code)]
        titles = [replace(t, customer_code=code) for t in titles]
        if contract_id is not None:
            titles = [t for t in titles if t.contract_id == str(contract_id).strip()]
        return self._invoices(titles)

    def list_open_invoices_due(self, start: dt.date, end: dt.date) -> list[Invoice]:
        """Every customer's open titles due from ``start`` to ``end`` (``titulos`` filters on due dates)."""
        fields = {
            "status": "abertos",
            "data_vencimento_inicio": start.isoformat(),
            "data_vencimento_fim": end.isoformat(),
            "ordenar": "data_vencimento",
            "ordenar_ordem": "asc",
        }
        titles = [t for t in self._titles(fields) if start <= t.due_date <= end]
        # A title names its contract, and not every release names its client: the contract tells.
        owners: dict[str, str] = {}
        for title in titles:
            if not title.customer_code and title.contract_id not in owners:
                rows = self._contracts(contrato=title.contract_id)
                owner = next((r for r in rows if _text(r.get("contratoid")) == title.contract_id), {})
                owners[title.contract_id] = _text(owner.get("clienteid"))
        titles = [t if t.customer_code else replace(t, customer_code=owners[t.contract_id]) for t in titles]
        return self._invoices(titles)

    def _invoices(self, titles: list[_Title]) -> list[Invoice]:
        copies: dict[str, _Copy] = {}
        for contract in dict.fromkeys(t.contract_id for t in titles if t.contract_id):
            copies |= self._second_copies(contract)
        invoices = []
        for title in titles:
            copy = copies.get(title.id, _Copy("", "", ""))
            line = checks.checked_line(title.line or copy.line, erp=NAME, invoice_id=title.id)
            pix = title.pix or copy.pix or self._generated_pix(title)
            invoices.append(
                Invoice(
                    id=title.id,
                    customer_code=title.customer_code,
                    contract_id=title.contract_id,
                    due_date=title.due_date,
                    amount=title.amount,
                    digitable_line=line,
                    barcode=checks.barcode(title.barcode, line),
                    pix_code=checks.checked_pix(pix, erp=NAME, invoice_id=title.id),
                    boleto_url=copy.link,
                )
            )
        return sorted(invoices, key=lambda invoice: (invoice.due_date, invoice.id))

    def _titles(self, fields: dict[str, str]) -> list[_Title]:
        rows = self._pages("titulos", fields, key="titulos", page=TITLE_PAGE, as_json=True)
        found = [_title(row) for row in rows if _is_open(row)]
        return list({title.id: title for title in found}.values())

    def _second_copies(self, contract_id: str) -> dict[str, _Copy]:
        """``fatura2via`` of one contract: its titles' PDF links, lines and PIX codes, by title id.

        Never without ``nao_gerar_os=1``: SGP would open a ticket for each request.
        """
        fields = {"contrato": contract_id, "faturas_abertas_todas": "1", "nao_gerar_os": "1", "link_pdf": "1"}
        try:
            answer = self._call("fatura2via", fields, key="links")
        except SgpRefused as exc:
            logger.warning("SGP gave no second copy for contract %s: %s", contract_id, exc.words)
            return {}
        copies = {}
        for row in _rows(answer.get("links")):
            copies[_text(row.get("id"))] = _Copy(
                line=_text(row.get("linhadigitavel")), pix=_text(row.get("codigopix")), link=_text(row.get("link"))
            )
        return copies

    def _generated_pix(self, title: _Title) -> str:
        """A PIX code SGP generates for the title (``pagamento/pix/{id}``), or "" when its wallet has none."""
        if not title.id.isdigit():
            return ""
        path = f"pagamento/pix/{title.id}"
        try:
            answer = self._call(path, {"contrato": title.contract_id}, key="pix", alternatives=("codigopix", "codigo"))
        except SgpRefused as exc:
            logger.info("SGP has no PIX for invoice %s: %s", title.id, exc.words)
            return ""
        code = _text(answer.get("pix")) or _text(answer.get("codigopix")) or _text(answer.get("codigo"))
        if not code:
            logger.info("SGP has no PIX for invoice %s: %s", title.id, _words(answer.get("msg")))
        return code

    # ------------------------------------------------------------------ trust unlock

    def trust_unlock(self, contract_id: str) -> TrustUnlock:
        """Ask SGP's ``liberacaopromessa``; a refusal comes back with SGP's own words as the reason."""
        contract_id = str(contract_id).strip()
        if not contract_id.isdigit():
            return TrustUnlock(granted=False, reason="SGP contract ids are numbers.")
        rows = self._contracts(contrato=contract_id)
        if not any(_text(row.get("contratoid")) == contract_id for row in rows):
            return TrustUnlock(granted=False, reason="SGP has no contract with this number.")
        answer = self._post("liberacaopromessa", {"contrato": contract_id}, as_json=True)
        if "status" not in answer and "liberado" not in answer:
            _refusal(answer, "liberacaopromessa")
        granted = _truthy(answer["liberado"]) if "liberado" in answer else _text(answer.get("status")) == "1"
        if not granted:
            # 0: nothing to unlock or not allowed; 2: the month's allowance is used up (SGP's words say which)
            logger.info("SGP refused the trust unlock of contract %s (status %s).", contract_id, answer.get("status"))
            return TrustUnlock(granted=False, reason=_words(answer.get("msg"), empty="SGP did not unlock it."))
        if answer.get("datapromessa"):
            until = checks.parse_date(answer["datapromessa"], erp=NAME)
        elif days := _int(answer.get("liberadodias")):
            until = timezone.localdate() + dt.timedelta(days=days)
        else:
            until = None
        return TrustUnlock(granted=True, until=until)

    # ------------------------------------------------------------------ the wire

    def _clients(self, **fields: str) -> list[dict[str, Any]]:
        fields |= {"omitir_titulos": "1", "omitir_contratos": "1"}
        return self._pages("clientes", fields, key="clientes", page=CLIENT_PAGE)

    def _contracts(self, **fields: str) -> list[dict[str, Any]]:
        """``consultacliente``'s contracts (``contratos``, or ``assinantes`` on older releases)."""
        answer = self._call("consultacliente", fields, key="contratos", alternatives=("assinantes",))
        return _rows(answer.get("contratos", answer.get("assinantes")))

    def _pages(self, service: str, fields: dict[str, str], *, key: str, page: int, as_json: bool = False) -> list:
        """Every row of a paged listing. SGP may cap a page below ``limit``: the offset moves by what came,
        until ``paginacao.total`` is reached (or, without one, a short page)."""
        rows: dict[str, dict[str, Any]] = {}
        offset = 0
        for _ in range(MAX_PAGES):
            answer = self._call(
                service, {**fields, "offset": str(offset), "limit": str(page)}, key=key, as_json=as_json
            )
            found = _rows(answer.get(key))
            fresh = {_text(row.get("id")) or repr(row): row for row in found}
            fresh = {name: row for name, row in fresh.items() if name not in rows}
            rows |= fresh
            offset += len(found)
            total = _int(_keys(answer.get("paginacao")).get("total"), default=-1)
            if not fresh or (total >= 0 and offset >= total) or (total < 0 and len(found) < page):
                break  # the end, or an SGP that ignores the offset and answers the same page again
        return list(rows.values())

    def _call(
        self,
        service: str,
        fields: dict[str, str],
        *,
        key: str,
        alternatives: tuple[str, ...] = (),
        as_json: bool = False,
    ) -> dict[str, Any]:
        """SGP's answer to ``service``; one without its ``key`` (or an alternative) is its error shape."""
        answer = self._post(service, fields, as_json=as_json)
        if any(name in answer for name in (key, *alternatives)):
            return answer
        _refusal(answer, service)

    def _post(self, service: str, fields: dict[str, str], *, as_json: bool) -> dict[str, Any]:
        # The PIX service is documented without the trailing slash the others have.
        url = f"{self.base_url}{API}/{service}{'' if service.startswith('pagamento/') else '/'}"
        body = {**self.credentials, **fields}
        kwargs: dict[str, Any] = {"json": body} if as_json else {"data": body}
        answer = self.transport.json("POST", url, **kwargs)
        if not isinstance(answer, dict):
            raise ErpBadAnswer(f"SGP answered {service.split('/')[0]} with JSON that is not an object.")
        return _keys(answer)


def _refusal(answer: dict[str, Any], service: str) -> NoReturn:
    """Raise what SGP's error shape means: its words, a refused app or token, or an answer without either."""
    name = service.split("/")[0]
    message = next((answer[k] for k in ("msg", "detail", "mensagem", "erro") if _text(answer.get(k))), None)
    if message is None:
        raise ErpBadAnswer(f"SGP answered {name} without its list or a message.")
    words = _words(message)
    if _CREDENTIALS.search(words):
        raise ErpAuthFailed(f"SGP refused the app or token: {words}")
    raise SgpRefused(f"SGP refused {name}: {words}", words=words)


def _keys(row: Any) -> dict[str, Any]:
    """``row`` with its keys lower-cased and without ``_`` (``linha_digitavel`` → ``linhadigitavel``)."""
    return {_KEY.sub("", str(name)).lower(): value for name, value in row.items()} if isinstance(row, dict) else {}


def _rows(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, dict):
        value = [value]
    return [_keys(row) for row in value if isinstance(row, dict)] if isinstance(value, list) else []


def _texts(value: Any) -> list[str]:
    """Every text in an SGP contact field: a string, a list, ``{"tipoContato", "contato"}``, or a dict of lists."""
    if value is None or value == "":
        return []
    if isinstance(value, (str, int)):
        return [str(value).strip()]
    if isinstance(value, list):
        return [text for item in value for text in _texts(item)]
    if isinstance(value, dict):
        item = _keys(value)
        if "contato" in item:
            return _texts(item["contato"])
        return [text for inner in item.values() for text in _texts(inner)]
    return []


def _customer(row: dict[str, Any]) -> Customer:
    contacts = [text for key in PHONE_KEYS for text in _texts(row.get(key)) if "@" not in text]
    emails = [text for key in EMAIL_KEYS for text in _texts(row.get(key)) if "@" in text]
    code = _text(row.get("id")) or _text(row.get("clienteid")) or _text(row.get("idcliente"))
    return Customer(
        code=code,
        name=_text(row.get("nome")) or _text(row.get("razaosocial")) or _text(row.get("nomesocial")),
        document=documents.canonical(_text(row.get("cpfcnpj")) or _text(row.get("cnpjcpf"))),
        phones=phones.whatsapp_numbers(*contacts),
        email=emails[0] if emails else "",
    )


def _contract(row: dict[str, Any]) -> Contract:
    return Contract(
        id=_text(row.get("contratoid")) or _text(row.get("contrato")),
        customer_code=_text(row.get("clienteid")),
        status=contract_status(row),
        plan=_text(row.get("planointernet")) or _text(row.get("servicoplano")) or _text(row.get("plano")),
        trust_unlock_allowed=None,
    )


def _is_open(row: dict[str, Any]) -> bool:
    status = _plain(_text(row.get("status")))
    return (not status or status.startswith(("aberto", "atrasado", "vencido"))) and not _text(row.get("datapagamento"))


def _title(row: dict[str, Any]) -> _Title:
    title_id = _text(row.get("id")) or _text(row.get("tituloid"))
    amount = row.get("valor") if _text(row.get("valor")) else row.get("valorcorrigido")
    return _Title(
        id=title_id,
        customer_code=_text(row.get("clienteid")) or _text(row.get("idcliente")),
        contract_id=_text(row.get("clientecontrato")) or _text(row.get("contrato")),
        due_date=checks.parse_date(row.get("datavencimento") or row.get("vencimento"), erp=NAME),
        amount=checks.parse_amount(amount, erp=NAME),
        line=_text(row.get("linhadigitavel")),
        barcode=_text(row.get("codigobarras")) or _text(row.get("codigodebarras")),
        pix=_text(row.get("codigopix")),
    )


def _phone_variants(number: str) -> tuple[str, ...]:
    """How an install may have typed a WhatsApp number: the national number, with and without the ninth digit."""
    if not number.startswith("55"):
        return (number,)
    national = number[2:]
    if len(national) == 11 and national[2] == "9":
        return (national, national[:2] + national[3:])
    return (national,)


def _words(message: Any, *, empty: str = "no message") -> str:
    """SGP's message without HTML or line breaks, masked for CPF/CNPJ and secrets."""
    return mask_text(page_text(_text(message), limit=300)) or empty


def _truthy(value: Any) -> bool:
    return value is True or _text(value).lower() in ("1", "true", "sim", "s")


def _text(value: Any) -> str:
    return "" if value is None or isinstance(value, (dict, list)) else str(value).strip()


def _int(value: Any, *, default: int = 0) -> int:
    try:
        return int(float(_text(value)))
    except ValueError:
        return default
