"""Every send on a Cloud channel is estimated when queued; Meta's receipt replaces the estimate."""

import datetime as dt
from decimal import Decimal

import pytest
import time_machine

from billing.models import FreeAllowance, FreeReason, SpendEntry, SpendMonthTotal
from companies.models import EventDelivery
from conversations import events
from conversations.models import Contact
from conversations.services import outbound
from conversations.whatsapp import content as contents
from templates_meta.models import Template
from tests.billing.conftest import BRAZIL_PHONE, deliver_events, receive, status_payload, utc
from tests.factories import CloudChannelFactory, CompanyFactory, EvolutionChannelFactory

pytestmark = pytest.mark.django_db

NOV = utc(2026, 11, 10, 15, 0)
SEPT = utc(2026, 9, 10, 15, 0)
Stage = SpendEntry.Stage


@pytest.fixture
def company(db):
    return CompanyFactory(active_channel_policy="cloud_only")


@pytest.fixture
def cloud(company):
    return CloudChannelFactory(company=company)


def template(channel, name: str, category: str) -> Template:
    return Template.objects.create(
        company=channel.company,
        waba_id=channel.waba_id,
        name=name,
        language="pt_BR",
        status="APPROVED",
        category=category,
        components=[{"type": "BODY", "text": "Olá, tudo certo por aqui."}],
    )


def send_template(company, name: str, *, to: str = BRAZIL_PHONE):
    return outbound.send_message(company=company, to=to, content=contents.template_request(name, "pt_BR"))


def customer_wrote(company, when: dt.datetime) -> None:
    Contact.objects.update_or_create(
        company=company, phone=BRAZIL_PHONE, defaults={"wa_id": BRAZIL_PHONE, "last_inbound_at": when}
    )


def estimated(company) -> tuple[int, Decimal]:
    rows = SpendMonthTotal.objects.filter(company=company)
    return sum(r.estimated_count for r in rows), sum((r.estimated_amount for r in rows), Decimal(0))


@time_machine.travel(NOV, tick=False)
def test_the_send_service_announces_a_cloud_message_with_what_the_estimate_needs(company, cloud):
    template(cloud, "promo", "MARKETING")
    message = send_template(company, "promo")
    delivery = EventDelivery.objects.get(topic=events.MESSAGE_QUEUED.name)
    assert delivery.payload == {
        "message_id": message.pk,
        "channel_id": cloud.pk,
        "at": NOV.isoformat(),
        "template": "promo",
        "language": "pt_BR",
        "category": "",
        "in_window": False,
        "purpose": "notice",
        "author": "system",
    }


@time_machine.travel(NOV, tick=False)
def test_an_evolution_send_is_not_announced(company):
    EvolutionChannelFactory(company=company, connection_state="open")
    company.active_channel_policy = "evolution_only"
    company.save()
    outbound.send_message(company=company, to=BRAZIL_PHONE, content=contents.text("Olá"))
    assert not EventDelivery.objects.filter(topic=events.MESSAGE_QUEUED.name).exists()


@time_machine.travel(NOV, tick=False)
def test_a_queued_template_is_estimated_at_its_category_s_rate(company, cloud):
    template(cloud, "promo", "MARKETING")
    message = send_template(company, "promo")
    deliver_events()
    entry = SpendEntry.objects.get(message=message)
    assert (entry.stage, entry.category, entry.amount, entry.template_name, entry.origin) == (
        Stage.ESTIMATED,
        "marketing",
        Decimal("0.0625"),
        "promo",
        "notice",
    )
    assert estimated(company) == (1, Decimal("0.0625"))


@time_machine.travel(NOV, tick=False)
def test_meta_s_receipt_replaces_the_estimate(company, cloud):
    """Estimated as marketing; Meta charged it as utility (it recategorised the template)."""
    template(cloud, "promo", "MARKETING")
    message = send_template(company, "promo")
    deliver_events()
    message.provider_id = "wamid.estimate-replaced"
    message.status = "sent"
    message.save()
    receive(status_payload("status_sent.json", message, status="delivered", at=NOV, category="utility"), message)
    entry = SpendEntry.objects.get(message=message)
    assert (entry.stage, entry.category, entry.amount) == (Stage.DELIVERED, "utility", Decimal("0.0068"))
    assert estimated(company) == (0, Decimal(0))
    assert SpendEntry.objects.count() == 1


@time_machine.travel(SEPT, tick=False)
def test_a_utility_template_inside_the_window_is_estimated_free_until_october_2026(company, cloud):
    template(cloud, "fatura", "UTILITY")
    customer_wrote(company, SEPT - dt.timedelta(hours=1))
    message = send_template(company, "fatura")
    deliver_events()
    entry = SpendEntry.objects.get(message=message)
    assert (entry.amount, entry.free_reason, entry.unit_price) == (
        Decimal(0),
        FreeReason.INSIDE_WINDOW,
        Decimal("0.0068"),
    )


@time_machine.travel(NOV, tick=False)
def test_a_utility_template_inside_the_window_is_estimated_charged_from_october_2026(company, cloud):
    template(cloud, "fatura", "UTILITY")
    customer_wrote(company, NOV - dt.timedelta(hours=1))
    message = send_template(company, "fatura")
    deliver_events()
    assert SpendEntry.objects.get(message=message).amount == Decimal("0.0068")


@pytest.mark.parametrize(("when", "amount"), [(SEPT, Decimal(0)), (NOV, Decimal("0.0068"))])
def test_a_reply_in_the_window_is_estimated_as_service(company, cloud, when, amount):
    with time_machine.travel(when, tick=False):
        customer_wrote(company, when - dt.timedelta(hours=1))
        message = outbound.send_message(company=company, to=BRAZIL_PHONE, content=contents.text("Olá"))
        deliver_events()
    entry = SpendEntry.objects.get(message=message)
    assert (entry.category, entry.amount) == ("service", amount)


@time_machine.travel(NOV, tick=False)
def test_a_monthly_allowance_switched_on_makes_the_first_service_messages_free(company, cloud):
    FreeAllowance.objects.filter(kind=FreeAllowance.Kind.MONTHLY_PER_NUMBER).update(is_active=True, monthly_count=2)
    customer_wrote(company, NOV - dt.timedelta(hours=1))
    for _ in range(3):
        outbound.send_message(company=company, to=BRAZIL_PHONE, content=contents.text("Olá"))
    deliver_events()
    amounts = list(SpendEntry.objects.order_by("message_id").values_list("amount", "free_reason"))
    assert amounts == [
        (Decimal(0), FreeReason.MONTHLY_ALLOWANCE),
        (Decimal(0), FreeReason.MONTHLY_ALLOWANCE),
        (Decimal("0.0068"), ""),
    ]


@time_machine.travel(NOV, tick=False)
def test_a_cancelled_message_s_estimate_is_dropped(company, cloud):
    template(cloud, "promo", "MARKETING")
    message = send_template(company, "promo")
    deliver_events()
    outbound.cancel_message(message=message)
    deliver_events()
    assert SpendEntry.objects.get(message=message).stage == Stage.FAILED
    assert estimated(company) == (0, Decimal(0))


@time_machine.travel(NOV, tick=False)
def test_announcing_queued_messages_costs_one_insert(company, cloud, django_assert_num_queries):
    template(cloud, "promo", "MARKETING")
    message = send_template(company, "promo")
    contact = message.contact
    content = message.data["content"]
    with django_assert_num_queries(1):
        outbound.announce_queued([(message, contact, content), (message, contact, content)])
