"""The URL template gateway: filling and encoding, reading answers, and the password kept out of logs."""

import logging
import socket
from urllib.parse import quote

import pytest

from notifications.sms import gateway, segments
from notifications.sms.gateway import SmsError, UrlTemplateGateway, read_answer
from tests.factories import CompanyFactory
from tests.notifications.sms_helpers import PASSWORD, USERNAME, fake_gateway, leaked

TEMPLATE = "https://gateway.example/api?op=pv&u=|USUARIO|&h=|SENHA|&msg=|MENSAGEM|&to=|CELULAR|"


@pytest.fixture
def fake():
    server = fake_gateway().start()
    yield server
    server.stop()


def _gateway(template: str, **kwargs) -> UrlTemplateGateway:
    return UrlTemplateGateway(url_template=template, username=USERNAME, password=PASSWORD, **kwargs)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ------------------------------------------------------------------------------ the URL


def test_each_placeholder_is_filled_url_encoded():
    url = _gateway(TEMPLATE).url(to="5544998887777", text="Olá & #1 + 2\nfim")
    assert url == (
        "https://gateway.example/api?op=pv&u=ponte-isp&h="
        + quote(PASSWORD, safe="")
        + "&msg=Ol%C3%A1%20%26%20%231%20%2B%202%0Afim&to=5544998887777"
    )


def test_a_value_that_looks_like_a_placeholder_stays_a_value():
    url = _gateway(TEMPLATE).url(to="5544998887777", text="|SENHA| |CELULAR|")
    assert "msg=%7CSENHA%7C%20%7CCELULAR%7C&" in url
    assert url.count(quote(PASSWORD, safe="")) == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("", "No SMS gateway URL template"),
        ("gateway.example/api?msg=|MENSAGEM|&to=|CELULAR|", "must start with http"),
        ("https://gateway.example:port/api?msg=|MENSAGEM|&to=|CELULAR|", "not a valid URL"),
        ("https:///api?msg=|MENSAGEM|&to=|CELULAR|", "name a host"),
        ("https://gateway.example/api?to=|CELULAR|", "lacks |MENSAGEM|"),
        ("https://gateway.example/api?msg=|MENSAGEM|", "lacks |CELULAR|"),
    ],
)
def test_a_template_that_cannot_send_says_why(template, problem):
    company = CompanyFactory(sms_url_template=template)
    assert problem in gateway.configuration_problem(company)
    with pytest.raises(gateway.NotConfigured, match=problem.replace("|", r"\|")):
        gateway.gateway_for(company)


@pytest.mark.django_db
def test_a_full_template_is_usable():
    assert gateway.configuration_problem(CompanyFactory(sms_url_template=TEMPLATE)) == ""


# ------------------------------------------------------------------------------ reading answers


@pytest.mark.parametrize(
    "body", ["OK 88123", "000 - Mensagem enviada", '{"status": "ok", "id": 7}', '{"id": 7, "error": null}', ""]
)
def test_a_2xx_without_a_refusal_is_sent(body):
    assert read_answer(200, body).answer.startswith("HTTP 200")


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ("ERRO: saldo insuficiente", "ERRO: saldo insuficiente"),
        ("Falha no envio", "Falha no envio"),
        ("Número inválido", "Número inválido"),
        ("Acesso negado", "Acesso negado"),
        ("Invalid destination", "Invalid destination"),
        ("permission denied", "permission denied"),
        ("Error 17", "Error 17"),
        ('{"status": "error", "message": "Saldo insuficiente"}', "Saldo insuficiente"),
        ('{"success": false, "mensagem": "Usuário bloqueado"}', "Usuário bloqueado"),
        ('{"error": {"code": 5, "text": "quota"}}', '{"code": 5, "text": "quota"}'),
        ("<html><body>Login</body></html>", "an HTML page"),
    ],
)
def test_a_2xx_that_says_it_failed_is_a_refusal_with_the_gateway_s_words(body, words):
    with pytest.raises(SmsError) as caught:
        read_answer(200, body)
    assert words in caught.value.message
    assert (caught.value.code, caught.value.retryable) == ("gateway_error", False)
    assert caught.value.answer.startswith("HTTP 200: ")


@pytest.mark.parametrize(("status", "code"), [(400, "http_400"), (401, "credentials_refused"), (404, "http_404")])
def test_a_4xx_is_a_permanent_refusal(status, code):
    with pytest.raises(SmsError) as caught:
        read_answer(status, "nope")
    assert (caught.value.code, caught.value.retryable) == (code, False)


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503])
def test_a_5xx_408_or_429_is_worth_retrying(status):
    with pytest.raises(SmsError) as caught:
        read_answer(status, "busy")
    assert (caught.value.code, caught.value.retryable, caught.value.maybe_sent) == (f"http_{status}", True, False)


def test_a_redirect_is_not_followed():
    with pytest.raises(SmsError) as caught:
        read_answer(301, "")
    assert (caught.value.code, caught.value.retryable) == ("redirect", False)


def test_an_answer_that_echoes_the_password_is_stored_without_it():
    secrets = (PASSWORD, quote(PASSWORD, safe=""))
    with pytest.raises(SmsError) as caught:
        read_answer(200, f"ERRO: senha {quote(PASSWORD, safe='')} invalida para {PASSWORD}", secrets=secrets)
    assert leaked(caught.value.message + caught.value.answer) == []
    assert "ERRO: senha *** invalida" in caught.value.message


def test_a_long_answer_is_cut():
    accepted = read_answer(200, "OK " + "x" * 2000)
    assert len(accepted.answer) < 320


# ------------------------------------------------------------------------------ calls, and what they log


def _assert_no_password_anywhere(caplog, *texts: str) -> None:
    logged = [record.getMessage() + (record.exc_text or "") for record in caplog.records]
    assert leaked("\n".join([caplog.text, *logged, *texts])) == []


def test_a_send_reaches_the_gateway_with_the_password_and_logs_none_of_it(caplog, fake):
    caplog.set_level(logging.DEBUG)
    accepted = _gateway(fake.template).send(to="5544998887777", text="Olá & até #1")
    assert accepted.answer == "HTTP 200: OK 88001"
    assert [(sms.to, sms.text) for sms in fake.messages] == [("5544998887777", "Olá & até #1")]
    request_lines = [
        r.getMessage() for r in caplog.records if r.name == "urllib3.connectionpool" and "GET" in r.getMessage()
    ]
    assert request_lines and all("/api?…" in line for line in request_lines)  # urllib3 did log the request line
    assert any(r.name == "config.http" and f"GET {fake.url}/api?… -> 200" in r.getMessage() for r in caplog.records)
    _assert_no_password_anywhere(caplog, accepted.answer)


def test_a_refused_connection_is_retryable_and_its_error_names_no_password(caplog):
    caplog.set_level(logging.DEBUG)
    with pytest.raises(SmsError) as caught:
        _gateway(f"http://127.0.0.1:{_free_port()}/api?u=|USUARIO|&h=|SENHA|&msg=|MENSAGEM|&to=|CELULAR|").send(
            to="5544998887777", text="Olá"
        )
    error = caught.value
    assert (error.code, error.retryable, error.maybe_sent) == ("connection_error", True, False)
    assert error.__context__ is None and error.__cause__ is None  # requests' exception, with the URL, is not chained
    assert any(r.name == "config.http" and "failed" in r.getMessage() for r in caplog.records)
    _assert_no_password_anywhere(caplog, str(error), error.answer)


def test_a_gateway_that_answers_too_late_may_have_sent_it(caplog, fake):
    caplog.set_level(logging.DEBUG)
    fake.delay = 1.0
    with pytest.raises(SmsError) as caught:
        _gateway(fake.template, timeout=(2, 0.2)).send(to="5544998887777", text="Olá")
    assert (caught.value.code, caught.value.maybe_sent) == ("outcome_unknown", True)
    assert len(fake.messages) == 1  # it did take it
    _assert_no_password_anywhere(caplog, str(caught.value))


def test_a_5xx_is_retryable_and_logs_no_password(caplog, fake):
    caplog.set_level(logging.DEBUG)
    fake.fail = "down"
    with pytest.raises(SmsError) as caught:
        _gateway(fake.template).send(to="5544998887777", text="Olá")
    assert (caught.value.code, caught.value.retryable) == ("http_503", True)
    assert any(r.levelno == logging.WARNING and "-> 503" in r.getMessage() for r in caplog.records)
    _assert_no_password_anywhere(caplog, str(caught.value), caught.value.answer)


def test_a_template_that_makes_no_url_is_a_permanent_error():
    with pytest.raises(SmsError) as caught:
        _gateway("http://[::1/api?msg=|MENSAGEM|&to=|CELULAR|").send(to="5544998887777", text="Olá")
    assert (caught.value.code, caught.value.retryable) == ("request_error", False)


def test_wrong_credentials_are_the_gateway_s_refusal(fake):
    wrong = UrlTemplateGateway(url_template=fake.template, username=USERNAME, password="not-it")
    with pytest.raises(SmsError, match="usuario ou senha invalidos"):
        wrong.send(to="5544998887777", text="Olá")
    assert fake.messages == []


# ------------------------------------------------------------------------------ SMS parts


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 918, 6),
        ("a" * 919, 7),
        ("{" * 80, 1),  # extension characters take two
        ("{" * 81, 2),
        ("ã" * 70, 1),
        ("ã" * 71, 2),
        ("ã" * 402, 6),
        ("😀" * 35, 1),  # two UTF-16 units each
    ],
)
def test_parts_follow_gsm_03_38(text, parts):
    assert segments.parts(text) == parts


def test_a_text_over_six_parts_is_a_problem_that_says_the_limits():
    assert "7 SMS parts; at most 6 (918 characters" in segments.text_problem("a" * 919)
    assert segments.text_problem("ã" * 402) == ""
    assert segments.text_problem("  \n ") == "Give the text of the SMS."
