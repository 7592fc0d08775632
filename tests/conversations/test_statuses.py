"""Receipts move a message forward only, keep their history, and wait for unknown messages."""

import datetime as dt

import pytest

from conversations.models import Message, PendingStatus
from conversations.services import statuses
from conversations.services.inbound import record_events
from conversations.whatsapp import cloud_webhook
from tests.conftest import load_fixture
from tests.factories import CloudChannelFactory

T0 = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def outbound(db):
    channel = CloudChannelFactory(phone_number_id="106540352242922")
    from conversations.models import Contact

    contact = Contact.objects.create(company=channel.company, phone="16505551234", wa_id="16505551234")
    return Message.objects.create(
        company=channel.company,
        channel=channel,
        contact=contact,
        direction="out",
        author="bot",
        type="template",
        provider_id="wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI0QUQ2MjA4NEYyRkExNjMyREUA",
        status="sent",
        status_at=T0,
    )


def _receipt(message: Message, status: str, minutes: int, **kwargs) -> bool:
    return statuses.apply_status(message=message, status=status, at=T0 + dt.timedelta(minutes=minutes), **kwargs)


def test_read_before_delivered_never_moves_backwards(outbound):
    assert _receipt(outbound, "read", 2)
    assert not _receipt(outbound, "delivered", 1)
    outbound.refresh_from_db()
    assert outbound.status == "read"
    history = list(outbound.status_changes.values_list("status", "applied"))
    assert history == [("read", True), ("delivered", False)]


def test_failed_ends_a_message_not_yet_delivered(outbound):
    assert _receipt(outbound, "failed", 1, error_code="131049", error_title="healthy ecosystem")
    outbound.refresh_from_db()
    assert (outbound.status, outbound.error_code, outbound.error_reason) == ("failed", "131049", "healthy ecosystem")
    assert not _receipt(outbound, "delivered", 2)


def test_failed_after_delivery_is_kept_but_not_applied(outbound):
    _receipt(outbound, "delivered", 1)
    assert not _receipt(outbound, "failed", 2, error_code="131000")
    outbound.refresh_from_db()
    assert outbound.status == "delivered"
    assert outbound.status_changes.filter(status="failed", applied=False).exists()


def test_the_same_receipt_twice_changes_nothing(outbound):
    assert _receipt(outbound, "delivered", 1)
    assert not _receipt(outbound, "delivered", 1)
    outbound.refresh_from_db()
    assert outbound.status == "delivered"


@pytest.mark.parametrize(
    ("current", "new", "moves"),
    [
        ("queued", "sent", True),
        ("sending", "delivered", True),
        ("sent", "read", True),
        ("delivered", "sent", False),
        ("read", "read", False),
        ("failed", "read", False),
        ("received", "deleted", True),
        ("deleted", "deleted", False),
        ("sent", "failed", True),
    ],
)
def test_progress_rules(current, new, moves):
    assert statuses.moves_forward(current, new) is moves


def test_meta_status_webhooks_carry_pricing_onto_the_message(outbound):
    events = cloud_webhook.parse(load_fixture("meta/status_sent.json"))
    events = [e for e in events if hasattr(e, "pricing")]
    outbound.provider_id = events[0].provider_id
    outbound.status = "sending"
    outbound.save()
    record_events(company=outbound.company, kind="cloud", events=events)
    outbound.refresh_from_db()
    assert outbound.status == "sent"
    assert outbound.pricing == events[0].pricing
    assert outbound.pricing_category == events[0].pricing["category"]


def test_a_failed_status_webhook_records_the_error(outbound):
    record_events(
        company=outbound.company, kind="cloud", events=cloud_webhook.parse(load_fixture("meta/status_failed.json"))
    )
    outbound.refresh_from_db()
    assert outbound.status == "failed"
    assert outbound.error_code == "131049"
    assert "healthy ecosystem" in outbound.error_reason


def test_a_receipt_for_an_unknown_message_waits_and_applies_when_it_appears(outbound):
    wamid = "wamid.arrives-later"
    events = cloud_webhook.parse(load_fixture("meta/status_delivered.json"))
    events = [type(e)(**{**e.__dict__, "provider_id": wamid}) for e in events]
    assert record_events(company=outbound.company, kind="cloud", events=events)["pending_status"] == 1
    assert PendingStatus.objects.filter(provider_id=wamid).count() == 1

    later = Message.objects.create(
        company=outbound.company,
        channel=outbound.channel,
        contact=outbound.contact,
        direction="out",
        author="bot",
        type="text",
        provider_id=wamid,
        status="sent",
    )
    assert statuses.apply_pending(later) == 1
    later.refresh_from_db()
    assert later.status == "delivered"
    assert not PendingStatus.objects.exists()


# ------------------------------------------------------------------------------ every status Meta documents


def _record_fixture(message: Message, name: str, *, wamid: str | None = None):
    payload = load_fixture(name)
    if wamid is not None:
        payload["entry"][0]["changes"][0]["value"]["statuses"][0]["id"] = wamid
    return record_events(company=message.company, kind="cloud", events=cloud_webhook.parse(payload))


def test_a_voice_message_played_after_it_was_read_is_played(outbound):
    wamid = "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJEQjE0RkYwQ0I5N0RCNUU5QkEA"
    Message.objects.filter(pk=outbound.pk).update(provider_id=wamid, type="audio", status="read")
    assert _record_fixture(outbound, "meta_extra/status_played.json") == {"status": 1}
    outbound.refresh_from_db()
    assert outbound.status == "played"
    assert list(outbound.status_changes.values_list("status", "applied")) == [("played", True)]
    assert not _receipt(outbound, "read", 30)  # a late read does not undo the play


def test_a_failed_receipt_keeps_meta_s_title_and_details(outbound):
    assert _record_fixture(outbound, "meta/status_failed.json") == {"status": 1}
    outbound.refresh_from_db()
    assert outbound.status == "failed"
    assert outbound.error_code == "131049"
    assert outbound.error_reason == (
        "This message was not delivered to maintain healthy ecosystem engagement.: In order to maintain a healthy "
        "ecosystem engagement, the message failed to be delivered."
    )
    entry = outbound.status_changes.get()
    assert entry.raw["errors"][0]["error_data"]["details"].startswith("In order to maintain")


def test_a_receipt_naming_a_customer_s_message_is_an_orphan_that_moves_nothing(outbound):
    Message.objects.filter(pk=outbound.pk).update(direction="in", author="customer", status="received")
    assert _record_fixture(outbound, "meta/status_delivered.json", wamid=outbound.provider_id) == {"orphan": 1}
    outbound.refresh_from_db()
    assert outbound.status == "received"
    assert list(outbound.status_changes.values_list("status", "applied")) == [("delivered", False)]
    # Waiting first, as pending, changes nothing about that.
    Message.objects.filter(pk=outbound.pk).update(provider_id="wamid.later")
    assert _record_fixture(outbound, "meta/v25_sample_read.json", wamid="wamid.later2") == {"pending_status": 1}
    pending_message = Message.objects.create(
        company=outbound.company,
        contact=outbound.contact,
        direction="in",
        type="text",
        status="received",
        provider_id="wamid.later2",
    )
    statuses.apply_pending(pending_message)
    pending_message.refresh_from_db()
    assert pending_message.status == "received"
    assert list(pending_message.status_changes.values_list("status", "applied")) == [("read", False)]
    assert not PendingStatus.objects.exists()


def test_a_customer_may_still_delete_what_they_wrote(outbound):
    Message.objects.filter(pk=outbound.pk).update(direction="in", author="customer", status="received")
    assert _receipt(outbound, "deleted", 5)
    outbound.refresh_from_db()
    assert outbound.status == "deleted"


def test_an_orphan_receipt_s_pricing_is_not_put_on_the_customer_s_message(outbound):
    Message.objects.filter(pk=outbound.pk).update(direction="in", author="customer", status="received")
    assert _record_fixture(outbound, "meta/status_sent.json", wamid=outbound.provider_id) == {"orphan": 1}
    outbound.refresh_from_db()
    assert (outbound.status, outbound.pricing, outbound.pricing_category) == ("received", None, "")
