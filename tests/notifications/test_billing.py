"""POST /api/v1/notifications/billing against a fake ERP: the bill's messages, on each kind of channel."""

from decimal import Decimal

import pytest
from django.utils import timezone

from companies.erp.formats import is_valid_digitable_line, is_valid_pix_code
from conversations.bills import brl
from conversations.models import Contact, HostedFile, Message
from fakes.erp.mkauth import login_of
from fakes.erp.server import DEMO_CREDENTIALS, running_erp
from notifications.models import Notice
from templates_meta.models import Template
from templates_meta.services import create_default_drafts
from tests.factories import CloudChannelFactory, EvolutionChannelFactory

URL = "/api/v1/notifications/billing"
MARIA = "5544999990001"  # customer 1001, one open invoice (90001) and one paid (90006)


def _post(client, body, **headers):
    return client.post(URL, body, format="json", **headers)


def _contents(recipient):
    return [Message.objects.get(pk=m["id"]).data["content"] for m in recipient["messages"]]


@pytest.mark.django_db
def test_each_open_invoice_goes_as_summary_line_pix_and_pdf(company_client, evolution, erp, client):
    response = _post(company_client, {"customer": 1002})
    assert response.status_code == 202, response.json()
    body = response.json()
    assert body["kind"] == "billing" and body["invoices"] == ["90002", "90003"]
    first = body["recipients"][0]
    contents = _contents(first)
    # The fake IXC gives no PIX for 90003: that invoice goes without one.
    assert [c["kind"] for c in contents] == ["text", "text", "text", "text", "media", "text", "text", "media"]
    assert contents[0]["text"] == "Olá João Pereira, você tem 2 faturas em aberto. Seguem os dados de cada uma."
    overdue, later = erp.data.invoice("90002"), erp.data.invoice("90003")
    assert contents[1]["text"] == f"Fatura 90002: R$ 129,90, venceu em {overdue.due_date:%d/%m/%Y}."
    assert contents[5]["text"] == f"Fatura 90003: R$ 129,90, vence em {later.due_date:%d/%m/%Y}."
    assert contents[2]["text"] == overdue.digitable_line and is_valid_digitable_line(contents[2]["text"])
    assert contents[3]["text"] == overdue.pix_code and is_valid_pix_code(contents[3]["text"])
    document = contents[4]["media"]
    assert (document["kind"], document["filename"], document["caption"]) == ("document", "boleto-90002.pdf", "Boleto")
    # IXC gives the PDF as bytes: it is served from our own unguessable URL, which WhatsApp fetches.
    path = document["url"].split("127.0.0.1:8000", 1)[1]
    fetched = client.get(path)
    assert fetched.status_code == 200 and fetched["Content-Type"] == "application/pdf"
    assert b"".join(fetched.streaming_content) == overdue.pdf
    assert client.get(path.replace(path.split("/")[2], "not-the-token")).status_code == 404
    # The second number gets the same bill; the PDF is stored once.
    assert [c["kind"] for c in _contents(body["recipients"][1])] == [c["kind"] for c in contents]
    assert HostedFile.objects.count() == 2


@pytest.mark.django_db
def test_paid_invoices_are_not_sent_and_one_invoice_can_be_chosen(company_client, evolution):
    maria = _post(company_client, {"customer": 1001}).json()
    assert maria["invoices"] == ["90001"]  # 90006 is paid
    assert _contents(maria["recipients"][0])[0]["text"] == "Olá Maria da Silva, segue a sua fatura em aberto."
    chosen = _post(company_client, {"customer": 1002, "invoices": ["90003"]}).json()
    assert chosen["invoices"] == ["90003"]
    missing = _post(company_client, {"customer": 1002, "invoices": ["90003", "90006"]})
    assert missing.status_code == 404
    assert missing.json()["error"] == {
        "code": "invoice_not_found",
        "message": "These invoices are not among the customer's open invoices in the ERP.",
        "details": {"invoices": ["90006"]},
    }


@pytest.mark.django_db
def test_only_the_contracts_invoices_when_a_contract_is_given(company_client, evolution):
    assert _post(company_client, {"customer": 1002, "contract": 5002}).json()["invoices"] == ["90002", "90003"]
    response = _post(company_client, {"customer": 1002, "contract": 5001})
    assert response.status_code == 200


@pytest.mark.django_db
def test_no_open_invoice_is_a_200_saying_so_and_nothing_is_sent(company_client, evolution):
    response = _post(company_client, {"customer": 1005})  # carlos: no invoice at all
    assert response.status_code == 200
    assert response.json() == {
        "sent": False,
        "message": "The customer has no open invoice: nothing was sent.",
        "customer": "1005",
    }
    assert not Notice.objects.exists() and not Message.objects.exists()


@pytest.mark.django_db
def test_unknown_customer_and_bad_input(company_client, evolution):
    assert _post(company_client, {"customer": 424242}).status_code == 404
    assert set(_post(company_client, {}).json()["error"]["details"]) == {"customer"}
    assert set(_post(company_client, {"customer": 1, "invoices": "90001"}).json()["error"]["details"]) == {"invoices"}


@pytest.mark.django_db
def test_cloud_in_the_window_with_brazil_payments_sends_the_pix_as_an_order(company_client, erp_company, erp):
    erp_company.pix_key, erp_company.pix_key_type, erp_company.pix_merchant_name = "11222333000181", "CNPJ", "Demo"
    erp_company.active_channel_policy = "cloud_only"
    erp_company.save()
    CloudChannelFactory(company=erp_company, brazil_payments=True)
    Contact.objects.create(company=erp_company, phone=MARIA, last_inbound_at=timezone.now())
    [recipient] = _post(company_client, {"customer": 1001}).json()["recipients"]
    order = _contents(recipient)[3]
    invoice = erp.data.invoice("90001")
    assert order == {
        "kind": "pix_order",
        "order": {
            "reference_id": f"{erp_company.pk}-90001",
            "body": f"PIX da fatura 90001 ({brl(invoice.amount)}, vencimento {invoice.due_date:%d/%m/%Y}).",
            "code": invoice.pix_code,
            "amount_cents": 9990,
            "merchant_name": "Demo",
            "key": "11222333000181",
            "key_type": "CNPJ",
        },
    }
    assert Message.objects.get(pk=recipient["messages"][3]["id"]).type == "interactive"


@pytest.mark.django_db
def test_cloud_without_brazil_payments_sends_the_pix_as_text(company_client, erp_company):
    erp_company.active_channel_policy = "cloud_only"
    erp_company.save()
    CloudChannelFactory(company=erp_company)
    Contact.objects.create(company=erp_company, phone=MARIA, last_inbound_at=timezone.now())
    [recipient] = _post(company_client, {"customer": 1001}).json()["recipients"]
    assert [c["kind"] for c in _contents(recipient)] == ["text", "text", "text", "text", "media"]


@pytest.mark.django_db
def test_cloud_outside_the_window_sends_the_billing_template_per_invoice(company_client, erp_company, erp):
    erp_company.active_channel_policy = "cloud_only"
    erp_company.save()
    CloudChannelFactory(company=erp_company)
    create_default_drafts(company=erp_company)
    Template.objects.filter(company=erp_company).update(status=Template.Status.APPROVED)
    [recipient] = _post(company_client, {"customer": 1001}).json()["recipients"]
    [template] = _contents(recipient)
    invoice = erp.data.invoice("90001")
    assert template["name"] == "fatura_disponivel"
    assert template["components"][0]["parameters"] == [
        {"type": "text", "text": "Maria da Silva"},
        {"type": "text", "text": "R$ 99,90"},
        {"type": "text", "text": f"{invoice.due_date:%d/%m/%Y}"},
    ]


@pytest.mark.django_db
def test_the_same_key_sends_the_bill_once(company_client, evolution):
    first = _post(company_client, {"customer": 1001}, HTTP_IDEMPOTENCY_KEY="bill-1001-dez")
    again = _post(company_client, {"customer": 1001}, HTTP_IDEMPOTENCY_KEY="bill-1001-dez")
    assert again.json() == first.json() and Notice.objects.count() == 1
    assert _post(company_client, {"customer": 1002}, HTTP_IDEMPOTENCY_KEY="bill-1001-dez").status_code == 409


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        ("0", "R$ 0,00"),
        ("0.01", "R$ 0,01"),
        ("0.5", "R$ 0,50"),
        ("99.9", "R$ 99,90"),
        ("1000", "R$ 1.000,00"),
        ("1234.56", "R$ 1.234,56"),
        ("1234567.8", "R$ 1.234.567,80"),
    ],
)
def test_amounts_are_written_in_reais(amount, text):
    assert brl(Decimal(amount)) == text


@pytest.mark.django_db
def test_a_boleto_that_is_a_web_page_goes_as_its_link(company_client, company):
    """MK-Auth's boleto is an HTML page: attached as a PDF it would open as garbage."""
    with running_erp("mkauth", today=timezone.localdate()) as fake:
        company.erp_system, company.erp_base_url = "mkauth", fake.url
        company.erp_client_id, company.erp_client_secret = DEMO_CREDENTIALS.client_id, DEMO_CREDENTIALS.client_secret
        company.save()
        EvolutionChannelFactory(company=company, connection_state="open")
        response = _post(company_client, {"customer": login_of(fake.data.customer("1002"))})
    assert response.status_code == 202, response.json()
    contents = _contents(response.json()["recipients"][0])
    assert all(c["kind"] == "text" for c in contents)
    links = [c["text"] for c in contents if c["text"].startswith("Boleto: ")]
    assert links and all(f"{fake.url}/boleto/21boleto.php?titulo=" in link for link in links)
    assert not HostedFile.objects.exists()
