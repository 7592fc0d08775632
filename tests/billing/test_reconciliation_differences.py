"""Ours against Meta's, per company, day and category: our totals from Meta's real receipts, Meta's figures
from the fake Graph API's pricing analytics, and the differences the panel and the admin show."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from billing.reconciliation import Difference, MetaState, list_differences
from tests.billing.conftest import cloud_message, receive, status_payload, utc
from tests.billing.test_reconciliation import DAY, channel, graph, point  # noqa: F401  (fixtures)
from tests.factories import CloudChannelFactory

NOON = utc(2026, 11, 10, 15)  # 12:00 in São Paulo, on DAY
_phones = iter(range(10**6))


def delivered(channel, category: str, count: int = 1, *, pricing_type: str = "regular") -> None:  # noqa: F811
    """``count`` messages Meta reported delivered and priced (its real receipt, at ``NOON``)."""
    for _ in range(count):
        message = cloud_message(channel, phone=f"5544999{next(_phones):06d}", template="aviso", at=NOON)
        receipt = status_payload(
            "status_sent.json", message, status="delivered", at=NOON, category=category, type=pricing_type
        )
        receive(receipt, message)


def fetch(graph, channel, points, *, with_cost: bool = True) -> None:  # noqa: F811
    graph.seed_pricing_analytics(channel.waba_id, points, with_cost=with_cost)
    call_command("reconcile_spend", "--since", DAY.isoformat())


def by_category(channel) -> dict[str, Difference]:  # noqa: F811
    return {row.category: row for row in list_differences(channel.company_id, DAY, DAY)}


def test_a_day_meta_agrees_with_shows_no_difference(graph, channel):  # noqa: F811
    delivered(channel, "marketing", 2)
    delivered(channel, "service", pricing_type="free_customer_service")
    fetch(graph, channel, [point("MARKETING", 2, 0.125), point("SERVICE", 1, 0, pricing_type="FREE_CUSTOMER_SERVICE")])
    rows = by_category(channel)
    assert rows["marketing"] == Difference(
        company_id=channel.company_id,
        day=DAY,
        category="marketing",
        currency="USD",
        meta_state=MetaState.OK,
        ours_count=2,
        ours_free_count=0,
        ours_amount=Decimal("0.125"),
        meta_volume=2,
        meta_free_volume=0,
        meta_amount=Decimal("0.125"),
        priced_by_us=False,
    )
    assert (rows["service"].ours_free_count, rows["service"].meta_free_volume) == (1, 1)
    assert all(row.matches for row in rows.values())


def test_a_day_never_fetched_shows_ours_against_nothing(channel):  # noqa: F811
    delivered(channel, "utility")
    (row,) = list_differences(channel.company_id, DAY, DAY)
    assert (row.meta_state, row.ours_count, row.ours_amount) == (MetaState.MISSING, 1, Decimal("0.0068"))
    assert (row.meta_volume, row.meta_amount, row.volume_difference, row.matches) == (None, None, None, False)


def test_a_day_whose_fetch_failed_says_so(graph, channel):  # noqa: F811
    delivered(channel, "utility")
    graph.fail_pricing_analytics(1, "error_131000_generic")
    with pytest.raises(CommandError):
        call_command("reconcile_spend", "--since", DAY.isoformat())
    (row,) = list_differences(channel.company_id, DAY, DAY)
    assert (row.meta_state, row.meta_volume) == (MetaState.FAILED, None)


def test_a_category_only_meta_has_and_one_only_we_have(graph, channel):  # noqa: F811
    delivered(channel, "marketing")
    fetch(graph, channel, [point("AUTHENTICATION", 1, 0.0068)])
    rows = by_category(channel)
    assert (rows["authentication"].ours_count, rows["authentication"].volume_difference) == (0, 1)
    assert rows["authentication"].amount_difference == Decimal("0.0068")
    # Meta's day is in and has no marketing: ours is one more than Meta's.
    assert (rows["marketing"].meta_volume, rows["marketing"].volume_difference) == (0, -1)
    assert rows["marketing"].amount_difference == Decimal("-0.0625")


def test_volumes_without_cost_are_compared_at_our_rate_card(graph, channel):  # noqa: F811
    """A WABA on a Solution Partner's credit line: Meta's charged volume priced with the rate card."""
    delivered(channel, "marketing", 2)
    fetch(graph, channel, [point("MARKETING", 3)], with_cost=False)
    row = by_category(channel)["marketing"]
    assert (row.priced_by_us, row.meta_volume, row.meta_amount) == (True, 3, Decimal("0.1875"))
    assert (row.volume_difference, row.amount_difference) == (1, Decimal("0.0625"))


def test_days_of_a_range_are_in_order_and_days_without_messages_left_out(graph, channel):  # noqa: F811
    delivered(channel, "marketing")
    graph.seed_pricing_analytics(channel.waba_id, [point("MARKETING", 1, 0.0625)])
    call_command("reconcile_spend", "--since", "2026-11-08", "--until", DAY.isoformat())
    rows = list_differences(channel.company_id, dt.date(2026, 11, 1), dt.date(2026, 11, 30))
    assert [(row.day, row.category, row.matches) for row in rows] == [(DAY, "marketing", True)]


def test_a_company_sees_only_its_own_days(graph, channel, django_assert_max_num_queries):  # noqa: F811
    delivered(channel, "marketing")
    other = CloudChannelFactory(api_base_url=graph.url, display_number="+55 44 3030-0000")
    delivered(other, "utility")
    with django_assert_max_num_queries(3):
        mine = list_differences(channel.company_id, DAY, DAY)
    assert [(row.company_id, row.category) for row in mine] == [(channel.company_id, "marketing")]
    everyone = list_differences(None, DAY, DAY)
    assert {(row.company_id, row.category) for row in everyone} == {
        (channel.company_id, "marketing"),
        (other.company_id, "utility"),
    }


# ------------------------------------------------------------------------------ the admin


def test_the_admin_shows_meta_s_figures_beside_ours_read_only(graph, channel, admin_client):  # noqa: F811
    delivered(channel, "marketing", 2)
    fetch(graph, channel, [point("MARKETING", 3, 0.1875), point("UTILITY", 1)], with_cost=False)
    page = admin_client.get(reverse("admin:billing_metaspend_changelist"))
    assert page.status_code == 200
    text = page.content.decode()
    assert "554430300000" in text and "+1" in text and "+0.0625" in text  # Meta's less ours
    assert "at our rate card" in text  # volumes only: Meta gave no cost
    fetches = admin_client.get(reverse("admin:billing_metafetch_changelist"))
    assert fetches.status_code == 200 and "fetched" in fetches.content.decode()
    assert admin_client.get(reverse("admin:billing_metaspend_add")).status_code == 403


def test_the_spend_panel_lists_the_days_meta_and_we_differ_on(graph, channel, admin_client):  # noqa: F811
    delivered(channel, "marketing")
    fetch(graph, channel, [point("MARKETING", 1, 0.0625), point("AUTHENTICATION", 1, 0.0068)])
    page = admin_client.get("/admin/billing/spend/", {"company": str(channel.company.contract)})
    assert page.status_code == 200
    [row] = page.context["meta_differences"]  # marketing agrees; authentication is Meta's only
    assert (row.day, row.category, row.amount_difference) == (DAY, "authentication", Decimal("0.0068"))
    section = page.content.decode().split("data-sp-reconciliation", 1)[1].split("</section>", 1)[0]
    assert "2026-11-10" in section and "authentication" in section and "0 / 1" in section
