"""Meta's rate-card CSV imported as data: each rate takes effect on its date and ends the one it replaces."""

import datetime as dt
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from billing.models import Rate
from billing.rate_card_csv import RateCardError, parse_rate_card
from billing.rates import rate_in_force
from tests.conftest import FIXTURES

pytestmark = pytest.mark.django_db

CARD = FIXTURES / "billing" / "rate_card_usd.csv"
TIERS = FIXTURES / "billing" / "volume_tiers_usd.csv"
OCT = dt.date(2026, 10, 1)


def test_meta_s_card_is_read_past_its_title_one_rate_per_market_and_category():
    parsed = parse_rate_card(CARD.read_text(), valid_from=OCT)
    brazil = {(r.category, r.price) for r in parsed.rows if r.market == "BR"}
    assert brazil == {
        ("marketing", Decimal("0.0625")),
        ("utility", Decimal("0.0068")),
        ("authentication", Decimal("0.0068")),
        ("service", Decimal("0.0068")),
    }
    assert {r.market for r in parsed.rows if r.category == "authentication_international"} == {"IN"}
    assert {r.market for r in parsed.rows} == {"AR", "BR", "IN", "US", "CA"}  # North America: both
    assert parsed.skipped == ["row 5: market 'Rest of Latin America' is a region or unknown"]


def test_a_card_without_a_date_needs_one():
    with pytest.raises(RateCardError, match="effective date"):
        parse_rate_card(CARD.read_text())


def test_a_file_that_is_no_rate_card_is_refused():
    with pytest.raises(RateCardError, match="No header"):
        parse_rate_card("name,value\nfoo,1\n", valid_from=OCT)


def test_the_command_imports_the_card_and_ends_the_rates_it_replaces():
    out = StringIO()
    call_command("import_rate_card", str(CARD), "--valid-from", "2027-01-01", stdout=out, stderr=StringIO())
    assert "ended" in out.getvalue()
    utility = Rate.objects.get(market="BR", category="utility", valid_from=dt.date(2025, 7, 1))
    assert utility.valid_to == dt.date(2026, 12, 31)
    assert rate_in_force(market="US", category="marketing", currency="USD", day=dt.date(2027, 2, 1)).price == Decimal(
        "0.025"
    )


def test_importing_the_same_card_twice_changes_nothing():
    call_command("import_rate_card", str(CARD), "--valid-from", "2027-01-01", stdout=StringIO(), stderr=StringIO())
    count = Rate.objects.count()
    call_command("import_rate_card", str(CARD), "--valid-from", "2027-01-01", stdout=StringIO(), stderr=StringIO())
    assert Rate.objects.count() == count


def test_volume_tiers_are_imported_with_their_bounds():
    call_command("import_rate_card", str(TIERS), "--valid-from", "2027-01-01", stdout=StringIO())
    tiers = list(
        Rate.objects.filter(market="BR", category="utility", valid_from=dt.date(2027, 1, 1))
        .order_by("tier_from")
        .values_list("tier_from", "tier_to", "price")
    )
    assert tiers == [(0, 1000, Decimal("0.0068")), (1001, None, Decimal("0.006"))]


def test_a_dry_run_stores_nothing():
    count = Rate.objects.count()
    out = StringIO()
    call_command(
        "import_rate_card", str(CARD), "--valid-from", "2027-01-01", "--dry-run", stdout=out, stderr=StringIO()
    )
    assert Rate.objects.count() == count
    assert "dry run" in out.getvalue()


def test_a_missing_file_is_a_command_error(tmp_path):
    with pytest.raises(CommandError):
        call_command("import_rate_card", str(tmp_path / "none.csv"), "--valid-from", "2027-01-01")
