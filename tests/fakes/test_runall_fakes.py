"""`runall` starts the fakes the demo's channels use, and its banner says how to reach the demo."""

import io
import socket
import subprocess
import sys

import pytest
import requests
from django.core.management import call_command

from companies.erp.ixc import IxcAdapter
from companies.models import Company
from config import demo
from config.management.commands import runall
from conversations.chatwoot.client import ChatwootClient


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_fake_commands_start_real_servers_that_answer_as_the_demo_channels_expect(settings, tmp_path):
    settings.FAKE_GRAPH_API_PORT, settings.FAKE_EVOLUTION_PORT = _free_port(), _free_port()
    settings.FAKE_ERP_PORT, settings.FAKE_SMS_GATEWAY_PORT = _free_port(), _free_port()
    settings.FAKE_CHATWOOT_PORT = _free_port()
    settings.VAR_DIR = tmp_path
    commands = runall.fake_commands(sys.executable, "http://127.0.0.1:8000")
    assert set(commands) == {"fake-graph-api", "fake-evolution", "fake-erp", "fake-sms-gateway", "fake-chatwoot"}
    processes = [subprocess.Popen(c, stdout=subprocess.PIPE, text=True) for c in commands.values()]  # noqa: S603
    try:
        ready = [process.stdout.readline().strip() for process in processes]
        sms_gateway = f"http://127.0.0.1:{settings.FAKE_SMS_GATEWAY_PORT}"
        assert ready == [
            f"READY {demo.graph_api_url()}",
            f"READY {demo.evolution_url()}",
            f"READY {demo.erp_url()}",
            f"READY {sms_gateway}",
            f"READY {demo.chatwoot_url()}",
        ]
        erp = IxcAdapter(demo.erp_url(), user=demo.ERP_USER, token=demo.ERP_TOKEN)
        assert erp.find_customer_by_code("1001").phones == (demo.CUSTOMER_NUMBER,)
        sms = requests.get(
            demo.sms_url_template()
            .replace("|USUARIO|", demo.SMS_USER)
            .replace("|SENHA|", demo.SMS_PASSWORD)
            .replace("|MENSAGEM|", "Oi")
            .replace("|CELULAR|", demo.CUSTOMER_NUMBER),
            timeout=5,
        )
        assert sms.status_code == 200 and sms.text.startswith("OK")
        sent = requests.post(
            f"{demo.graph_api_url()}/v25.0/{demo.PHONE_NUMBER_ID}/messages",
            json={"messaging_product": "whatsapp", "to": "5544999990001", "type": "text", "text": {"body": "Oi"}},
            timeout=5,
        )
        assert sent.status_code == 200 and sent.json()["messages"][0]["id"].startswith("wamid.")
        evolution = requests.post(
            f"{demo.evolution_url()}/message/sendText/{demo.EVOLUTION_INSTANCE}",
            json={"number": "5544999990001", "text": "Oi"},
            headers={"apikey": demo.EVOLUTION_API_KEY},
            timeout=5,
        )
        assert evolution.status_code == 201
        chatwoot = ChatwootClient(
            base_url=demo.chatwoot_url(),
            account_id=demo.CHATWOOT_ACCOUNT_ID,
            inbox_id=demo.CHATWOOT_INBOX_ID,
            token=demo.CHATWOOT_API_TOKEN,
        )
        contact_id = chatwoot.find_or_create_contact(phone=demo.CUSTOMER_NUMBER, name="Cliente Demo")
        assert chatwoot.find_contact(phone=demo.CUSTOMER_NUMBER)["id"] == contact_id
    finally:
        for process in processes:
            process.terminate()
            process.wait(10)
            process.stdout.close()


@pytest.mark.django_db
def test_the_banner_shows_the_demo_channels_webhook_urls_and_secrets():
    call_command("load_demo", stdout=io.StringIO())
    banner = runall.demo_banner("http://127.0.0.1:8000")
    assert f"http://127.0.0.1:8000/webhooks/meta/?contract={demo.CONTRACT}" in banner
    assert f"http://127.0.0.1:8000/webhooks/evolution/{demo.CONTRACT}/" in banner
    chatwoot_webhook = f"http://127.0.0.1:8000/webhooks/chatwoot/{demo.CONTRACT}/{demo.CHATWOOT_WEBHOOK_SECRET}/"
    assert chatwoot_webhook in banner and demo.chatwoot_url() in banner
    assert demo.META_APP_SECRET in banner and demo.META_VERIFY_TOKEN in banner
    for name in ("Atendimento (Cloud API)", "Cobrança (Evolution)", "Atendimento (console)"):
        assert name in banner


@pytest.mark.django_db
def test_the_demo_company_works_in_the_fake_chatwoot(settings):
    call_command("load_demo", stdout=io.StringIO())
    company = Company.objects.get(contract=demo.CONTRACT)
    client = ChatwootClient.for_company(company)
    assert (client.account_id, client.inbox_id) == (demo.CHATWOOT_ACCOUNT_ID, demo.CHATWOOT_INBOX_ID)
    assert client.transport.root == f"{demo.chatwoot_url()}/api/v1/accounts/{demo.CHATWOOT_ACCOUNT_ID}"
    assert company.chatwoot_webhook_secret == demo.CHATWOOT_WEBHOOK_SECRET
    settings.FAKE_CHATWOOT_PORT = _free_port()  # its port changed: loading the demo again follows it
    call_command("load_demo", stdout=io.StringIO())
    company.refresh_from_db()
    assert company.chatwoot_base_url == demo.chatwoot_url()


@pytest.mark.django_db
def test_the_banner_without_demo_data_says_how_to_make_it():
    assert "make demo" in runall.demo_banner("http://127.0.0.1:8000")
