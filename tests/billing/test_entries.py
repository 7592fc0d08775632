"""Spend entries from Meta's status receipts: one per message, charged on delivery, free ones at zero with why."""

import datetime as dt
from decimal import Decimal

import pytest
import time_machine

from billing.models import FreeReason, SpendEntry, SpendMonthTotal, SpendTotal
from billing.rate_card_csv import CardRow
from billing.services.rate_card import import_rates
from conversations.models import Message
from tests.billing.conftest import cloud_message, receive, status_payload, utc
from tests.factories import EvolutionChannelFactory

pytestmark = pytest.mark.django_db

NOV = utc(2026, 11, 10, 15, 0)
Stage = SpendEntry.Stage


def entry_of(message: Message) -> SpendEntry:
    return SpendEntry.objects.get(message=message)


def month_total(company) -> dict:
    rows = SpendMonthTotal.objects.filter(company=company)
    return {
        name: sum(getattr(row, name) for row in rows)
        for name in ("delivered_count", "delivered_amount", "sent_count", "sent_amount", "free_count")
    }


def test_a_priced_sent_receipt_is_awaiting_delivery_not_charged(cloud):
    """The webhook came before the engine's own outcome: the receipt moves the message to sent."""
    message = cloud_message(cloud, template="promo", status=Message.Status.SENDING, at=NOV)
    receive(status_payload("status_sent.json", message, at=NOV), message)
    entry = entry_of(message)
    assert (entry.stage, entry.category, entry.pricing_type, entry.pricing_model) == (
        Stage.SENT,
        "marketing",
        "regular",
        "PMP",
    )
    assert (entry.market, entry.unit_price, entry.amount) == ("BR", Decimal("0.0625"), Decimal("0.0625"))
    assert month_total(cloud.company) == {
        "delivered_count": 0,
        "delivered_amount": 0,
        "sent_count": 1,
        "sent_amount": Decimal("0.0625"),
        "free_count": 0,
    }


def test_a_sent_receipt_after_the_engine_s_outcome_prices_the_delivery(cloud):
    """The engine marked the message sent, so Meta's sent receipt moves nothing; its pricing is kept on the
    message and the delivery, which carries none (v25), is charged with it."""
    message = cloud_message(cloud, template="promo", at=NOV)
    receive(status_payload("status_sent.json", message, at=NOV), message)
    assert not SpendEntry.objects.exists()
    receive(status_payload("v25_sample_delivered.json", message, at=utc(2026, 11, 10, 15, 1)), message)
    entry = entry_of(message)
    assert (entry.stage, entry.category, entry.pricing_type, entry.amount) == (
        Stage.DELIVERED,
        "marketing",
        "regular",
        Decimal("0.0625"),
    )


def test_delivery_without_pricing_charges_what_the_sent_receipt_priced(cloud):
    message = cloud_message(cloud, template="promo", at=NOV)
    receive(status_payload("status_sent.json", message, at=NOV), message)
    receive(status_payload("v25_sample_delivered.json", message, at=utc(2026, 11, 10, 15, 1)), message)
    entry = entry_of(message)
    assert (entry.stage, entry.amount, entry.delivered_at) == (
        Stage.DELIVERED,
        Decimal("0.0625"),
        utc(2026, 11, 10, 15, 1),
    )
    assert month_total(cloud.company)["delivered_amount"] == Decimal("0.0625")
    assert month_total(cloud.company)["sent_count"] == 0


def test_duplicated_receipts_make_one_entry_and_count_once(cloud):
    message = cloud_message(cloud, template="promo", at=NOV)
    sent = status_payload("status_sent.json", message, at=NOV)
    delivered = status_payload("v25_sample_delivered.json", message, at=utc(2026, 11, 10, 15, 1))
    for payload in (sent, sent, delivered, delivered, sent):
        receive(payload, message)
    assert SpendEntry.objects.filter(message=message).count() == 1
    assert month_total(cloud.company)["delivered_count"] == 1
    assert month_total(cloud.company)["delivered_amount"] == Decimal("0.0625")


def test_read_before_delivered_charges_once_on_the_read(cloud):
    message = cloud_message(cloud, template="promo", at=NOV)
    receive(status_payload("status_sent.json", message, at=NOV), message)
    receive(status_payload("v25_sample_read.json", message, at=utc(2026, 11, 10, 15, 5)), message)
    receive(status_payload("v25_sample_delivered.json", message, at=utc(2026, 11, 10, 15, 1)), message)
    entry = entry_of(message)
    assert (entry.stage, entry.delivered_at) == (Stage.DELIVERED, utc(2026, 11, 10, 15, 5))
    assert month_total(cloud.company)["delivered_count"] == 1


def test_failed_after_sent_costs_nothing(cloud):
    message = cloud_message(cloud, template="promo", at=NOV)
    receive(status_payload("status_sent.json", message, at=NOV), message)
    receive(status_payload("status_failed.json", message, status=None, at=utc(2026, 11, 10, 15, 2)), message)
    entry = entry_of(message)
    assert (entry.stage, entry.amount) == (Stage.FAILED, Decimal(0))
    assert month_total(cloud.company) == dict.fromkeys(
        ("delivered_count", "delivered_amount", "sent_count", "sent_amount", "free_count"), 0
    )


def test_a_failure_after_delivery_keeps_the_charge(cloud):
    message = cloud_message(cloud, template="promo", at=NOV)
    receive(status_payload("status_sent.json", message, at=NOV), message)
    receive(status_payload("v25_sample_delivered.json", message, at=utc(2026, 11, 10, 15, 1)), message)
    receive(status_payload("status_failed.json", message, at=utc(2026, 11, 10, 15, 2)), message)
    assert entry_of(message).stage == Stage.DELIVERED
    assert month_total(cloud.company)["delivered_amount"] == Decimal("0.0625")


def test_a_free_customer_service_reply_is_counted_at_zero_with_its_reason(cloud):
    message = cloud_message(cloud, author=Message.Author.BOT, purpose=Message.Purpose.REPLY, at=utc(2026, 9, 10))
    payload = status_payload(
        "status_sent.json",
        message,
        status="delivered",
        at=utc(2026, 9, 10, 12),
        billable=False,
        type="free_customer_service",
        category="service",
    )
    receive(payload, message)
    entry = entry_of(message)
    assert (entry.stage, entry.amount, entry.free_reason, entry.origin) == (
        Stage.DELIVERED,
        Decimal(0),
        FreeReason.CUSTOMER_SERVICE,
        "bot",
    )
    assert month_total(cloud.company)["free_count"] == 1


def test_a_free_entry_point_message_is_free(cloud):
    message = cloud_message(cloud, template="promo", at=NOV)
    receive(
        status_payload(
            "status_sent.json",
            message,
            status="delivered",
            at=NOV,
            billable=False,
            type="free_entry_point",
            category="referral_conversion",
        ),
        message,
    )
    assert entry_of(message).free_reason == FreeReason.ENTRY_POINT
    assert entry_of(message).amount == 0


def test_service_replies_are_charged_at_the_utility_rate_from_october_2026(cloud):
    message = cloud_message(cloud, author=Message.Author.AGENT, purpose=Message.Purpose.REPLY, at=NOV)
    payload = status_payload(
        "status_sent.json", message, status="delivered", at=NOV, type="regular", category="service"
    )
    receive(payload, message)
    entry = entry_of(message)
    assert (entry.amount, entry.origin, entry.free_reason) == (Decimal("0.0068"), "agent", "")


def test_a_conversation_based_receipt_is_priced_by_the_rate_card_of_its_day(cloud):
    """Meta's CBP service receipt of June 2025: service conversations were free then (rate card at zero)."""
    message = cloud_message(cloud, at=utc(2025, 6, 18, 16))
    receive(status_payload("status_delivered.json", message), message)
    entry = entry_of(message)
    assert (entry.pricing_model, entry.category, entry.pricing_type) == ("CBP", "service", "regular")
    assert (entry.conversation_id, entry.free_reason, entry.amount) == (
        "6ceb9d929c9bdc4f90e967a32f8639b4",
        FreeReason.FREE_RATE,
        Decimal(0),
    )


def test_conversation_based_pricing_charges_a_conversation_once(cloud):
    first = cloud_message(cloud, template="aviso", at=utc(2025, 3, 3, 12))
    second = cloud_message(cloud, template="aviso", at=utc(2025, 3, 3, 13))
    for message, hour in ((first, 12), (second, 13)):
        receive(status_payload("status_delivered.json", message, at=utc(2025, 3, 3, hour), category="utility"), message)
    assert entry_of(first).amount == Decimal("0.0080")
    assert (entry_of(second).amount, entry_of(second).free_reason) == (Decimal(0), FreeReason.SAME_CONVERSATION)


def test_a_market_without_a_rate_is_kept_unpriced(cloud):
    message = cloud_message(cloud, phone="16505551234", template="promo", at=NOV)
    receive(status_payload("status_sent.json", message, status="delivered", at=NOV), message)
    entry = entry_of(message)
    assert (entry.market, entry.is_priced, entry.amount, entry.free_reason) == ("US", False, Decimal(0), "")


def test_the_day_is_the_company_time_zone_s(cloud):
    message = cloud_message(cloud, template="promo", at=utc(2026, 11, 11, 1, 30))  # 22:30 in São Paulo
    receive(status_payload("status_sent.json", message, status="delivered", at=utc(2026, 11, 11, 1, 30)), message)
    assert str(entry_of(message).day) == "2026-11-10"
    assert SpendTotal.objects.get(company=cloud.company).day.isoformat() == "2026-11-10"


def test_evolution_messages_cost_nothing_and_make_no_entry(db):
    channel = EvolutionChannelFactory()
    message = cloud_message(channel, at=NOV)
    message.channel.phone_number_id = "unused"
    from billing.services import entries

    entries.settle(receipts=[entries.Receipt(message.pk, "delivered", NOV, {"type": "regular", "category": "utility"})])
    assert not SpendEntry.objects.exists()


@time_machine.travel(utc(2027, 1, 5, 13), tick=False)
def test_volume_tiers_price_each_charged_message_by_its_number_in_the_month(cloud):
    jan = dt.date(2027, 1, 1)
    import_rates(
        rows=[
            CardRow("BR", "utility", "USD", Decimal("0.0068"), jan, 0, 2),
            CardRow("BR", "utility", "USD", Decimal("0.0060"), jan, 3, None),
        ],
        source="test tiers",
    )
    utility = {"billable": True, "pricing_model": "PMP", "type": "regular", "category": "utility"}
    prices = []
    for minute in range(3):
        message = cloud_message(cloud, template="fatura", at=utc(2027, 1, 5, 12, minute))
        receive(
            status_payload("status_sent.json", message, status="delivered", at=utc(2027, 1, 5, 12, minute), **utility),
            message,
        )
        prices.append((entry_of(message).unit_price, entry_of(message).tier))
    assert prices == [(Decimal("0.0068"), "0:2"), (Decimal("0.0068"), "0:2"), (Decimal("0.006"), "3:MAX")]
