"""Spend tests' helpers: Cloud messages of a company, Meta's real status payloads aimed at them, the events run."""

import copy
import datetime as dt
import itertools
from typing import Any

import pytest

from companies import events
from conversations.models import Contact, Message
from conversations.services.inbound import record_events
from conversations.whatsapp import cloud_webhook
from tests.conftest import load_fixture
from tests.factories import CloudChannelFactory

BRAZIL_PHONE = "5544999990001"
_wamids = itertools.count(1)


@pytest.fixture
def cloud(db):
    """A Cloud channel (its company, billed in USD by default)."""
    return CloudChannelFactory()


def cloud_message(
    channel,
    *,
    phone: str = BRAZIL_PHONE,
    template: str = "",
    author: str = Message.Author.SYSTEM,
    purpose: str = Message.Purpose.NOTICE,
    status: str = Message.Status.SENT,
    at: dt.datetime | None = None,
) -> Message:
    """An outbound message the engine has sent (it has Meta's wamid), as a notice by default."""
    contact, _ = Contact.objects.get_or_create(company=channel.company, phone=phone, defaults={"wa_id": phone})
    content = {"kind": "template", "name": template, "language": "pt_BR"} if template else {"kind": "text"}
    message = Message.objects.create(
        company=channel.company,
        channel=channel,
        contact=contact,
        direction=Message.Direction.OUTBOUND,
        author=author,
        purpose=purpose,
        type="template" if template else "text",
        data={"content": content},
        provider_id=f"wamid.test{next(_wamids)}",
        status=status,
        status_at=at or dt.datetime.now(dt.UTC),
    )
    if at is not None:
        Message.objects.filter(pk=message.pk).update(created_at=at)
        message.refresh_from_db()
    return message


def status_payload(
    fixture: str, message: Message, *, status: str | None = None, at: dt.datetime | None = None, **pricing: Any
) -> dict[str, Any]:
    """Meta's stored payload ``fixture`` about ``message`` (its wamid), optionally another status, time, pricing."""
    payload = copy.deepcopy(load_fixture(f"meta/{fixture}"))
    value = payload["entry"][0]["changes"][0]["value"]
    value["metadata"]["phone_number_id"] = message.channel.phone_number_id
    receipt = value["statuses"][0]
    receipt["id"] = message.provider_id
    receipt["recipient_id"] = message.contact.phone
    if status is not None:
        receipt["status"] = status
        receipt.pop("errors", None)
    if at is not None:
        receipt["timestamp"] = str(int(at.timestamp()))
    if pricing.pop("no_pricing", False):
        receipt.pop("pricing", None)
    elif pricing:
        receipt["pricing"] = {**receipt.get("pricing", {}), **pricing}
    return payload


def receive(payload: dict[str, Any], message: Message) -> None:
    """Record Meta's webhook as the intake does, then hand the events to their handlers (spend among them)."""
    record_events(company=message.company, kind="cloud", events=cloud_webhook.parse(payload))
    deliver_events()


def deliver_events() -> None:
    while events.deliver():
        pass


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)
