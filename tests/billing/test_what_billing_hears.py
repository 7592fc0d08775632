"""Billing hears only what spend needs: Evolution's receipts (WhatsApp Web costs nothing) are never written for it."""

import copy

import pytest

from billing import handlers
from companies.models import EventDelivery
from conversations.models import Message
from conversations.services.inbound import record_events
from conversations.whatsapp import evolution_webhook
from tests.billing.conftest import cloud_message, receive, status_payload
from tests.conftest import load_fixture
from tests.factories import EvolutionChannelFactory

BILLING = f"{handlers.on_status_changed.__module__}.{handlers.on_status_changed.__qualname__}"


def _billing_rows() -> int:
    return EventDelivery.objects.filter(handler=BILLING).count()


@pytest.mark.django_db
def test_an_evolution_messages_delivery_and_read_are_never_written_for_billing():
    channel = EvolutionChannelFactory(connection_state="open")
    message = cloud_message(channel, status=Message.Status.SENT)  # an outbound message on the Evolution channel
    for fixture in ("messages_update_delivered", "messages_update_read"):
        payload = copy.deepcopy(load_fixture(f"evolution/{fixture}.json"))
        payload["instance"] = channel.instance_name
        payload["data"].update(keyId=message.provider_id, remoteJid=f"{message.contact.phone}@s.whatsapp.net")
        record_events(company=channel.company, kind="evolution", events=evolution_webhook.parse(payload))
    message.refresh_from_db()
    assert message.status == Message.Status.READ  # the receipts were applied
    assert _billing_rows() == 0


@pytest.mark.django_db
def test_a_cloud_messages_delivery_is_heard_and_charged(cloud):
    message = cloud_message(cloud, template="fatura")
    receive(status_payload("status_delivered.json", message), message)
    message.refresh_from_db()
    assert message.status == Message.Status.DELIVERED
    assert message.spend_entry.stage == "delivered"


@pytest.mark.parametrize(
    ("payload", "heard"),
    [
        ({"direction": "out", "channel_kind": "evolution", "status": "delivered"}, False),
        ({"direction": "out", "channel_kind": "evolution", "status": "failed"}, False),
        ({"direction": "out", "channel_kind": "cloud", "status": "delivered"}, True),
        ({"direction": "out", "channel_kind": "", "status": "failed"}, True),  # the engine's own move
        ({"direction": "out", "channel_kind": "cloud", "status": "sent"}, False),
        ({"direction": "out", "channel_kind": "cloud", "status": "sent", "pricing": {"type": "regular"}}, True),
        ({"direction": "in", "channel_kind": "cloud", "status": "delivered"}, False),
    ],
)
def test_what_billing_subscribes_to(payload, heard):
    assert handlers.wants_status(payload) is heard
