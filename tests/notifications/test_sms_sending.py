"""SMS sent end to end through a fake gateway: each number once, retries with backoff, refusals with the words."""

import datetime as dt
import logging

import pytest
import time_machine
from django.utils import timezone

from fakes.sms_gateway import FakeSmsGateway
from notifications.models import SmsRecipient
from notifications.sms import gateway as sms_gateway
from notifications.sms import services
from notifications.tasks import sms as sms_tasks
from tests.notifications.sms_helpers import PASSWORD, USERNAME, fake_gateway, leaked, point_at

Status = SmsRecipient.Status


@pytest.fixture
def gateway():
    server = fake_gateway().start()
    yield server
    server.stop()


@pytest.fixture
def sms_company(company, gateway):
    return point_at(company, gateway)


@pytest.fixture
def send(company_client, django_capture_on_commit_callbacks):
    """POST an SMS and run what its commit queues (the tasks run eagerly); the answer's JSON."""

    def post(to, text="Olá", **headers):
        with django_capture_on_commit_callbacks(execute=True):
            response = company_client.post("/api/v1/sms", {"to": to, "text": text}, format="json", **headers)
        assert response.status_code == 202, response.json()
        return response.json()

    return post


@pytest.fixture
def later(django_capture_on_commit_callbacks):
    """Move the clock ``seconds`` on and run the number's task then, as its countdown would."""

    def run(recipient_id: int, seconds: float):
        moment = timezone.now() + dt.timedelta(seconds=seconds)
        with time_machine.travel(moment), django_capture_on_commit_callbacks(execute=True):
            sms_tasks.deliver_sms.delay(recipient_id)
        return SmsRecipient.objects.get(pk=recipient_id)

    return run


def _rows(sms_id: int) -> list[SmsRecipient]:
    return list(SmsRecipient.objects.filter(message_id=sms_id).order_by("pk"))


@pytest.mark.django_db
def test_an_sms_to_many_numbers_is_sent_to_each_once(send, company_client, sms_company, gateway):
    sms = send(["5544998887777", "5544998886666"], "Sua fatura vence amanhã")
    assert sorted((m.to, m.text) for m in gateway.messages) == [
        ("5544998886666", "Sua fatura vence amanhã"),
        ("5544998887777", "Sua fatura vence amanhã"),
    ]
    detail = company_client.get(f"/api/v1/sms/{sms['id']}").json()
    for recipient in detail["recipients"]:
        assert (recipient["status"], recipient["attempts"], recipient["error"]) == ("sent", 1, "")
        assert recipient["sent_at"]
        assert recipient["gateway_answer"].startswith("HTTP 200: OK 880")


@pytest.mark.django_db
def test_special_characters_reach_the_gateway_as_typed(send, sms_company, gateway):
    text = "Olá, João! Fatura R$ 99,90 & 10% de desconto #PIX + boleto\nLinha 2: ç ã é ?=/"
    send("5544998887777", text)
    assert [m.text for m in gateway.messages] == [text]
    assert "%26%2010%25" in gateway.requests[0].path and "%0A" in gateway.requests[0].path


@pytest.mark.django_db
def test_a_number_sent_is_not_sent_again_by_a_second_task(send, sms_company, gateway):
    sms = send("5544998887777")
    (row,) = _rows(sms["id"])
    assert services.deliver(recipient_id=row.pk) == ""
    sms_tasks.deliver_sms.delay(row.pk)
    assert len(gateway.requests) == 1


@pytest.mark.django_db
def test_a_refusal_in_the_body_fails_the_number_with_the_gateway_s_words(send, company_client, sms_company, gateway):
    gateway.fail = "error"
    sms = send("5544998887777")
    recipient = company_client.get(f"/api/v1/sms/{sms['id']}").json()["recipients"][0]
    assert (recipient["status"], recipient["error_code"], recipient["attempts"]) == ("failed", "gateway_error", 1)
    assert recipient["error"] == "The gateway refused the SMS: ERRO: saldo insuficiente"
    assert recipient["gateway_answer"] == "HTTP 200: ERRO: saldo insuficiente"
    assert len(gateway.requests) == 1  # a refusal is not retried


@pytest.mark.django_db
def test_a_json_refusal_fails_with_its_message(send, sms_company, gateway):
    gateway.fail = "json"
    (row,) = _rows(send("5544998887777")["id"])
    assert (row.status, row.error) == (Status.FAILED, "The gateway refused the SMS: Saldo insuficiente")


@pytest.mark.django_db
def test_wrong_credentials_fail_each_number(send, company, gateway):
    point_at(company, gateway)
    company.sms_password = "not-the-password"
    company.save()
    rows = _rows(send("5544998887777,5544998886666")["id"])
    assert {(row.status, row.error) for row in rows} == {
        (Status.FAILED, "The gateway refused the SMS: ERRO: usuario ou senha invalidos")
    }
    assert gateway.messages == []


@pytest.mark.django_db
def test_a_5xx_is_retried_with_backoff_then_sent(send, later, sms_company, gateway):
    gateway.fail, gateway.fail_times = "down", 1
    (row,) = _rows(send("5544998887777")["id"])
    assert (row.status, row.attempts, row.error_code) == (Status.QUEUED, 1, "http_503")
    assert "Attempt 1 of 5 failed, retrying" in row.error
    assert row.next_attempt_at - row.status_at == dt.timedelta(seconds=services.RETRY_DELAYS[0])
    assert later(row.pk, 5).status == Status.QUEUED  # not due yet: nothing is called
    assert len(gateway.requests) == 1
    row = later(row.pk, services.RETRY_DELAYS[0] + 1)
    assert (row.status, row.attempts, row.error_code, row.error) == (Status.SENT, 2, "", "")
    assert [m.to for m in gateway.messages] == ["5544998887777"]


@pytest.mark.django_db
def test_a_network_error_is_retried_then_sent(send, later, company):
    down = fake_gateway().start()
    port = down.port
    down.stop()  # nothing listens on the port: connection refused
    point_at(
        company, None, template=f"http://127.0.0.1:{port}/api?op=pv&u=|USUARIO|&h=|SENHA|&msg=|MENSAGEM|&to=|CELULAR|"
    )
    (row,) = _rows(send("5544998887777")["id"])
    assert (row.status, row.error_code) == (Status.QUEUED, "connection_error")
    assert leaked(row.error) == []
    back = FakeSmsGateway(username=USERNAME, password=PASSWORD, port=port).start()
    try:
        row = later(row.pk, services.RETRY_DELAYS[0] + 1)
    finally:
        back.stop()
    assert (row.status, row.attempts) == (Status.SENT, 2)
    assert [m.to for m in back.messages] == ["5544998887777"]


@pytest.mark.django_db
def test_retries_stop_after_the_last_attempt_with_the_reason(send, later, sms_company, gateway):
    gateway.fail = "down"
    (row,) = _rows(send("5544998887777")["id"])
    elapsed = 0
    for delay in services.RETRY_DELAYS:
        elapsed += delay + 1
        row = later(row.pk, elapsed)
    assert (row.status, row.attempts, row.error_code) == (Status.FAILED, services.MAX_ATTEMPTS, "http_503")
    assert row.error.startswith("Gave up after 5 attempts: The gateway is unavailable (HTTP 503)")
    assert row.next_attempt_at is None
    assert len(gateway.requests) == services.MAX_ATTEMPTS


@pytest.mark.django_db
def test_a_gateway_that_took_it_without_answering_is_not_sent_again(send, later, monkeypatch, sms_company, gateway):
    monkeypatch.setattr(sms_gateway, "TIMEOUT", (2, 0.2))
    gateway.delay = 1.0
    (row,) = _rows(send("5544998887777")["id"])
    assert (row.status, row.error_code) == (Status.FAILED, "outcome_unknown")
    assert "may have sent the SMS" in row.error
    gateway.delay = 0
    later(row.pk, 3600)
    services.sweep()
    assert len(gateway.messages) == 1


@pytest.mark.django_db
def test_a_company_whose_gateway_was_removed_fails_each_queued_number(company_client, sms_company, gateway, later):
    sms_id = company_client.post("/api/v1/sms", {"to": "5544998887777", "text": "Olá"}, format="json").json()["id"]
    sms_company.sms_url_template = ""
    sms_company.save()
    row = later(_rows(sms_id)[0].pk, 0)
    assert (row.status, row.error_code) == (Status.FAILED, "sms_gateway_not_configured")
    assert row.error == "No SMS gateway URL template is set for the company."
    assert gateway.requests == []


@pytest.mark.django_db
def test_a_company_made_inactive_after_queuing_sends_nothing(company_client, sms_company, gateway, later):
    sms_id = company_client.post("/api/v1/sms", {"to": "5544998887777", "text": "Olá"}, format="json").json()["id"]
    sms_company.status = sms_company.Status.INACTIVE
    sms_company.save()
    row = later(_rows(sms_id)[0].pk, 0)
    assert (row.status, row.error_code) == (Status.FAILED, "company_inactive")
    assert gateway.requests == []


@pytest.mark.django_db
def test_the_sweeper_sends_a_number_whose_task_was_lost(
    company_client, sms_company, gateway, django_capture_on_commit_callbacks
):
    # The commit's publish never ran (the broker was down): only the row says there is work.
    sms_id = company_client.post("/api/v1/sms", {"to": "5544998887777", "text": "Olá"}, format="json").json()["id"]
    assert services.sweep() == {"republished": 0, "outcome_unknown": 0}  # not lost yet: just queued
    with time_machine.travel(timezone.now() + services.LOST_AFTER + dt.timedelta(seconds=1)):
        assert sms_tasks.sweep_sms.delay().get() == {"republished": 1, "outcome_unknown": 0}
    assert _rows(sms_id)[0].status == Status.SENT
    assert [m.to for m in gateway.messages] == ["5544998887777"]


@pytest.mark.django_db
def test_a_number_left_sending_by_a_dead_worker_fails_as_outcome_unknown_and_is_never_resent(
    company_client, sms_company, gateway, caplog
):
    sms_id = company_client.post("/api/v1/sms", {"to": "5544998887777", "text": "Olá"}, format="json").json()["id"]
    (row,) = _rows(sms_id)
    # The worker claimed the row and called the gateway, then died before writing the answer.
    assert services.move(row.pk, Status.SENDING, from_statuses=[Status.QUEUED])
    assert services.deliver(recipient_id=row.pk) == ""  # a redelivered task finds it claimed
    assert services.sweep()["outcome_unknown"] == 0  # a send in progress is left alone
    moment = timezone.now() + services.STUCK_AFTER + dt.timedelta(seconds=1)
    with time_machine.travel(moment), caplog.at_level(logging.WARNING):
        assert services.sweep() == {"republished": 0, "outcome_unknown": 1}
    row.refresh_from_db()
    assert (row.status, row.error_code) == (Status.FAILED, "outcome_unknown")
    assert "left sending" in caplog.text
    assert gateway.requests == []


@pytest.mark.django_db
def test_an_operator_can_send_a_failed_number_again(send, sms_company, gateway, django_capture_on_commit_callbacks):
    gateway.fail = "error"
    (row,) = _rows(send("5544998887777")["id"])
    assert row.status == Status.FAILED
    gateway.fail = None
    with django_capture_on_commit_callbacks(execute=True):
        assert services.resend(recipient_ids=[row.pk]) == 1
    row.refresh_from_db()
    assert (row.status, row.attempts) == (Status.SENT, 1)
    assert services.resend(recipient_ids=[row.pk]) == 0  # only failed ones


@pytest.mark.django_db
def test_the_password_is_never_logged_nor_stored_whatever_happens(
    send, later, caplog, monkeypatch, sms_company, gateway
):
    caplog.set_level(logging.DEBUG)
    send("5544998887777")  # sent
    gateway.fail = "error"
    send("5544998887777", "refused")
    gateway.fail, gateway.fail_times = "down", 1
    retried = _rows(send("5544998887777", "retried")["id"])[0]
    later(retried.pk, services.RETRY_DELAYS[0] + 1)
    monkeypatch.setattr(sms_gateway, "TIMEOUT", (2, 0.2))
    gateway.delay = 1.0
    send("5544998887777", "timed out")
    assert {row.status for row in SmsRecipient.objects.all()} == {Status.SENT, Status.FAILED}
    assert any(record.name == "urllib3.connectionpool" for record in caplog.records)
    stored = [f"{r.error} {r.gateway_answer} {r.error_code}" for r in SmsRecipient.objects.all()]
    logged = [record.getMessage() + (record.exc_text or "") for record in caplog.records]
    assert leaked("\n".join([caplog.text, *logged, *stored])) == []
