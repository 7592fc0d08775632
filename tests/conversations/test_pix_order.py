"""A PIX bill with WhatsApp's "copy" button: Meta's order_details on Cloud, the code alone elsewhere."""

import json

import pytest
import responses

from conversations.whatsapp import content as contents
from conversations.whatsapp.cloud import MESSAGE_BODIES
from conversations.whatsapp.console import ConsoleProvider, outbox
from conversations.whatsapp.evolution import EvolutionProvider
from tests.conftest import load_fixture
from tests.factories import EvolutionChannelFactory

TO = "5544998887777"
CODE = (
    "00020101021226700014br.gov.bcb.pix2548pix.provedor-demo.example/qr/v2/cobv/900015204000053039865405"
    "99.905802BR5913PROVEDOR DEMO6007MARINGA62070503***6304ABCD"
)
ORDER = contents.pix_order(
    reference_id="7-90001",
    body="PIX da fatura 90001 (R$ 99,90, vencimento 09/12/2026).",
    code=CODE,
    amount_cents=9990,
    merchant_name="Provedor Demo LTDA",
    key="11222333000181",
    key_type="CNPJ",
)


def test_cloud_posts_an_order_details_message_with_the_dynamic_pix_code():
    body = contents.send(MESSAGE_BODIES, to=TO, content=ORDER)
    # The shape of Meta's "offsite Pix" order (only a total, no items):
    # https://developers.facebook.com/documentation/business-messaging/whatsapp/payments/payments-br/offsite-pix
    assert body == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": TO,
        "type": "interactive",
        "interactive": {
            "type": "order_details",
            "body": {"text": "PIX da fatura 90001 (R$ 99,90, vencimento 09/12/2026)."},
            "action": {
                "name": "review_and_pay",
                "parameters": {
                    "reference_id": "7-90001",
                    "type": "digital-goods",
                    "payment_type": "br",
                    "payment_settings": [
                        {
                            "type": "pix_dynamic_code",
                            "pix_dynamic_code": {
                                "code": CODE,
                                "merchant_name": "Provedor Demo LTDA",
                                "key": "11222333000181",
                                "key_type": "CNPJ",
                            },
                        }
                    ],
                    "currency": "BRL",
                    "total_amount": {"value": 9990, "offset": 100},
                },
            },
        },
    }


def test_the_order_reads_as_its_code_and_is_an_interactive_message():
    assert contents.message_type(ORDER) == "interactive"
    assert contents.readable_text(ORDER) == CODE


@pytest.mark.django_db
def test_evolution_sends_the_code_alone_so_a_long_press_copies_it():
    channel = EvolutionChannelFactory()
    with responses.RequestsMock() as evo:
        url = f"{channel.api_base_url}/message/sendText/{channel.instance_name}"
        evo.add(responses.POST, url, json=load_fixture("evolution/send_message.json")["data"], status=201)
        contents.send(EvolutionProvider(channel), to=TO, content=ORDER)
        assert json.loads(evo.calls[0].request.body)["text"] == CODE


@pytest.mark.django_db
def test_the_console_records_the_order():
    channel = EvolutionChannelFactory(kind="console")
    outbox.clear()
    contents.send(ConsoleProvider(channel), to=TO, content=ORDER)
    assert (outbox[-1].type, outbox[-1].payload["code"]) == ("pix_order", CODE)
