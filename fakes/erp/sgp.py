"""SGP (TSMX)'s URA API as the fake ERP answers it (``FakeErp(kind="sgp")``), over the demo records.

The wire as TSMX documents it (https://bookstack.sgp.net.br/books/api and the URA Postman collection,
https://documenter.getpostman.com/view/6682240/2sB34hHg2V), with the answers integrations have captured:

- ``POST /api/ura/<service>/`` with ``app`` and ``token`` in the body, as form data or JSON (the fake reads
  both); the app is the credentials' ``username`` and is case-sensitive. A wrong pair is HTTP 403
  ``{"detail": "Credenciais de autenticação incorretas."}``. A GET of the API is 405, anything else the
  panel's HTML login page with HTTP 200 (what a pasted ``/admin/`` URL gets).
- ``clientes``: filters ``cliente_id``, ``cpfcnpj``, ``telefone``, ``contrato``; ``offset`` / ``limit`` (at
  most 100); contacts as ``contatos.{celulares,telefones,emails}``. How SGP matches ``telefone`` is not
  documented: the fake finds the digits asked inside a contact's digits.
- ``consultacliente``: ``cpfcnpj`` or ``contrato`` → ``contratos[]`` (``contratoId``, ``clienteId``,
  ``razaoSocial``, ``telefones[{tipoContato, contato}]``, ``contratoStatus`` + ``contratoStatusDisplay`` +
  ``motivo_status``, and the ``servico_senha`` / ``contratoCentralSenha`` SGP returns and nobody may log).
  Documents are stored formatted and matched as digits or formatted (``exact_documents``: formatted only).
- ``titulos``: ``cliente_id``, ``cpfcnpj``, ``contrato``, ``titulo_id``, ``status`` (abertos|pagos|cancelados),
  ``data_vencimento_inicio/fim``, ``ordenar``; ``offset`` / ``limit`` (at most 250, or ``page_cap``); keys
  in camelCase (``title_keys``: "snake" or "lower" as other releases have them). Title 90004 was issued
  just now: no ``linhaDigitavel`` yet. Titles name their contract, not their client (``with_client_id``).
- ``fatura2via``: by ``contrato`` (a CPF with several contracts is refused); opens a ticket (``tickets``)
  unless ``nao_gerar_os=1``; ``link_pdf=1`` gives the PDF's link (``/boleto/<id>-<key>.pdf``, served).
- ``pagamento/pix/{id}``: generates the PIX of 90003 (none before it is asked); 90005's wallet has none.
- ``liberacaopromessa``: ``status`` 1 with ``liberado_dias``; 0 with SGP's words; 2 when the month's
  allowance is used up.
- ``fail = "error"``: SGP's ``{"status": 0, "msg": ...}`` (echoing the CPF/CNPJ asked, as its messages do).
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any
from urllib.parse import parse_qs

from fakes.erp.data import FakeContract, FakeCustomer, FakeInvoice
from fakes.erp.server import html
from fakes.server import Answer, Request, json_answer

PREFIX = "/api/ura/"
SERVICES = ("clientes", "consultacliente", "titulos", "fatura2via", "liberacaopromessa")
PIX = re.compile(r"^pagamento/pix/(\d+)$")
BOLETO = re.compile(r"^/boleto/(\d+)-([0-9A-Z]+)(\.pdf|/)?$")
# state → contratoStatus, contratoStatusDisplay, motivo_status
CONTRACT_STATES = {
    "active": (1, "Ativo", ""),
    "blocked": (4, "Suspenso", "Financeiro"),
    "blocked_manual": (4, "Bloqueado", "Administrativo"),
    "reduced": (7, "Ativo V. Reduzida", "Financeiro"),
    "suspended": (4, "Suspenso", "Solicitação do Cliente"),
    "cancelled": (3, "Cancelado", "Mudança de Endereço"),
    "pending": (6, "Novo", ""),
}
USED_UP = "O recurso de promessa de pagamento já atingiu quantidade permitida. Recurso não disponível"
LOGIN_PAGE = "<html><head><title>SGP - Login</title></head><body><form action='/accounts/login/'>Usuário</form></body>"


def sent_fields(request: Request) -> dict[str, str]:
    """The fields a request to the fake carried, JSON or form alike (for the tests' assertions)."""
    if isinstance(request.body, dict):
        return {name: str(value) for name, value in request.body.items()}
    return {name: values[-1] for name, values in parse_qs(str(request.body or ""), keep_blank_values=True).items()}


def _formatted(document: str) -> str:
    d = document
    if len(d) == 11:
        return f"{d[:3]}.{d[3:6]}.{d[6:9]}-{d[9:]}"
    return f"{d[:2]}.{d[2:5]}.{d[5:8]}/{d[8:12]}-{d[12:]}"


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text or "")


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _error(message: str) -> Answer:
    return json_answer(200, {"status": 0, "msg": message})


def _key(invoice_id: str) -> str:
    """The unguessable part of a boleto's link."""
    return hashlib.sha256(f"boleto-{invoice_id}".encode()).hexdigest()[:10].upper()


class Handler:
    def __init__(self, server) -> None:
        self.server = server
        self.exact_documents = False  # True: cpfcnpj matches only as stored (formatted)
        self.title_keys = "camel"  # "snake" (linha_digitavel) or "lower" (linhadigitavel), as releases differ
        self.with_client_id = False  # True: titles name their client (clienteId) too
        self.page_cap: int | None = None  # SGP's own cap on a page, below the limit asked
        self.unprinted = {"90004"}  # issued just now: no linhaDigitavel in titulos yet
        self.pix_on_request = {"90003"}  # no PIX until pagamento/pix generates it
        self.without_pix = {"90005"}  # a wallet without PIX
        self.tickets: list[str] = []  # contracts fatura2via opened a ticket for (nao_gerar_os missing)

    @property
    def data(self):
        return self.server.data

    # ------------------------------------------------------------------ dispatch

    def answer(self, request: Request, raw: bytes) -> Answer:
        path = request.path.split("?", 1)[0]
        boleto = BOLETO.match(path)
        if boleto and request.method == "GET":
            return self._boleto(*boleto.groups())
        if not path.startswith(PREFIX):
            return Answer(200, LOGIN_PAGE.encode(), content_type="text/html; charset=utf-8")
        if request.method != "POST":
            return json_answer(405, {"detail": f'Método "{request.method}" não é permitido.'})
        fields = self._fields(request, raw)
        credentials = self.server.credentials
        if fields.get("app") != credentials.username or fields.get("token") != credentials.token:
            return json_answer(403, {"detail": "Credenciais de autenticação incorretas."})
        service = path[len(PREFIX) :].strip("/")
        if pix := PIX.match(service):
            return self._pix(pix.group(1), fields)
        if service not in SERVICES:
            return html(404, "Page not found (404)")
        return getattr(self, f"_{service}")(fields)

    def error(self, request: Request) -> Answer:
        document = sent_fields(request).get("cpfcnpj", "")
        if document:
            return _error(f"Não foi possível consultar o CPF/CNPJ {document}: erro interno, tente mais tarde.")
        return _error("Ocorreu um erro interno ao processar a requisição. Tente novamente mais tarde.")

    @staticmethod
    def _fields(request: Request, raw: bytes) -> dict[str, str]:
        if "json" in request.headers.get("content-type", ""):
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                return {}
            return {name: str(value) for name, value in body.items()} if isinstance(body, dict) else {}
        pairs = parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True)
        return {name: values[-1] for name, values in pairs.items()}

    def _document_matches(self, customer: FakeCustomer, asked: str) -> bool:
        stored = _formatted(customer.document)
        if self.exact_documents:
            return asked.strip().upper() == stored
        return re.sub(r"[^0-9A-Z]", "", asked.upper()) == customer.document

    def _page(self, rows: list[dict[str, Any]], fields: dict[str, str], *, most: int) -> tuple[list, dict[str, int]]:
        offset, limit = _number(fields.get("offset"), 0), min(_number(fields.get("limit"), most) or most, most)
        if self.page_cap:
            limit = min(limit, self.page_cap)
        shown = rows[offset : offset + limit]
        return shown, {"offset": offset, "limit": limit, "parcial": len(shown), "total": len(rows)}

    # ------------------------------------------------------------------ customers and contracts

    def _clientes(self, fields: dict[str, str]) -> Answer:
        customers = list(self.data.customers)
        if fields.get("cliente_id"):
            customers = [c for c in customers if c.code == fields["cliente_id"]]
        if fields.get("cpfcnpj"):
            customers = [c for c in customers if self._document_matches(c, fields["cpfcnpj"])]
        if fields.get("telefone"):
            asked = _digits(fields["telefone"])
            customers = [c for c in customers if asked and any(asked in _digits(t) for t in _phones(c))]
        if fields.get("contrato"):
            owner = self.data.contract(fields["contrato"])
            customers = [c for c in customers if owner is not None and owner.customer_code == c.code]
        shown, paging = self._page(customers, fields, most=100)
        omit_contracts = fields.get("omitir_contratos", "") not in ("", "0")
        return json_answer(200, {"paginacao": paging, "clientes": [self._cliente(c, omit_contracts) for c in shown]})

    def _cliente(self, customer: FakeCustomer, omit_contracts: bool) -> dict[str, Any]:
        row: dict[str, Any] = {
            "id": int(customer.code),
            "nome": customer.name,
            "nomeSocial": "",
            "cpfcnpj": _formatted(customer.document),
            "tipoPessoa": "J" if customer.is_company else "F",
            "dataCadastro": self.data.today.replace(day=1).isoformat(),
            "contatos": {
                "celulares": [t for t in (customer.whatsapp, customer.mobile) if t],
                "telefones": [customer.landline] if customer.landline else [],
                "emails": [customer.email] if customer.email else [],
            },
        }
        if not omit_contracts:
            row["contratos"] = [
                {"contrato": int(c.id), "status": CONTRACT_STATES[c.state][1]}
                for c in self.data.contracts_of(customer.code)
            ]
        return row

    def _consultacliente(self, fields: dict[str, str]) -> Answer:
        if not fields.get("cpfcnpj") and not fields.get("contrato"):
            return _error("CPF/CNPJ ou Contrato ID Não informados")
        contracts = list(self.data.contracts)
        if fields.get("cpfcnpj"):
            owners = {c.code for c in self.data.customers if self._document_matches(c, fields["cpfcnpj"])}
            contracts = [c for c in contracts if c.customer_code in owners]
        if fields.get("contrato"):
            contracts = [c for c in contracts if c.id == fields["contrato"]]
        if not contracts:
            return json_answer(200, {"msg": "Nenhum contrato localizado", "contratos": []})
        return json_answer(
            200, {"msg": "Contrato(s) Localizado(s)", "contratos": [self._contrato(c) for c in contracts]}
        )

    def _contrato(self, contract: FakeContract) -> dict[str, Any]:
        customer = self.data.customer(contract.customer_code)
        number, display, reason = CONTRACT_STATES[contract.state]
        contacts = [
            {"tipoContato": kind, "contato": value}
            for kind, value in (
                ("WhatsApp Número", customer.whatsapp),
                ("Celular Pessoal", customer.mobile),
                ("Telefone Residencial", customer.landline),
            )
            if value
        ]
        open_invoices = [i for i in self.data.invoices_of(contract.customer_code) if i.contract_id == contract.id]
        return {
            "contratoId": int(contract.id),
            "clienteId": int(contract.customer_code),
            "razaoSocial": customer.name,
            "cpfCnpj": _formatted(customer.document),
            "telefones": contacts,
            "emails": [{"tipoContato": "E-Mail", "contato": customer.email}] if customer.email else [],
            "contratoStatus": number,
            "contratoStatusDisplay": display,
            "motivo_status": reason,
            "planointernet": contract.plan,
            "servico_plano": contract.plan.upper(),
            "servico_login": f"cliente{contract.customer_code}",
            "servico_senha": f"pppoe-{contract.id}",  # SGP returns the PPPoE password: never to be logged
            "contratoCentralLogin": customer.document,
            "contratoCentralSenha": f"central{contract.id}",  # the subscriber area's password, likewise
            "cobVencimento": 10,
            "contratoValorAberto": float(sum(i.amount for i in open_invoices)),
            "contratoTitulosAReceber": len(open_invoices),
            "endereco_logradouro": "Avenida Brasil",
            "endereco_numero": contract.customer_code[-3:],
            "endereco_bairro": "Zona 01",
            "endereco_cidade": "Maringá",
            "endereco_uf": "PR",
            "popNome": "POP Centro",
        }

    # ------------------------------------------------------------------ invoices

    def _titulos(self, fields: dict[str, str]) -> Answer:
        invoices = list(self.data.invoices)
        status = fields.get("status", "")
        if status == "abertos":
            invoices = [i for i in invoices if not i.paid]
        elif status == "pagos":
            invoices = [i for i in invoices if i.paid]
        elif status == "cancelados":
            invoices = []
        elif status:
            return _error("Status inválido. Escolhas: 'abertos'; 'pagos'; 'cancelados'")
        for name, attribute in (("titulo_id", "id"), ("cliente_id", "customer_code"), ("contrato", "contract_id")):
            if fields.get(name):
                invoices = [i for i in invoices if getattr(i, attribute) == fields[name]]
        if fields.get("cpfcnpj"):
            owners = {c.code for c in self.data.customers if self._document_matches(c, fields["cpfcnpj"])}
            invoices = [i for i in invoices if i.customer_code in owners]
        start, end = fields.get("data_vencimento_inicio", ""), fields.get("data_vencimento_fim", "")
        if bool(start) != bool(end):
            return _error("Informe data_vencimento_inicio e data_vencimento_fim juntas")
        if start:
            invoices = [i for i in invoices if start <= i.due_date.isoformat() <= end]
        descending = fields.get("ordenar_ordem") == "desc"
        if fields.get("ordenar") == "data_vencimento":
            invoices.sort(key=lambda i: (i.due_date, i.id), reverse=descending)
        else:
            invoices.sort(key=lambda i: int(i.id), reverse=descending)
        shown, paging = self._page(invoices, fields, most=250)
        return json_answer(200, {"paginacao": paging, "titulos": [self._titulo(i) for i in shown]})

    def _titulo(self, invoice: FakeInvoice) -> dict[str, Any]:
        customer = self.data.customer(invoice.customer_code)
        row: dict[str, Any] = {
            "id": int(invoice.id),
            "numeroDocumento": int(invoice.id),
            "clienteContrato": int(invoice.contract_id),
            "clienteNome": customer.name,
            "clienteCpfcnpj": _formatted(customer.document),
            "portador": 3,
            "status": "pago" if invoice.paid else "aberto",
            "dataDocumento": invoice.due_date.replace(day=1).isoformat(),
            "dataVencimento": invoice.due_date.isoformat(),
            "dataPagamento": invoice.due_date.isoformat() if invoice.paid else None,
            "valor": float(invoice.amount),
            "valorCorrigido": float(invoice.amount),
            "valorPago": float(invoice.amount) if invoice.paid else 0.0,
            "linhaDigitavel": "" if invoice.id in self.unprinted else invoice.digitable_line,
            "codigoBarras": invoice.barcode,
            "codigoPix": self._pix_code(invoice),
            "link": self._link(invoice),
            "link_cobranca": f"{self.server.url}/public/cobranca/{invoice.id}-{_key(invoice.id)}/",
        }
        if self.with_client_id:
            row["clienteId"] = int(invoice.customer_code)
        if self.title_keys == "snake":
            return {_snake(name): value for name, value in row.items()}
        if self.title_keys == "lower":
            return {name.lower().replace("_", ""): value for name, value in row.items()}
        return row

    def _pix_code(self, invoice: FakeInvoice) -> str:
        return "" if invoice.id in self.without_pix | self.pix_on_request else invoice.pix_code

    def _link(self, invoice: FakeInvoice, *, pdf: bool = False) -> str:
        return f"{self.server.url}/boleto/{invoice.id}-{_key(invoice.id)}{'.pdf' if pdf else ''}"

    def _fatura2via(self, fields: dict[str, str]) -> Answer:
        if fields.get("contrato"):
            contract = self.data.contract(fields["contrato"])
            if contract is None:
                return _error("Contrato não encontrado")
        elif fields.get("cpfcnpj"):
            owners = [c for c in self.data.customers if self._document_matches(c, fields["cpfcnpj"])]
            contracts = [k for c in owners for k in self.data.contracts_of(c.code)]
            if len(contracts) > 1:
                return _error("Há mais de um contrato para o CPF/CNPJ informado. Favor informar o id do contrato")
            if not contracts:
                return _error("Cliente não encontrado")
            contract = contracts[0]
        else:
            return _error("CPF/CNPJ ou Contrato ID Não informados")
        if fields.get("nao_gerar_os") != "1":
            self.tickets.append(contract.id)  # "Solicitação de 2ª via" opened in SGP's tickets
        invoices = [i for i in self.data.invoices_of(contract.customer_code) if i.contract_id == contract.id]
        if fields.get("faturas_abertas_todas") != "1":
            invoices = invoices[:1]
        pdf = fields.get("link_pdf") == "1"
        links = [
            {
                "id": invoice.id,
                "fatura": invoice.id,
                "vencimento": max(invoice.due_date, self.data.today).isoformat(),  # reissued as of today
                "vencimento_original": invoice.due_date.isoformat(),
                "valor": float(invoice.amount),
                "linhadigitavel": invoice.digitable_line,
                "codigopix": self._pix_code(invoice),
                "link": self._link(invoice, pdf=pdf),
            }
            for invoice in invoices
        ]
        return json_answer(200, {"status": 1 if links else 0, "links": links})

    def _pix(self, invoice_id: str, fields: dict[str, str]) -> Answer:
        invoice = self.data.invoice(invoice_id)
        if invoice is None or invoice.paid:
            return _error("Título não encontrado ou já liquidado")
        if fields.get("contrato") != invoice.contract_id:
            return _error("O título não pertence ao contrato informado")
        if invoice.id in self.without_pix:
            return _error("O portador do título não possui PIX habilitado")
        self.pix_on_request.discard(invoice.id)  # generated: titulos shows it from now on
        return json_answer(200, {"status": 1, "msg": "Dados do Pix", "pix": invoice.pix_code})

    def _boleto(self, invoice_id: str, key: str, ending: str | None) -> Answer:
        invoice = self.data.invoice(invoice_id)
        if invoice is None or key != _key(invoice_id) or invoice.paid:
            return html(404, "Page not found (404)")
        if ending == ".pdf":
            return Answer(200, invoice.pdf, content_type="application/pdf")
        page = f"<html><body><h1>Boleto {invoice.id}</h1><p>{invoice.digitable_line}</p></body></html>"
        return Answer(200, page.encode(), content_type="text/html; charset=utf-8")

    # ------------------------------------------------------------------ trust unlock

    def _liberacaopromessa(self, fields: dict[str, str]) -> Answer:
        contract = self.data.contract(fields.get("contrato", ""))
        if contract is None:
            return _error("Contrato não encontrado")
        customer = self.data.customer(contract.customer_code)
        granted, reason, until = self.data.trust_unlock(contract.id)
        common = {
            "razaoSocial": customer.name,
            "cpfCnpj": _formatted(customer.document),
            "contratoId": int(contract.id),
        }
        if granted:
            days = (until - self.data.today).days
            message = (
                f"Liberação via URA -\nServiço ID: {contract.id}, Login: cliente{contract.customer_code}\n"
                "Motivo: Promessa de Pagamento\n"
            )
            protocol = f"{self.data.today:%y%m%d}{contract.id}"
            return json_answer(
                200,
                {"status": 1, "liberado": True, "liberado_dias": days, "protocolo": protocol, **common, "msg": message},
            )
        if "já utilizado" in reason:
            return json_answer(200, {"status": 2, "liberado": False, **common, "msg": USED_UP})
        return json_answer(200, {"status": 0, "liberado": False, **common, "msg": reason})


def _phones(customer: FakeCustomer) -> list[str]:
    return [t for t in (customer.whatsapp, customer.mobile, customer.landline) if t]


def _number(value: Any, default: int) -> int:
    try:
        return max(int(str(value)), 0)
    except ValueError:
        return default
