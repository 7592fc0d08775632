"""The fake SMS gateway: checks user and password, records what it took, fails when told; runs as a process."""

import subprocess
import sys
from urllib.parse import quote

import pytest
import requests

from fakes.sms_gateway import DEMO_PASSWORD, DEMO_USERNAME, FakeSmsGateway, running_sms_gateway


def _get(server: FakeSmsGateway, **values: str) -> requests.Response:
    query = "&".join(f"{name}={quote(value, safe='')}" for name, value in values.items())
    return requests.get(f"{server.url}/api?{query}", timeout=5)


def _send(server: FakeSmsGateway, *, user=DEMO_USERNAME, password=DEMO_PASSWORD, to="5544998887777", msg="Olá"):
    return _get(server, op="pv", u=user, h=password, msg=msg, to=to)


def test_it_takes_an_sms_with_the_right_credentials_and_records_it():
    with running_sms_gateway() as server:
        answer = _send(server, msg="Olá & #1 + 2\n")
        assert (answer.status_code, answer.text) == (200, "OK 88001")
        assert [(sms.id, sms.to, sms.text) for sms in server.messages] == [("88001", "5544998887777", "Olá & #1 + 2\n")]
        assert [request.message_id for request in server.sent] == ["88001"]


@pytest.mark.parametrize(
    ("values", "words"),
    [
        ({"password": "wrong"}, "ERRO: usuario ou senha invalidos"),
        ({"user": "other"}, "ERRO: usuario ou senha invalidos"),
        ({"to": "123"}, "ERRO: numero de celular invalido"),
        ({"msg": ""}, "ERRO: mensagem vazia"),
    ],
)
def test_it_refuses_as_gateways_do_with_200_and_an_error_line(values, words):
    with running_sms_gateway() as server:
        answer = _send(server, **values)
        assert (answer.status_code, answer.text) == (200, words)
        assert server.messages == []


@pytest.mark.parametrize(
    ("fail", "status", "body"),
    [
        ("error", 200, "ERRO: saldo insuficiente"),
        ("json", 200, '{"status": "error", "message": "Saldo insuficiente"}'),
        ("down", 503, "503 Service Temporarily Unavailable"),
        ("denied", 403, "Forbidden"),
    ],
)
def test_it_fails_when_told_then_answers_again(fail, status, body):
    with running_sms_gateway() as server:
        server.fail, server.fail_times = fail, 1
        failed = _send(server)
        assert failed.status_code == status and body in failed.text
        assert _send(server).text.startswith("OK ")
        assert len(server.messages) == 1


def test_it_answers_late_when_told():
    with running_sms_gateway(delay=1.0) as server, pytest.raises(requests.ReadTimeout):
        requests.get(server.template, timeout=(2, 0.2))


def test_it_runs_as_a_process_that_announces_its_address():
    command = [sys.executable, "-m", "fakes.sms_gateway", "--port", "0", "--username", "isp", "--password", "pw"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)  # noqa: S603
    try:
        ready = process.stdout.readline().strip()
        assert ready.startswith("READY http://127.0.0.1:")
        url = ready.removeprefix("READY ")
        answer = requests.get(f"{url}/api?op=pv&u=isp&h=pw&msg=Oi&to=5544998887777", timeout=5)
        assert (answer.status_code, answer.text) == (200, "OK 88001")
    finally:
        process.terminate()
        process.wait(10)
        process.stdout.close()
    assert process.returncode == 0
