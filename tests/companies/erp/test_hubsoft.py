"""The Hubsoft adapter against the fake Hubsoft on loopback: the OAuth token kept and renewed, every question,
every error shape, no secret and no full CPF or phone in the logs."""

import datetime as dt
import logging
import time
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.utils import timezone

from companies.erp import formats, hubsoft
from companies.erp.base import ContractStatus, ErpAuthFailed, ErpBadAnswer, ErpUnavailable
from companies.erp.hubsoft import API_PATH, TOKEN_PATH, HubsoftAdapter, contract_status
from companies.erp.registry import erp_for
from fakes.erp.data import FakeCustomer
from fakes.erp.server import DEMO_CREDENTIALS, running_erp
from tests.factories import CompanyFactory

FAST = {"max_wait": 0.01}  # retries without the production backoff, so failure tests stay fast


@pytest.fixture
def server():
    with running_erp("hubsoft", today=timezone.localdate()) as fake:
        yield fake


@pytest.fixture
def company(db, server):
    return CompanyFactory(
        erp_system="hubsoft",
        erp_base_url=server.url,
        erp_client_id=DEMO_CREDENTIALS.client_id,
        erp_client_secret=DEMO_CREDENTIALS.client_secret,
        erp_username=DEMO_CREDENTIALS.username,
        erp_password=DEMO_CREDENTIALS.password,
    )


@pytest.fixture
def hub(company):
    return HubsoftAdapter.from_company(company, **FAST)


def _api(server, route=None):
    """The API requests (``route`` e.g. "/cliente"), without the token requests."""
    found = [r for r in server.requests if urlsplit(r.path).path.startswith(API_PATH)]
    return [r for r in found if route is None or urlsplit(r.path).path == f"{API_PATH}{route}"]


def _params(request):
    return {name: values[0] for name, values in parse_qs(urlsplit(request.path).query).items()}


def _token_requests(server):
    return [r for r in server.requests if r.path == TOKEN_PATH]


def _own_token(server):
    answer = requests.post(
        f"{server.url}{TOKEN_PATH}",
        json={
            "grant_type": "password",
            "client_id": DEMO_CREDENTIALS.client_id,
            "client_secret": DEMO_CREDENTIALS.client_secret,
            "username": DEMO_CREDENTIALS.username,
            "password": DEMO_CREDENTIALS.password,
        },
        timeout=5,
    )
    return answer.json()["access_token"]


# ---------------------------------------------------------------------- customers


def test_the_registry_builds_the_hubsoft_adapter_from_the_company(company):
    adapter = erp_for(company, cached=False)
    assert isinstance(adapter, HubsoftAdapter)
    assert adapter.find_customer_by_code("1001").name == "Maria da Silva"


def test_a_customer_by_code_is_asked_with_a_bearer_token_from_the_password_grant(hub, server):
    customer = hub.find_customer_by_code("1001")
    assert (customer.code, customer.name, customer.document) == ("1001", "Maria da Silva", "52998224725")
    assert customer.phones == ("5544999990001",) and customer.email == "maria@example.com"
    [grant] = _token_requests(server)
    assert grant.method == "POST"
    assert grant.body == {
        "grant_type": "password",
        "client_id": DEMO_CREDENTIALS.client_id,
        "client_secret": DEMO_CREDENTIALS.client_secret,
        "username": DEMO_CREDENTIALS.username,
        "password": DEMO_CREDENTIALS.password,
    }
    [asked] = _api(server, "/cliente")
    assert _params(asked) == {"busca": "codigo_cliente", "termo_busca": "1001", "limit": "100", "cancelado": "sim"}
    assert asked.authorization.startswith("Bearer eyJ")


@pytest.mark.parametrize(
    ("code", "phones"),
    [
        ("1001", ("5544999990001",)),
        ("1002", ("5544997770000", "554430310001")),  # two numbers in one field
        ("1003", ("5544988880000",)),  # "+55 44 98888-0000" in the secondary field
        ("1004", ("5544988887766",)),  # a mobile typed without its ninth digit
        ("1005", ()),  # no phone at all
        ("1006", ("5544996665544", "554432621000")),  # behind a 0xx prefix, and a landline
        ("1007", ("5544995554433",)),
        ("1008", ("554430254000",)),  # a landline only
    ],
)
def test_every_demo_customers_phones_come_out_as_whatsapp_numbers(hub, code, phones):
    assert hub.find_customer_by_code(code).phones == phones


def test_a_code_that_is_no_number_is_never_asked(hub, server):
    assert hub.find_customer_by_code("1' OR '1'='1") is None
    assert server.requests == []
    assert hub.find_customer_by_code("9999") is None
    assert len(_api(server)) == 1


@pytest.mark.parametrize(
    ("document", "code"),
    [
        ("529.982.247-25", "1001"),
        ("11222333000181", "1003"),
        ("12.ABC.345/01DE-35", "1007"),  # the alphanumeric CNPJ of July 2026
        ("22.385.367/0001-03", "1008"),
    ],
)
def test_customers_by_document_are_asked_by_its_digits(hub, server, document, code):
    [customer] = hub.find_customers_by_document(document)
    assert customer.code == code
    assert _params(_api(server, "/cliente")[0])["termo_busca"] == customer.document
    assert _params(_api(server, "/cliente")[0])["busca"] == "cpf_cnpj"


def test_an_unknown_or_malformed_document_finds_nobody(hub, server):
    assert hub.find_customers_by_document("390.533.447-05") == []
    assert hub.find_customers_by_document("5299822") == []
    assert len(_api(server)) == 1


@pytest.mark.parametrize(
    ("phone", "codes", "asked"),
    [
        ("5544999990001", ["1001"], ["44999990001"]),
        ("554499990001", ["1001"], ["44999990001"]),  # a WhatsApp account from before the ninth digit
        ("5544988887766", ["1004"], ["44988887766", "88887766"]),  # stored without its ninth digit
        ("554430310001", ["1002"], ["4430310001"]),  # the landline after a mobile in one field
        ("5544996665544", ["1006"], ["44996665544"]),  # stored behind a 0xx prefix
        ("5544988880000", ["1003"], ["44988880000"]),  # stored with +55
        ("5544991234567", [], ["44991234567", "91234567"]),
    ],
)
def test_customers_by_phone_match_however_the_erp_typed_the_number(hub, server, phone, codes, asked):
    assert [c.code for c in hub.find_customers_by_phone(phone)] == codes
    assert [_params(r)["termo_busca"] for r in _api(server, "/cliente")] == asked
    assert {_params(r)["busca"] for r in _api(server, "/cliente")} == {"telefone"}


def test_a_phone_search_keeps_only_customers_whose_number_it_really_is(hub, server):
    server.data.customers.append(FakeCustomer("1009", "Outra Pessoa", "39053344705", mobile="11 98888-7766"))
    assert [c.code for c in hub.find_customers_by_phone("5544988887766")] == ["1004"]  # 88887766 finds both
    assert [c.code for c in hub.find_customers_by_phone("+55 11 98888-7766")] == ["1009"]
    assert hub.find_customers_by_phone("not a phone") == []


# ---------------------------------------------------------------------- contracts


@pytest.mark.parametrize(
    ("code", "contract_id", "status", "plan"),
    [
        ("1001", "5001", ContractStatus.ACTIVE, "Fibra 500 Mega"),
        ("1002", "5002", ContractStatus.BLOCKED, "Fibra 300 Mega"),  # suspenso_debito
        ("1003", "5003", ContractStatus.ACTIVE, "Empresarial 1 Giga"),
        ("1004", "5004", ContractStatus.BANDWIDTH_LIMITED, "Fibra 200 Mega"),  # suspenso_parcialmente
        ("1005", "5005", ContractStatus.SUSPENDED, "Fibra 100 Mega"),  # suspenso_pedido_cliente
        ("1006", "5006", ContractStatus.CANCELLED, "Fibra 300 Mega"),  # only with cancelado=sim
        ("1007", "5007", ContractStatus.BLOCKED, "Empresarial 500 Mega"),
        ("1008", "5008", ContractStatus.PENDING, "Fibra 500 Mega"),  # aguardando_instalacao
    ],
)
def test_every_demo_service_is_a_contract_with_its_state(hub, code, contract_id, status, plan):
    [contract] = hub.list_contracts(code)
    assert (contract.id, contract.customer_code, contract.status, contract.plan) == (contract_id, code, status, plan)
    assert contract.trust_unlock_allowed is None  # Hubsoft does not say


def test_hubsoft_leaves_cancelled_services_out_unless_asked_which_the_adapter_does(hub, server):
    token = _own_token(server)
    answer = requests.get(
        f"{server.url}{API_PATH}/cliente",
        params={"busca": "codigo_cliente", "termo_busca": "1006"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=5,
    ).json()
    assert answer["clientes"][0]["servicos"] == []
    assert [c.status for c in hub.list_contracts("1006")] == [ContractStatus.CANCELLED]


@pytest.mark.parametrize(
    ("prefix", "status"),
    [
        ("servico_habilitado", ContractStatus.ACTIVE),
        ("suspenso_debito", ContractStatus.BLOCKED),
        ("suspenso_parcialmente", ContractStatus.BANDWIDTH_LIMITED),
        ("franquia_excedida", ContractStatus.BANDWIDTH_LIMITED),
        ("suspenso_pedido_cliente", ContractStatus.SUSPENDED),
        ("cancelado", ContractStatus.CANCELLED),
        ("inativo", ContractStatus.CANCELLED),
        ("agendado_para_instalacao", ContractStatus.PENDING),
        ("aguardando_assinatura_contrato", ContractStatus.PENDING),
        ("aguardando_configuracao", ContractStatus.PENDING),
        ("aguardando_instalacao", ContractStatus.PENDING),
        ("aguardando_liberacao_ti", ContractStatus.PENDING),
        ("aguardando_migracao", ContractStatus.PENDING),
        ("SUSPENSO_DEBITO", ContractStatus.BLOCKED),
        ("aguardando_vistoria", ContractStatus.PENDING),  # unknown ones by their first word
        ("suspenso_judicial", ContractStatus.SUSPENDED),
    ],
)
def test_hubsoft_status_prefixes_map_to_one_contract_status(prefix, status):
    assert contract_status({"id_cliente_servico": 1, "status_prefixo": prefix}) is status


def test_an_unknown_status_is_logged(caplog):
    with caplog.at_level(logging.WARNING, logger="companies.erp.hubsoft"):
        assert contract_status({"id_cliente_servico": 77, "status_prefixo": "novo_status"}) is ContractStatus.ACTIVE
    assert "service 77" in caplog.text


# ---------------------------------------------------------------------- invoices


def test_open_invoices_carry_line_barcode_pix_and_link_and_paid_ones_are_absent(hub, server):
    [invoice] = hub.list_open_invoices("1001")  # 90006 is paid
    fake = server.data.invoice("90001")
    assert (invoice.id, invoice.customer_code, invoice.contract_id) == ("90001", "1001", "5001")
    assert invoice.due_date == fake.due_date and invoice.amount == Decimal("99.90")
    assert isinstance(invoice.amount, Decimal)
    assert invoice.digitable_line == fake.digitable_line and formats.is_valid_digitable_line(invoice.digitable_line)
    assert invoice.barcode == fake.barcode
    assert invoice.pix_code == fake.pix_code and formats.is_valid_pix_code(invoice.pix_code)
    assert requests.get(invoice.boleto_url, timeout=5).content == fake.pdf  # Hubsoft's PDF link
    assert invoice.boleto_pdf == b""
    [asked] = _api(server, "/cliente/financeiro")
    assert _params(asked) == {
        "busca": "codigo_cliente",
        "termo_busca": "1001",
        "apenas_pendente": "sim",
        "limit": "50",
        "order_by": "data_vencimento",
        "order_type": "asc",
    }


def test_every_open_invoice_of_the_demo_has_valid_payment_codes_where_it_has_them(hub):
    invoices = [i for code in ("1001", "1002", "1003", "1004") for i in hub.list_open_invoices(code)]
    assert [i.id for i in invoices] == ["90001", "90002", "90003", "90004", "90005"]
    boletos = [i for i in invoices if i.id != "90003"]
    assert all(formats.is_valid_digitable_line(i.digitable_line) for i in boletos)
    assert all(len(i.barcode) == 44 and i.boleto_url for i in boletos)
    assert [i.id for i in invoices if not i.pix_code] == ["90005"]
    assert all(formats.is_valid_pix_code(i.pix_code) for i in invoices if i.pix_code)


def test_a_direct_debit_invoice_has_no_line_nor_link_but_its_pix(hub):
    debit = next(i for i in hub.list_open_invoices("1002") if i.id == "90003")
    assert (debit.digitable_line, debit.barcode, debit.boleto_url) == ("", "", "")
    assert formats.is_valid_pix_code(debit.pix_code)


def test_invoices_of_one_contract_are_asked_by_service_and_never_another_customers(hub, server):
    assert [i.id for i in hub.list_open_invoices("1002", contract_id="5002")] == ["90002", "90003"]
    assert _params(_api(server, "/cliente/financeiro")[0])["busca"] == "id_cliente_servico"
    assert hub.list_open_invoices("1002", contract_id="5003") == []  # 5003 is customer 1003's
    assert hub.list_open_invoices("1005") == []
    assert hub.list_open_invoices("1002", contract_id="5002' OR 1=1") == []


def test_a_line_whose_check_digits_fail_is_logged_masked_and_still_returned(hub, server, caplog):
    fake = server.data.invoice("90001")
    bad_line = fake.digitable_line[:-1] + ("1" if fake.digitable_line[-1] != "1" else "2")
    fake.digitable_line = bad_line
    with caplog.at_level(logging.WARNING, logger="companies.erp.checks"):
        [invoice] = hub.list_open_invoices("1001")
    assert invoice.digitable_line == bad_line
    [record] = [r for r in caplog.records if r.name == "companies.erp.checks"]
    assert "90001" in record.getMessage() and bad_line.replace(" ", "")[:20] not in record.getMessage()


def test_every_customers_open_invoices_due_in_a_range(hub, server):
    today = server.data.today
    due = hub.list_open_invoices_due(today - dt.timedelta(days=3), today + dt.timedelta(days=3))
    assert [(i.id, i.customer_code) for i in due] == [("90005", "1004"), ("90004", "1003")]
    assert all(formats.is_valid_digitable_line(i.digitable_line) for i in due)
    [listing] = _api(server, "/financeiro")
    assert _params(listing)["tipo_data"] == "data_vencimento"
    assert _params(listing)["data_inicio"] == (today - dt.timedelta(days=3)).isoformat()
    asked = {_params(r)["termo_busca"] for r in _api(server, "/cliente/financeiro")}
    assert asked == {"1003", "1004"}  # only customers with an unpaid invoice in the range
    assert hub.list_open_invoices_due(today + dt.timedelta(days=30), today + dt.timedelta(days=40)) == []


def test_a_range_longer_than_30_days_is_asked_in_windows_hubsoft_accepts(hub, server):
    today = server.data.today
    start, end = today - dt.timedelta(days=40), today + dt.timedelta(days=40)
    due = hub.list_open_invoices_due(start, end)
    assert [i.id for i in due] == ["90002", "90005", "90004", "90001", "90003"]  # 90006 is paid
    windows = [(_params(r)["data_inicio"], _params(r)["data_fim"]) for r in _api(server, "/financeiro")]
    assert windows[0][0] == start.isoformat() and windows[-1][1] == end.isoformat()
    spans = [dt.date.fromisoformat(b) - dt.date.fromisoformat(a) for a, b in windows]
    assert len(windows) == 3 and all(span < dt.timedelta(days=30) for span in spans)


def test_a_window_that_fills_the_listing_limit_is_asked_again_in_halves(hub, server, monkeypatch):
    monkeypatch.setattr(hubsoft, "RANGE_LIMIT", 2)
    today = server.data.today
    due = hub.list_open_invoices_due(today - dt.timedelta(days=20), today + dt.timedelta(days=20))
    assert [i.id for i in due] == ["90002", "90005", "90004", "90001", "90003"]
    assert len(_api(server, "/financeiro")) > 1


# ---------------------------------------------------------------------- trust unlock


def test_a_blocked_service_is_unlocked_until_the_date_hubsoft_says(hub, server):
    unlock = hub.trust_unlock("5002")
    assert unlock.granted and unlock.reason == ""
    assert unlock.until == server.data.today + dt.timedelta(days=1)
    [asked] = _api(server, "/cliente/desbloqueio_confianca")
    assert asked.method == "POST" and asked.body == {"id_cliente_servico": "5002", "dias_desbloqueio": "1"}
    assert hub.list_contracts("1002")[0].status is ContractStatus.ACTIVE


@pytest.mark.parametrize(
    ("contract_id", "reason"),
    [
        ("5001", "Contrato não está bloqueado"),
        ("5007", "Desbloqueio de confiança não permitido para este contrato"),
        ("9999", "Contrato não encontrado"),
        ("0", "O campo id cliente servico deve ser um número inteiro maior que 0."),  # Hubsoft's HTTP 422
    ],
)
def test_a_refused_unlock_carries_hubsofts_reason(hub, contract_id, reason):
    unlock = hub.trust_unlock(contract_id)
    assert not unlock.granted and unlock.reason.startswith(reason)


def test_a_second_unlock_in_the_period_is_refused(hub):
    assert hub.trust_unlock("5002").granted
    assert not hub.trust_unlock("5002").granted


def test_the_isp_panels_cap_on_days_is_hubsofts_refusal(hub, server):
    server.handler.unlock_max_days = 0
    unlock = hub.trust_unlock("5002")
    assert not unlock.granted and "ultrapassa a configuração" in unlock.reason
    assert server.data.contract("5002").state == "blocked"


def test_a_service_id_that_is_no_number_is_refused_without_asking(hub, server):
    unlock = hub.trust_unlock("abc")
    assert not unlock.granted and "numbers" in unlock.reason
    assert server.requests == []


# ---------------------------------------------------------------------- the token


def test_the_token_is_asked_once_and_reused_by_every_adapter_of_the_company(company, server):
    first = HubsoftAdapter.from_company(company, **FAST)
    first.find_customer_by_code("1001")
    first.list_open_invoices("1001")
    second = erp_for(company, cached=False)
    second.list_contracts("1002")
    assert len(_token_requests(server)) == 1
    assert len({r.authorization for r in _api(server)}) == 1 and len(_api(server)) == 3


def test_an_expired_token_is_not_used_again(hub, server):
    server.handler.expires_in = 1
    hub.find_customer_by_code("1001")
    time.sleep(1.2)
    hub.find_customer_by_code("1001")
    assert len(_token_requests(server)) == 2
    assert all(r.status == 200 for r in server.requests)  # the kept token went with its expiry


def test_a_revoked_token_is_replaced_once_and_the_call_succeeds(hub, server):
    hub.find_customer_by_code("1001")
    server.handler.revoke_tokens()  # as Hubsoft does during an update
    assert hub.find_customer_by_code("1002").code == "1002"
    assert len(_token_requests(server)) == 2
    assert [r.status for r in _api(server)] == [200, 401, 200]


def test_a_token_refused_right_after_it_was_issued_is_not_asked_for_in_a_loop(hub, server, monkeypatch):
    monkeypatch.setattr(server.handler, "_authorized", lambda header: False)
    with pytest.raises(ErpAuthFailed, match="lack permission"):
        hub.find_customer_by_code("1001")
    assert len(_token_requests(server)) == 2 and len(_api(server)) == 2


def test_a_changed_password_gets_a_token_of_its_own(company, server):
    HubsoftAdapter.from_company(company, **FAST).find_customer_by_code("1001")
    company.erp_password = "a-new-password"
    with pytest.raises(ErpAuthFailed):
        HubsoftAdapter.from_company(company, **FAST).find_customer_by_code("1001")
    assert len(_token_requests(server)) == 2


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("erp_password", "wrong-password"),
        ("erp_username", "someone@else.example"),
        ("erp_client_secret", "wrong-secret"),
        ("erp_client_id", "99"),
    ],
)
def test_bad_credentials_are_refused_and_nothing_is_kept(company, server, field, value):
    setattr(company, field, value)
    adapter = HubsoftAdapter.from_company(company, **FAST)
    for _ in range(2):
        with pytest.raises(ErpAuthFailed, match="refused the credentials"):
            adapter.find_customer_by_code("1001")
    assert len(_token_requests(server)) == 2 and _api(server) == []


# ---------------------------------------------------------------------- errors


def test_hubsofts_error_shape_is_a_bad_answer_with_its_words(hub, server):
    hub.find_customer_by_code("1001")
    server.fail = "error"
    with pytest.raises(ErpBadAnswer, match="Hubsoft refused the request: Ocorreu um erro ao processar"):
        hub.list_open_invoices("1001")


def test_hubsofts_error_shape_on_the_token_request_is_a_bad_answer(hub, server):
    server.fail = "error"
    with pytest.raises(ErpBadAnswer, match="Ocorreu um erro ao processar"):
        hub.find_customer_by_code("1001")


@pytest.mark.parametrize(
    ("fail", "words"), [("html", "HTML page instead of JSON"), ("empty", "empty body"), ("garbage", "not JSON")]
)
def test_pages_empty_bodies_and_garbage_are_bad_answers(hub, server, fail, words):
    hub.find_customer_by_code("1001")
    server.fail = fail
    with pytest.raises(ErpBadAnswer, match=words):
        hub.list_contracts("1001")


def test_an_answer_without_hubsofts_envelope_is_a_bad_answer(hub, server, monkeypatch):
    from fakes.server import json_answer

    hub.find_customer_by_code("1001")
    monkeypatch.setattr(server.handler, "answer", lambda request, raw: json_answer(200, [{"id_cliente": 1}]))
    with pytest.raises(ErpBadAnswer, match="not an object"):
        hub.list_contracts("1001")


def test_a_503_once_is_retried_and_the_call_succeeds(hub, server):
    server.fail, server.fail_times = "down", 1
    assert [i.id for i in hub.list_open_invoices("1001")] == ["90001"]


def test_an_erp_that_stays_down_is_unavailable_after_the_retries(hub, server):
    server.fail = "down"
    with pytest.raises(ErpUnavailable, match="HTTP 503"):
        hub.find_customer_by_code("1001")
    assert len(server.requests) == 3


def test_an_erp_slower_than_the_read_timeout_is_unavailable_quickly(company):
    with running_erp("hubsoft", delay=0.6) as slow:
        company.erp_base_url = slow.url
        adapter = HubsoftAdapter.from_company(company, timeout=(1, 0.15), **FAST)
        started = time.monotonic()
        with pytest.raises(ErpUnavailable, match="did not answer in time"):
            adapter.find_customer_by_code("1001")
        assert time.monotonic() - started < 2


@pytest.mark.parametrize("suffix", ["/", "/api", "/api/", "/api/v1/integracao"])
def test_a_base_url_handed_out_with_the_api_path_works(company, server, suffix):
    company.erp_base_url = f"{server.url}{suffix}"
    adapter = HubsoftAdapter.from_company(company, **FAST)
    assert adapter.find_customer_by_code("1001").code == "1001"
    assert _token_requests(server)


def test_no_secret_no_token_and_no_full_cpf_or_phone_reach_the_logs(hub, server, caplog):
    with caplog.at_level(logging.DEBUG):
        hub.find_customers_by_document("529.982.247-25")
        hub.find_customers_by_phone("5544999990001")
        hub.list_contracts("1001")
        invoices = hub.list_open_invoices("1001")
        hub.trust_unlock("5001")
        server.handler.revoke_tokens()
        hub.find_customers_by_document("529.982.247-25")
        server.fail = "error"
        with pytest.raises(ErpBadAnswer):
            hub.find_customers_by_document("529.982.247-25")
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert "termo_busca=529.***.***-25" in text  # the request lines are there, masked
    assert "termo_busca=…0001" in text
    tokens = {r.authorization.removeprefix("Bearer ") for r in _api(server)}
    assert len(tokens) == 2  # the revoked one and its replacement
    secrets = [DEMO_CREDENTIALS.password, DEMO_CREDENTIALS.client_secret, *tokens, "pppoe-1001"]
    for secret in [*secrets, "52998224725", "529.982.247-25", "44999990001", invoices[0].boleto_url]:
        assert secret not in text
