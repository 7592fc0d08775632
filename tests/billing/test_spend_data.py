"""The spend benchmark's data: entries made by PostgreSQL in bulk, and totals that agree with them."""

import datetime as dt

import pytest
from django.db import connection

from benchmarks import spend_data
from billing.models import SpendEntry, SpendTemplateTotal, SpendTotal
from billing.services import totals

pytestmark = pytest.mark.django_db

TODAY = dt.date(2026, 11, 20)


@pytest.fixture
def postgresql():
    if connection.vendor != "postgresql":
        pytest.skip("the spend data is made by PostgreSQL (generate_series)")


def test_entries_are_spread_across_the_companies_and_the_totals_agree_with_them(postgresql):
    companies = spend_data.seed_companies(3)
    with connection.cursor() as cursor:
        spend_data.load_entries(cursor, companies, entries=6000, today=TODAY, days=40)
        spend_data.rebuild_totals(cursor)
    assert SpendEntry.objects.count() == 6000
    per_company = SpendEntry.objects.values("company_id").distinct().count()
    assert per_company == 3
    days = SpendEntry.objects.values_list("day", flat=True)
    assert min(days) >= TODAY - dt.timedelta(days=41) and max(days) <= TODAY
    assert totals.differences() == []  # what the live writers keep is what the entries add up to
    assert SpendTotal.objects.filter(day=TODAY).exists() and SpendTemplateTotal.objects.exists()


def test_entries_are_priced_by_the_seeded_rate_card(postgresql):
    companies = spend_data.seed_companies(1)
    with connection.cursor() as cursor:
        spend_data.load_entries(cursor, companies, entries=2000, today=TODAY, days=10)
    charged = SpendEntry.objects.filter(pricing_type="regular", category="marketing").first()
    assert (charged.amount, charged.is_priced, charged.rate.category) == (charged.unit_price, True, "marketing")
    free = SpendEntry.objects.exclude(pricing_type="regular").first()
    assert (free.amount, free.free_reason) == (0, "free_customer_service")
    assert not SpendEntry.objects.filter(category="service").exclude(template_name="").exists()


def test_the_indexes_and_keys_are_made_again_after_the_load(postgresql):
    with connection.cursor() as cursor:
        before = spend_data._indexes_and_constraints(cursor)
        spend_data.load_entries(cursor, spend_data.seed_companies(1), entries=10, today=TODAY)
        after = spend_data._indexes_and_constraints(cursor)
    assert sorted(before[0]) == sorted(after[0]) and sorted(before[1]) == sorted(after[1])
    assert len(before[0]) >= 4 and any("FOREIGN KEY" in definition for _, definition in before[1])
