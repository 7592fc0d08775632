"""Recipients follow Meta's receipts (the real webhook payloads) through the core's events, forward only,
once each, and become "replied" when the customer writes back."""

import copy
import datetime as dt

import pytest
from django.utils import timezone

from companies import events
from companies.events import handler_path
from companies.models import EventDelivery
from conversations.models import Message
from conversations.services.inbound import record_events
from conversations.whatsapp import cloud_webhook
from notifications.campaigns import engine, services, tracking
from notifications.models import Campaign
from tests.conftest import load_fixture
from tests.notifications.campaign_helpers import campaign_for, imported

pytestmark = pytest.mark.django_db
WAMID = "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI0QUQ2MjA4NEYyRkExNjMyREUA"


@pytest.fixture
def recipient(company, template, cloud):
    cloud.phone_number_id = "106540352242922"  # the fixtures' number
    cloud.save()
    campaign = campaign_for(company, template, channel=cloud, messages_per_minute=600)
    imported(campaign, "phone,nome,data\n+1 650 555 1234,Sheena,28/11\n")
    services.start_campaign(campaign)
    Campaign.objects.filter(pk=campaign.pk).update(pumped_at=timezone.now() - dt.timedelta(seconds=10))
    assert engine.pump_campaign(campaign.pk) == 1
    recipient = campaign.recipients.get()
    Message.objects.filter(pk=recipient.message_id).update(status="sending", provider_id=WAMID)
    return recipient


def _receipt(company, fixture: str, **status_fields):
    payload = copy.deepcopy(load_fixture(fixture))
    for change in payload["entry"][0]["changes"]:
        for status in change["value"].get("statuses", []):
            status.update({"id": WAMID, **status_fields})
    record_events(company=company, kind="cloud", events=cloud_webhook.parse(payload))
    events.deliver()


def _status(recipient) -> tuple[str, str]:
    recipient.refresh_from_db()
    return recipient.status, recipient.failure


def test_sent_delivered_read_then_replied(company, recipient):
    assert _status(recipient) == ("queued", "")
    _receipt(company, "meta/status_sent.json")
    assert _status(recipient) == ("sent", "")
    _receipt(company, "meta/status_delivered.json")
    assert _status(recipient) == ("delivered", "")
    _receipt(company, "meta/v25_sample_read.json")
    assert _status(recipient) == ("read", "")
    record_events(company=company, kind="cloud", events=cloud_webhook.parse(load_fixture("meta/message_text.json")))
    events.deliver()
    assert _status(recipient) == ("replied", "")
    stats = services.stats(recipient.campaign)
    assert (stats["replied"], stats["reached"]) == (1, 1)


def test_a_late_delivered_after_read_changes_nothing_and_a_repeat_neither(company, recipient):
    _receipt(company, "meta/v25_sample_read.json")
    _receipt(company, "meta/status_delivered.json")
    _receipt(company, "meta/v25_sample_read.json")
    assert _status(recipient) == ("read", "")


def test_a_failure_from_meta_says_why(company, recipient):
    _receipt(company, "meta/status_sent.json")
    _receipt(company, "meta/status_failed.json")
    status, failure = _status(recipient)
    assert status == "failed"
    assert failure == (
        "This message was not delivered to maintain healthy ecosystem engagement.: In order to maintain a healthy "
        "ecosystem engagement, the message failed to be delivered. (131049)"
    )


def test_a_reply_from_someone_who_got_nothing_is_not_counted(company, recipient):
    # The campaign's message is still queued: the customer's message is not an answer to it.
    record_events(company=company, kind="cloud", events=cloud_webhook.parse(load_fixture("meta/message_text.json")))
    events.deliver()
    assert _status(recipient) == ("queued", "")


def test_a_reply_that_is_no_campaigns_writes_nothing_for_the_tracking(company, recipient):
    events.deliver()  # what the campaign's own sends announced
    Message.objects.filter(pk=recipient.message_id).update(purpose=Message.Purpose.REPLY)
    payload = copy.deepcopy(load_fixture("meta/status_sent.json"))
    for change in payload["entry"][0]["changes"]:
        for status in change["value"].get("statuses", []):
            status["id"] = WAMID
    record_events(company=company, kind="cloud", events=cloud_webhook.parse(payload))
    assert not EventDelivery.objects.filter(handler=handler_path(tracking.on_message_status_changed)).exists()
    events.deliver()
    assert _status(recipient) == ("queued", "")
