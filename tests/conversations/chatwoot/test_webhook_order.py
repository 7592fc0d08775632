"""Chatwoot's webhooks are handled in the order they came, whatever order the drainers recorded them in."""

import json

import pytest

from companies.events import Event, RetryLater
from companies.models import EventDelivery
from conversations.chatwoot import webhook
from conversations.events import CHATWOOT_EVENT_RECEIVED
from conversations.models import WebhookEvent
from tests.conftest import load_fixture
from tests.factories import CompanyFactory


def _stored(company, state=WebhookEvent.State.PROCESSED) -> WebhookEvent:
    body = json.dumps(load_fixture("chatwoot/conversation_typing_on.json"))
    return WebhookEvent.objects.create(company=company, source=WebhookEvent.Source.CHATWOOT, body=body, state=state)


def _announced(company, stored: WebhookEvent) -> Event:
    CHATWOOT_EVENT_RECEIVED.emit(company_id=company.pk, payload={"event_id": stored.pk})
    row = EventDelivery.objects.filter(topic=CHATWOOT_EVENT_RECEIVED.name, payload__event_id=stored.pk).get()
    return Event(id=row.pk, topic=row.topic, company_id=row.company_id, payload=row.payload, attempts=0)


@pytest.mark.django_db
def test_a_later_webhook_announced_first_waits_for_the_earlier_one():
    company = CompanyFactory()
    first, second = _stored(company), _stored(company)
    later = _announced(company, second)  # recorded (and announced) before the webhook that came first
    earlier = _announced(company, first)
    with pytest.raises(RetryLater):
        webhook.on_chatwoot_event([later])
    webhook.on_chatwoot_event([earlier])
    EventDelivery.objects.filter(pk=earlier.id).delete()  # what the deliverer does once its handler returns
    webhook.on_chatwoot_event([later])
    webhook.on_chatwoot_event([later, earlier])  # both in one batch: no wait, taken in their order


@pytest.mark.django_db
def test_a_webhook_waits_while_an_earlier_one_is_still_being_recorded():
    company = CompanyFactory()
    recording = _stored(company, state=WebhookEvent.State.PROCESSING)
    later = _announced(company, _stored(company))
    with pytest.raises(RetryLater):
        webhook.on_chatwoot_event([later])
    WebhookEvent.objects.filter(pk=recording.pk).update(state=WebhookEvent.State.PROCESSED)
    webhook.on_chatwoot_event([later])


@pytest.mark.django_db
def test_another_companys_webhooks_hold_nothing_back():
    company, other = CompanyFactory(), CompanyFactory()
    _stored(other, state=WebhookEvent.State.PROCESSING)
    _announced(other, _stored(other))
    webhook.on_chatwoot_event([_announced(company, _stored(company))])


@pytest.mark.django_db
def test_two_deliverers_with_interleaved_batches_each_take_what_comes_first_and_hand_the_rest_back():
    company = CompanyFactory()
    first, second, third = _stored(company), _stored(company), _stored(company)
    mine = [_announced(company, first), _announced(company, third)]
    theirs = _announced(company, second)  # another deliverer holds it
    webhook.on_chatwoot_event(mine)  # the first is handled; the third must wait for the second
    again = EventDelivery.objects.filter(topic=CHATWOOT_EVENT_RECEIVED.name, payload__event_id=third.pk).exclude(
        pk=mine[1].id
    )
    assert again.count() == 1, "the third is announced again, for later"
    EventDelivery.objects.filter(pk__in=[e.id for e in mine]).delete()  # the deliverer's batch is done
    webhook.on_chatwoot_event([theirs])
    EventDelivery.objects.filter(pk=theirs.id).delete()
    row = again.get()
    webhook.on_chatwoot_event([Event(row.pk, row.topic, company.pk, row.payload, attempts=0)])
