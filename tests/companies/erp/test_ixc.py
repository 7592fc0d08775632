"""The IXC Soft adapter against the fake IXC on loopback: every question, every error shape, no secret in the logs."""

import base64
import datetime as dt
import json
import logging
import subprocess
import sys
import time
from decimal import Decimal

import pytest
import requests
import responses
from django.utils import timezone

from companies import documents
from companies.erp import formats
from companies.erp.base import ContractStatus, ErpAuthFailed, ErpBadAnswer, ErpUnavailable
from companies.erp.ixc import IxcAdapter, contract_status
from companies.erp.registry import erp_for
from fakes.erp.data import DemoErp, FakeCustomer
from fakes.erp.server import DEMO_CREDENTIALS, running_erp
from tests.factories import CompanyFactory

FAST = {"max_wait": 0.01}  # retries without the production backoff, so failure tests stay fast


@pytest.fixture
def server():
    with running_erp("ixc", today=timezone.localdate()) as fake:
        yield fake


@pytest.fixture
def company(db, server):
    return CompanyFactory(
        erp_system="ixc",
        erp_base_url=server.url,
        erp_username=DEMO_CREDENTIALS.username,
        erp_token=DEMO_CREDENTIALS.token,
    )


@pytest.fixture
def ixc(company):
    return IxcAdapter.from_company(company, **FAST)


def _sent(server, form):
    return [r for r in server.requests if r.path == f"/webservice/v1/{form}"]


# ---------------------------------------------------------------------- customers


def test_the_registry_builds_the_ixc_adapter_from_the_company(company):
    adapter = erp_for(company, cached=False)
    assert isinstance(adapter, IxcAdapter)
    assert adapter.find_customer_by_code("1001").name == "Maria da Silva"


def test_a_customer_by_code_has_its_name_canonical_document_email_and_whatsapp_numbers(ixc, server):
    customer = ixc.find_customer_by_code("1001")
    assert customer.code == "1001"
    assert customer.name == "Maria da Silva"
    assert customer.document == "52998224725"  # IXC stores it as 529.982.247-25
    assert customer.phones == ("5544999990001",)
    assert customer.email == "maria@example.com"
    listing = _sent(server, "cliente")[0]
    assert listing.headers["ixcsoft"] == "listar"
    assert listing.body["qtype"] == "cliente.id" and listing.body["query"] == "1001"
    expected = base64.b64encode(f"{DEMO_CREDENTIALS.username}:{DEMO_CREDENTIALS.token}".encode()).decode()
    assert listing.authorization == f"Basic {expected}"


@pytest.mark.parametrize(
    ("code", "phones"),
    [
        ("1002", ("5544997770000", "554430310001")),  # two numbers in one field, the second without DDD... with it
        ("1003", ("5544988880000",)),  # "+55 44 98888-0000" in the whatsapp field
        ("1004", ("5544988887766",)),  # a mobile typed without its ninth digit
        ("1005", ()),  # no phone at all
        ("1006", ("5544996665544", "554432621000")),  # a 0xx carrier prefix, and a landline
        ("1007", ("5544995554433",)),  # "554499555-4433"
        ("1008", ("554430254000",)),  # a landline only
    ],
)
def test_customer_phones_come_out_as_whatsapp_numbers(ixc, code, phones):
    assert ixc.find_customer_by_code(code).phones == phones


def test_an_unknown_code_is_none_and_one_that_is_no_number_is_not_even_asked(ixc, server):
    assert ixc.find_customer_by_code("9999") is None
    asked = len(server.requests)
    assert ixc.find_customer_by_code("1 OR 1=1") is None
    assert len(server.requests) == asked


@pytest.mark.parametrize(
    ("document", "code"),
    [
        ("529.982.247-25", "1001"),
        ("52998224725", "1001"),
        ("11.222.333/0001-81", "1003"),
        ("12.abc.345/01de-35", "1007"),  # the alphanumeric CNPJ, typed in lower case
    ],
)
def test_customers_by_document_are_found_by_the_formatted_form_ixc_stores(ixc, server, document, code):
    found = ixc.find_customers_by_document(document)
    assert [c.code for c in found] == [code]
    assert found[0].document == found[0].document.upper() and "." not in found[0].document
    assert (
        _sent(server, "cliente")[0].body["query"]
        == {
            "1001": "529.982.247-25",
            "1003": "11.222.333/0001-81",
            "1007": "12.ABC.345/01DE-35",
        }[code]
    )


def test_a_document_stored_as_digits_is_found_on_the_second_try(ixc, server):
    server.handler.formatted_documents = False
    assert [c.code for c in ixc.find_customers_by_document("529.982.247-25")] == ["1001"]
    assert [r.body["query"] for r in _sent(server, "cliente")] == ["529.982.247-25", "52998224725"]


def test_an_unknown_document_finds_nobody_and_a_malformed_one_is_not_asked(ixc, server):
    assert ixc.find_customers_by_document("390.533.447-05") == []
    asked = len(server.requests)
    assert ixc.find_customers_by_document("123") == []
    assert len(server.requests) == asked


@pytest.mark.parametrize(
    ("phone", "codes"),
    [
        ("5544999990001", ["1001"]),
        ("554499990001", ["1001"]),  # a WhatsApp account from before the ninth digit
        ("5544988887766", ["1004"]),  # stored without its ninth digit: "4488887766"
        ("554430310001", ["1002"]),  # the landline after a mobile in one field
        ("+55 (44) 99666-5544", ["1006"]),  # stored behind a 0xx prefix
        ("5544995554433", ["1007"]),
        ("5544991234567", []),
    ],
)
def test_customers_by_phone_match_however_the_erp_typed_the_number(ixc, phone, codes):
    assert [c.code for c in ixc.find_customers_by_phone(phone)] == codes


def test_a_phone_search_asks_each_phone_field_once_with_contains_on_the_last_four_digits(ixc, server):
    ixc.find_customers_by_phone("5544999990001")
    asked = [(r.body["qtype"], r.body["query"], r.body["oper"]) for r in _sent(server, "cliente")]
    fields = ("whatsapp", "telefone_celular", "fone", "telefone_comercial")
    assert sorted(asked) == sorted((f"cliente.{f}", "0001", "L") for f in fields)


@pytest.mark.parametrize("written", ["(44) 99999-0001", "44999990001", "44 9999 0001", "+55 (44) 9 9999-0001"])
def test_a_phone_search_finds_the_number_however_the_erp_wrote_it(ixc, server, written):
    server.data.customers.append(FakeCustomer("1010", "Escrita Livre", "39053344705", mobile=written))
    assert "1010" in [c.code for c in ixc.find_customers_by_phone("5544999990001")]


def test_a_phone_search_keeps_only_customers_whose_number_it_really_is(ixc, server):
    # Same last eight digits, another area code: found by the query, dropped by our check.
    server.data.customers.append(FakeCustomer("1009", "Outra Pessoa", "39053344705", mobile="(11) 99999-0001"))
    assert [c.code for c in ixc.find_customers_by_phone("5544999990001")] == ["1001"]
    assert [c.code for c in ixc.find_customers_by_phone("5511999990001")] == ["1009"]


def test_a_phone_that_is_no_number_finds_nobody_without_asking(ixc, server):
    assert ixc.find_customers_by_phone("not a phone") == []
    assert server.requests == []


# ---------------------------------------------------------------------- contracts


@pytest.mark.parametrize(
    ("code", "contract_id", "status", "plan", "allowed"),
    [
        ("1001", "5001", ContractStatus.ACTIVE, "Fibra 500 Mega", True),
        ("1002", "5002", ContractStatus.BLOCKED, "Fibra 300 Mega", True),  # bloqueio automático (CA)
        ("1003", "5003", ContractStatus.ACTIVE, "Empresarial 1 Giga", True),
        ("1004", "5004", ContractStatus.BANDWIDTH_LIMITED, "Fibra 200 Mega", True),
        ("1005", "5005", ContractStatus.SUSPENDED, "Fibra 100 Mega", True),
        ("1006", "5006", ContractStatus.CANCELLED, "Fibra 300 Mega", True),
        ("1007", "5007", ContractStatus.BLOCKED, "Empresarial 500 Mega", False),  # bloqueio manual (CM)
        ("1008", "5008", ContractStatus.PENDING, "Fibra 500 Mega", True),
    ],
)
def test_every_demo_contract_has_its_state(ixc, code, contract_id, status, plan, allowed):
    [contract] = ixc.list_contracts(code)
    assert (contract.id, contract.customer_code, contract.status, contract.plan) == (contract_id, code, status, plan)
    assert contract.trust_unlock_allowed is allowed


def test_a_customer_without_contracts_has_none_even_when_ixc_leaves_registros_out(ixc):
    assert ixc.list_contracts("9999") == []
    assert ixc.list_contracts("abc") == []


@pytest.mark.parametrize(
    ("row", "status"),
    [
        ({"status": "A", "status_internet": "FA"}, ContractStatus.BLOCKED),  # financeiro em atraso
        ({"status": "N", "status_internet": "A"}, ContractStatus.BLOCKED),  # negativado
        ({"status": "D", "status_internet": "A"}, ContractStatus.CANCELLED),  # desistiu
        ({"status": "A", "status_internet": "AA"}, ContractStatus.PENDING),  # aguardando assinatura
        ({"status": "A", "status_internet": "D"}, ContractStatus.SUSPENDED),  # desativado
        ({"status": "A", "status_internet": "CA", "contrato_suspenso": "S"}, ContractStatus.SUSPENDED),
        ({"status": "A", "status_internet": "CM", "status_velocidade": "R"}, ContractStatus.BLOCKED),
        ({"status": "A", "status_internet": "A", "status_velocidade": "N"}, ContractStatus.ACTIVE),
    ],
)
def test_ixc_status_fields_map_to_one_contract_status(row, status):
    assert contract_status(row) is status


@responses.activate
def test_a_contract_on_the_isps_default_trust_unlock_permission_does_not_say():
    record = {"id": "7", "id_cliente": "1", "status": "A", "status_internet": "CA", "desbloqueio_confianca": "P"}
    url = "http://127.0.0.1:9/webservice/v1/cliente_contrato"
    responses.post(url, json={"page": "1", "total": 1, "registros": [record]})  # total as a number
    [contract] = IxcAdapter("http://127.0.0.1:9", user="1", token="t").list_contracts("1")
    assert contract.trust_unlock_allowed is None and contract.status is ContractStatus.BLOCKED


# ---------------------------------------------------------------------- invoices


def test_open_invoices_carry_line_barcode_pix_pdf_and_paid_ones_are_absent(ixc, server):
    [invoice] = ixc.list_open_invoices("1001")  # 90006 is paid
    fake = server.data.invoice("90001")
    assert invoice.id == "90001" and invoice.customer_code == "1001" and invoice.contract_id == "5001"
    assert invoice.due_date == fake.due_date and invoice.amount == Decimal("99.90")
    assert invoice.digitable_line == fake.digitable_line
    assert formats.is_valid_digitable_line(invoice.digitable_line)
    assert invoice.barcode == fake.barcode  # derived from the line: IXC gives none
    assert formats.is_valid_pix_code(invoice.pix_code) and invoice.pix_code == fake.pix_code
    assert invoice.boleto_pdf.startswith(b"%PDF") and invoice.boleto_pdf == fake.pdf
    assert invoice.boleto_url == "https://pagamento.provedor-demo.example/fatura/90001"  # a gateway receivable


def test_open_invoices_are_asked_for_as_released_and_not_paid_or_cancelled(ixc, server):
    ixc.list_open_invoices("1001")
    [listing] = _sent(server, "fn_areceber")
    assert listing.headers["ixcsoft"] == "listar"
    assert isinstance(listing.body["grid_param"], str)
    assert json.loads(listing.body["grid_param"]) == [
        {"TB": "fn_areceber.liberado", "OP": "=", "P": "S"},
        {"TB": "fn_areceber.status", "OP": "!=", "P": "C"},
        {"TB": "fn_areceber.status", "OP": "!=", "P": "R"},
    ]
    boleto = _sent(server, "get_boleto")[0].body
    assert (boleto["boletos"], boleto["tipo_boleto"], boleto["base64"]) == ("90001", "arquivo", "S")


def test_every_open_invoice_of_the_demo_has_a_valid_line_and_its_pix_when_it_has_one(ixc):
    invoices = [i for code in ("1001", "1002", "1003", "1004") for i in ixc.list_open_invoices(code)]
    assert [i.id for i in invoices] == ["90001", "90002", "90003", "90004", "90005"]
    assert all(formats.is_valid_digitable_line(i.digitable_line) and len(i.barcode) == 44 for i in invoices)
    assert all(i.boleto_pdf.startswith(b"%PDF") for i in invoices)
    with_pix = {i.id for i in invoices if i.pix_code}
    assert with_pix == {"90001", "90002", "90004"}  # 90003 answers empty strings, 90005 has no PIX wallet
    assert all(formats.is_valid_pix_code(i.pix_code) for i in invoices if i.pix_code)


def test_the_pix_code_is_read_from_dados_pix_too(ixc, server):
    by_id = {i.id: i for i in ixc.list_open_invoices("1002")}
    assert by_id["90002"].pix_code == server.data.invoice("90002").pix_code  # pix.dadosPix.pixCopiaECola


def test_invoices_come_soonest_due_first_and_filter_by_contract_even_when_ixc_files_it_loose(ixc):
    invoices = ixc.list_open_invoices("1002")
    assert [i.id for i in invoices] == ["90002", "90003"]
    assert invoices[0].due_date < invoices[1].due_date
    # 90003 carries the contract in id_contrato_avulso only
    assert [i.id for i in ixc.list_open_invoices("1002", contract_id="5002")] == ["90002", "90003"]
    assert ixc.list_open_invoices("1002", contract_id="5001") == []
    assert ixc.list_open_invoices("1005") == []


def test_a_boleto_not_generated_yet_gets_its_line_once_ixc_prints_it(ixc, server):
    [invoice] = ixc.list_open_invoices("1003")
    assert invoice.digitable_line == server.data.invoice("90004").digitable_line
    forms = [r.path.rsplit("/", 1)[1] for r in server.requests]
    assert forms == ["fn_areceber", "get_boleto", "fn_areceber", "get_pix"]


def test_hidden_and_cancelled_receivables_are_never_listed(ixc, server):
    server.handler.hidden.add("90002")
    server.handler.cancelled.add("90003")
    assert ixc.list_open_invoices("1002") == []


def test_a_line_or_pix_whose_check_digits_fail_is_logged_masked_and_still_returned(ixc, server, caplog):
    fake = server.data.invoice("90001")
    bad_line = fake.digitable_line[:-1] + ("1" if fake.digitable_line[-1] != "1" else "2")
    bad_pix = fake.pix_code[:-4] + "0000"
    fake.digitable_line, fake.pix_code = bad_line, bad_pix
    with caplog.at_level(logging.WARNING, logger="companies.erp.checks"):
        [invoice] = ixc.list_open_invoices("1001")
    assert invoice.digitable_line == bad_line and invoice.pix_code == bad_pix
    messages = [r.getMessage() for r in caplog.records if r.name == "companies.erp.checks"]
    assert len(messages) == 2 and all("90001" in m for m in messages)
    assert not any(bad_line in m or bad_line.replace(" ", "")[:20] in m or bad_pix[:30] in m for m in messages)


def test_a_boleto_answered_with_an_error_leaves_the_invoice_without_pdf(ixc, server, caplog):
    server.data.invoice("90001").pdf = b"not a pdf"
    with caplog.at_level(logging.WARNING, logger="companies.erp.ixc"):
        [invoice] = ixc.list_open_invoices("1001")
    assert invoice.boleto_pdf == b"" and invoice.digitable_line
    assert "not a PDF" in caplog.text


@responses.activate
def test_an_ixc_without_the_pix_module_still_lists_the_invoice_with_its_line_and_pdf(server):
    fake = server.data.invoice("90001")
    record = {"id": "90001", "id_cliente": "1001", "id_contrato": "5001", "status": "A", "liberado": "S"}
    record |= {"data_vencimento": fake.due_date.isoformat(), "valor": "99.90", "linha_digitavel": fake.digitable_line}
    base = "http://127.0.0.1:9/webservice/v1"
    responses.post(f"{base}/fn_areceber", json={"page": "1", "total": "1", "registros": [record]})
    responses.post(f"{base}/get_boleto", body=base64.b64encode(fake.pdf))
    responses.post(f"{base}/get_pix", body="<html><body>Formulário não encontrado</body></html>")
    [invoice] = IxcAdapter("http://127.0.0.1:9", user="1", token="t").list_open_invoices("1001")
    assert invoice.pix_code == "" and invoice.boleto_pdf == fake.pdf and invoice.digitable_line == fake.digitable_line


# ---------------------------------------------------------------------- trust unlock


def test_a_trust_unlock_is_granted_until_the_date_ixc_names_and_the_contract_is_active_again(ixc, server):
    unlock = ixc.trust_unlock("5002")
    assert unlock.granted and unlock.until == server.data.today + dt.timedelta(days=3)
    assert _sent(server, "desbloqueio_confianca")[0].body == {"id": "5002"}
    assert "ixcsoft" not in _sent(server, "desbloqueio_confianca")[0].headers
    assert ixc.list_contracts("1002")[0].status is ContractStatus.ACTIVE


def test_a_second_trust_unlock_is_refused_with_ixcs_own_words(ixc):
    assert ixc.trust_unlock("5002").granted
    again = ixc.trust_unlock("5002")
    assert not again.granted
    assert again.reason.startswith("O desbloqueio de confiança não está disponível para o contrato 5002")


@pytest.mark.parametrize(
    ("contract_id", "reason"),
    [
        ("5001", "O contrato já encontra-se ativo, não é necessário utilizar o desbloqueio de confiança."),
        ("5006", "Não é possível utilizar o desbloqueio de confiança, o contrato está inativo."),
        ("9999", "ID de contrato inexistente na base de dados."),
    ],
)
def test_a_refused_trust_unlock_carries_the_erps_reason(ixc, contract_id, reason):
    unlock = ixc.trust_unlock(contract_id)
    assert not unlock.granted and unlock.reason == reason


def test_a_contract_without_trust_unlock_permission_is_refused_without_asking(ixc, server):
    unlock = ixc.trust_unlock("5007")
    assert not unlock.granted and "disabled" in unlock.reason
    assert _sent(server, "desbloqueio_confianca") == []


# ---------------------------------------------------------------------- errors


def test_ixcs_http_200_error_json_is_a_bad_answer_with_its_message_without_tags(ixc, server):
    server.fail = "error"
    with pytest.raises(ErpBadAnswer) as caught:
        ixc.find_customer_by_code("1001")
    assert str(caught.value) == "IXC refused the request: Você não tem permissão para acessar o formulário cliente!"
    assert not caught.value.retryable


@responses.activate
def test_ixcs_portuguese_error_shape_is_a_bad_answer_too():
    responses.post(
        "http://127.0.0.1:9/webservice/v1/cliente",
        json={"tipo": "erro", "codigo": "101", "mensagem": "Acesso negado<br />ao formulário"},
    )
    with pytest.raises(ErpBadAnswer, match="IXC refused the request: Acesso negado ao formulário"):
        IxcAdapter("http://127.0.0.1:9", user="1", token="t").find_customer_by_code("1")


@responses.activate
def test_a_total_given_as_a_string_pages_through_every_record():
    url = "http://127.0.0.1:9/webservice/v1/cliente_contrato"
    page = [{"id": str(n), "id_cliente": "1", "status": "A", "status_internet": "A"} for n in range(500)]
    responses.post(url, json={"page": "1", "total": "501", "registros": page})
    responses.post(url, json={"page": "2", "total": "501", "registros": [{**page[0], "id": "500"}]})
    contracts = IxcAdapter("http://127.0.0.1:9", user="1", token="t").list_contracts("1")
    assert len(contracts) == 501
    assert [json.loads(c.request.body)["page"] for c in responses.calls] == ["1", "2"]


@pytest.mark.parametrize(
    ("fail", "words"),
    [
        ("html", "HTML page instead of JSON: 'Ocorreu um erro ao processar. Contate o suporte.'"),
        ("empty", "empty body"),
        ("garbage", "not JSON"),
    ],
)
def test_pages_empty_bodies_and_garbage_are_bad_answers(ixc, server, fail, words):
    server.fail = fail
    with pytest.raises(ErpBadAnswer, match=words):
        ixc.list_contracts("1001")


def test_a_503_once_is_retried_and_the_call_succeeds(ixc, server):
    server.fail, server.fail_times = "down", 1
    assert ixc.find_customer_by_code("1001").code == "1001"
    assert [r.status for r in server.requests] == [503, 200]


def test_an_erp_that_stays_down_is_unavailable_after_the_retries(ixc, server):
    server.fail = "down"
    with pytest.raises(ErpUnavailable, match="HTTP 503") as caught:
        ixc.find_customer_by_code("1001")
    assert caught.value.retryable and len(server.requests) == 3


def test_an_erp_slower_than_the_read_timeout_is_unavailable_quickly(company):
    with running_erp("ixc", delay=0.6) as slow:
        company.erp_base_url = slow.url
        adapter = IxcAdapter.from_company(company, timeout=(1, 0.15), **FAST)
        started = time.monotonic()
        with pytest.raises(ErpUnavailable, match="did not answer in time"):
            adapter.find_customer_by_code("1001")
        assert time.monotonic() - started < 2
        assert len(slow.requests) == 3  # each timeout tried again


def test_bad_credentials_are_refused(company):
    company.erp_token = "wrong-token"
    with pytest.raises(ErpAuthFailed, match="HTTP 401"):
        IxcAdapter.from_company(company, **FAST).find_customer_by_code("1001")


def test_the_token_pasted_whole_as_ixc_shows_it_works(company):
    company.erp_username, company.erp_token = "", f"{DEMO_CREDENTIALS.username}:{DEMO_CREDENTIALS.token}"
    assert IxcAdapter.from_company(company, **FAST).find_customer_by_code("1001").code == "1001"


def test_no_token_and_no_full_cpf_reach_the_logs(ixc, server, caplog):
    server.data.invoice("90001").pix_code = server.data.invoice("90001").pix_code[:-4] + "0000"
    with caplog.at_level(logging.DEBUG):
        ixc.find_customers_by_document("529.982.247-25")
        ixc.find_customers_by_phone("5544999990001")
        ixc.list_contracts("1001")
        ixc.list_open_invoices("1001")
        ixc.list_open_invoices("1004")
        ixc.trust_unlock("5002")
        ixc.trust_unlock("5002")
        server.fail = "error"
        with pytest.raises(ErpBadAnswer):
            ixc.find_customers_by_document("529.982.247-25")
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert caplog.records  # the run did log (HTTP lines, the bad PIX, the refusal)
    basic = base64.b64encode(f"{DEMO_CREDENTIALS.username}:{DEMO_CREDENTIALS.token}".encode()).decode()
    for secret in (DEMO_CREDENTIALS.token, basic, "529.982.247-25", "52998224725", "central1001"):
        assert secret not in text


# ---------------------------------------------------------------------- the fake's IXC quirks


def test_the_fake_treats_a_post_to_a_table_without_listar_as_an_insert_and_refuses_it(server):
    auth = (DEMO_CREDENTIALS.username, DEMO_CREDENTIALS.token)
    answer = requests.post(f"{server.url}/webservice/v1/cliente", json={"razao": "X"}, auth=auth, timeout=5)
    assert answer.status_code == 200 and answer.json()["type"] == "error"


def test_the_fake_evaluates_grid_param_in_and_between_and_wants_it_as_a_string(server):
    auth, url = (DEMO_CREDENTIALS.username, DEMO_CREDENTIALS.token), f"{server.url}/webservice/v1/fn_areceber"
    today = server.data.today
    grid = [
        {"TB": "fn_areceber.id", "OP": "IN", "P": "90001,90002,90004"},
        {
            "TB": "fn_areceber.data_vencimento",
            "OP": "BE",
            "P": f"{today:%d/%m/%Y}",
            "P2": f"{today + dt.timedelta(days=4):%d/%m/%Y}",
        },
    ]
    body = {"qtype": "fn_areceber.id", "query": "", "oper": "L", "grid_param": json.dumps(grid), "rp": "50"}
    answer = requests.post(url, json=body, auth=auth, headers={"ixcsoft": "listar"}, timeout=5).json()
    assert [r["id"] for r in answer["registros"]] == ["90004"] and answer["total"] == "1"
    as_list = requests.post(url, json={**body, "grid_param": grid}, auth=auth, headers={"ixcsoft": "listar"}, timeout=5)
    assert as_list.json()["type"] == "error"


def test_the_fake_erp_runs_as_a_process_and_says_where_it_listens():
    process = subprocess.Popen(
        [sys.executable, "-m", "fakes.erp", "--kind", "ixc", "--port", "0"], stdout=subprocess.PIPE, text=True
    )
    try:
        line = process.stdout.readline().strip()
        assert line.startswith("READY http://127.0.0.1:")
        port = int(line.rsplit(":", 1)[1])
        auth = (DEMO_CREDENTIALS.username, DEMO_CREDENTIALS.token)
        answer = requests.post(
            f"http://127.0.0.1:{port}/webservice/v1/cliente",
            json={"qtype": "cliente.id", "query": "1001", "oper": "="},
            auth=auth,
            headers={"ixcsoft": "listar"},
            timeout=5,
        )
        assert answer.json()["registros"][0]["razao"] == "Maria da Silva"
    finally:
        process.terminate()
        process.wait(10)
        process.stdout.close()


def test_every_customers_open_invoices_due_in_a_range(server, ixc):
    today = server.data.today
    due = ixc.list_open_invoices_due(today - dt.timedelta(days=3), today + dt.timedelta(days=3))
    assert [(i.id, i.customer_code) for i in due] == [("90005", "1004"), ("90004", "1003")]
    assert ixc.list_open_invoices_due(today + dt.timedelta(days=30), today + dt.timedelta(days=40)) == []
    listing = [r for r in _sent(server, "fn_areceber") if r.body.get("qtype") == "fn_areceber.data_vencimento"]
    assert listing[0].body["query"] == (today - dt.timedelta(days=3)).strftime("%d/%m/%Y")


def test_generated_customers_are_found_by_phone_and_document_each_with_one_open_invoice(db):
    today = timezone.localdate()
    with running_erp("ixc", today=today, data=DemoErp(today, generated_customers=3)) as fake:
        company = CompanyFactory(
            erp_system="ixc",
            erp_base_url=fake.url,
            erp_username=DEMO_CREDENTIALS.username,
            erp_token=DEMO_CREDENTIALS.token,
        )
        ixc = IxcAdapter.from_company(company, **FAST)
        found = [ixc.find_customers_by_phone(f"55449810000{index:02d}") for index in range(3)]
        assert [[c.name for c in customers] for customers in found] == [
            ["Cliente 1 de Teste"],
            ["Cliente 2 de Teste"],
            ["Cliente 3 de Teste"],
        ]
        third = found[2][0]
        assert documents.is_valid(third.document)
        assert [c.code for c in ixc.find_customers_by_document(third.document)] == [third.code]
        [invoice] = ixc.list_open_invoices(third.code)
        assert invoice.due_date == today + dt.timedelta(days=7) and invoice.boleto_pdf.startswith(b"%PDF")
        # The demo's customers are still there, their phones matching none of the generated ones.
        assert [c.code for c in ixc.find_customers_by_phone("5544999990001")] == ["1001"]
