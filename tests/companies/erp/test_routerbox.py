"""The RouterBox adapter against the fake RouterBox on loopback: v2 where it serves, v1 for the rest and as the
fallback, every error shape, no key in the logs."""

import base64
import datetime as dt
import logging
import time
from decimal import Decimal

import pytest
import requests
from django.utils import timezone

from companies.erp import formats
from companies.erp.base import ContractStatus, ErpAuthFailed, ErpBadAnswer, ErpUnavailable
from companies.erp.registry import erp_for
from companies.erp.routerbox import V1_PATH, V2_PATH, RouterBoxAdapter, contract_status
from fakes.erp.data import FakeCustomer
from fakes.erp.server import DEMO_CREDENTIALS, running_erp
from tests.factories import CompanyFactory

FAST = {"max_wait": 0.01}  # retries without the production backoff, so failure tests stay fast


@pytest.fixture
def server():
    with running_erp("routerbox", today=timezone.localdate()) as fake:
        yield fake


@pytest.fixture
def company(db, server):
    return CompanyFactory(erp_system="routerbox", erp_base_url=server.url, erp_token=DEMO_CREDENTIALS.token)


@pytest.fixture
def rbx(company):
    return RouterBoxAdapter.from_company(company, **FAST)


def _v1(server, service=None):
    return [r for r in server.requests if r.path == V1_PATH and (service is None or service in r.body)]


def _v2(server, service=None):
    return [r for r in server.requests if r.path == V2_PATH and (service is None or service in r.body)]


# ---------------------------------------------------------------------- customers


def test_the_registry_builds_the_routerbox_adapter_from_the_company(company):
    adapter = erp_for(company, cached=False)
    assert isinstance(adapter, RouterBoxAdapter)
    assert adapter.find_customer_by_code("1001").name == "Maria da Silva"


def test_a_customer_by_code_is_asked_of_v1_with_the_key_in_the_body(rbx, server):
    customer = rbx.find_customer_by_code("1001")
    assert (customer.code, customer.name, customer.document) == ("1001", "Maria da Silva", "52998224725")
    assert customer.phones == ("5544999990001",) and customer.email == "maria@example.com"
    [asked] = _v1(server)
    assert asked.body == {
        "ConsultaClientes": {"Autenticacao": {"ChaveIntegracao": DEMO_CREDENTIALS.token}, "Filtro": "Codigo = '1001'"}
    }


@pytest.mark.parametrize(
    ("code", "phones"),
    [
        ("1002", ("5544997770000", "554430310001")),  # two numbers in one field
        ("1003", ("5544988880000",)),
        ("1004", ("5544988887766",)),  # a mobile typed without its ninth digit
        ("1005", ()),  # no phone at all
        ("1006", ("5544996665544", "554432621000")),
        ("1007", ("5544995554433",)),
        ("1008", ("554430254000",)),
    ],
)
def test_customer_phones_come_out_as_whatsapp_numbers(rbx, code, phones):
    assert rbx.find_customer_by_code(code).phones == phones


def test_a_code_that_is_no_number_never_reaches_the_filtro(rbx, server):
    assert rbx.find_customer_by_code("1' OR '1'='1") is None
    assert rbx.find_customer_by_code("9999") is None
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    ("document", "code"),
    [
        ("529.982.247-25", "1001"),
        ("11222333000181", "1003"),
        ("12.ABC.345/01DE-35", "1007"),
        ("22.385.367/0001-03", "1008"),
    ],
)
def test_customers_by_document_are_found_by_its_digits(rbx, server, document, code):
    [customer] = rbx.find_customers_by_document(document)
    assert customer.code == code
    assert _v1(server)[0].body["ConsultaClientes"]["Filtro"] == f"CNPJ_CNPF = '{customer.document}'"


def test_a_version_that_names_the_document_column_cpf_cnpj_is_asked_again_by_that_name(rbx, server):
    server.handler.document_field = "CPF_CNPJ"
    assert [c.code for c in rbx.find_customers_by_document("529.982.247-25")] == ["1001"]
    filters = [r.body["ConsultaClientes"]["Filtro"] for r in _v1(server)]
    assert filters == ["CNPJ_CNPF = '52998224725'", "CPF_CNPJ = '52998224725'"]


def test_an_unknown_or_malformed_document_finds_nobody(rbx, server):
    assert rbx.find_customers_by_document("390.533.447-05") == []
    assert rbx.find_customers_by_document("52998224725' OR 1=1") == []
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    ("phone", "codes"),
    [
        ("5544999990001", ["1001"]),
        ("554499990001", ["1001"]),  # a WhatsApp account from before the ninth digit
        ("5544988887766", ["1004"]),  # stored without its ninth digit
        ("554430310001", ["1002"]),  # the landline after a mobile in one field
        ("5544996665544", ["1006"]),  # stored behind a 0xx prefix
        ("5544988880000", ["1003"]),
        ("5544991234567", []),
    ],
)
def test_customers_by_phone_match_however_the_erp_typed_the_number(rbx, server, phone, codes):
    assert [c.code for c in rbx.find_customers_by_phone(phone)] == codes
    assert len(server.requests) == 1  # one Filtro with every field and spelling


def test_a_phone_search_keeps_only_customers_whose_number_it_really_is(rbx, server):
    server.data.customers.append(FakeCustomer("1009", "Outra Pessoa", "39053344705", mobile="11 99999-0001"))
    assert [c.code for c in rbx.find_customers_by_phone("5544999990001")] == ["1001"]
    assert [c.code for c in rbx.find_customers_by_phone("+55 11 99999-0001")] == ["1009"]


# ---------------------------------------------------------------------- contracts


@pytest.mark.parametrize(
    ("code", "contract_id", "status", "plan"),
    [
        ("1001", "5001", ContractStatus.ACTIVE, "Fibra 500 Mega"),
        ("1002", "5002", ContractStatus.BLOCKED, "Fibra 300 Mega"),
        ("1003", "5003", ContractStatus.ACTIVE, "Empresarial 1 Giga"),
        ("1004", "5004", ContractStatus.BANDWIDTH_LIMITED, "Fibra 200 Mega"),  # listed by ConsultaClientesReducao
        ("1005", "5005", ContractStatus.SUSPENDED, "Fibra 100 Mega"),
        ("1006", "5006", ContractStatus.CANCELLED, "Fibra 300 Mega"),
        ("1007", "5007", ContractStatus.BLOCKED, "Empresarial 500 Mega"),
        ("1008", "5008", ContractStatus.PENDING, "Fibra 500 Mega"),
    ],
)
def test_every_demo_contract_has_its_state(rbx, code, contract_id, status, plan):
    [contract] = rbx.list_contracts(code)
    assert (contract.id, contract.customer_code, contract.status, contract.plan) == (contract_id, code, status, plan)
    assert contract.trust_unlock_allowed is None  # RouterBox does not say


@pytest.mark.parametrize(
    ("row", "reduced", "status"),
    [
        ({"Situacao_Codigo": "A", "Situacao_Descricao": "Ativo"}, False, ContractStatus.ACTIVE),
        ({"Situacao_Codigo": "A", "Situacao_Descricao": "Ativo"}, True, ContractStatus.BANDWIDTH_LIMITED),
        ({"Situacao_Codigo": "B", "Situacao_Descricao": "Bloqueado"}, True, ContractStatus.BLOCKED),
        ({"Situacao_Codigo": "X", "Situacao_Descricao": "Inativo"}, False, ContractStatus.CANCELLED),
        ({"Situacao_Codigo": "X", "Situacao_Descricao": "Em Instalação"}, False, ContractStatus.PENDING),
        ({"Situacao_Codigo": "S", "Situacao_Descricao": ""}, False, ContractStatus.SUSPENDED),
        ({"Situacao_Codigo": "C"}, False, ContractStatus.CANCELLED),
    ],
)
def test_routerbox_situations_map_to_one_contract_status(row, reduced, status):
    assert contract_status(row, reduced=reduced) is status


# ---------------------------------------------------------------------- invoices


def test_open_invoices_come_from_v2_with_line_pix_pdf_and_link_and_paid_ones_are_absent(rbx, server):
    [invoice] = rbx.list_open_invoices("1001")  # 90006 is paid
    fake = server.data.invoice("90001")
    assert (invoice.id, invoice.customer_code, invoice.contract_id) == ("90001", "1001", "5001")
    assert invoice.due_date == fake.due_date and invoice.amount == Decimal("99.90")
    assert invoice.digitable_line == fake.digitable_line and formats.is_valid_digitable_line(invoice.digitable_line)
    assert invoice.barcode == fake.barcode
    assert invoice.pix_code == fake.pix_code and formats.is_valid_pix_code(invoice.pix_code)
    assert invoice.boleto_pdf.startswith(b"%PDF") and invoice.boleto_pdf == fake.pdf
    assert requests.get(invoice.boleto_url, timeout=5).content == fake.pdf  # the link RouterBox keeps a while
    assert _v2(server, "get_unpaid_document")[0].headers["authentication_key"] == DEMO_CREDENTIALS.token
    assert _v2(server, "get_pix_copia_cola")[0].body["get_pix_copia_cola"]["send_pix_copia_cola"] is False
    assert _v2(server, "get_barcode")[0].body["get_barcode"]["send_barcode"] is False


def test_an_overdue_boletos_line_is_asked_for_as_of_today(rbx, server):
    overdue = next(i for i in rbx.list_open_invoices("1002") if i.id == "90002")
    assert overdue.due_date < server.data.today and formats.is_valid_digitable_line(overdue.digitable_line)
    asked = [r.body["get_barcode"] for r in _v2(server, "get_barcode")]
    assert {
        "banking_billet_id": 90002,
        "banking_billet_due_date": server.data.today.isoformat(),
        "send_barcode": False,
    } in asked


def test_every_open_invoice_of_the_demo_has_a_valid_line_and_a_valid_pix_when_it_has_one(rbx):
    invoices = [i for code in ("1001", "1002", "1003", "1004") for i in rbx.list_open_invoices(code)]
    assert [i.id for i in invoices] == ["90001", "90002", "90003", "90004", "90005"]
    assert all(formats.is_valid_digitable_line(i.digitable_line) for i in invoices)
    assert all(i.boleto_pdf.startswith(b"%PDF") for i in invoices)
    assert [i.id for i in invoices if not i.pix_code] == ["90005"]  # RouterBox error 16: no PIX on that boleto
    assert all(formats.is_valid_pix_code(i.pix_code) for i in invoices if i.pix_code)


def test_invoices_filter_by_contract(rbx):
    assert [i.id for i in rbx.list_open_invoices("1002", contract_id="5002")] == ["90002", "90003"]
    assert rbx.list_open_invoices("1002", contract_id="5003") == []
    assert rbx.list_open_invoices("1005") == []


def test_a_routerbox_without_v2_is_read_through_v1_and_v2_is_not_asked_again(rbx, server):
    server.handler.v2_available = False
    invoices = rbx.list_open_invoices("1002", contract_id="5002")
    assert [i.id for i in invoices] == ["90002", "90003"]
    assert all(formats.is_valid_digitable_line(i.digitable_line) for i in invoices)  # ConsultaLinhaDigitavelBoleto
    assert all(i.boleto_pdf == b"" and i.pix_code == "" for i in invoices)  # v1 has neither
    assert len(_v2(server)) == 1
    assert _v1(server, "ConsultaDocumentosAbertos")[0].body["ConsultaDocumentosAbertos"]["Filtro"] == "Cliente = 1002"


def test_a_v2_without_the_open_documents_service_falls_back_to_v1_for_that_service_only(rbx, server):
    server.handler.v2_services.discard("get_unpaid_document")
    [invoice] = rbx.list_open_invoices("1001")
    assert invoice.id == "90001" and invoice.boleto_pdf.startswith(b"%PDF") and invoice.pix_code
    assert len(_v1(server, "ConsultaDocumentosAbertos")) == 1


def test_a_line_whose_check_digits_fail_is_logged_masked_and_still_returned(rbx, server, caplog):
    fake = server.data.invoice("90001")
    bad_line = fake.digitable_line[:-1] + ("1" if fake.digitable_line[-1] != "1" else "2")
    fake.digitable_line = bad_line
    with caplog.at_level(logging.WARNING, logger="companies.erp.checks"):
        [invoice] = rbx.list_open_invoices("1001")
    assert invoice.digitable_line == bad_line
    [record] = [r for r in caplog.records if r.name == "companies.erp.checks"]
    assert "90001" in record.getMessage() and bad_line.replace(" ", "")[:20] not in record.getMessage()


# ---------------------------------------------------------------------- unblock


def test_a_blocked_contract_is_unblocked_and_active_again(rbx, server):
    unlock = rbx.trust_unlock("5002")
    assert unlock.granted and unlock.reason == ""
    assert _v2(server, "contract_unblock")[0].body == {"contract_unblock": {"customer_id": 1002, "contract_id": 5002}}
    assert rbx.list_contracts("1002")[0].status is ContractStatus.ACTIVE


@pytest.mark.parametrize(
    ("contract_id", "reason"),
    [
        ("5001", "Invalid contract_id status. Must be Blocked!"),
        ("5007", "Desbloqueio de confiança não permitido para este contrato"),
        ("9999", "RouterBox has no contract with this number."),
    ],
)
def test_a_refused_unblock_carries_the_reason(rbx, contract_id, reason):
    unlock = rbx.trust_unlock(contract_id)
    assert not unlock.granted and unlock.reason == reason


def test_a_routerbox_without_the_unblock_service_refuses_saying_so(rbx, server):
    server.handler.v2_services.discard("contract_unblock")
    unlock = rbx.trust_unlock("5002")
    assert not unlock.granted and "does not offer" in unlock.reason
    assert server.data.contract("5002").state == "blocked"


# ---------------------------------------------------------------------- errors


def test_a_v1_error_envelope_is_a_bad_answer_with_routerboxs_words(rbx, server):
    server.fail = "error"
    with pytest.raises(ErpBadAnswer, match=r"RouterBox refused ConsultaClientes: Erro interno .* \(erro 98\)"):
        rbx.find_customer_by_code("1001")


def test_a_v2_error_envelope_is_a_bad_answer_with_routerboxs_words(rbx, server):
    server.fail = "error"
    with pytest.raises(ErpBadAnswer, match=r"get_unpaid_document: Internal Server Error! \(error 12\)"):
        rbx.list_open_invoices("1001")


@pytest.mark.parametrize(
    ("fail", "words"), [("html", "HTML page instead of JSON"), ("empty", "empty body"), ("garbage", "not JSON")]
)
def test_pages_empty_bodies_and_garbage_are_bad_answers(rbx, server, fail, words):
    server.fail = fail
    with pytest.raises(ErpBadAnswer, match=words):
        rbx.list_contracts("1001")


def test_a_503_once_is_retried_and_the_call_succeeds(rbx, server):
    server.fail, server.fail_times = "down", 1
    assert [i.id for i in rbx.list_open_invoices("1001")] == ["90001"]


def test_an_erp_that_stays_down_is_unavailable_after_the_retries(rbx, server):
    server.fail = "down"
    with pytest.raises(ErpUnavailable, match="HTTP 503"):
        rbx.find_customer_by_code("1001")
    assert len(server.requests) == 3


def test_an_erp_slower_than_the_read_timeout_is_unavailable_quickly(company):
    with running_erp("routerbox", delay=0.6) as slow:
        company.erp_base_url = slow.url
        adapter = RouterBoxAdapter.from_company(company, timeout=(1, 0.15), **FAST)
        started = time.monotonic()
        with pytest.raises(ErpUnavailable, match="did not answer in time"):
            adapter.find_customer_by_code("1001")
        assert time.monotonic() - started < 2


def test_a_wrong_key_is_refused_by_v1_and_by_v2(company):
    company.erp_token = "wrong-key"
    adapter = RouterBoxAdapter.from_company(company, **FAST)
    with pytest.raises(ErpAuthFailed, match="erro 97"):
        adapter.find_customer_by_code("1001")  # v1
    with pytest.raises(ErpAuthFailed, match="authentication key"):
        adapter.list_open_invoices("1001")  # v2


def test_either_services_full_url_works_as_the_base(company, server):
    for path in (V1_PATH, V2_PATH):
        company.erp_base_url = f"{server.url}{path}"
        adapter = RouterBoxAdapter.from_company(company, **FAST)
        assert adapter.find_customer_by_code("1001").code == "1001"
        assert [i.id for i in adapter.list_open_invoices("1001")] == ["90001"]


def test_no_key_and_no_full_cpf_reach_the_logs(rbx, server, caplog):
    with caplog.at_level(logging.DEBUG):
        rbx.find_customers_by_document("529.982.247-25")
        rbx.find_customers_by_phone("5544999990001")
        rbx.list_contracts("1001")
        rbx.list_open_invoices("1004")  # logs the boleto without PIX
        rbx.trust_unlock("5001")
        server.fail = "error"
        with pytest.raises(ErpBadAnswer):
            rbx.find_customers_by_document("529.982.247-25")
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert "no PIX for invoice 90005" in text
    for secret in (DEMO_CREDENTIALS.token, base64.b64encode(DEMO_CREDENTIALS.token.encode()).decode(), "52998224725"):
        assert secret not in text
    assert "529.982.247-25" not in text


def test_the_fakes_filtro_refuses_an_unknown_column_as_routerbox_does(server):
    body = {"ConsultaClientes": {"Autenticacao": {"ChaveIntegracao": DEMO_CREDENTIALS.token}, "Filtro": "Nada = '1'"}}
    answer = requests.post(f"{server.url}{V1_PATH}", json=body, timeout=5).json()
    assert answer["status"] == 0 and answer["erro_code"] == 165
    body["ConsultaClientes"]["Filtro"] = "(Codigo = '1001' OR Codigo = 1002) AND Nome LIKE 'jo%'"
    answer = requests.post(f"{server.url}{V1_PATH}", json=body, timeout=5).json()
    assert [row["Codigo"] for row in answer["result"]] == ["1002"]


def test_every_customers_open_invoices_due_in_a_range(server, rbx):
    today = server.data.today
    due = rbx.list_open_invoices_due(today - dt.timedelta(days=3), today + dt.timedelta(days=3))
    assert [(i.id, i.customer_code) for i in due] == [("90005", "1004"), ("90004", "1003")]
    assert all(formats.is_valid_digitable_line(i.digitable_line) for i in due)
    assert rbx.list_open_invoices_due(today + dt.timedelta(days=30), today + dt.timedelta(days=40)) == []
