"""IXC Soft's webservice v1 as the fake ERP answers it (``FakeErp(kind="ixc")``), over the demo records.

The wire as IXC has it (https://wikiapiprovedor.ixcsoft.com.br):

- ``POST /webservice/v1/<form>`` with HTTP Basic ``base64("<user id>:<token>")`` (the fake's credentials:
  ``username`` and ``token``); a wrong one is HTTP 401.
- A table (``cliente``, ``cliente_contrato``, ``fn_areceber``) is listed with the header
  ``ixcsoft: listar`` and a JSON query (``qtype``, ``query``, ``oper``, ``page``, ``rp``, ``sortname``,
  ``sortorder``, ``grid_param``); without the header the POST is an insert, which the fake refuses
  with IXC's ``{"type": "error"}``. ``grid_param`` must be a JSON array *in a string*; operators
  ``= != > < >= <= L NL IN NI BE``.
- Every value is a string; ``total`` is a number for ``cliente`` and a string elsewhere, and
  ``registros`` is left out when nothing matched (both happen in real IXC answers). CPF/CNPJ are
  stored formatted (``formatted_documents = False``: as digits); phones as typed.
- ``fn_areceber`` has status A (open), R (paid), C (cancelled, ``cancelled``) and ``liberado`` N for a
  hidden receivable (``hidden``). Invoice 90004's boleto is not generated yet: its
  ``linha_digitavel`` is empty and ``impresso`` N until ``get_boleto`` is asked for it. Invoice 90001
  is a gateway receivable with a ``gateway_link``.
- ``get_boleto``: the PDF as base64 text for ``base64=S``, raw bytes for ``N``.
- ``get_pix``: the code in ``pix.qrCode.qrcode`` (most), in ``pix.dadosPix.pixCopiaECola`` (90002),
  empty strings (90003), or ``type: error`` for a receivable without PIX (90005).
- ``desbloqueio_confianca``: ``{"tipo": "sucesso"}`` or ``{"tipo": "erro", "codigo": ...}`` with IXC's
  Portuguese messages (106 no such contract, 107 already active, 109 inactive, 113 already used).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from fakes.erp.data import FakeContract, FakeCustomer, FakeInvoice, tiny_pdf
from fakes.erp.server import html
from fakes.server import Answer, Request, json_answer

PREFIX = "/webservice/v1/"
TABLES = ("cliente", "cliente_contrato", "fn_areceber")
# state → status, status_internet, status_velocidade, contrato_suspenso
CONTRACT_STATES = {
    "active": ("A", "A", "N", "N"),
    "blocked": ("A", "CA", "N", "N"),
    "blocked_manual": ("A", "CM", "N", "N"),
    "reduced": ("A", "A", "R", "N"),
    "suspended": ("A", "D", "N", "S"),
    "cancelled": ("I", "D", "N", "N"),
    "pending": ("P", "AA", "N", "N"),
}
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")
_BR_DATE = re.compile(r"^\d{2}/\d{2}/\d{4}$")


def _formatted(document: str) -> str:
    d = document
    if len(d) == 11:
        return f"{d[:3]}.{d[3:6]}.{d[6:9]}-{d[9:]}"
    return f"{d[:2]}.{d[2:5]}.{d[5:8]}/{d[8:12]}-{d[12:]}"


def _error(message: str) -> Answer:
    return json_answer(200, {"type": "error", "message": message})


class _Refused(Exception):
    """A query IXC would refuse: answered as its ``type: error``."""


class Handler:
    def __init__(self, server) -> None:
        self.server = server
        self.hidden: set[str] = set()  # receivables with liberado N
        self.cancelled: set[str] = set()  # receivables with status C
        self.unprinted: set[str] = {"90004"}  # boletos not generated yet: no line until get_boleto
        self.gateway_links = {"90001": "https://pagamento.provedor-demo.example/fatura/90001"}
        self.pix_in_dados = {"90002"}
        self.pix_empty = {"90003"}
        self.without_pix = {"90005"}
        self.formatted_documents = True  # False: CPF/CNPJ stored as digits, as some IXC installs have them

    @property
    def data(self):
        return self.server.data

    # ------------------------------------------------------------------ dispatch

    def answer(self, request: Request, raw: bytes) -> Answer:
        path = request.path.split("?", 1)[0]
        if not path.startswith(PREFIX):
            return html(404, "404 Not Found")
        if not self._authorized(request.authorization):
            return json_answer(401, {"type": "error", "message": "Token de acesso inválido."})
        form = path[len(PREFIX) :].strip("/")
        body = request.body if isinstance(request.body, dict) else None
        if body is None:
            return _error("Não foi possível interpretar o JSON enviado.")
        listing = request.headers.get("ixcsoft", "").lower() == "listar"
        try:
            if form in TABLES:
                if not listing:  # IXC: a POST to a table without "ixcsoft: listar" inserts a record
                    return _error(f"Não foi possível inserir o registro em <b>{form}</b>:<br />campos obrigatórios.")
                return self._list(form, body)
            if form == "get_boleto":
                return self._boleto(body)
            if form == "get_pix":
                return self._pix(body)
            if form == "desbloqueio_confianca":
                return self._trust_unlock(body)
        except _Refused as exc:
            return _error(str(exc))
        return _error(f"Formulário <b>{form}</b> não encontrado.")

    def error(self, request: Request) -> Answer:
        form = request.path.split("?", 1)[0].removeprefix(PREFIX).strip("/") or "webservice"
        return _error(f"Você não tem permissão para acessar o formulário <b>{form}</b>!<br />")

    def _authorized(self, header: str) -> bool:
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            given = base64.b64decode(encoded, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return False
        credentials = self.server.credentials
        return given == f"{credentials.username}:{credentials.token}"

    # ------------------------------------------------------------------ records, as IXC keeps them

    def _rows(self, table: str) -> list[dict[str, str]]:
        if table == "cliente":
            return [self._cliente(c) for c in self.data.customers]
        if table == "cliente_contrato":
            return [self._contrato(c) for c in self.data.contracts]
        return [self._areceber(i) for i in self.data.invoices]

    def _cliente(self, customer: FakeCustomer) -> dict[str, str]:
        return {
            "id": customer.code,
            "razao": customer.name,
            "fantasia": customer.name if customer.is_company else "",
            "cnpj_cpf": _formatted(customer.document) if self.formatted_documents else customer.document,
            "tipo_pessoa": "J" if customer.is_company else "F",
            "ativo": "S",
            "fone": customer.landline,
            "telefone_celular": customer.mobile,
            "telefone_comercial": "",
            "whatsapp": customer.whatsapp,
            "email": customer.email,
            "hotsite_email": customer.email,
            "senha": f"central{customer.code}",  # IXC returns the subscriber-area password: never to be logged
            "endereco": "Avenida Brasil",
            "numero": customer.code[-3:],
            "bairro": "Zona 01",
            "cidade": "3915",
            "uf": "18",
            "cep": "87013-000",
            "filial_id": "1",
        }

    def _contrato(self, contract: FakeContract) -> dict[str, str]:
        status, internet, speed, suspended = CONTRACT_STATES[contract.state]
        until = contract.trust_unlocked_until
        return {
            "id": contract.id,
            "id_cliente": contract.customer_code,
            "contrato": contract.plan,
            "tipo": "I",
            "status": status,
            "status_internet": internet,
            "status_velocidade": speed,
            "contrato_suspenso": suspended,
            "desbloqueio_confianca": "S" if contract.trust_unlock_allowed else "N",
            "desbloqueio_confianca_ativo": "S" if until is not None else "N",
            "data_ativacao": "" if contract.state == "pending" else (self.data.today.replace(day=1)).isoformat(),
            "data_cancelamento": self.data.today.isoformat() if contract.state == "cancelled" else "",
            "id_vd_contrato": "1",
        }

    def _areceber(self, invoice: FakeInvoice) -> dict[str, str]:
        status = "C" if invoice.id in self.cancelled else "R" if invoice.paid else "A"
        printed = invoice.id not in self.unprinted
        contract = self.data.contract(invoice.contract_id)
        # Many ISPs fill id_contrato_avulso and leave id_contrato empty: the fake does so for 90003.
        loose = invoice.id == "90003"
        amount = f"{invoice.amount:.2f}"
        return {
            "id": invoice.id,
            "id_cliente": invoice.customer_code,
            "id_contrato": "" if loose else invoice.contract_id,
            "id_contrato_avulso": invoice.contract_id if loose else "",
            "filial_id": "1",
            "status": status,
            "liberado": "N" if invoice.id in self.hidden else "S",
            "data_emissao": (invoice.due_date - dt.timedelta(days=10)).isoformat(),
            "data_vencimento": invoice.due_date.isoformat(),
            "valor": amount,
            "valor_aberto": "0.00" if invoice.paid else amount,
            "valor_recebido": amount if invoice.paid else "0.00",
            "documento": invoice.id,
            "tipo_recebimento": "Gateway" if invoice.id in self.gateway_links else "Boleto",
            "gateway_link": self.gateway_links.get(invoice.id, ""),
            "nn_boleto": invoice.id,
            "linha_digitavel": invoice.digitable_line if printed else "",
            "impresso": "S" if printed else "N",
            "pix_txid": "" if invoice.id in self.without_pix else f"demo{invoice.id}",
            "id_carteira_cobranca": "5",
            "obs": contract.plan if contract else "",
            "pagamento_data": invoice.due_date.isoformat() if invoice.paid else "",
        }

    # ------------------------------------------------------------------ listing

    def _list(self, table: str, body: dict[str, Any]) -> Answer:
        rows = self._rows(table)
        if body.get("qtype"):
            column = self._column(table, str(body["qtype"]), rows)
            oper = str(body.get("oper") or "=")
            rows = [row for row in rows if _matches(row[column], oper, str(body.get("query", "")), "")]
        grid = body.get("grid_param")
        if grid:
            if not isinstance(grid, str):
                raise _Refused("O parâmetro grid_param deve ser um JSON em texto.")
            try:
                filters = json.loads(grid)
            except ValueError:
                raise _Refused("O parâmetro grid_param não é um JSON válido.") from None
            for condition in filters if isinstance(filters, list) else [filters]:
                if not isinstance(condition, dict):
                    raise _Refused("O parâmetro grid_param deve ser uma lista de filtros.")
                column = self._column(table, str(condition.get("TB", "")), rows)
                oper, p, p2 = str(condition.get("OP") or "="), str(condition.get("P", "")), str(condition.get("P2", ""))
                rows = [row for row in rows if _matches(row[column], oper, p, p2)]
        sort = self._column(table, str(body.get("sortname") or "id"), rows or self._rows(table))
        rows.sort(key=lambda row: _key(row[sort]), reverse=str(body.get("sortorder", "asc")).lower() == "desc")
        page, per_page = _positive(body.get("page"), 1), _positive(body.get("rp"), 20)
        shown = rows[(page - 1) * per_page : page * per_page]
        answer: dict[str, Any] = {"page": str(page), "total": len(rows) if table == "cliente" else str(len(rows))}
        if shown or table == "cliente":
            answer["registros"] = shown
        return json_answer(200, answer)

    def _column(self, table: str, name: str, rows: list[dict[str, str]]) -> str:
        column = name.split(".", 1)[1] if name.startswith(f"{table}.") else name
        known = rows[0] if rows else next(iter(self._rows(table)), {})
        if column not in known:
            raise _Refused(f"Coluna <b>{name}</b> inválida para a tabela {table}.")
        return column

    # ------------------------------------------------------------------ actions

    def _invoices(self, ids: Any) -> list[FakeInvoice]:
        found = [self.data.invoice(i.strip()) for i in str(ids or "").split(",") if i.strip()]
        if not found or None in found:
            raise _Refused("Boleto(s) não encontrado(s).")
        return found

    def _boleto(self, body: dict[str, Any]) -> Answer:
        invoices = self._invoices(body.get("boletos"))
        if str(body.get("tipo_boleto", "")).lower() != "arquivo":
            raise _Refused("Tipo de boleto não disponível para esta carteira.")
        for invoice in invoices:
            self.unprinted.discard(invoice.id)  # printing generates (registers) the boleto
        pdf = invoices[0].pdf if len(invoices) == 1 else tiny_pdf("Boletos " + ", ".join(i.id for i in invoices))
        if str(body.get("base64", "N")).upper() == "S":
            return Answer(200, base64.b64encode(pdf), content_type="text/html; charset=UTF-8")
        return Answer(200, pdf, content_type="application/pdf")

    def _pix(self, body: dict[str, Any]) -> Answer:
        invoice = self.data.invoice(str(body.get("id_areceber", "")))
        if invoice is None:
            raise _Refused("Recebimento não encontrado.")
        if invoice.id in self.without_pix or invoice.paid:
            raise _Refused("Não foi possível gerar o Pix: a carteira de cobrança não possui Pix habilitado.")
        code = "" if invoice.id in self.pix_empty else invoice.pix_code
        in_dados = invoice.id in self.pix_in_dados
        return json_answer(
            200,
            {
                "type": "success",
                "gateway": {"gatewayNome": "Demo"},
                "pix": {
                    "dadosPix": {
                        "txid": f"demo{invoice.id}",
                        "status": "ATIVA",
                        "pixCopiaECola": code if in_dados else "",
                        "calendario": {"dataDeVencimento": invoice.due_date.isoformat(), "validadeAposVencimento": 90},
                        "valor": {"original": f"{invoice.amount:.2f}"},
                    },
                    "qrCode": {"qrcode": "" if in_dados else code, "imagemQrcode": "", "imagemSrc": ""},
                },
            },
        )

    def _trust_unlock(self, body: dict[str, Any]) -> Answer:
        contract_id = str(body.get("id", ""))
        contract = self.data.contract(contract_id)
        inactive = contract is not None and contract.state in ("cancelled", "pending", "suspended")
        granted, _reason, until = self.data.trust_unlock(contract_id)
        if granted:
            message = f"Desbloqueio de confiança efetuado com sucesso! Contrato liberado até {until:%d/%m/%Y}."
            return json_answer(200, {"tipo": "sucesso", "mensagem": message})
        if contract is None:
            code, message = "106", "ID de contrato inexistente na base de dados."
        elif inactive:
            code, message = "109", "Não é possível utilizar o desbloqueio de confiança, o contrato está inativo."
        elif contract.state not in ("blocked", "blocked_manual") and contract.trust_unlocked_until is None:
            code = "107"
            message = "O contrato já encontra-se ativo, não é necessário utilizar o desbloqueio de confiança."
        elif contract.trust_unlocked_until is not None:
            used = contract.trust_unlocked_until - dt.timedelta(days=3)
            code = "113"
            message = (
                f"O desbloqueio de confiança não está disponível para o contrato {contract.id}, este recurso foi "
                f"usado no dia {used:%d/%m/%Y} e não foi realizado o pagamento até o dia "
                f"{contract.trust_unlocked_until:%d/%m/%Y}."
            )
        else:
            code, message = "108", "O desbloqueio de confiança está desabilitado para este contrato."
        return json_answer(200, {"tipo": "erro", "codigo": code, "mensagem": message})


def _positive(value: Any, default: int) -> int:
    try:
        number = int(str(value))
    except ValueError:
        return default
    return number if number > 0 else default


def _key(value: str) -> tuple[int, Any]:
    """How IXC's MySQL orders and compares a value: dates as dates, numbers as numbers, text ignoring case."""
    text = value.strip()
    if _ISO_DATE.match(text):
        return (0, text[:10])
    if _BR_DATE.match(text):
        return (0, f"{text[6:]}-{text[3:5]}-{text[:2]}")
    try:
        return (1, Decimal(text))
    except InvalidOperation:
        return (2, text.lower())


def _matches(value: str, oper: str, p: str, p2: str) -> bool:
    oper = oper.upper()
    if oper == "L":
        return p.lower() in value.lower()
    if oper == "NL":
        return p.lower() not in value.lower()
    if oper in ("IN", "NI"):
        inside = _key(value) in {_key(item) for item in p.split(",")}
        return inside if oper == "IN" else not inside
    have, want = _key(value), _key(p)
    comparable = have[0] == want[0]
    if oper == "=":
        return have == want
    if oper == "!=":
        return have != want
    if oper == "BE":
        high = _key(p2)
        return comparable and have[0] == high[0] and want[1] <= have[1] <= high[1]
    if oper in (">", "<", ">=", "<="):
        if not comparable:
            return False
        low, high = have[1], want[1]
        return {">": low > high, "<": low < high, ">=": low >= high, "<=": low <= high}[oper]
    raise _Refused(f"Operador <b>{oper}</b> inválido.")
