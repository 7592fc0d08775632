"""The data migration's Brazil rates: Meta's published prices with the dates they are in force."""

import datetime as dt
from decimal import Decimal

import pytest

from billing.models import FreeAllowance
from billing.rates import rate_in_force

pytestmark = pytest.mark.django_db


def price(category: str, on: dt.date) -> Decimal:
    return rate_in_force(market="BR", category=category, currency="USD", day=on).price


def test_marketing_utility_and_authentication_are_meta_published_brazil_rates():
    on = dt.date(2026, 1, 15)
    assert price("marketing", on) == Decimal("0.0625")
    assert price("utility", on) == Decimal("0.0068")
    assert price("authentication", on) == Decimal("0.0068")


def test_service_is_free_until_september_2026_then_at_the_utility_rate():
    assert price("service", dt.date(2026, 9, 30)) == Decimal(0)
    assert price("service", dt.date(2026, 10, 1)) == Decimal("0.0068")


def test_conversation_based_rates_price_old_records():
    on = dt.date(2025, 3, 1)
    assert price("utility", on) == Decimal("0.0080")
    assert price("authentication", on) == Decimal("0.0315")


def test_unconfirmed_monthly_service_allowance_is_seeded_off():
    allowance = FreeAllowance.objects.get(kind=FreeAllowance.Kind.MONTHLY_PER_NUMBER)
    assert allowance.monthly_count == 1000
    assert not allowance.is_active
