"""Hubsoft's REST API as the fake ERP answers it (``FakeErp(kind="hubsoft")``), over the demo records.

The wire as Hubsoft documents it (https://docs.hubsoft.com.br/, https://github.com/hubsoftbrasil/api):

- ``POST /oauth/token`` (JSON): the password grant with the fake's ``client_id``, ``client_secret``,
  ``username`` and ``password``; it answers ``access_token`` (a fresh one each time), ``expires_in``
  (``expires_in``, 30 days unless a test says otherwise), ``refresh_token`` and ``token_type``. A wrong
  client is HTTP 401 ``invalid_client``, a wrong user or password HTTP 401 ``invalid_credentials`` (as
  the Postman example), another grant type HTTP 400 ``unsupported_grant_type``.
- ``/api/v1/integracao/...`` wants ``Authorization: Bearer <token>``: a missing, unknown, expired or
  revoked token (``revoke_tokens()``, as Hubsoft does during updates) is HTTP 401 ``Unauthenticated.``
- ``GET /cliente``: ``busca`` codigo_cliente, cpf_cnpj, telefone (the term's digits found in a phone
  field's digits), id_cliente_servico or nome_razaosocial; ``limit`` 1..100, default 5;
  cancelled services are left out unless ``cancelado=sim``. Services carry their PPPoE ``senha``
  (never to be logged).
- ``GET /cliente/financeiro``: ``busca`` cpf_cnpj, codigo_cliente or id_cliente_servico; ``limit``
  1..50, default 20; ``apenas_pendente`` (default sim); ``data_inicio``/``data_fim`` on the due date;
  dates as ``DD/MM/YYYY``. Invoice 90003 is ``debito_conta_corrente`` (no line, barcode nor link, PIX
  only); 90005 has no PIX. ``link`` points at ``/pdf/fatura/<base64(base64(id))>``, which the fake serves.
- ``GET /financeiro``: every customer's receivables, ISO dates, ``tipo_data`` (default
  data_vencimento), ``data_inicio``/``data_fim`` (default: the last 10 days), cut to 30 days when no
  ``busca`` is given, ``limit`` when given; paid ones included with their ``data_pagamento``.
- ``POST /cliente/desbloqueio_confianca``: ``{"id_cliente_servico", "dias_desbloqueio"}`` (default 1);
  more days than ``unlock_max_days`` (the ISP panel's rule) is refused, and so is what the demo
  records refuse (not blocked, not allowed, already used).
- Errors are ``{"status": "error", "msg", "errors"}``: HTTP 200 for a refusal and for ``fail =
  "error"``, HTTP 422 for invalid parameters (Laravel's validation status; the docs do not say which
  status Hubsoft uses, the adapter reads the shape on either).
"""

from __future__ import annotations

import base64
import datetime as dt
import re
import secrets
import threading
import time
from typing import Any
from urllib.parse import parse_qs

from fakes.erp.data import FakeContract, FakeCustomer, FakeInvoice
from fakes.erp.server import html
from fakes.server import Answer, Request, json_answer

API = "/api/v1/integracao"
TOKEN_PATH = "/oauth/token"  # noqa: S105 (a path, not a secret)
PDF_LINK = re.compile(r"^/pdf/fatura/([A-Za-z0-9+/=_-]+)$")
THIRTY_DAYS = dt.timedelta(days=30)
# state → (status_prefixo, status)
CONTRACT_STATES = {
    "active": ("servico_habilitado", "Serviço Habilitado"),
    "blocked": ("suspenso_debito", "Suspenso por Débito"),
    "blocked_manual": ("suspenso_debito", "Suspenso por Débito"),
    "reduced": ("suspenso_parcialmente", "Suspenso Parcialmente"),
    "suspended": ("suspenso_pedido_cliente", "Suspenso a Pedido do Cliente"),
    "cancelled": ("cancelado", "Cancelado"),
    "pending": ("aguardando_instalacao", "Aguardando Instalação"),
}


class _Invalid(Exception):
    """A parameter Hubsoft's validation refuses: HTTP 422 with its error shape."""


def _error(message: str, *, status: int = 200, errors: Any = None) -> Answer:
    return json_answer(status, {"status": "error", "msg": message, "errors": errors if errors is not None else []})


def _success(**payload: Any) -> Answer:
    return json_answer(200, {"status": "success", "msg": "Dados consultados com sucesso", **payload})


def _digits(value: str) -> str:
    return re.sub(r"\D", "", value or "")


def _link_token(invoice_id: str) -> str:
    return base64.b64encode(base64.b64encode(invoice_id.encode())).decode()


class Handler:
    def __init__(self, server) -> None:
        self.server = server
        self.expires_in = 2592000  # 30 days, as Hubsoft's tokens
        self.unlock_max_days = 3
        self.debit_account = {"90003"}  # debito_conta_corrente: no line, barcode nor link
        self.without_pix = {"90005"}
        self._tokens: dict[str, float] = {}  # access token → when it expires (monotonic)
        self._lock = threading.Lock()

    @property
    def data(self):
        return self.server.data

    def revoke_tokens(self) -> None:
        """Forget every token issued, as Hubsoft may during an update."""
        with self._lock:
            self._tokens.clear()

    # ------------------------------------------------------------------ dispatch

    def answer(self, request: Request, raw: bytes) -> Answer:
        path, _, query = request.path.partition("?")
        params = {name: values[0] for name, values in parse_qs(query, keep_blank_values=True).items()}
        if path == TOKEN_PATH and request.method == "POST":
            return self._oauth(request.body)
        link = PDF_LINK.match(path)
        if link and request.method == "GET":
            return self._pdf(link.group(1))
        if not path.startswith(API):
            return html(404, "404 Not Found")
        if not self._authorized(request.authorization):
            return json_answer(401, {"message": "Unauthenticated."})
        route = (request.method, path[len(API) :].rstrip("/"))
        try:
            if route == ("GET", "/cliente"):
                return self._clientes(params)
            if route == ("GET", "/cliente/financeiro"):
                return self._faturas(params)
            if route == ("GET", "/financeiro"):
                return self._financeiro(params)
            if route == ("POST", "/cliente/desbloqueio_confianca"):
                return self._desbloqueio(request.body if isinstance(request.body, dict) else {})
        except _Invalid as exc:
            return _error(str(exc), status=422, errors=[str(exc)])
        return json_answer(404, {"message": "Not Found"})

    def error(self, request: Request) -> Answer:
        return _error("Ocorreu um erro ao processar a requisição. Tente novamente mais tarde.")

    # ------------------------------------------------------------------ oauth

    def _oauth(self, body: Any) -> Answer:
        if isinstance(body, str):  # a form-encoded grant
            body = {name: values[0] for name, values in parse_qs(body).items()}
        body = body if isinstance(body, dict) else {}
        credentials = self.server.credentials
        if body.get("grant_type") != "password":
            message = "The authorization grant type is not supported by the authorization server."
            return json_answer(
                400, {"error": "unsupported_grant_type", "error_description": message, "message": message}
            )
        if (
            str(body.get("client_id")) != credentials.client_id
            or body.get("client_secret") != credentials.client_secret
        ):
            message = "Client authentication failed"
            return json_answer(401, {"error": "invalid_client", "error_description": message, "message": message})
        if body.get("username") != credentials.username or body.get("password") != credentials.password:
            message = "The user credentials were incorrect."
            return json_answer(401, {"error": "invalid_credentials", "error_description": message, "message": message})
        token = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9." + secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[token] = time.monotonic() + self.expires_in
        return json_answer(
            200,
            {
                "token_type": "Bearer",
                "expires_in": self.expires_in,
                "access_token": token,
                "refresh_token": "def50200" + secrets.token_hex(24),
            },
        )

    def _authorized(self, header: str) -> bool:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer":
            return False
        with self._lock:
            expiry = self._tokens.get(token.strip())
            return expiry is not None and time.monotonic() < expiry

    # ------------------------------------------------------------------ customers

    def _clientes(self, params: dict[str, str]) -> Answer:
        search, term = self._search(
            params, ("codigo_cliente", "cpf_cnpj", "telefone", "id_cliente_servico", "nome_razaosocial")
        )
        limit = self._limit(params, default=5, most=100)
        with_cancelled = params.get("cancelado", "nao") == "sim"
        found = [c for c in self.data.customers if self._customer_matches(c, search, term)]
        return _success(clientes=[self._cliente(c, with_cancelled=with_cancelled) for c in found[:limit]])

    def _customer_matches(self, customer: FakeCustomer, search: str, term: str) -> bool:
        if search == "codigo_cliente":
            return customer.code == term.strip()
        if search == "cpf_cnpj":
            return customer.document == re.sub(r"[^0-9A-Z]", "", term.upper())
        if search == "telefone":
            wanted = _digits(term)
            return bool(wanted) and any(
                wanted in _digits(p) for p in (customer.mobile, customer.whatsapp, customer.landline)
            )
        if search == "id_cliente_servico":
            return any(c.id == term.strip() for c in self.data.contracts_of(customer.code))
        return term.strip().lower() in customer.name.lower()

    def _cliente(self, customer: FakeCustomer, *, with_cancelled: bool) -> dict[str, Any]:
        services = [
            self._servico(contract)
            for contract in self.data.contracts_of(customer.code)
            if with_cancelled or contract.state != "cancelled"
        ]
        return {
            "id_cliente": 20000 + int(customer.code),
            "codigo_cliente": int(customer.code),
            "nome_razaosocial": customer.name,
            "nome_fantasia": customer.name if customer.is_company else None,
            "tipo_pessoa": "pj" if customer.is_company else "pf",
            "cpf_cnpj": customer.document,
            "telefone_primario": customer.mobile,
            "telefone_secundario": customer.whatsapp or None,
            "telefone_terciario": customer.landline or None,
            "email_principal": customer.email or None,
            "email_secundario": None,
            "data_cadastro": "2023-03-01 09:00:00",
            "alerta": False,
            "alerta_mensagens": [],
            "servicos": services,
        }

    def _servico(self, contract: FakeContract) -> dict[str, Any]:
        prefix, words = CONTRACT_STATES[contract.state]
        return {
            "id_cliente_servico": int(contract.id),
            "numero_plano": 1,
            "nome": contract.plan,
            "valor": 99.9,
            "status": words,
            "status_prefixo": prefix,
            "tecnologia": "FIBRA",
            "login": f"cliente{contract.customer_code}",
            "senha": f"pppoe-{contract.customer_code}",  # Hubsoft returns the PPPoE password: never to be logged
            "ipv4": f"10.99.1.{int(contract.id) % 250}",
            "ultima_conexao": [],
            "endereco_instalacao": {"completo": "AVENIDA BRASIL, 100 - ZONA 01, MARINGÁ/PR", "cep": "87013-000"},
        }

    # ------------------------------------------------------------------ invoices

    def _faturas(self, params: dict[str, str]) -> Answer:
        search, term = self._search(params, ("cpf_cnpj", "codigo_cliente", "id_cliente_servico"))
        limit = self._limit(params, default=20, most=50)
        pending_only = params.get("apenas_pendente", "sim") != "nao"
        start, end = self._date(params, "data_inicio"), self._date(params, "data_fim")
        rows = [
            invoice
            for invoice in self.data.invoices
            if self._invoice_matches(invoice, search, term)
            and not (pending_only and invoice.paid)
            and (start is None or invoice.due_date >= start)
            and (end is None or invoice.due_date <= end)
        ]
        rows = self._sorted(rows, params)
        return _success(faturas=[self._fatura(invoice) for invoice in rows[:limit]])

    def _invoice_matches(self, invoice: FakeInvoice, search: str, term: str) -> bool:
        if search == "id_cliente_servico":
            return invoice.contract_id == term.strip()
        customer = self.data.customer(invoice.customer_code)
        if search == "codigo_cliente":
            return invoice.customer_code == term.strip()
        return customer is not None and customer.document == re.sub(r"[^0-9A-Z]", "", term.upper())

    def _fatura(self, invoice: FakeInvoice) -> dict[str, Any]:
        customer = self.data.customer(invoice.customer_code)
        contract = self.data.contract(invoice.contract_id)
        debit = invoice.id in self.debit_account
        overdue = not invoice.paid and invoice.due_date < self.data.today
        prefix = CONTRACT_STATES[contract.state][0] if contract else ""
        return {
            "id_fatura": int(invoice.id),
            "quitado": invoice.paid,
            "status": "pago" if invoice.paid else "vencido" if overdue else "aberto",
            "nosso_numero": invoice.id,
            "linha_digitavel": None if debit else invoice.digitable_line,
            "codigo_barras": None if debit else invoice.barcode,
            "pix_copia_cola": None if invoice.id in self.without_pix else invoice.pix_code,
            "link": None if debit else f"{self.server.url}/pdf/fatura/{_link_token(invoice.id)}",
            "beneficiario": "PROVEDOR DEMO LTDA / CNPJ: 22.385.367/0001-03",
            "tipo_cobranca": "debito_conta_corrente" if debit else "boleto_bancario",
            "valor": float(invoice.amount),
            "valor_pago": float(invoice.amount) if invoice.paid else None,
            "data_vencimento": f"{invoice.due_date:%d/%m/%Y}",
            "data_cadastro": f"{invoice.due_date - dt.timedelta(days=10):%d/%m/%Y}",
            "data_pagamento": f"{invoice.due_date:%d/%m/%Y}" if invoice.paid else None,
            "detalhamento": [{"descricao": contract.plan if contract else "Cobrança", "valor": float(invoice.amount)}],
            "cliente": {
                "codigo_cliente": int(invoice.customer_code),
                "nome_razaosocial": customer.name if customer else "",
                "cpf_cnpj": customer.document if customer else "",
                "servico": {"id_cliente_servico": int(invoice.contract_id), "status_prefixo": prefix},
            },
        }

    def _financeiro(self, params: dict[str, str]) -> Answer:
        kind = params.get("tipo_data") or "data_vencimento"
        if kind not in ("data_vencimento", "data_pagamento", "data_cadastro"):
            raise _Invalid("O campo tipo data selecionado é inválido.")
        start = self._date(params, "data_inicio") or self.data.today - dt.timedelta(days=10)
        end = self._date(params, "data_fim") or self.data.today
        if not params.get("busca") and end - start > THIRTY_DAYS:
            end = start + THIRTY_DAYS  # Hubsoft: without a busca, at most 30 days between the dates
        settled = params.get("apenas_quitado")

        def day(invoice: FakeInvoice) -> dt.date | None:
            if kind == "data_pagamento":
                return invoice.due_date if invoice.paid else None
            return invoice.due_date - dt.timedelta(days=10) if kind == "data_cadastro" else invoice.due_date

        rows = [
            invoice
            for invoice in self.data.invoices
            if (when := day(invoice)) is not None
            and start <= when <= end
            and (settled is None or (settled == "sim") == invoice.paid)
        ]
        rows = self._sorted(rows, params)
        if params.get("limit"):
            rows = rows[: self._limit(params, default=0, most=10**9)]
        return _success(faturas=[self._receivable(invoice) for invoice in rows])

    def _receivable(self, invoice: FakeInvoice) -> dict[str, Any]:
        customer = self.data.customer(invoice.customer_code)
        paid_on = invoice.due_date if invoice.paid else None
        return {
            "id_fatura": int(invoice.id),
            "nosso_numero": invoice.id,
            "data_vencimento": invoice.due_date.isoformat(),
            "data_vencimento_br": f"{invoice.due_date:%d/%m/%Y}",
            "data_pagamento": paid_on.isoformat() if paid_on else None,
            "data_pagamento_br": f"{paid_on:%d/%m/%Y}" if paid_on else None,
            "valor": str(invoice.amount),
            "valor_pago": str(invoice.amount) if invoice.paid else None,
            "cliente": {
                "id_cliente": 20000 + int(invoice.customer_code),
                "codigo_cliente": int(invoice.customer_code),
                "nome_razaosocial": customer.name if customer else "",
                "cpf_cnpj": customer.document if customer else "",
                "telefone_primario": customer.mobile if customer else "",
                "ativo": True,
            },
        }

    def _pdf(self, token: str) -> Answer:
        try:
            invoice_id = base64.b64decode(base64.b64decode(token)).decode()
        except ValueError:
            return html(404, "404 Not Found")
        invoice = self.data.invoice(invoice_id)
        if invoice is None or invoice.paid:
            return html(404, "404 Not Found")
        return Answer(200, invoice.pdf, content_type="application/pdf")

    # ------------------------------------------------------------------ trust unlock

    def _desbloqueio(self, body: dict[str, Any]) -> Answer:
        service = str(body.get("id_cliente_servico", "")).strip()
        days = str(body.get("dias_desbloqueio", "1")).strip()
        if not service.isdigit() or int(service) <= 0:
            raise _Invalid("O campo id cliente servico deve ser um número inteiro maior que 0.")
        if not days.isdigit() or int(days) <= 0:
            raise _Invalid("O campo dias desbloqueio deve ser um número inteiro maior que 0.")
        if int(days) > self.unlock_max_days:
            return _error(
                f"O valor informado para os dias de desbloqueio ({days}) não é permitido, pois ultrapassa a "
                f"configuração pré-estabelecida (máximo de {self.unlock_max_days} dia(s))."
            )
        granted, reason, _until = self.data.trust_unlock(service)
        if not granted:
            return _error(reason)
        until = self.data.today + dt.timedelta(days=int(days))
        with self.data.lock:
            self.data.contract(service).trust_unlocked_until = until
        return json_answer(
            200,
            {"status": "success", "msg": f"Desbloqueio em confiança realizado com sucesso até a data {until:%d/%m/%Y}"},
        )

    # ------------------------------------------------------------------ parameters

    @staticmethod
    def _search(params: dict[str, str], allowed: tuple[str, ...]) -> tuple[str, str]:
        search, term = params.get("busca", ""), params.get("termo_busca", "")
        if search not in allowed:
            raise _Invalid("O campo busca selecionado é inválido.")
        if not term.strip():
            raise _Invalid("O campo termo busca é obrigatório.")
        return search, term

    @staticmethod
    def _limit(params: dict[str, str], *, default: int, most: int) -> int:
        given = params.get("limit", "")
        if not given:
            return default
        if not given.isdigit() or not 1 <= int(given) <= most:
            raise _Invalid(f"O campo limit deve estar entre 1 e {most}.")
        return int(given)

    @staticmethod
    def _date(params: dict[str, str], name: str) -> dt.date | None:
        given = params.get(name, "")
        if not given:
            return None
        try:
            return dt.date.fromisoformat(given[:10])
        except ValueError:
            raise _Invalid(f"O campo {name.replace('_', ' ')} não é uma data válida.") from None

    @staticmethod
    def _sorted(rows: list[FakeInvoice], params: dict[str, str]) -> list[FakeInvoice]:
        key = params.get("order_by") or "data_vencimento"
        reverse = params.get("order_type", "asc") == "desc"
        if key == "valor":
            return sorted(rows, key=lambda i: (i.amount, i.id), reverse=reverse)
        return sorted(rows, key=lambda i: (i.due_date, i.id), reverse=reverse)
