"""The SGP adapter against the fake SGP on loopback: every question, every error shape, no secret in the logs."""

import datetime as dt
import logging
import time
from decimal import Decimal

import pytest
import requests
import responses
from django.utils import timezone

from companies.erp import formats
from companies.erp.base import ContractStatus, ErpAuthFailed, ErpBadAnswer, ErpUnavailable
from companies.erp.registry import erp_for
from companies.erp.sgp import SgpAdapter, contract_status
from fakes.erp.data import FakeCustomer
from fakes.erp.server import DEMO_CREDENTIALS, running_erp
from fakes.erp.sgp import sent_fields
from tests.factories import CompanyFactory

FAST = {"max_wait": 0.01}  # retries without the production backoff, so failure tests stay fast


@pytest.fixture
def server():
    with running_erp("sgp", today=timezone.localdate()) as fake:
        yield fake


@pytest.fixture
def company(db, server):
    return CompanyFactory(
        erp_system="sgp",
        erp_base_url=server.url,
        erp_username=DEMO_CREDENTIALS.username,
        erp_token=DEMO_CREDENTIALS.token,
    )


@pytest.fixture
def sgp(company):
    return SgpAdapter.from_company(company, **FAST)


def _sent(server, service):
    path = f"/api/ura/{service}" + ("" if service.startswith("pagamento/") else "/")
    return [r for r in server.requests if r.path == path]


def _fields(server, service):
    return [sent_fields(r) for r in _sent(server, service)]


# ---------------------------------------------------------------------- customers


def test_the_registry_builds_the_sgp_adapter_from_the_company(company):
    adapter = erp_for(company, cached=False)
    assert isinstance(adapter, SgpAdapter)
    assert adapter.find_customer_by_code("1001").name == "Maria da Silva"


def test_a_customer_by_code_is_asked_of_clientes_with_app_and_token_in_the_form(sgp, server):
    customer = sgp.find_customer_by_code("1001")
    assert (customer.code, customer.name, customer.document) == ("1001", "Maria da Silva", "52998224725")
    assert customer.phones == ("5544999990001",) and customer.email == "maria@example.com"
    [asked] = _sent(server, "clientes")
    assert asked.headers["content-type"] == "application/x-www-form-urlencoded"
    fields = sent_fields(asked)
    assert fields["app"] == DEMO_CREDENTIALS.username and fields["token"] == DEMO_CREDENTIALS.token
    assert fields["cliente_id"] == "1001" and fields["omitir_titulos"] == "1" and fields["omitir_contratos"] == "1"
    assert "authorization" not in asked.headers  # the credentials go in the body only


@pytest.mark.parametrize(
    ("code", "phones"),
    [
        ("1001", ("5544999990001",)),
        ("1002", ("5544997770000", "554430310001")),  # two numbers in one contact
        ("1003", ("5544988880000",)),  # "+55 44 98888-0000"
        ("1004", ("5544988887766",)),  # a mobile typed without its ninth digit
        ("1005", ()),  # no phone at all
        ("1006", ("5544996665544", "554432621000")),  # a 0xx carrier prefix, and a landline
        ("1007", ("5544995554433",)),  # "554499555-4433"
        ("1008", ("554430254000",)),  # a landline only
    ],
)
def test_customer_phones_come_out_as_whatsapp_numbers(sgp, code, phones):
    assert sgp.find_customer_by_code(code).phones == phones


def test_an_unknown_code_is_none_and_one_that_is_no_number_is_not_even_asked(sgp, server):
    assert sgp.find_customer_by_code("9999") is None
    asked = len(server.requests)
    assert sgp.find_customer_by_code("1 OR 1=1") is None
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
def test_customers_by_document_are_asked_as_digits(sgp, server, document, code):
    [customer] = sgp.find_customers_by_document(document)
    assert customer.code == code and customer.document == customer.document.upper()
    assert [f["cpfcnpj"] for f in _fields(server, "clientes")] == [customer.document]


def test_an_install_that_matches_only_the_formatted_document_is_asked_again_formatted(sgp, server):
    server.handler.exact_documents = True
    assert [c.code for c in sgp.find_customers_by_document("52998224725")] == ["1001"]
    assert [f["cpfcnpj"] for f in _fields(server, "clientes")] == ["52998224725", "529.982.247-25"]


def test_an_unknown_document_finds_nobody_and_a_malformed_one_is_not_asked(sgp, server):
    assert sgp.find_customers_by_document("390.533.447-05") == []
    asked = len(server.requests)
    assert sgp.find_customers_by_document("123") == []
    assert sgp.find_customers_by_document("52998224725' OR 1=1") == []
    assert len(server.requests) == asked


@pytest.mark.parametrize(
    ("phone", "codes"),
    [
        ("5544999990001", ["1001"]),
        ("554499990001", ["1001"]),  # a WhatsApp account from before the ninth digit
        ("5544988887766", ["1004"]),  # stored without its ninth digit: "4488887766"
        ("554430310001", ["1002"]),  # the landline after a mobile in one contact
        ("+55 (44) 99666-5544", ["1006"]),  # stored behind a 0xx prefix
        ("5544995554433", ["1007"]),
        ("5544991234567", []),
    ],
)
def test_customers_by_phone_match_however_the_erp_typed_the_number(sgp, phone, codes):
    assert [c.code for c in sgp.find_customers_by_phone(phone)] == codes


def test_a_mobile_is_asked_with_and_without_its_ninth_digit_and_a_landline_once(sgp, server):
    sgp.find_customers_by_phone("5544999990001")
    sgp.find_customers_by_phone("554430254000")
    assert [f["telefone"] for f in _fields(server, "clientes")] == ["44999990001", "4499990001", "4430254000"]


def test_a_phone_search_keeps_only_customers_whose_number_it_really_is(sgp, server):
    # A mistyped number (one digit too many) contains the digits asked: found by SGP, dropped by our check.
    server.data.customers.append(FakeCustomer("1009", "Outra Pessoa", "39053344705", mobile="(44) 99999-00012"))
    server.data.customers.append(FakeCustomer("1010", "Mesma Linha", "62710524520", mobile="44 9 9999 0001"))
    assert [c.code for c in sgp.find_customers_by_phone("5544999990001")] == ["1001", "1010"]


def test_a_phone_that_is_no_number_finds_nobody_without_asking(sgp, server):
    assert sgp.find_customers_by_phone("not a phone") == []
    assert server.requests == []


# ---------------------------------------------------------------------- contracts


@pytest.mark.parametrize(
    ("code", "contract_id", "status", "plan"),
    [
        ("1001", "5001", ContractStatus.ACTIVE, "Fibra 500 Mega"),
        ("1002", "5002", ContractStatus.BLOCKED, "Fibra 300 Mega"),  # Suspenso, motivo Financeiro
        ("1003", "5003", ContractStatus.ACTIVE, "Empresarial 1 Giga"),
        ("1004", "5004", ContractStatus.BANDWIDTH_LIMITED, "Fibra 200 Mega"),  # Ativo V. Reduzida
        ("1005", "5005", ContractStatus.SUSPENDED, "Fibra 100 Mega"),  # Suspenso at the customer's request
        ("1006", "5006", ContractStatus.CANCELLED, "Fibra 300 Mega"),
        ("1007", "5007", ContractStatus.BLOCKED, "Empresarial 500 Mega"),  # Bloqueado
        ("1008", "5008", ContractStatus.PENDING, "Fibra 500 Mega"),  # Novo
    ],
)
def test_every_demo_contract_has_its_state(sgp, code, contract_id, status, plan):
    [contract] = sgp.list_contracts(code)
    assert (contract.id, contract.customer_code, contract.status, contract.plan) == (contract_id, code, status, plan)
    assert contract.trust_unlock_allowed is None  # SGP does not say


def test_contracts_are_asked_of_consultacliente_by_the_customers_document(sgp, server):
    sgp.list_contracts("1003")
    assert [f["cpfcnpj"] for f in _fields(server, "consultacliente")] == ["11222333000181"]


def test_a_customer_unknown_or_without_contracts_has_none(sgp, server):
    assert sgp.list_contracts("9999") == []
    assert sgp.list_contracts("abc") == []
    server.data.contracts = [c for c in server.data.contracts if c.customer_code != "1001"]
    assert sgp.list_contracts("1001") == []


@pytest.mark.parametrize(
    ("row", "status"),
    [
        ({"contratoStatus": 1, "contratoStatusDisplay": "Ativo"}, ContractStatus.ACTIVE),
        ({"contratoStatus": 7, "contratoStatusDisplay": "Ativo V. Reduzida"}, ContractStatus.BANDWIDTH_LIMITED),
        (
            {"contratoStatus": 4, "contratoStatusDisplay": "Suspenso", "motivo_status": "Financeiro"},
            ContractStatus.BLOCKED,
        ),
        (
            {"contratoStatus": 4, "contratoStatusDisplay": "Suspenso", "motivo_status": "Férias"},
            ContractStatus.SUSPENDED,
        ),
        ({"contratoStatus": 2, "contratoStatusDisplay": "Inativo", "motivo_status": ""}, ContractStatus.SUSPENDED),
        (
            {"contratoStatus": 2, "contratoStatusDisplay": "Inativo", "motivoStatus": "FINANCEIRO"},
            ContractStatus.BLOCKED,
        ),
        ({"contratoStatus": 2, "contratoStatusDisplay": "Bloqueado"}, ContractStatus.BLOCKED),
        ({"contratoStatus": 5, "contratoStatusDisplay": "Inviabilidade Técnica"}, ContractStatus.CANCELLED),
        ({"contratoStatus": 6, "contratoStatusDisplay": " Novo "}, ContractStatus.PENDING),
        ({"contratoStatus": "3"}, ContractStatus.CANCELLED),  # no words: the number decides
        ({"contratoStatus": 7}, ContractStatus.BANDWIDTH_LIMITED),
        ({"contratoStatus": 4, "motivo_status": "Financeiro"}, ContractStatus.BLOCKED),
        ({"contratoStatus": 1}, ContractStatus.ACTIVE),
    ],
)
def test_sgp_statuses_map_to_one_contract_status(row, status):
    assert contract_status(row) is status


# ---------------------------------------------------------------------- invoices


def test_open_invoices_carry_line_barcode_pix_and_the_pdf_link_and_paid_ones_are_absent(sgp, server):
    [invoice] = sgp.list_open_invoices("1001")  # 90006 is paid
    fake = server.data.invoice("90001")
    assert (invoice.id, invoice.customer_code, invoice.contract_id) == ("90001", "1001", "5001")
    assert invoice.due_date == fake.due_date and invoice.amount == Decimal("99.90")
    assert invoice.digitable_line == fake.digitable_line and formats.is_valid_digitable_line(invoice.digitable_line)
    assert invoice.barcode == fake.barcode
    assert invoice.pix_code == fake.pix_code and formats.is_valid_pix_code(invoice.pix_code)
    answer = requests.get(invoice.boleto_url, timeout=5)
    assert answer.headers["content-type"] == "application/pdf" and answer.content == fake.pdf
    assert invoice.boleto_pdf == b""


def test_open_titles_are_asked_as_json_and_second_copies_never_open_a_ticket(sgp, server):
    sgp.list_open_invoices("1002")
    [titles] = _sent(server, "titulos")
    assert titles.headers["content-type"] == "application/json"
    assert {k: titles.body[k] for k in ("cliente_id", "status", "ordenar")} == {
        "cliente_id": "1002",
        "status": "abertos",
        "ordenar": "data_vencimento",
    }
    [copy] = _fields(server, "fatura2via")
    assert copy["contrato"] == "5002" and copy["nao_gerar_os"] == "1" and copy["link_pdf"] == "1"
    assert copy["faturas_abertas_todas"] == "1"
    assert server.handler.tickets == []


def test_a_title_issued_just_now_gets_its_line_from_the_second_copy(sgp, server):
    [invoice] = sgp.list_open_invoices("1003")  # titulos has no linhaDigitavel for 90004 yet
    assert invoice.digitable_line == server.data.invoice("90004").digitable_line
    assert formats.is_valid_digitable_line(invoice.digitable_line)


def test_a_title_without_pix_has_it_generated_once_and_a_wallet_without_pix_goes_without(sgp, server, caplog):
    with caplog.at_level(logging.INFO, logger="companies.erp.sgp"):
        invoices = sgp.list_open_invoices("1002") + sgp.list_open_invoices("1004")
    pix = {i.id: i.pix_code for i in invoices}
    assert pix["90003"] == server.data.invoice("90003").pix_code  # generated by pagamento/pix
    assert pix["90005"] == ""
    assert [r.path for r in server.requests if "/pagamento/pix/" in r.path] == [
        "/api/ura/pagamento/pix/90003",
        "/api/ura/pagamento/pix/90005",
    ]
    assert _fields(server, "pagamento/pix/90003")[0]["contrato"] == "5002"
    assert "no PIX for invoice 90005: O portador do título não possui PIX habilitado" in caplog.text
    sgp.list_open_invoices("1002")  # generated now: titulos carries it, nothing is generated again
    assert len(_sent(server, "pagamento/pix/90003")) == 1


def test_every_open_invoice_of_the_demo_has_a_valid_line_and_a_valid_pix_when_it_has_one(sgp):
    invoices = [i for code in ("1001", "1002", "1003", "1004") for i in sgp.list_open_invoices(code)]
    assert [i.id for i in invoices] == ["90001", "90002", "90003", "90004", "90005"]
    assert all(formats.is_valid_digitable_line(i.digitable_line) for i in invoices)
    assert all(len(i.barcode) == 44 for i in invoices)
    assert all(i.boleto_url.endswith(".pdf") for i in invoices)
    assert [i.id for i in invoices if not i.pix_code] == ["90005"]
    assert all(formats.is_valid_pix_code(i.pix_code) for i in invoices if i.pix_code)


def test_invoices_filter_by_contract(sgp, server):
    assert [i.id for i in sgp.list_open_invoices("1002", contract_id="5002")] == ["90002", "90003"]
    assert _fields(server, "titulos")[0]["contrato"] == "5002"
    assert sgp.list_open_invoices("1002", contract_id="5003") == []
    assert sgp.list_open_invoices("1005") == []
    assert sgp.list_open_invoices("1002", contract_id="5002 OR 1") == []


@pytest.mark.parametrize("keys", ["snake", "lower"])
def test_titles_are_read_whatever_casing_the_release_gives_their_keys(sgp, server, keys):
    server.handler.title_keys = keys
    [invoice] = sgp.list_open_invoices("1001")
    fake = server.data.invoice("90001")
    assert (invoice.due_date, invoice.amount, invoice.digitable_line, invoice.pix_code) == (
        fake.due_date,
        fake.amount,
        fake.digitable_line,
        fake.pix_code,
    )
    assert invoice.contract_id == "5001" and invoice.barcode == fake.barcode


def test_a_line_whose_check_digits_fail_is_logged_masked_and_still_returned(sgp, server, caplog):
    fake = server.data.invoice("90001")
    bad_line = fake.digitable_line[:-1] + ("1" if fake.digitable_line[-1] != "1" else "2")
    fake.digitable_line = bad_line
    with caplog.at_level(logging.WARNING, logger="companies.erp.checks"):
        [invoice] = sgp.list_open_invoices("1001")
    assert invoice.digitable_line == bad_line
    [record] = [r for r in caplog.records if r.name == "companies.erp.checks"]
    assert "90001" in record.getMessage() and bad_line.replace(" ", "")[:20] not in record.getMessage()


def test_every_customers_open_invoices_due_in_a_range(server, sgp):
    today = server.data.today
    due = sgp.list_open_invoices_due(today - dt.timedelta(days=3), today + dt.timedelta(days=3))
    assert [(i.id, i.customer_code, i.contract_id) for i in due] == [
        ("90005", "1004", "5004"),
        ("90004", "1003", "5003"),
    ]
    assert all(formats.is_valid_digitable_line(i.digitable_line) for i in due)
    [asked] = _fields(server, "titulos")
    assert (asked["data_vencimento_inicio"], asked["data_vencimento_fim"], asked["status"]) == (
        (today - dt.timedelta(days=3)).isoformat(),
        (today + dt.timedelta(days=3)).isoformat(),
        "abertos",
    )
    assert "cliente_id" not in asked
    assert sgp.list_open_invoices_due(today + dt.timedelta(days=30), today + dt.timedelta(days=40)) == []


def test_titles_that_name_their_client_need_no_contract_lookup(server, sgp):
    server.handler.with_client_id = True
    today = server.data.today
    due = sgp.list_open_invoices_due(today - dt.timedelta(days=3), today + dt.timedelta(days=3))
    assert [i.customer_code for i in due] == ["1004", "1003"]
    assert _sent(server, "consultacliente") == []


def test_an_sgp_that_caps_its_pages_below_the_limit_is_read_to_the_end(server, sgp):
    server.handler.page_cap = 2
    today = server.data.today
    due = sgp.list_open_invoices_due(today - dt.timedelta(days=60), today + dt.timedelta(days=60))
    assert [i.id for i in due] == ["90002", "90005", "90004", "90001", "90003"]
    assert [f["offset"] for f in _fields(server, "titulos")] == ["0", "2", "4"]


# ---------------------------------------------------------------------- trust unlock


def test_a_blocked_contract_is_unlocked_for_the_days_sgp_grants_and_is_active_again(sgp, server):
    unlock = sgp.trust_unlock("5002")
    assert unlock.granted and unlock.reason == ""
    assert unlock.until == server.data.today + dt.timedelta(days=3)
    [asked] = _sent(server, "liberacaopromessa")
    assert asked.headers["content-type"] == "application/json"
    assert asked.body["contrato"] == "5002" and "data_promessa" not in asked.body
    assert sgp.list_contracts("1002")[0].status is ContractStatus.ACTIVE


@pytest.mark.parametrize(
    ("contract_id", "reason"),
    [
        ("5001", "Contrato não está bloqueado"),
        ("5007", "Desbloqueio de confiança não permitido para este contrato"),
        ("9999", "SGP has no contract with this number."),
        ("5002; DROP", "SGP contract ids are numbers."),
    ],
)
def test_a_refused_unlock_carries_the_reason(sgp, contract_id, reason):
    unlock = sgp.trust_unlock(contract_id)
    assert not unlock.granted and unlock.reason == reason and unlock.until is None


def test_an_unlock_asked_again_once_the_allowance_is_used_up_carries_sgps_words(sgp, server):
    assert sgp.trust_unlock("5002").granted
    server.data.contract("5002").state = "blocked"  # blocked again before paying
    unlock = sgp.trust_unlock("5002")
    assert not unlock.granted
    assert unlock.reason == "O recurso de promessa de pagamento já atingiu quantidade permitida. Recurso não disponível"


# ---------------------------------------------------------------------- errors


def test_sgps_error_shape_is_a_bad_answer_with_its_words_and_the_document_masked(sgp, server):
    server.fail = "error"
    with pytest.raises(ErpBadAnswer, match=r"SGP refused clientes: Não foi possível consultar o CPF/CNPJ") as caught:
        sgp.find_customers_by_document("529.982.247-25")
    assert "52998224725" not in str(caught.value) and "529.***.***-25" in str(caught.value)
    with pytest.raises(ErpBadAnswer, match="SGP refused titulos: Ocorreu um erro interno"):
        sgp.list_open_invoices("1001")
    with pytest.raises(ErpBadAnswer, match="SGP refused consultacliente"):
        sgp.trust_unlock("5002")
    assert server.data.contract("5002").state == "blocked"


@pytest.mark.parametrize(
    ("fail", "words"), [("html", "HTML page instead of JSON"), ("empty", "empty body"), ("garbage", "not JSON")]
)
def test_pages_empty_bodies_and_garbage_are_bad_answers(sgp, server, fail, words):
    server.fail = fail
    with pytest.raises(ErpBadAnswer, match=words):
        sgp.list_contracts("1001")


def test_a_503_once_is_retried_and_the_call_succeeds(sgp, server):
    server.fail, server.fail_times = "down", 1
    assert [i.id for i in sgp.list_open_invoices("1001")] == ["90001"]
    assert [r.status for r in _sent(server, "titulos")] == [503, 200]


def test_an_erp_that_stays_down_is_unavailable_after_the_retries(sgp, server):
    server.fail = "down"
    with pytest.raises(ErpUnavailable, match="HTTP 503"):
        sgp.find_customer_by_code("1001")
    assert len(server.requests) == 3


def test_an_erp_slower_than_the_read_timeout_is_unavailable_quickly(company):
    with running_erp("sgp", delay=0.6) as slow:
        company.erp_base_url = slow.url
        adapter = SgpAdapter.from_company(company, timeout=(1, 0.15), **FAST)
        started = time.monotonic()
        with pytest.raises(ErpUnavailable, match="did not answer in time"):
            adapter.find_customer_by_code("1001")
        assert time.monotonic() - started < 2


@pytest.mark.parametrize(
    ("app", "token"),
    [(DEMO_CREDENTIALS.username, "wrong-token"), (DEMO_CREDENTIALS.username.upper(), DEMO_CREDENTIALS.token)],
)
def test_a_wrong_token_or_an_app_name_in_the_wrong_case_is_refused(company, app, token):
    company.erp_username, company.erp_token = app, token
    adapter = SgpAdapter.from_company(company, **FAST)
    with pytest.raises(ErpAuthFailed, match="HTTP 403"):
        adapter.find_customer_by_code("1001")


@pytest.mark.parametrize("suffix", ["/", "/admin/", "/api/ura/consultacliente/", "/accounts/login/?next=/admin/"])
def test_a_pasted_panel_or_service_url_works_as_the_base(company, server, suffix):
    company.erp_base_url = f"{server.url}{suffix}"
    adapter = SgpAdapter.from_company(company, **FAST)
    assert adapter.find_customer_by_code("1001").code == "1001"
    assert [i.id for i in adapter.list_open_invoices("1001")] == ["90001"]


def test_a_base_url_that_reaches_the_login_page_is_a_bad_answer_not_nobody(company, server):
    company.erp_base_url = f"{server.url}/painel"
    adapter = SgpAdapter.from_company(company, **FAST)
    with pytest.raises(ErpBadAnswer, match="HTML page instead of JSON: 'SGP - Login"):
        adapter.find_customers_by_document("529.982.247-25")


@responses.activate
def test_a_token_refused_with_http_200_is_an_auth_failure():
    responses.post("http://127.0.0.1:9/api/ura/clientes/", json={"status": 0, "msg": "Token inválido"})
    with pytest.raises(ErpAuthFailed, match="Token inválido"):
        SgpAdapter("http://127.0.0.1:9", app="a", token="t").find_customer_by_code("1")


@responses.activate
def test_an_older_release_answering_assinantes_is_read_and_an_answer_without_any_list_is_refused():
    url = "http://127.0.0.1:9/api/ura/consultacliente/"
    row = {"contratoId": 7, "clienteId": 1, "contratoStatus": 1, "contratoStatusDisplay": "Ativo", "planointernet": "X"}
    responses.post(url, json={"assinantes": [row]})
    responses.post(url, json={"status": 1})
    adapter = SgpAdapter("http://127.0.0.1:9", app="a", token="t")
    assert adapter.trust_unlock("8").reason == "SGP has no contract with this number."  # 7 listed, not 8
    with pytest.raises(ErpBadAnswer, match="without its list or a message"):
        adapter.trust_unlock("7")


def test_no_token_no_password_sgp_returns_and_no_full_cpf_reach_the_logs(sgp, server, caplog):
    with caplog.at_level(logging.DEBUG):
        sgp.find_customers_by_document("529.982.247-25")
        sgp.find_customers_by_phone("5544999990001")
        sgp.list_contracts("1001")
        sgp.list_open_invoices("1004")  # logs the title without PIX
        sgp.trust_unlock("5001")
        server.fail = "error"
        with pytest.raises(ErpBadAnswer):
            sgp.find_customers_by_document("529.982.247-25")
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert "no PIX for invoice 90005" in text
    for secret in (DEMO_CREDENTIALS.token, "central5001", "pppoe-5001", "52998224725", "529.982.247-25"):
        assert secret not in text


@responses.activate
def test_a_paid_title_an_sgp_lists_despite_the_status_filter_is_left_out():
    title = {"id": 1, "clienteContrato": 7, "dataVencimento": "2030-01-10", "valor": "10,00", "linhaDigitavel": ""}
    rows = [
        {**title, "status": "aberto"},
        {**title, "id": 2, "status": "pago", "dataPagamento": "2030-01-09"},
        {**title, "id": 3, "status": "aberto", "dataPagamento": "2030-01-08"},
    ]
    responses.post("http://127.0.0.1:9/api/ura/titulos/", json={"paginacao": {"total": 3}, "titulos": rows})
    responses.post("http://127.0.0.1:9/api/ura/fatura2via/", json={"status": 0, "links": []})
    responses.post("http://127.0.0.1:9/api/ura/pagamento/pix/1", json={"status": 0, "msg": "Sem PIX"})
    [invoice] = SgpAdapter("http://127.0.0.1:9", app="a", token="t").list_open_invoices("5")
    assert (invoice.id, invoice.amount, invoice.customer_code, invoice.boleto_url) == ("1", Decimal("10.00"), "5", "")
