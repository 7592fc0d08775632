"""MK-Auth's API as the fake ERP answers it (``FakeErp(kind="mkauth")``), over the demo records.

The wire as MK-Auth's wiki (https://wiki.mk-auth.com.br/doku.php?id=api_token) and the integrations that
call it have it:

- ``GET /api/`` with HTTP Basic ``client_id:client_secret`` (the credentials' ``client_id`` and
  ``client_secret``) answers the raw JWT as plain text (HS512; claims ``usuario``, ``host``, ``iat``,
  ``exp``; it lasts ``token_seconds``, 600 as in the wiki's sample). Wrong credentials are HTTP 401.
- Every other ``/api/...`` route wants ``Authorization: Bearer <jwt>``: a missing, forged, expired or
  revoked one (``revoke_tokens()`` changes the signing key) is HTTP 401 with MK-Auth's ``{"mensagem"}``;
  an API user whose profile lacks the GET permission (``get_allowed = False``) gets HTTP 403.
- ``cliente/show/{cpf_cnpj|login|uuid}``: the customer's ``sis_cliente`` row (PPPoE ``senha`` included,
  never to be logged); several logins of one document come as a list; nothing found is the text
  ``NULL``. Documents are stored formatted and matched as digits or formatted (``exact_documents``:
  formatted only). ``show_envelope = "dados_cliente"`` wraps the row as some releases do.
- ``cliente/listar/pagina={n}?limite=...``: the customers page by page (1-based), as a raw list,
  ``{"clientes": [...]}`` or ``{"dados": [...]}`` (``listing_envelope``); ``page_cap`` answers fewer than
  asked, ``ignores_paging`` the first page every time, ``listing_route = "listagem"`` only the older
  unpaged ``cliente/listagem``.
- ``titulo/titulos/{cpf_cnpj}``: ``{"titulos": [...]}`` with paid ones too, or ``{"mensagem": "...
  não encontrado"}``; the PIX code under ``pix`` (``pix_key = "qrcode"``: as older releases). Title
  90005's wallet has no PIX; titles in ``deleted`` have ``deltitulo`` 1.
- ``titulo/listagem`` (``title_listing``: ``"listar"`` for ``titulo/listar``, None for neither): every
  title of every customer.
- ``cliente/desbloqueio/{uuid_cliente}``: the trust unlock under the demo records' rules; ``{"mensagem"}``
  either way. An unlocked login reads ``bloqueado`` "nao", ``observacao`` "sim" until ``rem_obs``.
- ``/boleto/21boleto.php?titulo=N``: the boleto as an HTML page, no authentication.
- Unknown ``/api`` routes are HTTP 404 ``{"mensagem"}``; ``fail = "error"``: HTTP 200 ``{"mensagem":
  "Erro ..."}`` (echoing the document asked, as MK-Auth's messages do).

The demo's contract states in MK-Auth's fields (``cli_ativado``, ``bloqueado``): MK-Auth's customer record
has no reduced, suspended or pending state. Reduced and pending logins are plain active ones, a
suspension is a block (how MK-Auth operators suspend), a cancellation a deactivated login.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
import uuid
from typing import Any
from urllib.parse import parse_qs, unquote

from fakes.erp.data import FakeCustomer, FakeInvoice
from fakes.erp.server import html
from fakes.server import Answer, Request, json_answer

API = "/api/"
BOLETO = "/boleto/21boleto.php"
SHOW = re.compile(r"^cliente/show/(.+)$")
PAGE = re.compile(r"^cliente/listar/pagina=(\d+)$")
TITLES = re.compile(r"^titulo/titulos/(.+)$")
UNLOCK = re.compile(r"^cliente/desbloqueio/(.+)$")
LOGINS = {
    "1001": "maria.silva",
    "1002": "joao.pereira",
    "1003": "mercadobompreco",
    "1004": "ana.souza",
    "1005": "carlos.lima",
    "1006": "pedro.alves",
    "1007": "oficinanovaera",
    "1008": "lucia.ramos",
}
# state → cli_ativado, bloqueado
CONTRACT_STATES = {
    "active": ("s", "nao"),
    "blocked": ("s", "sim"),
    "blocked_manual": ("s", "sim"),
    "reduced": ("s", "nao"),
    "suspended": ("s", "sim"),
    "cancelled": ("n", "nao"),
    "pending": ("s", "nao"),
}
NAMESPACE = uuid.UUID("6f1d1c1e-8b8e-4c55-9d8e-6d6b8f0a4b21")


def login_of(customer: FakeCustomer) -> str:
    """The demo customer's MK-Auth login (a customer a test adds gets ``cliente<code>``)."""
    return LOGINS.get(customer.code, f"cliente{customer.code}")


def uuid_of(customer: FakeCustomer) -> str:
    return str(uuid.uuid5(NAMESPACE, f"cliente-{customer.code}"))


def _formatted(document: str) -> str:
    d = document
    if len(d) not in (11, 14):
        return d  # MK-Auth keeps a record without a document, or with what was typed
    if len(d) == 11:
        return f"{d[:3]}.{d[3:6]}.{d[6:9]}-{d[9:]}"
    return f"{d[:2]}.{d[2:5]}.{d[5:8]}/{d[8:12]}-{d[12:]}"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _message(text: str, *, status: int = 200) -> Answer:
    return json_answer(status, {"mensagem": text})


class Handler:
    def __init__(self, server) -> None:
        self.server = server
        self.token_seconds = 600  # the wiki's sample token: exp - iat = 600
        self.get_allowed = True  # the API user's profile has the GET permission
        self.exact_documents = False
        self.show_envelope: str | None = None  # "dados_cliente"
        self.listing_envelope = "clientes"  # "list", "clientes" or "dados"
        self.listing_route = "listar"  # "listar" (paged) or "listagem" (unpaged, older)
        self.page_cap: int | None = None
        self.ignores_paging = False
        self.title_listing: str | None = "listagem"  # "listagem", "listar" or None
        self.pix_key = "pix"
        self.without_pix = {"90005"}
        self.deleted: set[str] = set()
        self._key = secrets.token_bytes(32)
        self._lock = threading.Lock()

    @property
    def data(self):
        return self.server.data

    def revoke_tokens(self) -> None:
        """Every token issued so far stops verifying (a new signing key)."""
        with self._lock:
            self._key = secrets.token_bytes(32)

    # ------------------------------------------------------------------ dispatch

    def answer(self, request: Request, raw: bytes) -> Answer:
        path, _, query = request.path.partition("?")
        params = {name: values[0] for name, values in parse_qs(query, keep_blank_values=True).items()}
        if path == BOLETO and request.method == "GET":
            return self._boleto(params.get("titulo", ""))
        if path.rstrip("/") != API.rstrip("/") and not path.startswith(API):
            return html(404, "404 Not Found")
        if request.method != "GET":
            return _message(f"Método {request.method} não permitido", status=405)
        route = path[len(API) :].strip("/")
        if not route:
            return self._token(request.authorization)
        if not self._verified(request.authorization):
            return _message("Token inválido ou expirado", status=401)
        if not self.get_allowed:
            return _message("Usuário sem permissão para o método GET", status=403)
        if found := SHOW.match(route):
            return self._show(unquote(found.group(1)))
        if (found := PAGE.match(route)) and self.listing_route == "listar":
            return self._page(int(found.group(1)), params)
        if route == "cliente/listagem" and self.listing_route == "listagem":
            return self._listing(self._rows(self.data.customers))
        if found := TITLES.match(route):
            return self._titulos(unquote(found.group(1)))
        if self.title_listing and route == f"titulo/{self.title_listing}":
            return json_answer(200, {"titulos": [self._titulo(i) for i in self.data.invoices]})
        if found := UNLOCK.match(route):
            return self._desbloqueio(unquote(found.group(1)))
        return _message("Rota não encontrada", status=404)

    def error(self, request: Request) -> Answer:
        asked = unquote(request.path.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1])
        if re.fullmatch(r"[\d./-]{11,18}", asked):
            return _message(f"Erro ao consultar {asked}: tente novamente mais tarde.")
        return _message("Erro interno do servidor: não foi possível processar a requisição.")

    # ------------------------------------------------------------------ the token

    def _token(self, header: str) -> Answer:
        scheme, _, encoded = header.partition(" ")
        try:
            client_id, _, secret = base64.b64decode(encoded.strip()).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            client_id, secret = "", ""
        credentials = self.server.credentials
        if scheme.lower() != "basic" or (client_id, secret) != (credentials.client_id, credentials.client_secret):
            return _message("Client_Id ou Client_Secret inválidos", status=401)
        now = time.time()
        head = _b64(json.dumps({"typ": "JWT", "alg": "HS512"}).encode())
        claims = {
            "usuario": hashlib.sha1(client_id.encode()).hexdigest(),  # noqa: S324 (an id in a claim, not a hash of a secret)
            "host": "127.0.0.1",
            "iat": round(now, 3),
            "exp": round(now + self.token_seconds, 3),
        }
        body = _b64(json.dumps(claims).encode())
        with self._lock:
            signature = _b64(hmac.new(self._key, f"{head}.{body}".encode(), hashlib.sha512).digest())
        return Answer(200, f"{head}.{body}.{signature}".encode(), content_type="text/html; charset=UTF-8")

    def _verified(self, header: str) -> bool:
        scheme, _, token = header.partition(" ")
        parts = token.strip().split(".")
        if scheme.lower() != "bearer" or len(parts) != 3:
            return False
        with self._lock:
            expected = _b64(hmac.new(self._key, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha512).digest())
        if not hmac.compare_digest(expected, parts[2]):
            return False
        try:
            claims = json.loads(_unb64(parts[1]))
        except ValueError:
            return False
        return time.time() < float(claims.get("exp", 0))

    # ------------------------------------------------------------------ customers

    def _matches(self, customer: FakeCustomer, asked: str) -> bool:
        return asked in (login_of(customer), uuid_of(customer)) or self._document_matches(customer, asked)

    def _document_matches(self, customer: FakeCustomer, asked: str) -> bool:
        if self.exact_documents:
            return asked == _formatted(customer.document)
        return re.sub(r"[^0-9A-Z]", "", asked.upper()) == customer.document

    def _show(self, asked: str) -> Answer:
        found = [self._cliente(c) for c in self.data.customers if self._matches(c, asked)]
        if not found:
            return Answer(200, b"NULL", content_type="text/html; charset=UTF-8")
        payload: Any = found[0] if len(found) == 1 else found
        if self.show_envelope:
            payload = {self.show_envelope: payload}
        return json_answer(200, payload)

    def _cliente(self, customer: FakeCustomer) -> dict[str, Any]:
        contracts = self.data.contracts_of(customer.code)
        contract = contracts[0] if contracts else None
        active, blocked = CONTRACT_STATES[contract.state] if contract else ("s", "nao")
        unlocked = contract is not None and contract.trust_unlocked_until is not None and blocked == "nao"
        overdue = [i for i in self.data.invoices_of(customer.code) if i.due_date < self.data.today]
        return {
            "id": int(customer.code),
            "uuid_cliente": uuid_of(customer),
            "login": login_of(customer),
            "senha": f"pppoe-{customer.code}",  # MK-Auth returns the PPPoE password: never to be logged
            "nome": customer.name,
            "cpf_cnpj": _formatted(customer.document),
            "email": customer.email,
            "celular": customer.mobile or customer.whatsapp,
            "fone": customer.landline,
            "zap": "sim" if customer.whatsapp else "nao",
            "plano": contract.plan if contract else "",
            "tipo": "pppoe",
            "cli_ativado": active,
            "bloqueado": blocked,
            "observacao": "sim" if unlocked else "nao",
            "rem_obs": f"{contract.trust_unlocked_until} 23:59:59" if unlocked else None,
            "data_desativacao": f"{self.data.today.replace(day=1)} 10:00:00" if active == "n" else None,
            "venc": "10",
            "tit_vencidos": len(overdue),
            "cadastro": "2023-03-01",
            "endereco": "Avenida Brasil",
            "numero": customer.code[-3:],
            "bairro": "Zona 01",
            "cidade": "Maringá",
            "estado": "PR",
            "cep": "87013-000",
        }

    def _rows(self, customers: list[FakeCustomer]) -> list[dict[str, Any]]:
        return [self._cliente(c) for c in customers]

    def _listing(self, rows: list[dict[str, Any]]) -> Answer:
        if self.listing_envelope == "list":
            return json_answer(200, rows)
        return json_answer(200, {self.listing_envelope: rows})

    def _page(self, page: int, params: dict[str, str]) -> Answer:
        try:
            limit = max(int(params.get("limite", "50")), 1)
        except ValueError:
            limit = 50
        if self.page_cap:
            limit = min(limit, self.page_cap)
        start = 0 if self.ignores_paging else (max(page, 1) - 1) * limit
        return self._listing(self._rows(self.data.customers[start : start + limit]))

    # ------------------------------------------------------------------ titles

    def _titulos(self, asked: str) -> Answer:
        owners = [c for c in self.data.customers if self._document_matches(c, asked)]
        if not owners:
            return _message("CPF/CNPJ não encontrado")
        codes = {c.code for c in owners}
        rows = [self._titulo(i) for i in self.data.invoices if i.customer_code in codes]
        return json_answer(200, {"titulos": rows})

    def _titulo(self, invoice: FakeInvoice) -> dict[str, Any]:
        customer = self.data.customer(invoice.customer_code)
        contract = self.data.contract(invoice.contract_id)
        active, blocked = CONTRACT_STATES[contract.state] if contract else ("s", "nao")
        overdue = not invoice.paid and invoice.due_date < self.data.today
        return {
            "titulo": int(invoice.id),
            "uuid_lanc": str(uuid.uuid5(NAMESPACE, f"lanc-{invoice.id}")),
            "uuid_cliente": uuid_of(customer),
            "login": login_of(customer),
            "nome": customer.name,
            "cpf_cnpj": _formatted(customer.document),
            "cli_ativado": active,
            "bloqueado": blocked,
            "datavenc": invoice.due_date.isoformat(),
            "datapag": invoice.due_date.isoformat() if invoice.paid else None,
            "valor": f"{invoice.amount:.2f}",
            "valorpag": f"{invoice.amount:.2f}" if invoice.paid else None,
            "status": "pago" if invoice.paid else "vencido" if overdue else "aberto",
            "linhadig": invoice.digitable_line,
            self.pix_key: "" if invoice.id in self.without_pix else invoice.pix_code,
            "nossonum": invoice.id,
            "tipocob": "boleto",
            "referencia": f"{invoice.due_date:%m/%Y}",
            "descricao": contract.plan if contract else "Mensalidade",
            "deltitulo": 1 if invoice.id in self.deleted else 0,
        }

    def _boleto(self, title: str) -> Answer:
        invoice = self.data.invoice(title)
        if invoice is None or invoice.paid:
            return html(404, "Título não encontrado")
        page = (
            f"<html><head><title>Boleto {invoice.id}</title></head><body><h1>PROVEDOR DEMO</h1>"
            f"<p>Vencimento {invoice.due_date:%d/%m/%Y} - R$ {invoice.amount}</p>"
            f"<p class='linha'>{invoice.digitable_line}</p></body></html>"
        )
        return Answer(200, page.encode(), content_type="text/html; charset=UTF-8")

    # ------------------------------------------------------------------ trust unlock

    def _desbloqueio(self, asked: str) -> Answer:
        customer = next((c for c in self.data.customers if uuid_of(c) == asked), None)
        if customer is None:
            return _message("Cliente não encontrado")
        contracts = self.data.contracts_of(customer.code)
        if not contracts:
            return _message("Cliente não está bloqueado")
        granted, reason, _until = self.data.trust_unlock(contracts[0].id)
        if not granted:
            return _message(reason)
        return _message("Cliente desbloqueado com sucesso")
