"""The panel's and dashboard's figures, read from the totals and scoped by company."""

import datetime as dt
from decimal import Decimal

import pytest
import time_machine

from billing import selectors
from billing.services import entries
from conversations.models import Message
from tests.billing.conftest import cloud_message, utc
from tests.factories import CloudChannelFactory

pytestmark = pytest.mark.django_db

TODAY = utc(2026, 11, 10, 15, 0)
MARKETING = {"billable": True, "pricing_model": "PMP", "type": "regular", "category": "marketing"}
UTILITY = {"billable": True, "pricing_model": "PMP", "type": "regular", "category": "utility"}
FREE = {"billable": False, "pricing_model": "PMP", "type": "free_customer_service", "category": "service"}


def delivered(channel, at: dt.datetime, pricing: dict, **message_fields) -> Message:
    message = cloud_message(channel, at=at, **message_fields)
    entries.settle(receipts=[entries.Receipt(message.pk, "delivered", at, pricing)])
    return message


@pytest.fixture
def spend(db):
    """Company A: two channels, marketing and utility, bot and notices, this month and last; company B: one."""
    a, a2 = CloudChannelFactory(), None
    a2 = CloudChannelFactory(company=a.company)
    b = CloudChannelFactory()
    delivered(a, utc(2026, 11, 2, 12), MARKETING, template="promo")
    delivered(a, utc(2026, 11, 10, 12), MARKETING, template="promo")
    delivered(a2, utc(2026, 11, 10, 13), UTILITY, template="fatura")
    delivered(a, utc(2026, 11, 10, 14), FREE, author="bot", purpose="reply")
    delivered(a, utc(2026, 10, 5, 12), MARKETING, template="promo")
    delivered(a, utc(2026, 10, 20, 12), UTILITY, template="fatura")
    delivered(b, utc(2026, 11, 10, 12), MARKETING, template="oferta")
    message = cloud_message(a, at=utc(2026, 11, 10, 14, 30), template="promo")  # queued, not yet reported
    outbound_estimate = entries.Queued(message.pk, utc(2026, 11, 10, 14, 30), category="marketing")
    entries.settle(queued=[outbound_estimate])
    return a, a2, b


def amounts(figures) -> dict:
    return {f.key: f.spent for f in figures}


@time_machine.travel(TODAY, tick=False)
def test_month_to_date_by_category_and_channel(spend, django_assert_max_num_queries):
    a, a2, _ = spend
    with django_assert_max_num_queries(3):
        month = selectors.get_month_to_date(company_id=a.company_id, month=TODAY.date())
    assert amounts(month.total) == {"": Decimal("0.1318")}
    assert amounts(month.by_category) == {"marketing": Decimal("0.125"), "utility": Decimal("0.0068"), "service": 0}
    assert amounts(month.by_channel) == {a.pk: Decimal("0.125"), a2.pk: Decimal("0.0068")}
    assert month.total[0].estimated == Decimal("0.0625")
    assert month.total[0].free_count == 1


@time_machine.travel(TODAY, tick=False)
def test_all_companies_for_platform_staff(spend):
    assert selectors.get_month_to_date(company_id=None).total[0].spent == Decimal("0.1943")


@time_machine.travel(TODAY, tick=False)
def test_the_daily_series_has_every_day_of_the_month(spend, django_assert_max_num_queries):
    a, _, _ = spend
    with django_assert_max_num_queries(2):
        days = selectors.list_daily(company_id=a.company_id)
    assert len(days) == 30
    assert amounts(days)[dt.date(2026, 11, 2)] == Decimal("0.0625")
    assert amounts(days)[dt.date(2026, 11, 10)] == Decimal("0.0693")
    assert amounts(days)[dt.date(2026, 11, 3)] == 0


@time_machine.travel(TODAY, tick=False)
def test_top_templates_by_cost(spend):
    a, _, _ = spend
    assert [f.key for f in selectors.list_top_templates(company_id=a.company_id)] == ["promo", "fatura"]
    assert [f.key for f in selectors.list_top_templates(company_id=None, limit=1)] == ["promo"]


@time_machine.travel(TODAY, tick=False)
def test_bot_against_notices(spend):
    a, _, _ = spend
    by_origin = {f.key: (f.count, f.spent) for f in selectors.list_by_origin(company_id=a.company_id)}
    assert by_origin == {"notice": (3, Decimal("0.1318")), "bot": (1, Decimal(0))}


@time_machine.travel(TODAY, tick=False)
def test_the_forecast_is_linear_on_the_days_elapsed(spend):
    a, _, _ = spend
    (forecast,) = selectors.get_forecast(company_id=a.company_id)
    assert (forecast.so_far, forecast.days_elapsed, forecast.days_in_month) == (Decimal("0.1943"), 10, 30)
    assert forecast.month_end == Decimal("0.5829")


@time_machine.travel(TODAY, tick=False)
def test_this_month_against_last_month(spend):
    a, _, _ = spend
    (comparison,) = selectors.get_comparison(company_id=a.company_id)
    assert (comparison.this_month, comparison.last_month_same_days, comparison.last_month) == (
        Decimal("0.1318"),
        Decimal("0.0625"),
        Decimal("0.0693"),
    )
    assert comparison.change == Decimal("1.1088")


@time_machine.travel(TODAY, tick=False)
def test_today_by_category(spend):
    a, _, _ = spend
    assert amounts(selectors.list_today_by_category(company_id=a.company_id)) == {
        "marketing": Decimal("0.0625"),
        "utility": Decimal("0.0068"),
        "service": 0,
    }


def test_the_last_billable_messages_are_charged_ones_of_the_company_newest_first(spend):
    a, _, b = spend
    last = selectors.list_last_billable(company_id=a.company_id, limit=3)
    assert [(e.category, e.occurred_at) for e in last] == [
        ("utility", utc(2026, 11, 10, 13)),
        ("marketing", utc(2026, 11, 10, 12)),
        ("marketing", utc(2026, 11, 2, 12)),
    ]
    assert {e.company_id for e in selectors.list_last_billable(company_id=b.company_id)} == {b.company_id}


def test_a_company_sees_nothing_of_another(spend):
    _, _, b = spend
    month = selectors.get_month_to_date(company_id=b.company_id, month=TODAY.date())
    assert amounts(month.by_category) == {"marketing": Decimal("0.0625")}
