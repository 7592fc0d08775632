"""The MK-Auth adapter against the fake MK-Auth on loopback: the JWT kept and renewed, every question (the phone
search through the cached listing index), every error shape, no secret and no full CPF in the logs."""

import base64
import datetime as dt
import logging
import subprocess
import sys
import time
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from django.utils import timezone

from companies.erp import formats, mkauth
from companies.erp.base import ContractStatus, ErpAuthFailed, ErpBadAnswer, ErpNotSupported, ErpUnavailable
from companies.erp.mkauth import MkAuthAdapter, contract_status
from companies.erp.registry import erp_for
from fakes.erp.data import FakeCustomer
from fakes.erp.mkauth import uuid_of
from fakes.erp.server import DEMO_CREDENTIALS, running_erp
from tests.factories import CompanyFactory

FAST = {"max_wait": 0.01}  # retries without the production backoff, so failure tests stay fast
MARIA, JOAO, MERCADO, ANA = "maria.silva", "joao.pereira", "mercadobompreco", "ana.souza"
CARLOS, PEDRO, OFICINA, LUCIA = "carlos.lima", "pedro.alves", "oficinanovaera", "lucia.ramos"


@pytest.fixture
def server():
    with running_erp("mkauth", today=timezone.localdate()) as fake:
        yield fake


@pytest.fixture
def company(db, server):
    return CompanyFactory(
        erp_system="mkauth",
        erp_base_url=server.url,
        erp_client_id=DEMO_CREDENTIALS.client_id,
        erp_client_secret=DEMO_CREDENTIALS.client_secret,
    )


@pytest.fixture
def mk(company):
    return MkAuthAdapter.from_company(company, **FAST)


def _path(request):
    return urlsplit(request.path).path


def _api(server, prefix=""):
    """The API requests (``prefix`` e.g. "cliente/show/"), without the token requests."""
    return [r for r in server.requests if _path(r).startswith(f"/api/{prefix}") and _path(r) != "/api/"]


def _token_requests(server):
    return [r for r in server.requests if _path(r) == "/api/"]


def _pages(server):
    return [_path(r).rsplit("=", 1)[1] for r in _api(server, "cliente/listar/")]


# ---------------------------------------------------------------------- customers


def test_the_registry_builds_the_mkauth_adapter_from_the_company(company):
    adapter = erp_for(company, cached=False)
    assert isinstance(adapter, MkAuthAdapter)
    assert adapter.find_customer_by_code(MARIA).name == "Maria da Silva"


def test_a_customer_by_login_is_asked_with_the_jwt_basic_auth_gave(mk, server):
    customer = mk.find_customer_by_code(MARIA)
    assert (customer.code, customer.name, customer.document) == (MARIA, "Maria da Silva", "52998224725")
    assert customer.phones == ("5544999990001",) and customer.email == "maria@example.com"
    [grant] = _token_requests(server)
    expected = base64.b64encode(f"{DEMO_CREDENTIALS.client_id}:{DEMO_CREDENTIALS.client_secret}".encode()).decode()
    assert grant.method == "GET" and grant.authorization == f"Basic {expected}"
    [asked] = _api(server)
    assert asked.method == "GET" and _path(asked) == f"/api/cliente/show/{MARIA}"
    assert asked.authorization.startswith("Bearer eyJ") and asked.authorization.count(".") == 2


@pytest.mark.parametrize(
    ("login", "phones"),
    [
        (MARIA, ("5544999990001",)),
        (JOAO, ("5544997770000", "554430310001")),  # two numbers in celular
        (MERCADO, ("5544988880000",)),  # "+55 44 98888-0000"
        (ANA, ("5544988887766",)),  # a mobile typed without its ninth digit
        (CARLOS, ()),  # no phone at all
        (PEDRO, ("5544996665544", "554432621000")),  # behind a 0xx prefix, and a landline in fone
        (OFICINA, ("5544995554433",)),
        (LUCIA, ("554430254000",)),  # a landline only
    ],
)
def test_every_demo_logins_phones_come_out_as_whatsapp_numbers(mk, login, phones):
    assert mk.find_customer_by_code(login).phones == phones


def test_every_field_named_like_a_phone_is_read():
    row = {
        "login": "x",
        "celular2": "44 99111-2222",
        "telefone_comercial": "(44) 3030-0001",
        "whatsapp": "",
        "zap": "sim",
    }
    assert mkauth._customer(row).phones == ("5544991112222", "554430300001")


@pytest.mark.parametrize("code", ["maria silva", "a/b", "", "x" * 65, "1' OR '1'='1", "../admin"])
def test_a_code_that_cannot_be_a_login_is_never_asked(mk, server, code):
    assert mk.find_customer_by_code(code) is None
    assert server.requests == []


def test_an_unknown_login_is_none_as_mkauth_answers_null(mk, server):
    assert mk.find_customer_by_code("ninguem") is None
    [asked] = _api(server)
    assert asked.status == 200 and _path(asked) == "/api/cliente/show/ninguem"


@pytest.mark.parametrize(
    ("document", "login"),
    [
        ("529.982.247-25", MARIA),
        ("11222333000181", MERCADO),
        ("12.ABC.345/01DE-35", OFICINA),  # the alphanumeric CNPJ of July 2026
        ("22.385.367/0001-03", LUCIA),
    ],
)
def test_customers_by_document_are_asked_by_its_digits(mk, server, document, login):
    [customer] = mk.find_customers_by_document(document)
    assert customer.code == login
    assert [_path(r) for r in _api(server)] == [f"/api/cliente/show/{customer.document}"]


def test_an_install_that_matches_only_the_formatted_document_is_asked_again_formatted(mk, server):
    server.handler.exact_documents = True
    assert [c.code for c in mk.find_customers_by_document("11222333000181")] == [MERCADO]
    # The CNPJ's slash goes percent-encoded: a bare one would split the route.
    assert [r.path for r in _api(server)] == [
        "/api/cliente/show/11222333000181",
        "/api/cliente/show/11.222.333%2F0001-81",
    ]


def test_an_unknown_document_finds_nobody_and_a_malformed_one_is_not_asked(mk, server):
    assert mk.find_customers_by_document("390.533.447-05") == []
    assert len(_api(server)) == 2  # as digits, then formatted
    assert mk.find_customers_by_document("5299822") == []
    assert len(_api(server)) == 2


def test_every_login_of_a_document_is_found(mk, server):
    server.data.customers.append(FakeCustomer("1009", "Maria da Silva", "52998224725", mobile="44 99999-0009"))
    found = mk.find_customers_by_document("52998224725")
    assert [(c.code, c.phones) for c in found] == [("cliente1009", ("5544999990009",)), (MARIA, ("5544999990001",))]


def test_a_record_wrapped_as_dados_cliente_is_read(mk, server):
    server.handler.show_envelope = "dados_cliente"
    assert mk.find_customer_by_code(JOAO).document == "11144477735"
    assert mk.list_contracts(JOAO)[0].status is ContractStatus.BLOCKED


# ---------------------------------------------------------------------- phones


@pytest.mark.parametrize(
    ("phone", "logins"),
    [
        ("5544999990001", [MARIA]),
        ("554499990001", [MARIA]),  # a WhatsApp account from before the ninth digit
        ("+55 (44) 98888-7766", [ANA]),  # stored without its ninth digit
        ("554430310001", [JOAO]),  # the landline after a mobile in one field
        ("5544996665544", [PEDRO]),  # stored behind a 0xx prefix
        ("5544988880000", [MERCADO]),  # stored with +55
        ("5544995554433", [OFICINA]),
        ("5544991234567", []),
    ],
)
def test_customers_by_phone_match_however_the_erp_typed_the_number(mk, phone, logins):
    assert [c.code for c in mk.find_customers_by_phone(phone)] == logins


def test_the_phone_search_walks_the_listing_and_asks_no_customer_one_by_one(mk, server):
    [found] = mk.find_customers_by_phone("5544999990001")
    assert (found.code, found.document, found.email) == (MARIA, "52998224725", "maria@example.com")
    assert _pages(server) == ["1", "2"]  # 8 logins on the first page, the second one empty
    assert parse_qs(urlsplit(_api(server)[0].path).query) == {"limite": ["500"]}
    assert _api(server, "cliente/show/") == []


def test_the_index_is_built_once_for_every_lookup_and_adapter_of_the_company(company, server):
    first = MkAuthAdapter.from_company(company, **FAST)
    assert [c.code for c in first.find_customers_by_phone("5544999990001")] == [MARIA]
    assert [c.code for c in first.find_customers_by_phone("5544988887766")] == [ANA]
    second = erp_for(company)  # the registry's cached adapter, which caches per phone itself
    assert [c.code for c in second.find_customers_by_phone("5544988880000")] == [MERCADO]
    assert _pages(server) == ["1", "2"]
    other = CompanyFactory(
        erp_system="mkauth",
        erp_base_url=server.url,
        erp_client_id=DEMO_CREDENTIALS.client_id,
        erp_client_secret=DEMO_CREDENTIALS.client_secret,
    )
    MkAuthAdapter.from_company(other, **FAST).find_customers_by_phone("5544999990001")
    assert _pages(server) == ["1", "2", "1", "2"]  # an index per company


def test_a_phone_changed_in_mkauth_is_found_once_the_index_expires(mk, server, monkeypatch):
    monkeypatch.setattr(mkauth, "PHONE_INDEX_SECONDS", 1)
    assert mk.find_customers_by_phone("5544991230000") == []
    server.data.customer("1005").mobile = "(44) 99123-0000"
    assert mk.find_customers_by_phone("5544991230000") == []  # the index of a moment ago
    time.sleep(1.2)
    assert [c.code for c in mk.find_customers_by_phone("5544991230000")] == [CARLOS]
    assert _pages(server) == ["1", "2", "1", "2"]


def test_a_phone_search_keeps_only_customers_whose_number_it_really_is(mk, server):
    server.data.customers.append(FakeCustomer("1009", "Outra Pessoa", "39053344705", mobile="11 98888-7766"))
    assert [c.code for c in mk.find_customers_by_phone("5544988887766")] == [ANA]
    assert [c.code for c in mk.find_customers_by_phone("+55 11 98888-7766")] == ["cliente1009"]


def test_a_number_shared_by_two_logins_finds_both(mk, server):
    server.data.customers.append(FakeCustomer("1009", "Maria da Silva", "52998224725", whatsapp="44 99999-0001"))
    assert [c.code for c in mk.find_customers_by_phone("5544999990001")] == ["cliente1009", MARIA]


def test_a_phone_that_is_no_number_finds_nobody_without_asking(mk, server):
    assert mk.find_customers_by_phone("not a phone") == []
    assert server.requests == []


def test_a_listing_that_caps_its_pages_below_the_limit_is_read_to_the_end(mk, server):
    server.handler.page_cap = 3
    assert [c.code for c in mk.find_customers_by_phone("554430254000")] == [LUCIA]  # the 8th login
    assert _pages(server) == ["1", "2", "3"]  # 3, 3, then 2: shorter than the pages before it


def test_a_listing_that_ignores_the_page_number_is_not_walked_forever(mk, server):
    server.handler.page_cap, server.handler.ignores_paging = 3, True
    assert [c.code for c in mk.find_customers_by_phone("5544999990001")] == [MARIA]
    assert _pages(server) == ["1", "2"]  # the second page repeats the first: the end


@pytest.mark.parametrize("envelope", ["list", "clientes", "dados"])
def test_every_listing_envelope_is_read(mk, server, envelope):
    server.handler.listing_envelope = envelope
    assert [c.code for c in mk.find_customers_by_phone("5544995554433")] == [OFICINA]


def test_an_older_mkauth_with_the_unpaged_listing_is_read_through_it(mk, server):
    server.handler.listing_route = "listagem"
    assert [c.code for c in mk.find_customers_by_phone("5544999990001")] == [MARIA]
    assert [(_path(r), r.status) for r in _api(server, "cliente/")] == [
        ("/api/cliente/listar/pagina=1", 404),
        ("/api/cliente/listagem", 200),
    ]


def test_an_mkauth_without_any_customer_listing_cannot_search_phones(mk, server):
    server.handler.listing_route = None
    with pytest.raises(ErpNotSupported, match="lists no customers"):
        mk.find_customers_by_phone("5544999990001")


# ---------------------------------------------------------------------- contracts


@pytest.mark.parametrize(
    ("login", "status", "plan"),
    [
        (MARIA, ContractStatus.ACTIVE, "Fibra 500 Mega"),
        (JOAO, ContractStatus.BLOCKED, "Fibra 300 Mega"),  # bloqueado sim
        (MERCADO, ContractStatus.ACTIVE, "Empresarial 1 Giga"),
        (ANA, ContractStatus.ACTIVE, "Fibra 200 Mega"),  # reduced: MK-Auth's record does not say
        (CARLOS, ContractStatus.BLOCKED, "Fibra 100 Mega"),  # a suspension is a block in MK-Auth
        (PEDRO, ContractStatus.CANCELLED, "Fibra 300 Mega"),  # cli_ativado n
        (OFICINA, ContractStatus.BLOCKED, "Empresarial 500 Mega"),
        (LUCIA, ContractStatus.ACTIVE, "Fibra 500 Mega"),  # pending installs are not logins in MK-Auth
    ],
)
def test_every_demo_login_is_its_one_contract_with_its_state(mk, login, status, plan):
    [contract] = mk.list_contracts(login)
    assert (contract.id, contract.customer_code, contract.status, contract.plan) == (login, login, status, plan)
    assert contract.trust_unlock_allowed is None  # MK-Auth does not say


def test_an_unknown_login_has_no_contracts(mk):
    assert mk.list_contracts("ninguem") == []


@pytest.mark.parametrize(
    ("row", "status"),
    [
        ({"cli_ativado": "s", "bloqueado": "nao"}, ContractStatus.ACTIVE),
        ({"cli_ativado": "s", "bloqueado": "sim"}, ContractStatus.BLOCKED),
        ({"cli_ativado": "S", "bloqueado": "SIM"}, ContractStatus.BLOCKED),
        ({"cli_ativado": "n", "bloqueado": "sim"}, ContractStatus.CANCELLED),  # deactivated wins
        ({"cli_ativado": "n", "bloqueado": "nao"}, ContractStatus.CANCELLED),
        ({"cli_ativado": "s", "bloqueado": "não"}, ContractStatus.ACTIVE),
        ({"cli_ativado": "s", "bloqueado": "nao", "observacao": "sim"}, ContractStatus.ACTIVE),  # trust unlocked
        ({}, ContractStatus.ACTIVE),
    ],
)
def test_mkauth_flags_map_to_one_contract_status(row, status):
    assert contract_status(row) is status


# ---------------------------------------------------------------------- invoices


def test_open_titles_carry_line_barcode_pix_and_the_boleto_page_and_paid_ones_are_absent(mk, server):
    [invoice] = mk.list_open_invoices(MARIA)  # 90006 is paid
    fake = server.data.invoice("90001")
    assert (invoice.id, invoice.customer_code, invoice.contract_id) == ("90001", MARIA, MARIA)
    assert invoice.due_date == fake.due_date and invoice.amount == Decimal("99.90")
    assert invoice.digitable_line == fake.digitable_line and formats.is_valid_digitable_line(invoice.digitable_line)
    assert invoice.barcode == fake.barcode
    assert invoice.pix_code == fake.pix_code and formats.is_valid_pix_code(invoice.pix_code)
    assert invoice.boleto_url == f"{server.url}/boleto/21boleto.php?titulo=90001" and invoice.boleto_pdf == b""
    page = requests.get(invoice.boleto_url, timeout=5)  # MK-Auth's boleto is an HTML page, without a token
    assert page.headers["Content-Type"].startswith("text/html") and fake.digitable_line in page.text
    assert [_path(r) for r in _api(server)] == [f"/api/cliente/show/{MARIA}", "/api/titulo/titulos/52998224725"]


def test_every_open_title_of_the_demo_has_valid_payment_codes_where_it_has_them(mk):
    invoices = [i for login in (MARIA, JOAO, MERCADO, ANA, CARLOS) for i in mk.list_open_invoices(login)]
    assert [i.id for i in invoices] == ["90001", "90002", "90003", "90004", "90005"]
    assert all(formats.is_valid_digitable_line(i.digitable_line) and len(i.barcode) == 44 for i in invoices)
    assert [i.id for i in invoices if not i.pix_code] == ["90005"]  # a wallet without PIX
    assert all(formats.is_valid_pix_code(i.pix_code) for i in invoices if i.pix_code)


def test_the_pix_code_is_read_from_qrcode_too(mk, server):
    server.handler.pix_key = "qrcode"
    [invoice] = mk.list_open_invoices(MARIA)
    assert invoice.pix_code == server.data.invoice("90001").pix_code


def test_titles_of_the_login_as_its_contract_and_never_another_logins(mk, server):
    assert [i.id for i in mk.list_open_invoices(JOAO, contract_id=JOAO)] == ["90002", "90003"]
    assert mk.list_open_invoices(JOAO, contract_id=MERCADO) == []
    assert mk.list_open_invoices(PEDRO) == []
    server.data.customers.append(FakeCustomer("1009", "Maria da Silva", "52998224725"))
    server.data.invoices[0].customer_code = "1009"  # 90001 now belongs to Maria's second login
    assert mk.list_open_invoices(MARIA) == []
    assert [i.id for i in mk.list_open_invoices("cliente1009")] == ["90001"]


def test_deleted_titles_are_not_open(mk, server):
    server.handler.deleted = {"90003"}
    assert [i.id for i in mk.list_open_invoices(JOAO)] == ["90002"]


def test_titles_are_asked_again_by_the_formatted_document_where_mkauth_matches_only_that(mk, server):
    server.handler.exact_documents = True
    assert [i.id for i in mk.list_open_invoices(JOAO)] == ["90002", "90003"]
    assert [_path(r) for r in _api(server, "titulo/")] == [
        "/api/titulo/titulos/11144477735",
        "/api/titulo/titulos/111.444.777-35",
    ]


def test_a_login_without_a_document_has_its_titles_from_the_listing(mk, server):
    server.data.customer("1002").document = ""
    assert [i.id for i in mk.list_open_invoices(JOAO)] == ["90002", "90003"]
    assert [_path(r) for r in _api(server, "titulo/")] == ["/api/titulo/listagem"]


def test_a_line_whose_check_digits_fail_is_logged_masked_and_still_returned(mk, server, caplog):
    fake = server.data.invoice("90001")
    bad_line = fake.digitable_line[:-1] + ("1" if fake.digitable_line[-1] != "1" else "2")
    fake.digitable_line = bad_line
    with caplog.at_level(logging.WARNING, logger="companies.erp.checks"):
        [invoice] = mk.list_open_invoices(MARIA)
    assert invoice.digitable_line == bad_line
    [record] = [r for r in caplog.records if r.name == "companies.erp.checks"]
    assert "90001" in record.getMessage() and bad_line.replace(" ", "")[:20] not in record.getMessage()


def test_every_logins_open_titles_due_in_a_range_come_from_the_title_listing(mk, server):
    today = server.data.today
    due = mk.list_open_invoices_due(today - dt.timedelta(days=3), today + dt.timedelta(days=3))
    assert [(i.id, i.customer_code, i.contract_id) for i in due] == [("90005", ANA, ANA), ("90004", MERCADO, MERCADO)]
    assert all(formats.is_valid_digitable_line(i.digitable_line) and i.boleto_url for i in due)
    assert [_path(r) for r in _api(server)] == ["/api/titulo/listagem"]
    wide = mk.list_open_invoices_due(today - dt.timedelta(days=40), today + dt.timedelta(days=40))
    assert [i.id for i in wide] == ["90002", "90005", "90004", "90001", "90003"]  # 90006 is paid
    assert mk.list_open_invoices_due(today + dt.timedelta(days=30), today + dt.timedelta(days=40)) == []
    assert mk.list_open_invoices_due(today, today - dt.timedelta(days=1)) == []


def test_an_older_mkauth_lists_titles_through_titulo_listar(mk, server):
    server.handler.title_listing = "listar"
    today = server.data.today
    assert [i.id for i in mk.list_open_invoices_due(today, today + dt.timedelta(days=5))] == ["90004", "90001"]
    assert [(_path(r), r.status) for r in _api(server)] == [("/api/titulo/listagem", 404), ("/api/titulo/listar", 200)]


def test_an_mkauth_without_a_title_listing_cannot_list_titles_by_due_date(mk, server):
    server.handler.title_listing = None
    today = server.data.today
    with pytest.raises(ErpNotSupported, match="no title listing"):
        mk.list_open_invoices_due(today, today + dt.timedelta(days=5))
    assert [i.id for i in mk.list_open_invoices(MARIA)] == ["90001"]  # by document it still answers


# ---------------------------------------------------------------------- trust unlock


def test_a_blocked_login_is_unlocked_by_its_uuid_until_its_observation_ends(mk, server):
    unlock = mk.trust_unlock(JOAO)
    assert unlock.granted and unlock.reason == ""
    assert unlock.until == server.data.today + dt.timedelta(days=3)  # rem_obs, as MK-Auth set it
    [asked] = _api(server, "cliente/desbloqueio/")
    assert _path(asked) == f"/api/cliente/desbloqueio/{uuid_of(server.data.customer('1002'))}"
    assert mk.list_contracts(JOAO)[0].status is ContractStatus.ACTIVE


def test_a_login_mkauth_keeps_blocked_is_refused_with_its_words(mk, server):
    unlock = mk.trust_unlock(OFICINA)
    assert not unlock.granted and unlock.reason == "Desbloqueio de confiança não permitido para este contrato"
    assert mk.list_contracts(OFICINA)[0].status is ContractStatus.BLOCKED


@pytest.mark.parametrize(
    ("login", "reason"),
    [
        (MARIA, "MK-Auth says this login is not blocked."),
        (PEDRO, "MK-Auth says this login is deactivated."),
        ("ninguem", "MK-Auth has no such login."),
        ("no login", "MK-Auth has no such login."),
    ],
)
def test_an_unlock_mkauth_would_not_do_is_refused_without_asking_it(mk, server, login, reason):
    unlock = mk.trust_unlock(login)
    assert not unlock.granted and unlock.reason == reason
    assert _api(server, "cliente/desbloqueio/") == []


def test_a_second_unlock_in_the_period_is_refused_with_mkauths_words(mk, server):
    assert mk.trust_unlock(JOAO).granted
    server.data.contract("5002").state = "blocked"  # blocked again before the period ends
    unlock = mk.trust_unlock(JOAO)
    assert not unlock.granted and unlock.reason == "Desbloqueio de confiança já utilizado neste mês"


def test_an_unlock_through_the_registry_forgets_the_cached_contracts_and_titles(company, server):
    erp = erp_for(company)
    assert erp.list_contracts(JOAO)[0].status is ContractStatus.BLOCKED
    assert erp.list_contracts(JOAO)[0].status is ContractStatus.BLOCKED
    assert len(_api(server, "cliente/show/")) == 1  # the second answer came from the cache
    assert erp.trust_unlock(JOAO).granted
    assert erp.list_contracts(JOAO)[0].status is ContractStatus.ACTIVE


def test_lookups_through_the_registry_are_cached_per_company(company, server):
    erp = erp_for(company)
    for _ in range(3):
        assert erp.find_customer_by_code(MARIA).code == MARIA
        assert [i.id for i in erp.list_open_invoices(MARIA)] == ["90001"]
    assert len(_api(server, "cliente/show/")) == 2  # once for the customer, once for its titles
    assert len(_api(server, "titulo/")) == 1


# ---------------------------------------------------------------------- the token


def test_the_token_is_asked_once_and_reused_by_every_adapter_of_the_company(company, server):
    first = MkAuthAdapter.from_company(company, **FAST)
    first.find_customer_by_code(MARIA)
    first.list_open_invoices(MARIA)
    second = erp_for(company, cached=False)
    second.list_contracts(JOAO)
    assert len(_token_requests(server)) == 1
    assert len({r.authorization for r in _api(server)}) == 1 and len(_api(server)) == 4


def test_the_token_is_kept_a_little_less_long_than_its_claims_say(mk, server):
    token = requests.get(
        f"{server.url}/api/", auth=(DEMO_CREDENTIALS.client_id, DEMO_CREDENTIALS.client_secret), timeout=5
    ).text
    assert mkauth._lifetime(token) == pytest.approx(600)
    assert mkauth._lifetime("a.b.c") == mkauth.DEFAULT_TOKEN_SECONDS  # claims that are not JSON


def test_an_expired_token_is_not_used_again(mk, server):
    server.handler.token_seconds = 1
    mk.find_customer_by_code(MARIA)
    time.sleep(1.2)
    mk.find_customer_by_code(MARIA)
    assert len(_token_requests(server)) == 2
    assert all(r.status == 200 for r in server.requests)  # the kept token went with its expiry


def test_a_revoked_token_is_replaced_once_and_the_call_succeeds(mk, server):
    mk.find_customer_by_code(MARIA)
    server.handler.revoke_tokens()
    assert mk.find_customer_by_code(JOAO).code == JOAO
    assert len(_token_requests(server)) == 2
    assert [r.status for r in _api(server)] == [200, 401, 200]


def test_a_token_refused_right_after_it_was_issued_is_not_asked_for_in_a_loop(mk, server):
    server.handler.get_allowed = False  # the API user's profile lacks the GET permission
    with pytest.raises(ErpAuthFailed, match="GET permission"):
        mk.find_customer_by_code(MARIA)
    assert len(_token_requests(server)) == 2 and [r.status for r in _api(server)] == [403, 403]


def test_a_changed_secret_gets_a_token_of_its_own(company, server):
    MkAuthAdapter.from_company(company, **FAST).find_customer_by_code(MARIA)
    company.erp_client_secret = "a-new-secret"
    with pytest.raises(ErpAuthFailed):
        MkAuthAdapter.from_company(company, **FAST).find_customer_by_code(MARIA)
    assert len(_token_requests(server)) == 2


@pytest.mark.parametrize(("field", "value"), [("erp_client_secret", "wrong-secret"), ("erp_client_id", "other")])
def test_bad_credentials_are_refused_and_nothing_is_kept(company, server, field, value):
    setattr(company, field, value)
    adapter = MkAuthAdapter.from_company(company, **FAST)
    for _ in range(2):
        with pytest.raises(ErpAuthFailed, match=r"refused the credentials \(HTTP 401\)"):
            adapter.find_customer_by_code(MARIA)
    assert len(_token_requests(server)) == 2 and _api(server) == []


JWT = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzUxMiJ9.eyJpYXQiOjEsImV4cCI6NjAxfQ.c2lnbmF0dXJl"  # iat 1, exp 601


@responses.activate
@pytest.mark.parametrize("body", [JWT, f'"{JWT}"', f'{{"token": "{JWT}"}}'])
def test_the_jwt_is_read_raw_quoted_or_in_json(body):
    responses.get("http://127.0.0.1:9/api/", body=body)
    responses.get("http://127.0.0.1:9/api/cliente/show/x", json={"login": "x", "nome": "X"})
    assert MkAuthAdapter("http://127.0.0.1:9", client_id="c", client_secret="s").find_customer_by_code("x").name == "X"
    assert responses.calls[1].request.headers["Authorization"] == f"Bearer {JWT}"


@responses.activate
def test_a_token_refused_with_http_200_and_mkauths_message_is_asked_for_again():
    responses.get("http://127.0.0.1:9/api/", body=JWT)
    show = "http://127.0.0.1:9/api/cliente/show/x"
    responses.get(show, json={"mensagem": "Token expirado"})
    responses.get(show, json={"login": "x", "nome": "X"})
    assert MkAuthAdapter("http://127.0.0.1:9", client_id="c", client_secret="s").find_customer_by_code("x").name == "X"
    assert [call.request.url for call in responses.calls] == ["http://127.0.0.1:9/api/", show] * 2


@responses.activate
def test_a_token_request_refused_with_http_200_is_an_auth_failure():
    responses.get("http://127.0.0.1:9/api/", json={"mensagem": "Client_Id inválido"})
    with pytest.raises(ErpAuthFailed, match="Client_Id inválido"):
        MkAuthAdapter("http://127.0.0.1:9", client_id="c", client_secret="s").find_customer_by_code("x")


# ---------------------------------------------------------------------- errors


def test_mkauths_error_shape_is_a_bad_answer_with_its_words_and_the_document_masked(mk, server):
    mk.find_customer_by_code(MARIA)
    server.fail = "error"
    with pytest.raises(ErpBadAnswer, match="MK-Auth refused the customer: Erro ao consultar") as caught:
        mk.find_customers_by_document("529.982.247-25")
    assert "52998224725" not in str(caught.value) and "529.***.***-25" in str(caught.value)
    with pytest.raises(ErpBadAnswer, match="MK-Auth refused the customer: Erro interno"):
        mk.list_open_invoices(MARIA)
    with pytest.raises(ErpBadAnswer, match="MK-Auth refused the customer listing"):
        mk.find_customers_by_phone("5544999990001")
    with pytest.raises(ErpBadAnswer, match="MK-Auth refused"):
        mk.trust_unlock(JOAO)
    assert server.data.contract("5002").state == "blocked"


def test_mkauths_error_shape_on_the_token_request_is_a_bad_answer(mk, server):
    server.fail = "error"
    with pytest.raises(ErpBadAnswer, match="without a token: Erro interno"):
        mk.find_customer_by_code(MARIA)


@pytest.mark.parametrize(
    ("fail", "words"), [("html", "HTML page instead of JSON"), ("empty", "empty body"), ("garbage", "not JSON")]
)
def test_pages_empty_bodies_and_garbage_are_bad_answers(mk, server, fail, words):
    mk.find_customer_by_code(MARIA)
    server.fail = fail
    with pytest.raises(ErpBadAnswer, match=words):
        mk.list_contracts(MARIA)


@pytest.mark.parametrize(
    ("fail", "words"), [("html", "HTML page instead of JSON"), ("empty", "empty body"), ("garbage", "not JSON")]
)
def test_a_token_request_answered_with_a_page_empty_body_or_garbage_is_a_bad_answer(mk, server, fail, words):
    server.fail = fail
    with pytest.raises(ErpBadAnswer, match=words):
        mk.find_customer_by_code(MARIA)


@responses.activate
def test_a_4xx_with_mkauths_message_is_a_refusal_with_its_words():
    responses.get("http://127.0.0.1:9/api/", body=JWT)
    responses.get("http://127.0.0.1:9/api/titulo/listagem", status=400, json={"mensagem": "Parâmetro inválido"})
    with pytest.raises(ErpBadAnswer, match=r"refused the request \(HTTP 400\): Parâmetro inválido"):
        MkAuthAdapter("http://127.0.0.1:9", client_id="c", client_secret="s").list_open_invoices_due(
            dt.date(2030, 1, 1), dt.date(2030, 1, 2)
        )


@responses.activate
def test_json_that_is_neither_a_record_nor_a_list_is_a_bad_answer():
    responses.get("http://127.0.0.1:9/api/", body=JWT)
    responses.get("http://127.0.0.1:9/api/cliente/show/x", json=42)
    with pytest.raises(ErpBadAnswer, match="neither a record nor a list"):
        MkAuthAdapter("http://127.0.0.1:9", client_id="c", client_secret="s").find_customer_by_code("x")


def test_a_503_once_is_retried_and_the_call_succeeds(mk, server):
    mk.find_customer_by_code(MARIA)
    server.fail, server.fail_times = "down", 1
    assert [i.id for i in mk.list_open_invoices(MARIA)] == ["90001"]
    assert [r.status for r in _api(server, "cliente/show/")] == [200, 503, 200]


def test_an_erp_that_stays_down_is_unavailable_after_the_retries(mk, server):
    server.fail = "down"
    with pytest.raises(ErpUnavailable, match="HTTP 503"):
        mk.find_customer_by_code(MARIA)
    assert len(server.requests) == 3


def test_an_erp_slower_than_the_read_timeout_is_unavailable_quickly(company):
    with running_erp("mkauth", delay=0.6) as slow:
        company.erp_base_url = slow.url
        adapter = MkAuthAdapter.from_company(company, timeout=(1, 0.15), **FAST)
        started = time.monotonic()
        with pytest.raises(ErpUnavailable, match="did not answer in time"):
            adapter.find_customer_by_code(MARIA)
        assert time.monotonic() - started < 2


@pytest.mark.parametrize("suffix", ["/", "/api", "/api/", "/admin/"])
def test_a_base_url_pasted_with_the_api_or_panel_path_works(company, server, suffix):
    company.erp_base_url = f"{server.url}{suffix}"
    adapter = MkAuthAdapter.from_company(company, **FAST)
    assert adapter.find_customer_by_code(MARIA).code == MARIA
    assert adapter.list_open_invoices(MARIA)[0].boleto_url.startswith(f"{server.url}/boleto/")


def test_a_base_url_that_is_not_mkauths_fails_on_the_token_not_as_nobody(company, server):
    company.erp_base_url = f"{server.url}/painel"
    with pytest.raises(ErpBadAnswer, match="HTTP 404"):
        MkAuthAdapter.from_company(company, **FAST).find_customers_by_document("529.982.247-25")


def test_no_secret_no_token_no_pppoe_password_and_no_full_cpf_reach_the_logs(mk, server, caplog):
    with caplog.at_level(logging.DEBUG):
        mk.find_customers_by_document("529.982.247-25")
        mk.find_customers_by_phone("5544999990001")
        mk.list_contracts(MARIA)
        invoices = mk.list_open_invoices(MARIA)
        mk.find_customers_by_document("12.ABC.345/01DE-35")  # no check digits the log mask could spot
        mk.list_open_invoices(OFICINA)
        mk.trust_unlock(OFICINA)  # logs the refusal
        server.handler.revoke_tokens()
        mk.find_customers_by_document("11.222.333/0001-81")
        server.fail = "error"
        with pytest.raises(ErpBadAnswer):
            mk.find_customers_by_document("529.982.247-25")
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert "/api/cliente/show/529.***.***-25" in text  # the request lines are there, masked
    assert "/api/titulo/titulos/529.***.***-25" in text
    assert "kept login oficinanovaera blocked" in text
    tokens = {r.authorization.removeprefix("Bearer ") for r in _api(server)}
    assert len(tokens) == 2  # the revoked one and its replacement
    basic = base64.b64encode(f"{DEMO_CREDENTIALS.client_id}:{DEMO_CREDENTIALS.client_secret}".encode()).decode()
    secrets = [DEMO_CREDENTIALS.client_secret, basic, *tokens, "pppoe-1001"]
    documents = ["52998224725", "529.982.247-25", "11222333000181", "11.222.333/0001-81", "12ABC34501DE35"]
    for secret in [*secrets, *documents, invoices[0].boleto_url]:
        assert secret not in text


def test_the_fake_mkauth_runs_as_a_process_and_issues_a_token():
    process = subprocess.Popen(
        [sys.executable, "-m", "fakes.erp", "--kind", "mkauth", "--port", "0"], stdout=subprocess.PIPE, text=True
    )
    try:
        line = process.stdout.readline().strip()
        assert line.startswith("READY http://127.0.0.1:")
        base = line.removeprefix("READY ")
        token = requests.get(
            f"{base}/api/", auth=(DEMO_CREDENTIALS.client_id, DEMO_CREDENTIALS.client_secret), timeout=5
        ).text
        shown = requests.get(
            f"{base}/api/cliente/show/{MARIA}", headers={"Authorization": f"Bearer {token}"}, timeout=5
        )
        assert shown.json()["nome"] == "Maria da Silva"
    finally:
        process.terminate()
        process.wait(10)
        process.stdout.close()
