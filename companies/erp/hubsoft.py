"""Hubsoft through its REST API: customers, their services (contracts), open invoices, trust unlock.

API: https://docs.hubsoft.com.br/ (the official Postman collection) and its sources at
https://github.com/hubsoftbrasil/api (``docs/source/autenticacao.rst``, ``clientes/consulta.rst``,
``clientes/financeiro.rst``, ``financeiro/consulta.rst``, ``clientes/desbloqueio_confianca.rst``).

- Auth: OAuth2 password grant, ``POST {base}/oauth/token`` with ``client_id``, ``client_secret``,
  ``username``, ``password``; the answer's ``access_token`` goes as ``Authorization: Bearer`` on every
  call. It lasts ``expires_in`` seconds (30 days) and Hubsoft asks integrators to keep and reuse it:
  it is kept in Django's cache per company and credentials, and asked for again once when a call
  answers 401 (Hubsoft may revoke every token during an update). There is no refresh flow.
- Calls: ``{base}/api/v1/integracao/...``. Answers are ``{"status": "success", "msg", ...}`` (the docs
  also show the typo ``"suscess"``); errors are ``{"status": "error", "msg", "errors"}`` with HTTP 200
  or a 4xx: both are :class:`ErpBadAnswer` carrying Hubsoft's words. Some installs hand out a base
  URL ending in ``/api``: it is cut back to the host.
- Customers: ``GET /cliente?busca=codigo_cliente|cpf_cnpj|telefone&termo_busca=...``, with
  ``cancelado=sim`` (by default Hubsoft leaves cancelled services out) and ``limit=100`` (default 5).
  Documents and phones are kept as digits. A phone is asked for as DDD + number, then by its last
  eight digits (the same with or without the ninth digit), and every row is confirmed here by
  normalising its three phone fields (``companies.phones.whatsapp_numbers``).
- Contracts are the customer's ``servicos``; ``id_cliente_servico`` is the contract id that invoices
  and the trust unlock use.
- Open invoices: ``GET /cliente/financeiro?apenas_pendente=sim`` (at most 50 per call) already carry
  ``linha_digitavel``, ``codigo_barras``, ``pix_copia_cola`` and the PDF ``link``; there is no "second
  copy" call. Dates are ``DD/MM/YYYY``. A ``debito_conta_corrente`` invoice has no line nor link.
- Invoices due in a range: ``GET /financeiro?tipo_data=data_vencimento`` lists every customer's
  receivables (at most 30 days per call without a ``busca``), then each customer with one unpaid is
  asked ``/cliente/financeiro`` for those dates, which has the payment codes.
- Trust unlock: ``POST /cliente/desbloqueio_confianca {"id_cliente_servico", "dias_desbloqueio"}``;
  Hubsoft checks the ISP's rules (a maximum of days, once per period) and answers "... até a data
  DD/MM/YYYY" or its refusal. It does not say per service whether unlocking is allowed.

Contract status, from ``servicos[].status_prefixo``:

- ``servico_habilitado``: ACTIVE.
- ``suspenso_debito`` (suspended for debt, what ISPs call blocked): BLOCKED.
- ``suspenso_parcialmente`` (reduced speed) and ``franquia_excedida`` (data allowance spent): BANDWIDTH_LIMITED.
- ``suspenso_pedido_cliente``: SUSPENDED.
- ``cancelado`` and ``inativo``: CANCELLED.
- ``agendado_para_instalacao`` and every ``aguardando_*`` (signature, installation, configuration, IT
  release, migration): PENDING.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import requests
from django.core.cache import cache

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
from config import http
from config.masking import mask_document, mask_text

logger = logging.getLogger(__name__)

NAME = "Hubsoft"
API_PATH = "/api/v1/integracao"
TOKEN_PATH = "/oauth/token"  # noqa: S105 (a path, not a secret)
PHONE_FIELDS = ("telefone_primario", "telefone_secundario", "telefone_terciario")
CUSTOMER_LIMIT = 100  # the most /cliente answers at once
INVOICE_LIMIT = 50  # the most /cliente/financeiro answers at once
RANGE_DAYS = 30  # /financeiro without a busca covers at most 30 days
RANGE_LIMIT = 5000  # rows asked of /financeiro at once; a window that fills it is split
UNLOCK_DAYS = 1  # Hubsoft's own default; the ISP's panel caps it
DEFAULT_TOKEN_SECONDS = 3600  # when Hubsoft does not say how long its token lasts
_SUCCESS = frozenset({"success", "suscess"})
_DATE = re.compile(r"\b(\d{2}/\d{2}/\d{4})\b")
_BASE_SUFFIXES = (API_PATH, "/api/v1", "/api")

STATUSES = {
    "servico_habilitado": ContractStatus.ACTIVE,
    "suspenso_debito": ContractStatus.BLOCKED,
    "suspenso_parcialmente": ContractStatus.BANDWIDTH_LIMITED,
    "franquia_excedida": ContractStatus.BANDWIDTH_LIMITED,
    "suspenso_pedido_cliente": ContractStatus.SUSPENDED,
    "cancelado": ContractStatus.CANCELLED,
    "inativo": ContractStatus.CANCELLED,
    "agendado_para_instalacao": ContractStatus.PENDING,
    "aguardando_assinatura_contrato": ContractStatus.PENDING,
    "aguardando_configuracao": ContractStatus.PENDING,
    "aguardando_instalacao": ContractStatus.PENDING,
    "aguardando_liberacao_ti": ContractStatus.PENDING,
    "aguardando_migracao": ContractStatus.PENDING,
}


class HubsoftRefused(ErpBadAnswer):
    """Hubsoft answered its ``{"status": "error", "msg": ...}`` (``words`` are its message, masked)."""

    def __init__(self, message: str, *, words: str) -> None:
        super().__init__(message)
        self.words = words


def contract_status(service: dict[str, Any]) -> ContractStatus:
    """The ContractStatus of one of a customer's ``servicos`` (the rules in this module's docstring)."""
    prefix = _text(service.get("status_prefixo")).lower()
    if prefix in STATUSES:
        return STATUSES[prefix]
    # A status this adapter does not know yet: its prefix's first word is still telling.
    logger.warning(
        "Hubsoft service %s has a status this adapter does not know.", _text(service.get("id_cliente_servico"))
    )
    if prefix.startswith(("aguardando", "agendado")):
        return ContractStatus.PENDING
    if prefix.startswith("suspenso"):
        return ContractStatus.SUSPENDED
    if prefix.startswith(("cancel", "inativ")):
        return ContractStatus.CANCELLED
    return ContractStatus.ACTIVE


class HubsoftAdapter:
    """One company's Hubsoft; ``transport_options`` (timeout, attempts, max_wait) go to its ErpTransport.

    ``owner`` (the company's pk) names the cache entry that keeps the OAuth token; a change of URL or
    of any credential uses another entry, so a fixed password is tried at once.
    """

    def __init__(
        self,
        base_url: str,
        *,
        client_id: str,
        client_secret: str,
        username: str,
        password: str,
        verify_tls: bool = True,
        owner: object = "",
        **transport_options: Any,
    ) -> None:
        base = base_url.rstrip("/")
        for suffix in _BASE_SUFFIXES:
            base = base.removesuffix(suffix)
        self.base_url = base
        self._grant = {
            "grant_type": "password",
            "client_id": client_id,
            "client_secret": client_secret,
            "username": username,
            "password": password,
        }
        seen = json.dumps([base, client_id, client_secret, username, password])
        self._token_key = f"erp:{owner}:hubsoft-token:{hashlib.sha256(seen.encode()).hexdigest()[:24]}"
        self.transport = ErpTransport(NAME, verify_tls=verify_tls, **transport_options)

    @classmethod
    def from_company(cls, company: Company, **transport_options: Any) -> HubsoftAdapter:
        return cls(
            company.erp_base_url,
            client_id=company.erp_client_id,
            client_secret=company.erp_client_secret,
            username=company.erp_username,
            password=company.erp_password,
            verify_tls=company.erp_verify_tls,
            owner=company.pk,
            **transport_options,
        )

    # ------------------------------------------------------------------ customers

    def find_customer_by_code(self, code: str) -> Customer | None:
        code = str(code).strip()
        if not code.isdigit():  # codigo_cliente is a number: nothing else can match
            return None
        rows = self._customers("codigo_cliente", code)
        return next((_customer(row) for row in rows if _text(row.get("codigo_cliente")) == code), None)

    def find_customers_by_document(self, document: str) -> list[Customer]:
        wanted = documents.canonical(document)
        if len(wanted) not in (11, 14):
            return []
        rows = self._customers("cpf_cnpj", wanted, shown=mask_document(wanted))
        found = [c for c in map(_customer, rows) if c.document == wanted]
        return sorted(found, key=lambda c: (len(c.code), c.code))

    def find_customers_by_phone(self, phone: str) -> list[Customer]:
        """Customers with ``phone`` among their numbers: asked as DDD + number (how Hubsoft keeps phones),
        then by the last eight digits (the same with or without the ninth digit), confirmed here."""
        wanted = (phones.whatsapp_numbers(phone) or (phones.normalize_phone(phone),))[0]
        if not wanted:
            return []
        national = wanted[2:] if wanted.startswith("55") else wanted
        for term in dict.fromkeys((national, wanted[-8:])):
            rows = self._customers("telefone", term, shown=f"…{term[-4:]}")
            found = {c.code: c for c in map(_customer, rows) if wanted in c.phones}
            if found:
                return sorted(found.values(), key=lambda c: (len(c.code), c.code))
        return []

    def _customers(self, search: str, term: str, *, shown: str | None = None) -> list[dict[str, Any]]:
        params = {"busca": search, "termo_busca": term, "limit": CUSTOMER_LIMIT, "cancelado": "sim"}
        answer = self._call("GET", "/cliente", params=params, hide={term: shown} if shown else None)
        return _rows(answer, "clientes")

    # ------------------------------------------------------------------ contracts

    def list_contracts(self, customer_code: str) -> list[Contract]:
        code = str(customer_code).strip()
        if not code.isdigit():
            return []
        contracts = []
        for row in self._customers("codigo_cliente", code):
            if _text(row.get("codigo_cliente")) != code:
                continue
            for service in row.get("servicos") or []:
                if isinstance(service, dict):
                    contracts.append(
                        Contract(
                            id=_text(service.get("id_cliente_servico")),
                            customer_code=code,
                            status=contract_status(service),
                            plan=_text(service.get("nome")),
                            trust_unlock_allowed=None,
                        )
                    )
        return contracts

    # ------------------------------------------------------------------ invoices

    def list_open_invoices(self, customer_code: str, *, contract_id: str | None = None) -> list[Invoice]:
        """The customer's pending invoices (of one service when ``contract_id`` is given), soonest due first,
        each with its line, barcode, PIX code and PDF link."""
        code = str(customer_code).strip()
        if not code.isdigit() or (contract_id is not None and not str(contract_id).strip().isdigit()):
            return []
        if contract_id is None:
            rows = self._invoices("codigo_cliente", code)
        else:
            rows = self._invoices("id_cliente_servico", str(contract_id).strip())
        invoices = [self._invoice(row, code) for row in rows if _customer_of(row) in ("", code)]
        if contract_id is not None:
            invoices = [i for i in invoices if i.contract_id in ("", str(contract_id).strip())]
        return sorted(invoices, key=lambda invoice: (invoice.due_date, invoice.id))

    def list_open_invoices_due(self, start: dt.date, end: dt.date) -> list[Invoice]:
        """Every customer's pending invoices due from ``start`` to ``end``: ``/financeiro`` names the customers
        with an unpaid one in each window of 30 days, ``/cliente/financeiro`` gives their payment codes."""
        if end < start:
            return []
        codes: dict[str, None] = {}
        for window_start, window_end in _windows(start, end, RANGE_DAYS):
            for row in self._receivables(window_start, window_end):
                paid = row.get("quitado") is True or _text(row.get("data_pagamento"))
                code = _customer_of(row)
                if code and not paid:
                    codes.setdefault(code)
        invoices = []
        for code in codes:
            dates = {"data_inicio": start.isoformat(), "data_fim": end.isoformat(), "tipo_data": "data_vencimento"}
            for row in self._invoices("codigo_cliente", code, **dates):
                if _customer_of(row) in ("", code):
                    invoices.append(self._invoice(row, code))
        invoices = [invoice for invoice in invoices if start <= invoice.due_date <= end]
        return sorted(invoices, key=lambda invoice: (invoice.due_date, invoice.id))

    def _receivables(self, start: dt.date, end: dt.date) -> list[dict[str, Any]]:
        """``/financeiro``'s rows due from ``start`` to ``end``; a window that fills the limit is asked in halves."""
        params = {
            "tipo_data": "data_vencimento",
            "data_inicio": start.isoformat(),
            "data_fim": end.isoformat(),
            "order_by": "data_vencimento",
            "order_type": "asc",
            "limit": RANGE_LIMIT,
        }
        rows = _rows(self._call("GET", "/financeiro", params=params), "faturas")
        if len(rows) < RANGE_LIMIT:
            return rows
        if start == end:
            logger.warning("Hubsoft has %s receivables or more due on %s: some may be missed.", RANGE_LIMIT, start)
            return rows
        middle = start + (end - start) // 2
        return self._receivables(start, middle) + self._receivables(middle + dt.timedelta(days=1), end)

    def _invoices(self, search: str, term: str, **dates: str) -> list[dict[str, Any]]:
        params = {
            "busca": search,
            "termo_busca": term,
            "apenas_pendente": "sim",
            "limit": INVOICE_LIMIT,
            "order_by": "data_vencimento",
            "order_type": "asc",
            **dates,
        }
        rows = _rows(self._call("GET", "/cliente/financeiro", params=params), "faturas")
        if len(rows) >= INVOICE_LIMIT:
            logger.warning(
                "Hubsoft answered %s pending invoices for one %s: later ones may be missed.", len(rows), search
            )
        # apenas_pendente already leaves paid ones out; a row that still says it was paid is not open.
        return [row for row in rows if row.get("quitado") is not True and not _text(row.get("data_pagamento"))]

    def _invoice(self, row: dict[str, Any], customer_code: str) -> Invoice:
        invoice_id = _text(row.get("id_fatura"))
        line = checks.checked_line(_text(row.get("linha_digitavel")), erp=NAME, invoice_id=invoice_id)
        client = _dict(row.get("cliente"))
        return Invoice(
            id=invoice_id,
            customer_code=_text(client.get("codigo_cliente")) or customer_code,
            contract_id=_text(_dict(client.get("servico")).get("id_cliente_servico")),
            due_date=checks.parse_date(row.get("data_vencimento"), erp=NAME),
            amount=checks.parse_amount(row.get("valor"), erp=NAME),
            digitable_line=line,
            barcode=checks.barcode(_text(row.get("codigo_barras")), line),
            pix_code=checks.checked_pix(_text(row.get("pix_copia_cola")), erp=NAME, invoice_id=invoice_id),
            boleto_url=_text(row.get("link")),  # Hubsoft's own PDF page; guessable, so never logged
        )

    # ------------------------------------------------------------------ trust unlock

    def trust_unlock(self, contract_id: str) -> TrustUnlock:
        """Ask Hubsoft's ``desbloqueio_confianca`` for one day; a refusal comes back with Hubsoft's words."""
        contract_id = str(contract_id).strip()
        if not contract_id.isdigit():
            return TrustUnlock(granted=False, reason="Hubsoft service ids are numbers.")
        body = {"id_cliente_servico": contract_id, "dias_desbloqueio": str(UNLOCK_DAYS)}
        try:
            answer = self._call("POST", "/cliente/desbloqueio_confianca", json_body=body)
        except HubsoftRefused as exc:
            logger.info("Hubsoft refused the trust unlock of service %s.", contract_id)
            return TrustUnlock(granted=False, reason=exc.words)
        dates = _DATE.findall(_text(answer.get("msg")))
        return TrustUnlock(granted=True, until=checks.parse_date(dates[-1], erp=NAME) if dates else None)

    # ------------------------------------------------------------------ the wire

    def _token(self) -> str:
        token = cache.get(self._token_key)
        return token if isinstance(token, str) and token else self._authenticate()

    def _authenticate(self) -> str:
        """A new access token, kept in the cache a little less long than Hubsoft says it lasts."""
        response = self.transport.request("POST", f"{self.base_url}{TOKEN_PATH}", json=self._grant)
        if response.status_code == 400:  # Laravel Passport's invalid_grant / invalid_request
            refusal = _json(response).get("error")
            if refusal:
                raise ErpAuthFailed(f"Hubsoft refused the credentials ({mask_text(_text(refusal))[:60]}).")
        answer = self._decoded(response)
        token = answer.get("access_token")
        if not isinstance(token, str) or not token.strip():
            raise ErpBadAnswer("Hubsoft answered the token request without an access token.")
        try:
            lasts = int(answer.get("expires_in") or DEFAULT_TOKEN_SECONDS)
        except (TypeError, ValueError):
            lasts = DEFAULT_TOKEN_SECONDS
        keep = lasts - min(60, lasts // 10)  # never hand out a token in its last moments
        if keep > 0:
            cache.set(self._token_key, token.strip(), timeout=keep)
        return token.strip()

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json_body: dict[str, Any] | None = None,
        hide: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """Hubsoft's answer to one call, authenticating again once when it refuses the kept token."""
        url = f"{self.base_url}{API_PATH}{path}"
        request = {"params": params, "json": json_body, "hide": hide}
        token = self._token()  # bad credentials fail here, not as a refused token
        try:
            return self._decoded(self._send(method, url, token=token, **request))
        except ErpAuthFailed:  # the kept token was revoked or expired early
            cache.delete(self._token_key)
            logger.info("Hubsoft refused its access token (revoked or expired): authenticating again.")
        token = self._authenticate()
        try:
            return self._decoded(self._send(method, url, token=token, **request))
        except ErpAuthFailed:
            cache.delete(self._token_key)
            raise ErpAuthFailed(
                "Hubsoft refused a token it had just issued: the API user may lack permission."
            ) from None

    def _send(
        self, method: str, url: str, *, token: str, hide: dict[str, str] | None, **kwargs: Any
    ) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        # The search term (a CPF, a phone) rides in the query string: the HTTP logs show it masked.
        with http.hiding(shown=hide):
            return self.transport.request(method, url, headers=headers, **kwargs)

    def _decoded(self, response: requests.Response) -> dict[str, Any]:
        """The success envelope; Hubsoft's error shape (with HTTP 200 or a 4xx) is HubsoftRefused."""
        answer = _json(response) if 400 <= response.status_code < 500 else None
        if not answer or "status" not in answer:
            answer = self.transport.decode(response)
        if not isinstance(answer, dict):
            raise ErpBadAnswer("Hubsoft answered JSON that is not an object.")
        status = _text(answer.get("status")).lower()
        if status == "error":
            words = _words(answer)
            raise HubsoftRefused(f"Hubsoft refused the request: {words}", words=words)
        if "access_token" in answer or status in _SUCCESS:
            return answer
        raise ErpBadAnswer("Hubsoft answered without its status envelope.")


def _windows(start: dt.date, end: dt.date, days: int) -> Iterator[tuple[dt.date, dt.date]]:
    """``start``..``end`` cut into windows whose last day is less than ``days`` days after their first."""
    while start <= end:
        last = min(end, start + dt.timedelta(days=days - 1))
        yield start, last
        start = last + dt.timedelta(days=1)


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        answer = json.loads(response.text)
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}


def _words(answer: dict[str, Any]) -> str:
    """Hubsoft's ``msg`` and any ``errors`` it lists, without HTML, masked for CPF/CNPJ and secrets."""
    parts = [_text(answer.get("msg"))]
    errors = answer.get("errors")
    if isinstance(errors, dict):
        errors = [item for value in errors.values() for item in (value if isinstance(value, list) else [value])]
    if isinstance(errors, list):
        parts += [_text(item) for item in errors if isinstance(item, str | int | float)]
    words = page_text(" ".join(part for part in parts if part), limit=300)
    return mask_text(words) or "no message"


def _rows(answer: dict[str, Any], key: str) -> list[dict[str, Any]]:
    found = answer.get(key)
    if found is None:
        return []  # nothing matched
    if not isinstance(found, list):
        raise ErpBadAnswer(f"Hubsoft answered {key} that are not a list.")
    return [row for row in found if isinstance(row, dict)]


def _customer_of(row: dict[str, Any]) -> str:
    return _text(_dict(row.get("cliente")).get("codigo_cliente"))


def _customer(row: dict[str, Any]) -> Customer:
    return Customer(
        code=_text(row.get("codigo_cliente")),
        name=_text(row.get("nome_razaosocial")) or _text(row.get("nome_fantasia")),
        document=documents.canonical(_text(row.get("cpf_cnpj"))),
        phones=phones.whatsapp_numbers(*(_text(row.get(field)) for field in PHONE_FIELDS)),
        email=_text(row.get("email_principal")),
    )


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
