"""RouterBox (RBX ISP)'s two web services as the fake ERP answers them (``FakeErp(kind="routerbox")``).

The wire as RBXSoft documents it (https://www.developers.rbxsoft.com/ and /v2/):

- v1, ``POST /routerbox/ws/rbx_server_json.php``: ``{"<Servico>": {"Autenticacao": {"ChaveIntegracao":
  <token>}, "Filtro": "..."}}`` for ``ConsultaClientes``, ``ConsultaContratos``,
  ``ConsultaClientesReducao``, ``ConsultaDocumentosAbertos`` and ``ConsultaLinhaDigitavelBoleto``.
  ``Filtro`` is evaluated as RouterBox's SQL-like expression: comparisons (``= <> != < > <= >= LIKE``)
  of a column with a quoted text or a number, joined by ``AND`` / ``OR``, in parentheses or not. An
  unknown column is ``Erro(165)``; nothing found is ``erro_code`` 1; a wrong key ``erro_code`` 97.
- v2, ``POST /routerbox/ws_json/ws_json.php`` with the header ``authentication_key``:
  ``get_unpaid_document``, ``get_banking_billet`` (a link the fake serves, and the PDF in base64),
  ``get_barcode`` (error 6 for a due date in the past), ``get_pix_copia_cola`` (error 16 for invoice
  90005, which has no PIX) and ``contract_unblock`` (error 10 unless the contract is blocked).
  RouterBox's wording for a refused v2 key is not public: the fake answers error 2 "Invalid
  authentication_key!".
- ``v2_available = False`` makes v2 answer HTTP 404, as a RouterBox without it does; ``v2_services``
  lists the services its v2 has (any other: "Service ... does not exist!").
- ``document_field`` names the customers' document column: ``CNPJ_CNPF`` (as the docs' example) or
  ``CPF_CNPJ`` (as other versions); a Filtro on the other name is ``Erro(165)``.
- Contracts: ``Situacao_Codigo`` A Ativo, B Bloqueado, S Suspenso, C Cancelado (the docs show A only;
  the other letters are the fake's) and "Aguardando Instalação" for one not yet installed; a reduced
  contract stays "Ativo" and is listed by ``ConsultaClientesReducao``.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from fakes.erp.data import FakeContract, FakeCustomer, FakeInvoice
from fakes.erp.server import html
from fakes.server import Answer, Request, json_answer

V1_PATH = "/routerbox/ws/rbx_server_json.php"
V2_PATH = "/routerbox/ws_json/ws_json.php"
PDF_LINK = re.compile(r"^/routerbox/tmp/boleto_(\d+)\.pdf$")
V2_SERVICES = frozenset(
    {"get_unpaid_document", "get_banking_billet", "get_barcode", "get_pix_copia_cola", "contract_unblock"}
)
CONTRACT_STATES = {
    "active": ("A", "Ativo"),
    "blocked": ("B", "Bloqueado"),
    "blocked_manual": ("B", "Bloqueado"),
    "reduced": ("A", "Ativo"),
    "suspended": ("S", "Suspenso"),
    "cancelled": ("C", "Cancelado"),
    "pending": ("I", "Aguardando Instalação"),
}
# Filtro columns that are named otherwise in the answer (the docs filter open documents by "Cliente").
FILTER_ALIASES = {"ConsultaDocumentosAbertos": {"Cliente": "CliFor"}}
_TOKENS = re.compile(r"\s*(?:('(?:[^']|'')*')|(-?\d+(?:\.\d+)?)|(<>|!=|<=|>=|=|<|>)|([()])|([A-Za-z_][A-Za-z0-9_.]*))")


class _Refused(Exception):
    def __init__(self, code: int, description: str, detail: str = "") -> None:
        super().__init__(description)
        self.code, self.description, self.detail = code, description, detail


def _v1_answer(result: Any) -> Answer:
    envelope = {"status": 1, "erro_code": "", "erro_inf": "", "erro_desc": "", "erro_detail": "", "result": result}
    return json_answer(200, envelope)


def _v1_error(code: int, description: str, detail: str = "") -> Answer:
    envelope = {"status": 0, "erro_code": code, "erro_inf": "", "erro_desc": description, "erro_detail": detail}
    return json_answer(200, {**envelope, "result": ""})


def _v2_answer(result: Any) -> Answer:
    return json_answer(200, {"status": 1, "error_code": 0, "error_description": "", "result": result})


def _v2_error(code: int, description: str) -> Answer:
    return json_answer(200, {"status": 0, "error_code": code, "error_description": description, "result": ""})


class Handler:
    def __init__(self, server) -> None:
        self.server = server
        self.v2_available = True
        self.v2_services: set[str] = set(V2_SERVICES)
        self.document_field = "CNPJ_CNPF"
        self.without_pix = {"90005"}

    @property
    def data(self):
        return self.server.data

    def answer(self, request: Request, raw: bytes) -> Answer:
        path = request.path.split("?", 1)[0]
        link = PDF_LINK.match(path)
        if link and request.method == "GET":
            invoice = self.data.invoice(link.group(1))
            if invoice is None or invoice.paid:
                return html(404, "404 Not Found")
            return Answer(200, invoice.pdf, content_type="application/pdf")
        if path == V1_PATH:
            return self._v1(request.body)
        if path == V2_PATH and self.v2_available:
            return self._v2(request)
        return html(404, "404 Not Found")

    def error(self, request: Request) -> Answer:
        if request.path.split("?", 1)[0] == V1_PATH:
            return _v1_error(98, "Erro interno", "Nao foi possivel processar a requisicao")
        return _v2_error(12, "Internal Server Error!")

    # ------------------------------------------------------------------ v1

    def _v1(self, body: Any) -> Answer:
        if not isinstance(body, dict) or len(body) != 1:
            return _v1_error(2, "Requisicao invalida", "JSON")
        service, fields = next(iter(body.items()))
        fields = fields if isinstance(fields, dict) else {}
        key = (
            (fields.get("Autenticacao") or {}).get("ChaveIntegracao")
            if isinstance(fields.get("Autenticacao"), dict)
            else None
        )
        if key != self.server.credentials.token:
            return _v1_error(97, "Erro de integracao", "Chave de integracao invalida ou inativa")
        try:
            if service == "ConsultaLinhaDigitavelBoleto":
                rows = self._line_v1(fields.get("DadosLinhaDigitavelEntrada"))
            else:
                rows = self._query(service, str(fields.get("Filtro") or ""))
        except _Refused as exc:
            return _v1_error(exc.code, exc.description, exc.detail)
        if not rows:
            return _v1_error(1, "A consulta nao retornou resultados")
        return _v1_answer(rows)

    def _query(self, service: str, condition: str) -> list[dict[str, str]]:
        tables = {
            "ConsultaClientes": lambda: [self._cliente(c) for c in self.data.customers],
            "ConsultaContratos": lambda: [self._contrato(c) for c in self.data.contracts],
            "ConsultaClientesReducao": lambda: [self._reducao(c) for c in self.data.contracts if c.state == "reduced"],
            "ConsultaDocumentosAbertos": lambda: [self._documento(i) for i in self.data.invoices if not i.paid],
        }
        if service not in tables:
            raise _Refused(3, "Servico nao encontrado", service)
        rows = tables[service]()
        if not condition.strip():
            return rows
        test = _Filter(condition, FILTER_ALIASES.get(service, {}), rows[0].keys() if rows else ())
        return [row for row in rows if test.matches(row)]

    def _line_v1(self, entry: Any) -> list[dict[str, str]]:
        entry = entry if isinstance(entry, dict) else {}
        invoice = self.data.invoice(str(entry.get("Documento", "")))
        if invoice is None or invoice.paid or str(entry.get("CliFor", "")) != invoice.customer_code:
            raise _Refused(1, "Documento nao localizado")
        return [{"LinhaDigitavel": invoice.digitable_line}]

    def _cliente(self, customer: FakeCustomer) -> dict[str, str]:
        return {
            "Codigo": customer.code,
            "Tipo": "J" if customer.is_company else "F",
            self.document_field: customer.document,
            "Nome": customer.name,
            "Endereco": "Rua Presidente Nereu Ramos",
            "Numero": customer.code[-3:],
            "Bairro": "Centro",
            "Cidade": "Maringá",
            "UF": "PR",
            "CEP": "87013000",
            "TelComercial": customer.whatsapp,
            "TelResidencial": customer.landline,
            "TelCelular": customer.mobile,
            "Situacao": "A",
            "Bloqueavel": "S",
            "Email": customer.email,
        }

    def _contrato(self, contract: FakeContract) -> dict[str, str]:
        code, description = CONTRACT_STATES[contract.state]
        customer = self.data.customer(contract.customer_code)
        return {
            "Cliente_Codigo": contract.customer_code,
            "Cliente_Nome": customer.name if customer else "",
            "Numero": contract.id,
            "Plano_Codigo": "1",
            "Plano_Descricao": contract.plan,
            "Situacao_Codigo": code,
            "Situacao_Descricao": description,
            "Assinatura": self.data.today.replace(day=1).isoformat(),
            "Cliente_CPF_CNPJ": customer.document if customer else "",
        }

    def _reducao(self, contract: FakeContract) -> dict[str, str]:
        customer = self.data.customer(contract.customer_code)
        return {
            "Regra": "3",
            "Cliente_Codigo": contract.customer_code,
            "Cliente_Nome": customer.name if customer else "",
            "Contrato_Numero": contract.id,
            "Contrato_Descricao": contract.plan,
        }

    def _documento(self, invoice: FakeInvoice) -> dict[str, str]:
        customer = self.data.customer(invoice.customer_code)
        return {
            "Conta": "3",
            "Vencimento": invoice.due_date.isoformat(),
            "Documento": invoice.id,
            "Historico": "Documento a Receber",
            "Origem": "FAT",
            "Valor": f"{invoice.amount:.2f}",
            "Tipo": "C",
            "CliFor": invoice.customer_code,
            "Nome": customer.name if customer else "",
            "CPF_CNPJ": customer.document if customer else "",
            "Banco": "341",
            "NossoNumero": invoice.id,
            "ContratosVinculados": invoice.contract_id,
            "Sequencia": invoice.id,
            "RegistradoNoBanco": "S",
        }

    # ------------------------------------------------------------------ v2

    def _v2(self, request: Request) -> Answer:
        if request.headers.get("authentication_key") != self.server.credentials.token:
            return _v2_error(2, "Invalid authentication_key!")
        body = request.body
        if not isinstance(body, dict) or len(body) != 1:
            return _v2_error(1, "Invalid request!")
        service, payload = next(iter(body.items()))
        if service not in self.v2_services:
            return _v2_error(1, f"Service {service} does not exist!")
        payload = payload if isinstance(payload, dict) else {}
        try:
            return _v2_answer(getattr(self, f"_{service}")(payload))
        except _Refused as exc:
            return _v2_error(exc.code, exc.description)

    def _open_invoice(self, payload: dict[str, Any], field: str) -> FakeInvoice:
        invoice = self.data.invoice(str(payload.get(field, "")))
        if invoice is None or invoice.paid:
            raise _Refused(5, f"Não foi encontrado um documento em aberto com o {field} informado!")
        return invoice

    def _get_unpaid_document(self, payload: dict[str, Any]) -> list[dict[str, Any]]:
        if not str(payload.get("customer_id", "")).isdigit():
            raise _Refused(3, "The field customer_id is required!")
        return [
            {
                "id": int(invoice.id),
                "account_number": 3,
                "due_date": invoice.due_date.isoformat(),
                "document_number": int(invoice.id),
                "bank_number": int(invoice.id),
                "charge_type": "with registry",
                "historic": "Documento a Receber",
                "comments": "",
                "source": "Billing",
                "bank": 341,
                "value_init": float(invoice.amount),
                "value_interest": 0,
                "value_fine": 0,
                "value_discount": 0,
                "value_up": float(invoice.amount),
                "contracts": [int(invoice.contract_id)],
            }
            for invoice in self.data.invoices_of(str(payload["customer_id"]))
        ]

    def _get_banking_billet(self, payload: dict[str, Any]) -> dict[str, Any]:
        invoice = self._open_invoice(payload, "document_id")
        return {
            "banking_billet_link": f"{self.server.url}/routerbox/tmp/boleto_{invoice.id}.pdf",
            "banking_billet_available": 15,
            "banking_billet_base64": base64.b64encode(invoice.pdf).decode(),
        }

    def _get_barcode(self, payload: dict[str, Any]) -> str:
        invoice = self._open_invoice(payload, "banking_billet_id")
        try:
            pay_on = dt.date.fromisoformat(str(payload.get("banking_billet_due_date", "")))
        except ValueError:
            raise _Refused(5, "The field banking_billet_due_date is invalid!") from None
        if pay_on < self.data.today:
            raise _Refused(6, "The field banking_billet_due_date can not be past due!")
        return invoice.digitable_line

    def _get_pix_copia_cola(self, payload: dict[str, Any]) -> str:
        invoice = self._open_invoice(payload, "banking_billet_id")
        if invoice.id in self.without_pix:
            raise _Refused(16, "O boleto bancário não tem a informação Pix Copia e Cola!")
        return invoice.pix_code

    def _contract_unblock(self, payload: dict[str, Any]) -> str:
        contract = self.data.contract(str(payload.get("contract_id", "")))
        if contract is None or contract.customer_code != str(payload.get("customer_id", "")):
            raise _Refused(14, "The contract_id does not exists or not belongs to the customer_id!")
        if contract.state not in ("blocked", "blocked_manual"):
            raise _Refused(10, "Invalid contract_id status. Must be Blocked!")
        granted, reason, _until = self.data.trust_unlock(contract.id)
        if not granted:
            raise _Refused(21, reason)
        return "Successfully unblocked contract"


class _Filter:
    """A v1 ``Filtro``, parsed once: ``Codigo = '1' AND (TelCelular LIKE '%9999%' OR Situacao <> 'C')``."""

    def __init__(self, text: str, aliases: dict[str, str], columns: Any) -> None:
        self.aliases, self.columns = aliases, set(columns)
        self.tokens = self._tokenize(text)
        self.position = 0
        self.tree = self._or()
        if self.position != len(self.tokens):
            raise _Refused(2, "Erro na consulta", f"Filtro invalido perto de {self.tokens[self.position][1]!r}")

    def matches(self, row: dict[str, str]) -> bool:
        return self._evaluate(self.tree, row)

    @staticmethod
    def _tokenize(text: str) -> list[tuple[str, str]]:
        tokens, position = [], 0
        while position < len(text):
            match = _TOKENS.match(text, position)
            if not match or match.end() == position:
                if text[position:].strip():
                    raise _Refused(2, "Erro na consulta", "Filtro invalido")
                break
            position = match.end()
            string, number, operator, paren, word = match.groups()
            if string is not None:
                tokens.append(("value", string[1:-1].replace("''", "'")))
            elif number is not None:
                tokens.append(("value", number))
            elif operator is not None:
                tokens.append(("op", operator))
            elif paren is not None:
                tokens.append((paren, paren))
            elif word is not None:
                upper = word.upper()
                tokens.append((upper, upper) if upper in ("AND", "OR", "LIKE") else ("name", word))
        return tokens

    def _peek(self) -> tuple[str, str]:
        return self.tokens[self.position] if self.position < len(self.tokens) else ("end", "")

    def _take(self, kind: str) -> str:
        token = self._peek()
        if token[0] != kind:
            raise _Refused(2, "Erro na consulta", f"Filtro invalido perto de {token[1]!r}")
        self.position += 1
        return token[1]

    def _or(self) -> tuple:
        node = self._and()
        while self._peek()[0] == "OR":
            self.position += 1
            node = ("or", node, self._and())
        return node

    def _and(self) -> tuple:
        node = self._comparison()
        while self._peek()[0] == "AND":
            self.position += 1
            node = ("and", node, self._comparison())
        return node

    def _comparison(self) -> tuple:
        if self._peek()[0] == "(":
            self.position += 1
            node = self._or()
            self._take(")")
            return node
        name = self._take("name")
        column = self.aliases.get(name, name)
        if column not in self.columns:
            raise _Refused(165, "Erro na consulta", f"Erro(165): coluna desconhecida {name}")
        operator = "LIKE" if self._peek()[0] == "LIKE" else None
        if operator:
            self.position += 1
        else:
            operator = self._take("op")
        return ("compare", column, operator, self._take("value"))

    def _evaluate(self, node: tuple, row: dict[str, str]) -> bool:
        if node[0] == "or":
            return self._evaluate(node[1], row) or self._evaluate(node[2], row)
        if node[0] == "and":
            return self._evaluate(node[1], row) and self._evaluate(node[2], row)
        _, column, operator, value = node
        have = str(row.get(column, ""))
        if operator == "LIKE":
            pattern = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in value)
            return re.fullmatch(pattern, have, re.IGNORECASE | re.DOTALL) is not None
        left, right = _comparable(have), _comparable(value)
        if type(left) is not type(right):
            left, right = have.lower(), value.lower()
        return {
            "=": left == right,
            "<>": left != right,
            "!=": left != right,
            "<": left < right,
            ">": left > right,
            "<=": left <= right,
            ">=": left >= right,
        }[operator]


def _comparable(text: str) -> Decimal | str:
    try:
        return Decimal(text)
    except InvalidOperation:
        return text.lower()
